//! The three parts of an idempotency key and how they are hashed: the
//! caller's `request_id` (parsed, AIP-155), the caller's scope (its mesh
//! identity, else its credentials), and the fingerprint of the request.
//! Only SHA-256 digests of them reach the store.

use sha2::{Digest, Sha256};
use tonic::metadata::MetadataMap;

use crate::upstream::Endpoint;

/// Longest `request_id` accepted.
pub const REQUEST_ID_MAX_CHARS: usize = 128;

/// A `request_id` that follows the contract: 1 to 128 of
/// `A-Z a-z 0-9 - _ . :`. Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestKey(String);

impl std::fmt::Debug for RequestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestKey(<redacted>)")
    }
}

/// Why a `request_id` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKeyProblem {
    TooLong,
    BadCharacter,
}

impl RequestKey {
    /// `None` for an empty field (no idempotency asked for).
    pub fn parse(raw: &str) -> Result<Option<Self>, RequestKeyProblem> {
        if raw.is_empty() {
            return Ok(None);
        }
        if raw.chars().count() > REQUEST_ID_MAX_CHARS {
            return Err(RequestKeyProblem::TooLong);
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.:".contains(&b);
        if !raw.bytes().all(allowed) {
            return Err(RequestKeyProblem::BadCharacter);
        }
        Ok(Some(Self(raw.to_owned())))
    }
}

/// SHA-256 of the canonical request (the protobuf encoding of the message
/// with `request_id` cleared: prost writes fields in number order, and the
/// create messages have no maps), hex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of<M: prost::Message>(message_without_request_id: &M) -> Self {
        let digest = Sha256::digest(message_without_request_id.encode_to_vec());
        Self(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who the caller is, as a digest: one caller can never reach another's
/// records.
#[derive(Clone, PartialEq, Eq)]
pub struct CallerScope([u8; 32]);

impl std::fmt::Debug for CallerScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerScope(<digest>)")
    }
}

impl CallerScope {
    /// The mesh identity in `identity_header` when configured and present
    /// (for `x-forwarded-client-cert`, the `URI=` of the nearest peer: the
    /// SPIFFE id); else the tenant credentials the call carries (the
    /// `apikey`, else `authorization`); else the facade's own tenant.
    pub fn of(metadata: &MetadataMap, identity_header: Option<&str>) -> Self {
        let header = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok());
        let identity = identity_header.and_then(|name| {
            let value = header(name)?;
            Some(match name.eq_ignore_ascii_case(XFCC) {
                true => spiffe_uri(value)?.to_owned(),
                false => value.to_owned(),
            })
        });
        let (kind, value) = match identity {
            Some(identity) => ("peer", identity),
            None => match (header("apikey"), header("authorization")) {
                (Some(key), _) => ("apikey", key.to_owned()),
                (None, Some(authorization)) => ("authorization", authorization.to_owned()),
                (None, None) => ("facade-tenant", String::new()),
            },
        };
        let mut hasher = Sha256::new();
        for part in [kind, value.as_str()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(hasher.finalize().into())
    }
}

/// Envoy's client-certificate header.
pub const XFCC: &str = "x-forwarded-client-cert";

/// The `URI=` of the last element of an `x-forwarded-client-cert` value
/// (each proxy appends one: the last is the peer that called us).
fn spiffe_uri(xfcc: &str) -> Option<&str> {
    let element = xfcc.rsplit(',').next()?;
    element
        .split(';')
        .find_map(|pair| pair.trim().strip_prefix("URI="))
        .map(|uri| uri.trim_matches('"'))
        .filter(|uri| !uri.is_empty())
}

/// The store key of a record: a digest of (scope, method, request id), so
/// the store shows none of them.
pub(super) fn store_key(scope: &CallerScope, endpoint: Endpoint, request: &RequestKey) -> String {
    let mut hasher = Sha256::new();
    hasher.update(scope.0);
    for part in [endpoint.route(), request.0.as_str()] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!(
        "unico-facade:idempotency:v1:{}",
        hex::encode(hasher.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_the_contract() {
        assert_eq!(RequestKey::parse("").unwrap(), None);
        for ok in [
            "8f2c1a9e-3b1d-4c52-9f0e-1a2b3c4d5e6f",
            "a",
            "A.b_c-d:e",
            &"x".repeat(128),
        ] {
            assert!(RequestKey::parse(ok).unwrap().is_some(), "{ok}");
        }
        assert_eq!(
            RequestKey::parse(&"x".repeat(129)),
            Err(RequestKeyProblem::TooLong)
        );
        for bad in ["a b", "a/b", "é", "a\n", "{x}"] {
            assert_eq!(
                RequestKey::parse(bad),
                Err(RequestKeyProblem::BadCharacter),
                "{bad}"
            );
        }
    }

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut md = MetadataMap::new();
        for (k, v) in pairs {
            md.insert(*k, v.parse().unwrap());
        }
        md
    }

    #[test]
    fn the_scope_is_the_peer_identity_else_the_credentials() {
        let xfcc = "By=spiffe://c/ns/f/sa/facade;Hash=ab;URI=spiffe://c/ns/a/sa/alice";
        let alice = metadata(&[(XFCC, xfcc), ("apikey", "k1")]);
        let alice_other_key = metadata(&[(XFCC, xfcc), ("apikey", "k2")]);
        let bob = metadata(&[(XFCC, &xfcc.replace("alice", "bob")), ("apikey", "k1")]);
        let header = Some(XFCC);
        assert_eq!(
            CallerScope::of(&alice, header),
            CallerScope::of(&alice_other_key, header)
        );
        assert_ne!(
            CallerScope::of(&alice, header),
            CallerScope::of(&bob, header)
        );
        // Without the header configured, the credentials decide.
        assert_eq!(CallerScope::of(&alice, None), CallerScope::of(&bob, None));
        assert_ne!(
            CallerScope::of(&alice, None),
            CallerScope::of(&alice_other_key, None)
        );
        // An apikey and an authorization of the same text are not one scope.
        assert_ne!(
            CallerScope::of(&metadata(&[("apikey", "x")]), None),
            CallerScope::of(&metadata(&[("authorization", "x")]), None)
        );
    }

    #[test]
    fn the_nearest_peer_of_a_forwarded_chain_is_the_caller() {
        let chain = "URI=spiffe://c/ns/a/sa/edge,By=x;URI=spiffe://c/ns/a/sa/caller";
        assert_eq!(spiffe_uri(chain), Some("spiffe://c/ns/a/sa/caller"));
        assert_eq!(spiffe_uri("Hash=ab"), None);
    }

    #[test]
    fn store_keys_show_nothing_of_their_parts() {
        let scope = CallerScope::of(&metadata(&[("apikey", "secret-key")]), None);
        let request = RequestKey::parse("req-123").unwrap().unwrap();
        let key = store_key(&scope, Endpoint::CreateDocumentProcess, &request);
        assert!(!key.contains("req-123") && !key.contains("secret"));
        let other = RequestKey::parse("req-124").unwrap().unwrap();
        assert_ne!(
            key,
            store_key(&scope, Endpoint::CreateDocumentProcess, &other)
        );
    }
}
