//! The pooled HTTP client shared by every endpoint: sends a JSON request with
//! the call's credentials within the call's time budget, reads the answer
//! with a cap, and classifies what went wrong by phase.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_http::HeaderInjector;
use reqwest::{
    StatusCode, Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    body::read_capped,
    credentials::UpstreamCredentials,
    endpoint::{Api, CallRoute, Endpoint},
    error::{UpstreamError, VendorError},
    error_body,
    hosts::UpstreamHosts,
    success_body::{self, SuccessBody},
};

/// How many bytes of an error body are kept for the excerpt in `VendorError`.
const BODY_EXCERPT_BYTES: usize = 512;

/// Settings of the upstream client.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    pub hosts: UpstreamHosts,
    /// Time allowed to open a connection (TCP and TLS).
    pub connect_timeout: Duration,
    /// Largest successful body accepted.
    pub max_response_bytes: usize,
    /// Largest part of an error body read; the rest is dropped.
    pub max_error_body_bytes: usize,
}

impl UpstreamSettings {
    /// Time to open a connection when none is configured.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

    pub fn new(hosts: UpstreamHosts) -> Self {
        Self {
            hosts,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: 4 * 1024 * 1024,
            max_error_body_bytes: 64 * 1024,
        }
    }
}

/// The HTTP client could not be created.
#[derive(Debug, thiserror::Error)]
#[error("could not create the upstream HTTP client: {0}")]
pub struct ClientBuildError(#[source] reqwest::Error);

/// The vendor's REST APIs, over one connection pool.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: reqwest::Client,
    settings: UpstreamSettings,
}

impl UpstreamClient {
    pub fn new(settings: UpstreamSettings) -> Result<Self, ClientBuildError> {
        // rustls needs one process-wide crypto provider; `ring` keeps the
        // build free of aws-lc. A second install attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("unico-facade/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(settings.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(ClientBuildError)?;
        Ok(Self { http, settings })
    }

    pub fn hosts(&self) -> &UpstreamHosts {
        &self.settings.hosts
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs a JSON body with the call's credentials and decodes a JSON
    /// answer that holds what a success needs, all within `budget`. The
    /// body is a buffer or a stream of known length: either way the request
    /// carries its `Content-Length` (the HTTP client takes it from the
    /// body's exact size hint).
    pub(crate) async fn post_json<T: SuccessBody>(
        &self,
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        body: impl Into<reqwest::Body>,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .body(body);
        self.json_exchange(endpoint, request, credentials, budget)
            .await
    }

    /// GETs a resource with the call's credentials and decodes a JSON
    /// answer, all within `budget`.
    pub(crate) async fn get_json<T: SuccessBody>(
        &self,
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let request = self.http.get(url);
        self.json_exchange(endpoint, request, credentials, budget)
            .await
    }

    async fn json_exchange<T: SuccessBody>(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        credentials: &UpstreamCredentials,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        credentials.apply(&mut headers, endpoint.api() == Api::Id);
        let request = request
            .headers(headers)
            .build()
            .map_err(classify_send_error)?;
        let caps = BodyCaps {
            success: self.settings.max_response_bytes,
            error: self.settings.max_error_body_bytes,
        };
        let reply = self
            .exchange(endpoint.call_route(), request, caps, budget)
            .await?;
        success_body::decode(&reply.body).map_err(|detail| UpstreamError::UnparseableResponse {
            http_status: reply.status.as_u16(),
            detail,
        })
    }

    /// One HTTP exchange, within `budget`, inside a client span (`http.*`
    /// attributes, the route template, never the URL), with the W3C context
    /// injected so the vendor's side of the call sits under the caller's
    /// trace. A 2xx is the reply; anything else is the vendor's error.
    pub(crate) async fn exchange(
        &self,
        route: CallRoute,
        request: reqwest::Request,
        caps: BodyCaps,
        budget: Duration,
    ) -> Result<Reply, UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            otel.name = route.label,
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = route.method.as_str(),
            http.route = route.template,
            server.address = request.url().host_str().unwrap_or_default(),
            http.response.status_code = Empty,
            unico.vendor_code = Empty,
            error.type = Empty,
        );
        let exchange = self
            .exchange_in(request, caps, &span)
            .instrument(span.clone());
        let outcome = tokio::time::timeout(budget, exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout { budget }));
        match &outcome {
            Ok(reply) => {
                span.record("http.response.status_code", reply.status.as_u16());
            }
            Err(UpstreamError::Vendor(vendor)) => {
                span.record("http.response.status_code", vendor.http_status);
                span.record("error.type", vendor.http_status.to_string());
                span.record("otel.status_code", "ERROR");
                if let Some(code) = &vendor.code {
                    span.record("unico.vendor_code", code.to_string());
                }
            }
            Err(error) => {
                span.record("error.type", error_type(error));
                span.record("otel.status_code", "ERROR");
            }
        }
        outcome
    }

    async fn exchange_in(
        &self,
        mut request: reqwest::Request,
        caps: BodyCaps,
        span: &tracing::Span,
    ) -> Result<Reply, UpstreamError> {
        // The client span's context when spans are exported; otherwise none
        // was recorded and the caller's context passes through as it came.
        let context = span.context();
        let context = if context.has_active_span() {
            context
        } else {
            opentelemetry::Context::current()
        };
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(request.headers_mut()));
        });

        let response = self
            .http
            .execute(request)
            .await
            .map_err(classify_send_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| error_body::retry_after(v, SystemTime::now()));

        if status.is_success() {
            let body = read_capped(response, caps.success)
                .await
                .map_err(|source| UpstreamError::ConnectionLost {
                    source: source.without_url(),
                })?;
            if body.truncated {
                return Err(UpstreamError::UnparseableResponse {
                    http_status: status.as_u16(),
                    detail: format!("body larger than {} bytes", caps.success),
                });
            }
            return Ok(Reply {
                status,
                body: body.bytes,
            });
        }

        // An error body that breaks off midway still leaves the status: keep
        // what arrived rather than hiding the vendor's answer.
        let bytes = match read_capped(response, caps.error).await {
            Ok(body) => body.bytes,
            Err(_) => bytes::Bytes::new(),
        };
        let parsed = error_body::parse(&bytes);
        let excerpt_len = bytes.len().min(BODY_EXCERPT_BYTES);
        Err(UpstreamError::Vendor(VendorError {
            http_status: status.as_u16(),
            code: parsed.code,
            message: parsed.message,
            retry_after,
            body_excerpt: String::from_utf8_lossy(&bytes[..excerpt_len]).into_owned(),
        }))
    }
}

/// The largest bodies read from an answer, by outcome.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyCaps {
    /// A 2xx body over this is refused as unparseable.
    pub success: usize,
    /// An error body is cut here (the excerpt and the code come from the start).
    pub error: usize,
}

/// A 2xx answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: bytes::Bytes,
}

/// Where and how a body failed to parse, without serde's message, which
/// quotes the offending value (and the vendor may echo personal data).
pub(crate) fn json_error_shape(error: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        error.classify(),
        error.line(),
        error.column()
    )
}

/// A bounded `error.type` for a failure without a vendor answer.
fn error_type(error: &UpstreamError) -> &'static str {
    match error {
        UpstreamError::BuildRequest { .. } => "build_request",
        UpstreamError::Connect { .. } => "connect",
        UpstreamError::ConnectionLost { .. } => "connection_lost",
        UpstreamError::Timeout { .. } => "timeout",
        UpstreamError::UnparseableResponse { .. } => "unparseable_response",
        UpstreamError::Vendor(_) => "vendor",
    }
}

/// Classifies a failed send. The URL is dropped from the error: a query
/// string may hold personal data (`/documents/v1?code=…`).
fn classify_send_error(error: reqwest::Error) -> UpstreamError {
    let error = error.without_url();
    if error.is_builder() {
        UpstreamError::BuildRequest {
            detail: error.to_string(),
        }
    } else if error.is_connect() {
        UpstreamError::Connect { source: error }
    } else {
        UpstreamError::ConnectionLost { source: error }
    }
}
