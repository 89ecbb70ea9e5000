//! The circuit breaker of each upstream API family. After
//! [`CircuitSettings::failures`] consecutive calls that show vendor trouble
//! (a refused or lost connection, the facade's own upstream timeout, a 5xx),
//! the family's circuit opens: its calls are refused at once, nothing sent,
//! for [`CircuitSettings::cooldown`]. Then exactly one call is let through as
//! a probe (half-open) while the others are still refused; the probe's
//! answer closes the circuit, its trouble reopens it for another cool-down.
//!
//! Why: during a vendor outage every call would otherwise wait for its
//! connect timeout or its upstream timeout, holding a concurrency slot and a
//! caller for seconds, and pile load on a vendor trying to recover. A
//! refusal with RetryInfo lets callers back off and try another path.
//!
//! What does not count: a 4xx (the vendor answered; 429 is the rate limit),
//! a 2xx the facade cannot parse, a request never built, and a timeout of a
//! call whose budget the caller's deadline cut below the upstream timeout
//! (the caller's patience, not the vendor's speed). A call cancelled or
//! refused before its answer reports nothing; a probe that ends so frees
//! the probe's place for the next call.
//!
//! The state is per process: each replica learns the vendor's health from
//! its own calls. Time is `tokio::time::Instant`, so tests pause it.

use std::{
    sync::{Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

use crate::{
    metrics::Metrics,
    upstream::{Api, UpstreamError},
};

/// How the breaker of each family behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Consecutive troubled calls that open a family's circuit; 0 turns the
    /// breaker off (every call is sent; the health entries stay SERVING).
    pub failures: u32,
    /// How long an open circuit refuses calls before it lets a probe through.
    pub cooldown: Duration,
}

impl CircuitSettings {
    /// A run of 5 is ~10⁻¹⁰ likely at a 1 % vendor error rate, and a real
    /// outage shows it within the first handful of calls.
    pub const DEFAULT_FAILURES: u32 = 5;
    /// The default upstream timeout: a stalled vendor gets at most one
    /// probe per replica and family in flight each ~10 s, and a recovered
    /// one is used again within 10 s.
    pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(10);

    pub fn enabled(&self) -> bool {
        self.failures > 0
    }
}

impl Default for CircuitSettings {
    fn default() -> Self {
        Self {
            failures: Self::DEFAULT_FAILURES,
            cooldown: Self::DEFAULT_COOLDOWN,
        }
    }
}

/// Where a family's circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Calls are sent; troubled ones are counted.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One probe call is (or may be) in flight; the others are refused.
    HalfOpen,
}

impl State {
    pub const ALL: [State; 3] = [State::Closed, State::Open, State::HalfOpen];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

/// What one upstream call's outcome says about the vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The vendor answered (a success or a 4xx): it is up.
    Answered,
    /// Vendor trouble: no connection, a lost one, no answer within the
    /// facade's upstream timeout, or a 5xx.
    Trouble,
    /// Says nothing about the vendor's health.
    Silent,
}

impl Verdict {
    /// Classifies an outcome. `vendors_timeout`: the attempt's time limit
    /// was the facade's upstream timeout, not the caller's deadline, so
    /// that a timeout is the vendor's slowness (a caller's short deadline
    /// never opens the circuit).
    pub fn of<T>(outcome: &Result<T, UpstreamError>, vendors_timeout: bool) -> Verdict {
        match outcome {
            Ok(_) => Verdict::Answered,
            Err(UpstreamError::Connect { .. } | UpstreamError::ConnectionLost { .. }) => {
                Verdict::Trouble
            }
            Err(UpstreamError::Timeout { .. }) if vendors_timeout => Verdict::Trouble,
            Err(UpstreamError::Timeout { .. }) => Verdict::Silent,
            Err(UpstreamError::Vendor(vendor)) if vendor.http_status >= 500 => Verdict::Trouble,
            Err(UpstreamError::Vendor(_)) => Verdict::Answered,
            // A 2xx the facade cannot read, or a request never built: the
            // vendor's availability is not in question.
            Err(UpstreamError::UnparseableResponse { .. } | UpstreamError::BuildRequest { .. }) => {
                Verdict::Silent
            }
        }
    }
}

/// A call the circuit refused: nothing was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub api: Api,
    /// When a call may be let through again: the cool-down left, or, while
    /// a probe runs, a short hint (its answer is due within moments).
    pub retry_after: Duration,
}

/// The hint given while a probe is in flight (at most the cool-down).
const PROBE_RETRY_HINT: Duration = Duration::from_secs(1);

#[derive(Debug)]
enum Phase {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

#[derive(Debug)]
struct Inner {
    phase: Phase,
    /// Bumped each time the circuit opens: an answer to a call sent
    /// before that (slow, still in flight) is about the past and ignored.
    epoch: u64,
}

/// Where an outcome moves a circuit (only an admission turns it half-open).
enum Settle {
    Open,
    Close,
}

/// One family's state machine: closed → open → half-open → closed or open.
#[derive(Debug)]
pub struct Circuit {
    api: Api,
    settings: CircuitSettings,
    inner: Mutex<Inner>,
}

/// What a ticket was admitted as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The breaker is off, or the ticket was reported.
    Unchecked,
    /// Sent while closed, in this epoch.
    Closed { epoch: u64 },
    /// The one probe of a half-open circuit.
    Probe,
}

/// Leave to send one call. Give it back with [`Circuit::report`]; dropped
/// unreported (the call was cancelled, or refused before sending), a probe
/// frees its place for the next call.
#[derive(Debug)]
#[must_use = "report the call's outcome, or drop the ticket if nothing was sent"]
pub struct Ticket<'a> {
    circuit: &'a Circuit,
    kind: Kind,
}

impl Ticket<'_> {
    /// Whether this call is the half-open circuit's probe.
    pub fn is_probe(&self) -> bool {
        self.kind == Kind::Probe
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if self.kind != Kind::Probe {
            return;
        }
        if let Phase::HalfOpen { probing } = &mut self.circuit.lock().phase {
            *probing = false;
        }
    }
}

impl Circuit {
    pub fn new(api: Api, settings: CircuitSettings) -> Self {
        Self {
            api,
            settings,
            inner: Mutex::new(Inner {
                phase: Phase::Closed { failures: 0 },
                epoch: 0,
            }),
        }
    }

    pub fn state(&self) -> State {
        self.lock().phase.state()
    }

    /// Asks to send a call now. With the ticket comes the new state when
    /// this admission changed it (an open circuit whose cool-down ended
    /// turns half-open, and this call is its probe).
    pub fn admit(&self) -> Result<(Ticket<'_>, Option<State>), Refusal> {
        let ticket = |kind| Ticket {
            circuit: self,
            kind,
        };
        if !self.settings.enabled() {
            return Ok((ticket(Kind::Unchecked), None));
        }
        let refused = |retry_after| Refusal {
            api: self.api,
            retry_after,
        };
        let now = Instant::now();
        let mut inner = self.lock();
        let epoch = inner.epoch;
        match &mut inner.phase {
            Phase::Closed { .. } => Ok((ticket(Kind::Closed { epoch }), None)),
            Phase::Open { until } if now < *until => Err(refused(*until - now)),
            Phase::Open { .. } => {
                inner.phase = Phase::HalfOpen { probing: true };
                Ok((ticket(Kind::Probe), Some(State::HalfOpen)))
            }
            Phase::HalfOpen { probing: true } => {
                Err(refused(PROBE_RETRY_HINT.min(self.settings.cooldown)))
            }
            Phase::HalfOpen { probing } => {
                *probing = true;
                Ok((ticket(Kind::Probe), None))
            }
        }
    }

    /// Gives back a ticket with what its call's outcome says; returns the
    /// new state when the outcome changed it.
    pub fn report(&self, mut ticket: Ticket<'_>, verdict: Verdict) -> Option<State> {
        // Settled here, not by the ticket's drop.
        let kind = std::mem::replace(&mut ticket.kind, Kind::Unchecked);
        drop(ticket);
        let mut guard = self.lock();
        let inner = &mut *guard;
        let current = inner.epoch;
        let next = match (kind, &mut inner.phase) {
            (Kind::Closed { epoch }, Phase::Closed { failures }) if epoch == current => {
                match verdict {
                    Verdict::Answered => *failures = 0,
                    Verdict::Trouble => *failures += 1,
                    Verdict::Silent => {}
                }
                (*failures >= self.settings.failures).then_some(Settle::Open)
            }
            (Kind::Probe, Phase::HalfOpen { probing }) => match verdict {
                Verdict::Answered => Some(Settle::Close),
                Verdict::Trouble => Some(Settle::Open),
                Verdict::Silent => {
                    *probing = false;
                    None
                }
            },
            // Off; or sent before the circuit last opened, so about the
            // past; or a probe of a circuit nothing else can have moved.
            _ => None,
        }?;
        Some(match next {
            Settle::Open => {
                inner.epoch += 1;
                inner.phase = Phase::Open {
                    until: Instant::now() + self.settings.cooldown,
                };
                State::Open
            }
            Settle::Close => {
                inner.phase = Phase::Closed { failures: 0 };
                State::Closed
            }
        })
    }

    // No code panics while holding the lock with the state half-updated.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The metric label of a family: its health entry's last part.
pub fn family_label(api: Api) -> &'static str {
    let name = crate::upstream_health::service_name(api);
    name.rsplit_once('.').map_or(name, |(_, last)| last)
}

/// Sets the one-hot state gauge of `api`'s circuit.
fn show_state(metrics: &Metrics, api: Api, current: State) {
    for state in State::ALL {
        metrics.circuit_state(family_label(api), state.as_str(), state == current);
    }
}

/// The circuits of both families, with their metrics.
#[derive(Debug)]
pub struct Circuits {
    idcloud: Circuit,
    id: Circuit,
    settings: CircuitSettings,
    metrics: std::sync::Arc<Metrics>,
}

impl Circuits {
    /// Both closed.
    pub fn new(settings: CircuitSettings, metrics: std::sync::Arc<Metrics>) -> Self {
        for api in [Api::IdCloud, Api::Id] {
            show_state(&metrics, api, State::Closed);
        }
        Self {
            idcloud: Circuit::new(Api::IdCloud, settings),
            id: Circuit::new(Api::Id, settings),
            settings,
            metrics,
        }
    }

    pub fn of(&self, api: Api) -> &Circuit {
        match api {
            Api::IdCloud => &self.idcloud,
            Api::Id => &self.id,
        }
    }

    /// [`Circuit::admit`] on `api`'s circuit, counted; the state change, if
    /// any, comes back for the health entries.
    pub fn admit(&self, api: Api) -> Result<(Ticket<'_>, Option<State>), Refusal> {
        match self.of(api).admit() {
            Ok((ticket, changed)) => {
                self.changed(api, changed);
                Ok((ticket, changed))
            }
            Err(refusal) => {
                self.metrics.circuit_rejection(family_label(api));
                Err(refusal)
            }
        }
    }

    /// [`Circuit::report`] on `api`'s circuit, counted.
    pub fn report(&self, api: Api, ticket: Ticket<'_>, verdict: Verdict) -> Option<State> {
        let changed = self.of(api).report(ticket, verdict);
        self.changed(api, changed);
        changed
    }

    fn changed(&self, api: Api, changed: Option<State>) {
        let Some(state) = changed else { return };
        let label = family_label(api);
        show_state(&self.metrics, api, state);
        self.metrics.circuit_transition(label, state.as_str());
        match state {
            State::Open => tracing::warn!(
                upstream = label,
                cooldown_ms = self.settings.cooldown.as_millis() as u64,
                "upstream circuit opened: calls are refused until a probe succeeds"
            ),
            State::HalfOpen => {
                tracing::info!(upstream = label, "upstream circuit half-open: one probe")
            }
            State::Closed => tracing::info!(upstream = label, "upstream circuit closed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::VendorError;

    const COOLDOWN: Duration = Duration::from_millis(200);

    fn circuit() -> Circuit {
        Circuit::new(
            Api::IdCloud,
            CircuitSettings {
                failures: 3,
                cooldown: COOLDOWN,
            },
        )
    }

    fn call(circuit: &Circuit, verdict: Verdict) -> Option<State> {
        let (ticket, _) = circuit.admit().expect("admitted");
        circuit.report(ticket, verdict)
    }

    fn vendor(status: u16) -> Result<(), UpstreamError> {
        Err(UpstreamError::Vendor(VendorError {
            http_status: status,
            code: None,
            message: None,
            retry_after: None,
            body_excerpt: String::new(),
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_trouble_opens_it_and_an_answer_in_between_resets_the_count() {
        let circuit = circuit();
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Answered), None);
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Silent), None);
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(circuit.state(), State::Closed);
        assert_eq!(call(&circuit, Verdict::Trouble), Some(State::Open));

        let refusal = circuit.admit().unwrap_err();
        assert_eq!(refusal.retry_after, COOLDOWN);
        tokio::time::advance(Duration::from_millis(150)).await;
        let refusal = circuit.admit().unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_millis(50));
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cooldown_exactly_one_probe_is_let_through() {
        let circuit = circuit();
        for _ in 0..3 {
            let _ = call(&circuit, Verdict::Trouble);
        }
        tokio::time::advance(COOLDOWN).await;
        let (probe, changed) = circuit.admit().expect("the probe");
        assert!(probe.is_probe());
        assert_eq!(changed, Some(State::HalfOpen));
        for _ in 0..3 {
            let refusal = circuit.admit().unwrap_err();
            assert_eq!(
                refusal.retry_after, COOLDOWN,
                "a short hint, ≤ the cool-down"
            );
        }
        assert_eq!(
            circuit.report(probe, Verdict::Answered),
            Some(State::Closed)
        );
        assert_eq!(call(&circuit, Verdict::Answered), None);
        assert_eq!(circuit.state(), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_troubled_probe_reopens_it_for_a_whole_cooldown() {
        let circuit = circuit();
        for _ in 0..3 {
            let _ = call(&circuit, Verdict::Trouble);
        }
        tokio::time::advance(COOLDOWN).await;
        tokio::time::advance(Duration::from_millis(30)).await;
        let (probe, _) = circuit.admit().unwrap();
        assert_eq!(circuit.report(probe, Verdict::Trouble), Some(State::Open));
        assert_eq!(circuit.admit().unwrap_err().retry_after, COOLDOWN);
        tokio::time::advance(COOLDOWN).await;
        assert!(circuit.admit().unwrap().0.is_probe());
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_ends_without_a_verdict_frees_its_place() {
        let circuit = circuit();
        for _ in 0..3 {
            let _ = call(&circuit, Verdict::Trouble);
        }
        tokio::time::advance(COOLDOWN).await;
        // Cancelled by its caller: dropped unreported.
        let (probe, _) = circuit.admit().unwrap();
        drop(probe);
        assert_eq!(circuit.state(), State::HalfOpen);
        // Its caller's deadline ran out: silent.
        let (probe, changed) = circuit.admit().expect("a new probe");
        assert_eq!(changed, None);
        assert_eq!(circuit.report(probe, Verdict::Silent), None);
        let (probe, _) = circuit.admit().expect("and another");
        assert_eq!(
            circuit.report(probe, Verdict::Answered),
            Some(State::Closed)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn answers_to_calls_sent_before_it_opened_are_ignored() {
        let circuit = circuit();
        let (slow_success, _) = circuit.admit().unwrap();
        let (slow_failure, _) = circuit.admit().unwrap();
        let (slower_failure, _) = circuit.admit().unwrap();
        for _ in 0..3 {
            let _ = call(&circuit, Verdict::Trouble);
        }
        assert_eq!(circuit.report(slow_success, Verdict::Answered), None);
        assert_eq!(circuit.report(slow_failure, Verdict::Trouble), None);
        assert_eq!(circuit.state(), State::Open);
        assert_eq!(circuit.admit().unwrap_err().retry_after, COOLDOWN);

        tokio::time::advance(COOLDOWN).await;
        let (probe, _) = circuit.admit().unwrap();
        assert_eq!(
            circuit.report(probe, Verdict::Answered),
            Some(State::Closed)
        );
        // Closed again: a failure sent before the opening does not count.
        assert_eq!(circuit.report(slower_failure, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Trouble), None);
        assert_eq!(call(&circuit, Verdict::Trouble), Some(State::Open));
    }

    #[tokio::test(start_paused = true)]
    async fn off_it_lets_everything_through() {
        let circuit = Circuit::new(
            Api::Id,
            CircuitSettings {
                failures: 0,
                cooldown: COOLDOWN,
            },
        );
        for _ in 0..100 {
            assert_eq!(call(&circuit, Verdict::Trouble), None);
        }
        assert_eq!(circuit.state(), State::Closed);
    }

    #[test]
    fn verdicts_by_phase() {
        let timeout = || -> Result<(), UpstreamError> {
            Err(UpstreamError::Timeout {
                budget: Duration::from_secs(1),
            })
        };
        assert_eq!(Verdict::of(&Ok(()), true), Verdict::Answered);
        assert_eq!(Verdict::of(&vendor(503), true), Verdict::Trouble);
        assert_eq!(Verdict::of(&vendor(500), false), Verdict::Trouble);
        for status in [400, 401, 403, 404, 409, 410, 429] {
            assert_eq!(
                Verdict::of(&vendor(status), true),
                Verdict::Answered,
                "{status}"
            );
        }
        assert_eq!(Verdict::of(&timeout(), true), Verdict::Trouble);
        assert_eq!(
            Verdict::of(&timeout(), false),
            Verdict::Silent,
            "the caller's deadline ran out first"
        );
        let unparseable: Result<(), _> = Err(UpstreamError::UnparseableResponse {
            http_status: 200,
            detail: String::new(),
        });
        assert_eq!(Verdict::of(&unparseable, true), Verdict::Silent);
        let unbuilt: Result<(), _> = Err(UpstreamError::BuildRequest {
            detail: String::new(),
        });
        assert_eq!(Verdict::of(&unbuilt, true), Verdict::Silent);
    }
}
