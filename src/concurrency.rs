//! The global limit on concurrent facade calls, with fast rejection: past
//! the limit a call is answered at once with RESOURCE_EXHAUSTED
//! (`OVERLOADED`, RetryInfo) instead of queueing, so that a mesh retries it
//! elsewhere and admitted calls keep their latency.
//!
//! A slot is taken by the handler, that is once the request message has
//! arrived whole: a stream that sends headers and never its message (a
//! slowloris) holds no slot, only a place in the per-connection stream
//! limit until `--request-message-timeout`, and shows in the
//! `rpc_awaiting_message` gauge meanwhile. Health and reflection never
//! take one.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::status::FacadeError;

/// The slots of concurrent calls.
#[derive(Debug, Clone)]
pub struct CallSlots {
    permits: Arc<Semaphore>,
    limit: usize,
}

/// A taken slot, given back when dropped.
#[derive(Debug)]
pub struct CallSlot {
    _permit: OwnedSemaphorePermit,
}

impl CallSlots {
    pub fn new(limit: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A slot now, or none (never a wait): the call is then refused with
    /// [`CallSlots::overloaded`].
    pub fn take(&self) -> Option<CallSlot> {
        let slot = self.permits.clone().try_acquire_owned().ok();
        if slot.is_none() {
            tracing::warn!(
                limit = self.limit,
                "call rejected: concurrency limit reached"
            );
        }
        slot.map(|permit| CallSlot { _permit: permit })
    }

    /// The refusal of a call past the limit.
    pub fn overloaded(&self) -> FacadeError {
        FacadeError::Overloaded { limit: self.limit }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_refused_past_the_limit_and_given_back_when_dropped() {
        let slots = CallSlots::new(2);
        let first = slots.take().unwrap();
        let _second = slots.take().unwrap();
        assert!(slots.take().is_none());
        assert!(matches!(
            slots.overloaded(),
            FacadeError::Overloaded { limit: 2 }
        ));
        drop(first);
        assert!(slots.take().is_some());
    }
}
