//! Where the credentials sent upstream come from, in one of two modes:
//!
//! - pass-through: the caller's `authorization` and `apikey` metadata;
//! - facade-held: the facade's own service account (an access token minted
//!   and cached by [`TokenProvider`]) and API key; callers' metadata is not
//!   forwarded unless overriding is allowed by configuration.

mod pass_through;
mod service_account;
mod token_cache;

use std::{sync::Arc, time::Duration};

pub use pass_through::{API_KEY_KEY, AUTHORIZATION_KEY};
use secrecy::{ExposeSecret, SecretString};
pub use service_account::{MAX_ASSERTION_LIFETIME, ServiceAccount, ServiceAccountError};
pub use token_cache::{RefreshPolicy, Token, TokenProvider, TokenWaitError, hint};
use tonic::metadata::MetadataMap;

use crate::upstream::{Api, UpstreamCredentials};

/// No usable credentials for a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("missing `{key}` metadata")]
    Missing { key: &'static str },
    #[error("`{key}` metadata is not a usable header value")]
    Malformed { key: &'static str },
    /// The facade's own token could not be had.
    #[error("the facade's access token: {0}")]
    Token(#[from] TokenWaitError),
    /// The vendor issued the facade a token that cannot travel in an HTTP
    /// header.
    #[error("the issued access token cannot be sent in an HTTP header")]
    UnsendableToken,
}

/// Whose credentials a call carried: decides whether an upstream rejection
/// is the caller's problem or the facade's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Caller,
    Facade,
}

/// Credentials for one call, and where they came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub credentials: UpstreamCredentials,
    pub origin: Origin,
    generation: Option<u64>,
}

/// The facade's own credentials.
#[derive(Debug)]
pub struct FacadeHeld {
    pub tokens: TokenProvider,
    pub api_key: SecretString,
    /// Whether a caller that sends `authorization` uses its own credentials.
    pub allow_caller_override: bool,
}

/// How credentials are obtained for upstream calls.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// Forward the caller's own credentials.
    #[default]
    PassThrough,
    /// Use the facade's service account and API key.
    FacadeHeld(Arc<FacadeHeld>),
}

impl CredentialSource {
    /// What the mode is, for the start-up log: never a secret.
    pub fn describe(&self) -> String {
        match self {
            CredentialSource::PassThrough => {
                "pass-through (callers' authorization/apikey metadata)".to_owned()
            }
            CredentialSource::FacadeHeld(held) => format!(
                "facade-held (service account {}, caller override {})",
                held.tokens.issuer(),
                if held.allow_caller_override {
                    "allowed"
                } else {
                    "off"
                }
            ),
        }
    }

    /// The checks that need no upstream call, made before the request body
    /// is validated (as the vendor's gateway checks credentials first).
    pub fn precheck(&self, metadata: &MetadataMap, api: Api) -> Result<(), CredentialsError> {
        match self {
            CredentialSource::PassThrough => pass_through::pass_through(metadata, api).map(|_| ()),
            CredentialSource::FacadeHeld(_) => Ok(()),
        }
    }

    /// The credentials for a call to `api`, waiting at most `budget` for the
    /// facade's token.
    pub async fn resolve(
        &self,
        metadata: &MetadataMap,
        api: Api,
        budget: Duration,
    ) -> Result<Resolved, CredentialsError> {
        let held = match self {
            CredentialSource::FacadeHeld(held)
                if !(held.allow_caller_override && metadata.contains_key(AUTHORIZATION_KEY)) =>
            {
                held
            }
            _ => {
                return Ok(Resolved {
                    credentials: pass_through::pass_through(metadata, api)?,
                    origin: Origin::Caller,
                    generation: None,
                });
            }
        };
        let token = held.tokens.token(budget).await?;
        let credentials = UpstreamCredentials::new(
            token.value.expose_secret(),
            Some(held.api_key.expose_secret()),
        )
        .map_err(|_| CredentialsError::UnsendableToken)?;
        Ok(Resolved {
            credentials,
            origin: Origin::Facade,
            generation: Some(token.generation),
        })
    }

    /// The upstream rejected these credentials before acting: drop the
    /// facade's token so that the next resolve fetches a new one.
    pub fn rejected(&self, resolved: &Resolved) {
        if let (CredentialSource::FacadeHeld(held), Some(generation)) = (self, resolved.generation)
        {
            held.tokens.invalidate(generation);
        }
    }
}
