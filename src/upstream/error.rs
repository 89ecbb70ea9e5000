//! Upstream failures, classified by the phase in which they happened, and the
//! vendor's own error (HTTP status, code and message) kept as data.

use std::{fmt, time::Duration};

/// A vendor error code: numeric on both API families (sometimes sent as a
/// string), dotted on the token endpoint (`1.2.5`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VendorCode {
    Number(i64),
    Text(String),
}

impl VendorCode {
    /// Normalises a code sent as a string: `"20068"` is the number 20068.
    pub fn from_text(text: &str) -> Option<Self> {
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        Some(match text.parse::<i64>() {
            Ok(n) => VendorCode::Number(n),
            Err(_) => VendorCode::Text(text.to_owned()),
        })
    }

    pub fn as_number(&self) -> Option<i64> {
        match self {
            VendorCode::Number(n) => Some(*n),
            VendorCode::Text(_) => None,
        }
    }
}

impl fmt::Display for VendorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VendorCode::Number(n) => write!(f, "{n}"),
            VendorCode::Text(t) => f.write_str(t),
        }
    }
}

/// A non-2xx answer from the vendor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorError {
    pub http_status: u16,
    pub code: Option<VendorCode>,
    /// The vendor's message, when the body had one. May be Portuguese. Not
    /// for logs or status messages: unknown text could carry personal data.
    pub message: Option<String>,
    /// From `Retry-After` (delta-seconds or HTTP-date), when present.
    pub retry_after: Option<Duration>,
    /// The start of the raw body, for debugging only.
    pub body_excerpt: String,
}

/// What the HTTP client reported when an exchange broke (never holding the
/// URL, whose query may hold personal data).
pub type TransportError = Box<dyn std::error::Error + Send + Sync>;

/// Why an upstream call did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// The facade could not even form the request (a bug, or a bad base URL).
    #[error("could not build the upstream request: {detail}")]
    BuildRequest { detail: String },
    /// Nothing was sent: the connection could not be opened.
    #[error("could not connect to the upstream")]
    Connect {
        #[source]
        source: TransportError,
    },
    /// The request may have reached the vendor, but the exchange broke.
    #[error("the connection to the upstream was lost")]
    ConnectionLost {
        #[source]
        source: TransportError,
    },
    /// No complete answer within the call's time budget.
    #[error("the upstream did not answer within {budget:?}")]
    Timeout { budget: Duration },
    /// A 2xx answer whose body is not what the reference page documents.
    #[error("the upstream's answer (HTTP {http_status}) could not be parsed: {detail}")]
    UnparseableResponse { http_status: u16, detail: String },
    /// The vendor answered with an error.
    #[error("the upstream answered HTTP {} with code {:?}", .0.http_status, .0.code)]
    Vendor(VendorError),
}

impl UpstreamError {
    pub fn vendor(&self) -> Option<&VendorError> {
        match self {
            UpstreamError::Vendor(v) => Some(v),
            _ => None,
        }
    }
}
