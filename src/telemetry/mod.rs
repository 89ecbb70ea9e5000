//! Telemetry, in one place:
//! - `logging`: the `tracing` subscriber (JSON lines or text, `RUST_LOG`):
//!   logs only;
//! - `json_line`: the JSON log line, written field by field;
//! - `otel`: the tracer provider (OTLP export configured by the standard
//!   `OTEL_*` variables, off without an endpoint);
//! - `propagation`: W3C trace context and baggage, from a call's metadata
//!   and onto upstream requests;
//! - `otlp`: the OTLP/gRPC exporter, its settings and its wire encoding;
//! - `spans`: the facade's spans, straight through the OpenTelemetry API
//!   (the [`Tracer`], off when spans are not exported);
//! - `rpc_span`: one server span per facade RPC, parented on the caller's
//!   `traceparent`; health and reflection are not traced;
//! - `redact`: the safe shape of outside text that must be logged.
//!
//! Field names follow OpenTelemetry's semantic conventions (`rpc.*`,
//! `http.*`); no field ever holds a request's personal data.

mod json_line;
mod logging;
mod otel;
mod otlp;
pub(crate) mod propagation;
pub mod redact;
mod rpc_span;
pub(crate) mod spans;

pub use logging::{DEFAULT_LOG_FILTER, LogFormat, init, log_filter, subscriber};
pub use otel::{Export, Telemetry, tracer_provider};
pub use otlp::OtlpSettings;
pub use propagation::install_propagator;
pub use rpc_span::RpcSpanLayer;
pub use spans::Tracer;
