//! Health that tells the truth about each upstream family: a health-service
//! entry per API family that follows the family's circuit breaker
//! ([`crate::circuit`]), fed by real calls: NOT_SERVING while the circuit is
//! open or half-open, SERVING once it is closed. The overall status (`""`)
//! is about this process only, so a liveness probe never restarts healthy
//! pods during a vendor outage.

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::{circuit::State, upstream::Api};

/// The health-service name of each upstream family.
pub fn service_name(api: Api) -> &'static str {
    match api {
        Api::IdCloud => "unico.upstream.IdCloudApi",
        Api::Id => "unico.upstream.IdApi",
    }
}

/// Reports both families through the health service, as their circuits
/// stand (see [`crate::circuit`]).
#[derive(Debug)]
pub struct UpstreamHealth {
    reporter: HealthReporter,
}

impl UpstreamHealth {
    /// Starts with both families SERVING (their circuits start closed).
    pub async fn new(reporter: HealthReporter) -> Self {
        for api in [Api::IdCloud, Api::Id] {
            reporter
                .set_service_status(service_name(api), ServingStatus::Serving)
                .await;
        }
        Self { reporter }
    }

    /// A family's circuit changed: SERVING once closed, NOT_SERVING while
    /// open or half-open (a probe has not answered yet).
    pub async fn follow(&self, api: Api, circuit: State) {
        let status = match circuit {
            State::Closed => ServingStatus::Serving,
            State::Open | State::HalfOpen => ServingStatus::NotServing,
        };
        self.reporter
            .set_service_status(service_name(api), status)
            .await;
    }
}
