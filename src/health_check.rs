//! The client side of `grpc.health.v1.Health`: one `Check` call against a
//! running facade, for `unico-facade health` (Docker `HEALTHCHECK`, exec
//! probes, scripts). It owns the target address, the deadline and the
//! meaning of each answer; [`check`] succeeds only on SERVING and names
//! every other outcome in [`HealthCheckError`], so that `main` maps it to an
//! exit code and one line on stderr, and tests can assert on it.
//!
//! Plaintext HTTP/2 only, like the Kubernetes gRPC probe: with TLS on the
//! listener (`--tls-cert-file`), use a TLS-capable checker instead.

use std::{fmt, str::FromStr, time::Duration};

use http::Uri;
use tonic::{Code, transport::Endpoint};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// Where the check connects when no address is given: the default listener
/// port on loopback, i.e. the facade in the same container or pod.
pub const DEFAULT_ADDR: &str = "127.0.0.1:50051";

/// The longest a check takes, connection included, when none is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The server whose health is checked: `host:port` or `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target(Uri);

/// An address the check cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("`{0}` is not `host:port` or `http://host:port`")]
    Malformed(String),
    #[error("`{0}` has no port: give `host:port`")]
    NoPort(String),
    #[error("`{0}`: only plaintext `http://` is supported (the check does not speak TLS)")]
    UnsupportedScheme(String),
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let malformed = || TargetError::Malformed(value.to_owned());
        let with_scheme = if value.contains("://") {
            value.to_owned()
        } else {
            format!("http://{value}")
        };
        let uri: Uri = with_scheme.parse().map_err(|_| malformed())?;
        if uri.scheme_str() != Some("http") {
            return Err(TargetError::UnsupportedScheme(value.to_owned()));
        }
        let authority = uri.authority().ok_or_else(malformed)?;
        if authority.host().is_empty() || authority.as_str().contains('@') {
            return Err(malformed());
        }
        if authority.port_u16().is_none() {
            return Err(TargetError::NoPort(value.to_owned()));
        }
        if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
            return Err(malformed());
        }
        Ok(Self(uri))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.authority() {
            Some(authority) => f.write_str(authority.as_str()),
            None => write!(f, "{}", self.0),
        }
    }
}

/// Why a check did not find the service SERVING. Each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum HealthCheckError {
    /// The answer was NOT_SERVING: starting, draining, or a dependency down.
    #[error("{} at {target} is NOT_SERVING", Subject(.service))]
    NotServing { target: Target, service: String },
    /// The server has no health entry of that name (gRPC NOT_FOUND from
    /// `Check`, or SERVICE_UNKNOWN).
    #[error("{target} has no health entry for service `{service}` (SERVICE_UNKNOWN)")]
    ServiceUnknown { target: Target, service: String },
    /// The answer was UNKNOWN or a number this client does not know.
    #[error("{} at {target} reports status {status}", Subject(.service))]
    UnexpectedStatus {
        target: Target,
        service: String,
        status: String,
    },
    /// No connection could be opened (refused, no route, name not resolved).
    #[error("{target} is unreachable: {}", root_cause(.source))]
    Unreachable {
        target: Target,
        #[source]
        source: tonic::transport::Error,
    },
    /// No answer within the timeout, connection included.
    #[error("no answer from {target} within {}", humantime::format_duration(*.timeout))]
    Timeout { target: Target, timeout: Duration },
    /// The call itself failed: no health service, connection lost, ….
    #[error("the health check call to {target} failed: {code:?} {message:?}")]
    CallFailed {
        target: Target,
        code: Code,
        message: String,
    },
}

/// `""` is the whole server; anything else is one service's entry.
struct Subject<'a>(&'a str);

impl fmt::Display for Subject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("the server")
        } else {
            write!(f, "service `{}`", self.0)
        }
    }
}

/// The innermost cause: "Connection refused (os error 111)" rather than
/// tonic's "transport error".
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// Asks `target` for the health of `service` (`""`: the whole server) and
/// succeeds only if the answer is SERVING within `timeout`.
pub async fn check(
    target: &Target,
    service: &str,
    timeout: Duration,
) -> Result<(), HealthCheckError> {
    match tokio::time::timeout(timeout, ask(target, service)).await {
        Ok(outcome) => outcome,
        Err(_elapsed) => Err(HealthCheckError::Timeout {
            target: target.clone(),
            timeout,
        }),
    }
}

async fn ask(target: &Target, service: &str) -> Result<(), HealthCheckError> {
    let channel = Endpoint::from(target.0.clone())
        .connect()
        .await
        .map_err(|source| HealthCheckError::Unreachable {
            target: target.clone(),
            source,
        })?;
    let request = HealthCheckRequest {
        service: service.to_owned(),
    };
    let answer = HealthClient::new(channel).check(request).await;
    let status = match answer {
        Ok(response) => response.into_inner().status,
        Err(status) if status.code() == Code::NotFound => {
            return Err(HealthCheckError::ServiceUnknown {
                target: target.clone(),
                service: service.to_owned(),
            });
        }
        Err(status) => {
            return Err(HealthCheckError::CallFailed {
                target: target.clone(),
                code: status.code(),
                message: status.message().to_owned(),
            });
        }
    };
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Serving) => Ok(()),
        Ok(ServingStatus::NotServing) => Err(HealthCheckError::NotServing {
            target: target.clone(),
            service: service.to_owned(),
        }),
        Ok(ServingStatus::ServiceUnknown) => Err(HealthCheckError::ServiceUnknown {
            target: target.clone(),
            service: service.to_owned(),
        }),
        Ok(ServingStatus::Unknown) => Err(HealthCheckError::UnexpectedStatus {
            target: target.clone(),
            service: service.to_owned(),
            status: "UNKNOWN".to_owned(),
        }),
        Err(_) => Err(HealthCheckError::UnexpectedStatus {
            target: target.clone(),
            service: service.to_owned(),
            status: status.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_and_port_with_an_optional_http_scheme() {
        for (given, shown) in [
            ("127.0.0.1:50051", "127.0.0.1:50051"),
            ("localhost:50051", "localhost:50051"),
            ("[::1]:50051", "[::1]:50051"),
            ("http://127.0.0.1:50051", "127.0.0.1:50051"),
            (
                "http://facade.default.svc:50051/",
                "facade.default.svc:50051",
            ),
        ] {
            let target: Target = given.parse().unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(target.to_string(), shown);
        }
    }

    #[test]
    fn unusable_targets_are_refused_with_the_reason() {
        for (given, expected) in [
            ("127.0.0.1", TargetError::NoPort("127.0.0.1".into())),
            (
                "https://127.0.0.1:50051",
                TargetError::UnsupportedScheme("https://127.0.0.1:50051".into()),
            ),
            ("", TargetError::Malformed(String::new())),
            (
                "not an address",
                TargetError::Malformed("not an address".into()),
            ),
            (
                "http://127.0.0.1:50051/grpc",
                TargetError::Malformed("http://127.0.0.1:50051/grpc".into()),
            ),
            (
                "user@127.0.0.1:50051",
                TargetError::Malformed("user@127.0.0.1:50051".into()),
            ),
        ] {
            assert_eq!(given.parse::<Target>(), Err(expected), "{given}");
        }
    }

    #[test]
    fn messages_name_the_whole_server_or_the_service() {
        let target: Target = DEFAULT_ADDR.parse().unwrap();
        let whole = HealthCheckError::NotServing {
            target: target.clone(),
            service: String::new(),
        };
        assert_eq!(
            whole.to_string(),
            "the server at 127.0.0.1:50051 is NOT_SERVING"
        );
        let one = HealthCheckError::NotServing {
            target: target.clone(),
            service: "unico.identity.v1.ProcessService".into(),
        };
        assert_eq!(
            one.to_string(),
            "service `unico.identity.v1.ProcessService` at 127.0.0.1:50051 is NOT_SERVING"
        );
        let slow = HealthCheckError::Timeout {
            target,
            timeout: Duration::from_millis(1500),
        };
        assert_eq!(
            slow.to_string(),
            "no answer from 127.0.0.1:50051 within 1s 500ms"
        );
    }

    #[test]
    fn the_subcommand_defaults_to_the_local_listener_and_the_whole_server() {
        use clap::Parser as _;

        use crate::config::{Cli, Command};

        let cli = Cli::try_parse_from(["unico-facade", "health"]).unwrap();
        let Command::Health(args) = cli.command else {
            panic!("parsed health");
        };
        if std::env::var_os("UNICO_FACADE_HEALTH_ADDR").is_none() {
            assert_eq!(args.addr, DEFAULT_ADDR.parse().unwrap());
        }
        assert_eq!(args.service, "");
        assert_eq!(args.timeout.0, DEFAULT_TIMEOUT);
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target: Target = listener.local_addr().unwrap().to_string().parse().unwrap();
        drop(listener);
        let error = check(&target, "", DEFAULT_TIMEOUT).await.unwrap_err();
        assert!(
            matches!(error, HealthCheckError::Unreachable { .. }),
            "{error}"
        );
        assert_eq!(error.to_string().lines().count(), 1, "{error}");
    }
}
