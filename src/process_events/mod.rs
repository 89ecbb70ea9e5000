//! The fan-out of "this process finished" notices: the webhook receiver
//! publishes a process id, and every WatchProcess of that process wakes and
//! reads it. A notice carries no state: the watch always reads the process
//! from the vendor, so a forged or duplicated notice costs one read and can
//! never end a watch by itself.
//!
//! In one replica the notices travel on an in-process broadcast channel.
//! With a shared Redis ([`fanout`]), a notice received by one replica is
//! also published to the others, so a watch open on any replica wakes.

mod fanout;

use std::sync::Arc;

use tokio::sync::broadcast;

pub use self::fanout::{FANOUT_CHANNEL, Fanout};
use crate::service::Wake;

/// Notices buffered per subscriber before the oldest are dropped; a watch
/// that falls that far behind reads its process anyway (see [`Subscription`]).
const CAPACITY: usize = 1024;

/// What travels to the watches of this replica.
#[derive(Debug, Clone)]
enum Notice {
    /// This process may have changed.
    Process(Arc<str>),
    /// Notices from other replicas may have been missed (the fan-out was
    /// down): every watch reads its process once.
    Everyone,
}

/// The publisher side, shared by the webhook receiver and the watches.
#[derive(Debug, Clone)]
pub struct ProcessEvents {
    sender: broadcast::Sender<Notice>,
    fanout: Option<Arc<Fanout>>,
}

impl Default for ProcessEvents {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
            fanout: None,
        }
    }
}

impl ProcessEvents {
    /// Notices shared with the other replicas through `fanout`.
    pub fn shared(fanout: Fanout) -> Self {
        Self {
            fanout: Some(Arc::new(fanout)),
            ..Self::default()
        }
    }

    /// Tells the watches of `process_id`, here and (with a fan-out) on every
    /// other replica, that it may have changed. Never waits for Redis: the
    /// local watches wake at once and the fan-out is sent in the background.
    pub fn publish(&self, process_id: &str) {
        self.wake_local(process_id);
        if let Some(fanout) = &self.fanout {
            fanout.publish(process_id);
        }
    }

    /// Wakes the watches of this replica only.
    fn wake_local(&self, process_id: &str) {
        // No subscriber is not an error: nobody is watching that process.
        let _ = self.sender.send(Notice::Process(Arc::from(process_id)));
    }

    /// Wakes every watch of this replica.
    fn wake_everyone(&self) {
        let _ = self.sender.send(Notice::Everyone);
    }

    /// Starts receiving the other replicas' notices, until the returned task
    /// is aborted; `None` without a fan-out.
    pub fn start_fanout(&self) -> Option<tokio::task::JoinHandle<()>> {
        let fanout = self.fanout.clone()?;
        Some(tokio::spawn(fanout.receive(self.clone())))
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
    receiver: broadcast::Receiver<Notice>,
    process_id: Arc<str>,
}

impl Wake for Subscription {
    async fn changed(&mut self) {
        loop {
            match self.receiver.recv().await {
                Ok(Notice::Process(id)) if id == self.process_id => return,
                Ok(Notice::Process(_)) => {}
                Ok(Notice::Everyone) => return,
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

    #[tokio::test]
    async fn a_gap_in_the_fanout_wakes_every_watch() {
        let events = ProcessEvents::default();
        let mut one = events.subscribe("p-1");
        let mut two = events.subscribe("p-2");
        events.wake_everyone();
        for watch in [&mut one, &mut two] {
            tokio::time::timeout(Duration::from_millis(50), watch.changed())
                .await
                .expect("every watch reads after a gap");
        }
    }
}
