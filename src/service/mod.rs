//! The gRPC services: thin handlers that validate, call the upstream and map
//! the answer, plus what they share: the upstream client and credentials,
//! the time budget of a call, the safe retries, and the bookkeeping of each
//! call (request id, metrics, span status, one log line).

pub mod content;
mod deadline;
mod document;
mod journey;
pub mod ledger;
mod process;
mod request_id;
mod watch;

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

pub use deadline::{CallDeadline, DEADLINE_MARGIN_MAX, parse_grpc_timeout, upstream_deadline};
pub use document::DocumentHandler;
pub use ledger::{CallLedgerLayer, CallTicket};
pub use process::ProcessHandler;
pub use request_id::{REQUEST_ID_KEY, RequestId};
use tokio::time::Instant as Deadline;
use tonic::{
    Code, Request, Response, Status,
    metadata::{MetadataMap, MetadataValue},
};
pub(crate) use watch::Wake;
pub use watch::{Pacing, WatchSettings, WatchStream};

use crate::{
    circuit::{Circuits, State, Verdict},
    concurrency::{CallSlot, CallSlots},
    credentials::{CredentialSource, CredentialsError, Origin},
    metrics::{InFlight, Metrics},
    rate_limit::RateLimiter,
    status::{CallContext, FacadeError, Summary, refuses_access_token, to_status},
    upstream::{Api, Endpoint, UpstreamClient, UpstreamCredentials, UpstreamError},
    upstream_health::UpstreamHealth,
    validation::ImageLimits,
};

/// What every handler needs, shared behind one `Arc`.
#[derive(Debug)]
pub struct Shared {
    pub upstream: UpstreamClient,
    pub credentials: CredentialSource,
    /// The longest an upstream call may take when the caller set no deadline.
    pub upstream_timeout: std::time::Duration,
    /// Limits applied to document images before any upstream call.
    pub image_limits: ImageLimits,
    /// The optional outgoing rate limit.
    pub rate_limiter: Option<RateLimiter>,
    /// Per-family upstream health: follows each family's circuit.
    pub upstream_health: UpstreamHealth,
    /// The circuit breaker of each upstream family, fed by every call's outcome.
    pub circuits: Circuits,
    /// How watches pace their reads.
    pub watch: WatchSettings,
    /// The vendor webhook's notices, when the receiver is on (`None`: every
    /// WatchProcess polls on the backoff).
    pub process_events: Option<crate::process_events::ProcessEvents>,
    pub metrics: Arc<Metrics>,
    /// The global limit on concurrent calls, taken once a message arrived.
    pub slots: CallSlots,
    /// Creates with a `request_id`: one vendor call per key.
    pub idempotency: crate::idempotency::Idempotency,
}

/// The pause before the one retry of a refused connection.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

pub type SharedState = Arc<Shared>;

/// Resolves the call's credentials and makes the upstream call before
/// `deadline`, within the outgoing rate limit and the family's circuit
/// breaker (asked first: an open circuit refuses at once, before any token
/// or rate-limit wait, and nothing is sent). Retries are few and safe:
/// - a refused connection (nothing was sent) is retried once;
/// - when the facade's own token is rejected (the upstream refused it before
///   acting), the token is dropped, refreshed once and the call retried once;
///   a second rejection is final;
/// - nothing else: the vendor has no idempotency key, so a call that may
///   have reached it is never repeated (a create sent as the circuit's probe
///   and failed included).
///
/// A retry the circuit does not let through ends the call with the failure
/// it retried.
pub(crate) async fn call_upstream<T, F, Fut>(
    shared: &Shared,
    metadata: &MetadataMap,
    endpoint: Endpoint,
    context: CallContext,
    deadline: impl Into<CallDeadline>,
    call: F,
) -> Result<T, FacadeError>
where
    F: Fn(UpstreamCredentials, std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = Result<T, UpstreamError>>,
{
    let api = endpoint.api();
    let deadline = deadline.into();
    let mut retried = false;
    let mut reconnected = false;
    let mut retrying: Option<(Origin, UpstreamError)> = None;
    loop {
        let ticket = match shared.circuits.admit(api) {
            Ok((ticket, changed)) => {
                follow_circuit(shared, api, changed).await;
                ticket
            }
            Err(refusal) => {
                return Err(match retrying {
                    Some((origin, error)) => FacadeError::Upstream {
                        endpoint,
                        context,
                        origin,
                        error,
                    },
                    None => FacadeError::CircuitOpen {
                        api: refusal.api,
                        retry_after: refusal.retry_after,
                    },
                });
            }
        };
        let remaining = deadline.at.saturating_duration_since(Deadline::now());
        let resolved = shared.credentials.resolve(metadata, api, remaining).await?;
        if let Some(limiter) = &shared.rate_limiter {
            limiter
                .acquire(deadline.at)
                .await
                .map_err(|wait| FacadeError::UpstreamRateLimited { wait })?;
        }
        let remaining = deadline.at.saturating_duration_since(Deadline::now());
        let sent = Instant::now();
        let outcome = call(resolved.credentials.clone(), remaining).await;
        record_upstream(&shared.metrics, endpoint, &outcome, sent.elapsed());
        if let (Some(limiter), Err(UpstreamError::Vendor(vendor))) =
            (&shared.rate_limiter, &outcome)
            && vendor.http_status == 429
        {
            limiter.hold(vendor.retry_after).await;
        }
        // A timeout is the vendor's slowness only when the facade's own
        // limit ended the attempt; the caller's deadline says nothing.
        let vendors_timeout = deadline.upstream_timeout || remaining >= shared.upstream_timeout;
        let changed = shared
            .circuits
            .report(api, ticket, Verdict::of(&outcome, vendors_timeout));
        follow_circuit(shared, api, changed).await;
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let refused = matches!(error, UpstreamError::Connect { .. });
        if refused && !reconnected && deadline.at > Deadline::now() + RECONNECT_PAUSE {
            reconnected = true;
            tokio::time::sleep(RECONNECT_PAUSE).await;
            retrying = Some((resolved.origin, error));
            continue;
        }
        let facade_token_rejected =
            resolved.origin == Origin::Facade && refuses_access_token(endpoint, &error, &context);
        if facade_token_rejected && !retried {
            tracing::warn!(
                route = endpoint.route(),
                "the upstream rejected the facade's access token; refreshing it and retrying once"
            );
            shared.credentials.rejected(&resolved);
            retried = true;
            retrying = Some((resolved.origin, error));
            continue;
        }
        return Err(FacadeError::Upstream {
            endpoint,
            context,
            origin: resolved.origin,
            error,
        });
    }
}

/// Turns a family's health entry as its circuit changed.
async fn follow_circuit(shared: &Shared, api: Api, changed: Option<State>) {
    if let Some(state) = changed {
        shared.upstream_health.follow(api, state).await;
    }
}

/// Counts an upstream call by endpoint, HTTP status and vendor code; a code
/// the table does not know is counted as `other`, keeping labels bounded.
fn record_upstream<T>(
    metrics: &Metrics,
    endpoint: Endpoint,
    outcome: &Result<T, UpstreamError>,
    latency: std::time::Duration,
) {
    let (status, code) = match outcome {
        Ok(_) => (Some(200), None),
        Err(UpstreamError::Vendor(vendor)) => (
            Some(vendor.http_status),
            vendor
                .code
                .as_ref()
                .map(|code| match crate::status::is_documented_code(code) {
                    true => code.to_string(),
                    false => "other".to_owned(),
                }),
        ),
        Err(UpstreamError::UnparseableResponse { http_status, .. }) => (Some(*http_status), None),
        Err(_) => (None, None),
    };
    metrics.upstream_call(endpoint.route(), status, code.as_deref(), latency);
}

/// A handler's side of a call: its ticket (request id, arrival, deadline;
/// see [`ledger`]), its concurrency slot and the in-flight gauge while it
/// runs; at the end, the status with its details, the call's one log line
/// and count (through the ticket, which keeps it to one), and the
/// `x-request-id` response metadata. Owned, so that a streaming call's task
/// can carry it to the stream's end; dropped before it closed, the call was
/// cancelled.
pub(crate) struct CallScope {
    ticket: Arc<CallTicket>,
    /// Given back once the answer starts: a long stream holds no slot.
    slot: Mutex<Option<CallSlot>>,
    slots: CallSlots,
    _in_flight: InFlight,
}

impl Shared {
    /// What every call does first: fixes its deadline, counted from the
    /// arrival of its headers, and refuses at once a call whose credentials
    /// are missing, before any other work.
    pub(crate) fn admit<T>(
        &self,
        request: &Request<T>,
        api: Api,
    ) -> Result<CallDeadline, CredentialsError> {
        let (at, capped) = self.deadline_of(request, self.upstream_timeout);
        self.credentials.precheck(request.metadata(), api)?;
        Ok(CallDeadline {
            at,
            upstream_timeout: capped,
        })
    }

    /// As [`Self::admit`], with `default_budget` when the caller set no
    /// deadline (a watch's is longer than one upstream call's).
    pub(crate) fn admit_within<T>(
        &self,
        request: &Request<T>,
        api: Api,
        default_budget: std::time::Duration,
    ) -> Result<Deadline, CredentialsError> {
        let (at, _) = self.deadline_of(request, default_budget);
        self.credentials.precheck(request.metadata(), api)?;
        Ok(at)
    }

    /// The call's upstream deadline, and whether `default_budget` capped it.
    fn deadline_of<T>(
        &self,
        request: &Request<T>,
        default_budget: std::time::Duration,
    ) -> (Deadline, bool) {
        let (arrival, timeout) = match request.extensions().get::<Arc<CallTicket>>() {
            Some(ticket) => (ticket.arrival(), ticket.timeout()),
            None => (Deadline::now(), None),
        };
        upstream_deadline(arrival, timeout, Deadline::now(), default_budget)
    }

    /// The message of `request` has arrived: the call starts, with a slot
    /// if one is free (see [`CallScope::overloaded`]).
    pub(crate) fn begin<T>(&self, method: &'static str, request: &Request<T>) -> CallScope {
        let ticket = request
            .extensions()
            .get::<Arc<CallTicket>>()
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(CallTicket::standalone(
                    method,
                    request.metadata(),
                    self.metrics.clone(),
                ))
            });
        ticket.admit();
        CallScope {
            _in_flight: self.metrics.start_rpc(ticket.method()),
            slot: Mutex::new(self.slots.take()),
            slots: self.slots.clone(),
            ticket,
        }
    }
}

impl CallScope {
    /// The refusal of a call that found no free slot; `None` when it has one.
    pub(crate) fn overloaded(&self) -> Option<FacadeError> {
        let slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.is_none().then(|| self.slots.overloaded())
    }

    /// Ends a unary call: its answer, with `x-request-id`.
    pub(crate) fn finish<T>(self, outcome: Result<T, FacadeError>) -> Result<Response<T>, Status> {
        match outcome {
            Ok(message) => {
                self.close_ok();
                Ok(self.respond(message))
            }
            Err(error) => Err(self.close_with(&error)),
        }
    }

    /// The response headers of a call that answers before it ends (a
    /// stream): `x-request-id` now, the bookkeeping when it closes. The
    /// slot is given back: a stream that runs for minutes must not hold one.
    pub(crate) fn respond<T>(&self, message: T) -> Response<T> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        let mut response = Response::new(message);
        if let Ok(id) = MetadataValue::try_from(self.ticket.request_id().as_str()) {
            response.metadata_mut().insert(REQUEST_ID_KEY, id);
        }
        response
    }

    /// Records a successful end: log line, metrics, span.
    pub(crate) fn close_ok(&self) {
        self.ticket.settle(Summary {
            code: Code::Ok,
            reason: "",
            local: false,
            upstream_http_status: None,
            upstream_code: None,
        });
    }

    /// Records the end of a call whose caller went away first: nobody
    /// reads a status, but the call is counted and logged.
    pub(crate) fn close_cancelled(&self) {
        self.ticket.settle_cancelled();
    }

    /// Records a failed end (log line, metrics, span) and returns the
    /// caller's status.
    pub(crate) fn close_with(&self, error: &FacadeError) -> Status {
        let request_id = self.ticket.request_id().as_str();
        let (mut status, summary) = to_status(error, Some(request_id));
        self.ticket.settle(summary);
        if let Ok(id) = MetadataValue::try_from(request_id) {
            status.metadata_mut().insert(REQUEST_ID_KEY, id);
        }
        status
    }
}

impl Drop for CallScope {
    fn drop(&mut self) {
        // A no-op once the call closed.
        self.ticket.settle_cancelled();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::upstream::{UpstreamHosts, UpstreamSettings};

    async fn shared() -> Shared {
        let hosts = UpstreamHosts::single("http://127.0.0.1:9").unwrap();
        Shared {
            upstream: UpstreamClient::new(UpstreamSettings::new(hosts)).unwrap(),
            credentials: CredentialSource::PassThrough,
            upstream_timeout: std::time::Duration::from_secs(5),
            image_limits: ImageLimits::default(),
            rate_limiter: None,
            upstream_health: UpstreamHealth::new(tonic_health::server::HealthReporter::new()).await,
            circuits: Circuits::new(
                crate::circuit::CircuitSettings::default(),
                Arc::new(Metrics::new()),
            ),
            watch: WatchSettings::default(),
            process_events: None,
            metrics: Arc::new(Metrics::new()),
            slots: CallSlots::new(4),
            idempotency: crate::idempotency::build(
                &crate::idempotency::IdempotencySettings::default(),
                tonic_health::server::HealthReporter::new(),
                Arc::new(Metrics::new()),
            )
            .await
            .unwrap(),
        }
    }

    /// A refused connection, as the upstream client reports one (its own
    /// tests check that a closed port gives exactly this).
    async fn refused() -> UpstreamError {
        UpstreamError::Connect {
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
        }
    }

    fn metadata() -> MetadataMap {
        let mut md = MetadataMap::new();
        md.insert("authorization", "Bearer t".parse().unwrap());
        md.insert("apikey", "k".parse().unwrap());
        md
    }

    #[tokio::test]
    async fn a_refused_connection_is_retried_once_and_only_once() {
        let shared = shared().await;
        let attempts = AtomicUsize::new(0);
        let deadline = CallDeadline {
            at: Deadline::now() + std::time::Duration::from_secs(5),
            upstream_timeout: true,
        };

        let outcome = call_upstream(
            &shared,
            &metadata(),
            Endpoint::SetProcessDocument,
            CallContext::default(),
            deadline,
            |_, _| async {
                match attempts.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(refused().await),
                    _ => Ok(()),
                }
            },
        )
        .await;
        assert!(outcome.is_ok());
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            2,
            "one retry after a refusal"
        );

        attempts.store(0, Ordering::SeqCst);
        let outcome = call_upstream(
            &shared,
            &metadata(),
            Endpoint::SetProcessDocument,
            CallContext::default(),
            deadline,
            |_, _| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(refused().await)
            },
        )
        .await;
        assert!(outcome.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), 2, "never a second retry");
    }

    #[tokio::test]
    async fn a_retry_the_circuit_refuses_ends_with_the_failure_it_retried() {
        let mut shared = shared().await;
        shared.circuits = Circuits::new(
            crate::circuit::CircuitSettings {
                failures: 1,
                cooldown: std::time::Duration::from_secs(10),
            },
            Arc::new(Metrics::new()),
        );
        let attempts = AtomicUsize::new(0);
        let deadline = CallDeadline {
            at: Deadline::now() + std::time::Duration::from_secs(5),
            upstream_timeout: true,
        };
        let outcome: Result<(), _> = call_upstream(
            &shared,
            &metadata(),
            Endpoint::CreateDocumentProcess,
            CallContext::default(),
            deadline,
            |_, _| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Err(refused().await)
            },
        )
        .await;
        // The refusal opened the circuit, which then refused the retry.
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert!(
            matches!(
                outcome,
                Err(FacadeError::Upstream {
                    error: UpstreamError::Connect { .. },
                    ..
                })
            ),
            "{outcome:?}"
        );
        // And the next call is refused before it is attempted.
        let outcome: Result<(), _> = call_upstream(
            &shared,
            &metadata(),
            Endpoint::CreateDocumentProcess,
            CallContext::default(),
            deadline,
            |_, _| async {
                attempts.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        )
        .await;
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert!(
            matches!(outcome, Err(FacadeError::CircuitOpen { api: Api::Id, .. })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_call_that_may_have_reached_the_vendor_is_never_retried() {
        let shared = shared().await;
        let attempts = AtomicUsize::new(0);
        let deadline = CallDeadline {
            at: Deadline::now() + std::time::Duration::from_secs(5),
            upstream_timeout: true,
        };
        let failures = [
            UpstreamError::Timeout {
                budget: std::time::Duration::from_secs(1),
            },
            UpstreamError::UnparseableResponse {
                http_status: 200,
                detail: String::new(),
            },
        ];
        for failure in failures {
            attempts.store(0, Ordering::SeqCst);
            let failure = std::sync::Mutex::new(Some(failure));
            let outcome: Result<(), _> = call_upstream(
                &shared,
                &metadata(),
                Endpoint::CreateDocumentProcess,
                CallContext::default(),
                deadline,
                |_, _| async {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    Err(failure.lock().unwrap().take().expect("called once"))
                },
            )
            .await;
            assert!(outcome.is_err());
            assert_eq!(attempts.load(Ordering::SeqCst), 1);
        }
    }
}
