//! The in-process fan-out of "this process finished" notices: the webhook
//! receiver publishes a process id, and every WatchProcess of that process
//! wakes and reads it. A notice carries no state: the watch always reads the
//! process from the vendor, so a forged or duplicated notice costs one read
//! and can never end a watch by itself.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::service::Wake;

/// Notices buffered per subscriber before the oldest are dropped; a watch
/// that falls that far behind reads its process anyway (see [`Subscription`]).
const CAPACITY: usize = 1024;

/// The publisher side, shared by the webhook receiver and the watches.
#[derive(Debug, Clone)]
pub struct ProcessEvents {
    sender: broadcast::Sender<Arc<str>>,
}

impl Default for ProcessEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl ProcessEvents {
    /// Tells the watches of `process_id` that it may have changed.
    pub fn publish(&self, process_id: &str) {
        // No subscriber is not an error: nobody is watching that process.
        let _ = self.sender.send(Arc::from(process_id));
    }

    /// The notices for one process, from now on.
    pub(crate) fn subscribe(&self, process_id: &str) -> Subscription {
        Subscription {
            receiver: self.sender.subscribe(),
            process_id: Arc::from(process_id),
        }
    }
}

/// A watch's view of the notices: only its own process.
pub(crate) struct Subscription {
    receiver: broadcast::Receiver<Arc<str>>,
    process_id: Arc<str>,
}

impl Wake for Subscription {
    async fn changed(&mut self) {
        loop {
            match self.receiver.recv().await {
                Ok(id) if id == self.process_id => return,
                Ok(_) => {}
                // Notices were dropped, ours perhaps among them: read.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => {
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_watch_wakes_for_its_process_only() {
        let events = ProcessEvents::default();
        let mut mine = events.subscribe("p-1");
        events.publish("p-2");
        let early = tokio::time::timeout(Duration::from_millis(50), mine.changed()).await;
        assert!(early.is_err(), "another process's notice does not wake it");
        events.publish("p-1");
        tokio::time::timeout(Duration::from_millis(50), mine.changed())
            .await
            .expect("its own notice wakes it");
    }
}
