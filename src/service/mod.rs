//! The gRPC services: thin handlers that validate, call the upstream and map
//! the answer, plus what they share (the upstream client, the credential
//! source, the time budget of a call, one log line per call).

mod deadline;
mod document;
mod process;

use std::{sync::Arc, time::Instant};

pub use deadline::{DEADLINE_MARGIN_MAX, call_budget, parse_grpc_timeout};
pub use document::DocumentHandler;
pub use process::ProcessHandler;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use tokio::time::Instant as Deadline;
use tonic::metadata::MetadataMap;

use crate::{
    credentials::{CredentialSource, Origin},
    rate_limit::RateLimiter,
    status::{CallContext, FacadeError, rejects_access_token},
    upstream::{Endpoint, UpstreamClient, UpstreamCredentials, UpstreamError},
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
        let outcome = call(resolved.credentials.clone(), remaining).await;
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
            resolved.origin == Origin::Facade && rejects_access_token(api, &error);
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

/// Logs one line for a finished call: method, gRPC code, ErrorInfo reason,
/// latency and, when the upstream answered, its status and code. Nothing
/// from the request itself.
pub(crate) fn log_outcome<T>(method: &'static str, started: Instant, outcome: &Result<T, Status>) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match outcome {
        Ok(_) => {
            tracing::info!(rpc.method = method, grpc.code = ?Code::Ok, latency_ms, "call finished")
        }
        Err(status) => {
            let details = status.get_error_details();
            let info = details.error_info();
            let reason = info.map(|i| i.reason.as_str()).unwrap_or_default();
            let meta = |key: &str| info.and_then(|i| i.metadata.get(key)).map(String::as_str);
            tracing::info!(
                rpc.method = method,
                grpc.code = ?status.code(),
                reason,
                upstream.http_status = meta("upstreamHttpStatus"),
                upstream.code = meta("upstreamCode"),
                latency_ms,
                "call finished"
            );
        }
    }
}
