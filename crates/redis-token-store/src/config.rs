//! What a [`RedisTokenStore`](crate::RedisTokenStore) needs: where Redis is, the key
//! prefix, the fleet secret, the per-operation timeout and the optional exchange
//! budget. Nothing here connects.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use crate::fleet_secret::FleetSecret;
use crate::rate_limit::RateLimit;

/// The prefix of every key the store writes, unless configured.
pub const DEFAULT_KEY_PREFIX: &str = "obo-mcp:";

/// The default bound on every Redis operation: long enough for a Redis next door
/// (well under a millisecond), short enough that a hung Redis costs a call little.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

/// A configuration the store cannot use. No variant quotes a secret, and none names
/// an environment variable: where the value came from is the application's to say
/// (`mcp-server` prefixes each with its variable, e.g. `TOKEN_CACHE_REDIS_URL: …`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The Redis URL is not one the store can use; the text says why, without the URL.
    #[error(
        "the Redis URL is not usable: {0}; expected redis://[user:password@]host[:port][/db] or rediss://…"
    )]
    InvalidUrl(String),
    /// The fleet secret is not base64.
    #[error("the fleet secret is not base64; generate one with `openssl rand -base64 32`")]
    FleetSecretNotBase64,
    /// The fleet secret decodes to too few bytes.
    #[error(
        "the fleet secret decodes to {bytes} bytes; it needs at least {min}: generate one with `openssl rand -base64 32`",
        min = crate::fleet_secret::MIN_FLEET_SECRET_BYTES
    )]
    FleetSecretTooShort {
        /// How many bytes it decoded to.
        bytes: usize,
    },
    /// The key prefix is empty or holds whitespace or control characters.
    #[error("the key prefix must be non-empty and printable with no spaces (e.g. `obo-mcp:`)")]
    InvalidPrefix,
    /// The timeout is zero.
    #[error("the Redis timeout must be at least 1 ms")]
    ZeroTimeout,
    /// The exchange rate limit does not parse.
    #[error(
        "`{0}` is not a rate: write COUNT/s or COUNT/min with COUNT ≥ 1, e.g. `8/s` (the tenant's limit for token exchange)"
    )]
    InvalidRateLimit(String),
    /// The store was built outside a Tokio runtime, which its connection needs.
    #[error("the Redis token store must be created inside a Tokio runtime")]
    NoRuntime,
}

/// The Redis URL: `redis://` or `rediss://`, with a user and password allowed. The
/// whole URL is a secret; its `Debug` and `Display` show only the scheme.
#[derive(Clone)]
pub struct RedisUrl {
    url: String,
    password: Option<String>,
    user: Option<String>,
}

impl RedisUrl {
    /// Checks the URL's shape; does not connect.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`], which does not quote the URL.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let parsed = url::Url::parse(url.trim())
            .map_err(|e| ConfigError::InvalidUrl(format!("it does not parse as a URL ({e})")))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(ConfigError::InvalidUrl(
                "its scheme is neither redis nor rediss".to_owned(),
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::InvalidUrl("it names no host".to_owned()));
        }
        let decode = |text: &str| percent_decode(text).filter(|decoded| !decoded.is_empty());
        Ok(Self {
            url: url.trim().to_owned(),
            password: parsed.password().and_then(decode),
            user: decode(parsed.username()),
        })
    }

    /// The URL itself, to hand to the client.
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.url
    }

    /// Whether the connection is TLS (`rediss://`).
    #[must_use]
    pub fn is_tls(&self) -> bool {
        self.url.starts_with("rediss:")
    }

    /// The strings no message may hold: the URL, its password and (percent-encoded
    /// or not) user name.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut secrets = vec![self.url.clone()];
        secrets.extend(self.password.iter().cloned());
        secrets.extend(self.user.iter().cloned());
        if let Ok(parsed) = url::Url::parse(&self.url) {
            secrets.extend(parsed.password().map(str::to_owned));
        }
        secrets.retain(|secret| !secret.is_empty());
        secrets
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.is_tls() { "rediss" } else { "redis" };
        write!(f, "{scheme}://[redacted]")
    }
}

/// The fleet-wide exchange budget: the tenant's limit, and how many replicas share it
/// when Redis cannot be asked (each then keeps to `limit / replicas` by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangeBudget {
    /// The fleet's limit (`mcp-server`'s `EXCHANGE_RATE_LIMIT`).
    pub limit: RateLimit,
    /// How many replicas the fleet runs: each one's share when Redis is down.
    pub replicas: NonZeroU32,
}

impl ExchangeBudget {
    /// The fleet's `limit`, shared by `replicas` replicas.
    #[must_use]
    pub const fn new(limit: RateLimit, replicas: NonZeroU32) -> Self {
        Self { limit, replicas }
    }
}

/// The configuration of a [`RedisTokenStore`](crate::RedisTokenStore). Its `Debug`
/// shows neither the URL nor the fleet secret.
#[derive(Debug, Clone)]
pub struct RedisStoreConfig {
    pub(crate) url: RedisUrl,
    pub(crate) prefix: String,
    pub(crate) fleet_secret: FleetSecret,
    pub(crate) timeout: Duration,
    pub(crate) budget: Option<ExchangeBudget>,
}

impl RedisStoreConfig {
    /// The defaults: prefix [`DEFAULT_KEY_PREFIX`], timeout [`DEFAULT_TIMEOUT`], no
    /// exchange budget.
    #[must_use]
    pub fn new(url: RedisUrl, fleet_secret: FleetSecret) -> Self {
        Self {
            url,
            prefix: DEFAULT_KEY_PREFIX.to_owned(),
            fleet_secret,
            timeout: DEFAULT_TIMEOUT,
            budget: None,
        }
    }

    /// Another key prefix (several fleets, or environments, sharing one Redis).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPrefix`] when it is empty, or holds whitespace or control
    /// characters.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Result<Self, ConfigError> {
        let prefix = prefix.into();
        if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::InvalidPrefix);
        }
        self.prefix = prefix;
        Ok(self)
    }

    /// Another bound on each Redis operation.
    ///
    /// # Errors
    ///
    /// [`ConfigError::ZeroTimeout`] for zero.
    pub fn with_timeout(mut self, timeout: Duration) -> Result<Self, ConfigError> {
        if timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        self.timeout = timeout;
        Ok(self)
    }

    /// A fleet-wide exchange budget.
    #[must_use]
    pub fn with_exchange_budget(mut self, budget: ExchangeBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bound on each Redis operation.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store is a library: its messages say what is wrong with the value, and
    /// leave naming where it came from (a variable, a file, a flag) to the application.
    #[test]
    fn no_message_names_an_applications_variable() {
        let errors = [
            RedisUrl::parse("http://cache:6379").err(),
            FleetSecret::from_base64("not base64 at all!").err(),
            FleetSecret::from_base64("c2hvcnQ=").err(),
            "eight per second".parse::<RateLimit>().err(),
            Some(ConfigError::InvalidPrefix),
            Some(ConfigError::ZeroTimeout),
        ];
        for error in errors {
            let text = error.expect("each value above is refused").to_string();
            assert!(
                !text.contains("TOKEN_CACHE") && !text.contains("EXCHANGE_RATE_LIMIT"),
                "{text}"
            );
        }
    }
}
