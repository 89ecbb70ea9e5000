//! The facade's own service account: its issuer name and RS256 private key,
//! read once at start, and the signed assertions it makes for the token
//! endpoint. The key never leaves this type and never prints.

use std::{
    fmt,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{
    RsaPrivateKey, RsaPublicKey,
    pkcs1::DecodeRsaPrivateKey,
    pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding},
};
use secrecy::SecretString;
use serde::Serialize;

/// The longest assertion lifetime the vendor accepts (`exp - iat`).
pub const MAX_ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// The lifetime given to assertions: they are used at once.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(600);

/// The service account could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ServiceAccountError {
    #[error("cannot read the private key file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the private key file {path} is not an RSA private key in PEM format")]
    Malformed { path: String },
    #[error("the service account name and tenant id must be non-empty and without `@`")]
    BadName,
}

/// A service account of the vendor's identity host.
pub struct ServiceAccount {
    issuer: String,
    key: EncodingKey,
    /// The matching public key (PEM), for registering the account with the
    /// embedded emulator.
    public_key_pem: String,
    /// Varies `exp` between assertions signed within the same second, so
    /// that no two are identical (each is single use, `1.2.7`) without any
    /// claim beyond the five the vendor accepts.
    sequence: AtomicU64,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("issuer", &self.issuer)
            .field("key", &"<redacted>")
            .finish()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    scope: &'a str,
    iat: u64,
    exp: u64,
}

impl ServiceAccount {
    /// Reads the PEM private key at `path`.
    pub fn load(
        account_name: &str,
        tenant_id: &str,
        path: &Path,
    ) -> Result<Self, ServiceAccountError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|source| ServiceAccountError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_pem(account_name, tenant_id, &pem).map_err(|e| match e {
            ServiceAccountError::Malformed { .. } => ServiceAccountError::Malformed { path: shown },
            other => other,
        })
    }

    pub fn from_pem(
        account_name: &str,
        tenant_id: &str,
        pem: &[u8],
    ) -> Result<Self, ServiceAccountError> {
        let valid = |s: &str| {
            !s.trim().is_empty() && !s.contains('@') && !s.chars().any(char::is_whitespace)
        };
        if !valid(account_name) || !valid(tenant_id) {
            return Err(ServiceAccountError::BadName);
        }
        let malformed = || ServiceAccountError::Malformed {
            path: String::new(),
        };
        let key = EncodingKey::from_rsa_pem(pem).map_err(|_| malformed())?;
        let text = std::str::from_utf8(pem).map_err(|_| malformed())?;
        let private = RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text))
            .map_err(|_| malformed())?;
        let public_key_pem = RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(|_| malformed())?;
        let account = Self {
            issuer: format!("{account_name}@{tenant_id}.iam.acesso.io"),
            key,
            public_key_pem,
            sequence: AtomicU64::new(0),
        };
        // Sign once now: a key that parses but cannot sign fails at start.
        account
            .assertion("https://check.invalid", SystemTime::now())
            .map_err(|_| ServiceAccountError::Malformed {
                path: String::new(),
            })?;
        Ok(account)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn public_key_pem(&self) -> &str {
        &self.public_key_pem
    }

    /// A fresh RS256 assertion with exactly `iss`, `aud`, `scope`, `iat`, `exp`.
    pub fn assertion(
        &self,
        audience: &str,
        now: SystemTime,
    ) -> Result<SecretString, jsonwebtoken::errors::Error> {
        let iat = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let spread = self.sequence.fetch_add(1, Ordering::Relaxed) % 60;
        let claims = Claims {
            iss: &self.issuer,
            aud: audience,
            scope: "*",
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs() - spread,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, &claims, &self.key).map(SecretString::from)
    }
}
