//! The facade's spans, recorded straight through the OpenTelemetry API: one
//! server span per RPC ([`super::rpc_span`]) and one client span per
//! upstream exchange (`upstream::client`). `tracing` carries the logs only.
//!
//! Why not `tracing` spans bridged by `tracing-opentelemetry`: a bridged span
//! costs a registry slot, per-layer filter bookkeeping, extensions and a
//! field visitor on every record, about as much again as the OpenTelemetry
//! span itself; with two spans a call that was a fifth of a call's
//! instructions with export on. Here a span is the SDK's span in an
//! OpenTelemetry [`Context`], made current (OpenTelemetry's own
//! `Context::current`) while the call runs, so the client span finds its
//! parent and the ledger the span it completes.
//!
//! With export off the [`Tracer`] is off: nothing is built, and the context
//! made current is the caller's, which the upstream client forwards as it
//! came.

use std::borrow::Cow;

use opentelemetry::{
    Context, KeyValue,
    trace::{
        SpanBuilder, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
    },
};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The instrumentation scope's name.
const SCOPE: &str = "unico-facade";

/// Starts the facade's spans when they are exported; off otherwise.
#[derive(Debug, Clone, Default)]
pub struct Tracer(Option<SdkTracer>);

impl Tracer {
    /// Records nothing (export off).
    pub fn off() -> Self {
        Self(None)
    }

    /// Records spans through `provider`.
    pub fn new(provider: &SdkTracerProvider) -> Self {
        Self(Some(provider.tracer(SCOPE)))
    }

    /// A context holding a new span under `parent`, built by `span` (called
    /// only when spans are recorded); `parent` itself when off.
    pub(crate) fn start(
        &self,
        parent: &Context,
        name: impl Into<Cow<'static, str>>,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Context {
        match &self.0 {
            None => parent.clone(),
            Some(tracer) => {
                let builder = SpanBuilder::from_name(name)
                    .with_kind(kind)
                    .with_attributes(attributes());
                parent.with_span(tracer.build_with_context(builder, parent))
            }
        }
    }
}

/// Sets attributes on the context's span when it records one; `attributes`
/// is not even called otherwise (a caller's remote span, or export off).
pub(crate) fn record(context: &Context, attributes: impl FnOnce() -> Vec<KeyValue>) {
    let span = context.span();
    if span.is_recording() {
        span.set_attributes(attributes());
    }
}

/// Marks the context's span failed (OpenTelemetry status `ERROR`), when it
/// records one.
pub(crate) fn fail(context: &Context) {
    let span = context.span();
    if span.is_recording() {
        span.set_status(Status::error(""));
    }
}

/// A `tracing` layer that adds each event it is given (the facade's warnings
/// and errors: see `logging`) to the current span, when one is recorded, as
/// a span event named by the message, with `level`, `target` and the other
/// fields as attributes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SpanEvents;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SpanEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let current = Context::current();
        let span = current.span();
        if !span.is_recording() {
            return;
        }
        let metadata = event.metadata();
        let mut fields = EventFields {
            message: String::new(),
            attributes: vec![
                KeyValue::new("level", metadata.level().as_str()),
                KeyValue::new("target", metadata.target()),
            ],
        };
        event.record(&mut fields);
        span.add_event(fields.message, fields.attributes);
    }
}

/// An event's message and other fields.
struct EventFields {
    message: String,
    attributes: Vec<KeyValue>,
}

impl tracing::field::Visit for EventFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            name => self.attributes.push(KeyValue::new(name, value.to_owned())),
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        let value: opentelemetry::Value = match i64::try_from(value) {
            Ok(value) => value.into(),
            Err(_) => value.to_string().into(),
        };
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self
                .attributes
                .push(KeyValue::new(name, format!("{value:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::{SpanKind, Status};
    use opentelemetry_sdk::{
        error::OTelSdkResult,
        trace::{SpanData, SpanProcessor},
    };
    use tracing_subscriber::{Layer as _, layer::SubscriberExt as _};

    use super::*;

    /// Keeps every ended span.
    #[derive(Debug, Clone, Default)]
    struct Ended(Arc<Mutex<Vec<SpanData>>>);

    impl SpanProcessor for Ended {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    fn recording() -> (Tracer, Ended, SdkTracerProvider) {
        let ended = Ended::default();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(ended.clone())
            .build();
        (Tracer::new(&provider), ended, provider)
    }

    #[test]
    fn off_builds_nothing_and_hands_back_the_parent() {
        let parent = Context::new();
        let call = Tracer::off().start(&parent, "x", SpanKind::Server, || {
            unreachable!("no attribute is built with the tracer off")
        });
        assert!(!call.has_active_span());
        record(&call, || unreachable!("nothing records on no span"));
        fail(&call);
    }

    #[test]
    fn a_span_gets_its_attributes_its_status_and_the_facades_warnings() {
        let (tracer, ended, _provider) = recording();
        let subscriber = tracing_subscriber::registry().with(SpanEvents.with_filter(
            tracing_subscriber::filter::filter_fn(|metadata| metadata.is_event()),
        ));
        tracing::subscriber::with_default(subscriber, || {
            let call = tracer.start(&Context::new(), "S/M", SpanKind::Server, || {
                vec![KeyValue::new("rpc.method", "M")]
            });
            record(&call, || vec![KeyValue::new("rpc.grpc.status_code", 14)]);
            fail(&call);
            {
                let _current = call.clone().attach();
                tracing::warn!(route = "POST /x", attempt = 2u64, "refreshing the token");
            }
            drop(call);
        });
        let spans = ended.0.lock().unwrap();
        assert_eq!(spans.len(), 1, "the span ends with its last context");
        let span = &spans[0];
        assert_eq!(
            (span.name.as_ref(), span.span_kind.clone()),
            ("S/M", SpanKind::Server)
        );
        let attribute = |key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(attribute("rpc.method").as_deref(), Some("M"));
        assert_eq!(attribute("rpc.grpc.status_code").as_deref(), Some("14"));
        assert_eq!(span.status, Status::error(""));
        let events = &span.events.events;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "refreshing the token");
        let event_attribute = |key: &str| {
            events[0]
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(event_attribute("level").as_deref(), Some("WARN"));
        assert_eq!(event_attribute("route").as_deref(), Some("POST /x"));
        assert_eq!(event_attribute("attempt").as_deref(), Some("2"));
    }

    #[test]
    fn a_child_span_sits_under_its_parent() {
        let (tracer, ended, _provider) = recording();
        let call = tracer.start(&Context::new(), "S/M", SpanKind::Server, Vec::new);
        let upstream = tracer.start(&call, "POST /x", SpanKind::Client, Vec::new);
        let (parent_id, trace_id) = {
            let span = call.span();
            let context = span.span_context();
            (context.span_id(), context.trace_id())
        };
        drop(upstream);
        drop(call);
        let spans = ended.0.lock().unwrap();
        let client = spans.iter().find(|s| s.name == "POST /x").unwrap();
        assert_eq!(client.span_kind, SpanKind::Client);
        assert_eq!(client.parent_span_id, parent_id);
        assert_eq!(client.span_context.trace_id(), trace_id);
    }
}
