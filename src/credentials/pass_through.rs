//! Pass-through credentials: the caller's `authorization` (and, for the ID
//! API, `apikey`) metadata, forwarded as the upstream headers.

use tonic::metadata::MetadataMap;

use super::CredentialsError;
use crate::upstream::{Api, UpstreamCredentials};

/// The metadata key holding the vendor access token.
pub const AUTHORIZATION_KEY: &str = "authorization";
/// The metadata key holding the vendor API key (ID API only).
pub const API_KEY_KEY: &str = "apikey";

pub(super) fn pass_through(
    metadata: &MetadataMap,
    api: Api,
) -> Result<UpstreamCredentials, CredentialsError> {
    let authorization = required(metadata, AUTHORIZATION_KEY)?;
    let api_key = match api {
        Api::Id => Some(required(metadata, API_KEY_KEY)?),
        Api::IdCloud => None,
    };
    UpstreamCredentials::new(authorization, api_key).map_err(|e| CredentialsError::Malformed {
        key: if e.header == "apikey" {
            API_KEY_KEY
        } else {
            AUTHORIZATION_KEY
        },
    })
}

fn required<'a>(metadata: &'a MetadataMap, key: &'static str) -> Result<&'a str, CredentialsError> {
    let value = metadata.get(key).ok_or(CredentialsError::Missing { key })?;
    let value = value
        .to_str()
        .map_err(|_| CredentialsError::Malformed { key })?;
    if value.trim().is_empty() || value.trim().eq_ignore_ascii_case("bearer") {
        return Err(CredentialsError::Missing { key });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(md: &MetadataMap, api: Api) -> Result<UpstreamCredentials, CredentialsError> {
        pass_through(md, api)
    }

    fn metadata(pairs: &[(&'static str, &str)]) -> MetadataMap {
        let mut map = MetadataMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn idcloud_needs_only_the_token() {
        let md = metadata(&[("authorization", "Bearer t")]);
        let creds = resolve(&md, Api::IdCloud).unwrap();
        assert!(!creds.has_api_key());
    }

    #[test]
    fn id_api_needs_the_api_key_too() {
        let md = metadata(&[("authorization", "Bearer t")]);
        assert_eq!(
            resolve(&md, Api::Id).unwrap_err(),
            CredentialsError::Missing { key: "apikey" }
        );
        let md = metadata(&[("authorization", "Bearer t"), ("apikey", "k")]);
        assert!(resolve(&md, Api::Id).unwrap().has_api_key());
    }

    #[test]
    fn empty_or_scheme_only_token_counts_as_missing() {
        for value in ["", "Bearer", "bearer  "] {
            let md = metadata(&[("authorization", value)]);
            assert_eq!(
                resolve(&md, Api::IdCloud).unwrap_err(),
                CredentialsError::Missing {
                    key: "authorization"
                },
                "{value:?}"
            );
        }
    }
}
