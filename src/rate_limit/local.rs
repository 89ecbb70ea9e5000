//! The schedule of one process: each upstream call reserves the next free
//! slot of an evenly spaced schedule (one every interval); a call whose
//! slot falls after its deadline is refused at once without reserving, so
//! a burst becomes a short queue, not a storm of 429s. A vendor 429 holds
//! the schedule back ([`LocalSchedule::hold_for`]). (A reservation that can
//! be refused by deadline is what the ecosystem's rate limiters do not
//! offer, hence this small scheduler.)
//!
//! It is the whole limiter without Redis, and the fallback share of the
//! shared budget while Redis cannot be reached.

use std::{sync::Mutex, time::Duration};

use tokio::time::Instant;

#[derive(Debug)]
pub struct LocalSchedule {
    interval: Duration,
    /// The earliest time the next call may go.
    next_slot: Mutex<Instant>,
}

impl LocalSchedule {
    /// A schedule with one slot every `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            next_slot: Mutex::new(Instant::now()),
        }
    }

    /// The spacing of its slots.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this call's slot, or refuses at once (with the wait it
    /// would have needed) when the slot is after `deadline`.
    pub async fn acquire(&self, deadline: Instant) -> Result<(), Duration> {
        let slot = {
            let mut next = self.lock();
            let now = Instant::now();
            let slot = (*next).max(now);
            if slot > deadline {
                return Err(slot - now);
            }
            *next = slot + self.interval;
            (slot > now).then_some(slot)
        };
        // No timer for a free slot: a timer rounds up to the next
        // millisecond tick.
        if let Some(slot) = slot {
            tokio::time::sleep_until(slot).await;
        }
        Ok(())
    }

    /// No slot before `hold` from now (a vendor 429); slots already
    /// reserved are kept.
    pub fn hold_for(&self, hold: Duration) {
        let mut next = self.lock();
        *next = (*next).max(Instant::now() + hold);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Instant> {
        // A panic cannot leave the instant half-written: poisoning is moot.
        self.next_slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_spaced_evenly_and_refused_past_the_deadline() {
        let schedule = LocalSchedule::new(Duration::from_millis(100));
        let start = Instant::now();
        let deadline = start + Duration::from_millis(450);
        let mut admitted = Vec::new();
        for _ in 0..10 {
            match schedule.acquire(deadline).await {
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

    #[tokio::test(start_paused = true)]
    async fn a_hold_delays_the_next_slot_and_never_shortens_one() {
        let schedule = LocalSchedule::new(Duration::from_millis(100));
        let start = Instant::now();
        schedule.hold_for(Duration::from_secs(2));
        schedule.hold_for(Duration::from_millis(500));
        let refused = schedule.acquire(start + Duration::from_secs(1)).await;
        assert_eq!(refused, Err(Duration::from_secs(2)));
        schedule
            .acquire(start + Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(Instant::now() - start, Duration::from_secs(2));
    }
}
