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

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use jsonwebtoken::{DecodingKey, Validation};
    use rsa::pkcs8::EncodePrivateKey;
    use secrecy::ExposeSecret;

    use super::*;

    fn pem() -> &'static str {
        static PEM: OnceLock<String> = OnceLock::new();
        PEM.get_or_init(|| {
            let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
            key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
        })
    }

    #[test]
    fn assertions_carry_exactly_the_five_claims_and_verify() {
        let account = ServiceAccount::from_pem("sa", "t1", pem().as_bytes()).unwrap();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jwt = account
            .assertion("https://identity.acesso.io", now)
            .unwrap();

        let key = DecodingKey::from_rsa_pem(account.public_key_pem().as_bytes()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://identity.acesso.io"]);
        let data =
            jsonwebtoken::decode::<serde_json::Value>(jwt.expose_secret(), &key, &validation)
                .unwrap();
        let claims = data.claims.as_object().unwrap();
        let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["aud", "exp", "iat", "iss", "scope"]);
        assert_eq!(claims["iss"], "sa@t1.iam.acesso.io");
        assert_eq!(claims["scope"], "*");
        assert_eq!(claims["iat"], 1_800_000_000u64);
        let life = claims["exp"].as_u64().unwrap() - 1_800_000_000;
        assert!(life <= MAX_ASSERTION_LIFETIME.as_secs() && life > 0);
        assert_eq!(data.header.typ.as_deref(), Some("JWT"));
    }

    #[test]
    fn two_assertions_in_the_same_second_differ() {
        let account = ServiceAccount::from_pem("sa", "t1", pem().as_bytes()).unwrap();
        let now = SystemTime::now();
        let a = account.assertion("aud", now).unwrap();
        let b = account.assertion("aud", now).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn bad_keys_and_names_are_clear_start_up_errors() {
        let missing =
            ServiceAccount::load("sa", "t1", Path::new("/nonexistent/sa.pem")).unwrap_err();
        assert!(
            missing.to_string().contains("/nonexistent/sa.pem"),
            "{missing}"
        );
        let dir = std::env::temp_dir().join(format!("unico-facade-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let malformed = ServiceAccount::load("sa", "t1", &garbage).unwrap_err();
        assert!(
            matches!(malformed, ServiceAccountError::Malformed { .. }),
            "{malformed}"
        );
        assert!(matches!(
            ServiceAccount::from_pem("", "t1", pem().as_bytes()),
            Err(ServiceAccountError::BadName)
        ));
        assert!(matches!(
            ServiceAccount::from_pem("a@b", "t1", pem().as_bytes()),
            Err(ServiceAccountError::BadName)
        ));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let account = ServiceAccount::from_pem("sa", "t1", pem().as_bytes()).unwrap();
        let printed = format!("{account:?}");
        assert!(printed.contains("sa@t1.iam.acesso.io") && printed.contains("<redacted>"));
        let body: String = pem().lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(!printed.contains(&body[100..140]));
    }
}
