//! Health that tells the truth about each upstream family: a health-service
//! entry per API family, turned NOT_SERVING by consecutive connection
//! failures or 5xx answers of real calls and back to SERVING by a success.
//! The overall status (`""`) is about this process only, so a liveness probe
//! never restarts healthy pods during a vendor outage.

use std::sync::Mutex;

use tonic_health::{ServingStatus, server::HealthReporter};

use crate::upstream::{Api, UpstreamError};

/// The health-service name of each upstream family.
pub fn service_name(api: Api) -> &'static str {
    match api {
        Api::IdCloud => "unico.upstream.IdCloudApi",
        Api::Id => "unico.upstream.IdApi",
    }
}

/// How many failures in a row flip a family to NOT_SERVING.
pub const FAILURES_TO_FLIP: u32 = 3;

/// What an upstream call's outcome says about the upstream's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The upstream answered (even with a 4xx): it is up.
    Up,
    /// No connection, or a 5xx: it may be down.
    Down,
    /// Says nothing (e.g. our own deadline expired first).
    Neutral,
}

impl Signal {
    pub fn of<T>(outcome: &Result<T, UpstreamError>) -> Signal {
        match outcome {
            Ok(_) => Signal::Up,
            Err(UpstreamError::Connect { .. } | UpstreamError::ConnectionLost { .. }) => {
                Signal::Down
            }
            Err(UpstreamError::Vendor(v)) if v.http_status >= 500 => Signal::Down,
            Err(UpstreamError::Vendor(_)) => Signal::Up,
            Err(_) => Signal::Neutral,
        }
    }
}

#[derive(Debug, Default)]
struct Family {
    consecutive_failures: u32,
    down: bool,
}

/// Tracks both families and reports through the health service.
#[derive(Debug)]
pub struct UpstreamHealth {
    reporter: HealthReporter,
    families: Mutex<[Family; 2]>,
}

impl UpstreamHealth {
    /// Starts with both families SERVING.
    pub async fn new(reporter: HealthReporter) -> Self {
        for api in [Api::IdCloud, Api::Id] {
            reporter
                .set_service_status(service_name(api), ServingStatus::Serving)
                .await;
        }
        Self {
            reporter,
            families: Mutex::new(Default::default()),
        }
    }

    pub async fn record(&self, api: Api, signal: Signal) {
        let change = {
            let mut families = self
                .families
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let family = &mut families[usize::from(api == Api::Id)];
            match signal {
                Signal::Neutral => None,
                Signal::Up => {
                    family.consecutive_failures = 0;
                    std::mem::replace(&mut family.down, false).then_some(ServingStatus::Serving)
                }
                Signal::Down => {
                    family.consecutive_failures += 1;
                    let flip = family.consecutive_failures >= FAILURES_TO_FLIP && !family.down;
                    family.down |= flip;
                    flip.then_some(ServingStatus::NotServing)
                }
            }
        };
        if let Some(status) = change {
            tracing::warn!(
                upstream = service_name(api),
                ?status,
                "upstream health changed"
            );
            self.reporter
                .set_service_status(service_name(api), status)
                .await;
        }
    }
}
