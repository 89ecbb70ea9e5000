//! Where the credentials sent upstream come from. Today: pass-through, the
//! caller's `authorization` (and, for the ID API, `apikey`) metadata. This is
//! the seam where facade-held credentials (a service account and API key
//! owned by the facade) plug in.

use tonic::metadata::MetadataMap;

use crate::upstream::{Api, UpstreamCredentials};

/// The metadata key holding the vendor access token.
pub const AUTHORIZATION_KEY: &str = "authorization";
/// The metadata key holding the vendor API key (ID API only).
pub const API_KEY_KEY: &str = "apikey";

/// The caller did not supply usable credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("missing `{key}` metadata")]
    Missing { key: &'static str },
    #[error("`{key}` metadata is not a usable header value")]
    Malformed { key: &'static str },
}

impl CredentialsError {
    pub fn metadata_key(self) -> &'static str {
        match self {
            CredentialsError::Missing { key } | CredentialsError::Malformed { key } => key,
        }
    }
}

/// How credentials are obtained for upstream calls.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// Forward the caller's own credentials.
    #[default]
    PassThrough,
}

impl CredentialSource {
    /// The credentials for a call to `api`, from the caller's metadata.
    pub fn resolve(
        &self,
        metadata: &MetadataMap,
        api: Api,
    ) -> Result<UpstreamCredentials, CredentialsError> {
        match self {
            CredentialSource::PassThrough => pass_through(metadata, api),
        }
    }
}

fn pass_through(metadata: &MetadataMap, api: Api) -> Result<UpstreamCredentials, CredentialsError> {
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
        let creds = CredentialSource::PassThrough
            .resolve(&md, Api::IdCloud)
            .unwrap();
        assert!(!creds.has_api_key());
    }

    #[test]
    fn id_api_needs_the_api_key_too() {
        let md = metadata(&[("authorization", "Bearer t")]);
        assert_eq!(
            CredentialSource::PassThrough
                .resolve(&md, Api::Id)
                .unwrap_err(),
            CredentialsError::Missing { key: "apikey" }
        );
        let md = metadata(&[("authorization", "Bearer t"), ("apikey", "k")]);
        assert!(
            CredentialSource::PassThrough
                .resolve(&md, Api::Id)
                .unwrap()
                .has_api_key()
        );
    }

    #[test]
    fn empty_or_scheme_only_token_counts_as_missing() {
        for value in ["", "Bearer", "bearer  "] {
            let md = metadata(&[("authorization", value)]);
            assert_eq!(
                CredentialSource::PassThrough
                    .resolve(&md, Api::IdCloud)
                    .unwrap_err(),
                CredentialsError::Missing {
                    key: "authorization"
                },
                "{value:?}"
            );
        }
    }
}
