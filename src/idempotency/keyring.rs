//! Encryption at rest of stored answers: AES-256-GCM with a random 96-bit
//! nonce per value, the record's (hashed) store key as associated data, so a
//! value moved under another key does not decrypt. Keys carry ids: the
//! first key encrypts, every key decrypts, which is how a key is rotated
//! (add the new one first, drop the old one after a TTL).
//!
//! Key material comes from a file or an environment variable, never from a
//! flag value: one key a line, `ID:BASE64` (32 bytes once decoded).

use aes_gcm::{
    Aes256Gcm, Key, Nonce,
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
};
use base64::{Engine as _, engine::general_purpose::STANDARD};

const NONCE_LEN: usize = 12;
/// Longest key id: it is stored in clear in front of every value.
const MAX_KEY_ID_LEN: usize = 32;

/// The keys: the first encrypts, all decrypt.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// Key material that cannot be used. Never echoes the material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyringError {
    #[error("no key: one `ID:BASE64` line (a 32-byte key) is needed")]
    Empty,
    #[error("key line {line}: expected `ID:BASE64`, the id of at most 32 of `A-Z a-z 0-9 - _ .`")]
    Malformed { line: usize },
    #[error("key line {line}: the key is not 32 bytes of base64")]
    BadKey { line: usize },
    #[error("key line {line}: the id is used twice")]
    DuplicateId { line: usize },
}

/// A stored value that does not decrypt: an unknown key id, another key, or
/// tampering.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a stored value does not decrypt with any configured key")]
pub struct Undecryptable;

impl Keyring {
    /// Parses `ID:BASE64` lines (blank lines and `#` comments ignored).
    pub fn parse(text: &str) -> Result<Self, KeyringError> {
        let mut keys: Vec<(String, Aes256Gcm)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let raw = raw.trim();
            if raw.is_empty() || raw.starts_with('#') {
                continue;
            }
            let (id, material) = raw
                .split_once(':')
                .ok_or(KeyringError::Malformed { line })?;
            let id_ok = !id.is_empty()
                && id.len() <= MAX_KEY_ID_LEN
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !id_ok {
                return Err(KeyringError::Malformed { line });
            }
            let bytes: [u8; 32] = STANDARD
                .decode(material.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(KeyringError::BadKey { line })?;
            if keys.iter().any(|(known, _)| known == id) {
                return Err(KeyringError::DuplicateId { line });
            }
            let key = Key::<Aes256Gcm>::from(bytes);
            keys.push((id.to_owned(), Aes256Gcm::new(&key)));
        }
        if keys.is_empty() {
            return Err(KeyringError::Empty);
        }
        Ok(Self { keys })
    }

    /// A fresh random key that lives in this process only: enough for the
    /// embedded store, whose records die with the process anyway.
    pub fn ephemeral() -> Self {
        let key = Aes256Gcm::generate_key(OsRng);
        Self {
            keys: vec![("ephemeral".to_owned(), Aes256Gcm::new(&key))],
        }
    }

    /// `id length ‖ id ‖ nonce ‖ ciphertext+tag`, bound to `context`.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let (id, cipher) = &self.keys[0];
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let payload = Payload {
            msg: plaintext,
            aad: context,
        };
        // Encryption fails only for messages beyond GCM's 64 GiB limit.
        let sealed = cipher
            .encrypt(&nonce, payload)
            .expect("a stored answer is far below GCM's length limit");
        let mut out = Vec::with_capacity(1 + id.len() + NONCE_LEN + sealed.len());
        out.push(id.len() as u8);
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, value: &[u8], context: &[u8]) -> Result<Vec<u8>, Undecryptable> {
        let (&id_len, rest) = value.split_first().ok_or(Undecryptable)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN {
            return Err(Undecryptable);
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Undecryptable)?;
        let (_, cipher) = self
            .keys
            .iter()
            .find(|(known, _)| known.as_bytes() == id)
            .ok_or(Undecryptable)?;
        let payload = Payload {
            msg: sealed,
            aad: context,
        };
        cipher
            .decrypt(&Nonce::from(nonce), payload)
            .map_err(|_| Undecryptable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(id: &str, byte: u8) -> String {
        format!("{id}:{}\n", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn sealed_values_open_only_with_their_context_and_a_known_key() {
        let ring = Keyring::parse(&line("k1", 7)).unwrap();
        let sealed = ring.seal(b"Luke Skywalker", b"key-a");
        assert!(!sealed.windows(4).any(|w| w == b"Luke"));
        assert_eq!(ring.open(&sealed, b"key-a").unwrap(), b"Luke Skywalker");
        assert_eq!(ring.open(&sealed, b"key-b"), Err(Undecryptable));
        let other = Keyring::parse(&line("k2", 7)).unwrap();
        assert_eq!(other.open(&sealed, b"key-a"), Err(Undecryptable));
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(ring.open(&tampered, b"key-a"), Err(Undecryptable));
    }

    #[test]
    fn rotation_encrypts_with_the_first_key_and_decrypts_with_any() {
        let old = Keyring::parse(&line("old", 1)).unwrap();
        let rotated = Keyring::parse(&(line("new", 2) + &line("old", 1))).unwrap();
        let before = old.seal(b"answer", b"k");
        assert_eq!(rotated.open(&before, b"k").unwrap(), b"answer");
        let after = rotated.seal(b"answer", b"k");
        assert_eq!(&after[1..4], b"new");
        assert_eq!(old.open(&after, b"k"), Err(Undecryptable));
    }

    #[test]
    fn unusable_material_is_refused_without_echoing_it() {
        assert_eq!(
            Keyring::parse("# nothing\n").unwrap_err(),
            KeyringError::Empty
        );
        assert_eq!(
            Keyring::parse("no-colon").unwrap_err(),
            KeyringError::Malformed { line: 1 }
        );
        assert_eq!(
            Keyring::parse("k:c2hvcnQ=").unwrap_err(),
            KeyringError::BadKey { line: 1 }
        );
        let twice = line("k", 1) + &line("k", 2);
        assert_eq!(
            Keyring::parse(&twice).unwrap_err(),
            KeyringError::DuplicateId { line: 2 }
        );
        let error = Keyring::parse("k:c2VjcmV0LXNlY3JldA==")
            .unwrap_err()
            .to_string();
        assert!(!error.contains("c2Vj"), "{error}");
    }
}
