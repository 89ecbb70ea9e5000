//! The gRPC-over-HTTP/2 rules tonic leaves to the application, in one layer
//! over every service (after gRPC-Web has been translated to gRPC):
//! - only POST: anything else is HTTP 405 (`allow: POST`);
//! - only `application/grpc[+…]`: anything else is HTTP 415, as the gRPC
//!   spec asks, so that no plain HTTP client reads an error as a success;
//! - a unary facade call carries one message ([`framing`]);
//! - tonic's own error answers, which carry no details (an undecodable
//!   message, a bad frame, no message, a compressed flag without an
//!   encoding, an encoding not accepted, an unknown method, a message over
//!   the size limit), are answered again with ErrorInfo and a stable reason
//!   ([`tonic_answers`]), RequestInfo and `x-request-id`.
//!
//! Both 405 and 415 answers carry the gRPC status too, with ErrorInfo.

pub mod framing;
pub mod tonic_answers;

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Method, header};
use tonic::{Status, body::Body};
use tonic_types::StatusExt;

use crate::{
    metrics::Metrics,
    service::{
        CallTicket, REQUEST_ID_KEY,
        ledger::{UNKNOWN_METHOD, tracked_method},
    },
    status::{self, FacadeError, ServerError, Summary},
};
use tonic_answers::TonicAnswer;

/// The header tonic sets with the encodings it accepts.
const ACCEPT_ENCODING: &str = "grpc-accept-encoding";

/// Wraps every service of the server.
#[derive(Debug, Clone)]
pub struct ProtocolLayer {
    max_request_bytes: usize,
    metrics: Arc<Metrics>,
}

impl ProtocolLayer {
    pub fn new(max_request_bytes: usize, metrics: Arc<Metrics>) -> Self {
        Self {
            max_request_bytes,
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for ProtocolLayer {
    type Service = Protocol<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Protocol {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`ProtocolLayer`].
#[derive(Debug, Clone)]
pub struct Protocol<S> {
    inner: S,
    layer: ProtocolLayer,
}

impl<S> tower::Service<http::Request<Body>> for Protocol<S>
where
    S: tower::Service<http::Request<Body>, Response = http::Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let answering = Answering {
            ticket: request.extensions().get::<Arc<CallTicket>>().cloned(),
            layer: self.layer.clone(),
            method: tracked_method(request.uri().path()),
        };
        if request.method() != Method::POST {
            let response = answering.refuse(&ServerError::HttpMethodNotAllowed);
            return Box::pin(async move { Ok(response) });
        }
        if !is_grpc(request.headers().get(header::CONTENT_TYPE)) {
            let response = answering.refuse(&ServerError::ContentTypeUnsupported);
            return Box::pin(async move { Ok(response) });
        }
        let unary = answering.method.is_some_and(|m| m != UNKNOWN_METHOD);
        let request = if unary {
            let ticket = answering.ticket.clone();
            request.map(|body| Body::new(framing::UnaryBody::new(body, ticket)))
        } else {
            request
        };
        let response = self.inner.call(request);
        Box::pin(async move { Ok(answering.with_details(response.await?)) })
    }
}

/// `application/grpc`, alone or with a `+format` or parameters.
fn is_grpc(content_type: Option<&HeaderValue>) -> bool {
    let Some(rest) = content_type.and_then(|v| v.as_bytes().strip_prefix(b"application/grpc"))
    else {
        return false;
    };
    matches!(rest.first(), None | Some(b'+' | b';'))
}

/// What answering a request again needs.
struct Answering {
    ticket: Option<Arc<CallTicket>>,
    layer: ProtocolLayer,
    /// The ledger's name of the method; `None` on health and reflection.
    method: Option<&'static str>,
}

impl Answering {
    fn request_id(&self) -> Option<&str> {
        self.ticket.as_ref().map(|t| t.request_id().as_str())
    }

    /// A refusal before tonic saw the request.
    fn refuse(&self, error: &ServerError) -> http::Response<Body> {
        tracing::info!(%error, "request refused: not a gRPC call");
        let (status, summary) = status::server_status(error, None, self.request_id());
        let mut response = self.answer(status, summary);
        *response.status_mut() = error.http_status();
        if *error == ServerError::HttpMethodNotAllowed {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        response
    }

    /// `response` again, with ErrorInfo if it is one of tonic's bare errors.
    fn with_details(&self, mut response: http::Response<Body>) -> http::Response<Body> {
        let status = response
            .extensions()
            .get::<Status>()
            .cloned()
            .or_else(|| Status::from_header_map(response.headers()));
        let Some(status) = status.filter(|s| s.code() != tonic::Code::Ok) else {
            return response;
        };
        if status.get_error_details().error_info().is_some() {
            // Ours already (a handler's, the framing's): only the id may lack.
            if let Some(id) = self
                .request_id()
                .and_then(|id| HeaderValue::from_str(id).ok())
            {
                response.headers_mut().entry(REQUEST_ID_KEY).or_insert(id);
            }
            return response;
        }
        let (again, summary) = match tonic_answers::classify(&status) {
            Some(TonicAnswer::TooLarge) => {
                let limit = self.layer.max_request_bytes;
                tracing::info!(limit_bytes = limit, "request refused: over the size limit");
                status::to_status(&FacadeError::RequestTooLarge { limit }, self.request_id())
            }
            Some(TonicAnswer::Server(error)) => {
                // tonic's words name the decoding step, never the content.
                tracing::info!(%error, tonic = status.message(), "request refused by tonic");
                status::server_status(&error, Some(status.message()), self.request_id())
            }
            // Health and reflection answer for themselves.
            None if self.method.is_none() => return response,
            None => {
                tracing::warn!(code = ?status.code(), tonic = status.message(), "unclassified server answer");
                status::server_status(
                    &ServerError::Unclassified {
                        code: status.code(),
                    },
                    Some(status.message()),
                    self.request_id(),
                )
            }
        };
        let mut again = self.answer(again, summary);
        if let Some(accepted) = response.headers().get(ACCEPT_ENCODING) {
            again
                .headers_mut()
                .insert(ACCEPT_ENCODING, accepted.clone());
        }
        again
    }

    /// The status as a trailers-only answer; its summary left for the
    /// call's log line (or counted here, for calls the ledger does not keep).
    fn answer(&self, mut status: Status, summary: Summary) -> http::Response<Body> {
        if let Some(id) = self.request_id().and_then(|id| id.parse().ok()) {
            status.metadata_mut().insert(REQUEST_ID_KEY, id);
        }
        match &self.ticket {
            Some(ticket) => ticket.record(summary),
            None if summary.local => self.layer.metrics.local_rejection(summary.reason),
            None => {}
        }
        status.into_http()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types_are_told_from_others() {
        let grpc = |v: &'static str| is_grpc(Some(&HeaderValue::from_static(v)));
        assert!(grpc("application/grpc"));
        assert!(grpc("application/grpc+proto"));
        assert!(grpc("application/grpc;charset=utf-8"));
        assert!(!grpc("application/grpc-web"));
        assert!(!grpc("application/grpcx"));
        assert!(!grpc("application/json"));
        assert!(!grpc("text/plain"));
        assert!(!is_grpc(None));
    }
}
