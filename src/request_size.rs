//! Oversized requests: tonic refuses a message over the decoding limit with
//! OUT_OF_RANGE and a bare message. This layer turns that answer into
//! RESOURCE_EXHAUSTED with ErrorInfo (`REQUEST_TOO_LARGE`, the limit in
//! metadata), the code gRPC documents for a message over a size limit, so
//! that a client can branch on it like on any other facade error.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tonic::{Code, Status};

use crate::{metrics::Metrics, status::FacadeError};

/// The start of tonic's message for a request over the limit.
const TONIC_TOO_LARGE: &str = "Error, decoded message length too large";

/// Wraps every service of the server.
#[derive(Debug, Clone)]
pub struct RequestTooLargeLayer {
    limit: usize,
    metrics: Arc<Metrics>,
}

impl RequestTooLargeLayer {
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        Self { limit, metrics }
    }
}

impl<S> tower::Layer<S> for RequestTooLargeLayer {
    type Service = RequestTooLarge<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTooLarge {
            inner,
            limit: self.limit,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`RequestTooLargeLayer`].
#[derive(Debug, Clone)]
pub struct RequestTooLarge<S> {
    inner: S,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RequestTooLarge<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let limit = self.limit;
        let metrics = self.metrics.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            // A unary decode failure is a trailers-only answer: the status
            // is in the response headers.
            let too_large = Status::from_header_map(response.headers()).is_some_and(|status| {
                status.code() == Code::OutOfRange && status.message().starts_with(TONIC_TOO_LARGE)
            });
            if !too_large {
                return Ok(response);
            }
            tracing::info!(limit_bytes = limit, "request refused: over the size limit");
            metrics.local_rejection("REQUEST_TOO_LARGE");
            Ok(Status::from(FacadeError::RequestTooLarge { limit }).into_http())
        })
    }
}
