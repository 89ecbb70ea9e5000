//! The `tracing` subscriber: JSON lines or human-readable text, level from
//! `RUST_LOG` (default `info`), spans exported through OpenTelemetry. The
//! writer is a parameter so that tests can capture or silence output.

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{
    EnvFilter, Layer, Registry, fmt::MakeWriter, layer::SubscriberExt, util::SubscriberInitExt,
};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// The OpenTelemetry layer over a tracer provider.
pub fn otel_layer<S>(provider: &SdkTracerProvider) -> impl Layer<S> + use<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("unico-facade"))
}

/// Installs the global subscriber. Returns false if one was already set.
pub fn init<W>(format: LogFormat, writer: W, provider: &SdkTracerProvider) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if json {
        Box::new(
            fmt.json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false),
        )
    } else {
        Box::new(fmt)
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel_layer(provider))
        .try_init()
        .is_ok()
}
