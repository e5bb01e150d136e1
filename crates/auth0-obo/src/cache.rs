//! The exchanged-token cache.
//!
//! Auth0 allows a tenant 2–30 exchanges per second on most plans and asks callers
//! to keep exchanged tokens for their lifetime, so the cache is a requirement, not
//! an optimisation. It has three jobs, each guarded by tests:
//!
//! 1. **Never mix users.** The key is a SHA-256 over the subject token, the
//!    audience, the normalised scope and the client id; one user's token can only
//!    be found with that user's token.
//! 2. **Never serve a stale token.** An entry lives until `expires_at − skew`, and
//!    never past the subject token's own expiry when the caller says what it is.
//! 3. **Never stampede the tenant.** Concurrent misses for one key share a single
//!    exchange (moka's `try_get_with`), and share its error too. Errors are not
//!    cached, so the next call tries again.
//!
//! With a [`SharedTokenStore`] ([`CacheOptions::shared_store`]), a miss here asks the
//! fleet's shared tier before exchanging, and the replicas take turns exchanging: see
//! `shared_tier.rs`. Without one, nothing changes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use moka::Expiry;

use crate::error::{ERROR_KINDS, ExchangeError};
use crate::exchanger::TokenExchanger;
use crate::request::ExchangeRequest;
use crate::response::{ExchangedToken, TokenType};
use crate::secret::AccessToken;
use crate::shared_tier::{FleetSettings, Origin, SharedTier};
use crate::store::{STORE_ERROR_KINDS, SharedTokenStore, StoredToken};

/// Default number of tokens kept.
pub const DEFAULT_MAX_ENTRIES: u64 = 10_000;
/// Default safety margin before a token's expiry: it must survive the trip to the
/// API and the API's clock may run ahead of ours.
pub const DEFAULT_SKEW: Duration = Duration::from_secs(60);

/// Options for [`TokenCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    max_entries: u64,
    skew: Duration,
    shared_store: Option<Arc<dyn SharedTokenStore>>,
    fleet: FleetSettings,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_MAX_ENTRIES,
            skew: DEFAULT_SKEW,
            shared_store: None,
            fleet: FleetSettings::default(),
        }
    }
}

/// Two options are equal when their settings are, and they name the same store (the
/// same `Arc`), or none.
impl PartialEq for CacheOptions {
    fn eq(&self, other: &Self) -> bool {
        let same_store = match (&self.shared_store, &other.shared_store) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::as_ptr(a).cast::<()>() == Arc::as_ptr(b).cast::<()>(),
            _ => false,
        };
        same_store
            && self.max_entries == other.max_entries
            && self.skew == other.skew
            && self.fleet == other.fleet
    }
}

impl Eq for CacheOptions {}

impl CacheOptions {
    /// The most tokens kept at once (default 10,000); the least useful are evicted
    /// beyond that, so memory stays flat however many users come.
    #[must_use]
    pub fn max_entries(mut self, max_entries: u64) -> Self {
        self.max_entries = max_entries;
        self
    }

    /// How long before `expires_at` a token stops being served (default 60 s). A
    /// token whose whole lifetime is shorter is returned to its caller but not
    /// kept.
    #[must_use]
    pub fn skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// A second tier shared by a fleet of replicas (Redis, say): an in-process miss
    /// looks there before exchanging, an exchange writes there first, and the replicas
    /// take turns exchanging for one key. Every failure of the store is a miss (counted
    /// in [`CacheStats::l2_errors`]), never a failed call. Without it (the default), the
    /// cache is in-process only.
    #[must_use]
    pub fn shared_store(mut self, store: Arc<dyn SharedTokenStore>) -> Self {
        self.shared_store = Some(store);
        self
    }

    /// How long one replica may hold a key's fleet lock while it exchanges (default
    /// 10 s, at least 1 ms). If it dies holding the lock, one waiting replica takes it
    /// over when it ends (or each exchanges by itself when its
    /// [`lock_wait`](Self::lock_wait) ends first).
    #[must_use]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.fleet.lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How long, in all, a call waits for another replica's exchange before
    /// exchanging by itself (default 5 s). While it waits, it takes the lock over if the
    /// holder releases it without a token or dies (its TTL ends).
    #[must_use]
    pub fn lock_wait(mut self, wait: Duration) -> Self {
        self.fleet.lock_wait = wait;
        self
    }

    /// The pauses between reads of the shared store while waiting for another
    /// replica: `initial` (default 25 ms, at least 1 ms), doubling up to `max`
    /// (default 200 ms, at least `initial`).
    #[must_use]
    pub fn lock_poll(mut self, initial: Duration, max: Duration) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        self.fleet.poll_initial = initial;
        self.fleet.poll_max = max.max(initial);
        self
    }

    /// How long, in all, an exchange may wait for room in the fleet's exchange budget
    /// ([`SharedTokenStore::exchange_budget`]) before the call fails with
    /// [`ExchangeError::BudgetExhausted`] (default 2 s).
    #[must_use]
    pub fn exchange_budget_wait(mut self, wait: Duration) -> Self {
        self.fleet.budget_wait = wait;
        self
    }

    /// The longest any one call to the shared store may take before the cache gives up
    /// on it (default 1 s, at least 1 ms). A safety net: the store should time its
    /// calls out well before (the Redis store: 50 ms).
    #[must_use]
    pub fn store_call_timeout(mut self, timeout: Duration) -> Self {
        self.fleet.store_call_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The shared store, if one is configured.
    #[must_use]
    pub fn get_shared_store(&self) -> Option<&Arc<dyn SharedTokenStore>> {
        self.shared_store.as_ref()
    }

    /// The configured fleet lock TTL.
    #[must_use]
    pub fn get_lock_ttl(&self) -> Duration {
        self.fleet.lock_ttl
    }

    /// The configured longest wait for another replica's exchange.
    #[must_use]
    pub fn get_lock_wait(&self) -> Duration {
        self.fleet.lock_wait
    }

    /// The configured longest wait for the exchange budget.
    #[must_use]
    pub fn get_exchange_budget_wait(&self) -> Duration {
        self.fleet.budget_wait
    }

    /// The configured safety-net timeout of one store call.
    #[must_use]
    pub fn get_store_call_timeout(&self) -> Duration {
        self.fleet.store_call_timeout
    }

    /// The configured maximum number of entries.
    #[must_use]
    pub fn get_max_entries(&self) -> u64 {
        self.max_entries
    }

    /// The configured skew.
    #[must_use]
    pub fn get_skew(&self) -> Duration {
        self.skew
    }
}

/// The cache key: SHA-256 over the client id, subject token, audience and
/// normalised scope.
///
/// Each field is prefixed with its length, so no two different inputs produce the
/// same byte stream (`("ab", "c")` and `("a", "bc")` differ). The raw token is not
/// kept anywhere in the cache, and `Debug` shows only the first 4 bytes in hex,
/// enough to correlate log lines.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenCacheKey([u8; 32]);

impl TokenCacheKey {
    /// The key for `request` made by client `client_id`.
    #[must_use]
    pub fn new(client_id: &str, request: &ExchangeRequest) -> Self {
        // A version tag, so that a change of layout can never collide with old keys
        // in a shared store.
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"auth0-obo/token-cache-key/v2");
        for field in [
            client_id,
            request.subject_token().secret(),
            request.audience(),
            request.scope().unwrap_or(""),
            request.organization().unwrap_or(""),
        ] {
            ctx.update(&(field.len() as u64).to_be_bytes());
            ctx.update(field.as_bytes());
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        Self(key)
    }

    /// The 32 bytes of the digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for TokenCacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenCacheKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// Where a token returned by [`TokenCache::get_token`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// A valid cached token; no exchange.
    Cache,
    /// This call made the exchange.
    Exchange,
    /// Another concurrent call for the same key made the exchange, and this call
    /// waited for it.
    SharedExchange,
    /// The fleet's shared store had a valid token (another replica, or this one before,
    /// exchanged it); no exchange. Concurrent calls on this replica that waited for
    /// this one get it too.
    SharedStore,
    /// Another replica was exchanging for the same key (it held the fleet lock), and
    /// this call waited until its token appeared in the shared store. A separate
    /// variant from [`SharedExchange`](Self::SharedExchange) because it cost a wait
    /// across the network, which metrics and logs should tell apart.
    FleetExchange,
}

impl TokenSource {
    /// A stable snake_case name, for logs, metrics labels and audit records:
    /// `cache`, `exchange`, `shared_exchange`, `shared_store` or `fleet_exchange`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cache => "cache",
            Self::Exchange => "exchange",
            Self::SharedExchange => "shared_exchange",
            Self::SharedStore => "shared_store",
            Self::FleetExchange => "fleet_exchange",
        }
    }
}

/// A token from [`TokenCache::get_token`], with where it came from.
///
/// It holds the cache's compact entry (one shared allocation), so a cache hit copies
/// no token. [`access_token_secret`](Self::access_token_secret) reads the token
/// without allocating; [`token`](Self::token) rebuilds the full [`ExchangedToken`].
#[derive(Clone)]
pub struct CachedToken {
    entry: Entry,
    source: TokenSource,
}

impl fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedToken")
            .field("token", &self.entry)
            .field("source", &self.source)
            .finish()
    }
}

impl CachedToken {
    /// The exchanged token, rebuilt from the compact entry (it allocates its
    /// strings). To present the token, [`access_token_secret`](Self::access_token_secret)
    /// is enough and allocates nothing.
    #[must_use]
    pub fn token(&self) -> ExchangedToken {
        self.entry.to_token()
    }

    /// The exchanged token, shared.
    #[must_use]
    pub fn into_token(self) -> Arc<ExchangedToken> {
        Arc::new(self.entry.to_token())
    }

    /// The access token itself, e.g. for an `Authorization` header: the same as
    /// `token().access_token.secret()`, without rebuilding the token.
    #[must_use]
    pub fn access_token_secret(&self) -> &str {
        self.entry.access_token()
    }

    /// How to present the token (`Bearer`, `DPoP`).
    #[must_use]
    pub fn token_type(&self) -> TokenType {
        self.entry.token_type()
    }

    /// When the token expires by our clock.
    #[must_use]
    pub fn expires_at(&self) -> SystemTime {
        self.entry.expires_at
    }

    /// Where it came from.
    #[must_use]
    pub fn source(&self) -> TokenSource {
        self.source
    }

    /// Whether it was served from a cache (in-process or shared) without any
    /// exchange or wait for one.
    #[must_use]
    pub fn from_cache(&self) -> bool {
        matches!(self.source, TokenSource::Cache | TokenSource::SharedStore)
    }
}

/// Counters for metrics and tests, from [`TokenCache::stats`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CacheStats {
    /// Calls answered from the cache.
    pub hits: u64,
    /// Calls that found no valid entry (including those that then waited for a
    /// concurrent exchange).
    pub misses: u64,
    /// Exchanges started (each concurrent group of misses counts once).
    pub exchanges: u64,
    /// Failed exchanges by [`ExchangeError::kind`]; kinds never seen are absent.
    pub failures: BTreeMap<&'static str, u64>,
    /// Entries currently held. moka updates this lazily, so it may lag by a few
    /// operations.
    pub entry_count: u64,
    /// In-process misses answered by the shared store, at once or after waiting for
    /// another replica's exchange. Zero without a store, as are all `l2_*`, `lock_*`
    /// and `budget_*` counters.
    pub l2_hits: u64,
    /// In-process misses whose first read of the shared store found no usable entry.
    pub l2_misses: u64,
    /// Failed store calls by [`StoreError::kind`](crate::StoreError::kind) (a call cut
    /// off by [`CacheOptions::store_call_timeout`] is a `timeout`); kinds never seen
    /// are absent.
    pub l2_errors: BTreeMap<&'static str, u64>,
    /// Calls that found another replica exchanging (its fleet lock) and waited.
    pub lock_waits: u64,
    /// Waits that ended with this replica exchanging after all: the holder failed or
    /// died, or the wait ran out.
    pub lock_wait_exchanges: u64,
    /// Calls refused because the fleet's exchange budget had no room in time
    /// ([`ExchangeError::BudgetExhausted`]). Not in `exchanges` nor `failures`: nothing
    /// was sent.
    pub budget_exhausted: u64,
    /// Reads of the shared store (each poll while waiting counts).
    pub l2_gets: u64,
    /// Their total time, in microseconds (divide by `l2_gets` for the mean).
    pub l2_get_micros_total: u64,
    /// The slowest of them, in microseconds.
    pub l2_get_micros_max: u64,
}

impl CacheStats {
    /// All failed exchanges.
    #[must_use]
    pub fn failures_total(&self) -> u64 {
        self.failures.values().sum()
    }

    /// All failed calls to the shared store.
    #[must_use]
    pub fn l2_errors_total(&self) -> u64 {
        self.l2_errors.values().sum()
    }
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    exchanges: AtomicU64,
    failures: [AtomicU64; ERROR_KINDS.len()],
}

impl Counters {
    fn record_failure(&self, kind: &'static str) {
        if let Some(i) = ERROR_KINDS.iter().position(|k| *k == kind) {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What the cache stores, inline in moka's own per-entry node: the token's strings
/// share one allocation (`text`), and everything else is inline, so an entry costs
/// moka's bookkeeping plus one allocation of about the token's length (the layout
/// before this one cost four more: the entry, the token, and two strings).
///
/// `text` is the access token, then `issued_token_type`, then the scope (if any),
/// then the `token_type` when it is neither `Bearer` nor `DPoP`; `ends` marks where
/// the first three end. `usable_until` already accounts for the skew and the subject
/// token's expiry (and, from the shared store, the entry's own end). Its `Debug`
/// shows no part of `text`.
#[derive(Clone)]
struct Entry {
    text: Arc<str>,
    ends: [usize; 3],
    has_scope: bool,
    kind: TypeKind,
    expires_in: Duration,
    expires_at: SystemTime,
    usable_until: SystemTime,
    origin: Origin,
}

/// The `token_type` without its text: `Other`'s value is at the end of
/// [`Entry::text`].
#[derive(Clone, Copy, Debug)]
enum TypeKind {
    Bearer,
    DPoP,
    Other,
}

impl Entry {
    fn new(token: &ExchangedToken, usable_until: SystemTime, origin: Origin) -> Self {
        let (kind, other) = match &token.token_type {
            TokenType::Bearer => (TypeKind::Bearer, ""),
            TokenType::DPoP => (TypeKind::DPoP, ""),
            TokenType::Other(value) => (TypeKind::Other, value.as_str()),
        };
        let access = token.access_token.secret();
        let scope = token.scope.as_deref().unwrap_or("");
        let mut text = String::with_capacity(
            access.len() + token.issued_token_type.len() + scope.len() + other.len(),
        );
        text.push_str(access);
        let token_end = text.len();
        text.push_str(&token.issued_token_type);
        let issued_end = text.len();
        text.push_str(scope);
        let scope_end = text.len();
        text.push_str(other);
        Self {
            text: Arc::from(text),
            ends: [token_end, issued_end, scope_end],
            has_scope: token.scope.is_some(),
            kind,
            expires_in: token.expires_in,
            expires_at: token.expires_at,
            usable_until,
            origin,
        }
    }

    /// The `index`th string of `text` (0: token, 1: issued type, 2: scope, 3: other
    /// type). Offsets always fall on the boundaries they were taken at; `get` keeps
    /// even a wrong one from panicking.
    fn part(&self, index: usize) -> &str {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        let end = self.ends.get(index).copied().unwrap_or(self.text.len());
        self.text.get(start..end).unwrap_or("")
    }

    fn access_token(&self) -> &str {
        self.part(0)
    }

    fn token_type(&self) -> TokenType {
        match self.kind {
            TypeKind::Bearer => TokenType::Bearer,
            TypeKind::DPoP => TokenType::DPoP,
            TypeKind::Other => TokenType::Other(self.part(3).to_owned()),
        }
    }

    fn to_token(&self) -> ExchangedToken {
        ExchangedToken {
            access_token: AccessToken::new(self.access_token()),
            token_type: self.token_type(),
            issued_token_type: self.part(1).to_owned(),
            scope: self.has_scope.then(|| self.part(2).to_owned()),
            expires_in: self.expires_in,
            expires_at: self.expires_at,
        }
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("access_token", &AccessToken::new(""))
            .field("token_type", &self.kind)
            .field("issued_token_type", &self.part(1))
            .field("scope", &self.has_scope.then(|| self.part(2)))
            .field("expires_at", &self.expires_at)
            .field("usable_until", &self.usable_until)
            .finish_non_exhaustive()
    }
}

/// Per-entry lifetime for moka: until `usable_until`, measured when inserted. A
/// zero lifetime (a token shorter-lived than the skew) means the entry is dead on
/// arrival: the calls waiting for that exchange get it, nobody after them does.
struct UntilUsable;

impl Expiry<TokenCacheKey, Entry> for UntilUsable {
    fn expire_after_create(
        &self,
        _key: &TokenCacheKey,
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(
            value
                .usable_until
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO),
        )
    }
}

/// Exchanged tokens, per user, audience, scope and client, kept until shortly
/// before they expire. Cheap to clone; clones share the same entries.
///
/// See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct TokenCache {
    exchanger: Arc<dyn TokenExchanger>,
    entries: moka::future::Cache<TokenCacheKey, Entry>,
    skew: Duration,
    counters: Arc<Counters>,
    shared: Option<Arc<SharedTier>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("client_id", &self.exchanger.client_id())
            .field("skew", &self.skew)
            .field("entry_count", &self.entries.entry_count())
            .field("shared_store", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache in front of `exchanger`.
    pub fn new(exchanger: Arc<dyn TokenExchanger>, options: CacheOptions) -> Self {
        let entries = moka::future::Cache::builder()
            .max_capacity(options.max_entries)
            .expire_after(UntilUsable)
            .build();
        let shared = options
            .shared_store
            .map(|store| Arc::new(SharedTier::new(store, options.fleet, options.skew)));
        Self {
            exchanger,
            entries,
            skew: options.skew,
            counters: Arc::new(Counters::default()),
            shared,
        }
    }

    /// The key `request` is cached under.
    #[must_use]
    pub fn key(&self, request: &ExchangeRequest) -> TokenCacheKey {
        TokenCacheKey::new(self.exchanger.client_id(), request)
    }

    /// A valid token for `request`: from the cache when there is one, else (with a
    /// shared store) from the store or another replica's exchange, else from an
    /// exchange that concurrent callers for the same key share.
    ///
    /// # Errors
    ///
    /// The exchange's [`ExchangeError`]; every concurrent caller waiting on that
    /// exchange receives a copy. It is not cached. With a shared store, also
    /// [`ExchangeError::BudgetExhausted`]; never an error of the store itself.
    pub async fn get_token(&self, request: &ExchangeRequest) -> Result<CachedToken, ExchangeError> {
        let key = self.key(request);
        if let Some(entry) = self.entries.get(&key).await {
            // moka measures expiry on a monotonic clock, tokens expire by the wall
            // clock; if the two disagree (the wall clock jumped), the stricter wins.
            if SystemTime::now() < entry.usable_until {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(CachedToken {
                    entry,
                    source: TokenSource::Cache,
                });
            }
            self.entries.invalidate(&key).await;
        }
        self.counters.misses.fetch_add(1, Ordering::Relaxed);

        let mut loaded_here = false;
        let outcome = self
            .entries
            .try_get_with(key, async {
                loaded_here = true;
                let (stored, origin) = match &self.shared {
                    None => (self.exchange(&key, request).await?, Origin::Exchange),
                    Some(shared) => {
                        shared
                            .fill(&key, request, || self.exchange(&key, request))
                            .await?
                    }
                };
                Ok::<_, ExchangeError>(Entry::new(&stored.token, stored.usable_until, origin))
            })
            .await;
        match outcome {
            Ok(entry) => Ok(CachedToken {
                source: match (entry.origin, loaded_here) {
                    (Origin::Exchange, true) => TokenSource::Exchange,
                    (Origin::Exchange, false) => TokenSource::SharedExchange,
                    (Origin::Store, _) => TokenSource::SharedStore,
                    (Origin::Fleet, _) => TokenSource::FleetExchange,
                },
                entry,
            }),
            Err(shared) => Err((*shared).clone()),
        }
    }

    /// One exchange, counted, with the instant until which its token may be served.
    async fn exchange(
        &self,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
    ) -> Result<StoredToken, ExchangeError> {
        self.counters.exchanges.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(key = ?key, audience = request.audience(), "token cache miss; exchanging");
        match self.exchanger.exchange(request).await {
            Ok(token) => {
                let usable_until = usable_until(&token, request, self.skew);
                Ok(StoredToken::new(token, usable_until))
            }
            Err(error) => {
                self.counters.record_failure(error.kind());
                Err(error)
            }
        }
    }

    /// Forgets the token for `request`, e.g. after the API rejected it, so the
    /// next call exchanges afresh. With a shared store, forgets it there too.
    pub async fn invalidate(&self, request: &ExchangeRequest) {
        self.invalidate_key(&self.key(request)).await;
    }

    /// Forgets the token under `key`, in the shared store too (a failure there is
    /// counted; the entry then ends at its `usable_until`). Other replicas may still
    /// hold it in memory until their own API call is refused.
    pub async fn invalidate_key(&self, key: &TokenCacheKey) {
        // The store first: removing from memory first would let a concurrent miss here
        // refill memory from the store with the token just refused.
        if let Some(shared) = &self.shared {
            shared.remove(key).await;
        }
        self.entries.invalidate(key).await;
    }

    /// Forgets every token held in memory. The shared store keeps its entries (it has
    /// no list of this cache's keys); they end at their `usable_until`.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }

    /// Finishes moka's deferred bookkeeping (evictions, expirations, the entry
    /// count). Reads and writes do this over time anyway; call it before reading
    /// [`CacheStats::entry_count`] when it must be exact.
    pub async fn run_pending_tasks(&self) {
        self.entries.run_pending_tasks().await;
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        let failures = ERROR_KINDS
            .iter()
            .zip(&c.failures)
            .filter_map(|(kind, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((*kind, n))
            })
            .collect();
        let mut stats = CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            exchanges: c.exchanges.load(Ordering::Relaxed),
            failures,
            entry_count: self.entries.entry_count(),
            ..CacheStats::default()
        };
        if let Some(shared) = &self.shared {
            let t = &shared.counters;
            stats.l2_hits = t.hits.load(Ordering::Relaxed);
            stats.l2_misses = t.misses.load(Ordering::Relaxed);
            stats.l2_errors = STORE_ERROR_KINDS
                .iter()
                .zip(&t.errors)
                .filter_map(|(kind, n)| {
                    let n = n.load(Ordering::Relaxed);
                    (n > 0).then_some((*kind, n))
                })
                .collect();
            stats.lock_waits = t.lock_waits.load(Ordering::Relaxed);
            stats.lock_wait_exchanges = t.lock_wait_exchanges.load(Ordering::Relaxed);
            stats.budget_exhausted = t.budget_exhausted.load(Ordering::Relaxed);
            stats.l2_gets = t.gets.load(Ordering::Relaxed);
            stats.l2_get_micros_total = t.get_micros_total.load(Ordering::Relaxed);
            stats.l2_get_micros_max = t.get_micros_max.load(Ordering::Relaxed);
        }
        stats
    }
}

/// `expires_at − skew`, and never past the subject token's own expiry: how long a token
/// may be served, from memory or from the shared store.
pub(crate) fn usable_until(
    token: &ExchangedToken,
    request: &ExchangeRequest,
    skew: Duration,
) -> SystemTime {
    let by_token = token.expires_at.checked_sub(skew).unwrap_or(UNIX_EPOCH);
    match request.subject_expires_at() {
        Some(subject) => by_token.min(subject),
        None => by_token,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(token: &str, aud: &str, scope: &str) -> ExchangeRequest {
        ExchangeRequest::new(token, aud).unwrap().with_scope(scope)
    }

    #[test]
    fn key_covers_every_field_and_is_length_prefixed() {
        let base = TokenCacheKey::new("client", &req("tokenA", "aud", "a b"));
        assert_eq!(
            base,
            TokenCacheKey::new("client", &req("tokenA", "aud", "b a a"))
        );
        assert_ne!(
            base,
            TokenCacheKey::new("client2", &req("tokenA", "aud", "a b"))
        );
        assert_ne!(
            base,
            TokenCacheKey::new("client", &req("tokenB", "aud", "a b"))
        );
        assert_ne!(
            base,
            TokenCacheKey::new("client", &req("tokenA", "aud2", "a b"))
        );
        assert_ne!(
            base,
            TokenCacheKey::new("client", &req("tokenA", "aud", "a"))
        );
        let org = |org: &str| req("tokenA", "aud", "a b").with_organization(org).unwrap();
        assert_ne!(base, TokenCacheKey::new("client", &org("org_1")));
        assert_ne!(
            TokenCacheKey::new("client", &org("org_1")),
            TokenCacheKey::new("client", &org("org_2"))
        );
        // Moving bytes between fields changes the key.
        assert_ne!(
            TokenCacheKey::new("ab", &req("c", "d", "")),
            TokenCacheKey::new("a", &req("bc", "d", ""))
        );
    }

    #[test]
    fn an_entry_gives_back_every_field_of_the_token_it_packs() {
        let until = SystemTime::now() + Duration::from_secs(600);
        for token_type in [
            TokenType::Bearer,
            TokenType::DPoP,
            TokenType::Other("N_A".to_owned()),
        ] {
            for scope in [None, Some(String::new()), Some("read:private".to_owned())] {
                let token = ExchangedToken::new(
                    "eyJ.secret-api-token.sig",
                    token_type.clone(),
                    "urn:ietf:params:oauth:token-type:access_token",
                    scope.clone(),
                    Duration::from_secs(3600),
                );
                let entry = Entry::new(&token, until, Origin::Exchange);
                assert_eq!(entry.to_token(), token);
                assert_eq!(entry.access_token(), "eyJ.secret-api-token.sig");
                assert_eq!(entry.token_type(), token_type);
                let shown = format!("{entry:?}");
                assert!(!shown.contains("secret-api-token"), "{shown}");
            }
        }
    }

    #[test]
    fn key_debug_shows_a_short_prefix_only() {
        let key = TokenCacheKey::new("client", &req("secret-token-value", "aud", ""));
        let shown = format!("{key:?}");
        assert!(shown.starts_with("TokenCacheKey(") && shown.ends_with("…)"));
        assert_eq!(shown.chars().count(), "TokenCacheKey(".len() + 8 + 2);
        assert!(!shown.contains("secret"));
    }
}
