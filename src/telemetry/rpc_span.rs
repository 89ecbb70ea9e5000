//! One server span per facade RPC, named `service/method` with the
//! OpenTelemetry `rpc.*` attributes, parented on the caller's W3C context
//! from the request metadata. The ledger fills in `rpc.grpc.status_code`
//! and the ErrorInfo reason; calls answered before any handler (oversized,
//! over the concurrency limit) get their code here. Health and reflection
//! calls are not traced.
//!
//! The call's context (the span's, or with export off the caller's) is made
//! current (OpenTelemetry's own `Context::current`) while the call is set up
//! and each time it is polled: that is how the ledger and the upstream
//! client find it. With export off the upstream client sends the caller's
//! context on unchanged: the facade is then a transparent hop in the
//! caller's trace.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use opentelemetry::{KeyValue, context::FutureExt as _, trace::SpanKind};

use super::{
    propagation,
    spans::{self, Tracer},
};

/// The gRPC path prefix of the traced calls.
const TRACED_PREFIX: &str = "/unico.identity.v1.";

/// Wraps every service of the server.
#[derive(Debug, Clone, Default)]
pub struct RpcSpanLayer {
    tracer: Tracer,
}

impl RpcSpanLayer {
    pub fn new(tracer: Tracer) -> Self {
        Self { tracer }
    }
}

impl<S> tower::Layer<S> for RpcSpanLayer {
    type Service = RpcSpan<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcSpan {
            inner,
            tracer: self.tracer.clone(),
        }
    }
}

/// See [`RpcSpanLayer`].
#[derive(Debug, Clone)]
pub struct RpcSpan<S> {
    inner: S,
    tracer: Tracer,
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
        let parent = propagation::extract(request.headers());
        let call = self.tracer.start(
            &parent,
            format!("{service}/{method}"),
            SpanKind::Server,
            || {
                vec![
                    KeyValue::new("rpc.system", "grpc"),
                    KeyValue::new("rpc.service", service.to_owned()),
                    KeyValue::new("rpc.method", method.to_owned()),
                ]
            },
        );
        let response = {
            let _current = call.clone().attach();
            self.inner.call(request)
        };
        let response = response.with_context(call.clone());
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
                spans::record(&call, || vec![KeyValue::new("rpc.grpc.status_code", code)]);
            }
            Ok(response)
        })
    }
}
