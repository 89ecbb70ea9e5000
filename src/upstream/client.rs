//! The pooled HTTP client shared by every endpoint: sends a JSON request with
//! the call's credentials within the call's time budget, reads the answer
//! with a cap, and classifies what went wrong by phase.

use std::time::{Duration, SystemTime};

use opentelemetry_http::HeaderInjector;
use reqwest::{
    StatusCode, Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER},
};
use serde::de::DeserializeOwned;
use tracing::{Instrument, field::Empty};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    body::read_capped,
    credentials::UpstreamCredentials,
    error::{Api, Endpoint, UpstreamError, VendorError},
    error_body,
    hosts::UpstreamHosts,
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
    pub fn new(hosts: UpstreamHosts) -> Self {
        Self {
            hosts,
            connect_timeout: Duration::from_secs(5),
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

    /// POSTs a JSON body and decodes a JSON answer, all within `budget`.
    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        body: Vec<u8>,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let exchange = self.exchange(endpoint, url, credentials, body);
        let (status, bytes) = tokio::time::timeout(budget, exchange)
            .await
            .map_err(|_| UpstreamError::Timeout { budget })??;
        serde_json::from_slice(&bytes).map_err(|e| UpstreamError::UnparseableResponse {
            http_status: status.as_u16(),
            detail: json_error_shape(&e),
        })
    }

    /// One HTTP exchange inside a client span (`http.*` attributes, the
    /// route template, never the URL), with the W3C context injected so the
    /// vendor's side of the call sits under the caller's trace.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        body: Vec<u8>,
    ) -> Result<(StatusCode, bytes::Bytes), UpstreamError> {
        let span = tracing::info_span!(
            "upstream",
            otel.name = endpoint.route(),
            otel.kind = "client",
            otel.status_code = Empty,
            http.request.method = "POST",
            http.route = endpoint.path_template(),
            server.address = url.host_str().unwrap_or_default(),
            http.response.status_code = Empty,
            unico.vendor_code = Empty,
            error.type = Empty,
        );
        let outcome = self
            .exchange_in(endpoint, url, credentials, body, &span)
            .instrument(span.clone())
            .await;
        match &outcome {
            Ok((status, _)) => {
                span.record("http.response.status_code", status.as_u16());
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
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        body: Vec<u8>,
        span: &tracing::Span,
    ) -> Result<(StatusCode, bytes::Bytes), UpstreamError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        credentials.apply(&mut headers, endpoint.api() == Api::Id);
        let context = span.context();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut HeaderInjector(&mut headers));
        });

        let response = self
            .http
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(classify_send_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| error_body::retry_after(v, SystemTime::now()));

        if status.is_success() {
            let body = read_capped(response, self.settings.max_response_bytes)
                .await
                .map_err(|source| UpstreamError::ConnectionLost { source })?;
            if body.truncated {
                return Err(UpstreamError::UnparseableResponse {
                    http_status: status.as_u16(),
                    detail: format!(
                        "body larger than {} bytes",
                        self.settings.max_response_bytes
                    ),
                });
            }
            return Ok((status, body.bytes));
        }

        // An error body that breaks off midway still leaves the status: keep
        // what arrived rather than hiding the vendor's answer.
        let bytes = match read_capped(response, self.settings.max_error_body_bytes).await {
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

fn classify_send_error(error: reqwest::Error) -> UpstreamError {
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
