//! The settings of the fleet's shared token cache (Redis, issue 15): where it is, the
//! key prefix, the fleet secret, the timeout of each operation, and the fleet-wide
//! exchange budget.
//!
//! Unset `TOKEN_CACHE_REDIS_URL` means no shared cache: each replica keeps only its
//! in-process cache, exactly as before. The URL may hold a password and the encryption
//! key is the fleet secret, so both are held in types whose `Debug` redacts them, from
//! the parse on, and no error message ever quotes them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use clap::Args;

/// The shortest fleet secret accepted: AES-256's key size, and HKDF-SHA256's hash size.
pub const MIN_ENCRYPTION_KEY_BYTES: usize = 32;
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
    pub token_cache_redis_url: Option<RedisUrl>,

    /// Prefix of every key the shared token cache writes in Redis.
    #[arg(long, env = "TOKEN_CACHE_KEY_PREFIX", default_value = "obo-mcp:")]
    pub token_cache_key_prefix: String,

    /// The fleet secret that, with each user's own token, encrypts the shared cache's
    /// entries: base64 of at least 32 random bytes, the same on every replica. Unset:
    /// derived from the MCP server's client credentials.
    #[arg(long, env = "TOKEN_CACHE_ENCRYPTION_KEY", hide_env_values = true)]
    pub token_cache_encryption_key: Option<EncryptionKeyArg>,

    /// Timeout, in milliseconds, of each operation on the shared token cache, after
    /// which the server goes on without it (1 to 1000).
    #[arg(long, env = "TOKEN_CACHE_REDIS_TIMEOUT_MS", default_value = "50")]
    pub token_cache_redis_timeout_ms: String,

    /// Fleet-wide budget of token exchanges, e.g. `8/s` (Auth0's limit for the grant on
    /// Essentials). Needs TOKEN_CACHE_REDIS_URL. Unset: no budget.
    #[arg(long, env = "EXCHANGE_RATE_LIMIT")]
    pub exchange_rate_limit: Option<String>,
}

impl Default for SharedCacheArgs {
    fn default() -> Self {
        Self {
            token_cache_redis_url: None,
            token_cache_key_prefix: "obo-mcp:".to_owned(),
            token_cache_encryption_key: None,
            token_cache_redis_timeout_ms: "50".to_owned(),
            exchange_rate_limit: None,
        }
    }
}

/// `TOKEN_CACHE_REDIS_URL`, as given. `Debug` and `Display` never show it: it may hold
/// a password, and so may its host part for some providers.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The URL itself. Call this only where the connection is made.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedisUrl([redacted])")
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for RedisUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// `TOKEN_CACHE_ENCRYPTION_KEY` as given (base64); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKeyArg(String);

impl fmt::Debug for EncryptionKeyArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncryptionKeyArg([redacted])")
    }
}

impl FromStr for EncryptionKeyArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// The decoded fleet secret; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct EncryptionKey(Vec<u8>);

impl EncryptionKey {
    /// The key's bytes. Call this only where the store derives its keys.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EncryptionKey([redacted; {} bytes])", self.0.len())
    }
}

/// A fleet-wide budget: at most `count` exchanges per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExchangeRateLimit {
    pub count: u32,
    pub per: Duration,
}

impl fmt::Display for ExchangeRateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs() {
            60 => write!(f, "{}/min", self.count),
            _ => write!(f, "{}/s", self.count),
        }
    }
}

impl FromStr for ExchangeRateLimit {
    type Err = String;

    /// `N/s` or `N/min` (also `N/sec`, `N/second`, `N/m`, `N/minute`), N from 1.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let expected = "use a whole number of exchanges per second or per minute, e.g. 8/s (Auth0 Essentials and Professional), 2/s (Free) or 30/s (Enterprise)";
        let (count, unit) = value
            .split_once('/')
            .ok_or_else(|| format!("got {value:?}, with no '/': {expected}"))?;
        let count = match count.trim().parse::<u32>() {
            Ok(count) if count > 0 => count,
            _ => return Err(format!("got {value:?}: {expected}")),
        };
        let per = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(format!("got {value:?}, an unknown unit: {expected}")),
        };
        Ok(Self { count, per })
    }
}

/// The validated shared-cache settings; `None` in [`crate::config::Settings`] when
/// `TOKEN_CACHE_REDIS_URL` is unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCacheSettings {
    pub redis_url: RedisUrl,
    pub key_prefix: String,
    /// `None`: the store derives the fleet secret from the client credentials.
    pub encryption_key: Option<EncryptionKey>,
    pub timeout: Duration,
    pub exchange_rate_limit: Option<ExchangeRateLimit>,
}

impl SharedCacheArgs {
    /// Validates the options, adding one line per problem to `problems`. `None`: no
    /// shared cache is configured, or a problem was added.
    pub fn settings(&self, problems: &mut Vec<String>) -> Option<SharedCacheSettings> {
        let before = problems.len();
        let redis_url = self
            .token_cache_redis_url
            .as_ref()
            .filter(|url| !url.expose().trim().is_empty())
            .and_then(|url| check_redis_url(url, problems));
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
            .and_then(|key| decode_encryption_key(&key.0, problems));
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
        let exchange_rate_limit = self
            .exchange_rate_limit
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .and_then(|value| match value.parse::<ExchangeRateLimit>() {
                Ok(limit) => Some(limit),
                Err(why) => {
                    problems.push(format!("EXCHANGE_RATE_LIMIT is not a rate ({why})"));
                    None
                }
            });
        if exchange_rate_limit.is_some() && self.token_cache_redis_url.is_none() {
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
            exchange_rate_limit,
        })
    }
}

/// The URL must name Redis; the message quotes at most its scheme, never the rest.
fn check_redis_url(url: &RedisUrl, problems: &mut Vec<String>) -> Option<RedisUrl> {
    let fix = "use redis://[user:password@]host[:port][/db], or rediss:// for TLS";
    match url::Url::parse(url.expose().trim()) {
        Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss") => {
            if parsed.host_str().is_some_and(|host| !host.is_empty()) {
                Some(RedisUrl::new(url.expose().trim()))
            } else {
                problems.push(format!(
                    "TOKEN_CACHE_REDIS_URL has no host (the value is not shown: it may hold a password): {fix}"
                ));
                None
            }
        }
        Ok(parsed) => {
            // `user:password@host` parses with `user` as its scheme: name a scheme only
            // when `://` follows it, where no secret stands.
            let scheme = format!("{}://", parsed.scheme());
            let scheme = if url.expose().trim().starts_with(&scheme) && scheme.len() <= 20 {
                scheme
            } else {
                "a value without a scheme://".to_owned()
            };
            problems.push(format!(
                "TOKEN_CACHE_REDIS_URL must start with redis:// or rediss:// (got {scheme}; the rest is not shown: it may hold a password): {fix}"
            ));
            None
        }
        Err(e) => {
            problems.push(format!(
                "TOKEN_CACHE_REDIS_URL is not a URL ({e}; the value is not shown: it may hold a password): {fix}"
            ));
            None
        }
    }
}

fn decode_encryption_key(value: &str, problems: &mut Vec<String>) -> Option<EncryptionKey> {
    let value = value.trim();
    let decoded = [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok());
    let fix = "generate one with `openssl rand -base64 32` and give every replica the same";
    match decoded {
        Some(bytes) if bytes.len() >= MIN_ENCRYPTION_KEY_BYTES => Some(EncryptionKey(bytes)),
        Some(bytes) => {
            problems.push(format!(
                "TOKEN_CACHE_ENCRYPTION_KEY is {} bytes long, shorter than {MIN_ENCRYPTION_KEY_BYTES}: {fix}",
                bytes.len()
            ));
            None
        }
        None => {
            problems.push(format!(
                "TOKEN_CACHE_ENCRYPTION_KEY is not base64 (the value is not shown: it is a secret): {fix}"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "pa55-w0rd-9f1c";
    const KEY: &str = "q2hKX8nV0c7rWm3e9yTzBf4uLpA6sDgJ1kHoEiRxYvM=";

    fn with_url(url: &str) -> SharedCacheArgs {
        SharedCacheArgs {
            token_cache_redis_url: Some(RedisUrl::new(url)),
            ..SharedCacheArgs::default()
        }
    }

    fn problems_of(args: &SharedCacheArgs) -> Vec<String> {
        let mut problems = Vec::new();
        assert_eq!(args.settings(&mut problems), None, "{problems:?}");
        problems
    }

    #[test]
    fn no_url_means_no_shared_cache_and_no_problem() {
        let mut problems = Vec::new();
        assert_eq!(SharedCacheArgs::default().settings(&mut problems), None);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_redis_url_gets_the_defaults() {
        let mut problems = Vec::new();
        let settings = with_url(&format!("rediss://app:{PASSWORD}@redis.internal:6380/2"))
            .settings(&mut problems)
            .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(settings.key_prefix, "obo-mcp:");
        assert_eq!(settings.timeout, Duration::from_millis(50));
        assert_eq!(settings.encryption_key, None);
        assert_eq!(settings.exchange_rate_limit, None);
        assert_eq!(
            settings.redis_url.expose(),
            format!("rediss://app:{PASSWORD}@redis.internal:6380/2")
        );
    }

    #[test]
    fn a_url_of_another_scheme_is_refused_naming_the_variable_without_the_password() {
        for (url, shows) in [
            (format!("http://app:{PASSWORD}@redis.internal"), "http://"),
            (
                format!("{PASSWORD}:app@redis.internal:6379"),
                "without a scheme://",
            ),
            (format!("redis.internal:{PASSWORD}"), "without a scheme://"),
            (format!("//app:{PASSWORD}@redis.internal"), "not a URL"),
            (format!("redis://:{PASSWORD}@/0"), "empty host"),
            (format!("redis:{PASSWORD}"), "has no host"),
        ] {
            let text = problems_of(&with_url(&url)).join("\n");
            assert!(text.contains("TOKEN_CACHE_REDIS_URL"), "{text}");
            assert!(text.contains(shows), "{url}: {text}");
            assert!(text.contains("redis://[user:password@]host"), "{text}");
            assert!(!text.contains(PASSWORD), "{text}");
            assert!(!text.contains("redis.internal"), "{text}");
        }
    }

    #[test]
    fn the_url_and_the_key_never_show_in_debug() {
        let args = SharedCacheArgs {
            token_cache_encryption_key: Some(EncryptionKeyArg(KEY.to_owned())),
            ..with_url(&format!("redis://app:{PASSWORD}@127.0.0.1:6379"))
        };
        let mut problems = Vec::new();
        let settings = args.settings(&mut problems).unwrap();
        assert_eq!(settings.encryption_key.as_ref().unwrap().expose().len(), 32);
        for debug in [format!("{args:?}"), format!("{settings:?}")] {
            assert!(debug.contains("[redacted"), "{debug}");
            assert!(!debug.contains(PASSWORD), "{debug}");
            assert!(!debug.contains(KEY), "{debug}");
            assert!(!debug.contains("127.0.0.1"), "{debug}");
        }
        assert_eq!(settings.redis_url.to_string(), "[redacted]");
    }

    #[test]
    fn an_encryption_key_must_be_base64_of_32_bytes_or_more() {
        let mut args = with_url("redis://127.0.0.1:6379");
        for (value, says) in [
            ("not base64 at all!", "is not base64"),
            ("c2hvcnQ=", "is 5 bytes long, shorter than 32"),
        ] {
            args.token_cache_encryption_key = Some(EncryptionKeyArg(value.to_owned()));
            let text = problems_of(&args).join("\n");
            assert!(text.contains("TOKEN_CACHE_ENCRYPTION_KEY"), "{text}");
            assert!(text.contains(says), "{text}");
            assert!(text.contains("openssl rand -base64 32"), "{text}");
            assert!(!text.contains(value), "{text}");
        }
        // URL-safe base64 of 48 bytes, without padding, is accepted too.
        args.token_cache_encryption_key = Some(EncryptionKeyArg(URL_SAFE_NO_PAD.encode([7; 48])));
        let mut problems = Vec::new();
        let settings = args.settings(&mut problems).unwrap();
        assert_eq!(settings.encryption_key.unwrap().expose(), &[7; 48]);
    }

    #[test]
    fn the_timeout_and_the_prefix_are_bounded() {
        let mut args = with_url("redis://127.0.0.1:6379");
        for bad in ["0", "1001", "50ms", ""] {
            args.token_cache_redis_timeout_ms = bad.into();
            let text = problems_of(&args).join("\n");
            assert!(
                text.contains("TOKEN_CACHE_REDIS_TIMEOUT_MS must be a whole number of milliseconds from 1 to 1000"),
                "{bad:?}: {text}"
            );
        }
        args.token_cache_redis_timeout_ms = " 200 ".into();
        let mut problems = Vec::new();
        assert_eq!(
            args.settings(&mut problems).unwrap().timeout,
            Duration::from_millis(200)
        );
        for bad in ["", "obo mcp:", &"x".repeat(65)] {
            args.token_cache_key_prefix = bad.to_owned();
            let text = problems_of(&args).join("\n");
            assert!(
                text.contains("TOKEN_CACHE_KEY_PREFIX must be 1 to 64"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_exchange_rate_limit_is_a_count_per_second_or_minute() {
        assert_eq!(
            "8/s".parse::<ExchangeRateLimit>(),
            Ok(ExchangeRateLimit {
                count: 8,
                per: Duration::from_secs(1)
            })
        );
        assert_eq!(
            " 120 / min "
                .trim()
                .parse::<ExchangeRateLimit>()
                .unwrap()
                .per,
            Duration::from_secs(60)
        );
        let mut args = with_url("redis://127.0.0.1:6379");
        for (bad, says) in [
            ("8", "with no '/'"),
            ("0/s", "got \"0/s\""),
            ("-1/s", "got \"-1/s\""),
            ("8/h", "an unknown unit"),
            ("eight/s", "got \"eight/s\""),
        ] {
            args.exchange_rate_limit = Some(bad.to_owned());
            let text = problems_of(&args).join("\n");
            assert!(text.contains("EXCHANGE_RATE_LIMIT is not a rate"), "{text}");
            assert!(text.contains(says), "{bad}: {text}");
            assert!(text.contains("e.g. 8/s"), "{text}");
        }
        args.exchange_rate_limit = Some("30/s".to_owned());
        let mut problems = Vec::new();
        assert_eq!(
            args.settings(&mut problems).unwrap().exchange_rate_limit,
            Some(ExchangeRateLimit {
                count: 30,
                per: Duration::from_secs(1)
            })
        );
    }

    #[test]
    fn an_exchange_rate_limit_without_redis_is_refused() {
        let args = SharedCacheArgs {
            exchange_rate_limit: Some("8/s".to_owned()),
            ..SharedCacheArgs::default()
        };
        let text = problems_of(&args).join("\n");
        assert!(
            text.contains("EXCHANGE_RATE_LIMIT is set but TOKEN_CACHE_REDIS_URL is not"),
            "{text}"
        );
    }
}
