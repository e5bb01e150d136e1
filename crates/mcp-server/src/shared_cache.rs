//! The settings of the fleet's shared token cache (Redis, issue 15): where it is, the
//! key prefix, the fleet secret, the timeout of each operation, and the fleet-wide
//! exchange budget.
//!
//! Unset `TOKEN_CACHE_REDIS_URL` means no shared cache: each replica keeps only its
//! in-process cache, exactly as before. The URL may hold a password and the encryption
//! key is the fleet secret, so both are held in types whose `Debug` redacts them, from
//! the parse on, and no error message ever quotes them.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use auth0_obo::ClientSecret;
use clap::Args;
use redis_token_store::{
    ConfigError, ExchangeBudget, FleetSecret, RateLimit, RedisStoreConfig, RedisTokenStore,
    RedisUrl,
};

/// The longest key prefix accepted; a prefix is a namespace, not data.
const MAX_KEY_PREFIX_CHARS: usize = 64;
/// The range of `TOKEN_CACHE_REDIS_TIMEOUT_MS`: above a second, a hung Redis would
/// slow every call that misses L1 by more than an exchange costs.
const TIMEOUT_MS_RANGE: std::ops::RangeInclusive<u64> = 1..=1000;

/// The raw options, as given on the command line or in the environment.
#[derive(Debug, Clone, Args)]
pub struct SharedCacheArgs {
    /// Redis for the token cache shared by every replica (`redis://` or `rediss://`,
    /// user and password allowed). Unset: each replica caches on its own. The whole
    /// URL is treated as a secret.
    #[arg(long, env = "TOKEN_CACHE_REDIS_URL", hide_env_values = true)]
    pub token_cache_redis_url: Option<SecretValue>,

    /// Prefix of every key the shared token cache writes in Redis.
    #[arg(long, env = "TOKEN_CACHE_KEY_PREFIX", default_value = "obo-mcp:")]
    pub token_cache_key_prefix: String,

    /// The fleet secret that, with each user's own token, encrypts the shared cache's
    /// entries: base64 of at least 32 random bytes, the same on every replica. Unset:
    /// derived from the MCP server's client credentials.
    #[arg(long, env = "TOKEN_CACHE_ENCRYPTION_KEY", hide_env_values = true)]
    pub token_cache_encryption_key: Option<SecretValue>,

    /// Timeout, in milliseconds, of each operation on the shared token cache, after
    /// which the server goes on without it (1 to 1000).
    #[arg(long, env = "TOKEN_CACHE_REDIS_TIMEOUT_MS", default_value = "50")]
    pub token_cache_redis_timeout_ms: String,

    /// Fleet-wide budget of token exchanges, e.g. `8/s` (Auth0's limit for the grant on
    /// Essentials). Needs TOKEN_CACHE_REDIS_URL. Unset: no budget.
    #[arg(long, env = "EXCHANGE_RATE_LIMIT")]
    pub exchange_rate_limit: Option<String>,

    /// How many replicas share EXCHANGE_RATE_LIMIT: while Redis cannot be asked, each
    /// keeps to its share, the limit divided by this.
    #[arg(long, env = "EXCHANGE_RATE_LIMIT_REPLICAS", default_value = "1")]
    pub exchange_rate_limit_replicas: String,
}

impl Default for SharedCacheArgs {
    fn default() -> Self {
        Self {
            token_cache_redis_url: None,
            token_cache_key_prefix: "obo-mcp:".to_owned(),
            token_cache_encryption_key: None,
            token_cache_redis_timeout_ms: "50".to_owned(),
            exchange_rate_limit: None,
            exchange_rate_limit_replicas: "1".to_owned(),
        }
    }
}

/// A secret option as given (the Redis URL, the encryption key); `Debug` never shows
/// it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl FromStr for SecretValue {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The validated shared-cache settings; `None` in [`crate::config::Settings`] when
/// `TOKEN_CACHE_REDIS_URL` is unset. `Debug` shows neither the URL nor the secret.
#[derive(Debug, Clone)]
pub struct SharedCacheSettings {
    pub redis_url: RedisUrl,
    pub key_prefix: String,
    /// `None`: derived from the client credentials ([`Self::store_config`]).
    pub encryption_key: Option<FleetSecret>,
    pub timeout: Duration,
    pub exchange_budget: Option<ExchangeBudget>,
}

impl SharedCacheSettings {
    /// The store's configuration; the fleet secret is derived from the client
    /// credentials unless `TOKEN_CACHE_ENCRYPTION_KEY` gave one.
    pub fn store_config(
        &self,
        client_id: &str,
        client_secret: &ClientSecret,
    ) -> Result<RedisStoreConfig, ConfigError> {
        let fleet_secret = self.encryption_key.clone().unwrap_or_else(|| {
            FleetSecret::derive_from_client_credentials(client_id, client_secret)
        });
        let config = RedisStoreConfig::new(self.redis_url.clone(), fleet_secret)
            .with_prefix(self.key_prefix.clone())?
            .with_timeout(self.timeout)?;
        Ok(match self.exchange_budget {
            Some(budget) => config.with_exchange_budget(budget),
            None => config,
        })
    }
}

/// Tries the shared cache once at start and says how it went: a Redis that is down
/// only costs exchanges (each replica then exchanges for itself), so the server starts
/// and serves anyway, and uses Redis as soon as it answers.
pub async fn report_at_start(store: std::sync::Arc<RedisTokenStore>) {
    match store.check().await {
        Ok(()) => tracing::info!("shared token cache: Redis answers"),
        Err(error) => tracing::warn!(
            error = %error,
            kind = error.kind(),
            "shared token cache: Redis does not answer; serving with the in-process cache and direct exchanges until it does"
        ),
    }
}

impl SharedCacheArgs {
    /// Validates the options, adding one line per problem to `problems`. `None`: no
    /// shared cache is configured, or a problem was added.
    pub fn settings(&self, problems: &mut Vec<String>) -> Option<SharedCacheSettings> {
        let before = problems.len();
        let redis_url = self
            .token_cache_redis_url
            .as_ref()
            .filter(|url| !url.0.trim().is_empty())
            .and_then(|url| match RedisUrl::parse(&url.0) {
                Ok(url) => Some(url),
                // The store's message never quotes the URL.
                Err(e) => {
                    problems.push(format!("TOKEN_CACHE_REDIS_URL: {e}"));
                    None
                }
            });
        let key_prefix = self.token_cache_key_prefix.trim();
        if key_prefix.is_empty()
            || key_prefix.chars().count() > MAX_KEY_PREFIX_CHARS
            || !key_prefix.chars().all(|c| c.is_ascii_graphic())
        {
            problems.push(format!(
                "TOKEN_CACHE_KEY_PREFIX must be 1 to {MAX_KEY_PREFIX_CHARS} visible ASCII characters with no spaces (got {:?}): use e.g. obo-mcp:",
                self.token_cache_key_prefix
            ));
        }
        let encryption_key = self
            .token_cache_encryption_key
            .as_ref()
            .filter(|key| !key.0.trim().is_empty())
            .and_then(|key| match FleetSecret::from_base64(&key.0) {
                Ok(secret) => Some(secret),
                Err(e) => {
                    problems.push(format!("TOKEN_CACHE_ENCRYPTION_KEY: {e}"));
                    None
                }
            });
        let timeout = match self.token_cache_redis_timeout_ms.trim().parse::<u64>() {
            Ok(ms) if TIMEOUT_MS_RANGE.contains(&ms) => Some(Duration::from_millis(ms)),
            _ => {
                problems.push(format!(
                    "TOKEN_CACHE_REDIS_TIMEOUT_MS must be a whole number of milliseconds from {} to {} (got {:?}); the default is 50",
                    TIMEOUT_MS_RANGE.start(),
                    TIMEOUT_MS_RANGE.end(),
                    self.token_cache_redis_timeout_ms
                ));
                None
            }
        };
        let limit = self
            .exchange_rate_limit
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .and_then(|value| match value.parse::<RateLimit>() {
                Ok(limit) => Some(limit),
                Err(e) => {
                    problems.push(format!("EXCHANGE_RATE_LIMIT: {e}"));
                    None
                }
            });
        let replicas = match self
            .exchange_rate_limit_replicas
            .trim()
            .parse::<NonZeroU32>()
        {
            Ok(replicas) => Some(replicas),
            Err(_) => {
                problems.push(format!(
                    "EXCHANGE_RATE_LIMIT_REPLICAS must be a whole number from 1 (got {:?}): set it to how many replicas the fleet runs",
                    self.exchange_rate_limit_replicas
                ));
                None
            }
        };
        if self
            .exchange_rate_limit
            .as_deref()
            .is_some_and(|v| !v.trim().is_empty())
            && self.token_cache_redis_url.is_none()
        {
            // A budget that nothing enforces would be worse than none: the operator
            // would believe the fleet stays under the tenant's limit.
            problems.push(
                "EXCHANGE_RATE_LIMIT is set but TOKEN_CACHE_REDIS_URL is not: the fleet-wide budget is kept in Redis, so set TOKEN_CACHE_REDIS_URL too, or unset EXCHANGE_RATE_LIMIT".to_owned(),
            );
        }
        if problems.len() > before {
            return None;
        }
        Some(SharedCacheSettings {
            redis_url: redis_url?,
            key_prefix: key_prefix.to_owned(),
            encryption_key,
            timeout: timeout?,
            exchange_budget: limit
                .zip(replicas)
                .map(|(limit, replicas)| ExchangeBudget::new(limit, replicas)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "pa55-w0rd-9f1c";
    const KEY: &str = "q2hKX8nV0c7rWm3e9yTzBf4uLpA6sDgJ1kHoEiRxYvM=";

    fn with_url(url: &str) -> SharedCacheArgs {
        SharedCacheArgs {
            token_cache_redis_url: Some(SecretValue::new(url)),
            ..SharedCacheArgs::default()
        }
    }

    fn problems_of(args: &SharedCacheArgs) -> String {
        let mut problems = Vec::new();
        assert!(args.settings(&mut problems).is_none(), "{problems:?}");
        assert!(!problems.is_empty());
        problems.join("\n")
    }

    fn settings_of(args: &SharedCacheArgs) -> SharedCacheSettings {
        let mut problems = Vec::new();
        let settings = args.settings(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        settings.unwrap()
    }

    #[test]
    fn no_url_means_no_shared_cache_and_no_problem() {
        let mut problems = Vec::new();
        assert!(SharedCacheArgs::default().settings(&mut problems).is_none());
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_redis_url_gets_the_defaults() {
        let settings = settings_of(&with_url(&format!(
            "rediss://app:{PASSWORD}@redis.internal:6380/2"
        )));
        assert_eq!(settings.key_prefix, "obo-mcp:");
        assert_eq!(settings.timeout, Duration::from_millis(50));
        assert!(settings.encryption_key.is_none());
        assert_eq!(settings.exchange_budget, None);
        assert_eq!(
            settings.redis_url.secret(),
            format!("rediss://app:{PASSWORD}@redis.internal:6380/2")
        );
    }

    #[test]
    fn a_url_that_is_not_redis_is_refused_naming_the_variable_without_the_password() {
        for url in [
            format!("http://app:{PASSWORD}@redis.internal"),
            format!("{PASSWORD}:app@redis.internal:6379"),
            format!("//app:{PASSWORD}@redis.internal"),
            format!("redis://:{PASSWORD}@/0"),
            format!("redis:{PASSWORD}"),
        ] {
            let text = problems_of(&with_url(&url));
            assert!(
                text.contains("TOKEN_CACHE_REDIS_URL: the Redis URL is not usable"),
                "{text}"
            );
            assert!(text.contains("redis://[user:password@]host"), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(!text.contains("redis.internal"), "{text}");
        }
    }

    #[test]
    fn the_url_and_the_key_never_show_in_debug() {
        let args = SharedCacheArgs {
            token_cache_encryption_key: Some(SecretValue::new(KEY)),
            ..with_url(&format!("redis://app:{PASSWORD}@127.0.0.1:6379"))
        };
        let settings = settings_of(&args);
        assert!(settings.encryption_key.is_some());
        let config = settings
            .store_config("client", &ClientSecret::new("client-secret"))
            .unwrap();
        for debug in [
            format!("{args:?}"),
            format!("{settings:?}"),
            format!("{config:?}"),
        ] {
            assert!(!debug.contains(PASSWORD), "{debug}");
            assert!(!debug.contains(KEY), "{debug}");
            assert!(!debug.contains("127.0.0.1"), "{debug}");
        }
        assert!(format!("{args:?}").contains("SecretValue([redacted])"));
    }

    #[test]
    fn an_encryption_key_must_be_base64_of_32_bytes_or_more() {
        let mut args = with_url("redis://127.0.0.1:6379");
        for (value, says) in [
            ("not base64 at all!", "is not base64"),
            ("c2hvcnQ=", "decodes to 5 bytes; it needs at least 32"),
        ] {
            args.token_cache_encryption_key = Some(SecretValue::new(value));
            let text = problems_of(&args);
            assert!(text.contains("TOKEN_CACHE_ENCRYPTION_KEY"), "{text}");
            assert!(text.contains(says), "{text}");
            assert!(text.contains("openssl rand -base64 32"), "{text}");
            assert!(!text.contains(value), "{text}");
        }
        args.token_cache_encryption_key = Some(SecretValue::new(KEY));
        assert!(settings_of(&args).encryption_key.is_some());
    }

    #[test]
    fn the_timeout_and_the_prefix_are_bounded() {
        let mut args = with_url("redis://127.0.0.1:6379");
        for bad in ["0", "1001", "50ms", ""] {
            args.token_cache_redis_timeout_ms = bad.into();
            let text = problems_of(&args);
            assert!(
                text.contains(
                    "TOKEN_CACHE_REDIS_TIMEOUT_MS must be a whole number of milliseconds from 1 to 1000"
                ),
                "{bad:?}: {text}"
            );
        }
        args.token_cache_redis_timeout_ms = " 200 ".into();
        let settings = settings_of(&args);
        assert_eq!(settings.timeout, Duration::from_millis(200));
        let config = settings
            .store_config("client", &ClientSecret::new("s"))
            .unwrap();
        assert_eq!(config.timeout(), Duration::from_millis(200));
        for bad in ["", "obo mcp:", &"x".repeat(65)] {
            args.token_cache_key_prefix = bad.to_owned();
            let text = problems_of(&args);
            assert!(
                text.contains("TOKEN_CACHE_KEY_PREFIX must be 1 to 64"),
                "{text}"
            );
        }
        args.token_cache_key_prefix = "staging:obo:".into();
        let config = settings_of(&args)
            .store_config("client", &ClientSecret::new("s"))
            .unwrap();
        assert_eq!(config.prefix(), "staging:obo:");
    }

    #[test]
    fn an_exchange_rate_limit_is_a_count_per_second_or_minute_shared_by_the_replicas() {
        let mut args = with_url("redis://127.0.0.1:6379");
        for bad in ["8", "0/s", "-1/s", "8/h", "eight/s"] {
            args.exchange_rate_limit = Some(bad.to_owned());
            let text = problems_of(&args);
            assert!(
                text.contains(&format!("EXCHANGE_RATE_LIMIT: `{bad}` is not a rate")),
                "{text}"
            );
            assert!(text.contains("e.g. `8/s`"), "{text}");
        }
        args.exchange_rate_limit = Some("30/s".to_owned());
        args.exchange_rate_limit_replicas = "3".to_owned();
        let budget = settings_of(&args).exchange_budget.unwrap();
        assert_eq!(budget.limit, "30/s".parse().unwrap());
        assert_eq!(budget.replicas.get(), 3);
        for bad in ["0", "three", ""] {
            args.exchange_rate_limit_replicas = bad.to_owned();
            let text = problems_of(&args);
            assert!(
                text.contains("EXCHANGE_RATE_LIMIT_REPLICAS must be a whole number from 1"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_exchange_rate_limit_without_redis_is_refused() {
        let args = SharedCacheArgs {
            exchange_rate_limit: Some("8/s".to_owned()),
            ..SharedCacheArgs::default()
        };
        let text = problems_of(&args);
        assert!(
            text.contains("EXCHANGE_RATE_LIMIT is set but TOKEN_CACHE_REDIS_URL is not"),
            "{text}"
        );
    }
}
