//! A global limit on concurrent facade calls with fast rejection: past the
//! limit a call is answered at once with RESOURCE_EXHAUSTED (`OVERLOADED`,
//! RetryInfo) instead of queueing, so that a mesh retries it elsewhere and
//! admitted calls keep their latency. Health and reflection are not counted.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use tokio::sync::Semaphore;

use crate::{
    metrics::Metrics,
    status::{FacadeError, to_status},
};

/// The gRPC path prefix of the calls the limit applies to.
const LIMITED_PREFIX: &str = "/unico.identity.v1.";

/// Wraps every service of the server.
#[derive(Debug, Clone)]
pub struct ConcurrencyLimitLayer {
    permits: Arc<Semaphore>,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl ConcurrencyLimitLayer {
    pub fn new(limit: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for ConcurrencyLimitLayer {
    type Service = ConcurrencyLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConcurrencyLimit {
            inner,
            permits: self.permits.clone(),
            limit: self.limit,
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`ConcurrencyLimitLayer`].
#[derive(Debug, Clone)]
pub struct ConcurrencyLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    limit: usize,
    metrics: Arc<Metrics>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for ConcurrencyLimit<S>
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
        if !request.uri().path().starts_with(LIMITED_PREFIX) {
            return Box::pin(self.inner.call(request));
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let response = self.inner.call(request);
                Box::pin(async move {
                    let response = response.await;
                    drop(permit);
                    response
                })
            }
            Err(_) => {
                let limit = self.limit;
                tracing::warn!(limit, "call rejected: concurrency limit reached");
                let (status, summary) = to_status(&FacadeError::Overloaded { limit }, None);
                self.metrics.local_rejection(summary.reason);
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}
