//! The store against a real `redis-server` (one per test): what Redis holds at rest
//! (design.md invariant 8), expiry (invariant 9), the fleet lock, the fleet-wide
//! budget, and each fault answered within the timeout (invariant 11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auth0_obo::{
    ClientSecret, ExchangeRequest, ExchangedToken, FleetLock, SharedTokenStore, StoreError,
    StoredToken, TokenCacheKey, TokenType,
};
use obo_tests::redis::RedisServer;
use redis::aio::MultiplexedConnection;
use redis_token_store::{
    ConfigError, ExchangeBudget, FleetSecret, RateLimit, RedisStoreConfig, RedisTokenStore,
    RedisUrl,
};

/// 32 bytes, base64: `TOKEN_CACHE_ENCRYPTION_KEY` as an operator would set it.
const FLEET_SECRET: &str = "c2VjcmV0LWZsZWV0LWtleS1mb3ItdGhlLXRlc3RzLTEyMzQ1Ng==";
const AUDIENCE: &str = "https://private-api.example";
const CLIENT_ID: &str = "mcp-server-client";

/// A JWT-shaped subject token for `user` (the store never verifies it).
fn subject_token(user: &str) -> String {
    format!("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ{user}In0.c3ViamVjdC1zaWduYXR1cmUt{user}")
}

/// A JWT-shaped exchanged token for `user`.
fn api_token(user: &str) -> String {
    format!(
        "eyJhbGciOiJSUzI1NiIsImtpZCI6ImFwaSJ9.eyJhdWQiOiJhcGkiLCJzdWIiOiJ{user}In0.YXBpLXNpZw{user}"
    )
}

fn request(user: &str) -> ExchangeRequest {
    ExchangeRequest::new(subject_token(user), AUDIENCE)
        .unwrap()
        .with_scope("read:private")
}

fn key(request: &ExchangeRequest) -> TokenCacheKey {
    TokenCacheKey::new(CLIENT_ID, request)
}

/// An entry for `user`, usable for `usable_for` from now.
fn entry(user: &str, usable_for: Duration) -> StoredToken {
    let token = ExchangedToken::new(
        api_token(user),
        TokenType::Bearer,
        "urn:ietf:params:oauth:token-type:access_token",
        Some("read:private".to_owned()),
        usable_for + Duration::from_secs(60),
    );
    let usable_until = token.expires_at - Duration::from_secs(60);
    StoredToken::new(token, usable_until)
}

fn config(url: &str) -> RedisStoreConfig {
    RedisStoreConfig::new(
        RedisUrl::parse(url).unwrap(),
        FleetSecret::from_base64(FLEET_SECRET).unwrap(),
    )
}

/// A store for the tests of behaviour, not of timing: a whole second per operation,
/// since a loaded test machine (every test starting its own Redis) can take longer
/// than the default 50 ms to make the first connection.
fn store(server: &RedisServer) -> RedisTokenStore {
    let config = config(&server.url())
        .with_timeout(Duration::from_secs(1))
        .unwrap();
    RedisTokenStore::new(config).unwrap()
}

/// A store whose operations may take up to 250 ms: the fault tests tell a timeout
/// from a refusal, and 50 ms is little margin on a loaded test machine. Connected
/// first when Redis is up (`check`, which allows a connection a second).
async fn patient_store(url: &str) -> RedisTokenStore {
    let config = config(url)
        .with_timeout(Duration::from_millis(250))
        .unwrap();
    let store = RedisTokenStore::new(config).unwrap();
    let _ = store.check().await;
    store
}

async fn raw(server: &RedisServer) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn all_keys(connection: &mut MultiplexedConnection) -> Vec<String> {
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(connection)
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn raw_get(connection: &mut MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("GET")
        .arg(key)
        .query_async(connection)
        .await
        .unwrap()
}

async fn exists(connection: &mut MultiplexedConnection, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(connection)
        .await
        .unwrap()
        == 1
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_round_trips_and_is_removed() {
    let server = RedisServer::start();
    let store = store(&server);
    let alice = request("alice");
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(None));
    let stored = entry("alice", Duration::from_secs(600));
    store.put(&key(&alice), &alice, &stored).await.unwrap();
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(Some(stored)));
    store.remove(&key(&alice)).await.unwrap();
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_with_the_same_credentials_share_entries_and_others_cannot_read_them() {
    let server = RedisServer::start();
    let secret = ClientSecret::new("the-client-secret");
    let replica = |secret: FleetSecret| {
        RedisTokenStore::new(RedisStoreConfig::new(
            RedisUrl::parse(&server.url()).unwrap(),
            secret,
        ))
        .unwrap()
    };
    let one = replica(FleetSecret::derive_from_client_credentials(
        CLIENT_ID, &secret,
    ));
    let two = replica(FleetSecret::derive_from_client_credentials(
        CLIENT_ID, &secret,
    ));
    let alice = request("alice");
    let stored = entry("alice", Duration::from_secs(600));
    one.put(&key(&alice), &alice, &stored).await.unwrap();
    assert_eq!(two.get(&key(&alice), &alice).await, Ok(Some(stored)));

    let other_fleet = replica(FleetSecret::derive_from_client_credentials(
        CLIENT_ID,
        &ClientSecret::new("another-secret"),
    ));
    assert_eq!(
        other_fleet.get(&key(&alice), &alice).await,
        Err(StoreError::Corrupt)
    );
}

/// Invariant 8: scan every key and value after a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_rest_redis_holds_no_token_material() {
    let server = RedisServer::start();
    let store = store(&server);
    let users = ["alice", "bob", "carol"];
    for user in users {
        let request = request(user);
        let key = key(&request);
        store
            .put(&key, &request, &entry(user, Duration::from_secs(600)))
            .await
            .unwrap();
        let lock = store.try_lock(&key, Duration::from_secs(5)).await.unwrap();
        assert!(lock.is_some());
    }
    let mut connection = raw(&server).await;
    let keys = all_keys(&mut connection).await;
    assert_eq!(keys.len(), 2 * users.len(), "{keys:?}");
    for redis_key in &keys {
        let hex = redis_key
            .strip_prefix("obo-mcp:lock:")
            .or_else(|| redis_key.strip_prefix("obo-mcp:"))
            .unwrap_or_else(|| panic!("{redis_key} is not under the prefix"));
        assert!(
            hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "a key is the prefix and a SHA-256 hex: {redis_key}"
        );
        let value = raw_get(&mut connection, redis_key).await.unwrap();
        for user in users {
            for secret in [subject_token(user), api_token(user)] {
                assert!(!redis_key.contains(&secret));
                assert!(!contains(&value, secret.as_bytes()), "{redis_key}");
                // No piece of a token either: each of its three parts.
                for part in secret.split('.') {
                    assert!(!contains(&value, part.as_bytes()), "{redis_key}");
                    assert!(!redis_key.contains(part));
                }
            }
        }
        // No search for "eyJ": the value is random-looking ciphertext, in
        // which three given bytes turn up by chance in about one run in a
        // hundred. The token parts above are what a leak would show.
        assert!(!contains(&value, b"read:private"), "metadata is sealed too");
        assert!(!contains(&value, b"Bearer"), "metadata is sealed too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_swapped_between_keys_are_misses_and_deleted() {
    let server = RedisServer::start();
    let store = store(&server);
    let (alice, bob) = (request("alice"), request("bob"));
    store
        .put(
            &key(&alice),
            &alice,
            &entry("alice", Duration::from_secs(600)),
        )
        .await
        .unwrap();
    store
        .put(&key(&bob), &bob, &entry("bob", Duration::from_secs(600)))
        .await
        .unwrap();
    let (alice_key, bob_key) = (store.entry_key(&key(&alice)), store.entry_key(&key(&bob)));
    let mut connection = raw(&server).await;
    let alice_value = raw_get(&mut connection, &alice_key).await.unwrap();
    let bob_value = raw_get(&mut connection, &bob_key).await.unwrap();
    redis::pipe()
        .cmd("SET")
        .arg(&alice_key)
        .arg(bob_value)
        .ignore()
        .cmd("SET")
        .arg(&bob_key)
        .arg(alice_value)
        .ignore()
        .query_async::<()>(&mut connection)
        .await
        .unwrap();

    assert_eq!(
        store.get(&key(&alice), &alice).await,
        Err(StoreError::Corrupt)
    );
    assert_eq!(store.get(&key(&bob), &bob).await, Err(StoreError::Corrupt));
    assert!(!exists(&mut connection, &alice_key).await);
    assert!(!exists(&mut connection, &bob_key).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_value_is_corrupt_and_its_key_is_deleted() {
    let server = RedisServer::start();
    let store = store(&server);
    let alice = request("alice");
    let redis_key = store.entry_key(&key(&alice));
    let mut connection = raw(&server).await;
    for garbage in [&b""[..], b"garbage", &[1u8; 40][..], &[1u8; 400][..]] {
        redis::cmd("SET")
            .arg(&redis_key)
            .arg(garbage)
            .query_async::<()>(&mut connection)
            .await
            .unwrap();
        assert_eq!(
            store.get(&key(&alice), &alice).await,
            Err(StoreError::Corrupt)
        );
        assert!(!exists(&mut connection, &redis_key).await);
        assert_eq!(store.get(&key(&alice), &alice).await, Ok(None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_cannot_open_an_entry_even_under_the_same_key() {
    let server = RedisServer::start();
    let store = store(&server);
    let (alice, mallory) = (request("alice"), request("mallory"));
    store
        .put(
            &key(&alice),
            &alice,
            &entry("alice", Duration::from_secs(600)),
        )
        .await
        .unwrap();
    // Mallory's request presented under Alice's key, as if the keys collided.
    assert_eq!(
        store.get(&key(&alice), &mallory).await,
        Err(StoreError::Corrupt)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_forgets_an_entry_no_later_than_its_usable_until() {
    let server = RedisServer::start();
    let store = store(&server);
    let alice = request("alice");
    let stored = entry("alice", Duration::from_secs(30));
    store.put(&key(&alice), &alice, &stored).await.unwrap();
    let mut connection = raw(&server).await;
    // The absolute instant Redis will forget it (Redis 7: PEXPIRETIME), in Unix ms.
    let expires_at_ms: i64 = redis::cmd("PEXPIRETIME")
        .arg(store.entry_key(&key(&alice)))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(expires_at_ms > 0, "the entry expires: {expires_at_ms}");
    let expiry = UNIX_EPOCH + Duration::from_millis(u64::try_from(expires_at_ms).unwrap());
    assert!(
        expiry <= stored.usable_until,
        "Redis keeps the entry {:?} past usable_until",
        expiry
            .duration_since(stored.usable_until)
            .unwrap_or_default()
    );
    assert!(
        stored.usable_until.duration_since(expiry).unwrap() < Duration::from_millis(1),
        "and forgets it no earlier than the millisecond it ends"
    );

    // An entry already past its end is not stored at all.
    let bob = request("bob");
    let mut expired = entry("bob", Duration::from_secs(1));
    expired.usable_until = SystemTime::now() - Duration::from_millis(1);
    store.put(&key(&bob), &bob, &expired).await.unwrap();
    assert!(!exists(&mut connection, &store.entry_key(&key(&bob))).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_past_usable_until_is_never_returned_even_if_redis_kept_it() {
    let server = RedisServer::start();
    let store = store(&server);
    let alice = request("alice");
    let stored = entry("alice", Duration::from_millis(300));
    store.put(&key(&alice), &alice, &stored).await.unwrap();
    // A Redis that did not expire it (a slow clock, a restored snapshot).
    let mut connection = raw(&server).await;
    let persisted: i64 = redis::cmd("PERSIST")
        .arg(store.entry_key(&key(&alice)))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(persisted, 1);
    assert_eq!(
        store.get(&key(&alice), &alice).await,
        Ok(Some(stored.clone()))
    );
    let past = stored
        .usable_until
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    tokio::time::sleep(past + Duration::from_millis(20)).await;
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_lock_has_one_holder_only_it_releases_and_it_expires() {
    let server = RedisServer::start();
    let (one, two) = (store(&server), store(&server));
    let alice = key(&request("alice"));
    let held = one
        .try_lock(&alice, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the first replica takes the lock");
    assert!(
        two.try_lock(&alice, Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        one.try_lock(&alice, Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );

    // Another replica's unlock (its owner value is not the holder's) does nothing.
    two.unlock(&alice, FleetLock::new([7; 16])).await.unwrap();
    assert!(
        two.try_lock(&alice, Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );

    one.unlock(&alice, held).await.unwrap();
    let _never_released = two
        .try_lock(&alice, Duration::from_millis(200))
        .await
        .unwrap()
        .expect("released: the next replica takes it");
    assert!(
        one.try_lock(&alice, Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );
    // The holder dies without unlocking: the lock expires by itself.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after_expiry = one.try_lock(&alice, Duration::from_secs(10)).await.unwrap();
    assert!(after_expiry.is_some(), "an expired lock is free");

    // A stale owner's late unlock (its lock expired, another holds it now) does not
    // release the new holder's lock.
    let other = key(&request("bob"));
    let stale = one
        .try_lock(&other, Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        two.try_lock(&other, Duration::from_secs(10))
            .await
            .unwrap()
            .is_some()
    );
    one.unlock(&other, stale).await.unwrap();
    assert!(
        one.try_lock(&other, Duration::from_secs(10))
            .await
            .unwrap()
            .is_none()
    );
}

fn budget(limit: &str, replicas: u32) -> ExchangeBudget {
    ExchangeBudget::new(
        limit.parse::<RateLimit>().unwrap(),
        NonZeroU32::new(replicas).unwrap(),
    )
}

async fn budgeted(url: &str, limit: &str, replicas: u32) -> RedisTokenStore {
    let config = config(url)
        .with_timeout(Duration::from_secs(1))
        .unwrap()
        .with_exchange_budget(budget(limit, replicas));
    let store = RedisTokenStore::new(config).unwrap();
    // Connected first, so that no test of the budget meets a slow first connection.
    store.check().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_budget_spaces_exchanges_across_replicas() {
    let server = RedisServer::start();
    // 10/s: one exchange per 100 ms for the whole fleet.
    let one = budgeted(&server.url(), "10/s", 2).await;
    let two = budgeted(&server.url(), "10/s", 2).await;
    assert_eq!(
        one.exchange_budget().await,
        Ok(None),
        "the first goes at once"
    );
    for replica in [&one, &two, &one] {
        let wait = replica
            .exchange_budget()
            .await
            .unwrap()
            .expect("over budget");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(100),
            "waits at most one interval: {wait:?}"
        );
    }
    // Asking again once the wait has passed goes; N exchanges take (N − 1) intervals.
    let started = Instant::now();
    let mut granted = 0;
    while granted < 5 {
        match two.exchange_budget().await.unwrap() {
            None => granted += 1,
            Some(wait) => tokio::time::sleep(wait).await,
        }
    }
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "5 more exchanges at 10/s: {:?}",
        started.elapsed()
    );
    assert_eq!(one.budget_fallbacks() + two.budget_fallbacks(), 0);
    let mut connection = raw(&server).await;
    assert_eq!(
        all_keys(&mut connection).await,
        ["obo-mcp:exchange-budget"],
        "the budget's one key, under the prefix"
    );

    // A store without a budget always says go.
    let unbudgeted = store(&server);
    for _ in 0..3 {
        assert_eq!(unbudgeted.exchange_budget().await, Ok(None));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_each_replica_keeps_to_its_share_of_the_budget() {
    let mut server = RedisServer::start();
    // 10/s shared by 4 replicas: 2.5/s each, one per 400 ms.
    let replica = budgeted(&server.url(), "10/s", 4).await;
    server.stop();
    assert_eq!(replica.exchange_budget().await, Ok(None));
    let wait = replica
        .exchange_budget()
        .await
        .unwrap()
        .expect("over its share");
    assert!(
        wait > Duration::from_millis(300) && wait <= Duration::from_millis(400),
        "{wait:?}"
    );
    assert_eq!(replica.budget_fallbacks(), 2);
}

/// The cache asks the budget even after a store error; a hung Redis must not cost that
/// exchange a second timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failure_the_budget_answers_from_the_local_share_without_waiting() {
    let server = RedisServer::start();
    let config = config(&server.url())
        .with_timeout(Duration::from_millis(250))
        .unwrap()
        .with_exchange_budget(budget("10/s", 2));
    let store = RedisTokenStore::new(config).unwrap();
    store.check().await.unwrap();
    assert_eq!(store.exchange_budget().await, Ok(None));
    assert_eq!(store.budget_fallbacks(), 0, "Redis answered");

    server.freeze();
    let alice = request("alice");
    let answer = store.get(&key(&alice), &alice).await;
    assert!(matches!(answer, Err(StoreError::Timeout(_))), "{answer:?}");
    let started = Instant::now();
    assert_eq!(
        store.exchange_budget().await,
        Ok(None),
        "the local share's first"
    );
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "no second timeout: {:?}",
        started.elapsed()
    );
    assert_eq!(store.budget_fallbacks(), 1);
    server.thaw();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_is_unavailable_within_the_timeout_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let store = patient_store(&server.url()).await;
    let alice = request("alice");
    let stored = entry("alice", Duration::from_secs(600));
    store.put(&key(&alice), &alice, &stored).await.unwrap();

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let answer = store.get(&key(&alice), &alice).await;
        assert!(
            matches!(answer, Err(StoreError::Unavailable(_))),
            "{answer:?}"
        );
        assert!(started.elapsed() < Duration::from_millis(250));
    }

    server.restart();
    let started = Instant::now();
    loop {
        match store.put(&key(&alice), &alice, &stored).await {
            Ok(()) => break,
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(5),
                "no reconnection after a restart: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(Some(stored)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_down_at_start_does_not_stop_the_store() {
    let mut server = RedisServer::start();
    server.stop();
    let store = patient_store(&server.url()).await;
    let alice = request("alice");
    let answer = store.get(&key(&alice), &alice).await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );
    assert!(matches!(
        store.check().await,
        Err(StoreError::Unavailable(_))
    ));

    server.restart();
    let started = Instant::now();
    while store.check().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.get(&key(&alice), &alice).await, Ok(None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_times_out_within_the_timeout_and_thawed_it_answers() {
    let server = RedisServer::start();
    let store = patient_store(&server.url()).await;
    let alice = request("alice");
    let stored = entry("alice", Duration::from_secs(600));
    store.put(&key(&alice), &alice, &stored).await.unwrap();

    server.freeze();
    let started = Instant::now();
    let answer = store.get(&key(&alice), &alice).await;
    let took = started.elapsed();
    assert_eq!(answer, Err(StoreError::Timeout(Duration::from_millis(250))));
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(750),
        "{took:?}"
    );
    let started = Instant::now();
    let lock = store.try_lock(&key(&alice), Duration::from_secs(1)).await;
    assert!(matches!(lock, Err(StoreError::Timeout(_))), "{lock:?}");
    assert!(started.elapsed() < Duration::from_millis(750));

    server.thaw();
    let started = Instant::now();
    loop {
        match store.get(&key(&alice), &alice).await {
            Ok(found) => {
                assert_eq!(found, Some(stored));
                break;
            }
            Err(error) => assert!(
                started.elapsed() < Duration::from_secs(5),
                "not answering after a thaw: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_unavailable_and_never_quoted() {
    let server = RedisServer::start_with_password("right-horse-battery");
    let wrong = "wrong-staple-password";
    let store = patient_store(&server.url_with_password(wrong)).await;
    let alice = request("alice");
    let answer = store.get(&key(&alice), &alice).await;
    let Err(StoreError::Unavailable(text)) = &answer else {
        panic!("{answer:?}");
    };
    let check = store.check().await.unwrap_err();
    assert!(
        text.to_lowercase().contains("auth"),
        "names the cause: {text}"
    );
    for message in [
        text.clone(),
        answer.unwrap_err().to_string(),
        check.to_string(),
    ] {
        assert!(!message.contains(wrong), "{message}");
        assert!(!message.contains("right-horse"), "{message}");
        assert!(
            !message.contains(&server.port().to_string()),
            "no URL: {message}"
        );
    }

    let right = patient_store(&server.url()).await;
    right.check().await.unwrap();
    let stored = entry("alice", Duration::from_secs(600));
    right.put(&key(&alice), &alice, &stored).await.unwrap();
    assert_eq!(right.get(&key(&alice), &alice).await, Ok(Some(stored)));
}

/// The client's manager remakes a connection after I/O errors only; one refused at
/// its handshake must not be refused for good once Redis accepts it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_handshake_is_retried_once_redis_accepts_the_password() {
    let server = RedisServer::start_with_password("old-password");
    let store = patient_store(&server.url_with_password("new-password")).await;
    let answer = store.check().await;
    assert!(
        matches!(answer, Err(StoreError::Unavailable(_))),
        "{answer:?}"
    );

    let mut admin = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("new-password")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let started = Instant::now();
    while let Err(error) = store.check().await {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still refused after the password changed: {error}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Redis answering something the store cannot read is a protocol error, not an outage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_another_type_is_a_protocol_error() {
    let server = RedisServer::start();
    let store = store(&server);
    let alice = request("alice");
    let mut connection = raw(&server).await;
    redis::cmd("HSET")
        .arg(store.entry_key(&key(&alice)))
        .arg("field")
        .arg("value")
        .query_async::<()>(&mut connection)
        .await
        .unwrap();
    let answer = store.get(&key(&alice), &alice).await;
    assert!(
        matches!(&answer, Err(StoreError::Protocol(text)) if text.contains("WRONGTYPE")),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_round_trips_under_the_prefix_and_leaves_nothing() {
    let server = RedisServer::start();
    let config = config(&server.url()).with_prefix("fleet-a:").unwrap();
    let store = RedisTokenStore::new(config).unwrap();
    store.check().await.unwrap();
    let mut connection = raw(&server).await;
    assert!(all_keys(&mut connection).await.is_empty());
    let alice = request("alice");
    assert!(store.entry_key(&key(&alice)).starts_with("fleet-a:"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_shows_neither_the_url_password_nor_the_fleet_secret() {
    let password = "pass-word-in-the-url";
    let url = format!("rediss://operator:{password}@redis.internal:6380/2");
    let secret = FleetSecret::from_base64(FLEET_SECRET).unwrap();
    let config = RedisStoreConfig::new(RedisUrl::parse(&url).unwrap(), secret)
        .with_exchange_budget(budget("8/s", 3));
    let store = RedisTokenStore::new(config.clone()).unwrap();
    let derived = FleetSecret::derive_from_client_credentials(
        CLIENT_ID,
        &ClientSecret::new("client-secret-value"),
    );
    for shown in [
        format!("{config:?}"),
        format!("{config:#?}"),
        format!("{store:?}"),
        format!("{store:#?}"),
        format!("{derived:?}"),
        format!("{}", RedisUrl::parse(&url).unwrap()),
    ] {
        for secret in [
            password,
            "operator",
            "redis.internal",
            FLEET_SECRET,
            "c2VjcmV0",
            "client-secret-value",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
    assert!(format!("{store:?}").contains("8/s"), "the rest is shown");
}

#[test]
fn bad_configuration_is_refused_with_the_fix_and_without_the_secret() {
    let refusals: Vec<(ConfigError, &str)> = vec![
        (
            RedisUrl::parse("http://:hunter22@host/").unwrap_err(),
            "hunter22",
        ),
        (
            RedisUrl::parse("redis://:hunter22@/").unwrap_err(),
            "hunter22",
        ),
        (
            RedisUrl::parse("not a url hunter22").unwrap_err(),
            "hunter22",
        ),
        (FleetSecret::from_base64("c2hvcnQ=").unwrap_err(), "c2hvcnQ"),
        (
            FleetSecret::from_base64("not base64 !!").unwrap_err(),
            "base64 !!",
        ),
    ];
    for (error, secret) in refusals {
        let message = error.to_string();
        assert!(!message.contains(secret), "{message}");
        assert!(
            message.contains("redis://") || message.contains("openssl rand"),
            "names the fix: {message}"
        );
    }
    assert_eq!(
        FleetSecret::from_base64("c2hvcnQ=").unwrap_err(),
        ConfigError::FleetSecretTooShort { bytes: 5 }
    );
    let url = RedisUrl::parse("redis://127.0.0.1:1/").unwrap();
    let fleet = FleetSecret::from_base64(FLEET_SECRET).unwrap();
    let config = RedisStoreConfig::new(url, fleet);
    assert!(config.clone().with_prefix("").is_err());
    assert!(config.clone().with_prefix("a b:").is_err());
    assert!(config.clone().with_timeout(Duration::ZERO).is_err());
    assert_eq!(
        RedisTokenStore::new(config).unwrap_err(),
        ConfigError::NoRuntime,
        "outside a runtime: an error, not a panic"
    );
}
