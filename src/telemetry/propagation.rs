//! W3C Trace Context and Baggage on the wire: taken from a call's metadata
//! ([`extract`]) and sent on each upstream request ([`inject`]).
//!
//! Extraction is the SDK's propagators, installed globally. Injection writes
//! `traceparent` itself: the SDK's `TraceContextPropagator` builds it with
//! `format!` over the ids' `Display` (a `u128` in hex), and with the global
//! lookup that was a fifth of what span export added to a call's
//! instructions. The header is the same (a test compares them), except that
//! an empty `tracestate` is not sent, as the W3C recommendation asks.

use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::{
    Context,
    baggage::BaggageExt as _,
    propagation::{TextMapCompositePropagator, TextMapPropagator as _},
    trace::{SpanContext, TraceContextExt as _, TraceFlags},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// W3C trace context and baggage for incoming metadata (see [`extract`]).
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ]));
}

/// The caller's context in `headers` (an empty one without a valid
/// `traceparent`), through the installed propagators.
pub(crate) fn extract(headers: &HeaderMap) -> Context {
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&HeaderExtractor(headers))
    })
}

/// Puts `context`'s span (when valid) and baggage (when any) into `headers`.
pub(crate) fn inject(context: &Context, headers: &mut HeaderMap) {
    let span = context.span();
    let span_context = span.span_context();
    if span_context.is_valid() {
        if let Some(traceparent) = traceparent(span_context) {
            headers.insert(TRACEPARENT, traceparent);
        }
        let state = span_context.trace_state().header();
        if !state.is_empty()
            && let Ok(state) = HeaderValue::from_str(&state)
        {
            headers.insert(TRACESTATE, state);
        }
    }
    if !context.baggage().is_empty() {
        BaggagePropagator::new().inject_context(context, &mut HeaderInjector(headers));
    }
}

/// `00-{trace id}-{span id}-{flags}`, lower-case hex, version 00 (the only
/// one defined), with the sampled flag only.
fn traceparent(span_context: &SpanContext) -> Option<HeaderValue> {
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-00";
    let flags = span_context.trace_flags() & TraceFlags::SAMPLED;
    hex_into(&span_context.trace_id().to_bytes(), &mut value[3..35]);
    hex_into(&span_context.span_id().to_bytes(), &mut value[36..52]);
    hex_into(&[flags.to_u8()], &mut value[53..55]);
    HeaderValue::from_bytes(&value).ok()
}

fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::{
        KeyValue,
        trace::{SpanId, TraceId, TraceState},
    };

    use super::*;

    fn context(trace: u128, span: u64, flags: TraceFlags, state: &str) -> Context {
        let state: TraceState = state.parse().unwrap();
        Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(trace),
            SpanId::from(span),
            flags,
            true,
            state,
        ))
    }

    fn by_the_sdk(context: &Context) -> HeaderMap {
        let mut headers = HeaderMap::new();
        TraceContextPropagator::new().inject_context(context, &mut HeaderInjector(&mut headers));
        BaggagePropagator::new().inject_context(context, &mut HeaderInjector(&mut headers));
        headers
    }

    #[test]
    fn the_headers_are_the_sdk_propagators_but_an_empty_tracestate() {
        let cases = [
            context(
                0x4bf92f3577b34da6a3ce929d0e0e4736,
                0x00f067aa0ba902b7,
                TraceFlags::SAMPLED,
                "",
            ),
            context(1, u64::MAX, TraceFlags::NOT_SAMPLED, "vendor=a,other=b"),
            context(u128::MAX, 1, TraceFlags::new(0xff), "k=v"),
            context(7, 9, TraceFlags::SAMPLED, "")
                .with_baggage([KeyValue::new("tenant", "acme"), KeyValue::new("n", 1)]),
        ];
        for context in &cases {
            let mut ours = HeaderMap::new();
            inject(context, &mut ours);
            let mut expected = by_the_sdk(context);
            if expected.get(TRACESTATE).is_some_and(|v| v.is_empty()) {
                expected.remove(TRACESTATE);
            }
            assert_eq!(ours, expected);
        }
        let mut ours = HeaderMap::new();
        inject(&cases[0], &mut ours);
        assert_eq!(
            ours.get(TRACEPARENT).unwrap(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert!(ours.get(TRACESTATE).is_none());
    }

    #[test]
    fn nothing_without_a_valid_span_or_baggage() {
        let mut headers = HeaderMap::new();
        inject(&Context::new(), &mut headers);
        inject(&context(0, 0, TraceFlags::SAMPLED, "k=v"), &mut headers);
        assert!(headers.is_empty());
    }

    #[test]
    fn what_is_injected_extracts_to_the_same_span_context() {
        install_propagator();
        let sent = context(42, 43, TraceFlags::SAMPLED, "k=v");
        let mut headers = HeaderMap::new();
        inject(&sent, &mut headers);
        let received = extract(&headers);
        assert_eq!(received.span().span_context(), sent.span().span_context());
    }
}
