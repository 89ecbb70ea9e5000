//! An emulator of the vendor's REST endpoints, so the facade can be run and tested without the
//! vendor's sandbox.
//!
//! One HTTP server on one port answers the paths of both host families:
//! - `POST /client/v1/process/{processId}/document` (IDCloud client API, set process document),
//! - `POST /processes/v1` (ID API, create document process),
//! - `POST /oauth2/token` (identity host, JWT bearer grant): issues the access tokens both API
//!   endpoints accept, after checking the assertion against the configured service accounts,
//!
//! plus an admin API under `/__emulator/` to script faults and read what was received. The
//! behaviour follows the vendor's reference pages (`shared/upstream/*.md`) byte for byte where they
//! speak, and is marked as an emulator assumption where they do not. The same code runs in-process
//! ([`Emulator::start`]) and standalone ([`serve`]).
//!
//! Files:
//! - `routes.rs`: matching raw paths to endpoints, body capping, recording, faults, dispatch.
//! - `admin.rs`: the `/__emulator/` API.
//! - `auth.rs`: bearer token and `APIKEY` checks, and the tokens issued so far.
//! - `token.rs`: the token endpoint (single use, lock-out, answers); `assertion.rs`: the
//!   assertion's rules (header, signature, claims).
//! - `replies.rs`: how each host family shapes its answers (error envelopes, 401 text, 429).
//! - `set_process_document.rs`, `create_document_process.rs`: the two endpoints.
//! - `validation.rs`: identifier, subject and image checks of the ID API.
//! - `fixtures.rs`: the seeded ids and what each does.
//! - `faults.rs`, `recorder.rs`: fault scripting and request recording.

mod admin;
mod assertion;
mod auth;
mod create_document_process;
mod document_reads;
mod faults;
pub mod fixtures;
mod journeys;
mod recorder;
mod replies;
mod routes;
mod set_process_document;
mod token;
mod validation;
mod webhook;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use self::auth::IssuedTokens;
use self::create_document_process::DocumentStore;
use self::document_reads::DocumentProcesses;
use self::faults::FaultQueue;
use self::journeys::Journeys;
use self::recorder::Recorder;
use self::set_process_document::ProcessStore;
use self::token::TokenEndpoint;
use self::webhook::WebhookSender;

pub use self::faults::FaultScript;
pub use self::journeys::JourneyEnd;
pub use self::recorder::RecordedRequest;
pub use self::webhook::{WebhookAuth, WebhookDelivery, WebhookTarget};

/// Settings of one emulator instance.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to bind, e.g. 127.0.0.1:0
    pub listen: SocketAddr,
    /// Static bearer tokens accepted as valid (default vec!["emulator-token".into()]), besides
    /// the tokens the token endpoint issues.
    pub accepted_tokens: Vec<String>,
    /// API keys accepted on the ID API (default vec!["emulator-apikey".into()]).
    pub accepted_api_keys: Vec<String>,
    /// Largest decoded document image accepted by the ID API, in bytes. The page says "800 KB";
    /// the default reads that as 800 × 1024.
    pub max_image_bytes: usize,
    /// The accounts whose assertions the token endpoint accepts (default none: every assertion
    /// is refused, `1.0.1`). Checked at start: a bad issuer or key fails `Emulator::start`.
    pub service_accounts: Vec<ServiceAccount>,
    /// The only `aud` the token endpoint accepts, compared exactly (a trailing slash is refused).
    /// Default `https://identity.acesso.io` (production; the sandbox's is
    /// `https://identityhomolog.acesso.io`).
    pub token_audience: String,
    /// Lifetime of an issued access token, announced as `expires_in` in whole seconds
    /// (default one hour, as the vendor's in practice; tests set a few seconds). Measured, like
    /// the lock period, on the tokio clock, so `tokio::time::pause` + `advance` expire tokens.
    pub token_ttl: Duration,
    /// Consecutive failed assertions of one account after which it is locked (`1.2.18`);
    /// 0 never locks. Default 5 (the vendor's number is not published).
    pub lockout_after_failures: u32,
    /// How long a lock lasts (default 60 s; the vendor's is not published).
    pub lockout_duration: Duration,
    /// Where finished journeys are notified (the vendor's webhook); `None`
    /// until set (also `PUT /__emulator/webhook`).
    pub webhook: Option<WebhookTarget>,
}

/// A service account the emulated identity host knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// `<account>@<tenant>.iam.acesso.io`, the `iss` of its assertions.
    pub issuer: String,
    /// Its RSA public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    pub public_key_pem: String,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            accepted_tokens: vec![fixtures::TOKEN.into()],
            accepted_api_keys: vec![fixtures::API_KEY.into()],
            max_image_bytes: 800 * 1024,
            service_accounts: Vec::new(),
            token_audience: "https://identity.acesso.io".into(),
            token_ttl: Duration::from_secs(3600),
            lockout_after_failures: 5,
            lockout_duration: Duration::from_secs(60),
            webhook: None,
        }
    }
}

/// The endpoints the emulator reproduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmulatedEndpoint {
    /// `POST /client/v1/process/{processId}/document` (IDCloud client API).
    SetProcessDocument,
    /// `POST /processes/v1` (ID API).
    CreateDocumentProcess,
    /// `POST /oauth2/token` (identity host).
    Token,
    /// `GET /documents/v1` (ID API).
    ListReusableDocuments,
    /// `GET /processes/v1/{processId}` (ID API).
    GetDocumentProcess,
    /// `POST /client/v1/process` (IDCloud client API).
    CreateProcess,
    /// `GET /client/v1/process/{processId}` (IDCloud client API).
    GetProcess,
}

/// Everything one emulator instance knows, shared by its handlers.
#[derive(Debug)]
struct EmulatorState {
    config: EmulatorConfig,
    recorder: Recorder,
    faults: FaultQueue,
    processes: ProcessStore,
    documents: DocumentStore,
    /// Document processes created here, for `GET /processes/v1/{id}`.
    document_processes: DocumentProcesses,
    /// IDCloud journeys created here.
    journeys: Journeys,
    webhook: Arc<WebhookSender>,
    token: TokenEndpoint,
    issued: IssuedTokens,
    /// Flips to `true` when the server is asked to stop, so that scripted delays end early
    /// instead of holding the graceful shutdown hostage.
    stopping: watch::Receiver<bool>,
    /// API calls whose client went away before the answer.
    abandoned: std::sync::atomic::AtomicUsize,
}

/// A running emulator. Dropping it stops the server too, without waiting.
pub struct Emulator {
    local_addr: SocketAddr,
    state: Arc<EmulatorState>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

// Only the address: the state holds every recorded request, bodies included.
impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Binds (port 0 allowed) and spawns the server on the current tokio runtime. Fails with
    /// `InvalidInput` when a service account's issuer or key is unusable.
    pub async fn start(config: EmulatorConfig) -> std::io::Result<Emulator> {
        let (stop, stopped) = oneshot::channel::<()>();
        let (state, signal) = new_state(config, async {
            // A dropped sender (the handle was dropped) stops the server as well.
            let _ = stopped.await;
        })?;
        let listener = TcpListener::bind(state.config.listen).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(run(listener, Arc::clone(&state), signal));
        tracing::info!(%local_addr, "emulator listening");
        Ok(Emulator {
            local_addr,
            state,
            stop,
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// "http://127.0.0.1:PORT"
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// Every API request received so far (admin requests excluded), in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.recorder.snapshot()
    }

    /// Scripts a fault for the next `times` calls of an endpoint.
    pub fn script_fault(&self, fault: FaultScript) {
        self.state.faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.state.faults.clear();
    }

    /// Access tokens the token endpoint issued so far.
    pub fn issued_token_count(&self) -> usize {
        self.state.issued.count()
    }

    /// Calls of the token endpoint so far, refused and faulted ones included.
    pub fn token_requests(&self) -> usize {
        self.state.token.request_count()
    }

    /// Invalidates every issued token: the API endpoints answer them as invalid (401
    /// `Jwt header is an invalid JSON` on IDCloud, 403 `10501` on the ID API) until the client
    /// gets a new one. The static `accepted_tokens` stay valid.
    pub fn revoke_tokens(&self) {
        self.state.issued.revoke_all();
    }

    /// API calls whose client went away before the answer (the connection or
    /// stream was dropped while the emulator was still working or waiting).
    pub fn abandoned_requests(&self) -> usize {
        self.state
            .abandoned
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Finishes a journey (as the person completing it would) and schedules
    /// its webhook; `false` for an unknown process.
    pub fn finish_journey(&self, process_id: &str, end: JourneyEnd) -> bool {
        self.state.finish_journey(process_id, end)
    }

    /// Sets (or, with `None`, stops) the webhook's delivery.
    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        self.state.webhook.set_target(target);
    }

    /// Every webhook delivery attempt so far, in order.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.state.webhook.deliveries()
    }

    /// Stops the server (graceful) and waits for it.
    pub async fn shutdown(self) {
        let Emulator { stop, task, .. } = self;
        let _ = stop.send(());
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "emulator server ended with an error"),
            Err(error) => tracing::warn!(%error, "emulator server task failed"),
        }
    }
}

impl EmulatorState {
    fn finish_journey(&self, process_id: &str, end: JourneyEnd) -> bool {
        match self.journeys.finish(&self.processes, process_id, end) {
            Some(flow) => {
                self.webhook.notify(process_id, &flow, end);
                true
            }
            None => false,
        }
    }
}

/// For the standalone subcommand: serve until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (state, signal) = new_state(config, shutdown)?;
    run(listener, state, signal).await
}

/// Builds the shared state and the shutdown signal that also releases scripted delays.
fn new_state(
    config: EmulatorConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<(
    Arc<EmulatorState>,
    impl Future<Output = ()> + Send + 'static,
)> {
    let (stopping_tx, stopping) = watch::channel(false);
    let webhook = Arc::new(WebhookSender::new(config.webhook.clone()));
    let state = Arc::new(EmulatorState {
        token: TokenEndpoint::new(&config)?,
        issued: IssuedTokens::default(),
        config,
        recorder: Recorder::default(),
        faults: FaultQueue::default(),
        processes: ProcessStore::seeded(),
        documents: DocumentStore::seeded(),
        document_processes: DocumentProcesses::default(),
        journeys: Journeys::default(),
        webhook,
        stopping,
        abandoned: std::sync::atomic::AtomicUsize::new(0),
    });
    let signal = async move {
        shutdown.await;
        stopping_tx.send_replace(true);
    };
    Ok((state, signal))
}

async fn run(
    listener: TcpListener,
    state: Arc<EmulatorState>,
    signal: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // No Nagle delay: an answer written in two segments would otherwise wait
    // for the client's delayed ACK (~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, routes::router(state))
        .with_graceful_shutdown(signal)
        .await
}
