//! One server span per facade RPC, named `service/method` with the
//! OpenTelemetry `rpc.*` attributes, parented on the caller's W3C context
//! from the request metadata. The handler fills in `rpc.grpc.status_code`
//! and the ErrorInfo reason; calls answered before any handler (oversized,
//! over the concurrency limit) get their code here. Health and reflection
//! calls are not traced.
//!
//! The caller's context is also made current (OpenTelemetry's own
//! `Context::current`) while the call runs. With export off no span is
//! recorded, and the upstream client sends that context on unchanged: the
//! facade is then a transparent hop in the caller's trace.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use opentelemetry::context::FutureExt as _;
use opentelemetry_http::HeaderExtractor;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The gRPC path prefix of the traced calls.
const TRACED_PREFIX: &str = "/unico.identity.v1.";

/// Wraps every service of the server.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpcSpanLayer;

impl<S> tower::Layer<S> for RpcSpanLayer {
    type Service = RpcSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcSpan { inner }
    }
}

/// See [`RpcSpanLayer`].
#[derive(Debug, Clone)]
pub struct RpcSpan<S> {
    inner: S,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcSpan<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let path = request.uri().path();
        let Some((service, method)) = path
            .strip_prefix('/')
            .filter(|_| path.starts_with(TRACED_PREFIX))
            .and_then(|p| p.split_once('/'))
        else {
            return Box::pin(self.inner.call(request));
        };
        let span = tracing::info_span!(
            "rpc",
            otel.name = %format!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
            error.type = Empty,
            unico.request_id = Empty,
        );
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(request.headers()))
        });
        let _ = span.set_parent(parent.clone());
        let response = self
            .inner
            .call(request)
            .instrument(span.clone())
            .with_context(parent);
        Box::pin(async move {
            let response = response.await?;
            // Trailers-only answers (refused before the handler) carry the
            // status in the headers.
            if let Some(code) = response
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok())
            {
                span.record("rpc.grpc.status_code", code);
            }
            Ok(response)
        })
    }
}
