//! The vendor's token endpoint (`POST /oauth2/token` on the identity host):
//! exchanges a signed assertion for an access token (RFC 7523 JWT bearer
//! grant). Classifies failures as transient (worth a later retry) or as a
//! rejection of the credentials (never retried in a loop: the vendor locks
//! the account after repeated failures, `1.2.18`).

use std::time::Duration;

use http::{
    Method,
    header::{CONTENT_TYPE, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::{
    client::{BodyCaps, UpstreamClient, request},
    endpoint::CallRoute,
    error::{UpstreamError, VendorCode, VendorError},
    hosts::endpoint_url,
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
    /// The assertion could not be signed (an unusable private key), so
    /// nothing was sent; like a rejection, retrying at once cannot help.
    #[error("the service account's assertion could not be signed")]
    AssertionNotSigned,
}

impl TokenError {
    pub fn code(&self) -> Option<&VendorCode> {
        match self {
            TokenError::Transient { code, .. } | TokenError::Rejected { code, .. } => code.as_ref(),
            TokenError::AssertionNotSigned => None,
        }
    }

    pub fn http_status(&self) -> Option<u16> {
        match self {
            TokenError::Transient { http_status, .. } => *http_status,
            TokenError::Rejected { http_status, .. } => Some(*http_status),
            TokenError::AssertionNotSigned => None,
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

/// The token request's span name and route.
const TOKEN_ROUTE: CallRoute = CallRoute::post("POST /oauth2/token", "/oauth2/token");

impl UpstreamClient {
    /// Posts one assertion to `{identity}/oauth2/token`, within `budget`,
    /// through the same exchange (client span, `traceparent`) as every call.
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
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", assertion.expose_secret())
            .finish();
        let mut request = request(Method::POST, &url, form.into_bytes().into())
            .map_err(|_| transient("could not build the token request".to_owned()))?;
        request.headers_mut().insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let caps = BodyCaps {
            success: MAX_TOKEN_BODY_BYTES,
            error: MAX_TOKEN_BODY_BYTES,
        };
        let reply = match self.exchange(TOKEN_ROUTE, request, caps, budget).await {
            Ok(reply) => reply,
            Err(UpstreamError::Vendor(vendor)) => return Err(refusal(vendor)),
            Err(UpstreamError::UnparseableResponse { http_status, .. }) => {
                return Err(unreadable(http_status));
            }
            Err(other) => return Err(transient(transport_detail(&other).to_owned())),
        };
        let reply: TokenReply =
            serde_json::from_slice(&reply.body).map_err(|_| unreadable(reply.status.as_u16()))?;
        let expires_in = match reply.expires_in {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0)
        .map_or(FALLBACK_LIFETIME, Duration::from_secs);
        Ok(AccessToken {
            value: SecretString::from(reply.access_token),
            expires_in,
        })
    }
}

/// A 2xx that is not a token answer: worth another attempt later.
fn unreadable(http_status: u16) -> TokenError {
    TokenError::Transient {
        detail: "unreadable token answer".to_owned(),
        http_status: Some(http_status),
        code: None,
    }
}

/// A non-2xx answer: a dotted code (`1.2.5`) names a credential problem
/// whatever the status; without one, 5xx and 429 are transient and the rest
/// a rejection.
fn refusal(vendor: VendorError) -> TokenError {
    let http_status = vendor.http_status;
    let dotted = matches!(&vendor.code, Some(VendorCode::Text(t)) if t.contains('.'));
    if !dotted && (http_status >= 500 || http_status == 429) {
        return TokenError::Transient {
            detail: format!("HTTP {http_status}"),
            http_status: Some(http_status),
            code: vendor.code,
        };
    }
    TokenError::Rejected {
        http_status,
        code: vendor.code,
    }
}

/// What went wrong before an answer, in words safe to log.
fn transport_detail(error: &UpstreamError) -> &'static str {
    match error {
        UpstreamError::Connect { .. } => "could not connect",
        UpstreamError::Timeout { .. } => "timed out",
        UpstreamError::BuildRequest { .. } => "could not build the token request",
        UpstreamError::ConnectionLost { .. }
        | UpstreamError::UnparseableResponse { .. }
        | UpstreamError::Vendor(_) => "connection lost",
    }
}
