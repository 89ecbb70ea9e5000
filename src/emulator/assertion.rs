//! The JWT assertion of the token endpoint, judged by the vendor's documented rules: a header of
//! exactly `{"alg":"RS256","typ":"JWT"}`, an RS256 signature by the service account's key, and
//! exactly the claims `iss`, `aud`, `scope`, `iat`, `exp`.
//!
//! Pure rules, no state: single use (`1.2.7`) and lock-out (`1.2.18`) are kept by `token.rs`. The
//! vendor's pages give the codes but not which check runs first; the order here (an emulator
//! assumption) is decode → issuer → header → signature → claim names → scope → audience → times,
//! so that a well-signed assertion is judged on its content and a forged one learns nothing
//! about its claims.

use std::collections::{HashMap, HashSet};
use std::io;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use super::ServiceAccount;

/// The domain every issuer ends with: `<account>@<tenant>.iam.acesso.io`.
const ISSUER_DOMAIN: &str = ".iam.acesso.io";
/// The longest lifetime (`exp - iat`) the vendor accepts, in seconds.
pub(super) const MAX_LIFETIME_SECONDS: i64 = 3600;
/// How far in the future `iat` may lie (clock skew between client and vendor), in seconds.
/// Emulator assumption: the pages do not say.
pub(super) const IAT_LEEWAY_SECONDS: i64 = 60;
/// The claims an assertion carries, no more and no fewer.
const CLAIMS: [&str; 5] = ["iss", "aud", "scope", "iat", "exp"];

/// Why an assertion is refused, one variant per vendor code. The pages name the codes; which
/// condition earns which code where they do not say is marked here as an emulator assumption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejection {
    /// `1.0.1`: `iss` is missing, not `<account>@<tenant>.iam.acesso.io`, or names a tenant no
    /// configured service account belongs to.
    UnknownTenant,
    /// `1.1.1`: `scope` is missing (or empty: assumption).
    ScopeMissing,
    /// `1.2.4`: `exp` has passed.
    Expired,
    /// `1.2.5`: the signature cannot be validated: wrong key, an account of a known tenant that
    /// has no key here, an `alg` other than RS256, or (assumption: the page says "check the
    /// provided parameters") an `aud` that is missing or not exactly the configured audience.
    NotValidated,
    /// `1.2.7`: the assertion was already exchanged for a token.
    AlreadyUsed,
    /// `1.2.18`: the account is locked after too many failed assertions.
    Locked,
    /// `1.2.19`: a `sub` claim (impersonation). The pages disagree (one lists `sub` under
    /// `1.2.22`); the error table's specific entry wins here.
    Impersonation,
    /// `1.2.20` (assumption: the first of the two "cannot be decoded" codes): not three base64url
    /// segments, a header or payload that is not a JSON object, or a header other than exactly
    /// `alg` + `typ: JWT`.
    Undecodable,
    /// `1.2.21` (assumption: the second "cannot be decoded" code, for "data types and
    /// semantics"): a claim of the wrong type (`iat`/`exp` not integers, `scope` not a string),
    /// `exp` not after `iat`, `exp - iat` over 3600 s, or `iat` more than 60 s in the future.
    BadClaim,
    /// `1.2.22`: claims beyond the five (`jti`, `nbf`, …).
    ExtraClaims,
}

impl Rejection {
    /// The code the vendor puts after "Falha na autenticação".
    pub(super) fn code(self) -> &'static str {
        match self {
            Rejection::UnknownTenant => "1.0.1",
            Rejection::ScopeMissing => "1.1.1",
            Rejection::Expired => "1.2.4",
            Rejection::NotValidated => "1.2.5",
            Rejection::AlreadyUsed => "1.2.7",
            Rejection::Locked => "1.2.18",
            Rejection::Impersonation => "1.2.19",
            Rejection::Undecodable => "1.2.20",
            Rejection::BadClaim => "1.2.21",
            Rejection::ExtraClaims => "1.2.22",
        }
    }
}

/// The configured service accounts, keys parsed once at start.
pub(super) struct Accounts {
    keys: HashMap<String, DecodingKey>,
    tenants: HashSet<String>,
}

// Keys are public, but their bytes say nothing useful in a log.
impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("issuers", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Accounts {
    /// Fails (`InvalidInput`) on an issuer not shaped `<account>@<tenant>.iam.acesso.io` or a key
    /// that is not an RSA public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`): a private key put
    /// there by mistake is refused rather than used.
    pub(super) fn new(accounts: &[ServiceAccount]) -> io::Result<Self> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        let mut keys = HashMap::new();
        let mut tenants = HashSet::new();
        for account in accounts {
            let tenant = tenant_of(&account.issuer).ok_or_else(|| {
                invalid(format!(
                    "service account issuer {:?} is not <account>@<tenant>{ISSUER_DOMAIN}",
                    account.issuer
                ))
            })?;
            let pem = account.public_key_pem.trim_start();
            let is_public = pem.starts_with("-----BEGIN PUBLIC KEY-----")
                || pem.starts_with("-----BEGIN RSA PUBLIC KEY-----");
            let key = is_public
                .then(|| DecodingKey::from_rsa_pem(pem.as_bytes()).ok())
                .flatten()
                .ok_or_else(|| {
                    invalid(format!(
                        "service account {:?}: public_key_pem is not an RSA public key in PEM",
                        account.issuer
                    ))
                })?;
            tenants.insert(tenant.to_owned());
            keys.insert(account.issuer.clone(), key);
        }
        Ok(Accounts { keys, tenants })
    }

    /// The account an assertion claims to come from, with its key.
    pub(super) fn identify<'a>(
        &'a self,
        assertion: &Assertion<'_>,
    ) -> Result<(&'a str, &'a DecodingKey), Rejection> {
        let issuer = assertion
            .claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(Rejection::UnknownTenant)?;
        let tenant = tenant_of(issuer).ok_or(Rejection::UnknownTenant)?;
        if !self.tenants.contains(tenant) {
            return Err(Rejection::UnknownTenant);
        }
        // A known tenant but an account without a key here: nothing can validate the signature.
        self.keys
            .get_key_value(issuer)
            .map(|(issuer, key)| (issuer.as_str(), key))
            .ok_or(Rejection::NotValidated)
    }
}

/// `tenant` of `<account>@<tenant>.iam.acesso.io`, both parts non-empty.
fn tenant_of(issuer: &str) -> Option<&str> {
    let (account, rest) = issuer.split_once('@')?;
    let tenant = rest.strip_suffix(ISSUER_DOMAIN)?;
    (!account.is_empty() && !tenant.is_empty() && !tenant.contains('@')).then_some(tenant)
}

/// An assertion split and decoded, not yet trusted.
#[derive(Debug)]
pub(super) struct Assertion<'a> {
    /// `header.payload`, the bytes the signature covers.
    signed: &'a str,
    /// The signature segment (base64url). RS256 (PKCS #1 v1.5) is deterministic, so it also
    /// fingerprints the signed content: the single-use ledger keys on it.
    pub(super) signature: &'a str,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

/// What a valid assertion grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Verified {
    /// `exp`, Unix seconds: the single-use ledger remembers the assertion until then.
    pub(super) exp: i64,
}

impl<'a> Assertion<'a> {
    /// Three unpadded base64url segments; header and payload JSON objects (`1.2.20` otherwise).
    pub(super) fn decode(text: &'a str) -> Result<Self, Rejection> {
        let mut parts = text.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Undecodable);
        };
        let object = |part: &str| -> Result<Map<String, Value>, Rejection> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| Rejection::Undecodable)?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(Rejection::Undecodable),
            }
        };
        let header_map = object(header)?;
        let claims = object(payload)?;
        if signature.is_empty() || URL_SAFE_NO_PAD.decode(signature).is_err() {
            return Err(Rejection::Undecodable);
        }
        Ok(Assertion {
            signed: &text[..header.len() + 1 + payload.len()],
            signature,
            header: header_map,
            claims,
        })
    }

    /// Every rule after the issuer, in the documented order; `now` is Unix seconds.
    pub(super) fn verify(
        &self,
        key: &DecodingKey,
        audience: &str,
        now: i64,
    ) -> Result<Verified, Rejection> {
        self.check_header()?;
        let signature_holds = jsonwebtoken::crypto::verify(
            self.signature,
            self.signed.as_bytes(),
            key,
            Algorithm::RS256,
        )
        .unwrap_or(false);
        if !signature_holds {
            return Err(Rejection::NotValidated);
        }
        self.check_claim_names()?;
        match self.claims.get("scope") {
            None => return Err(Rejection::ScopeMissing),
            Some(Value::String(scope)) if scope.trim().is_empty() => {
                return Err(Rejection::ScopeMissing);
            }
            Some(Value::String(_)) => {}
            Some(_) => return Err(Rejection::BadClaim),
        }
        if self.claims.get("aud").and_then(Value::as_str) != Some(audience) {
            return Err(Rejection::NotValidated);
        }
        let time = |name: &str| {
            self.claims
                .get(name)
                .and_then(Value::as_i64)
                .ok_or(Rejection::BadClaim)
        };
        let (iat, exp) = (time("iat")?, time("exp")?);
        let lifetime = exp.saturating_sub(iat);
        if lifetime <= 0 || lifetime > MAX_LIFETIME_SECONDS {
            return Err(Rejection::BadClaim);
        }
        if iat > now.saturating_add(IAT_LEEWAY_SECONDS) {
            return Err(Rejection::BadClaim);
        }
        if now >= exp {
            return Err(Rejection::Expired);
        }
        Ok(Verified { exp })
    }

    /// Exactly `alg: RS256` and `typ: JWT`. Another `alg` cannot be validated against an RSA
    /// key (`1.2.5`); any other difference is a header the vendor does not decode (`1.2.20`).
    fn check_header(&self) -> Result<(), Rejection> {
        if self.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(Rejection::NotValidated);
        }
        let typ_ok = self.header.get("typ").and_then(Value::as_str) == Some("JWT");
        if !typ_ok || self.header.len() != 2 {
            return Err(Rejection::Undecodable);
        }
        Ok(())
    }

    /// No claim beyond the five; `sub` alone is impersonation.
    fn check_claim_names(&self) -> Result<(), Rejection> {
        let mut extra = self
            .claims
            .keys()
            .filter(|name| !CLAIMS.contains(&name.as_str()));
        match (extra.next(), extra.next()) {
            (None, _) => Ok(()),
            (Some(name), None) if name == "sub" => Err(Rejection::Impersonation),
            _ => Err(Rejection::ExtraClaims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_name_an_account_and_a_tenant() {
        let cases = [
            ("sa@t1.iam.acesso.io", Some("t1")),
            ("a.b@tenant-42.iam.acesso.io", Some("tenant-42")),
            ("@t1.iam.acesso.io", None),
            ("sa@.iam.acesso.io", None),
            ("sa@t1.iam.acesso.io/", None),
            ("sa@t1.acesso.io", None),
            ("sa@x@t1.iam.acesso.io", None),
            ("sa", None),
        ];
        for (issuer, tenant) in cases {
            assert_eq!(tenant_of(issuer), tenant, "{issuer}");
        }
    }

    #[test]
    fn only_three_base64url_json_segments_decode() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"sa@t.iam.acesso.io"}"#);
        let array = URL_SAFE_NO_PAD.encode("[1]");
        let cases = [
            (format!("{header}.{payload}.c2ln"), true),
            (format!("{header}.{payload}"), false),
            (format!("{header}.{payload}.c2ln.c2ln"), false),
            (format!("{header}.{payload}."), false),
            (format!("{header}.{array}.c2ln"), false),
            (format!("{header}=.{payload}.c2ln"), false),
            (format!("{header}.{payload}.c2ln!"), false),
            ("not a jwt".to_owned(), false),
        ];
        for (text, decodes) in cases {
            let decoded = Assertion::decode(&text);
            assert_eq!(decoded.is_ok(), decodes, "{text}");
            if let Err(rejection) = decoded {
                assert_eq!(rejection, Rejection::Undecodable);
            }
        }
    }

    #[test]
    fn accounts_refuse_bad_issuers_and_anything_but_a_public_key() {
        let account = |issuer: &str, pem: &str| ServiceAccount {
            issuer: issuer.to_owned(),
            public_key_pem: pem.to_owned(),
        };
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        for accounts in [
            vec![account("no-tenant", "")],
            vec![account("sa@t.iam.acesso.io", "not pem")],
            vec![account("sa@t.iam.acesso.io", private)],
        ] {
            let error = Accounts::new(&accounts).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        }
        assert!(Accounts::new(&[]).is_ok());
    }
}
