//! The pooled HTTP client shared by every endpoint: sends a JSON request with
//! the call's credentials within the call's time budget, reads the answer
//! with a cap, and classifies what went wrong by phase.
//!
//! It is hyper's pooled client (HTTP/1.1, or HTTP/2 where TLS negotiates
//! it; rustls with the platform's roots), not a higher-level one: the facade
//! never follows redirects, retries only where `call_upstream` decides, and
//! builds each URI once, so the per-request URL re-parsing, redirect and
//! retry layers of a browser-like client were a tenth of a call's cost for
//! nothing.

use std::time::{Duration, SystemTime};

use http::{
    Method, Request, StatusCode, Uri,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioTimer},
};
use opentelemetry::{KeyValue, trace::SpanKind};
use url::Url;

use crate::telemetry::{Tracer, propagation, spans};

use super::{
    body::{RequestBody, read_capped},
    credentials::UpstreamCredentials,
    endpoint::{Api, CallRoute, Endpoint},
    error::{TransportError, UpstreamError, VendorError},
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
    /// Records a client span per exchange when spans are exported.
    pub tracer: Tracer,
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
            tracer: Tracer::off(),
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            max_response_bytes: 4 * 1024 * 1024,
            max_error_body_bytes: 64 * 1024,
        }
    }
}

/// The HTTP client could not be created (the platform's TLS roots could
/// not be loaded).
#[derive(Debug, thiserror::Error)]
#[error("could not create the upstream HTTP client: {0}")]
pub struct ClientBuildError(#[source] rustls::Error);

/// The `User-Agent` of every upstream request.
const USER_AGENT_VALUE: HeaderValue =
    HeaderValue::from_static(concat!("unico-facade/", env!("CARGO_PKG_VERSION")));

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

type HttpClient = Client<TimedConnector, RequestBody>;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The HTTPS connector with the whole connect (TCP and the TLS handshake)
/// under the connect timeout; a timeout is a failure to connect, so nothing
/// was sent.
#[derive(Debug, Clone)]
struct TimedConnector {
    inner: HttpsConnector,
    timeout: Duration,
}

impl tower::Service<Uri> for TimedConnector {
    type Response = <HttpsConnector as tower::Service<Uri>>::Response;
    type Error = TransportError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, TransportError>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), TransportError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let timeout = self.timeout;
        Box::pin(async move {
            tokio::time::timeout(timeout, connecting)
                .await
                .map_err(|_| TransportError::from(format!("no connection within {timeout:?}")))?
        })
    }
}

/// The vendor's REST APIs, over one connection pool.
#[derive(Debug, Clone)]
pub struct UpstreamClient {
    http: HttpClient,
    settings: UpstreamSettings,
}

impl UpstreamClient {
    pub fn new(settings: UpstreamSettings) -> Result<Self, ClientBuildError> {
        // rustls needs one process-wide crypto provider; `ring` keeps the
        // build free of aws-lc. A second install attempt is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .try_with_platform_verifier()
            .map_err(ClientBuildError)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let connector = TimedConnector {
            inner: connector,
            timeout: settings.connect_timeout,
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { http, settings })
    }

    pub fn hosts(&self) -> &UpstreamHosts {
        &self.settings.hosts
    }

    /// POSTs a JSON body with the call's credentials and decodes a JSON
    /// answer that holds what a success needs, all within `budget`. The
    /// body is a buffer or a stream of known length: either way the request
    /// carries its `Content-Length` (taken from the body's exact size hint).
    pub(crate) async fn post_json<T: SuccessBody>(
        &self,
        endpoint: Endpoint,
        url: Url,
        credentials: &UpstreamCredentials,
        body: impl Into<RequestBody>,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let mut request = request(Method::POST, &url, body.into())?;
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
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
        let request = request(Method::GET, &url, RequestBody::Empty)?;
        self.json_exchange(endpoint, request, credentials, budget)
            .await
    }

    async fn json_exchange<T: SuccessBody>(
        &self,
        endpoint: Endpoint,
        mut request: Request<RequestBody>,
        credentials: &UpstreamCredentials,
        budget: Duration,
    ) -> Result<T, UpstreamError> {
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        credentials.apply(headers, endpoint.api() == Api::Id);
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
        mut request: Request<RequestBody>,
        caps: BodyCaps,
        budget: Duration,
    ) -> Result<Reply, UpstreamError> {
        // The client span under the call's context; with export off, the
        // caller's context itself, which then passes through as it came.
        let call = self.settings.tracer.start(
            &opentelemetry::Context::current(),
            route.label,
            SpanKind::Client,
            || {
                vec![
                    KeyValue::new("http.request.method", route.method.as_str().to_owned()),
                    KeyValue::new("http.route", route.template),
                    KeyValue::new(
                        "server.address",
                        request.uri().host().unwrap_or_default().to_owned(),
                    ),
                ]
            },
        );
        propagation::inject(&call, request.headers_mut());
        let outcome = tokio::time::timeout(budget, self.exchange_in(request, caps))
            .await
            .unwrap_or(Err(UpstreamError::Timeout { budget }));
        spans::record(&call, || match &outcome {
            Ok(reply) => vec![KeyValue::new(
                "http.response.status_code",
                i64::from(reply.status.as_u16()),
            )],
            Err(UpstreamError::Vendor(vendor)) => {
                let mut attributes = vec![
                    KeyValue::new("http.response.status_code", i64::from(vendor.http_status)),
                    KeyValue::new("error.type", vendor.http_status.to_string()),
                ];
                if let Some(code) = &vendor.code {
                    attributes.push(KeyValue::new("unico.vendor_code", code.to_string()));
                }
                attributes
            }
            Err(error) => vec![KeyValue::new("error.type", error_type(error))],
        });
        if outcome.is_err() {
            spans::fail(&call);
        }
        outcome
    }

    async fn exchange_in(
        &self,
        request: Request<RequestBody>,
        caps: BodyCaps,
    ) -> Result<Reply, UpstreamError> {
        let response = self
            .http
            .request(request)
            .await
            .map_err(classify_send_error)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| error_body::retry_after(v, SystemTime::now()));

        if status.is_success() {
            let body = read_capped(response.into_body(), caps.success)
                .await
                .map_err(|source| UpstreamError::ConnectionLost {
                    source: source.into(),
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
        let bytes = match read_capped(response.into_body(), caps.error).await {
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

/// A request to `url` with the headers every request carries. The URI is
/// the URL's text, checked once more by `http`'s parser.
pub(crate) fn request(
    method: Method,
    url: &Url,
    body: RequestBody,
) -> Result<Request<RequestBody>, UpstreamError> {
    let uri = Uri::try_from(url.as_str()).map_err(|_| UpstreamError::BuildRequest {
        detail: "the upstream URL is not a valid URI".to_owned(),
    })?;
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    request.headers_mut().insert(USER_AGENT, USER_AGENT_VALUE);
    Ok(request)
}

/// Classifies a failed send: nothing was sent when the connection could not
/// be opened (refused, timed out, TLS refused); otherwise the request may
/// have reached the vendor. hyper's errors never hold the URL (a query
/// string may hold personal data: `/documents/v1?code=…`).
fn classify_send_error(error: hyper_util::client::legacy::Error) -> UpstreamError {
    if error.is_connect() {
        UpstreamError::Connect {
            source: error.into(),
        }
    } else {
        UpstreamError::ConnectionLost {
            source: error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    fn client() -> UpstreamClient {
        let hosts = UpstreamHosts::single("http://127.0.0.1:9").unwrap();
        UpstreamClient::new(UpstreamSettings::new(hosts)).unwrap()
    }

    fn caps() -> BodyCaps {
        BodyCaps {
            success: 1024,
            error: 1024,
        }
    }

    async fn send(url: &str, body: RequestBody) -> Result<Reply, UpstreamError> {
        let request = request(Method::POST, &Url::parse(url).unwrap(), body).unwrap();
        client()
            .exchange(
                Endpoint::SetProcessDocument.call_route(),
                request,
                caps(),
                Duration::from_secs(5),
            )
            .await
    }

    #[tokio::test]
    async fn a_closed_port_is_a_refused_connection_nothing_sent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let outcome = send(&format!("http://{addr}/x"), RequestBody::Empty).await;
        assert!(
            matches!(outcome, Err(UpstreamError::Connect { .. })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_tls_handshake_that_never_ends_is_a_failure_to_connect_at_the_connect_timeout() {
        // Accepts the TCP connection and then says nothing.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        });
        let hosts = UpstreamHosts::single("http://127.0.0.1:9").unwrap();
        let mut settings = UpstreamSettings::new(hosts);
        settings.connect_timeout = Duration::from_millis(200);
        let client = UpstreamClient::new(settings).unwrap();
        let url = Url::parse(&format!("https://localhost:{}/x", addr.port())).unwrap();
        let started = std::time::Instant::now();
        let outcome = client
            .exchange(
                Endpoint::SetProcessDocument.call_route(),
                request(Method::POST, &url, RequestBody::Empty).unwrap(),
                caps(),
                Duration::from_secs(5),
            )
            .await;
        assert!(
            matches!(outcome, Err(UpstreamError::Connect { .. })),
            "{outcome:?}"
        );
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(3),
            "{waited:?}"
        );
        server.abort();
    }

    /// Reads one request head and body from an accepted connection.
    async fn read_request(socket: &mut tokio::net::TcpStream) -> String {
        let mut received = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = socket.read(&mut buffer).await.unwrap();
            received.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&received).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.parse::<usize>().unwrap());
                if body.len() >= length {
                    return text;
                }
            }
        }
    }

    #[tokio::test]
    async fn a_connection_closed_before_the_answer_is_lost_and_the_request_was_exact() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let request = read_request(&mut socket).await;
            socket.shutdown().await.unwrap();
            request
        });
        let outcome = send(
            &format!("http://{addr}/client/v1/process/p-1/document"),
            b"{\"a\":1}".to_vec().into(),
        )
        .await;
        assert!(
            matches!(outcome, Err(UpstreamError::ConnectionLost { .. })),
            "{outcome:?}"
        );
        let request = server.await.unwrap();
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        let mut lines = head.lines();
        assert_eq!(
            lines.next(),
            Some("POST /client/v1/process/p-1/document HTTP/1.1")
        );
        let mut headers: Vec<&str> = lines.collect();
        headers.sort_unstable();
        assert_eq!(
            headers,
            [
                "content-length: 7".to_owned(),
                format!("host: {addr}"),
                concat!("user-agent: unico-facade/", env!("CARGO_PKG_VERSION")).to_owned(),
            ]
        );
        assert_eq!(body, "{\"a\":1}");
    }

    #[tokio::test]
    async fn an_answer_is_read_and_its_status_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            read_request(&mut socket).await;
            socket
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
        });
        let reply = send(&format!("http://{addr}/x"), RequestBody::Empty)
            .await
            .unwrap();
        assert_eq!((reply.status.as_u16(), &reply.body[..]), (201, &b"{}"[..]));
    }
}
