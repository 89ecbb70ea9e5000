//! The `tracing` subscriber: JSON lines or human-readable text, level from
//! `RUST_LOG` (default `info`). `tracing` carries logs only: the facade's
//! spans go straight through OpenTelemetry ([`super::spans`]); when they are
//! exported, the facade's own warnings and errors are added to the current
//! span as span events. The writer is a parameter so that tests can capture
//! or silence output.
//!
//! Each layer has its own filter, and none asks for more than the log filter
//! does: were one layer to take every event of every crate (hyper, h2, tower)
//! at every level, the global maximum level would be TRACE, and every TRACE
//! callsite of every dependency would be evaluated on the hot path.

use std::io::IsTerminal;

use tracing::{Level, Metadata, level_filters::LevelFilter};
use tracing_subscriber::{
    EnvFilter, Layer, Registry,
    filter::{FilterExt, FilterFn, filter_fn},
    fmt::MakeWriter,
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use super::{json_line::JsonLine, spans::SpanEvents};

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

/// The log filter when `RUST_LOG` is unset or invalid.
pub const DEFAULT_LOG_FILTER: &str = "info";

/// The crate's own target prefix.
const FACADE_TARGET: &str = "unico_facade";

/// The log filter: `RUST_LOG`, else [`DEFAULT_LOG_FILTER`].
pub fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
}

/// Whether an event becomes a span event: the facade's own warnings and
/// errors (its INFO call line repeats the span's attributes).
fn span_event(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let own = target == FACADE_TARGET
        || target
            .strip_prefix(FACADE_TARGET)
            .is_some_and(|rest| rest.starts_with("::"));
    own && metadata.is_event() && *metadata.level() <= Level::WARN
}

/// The span-event layer's filter: see [`span_event`].
fn span_event_filter() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    filter_fn(span_event as fn(&Metadata<'_>) -> bool).with_max_level_hint(LevelFilter::WARN)
}

/// Lets events (and `enabled!` probes) through and no span. Its level hint
/// is the most verbose, so that combined (`and`) with the log filter the
/// hint is the log filter's.
fn no_spans() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    filter_fn((|metadata| !metadata.is_span()) as fn(&Metadata<'_>) -> bool)
        .with_max_level_hint(LevelFilter::TRACE)
}

/// The subscriber [`init`] installs: the log layer under `filter`, writing
/// to `writer`, and, when spans are exported (`span_events`), the layer that
/// adds the facade's warnings to the current span. JSON lines show no span,
/// so in JSON the log layer takes none: a dependency's span is never built.
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    span_events: bool,
) -> impl tracing::Subscriber + Send + Sync + for<'a> tracing_subscriber::registry::LookupSpan<'a>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(writer);
    let fmt: Box<dyn Layer<Registry> + Send + Sync> = if json {
        Box::new(
            fmt.event_format(JsonLine)
                .with_filter(filter.and(no_spans())),
        )
    } else {
        Box::new(fmt.with_filter(filter))
    };
    let mut layers = vec![fmt];
    if span_events {
        layers.push(Box::new(SpanEvents.with_filter(span_event_filter())));
    }
    // A list of filtered layers, not an `Option` layer: a `None` layer claims
    // interest in every callsite, which would turn the log layer's "never"
    // for a span into "sometimes" and have the registry build every span.
    tracing_subscriber::registry().with(layers)
}

/// Installs the global subscriber, filtered by `RUST_LOG`, with span events
/// when spans are exported. Returns false if one was already set.
pub fn init<W>(format: LogFormat, writer: W, span_events: bool) -> bool
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber(format, log_filter(), writer, span_events)
        .try_init()
        .is_ok()
}

#[cfg(test)]
mod tests {
    //! These assert what the subscriber *enables*, not how fast it is: a
    //! dependency's TRACE callsite that is enabled costs on every call.

    use tracing::{Level, Subscriber, level_filters::LevelFilter};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The dependencies on the hot path at their two busiest levels
    /// (`enabled!` needs a literal target: one probe per case).
    fn dependency_probes() -> [(&'static str, bool); 12] {
        [
            ("h2 trace", tracing::enabled!(target: "h2", Level::TRACE)),
            ("h2 debug", tracing::enabled!(target: "h2", Level::DEBUG)),
            (
                "hyper trace",
                tracing::enabled!(target: "hyper", Level::TRACE),
            ),
            (
                "hyper debug",
                tracing::enabled!(target: "hyper", Level::DEBUG),
            ),
            (
                "hyper_util trace",
                tracing::enabled!(target: "hyper_util", Level::TRACE),
            ),
            (
                "hyper_util debug",
                tracing::enabled!(target: "hyper_util", Level::DEBUG),
            ),
            (
                "tower trace",
                tracing::enabled!(target: "tower", Level::TRACE),
            ),
            (
                "tower debug",
                tracing::enabled!(target: "tower", Level::DEBUG),
            ),
            (
                "reqwest trace",
                tracing::enabled!(target: "reqwest", Level::TRACE),
            ),
            (
                "reqwest debug",
                tracing::enabled!(target: "reqwest", Level::DEBUG),
            ),
            (
                "tonic trace",
                tracing::enabled!(target: "tonic", Level::TRACE),
            ),
            (
                "tonic debug",
                tracing::enabled!(target: "tonic", Level::DEBUG),
            ),
        ]
    }

    #[test]
    fn the_default_subscriber_enables_no_trace_or_debug_callsite_of_a_dependency() {
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new(DEFAULT_LOG_FILTER),
            std::io::sink,
            true,
        );
        assert_eq!(
            subscriber.max_level_hint(),
            Some(LevelFilter::INFO),
            "the global maximum level stays at the log filter's"
        );
        tracing::subscriber::with_default(subscriber, || {
            for (probe, enabled) in dependency_probes() {
                assert!(!enabled, "{probe} is enabled at the default filter");
            }
            assert!(
                tracing::enabled!(target: "unico_facade::service", Level::INFO),
                "the facade's own log line stays on"
            );
            assert!(!tracing::enabled!(target: "unico_facade::service", Level::DEBUG));
        });
    }

    /// The variable that makes the test binary, run again by the test
    /// below, install the real subscriber and probe it.
    const CHILD: &str = "UNICO_FACADE_TELEMETRY_INIT_CHILD";
    const CHILD_TEST: &str = "telemetry::logging::tests::installed_subscriber_probes";

    /// The real [`init`] sets the process's global dispatcher, which can
    /// happen once and which other tests' scoped dispatchers would blur (the
    /// global maximum level is the most verbose of all dispatchers alive):
    /// so it runs in a process of its own, the test binary itself, with
    /// only the probing test selected and `RUST_LOG` unset.
    #[test]
    fn the_installed_subscriber_enables_no_trace_or_debug_callsite_of_a_dependency() {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([CHILD_TEST, "--exact", "--ignored", "--test-threads=1"])
            .env(CHILD, "1")
            .env_remove("RUST_LOG")
            .output()
            .expect("the test binary runs again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains("1 passed"),
            "the probing test ran: {stdout}"
        );
    }

    /// Run by the test above, in its own process.
    #[test]
    #[ignore = "run in a process of its own by the_installed_subscriber_enables_no_trace_or_debug_callsite_of_a_dependency"]
    fn installed_subscriber_probes() {
        assert!(
            std::env::var_os(CHILD).is_some(),
            "installs the global subscriber: run only in a process of its own"
        );
        assert!(
            init(LogFormat::Json, std::io::sink, false),
            "no subscriber was installed before"
        );
        // The static maximum level: a TRACE or DEBUG callsite anywhere is
        // skipped by one comparison, before any dispatcher is asked.
        assert_eq!(LevelFilter::current(), LevelFilter::INFO);
        for (probe, enabled) in dependency_probes() {
            assert!(!enabled, "{probe} is enabled by the installed subscriber");
        }
        assert!(tracing::enabled!(target: "unico_facade::service", Level::INFO));
        assert!(
            tracing::enabled!(target: "hyper", Level::WARN),
            "dependencies still warn"
        );
        assert!(
            !tracing::span_enabled!(target: "unico_facade::telemetry::rpc_span", Level::INFO),
            "with export off, JSON lines want no span"
        );
    }

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_json_line_is_the_events_fields_flattened_without_span_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new(DEFAULT_LOG_FILTER),
            move || writer.clone(),
            true,
        );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "rpc",
                rpc.method = "M",
                unico.request_id = tracing::field::Empty
            );
            let _entered = span.enter();
            span.record("unico.request_id", "span-field");
            let error = std::io::Error::other("broken \"pipe\"");
            tracing::info!(
                rpc.method = "SetProcessDocument",
                grpc.code = "OK",
                latency_ms = 1.5,
                upstream.http_status = 200u64,
                offset = -2i64,
                retried = false,
                reason = None::<&str>,
                detail = %"two\nlines \u{1}",
                shape = ?("a", 1),
                error = &error as &(dyn std::error::Error + 'static),
                "call finished"
            );
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["message"], "call finished");
        assert_eq!(line["rpc.method"], "SetProcessDocument");
        assert_eq!(line["grpc.code"], "OK");
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["upstream.http_status"], 200);
        assert_eq!(line["offset"], -2);
        assert_eq!(line["retried"], false);
        assert!(line.get("reason").is_none(), "an unset field is left out");
        assert_eq!(line["detail"], "two\nlines \u{1}");
        assert_eq!(line["shape"], "(\"a\", 1)");
        assert_eq!(line["error"], "broken \"pipe\"");
        assert_eq!(line["target"], module_path!());
        let timestamp = line["timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() == 27 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "RFC 3339 in UTC with microseconds: {timestamp}"
        );
        assert!(
            line.get("span").is_none() && line.get("spans").is_none(),
            "{text}"
        );
        assert!(!text.contains("span-field"), "{text}");
    }

    #[test]
    fn the_span_event_layer_sees_only_the_facades_warnings() {
        let events_only =
            tracing_subscriber::registry().with(SpanEvents.with_filter(span_event_filter()));
        assert_eq!(events_only.max_level_hint(), Some(LevelFilter::WARN));
        tracing::subscriber::with_default(events_only, || {
            for (probe, enabled) in dependency_probes() {
                assert!(!enabled, "the span-event layer sees {probe}");
            }
            assert!(!tracing::enabled!(target: "hyper", Level::ERROR));
            assert!(!tracing::enabled!(target: "unico_facade_lookalike", Level::WARN));
            assert!(!tracing::event_enabled!(target: "unico_facade::service", Level::INFO));
            assert!(tracing::event_enabled!(target: "unico_facade::service", Level::WARN));
            assert!(!tracing::span_enabled!(target: "unico_facade::service", Level::WARN));
        });
    }
}
