//! Credential checks shared by both host families: what the bearer token and the `APIKEY` header
//! say. Each endpoint turns a verdict into its own family's answer (401 text on IDCloud, 403 with
//! a vendor code on the ID API).
//!
//! Tokens are not verified cryptographically (yet): a static accepted token, or any JWT-shaped
//! token whose payload carries an `exp` in the future, passes. That keeps the facade's real token
//! handling (refresh ahead of expiry, a 401/403 on expiry) exercisable without keys.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD_INDIFFERENT;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde_json::Value;

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

pub(super) fn verify_token(token: &str, accepted: &[String]) -> TokenVerdict {
    if accepted.iter().any(|t| t == token) {
        return TokenVerdict::Valid;
    }
    if token == fixtures::EXPIRED_TOKEN {
        return TokenVerdict::Expired;
    }
    match jwt_expiry(token) {
        Some(exp) if exp > unix_now() => TokenVerdict::Valid,
        Some(_) => TokenVerdict::Expired,
        None => TokenVerdict::Invalid,
    }
}

/// The `exp` claim (Unix seconds) of a JWT-shaped token: three base64url parts, a header that is a
/// JSON object, a payload that is a JSON object with a numeric `exp`. `None` for anything else.
fn jwt_expiry(token: &str) -> Option<f64> {
    let mut parts = token.split('.');
    let (header, payload, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !is_base64url(signature) {
        return None;
    }
    let decode_object = |part: &str| -> Option<serde_json::Map<String, Value>> {
        let bytes = URL_SAFE_NO_PAD_INDIFFERENT.decode(part).ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(map) => Some(map),
            _ => None,
        }
    };
    decode_object(header)?;
    decode_object(payload)?.get("exp")?.as_f64()
}

fn is_base64url(part: &str) -> bool {
    part.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
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
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn jwt(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn tokens_are_judged_by_list_then_fixture_then_jwt_expiry() {
        let accepted = vec!["emulator-token".to_owned()];
        let future = format!(r#"{{"exp":{}}}"#, unix_now() as u64 + 3600);
        let cases = [
            ("emulator-token".to_owned(), TokenVerdict::Valid),
            ("emulator-expired-token".to_owned(), TokenVerdict::Expired),
            (jwt(r#"{"alg":"RS256"}"#, &future), TokenVerdict::Valid),
            (
                jwt(r#"{"alg":"RS256"}"#, r#"{"exp":1000}"#),
                TokenVerdict::Expired,
            ),
            (
                jwt(r#"{"alg":"RS256"}"#, r#"{"iat":1000}"#),
                TokenVerdict::Invalid,
            ),
            (
                jwt(r#"{"alg":"RS256"}"#, r#"{"exp":"soon"}"#),
                TokenVerdict::Invalid,
            ),
            (jwt("[1]", &future), TokenVerdict::Invalid),
            (jwt("not json", &future), TokenVerdict::Invalid),
            (
                format!("{}.extra", jwt("{}", &future)),
                TokenVerdict::Invalid,
            ),
            ("a.b".to_owned(), TokenVerdict::Invalid),
            ("garbage!".to_owned(), TokenVerdict::Invalid),
        ];
        for (token, expected) in cases {
            assert_eq!(verify_token(&token, &accepted), expected, "{token}");
        }
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
