//! Oversized requests: tonic refuses a message over the decoding limit with
//! OUT_OF_RANGE and a bare message. This layer turns that answer into
//! RESOURCE_EXHAUSTED with ErrorInfo (`REQUEST_TOO_LARGE`, the limit in
//! metadata), the code gRPC documents for a message over a size limit, so
//! that a client can branch on it like on any other facade error.

use std::sync::Arc;

use tonic::{Code, Status, body::Body};
use tower::util::MapResponseLayer;

use crate::{
    metrics::Metrics,
    status::{FacadeError, to_status},
};

/// The start of tonic's message for a request over the limit.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// The layer, for every service of the server.
pub fn layer(
    limit: usize,
    metrics: Arc<Metrics>,
) -> MapResponseLayer<impl Fn(http::Response<Body>) -> http::Response<Body> + Clone> {
    MapResponseLayer::new(move |response: http::Response<Body>| {
        // A unary decode failure is a trailers-only answer: the status is in
        // the response headers.
        let too_large = Status::from_header_map(response.headers()).is_some_and(|status| {
            status.code() == Code::OutOfRange && status.message().starts_with(TONIC_TOO_LARGE)
        });
        if !too_large {
            return response;
        }
        tracing::info!(limit_bytes = limit, "request refused: over the size limit");
        let (status, summary) = to_status(&FacadeError::RequestTooLarge { limit }, None);
        metrics.local_rejection(summary.reason);
        status.into_http()
    })
}
