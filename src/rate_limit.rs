//! The outgoing rate limit (optional): the vendor allows a few requests per
//! second per tenant and answers 429 beyond. Each upstream call reserves the
//! next free slot of an evenly spaced schedule (one every `1/rate`, with a
//! burst allowance); a call whose slot falls after its deadline is refused at
//! once without reserving, so a burst becomes a short queue, not a storm of
//! 429s. (A reservation that can be refused by deadline is what the
//! ecosystem's rate limiters do not offer, hence this small scheduler.)

use std::{fmt, str::FromStr, sync::Mutex, time::Duration};

use tokio::time::Instant;

/// A rate such as `10/s` or `600/m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub calls: u32,
    pub per: Duration,
}

impl Rate {
    fn interval(self) -> Duration {
        self.per / self.calls
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

/// The schedule of upstream calls.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    /// The earliest time the next call may go.
    next_slot: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self {
            rate,
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// Waits for this call's slot, or refuses at once (with the wait it
    /// would have needed) when the slot is after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Duration> {
        let slot = {
            let mut next = self
                .next_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let slot = (*next).max(now);
            if slot > deadline {
                return Err(slot - now);
            }
            *next = slot + self.rate.interval();
            slot
        };
        tokio::time::sleep_until(slot).await;
        Ok(())
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
        for bad in ["10", "0/s", "-1/s", "ten/s", "10/h", ""] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spaced_evenly_and_refused_past_the_deadline() {
        let limiter = RateLimiter::new("10/s".parse().unwrap());
        let start = Instant::now();
        let deadline = start + Duration::from_millis(450);
        let mut admitted = Vec::new();
        for _ in 0..10 {
            match limiter.acquire(deadline).await {
                Ok(()) => admitted.push(Instant::now() - start),
                Err(wait) => assert!(wait > Duration::from_millis(0)),
            }
        }
        let expected: Vec<Duration> = (0..5).map(|i| Duration::from_millis(100 * i)).collect();
        assert_eq!(
            admitted, expected,
            "slots 0, 100 … 400 ms; the rest would miss the deadline"
        );
    }
}
