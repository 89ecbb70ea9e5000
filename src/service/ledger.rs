//! The ledger of calls: every call outside health and reflection is entered
//! when its headers arrive and leaves with exactly one log line and one
//! count, whoever answered it: its handler, tonic (a message it could not
//! decode), the protocol layer, or the ledger itself when
//! - the caller's deadline (`grpc-timeout`, counted from arrival) runs out:
//!   DEADLINE_EXCEEDED `CALL_DEADLINE_EXCEEDED`, a hair before tonic's own
//!   timer would answer CANCELLED without details;
//! - the request message has not arrived within `--request-message-timeout`
//!   (a slowloris): RESOURCE_EXHAUSTED `REQUEST_MESSAGE_TIMEOUT`;
//! - the shutdown grace runs out: UNAVAILABLE `SHUTDOWN_GRACE_EXPIRED`;
//! - the caller cancels: nothing can be sent, but the call is logged and
//!   counted as CANCELLED `CLIENT_CANCELLED`.
//!
//! The handler learns the call's arrival, request id and deadline from the
//! [`CallTicket`] in the request's extensions and marks the message as
//! arrived when it starts. The ticket writes the log line and counts the
//! call exactly once, for whoever ends it first: the handler's scope when it
//! closes (a unary answer, or a stream's end, long after the response
//! headers), or the ledger for every other ending.

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use opentelemetry::KeyValue;
use tokio::{sync::watch, time::Instant};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{REQUEST_ID_KEY, RequestId, parse_grpc_timeout};
use crate::{
    metrics::{InFlight, Metrics, code_name},
    status::{ServerError, Stage, Summary},
    telemetry::spans,
};

/// The facade's methods by gRPC path, with the name used in logs and
/// metric labels (a test checks it against the contract). Each takes one
/// request message. Any other path (but health and reflection) is
/// `unknown`.
const METHODS: &[(&str, &str)] = &[
    (
        "/unico.identity.v1.ProcessService/SetProcessDocument",
        "SetProcessDocument",
    ),
    (
        "/unico.identity.v1.DocumentService/CreateDocumentProcess",
        "CreateDocumentProcess",
    ),
    (
        "/unico.identity.v1.DocumentService/ListReusableDocuments",
        "ListReusableDocuments",
    ),
    (
        "/unico.identity.v1.DocumentService/GetDocumentProcess",
        "GetDocumentProcess",
    ),
    (
        "/unico.identity.v1.DocumentService/WatchDocumentProcess",
        "WatchDocumentProcess",
    ),
    (
        "/unico.identity.v1.ProcessService/CreateProcess",
        "CreateProcess",
    ),
    ("/unico.identity.v1.ProcessService/GetProcess", "GetProcess"),
    (
        "/unico.identity.v1.ProcessService/WatchProcess",
        "WatchProcess",
    ),
];
/// The label of a path that names no facade method.
pub const UNKNOWN_METHOD: &str = "unknown";
/// Paths whose calls are not the ledger's: health checks and reflection
/// streams have their own protocols and lifetimes.
const UNTRACKED_PREFIXES: &[&str] = &["/grpc.health.v1.", "/grpc.reflection."];
/// How long before the caller's deadline the ledger answers, so that its
/// timer always fires before tonic's (set a few microseconds earlier, on
/// the same arrival).
const LEAD_OVER_TONIC: Duration = Duration::from_millis(2);

/// The ledger's method name for a path; `None` for untracked paths.
pub fn tracked_method(path: &str) -> Option<&'static str> {
    if UNTRACKED_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    Some(
        METHODS
            .iter()
            .find(|(p, _)| *p == path)
            .map_or(UNKNOWN_METHOD, |(_, name)| name),
    )
}

/// What the ledger knows of a call, shared with its handler.
#[derive(Debug)]
pub struct CallTicket {
    method: &'static str,
    request_id: RequestId,
    arrival: Instant,
    timeout: Option<Duration>,
    metrics: Arc<Metrics>,
    state: Mutex<TicketState>,
    settled: AtomicBool,
}

#[derive(Debug)]
struct TicketState {
    /// Held until the message arrives.
    awaiting: Option<InFlight>,
    outcome: Option<Summary>,
    /// The request body broke off: the caller reset the stream or its
    /// connection closed, whatever was answered.
    caller_gone: bool,
    /// The call's OpenTelemetry context (holding the RPC's span, when
    /// traced), completed wherever the call ends (a stream's task, a drop).
    call: opentelemetry::Context,
}

impl CallTicket {
    fn arrive(
        method: &'static str,
        headers: &http::HeaderMap,
        arrival: Instant,
        metrics: &Arc<Metrics>,
    ) -> Self {
        Self {
            method,
            request_id: RequestId::from_headers(headers),
            arrival,
            timeout: headers
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_grpc_timeout),
            metrics: metrics.clone(),
            state: Mutex::new(TicketState {
                awaiting: Some(metrics.await_message(method)),
                outcome: None,
                caller_gone: false,
                call: opentelemetry::Context::new(),
            }),
            settled: AtomicBool::new(false),
        }
    }

    /// A ticket for a handler called without the ledger (embedding, unit
    /// tests): arrival is now.
    pub(crate) fn standalone(
        method: &'static str,
        metadata: &tonic::metadata::MetadataMap,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            method,
            request_id: RequestId::from_metadata(metadata),
            arrival: Instant::now(),
            timeout: metadata
                .get("grpc-timeout")
                .and_then(|v| v.to_str().ok())
                .and_then(parse_grpc_timeout),
            metrics,
            state: Mutex::new(TicketState {
                awaiting: None,
                outcome: None,
                caller_gone: false,
                call: opentelemetry::Context::current(),
            }),
            settled: AtomicBool::new(false),
        }
    }

    pub fn method(&self) -> &'static str {
        self.method
    }

    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    pub fn arrival(&self) -> Instant {
        self.arrival
    }

    /// The caller's `grpc-timeout`, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The message arrived: the handler is starting.
    pub(crate) fn admit(&self) {
        self.lock().awaiting = None;
    }

    fn stage(&self) -> Stage {
        match self.lock().awaiting {
            Some(_) => Stage::ReceivingRequest,
            None => Stage::Processing,
        }
    }

    /// Leaves the summary of an answer written for the handler's response
    /// (a protocol refusal) for the ledger's log line; the first one stays.
    pub(crate) fn record(&self, summary: Summary) {
        self.lock().outcome.get_or_insert(summary);
    }

    fn take_outcome(&self) -> Option<Summary> {
        self.lock().outcome.take()
    }

    /// The request body failed: the caller is gone.
    pub(crate) fn caller_gone(&self) {
        self.lock().caller_gone = true;
    }

    fn is_caller_gone(&self) -> bool {
        self.lock().caller_gone
    }

    fn is_settled(&self) -> bool {
        self.settled.load(Ordering::Acquire)
    }

    /// The call ended with this answer: its one log line and count (a no-op
    /// after the first).
    pub(crate) fn settle(&self, summary: Summary) {
        self.settle_outcome(&Outcome::from(summary));
    }

    /// The caller went away before the answer (a no-op once settled).
    pub(crate) fn settle_cancelled(&self) {
        if self.is_settled() {
            return;
        }
        let cancelled = ServerError::ClientCancelled {
            stage: self.stage(),
        };
        let (_, summary) = crate::status::server_status(&cancelled, None, None);
        if self.settle_outcome(&Outcome::from(summary)) {
            self.metrics
                .interrupted_rpc(self.method, "client_cancelled");
        }
    }

    /// `false` if the call had settled already.
    fn settle_outcome(&self, outcome: &Outcome) -> bool {
        if self.settled.swap(true, Ordering::AcqRel) {
            return false;
        }
        // The message never came: the call no longer waits for it.
        self.admit();
        let latency = self.arrival.elapsed();
        let metrics = &self.metrics;
        metrics.finish_rpc(self.method, outcome.code, latency);
        if outcome.local {
            metrics.local_rejection(&outcome.reason);
        }
        let call = self.lock().call.clone();
        spans::record(&call, || {
            let mut attributes = vec![KeyValue::new("rpc.grpc.status_code", outcome.code as i64)];
            if outcome.code != Code::Ok {
                attributes.push(KeyValue::new("error.type", outcome.reason.to_string()));
            }
            attributes
        });
        if is_server_error(outcome.code) {
            spans::fail(&call);
        }
        tracing::info!(
            rpc.method = self.method,
            grpc.code = code_name(outcome.code),
            reason = (outcome.code != Code::Ok).then_some(outcome.reason.as_ref()),
            upstream.http_status = outcome.upstream_http_status,
            upstream.code = outcome.upstream_code.as_deref(),
            latency_ms = latency.as_secs_f64() * 1000.0,
            request_id = self.request_id.as_str(),
            "call finished"
        );
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TicketState> {
        // A panic elsewhere must not stop the bookkeeping.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the ledger needs, for every call.
#[derive(Debug)]
struct LedgerShared {
    metrics: Arc<Metrics>,
    message_timeout: Duration,
    /// Turns true when the shutdown grace has run out.
    abandon: watch::Receiver<bool>,
}

/// Wraps every service of the server.
#[derive(Debug, Clone)]
pub struct CallLedgerLayer {
    shared: Arc<LedgerShared>,
}

impl CallLedgerLayer {
    pub fn new(
        metrics: Arc<Metrics>,
        message_timeout: Duration,
        abandon: watch::Receiver<bool>,
    ) -> Self {
        Self {
            shared: Arc::new(LedgerShared {
                metrics,
                message_timeout,
                abandon,
            }),
        }
    }
}

impl<S> tower::Layer<S> for CallLedgerLayer {
    type Service = CallLedger<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLedger {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// See [`CallLedgerLayer`].
#[derive(Debug, Clone)]
pub struct CallLedger<S> {
    inner: S,
    shared: Arc<LedgerShared>,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for CallLedger<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let Some(method) = tracked_method(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        let arrival = Instant::now();
        let ticket = Arc::new(CallTicket::arrive(
            method,
            request.headers(),
            arrival,
            &self.shared.metrics,
        ));
        request.extensions_mut().insert(ticket.clone());
        let inner = self.inner.call(request);
        let shared = self.shared.clone();
        Box::pin(async move {
            let call = opentelemetry::Context::current();
            spans::record(&call, || {
                vec![KeyValue::new(
                    "unico.request_id",
                    ticket.request_id.as_str().to_owned(),
                )]
            });
            ticket.lock().call = call;
            let mut entry = Entry {
                ticket,
                shared,
                answered: false,
            };
            entry.run(inner).await
        })
    }
}

/// One call in the ledger; dropped before an answer came back, it was
/// cancelled.
struct Entry {
    ticket: Arc<CallTicket>,
    shared: Arc<LedgerShared>,
    /// An answer came back: settled, or a stream's scope will settle it.
    answered: bool,
}

impl Entry {
    async fn run<F, B, E>(&mut self, inner: F) -> Result<http::Response<B>, E>
    where
        F: Future<Output = Result<http::Response<B>, E>>,
        B: Default,
    {
        tokio::pin!(inner);
        let ticket = self.ticket.clone();
        let deadline = ticket
            .timeout
            .map(|t| ticket.arrival + t.saturating_sub(LEAD_OVER_TONIC));
        // Far enough never to fire: a call without a deadline.
        let deadline_timer = tokio::time::sleep_until(
            deadline.unwrap_or(ticket.arrival + Duration::from_secs(86_400 * 365)),
        );
        let message_timer = tokio::time::sleep_until(ticket.arrival + self.shared.message_timeout);
        tokio::pin!(deadline_timer, message_timer);
        let mut waiting_for_message = true;
        let mut abandon = self.shared.abandon.clone();
        let abandoned = async move {
            // A dropped sender (the server is gone) is no abandonment.
            if abandon.wait_for(|over| *over).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(abandoned);
        let own = loop {
            tokio::select! {
                biased;
                served = &mut inner => {
                    self.answered = true;
                    if ticket.is_settled() {
                        // The handler closed its call (or a stream of it
                        // is running: its scope will).
                        return served;
                    }
                    if ticket.is_caller_gone() {
                        // Whatever tonic answered, nobody will read it.
                        ticket.settle_cancelled();
                        return served;
                    }
                    let outcome = match &served {
                        Ok(response) => ticket
                            .take_outcome()
                            .map(Outcome::from)
                            .or_else(|| Outcome::of_response(response, ticket.stage())),
                        Err(_) => Some(Outcome::service_error()),
                    };
                    if let Some(outcome) = outcome {
                        ticket.settle_outcome(&outcome);
                    }
                    return served;
                }
                () = &mut deadline_timer, if deadline.is_some() => {
                    break ServerError::CallDeadlineExceeded { stage: ticket.stage() };
                }
                () = &mut message_timer, if waiting_for_message => {
                    if ticket.stage() == Stage::ReceivingRequest {
                        break ServerError::RequestMessageTimeout { limit: self.shared.message_timeout };
                    }
                    waiting_for_message = false;
                }
                () = &mut abandoned => {
                    break ServerError::ShutdownGraceExpired { stage: ticket.stage() };
                }
            }
        };
        self.answered = true;
        let (status, summary) =
            crate::status::server_status(&own, None, Some(ticket.request_id.as_str()));
        if ticket.settle_outcome(&Outcome::from(summary))
            && let ServerError::ShutdownGraceExpired { .. } = own
        {
            self.shared
                .metrics
                .interrupted_rpc(ticket.method, "shutdown");
        }
        Ok(answer(status, &ticket.request_id))
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if !self.answered {
            self.ticket.settle_cancelled();
        }
    }
}

/// A status as a trailers-only answer carrying the request id.
fn answer<B: Default>(mut status: Status, request_id: &RequestId) -> http::Response<B> {
    if let Ok(id) = request_id.as_str().parse() {
        status.metadata_mut().insert(REQUEST_ID_KEY, id);
    }
    status.into_http()
}

/// What the log line and metrics say of an answer.
#[derive(Debug)]
struct Outcome {
    code: Code,
    reason: Cow<'static, str>,
    local: bool,
    upstream_http_status: Option<u16>,
    upstream_code: Option<String>,
}

impl From<Summary> for Outcome {
    fn from(summary: Summary) -> Self {
        Self {
            code: summary.code,
            reason: Cow::Borrowed(summary.reason),
            local: summary.local,
            upstream_http_status: summary.upstream_http_status,
            upstream_code: summary.upstream_code,
        }
    }
}

impl Outcome {
    /// An answer nobody summarised: read from the response itself, a
    /// trailers-only status in the headers. Without one, messages follow:
    /// a stream whose handler's scope will settle the call at its end
    /// (`None`), unless no handler ever started.
    fn of_response<B>(response: &http::Response<B>, stage: Stage) -> Option<Self> {
        let status = response
            .extensions()
            .get::<Status>()
            .cloned()
            .or_else(|| Status::from_header_map(response.headers()));
        let Some(status) = status else {
            return (stage == Stage::ReceivingRequest).then_some(Self {
                code: Code::Ok,
                reason: Cow::Borrowed(""),
                local: false,
                upstream_http_status: None,
                upstream_code: None,
            });
        };
        let info = status.get_error_details().error_info().cloned();
        let origin = info
            .as_ref()
            .and_then(|i| i.metadata.get("origin").cloned());
        Some(Self {
            code: status.code(),
            reason: info.map_or(Cow::Borrowed("NONE"), |i| Cow::Owned(i.reason)),
            local: origin.as_deref() == Some("facade"),
            upstream_http_status: None,
            upstream_code: None,
        })
    }

    fn service_error() -> Self {
        Self {
            code: Code::Unknown,
            reason: Cow::Borrowed("SERVICE_ERROR"),
            local: false,
            upstream_http_status: None,
            upstream_code: None,
        }
    }
}

/// The codes OpenTelemetry marks as errors on a gRPC server span.
fn is_server_error(code: Code) -> bool {
    matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_method_table_is_the_contract_s_and_each_takes_one_message() {
        use prost::Message;
        let descriptors =
            prost_types::FileDescriptorSet::decode(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
        let mut contract = Vec::new();
        for file in descriptors
            .file
            .iter()
            .filter(|f| f.package() == "unico.identity.v1")
        {
            for service in &file.service {
                for method in &service.method {
                    assert!(
                        !method.client_streaming(),
                        "{} streams requests",
                        method.name()
                    );
                    contract.push(format!(
                        "/{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
        contract.sort();
        let mut table: Vec<String> = METHODS.iter().map(|(p, _)| (*p).to_owned()).collect();
        table.sort();
        assert_eq!(table, contract);
        for (path, name) in METHODS {
            assert!(path.ends_with(&format!("/{name}")));
            assert_eq!(tracked_method(path), Some(*name));
        }
        assert_eq!(tracked_method("/x.Y/Z"), Some(UNKNOWN_METHOD));
        assert_eq!(tracked_method("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            tracked_method("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
    }
}
