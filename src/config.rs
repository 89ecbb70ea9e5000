//! Typed settings: the command line and its environment variables (clap),
//! turned into [`Settings`] that the app is built from. Tests build
//! `Settings` directly instead of touching the process environment.

use std::{
    fmt,
    net::{Ipv4Addr, SocketAddr, SocketAddrV4},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};

use secrecy::SecretString;

use crate::{
    circuit::CircuitSettings,
    credentials::{RefreshPolicy, ServiceAccount, ServiceAccountError},
    idempotency::{IdempotencySettings, Keyring, KeyringError, StoreSettings},
    rate_limit::{Rate, RateLimitSettings},
    service::WatchSettings,
    store::RedisSettings,
    telemetry::LogFormat,
    upstream::{Environment, HostsError, UpstreamHosts, UpstreamSettings},
    validation::{ImageLimits, MAX_FILES},
};

/// The defaults of `serve`: their one home, read by the command line and by
/// [`Settings::new`] alike. Defaults owned by a part (the upstream client's
/// connect timeout, the image limits, the token refresh policy) are theirs.
pub mod defaults {
    use super::*;

    pub const LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 50051));
    pub const EMULATOR_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    pub const STANDALONE_EMULATOR_LISTEN: SocketAddr =
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080));
    pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
    pub const CONNECT_TIMEOUT: Duration = UpstreamSettings::DEFAULT_CONNECT_TIMEOUT;
    pub const TOKEN_REFRESH_MARGIN: Duration = RefreshPolicy::DEFAULT_MARGIN;
    pub const DRAIN_DELAY: Duration = Duration::from_secs(5);
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
    pub const MAX_CONCURRENT_CALLS: usize = 256;
    pub const REQUEST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
    pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
    pub const HTTP2: Http2Settings = Http2Settings {
        max_concurrent_streams: 100,
        keepalive_interval: Some(HTTP2_KEEPALIVE_INTERVAL),
        keepalive_timeout: Duration::from_secs(10),
        max_header_list_bytes: 16 * 1024,
    };
    /// Replicas sharing the outgoing budget when they cannot agree on it:
    /// one, the whole budget (a single replica, or set it).
    pub const RATE_LIMIT_REPLICAS: std::num::NonZeroU32 = std::num::NonZeroU32::MIN;
    /// The longest a reservation in the shared budget (a loopback or LAN
    /// round trip, well under a millisecond) may take before the call uses
    /// the local share: small against a call's deadline.
    pub const RATE_LIMIT_STORE_TIMEOUT: Duration = Duration::from_millis(50);
    /// How long calls keep to the local share before one tries Redis again.
    pub const RATE_LIMIT_PROBE_BACKOFF: Duration = Duration::from_secs(1);
    /// How long a vendor 429 without `Retry-After` holds the budget back
    /// (the emulator's, and the vendor's secondary source's, is 2 s).
    pub const RATE_LIMIT_HOLD: Duration = Duration::from_secs(1);
    /// How late one send may be against another (timers, a new connection,
    /// scheduling: a few ms on loopback, tens on a loaded debug build)
    /// before a vendor counting any 1 s window could see one call too
    /// many: `N/s` is spaced so that N calls span 1 s + this.
    pub const RATE_LIMIT_WINDOW_GUARD: Duration = Duration::from_millis(25);
}

/// A duration on the command line, written and shown the humantime way
/// (`10s`, `1500ms`, `5m`), so that clap's help prints the same default the
/// settings use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        humantime::format_duration(self.0).fmt(f)
    }
}

/// gRPC facade over the vendor's identity REST APIs (IDCloud client API and ID API).
#[derive(Debug, Parser)]
#[command(name = "unico-facade", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Built once at start-up: the size difference between variants is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the gRPC API (ProcessService, DocumentService, health, reflection).
    Serve(ServeArgs),
    /// Serve only the emulator of the vendor's REST endpoints.
    Emulator(EmulatorArgs),
    /// Check a running facade's gRPC health: exit 0 only if SERVING.
    Health(HealthArgs),
}

/// Whose credentials upstream calls carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum CredentialMode {
    /// The caller's `authorization` and `apikey` metadata.
    #[default]
    PassThrough,
    /// The facade's own service account and API key.
    FacadeHeld,
}

/// The environment variable holding the API key (facade-held mode). Not a
/// flag: a secret on a command line is visible to every local user.
pub const API_KEY_ENV: &str = "UNICO_API_KEY";
/// The environment variable holding the webhook's secret (never a flag:
/// command lines are visible to every user of the host).
pub const WEBHOOK_SECRET_ENV: &str = "UNICO_FACADE_WEBHOOK_SECRET";

/// How the vendor authenticates its webhook deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum WebhookAuthMode {
    /// HTTP Basic: `--webhook-username` and the secret as the password.
    #[default]
    Basic,
    /// The secret as the value of `--webhook-api-key-header`.
    ApiKey,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the gRPC listener.
    #[arg(long, env = "UNICO_FACADE_LISTEN", default_value_t = defaults::LISTEN)]
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
    #[arg(
        long,
        env = "UNICO_FACADE_EMULATOR_LISTEN",
        default_value_t = defaults::EMULATOR_LISTEN
    )]
    pub emulator_listen: SocketAddr,

    /// Longest time an upstream call may take when the caller sets no
    /// shorter deadline (e.g. `10s`, `1500ms`).
    #[arg(long, env = "UNICO_FACADE_UPSTREAM_TIMEOUT", default_value_t = HumanDuration(defaults::UPSTREAM_TIMEOUT), value_parser = parse_duration)]
    pub upstream_timeout: HumanDuration,

    /// Longest time to open a connection to the upstream.
    #[arg(long, env = "UNICO_FACADE_CONNECT_TIMEOUT", default_value_t = HumanDuration(defaults::CONNECT_TIMEOUT), value_parser = parse_duration)]
    pub connect_timeout: HumanDuration,

    /// Largest document image accepted, in raw (not base64) bytes. The
    /// vendor's "800 KB" is read as 800 × 1024.
    #[arg(long, env = "UNICO_FACADE_MAX_IMAGE_BYTES", default_value_t = ImageLimits::DEFAULT_MAX_BYTES)]
    pub max_image_bytes: usize,

    /// Smallest long side of a document image, in pixels.
    #[arg(long, env = "UNICO_FACADE_MIN_IMAGE_LONG_SIDE", default_value_t = ImageLimits::DEFAULT_MIN_LONG_SIDE)]
    pub min_image_long_side: usize,

    /// Smallest short side of a document image, in pixels.
    #[arg(long, env = "UNICO_FACADE_MIN_IMAGE_SHORT_SIDE", default_value_t = ImageLimits::DEFAULT_MIN_SHORT_SIDE)]
    pub min_image_short_side: usize,

    /// Largest gRPC request message accepted, in bytes; larger requests get
    /// RESOURCE_EXHAUSTED. Default: two maximum images plus 64 KiB.
    #[arg(long, env = "UNICO_FACADE_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,

    /// Whose credentials upstream calls carry: the caller's metadata, or the
    /// facade's own service account and API key.
    #[arg(long, env = "UNICO_FACADE_CREDENTIALS", value_enum, default_value_t = CredentialMode::PassThrough)]
    pub credentials: CredentialMode,

    /// Service account name (facade-held credentials).
    #[arg(long, env = "UNICO_SERVICE_ACCOUNT_NAME")]
    pub service_account_name: Option<String>,

    /// Tenant id of the service account (facade-held credentials).
    #[arg(long, env = "UNICO_TENANT_ID")]
    pub tenant_id: Option<String>,

    /// Path of the service account's RS256 private key, PEM (facade-held
    /// credentials). Read once at start.
    #[arg(long, env = "UNICO_PRIVATE_KEY_FILE")]
    pub private_key_file: Option<PathBuf>,

    /// Path of a file holding the vendor API key (facade-held credentials);
    /// alternatively set the UNICO_API_KEY environment variable.
    #[arg(long, env = "UNICO_API_KEY_FILE")]
    pub api_key_file: Option<PathBuf>,

    /// In facade-held mode, let a caller that sends `authorization` metadata
    /// use its own credentials instead of the facade's.
    #[arg(long, env = "UNICO_FACADE_ALLOW_CALLER_CREDENTIALS")]
    pub allow_caller_credentials: bool,

    /// Base URL of the identity host that issues access tokens, overriding
    /// the environment's.
    #[arg(long, env = "UNICO_IDENTITY_URL")]
    pub identity_url: Option<String>,

    /// The `aud` of token assertions; defaults to the environment's identity
    /// host (no trailing slash).
    #[arg(long, env = "UNICO_TOKEN_AUDIENCE")]
    pub token_audience: Option<String>,

    /// Refresh the access token this long before it expires (at most half
    /// its lifetime).
    #[arg(long, env = "UNICO_FACADE_TOKEN_REFRESH_MARGIN", default_value_t = HumanDuration(defaults::TOKEN_REFRESH_MARGIN), value_parser = parse_duration)]
    pub token_refresh_margin: HumanDuration,

    /// On SIGTERM, keep accepting calls this long with health NOT_SERVING,
    /// so that the mesh stops routing here before the listener closes.
    #[arg(long, env = "UNICO_FACADE_DRAIN_DELAY", default_value_t = HumanDuration(defaults::DRAIN_DELAY), value_parser = parse_duration_or_zero)]
    pub drain_delay: HumanDuration,

    /// After the drain delay, how long in-flight calls may take to finish
    /// before the process exits anyway.
    #[arg(long, env = "UNICO_FACADE_SHUTDOWN_GRACE", default_value_t = HumanDuration(defaults::SHUTDOWN_GRACE), value_parser = parse_duration)]
    pub shutdown_grace: HumanDuration,

    /// Most concurrent calls served; beyond, calls are refused at once with
    /// RESOURCE_EXHAUSTED (`OVERLOADED`).
    #[arg(long, env = "UNICO_FACADE_MAX_CONCURRENT_CALLS", default_value_t = defaults::MAX_CONCURRENT_CALLS)]
    pub max_concurrent_calls: usize,

    /// Longest time from a call's headers to the end of its request message;
    /// beyond, the call is answered RESOURCE_EXHAUSTED
    /// (`REQUEST_MESSAGE_TIMEOUT`). Bounds what a stream that never sends its
    /// message (a slowloris) can hold.
    #[arg(long, env = "UNICO_FACADE_REQUEST_MESSAGE_TIMEOUT", default_value_t = HumanDuration(defaults::REQUEST_MESSAGE_TIMEOUT), value_parser = parse_duration)]
    pub request_message_timeout: HumanDuration,

    /// Most concurrent HTTP/2 streams per connection
    /// (SETTINGS_MAX_CONCURRENT_STREAMS): a client's further calls wait on
    /// its side.
    #[arg(long, env = "UNICO_FACADE_MAX_CONCURRENT_STREAMS", default_value_t = defaults::HTTP2.max_concurrent_streams)]
    pub max_concurrent_streams: u32,

    /// Interval of HTTP/2 keepalive pings on a connection; `0s` disables
    /// them.
    #[arg(long, env = "UNICO_FACADE_HTTP2_KEEPALIVE_INTERVAL", default_value_t = HumanDuration(defaults::HTTP2_KEEPALIVE_INTERVAL), value_parser = parse_duration_or_zero)]
    pub http2_keepalive_interval: HumanDuration,

    /// A connection whose keepalive ping is not acknowledged within this is
    /// closed.
    #[arg(long, env = "UNICO_FACADE_HTTP2_KEEPALIVE_TIMEOUT", default_value_t = HumanDuration(defaults::HTTP2.keepalive_timeout), value_parser = parse_duration)]
    pub http2_keepalive_timeout: HumanDuration,

    /// Largest header list (metadata) of a request, in bytes
    /// (SETTINGS_MAX_HEADER_LIST_SIZE). Larger requests get HTTP 431 on their
    /// stream only; past four times this, the HTTP/2 library closes the whole
    /// connection.
    #[arg(long, env = "UNICO_FACADE_MAX_HEADER_LIST_BYTES", default_value_t = defaults::HTTP2.max_header_list_bytes)]
    pub max_header_list_bytes: u32,

    /// Consecutive troubled upstream calls (connection refused or lost, the
    /// upstream timeout, a 5xx) that open an API family's circuit: its calls
    /// are then refused at once (UNAVAILABLE `UPSTREAM_CIRCUIT_OPEN`) for the
    /// cool-down. 0 turns the breaker off.
    #[arg(long, env = "UNICO_FACADE_CIRCUIT_FAILURES", default_value_t = CircuitSettings::DEFAULT_FAILURES)]
    pub circuit_failures: u32,

    /// How long an open circuit refuses calls before one probe call is let
    /// through; the probe's success closes it, its failure reopens it.
    #[arg(long, env = "UNICO_FACADE_CIRCUIT_COOLDOWN", default_value_t = HumanDuration(CircuitSettings::DEFAULT_COOLDOWN), value_parser = parse_duration)]
    pub circuit_cooldown: HumanDuration,

    /// The tenant's outgoing rate limit to the vendor (e.g. `10/s`); calls
    /// queue within their deadline. With --redis-url, one budget for every
    /// replica; without it (or while Redis is down), each replica keeps
    /// `rate / --rate-limit-replicas`. Off by default.
    #[arg(long, env = "UNICO_FACADE_UPSTREAM_RATE_LIMIT")]
    pub upstream_rate_limit: Option<Rate>,

    /// How many replicas share the rate limit when they cannot agree on it
    /// (no --redis-url, or Redis unreachable): each keeps `rate / N`. Set
    /// it to the most replicas that run at once (an HPA's maxReplicas).
    #[arg(long, env = "UNICO_FACADE_RATE_LIMIT_REPLICAS", default_value_t = defaults::RATE_LIMIT_REPLICAS)]
    pub rate_limit_replicas: std::num::NonZeroU32,

    /// The name of the tenant whose budget is shared in Redis (only its
    /// hash is stored). Default: the facade-held service account, else one
    /// budget for every facade using the Redis.
    #[arg(long, env = "UNICO_FACADE_RATE_LIMIT_TENANT")]
    pub rate_limit_tenant: Option<String>,

    /// The longest a reservation in the shared budget may take before the
    /// call uses the local share.
    #[arg(long, env = "UNICO_FACADE_RATE_LIMIT_STORE_TIMEOUT", default_value_t = HumanDuration(defaults::RATE_LIMIT_STORE_TIMEOUT), value_parser = parse_duration)]
    pub rate_limit_store_timeout: HumanDuration,

    /// Headroom against send jitter: `N/s` is spaced so that N calls span
    /// 1 s plus this (`0s`: exactly `1/N` apart).
    #[arg(long, env = "UNICO_FACADE_RATE_LIMIT_WINDOW_GUARD", default_value_t = HumanDuration(defaults::RATE_LIMIT_WINDOW_GUARD), value_parser = parse_duration_or_zero)]
    pub rate_limit_window_guard: HumanDuration,

    /// TLS certificate chain (PEM) for the gRPC listener; with
    /// --tls-key-file. Plaintext HTTP/2 (for a mesh sidecar) otherwise.
    #[arg(long, env = "UNICO_FACADE_TLS_CERT_FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// TLS private key (PEM) for the gRPC listener.
    #[arg(long, env = "UNICO_FACADE_TLS_KEY_FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,

    /// Also serve gRPC-Web (browsers, Connect clients) on the same port.
    #[arg(long, env = "UNICO_FACADE_GRPC_WEB")]
    pub grpc_web: bool,

    /// Origins allowed by CORS for gRPC-Web, comma-separated (`*` for any).
    #[arg(long, env = "UNICO_FACADE_CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,

    /// How long a Watch* call runs when the caller sets no deadline.
    #[arg(long, env = "UNICO_FACADE_WATCH_TIMEOUT", default_value_t = HumanDuration(WatchSettings::DEFAULT_TIMEOUT), value_parser = parse_duration)]
    pub watch_timeout: HumanDuration,

    /// The longest pause between two reads of a watched process (the
    /// pause starts at 500ms and doubles up to this).
    #[arg(long, env = "UNICO_FACADE_WATCH_BACKOFF_MAX", default_value_t = HumanDuration(WatchSettings::DEFAULT_BACKOFF_MAX), value_parser = parse_duration)]
    pub watch_backoff_max: HumanDuration,

    /// The pause between two fallback reads of a WatchProcess that the
    /// vendor's webhook wakes (`--webhook-listen`); the vendor asks clients
    /// not to poll.
    #[arg(long, env = "UNICO_FACADE_WATCH_FALLBACK_POLL", default_value_t = HumanDuration(WatchSettings::DEFAULT_FALLBACK_POLL), value_parser = parse_duration)]
    pub watch_fallback_poll: HumanDuration,

    /// Address of the listener for the vendor's finished-process webhook
    /// (`POST /webhooks/process-finished`), e.g. `0.0.0.0:8443`. Off by
    /// default: WatchProcess then polls on the watch backoff.
    #[arg(long, env = "UNICO_FACADE_WEBHOOK_LISTEN")]
    pub webhook_listen: Option<SocketAddr>,

    /// How the vendor authenticates its webhook deliveries.
    #[arg(long, env = "UNICO_FACADE_WEBHOOK_AUTH", value_enum, default_value_t = WebhookAuthMode::Basic)]
    pub webhook_auth: WebhookAuthMode,

    /// The HTTP Basic user name the vendor sends (`--webhook-auth basic`).
    #[arg(long, env = "UNICO_FACADE_WEBHOOK_USERNAME")]
    pub webhook_username: Option<String>,

    /// The header carrying the API key (`--webhook-auth api-key`).
    #[arg(
        long,
        env = "UNICO_FACADE_WEBHOOK_API_KEY_HEADER",
        default_value = "x-api-key"
    )]
    pub webhook_api_key_header: String,

    /// A file holding the webhook's secret (the Basic password or the API
    /// key); otherwise the `UNICO_FACADE_WEBHOOK_SECRET` environment variable.
    #[arg(long, env = "UNICO_FACADE_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,

    /// Address of the admin listener serving Prometheus metrics at
    /// `/metrics` (e.g. `127.0.0.1:9090`). Off by default.
    #[arg(long, env = "UNICO_FACADE_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,

    /// How long the answer of a create with a `request_id` is kept and
    /// replayed to repeats.
    #[arg(long, env = "UNICO_FACADE_IDEMPOTENCY_TTL", default_value_t = HumanDuration(IdempotencySettings::DEFAULT_TTL), value_parser = parse_duration)]
    pub idempotency_ttl: HumanDuration,

    /// How long a running create's claim lasts without renewal (renewed
    /// every third of it): after a replica dies mid-call, repeats get
    /// REQUEST_OUTCOME_UNKNOWN once it runs out.
    #[arg(long, env = "UNICO_FACADE_IDEMPOTENCY_LEASE", default_value_t = HumanDuration(IdempotencySettings::DEFAULT_LEASE), value_parser = parse_duration)]
    pub idempotency_lease: HumanDuration,

    /// The metadata key holding the caller's mesh identity, set by the mesh
    /// and never by callers (e.g. `x-forwarded-client-cert`, whose `URI=` is
    /// used). Without it, a request_id is scoped to the tenant credentials.
    #[arg(long, env = "UNICO_FACADE_IDEMPOTENCY_IDENTITY_HEADER")]
    pub idempotency_identity_header: Option<String>,

    /// File of the keys encrypting stored answers, one `ID:BASE64` (32
    /// bytes) a line, the first encrypting; alternatively the
    /// UNICO_FACADE_IDEMPOTENCY_KEYS environment variable. Required with
    /// --redis-url.
    #[arg(long, env = "UNICO_FACADE_IDEMPOTENCY_KEY_FILE")]
    pub idempotency_key_file: Option<PathBuf>,

    /// Redis shared by every replica for idempotent creates (`redis://` or
    /// `rediss://`). Prefer the environment variable when the URL holds a
    /// password. Without it, an in-process store serves one replica.
    #[arg(long, env = "UNICO_FACADE_REDIS_URL")]
    pub redis_url: Option<SecretString>,

    /// File holding the Redis password, overriding the URL's.
    #[arg(long, env = "UNICO_FACADE_REDIS_PASSWORD_FILE", requires = "redis_url")]
    pub redis_password_file: Option<PathBuf>,

    /// Log format.
    #[arg(long, env = "UNICO_FACADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

/// The environment variable holding the idempotency keys. Not a flag: key
/// material on a command line is visible to every local user.
pub const IDEMPOTENCY_KEYS_ENV: &str = "UNICO_FACADE_IDEMPOTENCY_KEYS";

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address of the emulator's HTTP listener.
    #[arg(long, env = "UNICO_EMULATOR_LISTEN", default_value_t = defaults::STANDALONE_EMULATOR_LISTEN)]
    pub listen: SocketAddr,

    /// Log format.
    #[arg(long, env = "UNICO_FACADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

/// `unico-facade health`: one `grpc.health.v1.Health/Check` call, for
/// Docker `HEALTHCHECK` and exec probes.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Address of the facade's gRPC listener (`host:port`, plaintext).
    #[arg(long, env = "UNICO_FACADE_HEALTH_ADDR", default_value = crate::health_check::DEFAULT_ADDR)]
    pub addr: crate::health_check::Target,

    /// Health entry to check; empty for the whole server.
    #[arg(long, default_value = "")]
    pub service: String,

    /// Longest time the check may take, connection included.
    #[arg(long, default_value_t = HumanDuration(crate::health_check::DEFAULT_TIMEOUT), value_parser = parse_duration)]
    pub timeout: HumanDuration,
}

fn parse_duration_or_zero(value: &str) -> Result<HumanDuration, String> {
    humantime::parse_duration(value)
        .map(HumanDuration)
        .map_err(|e| e.to_string())
}

fn parse_duration(value: &str) -> Result<HumanDuration, String> {
    let duration = parse_duration_or_zero(value)?;
    if duration.0.is_zero() {
        return Err("must be greater than zero".to_owned());
    }
    Ok(duration)
}

/// Where upstream calls go.
#[allow(clippy::large_enum_variant)] // built once at start-up
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

/// Where upstream credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialSettings {
    #[default]
    PassThrough,
    FacadeHeld {
        account: Arc<ServiceAccount>,
        api_key: SecretString,
        audience: String,
        allow_caller_override: bool,
        policy: RefreshPolicy,
    },
}

/// Everything the app is built from.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub upstream: UpstreamTarget,
    pub upstream_timeout: Duration,
    pub connect_timeout: Duration,
    pub credentials: CredentialSettings,
    pub image_limits: ImageLimits,
    /// Largest gRPC request message decoded.
    pub max_request_bytes: usize,
    pub drain_delay: Duration,
    pub shutdown_grace: Duration,
    pub max_concurrent_calls: usize,
    /// Longest time from a call's headers to the end of its message.
    pub request_message_timeout: Duration,
    /// HTTP/2 limits of each connection.
    pub http2: Http2Settings,
    pub upstream_rate_limit: Option<Rate>,
    /// How the rate limit is shared among replicas.
    pub rate_limit: RateLimitSettings,
    /// The circuit breaker of each upstream API family.
    pub circuit: CircuitSettings,
    /// Certificate chain and key (PEM) for TLS on the listener.
    pub tls: Option<TlsFiles>,
    /// gRPC-Web, with the CORS origins allowed (`None`: gRPC-Web off).
    pub grpc_web: Option<CorsOrigins>,
    /// The admin (metrics) listener, if any.
    pub admin_listen: Option<SocketAddr>,
    /// The vendor webhook's receiver, if any.
    pub webhook: Option<crate::webhook::WebhookSettings>,
    /// How Watch* calls pace their reads.
    pub watch: WatchSettings,
    /// Creates with a `request_id`: store, TTL, lease, keys.
    pub idempotency: IdempotencySettings,
    /// Records the facade's spans when they are exported (set from the
    /// `OTEL_*` variables by `main`; off otherwise).
    pub tracer: crate::telemetry::Tracer,
}

/// The origins CORS allows for gRPC-Web, parsed at start: an origin that
/// cannot be a header value is a configuration error, not silently dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `*`: any origin.
    Any,
    /// These origins exactly (none: no cross-origin caller).
    List(Vec<http::HeaderValue>),
}

impl CorsOrigins {
    pub fn parse(values: &[String]) -> Result<Self, ConfigError> {
        if values.iter().any(|o| o.trim() == "*") {
            return Ok(CorsOrigins::Any);
        }
        values
            .iter()
            .map(|origin| {
                http::HeaderValue::from_str(origin.trim()).map_err(|_| ConfigError::CorsOrigin {
                    origin: origin.clone(),
                })
            })
            .collect::<Result<_, _>>()
            .map(CorsOrigins::List)
    }
}

/// HTTP/2 limits of each gRPC connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Http2Settings {
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// Keepalive ping interval; `None`: no pings.
    pub keepalive_interval: Option<Duration>,
    /// How long an unacknowledged ping may wait before the connection closes.
    pub keepalive_timeout: Duration,
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub max_header_list_bytes: u32,
}

/// The listener's TLS material, read at start.
#[derive(Clone)]
pub struct TlsFiles {
    pub cert_pem: Vec<u8>,
    pub key_pem: SecretString,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsFiles(<cert>, <redacted key>)")
    }
}

/// Room for everything but the images in a CreateDocumentProcess request.
const REQUEST_OVERHEAD_BYTES: usize = 64 * 1024;

fn default_max_request_bytes(limits: &ImageLimits) -> usize {
    limits.max_bytes * MAX_FILES + REQUEST_OVERHEAD_BYTES
}

impl Settings {
    /// Settings for tests and embedding: listen on `listen`, call `hosts`,
    /// everything else as `serve` defaults it.
    pub fn new(listen: SocketAddr, hosts: UpstreamHosts) -> Self {
        Self {
            listen,
            upstream: UpstreamTarget::Vendor {
                environment: Environment::Production,
                hosts,
            },
            upstream_timeout: defaults::UPSTREAM_TIMEOUT,
            connect_timeout: defaults::CONNECT_TIMEOUT,
            credentials: CredentialSettings::PassThrough,
            image_limits: ImageLimits::default(),
            max_request_bytes: default_max_request_bytes(&ImageLimits::default()),
            drain_delay: defaults::DRAIN_DELAY,
            shutdown_grace: defaults::SHUTDOWN_GRACE,
            max_concurrent_calls: defaults::MAX_CONCURRENT_CALLS,
            request_message_timeout: defaults::REQUEST_MESSAGE_TIMEOUT,
            http2: defaults::HTTP2,
            upstream_rate_limit: None,
            rate_limit: RateLimitSettings::default(),
            circuit: CircuitSettings::default(),
            tls: None,
            grpc_web: None,
            admin_listen: None,
            webhook: None,
            watch: WatchSettings::default(),
            idempotency: IdempotencySettings::default(),
            tracer: crate::telemetry::Tracer::off(),
        }
    }
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{flag}: {source}")]
    BaseUrl {
        flag: &'static str,
        #[source]
        source: HostsError,
    },
    #[error("--emulator cannot be combined with --idcloud-api-url or --id-api-url")]
    EmulatorWithOverrides,
    #[error("--emulator-listen must be a loopback address: the emulator is not for other hosts")]
    EmulatorNotLoopback,
    #[error("facade-held credentials need {0}")]
    MissingCredentialSetting(&'static str),
    #[error(transparent)]
    ServiceAccount(#[from] ServiceAccountError),
    #[error("cannot read the API key file {path}: {source}")]
    ApiKeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--max-concurrent-calls must be at least 1")]
    ZeroConcurrency,
    #[error("--max-concurrent-streams must be at least 1")]
    ZeroStreams,
    #[error("cannot read {path}: {source}")]
    ReadFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--tls-key-file is not a PEM text file")]
    TlsKeyNotPem,
    #[error("--token-audience must not end with `/` (the vendor rejects it)")]
    AudienceTrailingSlash,
    #[error("--max-request-bytes must at least fit two images of --max-image-bytes")]
    RequestLimitBelowImages,
    #[error("--webhook-listen needs {0}")]
    MissingWebhookSetting(&'static str),
    #[error("--cors-allowed-origins: `{origin}` cannot be an origin header value")]
    CorsOrigin { origin: String },
    #[error("idempotency keys: {0}")]
    IdempotencyKeys(#[from] KeyringError),
    #[error(
        "--redis-url needs encryption keys: --idempotency-key-file or UNICO_FACADE_IDEMPOTENCY_KEYS"
    )]
    IdempotencyKeysRequired,
    #[error("--idempotency-identity-header `{0}` is not a metadata key")]
    IdentityHeader(String),
}

impl ServeArgs {
    /// The settings, with the API key taken from the process environment.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        self.settings_with_env(
            std::env::var(API_KEY_ENV).ok(),
            std::env::var(IDEMPOTENCY_KEYS_ENV).ok(),
        )
    }

    /// The idempotency settings, with `keys_env` standing for
    /// `UNICO_FACADE_IDEMPOTENCY_KEYS`.
    pub fn idempotency_settings(
        &self,
        keys_env: Option<String>,
    ) -> Result<IdempotencySettings, ConfigError> {
        let keys = match (&self.idempotency_key_file, keys_env) {
            (Some(path), _) => {
                let text = String::from_utf8(read_file(path)?)
                    .map_err(|_| KeyringError::Malformed { line: 1 })?;
                Some(Keyring::parse(&text)?)
            }
            (None, Some(text)) if !text.trim().is_empty() => Some(Keyring::parse(&text)?),
            (None, _) => None,
        };
        let store = match &self.redis_url {
            None => StoreSettings::Embedded,
            Some(_) if keys.is_none() => return Err(ConfigError::IdempotencyKeysRequired),
            Some(url) => StoreSettings::Redis(RedisSettings {
                url: url.clone(),
                password: match &self.redis_password_file {
                    Some(path) => Some(SecretString::from(read_secret_file(path)?)),
                    None => None,
                },
            }),
        };
        let identity_header = match &self.idempotency_identity_header {
            Some(name) => {
                let name = name.trim().to_ascii_lowercase();
                tonic::metadata::MetadataKey::<tonic::metadata::Ascii>::from_bytes(name.as_bytes())
                    .map_err(|_| ConfigError::IdentityHeader(name.clone()))?;
                Some(name)
            }
            None => None,
        };
        Ok(IdempotencySettings {
            ttl: self.idempotency_ttl.0,
            lease: self.idempotency_lease.0,
            identity_header,
            store,
            keys,
        })
    }

    /// The settings, with `api_key_env` standing for `UNICO_API_KEY`.
    pub fn settings_with_api_key(
        &self,
        api_key_env: Option<String>,
    ) -> Result<Settings, ConfigError> {
        self.settings_with_env(api_key_env, None)
    }

    /// The settings, with `api_key_env` and `keys_env` standing for
    /// `UNICO_API_KEY` and `UNICO_FACADE_IDEMPOTENCY_KEYS`.
    pub fn settings_with_env(
        &self,
        api_key_env: Option<String>,
        keys_env: Option<String>,
    ) -> Result<Settings, ConfigError> {
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
            let flag = |flag| move |source| ConfigError::BaseUrl { flag, source };
            if let Some(url) = &self.idcloud_api_url {
                hosts = hosts
                    .with_idcloud_api(url)
                    .map_err(flag("--idcloud-api-url"))?;
            }
            if let Some(url) = &self.id_api_url {
                hosts = hosts.with_id_api(url).map_err(flag("--id-api-url"))?;
            }
            if let Some(url) = &self.identity_url {
                hosts = hosts.with_identity(url).map_err(flag("--identity-url"))?;
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
        let credentials = self.credential_settings(api_key_env)?;
        if self.max_concurrent_calls == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if self.max_concurrent_streams == 0 {
            return Err(ConfigError::ZeroStreams);
        }
        let tls = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert_pem: read_file(cert)?,
                key_pem: SecretString::from(
                    String::from_utf8(read_file(key)?).map_err(|_| ConfigError::TlsKeyNotPem)?,
                ),
            }),
            _ => None,
        };
        Ok(Settings {
            listen: self.listen,
            upstream,
            upstream_timeout: self.upstream_timeout.0,
            connect_timeout: self.connect_timeout.0,
            credentials,
            image_limits,
            max_request_bytes,
            drain_delay: self.drain_delay.0,
            shutdown_grace: self.shutdown_grace.0,
            max_concurrent_calls: self.max_concurrent_calls,
            request_message_timeout: self.request_message_timeout.0,
            http2: Http2Settings {
                max_concurrent_streams: self.max_concurrent_streams,
                keepalive_interval: Some(self.http2_keepalive_interval.0)
                    .filter(|interval| !interval.is_zero()),
                keepalive_timeout: self.http2_keepalive_timeout.0,
                max_header_list_bytes: self.max_header_list_bytes,
            },
            upstream_rate_limit: self.upstream_rate_limit,
            rate_limit: RateLimitSettings {
                replicas: self.rate_limit_replicas,
                tenant: self
                    .rate_limit_tenant
                    .clone()
                    .filter(|tenant| !tenant.trim().is_empty()),
                store_timeout: self.rate_limit_store_timeout.0,
                window_guard: self.rate_limit_window_guard.0,
                ..RateLimitSettings::default()
            },
            circuit: CircuitSettings {
                failures: self.circuit_failures,
                cooldown: self.circuit_cooldown.0,
            },
            tls,
            grpc_web: match self.grpc_web {
                true => Some(CorsOrigins::parse(&self.cors_allowed_origins)?),
                false => None,
            },
            admin_listen: self.admin_listen,
            webhook: self.webhook_settings()?,
            watch: WatchSettings {
                timeout: self.watch_timeout.0,
                backoff_max: self.watch_backoff_max.0,
                fallback_poll: self.watch_fallback_poll.0,
            },
            idempotency: self.idempotency_settings(keys_env)?,
            tracer: crate::telemetry::Tracer::off(),
        })
    }

    fn webhook_settings(&self) -> Result<Option<crate::webhook::WebhookSettings>, ConfigError> {
        let Some(listen) = self.webhook_listen else {
            return Ok(None);
        };
        let secret = match &self.webhook_secret_file {
            Some(path) => read_secret_file(path)?,
            None => std::env::var(WEBHOOK_SECRET_ENV)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .ok_or(ConfigError::MissingWebhookSetting(
                    "--webhook-secret-file or UNICO_FACADE_WEBHOOK_SECRET",
                ))?,
        };
        let secret = SecretString::from(secret);
        let auth = match self.webhook_auth {
            WebhookAuthMode::Basic => crate::webhook::WebhookAuth::Basic {
                username: self
                    .webhook_username
                    .clone()
                    .filter(|u| !u.is_empty() && !u.contains(':'))
                    .ok_or(ConfigError::MissingWebhookSetting(
                        "--webhook-username (without `:`)",
                    ))?,
                password: secret,
            },
            WebhookAuthMode::ApiKey => crate::webhook::WebhookAuth::ApiKey {
                header: http::HeaderName::try_from(self.webhook_api_key_header.as_str()).map_err(
                    |_| ConfigError::MissingWebhookSetting("a valid --webhook-api-key-header"),
                )?,
                key: secret,
            },
        };
        Ok(Some(crate::webhook::WebhookSettings { listen, auth }))
    }

    fn credential_settings(
        &self,
        api_key_env: Option<String>,
    ) -> Result<CredentialSettings, ConfigError> {
        if self.credentials == CredentialMode::PassThrough {
            return Ok(CredentialSettings::PassThrough);
        }
        let need = ConfigError::MissingCredentialSetting;
        let name = self
            .service_account_name
            .as_deref()
            .ok_or(need("--service-account-name"))?;
        let tenant = self.tenant_id.as_deref().ok_or(need("--tenant-id"))?;
        let key_path = self
            .private_key_file
            .as_deref()
            .ok_or(need("--private-key-file"))?;
        let account = ServiceAccount::load(name, tenant, key_path)?;
        let api_key = match (&self.api_key_file, api_key_env) {
            (Some(path), _) => read_secret_file(path)?,
            (None, Some(key)) if !key.trim().is_empty() => key.trim().to_owned(),
            (None, _) => return Err(need("--api-key-file or UNICO_API_KEY")),
        };
        let audience = match &self.token_audience {
            Some(audience) if audience.ends_with('/') => {
                return Err(ConfigError::AudienceTrailingSlash);
            }
            Some(audience) => audience.clone(),
            None => self.environment.token_audience().to_owned(),
        };
        Ok(CredentialSettings::FacadeHeld {
            account: Arc::new(account),
            api_key: SecretString::from(api_key),
            audience,
            allow_caller_override: self.allow_caller_credentials,
            policy: RefreshPolicy {
                margin: self.token_refresh_margin.0,
                ..RefreshPolicy::default()
            },
        })
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::ReadFile {
        path: path.display().to_string(),
        source,
    })
}

fn read_secret_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ApiKeyFile {
        path: path.display().to_string(),
        source,
    })?;
    let key = text.trim();
    if key.is_empty() {
        return Err(ConfigError::MissingCredentialSetting(
            "a non-empty API key file",
        ));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        let argv = ["unico-facade", "serve"].iter().chain(args).copied();
        Cli::try_parse_from(argv).map(|cli| match cli.command {
            Command::Serve(args) => args,
            Command::Emulator(_) | Command::Health(_) => unreachable!("parsed serve"),
        })
    }

    #[test]
    fn idempotency_defaults_to_the_embedded_store_and_redis_needs_keys() {
        let settings = serve(&[]).unwrap().settings_with_env(None, None).unwrap();
        assert!(matches!(
            settings.idempotency.store,
            StoreSettings::Embedded
        ));
        assert_eq!(settings.idempotency.ttl, IdempotencySettings::DEFAULT_TTL);
        assert!(settings.idempotency.keys.is_none());

        let redis = serve(&["--redis-url", "redis://127.0.0.1:6379/"]).unwrap();
        assert!(matches!(
            redis.settings_with_env(None, None),
            Err(ConfigError::IdempotencyKeysRequired)
        ));
        let keys = "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
        let settings = redis.settings_with_env(None, Some(keys)).unwrap();
        assert!(matches!(
            settings.idempotency.store,
            StoreSettings::Redis(_)
        ));
        // The URL never prints: it may hold a password.
        let url = serve(&["--redis-url", "redis://:hunter2@redis:6379/"]).unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));

        let bad = serve(&["--idempotency-identity-header", "x bad"]).unwrap();
        assert!(matches!(
            bad.settings_with_env(None, None),
            Err(ConfigError::IdentityHeader(_))
        ));
        let short = serve(&["--idempotency-ttl", "1h", "--idempotency-lease", "2s"]).unwrap();
        let settings = short.settings_with_env(None, None).unwrap().idempotency;
        assert_eq!(
            (settings.ttl, settings.lease),
            (Duration::from_secs(3600), Duration::from_secs(2))
        );
        assert!(
            serve(&["--idempotency-keys", "k:x"]).is_err(),
            "key material is never a flag"
        );
    }

    #[test]
    fn the_webhook_needs_its_secret_from_a_file_never_a_flag() {
        let dir = std::env::temp_dir().join(format!("webhook-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let secret = secret.to_str().unwrap();

        let off = serve(&[]).unwrap().settings_with_api_key(None).unwrap();
        assert!(off.webhook.is_none(), "off by default");

        let basic = serve(&[
            "--webhook-listen",
            "127.0.0.1:8088",
            "--webhook-username",
            "idcloud",
            "--webhook-secret-file",
            secret,
        ])
        .unwrap()
        .settings_with_api_key(None)
        .unwrap()
        .webhook
        .unwrap();
        assert_eq!(basic.listen, "127.0.0.1:8088".parse().unwrap());
        let crate::webhook::WebhookAuth::Basic { username, password } = basic.auth else {
            panic!("basic")
        };
        assert_eq!(username, "idcloud");
        assert_eq!(secrecy::ExposeSecret::expose_secret(&password), "s3cret");

        let key = serve(&[
            "--webhook-listen",
            "127.0.0.1:8088",
            "--webhook-auth",
            "api-key",
            "--webhook-api-key-header",
            "X-Vendor-Key",
            "--webhook-secret-file",
            secret,
        ])
        .unwrap()
        .settings_with_api_key(None)
        .unwrap()
        .webhook
        .unwrap();
        assert!(matches!(
            key.auth,
            crate::webhook::WebhookAuth::ApiKey { ref header, .. } if header == "x-vendor-key"
        ));

        // No user name for Basic: refused at start, not at the first delivery.
        let missing = serve(&[
            "--webhook-listen",
            "127.0.0.1:8088",
            "--webhook-secret-file",
            secret,
        ])
        .unwrap()
        .settings_with_api_key(None);
        assert!(matches!(
            missing,
            Err(ConfigError::MissingWebhookSetting(_))
        ));
        // There is no flag that takes the secret itself.
        assert!(serve(&["--webhook-secret", "s3cret"]).is_err());
        std::fs::remove_dir_all(dir).unwrap();
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
        assert!(matches!(
            small.settings(),
            Err(ConfigError::RequestLimitBelowImages)
        ));
    }

    #[test]
    fn connection_limits_have_flags() {
        let tuned = serve(&[
            "--request-message-timeout",
            "3s",
            "--max-concurrent-streams",
            "8",
            "--http2-keepalive-interval",
            "0s",
            "--max-header-list-bytes",
            "32768",
        ])
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(tuned.request_message_timeout, Duration::from_secs(3));
        assert_eq!(tuned.http2.max_concurrent_streams, 8);
        assert_eq!(tuned.http2.keepalive_interval, None);
        assert_eq!(tuned.http2.max_header_list_bytes, 32768);
        let no_streams = serve(&["--max-concurrent-streams", "0"]).unwrap();
        assert!(matches!(
            no_streams.settings(),
            Err(ConfigError::ZeroStreams)
        ));
        assert!(serve(&["--request-message-timeout", "0s"]).is_err());
    }

    #[test]
    fn the_request_limit_follows_the_image_limit() {
        let settings = serve(&["--max-image-bytes", "1000000"])
            .unwrap()
            .settings()
            .unwrap();
        assert_eq!(settings.image_limits.max_bytes, 1_000_000);
        assert_eq!(settings.max_request_bytes, 2_000_000 + 64 * 1024);
        let default = serve(&[]).unwrap().settings().unwrap();
        assert_eq!(default.max_request_bytes, 2 * 819_200 + 64 * 1024);
    }

    #[test]
    fn the_command_line_and_settings_new_share_every_default() {
        let parsed = serve(&[]).unwrap().settings().unwrap();
        let hosts = UpstreamHosts::for_environment(Environment::Production);
        let built = Settings::new(defaults::LISTEN, hosts);
        assert_eq!(parsed.listen, built.listen);
        assert_eq!(parsed.upstream_timeout, built.upstream_timeout);
        assert_eq!(parsed.connect_timeout, built.connect_timeout);
        assert_eq!(parsed.image_limits, built.image_limits);
        assert_eq!(parsed.max_request_bytes, built.max_request_bytes);
        assert_eq!(parsed.drain_delay, built.drain_delay);
        assert_eq!(parsed.shutdown_grace, built.shutdown_grace);
        assert_eq!(parsed.max_concurrent_calls, built.max_concurrent_calls);
        assert_eq!(parsed.watch, built.watch);
        assert_eq!(parsed.circuit, built.circuit);
        assert_eq!(
            parsed.request_message_timeout,
            built.request_message_timeout
        );
        assert_eq!(parsed.http2, built.http2);
        assert_eq!(parsed.rate_limit, built.rate_limit);
        assert_eq!(
            UpstreamSettings::new(UpstreamHosts::for_environment(Environment::Production))
                .connect_timeout,
            parsed.connect_timeout
        );
    }

    #[test]
    fn the_rate_limit_is_shared_as_configured_and_a_zero_share_is_refused() {
        let settings = serve(&[
            "--upstream-rate-limit",
            "10/s",
            "--rate-limit-replicas",
            "4",
            "--rate-limit-tenant",
            "acme",
            "--rate-limit-store-timeout",
            "20ms",
            "--rate-limit-window-guard",
            "0s",
        ])
        .unwrap()
        .settings()
        .unwrap();
        assert_eq!(settings.upstream_rate_limit, Some("10/s".parse().unwrap()));
        let limit = settings.rate_limit;
        assert_eq!(limit.replicas.get(), 4);
        assert_eq!(limit.tenant.as_deref(), Some("acme"));
        assert_eq!(limit.store_timeout, Duration::from_millis(20));
        assert_eq!(limit.window_guard, Duration::ZERO);
        assert_eq!(limit.default_hold, defaults::RATE_LIMIT_HOLD);
        let blank = serve(&["--rate-limit-tenant", " "]).unwrap();
        assert_eq!(blank.settings().unwrap().rate_limit.tenant, None);
        assert!(serve(&["--rate-limit-replicas", "0"]).is_err());
        assert!(serve(&["--rate-limit-store-timeout", "0s"]).is_err());
    }

    #[test]
    fn cors_origins_are_parsed_at_start() {
        let any = serve(&[
            "--grpc-web",
            "--cors-allowed-origins",
            "https://a.example,*",
        ]);
        assert_eq!(
            any.unwrap().settings().unwrap().grpc_web,
            Some(CorsOrigins::Any)
        );
        let bad = serve(&[
            "--grpc-web",
            "--cors-allowed-origins",
            "https://a.example\u{7f}",
        ]);
        assert!(matches!(
            bad.unwrap().settings(),
            Err(ConfigError::CorsOrigin { .. })
        ));
    }
}
