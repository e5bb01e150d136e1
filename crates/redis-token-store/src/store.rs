//! [`RedisTokenStore`]: auth0-obo's [`SharedTokenStore`] on Redis.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use auth0_obo::{
    ExchangeRequest, FleetLock, SharedTokenStore, StoreError, StoredToken, TokenCacheKey,
};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult};

use crate::config::{ConfigError, RedisStoreConfig};
use crate::fleet_secret::FleetSecret;
use crate::rate_limit::{LocalGcra, RateLimit};
use crate::scripts;
use crate::sealed_entry;

/// The shortest time a connection attempt is given, whatever the operation timeout: a
/// TLS handshake to a Redis across a network takes longer than one command. Calls do
/// not wait for it (each is bounded by the operation timeout); the attempt goes on
/// across calls.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long after a failed operation the exchange budget answers from the local share
/// without asking Redis. The cache asks the budget even after the call's first store
/// error (an exchange must never skip it), so without this a hung Redis would cost each
/// exchange two timeouts rather than one.
const BUDGET_BYPASS_AFTER_FAILURE: Duration = Duration::from_secs(1);

/// The least time between two replacements of the connection (see
/// [`RedisTokenStore::replace_connection`]).
const MIN_REPLACEMENT_INTERVAL: Duration = Duration::from_secs(1);

/// The longest error text kept from the client: enough for the cause.
const MAX_ERROR_TEXT: usize = 200;

/// A [`SharedTokenStore`] on Redis (see the [crate docs](crate)).
///
/// Cheap to share (`Arc` it); its connection is multiplexed and reconnects by itself.
pub struct RedisTokenStore {
    connection: Mutex<Connection>,
    client: redis::Client,
    manager_config: ConnectionManagerConfig,
    prefix: String,
    fleet_secret: FleetSecret,
    timeout: Duration,
    connect_timeout: Duration,
    budget: Option<Budget>,
    /// What no error text may hold: the URL, its password and user.
    secrets: Vec<String>,
    tls: bool,
    budget_fallbacks: AtomicU64,
    /// When an operation last failed: the budget then skips Redis for a while.
    last_failure: Mutex<Option<Instant>>,
}

/// The connection, and when it was last replaced.
struct Connection {
    manager: ConnectionManager,
    replaced_at: Option<Instant>,
}

struct Budget {
    limit: RateLimit,
    interval_micros: u64,
    local: LocalGcra,
}

impl RedisTokenStore {
    /// A store for `config`. Does not connect: the first operation does, so a Redis
    /// that is down at start never delays or stops the program (its operations report
    /// [`StoreError::Unavailable`] until Redis is back).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`] when the client refuses the URL, and
    /// [`ConfigError::NoRuntime`] outside a Tokio runtime.
    pub fn new(config: RedisStoreConfig) -> Result<Self, ConfigError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ConfigError::NoRuntime);
        }
        let client_refused = |error: &RedisError| {
            ConfigError::InvalidUrl(format!("the Redis client refuses it ({:?})", error.kind()))
        };
        let client = redis::Client::open(config.url.secret()).map_err(|e| client_refused(&e))?;
        let connect_timeout = config.timeout.max(MIN_CONNECT_TIMEOUT);
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(Some(config.timeout))
            // One attempt per reconnection: a refused connection is reported at once
            // (Unavailable), and the next operation tries again.
            .set_number_of_retries(0);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager.clone())
            .map_err(|e| client_refused(&e))?;
        let budget = config.budget.map(|budget| Budget {
            limit: budget.limit,
            interval_micros: u64::try_from(budget.limit.emission_interval().as_micros())
                .unwrap_or(u64::MAX),
            local: LocalGcra::new(budget.limit.share(budget.replicas)),
        });
        Ok(Self {
            connection: Mutex::new(Connection {
                manager: connection,
                replaced_at: None,
            }),
            client,
            manager_config: manager,
            secrets: config.url.secrets(),
            tls: config.url.is_tls(),
            prefix: config.prefix,
            fleet_secret: config.fleet_secret,
            timeout: config.timeout,
            connect_timeout,
            budget,
            budget_fallbacks: AtomicU64::new(0),
            last_failure: Mutex::new(None),
        })
    }

    /// A round trip for `mcp-server check`: connects (and authenticates, when the URL
    /// has credentials), then SET, GET and DEL of a key under the prefix.
    ///
    /// # Errors
    ///
    /// The step's [`StoreError`], whose text names the cause and holds no secret.
    pub async fn check(&self) -> Result<(), StoreError> {
        let key = format!("{}check:{}", self.prefix, hex(&random_bytes()?));
        let expected = b"obo-mcp check".to_vec();
        let bound = self.connect_timeout;
        let mut connection = self.connection();
        self.bounded(
            bound,
            redis::cmd("SET")
                .arg(&key)
                .arg(&expected)
                .arg("PX")
                .arg(10_000)
                .query_async::<()>(&mut connection),
        )
        .await?;
        let read: Option<Vec<u8>> = self
            .bounded(
                bound,
                redis::cmd("GET").arg(&key).query_async(&mut connection),
            )
            .await?;
        self.bounded(
            bound,
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<()>(&mut connection),
        )
        .await?;
        if read.as_deref() != Some(expected.as_slice()) {
            return Err(StoreError::Protocol(
                "a value written under the prefix did not read back the same".to_owned(),
            ));
        }
        Ok(())
    }

    /// How many times the exchange budget fell back to this replica's own share
    /// because Redis could not be asked.
    #[must_use]
    pub fn budget_fallbacks(&self) -> u64 {
        self.budget_fallbacks.load(Ordering::Relaxed)
    }

    /// The Redis key of an entry: the prefix and the hex of the cache key, a hash.
    #[must_use]
    pub fn entry_key(&self, key: &TokenCacheKey) -> String {
        format!("{}{}", self.prefix, hex(key.as_bytes()))
    }

    /// The Redis key of an entry's fleet lock.
    #[must_use]
    pub fn lock_key(&self, key: &TokenCacheKey) -> String {
        format!("{}lock:{}", self.prefix, hex(key.as_bytes()))
    }

    /// The Redis key of the fleet-wide exchange budget.
    #[must_use]
    pub fn budget_key(&self) -> String {
        format!("{}exchange-budget", self.prefix)
    }

    async fn run<T>(
        &self,
        operation: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.bounded(self.timeout, operation).await
    }

    async fn bounded<T>(
        &self,
        bound: Duration,
        operation: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let outcome = match tokio::time::timeout(bound, operation).await {
            Err(_) => Err(StoreError::Timeout(bound)),
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) if error.is_timeout() => Err(StoreError::Timeout(bound)),
            Ok(Err(error)) => {
                let classified = self.classify(&error);
                if matches!(classified, StoreError::Unavailable(_)) && !error.is_io_error() {
                    self.replace_connection();
                }
                Err(classified)
            }
        };
        if outcome.is_err() {
            *self.failure_lock() = Some(Instant::now());
        }
        outcome
    }

    /// A handle on the shared connection (cheap: the connection is multiplexed).
    fn connection(&self) -> ConnectionManager {
        lock(&self.connection).manager.clone()
    }

    /// Starts a new connection in place of one that failed for a reason other than
    /// I/O. `ConnectionManager` reconnects by itself after an I/O error only; a
    /// connection refused at its handshake (a password changed back, a Redis still
    /// loading its data) would otherwise answer that same error for good. At most once
    /// per [`MIN_REPLACEMENT_INTERVAL`].
    fn replace_connection(&self) {
        let mut connection = lock(&self.connection);
        if connection
            .replaced_at
            .is_some_and(|at| at.elapsed() < MIN_REPLACEMENT_INTERVAL)
        {
            return;
        }
        if let Ok(manager) = ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            self.manager_config.clone(),
        ) {
            connection.manager = manager;
            connection.replaced_at = Some(Instant::now());
        }
    }

    fn failure_lock(&self) -> MutexGuard<'_, Option<Instant>> {
        lock(&self.last_failure)
    }

    fn failed_recently(&self) -> bool {
        self.failure_lock()
            .is_some_and(|at| at.elapsed() < BUDGET_BYPASS_AFTER_FAILURE)
    }

    fn classify(&self, error: &RedisError) -> StoreError {
        let unavailable = error.is_io_error()
            || error.is_connection_refusal()
            || error.is_connection_dropped()
            || error.is_unrecoverable_error()
            || matches!(
                error.kind(),
                ErrorKind::AuthenticationFailed | ErrorKind::InvalidClientConfig
            )
            || matches!(
                error.code(),
                Some("NOAUTH" | "WRONGPASS" | "NOPERM" | "LOADING" | "MASTERDOWN" | "READONLY")
            );
        let text = self.scrub(&error.to_string());
        if unavailable {
            StoreError::Unavailable(text)
        } else {
            StoreError::Protocol(text)
        }
    }

    /// The client's text, bounded, without any secret of the URL.
    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            text = text.replace(secret.as_str(), "[redacted]");
        }
        if text.len() > MAX_ERROR_TEXT {
            let mut end = MAX_ERROR_TEXT;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        text
    }

    async fn delete(&self, redis_key: &str) -> Result<(), StoreError> {
        let mut connection = self.connection();
        self.run(
            redis::cmd("DEL")
                .arg(redis_key)
                .query_async::<()>(&mut connection),
        )
        .await
    }
}

#[async_trait]
impl SharedTokenStore for RedisTokenStore {
    async fn get(
        &self,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
    ) -> Result<Option<StoredToken>, StoreError> {
        let redis_key = self.entry_key(key);
        let mut connection = self.connection();
        let value: Option<Vec<u8>> = self
            .run(
                redis::cmd("GET")
                    .arg(&redis_key)
                    .query_async(&mut connection),
            )
            .await?;
        let Some(value) = value else {
            return Ok(None);
        };
        match sealed_entry::open(
            &self.fleet_secret,
            request.subject_token().secret(),
            &redis_key,
            &value,
        ) {
            // Redis expires the key at `usable_until` too; this guards the last
            // millisecond and a Redis whose clock runs slow.
            Some(entry) if SystemTime::now() < entry.usable_until => Ok(Some(entry)),
            Some(_) => Ok(None),
            None => {
                // Unreadable for good: another key's value, altered, or from another
                // fleet secret. Deleting it lets the next exchange store a good one;
                // if the delete fails, the entry is still only a miss.
                let _ = self.delete(&redis_key).await;
                Err(StoreError::Corrupt)
            }
        }
    }

    async fn put(
        &self,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
        entry: &StoredToken,
    ) -> Result<(), StoreError> {
        // An absolute expiry (`PXAT`, in whole milliseconds rounded down): Redis forgets
        // the entry no later than the instant it stops being usable, however late the
        // command reaches it (a slow connect, a Redis frozen then thawed). A relative
        // TTL would start counting only when Redis runs the command.
        if entry.usable_until <= SystemTime::now() {
            return Ok(());
        }
        let expires_at_ms = entry
            .usable_until
            .duration_since(UNIX_EPOCH)
            .map_or(0, |at| u64::try_from(at.as_millis()).unwrap_or(u64::MAX));
        let redis_key = self.entry_key(key);
        let value = sealed_entry::seal(
            &self.fleet_secret,
            request.subject_token().secret(),
            &redis_key,
            entry,
        )
        .map_err(|_| no_randomness())?;
        let mut connection = self.connection();
        self.run(
            redis::cmd("SET")
                .arg(&redis_key)
                .arg(value)
                .arg("PXAT")
                .arg(expires_at_ms)
                .query_async::<()>(&mut connection),
        )
        .await
    }

    async fn remove(&self, key: &TokenCacheKey) -> Result<(), StoreError> {
        self.delete(&self.entry_key(key)).await
    }

    async fn try_lock(
        &self,
        key: &TokenCacheKey,
        ttl: Duration,
    ) -> Result<Option<FleetLock>, StoreError> {
        let owner = random_bytes()?;
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut connection = self.connection();
        let set: Option<String> = self
            .run(
                redis::cmd("SET")
                    .arg(self.lock_key(key))
                    .arg(hex(&owner))
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms)
                    .query_async(&mut connection),
            )
            .await?;
        Ok(set.map(|_| FleetLock::new(owner)))
    }

    async fn unlock(&self, key: &TokenCacheKey, lock: FleetLock) -> Result<(), StoreError> {
        let mut connection = self.connection();
        self.run(
            scripts::UNLOCK
                .key(self.lock_key(key))
                .arg(hex(lock.owner()))
                .invoke_async::<i64>(&mut connection),
        )
        .await
        .map(|_| ())
    }

    async fn exchange_budget(&self) -> Result<Option<Duration>, StoreError> {
        let Some(budget) = &self.budget else {
            return Ok(None);
        };
        let answer = if self.failed_recently() {
            Err(StoreError::Unavailable(
                "a Redis operation failed less than a second ago".to_owned(),
            ))
        } else {
            let mut connection = self.connection();
            self.run(
                scripts::GCRA
                    .key(self.budget_key())
                    .arg(budget.interval_micros)
                    .invoke_async::<i64>(&mut connection),
            )
            .await
        };
        match answer {
            Ok(wait) if wait <= 0 => Ok(None),
            Ok(wait) => Ok(Some(Duration::from_micros(wait.unsigned_abs()))),
            Err(error) => {
                // The budget must hold with Redis gone too: this replica keeps to its
                // share. The cache logs and counts store errors; this one it never
                // sees, so it is counted here.
                self.budget_fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    error.kind = error.kind(),
                    limit = %budget.limit,
                    "exchange budget: Redis not answering; keeping to this replica's share"
                );
                Ok(budget.local.acquire(Instant::now()))
            }
        }
    }
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field(
                "url",
                &if self.tls {
                    "rediss://[redacted]"
                } else {
                    "redis://[redacted]"
                },
            )
            .field("prefix", &self.prefix)
            .field("fleet_secret", &self.fleet_secret)
            .field("timeout", &self.timeout)
            .field(
                "exchange_budget",
                &self.budget.as_ref().map(|budget| budget.limit.to_string()),
            )
            .finish_non_exhaustive()
    }
}

/// Poisoning only means a panic between two plain assignments; the value is still
/// whole.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn random_bytes() -> Result<[u8; 16], StoreError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| no_randomness())?;
    Ok(bytes)
}

fn no_randomness() -> StoreError {
    StoreError::Unavailable("the system's random number generator failed".to_owned())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}
