//! The application: [`App::build`] binds the listener (port 0 allowed) and
//! prepares the upstream side; [`App::run`] serves the gRPC services, health
//! and reflection until the shutdown future resolves, then lets in-flight
//! calls finish.

use std::{future::Future, net::SocketAddr, sync::Arc};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;

use crate::{
    config::{CredentialSettings, Settings, UpstreamTarget},
    credentials::{CredentialSource, FacadeHeld, TokenProvider},
    emulator::{Emulator, EmulatorConfig},
    pb::{
        self,
        identity_v1::{
            document_service_server::DocumentServiceServer,
            process_service_server::ProcessServiceServer,
        },
    },
    request_size::RequestTooLargeLayer,
    service::{DocumentHandler, ProcessHandler, Shared},
    upstream::{ClientBuildError, HostsError, UpstreamClient, UpstreamHosts, UpstreamSettings},
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
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("cannot build server reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC server failed: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A bound, ready-to-run facade.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    max_request_bytes: usize,
    emulator: Option<Emulator>,
}

impl App {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let (hosts, emulator) = match settings.upstream {
            UpstreamTarget::EmbeddedEmulator { listen } => {
                let emulator = Emulator::start(EmulatorConfig {
                    listen,
                    ..EmulatorConfig::default()
                })
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
                    "calling the vendor's hosts"
                );
                (hosts, None)
            }
        };
        let mut upstream_settings = UpstreamSettings::new(hosts);
        upstream_settings.connect_timeout = settings.connect_timeout;
        let upstream = UpstreamClient::new(upstream_settings)?;
        let credentials = match settings.credentials {
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
                    ),
                    api_key,
                    allow_caller_override,
                }))
            }
        };
        tracing::info!(credentials = %credentials.describe(), "credentials mode");

        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartupError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            addr: settings.listen,
            source,
        })?;
        let shared = Arc::new(Shared {
            upstream,
            credentials,
            upstream_timeout: settings.upstream_timeout,
            image_limits: settings.image_limits,
        });
        Ok(Self {
            listener,
            local_addr,
            shared,
            max_request_bytes: settings.max_request_bytes,
            emulator,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The embedded emulator, when the app runs against one.
    pub fn emulator(&self) -> Option<&Emulator> {
        self.emulator.as_ref()
    }

    /// Serves until `shutdown` resolves; then health turns NOT_SERVING, new
    /// connections are refused and in-flight calls finish.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<ProcessServiceServer<ProcessHandler>>()
            .await;
        health
            .set_serving::<DocumentServiceServer<DocumentHandler>>()
            .await;

        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        let reflection_v1 = reflection().build_v1()?;
        let reflection_v1alpha = reflection().build_v1alpha()?;

        let process = ProcessServiceServer::new(ProcessHandler::new(self.shared.clone()))
            .max_decoding_message_size(self.max_request_bytes);
        let document = DocumentServiceServer::new(DocumentHandler::new(self.shared.clone()))
            .max_decoding_message_size(self.max_request_bytes);

        tracing::info!(listen = %self.local_addr, "serving gRPC");
        let drain = async move {
            shutdown.await;
            health
                .set_not_serving::<ProcessServiceServer<ProcessHandler>>()
                .await;
            health
                .set_not_serving::<DocumentServiceServer<DocumentHandler>>()
                .await;
            health
                .set_service_status("", tonic_health::ServingStatus::NotServing)
                .await;
            tracing::info!("shutting down: finishing in-flight calls");
        };
        Server::builder()
            .layer(RequestTooLargeLayer::new(self.max_request_bytes))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(process)
            .add_service(document)
            .serve_with_incoming_shutdown(TcpListenerStream::new(self.listener), drain)
            .await?;
        if let Some(emulator) = self.emulator {
            emulator.shutdown().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}
