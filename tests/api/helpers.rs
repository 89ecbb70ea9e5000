//! `spawn_app()`: an emulator and the facade on port 0, a typed client, and
//! assertions on gRPC statuses and their error details.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{Code, Request, Status, transport::Channel};
use tonic_types::{ErrorDetails, StatusExt};
use unico_facade::{
    app::App,
    config::Settings,
    emulator::{Emulator, EmulatorConfig, FaultScript, RecordedRequest},
    pb::identity_v1::{
        DuiType, SetProcessDocumentRequest, document_service_client::DocumentServiceClient,
        process_service_client::ProcessServiceClient,
    },
    upstream::UpstreamHosts,
};

/// The token the emulator accepts.
pub(crate) const TOKEN: &str = "emulator-token";
/// The API key the emulator accepts.
pub(crate) const API_KEY: &str = "emulator-apikey";
/// A valid CPF (check digits included) used throughout the tests.
pub(crate) const CPF: &str = "52998224725";

pub(crate) struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener, when the test asked for one.
    pub admin_addr: Option<SocketAddr>,
    /// The webhook receiver, when the test enabled it.
    pub webhook_addr: Option<SocketAddr>,
    pub emulator: Emulator,
    pub channel: Channel,
    pub process: ProcessServiceClient<Channel>,
    pub document: DocumentServiceClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an emulator and the facade pointed at it; `customize` may change
/// the settings (timeouts, hosts) before the app is built.
pub(crate) async fn spawn_app_with(customize: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_emulator(EmulatorConfig::default(), customize).await
}

/// Like [`spawn_app_with`], with an emulator configured by the test.
pub(crate) async fn spawn_app_with_emulator(
    emulator: EmulatorConfig,
    customize: impl FnOnce(&mut Settings),
) -> TestApp {
    let emulator = Emulator::start(emulator).await.expect("emulator starts");
    let Replica {
        addr,
        admin_addr,
        webhook_addr,
        channel,
        process,
        document,
        stop,
        server,
    } = spawn_replica(&emulator, customize).await;
    TestApp {
        addr,
        admin_addr,
        webhook_addr,
        emulator,
        process,
        document,
        channel,
        stop,
        server,
    }
}

/// A facade in front of an emulator it does not own: one replica of a fleet
/// sharing an emulator (and a Redis). Dropping it starts the server's stop.
pub(crate) struct Replica {
    pub addr: SocketAddr,
    /// The metrics listener, when the test asked for one.
    pub admin_addr: Option<SocketAddr>,
    /// The webhook receiver, when the test enabled it.
    pub webhook_addr: Option<SocketAddr>,
    pub channel: Channel,
    pub process: ProcessServiceClient<Channel>,
    pub document: DocumentServiceClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Starts the facade on port 0 pointed at `emulator`; `customize` may
/// change the settings before the app is built.
pub(crate) async fn spawn_replica(
    emulator: &Emulator,
    customize: impl FnOnce(&mut Settings),
) -> Replica {
    let hosts = UpstreamHosts::single(&emulator.base_url()).expect("emulator URL");
    let mut settings = Settings::new("127.0.0.1:0".parse().unwrap(), hosts);
    // No mesh routes to a test server: stopping need not wait for one.
    settings.drain_delay = Duration::ZERO;
    customize(&mut settings);
    let app = App::build(settings).await.expect("app builds");
    let addr = app.local_addr();
    let admin_addr = app.admin_addr();
    let webhook_addr = app.webhook_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.run(async {
            let _ = stopped.await;
        })
        .await
        .expect("server runs");
    });
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("client connects");
    Replica {
        addr,
        admin_addr,
        webhook_addr,
        process: ProcessServiceClient::new(channel.clone()),
        document: DocumentServiceClient::new(channel.clone())
            .max_encoding_message_size(64 * 1024 * 1024),
        channel,
        stop: Some(stop),
        server: Some(server),
    }
}

impl Replica {
    /// Its Prometheus exposition (the test enabled the admin listener).
    pub(crate) async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.admin_addr.expect("admin on"));
        reqwest::get(url).await.unwrap().text().await.unwrap()
    }
}

impl TestApp {
    /// Signals shutdown without waiting for the server to stop.
    pub(crate) fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Stops the server gracefully and waits until it has stopped.
    pub(crate) async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task");
        }
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.emulator.requests()
    }

    pub(crate) fn script(&self, fault: FaultScript) {
        self.emulator.script_fault(fault);
    }

    pub(crate) async fn set_document(
        &self,
        request: SetProcessDocumentRequest,
    ) -> Result<unico_facade::pb::identity_v1::SetProcessDocumentResponse, Status> {
        self.process
            .clone()
            .set_process_document(authorized(request))
            .await
            .map(tonic::Response::into_inner)
    }

    pub(crate) async fn set_document_of(&self, process_id: &str) -> Result<(), Status> {
        self.set_document(set_cpf(process_id)).await.map(|_| ())
    }
}

/// A SetProcessDocument request for a valid CPF.
pub(crate) fn set_cpf(process_id: &str) -> SetProcessDocumentRequest {
    SetProcessDocumentRequest {
        process_id: process_id.to_owned(),
        dui_type: DuiType::BrCpf as i32,
        dui_value: CPF.to_owned(),
    }
}

/// Wraps a message with the emulator's token in `authorization`.
pub(crate) fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    request
}

/// Wraps a message with the emulator's token and API key.
pub(crate) fn authorized_with_key<T>(message: T) -> Request<T> {
    let mut request = authorized(message);
    request
        .metadata_mut()
        .insert("apikey", API_KEY.parse().unwrap());
    request
}

/// A PNG of the given dimensions, padded with zeros to `total_len` bytes:
/// the signature and IHDR chunk are all a header reader needs.
pub(crate) fn png(width: u32, height: u32, total_len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes.resize(total_len.max(bytes.len()), 0);
    bytes
}

/// A baseline JPEG header (SOI, SOF0) of the given dimensions, padded.
pub(crate) fn jpeg(width: u16, height: u16, total_len: usize) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
    bytes.extend_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(&width.to_be_bytes());
    bytes.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    bytes.resize(total_len.max(bytes.len()), 0);
    bytes
}

/// A lossless WebP (VP8L) header of the given dimensions, padded.
pub(crate) fn webp(width: u32, height: u32, total_len: usize) -> Vec<u8> {
    let mut bytes = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
    let bits = (width - 1) | ((height - 1) << 14);
    bytes.extend_from_slice(&bits.to_le_bytes());
    bytes.resize(total_len.max(bytes.len()), 0);
    bytes
}

impl TestApp {
    /// Sends `request` with a client deadline of `timeout` and expects a
    /// failure: the status, and how long the call took.
    pub(crate) async fn set_document_failing_within(
        &self,
        mut request: Request<SetProcessDocumentRequest>,
        timeout: Duration,
    ) -> (Status, Duration) {
        request.set_timeout(timeout);
        let started = std::time::Instant::now();
        let status = self
            .process
            .clone()
            .set_process_document(request)
            .await
            .expect_err("the call fails");
        (status, started.elapsed())
    }
}

/// A fault with an answer: status, JSON or text body, extra headers.
pub(crate) fn answer(status: u16, body: &str) -> FaultScript {
    FaultScript {
        status: Some(status),
        body: Some(body.to_owned()),
        ..FaultScript::default()
    }
}

/// What a test expects of a failed call.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    pub code: Code,
    pub reason: &'a str,
    pub upstream_http_status: Option<&'a str>,
    pub upstream_code: Option<&'a str>,
}

/// Asserts the gRPC code, ErrorInfo reason/domain and the upstream metadata,
/// and returns the decoded details for further checks.
pub(crate) fn assert_status(status: &Status, expected: Expected<'_>) -> ErrorDetails {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(
        (status.code(), info.reason.as_str()),
        (expected.code, expected.reason),
        "{status:?}"
    );
    assert_eq!(info.domain, "identity.unico-facade");
    let meta: &HashMap<String, String> = &info.metadata;
    assert_eq!(
        meta.get("upstreamHttpStatus").map(String::as_str),
        expected.upstream_http_status,
        "upstreamHttpStatus of {status:?}"
    );
    assert_eq!(
        meta.get("upstreamCode").map(String::as_str),
        expected.upstream_code,
        "upstreamCode of {status:?}"
    );
    details
}

/// The (field, reason) pairs of the BadRequest detail.
pub(crate) fn field_violations(details: &ErrorDetails) -> Vec<(String, String)> {
    details
        .bad_request()
        .map(|b| {
            b.field_violations
                .iter()
                .map(|v| (v.field.clone(), v.reason.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A loopback port with nothing listening on it.
pub(crate) async fn closed_port() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}

pub(crate) fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

// ---- CreateDocumentProcess (DocumentService, ID API) ----------------------

use unico_facade::pb::identity_v1::{
    CreateDocumentProcessRequest, CreateDocumentProcessResponse, DocumentFile, DocumentSubmission,
    NewCapture, Purpose, ReuseDocument, Subject, document_submission::Capture,
};

/// The biometric process for which the emulator answers 200 with a face match.
pub(crate) const AUTH_FACE_MATCH: &str = "auth-face-match";

/// A PNG the facade and the emulator accept: 1280 × 720, 2 KiB.
pub(crate) fn small_png() -> Vec<u8> {
    png(1280, 720, 2048)
}

/// `image` with every byte after its header (the first 64) replaced by a
/// deterministic pseudo-random sequence, so that a corrupted or reordered
/// upload cannot pass for the original.
pub(crate) fn noisy(mut image: Vec<u8>, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    for byte in image.iter_mut().skip(64) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state.to_le_bytes()[0];
    }
    image
}

/// A subject with only the required fields: the test CPF.
pub(crate) fn cpf_subject() -> Subject {
    Subject {
        dui_type: DuiType::BrCpf as i32,
        code: CPF.to_owned(),
        ..Subject::default()
    }
}

/// A new-capture request for the test CPF (purpose onboarding) with these images.
pub(crate) fn new_capture(
    auth_process_id: &str,
    files: Vec<Vec<u8>>,
) -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        subject: Some(cpf_subject()),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: auth_process_id.to_owned(),
            capture: Some(Capture::NewCapture(NewCapture {
                files: files
                    .into_iter()
                    .map(|data| DocumentFile { data: data.into() })
                    .collect(),
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

/// A reuse request (purpose onboarding) of `document_id` by the test CPF.
pub(crate) fn reuse(auth_process_id: &str, document_id: &str) -> CreateDocumentProcessRequest {
    CreateDocumentProcessRequest {
        subject: Some(cpf_subject()),
        document: Some(DocumentSubmission {
            purpose: Purpose::Onboarding as i32,
            auth_process_id: auth_process_id.to_owned(),
            capture: Some(Capture::Reuse(ReuseDocument {
                document_id: document_id.to_owned(),
            })),
        }),
        subsidiary_id: String::new(),
        request_id: String::new(),
    }
}

/// A valid new-capture request: the test CPF, one small PNG.
pub(crate) fn valid_capture() -> CreateDocumentProcessRequest {
    new_capture(AUTH_FACE_MATCH, vec![small_png()])
}

impl TestApp {
    /// Calls CreateDocumentProcess with the emulator's token and API key.
    pub(crate) async fn create_document(
        &self,
        request: CreateDocumentProcessRequest,
    ) -> Result<CreateDocumentProcessResponse, Status> {
        self.document
            .clone()
            .create_document_process(authorized_with_key(request))
            .await
            .map(tonic::Response::into_inner)
    }
}

/// The images of an upstream create-document-process body, base64-decoded
/// (standard alphabet, padded: anything else fails the test).
pub(crate) fn sent_files(sent: &RecordedRequest) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let body = sent.json().expect("a JSON body");
    body["document"]["files"]
        .as_array()
        .expect("document.files")
        .iter()
        .map(|file| {
            let data = file["data"].as_str().expect("files[].data is a string");
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .expect("standard, padded base64")
        })
        .collect()
}

/// The `pt-BR` LocalizedMessage of a status, if any (any other locale fails).
pub(crate) fn pt_br_message(details: &ErrorDetails) -> Option<String> {
    details.localized_message().map(|m| {
        assert_eq!(m.locale, "pt-BR");
        m.message.clone()
    })
}

/// Everything the test's log subscriber wrote.
#[derive(Clone, Default)]
pub(crate) struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Makes a subscriber set with `set_default` see every callsite, whichever
/// thread hits a callsite first. While at most one dispatcher is registered,
/// tracing-core computes a new callsite's interest from the *current
/// thread's* default only: a parallel test without a subscriber would cache
/// `never` for a callsite it hits first, hiding it from this thread's capture
/// for good. A second dispatcher, kept for the whole run, turns that shortcut
/// off: interest is then computed from every live dispatcher.
pub(crate) fn share_callsite_interest() {
    static SECOND_DISPATCHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();
    SECOND_DISPATCHER
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
}

/// Captures every crate's logs at TRACE, plain text, for this thread: use it
/// in a `current_thread` test so the server's tasks log here too.
pub(crate) fn capture_trace_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    share_callsite_interest();
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

/// The facade's metrics, scraped from its admin listener.
pub(crate) async fn scrape(app: &TestApp) -> String {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://{}/metrics", app.admin_addr.expect("admin listener"));
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// The value of one series (name and labels, exactly) in a scrape.
pub(crate) fn value_of(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
}
