//! The application: [`App::build`] binds the listener (port 0 allowed) and
//! prepares the upstream side; [`App::run`] serves the gRPC services, health
//! and reflection until the shutdown future resolves, then drains: health
//! turns NOT_SERVING at once, the listener keeps accepting for the drain
//! delay (so that the mesh stops routing here first), then closes, and
//! in-flight calls get the grace period to finish; the calls still open
//! then are answered UNAVAILABLE by the call ledger, logged and counted.
//!
//! Each connection advertises SETTINGS_MAX_CONCURRENT_STREAMS and
//! SETTINGS_MAX_HEADER_LIST_SIZE and is kept alive by HTTP/2 pings. The
//! layers, outermost first: the RPC span; gRPC-Web and CORS when enabled
//! (so that what follows sees gRPC); the call ledger; the protocol rules.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tonic::{
    codec::CompressionEncoding,
    server::NamedService,
    transport::{Identity, Server, ServerTlsConfig, server::TcpIncoming},
};
use tonic_health::{ServingStatus, server::HealthReporter};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    concurrency::CallSlots,
    config::{CorsOrigins, CredentialSettings, Http2Settings, Settings, TlsFiles, UpstreamTarget},
    credentials::{CredentialSource, FacadeHeld, TokenProvider},
    emulator::{Emulator, EmulatorConfig},
    metrics::Metrics,
    pb::{
        self,
        identity_v1::{
            document_service_server::DocumentServiceServer,
            process_service_server::ProcessServiceServer,
        },
    },
    protocol::ProtocolLayer,
    rate_limit::RateLimiter,
    service::{CallLedgerLayer, DocumentHandler, ProcessHandler, Shared},
    telemetry::{RpcSpanLayer, Tracer},
    upstream::{ClientBuildError, HostsError, UpstreamClient, UpstreamHosts, UpstreamSettings},
    upstream_health::UpstreamHealth,
};

/// The app could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the embedded emulator: {0}")]
    Emulator(#[source] std::io::Error),
    #[error("the embedded emulator's URL: {0}")]
    Hosts(#[from] HostsError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("cannot build server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("idempotency: {0}")]
    Idempotency(#[from] crate::idempotency::StartError),
    #[error("webhook fan-out: {0}")]
    Fanout(#[from] crate::store::RedisUrlError),
    #[error("the shared rate limit: {0}")]
    RateLimit(#[source] crate::store::RedisUrlError),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A bound, ready-to-run facade.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    health: HealthReporter,
    settings: ServeSettings,
    admin: Option<TcpListener>,
    /// The webhook receiver's listener and authentication, when enabled.
    webhook: Option<(TcpListener, crate::webhook::WebhookAuth)>,
    emulator: Option<Emulator>,
}

/// What `run` needs of the settings.
#[derive(Debug)]
struct ServeSettings {
    max_request_bytes: usize,
    drain_delay: Duration,
    shutdown_grace: Duration,
    request_message_timeout: Duration,
    http2: Http2Settings,
    tls: Option<TlsFiles>,
    grpc_web: Option<CorsOrigins>,
    tracer: Tracer,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let (hosts, emulator) = upstream_hosts(&settings).await?;
        let mut upstream_settings = UpstreamSettings::new(hosts);
        upstream_settings.connect_timeout = settings.connect_timeout;
        upstream_settings.tracer = settings.tracer.clone();
        let upstream = UpstreamClient::new(upstream_settings)?;
        // The app extracts the caller's trace context and injects it
        // upstream, whoever set up the subscriber (main, a test, an embedder).
        crate::telemetry::install_propagator();
        let metrics = Arc::new(Metrics::new());
        let rate_limiter = match settings.upstream_rate_limit {
            Some(rate) => Some(rate_limiter(rate, &settings, &metrics).await?),
            None => None,
        };
        let credentials = credential_source(settings.credentials, &upstream, &metrics);
        tracing::info!(credentials = %credentials.describe(), "credentials mode");

        let listener = bind(settings.listen).await?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        let webhook = match &settings.webhook {
            Some(webhook) => Some((bind(webhook.listen).await?, webhook.auth.clone())),
            None => None,
        };
        let admin = match settings.admin_listen {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };

        let health = HealthReporter::new();
        let shared = Arc::new(Shared {
            upstream,
            credentials,
            upstream_timeout: settings.upstream_timeout,
            image_limits: settings.image_limits,
            rate_limiter,
            upstream_health: UpstreamHealth::new(health.clone()).await,
            circuits: crate::circuit::Circuits::new(settings.circuit, metrics.clone()),
            watch: settings.watch,
            process_events: match webhook {
                Some(_) => Some(process_events(&settings.idempotency, &metrics)?),
                None => None,
            },
            metrics: metrics.clone(),
            slots: CallSlots::new(settings.max_concurrent_calls),
            idempotency: crate::idempotency::build(
                &settings.idempotency,
                health.clone(),
                metrics.clone(),
            )
            .await?,
        });
        Ok(Self {
            listener,
            local_addr,
            shared,
            health,
            admin,
            webhook,
            settings: ServeSettings {
                max_request_bytes: settings.max_request_bytes,
                drain_delay: settings.drain_delay,
                shutdown_grace: settings.shutdown_grace,
                request_message_timeout: settings.request_message_timeout,
                http2: settings.http2,
                tls: settings.tls,
                grpc_web: settings.grpc_web,
                tracer: settings.tracer,
            },
            emulator,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The webhook receiver's address, when enabled.
    pub fn webhook_addr(&self) -> Option<SocketAddr> {
        self.webhook.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// The admin (metrics) listener's address, when enabled.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, then drains (see the module doc).
    ///
    /// Longer than most functions on purpose: it is the one place where the
    /// server is assembled, in the order a reader checks it (admin listener,
    /// services, drain, layers outermost first, serve, grace period, stop);
    /// the steps with logic of their own are the functions below.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let Self {
            listener,
            local_addr,
            shared,
            health,
            settings,
            admin,
            webhook,
            emulator,
        } = self;
        let metrics = shared.metrics.clone();
        let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
        let admin_task = admin.map(|listener| {
            tokio::spawn(crate::admin::serve(listener, metrics.clone(), async {
                let _ = admin_stopped.await;
            }))
        });
        let (webhook_stop, webhook_stopped) = tokio::sync::oneshot::channel::<()>();
        let webhook_task =
            webhook
                .zip(shared.process_events.clone())
                .map(|((listener, auth), events)| {
                    tokio::spawn(crate::webhook::serve(
                        listener,
                        auth,
                        events,
                        metrics.clone(),
                        async {
                            let _ = webhook_stopped.await;
                        },
                    ))
                });
        let fanout_task = shared
            .process_events
            .as_ref()
            .and_then(crate::process_events::ProcessEvents::start_fanout);
        let health_service = tonic_health::pb::health_server::HealthServer::new(
            tonic_health::server::HealthService::from_health_reporter(health.clone()),
        );
        set_facade_status(&health, ServingStatus::Serving).await;

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;
        // Requests may come gzip-compressed (real clients send it); answers
        // are never compressed (they are small).
        let process = ProcessServiceServer::new(ProcessHandler::new(shared.clone()))
            .max_decoding_message_size(settings.max_request_bytes)
            .accept_compressed(CompressionEncoding::Gzip);
        let document = DocumentServiceServer::new(DocumentHandler::new(shared.clone()))
            .max_decoding_message_size(settings.max_request_bytes)
            .accept_compressed(CompressionEncoding::Gzip);

        let (closing_tx, closing_rx) = tokio::sync::oneshot::channel::<()>();
        let drain = drain(shutdown, health.clone(), settings.drain_delay, closing_tx);

        let http2 = settings.http2;
        let mut builder = Server::builder()
            .max_concurrent_streams(http2.max_concurrent_streams)
            .http2_max_header_list_size(http2.max_header_list_bytes)
            .http2_keepalive_interval(http2.keepalive_interval)
            .http2_keepalive_timeout(Some(http2.keepalive_timeout));
        if let Some(tls) = &settings.tls {
            let identity = Identity::from_pem(&tls.cert_pem, tls.key_pem.expose_secret());
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
            tracing::info!("TLS on the gRPC listener");
        }
        // Turned true when the grace period is over: the ledger then answers
        // every call still open.
        let (abandon_tx, abandon_rx) = tokio::sync::watch::channel(false);
        let wire = tower::ServiceBuilder::new()
            .layer(CallLedgerLayer::new(
                metrics.clone(),
                settings.request_message_timeout,
                abandon_rx,
            ))
            .layer(ProtocolLayer::new(
                settings.max_request_bytes,
                metrics.clone(),
            ));
        // No Nagle delay on gRPC connections (small frames, latency matters).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        tracing::info!(listen = %local_addr, "serving gRPC");
        if let Some(origins) = &settings.grpc_web {
            tracing::info!(?origins, "gRPC-Web enabled");
        }
        let web = settings.grpc_web.as_ref().map(cors);
        let serve = builder
            .accept_http1(web.is_some())
            .layer(RpcSpanLayer::new(settings.tracer.clone()))
            .layer(tower::util::option_layer(web))
            .layer(tower::util::option_layer(
                settings
                    .grpc_web
                    .as_ref()
                    .map(|_| tonic_web::GrpcWebLayer::new()),
            ))
            .layer(wire)
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(process)
            .add_service(document)
            .serve_with_incoming_shutdown(incoming, drain);
        let grace = settings.shutdown_grace;
        let grace_over = grace_over(closing_rx, grace);
        tokio::pin!(serve);
        tokio::select! {
            served = &mut serve => served?,
            () = grace_over => {
                tracing::warn!(?grace, "grace period over: answering the calls still in flight UNAVAILABLE");
                let _ = abandon_tx.send(true);
                // Let those answers reach their callers; connections that
                // still hold streams (a health watch) are then dropped.
                if let Ok(served) = tokio::time::timeout(ABANDON_FLUSH, &mut serve).await {
                    served?;
                }
            }
        }
        let _ = admin_stop.send(());
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        let _ = webhook_stop.send(());
        if let Some(task) = webhook_task {
            let _ = task.await;
        }
        if let Some(task) = fanout_task {
            task.abort();
        }
        if let Some(emulator) = emulator {
            emulator.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The webhook notices of this replica: shared with every replica through
/// Redis when the idempotency store is Redis (same URL, same keyring, which
/// seals them), in this process otherwise.
fn process_events(
    idempotency: &crate::idempotency::IdempotencySettings,
    metrics: &Arc<Metrics>,
) -> Result<crate::process_events::ProcessEvents, StartupError> {
    use crate::{idempotency::StoreSettings, process_events::*};
    Ok(match (&idempotency.store, &idempotency.keys) {
        (StoreSettings::Redis(redis), Some(keys)) => {
            ProcessEvents::shared(Fanout::new(redis, keys.clone(), metrics.clone())?)
        }
        _ => ProcessEvents::default(),
    })
}

/// After `shutdown`: health NOT_SERVING at once, still accepting for the
/// drain delay (the mesh stops routing here first), then the listener
/// closes and `closing` tells the grace timer to start.
async fn drain(
    shutdown: impl Future<Output = ()>,
    health: HealthReporter,
    drain_delay: Duration,
    closing: tokio::sync::oneshot::Sender<()>,
) {
    shutdown.await;
    set_facade_status(&health, ServingStatus::NotServing).await;
    tracing::info!(
        ?drain_delay,
        "draining: health NOT_SERVING, still accepting calls"
    );
    tokio::time::sleep(drain_delay).await;
    tracing::info!("listener closed: finishing in-flight calls");
    let _ = closing.send(());
}

/// How long the answers to abandoned calls get to be written.
const ABANDON_FLUSH: Duration = Duration::from_secs(1);

/// Resolves `grace` after the listener closed; never, if the server stopped
/// on its own (the sender dropped without a send).
async fn grace_over(closing: tokio::sync::oneshot::Receiver<()>, grace: Duration) {
    if closing.await.is_err() {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

/// The whole server and each facade service, named by the generated server
/// types so that a renamed service cannot leave a stale entry. Upstream
/// entries are left to the upstream health tracker.
async fn set_facade_status(health: &HealthReporter, status: ServingStatus) {
    for service in [
        "",
        <ProcessServiceServer<ProcessHandler> as NamedService>::NAME,
        <DocumentServiceServer<DocumentHandler> as NamedService>::NAME,
    ] {
        health.set_service_status(service, status).await;
    }
}

/// The outgoing rate limit: shared in the Redis of the idempotency store
/// when there is one, keyed by the configured tenant, else the facade-held
/// service account's (one budget for the Redis otherwise).
async fn rate_limiter(
    rate: crate::rate_limit::Rate,
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> Result<RateLimiter, StartupError> {
    let redis = match &settings.idempotency.store {
        crate::idempotency::StoreSettings::Redis(redis) => Some(redis),
        crate::idempotency::StoreSettings::Embedded => None,
    };
    let tenant = match &settings.credentials {
        CredentialSettings::FacadeHeld { account, .. } => account.issuer(),
        CredentialSettings::PassThrough => "default",
    };
    let limiter = RateLimiter::build(rate, &settings.rate_limit, redis, tenant, metrics.clone())
        .await
        .map_err(StartupError::RateLimit)?;
    tracing::info!(
        %rate,
        mode = limiter.mode().name(),
        local_interval = ?limiter.local_interval(),
        "outgoing rate limit"
    );
    Ok(limiter)
}

fn credential_source(
    settings: CredentialSettings,
    upstream: &UpstreamClient,
    metrics: &Arc<Metrics>,
) -> CredentialSource {
    match settings {
        CredentialSettings::PassThrough => CredentialSource::PassThrough,
        CredentialSettings::FacadeHeld {
            account,
            api_key,
            audience,
            allow_caller_override,
            policy,
        } => {
            let identity = upstream.hosts().identity().clone();
            CredentialSource::FacadeHeld(Arc::new(FacadeHeld {
                tokens: TokenProvider::new(
                    account,
                    audience,
                    identity,
                    upstream.clone(),
                    policy,
                    metrics.clone(),
                ),
                api_key,
                allow_caller_override,
            }))
        }
    }
}

/// The embedded emulator's configuration: with facade-held credentials, it
/// learns the facade's service account and API key, so that its token
/// endpoint verifies the facade's assertions as the vendor would.
fn emulator_config(listen: SocketAddr, credentials: &CredentialSettings) -> EmulatorConfig {
    let mut config = EmulatorConfig {
        listen,
        ..EmulatorConfig::default()
    };
    if let CredentialSettings::FacadeHeld {
        account,
        api_key,
        audience,
        ..
    } = credentials
    {
        config
            .accepted_api_keys
            .push(api_key.expose_secret().to_owned());
        config
            .service_accounts
            .push(crate::emulator::ServiceAccount {
                issuer: account.issuer().to_owned(),
                public_key_pem: account.public_key_pem().to_owned(),
            });
        config.token_audience = audience.clone();
    }
    config
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(list.iter().cloned()),
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(tower_http::cors::Any)
        .expose_headers([
            http::HeaderName::from_static("grpc-status"),
            http::HeaderName::from_static("grpc-message"),
            http::HeaderName::from_static("grpc-status-details-bin"),
        ])
}

/// Where upstream calls go: the vendor's hosts, or an embedded emulator
/// started here (and logged loudly).
async fn upstream_hosts(
    settings: &Settings,
) -> Result<(UpstreamHosts, Option<Emulator>), StartupError> {
    Ok(match &settings.upstream {
        UpstreamTarget::EmbeddedEmulator { listen } => {
            let emulator = Emulator::start(emulator_config(*listen, &settings.credentials))
                .await
                .map_err(StartupError::Emulator)?;
            tracing::warn!(
                emulator = %emulator.base_url(),
                "EMULATOR MODE: every upstream answer is SIMULATED by the embedded emulator; \
                 no vendor is called. Never run this in production."
            );
            (UpstreamHosts::single(&emulator.base_url())?, Some(emulator))
        }
        UpstreamTarget::Vendor { environment, hosts } => {
            tracing::info!(
                %environment,
                idcloud_api = %hosts.idcloud_api(),
                id_api = %hosts.id_api(),
                identity = %hosts.identity(),
                "calling the vendor's hosts"
            );
            (hosts.clone(), None)
        }
    })
}

/// Binds an address, naming it in the error.
async fn bind(addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartupError::Bind { addr, source })
}
