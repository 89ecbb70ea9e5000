//! Prometheus metrics, served in the text exposition format on the admin
//! listener. Every label takes values from a bounded set (method names,
//! gRPC codes, route templates, HTTP statuses, documented vendor codes,
//! reasons of the error table): never an id or personal data.

use std::time::Duration;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InterruptedLabels {
    method: &'static str,
    cause: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    endpoint: &'static str,
    http_status: String,
    vendor_code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabels {
    endpoint: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdempotencyLabels {
    store: &'static str,
    event: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreOnlyLabels {
    store: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    mode: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    upstream: &'static str,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FamilyLabels {
    upstream: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

fn latency_histogram() -> Histogram {
    // 5 ms … ~40 s: facade work is fast, the vendor's capture is slow.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 14,
    ))
}

/// The facade's metrics and their registry.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    rpc_requests: Family<RpcLabels, Counter>,
    rpc_duration: Family<RpcLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<MethodLabels, Gauge>,
    awaiting_message: Family<MethodLabels, Gauge>,
    interrupted: Family<InterruptedLabels, Counter>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
    local_rejections: Family<ReasonLabels, Counter>,
    token_refreshes: Family<OutcomeLabels, Counter>,
    idempotency_events: Family<IdempotencyLabels, Counter>,
    store_duration: Family<StoreLabels, Histogram, fn() -> Histogram>,
    webhook_deliveries: Family<OutcomeLabels, Counter>,
    rate_limit_mode: Family<ModeLabels, Gauge>,
    rate_limit_fallbacks: Counter,
    rate_limit_holds: Counter,
    circuit_state: Family<CircuitLabels, Gauge>,
    circuit_transitions: Family<CircuitLabels, Counter>,
    circuit_rejections: Family<FamilyLabels, Counter>,
    webhook_fanout: Family<OutcomeLabels, Counter>,
    webhook_fanout_connected: Family<StoreOnlyLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("unico_facade");
        let rpc_requests = Family::<RpcLabels, Counter>::default();
        registry.register(
            "rpc_requests",
            "Finished RPCs by method and gRPC code",
            rpc_requests.clone(),
        );
        let rpc_duration = Family::<RpcLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "rpc_duration_seconds",
            "RPC latency by method and gRPC code",
            rpc_duration.clone(),
        );
        let in_flight = Family::<MethodLabels, Gauge>::default();
        registry.register(
            "rpc_in_flight",
            "RPCs being served, by method",
            in_flight.clone(),
        );
        let awaiting_message = Family::<MethodLabels, Gauge>::default();
        registry.register(
            "rpc_awaiting_message",
            "Calls whose headers arrived but whose request message has not (yet), by method",
            awaiting_message.clone(),
        );
        let interrupted = Family::<InterruptedLabels, Counter>::default();
        registry.register(
            "rpc_interrupted",
            "Calls that ended before their handler's answer, by method and cause \
             (client_cancelled, shutdown)",
            interrupted.clone(),
        );
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        registry.register(
            "upstream_requests",
            "Upstream calls by endpoint, HTTP status (none: no answer) and vendor code",
            upstream_requests.clone(),
        );
        let upstream_duration =
            Family::<EndpointLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "upstream_duration_seconds",
            "Upstream call latency by endpoint",
            upstream_duration.clone(),
        );
        let local_rejections = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "local_rejections",
            "Requests refused by the facade itself, by ErrorInfo reason",
            local_rejections.clone(),
        );
        let token_refreshes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_requests",
            "Requests to the vendor's token endpoint, by outcome",
            token_refreshes.clone(),
        );
        let idempotency_events = Family::<IdempotencyLabels, Counter>::default();
        registry.register(
            "idempotency_events",
            "Creates with a request_id by store and event (first_call, replayed, conflict, \
             in_progress, outcome_unknown, store_error, unreadable)",
            idempotency_events.clone(),
        );
        let store_duration =
            Family::<StoreLabels, Histogram, fn() -> Histogram>::new_with_constructor(|| {
                // 0.1 ms … ~0.8 s: a store call is a loopback or LAN round trip.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.0001, 2.0, 14,
                ))
            });
        registry.register(
            "idempotency_store_duration_seconds",
            "Idempotency store call latency by store, operation and outcome (ok, error)",
            store_duration.clone(),
        );
        let webhook_deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Deliveries of the vendor's finished-process webhook, by outcome",
            webhook_deliveries.clone(),
        );
        let rate_limit_mode = Family::<ModeLabels, Gauge>::default();
        registry.register(
            "rate_limit_mode",
            "The outgoing rate limit's budget in use: 1 for the mode in force (shared: the \
             tenant's budget in Redis; local: this replica's share), 0 for the other",
            rate_limit_mode.clone(),
        );
        let rate_limit_fallbacks = Counter::default();
        registry.register(
            "rate_limit_fallbacks",
            "Changes from the shared rate budget to the local share (Redis slow or unreachable)",
            rate_limit_fallbacks.clone(),
        );
        let rate_limit_holds = Counter::default();
        registry.register(
            "rate_limit_holds",
            "Vendor 429s that held the outgoing rate budget back",
            rate_limit_holds.clone(),
        );
        let circuit_state = Family::<CircuitLabels, Gauge>::default();
        registry.register(
            "upstream_circuit_state",
            "Circuit breaker state per upstream family: 1 for the current state \
             (closed, open, half_open), 0 for the others",
            circuit_state.clone(),
        );
        let circuit_transitions = Family::<CircuitLabels, Counter>::default();
        registry.register(
            "upstream_circuit_transitions",
            "Circuit breaker transitions per upstream family, by the state entered",
            circuit_transitions.clone(),
        );
        let circuit_rejections = Family::<FamilyLabels, Counter>::default();
        registry.register(
            "upstream_circuit_rejections",
            "Calls refused at once (UPSTREAM_CIRCUIT_OPEN, nothing sent) per upstream family",
            circuit_rejections.clone(),
        );
        let webhook_fanout = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_fanout_messages",
            "Webhook notices shared with the other replicas through Redis, by outcome \
             (published, publish_failed, received, undecryptable)",
            webhook_fanout.clone(),
        );
        let webhook_fanout_connected = Family::<StoreOnlyLabels, Gauge>::default();
        registry.register(
            "webhook_fanout_connected",
            "1 while this replica is subscribed to the other replicas' webhook notices",
            webhook_fanout_connected.clone(),
        );
        Self {
            registry,
            rate_limit_mode,
            rate_limit_fallbacks,
            rate_limit_holds,
            webhook_fanout,
            webhook_fanout_connected,
            circuit_state,
            circuit_transitions,
            circuit_rejections,
            idempotency_events,
            store_duration,
            webhook_deliveries,
            rpc_requests,
            rpc_duration,
            in_flight,
            awaiting_message,
            interrupted,
            upstream_requests,
            upstream_duration,
            local_rejections,
            token_refreshes,
        }
    }

    /// Counts one RPC as in flight until the guard drops.
    pub fn start_rpc(&self, method: &'static str) -> InFlight {
        let gauge = self
            .in_flight
            .get_or_create(&MethodLabels { method })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Counts one call as waiting for its request message until the guard
    /// drops.
    pub fn await_message(&self, method: &'static str) -> InFlight {
        let gauge = self
            .awaiting_message
            .get_or_create(&MethodLabels { method })
            .clone();
        gauge.inc();
        InFlight { gauge }
    }

    /// Counts a call that ended without its handler's answer: the caller
    /// cancelled it (`client_cancelled`) or the shutdown grace ran out
    /// (`shutdown`).
    pub fn interrupted_rpc(&self, method: &'static str, cause: &'static str) {
        self.interrupted
            .get_or_create(&InterruptedLabels { method, cause })
            .inc();
    }

    pub fn finish_rpc(&self, method: &'static str, code: tonic::Code, latency: Duration) {
        let labels = RpcLabels {
            method,
            code: code_name(code),
        };
        self.rpc_requests.get_or_create(&labels).inc();
        self.rpc_duration
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
    }

    pub fn upstream_call(
        &self,
        endpoint: &'static str,
        http_status: Option<u16>,
        vendor_code: Option<&str>,
        latency: Duration,
    ) {
        self.upstream_requests
            .get_or_create(&UpstreamLabels {
                endpoint,
                http_status: http_status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
                vendor_code: vendor_code.unwrap_or("none").to_owned(),
            })
            .inc();
        self.upstream_duration
            .get_or_create(&EndpointLabels { endpoint })
            .observe(latency.as_secs_f64());
    }

    pub fn local_rejection(&self, reason: &str) {
        self.local_rejections
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    pub fn token_request(&self, outcome: &'static str) {
        self.token_refreshes
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts one event of a create with a request id.
    pub fn idempotency_event(&self, store: &'static str, event: &'static str) {
        self.idempotency_events
            .get_or_create(&IdempotencyLabels { store, event })
            .inc();
    }

    /// Times one idempotency store call.
    pub fn store_call(
        &self,
        store: &'static str,
        operation: &'static str,
        ok: bool,
        latency: Duration,
    ) {
        let outcome = if ok { "ok" } else { "error" };
        self.store_duration
            .get_or_create(&StoreLabels {
                store,
                operation,
                outcome,
            })
            .observe(latency.as_secs_f64());
    }

    /// Counts one webhook delivery: `accepted`, `duplicate`, `unauthorized`,
    /// `malformed`, `too_large`, `overloaded`.
    pub fn webhook_delivery(&self, outcome: &'static str) {
        self.webhook_deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// The rate limit's budget in use now: `shared` or `local`.
    pub fn rate_limit_mode(&self, mode: &'static str) {
        for known in ["shared", "local"] {
            self.rate_limit_mode
                .get_or_create(&ModeLabels { mode: known })
                .set(i64::from(known == mode));
        }
    }

    /// Counts one change from the shared budget to the local share.
    pub fn rate_limit_fallback(&self) {
        self.rate_limit_fallbacks.inc();
    }

    /// Counts one vendor 429 that held the budget back.
    pub fn rate_limit_hold(&self) {
        self.rate_limit_holds.inc();
    }

    /// Counts one webhook notice of the fan-out across replicas.
    pub fn webhook_fanout(&self, outcome: &'static str) {
        self.webhook_fanout
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Whether this replica receives the other replicas' webhook notices.
    /// (No series until a fan-out runs: a replica without one has nothing
    /// to be disconnected from.)
    pub fn webhook_fanout_connected(&self, connected: bool) {
        self.webhook_fanout_connected
            .get_or_create(&StoreOnlyLabels { store: "redis" })
            .set(i64::from(connected));
    }

    /// Sets one state's series of a family's circuit (1: the current one).
    pub fn circuit_state(&self, upstream: &'static str, state: &'static str, current: bool) {
        self.circuit_state
            .get_or_create(&CircuitLabels { upstream, state })
            .set(i64::from(current));
    }

    /// Counts a family's circuit entering `state`.
    pub fn circuit_transition(&self, upstream: &'static str, state: &'static str) {
        self.circuit_transitions
            .get_or_create(&CircuitLabels { upstream, state })
            .inc();
    }

    /// Counts a call a family's open circuit refused.
    pub fn circuit_rejection(&self, upstream: &'static str) {
        self.circuit_rejections
            .get_or_create(&FamilyLabels { upstream })
            .inc();
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric.
    pub fn render(&self) -> String {
        let mut open_metrics = String::new();
        prometheus_client::encoding::text::encode(&mut open_metrics, &self.registry)
            .expect("writing to a String cannot fail");
        to_prometheus_text(&open_metrics)
    }
}

/// OpenMetrics text → Prometheus text: a counter's HELP and TYPE name the
/// `_total` series (which Prometheus' own parsers and `promtool` expect),
/// and there is no `# EOF` line.
fn to_prometheus_text(open_metrics: &str) -> String {
    let lines: Vec<&str> = open_metrics.lines().collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for (i, line) in lines.iter().enumerate() {
        if *line == "# EOF" {
            continue;
        }
        let counter_of = |l: &str| {
            l.strip_prefix("# TYPE ")
                .and_then(|rest| rest.strip_suffix(" counter"))
                .map(str::to_owned)
        };
        let rewritten = if let Some(name) = counter_of(line) {
            format!("# TYPE {name}_total counter")
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            let next_is_counter = lines
                .get(i + 1)
                .and_then(|next| counter_of(next))
                .is_some_and(|n| n == name);
            if next_is_counter {
                format!("# HELP {name}_total{}", &rest[name.len()..])
            } else {
                (*line).to_owned()
            }
        } else {
            (*line).to_owned()
        };
        out.push_str(&rewritten);
        out.push('\n');
    }
    out
}

/// Decrements its gauge (in flight, awaiting a message) when dropped.
#[derive(Debug)]
pub struct InFlight {
    gauge: Gauge,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The canonical name of a gRPC code, as a label value.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_with_bounded_labels() {
        let metrics = Metrics::new();
        {
            let _guard = metrics.start_rpc("SetProcessDocument");
            assert!(
                metrics
                    .render()
                    .contains("unico_facade_rpc_in_flight{method=\"SetProcessDocument\"} 1")
            );
        }
        metrics.finish_rpc(
            "SetProcessDocument",
            tonic::Code::NotFound,
            Duration::from_millis(12),
        );
        metrics.upstream_call(
            "POST /processes/v1",
            Some(400),
            Some("20507"),
            Duration::from_millis(80),
        );
        let text = metrics.render();
        assert!(text.contains("unico_facade_rpc_requests_total{method=\"SetProcessDocument\",code=\"NOT_FOUND\"} 1"), "{text}");
        assert!(
            text.contains("unico_facade_rpc_in_flight{method=\"SetProcessDocument\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("http_status=\"400\",vendor_code=\"20507\""),
            "{text}"
        );
    }
}
