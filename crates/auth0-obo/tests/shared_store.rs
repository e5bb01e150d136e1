//! Two tiers: replicas (`TokenCache`s) sharing one `SharedTokenStore` make one exchange
//! per user, never serve an entry past its use, and never fail a call because of the
//! store (issue 15 §1, §3, §4, §5; design.md invariants 3, 9, 11).
//!
//! `MemoryStore` below is a second, in-memory implementation of the trait's contract
//! (entries end at `usable_until`, locks expire and are released by compare-and-delete,
//! an optional budget), with failure injection. The Redis store is tested against real
//! Redis in its own crate; auth0-obo does not depend on it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use auth0_obo::{
    CacheOptions, ExchangeError, ExchangeRequest, ExchangedToken, FleetLock, SharedTokenStore,
    StoreError, StoredToken, TokenCache, TokenCacheKey, TokenSource, TokenType,
};
use common::*;
use wiremock::MockServer;

/// How every call of the store behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Works,
    /// Every call fails as a store whose own timeout fired.
    FailsEveryCall,
    /// Every call never returns: a store that forgot to bound its time.
    Hangs,
    /// `get` answers entries past their `usable_until` (another clock, a bug).
    ServesExpired,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<[u8; 32], StoredToken>,
    locks: HashMap<[u8; 32], ([u8; 16], Instant)>,
    /// The budget's next answers; empty means "go".
    budget: VecDeque<Option<Duration>>,
}

#[derive(Debug)]
struct MemoryStore {
    mode: Mutex<Mode>,
    state: Mutex<State>,
    next_owner: AtomicU64,
    calls: AtomicUsize,
    budget_asks: AtomicUsize,
    /// This many next reads miss whatever is stored: the entry lands just after them.
    late_writes: AtomicUsize,
}

impl MemoryStore {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(mode),
            state: Mutex::default(),
            next_owner: AtomicU64::new(1),
            calls: AtomicUsize::new(0),
            budget_asks: AtomicUsize::new(0),
            late_writes: AtomicUsize::new(0),
        })
    }

    async fn enter(&self) -> Result<Mode, StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mode = *self.mode.lock().unwrap();
        match mode {
            Mode::FailsEveryCall => Err(StoreError::Timeout(Duration::from_millis(50))),
            Mode::Hangs => std::future::pending().await,
            other => Ok(other),
        }
    }

    fn entry(&self, key: &TokenCacheKey) -> Option<StoredToken> {
        self.state
            .lock()
            .unwrap()
            .entries
            .get(key.as_bytes())
            .cloned()
    }

    fn insert(&self, key: &TokenCacheKey, entry: StoredToken) {
        self.state
            .lock()
            .unwrap()
            .entries
            .insert(*key.as_bytes(), entry);
    }

    fn is_locked(&self, key: &TokenCacheKey) -> bool {
        let state = self.state.lock().unwrap();
        matches!(state.locks.get(key.as_bytes()), Some((_, until)) if Instant::now() < *until)
    }

    fn script_budget(&self, answers: impl IntoIterator<Item = Option<Duration>>) {
        self.state.lock().unwrap().budget.extend(answers);
    }
}

#[async_trait]
impl SharedTokenStore for MemoryStore {
    async fn get(
        &self,
        key: &TokenCacheKey,
        _request: &ExchangeRequest,
    ) -> Result<Option<StoredToken>, StoreError> {
        let mode = self.enter().await?;
        let late = self
            .late_writes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if late.is_ok() {
            return Ok(None);
        }
        let mut state = self.state.lock().unwrap();
        let Some(entry) = state.entries.get(key.as_bytes()).cloned() else {
            return Ok(None);
        };
        if SystemTime::now() < entry.usable_until || mode == Mode::ServesExpired {
            Ok(Some(entry))
        } else {
            state.entries.remove(key.as_bytes());
            Ok(None)
        }
    }

    async fn put(
        &self,
        key: &TokenCacheKey,
        _request: &ExchangeRequest,
        entry: &StoredToken,
    ) -> Result<(), StoreError> {
        self.enter().await?;
        self.insert(key, entry.clone());
        Ok(())
    }

    async fn remove(&self, key: &TokenCacheKey) -> Result<(), StoreError> {
        self.enter().await?;
        self.state.lock().unwrap().entries.remove(key.as_bytes());
        Ok(())
    }

    async fn try_lock(
        &self,
        key: &TokenCacheKey,
        ttl: Duration,
    ) -> Result<Option<FleetLock>, StoreError> {
        self.enter().await?;
        let mut state = self.state.lock().unwrap();
        let now = Instant::now();
        if matches!(state.locks.get(key.as_bytes()), Some((_, until)) if now < *until) {
            return Ok(None);
        }
        let mut owner = [0u8; 16];
        owner[..8].copy_from_slice(
            &self
                .next_owner
                .fetch_add(1, Ordering::Relaxed)
                .to_be_bytes(),
        );
        state.locks.insert(*key.as_bytes(), (owner, now + ttl));
        Ok(Some(FleetLock::new(owner)))
    }

    async fn unlock(&self, key: &TokenCacheKey, lock: FleetLock) -> Result<(), StoreError> {
        self.enter().await?;
        let mut state = self.state.lock().unwrap();
        // Compare-and-delete: a lock that expired and was taken by another is theirs.
        if matches!(state.locks.get(key.as_bytes()), Some((owner, _)) if owner == lock.owner()) {
            state.locks.remove(key.as_bytes());
        }
        Ok(())
    }

    async fn exchange_budget(&self) -> Result<Option<Duration>, StoreError> {
        self.budget_asks.fetch_add(1, Ordering::Relaxed);
        self.enter().await?;
        Ok(self.state.lock().unwrap().budget.pop_front().flatten())
    }
}

fn request(token: &str) -> ExchangeRequest {
    ExchangeRequest::new(token, API_AUDIENCE).unwrap()
}

/// One replica: its own exchange client and in-process cache, the shared store.
fn replica(server: &MockServer, store: &Arc<MemoryStore>, options: CacheOptions) -> TokenCache {
    TokenCache::new(
        Arc::new(client(server)),
        options.shared_store(Arc::clone(store) as Arc<dyn SharedTokenStore>),
    )
}

fn token(access_token: &str, expires_in: Duration) -> ExchangedToken {
    ExchangedToken::new(
        access_token,
        TokenType::Bearer,
        "urn:ietf:params:oauth:token-type:access_token",
        None,
        expires_in,
    )
}

#[tokio::test]
async fn a_second_replica_makes_no_exchange_for_a_user_the_first_served() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN).with_scope("read:private");

    assert_eq!(
        a.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );
    let from_b = b.get_token(&req).await.unwrap();
    assert_eq!(from_b.source(), TokenSource::SharedStore);
    assert!(from_b.from_cache());
    assert_eq!(from_b.token().access_token.secret(), API_TOKEN);
    // The hit filled b's memory: the next call does not even ask the store.
    let reads = b.stats().l2_gets;
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Cache
    );
    assert_eq!(b.stats().l2_gets, reads);

    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.exchanges, sa.l2_misses, sa.l2_hits), (1, 1, 0));
    assert_eq!((sb.exchanges, sb.l2_misses, sb.l2_hits), (0, 0, 1));
    assert_eq!(sb.hits, 1);
    assert!(sb.l2_errors.is_empty() && sa.l2_errors.is_empty());
    assert!(!store.is_locked(&a.key(&req)), "the holder unlocked");
}

#[tokio::test]
async fn the_shared_entry_ends_at_expires_at_minus_skew_capped_by_the_subject_token() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());

    let req = request(USER_A_TOKEN);
    let token = a.get_token(&req).await.unwrap();
    let stored = store.entry(&a.key(&req)).expect("written to the store");
    assert_eq!(
        stored.usable_until,
        token.token().expires_at - Duration::from_secs(60)
    );
    assert_eq!(stored.token, token.token());

    let subject_exp = SystemTime::now() + Duration::from_secs(120);
    let req = request(USER_B_TOKEN).with_subject_expires_at(subject_exp);
    a.get_token(&req).await.unwrap();
    assert_eq!(store.entry(&a.key(&req)).unwrap().usable_until, subject_exp);
}

#[tokio::test]
async fn a_token_shorter_lived_than_the_skew_is_not_written() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 30))
        .expect(2)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default()); // skew 60 s > 30 s
    let req = request(USER_A_TOKEN);
    for _ in 0..2 {
        assert_eq!(
            a.get_token(&req).await.unwrap().source(),
            TokenSource::Exchange
        );
    }
    assert!(store.entry(&a.key(&req)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_first_calls_across_two_replicas_make_one_exchange() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600).set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let replicas = [
        replica(&server, &store, CacheOptions::default()),
        replica(&server, &store, CacheOptions::default()),
    ];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let cache = replicas[i % 2].clone();
            tokio::spawn(async move { cache.get_token(&request(USER_A_TOKEN)).await })
        })
        .collect();
    let mut sources = HashMap::new();
    for task in tasks {
        let got = task.await.unwrap().unwrap();
        assert_eq!(got.token().access_token.secret(), API_TOKEN);
        *sources.entry(got.source()).or_insert(0) += 1;
    }
    // Exactly one exchange: each replica's calls share one trip (moka), and the two
    // trips take turns with the fleet lock; whoever takes it second reads the store
    // again under it before exchanging.
    assert_eq!(sources.get(&TokenSource::Exchange), Some(&1), "{sources:?}");
    let (s0, s1) = (replicas[0].stats(), replicas[1].stats());
    assert_eq!(s0.exchanges + s1.exchanges, 1);
    assert_eq!(s0.lock_wait_exchanges + s1.lock_wait_exchanges, 0);
    assert_eq!(s0.hits + s0.misses + s1.hits + s1.misses, 50);
    assert!(s0.l2_errors.is_empty() && s1.l2_errors.is_empty());
}

/// The race the second read closes: this replica reads (miss), another writes the entry
/// and unlocks, this replica takes the lock. Exchanging now would be one too many.
#[tokio::test]
async fn the_lock_holder_reads_again_before_exchanging() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(0)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    store.insert(
        &b.key(&req),
        StoredToken::new(
            token("written-meanwhile", Duration::from_secs(3600)),
            SystemTime::now() + Duration::from_secs(600),
        ),
    );
    store.late_writes.store(1, Ordering::Relaxed);
    let got = b.get_token(&req).await.unwrap();
    assert_eq!(got.source(), TokenSource::SharedStore);
    assert_eq!(got.token().access_token.secret(), "written-meanwhile");
    let stats = b.stats();
    assert_eq!((stats.exchanges, stats.l2_misses, stats.l2_hits), (0, 1, 1));
    assert!(
        !store.is_locked(&b.key(&req)),
        "released after the second read"
    );
}

#[tokio::test]
async fn an_l2_hit_is_kept_in_memory_only_for_the_entry_remaining_lifetime() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response("fresh-exchanged-token", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    // Another replica wrote a token that stops being usable in 500 ms (its lifetime is
    // still an hour: only usable_until may limit it).
    store.insert(
        &b.key(&req),
        StoredToken::new(
            token("stored-token", Duration::from_secs(3600)),
            SystemTime::now() + Duration::from_millis(500),
        ),
    );
    let got = b.get_token(&req).await.unwrap();
    assert_eq!(got.source(), TokenSource::SharedStore);
    assert_eq!(got.token().access_token.secret(), "stored-token");
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Cache
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    let got = b.get_token(&req).await.unwrap();
    assert_eq!(
        got.source(),
        TokenSource::Exchange,
        "not served after usable_until"
    );
    assert_eq!(got.token().access_token.secret(), "fresh-exchanged-token");
}

#[tokio::test]
async fn an_entry_past_its_use_is_a_miss_even_when_the_store_returns_it() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response("fresh-exchanged-token", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::ServesExpired);
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    store.insert(
        &b.key(&req),
        StoredToken::new(
            token("stale-token", Duration::from_secs(3600)),
            SystemTime::now() - Duration::from_millis(1),
        ),
    );
    let got = b.get_token(&req).await.unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
    assert_eq!(got.token().access_token.secret(), "fresh-exchanged-token");
    assert_eq!(b.stats().l2_misses, 1);
}

/// Invariant 9: whatever the store says, an entry ends no later than this cache's own
/// `expires_at − skew` and the subject token's `exp`.
#[tokio::test]
async fn an_l2_hit_never_outlives_the_subject_token_or_this_cache_skew() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response("fresh-exchanged-token", 3600))
        .expect(2)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::ServesExpired);
    let b = replica(&server, &store, CacheOptions::default());

    // The store claims an hour, the subject token ends in 400 ms.
    let req = request(USER_A_TOKEN)
        .with_subject_expires_at(SystemTime::now() + Duration::from_millis(400));
    store.insert(
        &b.key(&req),
        StoredToken::new(
            token("stored-token", Duration::from_secs(3600)),
            SystemTime::now() + Duration::from_secs(3600),
        ),
    );
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::SharedStore
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );

    // The store claims an hour for a token that expires in 30 s: under this cache's
    // 60 s skew it is not usable at all.
    let req = request(USER_B_TOKEN);
    store.insert(
        &b.key(&req),
        StoredToken::new(
            token("short-token", Duration::from_secs(30)),
            SystemTime::now() + Duration::from_secs(3600),
        ),
    );
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );
}

#[tokio::test]
async fn invalidate_removes_the_entry_from_both_tiers() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(3)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    let key = a.key(&req);

    a.get_token(&req).await.unwrap();
    assert!(store.entry(&key).is_some());
    a.invalidate(&req).await;
    assert!(store.entry(&key).is_none(), "gone from the store");
    assert_eq!(
        a.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );

    // invalidate_key needs no request.
    a.invalidate_key(&key).await;
    assert!(store.entry(&key).is_none());
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );
    assert_eq!(
        a.get_token(&req).await.unwrap().source(),
        TokenSource::SharedStore
    );
}

#[tokio::test]
async fn a_store_that_fails_every_call_never_fails_a_call() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(5) // each replica, each user, once (memory still works), and after invalidate
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::FailsEveryCall);
    let a = replica(&server, &store, CacheOptions::default());
    let b = replica(&server, &store, CacheOptions::default());
    for _ in 0..3 {
        for cache in [&a, &b] {
            for user in [USER_A_TOKEN, USER_B_TOKEN] {
                let got = cache.get_token(&request(user)).await.unwrap();
                assert_eq!(got.token().access_token.secret(), API_TOKEN);
            }
        }
    }
    for cache in [&a, &b] {
        let stats = cache.stats();
        assert_eq!(stats.exchanges, 2);
        assert_eq!((stats.l2_hits, stats.l2_misses), (0, 0));
        // Per exchange: the read fails, and the budget is still asked (and fails); no
        // lock, no write after the first failure.
        assert_eq!(stats.l2_errors.get("timeout"), Some(&4), "{stats:?}");
        assert_eq!(stats.l2_errors.len(), 1, "{stats:?}");
        assert_eq!(stats.failures_total(), 0);
    }
    // invalidate tries the store, counts its failure, and forgets the token in memory.
    a.invalidate(&request(USER_A_TOKEN)).await;
    assert_eq!(a.stats().l2_errors_total(), 5);
    assert_eq!(
        a.get_token(&request(USER_A_TOKEN)).await.unwrap().source(),
        TokenSource::Exchange
    );
}

#[tokio::test]
async fn a_corrupt_entry_is_counted_and_is_a_miss() {
    #[derive(Debug)]
    struct CorruptStore;
    #[async_trait]
    impl SharedTokenStore for CorruptStore {
        async fn get(
            &self,
            _: &TokenCacheKey,
            _: &ExchangeRequest,
        ) -> Result<Option<StoredToken>, StoreError> {
            Err(StoreError::Corrupt)
        }
        async fn put(
            &self,
            _: &TokenCacheKey,
            _: &ExchangeRequest,
            _: &StoredToken,
        ) -> Result<(), StoreError> {
            Ok(())
        }
        async fn remove(&self, _: &TokenCacheKey) -> Result<(), StoreError> {
            Ok(())
        }
        async fn try_lock(
            &self,
            _: &TokenCacheKey,
            _: Duration,
        ) -> Result<Option<FleetLock>, StoreError> {
            Ok(Some(FleetLock::new([7; 16])))
        }
        async fn unlock(&self, _: &TokenCacheKey, _: FleetLock) -> Result<(), StoreError> {
            Ok(())
        }
    }
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let cache = TokenCache::new(
        Arc::new(client(&server)),
        CacheOptions::default().shared_store(Arc::new(CorruptStore)),
    );
    let got = cache.get_token(&request(USER_A_TOKEN)).await.unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
    let stats = cache.stats();
    assert_eq!(stats.l2_errors.get("corrupt"), Some(&1), "{stats:?}");
    assert_eq!(stats.l2_errors_total(), 1);
}

#[tokio::test]
async fn a_store_that_hangs_is_cut_off_and_the_call_succeeds() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Hangs);
    let a = replica(
        &server,
        &store,
        CacheOptions::default().store_call_timeout(Duration::from_millis(100)),
    );
    let got = tokio::time::timeout(Duration::from_secs(10), a.get_token(&request(USER_A_TOKEN)))
        .await
        .expect("the safety net cut the store off")
        .unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
    // The read and the budget were each cut off; nothing else was tried.
    assert_eq!(a.stats().l2_errors.get("timeout"), Some(&2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lock_holder_that_died_costs_one_exchange_after_its_ttl_and_no_error() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let options = CacheOptions::default()
        .lock_ttl(Duration::from_millis(400))
        .lock_wait(Duration::from_secs(5));
    let replicas = [
        replica(&server, &store, options.clone()),
        replica(&server, &store, options),
    ];
    let req = request(USER_A_TOKEN);
    // A third replica took the lock and died: it never exchanges nor unlocks.
    let dead = store
        .try_lock(&replicas[0].key(&req), Duration::from_millis(400))
        .await
        .unwrap();
    assert!(dead.is_some());

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let cache = replicas[i % 2].clone();
            let req = req.clone();
            tokio::spawn(async move { cache.get_token(&req).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(
            task.await.unwrap().unwrap().token().access_token.secret(),
            API_TOKEN
        );
    }
    let (s0, s1) = (replicas[0].stats(), replicas[1].stats());
    assert_eq!((s0.lock_waits, s1.lock_waits), (1, 1));
    // When the dead lock expired, one waiter took it and exchanged; the other found
    // its token in the store.
    assert_eq!(s0.exchanges + s1.exchanges, 1);
    assert_eq!(s0.lock_wait_exchanges + s1.lock_wait_exchanges, 1);
    assert_eq!(s0.l2_hits + s1.l2_hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_whose_wait_runs_out_exchange_by_themselves_once_per_replica() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let options = CacheOptions::default()
        .lock_ttl(Duration::from_secs(30))
        .lock_wait(Duration::from_millis(300));
    let replicas = [
        replica(&server, &store, options.clone()),
        replica(&server, &store, options),
    ];
    let req = request(USER_A_TOKEN);
    let _dead = store
        .try_lock(&replicas[0].key(&req), Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let cache = replicas[i % 2].clone();
            let req = req.clone();
            tokio::spawn(async move { cache.get_token(&req).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for cache in &replicas {
        let stats = cache.stats();
        assert_eq!(stats.lock_waits, 1, "{stats:?}");
        // At most one extra exchange per replica: its calls share one wait.
        assert!(stats.exchanges <= 1, "{stats:?}");
        assert_eq!(stats.lock_wait_exchanges, stats.exchanges);
        assert_eq!(stats.failures_total(), 0);
    }
    let total: u64 = replicas.iter().map(|c| c.stats().exchanges).sum();
    assert!((1..=2).contains(&total));
    assert_eq!(token_requests(&server).await.len() as u64, total);
}

#[tokio::test]
async fn a_failed_exchange_releases_the_lock_and_is_not_stored() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(oauth_error(403, "access_denied", "no client grant"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());
    let b = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    let key = a.key(&req);

    let err = a.get_token(&req).await.unwrap_err();
    assert!(matches!(err, ExchangeError::AccessDenied(_)), "{err:?}");
    assert!(!store.is_locked(&key), "unlocked after the failure");
    assert!(store.entry(&key).is_none());

    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    // b neither waits for a lock nor finds a stale answer.
    assert_eq!(
        b.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );
    assert_eq!(b.stats().lock_waits, 0);
}

#[tokio::test]
async fn a_cancelled_lock_holder_releases_its_lock() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600).set_delay(Duration::from_secs(5)))
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    let key = a.key(&req);

    let task = {
        let a = a.clone();
        let req = req.clone();
        tokio::spawn(async move { a.get_token(&req).await })
    };
    while token_requests(&server).await.is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(store.is_locked(&key), "the exchanging call holds the lock");
    task.abort();
    let _ = task.await;
    for _ in 0..100 {
        if !store.is_locked(&key) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the lock outlived its cancelled holder");
}

#[tokio::test]
async fn when_the_budget_says_wait_the_exchange_waits() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    store.script_budget([
        Some(Duration::from_millis(150)),
        Some(Duration::from_millis(150)),
    ]);
    let a = replica(&server, &store, CacheOptions::default());
    let started = Instant::now();
    let got = a.get_token(&request(USER_A_TOKEN)).await.unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(store.budget_asks.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_budget_beyond_the_bound_is_a_typed_error_naming_the_limit() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(0)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    // 1.5 s fits in the 2 s bound, another 1.5 s does not: the call fails without
    // waiting for it.
    store.script_budget([
        Some(Duration::from_millis(1500)),
        Some(Duration::from_millis(1500)),
    ]);
    let a = replica(&server, &store, CacheOptions::default());
    let req = request(USER_A_TOKEN);
    let err = a.get_token(&req).await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::BudgetExhausted {
            max_wait: Duration::from_secs(2)
        }
    );
    assert_eq!(err.kind(), "budget_exhausted");
    let text = err.to_string();
    assert!(
        text.contains("2000 ms") && text.contains("EXCHANGE_RATE_LIMIT"),
        "{text}"
    );
    assert!(text.contains("rate limit for token exchange"), "{text}");
    assert!(!store.is_locked(&a.key(&req)), "unlocked after the refusal");
    let stats = a.stats();
    assert_eq!((stats.budget_exhausted, stats.exchanges), (1, 0));
    assert_eq!(stats.failures_total(), 0);

    // The bound is a setting; the refusal is not cached.
    store.script_budget([Some(Duration::from_millis(50))]);
    let a = replica(
        &server,
        &store,
        CacheOptions::default().exchange_budget_wait(Duration::from_millis(10)),
    );
    let err = a.get_token(&req).await.unwrap_err();
    assert!(err.to_string().contains("10 ms"), "{err}");
}

#[tokio::test]
async fn the_cache_debug_says_a_store_is_set_and_shows_no_token() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    let a = replica(&server, &store, CacheOptions::default());
    a.get_token(&request(USER_A_TOKEN)).await.unwrap();
    let shown = format!("{a:?}");
    assert!(shown.contains("shared_store: true"), "{shown}");
    assert!(
        !shown.contains(API_TOKEN) && !shown.contains(USER_A_TOKEN),
        "{shown}"
    );
    let shown = format!(
        "{:?}",
        TokenCache::new(Arc::new(client(&server)), CacheOptions::default())
    );
    assert!(shown.contains("shared_store: false"), "{shown}");
}

/// Invariant 7: no setting, however large, makes the cache panic.
#[tokio::test]
async fn the_largest_waits_are_accepted_without_overflow() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::Works);
    store.script_budget([Some(Duration::from_millis(50))]);
    let a = replica(
        &server,
        &store,
        CacheOptions::default()
            .lock_wait(Duration::MAX)
            .exchange_budget_wait(Duration::MAX)
            .store_call_timeout(Duration::MAX)
            .lock_poll(Duration::from_millis(10), Duration::MAX),
    );
    let req = request(USER_A_TOKEN);
    // A dead holder's lock, ending in 200 ms: the endless wait ends by taking it over.
    let _dead = store
        .try_lock(&a.key(&req), Duration::from_millis(200))
        .await
        .unwrap()
        .unwrap();
    let got = a.get_token(&req).await.unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
    assert_eq!(a.stats().lock_wait_exchanges, 1);
}

#[test]
fn fleet_options_report_what_was_set_and_refuse_nonsense() {
    let options = CacheOptions::default();
    assert!(options.get_shared_store().is_none());
    assert_eq!(options.get_lock_ttl(), auth0_obo::DEFAULT_LOCK_TTL);
    assert_eq!(options.get_lock_wait(), auth0_obo::DEFAULT_LOCK_WAIT);
    assert_eq!(options.get_exchange_budget_wait(), Duration::from_secs(2));
    assert_eq!(options.get_store_call_timeout(), Duration::from_secs(1));
    // A zero TTL or poll would make the store refuse the lock or the wait spin.
    let options = options
        .lock_ttl(Duration::ZERO)
        .store_call_timeout(Duration::ZERO)
        .lock_poll(Duration::ZERO, Duration::ZERO);
    assert_eq!(options.get_lock_ttl(), Duration::from_millis(1));
    assert_eq!(options.get_store_call_timeout(), Duration::from_millis(1));

    let store: Arc<dyn SharedTokenStore> = MemoryStore::new(Mode::Works);
    let with = CacheOptions::default().shared_store(Arc::clone(&store));
    assert_eq!(with, CacheOptions::default().shared_store(store));
    assert_ne!(with, CacheOptions::default());
    assert_ne!(
        with,
        CacheOptions::default().shared_store(MemoryStore::new(Mode::Works))
    );
}

/// Records every event with its level and fields, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut line = attrs.metadata().name().to_owned();
        attrs.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, values: &tracing::span::Record<'_>) {
        let mut line = String::new();
        values.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = format!("{} {}", event.metadata().level(), event.metadata().target());
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Invariants 4 and 11: a failing store is one WARN line per kind and interval, naming
/// the operation and the kind, and no log line at any level holds a token.
#[tokio::test]
async fn store_failures_warn_once_per_kind_and_interval_and_never_log_a_token() {
    let capture = Capture::default();
    // Current-thread runtime: every task of this test runs on this thread.
    let _guard = tracing::subscriber::set_default(capture.clone());

    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let store = MemoryStore::new(Mode::FailsEveryCall);
    let a = replica(&server, &store, CacheOptions::default());
    for user in [USER_A_TOKEN, USER_B_TOKEN] {
        let got = a.get_token(&request(user)).await.unwrap();
        assert_eq!(got.token().access_token.secret(), API_TOKEN);
    }
    a.invalidate(&request(USER_A_TOKEN)).await;
    assert_eq!(a.stats().l2_errors.get("timeout"), Some(&5));

    let lines = capture.0.lock().unwrap().clone();
    let warnings: Vec<_> = lines.iter().filter(|l| l.starts_with("WARN")).collect();
    assert_eq!(warnings.len(), 1, "one line for five timeouts: {lines:#?}");
    let warning = warnings[0];
    assert!(
        warning.contains("operation=\"get\"") && warning.contains("error.kind=\"timeout\""),
        "{warning}"
    );
    assert!(
        lines.iter().any(|l| l.contains("auth0_obo")),
        "the capture saw our events: {lines:?}"
    );
    for line in &lines {
        for secret in [USER_A_TOKEN, USER_B_TOKEN, API_TOKEN, CLIENT_SECRET] {
            assert!(!line.contains(secret), "a log line leaks a secret: {line}");
        }
    }
}
