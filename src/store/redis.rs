//! The Redis store, shared by every replica: one lazily connected
//! `ConnectionManager` (it reconnects by itself after Redis restarts), the
//! insert-if-absent as one `SET key value NX PX ttl GET`, and every command
//! bounded by the caller's deadline. Its health entry
//! ([`REDIS_HEALTH_NAME`]) follows the outcome of real commands.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use redis::{
    Client, IntoConnectionInfo,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;
use tonic_health::{ServingStatus, server::HealthReporter};

use super::{Inserted, StoreError};

/// The health-service entry of the Redis store.
pub const REDIS_HEALTH_NAME: &str = "unico.store.Redis";

/// How long one connection attempt may take, whatever the deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Where Redis is. The URL may carry a password, so it never prints.
#[derive(Clone)]
pub struct RedisSettings {
    /// `redis://` or `rediss://` (TLS).
    pub url: SecretString,
    /// A password read from a file, overriding the URL's.
    pub password: Option<SecretString>,
}

impl std::fmt::Debug for RedisSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisSettings(<redacted url>)")
    }
}

impl RedisSettings {
    /// A lazily connected manager for these settings (nothing is sent
    /// before the first command): a failed command fails at once, the
    /// caller's deadline being the bound, and the manager reconnects in the
    /// background. Each user of Redis (the idempotency store, the shared
    /// rate budget, the webhook fan-out's publisher) holds its own, so that one's slow commands never queue
    /// behind the other's.
    pub fn connection_manager(&self) -> Result<ConnectionManager, RedisUrlError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        ConnectionManager::new_lazy_with_config(client(self)?, config)
            .map_err(|error| RedisUrlError::from_kind(error.kind()))
    }
}

/// The URL cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--redis-url is not a usable redis:// or rediss:// URL ({kind})")]
pub struct RedisUrlError {
    kind: String,
}

impl RedisUrlError {
    /// From the client's classification (never its message, which may
    /// quote the URL).
    pub fn from_kind(kind: redis::ErrorKind) -> Self {
        Self {
            kind: format!("{kind:?}"),
        }
    }
}

#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    health: HealthReporter,
    /// The last status reported: 0 unknown, 1 serving, 2 not serving.
    reported: Arc<AtomicU8>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisStore")
    }
}

/// The client for `settings` (URL and password), connecting nowhere yet;
/// shared by the store and by the webhook fan-out.
pub fn client(settings: &RedisSettings) -> Result<Client, RedisUrlError> {
    let invalid = |error: redis::RedisError| RedisUrlError::from_kind(error.kind());
    let mut info = settings
        .url
        .expose_secret()
        .into_connection_info()
        .map_err(invalid)?;
    if let Some(password) = &settings.password {
        let redis = info
            .redis_settings()
            .clone()
            .set_password(password.expose_secret());
        info = info.set_redis_settings(redis);
    }
    Client::open(info).map_err(invalid)
}

impl RedisStore {
    /// A store that connects on first use: the facade starts (and serves
    /// creates without a request id) while Redis is down.
    pub async fn new(
        settings: &RedisSettings,
        health: HealthReporter,
    ) -> Result<Self, RedisUrlError> {
        let connection = settings.connection_manager()?;
        // Unknown until the first command says otherwise.
        health
            .set_service_status(REDIS_HEALTH_NAME, ServingStatus::Unknown)
            .await;
        Ok(Self {
            connection,
            health,
            reported: Arc::new(AtomicU8::new(0)),
        })
    }

    pub(super) async fn insert_new(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<Inserted, StoreError> {
        let mut command = redis::cmd("SET");
        command
            .arg(key)
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .arg("GET");
        let previous: Option<Vec<u8>> = self.run(command, deadline).await?;
        Ok(previous.map_or(Inserted::Stored, Inserted::Existing))
    }

    pub(super) async fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Duration,
        deadline: Instant,
    ) -> Result<(), StoreError> {
        let mut command = redis::cmd("SET");
        command.arg(key).arg(value).arg("PX").arg(millis(ttl));
        let _: redis::Value = self.run(command, deadline).await?;
        Ok(())
    }

    pub(super) async fn remove(&self, key: &str, deadline: Instant) -> Result<(), StoreError> {
        let mut command = redis::cmd("DEL");
        command.arg(key);
        let _: redis::Value = self.run(command, deadline).await?;
        Ok(())
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        command: redis::Cmd,
        deadline: Instant,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection.clone();
        let outcome =
            tokio::time::timeout_at(deadline, command.query_async::<T>(&mut connection)).await;
        let result = match outcome {
            Err(_) => Err(StoreError::Timeout),
            Ok(Err(error)) => Err(StoreError::Failed {
                kind: format!("{:?}", error.kind()),
            }),
            Ok(Ok(value)) => Ok(value),
        };
        self.report(result.is_ok()).await;
        result
    }

    /// Reports a change of health, once per change.
    async fn report(&self, up: bool) {
        let state = if up { 1 } else { 2 };
        if self.reported.swap(state, Ordering::Relaxed) == state {
            return;
        }
        let status = if up {
            ServingStatus::Serving
        } else {
            tracing::warn!(
                "the idempotency store (Redis) is unreachable: creates with a request_id fail closed"
            );
            ServingStatus::NotServing
        };
        self.health
            .set_service_status(REDIS_HEALTH_NAME, status)
            .await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}
