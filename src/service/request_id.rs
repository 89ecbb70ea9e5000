//! The request id of a call: the caller's `x-request-id` when it is a sane
//! token, otherwise a fresh UUID. Logged on the call's line, returned in the
//! response metadata and in RequestInfo on errors.

use http::HeaderMap;
use tonic::metadata::MetadataMap;

/// The metadata key, in and out.
pub const REQUEST_ID_KEY: &str = "x-request-id";
const MAX_CHARS: usize = 128;

/// A request id safe to log and echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub fn from_metadata(metadata: &MetadataMap) -> Self {
        Self::from_headers(metadata.as_ref())
    }

    /// The caller's id from the request headers, or a fresh one.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(REQUEST_ID_KEY)
            .and_then(|v| v.to_str().ok())
            .and_then(Self::parse)
            .unwrap_or_else(Self::generate)
    }

    /// A version-4 UUID from a thread-local generator: a request id needs to
    /// be unique, not unguessable, and the operating system's generator
    /// (`Uuid::new_v4`) costs a system call on every call.
    fn generate() -> Self {
        let bytes = fastrand::u128(..).to_le_bytes();
        Self(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string(),
        )
    }

    /// A caller's id, if it is a sane token (see [`is_sane`]).
    pub fn parse(value: &str) -> Option<Self> {
        is_sane(value).then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Letters, digits and `-._:` only: nothing that could smuggle data or
/// break a log line.
fn is_sane(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_CHARS
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_caller_id_is_kept_and_anything_else_replaced() {
        let mut md = MetadataMap::new();
        md.insert(REQUEST_ID_KEY, "req-123:abc".parse().unwrap());
        assert_eq!(RequestId::from_metadata(&md).as_str(), "req-123:abc");
        md.insert(REQUEST_ID_KEY, "luke@example.com".parse().unwrap());
        let generated = RequestId::from_metadata(&md);
        assert_eq!(generated.as_str().len(), 36);
        let parsed = uuid::Uuid::parse_str(generated.as_str()).unwrap();
        assert_eq!(parsed.get_version(), Some(uuid::Version::Random));
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
        assert!(RequestId::from_metadata(&MetadataMap::new()).as_str() != generated.as_str());
    }
}
