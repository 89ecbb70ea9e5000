//! The OpenTelemetry tracer provider. Export is OTLP/gRPC
//! ([`super::otlp`]), configured by the standard variables
//! (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
//! headers, timeout, compression, certificate; `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`), and off when no
//! endpoint is set. Spans are batched and exported in the background, so an
//! unreachable collector never slows or fails a call; they are flushed when
//! [`Telemetry::shutdown`] runs.

use std::time::Duration;

use super::{
    otlp::{OtlpExporter, OtlpSettings},
    spans::Tracer,
};

use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};

/// Where spans go.
#[derive(Debug, Clone)]
pub enum Export {
    /// Nowhere: no span is recorded (the facade's `Tracer` is off),
    /// and the caller's W3C context goes to the vendor unchanged.
    Off,
    /// To an OTLP/gRPC collector.
    Otlp(OtlpSettings),
}

impl Export {
    /// From the `OTEL_EXPORTER_OTLP_*` variables: `Otlp` when an endpoint is
    /// set, else `Off`; a value that cannot be used is an error.
    pub fn detect() -> Result<Self, String> {
        Ok(OtlpSettings::from_env()?.map_or(Export::Off, Export::Otlp))
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
    match export {
        Export::Off => Ok(builder.build()),
        Export::Otlp(settings) => {
            let exporter = OtlpExporter::new(settings.clone())?;
            Ok(builder.with_batch_exporter(exporter).build())
        }
    }
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
