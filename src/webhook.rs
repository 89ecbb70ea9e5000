//! The receiver of the vendor's finished-process webhook, on a listener of
//! its own (`--webhook-listen`, off by default): `POST /webhooks/process-finished`.
//!
//! In order, before anything is processed: a free slot (at most
//! [`MAX_CONCURRENT`] deliveries at once, else 503 with `Retry-After`; the
//! vendor retries), the credentials the vendor is configured to send (HTTP
//! Basic or an API-key header, compared in constant time; else 401), a body
//! of at most [`MAX_BODY_BYTES`] (else 413), and a payload with a
//! `processId` and a `state` (else 400). Then the answer is 200 at once: the
//! notice is published to the in-process watches ([`ProcessEvents`]), which
//! read the process from the vendor themselves. Deliveries are at least
//! once: a `processId` seen recently is acknowledged as a duplicate and not
//! published again. Every delivery is counted by outcome; no process id,
//! payload or credential is logged.

use std::{
    collections::{HashMap, VecDeque},
    future::Future,
    sync::{Arc, Mutex, PoisonError},
};

use axum::{
    Router,
    body::{Body, to_bytes},
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::{net::TcpListener, sync::Semaphore};

use crate::{domain::ProcessId, metrics::Metrics, process_events::ProcessEvents};

/// The one path the vendor is configured to call.
pub const PATH: &str = "/webhooks/process-finished";
/// A notice is a few hundred bytes; anything much larger is not one.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The vendor sends up to 500 deliveries at a time.
pub const MAX_CONCURRENT: usize = 500;
/// Process ids remembered for idempotency (the oldest forgotten first).
const REMEMBERED: usize = 100_000;
/// The retry hint of a 503.
const RETRY_AFTER_SECONDS: &str = "1";

/// How the vendor authenticates its deliveries.
#[derive(Clone)]
pub enum WebhookAuth {
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        username: String,
        password: SecretString,
    },
    /// The secret as the value of `header`.
    ApiKey {
        header: HeaderName,
        key: SecretString,
    },
}

impl std::fmt::Debug for WebhookAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WebhookAuth::Basic { .. } => f.write_str("Basic(<redacted>)"),
            WebhookAuth::ApiKey { header, .. } => write!(f, "ApiKey({header}: <redacted>)"),
        }
    }
}

impl WebhookAuth {
    /// The header to check and the exact value expected in it.
    fn expected(&self) -> (HeaderName, Vec<u8>) {
        match self {
            WebhookAuth::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose_secret());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                (
                    header::AUTHORIZATION,
                    format!("Basic {encoded}").into_bytes(),
                )
            }
            WebhookAuth::ApiKey { header, key } => {
                (header.clone(), key.expose_secret().as_bytes().to_vec())
            }
        }
    }
}

/// The receiver's settings.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub listen: std::net::SocketAddr,
    pub auth: WebhookAuth,
}

/// What the handler shares.
struct Receiver {
    header: HeaderName,
    expected: Vec<u8>,
    basic: bool,
    slots: Semaphore,
    seen: Mutex<Seen>,
    events: ProcessEvents,
    metrics: Arc<Metrics>,
}

/// Recently seen process ids, bounded.
#[derive(Default)]
struct Seen {
    ids: HashMap<String, ()>,
    order: VecDeque<String>,
}

impl Seen {
    /// `true` the first time an id is seen.
    fn first(&mut self, id: &str) -> bool {
        if self.ids.contains_key(id) {
            return false;
        }
        if self.order.len() >= REMEMBERED
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.ids.insert(id.to_owned(), ());
        self.order.push_back(id.to_owned());
        true
    }
}

/// The notice, as the page shows it; the other fields are not needed (the
/// watch reads the process) and are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Notice {
    process_id: String,
    state: String,
}

/// The router, for [`serve`] and for tests.
pub fn router(auth: &WebhookAuth, events: ProcessEvents, metrics: Arc<Metrics>) -> Router {
    let (header, expected) = auth.expected();
    let receiver = Arc::new(Receiver {
        header,
        expected,
        basic: matches!(auth, WebhookAuth::Basic { .. }),
        slots: Semaphore::new(MAX_CONCURRENT),
        seen: Mutex::default(),
        events,
        metrics,
    });
    Router::new()
        .route(PATH, post(receive))
        .with_state(receiver)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    auth: WebhookAuth,
    events: ProcessEvents,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, path = PATH, auth = ?auth, "serving the vendor's webhook");
    }
    axum::serve(listener, router(&auth, events, metrics))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (outcome, response) = handle(&receiver, &headers, body).await;
    receiver.metrics.webhook_delivery(outcome);
    tracing::info!(outcome, "webhook delivery");
    response
}

async fn handle(receiver: &Receiver, headers: &HeaderMap, body: Body) -> (&'static str, Response) {
    let Ok(_slot) = receiver.slots.try_acquire() else {
        let response = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)],
        )
            .into_response();
        return ("overloaded", response);
    };
    if !authorized(receiver, headers) {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        if receiver.basic {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"unico-facade-webhook\""),
            );
        }
        return ("unauthorized", response);
    }
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => return ("too_large", StatusCode::PAYLOAD_TOO_LARGE.into_response()),
    };
    let notice = serde_json::from_slice::<Notice>(&bytes)
        .ok()
        .filter(|n| !n.state.is_empty())
        .and_then(|n| ProcessId::parse(&n.process_id).ok());
    let Some(process_id) = notice else {
        return ("malformed", StatusCode::BAD_REQUEST.into_response());
    };
    let first = receiver
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .first(process_id.as_str());
    if !first {
        return ("duplicate", StatusCode::OK.into_response());
    }
    receiver.events.publish(process_id.as_str());
    ("accepted", StatusCode::OK.into_response())
}

/// The configured header carries exactly the expected value, compared in
/// constant time (only the length can be told apart).
fn authorized(receiver: &Receiver, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(&receiver.header).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    bool::from(value.as_bytes().ct_eq(&receiver.expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_are_bounded_and_first_only_once() {
        let mut seen = Seen::default();
        assert!(seen.first("a"));
        assert!(!seen.first("a"));
        for i in 0..REMEMBERED {
            seen.first(&i.to_string());
        }
        assert!(seen.order.len() <= REMEMBERED);
        assert!(seen.first("a"), "the oldest is forgotten first");
    }

    #[test]
    fn the_secret_is_never_printed() {
        let auth = WebhookAuth::Basic {
            username: "vendor".into(),
            password: SecretString::from("s3cret"),
        };
        assert!(!format!("{auth:?}").contains("s3cret"));
    }
}
