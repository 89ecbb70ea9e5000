//! Upstream failures before a vendor answer existed, by phase: nothing
//! sent, the exchange broken, no answer in time, an unreadable answer.

use tonic::Code::*;
use tonic_types::ErrorDetails;

use super::{DEFAULT_RETRY_DELAY, Mapped, Origin, reason};
use crate::upstream::{Endpoint, UpstreamError};

/// Failures before any vendor answer existed.
pub(super) fn transport(endpoint: Endpoint, error: &UpstreamError) -> Mapped {
    let mut details = ErrorDetails::new();
    let (code, reason, message) = match error {
        // Nothing was sent, so retrying is safe even for a create.
        UpstreamError::Connect { .. } => {
            details.set_retry_info(Some(DEFAULT_RETRY_DELAY));
            (
                Unavailable,
                reason!("UPSTREAM_UNREACHABLE"),
                "could not connect to the upstream",
            )
        }
        // The request may have been processed: no retry hint.
        UpstreamError::ConnectionLost { .. } => (
            Unavailable,
            reason!("UPSTREAM_CONNECTION_LOST"),
            "the connection to the upstream was lost before a complete answer",
        ),
        UpstreamError::Timeout { .. } => (
            DeadlineExceeded,
            reason!("UPSTREAM_TIMEOUT"),
            "the upstream did not answer in time",
        ),
        UpstreamError::UnparseableResponse { .. } => (
            Internal,
            reason!("UPSTREAM_RESPONSE_UNPARSEABLE"),
            "the upstream's answer could not be understood",
        ),
        UpstreamError::BuildRequest { .. } | UpstreamError::Vendor(_) => (
            Internal,
            reason!("UPSTREAM_REQUEST_NOT_BUILT"),
            "the facade could not build the upstream request",
        ),
    };
    if code == Internal {
        tracing::error!(route = endpoint.route(), reason = reason.as_str(), error = %error, "upstream call failed on the facade's side");
    } else {
        tracing::warn!(route = endpoint.route(), reason = reason.as_str(), error = %error, "upstream call failed");
    }
    let upstream_http_status = match error {
        UpstreamError::UnparseableResponse { http_status, .. } => Some(*http_status),
        _ => None,
    };
    Mapped {
        message: message.to_owned(),
        upstream_http_status,
        details,
        ..Mapped::new(code, reason, Origin::Upstream)
    }
}
