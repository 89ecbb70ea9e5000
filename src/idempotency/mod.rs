//! Idempotent creates (AIP-155 `request_id`): the vendor has no idempotency
//! key and a created process is billed, so the facade gives callers one.
//!
//! [`Idempotency::run`] wraps one create's upstream call. With a request id
//! it first claims the key (scope, method, request id) in the [`Store`] with
//! an in-progress record; only the claimant calls the vendor, renewing its
//! lease while the call runs, then stores the vendor's answer (success or
//! vendor error), or "unknown" when the request may have reached the vendor
//! without an answer. A repeat gets the stored answer, or a refusal that
//! says why it cannot (another payload, still running, outcome unknown).
//! Refusals of the facade's own are released, never stored.
//!
//! Another create RPC plugs in with its own [`Endpoint`], the same
//! [`Idempotency::run`] call around its `call_upstream`, and its request's
//! `request_id` cleared for the [`Fingerprint`].

mod key;
mod keyring;
mod record;

use std::{future::Future, sync::Arc, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use tokio::time::Instant;
use tonic::{Response, Status, metadata::MetadataMap};

pub use self::key::{
    CallerScope, Fingerprint, REQUEST_ID_MAX_CHARS, RequestKey, RequestKeyProblem, XFCC,
};
pub use self::keyring::{Keyring, KeyringError};
use self::record::{Record, StoredAnswer, StoredVendorError, now_ms};
use crate::{
    metrics::Metrics,
    status::FacadeError,
    store::{Inserted, RedisSettings, Store},
    upstream::{Endpoint, UpstreamError},
};

/// The response metadata that marks a stored answer replayed.
pub const REPLAY_KEY: &str = "x-idempotent-replay";

/// How long a finished call's own store write may take beyond the caller's
/// deadline: the answer is real and must be kept.
const FINAL_WRITE_GRACE: Duration = Duration::from_secs(1);

/// The longest RetryInfo delay given to a repeat of a running call.
const IN_PROGRESS_RETRY_MAX: Duration = Duration::from_secs(1);

/// Where records are kept.
#[derive(Debug, Clone, Default)]
pub enum StoreSettings {
    /// In this process only.
    #[default]
    Embedded,
    /// Shared by every replica.
    Redis(RedisSettings),
}

/// The idempotency settings.
#[derive(Debug, Clone)]
pub struct IdempotencySettings {
    /// How long an answer is kept and replayed.
    pub ttl: Duration,
    /// How long an in-progress record stays valid without renewal: a
    /// replica that dies mid-call leaves "unknown" after this.
    pub lease: Duration,
    /// The header naming the caller's mesh identity (e.g.
    /// `x-forwarded-client-cert`), if the mesh sets one.
    pub identity_header: Option<String>,
    pub store: StoreSettings,
    /// The encryption keys; `None` generates one for this process (the
    /// embedded store only).
    pub keys: Option<Keyring>,
}

impl IdempotencySettings {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);
}

impl Default for IdempotencySettings {
    fn default() -> Self {
        Self {
            ttl: Self::DEFAULT_TTL,
            lease: Self::DEFAULT_LEASE,
            identity_header: None,
            store: StoreSettings::Embedded,
            keys: None,
        }
    }
}

/// Why a create with a request id was not run or not replayed.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("request_id is not valid: {0:?}")]
    RequestIdInvalid(RequestKeyProblem),
    #[error("request_id was used with another request")]
    RequestIdReused,
    #[error("a call with this request_id is still running")]
    InProgress { retry_after: Duration },
    #[error("the outcome of the call with this request_id is unknown")]
    OutcomeUnknown,
    #[error("the idempotency store is unavailable")]
    StoreUnavailable,
    #[error("a stored answer cannot be read")]
    RecordUnreadable,
}

/// The answer of a create, and whether it is a replay.
#[derive(Debug)]
pub struct Idempotent<T> {
    pub outcome: Result<T, FacadeError>,
    pub replayed: bool,
}

/// What to do with a record once the owner's call ended.
enum Settle {
    Keep(StoredAnswer),
    Unknown,
    Release,
}

/// The idempotency layer of create RPCs.
#[derive(Debug, Clone)]
pub struct Idempotency {
    store: Store,
    keyring: Arc<Keyring>,
    ttl: Duration,
    lease: Duration,
    identity_header: Option<String>,
    metrics: Arc<Metrics>,
}

impl Idempotency {
    pub fn new(
        store: Store,
        keyring: Keyring,
        settings: &IdempotencySettings,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            store,
            keyring: Arc::new(keyring),
            ttl: settings.ttl,
            lease: settings.lease,
            identity_header: settings.identity_header.clone(),
            metrics,
        }
    }

    /// Runs `call` at most once per (caller, `endpoint`, `request_id`);
    /// without a request id, simply runs it. `fingerprint` digests the
    /// request without its `request_id`.
    pub async fn run<T, F, Fut>(
        &self,
        endpoint: Endpoint,
        metadata: &MetadataMap,
        request_id: &str,
        fingerprint: impl FnOnce() -> Fingerprint,
        deadline: Instant,
        call: F,
    ) -> Idempotent<T>
    where
        T: prost::Message + Default,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, FacadeError>>,
    {
        let fresh = |outcome| Idempotent {
            outcome,
            replayed: false,
        };
        let request = match RequestKey::parse(request_id) {
            Ok(Some(request)) => request,
            Ok(None) => return fresh(call().await),
            Err(problem) => return fresh(Err(IdempotencyError::RequestIdInvalid(problem).into())),
        };
        // Only now: hashing copies the request (its images included).
        let fingerprint = fingerprint();
        let scope = CallerScope::of(metadata, self.identity_header.as_deref());
        let key = key::store_key(&scope, endpoint, &request);
        let claim = Record::in_progress(fingerprint.as_str(), self.lease);
        let inserted = self
            .timed(
                "insert_new",
                self.store
                    .insert_new(&key, self.seal(&claim, &key), self.ttl, deadline),
            )
            .await;
        match inserted {
            Err(()) => fresh(Err(IdempotencyError::StoreUnavailable.into())),
            Ok(Inserted::Existing(value)) => self.repeat(endpoint, &key, &value, &fingerprint),
            Ok(Inserted::Stored) => fresh(self.first(&key, &fingerprint, deadline, call).await),
        }
    }

    /// The claimant: calls the vendor while renewing the lease, then
    /// settles the record.
    async fn first<T, F, Fut>(
        &self,
        key: &str,
        fingerprint: &Fingerprint,
        deadline: Instant,
        call: F,
    ) -> Result<T, FacadeError>
    where
        T: prost::Message + Default,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, FacadeError>>,
    {
        self.metrics
            .idempotency_event(self.store.kind(), "first_call");
        let outcome = tokio::select! {
            outcome = call() => outcome,
            never = self.renew_lease(key, fingerprint, deadline) => match never {},
        };
        let write_by = deadline.max(Instant::now() + FINAL_WRITE_GRACE);
        let written = match settle(&outcome) {
            Settle::Keep(answer) => {
                let record = Record::Answered {
                    fingerprint: fingerprint.as_str().to_owned(),
                    answer,
                };
                self.timed(
                    "put",
                    self.store
                        .put(key, self.seal(&record, key), self.ttl, write_by),
                )
                .await
            }
            Settle::Unknown => {
                self.metrics
                    .idempotency_event(self.store.kind(), "outcome_unknown");
                let record = Record::Unknown {
                    fingerprint: fingerprint.as_str().to_owned(),
                };
                self.timed(
                    "put",
                    self.store
                        .put(key, self.seal(&record, key), self.ttl, write_by),
                )
                .await
            }
            Settle::Release => self.timed("remove", self.store.remove(key, write_by)).await,
        };
        if written.is_err() {
            // The record keeps its in-progress state: once the lease runs
            // out, repeats are told the outcome is unknown, never re-run.
            tracing::warn!("could not record the outcome of an idempotent create");
        }
        outcome
    }

    /// Renews the claim until dropped (when the call ends).
    async fn renew_lease(
        &self,
        key: &str,
        fingerprint: &Fingerprint,
        deadline: Instant,
    ) -> std::convert::Infallible {
        let every = self.lease / 3;
        loop {
            tokio::time::sleep(every).await;
            let record = Record::in_progress(fingerprint.as_str(), self.lease);
            let by = deadline.min(Instant::now() + every);
            let _ = self
                .timed(
                    "renew",
                    self.store.put(key, self.seal(&record, key), self.ttl, by),
                )
                .await;
        }
    }

    /// A repeat: the stored answer, or why there is none to give.
    fn repeat<T: prost::Message + Default>(
        &self,
        endpoint: Endpoint,
        key: &str,
        value: &[u8],
        fingerprint: &Fingerprint,
    ) -> Idempotent<T> {
        let refuse = |error: IdempotencyError, event| {
            self.metrics.idempotency_event(self.store.kind(), event);
            Idempotent {
                outcome: Err(error.into()),
                replayed: false,
            }
        };
        let Some(record) = self.open(value, key) else {
            tracing::error!(
                "a stored idempotency record does not decrypt or decode: check the key ring"
            );
            return refuse(IdempotencyError::RecordUnreadable, "unreadable");
        };
        if record.fingerprint() != fingerprint.as_str() {
            return refuse(IdempotencyError::RequestIdReused, "conflict");
        }
        let answer = match record {
            Record::InProgress { lease_until_ms, .. } => {
                let left = lease_until_ms.saturating_sub(now_ms());
                if left == 0 {
                    return refuse(IdempotencyError::OutcomeUnknown, "outcome_unknown");
                }
                let retry_after = Duration::from_millis(left).min(IN_PROGRESS_RETRY_MAX);
                return refuse(IdempotencyError::InProgress { retry_after }, "in_progress");
            }
            Record::Unknown { .. } => {
                return refuse(IdempotencyError::OutcomeUnknown, "outcome_unknown");
            }
            Record::Answered { answer, .. } => answer,
        };
        let restored = match answer {
            StoredAnswer::Success { message } => STANDARD
                .decode(message)
                .ok()
                .and_then(|bytes| T::decode(bytes.as_slice()).ok())
                .map(Ok),
            StoredAnswer::VendorError(stored) => {
                let Some((origin, context, vendor)) = stored.restore(endpoint) else {
                    return refuse(IdempotencyError::RecordUnreadable, "unreadable");
                };
                Some(Err(FacadeError::Upstream {
                    endpoint,
                    origin,
                    context,
                    error: UpstreamError::Vendor(vendor),
                }))
            }
        };
        let Some(outcome) = restored else {
            return refuse(IdempotencyError::RecordUnreadable, "unreadable");
        };
        self.metrics
            .idempotency_event(self.store.kind(), "replayed");
        Idempotent {
            outcome,
            replayed: true,
        }
    }

    fn seal(&self, record: &Record, key: &str) -> Vec<u8> {
        let json = serde_json::to_vec(record).expect("a record serializes");
        self.keyring.seal(&json, key.as_bytes())
    }

    fn open(&self, value: &[u8], key: &str) -> Option<Record> {
        let json = self.keyring.open(value, key.as_bytes()).ok()?;
        serde_json::from_slice(&json).ok()
    }

    /// Times one store call and counts its failure.
    async fn timed<V>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<V, crate::store::StoreError>>,
    ) -> Result<V, ()> {
        let started = std::time::Instant::now();
        let outcome = call.await;
        let kind = self.store.kind();
        self.metrics
            .store_call(kind, operation, outcome.is_ok(), started.elapsed());
        outcome.map_err(|error| {
            tracing::warn!(store = kind, operation, %error, "idempotency store call failed");
            self.metrics.idempotency_event(kind, "store_error");
        })
    }
}

impl<T> Idempotent<T> {
    /// Marks a replayed answer, success or error, with `x-idempotent-replay`.
    pub fn mark(
        replayed: bool,
        answer: Result<Response<T>, Status>,
    ) -> Result<Response<T>, Status> {
        if !replayed {
            return answer;
        }
        let value = tonic::metadata::MetadataValue::from_static("true");
        match answer {
            Ok(mut response) => {
                response.metadata_mut().insert(REPLAY_KEY, value);
                Ok(response)
            }
            Err(mut status) => {
                status.metadata_mut().insert(REPLAY_KEY, value);
                Err(status)
            }
        }
    }
}

/// What an ended call leaves in the store.
fn settle<T: prost::Message>(outcome: &Result<T, FacadeError>) -> Settle {
    match outcome {
        Ok(message) => Settle::Keep(StoredAnswer::Success {
            message: STANDARD.encode(message.encode_to_vec()),
        }),
        Err(FacadeError::Upstream {
            endpoint,
            origin,
            context,
            error,
        }) => match error {
            // The vendor's 429 turned the request away before acting: a
            // retry with the same key is safe.
            UpstreamError::Vendor(vendor) if vendor.http_status == 429 => Settle::Release,
            UpstreamError::Vendor(vendor) => Settle::Keep(StoredAnswer::VendorError(
                StoredVendorError::new(*endpoint, *origin, context, vendor),
            )),
            // Nothing was sent.
            UpstreamError::BuildRequest { .. } | UpstreamError::Connect { .. } => Settle::Release,
            // Sent, and no usable answer: the process may exist.
            UpstreamError::ConnectionLost { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::UnparseableResponse { .. } => Settle::Unknown,
        },
        // The facade's own refusals (credentials, rate limit, …): the
        // caller fixes and retries with the same key.
        Err(_) => Settle::Release,
    }
}

/// The idempotency layer cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "--redis-url needs encryption keys (--idempotency-key-file or UNICO_FACADE_IDEMPOTENCY_KEYS): every replica must read the others' records"
    )]
    KeysRequired,
    #[error(transparent)]
    RedisUrl(#[from] crate::store::RedisUrlError),
}

/// Builds the layer and its store from the settings.
pub async fn build(
    settings: &IdempotencySettings,
    health: tonic_health::server::HealthReporter,
    metrics: Arc<Metrics>,
) -> Result<Idempotency, StartError> {
    let (store, keyring) = match &settings.store {
        StoreSettings::Embedded => (
            Store::Embedded(crate::store::EmbeddedStore::new(settings.ttl)),
            settings.keys.clone().unwrap_or_else(Keyring::ephemeral),
        ),
        StoreSettings::Redis(redis) => {
            let keyring = settings.keys.clone().ok_or(StartError::KeysRequired)?;
            let store = crate::store::RedisStore::new(redis, health).await?;
            (Store::Redis(store), keyring)
        }
    };
    tracing::info!(store = store.kind(), ?keyring, ttl = ?settings.ttl, "idempotency store");
    Ok(Idempotency::new(store, keyring, settings, metrics))
}
