//! Upstream failures before a vendor answer existed, by phase: nothing
//! sent, the exchange broken, no answer in time, an unreadable answer; and
//! the calls refused because the family's circuit is open.

use std::{collections::HashMap, time::Duration};

use tonic::Code::*;
use tonic_types::ErrorDetails;

use super::{DEFAULT_RETRY_DELAY, Mapped, Origin, reason};
use crate::{
    upstream::{Api, Endpoint, UpstreamError},
    upstream_health::service_name,
};

/// The family's circuit is open (see `crate::circuit`): UNAVAILABLE, since
/// the vendor is, and nothing was sent, so any call may be retried once the
/// cool-down left (RetryInfo) has passed.
pub(super) fn circuit_open(api: Api, retry_after: Duration) -> Mapped {
    let mut details = ErrorDetails::new();
    details.set_retry_info(Some(retry_after));
    Mapped {
        message: "the upstream is failing; the facade refuses its calls for a cool-down (nothing was sent)"
            .to_owned(),
        metadata: HashMap::from([
            ("upstream".to_owned(), service_name(api).to_owned()),
            (
                "retryAfterMillis".to_owned(),
                retry_after.as_millis().to_string(),
            ),
        ]),
        details,
        ..Mapped::new(Unavailable, reason!("UPSTREAM_CIRCUIT_OPEN"), Origin::Facade)
    }
}

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
