//! `POST /oauth2/token` (the identity host): exchanges a signed JWT assertion for an access token
//! (OAuth 2.0 JWT bearer grant, RFC 7523), as the vendor's authentication pages describe.
//!
//! The assertion's rules live in `assertion.rs`; this file adds what needs memory — each
//! assertion is single use (`1.2.7`), and an account is locked (`1.2.18`) for
//! `EmulatorConfig::lockout_duration` after `lockout_after_failures` consecutive failed
//! assertions — and shapes the answers:
//!
//! | request | status | body |
//! |---|---|---|
//! | valid assertion | 200 | `{"access_token": "emu-at-…", "token_type": "Bearer", "expires_in": <token_ttl in whole seconds>}`, `Cache-Control: no-store` |
//! | assertion refused | 400 | `{"error": "server_error", "error_description": "Falha na autenticação <code>"}` |
//! | body not `application/x-www-form-urlencoded`, `grant_type` or `assertion` missing, empty or repeated | 400 | `{"error": "invalid_request", "error_description": "…"}` |
//! | `grant_type` other than `urn:ietf:params:oauth:grant-type:jwt-bearer` | 400 | `{"error": "unsupported_grant_type", "error_description": "…"}` |
//!
//! Emulator assumptions: the pages give neither the HTTP status of a refusal nor an answer for a
//! malformed request. Every refusal is 400 (RFC 6749 §5.2: `invalid_grant` and friends are 400;
//! 401 is for client authentication through the `Authorization` header, which this grant does not
//! use), so a client must read the code in `error_description`, not the status. Malformed requests
//! answer RFC 6749's own error names, which carry no vendor code.
//!
//! Lock-out: failures are counted per issuer once the issuer is known (a configured account);
//! an assertion that cannot be decoded or names an unknown tenant cannot be attributed and is not
//! counted. While locked, every assertion of the account answers `1.2.18`, a valid one included,
//! and is not counted again; when the lock ends the count starts from zero. A success resets the
//! count. `lockout_after_failures = 0` disables the lock-out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::response::Response;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use percent_encoding::percent_decode;
use serde::Serialize;
use tokio::time::Instant;

use super::EmulatorConfig;
use super::assertion::{Accounts, Assertion, Rejection, Verified};
use super::auth::IssuedTokens;
use super::replies;

const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// Everything the token endpoint keeps between calls.
#[derive(Debug)]
pub(super) struct TokenEndpoint {
    accounts: Accounts,
    ledger: Mutex<Ledger>,
    /// Calls received (faulted and refused ones included).
    requests: AtomicUsize,
}

impl TokenEndpoint {
    pub(super) fn new(config: &EmulatorConfig) -> std::io::Result<Self> {
        Ok(TokenEndpoint {
            accounts: Accounts::new(&config.service_accounts)?,
            ledger: Mutex::new(Ledger::default()),
            requests: AtomicUsize::new(0),
        })
    }

    /// Counts a call, before any fault or check.
    pub(super) fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn request_count(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    // A panic while holding the lock cannot leave the ledger half-updated, so poisoning is ignored.
    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Answers one call.
pub(super) fn handle(
    endpoint: &TokenEndpoint,
    issued: &IssuedTokens,
    config: &EmulatorConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let assertion = match read_form(headers, body) {
        Ok(assertion) => assertion,
        Err(malformed) => return malformed.reply(),
    };
    match judge(endpoint, config, &assertion) {
        Ok(()) => {
            let access_token = issued.issue(config.token_ttl);
            let mut response = replies::json_reply(
                StatusCode::OK,
                &Granted {
                    access_token: &access_token,
                    token_type: "Bearer",
                    expires_in: config.token_ttl.as_secs(),
                },
            );
            response
                .headers_mut()
                .insert(CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            response
        }
        Err(rejection) => {
            tracing::info!(code = rejection.code(), "token request refused");
            refused(rejection)
        }
    }
}

/// Decode, identify, then the stateless rules and the ledger under one lock.
fn judge(endpoint: &TokenEndpoint, config: &EmulatorConfig, text: &str) -> Result<(), Rejection> {
    let assertion = Assertion::decode(text)?;
    let (issuer, key) = endpoint.accounts.identify(&assertion)?;
    let verdict = assertion.verify(key, &config.token_audience, unix_now());
    endpoint.ledger().settle(
        issuer,
        assertion.signature,
        verdict,
        LockoutPolicy {
            after_failures: config.lockout_after_failures,
            duration: config.lockout_duration,
        },
    )
}

#[derive(Debug, Serialize)]
struct Granted<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

/// The OAuth error body, fields in RFC 6749's order.
#[derive(Debug, Serialize)]
struct OAuthError<'a> {
    error: &'static str,
    error_description: &'a str,
}

fn refused(rejection: Rejection) -> Response {
    let description = format!("Falha na autenticação {}", rejection.code());
    replies::json_reply(
        StatusCode::BAD_REQUEST,
        &OAuthError {
            error: "server_error",
            error_description: &description,
        },
    )
}

/// A request that is not a JWT bearer grant at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Malformed {
    NotAForm,
    GrantTypeMissing,
    AssertionMissing,
    Repeated,
    UnsupportedGrantType,
}

impl Malformed {
    fn reply(self) -> Response {
        let (error, description) = match self {
            Malformed::NotAForm => (
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ),
            Malformed::GrantTypeMissing => ("invalid_request", "grant_type is required"),
            Malformed::AssertionMissing => ("invalid_request", "assertion is required"),
            Malformed::Repeated => ("invalid_request", "a parameter is repeated"),
            Malformed::UnsupportedGrantType => (
                "unsupported_grant_type",
                "grant_type must be urn:ietf:params:oauth:grant-type:jwt-bearer",
            ),
        };
        replies::json_reply(
            StatusCode::BAD_REQUEST,
            &OAuthError {
                error,
                error_description: description,
            },
        )
    }
}

/// The assertion of a well-formed JWT bearer grant request. Parameters other than the two are
/// ignored (RFC 6749 §3.2: unrecognised parameters are ignored).
fn read_form(headers: &HeaderMap, body: &[u8]) -> Result<String, Malformed> {
    let is_form = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(FORM_CONTENT_TYPE));
    if !is_form {
        return Err(Malformed::NotAForm);
    }
    let (mut grant_type, mut assertion) = (None, None);
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let slot = match form_decode(name).as_str() {
            "grant_type" => &mut grant_type,
            "assertion" => &mut assertion,
            _ => continue,
        };
        if slot.replace(form_decode(value)).is_some() {
            return Err(Malformed::Repeated);
        }
    }
    match grant_type.as_deref() {
        None | Some("") => return Err(Malformed::GrantTypeMissing),
        Some(GRANT_TYPE) => {}
        Some(_) => return Err(Malformed::UnsupportedGrantType),
    }
    assertion
        .filter(|assertion| !assertion.is_empty())
        .ok_or(Malformed::AssertionMissing)
}

/// `application/x-www-form-urlencoded` decoding of one name or value (`+` is a space).
fn form_decode(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_decode(&spaced).decode_utf8_lossy().into_owned()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[derive(Debug, Clone, Copy)]
struct LockoutPolicy {
    /// 0 = never lock.
    after_failures: u32,
    duration: Duration,
}

/// One account's run of failures.
#[derive(Debug, Default)]
struct Failures {
    consecutive: u32,
    locked_until: Option<Instant>,
}

/// Used assertions and failure counts.
#[derive(Debug, Default)]
struct Ledger {
    /// Signature of each used assertion → its `exp` (Unix seconds), forgotten after it: an
    /// expired assertion is refused as expired anyway.
    used: HashMap<String, i64>,
    failures: HashMap<String, Failures>,
}

impl Ledger {
    /// The final word on an assertion of `issuer` whose stateless checks gave `verdict`.
    fn settle(
        &mut self,
        issuer: &str,
        signature: &str,
        verdict: Result<Verified, Rejection>,
        policy: LockoutPolicy,
    ) -> Result<(), Rejection> {
        let now = Instant::now();
        let failures = self.failures.entry(issuer.to_owned()).or_default();
        if let Some(until) = failures.locked_until {
            if now < until {
                return Err(Rejection::Locked);
            }
            *failures = Failures::default();
        }
        let outcome = verdict.and_then(|verified| {
            let unix = unix_now();
            self.used.retain(|_, exp| *exp > unix);
            if self.used.contains_key(signature) {
                return Err(Rejection::AlreadyUsed);
            }
            self.used.insert(signature.to_owned(), verified.exp);
            Ok(())
        });
        // Re-borrowed: `used` was touched in between.
        let failures = self.failures.entry(issuer.to_owned()).or_default();
        match outcome {
            Ok(()) => *failures = Failures::default(),
            Err(_) => {
                failures.consecutive = failures.consecutive.saturating_add(1);
                if policy.after_failures > 0 && failures.consecutive >= policy.after_failures {
                    failures.locked_until = Some(now.checked_add(policy.duration).unwrap_or(now));
                    tracing::info!(
                        failures = failures.consecutive,
                        "service account locked after repeated failures"
                    );
                }
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn form_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        headers
    }

    #[test]
    fn the_form_must_be_a_jwt_bearer_grant() {
        let grant = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer";
        let cases: [(&str, Result<&str, Malformed>); 9] = [
            (&format!("{grant}&assertion=a.b.c"), Ok("a.b.c")),
            (
                &format!("assertion=a%2Bb.c+d&{grant}&scope=x"),
                Ok("a+b.c d"),
            ),
            ("assertion=a.b.c", Err(Malformed::GrantTypeMissing)),
            (
                "grant_type=&assertion=a.b.c",
                Err(Malformed::GrantTypeMissing),
            ),
            (grant, Err(Malformed::AssertionMissing)),
            (
                &format!("{grant}&assertion="),
                Err(Malformed::AssertionMissing),
            ),
            (
                &format!("{grant}&assertion=a&assertion=b"),
                Err(Malformed::Repeated),
            ),
            (
                "grant_type=client_credentials&assertion=a.b.c",
                Err(Malformed::UnsupportedGrantType),
            ),
            ("", Err(Malformed::GrantTypeMissing)),
        ];
        for (body, expected) in cases {
            let read = read_form(&form_headers(), body.as_bytes());
            assert_eq!(read.as_deref().map_err(|e| *e), expected, "{body}");
        }
        let json =
            HeaderMap::from_iter([(CONTENT_TYPE, HeaderValue::from_static("application/json"))]);
        assert_eq!(
            read_form(&json, format!("{grant}&assertion=a").as_bytes()),
            Err(Malformed::NotAForm)
        );
        assert_eq!(
            read_form(&HeaderMap::new(), b"assertion=a"),
            Err(Malformed::NotAForm)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_ledger_locks_after_consecutive_failures_and_unlocks_after_the_period() {
        let mut ledger = Ledger::default();
        let policy = LockoutPolicy {
            after_failures: 2,
            duration: Duration::from_secs(60),
        };
        let valid = |n: i64| {
            Ok(Verified {
                exp: unix_now() + n,
            })
        };
        let bad = || Err(Rejection::NotValidated);
        let refused = Err(Rejection::NotValidated);

        assert_eq!(ledger.settle("sa", "s1", bad(), policy), refused);
        assert_eq!(
            ledger.settle("sa", "s2", valid(600), policy),
            Ok(()),
            "resets"
        );
        assert_eq!(ledger.settle("sa", "s3", bad(), policy), refused);
        assert_eq!(
            ledger.settle("sa", "s2", valid(600), policy),
            Err(Rejection::AlreadyUsed),
            "a reuse is a failure too"
        );
        assert_eq!(
            ledger.settle("sa", "s4", valid(600), policy),
            Err(Rejection::Locked)
        );
        assert_eq!(ledger.settle("other", "s5", valid(600), policy), Ok(()));

        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(ledger.settle("sa", "s4", valid(600), policy), Ok(()));

        let never = LockoutPolicy {
            after_failures: 0,
            ..policy
        };
        for _ in 0..10 {
            assert_eq!(ledger.settle("sa", "x", bad(), never), refused);
        }
        assert_eq!(ledger.settle("sa", "s6", valid(600), never), Ok(()));
    }
}
