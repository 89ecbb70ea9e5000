//! The facade's access token: fetched with a fresh assertion, reused until
//! shortly before it expires, refreshed ahead of time in the background, one
//! refresh in flight however many calls wait, each waiter bounded by its own
//! deadline. A failing token endpoint is retried with capped exponential
//! backoff and jitter; a rejection is not retried (the vendor locks the
//! account after repeated failures) and is remembered for a cool-down.

use std::{
    fmt,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use futures_util::future::{BoxFuture, FutureExt, Shared};
use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

use super::service_account::ServiceAccount;
use crate::{
    metrics::Metrics,
    upstream::{TokenError, UpstreamClient, VendorCode},
};

/// How tokens are refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// Refresh this long before expiry (at most half the token's life).
    pub margin: Duration,
    /// Time allowed to one token request.
    pub attempt_timeout: Duration,
    /// First retry delay after a transient failure; doubles, with jitter.
    pub backoff_initial: Duration,
    /// Longest retry delay.
    pub backoff_max: Duration,
    /// Attempts per refresh before giving up (callers then see UNAVAILABLE).
    pub max_attempts: u32,
    /// How long a rejection is remembered before the endpoint is tried again.
    pub rejection_cooldown: Duration,
}

impl RefreshPolicy {
    /// How long before expiry a token is refreshed when none is configured.
    pub const DEFAULT_MARGIN: Duration = Duration::from_secs(300);
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            margin: Self::DEFAULT_MARGIN,
            attempt_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(10),
            max_attempts: 4,
            rejection_cooldown: Duration::from_secs(60),
        }
    }
}

/// A token to send, and which one it is (to drop exactly that one if the
/// upstream rejects it).
#[derive(Debug, Clone)]
pub struct Token {
    pub value: SecretString,
    pub generation: u64,
}

/// Why a caller got no token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenWaitError {
    #[error(transparent)]
    Failed(#[from] TokenError),
    #[error("no token within the call's deadline")]
    TimedOut,
}

#[derive(Clone)]
struct Cached {
    token: SecretString,
    generation: u64,
    refresh_at: Instant,
    expires_at: Instant,
}

impl From<&Cached> for Token {
    fn from(c: &Cached) -> Self {
        Token {
            value: c.token.clone(),
            generation: c.generation,
        }
    }
}

type Refresh = Shared<BoxFuture<'static, Result<Cached, TokenError>>>;

enum State {
    Empty,
    Ready(Cached),
    Refreshing {
        /// A token still valid while its successor is fetched.
        current: Option<Cached>,
        refresh: Refresh,
    },
    Failed {
        error: TokenError,
        until: Instant,
    },
}

/// Owns the facade's access token.
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<Inner>,
}

struct Inner {
    account: Arc<ServiceAccount>,
    audience: String,
    identity: Url,
    upstream: UpstreamClient,
    policy: RefreshPolicy,
    state: Mutex<State>,
    generation: AtomicU64,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("issuer", &self.inner.account.issuer())
            .field("identity", &self.inner.identity.as_str())
            .field("policy", &self.inner.policy)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    pub fn new(
        account: Arc<ServiceAccount>,
        audience: String,
        identity: Url,
        upstream: UpstreamClient,
        policy: RefreshPolicy,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                account,
                audience,
                identity,
                upstream,
                policy,
                state: Mutex::new(State::Empty),
                generation: AtomicU64::new(0),
                metrics,
            }),
        }
    }

    pub fn issuer(&self) -> &str {
        self.inner.account.issuer()
    }

    /// A valid token, waiting at most `budget` for a refresh.
    pub async fn token(&self, budget: Duration) -> Result<Token, TokenWaitError> {
        let refresh = {
            let mut state = self.inner.lock();
            let now = Instant::now();
            match &*state {
                State::Ready(c) if now < c.refresh_at => return Ok(c.into()),
                State::Ready(c) if now < c.expires_at => {
                    // Refresh ahead of expiry; this call keeps the old token.
                    let current = c.clone();
                    *state = State::Refreshing {
                        current: Some(current.clone()),
                        refresh: self.start(),
                    };
                    return Ok((&current).into());
                }
                State::Refreshing {
                    current: Some(c), ..
                } if now < c.expires_at => return Ok(c.into()),
                State::Refreshing { refresh, .. } => refresh.clone(),
                State::Failed { error, until } if now < *until => {
                    return Err(TokenWaitError::Failed(error.clone()));
                }
                State::Ready(_) | State::Empty | State::Failed { .. } => {
                    let refresh = self.start();
                    *state = State::Refreshing {
                        current: None,
                        refresh: refresh.clone(),
                    };
                    refresh
                }
            }
        };
        match tokio::time::timeout(budget, refresh).await {
            Ok(Ok(cached)) => Ok((&cached).into()),
            Ok(Err(error)) => Err(TokenWaitError::Failed(error)),
            Err(_) => Err(TokenWaitError::TimedOut),
        }
    }

    /// Drops `generation` if it is still the cached token (the upstream
    /// rejected it); a newer token is kept.
    pub fn invalidate(&self, generation: u64) {
        let mut state = self.inner.lock();
        match &mut *state {
            State::Ready(c) if c.generation == generation => *state = State::Empty,
            State::Refreshing { current, .. }
                if current.as_ref().is_some_and(|c| c.generation == generation) =>
            {
                *current = None;
            }
            _ => {}
        }
    }

    /// Spawns the refresh so that it completes even if every waiter gives
    /// up; waiters share its outcome. Called with the state lock held.
    fn start(&self) -> Refresh {
        let inner = self.inner.clone();
        let task = tokio::spawn(inner.refresh());
        async move {
            task.await.unwrap_or_else(|_| {
                Err(TokenError::Transient {
                    detail: "the refresh task stopped".to_owned(),
                    http_status: None,
                    code: None,
                })
            })
        }
        .boxed()
        .shared()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn refresh(self: Arc<Self>) -> Result<Cached, TokenError> {
        let mut delay = self.policy.backoff_initial;
        let mut attempt = 1;
        let result = loop {
            match self.fetch_once().await {
                Ok(cached) => break Ok(cached),
                Err(error @ (TokenError::Rejected { .. } | TokenError::AssertionNotSigned)) => {
                    break Err(error);
                }
                Err(error) if attempt >= self.policy.max_attempts => break Err(error),
                Err(error) => {
                    tracing::warn!(attempt, error = %error, "token request failed; backing off");
                    tokio::time::sleep(jitter(delay)).await;
                    delay = (delay * 2).min(self.policy.backoff_max);
                    attempt += 1;
                }
            }
        };
        self.publish(&result, delay);
        result
    }

    async fn fetch_once(&self) -> Result<Cached, TokenError> {
        let assertion = self
            .account
            .assertion(&self.audience, SystemTime::now())
            .map_err(|_| TokenError::AssertionNotSigned)?;
        let fetched_at = Instant::now();
        let token = self
            .upstream
            .fetch_token(&self.identity, &assertion, self.policy.attempt_timeout)
            .await;
        self.metrics.token_request(match &token {
            Ok(_) => "issued",
            Err(TokenError::Transient { .. }) => "unavailable",
            Err(TokenError::Rejected { .. }) => "rejected",
            Err(TokenError::AssertionNotSigned) => "not_signed",
        });
        let token = token?;
        let life = token.expires_in;
        let margin = self.policy.margin.min(life / 2);
        let safety = (life / 10).min(Duration::from_secs(5));
        let expires_at = fetched_at + life - safety;
        Ok(Cached {
            token: token.value,
            generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
            // Never later than the end of the token's usable life.
            refresh_at: (fetched_at + life - margin).min(expires_at),
            expires_at,
        })
    }

    fn publish(&self, result: &Result<Cached, TokenError>, last_delay: Duration) {
        let mut state = self.lock();
        let now = Instant::now();
        let error = match result {
            Ok(cached) => {
                tracing::info!(issuer = self.account.issuer(), "access token refreshed");
                *state = State::Ready(cached.clone());
                return;
            }
            Err(error) => error,
        };
        let cooldown = match error {
            TokenError::Rejected { .. } | TokenError::AssertionNotSigned => {
                self.policy.rejection_cooldown
            }
            TokenError::Transient { .. } => last_delay,
        };
        let code = error.code().map(ToString::to_string);
        tracing::error!(
            issuer = self.account.issuer(),
            token_error_code = code.as_deref(),
            http_status = error.http_status(),
            hint = hint(error.code()),
            retry_in_secs = cooldown.as_secs_f64(),
            "the facade could not obtain an access token"
        );
        let still_valid = match &*state {
            State::Refreshing {
                current: Some(c), ..
            } if now < c.expires_at => Some(c.clone()),
            _ => None,
        };
        *state = match still_valid {
            Some(mut current) => {
                current.refresh_at = now + cooldown;
                State::Ready(current)
            }
            None => State::Failed {
                error: error.clone(),
                until: now + cooldown,
            },
        };
    }
}

/// "Full jitter" between half and all of the delay, so that replicas that
/// failed together do not retry together.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// What an operator should do about a token endpoint code
/// (`shared/upstream/authentication.md`).
pub fn hint(code: Option<&VendorCode>) -> &'static str {
    let Some(VendorCode::Text(code)) = code else {
        return "check the identity host URL and its availability";
    };
    match code.as_str() {
        "1.0.1" => "the tenant id in the issuer is wrong",
        "1.0.14" => "the vendor application is inactive",
        "1.1.1" => "the assertion lacks the scope claim",
        "1.2.4" => "the assertion expired: check this host's clock",
        "1.2.5" => "the signature cannot be validated: the private key does not match the account",
        "1.2.6" => "the key is no longer accepted: rotate the service account key",
        "1.2.7" => "an assertion was reused",
        "1.2.11" => "the service account is not active",
        "1.2.14" => "the service account lacks permissions",
        "1.2.18" => {
            "the service account is locked after too many invalid attempts: fix the key, then wait"
        }
        "1.2.19" => "impersonation (sub) is not allowed",
        "1.2.20" | "1.2.21" => "the assertion cannot be decoded",
        "1.2.22" => "the assertion has claims beyond iss, aud, scope, iat, exp",
        _ => "see the vendor's authentication error codes",
    }
}
