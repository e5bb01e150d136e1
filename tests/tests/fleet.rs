//! A fleet (issue 15): three `mcp-server` processes behind no load balancer but the
//! test's own round robin, sharing one real `redis-server`, one mock tenant and one
//! private API. They must make one exchange per user between them, never serve one
//! user's token to another, keep nothing usable at rest in Redis, and never fail a
//! call whatever Redis does: stopped, back, frozen, or holding garbage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use obo_tests::process::ServiceProcess;
use obo_tests::redis::RedisServer;
use obo_tests::system::{RunningSystem, SystemConfig};
use serde_json::json;
use support::McpHttp;

const REPLICAS: usize = 3;
const PREFIX: &str = "fleet-test:";
const FLEET_SECRET: &str = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=";

/// The system, with two more replicas of its MCP server, all on one Redis.
struct Fleet {
    system: RunningSystem,
    replicas: Vec<ServiceProcess>,
    redis: RedisServer,
}

impl Fleet {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let url = redis.url();
        let system = support::start_system(|| SystemConfig {
            mcp_env: BTreeMap::from([
                ("TOKEN_CACHE_REDIS_URL".to_owned(), url.clone()),
                ("TOKEN_CACHE_KEY_PREFIX".to_owned(), PREFIX.to_owned()),
                (
                    "TOKEN_CACHE_ENCRYPTION_KEY".to_owned(),
                    FLEET_SECRET.to_owned(),
                ),
            ]),
            ..SystemConfig::default()
        })
        .await;
        let mut replicas = Vec::new();
        for _ in 1..REPLICAS {
            replicas.push(
                system
                    .start_mcp_replica(&BTreeMap::new())
                    .await
                    .expect("a replica starts"),
            );
        }
        Self {
            system,
            replicas,
            redis,
        }
    }

    /// The base URL of replica `i` (0 is the system's own MCP server).
    fn base_url(&self, i: usize) -> String {
        match i % REPLICAS {
            0 => self.system.mcp.base_url().to_owned(),
            n => self.replicas[n - 1].base_url().to_owned(),
        }
    }

    fn clients(&self) -> Arc<Vec<McpHttp>> {
        Arc::new(
            (0..REPLICAS)
                .map(|i| McpHttp::new(&format!("{}/mcp", self.base_url(i))))
                .collect(),
        )
    }

    fn token(&self, sub: &str) -> String {
        self.system.tenant.token_for(sub, &["tool:greet"])
    }

    /// The sum over the replicas of one series of `/metrics` (with its labels, if any).
    async fn metric(&self, series: &str) -> u64 {
        let mut total = 0.0;
        for i in 0..REPLICAS {
            let text = reqwest::get(format!("{}/metrics", self.base_url(i)))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            total += text
                .lines()
                .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
                .map(|value| value.trim().parse::<f64>().unwrap())
                .unwrap_or_else(|| panic!("no {series} in the metrics of replica {i}:\n{text}"));
        }
        total as u64
    }

    /// `/readyz` is 200 on every replica, whatever Redis does.
    async fn assert_ready(&self) {
        for i in 0..REPLICAS {
            let status = reqwest::get(format!("{}/readyz", self.base_url(i)))
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200, "replica {i}");
        }
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(self.redis.url())
            .unwrap()
            .get_connection_with_timeout(Duration::from_secs(5))
            .unwrap()
    }

    /// Every entry key in Redis (not the locks, not the budget).
    fn entry_keys(&self) -> Vec<String> {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{PREFIX}*"))
            .query(&mut self.redis())
            .unwrap();
        keys.into_iter()
            .filter(|key| !key[PREFIX.len()..].contains(':'))
            .collect()
    }
}

/// One `greet` as `sub` on `replica`, which must succeed, answered for `sub`.
async fn greet(clients: &[McpHttp], replica: usize, token: &str, sub: &str) -> Duration {
    let started = Instant::now();
    let (status, _, body) = clients[replica % REPLICAS]
        .call_tool(Some(token), "greet", json!({}))
        .await;
    let elapsed = started.elapsed();
    assert_eq!(status, 200, "replica {replica}, {sub}: {body}");
    assert_eq!(
        body["result"]["isError"], false,
        "replica {replica}, {sub}: {body}"
    );
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains(&format!("({sub})!")), "{text}");
    let upstream = support::upstream_json(text);
    assert_eq!(
        upstream["sub"], sub,
        "the API saw another user than the caller: {text}"
    );
    elapsed
}

/// Each user calling `greet` `calls` times in turn on replicas `i`, `i + 1`, ...
/// (user `i`), eight users at a time; the time each call took.
async fn round_robin(fleet: &Fleet, users: &[User], calls: usize) -> Vec<Duration> {
    let clients = fleet.clients();
    let mut tasks = tokio::task::JoinSet::new();
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    for (i, user) in users.iter().enumerate() {
        let (clients, gate, user) = (Arc::clone(&clients), Arc::clone(&gate), user.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let mut times = Vec::new();
            for call in 0..calls {
                times.push(greet(&clients, i + call, &user.token, &user.sub).await);
            }
            times
        });
    }
    let mut times = Vec::new();
    while let Some(result) = tasks.join_next().await {
        times.extend(result.unwrap());
    }
    times
}

/// A user and the one token it calls with (a new token would be a new cache key).
#[derive(Debug, Clone)]
struct User {
    sub: String,
    token: String,
}

fn users(fleet: &Fleet, tag: &str, count: usize) -> Vec<User> {
    (0..count)
        .map(|i| {
            let sub = format!("auth0|{tag}-{i:03}");
            User {
                token: fleet.token(&sub),
                sub,
            }
        })
        .collect()
}

#[tokio::test]
async fn issue_15_two_hundred_users_round_robin_over_three_replicas_make_two_hundred_exchanges_and_redis_holds_no_token()
 {
    let fleet = Fleet::start().await;
    let users = users(&fleet, "fleet-user", 200);
    round_robin(&fleet, &users, 3).await;

    let tenant = &fleet.system.tenant;
    assert_eq!(tenant.exchanges(), 200, "one exchange per user, fleet-wide");
    for user in &users {
        assert_eq!(tenant.exchanges_for(&user.sub), 1, "{}", user.sub);
    }
    // Each user's first call missed both tiers; the next two, on the two other
    // replicas, missed their L1 and hit L2.
    assert_eq!(
        fleet.metric("exchanged_token_cache_l2_misses_total").await,
        200
    );
    assert_eq!(
        fleet.metric("exchanged_token_cache_l2_hits_total").await,
        400
    );
    assert_eq!(
        fleet
            .metric("exchanged_token_cache_l2_errors_total{kind=\"timeout\"}")
            .await,
        0
    );

    let reads = fleet.metric("exchanged_token_cache_l2_reads_total").await;
    let micros = fleet
        .metric("exchanged_token_cache_l2_read_microseconds_total")
        .await;
    assert!(reads >= 600, "{reads}");
    eprintln!(
        "L2 reads: {reads}, mean {} µs (debug build, three replicas and the test on one machine)",
        micros / reads
    );

    // At rest: one entry per user, under a hashed key, with nothing usable in it.
    let keys = fleet.entry_keys();
    assert_eq!(keys.len(), 200, "{keys:?}");
    let mut secrets: Vec<String> = tenant.issued_tokens();
    secrets.extend(users.iter().map(|user| user.token.clone()));
    assert_eq!(secrets.len(), 400);
    let mut redis = fleet.redis();
    let mut bytes_total = 0u64;
    for key in &keys {
        let hash = &key[PREFIX.len()..];
        assert!(
            hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
            "{key}"
        );
        let value: Vec<u8> = redis::cmd("GET").arg(key).query(&mut redis).unwrap();
        let text = String::from_utf8_lossy(&value);
        // The value is ciphertext, that is random bytes: a marker as short as
        // "eyJ" turns up in one run in a hundred by chance, so each marker is at
        // least six bytes, and tokens are searched for by their segments.
        for marker in ["auth0|", "Bearer", "read:private", "access_token"] {
            assert!(!text.contains(marker), "{key} holds {marker:?}");
        }
        for secret in &secrets {
            // Any one segment (the payload, or the signature alone) would already be a leak.
            for segment in secret.split('.') {
                assert!(!text.contains(segment), "{key} holds a part of a token");
            }
        }
        let ttl_ms: i64 = redis::cmd("PTTL").arg(key).query(&mut redis).unwrap();
        // The exchanged token lives 3600 s; the entry ends 60 s (the skew) before.
        assert!(
            ttl_ms > 0 && ttl_ms <= 3_540_000,
            "{key} expires in {ttl_ms} ms"
        );
        let usage: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .query(&mut redis)
            .unwrap();
        bytes_total += usage;
    }
    let issued = tenant.issued_tokens();
    eprintln!(
        "Redis bytes per cached user (MEMORY USAGE of an entry, mean of {}): {}, for exchanged tokens of {} bytes on average",
        keys.len(),
        bytes_total / keys.len() as u64,
        issued.iter().map(String::len).sum::<usize>() / issued.len()
    );
}

#[tokio::test]
async fn issue_15_fifty_concurrent_first_calls_for_one_user_across_three_replicas_make_one_exchange()
 {
    let fleet = Fleet::start().await;
    let clients = fleet.clients();
    let sub = "auth0|fleet-crowd";
    let token = fleet.token(sub);
    let mut tasks = tokio::task::JoinSet::new();
    for call in 0..50 {
        let (clients, token) = (Arc::clone(&clients), token.clone());
        tasks.spawn(async move { greet(&clients, call, &token, sub).await });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    assert_eq!(fleet.system.tenant.exchanges_for(sub), 1);
    assert_eq!(fleet.system.tenant.exchanges(), 1);
}

#[tokio::test]
async fn issue_15_redis_stopped_back_and_frozen_never_fails_a_call() {
    let mut fleet = Fleet::start().await;
    let tenant = fleet.system.tenant.clone();

    // Stopped mid-run: every call still succeeds, each replica exchanging by itself.
    round_robin(&fleet, &users(&fleet, "before", 6), 1).await;
    fleet.redis.stop();
    let down = users(&fleet, "redis-down", 6);
    round_robin(&fleet, &down, 3).await;
    for user in &down {
        let exchanges = tenant.exchanges_for(&user.sub);
        assert!((1..=3).contains(&exchanges), "{}: {exchanges}", user.sub);
    }
    assert!(
        fleet
            .metric("exchanged_token_cache_l2_errors_total{kind=\"unavailable\"}")
            .await
            > 0
    );
    fleet.assert_ready().await;

    // Back (empty, on the same port): L2 is used again, with no restart of a replica.
    // Each replica reconnects on an operation after the restart; wait until a user's
    // three calls, one per replica, cost one exchange again.
    fleet.redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    for attempt in 0.. {
        let probe = users(&fleet, &format!("reconnect-{attempt}"), 1);
        round_robin(&fleet, &probe, 3).await;
        if tenant.exchanges_for(&probe[0].sub) == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "L2 was not used again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let back = users(&fleet, "redis-back", 6);
    let hits_before = fleet.metric("exchanged_token_cache_l2_hits_total").await;
    round_robin(&fleet, &back, 3).await;
    for user in &back {
        assert_eq!(tenant.exchanges_for(&user.sub), 1, "{}", user.sub);
    }
    assert_eq!(
        fleet.metric("exchanged_token_cache_l2_hits_total").await,
        hits_before + 12
    );

    // Frozen (SIGSTOP): the kernel accepts, Redis answers nothing. Each call that
    // misses L1 gives up on Redis after its 50 ms timeout and exchanges: far below the
    // cache's 1 s safety net, which a store without its own timeout would hit.
    fleet.redis.freeze();
    let frozen = users(&fleet, "redis-frozen", 6);
    let times = round_robin(&fleet, &frozen, 3).await;
    fleet.assert_ready().await;
    fleet.redis.thaw();
    let slowest = times.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_secs(1),
        "a call took {slowest:?} with Redis frozen"
    );
    assert!(
        fleet
            .metric("exchanged_token_cache_l2_errors_total{kind=\"timeout\"}")
            .await
            > 0
    );
}

#[tokio::test]
async fn issue_15_garbage_in_an_entry_is_a_miss_and_the_entry_is_replaced() {
    let fleet = Fleet::start().await;
    let clients = fleet.clients();
    let tenant = &fleet.system.tenant;
    let sub = "auth0|fleet-garbage";
    let token = fleet.token(sub);

    greet(&clients, 0, &token, sub).await;
    let keys = fleet.entry_keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let garbage = b"\x00not a sealed entry\xff".to_vec();
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg(&garbage)
        .arg("KEEPTTL")
        .query(&mut fleet.redis())
        .unwrap();

    // Replica 1 has no L1 entry: it reads the garbage, drops it, and exchanges.
    greet(&clients, 1, &token, sub).await;
    assert_eq!(tenant.exchanges_for(sub), 2);
    assert_eq!(
        fleet
            .metric("exchanged_token_cache_l2_errors_total{kind=\"corrupt\"}")
            .await,
        1
    );
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&keys[0])
        .query(&mut fleet.redis())
        .unwrap();
    assert_eq!(value, None, "the garbage was not deleted");

    // The next replica without an L1 entry gets a good entry into Redis again.
    greet(&clients, 2, &token, sub).await;
    let value: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&keys[0])
        .query(&mut fleet.redis())
        .unwrap();
    assert!(value.is_some_and(|value| value != garbage));
}

#[tokio::test]
async fn issue_15_a_replica_starts_and_serves_with_redis_down_and_readyz_ignores_redis() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let system = support::start_system(|| SystemConfig {
        mcp_env: BTreeMap::from([("TOKEN_CACHE_REDIS_URL".to_owned(), url.clone())]),
        ..SystemConfig::default()
    })
    .await;
    let ready = reqwest::get(format!("{}/readyz", system.mcp.base_url()))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "/readyz must not depend on Redis");
    let clients = [McpHttp::new(&system.mcp_url())];
    let sub = "auth0|fleet-no-redis";
    let token = system.tenant.token_for(sub, &["tool:greet"]);
    for _ in 0..3 {
        greet(&clients, 0, &token, sub).await;
    }
    // Its in-process cache still works: one exchange.
    assert_eq!(system.tenant.exchanges_for(sub), 1);
    // The start-up check runs beside the server: it never delays the start.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = loop {
        let log = system.mcp.log();
        if log.contains("shared token cache: Redis does not answer") {
            break log;
        }
        assert!(Instant::now() < deadline, "no start-up warning in:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let warning = log
        .lines()
        .find(|line| line.contains("shared token cache: Redis does not answer"))
        .unwrap();
    assert!(warning.contains("WARN"), "{warning}");
    assert!(!log.contains(&url), "the Redis URL was logged");
}

#[tokio::test]
async fn issue_15_the_exchange_budget_holds_the_fleet_to_its_rate_and_names_the_setting() {
    let redis = RedisServer::start();
    let url = redis.url();
    let system = support::start_system(|| SystemConfig {
        mcp_env: BTreeMap::from([
            ("TOKEN_CACHE_REDIS_URL".to_owned(), url.clone()),
            ("EXCHANGE_RATE_LIMIT".to_owned(), "2/s".to_owned()),
            ("EXCHANGE_RATE_LIMIT_REPLICAS".to_owned(), "3".to_owned()),
        ]),
        ..SystemConfig::default()
    })
    .await;
    let mut replicas = Vec::new();
    for _ in 1..REPLICAS {
        replicas.push(system.start_mcp_replica(&BTreeMap::new()).await.unwrap());
    }
    let urls: Vec<String> = std::iter::once(system.mcp_url())
        .chain(replicas.iter().map(|r| format!("{}/mcp", r.base_url())))
        .collect();

    // Twelve users' first calls at once, four per replica: at 2/s with no burst, and
    // at most 2 s of waiting for room, some exchange and the rest are refused.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let url = urls[i % REPLICAS].clone();
        let sub = format!("auth0|budget-{i:02}");
        let token = system.tenant.token_for(&sub, &["tool:greet"]);
        tasks.spawn(async move {
            let (status, _, body) = McpHttp::new(&url)
                .call_tool(Some(&token), "greet", json!({}))
                .await;
            assert_eq!(status, 200, "{body}");
            (
                body["result"]["isError"] == true,
                body["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        });
    }
    let mut refused = 0;
    while let Some(result) = tasks.join_next().await {
        let (is_error, text) = result.unwrap();
        if is_error {
            refused += 1;
            assert!(text.contains("EXCHANGE_RATE_LIMIT"), "{text}");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let exchanges = system.tenant.exchanges();
    eprintln!("budget 2/s: {exchanges} exchanges, {refused} refused, in {elapsed:.2} s");
    assert_eq!(exchanges + refused, 12);
    assert!(refused > 0, "twelve exchanges fit in {elapsed:.1} s at 2/s");
    // GCRA with no burst: one exchange per 500 ms, fleet-wide, the first at once.
    assert!(
        exchanges as f64 <= 2.0 * elapsed + 1.0,
        "{exchanges} exchanges in {elapsed:.2} s"
    );
}
