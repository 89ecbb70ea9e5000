//! The vendor's two host families (IDCloud client API, ID API) for each
//! environment, and the per-family base URL overrides.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::Url;

/// Which of the vendor's environments the facade talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Environment {
    #[default]
    Production,
    Sandbox,
}

impl Environment {
    fn idcloud_api(self) -> &'static str {
        match self {
            Environment::Production => "https://api.idcloud.unico.app",
            Environment::Sandbox => "https://api.idcloud.uat.unico.app",
        }
    }

    fn id_api(self) -> &'static str {
        match self {
            Environment::Production => "https://api.id.unico.app",
            Environment::Sandbox => "https://api.id.uat.unico.app",
        }
    }

    fn identity(self) -> &'static str {
        match self {
            Environment::Production => "https://identity.acesso.io",
            Environment::Sandbox => "https://identityhomolog.acesso.io",
        }
    }

    /// The `aud` of token assertions: the identity host, no trailing slash.
    pub fn token_audience(self) -> &'static str {
        self.identity()
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
        })
    }
}

/// A base URL that cannot be used. Which setting it came from is the
/// caller's to say.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    #[error("`{value}` is not an absolute http(s) URL")]
    NotHttpUrl { value: String },
    #[error("a base URL must not carry a query or a fragment")]
    HasQuery,
}

/// The base URL of each host family. A base may carry a path prefix (an
/// egress proxy's route, say); endpoint paths are appended to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamHosts {
    idcloud_api: Url,
    id_api: Url,
    /// The identity host that issues access tokens (facade-held credentials).
    identity: Url,
}

impl UpstreamHosts {
    pub fn for_environment(environment: Environment) -> Self {
        Self {
            idcloud_api: Url::parse(environment.idcloud_api()).expect("preset URLs are valid"),
            id_api: Url::parse(environment.id_api()).expect("preset URLs are valid"),
            identity: Url::parse(environment.identity()).expect("preset URLs are valid"),
        }
    }

    /// Both families on one base URL, as the emulator serves them.
    pub fn single(base: &str) -> Result<Self, HostsError> {
        let url = parse_base(base)?;
        Ok(Self {
            idcloud_api: url.clone(),
            id_api: url.clone(),
            identity: url,
        })
    }

    pub fn with_idcloud_api(mut self, base: &str) -> Result<Self, HostsError> {
        self.idcloud_api = parse_base(base)?;
        Ok(self)
    }

    pub fn with_id_api(mut self, base: &str) -> Result<Self, HostsError> {
        self.id_api = parse_base(base)?;
        Ok(self)
    }

    pub fn with_identity(mut self, base: &str) -> Result<Self, HostsError> {
        self.identity = parse_base(base)?;
        Ok(self)
    }

    pub fn identity(&self) -> &Url {
        &self.identity
    }

    pub fn idcloud_api(&self) -> &Url {
        &self.idcloud_api
    }

    pub fn id_api(&self) -> &Url {
        &self.id_api
    }
}

fn parse_base(value: &str) -> Result<Url, HostsError> {
    let not_http = || HostsError::NotHttpUrl {
        value: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| not_http())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(not_http());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(HostsError::HasQuery);
    }
    Ok(url)
}

/// Everything but RFC 3986 unreserved characters is encoded, so that no
/// process id (`../x`, `a/b`, `?`, `#`, unicode) can change the URL's shape.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A value (a process id) as exactly one percent-encoded path segment.
pub(crate) fn encode_segment(value: &str) -> String {
    utf8_percent_encode(value, PATH_SEGMENT).to_string()
}

/// Appends already-encoded path segments to a base URL, keeping its prefix.
/// Only the path is parsed: the base's scheme and host were parsed and
/// checked once, at start (re-parsing the whole URL ran the host through
/// IDNA on every call, 3–4 % of a call's instructions). The path goes
/// through the same parser as in a whole URL, dot segments included.
pub(crate) fn endpoint_url(base: &Url, encoded_path: &str) -> Result<Url, String> {
    let mut url = base.clone();
    let path = format!("{}{encoded_path}", base.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_point_at_the_documented_hosts() {
        let prod = UpstreamHosts::for_environment(Environment::Production);
        assert_eq!(
            prod.idcloud_api().as_str(),
            "https://api.idcloud.unico.app/"
        );
        assert_eq!(prod.id_api().as_str(), "https://api.id.unico.app/");
        let sandbox = UpstreamHosts::for_environment(Environment::Sandbox);
        assert_eq!(
            sandbox.idcloud_api().as_str(),
            "https://api.idcloud.uat.unico.app/"
        );
        assert_eq!(sandbox.id_api().as_str(), "https://api.id.uat.unico.app/");
        assert_eq!(
            sandbox.identity().as_str(),
            "https://identityhomolog.acesso.io/"
        );
        assert_eq!(
            Environment::Production.token_audience(),
            "https://identity.acesso.io"
        );
    }

    #[test]
    fn overrides_keep_a_path_prefix_and_reject_non_http() {
        let hosts = UpstreamHosts::for_environment(Environment::Sandbox)
            .with_id_api("http://proxy.internal:8080/vendor/")
            .unwrap();
        let url = endpoint_url(hosts.id_api(), "/processes/v1").unwrap();
        assert_eq!(
            url.as_str(),
            "http://proxy.internal:8080/vendor/processes/v1"
        );
        assert!(UpstreamHosts::single("ftp://x").is_err());
        assert!(UpstreamHosts::single("not a url").is_err());
        assert!(UpstreamHosts::single("http://h/?a=1").is_err());
    }

    #[test]
    fn an_endpoint_url_is_the_url_parsed_whole() {
        let bases = [
            "https://api.id.unico.app/",
            "http://proxy.internal:8080/vendor/",
            "http://proxy.internal:8080/vendor",
            "http://127.0.0.1:9/",
            "http://[::1]:9/a/b/",
        ];
        let ids = [
            "abc-123", "..", ".", "%2e%2e", "../x", "a/b", "?q#f", "ção", "%2F", "",
        ];
        for base in bases {
            let base = Url::parse(base).unwrap();
            for id in ids {
                for path in [
                    format!("/client/v1/process/{}/document", encode_segment(id)),
                    format!("/processes/v1/{}", encode_segment(id)),
                    "/processes/v1".to_owned(),
                ] {
                    let whole = format!("{}{path}", base.as_str().trim_end_matches('/'));
                    assert_eq!(
                        endpoint_url(&base, &path).unwrap(),
                        Url::parse(&whole).unwrap(),
                        "{base} + {path}"
                    );
                }
            }
        }
    }

    #[test]
    fn hostile_ids_stay_one_segment() {
        let cases = [
            ("abc-123", "abc-123"),
            ("../x", "..%2Fx"),
            ("a/b", "a%2Fb"),
            ("?q#f", "%3Fq%23f"),
            ("a b", "a%20b"),
            ("ção", "%C3%A7%C3%A3o"),
            ("%2F", "%252F"),
        ];
        for (id, expected) in cases {
            assert_eq!(encode_segment(id), expected);
        }
    }
}
