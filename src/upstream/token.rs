//! The vendor's token endpoint (`POST /oauth2/token` on the identity host):
//! exchanges a signed assertion for an access token (RFC 7523 JWT bearer
//! grant). Classifies failures as transient (worth a later retry) or as a
//! rejection of the credentials (never retried in a loop: the vendor locks
//! the account after repeated failures, `1.2.18`).

use std::time::Duration;

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{
    body::read_capped, client::UpstreamClient, error::VendorCode, error_body, hosts::endpoint_url,
};

/// A token answer is a few hundred bytes; more is not a token answer.
const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// An access token and how long the vendor says it lives.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub value: SecretString,
    pub expires_in: Duration,
}

/// Why no token was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Unreachable, timed out, 5xx, 429, or an unreadable answer: another
    /// attempt later may succeed.
    #[error("the token endpoint is unavailable ({detail})")]
    Transient {
        detail: String,
        http_status: Option<u16>,
        code: Option<VendorCode>,
    },
    /// The vendor refused the assertion (bad key, wrong tenant, locked…).
    #[error("the token endpoint rejected the service account (HTTP {http_status}, code {code:?})")]
    Rejected {
        http_status: u16,
        code: Option<VendorCode>,
    },
}

impl TokenError {
    pub fn code(&self) -> Option<&VendorCode> {
        match self {
            TokenError::Transient { code, .. } | TokenError::Rejected { code, .. } => code.as_ref(),
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            TokenError::Transient { http_status, .. } => *http_status,
            TokenError::Rejected { http_status, .. } => Some(*http_status),
        }
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: String,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
}

/// The lifetime assumed when the answer has no usable `expires_in`: short,
/// so that a token is not kept past a life the vendor never stated.
const FALLBACK_LIFETIME: Duration = Duration::from_secs(300);

impl UpstreamClient {
    /// Posts one assertion to `{identity}/oauth2/token`, within `budget`.
    pub async fn fetch_token(
        &self,
        identity: &Url,
        assertion: &SecretString,
        budget: Duration,
    ) -> Result<AccessToken, TokenError> {
        let transient = |detail: String| TokenError::Transient {
            detail,
            http_status: None,
            code: None,
        };
        let url = endpoint_url(identity, "/oauth2/token").map_err(transient)?;
        let form = [
            ("grant_type", GRANT_TYPE),
            ("assertion", assertion.expose_secret()),
        ];
        let exchange = async {
            let response = self
                .http()
                .post(url)
                .form(&form)
                .send()
                .await
                .map_err(|e| transient(classify(&e)))?;
            let status = response.status();
            let body = read_capped(response, MAX_TOKEN_BODY_BYTES)
                .await
                .map_err(|e| transient(classify(&e)))?
                .bytes;
            Ok::<_, TokenError>((status, body))
        };
        let (status, body) = tokio::time::timeout(budget, exchange)
            .await
            .map_err(|_| transient("timed out".to_owned()))??;

        if status.is_success() {
            let reply: TokenReply =
                serde_json::from_slice(&body).map_err(|_| TokenError::Transient {
                    detail: "unreadable token answer".to_owned(),
                    http_status: Some(status.as_u16()),
                    code: None,
                })?;
            let expires_in = match reply.expires_in {
                Some(serde_json::Value::Number(n)) => n.as_u64(),
                Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
                _ => None,
            }
            .filter(|s| *s > 0)
            .map_or(FALLBACK_LIFETIME, Duration::from_secs);
            return Ok(AccessToken {
                value: SecretString::from(reply.access_token),
                expires_in,
            });
        }

        let parsed = error_body::parse(&body);
        let http_status = status.as_u16();
        // A dotted code (`1.2.5`) names a credential problem whatever the
        // status; without one, the status decides.
        let dotted = matches!(&parsed.code, Some(VendorCode::Text(t)) if t.contains('.'));
        if !dotted && (status.is_server_error() || http_status == 429) {
            return Err(TokenError::Transient {
                detail: format!("HTTP {http_status}"),
                http_status: Some(http_status),
                code: parsed.code,
            });
        }
        Err(TokenError::Rejected {
            http_status,
            code: parsed.code,
        })
    }
}

fn classify(error: &reqwest::Error) -> String {
    if error.is_connect() {
        "could not connect".to_owned()
    } else if error.is_timeout() {
        "timed out".to_owned()
    } else {
        "connection lost".to_owned()
    }
}
