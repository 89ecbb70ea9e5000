//! The gRPC services: thin handlers that validate, call the upstream and map
//! the answer, plus what they share: the upstream client and credentials,
//! the time budget of a call, the safe retries, and the bookkeeping of each
//! call (request id, metrics, span status, one log line).

mod deadline;
mod document;
mod journey;
mod process;
mod request_id;
mod watch;

use std::{sync::Arc, time::Instant};

pub use deadline::{DEADLINE_MARGIN_MAX, call_budget, parse_grpc_timeout};
pub use document::DocumentHandler;
pub use process::ProcessHandler;
pub use request_id::{REQUEST_ID_KEY, RequestId};
use tokio::time::Instant as Deadline;
use tonic::{
    Code, Response, Status,
    metadata::{MetadataMap, MetadataValue},
};
pub(crate) use watch::Wake;
pub use watch::{Pacing, WatchSettings, WatchStream};

use crate::{
    credentials::{CredentialSource, CredentialsError, Origin},
    metrics::{InFlight, Metrics, code_name},
    rate_limit::RateLimiter,
    status::{CallContext, FacadeError, refuses_access_token, to_status},
    upstream::{Api, Endpoint, UpstreamClient, UpstreamCredentials, UpstreamError},
    upstream_health::{Signal, UpstreamHealth},
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
    /// Per-family upstream health, fed by every call's outcome.
    pub upstream_health: UpstreamHealth,
    /// How watches pace their reads.
    pub watch: WatchSettings,
    /// The vendor webhook's notices, when the receiver is on (`None`: every
    /// WatchProcess polls on the backoff).
    pub process_events: Option<crate::process_events::ProcessEvents>,
    pub metrics: Arc<Metrics>,
}

/// The pause before the one retry of a refused connection.
const RECONNECT_PAUSE: std::time::Duration = std::time::Duration::from_millis(50);

pub type SharedState = Arc<Shared>;

/// Resolves the call's credentials and makes the upstream call before
/// `deadline`, within the outgoing rate limit. Retries are few and safe:
/// - a refused connection (nothing was sent) is retried once;
/// - when the facade's own token is rejected (the upstream refused it before
///   acting), the token is dropped, refreshed once and the call retried once;
///   a second rejection is final;
/// - nothing else: the vendor has no idempotency key, so a call that may
///   have reached it is never repeated.
pub(crate) async fn call_upstream<T, F, Fut>(
    shared: &Shared,
    metadata: &MetadataMap,
    endpoint: Endpoint,
    context: CallContext,
    deadline: Deadline,
    call: F,
) -> Result<T, FacadeError>
where
    F: Fn(UpstreamCredentials, std::time::Duration) -> Fut,
    Fut: std::future::Future<Output = Result<T, UpstreamError>>,
{
    let api = endpoint.api();
    let mut retried = false;
    let mut reconnected = false;
    loop {
        let remaining = deadline.saturating_duration_since(Deadline::now());
        let resolved = shared.credentials.resolve(metadata, api, remaining).await?;
        if let Some(limiter) = &shared.rate_limiter {
            limiter
                .acquire(deadline)
                .await
                .map_err(|wait| FacadeError::UpstreamRateLimited { wait })?;
        }
        let remaining = deadline.saturating_duration_since(Deadline::now());
        let sent = Instant::now();
        let outcome = call(resolved.credentials.clone(), remaining).await;
        record_upstream(&shared.metrics, endpoint, &outcome, sent.elapsed());
        shared
            .upstream_health
            .record(api, Signal::of(&outcome))
            .await;
        let error = match outcome {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let refused = matches!(error, UpstreamError::Connect { .. });
        if refused && !reconnected && deadline > Deadline::now() + RECONNECT_PAUSE {
            reconnected = true;
            tokio::time::sleep(RECONNECT_PAUSE).await;
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

/// The bookkeeping of one call: its request id, the in-flight gauge, the
/// latency, and, at the end, one log line, the metrics, the span's status
/// and the `x-request-id` response metadata. Owned, so that a streaming
/// call's task can carry it to the stream's end.
pub(crate) struct CallScope {
    method: &'static str,
    request_id: RequestId,
    started: Instant,
    metrics: Arc<Metrics>,
    _in_flight: InFlight,
}

impl Shared {
    /// What every call does first: fixes its deadline, and refuses at once
    /// a call whose credentials are missing, before any other work.
    pub(crate) fn admit(
        &self,
        metadata: &MetadataMap,
        api: Api,
    ) -> Result<Deadline, CredentialsError> {
        self.admit_within(metadata, api, self.upstream_timeout)
    }

    /// As [`Self::admit`], with `default_budget` when the caller set no
    /// deadline (a watch's is longer than one upstream call's).
    pub(crate) fn admit_within(
        &self,
        metadata: &MetadataMap,
        api: Api,
        default_budget: std::time::Duration,
    ) -> Result<Deadline, CredentialsError> {
        let deadline = Deadline::now() + call_budget(metadata, default_budget);
        self.credentials.precheck(metadata, api)?;
        Ok(deadline)
    }

    pub(crate) fn begin(&self, method: &'static str, metadata: &MetadataMap) -> CallScope {
        let request_id = RequestId::from_metadata(metadata);
        tracing::Span::current().record("unico.request_id", request_id.as_str());
        CallScope {
            method,
            request_id,
            started: Instant::now(),
            metrics: self.metrics.clone(),
            _in_flight: self.metrics.start_rpc(method),
        }
    }
}

impl CallScope {
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
    /// stream): `x-request-id` now, the bookkeeping at [`Self::close`].
    pub(crate) fn respond<T>(&self, message: T) -> Response<T> {
        let mut response = Response::new(message);
        if let Ok(id) = MetadataValue::try_from(self.request_id.as_str()) {
            response.metadata_mut().insert(REQUEST_ID_KEY, id);
        }
        response
    }

    /// Records a successful end: log line, metrics, span.
    pub(crate) fn close_ok(&self) {
        self.close_without_status(Code::Ok);
    }

    /// Records the end of a call whose caller went away first: nobody
    /// reads a status, but the call is counted and logged.
    pub(crate) fn close_cancelled(&self) {
        self.close_without_status(Code::Cancelled);
    }

    fn close_without_status(&self, code: Code) {
        let latency = self.started.elapsed();
        self.metrics.finish_rpc(self.method, code, latency);
        tracing::Span::current().record("rpc.grpc.status_code", code as i64);
        tracing::info!(
            rpc.method = self.method,
            grpc.code = code_name(code),
            latency_ms = latency.as_secs_f64() * 1000.0,
            request_id = self.request_id.as_str(),
            "call finished"
        );
    }

    /// Records a failed end (log line, metrics, span) and returns the
    /// caller's status.
    pub(crate) fn close_with(&self, error: &FacadeError) -> Status {
        let latency = self.started.elapsed();
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let span = tracing::Span::current();
        let (mut status, summary) = to_status(error, Some(self.request_id.as_str()));
        self.metrics.finish_rpc(self.method, summary.code, latency);
        if summary.local {
            self.metrics.local_rejection(summary.reason);
        }
        span.record("rpc.grpc.status_code", summary.code as i64);
        span.record("error.type", summary.reason);
        if is_server_error(summary.code) {
            span.record("otel.status_code", "ERROR");
        }
        tracing::info!(
            rpc.method = self.method,
            grpc.code = code_name(summary.code),
            reason = summary.reason,
            upstream.http_status = summary.upstream_http_status,
            upstream.code = summary.upstream_code.as_deref(),
            latency_ms,
            request_id = self.request_id.as_str(),
            "call finished"
        );
        if let Ok(id) = MetadataValue::try_from(self.request_id.as_str()) {
            status.metadata_mut().insert(REQUEST_ID_KEY, id);
        }
        status
    }
}

/// The codes OpenTelemetry marks as errors on a gRPC server span.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
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
            watch: WatchSettings::default(),
            process_events: None,
            metrics: Arc::new(Metrics::new()),
        }
    }

    /// A genuine "connection refused" from reqwest: a closed loopback port.
    async fn refused() -> UpstreamError {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let error = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .unwrap_err();
        assert!(error.is_connect());
        UpstreamError::Connect { source: error }
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
        let deadline = Deadline::now() + std::time::Duration::from_secs(5);

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
    async fn a_call_that_may_have_reached_the_vendor_is_never_retried() {
        let shared = shared().await;
        let attempts = AtomicUsize::new(0);
        let deadline = Deadline::now() + std::time::Duration::from_secs(5);
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
