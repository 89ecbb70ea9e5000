//! Webhook notices shared by every replica through Redis pub/sub: the
//! vendor delivers a finished-process webhook to one replica, while the
//! caller's WatchProcess may be open on another.
//!
//! Each notice is published on [`FANOUT_CHANNEL`] sealed with the
//! idempotency keyring (AES-GCM, bound to the channel): Redis and anyone
//! listening on it see neither the process id nor which replica sent it,
//! and a message that does not open is dropped. A replica skips its own
//! notices (it woke its watches already) by the random origin id inside.
//!
//! Pub/sub keeps nothing: while a replica is not subscribed it misses the
//! others' notices. Its watches then still poll at the watch fallback
//! interval, and when the subscription returns every watch reads its
//! process once, so a missed notice costs latency, never a result. Losing
//! and regaining the subscription is logged once per transition and shown
//! by the `webhook_fanout_connected` gauge.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;

use super::ProcessEvents;
use crate::{
    idempotency::Keyring,
    metrics::Metrics,
    store::{RedisSettings, RedisUrlError},
};

/// The channel every replica publishes to and subscribes to.
pub const FANOUT_CHANNEL: &str = "unico-facade:process-finished:v1";
/// The sealing context: a message sealed for another use does not open here.
const CONTEXT: &[u8] = FANOUT_CHANNEL.as_bytes();
/// How long connecting, subscribing, publishing or a ping may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);
/// How often an idle subscription is checked (a silently dead connection
/// delivers nothing and reports nothing).
const PING_INTERVAL: Duration = Duration::from_secs(10);
/// Retries of a lost subscription back off from the first to the last.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_LAST: Duration = Duration::from_secs(5);
/// Bytes of the random origin id at the head of a notice.
const ORIGIN_LEN: usize = 16;

/// The connection to the other replicas.
pub struct Fanout {
    client: redis::Client,
    publisher: ConnectionManager,
    keyring: Keyring,
    origin: [u8; ORIGIN_LEN],
    metrics: Arc<Metrics>,
    /// The subscription's last logged state: 0 never, 1 up, 2 down.
    state: AtomicU8,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fanout(redis)")
    }
}

impl Fanout {
    /// Connects lazily: the facade starts while Redis is down.
    pub fn new(
        settings: &RedisSettings,
        keyring: Keyring,
        metrics: Arc<Metrics>,
    ) -> Result<Self, RedisUrlError> {
        Ok(Self {
            client: crate::store::client(settings)?,
            publisher: settings.connection_manager()?,
            keyring,
            origin: *uuid::Uuid::new_v4().as_bytes(),
            metrics,
            state: AtomicU8::new(0),
        })
    }

    /// Sends `process_id` to the other replicas in the background; a failure
    /// is counted (their watches fall back to polling), never waited for.
    pub(super) fn publish(self: &Arc<Self>, process_id: &str) {
        let message = self.seal(process_id);
        let fanout = self.clone();
        tokio::spawn(async move {
            let mut connection = fanout.publisher.clone();
            let mut command = redis::cmd("PUBLISH");
            command.arg(FANOUT_CHANNEL).arg(message);
            let publish = command.query_async::<i64>(&mut connection);
            let outcome = match tokio::time::timeout(COMMAND_TIMEOUT, publish).await {
                Ok(Ok(_)) => "published",
                Ok(Err(_)) | Err(_) => "publish_failed",
            };
            fanout.metrics.webhook_fanout(outcome);
        });
    }

    fn seal(&self, process_id: &str) -> Vec<u8> {
        let mut plaintext = Vec::with_capacity(ORIGIN_LEN + process_id.len());
        plaintext.extend_from_slice(&self.origin);
        plaintext.extend_from_slice(process_id.as_bytes());
        self.keyring.seal(&plaintext, CONTEXT)
    }

    /// The process id of another replica's notice; `None` for this
    /// replica's own notices and for messages that do not open.
    fn open(&self, message: &[u8]) -> Option<String> {
        let Ok(plaintext) = self.keyring.open(message, CONTEXT) else {
            self.metrics.webhook_fanout("undecryptable");
            return None;
        };
        let (origin, process_id) = plaintext.split_at_checked(ORIGIN_LEN)?;
        if origin == self.origin {
            return None;
        }
        self.metrics.webhook_fanout("received");
        String::from_utf8(process_id.to_vec()).ok()
    }

    /// Receives the other replicas' notices into `events`, subscribing again
    /// whenever the subscription is lost; runs until aborted.
    pub(super) async fn receive(self: Arc<Self>, events: ProcessEvents) {
        let mut retry = RETRY_FIRST;
        let mut had_gap = false;
        loop {
            if let Ok(pubsub) = self.subscribe().await {
                self.transition(true);
                retry = RETRY_FIRST;
                if had_gap {
                    events.wake_everyone();
                }
                self.relay(pubsub, &events).await;
            }
            had_gap = true;
            self.transition(false);
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(RETRY_LAST);
        }
    }

    async fn subscribe(&self) -> Result<redis::aio::PubSub, ()> {
        let subscribe = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(FANOUT_CHANNEL).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, subscribe).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(_)) | Err(_) => Err(()),
        }
    }

    /// Relays notices until the subscription ends or stops answering pings.
    async fn relay(&self, pubsub: redis::aio::PubSub, events: &ProcessEvents) {
        let (mut sink, mut messages) = pubsub.split();
        let mut ping = tokio::time::interval(PING_INTERVAL);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                message = messages.next() => match message {
                    Some(message) => {
                        if let Some(process_id) = self.open(message.get_payload_bytes()) {
                            events.wake_local(&process_id);
                        }
                    }
                    None => return,
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(COMMAND_TIMEOUT, sink.ping::<redis::Value>());
                    if !matches!(pong.await, Ok(Ok(_))) {
                        return;
                    }
                }
            }
        }
    }

    /// Logs and shows a change of the subscription's state, once per change.
    fn transition(&self, up: bool) {
        self.metrics.webhook_fanout_connected(up);
        let state = if up { 1 } else { 2 };
        let before = self.state.swap(state, Ordering::Relaxed);
        match (before, up) {
            (1, true) | (2, false) => {}
            (_, true) => tracing::info!(
                channel = FANOUT_CHANNEL,
                "webhook fan-out: receiving the other replicas' notices"
            ),
            (_, false) => tracing::warn!(
                channel = FANOUT_CHANNEL,
                "webhook fan-out lost (Redis): watches here miss the other replicas' \
                 webhooks and poll until it returns"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn fanout(keyring: Keyring) -> Fanout {
        let settings = RedisSettings {
            url: SecretString::from("redis://127.0.0.1:1/"),
            password: None,
        };
        Fanout::new(&settings, keyring, Arc::new(Metrics::new())).expect("a valid URL")
    }

    #[tokio::test]
    async fn a_notice_hides_its_process_id_and_opens_on_another_replica_only() {
        let keyring = Keyring::ephemeral();
        let (here, there) = (fanout(keyring.clone()), fanout(keyring));
        let message = here.seal("proc-123");
        assert!(
            !message.windows(8).any(|w| w == b"proc-123"),
            "the process id is not in clear"
        );
        assert_eq!(there.open(&message).as_deref(), Some("proc-123"));
        assert_eq!(here.open(&message), None, "a replica skips its own notice");
    }

    #[tokio::test]
    async fn a_message_sealed_with_other_keys_is_dropped() {
        let ours = fanout(Keyring::ephemeral());
        let theirs = fanout(Keyring::ephemeral());
        assert_eq!(ours.open(&theirs.seal("proc-123")), None);
        assert_eq!(ours.open(b"not a sealed message"), None);
        assert!(
            ours.metrics
                .render()
                .contains("outcome=\"undecryptable\"} 2")
        );
    }
}
