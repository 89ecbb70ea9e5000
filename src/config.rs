//! Typed settings: the command line and its environment variables (clap),
//! turned into [`Settings`] that the app is built from. Tests build
//! `Settings` directly instead of touching the process environment.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    credentials::CredentialSource,
    upstream::{Environment, HostsError, UpstreamHosts},
    validation::{ImageLimits, MAX_FILES},
};

/// gRPC facade over the vendor's identity REST APIs (IDCloud client API and ID API).
#[derive(Debug, Parser)]
#[command(name = "unico-facade", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (ProcessService, DocumentService, health, reflection).
    Serve(ServeArgs),
    /// Serve only the emulator of the vendor's REST endpoints.
    Emulator(EmulatorArgs),
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    Json,
    Text,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the gRPC listener.
    #[arg(long, env = "UNICO_FACADE_LISTEN", default_value = "0.0.0.0:50051")]
    pub listen: SocketAddr,

    /// The vendor environment whose hosts are called.
    #[arg(long, env = "UNICO_ENVIRONMENT", value_enum, default_value_t = Environment::Production)]
    pub environment: Environment,

    /// Base URL of the IDCloud client API, overriding the environment's
    /// (an egress proxy, a test double). A path prefix is kept.
    #[arg(long, env = "UNICO_IDCLOUD_API_URL")]
    pub idcloud_api_url: Option<String>,

    /// Base URL of the ID API, overriding the environment's.
    #[arg(long, env = "UNICO_ID_API_URL")]
    pub id_api_url: Option<String>,

    /// Start the embedded emulator on a loopback port and send every upstream
    /// call to it. Answers are simulated: never use in production.
    #[arg(long, env = "UNICO_FACADE_EMULATOR")]
    pub emulator: bool,

    /// Address of the embedded emulator (with --emulator), for its admin API
    /// (`/__emulator/faults`, `/__emulator/requests`). Loopback only.
    #[arg(long, env = "UNICO_FACADE_EMULATOR_LISTEN", default_value = "127.0.0.1:0")]
    pub emulator_listen: SocketAddr,

    /// Longest time an upstream call may take when the caller sets no
    /// shorter deadline (e.g. `10s`, `1500ms`).
    #[arg(long, env = "UNICO_FACADE_UPSTREAM_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Longest time to open a connection to the upstream.
    #[arg(long, env = "UNICO_FACADE_CONNECT_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Largest document image accepted, in raw (not base64) bytes. The
    /// vendor's "800 KB" is read as 800 × 1024.
    #[arg(long, env = "UNICO_FACADE_MAX_IMAGE_BYTES", default_value_t = 819_200)]
    pub max_image_bytes: usize,

    /// Smallest long side of a document image, in pixels.
    #[arg(long, env = "UNICO_FACADE_MIN_IMAGE_LONG_SIDE", default_value_t = 640)]
    pub min_image_long_side: usize,

    /// Smallest short side of a document image, in pixels.
    #[arg(long, env = "UNICO_FACADE_MIN_IMAGE_SHORT_SIDE", default_value_t = 480)]
    pub min_image_short_side: usize,

    /// Largest gRPC request message accepted, in bytes; larger requests get
    /// RESOURCE_EXHAUSTED. Default: two maximum images plus 64 KiB.
    #[arg(long, env = "UNICO_FACADE_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Log format.
    #[arg(long, env = "UNICO_FACADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address of the emulator's HTTP listener.
    #[arg(long, env = "UNICO_EMULATOR_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Log format.
    #[arg(long, env = "UNICO_FACADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// Where upstream calls go.
#[derive(Debug, Clone)]
pub enum UpstreamTarget {
    /// The vendor's hosts (or overrides of them).
    Vendor {
        environment: Environment,
        hosts: UpstreamHosts,
    },
    /// An emulator the app starts on a loopback address.
    EmbeddedEmulator { listen: SocketAddr },
}

/// Everything the app is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub upstream: UpstreamTarget,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub credentials: CredentialSource,
    pub image_limits: ImageLimits,
    /// Largest gRPC request message decoded.
    pub max_request_bytes: usize,
}

/// Room for everything but the images in a CreateDocumentProcess request.
const REQUEST_OVERHEAD_BYTES: usize = 64 * 1024;

fn default_max_request_bytes(limits: &ImageLimits) -> usize {
    limits.max_bytes * MAX_FILES + REQUEST_OVERHEAD_BYTES
}

impl Settings {
    /// Settings for tests and embedding: listen on `listen`, call `hosts`.
    pub fn new(listen: SocketAddr, hosts: UpstreamHosts) -> Self {
        Self {
            listen,
            upstream: UpstreamTarget::Vendor {
                environment: Environment::Production,
                hosts,
            },
            upstream_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            credentials: CredentialSource::PassThrough,
            image_limits: ImageLimits::default(),
            max_request_bytes: default_max_request_bytes(&ImageLimits::default()),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Hosts(#[from] HostsError),
    #[error("--emulator cannot be combined with --idcloud-api-url or --id-api-url")]
    EmulatorWithOverrides,
    #[error("--emulator-listen must be a loopback address: the emulator is not for other hosts")]
    EmulatorNotLoopback,
    #[error("--max-request-bytes must at least fit two images of --max-image-bytes")]
    RequestLimitBelowImages,
}

impl ServeArgs {
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let upstream = if self.emulator {
            if self.idcloud_api_url.is_some() || self.id_api_url.is_some() {
                return Err(ConfigError::EmulatorWithOverrides);
            }
            if !self.emulator_listen.ip().is_loopback() {
                return Err(ConfigError::EmulatorNotLoopback);
            }
            UpstreamTarget::EmbeddedEmulator {
                listen: self.emulator_listen,
            }
        } else {
            let mut hosts = UpstreamHosts::for_environment(self.environment);
            if let Some(url) = &self.idcloud_api_url {
                hosts = hosts.with_idcloud_api(url)?;
            }
            if let Some(url) = &self.id_api_url {
                hosts = hosts.with_id_api(url)?;
            }
            UpstreamTarget::Vendor {
                environment: self.environment,
                hosts,
            }
        };
        let image_limits = ImageLimits {
            max_bytes: self.max_image_bytes,
            min_long_side: self.min_image_long_side,
            min_short_side: self.min_image_short_side,
        };
        let max_request_bytes = self
            .max_request_bytes
            .unwrap_or_else(|| default_max_request_bytes(&image_limits));
        if max_request_bytes < default_max_request_bytes(&image_limits) - REQUEST_OVERHEAD_BYTES {
            return Err(ConfigError::RequestLimitBelowImages);
        }
        Ok(Settings {
            listen: self.listen,
            upstream,
            upstream_timeout: self.upstream_timeout,
            connect_timeout: self.connect_timeout,
            credentials: CredentialSource::PassThrough,
            image_limits,
            max_request_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = ["unico-facade", "serve"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Serve(args) => args,
            Command::Emulator(_) => unreachable!("parsed serve"),
        })
    }

    #[test]
    fn defaults_call_production() {
        let settings = serve(&[]).unwrap().settings().unwrap();
        assert_eq!(settings.listen, "0.0.0.0:50051".parse().unwrap());
        let UpstreamTarget::Vendor { environment, hosts } = settings.upstream else {
            panic!("not the vendor");
        };
        assert_eq!(environment, Environment::Production);
        assert_eq!(
            hosts.idcloud_api().as_str(),
            "https://api.idcloud.unico.app/"
        );
    }

    #[test]
    fn sandbox_with_one_override() {
        let args = serve(&[
            "--environment",
            "sandbox",
            "--id-api-url",
            "http://127.0.0.1:9/x",
        ])
        .unwrap();
        let UpstreamTarget::Vendor { hosts, .. } = args.settings().unwrap().upstream else {
            panic!("not the vendor");
        };
        assert_eq!(
            hosts.idcloud_api().as_str(),
            "https://api.idcloud.uat.unico.app/"
        );
        assert_eq!(hosts.id_api().as_str(), "http://127.0.0.1:9/x");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(serve(&["--environment", "staging"]).is_err());
        assert!(serve(&["--upstream-timeout", "0s"]).is_err());
        assert!(serve(&["--upstream-timeout", "soon"]).is_err());
        let clash = serve(&["--emulator", "--id-api-url", "http://x"]).unwrap();
        assert!(matches!(
            clash.settings(),
            Err(ConfigError::EmulatorWithOverrides)
        ));
        let bad_url = serve(&["--idcloud-api-url", "not-a-url"]).unwrap();
        assert!(bad_url.settings().is_err());
        let small = serve(&["--max-request-bytes", "1000"]).unwrap();
        assert!(matches!(small.settings(), Err(ConfigError::RequestLimitBelowImages)));
    }

    #[test]
    fn the_request_limit_follows_the_image_limit() {
        let settings = serve(&["--max-image-bytes", "1000000"]).unwrap().settings().unwrap();
        assert_eq!(settings.image_limits.max_bytes, 1_000_000);
        assert_eq!(settings.max_request_bytes, 2_000_000 + 64 * 1024);
        let default = serve(&[]).unwrap().settings().unwrap();
        assert_eq!(default.max_request_bytes, 2 * 819_200 + 64 * 1024);
    }
}
