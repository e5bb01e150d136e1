//! `TokenCache`s (replicas) sharing one real Redis through this store: one exchange per
//! user for the fleet, and Redis failing costs no call (issue 15 §1, §3, §5). Auth0's
//! token endpoint is played by wiremock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use auth0_obo::{
    CacheOptions, ExchangeClient, ExchangeRequest, SharedTokenStore, TokenCache, TokenSource,
};
use obo_tests::redis::RedisServer;
use redis_token_store::{FleetSecret, RedisStoreConfig, RedisTokenStore, RedisUrl};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const CLIENT_ID: &str = "mcp-server-client";
const CLIENT_SECRET: &str = "very-secret-client-secret-Zq9";
const AUDIENCE: &str = "https://private-api.example";
const USER_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJlLWE";
const API_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGkifQ.YXBpLXRva2Vu";

/// Auth0's token endpoint, answering after `delay` (an exchange takes time, so that
/// concurrent first calls overlap).
async fn tenant(delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({
                    "access_token": API_TOKEN,
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                }))
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

async fn exchanges(tenant: &MockServer) -> usize {
    tenant.received_requests().await.unwrap_or_default().len()
}

/// One replica: its own exchange client, in-process cache and Redis connection.
fn replica(tenant: &MockServer, redis: &RedisServer) -> TokenCache {
    let client = ExchangeClient::builder(tenant.uri(), CLIENT_ID, CLIENT_SECRET)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let fleet_secret = FleetSecret::derive_from_client_credentials(
        CLIENT_ID,
        &auth0_obo::ClientSecret::new(CLIENT_SECRET),
    );
    let config = RedisStoreConfig::new(RedisUrl::parse(&redis.url()).unwrap(), fleet_secret)
        .with_timeout(Duration::from_millis(500))
        .unwrap();
    let store: Arc<dyn SharedTokenStore> = Arc::new(RedisTokenStore::new(config).unwrap());
    TokenCache::new(
        Arc::new(client),
        CacheOptions::default()
            .shared_store(store)
            .lock_wait(Duration::from_secs(5)),
    )
}

/// The entries (not locks) Redis holds.
async fn entries_in(redis: &RedisServer) -> usize {
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("obo-mcp:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.iter().filter(|key| !key.contains(":lock:")).count()
}

fn request() -> ExchangeRequest {
    ExchangeRequest::new(USER_TOKEN, AUDIENCE)
        .unwrap()
        .with_scope("read:private")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_makes_no_exchange_for_a_user_the_first_served() {
    let redis = RedisServer::start();
    let tenant = tenant(Duration::ZERO).await;
    let (one, two) = (replica(&tenant, &redis), replica(&tenant, &redis));

    let first = one.get_token(&request()).await.unwrap();
    assert_eq!(first.source(), TokenSource::Exchange);
    let second = two.get_token(&request()).await.unwrap();
    assert_ne!(second.source(), TokenSource::Exchange);
    assert_eq!(second.token().access_token.secret(), API_TOKEN);
    assert_eq!(
        exchanges(&tenant).await,
        1,
        "the second replica made no exchange"
    );
    assert_eq!(two.stats().exchanges, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_calls_across_replicas_make_one_exchange() {
    let redis = RedisServer::start();
    let tenant = tenant(Duration::from_millis(300)).await;
    let replicas: Vec<Arc<TokenCache>> =
        (0..3).map(|_| Arc::new(replica(&tenant, &redis))).collect();
    let calls: Vec<_> = (0..30)
        .map(|i| {
            let replica = Arc::clone(&replicas[i % replicas.len()]);
            tokio::spawn(async move { replica.get_token(&request()).await })
        })
        .collect();
    for call in calls {
        let token = call.await.unwrap().unwrap();
        assert_eq!(token.token().access_token.secret(), API_TOKEN);
    }
    assert_eq!(exchanges(&tenant).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_stopped_calls_still_succeed_and_redis_back_is_used_again() {
    let mut redis = RedisServer::start();
    let tenant = tenant(Duration::ZERO).await;
    let one = replica(&tenant, &redis);
    redis.stop();
    let token = one.get_token(&request()).await.unwrap();
    assert_eq!(token.source(), TokenSource::Exchange);
    assert_eq!(exchanges(&tenant).await, 1);

    redis.restart();
    // The replica goes on, with no restart of its own, and writes Redis again.
    let started = std::time::Instant::now();
    loop {
        one.invalidate(&request()).await;
        one.get_token(&request()).await.unwrap();
        if entries_in(&redis).await > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "Redis never used again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exchanged = exchanges(&tenant).await;
    let two = replica(&tenant, &redis);
    two.get_token(&request()).await.unwrap();
    assert_eq!(
        exchanges(&tenant).await,
        exchanged,
        "served from Redis, no exchange"
    );
}
