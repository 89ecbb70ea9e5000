//! The outgoing rate limit (optional): the vendor allows a few requests per
//! second per tenant, shared by all of the tenant's replicas, and answers
//! 429 beyond. Every upstream call first reserves a slot: it waits for it
//! within its deadline, or is refused at once when the slot would come
//! after the deadline.
//!
//! Two limiters behind one [`RateLimiter`]:
//! - `local.rs`: an evenly spaced schedule in this process, for a budget of
//!   `rate / replicas` (the whole budget for one replica);
//! - `shared.rs`: with Redis, one GCRA budget for every replica of the
//!   tenant, on the server's clock, falling back to the local share while
//!   Redis is slow or unreachable.
//!
//! A vendor 429 holds the budget back for its `Retry-After` (or
//! [`RateLimitSettings::default_hold`]), for every replica when shared.

mod local;
mod shared;

use std::{fmt, num::NonZeroU32, str::FromStr, sync::Arc, time::Duration};

use sha2::{Digest, Sha256};
use tokio::time::Instant;

pub use self::local::LocalSchedule;
pub use self::shared::SharedBudget;
use crate::{
    config::defaults,
    metrics::Metrics,
    store::{RedisSettings, RedisUrlError},
};

/// A rate such as `10/s` or `600/m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub calls: u32,
    pub per: Duration,
}

impl Rate {
    /// The spacing of calls at this rate.
    pub fn interval(self) -> Duration {
        self.per / self.calls
    }

    /// The spacing of calls that keeps to this rate in every window of
    /// `per` as the vendor sees them, even when sends are late by up to
    /// `guard` relative to one another (timers, connection set-up,
    /// scheduling): `calls` slots span `per + guard`.
    pub fn spacing(self, guard: Duration) -> Duration {
        (self.per + guard) / self.calls
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let (calls, unit) = value
            .split_once('/')
            .ok_or_else(|| format!("`{value}`: expected CALLS/UNIT, e.g. 10/s"))?;
        let calls: u32 = calls
            .trim()
            .parse()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| format!("`{value}`: the number of calls must be a positive integer"))?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            other => return Err(format!("`{value}`: unit `{other}` is not `s` or `m`")),
        };
        Ok(Rate { calls, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = if self.per == Duration::from_secs(60) {
            "m"
        } else {
            "s"
        };
        write!(f, "{}/{unit}", self.calls)
    }
}

/// How the budget is shared and what happens when it cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    /// How many replicas share the tenant's budget when they cannot agree
    /// on it (no Redis, or Redis unreachable): each keeps `rate / replicas`.
    pub replicas: NonZeroU32,
    /// The tenant whose budget this is, as configured; `None`: the
    /// facade-held service account, else one budget for every facade on
    /// the Redis. Only its hash is ever stored.
    pub tenant: Option<String>,
    /// The longest a reservation in Redis may take before this call (and
    /// the calls after it, for [`Self::probe_backoff`]) uses the local share.
    pub store_timeout: Duration,
    /// After a failure, how long calls use the local share before one of
    /// them tries Redis again.
    pub probe_backoff: Duration,
    /// How long a vendor 429 without `Retry-After` holds the budget back.
    pub default_hold: Duration,
    /// How late a send may be against another without a window of the
    /// vendor's seeing one call too many (see [`Rate::spacing`]).
    pub window_guard: Duration,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            replicas: defaults::RATE_LIMIT_REPLICAS,
            tenant: None,
            store_timeout: defaults::RATE_LIMIT_STORE_TIMEOUT,
            probe_backoff: defaults::RATE_LIMIT_PROBE_BACKOFF,
            default_hold: defaults::RATE_LIMIT_HOLD,
            window_guard: defaults::RATE_LIMIT_WINDOW_GUARD,
        }
    }
}

/// The tenant's budget in Redis: a digest of the tenant's name, so that
/// neither the name nor anything it was derived from is stored in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantKey(String);

impl TenantKey {
    /// The key of `tenant`'s budget.
    pub fn of(tenant: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"unico-facade rate budget v1\0");
        hasher.update(tenant.as_bytes());
        Self(hex::encode(&hasher.finalize()[..16]))
    }

    /// The Redis keys of this budget: its theoretical arrival time and its
    /// hold after a 429. One hash tag, so that a cluster keeps both on the
    /// slot the script runs on.
    pub fn redis_keys(&self) -> (String, String) {
        (
            format!("unico-facade:rate:v1:{{{}}}:tat", self.0),
            format!("unico-facade:rate:v1:{{{}}}:hold", self.0),
        )
    }
}

/// Which budget calls use now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The tenant's budget in Redis.
    Shared,
    /// This process's share.
    Local,
}

impl Mode {
    /// Its name in metrics and logs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Shared => "shared",
            Mode::Local => "local",
        }
    }
}

/// The limiter the upstream calls go through.
#[derive(Debug)]
pub struct RateLimiter {
    budget: Budget,
    /// How long a 429 without `Retry-After` holds the budget back.
    default_hold: Duration,
    metrics: Arc<Metrics>,
}

/// Where the budget is kept. Built once at start: the size difference
/// between the variants is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Budget {
    /// No Redis: this process's share of the budget.
    Local(LocalSchedule),
    /// The tenant's budget in Redis, with the local share as fallback.
    Shared(SharedBudget),
}

impl RateLimiter {
    /// The limiter for `rate`: shared when `redis` is given, local
    /// otherwise. `tenant` names the budget when the settings do not.
    /// With Redis, connects first (within a second; calls start on the
    /// local share if Redis cannot be reached).
    pub async fn build(
        rate: Rate,
        settings: &RateLimitSettings,
        redis: Option<&RedisSettings>,
        tenant: &str,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RedisUrlError> {
        let spacing = rate.spacing(settings.window_guard);
        let share = LocalSchedule::new(spacing * settings.replicas.get());
        let budget = match redis {
            None => {
                metrics.rate_limit_mode(Mode::Local.name());
                Budget::Local(share)
            }
            Some(redis) => Budget::Shared(
                SharedBudget::new(
                    redis.connection_manager()?,
                    TenantKey::of(settings.tenant.as_deref().unwrap_or(tenant)),
                    spacing,
                    share,
                    settings,
                    metrics.clone(),
                )
                .await,
            ),
        };
        Ok(Self {
            budget,
            default_hold: settings.default_hold,
            metrics,
        })
    }

    /// Waits for this call's slot, or refuses at once (with the wait it
    /// would have needed) when the slot is after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Duration> {
        match &self.budget {
            Budget::Local(schedule) => schedule.acquire(deadline).await,
            Budget::Shared(budget) => budget.acquire(deadline).await,
        }
    }

    /// The vendor answered 429: hold the budget back for `retry_after`
    /// (or the default), for every replica when shared.
    pub async fn hold(&self, retry_after: Option<Duration>) {
        let hold = retry_after.unwrap_or(self.default_hold);
        self.metrics.rate_limit_hold();
        match &self.budget {
            Budget::Local(schedule) => schedule.hold_for(hold),
            Budget::Shared(budget) => budget.hold_for(hold).await,
        }
    }

    /// The budget in use now.
    pub fn mode(&self) -> Mode {
        match &self.budget {
            Budget::Local(_) => Mode::Local,
            Budget::Shared(budget) => budget.mode(),
        }
    }

    /// The spacing of this process's calls while it uses its local share.
    pub fn local_interval(&self) -> Duration {
        match &self.budget {
            Budget::Local(schedule) => schedule.interval(),
            Budget::Shared(budget) => budget.local_interval(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_bad_ones_are_refused() {
        assert_eq!(
            "10/s".parse(),
            Ok(Rate {
                calls: 10,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            "600/m".parse::<Rate>().unwrap().interval(),
            Duration::from_millis(100)
        );
        assert_eq!(
            "10/s"
                .parse::<Rate>()
                .unwrap()
                .spacing(Duration::from_millis(20)),
            Duration::from_millis(102)
        );
        for bad in ["10", "0/s", "-1/s", "ten/s", "10/h", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_tenant_key_is_a_digest_that_names_nothing() {
        let key = TenantKey::of("svc@acme-tenant.iam.acesso.io");
        let (tat, hold) = key.redis_keys();
        assert!(!tat.contains("acme") && !hold.contains("acme"), "{tat}");
        assert!(tat.starts_with("unico-facade:rate:v1:{") && tat.ends_with("}:tat"));
        assert_eq!(key, TenantKey::of("svc@acme-tenant.iam.acesso.io"));
        assert_ne!(key, TenantKey::of("svc@other.iam.acesso.io"));
    }

    #[tokio::test(start_paused = true)]
    async fn without_redis_a_replica_keeps_to_its_share_and_a_429_holds_it() {
        let settings = RateLimitSettings {
            replicas: NonZeroU32::new(4).unwrap(),
            default_hold: Duration::from_secs(1),
            window_guard: Duration::ZERO,
            ..RateLimitSettings::default()
        };
        let limiter = RateLimiter::build(
            "20/s".parse().unwrap(),
            &settings,
            None,
            "default",
            Arc::new(Metrics::new()),
        )
        .await
        .unwrap();
        assert_eq!(limiter.mode(), Mode::Local);
        // 20/s among 4 replicas: 5/s here.
        assert_eq!(limiter.local_interval(), Duration::from_millis(200));

        let start = Instant::now();
        limiter.hold(None).await;
        limiter
            .acquire(start + Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(Instant::now() - start, Duration::from_secs(1));
        limiter.hold(Some(Duration::from_secs(3))).await;
        assert_eq!(
            limiter.acquire(start + Duration::from_secs(2)).await,
            Err(Duration::from_secs(3))
        );
    }
}
