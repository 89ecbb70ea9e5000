//! The key–value store behind idempotent creates: embedded in the process
//! (a bounded TTL cache, for one replica) or Redis (shared by every
//! replica). It only moves opaque bytes under opaque keys: what they mean,
//! and their encryption, belong to [`crate::idempotency`].
//!
//! Three operations suffice: insert a value only where none is
//! ([`Store::insert_new`], Redis `SET NX PX … GET`), overwrite one
//! ([`Store::put`]) and delete one ([`Store::remove`]). Every call is bounded
//! by the caller's deadline.

mod embedded;
mod redis;

use std::time::Duration;

use tokio::time::Instant;

pub use self::embedded::{EMBEDDED_MAX_BYTES, EmbeddedStore};
pub use self::redis::{REDIS_HEALTH_NAME, RedisSettings, RedisStore, RedisUrlError, client};

/// Where idempotency records live.
#[derive(Debug, Clone)]
pub enum Store {
    Embedded(EmbeddedStore),
    Redis(RedisStore),
}

/// A store call that did not complete: the caller cannot know the record's
/// state, so the call fails closed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store did not answer before the deadline")]
    Timeout,
    #[error("the store is unreachable or failed: {kind}")]
    Failed {
        /// The client's error kind, never the command or its values.
        kind: String,
    },
}

/// What [`Store::insert_new`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// The key was free: the value is now stored.
    Stored,
    /// The key held this value: nothing was written.
    Existing(Vec<u8>),
}

impl Store {
    /// The store's name in metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Redis(_) => "redis",
        }
    }

    /// Stores `value` under `key` for `ttl` unless the key holds a value.
    pub async fn insert_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Inserted, StoreError> {
        match self {
            Store::Embedded(store) => Ok(store.insert_new(key, value).await),
            Store::Redis(store) => store.insert_new(key, value, ttl, deadline).await,
        }
    }

    /// Stores `value` under `key` for `ttl`, replacing any value.
    pub async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        match self {
            Store::Embedded(store) => {
                store.put(key, value).await;
                Ok(())
            }
            Store::Redis(store) => store.put(key, value, ttl, deadline).await,
        }
    }

    /// Deletes `key`.
    pub async fn remove(&self, key: &str, deadline: Instant) -> Result<(), StoreError> {
        match self {
            Store::Embedded(store) => {
                store.remove(key).await;
                Ok(())
            }
            Store::Redis(store) => store.remove(key, deadline).await,
        }
    }
}
