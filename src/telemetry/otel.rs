//! The OpenTelemetry tracer provider and propagation. Export is OTLP/gRPC,
//! configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`), and off when no
//! endpoint is set. Spans are batched and exported in the background, so an
//! unreachable collector never slows or fails a call; they are flushed when
//! [`Telemetry::shutdown`] runs.

use std::time::Duration;

use super::spans::Tracer;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    propagation::{BaggagePropagator, TraceContextPropagator},
    trace::SdkTracerProvider,
};

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Export {
    /// Nowhere: no span is recorded (the facade's `Tracer` is off),
    /// and the caller's W3C context goes to the vendor unchanged.
    Off,
    /// OTLP/gRPC, endpoint and options from the `OTEL_*` variables.
    FromEnvironment,
    /// OTLP/gRPC to this endpoint (tests, embedding).
    Endpoint(String),
}

impl Export {
    /// `FromEnvironment` when an OTLP endpoint variable is set, else `Off`.
    pub fn detect() -> Self {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        if set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT") {
            Export::FromEnvironment
        } else {
            Export::Off
        }
    }
}

/// The tracer provider; must be built inside a tokio runtime.
pub fn tracer_provider(export: &Export) -> Result<SdkTracerProvider, String> {
    let resource = Resource::builder()
        .with_service_name(
            std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "unico-facade".to_owned()),
        )
        .build();
    let builder = SdkTracerProvider::builder().with_resource(resource);
    let exporter = match export {
        Export::Off => return Ok(builder.build()),
        Export::FromEnvironment => SpanExporter::builder().with_tonic().build(),
        Export::Endpoint(endpoint) => SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(Duration::from_secs(3))
            .build(),
    }
    .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    Ok(builder.with_batch_exporter(exporter).build())
}

/// W3C trace context and baggage, for incoming metadata and upstream calls.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// Owns the provider (when spans are exported) for the process's life;
/// flushes on shutdown.
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    pub fn new(provider: Option<SdkTracerProvider>) -> Self {
        Self { provider }
    }

    /// The facade's tracer: recording through the provider, or off.
    pub fn tracer(&self) -> Tracer {
        self.provider.as_ref().map_or_else(Tracer::off, Tracer::new)
    }

    /// Exports what is buffered, waiting at most a few seconds.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let flushed = tokio::task::spawn_blocking(move || {
            provider.shutdown_with_timeout(Duration::from_secs(5))
        })
        .await;
        if let Ok(Err(error)) = flushed {
            tracing::warn!(%error, "spans may have been lost at shutdown");
        }
    }
}
