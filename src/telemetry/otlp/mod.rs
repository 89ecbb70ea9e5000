//! The OTLP/gRPC span exporter: the SDK's batch processor hands it a batch
//! of ended spans; it encodes them ([`wire`]) on the processor's thread and
//! sends them on the tokio runtime (`TraceService/Export`), retrying what the
//! OTLP specification calls retryable within the export's timeout.
//!
//! Why our own and not `opentelemetry-otlp`'s: its conversion and encoding
//! were two thirds of what export cost a call (see [`wire`]); the transport
//! and the settings it offered over gRPC (endpoint, headers, timeout,
//! compression, TLS) are kept, read from the same variables ([`settings`]).

mod settings;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::BufMut as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use opentelemetry_sdk::{
    Resource,
    error::{OTelSdkError, OTelSdkResult},
    trace::{SpanData, SpanExporter},
};
use prost::Message as _;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint},
};
use tonic_types::StatusExt as _;

pub use settings::OtlpSettings;
use wire::EncodedResource;

/// The collector's method.
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// The first wait before a retry; each further one doubles, up to the cap.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Sends batches of spans to one collector.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    channel: Channel,
    settings: OtlpSettings,
    resource: EncodedResource,
    runtime: tokio::runtime::Handle,
    /// Whether the last export failed: failures are logged on the change only.
    failing: Arc<AtomicBool>,
    shut_down: AtomicBool,
}

impl OtlpExporter {
    /// Connects lazily; must be called inside a tokio runtime.
    pub(crate) fn new(settings: OtlpSettings) -> Result<Self, String> {
        let mut endpoint = Endpoint::from_shared(settings.endpoint.clone())
            .map_err(|_| "the OTLP endpoint is not a valid URI".to_owned())?
            .connect_timeout(settings.timeout.min(Duration::from_secs(5)));
        if settings.endpoint.starts_with("https://") {
            let tls = match &settings.certificate {
                Some(path) => {
                    let pem = std::fs::read(path)
                        .map_err(|e| format!("the OTLP CA certificate {}: {e}", path.display()))?;
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
                }
                None => ClientTlsConfig::new().with_webpki_roots(),
            };
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("the OTLP endpoint's TLS settings: {e}"))?;
        }
        Ok(Self {
            channel: endpoint.connect_lazy(),
            settings,
            resource: EncodedResource::default(),
            runtime: tokio::runtime::Handle::try_current()
                .map_err(|_| "the OTLP exporter needs a tokio runtime".to_owned())?,
            failing: Arc::new(AtomicBool::new(false)),
            shut_down: AtomicBool::new(false),
        })
    }
}

impl SpanExporter for OtlpExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let sent = (!self.shut_down.load(Ordering::Acquire)).then(|| {
            let body = wire::export_request(&self.resource, &batch);
            drop(batch);
            // The SDK drives this future on its own thread: the exchange
            // runs on the runtime, which owns the timers and the connection.
            self.runtime.spawn(send(
                self.channel.clone(),
                self.settings.clone(),
                body,
                self.failing.clone(),
            ))
        });
        async move {
            match sent {
                None => Err(OTelSdkError::AlreadyShutdown),
                Some(task) => task
                    .await
                    .unwrap_or_else(|e| Err(OTelSdkError::InternalFailure(e.to_string()))),
            }
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Release);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = EncodedResource::new(resource);
    }
}

/// One export: attempts until one succeeds, a failure is not retryable, or
/// the next attempt would start past the export's timeout.
async fn send(
    channel: Channel,
    settings: OtlpSettings,
    body: Vec<u8>,
    failing: Arc<AtomicBool>,
) -> OTelSdkResult {
    let deadline = Instant::now() + settings.timeout;
    let body = bytes::Bytes::from(body);
    let mut backoff = FIRST_BACKOFF;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let status = match attempt(channel.clone(), &settings, body.clone(), left).await {
            Ok(()) => break Ok(()),
            Err(status) => status,
        };
        let Some(wait) = retry_delay(&status, backoff) else {
            break Err(status);
        };
        if Instant::now() + wait >= deadline {
            break Err(status);
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    };
    match outcome {
        Ok(()) => {
            if failing.swap(false, Ordering::AcqRel) {
                tracing::info!("span export recovered");
            }
            Ok(())
        }
        Err(status) => {
            if !failing.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    code = ?status.code(),
                    error = status.message(),
                    "span export failed; spans are dropped until the collector answers"
                );
            }
            Err(OTelSdkError::InternalFailure(format!(
                "OTLP export: {:?}",
                status.code()
            )))
        }
    }
}

async fn attempt(
    channel: Channel,
    settings: &OtlpSettings,
    body: bytes::Bytes,
    left: Duration,
) -> Result<(), Status> {
    let mut client = tonic::client::Grpc::new(channel);
    if let Some(encoding) = settings.compression {
        client = client.send_compressed(encoding);
    }
    let mut request = tonic::Request::new(body);
    *request.metadata_mut() = settings.headers.clone();
    request.set_timeout(left);
    let exchange = async {
        client
            .ready()
            .await
            .map_err(|e| Status::unavailable(format!("collector unreachable: {e}")))?;
        client
            .unary(
                request,
                http::uri::PathAndQuery::from_static(EXPORT_PATH),
                EncodedCodec,
            )
            .await
    };
    let response = tokio::time::timeout(left, exchange)
        .await
        .map_err(|_| Status::deadline_exceeded("the OTLP export timed out"))??;
    if let Some(partial) = response.into_inner().partial_success
        && partial.rejected_spans > 0
    {
        // Per the specification: not retried, reported.
        tracing::warn!(
            rejected_spans = partial.rejected_spans,
            error = partial.error_message,
            "the collector rejected spans"
        );
    }
    Ok(())
}

/// How long to wait before retrying `status`, when it is retryable (the
/// OTLP specification's list; RESOURCE_EXHAUSTED only when the collector
/// says when to come back).
fn retry_delay(status: &Status, backoff: Duration) -> Option<Duration> {
    let told = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    match status.code() {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Some(told.unwrap_or_else(|| jittered(backoff))),
        Code::ResourceExhausted => told,
        _ => None,
    }
}

/// Between half and all of `backoff`, so replicas do not retry in step.
fn jittered(backoff: Duration) -> Duration {
    backoff.mul_f64(0.5 + fastrand::f64() / 2.0)
}

/// Sends the request's bytes as they are; decodes the collector's answer.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = bytes::Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = Self;
    type Decoder = Self;

    fn encoder(&mut self) -> Self::Encoder {
        Self
    }

    fn decoder(&mut self) -> Self::Decoder {
        Self
    }
}

impl Encoder for EncodedCodec {
    type Item = bytes::Bytes;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for EncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        ExportTraceServiceResponse::decode(src)
            .map(Some)
            .map_err(|e| Status::internal(format!("the collector's answer: {e}")))
    }
}
