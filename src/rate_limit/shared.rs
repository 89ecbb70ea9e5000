//! The tenant's budget in Redis, one for every replica: a GCRA whose state
//! (the theoretical arrival time, and a hold after a vendor 429) lives in
//! Redis and is read and moved by one Lua script per call (`EVALSHA`, with
//! `EVAL` when the server does not know it yet), on the server's clock, so
//! that replicas whose clocks disagree still share one schedule. The
//! script reserves the slot and returns the wait; the call sleeps here.
//!
//! Redis slow (beyond the store timeout) or unreachable: the call, and
//! every call for the probe back-off after it, uses this replica's local
//! share (`rate / replicas`) instead, so that a store outage neither stops
//! traffic nor multiplies it by the replica count. After the back-off one
//! call tries Redis again (the others stay local meanwhile); its success
//! brings every call back to the shared budget. Each change of mode is
//! logged once and shows in the metrics.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{Script, aio::ConnectionManager};
use tokio::time::Instant;

use super::{LocalSchedule, Mode, RateLimitSettings, TenantKey};
use crate::metrics::Metrics;

pub struct SharedBudget {
    connection: ConnectionManager,
    reserve: Script,
    hold: Script,
    /// The budget's keys: its theoretical arrival time and its hold.
    tat_key: String,
    hold_key: String,
    interval: Duration,
    /// This replica's share, while Redis cannot be used.
    fallback: LocalSchedule,
    timeout: Duration,
    backoff: Duration,
    state: Mutex<State>,
    metrics: Arc<Metrics>,
}

// The keys are digests and the connection holds the URL: neither prints.
impl std::fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedBudget")
            .field("interval", &self.interval)
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

/// Which budget calls use, and when Redis may be tried again.
#[derive(Debug, Clone, Copy)]
enum State {
    Shared,
    Local {
        /// When one call may try Redis again.
        probe_at: Instant,
        /// A call is trying it now.
        probing: bool,
    },
}

/// Where one call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// To Redis (in shared mode, or as the probe).
    Redis,
    /// To the local share.
    Local,
}

/// What Redis answered.
enum Reservation {
    /// A slot `wait` after the answer.
    Granted { wait: Duration, answered: Instant },
    /// No slot before the deadline; it would have been `wait` away.
    Refused { wait: Duration },
}

/// How long the start waits for the first connection to Redis: a new
/// connection costs a handshake that the first calls should not pay within
/// the store timeout.
const FIRST_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl SharedBudget {
    pub(super) async fn new(
        connection: ConnectionManager,
        tenant: TenantKey,
        interval: Duration,
        fallback: LocalSchedule,
        settings: &RateLimitSettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tat_key, hold_key) = tenant.redis_keys();
        let budget = Self {
            connection,
            reserve: Script::new(include_str!("reserve.lua")),
            hold: Script::new(include_str!("hold.lua")),
            tat_key,
            hold_key,
            interval,
            fallback,
            timeout: settings.store_timeout,
            backoff: settings.probe_backoff,
            state: Mutex::new(State::Shared),
            metrics,
        };
        budget.metrics.rate_limit_mode(Mode::Shared.name());
        budget.connect().await;
        budget
    }

    /// Opens the connection (and loads the scripts) before the first call;
    /// if Redis cannot be reached, calls start on the local share.
    async fn connect(&self) {
        let mut connection = self.connection.clone();
        let load = async {
            self.reserve.load_async(&mut connection).await?;
            self.hold.load_async(&mut connection).await
        };
        match tokio::time::timeout(FIRST_CONNECT_TIMEOUT, load).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => self.unreachable(Failure::Failed(error.kind())),
            Err(_) => self.unreachable(Failure::Timeout),
        }
    }

    /// The budget in use now.
    pub fn mode(&self) -> Mode {
        match *self.lock() {
            State::Shared => Mode::Shared,
            State::Local { .. } => Mode::Local,
        }
    }

    /// The spacing of this replica's calls while it uses its local share.
    pub fn local_interval(&self) -> Duration {
        self.fallback.interval()
    }

    /// Waits for this call's slot in the shared budget (or the local share,
    /// see the module doc), or refuses at once when it is after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Duration> {
        if self.route() == Route::Redis {
            let unsettled = Unsettled(self);
            let reservation = self.reserve(deadline).await;
            unsettled.settle();
            match reservation {
                Ok(Reservation::Granted { wait, answered }) => {
                    self.reached();
                    // From the answer, not the request: late rather than
                    // early, so that slots never come closer than the
                    // interval. No timer for no wait: a timer rounds up to
                    // the next millisecond tick.
                    if !wait.is_zero() {
                        tokio::time::sleep_until(answered + wait).await;
                    }
                    return Ok(());
                }
                Ok(Reservation::Refused { wait }) => {
                    self.reached();
                    return Err(wait);
                }
                Err(failure) => self.unreachable(failure),
            }
        }
        self.fallback.acquire(deadline).await
    }

    /// A vendor 429: no replica sends for `hold`. The local share is held
    /// too, for the case Redis fails before the hold ends.
    pub async fn hold_for(&self, hold: Duration) {
        self.fallback.hold_for(hold);
        if self.route() == Route::Local {
            return;
        }
        let mut connection = self.connection.clone();
        let mut invocation = self.hold.key(&self.hold_key);
        invocation.arg(micros(hold));
        let unsettled = Unsettled(self);
        let outcome = tokio::time::timeout(
            self.timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await;
        unsettled.settle();
        match outcome {
            Ok(Ok(_)) => self.reached(),
            Ok(Err(error)) => self.unreachable(Failure::Failed(error.kind())),
            Err(_) => self.unreachable(Failure::Timeout),
        }
    }

    async fn reserve(&self, deadline: Instant) -> Result<Reservation, Failure> {
        let mut connection = self.connection.clone();
        let max_wait = deadline.saturating_duration_since(Instant::now());
        let mut invocation = self.reserve.key(&self.tat_key);
        invocation
            .key(&self.hold_key)
            .arg(micros(self.interval))
            .arg(micros(max_wait));
        let (granted, wait): (i64, i64) =
            tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection))
                .await
                .map_err(|_| Failure::Timeout)?
                .map_err(|error| Failure::Failed(error.kind()))?;
        let wait = Duration::from_micros(u64::try_from(wait).unwrap_or(0));
        Ok(match granted {
            1 => Reservation::Granted {
                wait,
                answered: Instant::now(),
            },
            _ => Reservation::Refused { wait },
        })
    }

    /// Where this call goes: Redis in shared mode; in local mode, Redis for
    /// the one call that probes it once the back-off is over.
    fn route(&self) -> Route {
        let mut state = self.lock();
        match *state {
            State::Shared => Route::Redis,
            State::Local { probe_at, probing } if !probing && Instant::now() >= probe_at => {
                *state = State::Local {
                    probe_at,
                    probing: true,
                };
                Route::Redis
            }
            State::Local { .. } => Route::Local,
        }
    }

    /// Redis answered: back to (or still in) the shared budget.
    fn reached(&self) {
        let mut state = self.lock();
        if let State::Local { .. } = *state {
            *state = State::Shared;
            drop(state);
            tracing::info!("the shared rate budget (Redis) is reachable again: back to it");
            self.metrics.rate_limit_mode(Mode::Shared.name());
        }
    }

    /// Redis did not answer in time, or failed: the local share, until
    /// the back-off is over.
    fn unreachable(&self, failure: Failure) {
        let probe_at = Instant::now() + self.backoff;
        let mut state = self.lock();
        let was_shared = matches!(*state, State::Shared);
        *state = State::Local {
            probe_at,
            probing: false,
        };
        drop(state);
        if was_shared {
            tracing::warn!(
                error = %failure,
                local_interval = ?self.fallback.interval(),
                "the shared rate budget (Redis) is unreachable: this replica keeps to its local share"
            );
            self.metrics.rate_limit_fallback();
            self.metrics.rate_limit_mode(Mode::Local.name());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic cannot leave the state half-written: poisoning is moot.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A call on its way to Redis. Dropped before it settles (the caller went
/// away mid-command), it releases the probe it may hold, so that another
/// call probes after it; settled, it is forgotten.
struct Unsettled<'a>(&'a SharedBudget);

impl Unsettled<'_> {
    /// The command settled: its outcome decides the mode, not the drop.
    fn settle(self) {
        std::mem::forget(self);
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        if let State::Local { probe_at, .. } = *state {
            *state = State::Local {
                probe_at,
                probing: false,
            };
        }
    }
}

/// Why Redis could not be used: its error kind only, never the command
/// (whose keys are the tenant's digest) or the URL.
#[derive(Debug)]
enum Failure {
    Timeout,
    Failed(redis::ErrorKind),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no answer within the store timeout"),
            Failure::Failed(kind) => write!(f, "{kind:?}"),
        }
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}
