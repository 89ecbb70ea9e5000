//! The embedded store: a moka cache bounded in bytes, every entry living
//! for the idempotency TTL. Enough for `serve --emulator` and for a single
//! replica; it does not survive a restart, and other replicas cannot see it.

use std::time::Duration;

use moka::{future::Cache, ops::compute::Op};

/// The most memory the embedded records may take, in bytes of their
/// (encrypted) values: beyond, the least recently used are evicted.
pub const EMBEDDED_MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Clone)]
pub struct EmbeddedStore {
    cache: Cache<String, Vec<u8>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("entries", &self.cache.entry_count())
            .finish()
    }
}

impl EmbeddedStore {
    /// A store whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        let cache = Cache::builder()
            .time_to_live(ttl)
            .weigher(|key: &String, value: &Vec<u8>| {
                u32::try_from(key.len() + value.len()).unwrap_or(u32::MAX)
            })
            .max_capacity(EMBEDDED_MAX_BYTES)
            .build();
        Self { cache }
    }

    pub(super) async fn insert_new(&self, key: &str, value: Vec<u8>) -> super::Inserted {
        // One atomic step per key: of racing duplicates exactly one inserts.
        let mut existing = None;
        self.cache
            .entry(key.to_owned())
            .and_compute_with(|entry| {
                let op = match entry {
                    Some(entry) => {
                        existing = Some(entry.into_value());
                        Op::Nop
                    }
                    None => Op::Put(value),
                };
                std::future::ready(op)
            })
            .await;
        match existing {
            Some(value) => super::Inserted::Existing(value),
            None => super::Inserted::Stored,
        }
    }

    pub(super) async fn put(&self, key: &str, value: Vec<u8>) {
        self.cache.insert(key.to_owned(), value).await;
    }

    pub(super) async fn remove(&self, key: &str) {
        self.cache.invalidate(key).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Inserted;

    #[tokio::test]
    async fn only_the_first_insert_stores() {
        let store = EmbeddedStore::new(Duration::from_secs(60));
        assert_eq!(store.insert_new("k", b"a".to_vec()).await, Inserted::Stored);
        assert_eq!(
            store.insert_new("k", b"b".to_vec()).await,
            Inserted::Existing(b"a".to_vec())
        );
        store.remove("k").await;
        assert_eq!(store.insert_new("k", b"c".to_vec()).await, Inserted::Stored);
    }
}
