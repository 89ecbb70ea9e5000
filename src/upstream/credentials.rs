//! The credentials sent upstream with a call: the `Authorization` header for
//! both families and the `APIKEY` header for the ID API. Where they come from
//! (the caller's metadata, or the facade's own account) is decided elsewhere.

use http::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

/// Credentials for one upstream call. `Debug` never shows them.
#[derive(Debug, Clone)]
pub struct UpstreamCredentials {
    authorization: SecretString,
    api_key: Option<SecretString>,
}

/// A credential that cannot travel in an HTTP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{header} contains characters that cannot be sent in an HTTP header")]
pub struct CredentialsFormatError {
    pub header: &'static str,
}

const API_KEY_HEADER: &str = "apikey";

impl UpstreamCredentials {
    /// `authorization` is a full header value (`Bearer <token>`); a bare
    /// token gets the `Bearer` scheme.
    pub fn new(authorization: &str, api_key: Option<&str>) -> Result<Self, CredentialsFormatError> {
        check_header_value(authorization, "authorization")?;
        let authorization = if has_scheme(authorization) {
            authorization.trim().to_owned()
        } else {
            format!("Bearer {}", authorization.trim())
        };
        check_header_value(&authorization, "authorization")?;
        if let Some(key) = api_key {
            check_header_value(key, "apikey")?;
        }
        Ok(Self {
            authorization: SecretString::from(authorization),
            api_key: api_key.map(|k| SecretString::from(k.trim().to_owned())),
        })
    }

    pub fn has_api_key(&self) -> bool {
        self.api_key.is_some()
    }

    /// Writes the headers, marked sensitive so that no HTTP-level logging
    /// prints them.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, with_api_key: bool) {
        if let Ok(mut value) = HeaderValue::from_str(self.authorization.expose_secret()) {
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        if with_api_key
            && let Some(key) = &self.api_key
            && let Ok(mut value) = HeaderValue::from_str(key.expose_secret())
        {
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(API_KEY_HEADER), value);
        }
    }
}

fn has_scheme(value: &str) -> bool {
    let value = value.trim_start();
    value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")
}

fn check_header_value(value: &str, header: &'static str) -> Result<(), CredentialsFormatError> {
    let ok = !value.trim().is_empty() && HeaderValue::from_str(value).is_ok();
    ok.then_some(()).ok_or(CredentialsFormatError { header })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_tokens_get_the_bearer_scheme_and_nothing_prints() {
        let creds = UpstreamCredentials::new("tok-123", Some("key-456")).unwrap();
        let mut headers = HeaderMap::new();
        creds.apply(&mut headers, true);
        assert_eq!(headers[AUTHORIZATION], "Bearer tok-123");
        assert_eq!(headers["apikey"], "key-456");
        assert!(headers[AUTHORIZATION].is_sensitive());
        let printed = format!("{creds:?}");
        assert!(
            !printed.contains("tok-123") && !printed.contains("key-456"),
            "{printed}"
        );
    }

    #[test]
    fn existing_scheme_is_kept_and_api_key_only_when_asked() {
        let creds = UpstreamCredentials::new("bearer abc", Some("k")).unwrap();
        let mut headers = HeaderMap::new();
        creds.apply(&mut headers, false);
        assert_eq!(headers[AUTHORIZATION], "bearer abc");
        assert!(!headers.contains_key("apikey"));
    }

    #[test]
    fn unsendable_values_are_refused() {
        assert!(UpstreamCredentials::new("a\nb", None).is_err());
        assert!(UpstreamCredentials::new("  ", None).is_err());
        assert!(UpstreamCredentials::new("ok", Some("x\u{7f}")).is_err());
    }
}
