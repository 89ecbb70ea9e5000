//! Credential checks shared by both host families: what the bearer token and the `APIKEY` header
//! say. Each endpoint turns a verdict into its own family's answer (401 text on IDCloud, 403 with
//! a vendor code on the ID API).
//!
//! A bearer token is valid when it is one of the configured static tokens, or a token the token
//! endpoint (`token.rs`) issued and that has not expired. Nothing else passes: a JWT, signed or
//! not, is not an access token here. Issued tokens expire by the tokio clock, so tests that pause
//! time (`tokio::time::pause` + `advance`) can expire them without sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http::HeaderMap;
use http::header::AUTHORIZATION;
use tokio::time::Instant;
use uuid::Uuid;

use super::fixtures;

/// What the `Authorization` header carries.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Bearer<'a> {
    /// No header, or a blank one.
    Absent,
    /// A header that is not `Bearer <token>` (another scheme, no token, not visible ASCII).
    Malformed,
    Token(&'a str),
}

pub(super) fn bearer(headers: &HeaderMap) -> Bearer<'_> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Bearer::Absent;
    };
    let Ok(value) = value.to_str() else {
        return Bearer::Malformed;
    };
    let value = value.trim();
    if value.is_empty() {
        return Bearer::Absent;
    }
    match value.split_once(' ') {
        // The scheme is case-insensitive (RFC 9110 §11.1).
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => match token.trim() {
            "" => Bearer::Malformed,
            token => Bearer::Token(token),
        },
        _ => Bearer::Malformed,
    }
}

/// What the emulator makes of a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokenVerdict {
    Valid,
    Expired,
    Invalid,
}

/// The tokens an endpoint accepts: the configured static ones and those the emulator issued.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tokens<'a> {
    pub(super) accepted: &'a [String],
    pub(super) issued: &'a IssuedTokens,
}

impl Tokens<'_> {
    /// Static list first, then the always-expired fixture, then the issued tokens.
    pub(super) fn verify(&self, token: &str) -> TokenVerdict {
        if self.accepted.iter().any(|t| t == token) {
            return TokenVerdict::Valid;
        }
        if token == fixtures::EXPIRED_TOKEN {
            return TokenVerdict::Expired;
        }
        self.issued.verdict(token).unwrap_or(TokenVerdict::Invalid)
    }
}

/// Issued tokens are kept this long past their expiry (answering "expired"), then forgotten
/// (answering "invalid"), so that a long-running emulator does not grow without bound.
const KEEP_EXPIRED: Duration = Duration::from_secs(3600);

/// The access tokens the token endpoint issued, with their expiry.
#[derive(Default)]
pub(super) struct IssuedTokens {
    tokens: Mutex<HashMap<String, Instant>>,
    issued: AtomicUsize,
}

// Never the tokens themselves.
impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("held", &self.lock().len())
            .field("issued", &self.issued.load(Ordering::Relaxed))
            .finish()
    }
}

impl IssuedTokens {
    /// A new opaque token (`emu-at-<uuid>`) valid for `ttl`.
    pub(super) fn issue(&self, ttl: Duration) -> String {
        let token = format!("emu-at-{}", Uuid::new_v4().simple());
        let now = Instant::now();
        // A lifetime too long for the clock is as good as forever.
        let expiry = now
            .checked_add(ttl)
            .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
        let mut tokens = self.lock();
        tokens.retain(|_, expiry| now.saturating_duration_since(*expiry) < KEEP_EXPIRED);
        tokens.insert(token.clone(), expiry);
        self.issued.fetch_add(1, Ordering::Relaxed);
        token
    }

    /// `None` for a token never issued (or revoked, or long expired).
    fn verdict(&self, token: &str) -> Option<TokenVerdict> {
        let expiry = *self.lock().get(token)?;
        Some(if Instant::now() < expiry {
            TokenVerdict::Valid
        } else {
            TokenVerdict::Expired
        })
    }

    /// Forgets every issued token: they answer as invalid from now on.
    pub(super) fn revoke_all(&self) {
        self.lock().clear();
    }

    /// How many tokens were issued since start (revoked and expired ones included).
    pub(super) fn count(&self) -> usize {
        self.issued.load(Ordering::Relaxed)
    }

    // A panic while holding the lock cannot leave the map half-updated, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What the `APIKEY` header (any case) carries, judged against the accepted keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ApiKey {
    Absent,
    Accepted,
    /// A key the vendor knows but that lacks the document capabilities.
    NoPermission,
    Unknown,
}

pub(super) fn api_key(headers: &HeaderMap, accepted: &[String]) -> ApiKey {
    let Some(value) = headers.get("apikey") else {
        return ApiKey::Absent;
    };
    let Ok(value) = value.to_str() else {
        return ApiKey::Unknown;
    };
    match value.trim() {
        "" => ApiKey::Absent,
        key if accepted.iter().any(|k| k == key) => ApiKey::Accepted,
        fixtures::API_KEY_NO_PERMISSION => ApiKey::NoPermission,
        _ => ApiKey::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokens_are_judged_by_list_then_fixture_then_issued_tokens() {
        let accepted = vec!["emulator-token".to_owned()];
        let issued = IssuedTokens::default();
        let tokens = Tokens {
            accepted: &accepted,
            issued: &issued,
        };
        let fresh = issued.issue(Duration::from_secs(2));
        let future_jwt = format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"exp":99999999999}"#)
        );
        let cases = [
            ("emulator-token", TokenVerdict::Valid),
            ("emulator-expired-token", TokenVerdict::Expired),
            (fresh.as_str(), TokenVerdict::Valid),
            // A JWT is not an access token here, whatever its claims.
            (future_jwt.as_str(), TokenVerdict::Invalid),
            ("emu-at-never-issued", TokenVerdict::Invalid),
            ("garbage!", TokenVerdict::Invalid),
        ];
        for (token, expected) in cases {
            assert_eq!(tokens.verify(token), expected, "{token}");
        }
        assert_eq!(issued.count(), 1);

        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(tokens.verify(&fresh), TokenVerdict::Expired);

        tokio::time::advance(KEEP_EXPIRED).await;
        let later = issued.issue(Duration::from_secs(2));
        assert_eq!(tokens.verify(&fresh), TokenVerdict::Invalid, "forgotten");

        issued.revoke_all();
        assert_eq!(tokens.verify(&later), TokenVerdict::Invalid, "revoked");
        assert_eq!(tokens.verify("emulator-token"), TokenVerdict::Valid);
        assert_eq!(issued.count(), 2, "revoking does not uncount");
    }

    #[test]
    fn the_authorization_header_is_read_as_a_bearer_credential() {
        let cases = [
            (None, Bearer::Absent),
            (Some("  "), Bearer::Absent),
            (Some("Bearer abc"), Bearer::Token("abc")),
            (Some("bearer  abc "), Bearer::Token("abc")),
            (Some("Bearer "), Bearer::Malformed),
            (Some("Basic dXNlcjpwYXNz"), Bearer::Malformed),
            (Some("abc"), Bearer::Malformed),
        ];
        for (value, expected) in cases {
            let mut headers = HeaderMap::new();
            if let Some(value) = value {
                headers.insert(AUTHORIZATION, value.parse().unwrap());
            }
            assert_eq!(bearer(&headers), expected, "{value:?}");
        }
    }
}
