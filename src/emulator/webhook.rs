//! The vendor's finished-process webhook, delivered by the emulator: when a
//! journey is finished through the admin API, its notice is POSTed to the
//! configured URL with the configured authentication (HTTP Basic, an API-key
//! header, or none), at least once: a failed attempt (no answer or not 2xx)
//! is retried with exponential backoff, as the vendor does. The target's
//! `copies` and `delayMs` script the faults a receiver must survive: `2`
//! delivers twice, `0` never, a delay delivers late.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::journeys::JourneyEnd;

/// Attempts per copy before the emulator gives up on it.
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Where and how notices are delivered.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookTarget {
    pub url: String,
    #[serde(default)]
    pub auth: WebhookAuth,
    /// Deliveries of each notice: 1 (default), 2 for a duplicate, 0 for none.
    #[serde(default = "one")]
    pub copies: u32,
    /// The wait before the first delivery, in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

fn one() -> u32 {
    1
}

// The secret is not printed, even by the emulator.
impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("copies", &self.copies)
            .field("delay_ms", &self.delay_ms)
            .finish_non_exhaustive()
    }
}

/// How the emulator authenticates to the receiver.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum WebhookAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: String,
    },
    ApiKey {
        header: String,
        value: String,
    },
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WebhookAuth::None => "None",
            WebhookAuth::Basic { .. } => "Basic(<redacted>)",
            WebhookAuth::ApiKey { .. } => "ApiKey(<redacted>)",
        })
    }
}

/// One attempt, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub process_id: String,
    /// The receiver's HTTP status; `None` when it did not answer.
    pub status: Option<u16>,
}

/// The sender side: its target and what it delivered.
#[derive(Debug, Default)]
pub(super) struct WebhookSender {
    target: Mutex<Option<WebhookTarget>>,
    deliveries: Mutex<Vec<WebhookDelivery>>,
}

impl WebhookSender {
    pub(super) fn new(target: Option<WebhookTarget>) -> Self {
        Self {
            target: Mutex::new(target),
            deliveries: Mutex::default(),
        }
    }

    pub(super) fn set_target(&self, target: Option<WebhookTarget>) {
        *lock(&self.target) = target;
    }

    pub(super) fn deliveries(&self) -> Vec<WebhookDelivery> {
        lock(&self.deliveries).clone()
    }

    /// Schedules the notice of a finished journey; returns at once.
    pub(super) fn notify(self: &Arc<Self>, process_id: &str, flow: &str, end: JourneyEnd) {
        let Some(target) = lock(&self.target).clone() else {
            return;
        };
        let mut payload = json!({
            "processId": process_id,
            "state": "PROCESS_STATE_FINISHED",
            "flow": flow,
            "result": end.webhook_word(),
        });
        if end == JourneyEnd::Expired {
            payload["lastEvent"] = json!("EVENT_TYPE_PROCESS_EXPIRED");
            payload["lastEventDescription"] = json!("the process expired");
        }
        let sender = Arc::clone(self);
        let process_id = process_id.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(target.delay_ms)).await;
            for _ in 0..target.copies {
                sender.deliver(&target, &process_id, &payload).await;
            }
        });
    }

    /// One copy, retried until a 2xx or [`ATTEMPTS`].
    async fn deliver(&self, target: &WebhookTarget, process_id: &str, payload: &Value) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let Ok(client) = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
        else {
            return;
        };
        let mut pause = FIRST_RETRY;
        for _ in 0..ATTEMPTS {
            let request = client.post(&target.url).json(payload);
            let request = match &target.auth {
                WebhookAuth::None => request,
                WebhookAuth::Basic { username, password } => {
                    request.basic_auth(username, Some(password))
                }
                WebhookAuth::ApiKey { header, value } => request.header(header, value),
            };
            let status = request.send().await.ok().map(|r| r.status().as_u16());
            lock(&self.deliveries).push(WebhookDelivery {
                process_id: process_id.to_owned(),
                status,
            });
            if status.is_some_and(|s| (200..300).contains(&s)) {
                return;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
