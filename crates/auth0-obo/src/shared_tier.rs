//! The cache's second tier: what [`TokenCache`](crate::TokenCache) does with a
//! [`SharedTokenStore`] when its in-process cache (L1) misses.
//!
//! This runs inside moka's single flight, so a replica makes at most one trip per key
//! at a time, and the fleet lock only has to coordinate replicas:
//!
//! 1. **Read the store.** A usable entry is the answer. L1 keeps it only for the
//!    entry's remaining lifetime (capped again by this cache's own skew and the
//!    subject token's `exp`), and an entry already past it is a miss.
//! 2. **Else take the key's fleet lock.** The holder reads again (another replica may
//!    have written between the read and the lock), asks the fleet's exchange budget,
//!    exchanges, writes the store, and unlocks: also when the exchange fails, and, from
//!    `Drop`, when the call is cancelled, so the others need not wait out the lock.
//! 3. **Else another replica is exchanging.** Poll the store with backoff, trying for
//!    the lock between reads, until the entry appears or `lock_wait` runs out; then
//!    exchange without the lock. The lock is free again as soon as the holder fails, or
//!    when its TTL ends because the holder died: one waiter in the fleet then takes it
//!    over and exchanges, and the others find its token. So a lost lock costs at most
//!    one extra exchange per replica (when `lock_wait` ends first), never an error.
//!
//! A store error is a miss, "no lock" or a skipped write. It is counted by kind, logged
//! at WARN at most once per [`WARN_INTERVAL`] and kind, and ends this call's use of the
//! store: a store that has just failed or timed out would most likely cost another
//! timeout. Two calls still go to the store after that: releasing a lock this call holds,
//! and the exchange budget, which every exchange asks (a store that cannot reach its
//! shared budget answers from its local share, so it must answer that quickly).
//!
//! Each store call is also cut off after `store_call_timeout`: a safety net above the
//! store's own, shorter timeout, so that a store that forgets to bound a call cannot
//! hang a tool call.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::cache::{TokenCacheKey, usable_until};
use crate::error::ExchangeError;
use crate::request::ExchangeRequest;
use crate::store::{FleetLock, STORE_ERROR_KINDS, SharedTokenStore, StoreError, StoredToken};

/// Default longest time one replica holds a key's fleet lock: longer than an exchange
/// with its retries normally takes, short enough that a replica that died holding it
/// delays the others only briefly.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);
/// Default longest time a call waits for another replica's exchange before it
/// exchanges by itself.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(5);
/// Default first pause between two reads of the store while waiting; it doubles up to
/// [`DEFAULT_LOCK_POLL_MAX`].
pub const DEFAULT_LOCK_POLL_INITIAL: Duration = Duration::from_millis(25);
/// Default longest pause between two reads of the store while waiting.
pub const DEFAULT_LOCK_POLL_MAX: Duration = Duration::from_millis(200);
/// Default longest time an exchange waits for room in the fleet's exchange budget.
pub const DEFAULT_BUDGET_WAIT: Duration = Duration::from_secs(2);
/// Default cut-off for one store call, a safety net above the store's own timeout.
pub const DEFAULT_STORE_CALL_TIMEOUT: Duration = Duration::from_secs(1);
/// At most one WARN line per store error kind in this interval; the counters see every
/// error.
pub const WARN_INTERVAL: Duration = Duration::from_secs(30);

/// The fleet settings of [`CacheOptions`](crate::CacheOptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FleetSettings {
    pub(crate) lock_ttl: Duration,
    pub(crate) lock_wait: Duration,
    pub(crate) poll_initial: Duration,
    pub(crate) poll_max: Duration,
    pub(crate) budget_wait: Duration,
    pub(crate) store_call_timeout: Duration,
}

impl Default for FleetSettings {
    fn default() -> Self {
        Self {
            lock_ttl: DEFAULT_LOCK_TTL,
            lock_wait: DEFAULT_LOCK_WAIT,
            poll_initial: DEFAULT_LOCK_POLL_INITIAL,
            poll_max: DEFAULT_LOCK_POLL_MAX,
            budget_wait: DEFAULT_BUDGET_WAIT,
            store_call_timeout: DEFAULT_STORE_CALL_TIMEOUT,
        }
    }
}

/// Where the token that filled L1 came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// This replica exchanged.
    Exchange,
    /// The store had it.
    Store,
    /// Another replica held the lock and exchanged; this one waited for it.
    Fleet,
}

#[derive(Default)]
pub(crate) struct TierCounters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) errors: [AtomicU64; STORE_ERROR_KINDS.len()],
    pub(crate) lock_waits: AtomicU64,
    pub(crate) lock_wait_exchanges: AtomicU64,
    pub(crate) budget_exhausted: AtomicU64,
    pub(crate) gets: AtomicU64,
    pub(crate) get_micros_total: AtomicU64,
    pub(crate) get_micros_max: AtomicU64,
}

/// One WARN line per kind and interval; the lines in between are only counted, and the
/// next line says how many there were.
struct WarnLimiter {
    started: Instant,
    interval_ms: u64,
    next_due_ms: [AtomicU64; STORE_ERROR_KINDS.len()],
    suppressed: [AtomicU64; STORE_ERROR_KINDS.len()],
}

impl WarnLimiter {
    fn new(interval: Duration) -> Self {
        Self {
            started: Instant::now(),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
            next_due_ms: Default::default(),
            suppressed: Default::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// `Some(lines suppressed since the last one)` when kind `i` may log at `now_ms`.
    fn due(&self, i: usize, now_ms: u64) -> Option<u64> {
        let (Some(next), Some(suppressed)) = (self.next_due_ms.get(i), self.suppressed.get(i))
        else {
            return None;
        };
        let due = next.load(Ordering::Relaxed);
        if now_ms >= due
            && next
                .compare_exchange(
                    due,
                    now_ms.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            Some(suppressed.swap(0, Ordering::Relaxed))
        } else {
            suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// A cache's view of its shared store: the store, the settings, the counters.
pub(crate) struct SharedTier {
    store: Arc<dyn SharedTokenStore>,
    settings: FleetSettings,
    skew: Duration,
    pub(crate) counters: TierCounters,
    warnings: WarnLimiter,
}

impl SharedTier {
    pub(crate) fn new(
        store: Arc<dyn SharedTokenStore>,
        settings: FleetSettings,
        skew: Duration,
    ) -> Self {
        Self {
            store,
            settings,
            skew,
            counters: TierCounters::default(),
            warnings: WarnLimiter::new(WARN_INTERVAL),
        }
    }

    /// A token for `request` after an L1 miss: from the store, from another replica's
    /// exchange, or from `exchange` (called at most once). The entry's `usable_until`
    /// is what L1 may keep it for.
    pub(crate) async fn fill<F, Fut>(
        self: &Arc<Self>,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
        exchange: F,
    ) -> Result<(StoredToken, Origin), ExchangeError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<StoredToken, ExchangeError>>,
    {
        let mut trip = Trip {
            tier: self,
            key,
            request,
            broken: false,
        };
        let (lock, after_wait) = match trip.resolve().await {
            Resolved::Found(stored, origin) => return Ok((stored, origin)),
            Resolved::Exchange { lock, after_wait } => (lock, after_wait),
        };
        let outcome = match trip.budget().await {
            Ok(()) => {
                if after_wait {
                    self.counters
                        .lock_wait_exchanges
                        .fetch_add(1, Ordering::Relaxed);
                }
                exchange().await
            }
            Err(refused) => {
                self.counters
                    .budget_exhausted
                    .fetch_add(1, Ordering::Relaxed);
                Err(refused)
            }
        };
        if let Ok(stored) = &outcome {
            // A token already past its use (shorter-lived than the skew) is not worth a
            // write: the store would drop it at once.
            if !trip.broken && SystemTime::now() < stored.usable_until {
                trip.put(stored).await;
            }
        }
        if let Some(lock) = lock {
            lock.release().await;
        }
        outcome.map(|stored| (stored, Origin::Exchange))
    }

    /// Forgets `key`'s entry in the store (after the API refused its token). A failure
    /// is counted and logged; the entry then ends at its `usable_until` anyway.
    pub(crate) async fn remove(&self, key: &TokenCacheKey) {
        let _ = self.call("remove", self.store.remove(key)).await;
    }

    /// Runs one store call under the safety-net timeout, and counts and logs its error.
    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let limit = self.settings.store_call_timeout;
        let result = match tokio::time::timeout(limit, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Timeout(limit)),
        };
        if let Err(error) = &result {
            self.record_error(operation, error);
        }
        result
    }

    fn record_error(&self, operation: &'static str, error: &StoreError) {
        let kind = error.kind();
        let Some(i) = STORE_ERROR_KINDS.iter().position(|k| *k == kind) else {
            return;
        };
        if let Some(counter) = self.counters.errors.get(i) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(suppressed) = self.warnings.due(i, self.warnings.now_ms()) {
            // StoreError's text never holds a secret (its contract); the key is a hash.
            tracing::warn!(
                operation,
                error.kind = kind,
                error = %error,
                suppressed_since_last = suppressed,
                "shared token store failed; going on with the in-process cache and direct exchanges"
            );
        }
    }
}

enum Resolved {
    Found(StoredToken, Origin),
    Exchange {
        lock: Option<HeldLock>,
        after_wait: bool,
    },
}

enum LockAttempt {
    Resolved(Resolved),
    Busy,
}

/// One L1 miss's way through the tier. `broken` is set by the first store error.
struct Trip<'a> {
    tier: &'a Arc<SharedTier>,
    key: &'a TokenCacheKey,
    request: &'a ExchangeRequest,
    broken: bool,
}

impl Trip<'_> {
    async fn resolve(&mut self) -> Resolved {
        let counters = &self.tier.counters;
        if let Some(stored) = self.get().await {
            counters.hits.fetch_add(1, Ordering::Relaxed);
            return Resolved::Found(stored, Origin::Store);
        }
        if self.broken {
            return Resolved::Exchange {
                lock: None,
                after_wait: false,
            };
        }
        counters.misses.fetch_add(1, Ordering::Relaxed);
        if let LockAttempt::Resolved(resolved) = self.lock(Origin::Store, false).await {
            return resolved;
        }

        counters.lock_waits.fetch_add(1, Ordering::Relaxed);
        let settings = &self.tier.settings;
        // Not capped by the lock's TTL: past it, the lock is taken over below, which
        // costs the fleet one exchange where giving up would cost one per replica.
        // Measured as elapsed time, so no `lock_wait` can overflow an `Instant`.
        let started = Instant::now();
        let mut pause = settings.poll_initial;
        while let Some(left) = settings
            .lock_wait
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
        {
            tokio::time::sleep(pause.min(left)).await;
            pause = pause.saturating_mul(2).min(settings.poll_max);
            if let Some(stored) = self.get().await {
                counters.hits.fetch_add(1, Ordering::Relaxed);
                return Resolved::Found(stored, Origin::Fleet);
            }
            if self.broken {
                break;
            }
            if let LockAttempt::Resolved(resolved) = self.lock(Origin::Fleet, true).await {
                return resolved;
            }
        }
        Resolved::Exchange {
            lock: None,
            after_wait: true,
        }
    }

    /// Takes the lock and reads again under it: between this call's read and its lock,
    /// the previous holder may have written the entry and unlocked.
    async fn lock(&mut self, origin: Origin, after_wait: bool) -> LockAttempt {
        let tier = self.tier;
        match tier
            .call(
                "try_lock",
                tier.store.try_lock(self.key, tier.settings.lock_ttl),
            )
            .await
        {
            Ok(Some(lock)) => {
                let lock = HeldLock {
                    tier: Arc::clone(tier),
                    key: *self.key,
                    lock: Some(lock),
                };
                if let Some(stored) = self.get().await {
                    tier.counters.hits.fetch_add(1, Ordering::Relaxed);
                    lock.release().await;
                    return LockAttempt::Resolved(Resolved::Found(stored, origin));
                }
                LockAttempt::Resolved(Resolved::Exchange {
                    lock: Some(lock),
                    after_wait,
                })
            }
            Ok(None) => LockAttempt::Busy,
            Err(_) => {
                self.broken = true;
                LockAttempt::Resolved(Resolved::Exchange {
                    lock: None,
                    after_wait,
                })
            }
        }
    }

    /// A usable entry, or `None`; an entry the store still returns past its use (its
    /// clock, or another replica's skew) is a miss.
    async fn get(&mut self) -> Option<StoredToken> {
        if self.broken {
            return None;
        }
        let tier = self.tier;
        let started = Instant::now();
        let result = tier
            .call("get", tier.store.get(self.key, self.request))
            .await;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let counters = &tier.counters;
        counters.gets.fetch_add(1, Ordering::Relaxed);
        counters
            .get_micros_total
            .fetch_add(micros, Ordering::Relaxed);
        counters.get_micros_max.fetch_max(micros, Ordering::Relaxed);
        match result {
            Ok(Some(mut stored)) => {
                let ours = usable_until(&stored.token, self.request, tier.skew);
                stored.usable_until = stored.usable_until.min(ours);
                (SystemTime::now() < stored.usable_until).then_some(stored)
            }
            Ok(None) => None,
            Err(_) => {
                self.broken = true;
                None
            }
        }
    }

    async fn put(&mut self, stored: &StoredToken) {
        let tier = self.tier;
        if tier
            .call("put", tier.store.put(self.key, self.request, stored))
            .await
            .is_err()
        {
            self.broken = true;
        }
    }

    /// Waits for room in the fleet's exchange budget, up to `budget_wait` in all. A
    /// store error lets the exchange go ahead: the budget protects the tenant, it must
    /// not stop the service.
    async fn budget(&mut self) -> Result<(), ExchangeError> {
        let tier = self.tier;
        let max_wait = tier.settings.budget_wait;
        let mut waited = Duration::ZERO;
        loop {
            match tier
                .call("exchange_budget", tier.store.exchange_budget())
                .await
            {
                Ok(None) => return Ok(()),
                Err(_) => {
                    self.broken = true;
                    return Ok(());
                }
                Ok(Some(wait)) => {
                    // At least 1 ms, so a store answering "wait 0" cannot spin.
                    let wait = wait.max(Duration::from_millis(1));
                    let total = waited.saturating_add(wait);
                    if total > max_wait {
                        return Err(ExchangeError::BudgetExhausted { max_wait });
                    }
                    tokio::time::sleep(wait).await;
                    waited = total;
                }
            }
        }
    }
}

/// A fleet lock this replica holds. [`release`](Self::release) gives it back; dropping
/// it unreleased (the call was cancelled) gives it back from a spawned task, so the
/// other replicas do not wait out its TTL.
struct HeldLock {
    tier: Arc<SharedTier>,
    key: TokenCacheKey,
    lock: Option<FleetLock>,
}

impl HeldLock {
    async fn release(mut self) {
        if let Some(lock) = self.lock.take() {
            let _ = self
                .tier
                .call("unlock", self.tier.store.unlock(&self.key, lock))
                .await;
        }
    }
}

impl Drop for HeldLock {
    fn drop(&mut self) {
        let Some(lock) = self.lock.take() else {
            return;
        };
        // Without a runtime (it is shutting down), the lock expires by its TTL.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let tier = Arc::clone(&self.tier);
            let key = self.key;
            runtime.spawn(async move {
                let _ = tier.call("unlock", tier.store.unlock(&key, lock)).await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kind_warns_once_per_interval_and_then_says_how_many_it_held_back() {
        let limiter = WarnLimiter::new(Duration::from_secs(30));
        assert_eq!(limiter.due(0, 1_000), Some(0));
        assert_eq!(limiter.due(0, 2_000), None);
        assert_eq!(limiter.due(0, 30_999), None);
        // Another kind has its own interval.
        assert_eq!(limiter.due(1, 2_000), Some(0));
        assert_eq!(limiter.due(0, 31_000), Some(2));
        assert_eq!(limiter.due(0, 31_001), None);
        // An index past the kinds never logs, never panics.
        assert_eq!(limiter.due(STORE_ERROR_KINDS.len(), 0), None);
    }
}
