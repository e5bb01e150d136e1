//! The token cache against a mock Auth0 tenant: one exchange per user, audience
//! and scope set; no stampede; expiry before `expires_at − skew`; failures shared
//! but not kept (design.md §5, invariants 2 and 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auth0_obo::{CacheOptions, ExchangeError, ExchangeRequest, TokenCache, TokenSource};
use common::*;
use wiremock::MockServer;
use wiremock::matchers::body_string_contains;

fn request(token: &str) -> ExchangeRequest {
    ExchangeRequest::new(token, API_AUDIENCE).unwrap()
}

fn cache(server: &MockServer) -> TokenCache {
    TokenCache::new(Arc::new(client(server)), CacheOptions::default())
}

#[tokio::test]
async fn hundred_sequential_calls_for_one_user_make_one_exchange() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let req = request(USER_A_TOKEN).with_scope("read:private");
    for i in 0..100 {
        let got = cache.get_token(&req).await.unwrap();
        assert_eq!(got.token().access_token.secret(), API_TOKEN);
        let expected = if i == 0 {
            TokenSource::Exchange
        } else {
            TokenSource::Cache
        };
        assert_eq!(got.source(), expected);
        assert_eq!(got.from_cache(), i > 0);
    }
    let stats = cache.stats();
    assert_eq!((stats.hits, stats.misses, stats.exchanges), (99, 1, 1));
    assert_eq!(stats.failures_total(), 0);
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().entry_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_first_calls_make_one_exchange() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_token(&request(USER_A_TOKEN)).await })
        })
        .collect();
    let mut exchanged = 0;
    for task in tasks {
        let got = task.await.unwrap().unwrap();
        assert_eq!(got.token().access_token.secret(), API_TOKEN);
        if got.source() == TokenSource::Exchange {
            exchanged += 1;
        }
    }
    assert_eq!(exchanged, 1);
    let stats = cache.stats();
    assert_eq!(stats.exchanges, 1);
    assert_eq!(stats.hits + stats.misses, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_one_failure_and_it_is_not_cached() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(
            oauth_error(403, "access_denied", "no client grant")
                .set_delay(Duration::from_millis(200)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move { cache.get_token(&request(USER_A_TOKEN)).await })
        })
        .collect();
    for task in tasks {
        let err = task.await.unwrap().unwrap_err();
        assert!(matches!(err, ExchangeError::AccessDenied(_)), "{err:?}");
    }
    let stats = cache.stats();
    assert_eq!(stats.exchanges, 1);
    assert_eq!(stats.failures.get("access_denied"), Some(&1));

    // Once the tenant is fixed, the next call exchanges again.
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let got = cache.get_token(&request(USER_A_TOKEN)).await.unwrap();
    assert_eq!(got.source(), TokenSource::Exchange);
}

#[tokio::test]
async fn two_users_get_two_exchanges_and_each_their_own_token() {
    let server = MockServer::start().await;
    token_endpoint()
        .and(body_string_contains(format!(
            "subject_token={USER_A_TOKEN}"
        )))
        .respond_with(ok_response("api-token-for-user-a", 3600))
        .expect(1)
        .mount(&server)
        .await;
    token_endpoint()
        .and(body_string_contains(format!(
            "subject_token={USER_B_TOKEN}"
        )))
        .respond_with(ok_response("api-token-for-user-b", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let cache = cache(&server);
    for _ in 0..3 {
        let a = cache.get_token(&request(USER_A_TOKEN)).await.unwrap();
        let b = cache.get_token(&request(USER_B_TOKEN)).await.unwrap();
        assert_eq!(a.token().access_token.secret(), "api-token-for-user-a");
        assert_eq!(b.token().access_token.secret(), "api-token-for-user-b");
        assert_ne!(a.token().access_token, b.token().access_token);
    }
    assert_eq!(cache.stats().exchanges, 2);
    assert_ne!(
        cache.key(&request(USER_A_TOKEN)),
        cache.key(&request(USER_B_TOKEN))
    );
}

#[tokio::test]
async fn same_scopes_in_another_order_hit_the_same_entry() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let first = cache
        .get_token(&request(USER_A_TOKEN).with_scope("read:private write:private"))
        .await
        .unwrap();
    let second = cache
        .get_token(&request(USER_A_TOKEN).with_scope("write:private  read:private read:private"))
        .await
        .unwrap();
    assert_eq!(first.source(), TokenSource::Exchange);
    assert_eq!(second.source(), TokenSource::Cache);
}

#[tokio::test]
async fn different_audience_or_scope_is_a_different_entry() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(4)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let base = request(USER_A_TOKEN).with_scope("read:private");
    let other_audience = ExchangeRequest::new(USER_A_TOKEN, "https://other-api.example/")
        .unwrap()
        .with_scope("read:private");
    let other_scope = request(USER_A_TOKEN).with_scope("read:private write:private");
    let no_scope = request(USER_A_TOKEN);
    for req in [&base, &other_audience, &other_scope, &no_scope] {
        assert_eq!(
            cache.get_token(req).await.unwrap().source(),
            TokenSource::Exchange
        );
    }
    for req in [&base, &other_audience, &other_scope, &no_scope] {
        assert!(cache.get_token(req).await.unwrap().from_cache());
    }
    assert_eq!(cache.stats().exchanges, 4);
}

#[tokio::test]
async fn invariant_3_entry_expires_at_expires_at_minus_skew() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 2))
        .expect(2)
        .mount(&server)
        .await;
    // expires_in 2 s, skew 1.5 s: usable for about 500 ms.
    let cache = TokenCache::new(
        Arc::new(client(&server)),
        CacheOptions::default().skew(Duration::from_millis(1500)),
    );
    let req = request(USER_A_TOKEN);
    assert!(!cache.get_token(&req).await.unwrap().from_cache());
    assert!(cache.get_token(&req).await.unwrap().from_cache());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!cache.get_token(&req).await.unwrap().from_cache());
}

#[tokio::test]
async fn invariant_3_token_shorter_than_skew_is_returned_but_not_cached() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 30))
        .expect(3)
        .mount(&server)
        .await;
    let cache = cache(&server); // skew 60 s > expires_in 30 s
    let req = request(USER_A_TOKEN);
    for _ in 0..3 {
        let got = cache.get_token(&req).await.unwrap();
        assert_eq!(got.token().access_token.secret(), API_TOKEN);
        assert_eq!(got.source(), TokenSource::Exchange);
    }
}

#[tokio::test]
async fn invariant_3_entry_never_outlives_the_subject_token() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(2)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let req = request(USER_A_TOKEN)
        .with_subject_expires_at(SystemTime::now() + Duration::from_millis(500));
    assert!(!cache.get_token(&req).await.unwrap().from_cache());
    assert!(cache.get_token(&req).await.unwrap().from_cache());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!cache.get_token(&req).await.unwrap().from_cache());
}

#[tokio::test]
async fn invariant_3_failed_exchange_is_not_cached() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(oauth_error(400, "invalid_request", "Invalid subject token"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let cache = cache(&server);
    let req = request(USER_A_TOKEN);
    let err = cache.get_token(&req).await.unwrap_err();
    assert!(matches!(err, ExchangeError::InvalidRequest(_)), "{err:?}");
    let ok = cache.get_token(&req).await.unwrap();
    assert_eq!(ok.source(), TokenSource::Exchange);
    let stats = cache.stats();
    assert_eq!(stats.exchanges, 2);
    assert_eq!(stats.failures.get("invalid_request"), Some(&1));
    assert_eq!(stats.failures_total(), 1);
}

#[tokio::test]
async fn invalidate_makes_the_next_call_exchange_afresh() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(2)
        .mount(&server)
        .await;
    let cache = cache(&server);
    let req = request(USER_A_TOKEN);
    cache.get_token(&req).await.unwrap();
    assert!(cache.get_token(&req).await.unwrap().from_cache());
    cache.invalidate(&req).await;
    assert_eq!(
        cache.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange
    );
}

#[tokio::test]
async fn cache_is_bounded_by_max_entries() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(200)
        .mount(&server)
        .await;
    let cache = TokenCache::new(
        Arc::new(client(&server)),
        CacheOptions::default().max_entries(10),
    );
    for user in 0..200 {
        let req = ExchangeRequest::new(format!("user-token-{user}"), API_AUDIENCE).unwrap();
        cache.get_token(&req).await.unwrap();
    }
    cache.run_pending_tasks().await;
    let stats = cache.stats();
    assert!(stats.entry_count <= 10, "{stats:?}");
    assert_eq!(stats.exchanges, 200);
}

#[test]
fn options_report_what_was_set() {
    let options = CacheOptions::default();
    assert_eq!(options.get_max_entries(), 10_000);
    assert_eq!(options.get_skew(), Duration::from_secs(60));
    let options = options.max_entries(7).skew(Duration::from_secs(5));
    assert_eq!(options.get_max_entries(), 7);
    assert_eq!(options.get_skew(), Duration::from_secs(5));
}

/// The key is exactly the documented digest: SHA-256 over a version tag, then each of
/// client id, subject token, audience, normalised scope and organization prefixed by its
/// length. A shared store (Redis) keys entries by these bytes, so they must not drift.
#[test]
fn the_cache_key_is_sha256_over_length_prefixed_fields() {
    use auth0_obo::TokenCacheKey;
    use aws_lc_rs::digest;

    let request = ExchangeRequest::new("user-token", "https://api.example.com/")
        .unwrap()
        .with_scope("read:private")
        .with_organization("org_1")
        .unwrap();
    let mut expected = b"auth0-obo/token-cache-key/v2".to_vec();
    for field in [
        "client-1",
        "user-token",
        "https://api.example.com/",
        "read:private",
        "org_1",
    ] {
        expected.extend_from_slice(&(field.len() as u64).to_be_bytes());
        expected.extend_from_slice(field.as_bytes());
    }
    let expected = digest::digest(&digest::SHA256, &expected);
    let key = TokenCacheKey::new("client-1", &request);
    assert_eq!(key.as_bytes().as_slice(), expected.as_ref());
    assert_ne!(
        TokenCacheKey::new("client-2", &request).as_bytes(),
        key.as_bytes()
    );
}

/// Expiry is enforced twice: on read by the wall clock, and by moka, which drops the
/// entry so an expired token does not hold memory until the capacity pushes it out.
#[tokio::test]
async fn an_expired_entry_leaves_the_cache_not_just_the_answers() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 2))
        .mount(&server)
        .await;
    let cache = TokenCache::new(
        Arc::new(client(&server)),
        CacheOptions::default().skew(Duration::from_millis(1700)),
    );
    cache.get_token(&request(USER_A_TOKEN)).await.unwrap();
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().entry_count, 1);
    // moka's timer wheel turns about once a second.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().entry_count, 0, "the expired entry is gone");
}

#[tokio::test]
async fn run_pending_tasks_makes_the_entry_count_exact_and_invalidate_all_empties_it() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let cache = cache(&server);
    for user in 0..5 {
        let req = ExchangeRequest::new(format!("user-token-{user}"), API_AUDIENCE).unwrap();
        cache.get_token(&req).await.unwrap();
    }
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().entry_count, 5);
    cache.invalidate_all();
    let req = ExchangeRequest::new("user-token-0", API_AUDIENCE).unwrap();
    assert_eq!(
        cache.get_token(&req).await.unwrap().source(),
        TokenSource::Exchange,
        "invalidate_all forgot every token"
    );
    cache.run_pending_tasks().await;
    assert_eq!(cache.stats().entry_count, 1);
}

#[tokio::test]
async fn stats_list_only_the_failure_kinds_seen() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let cache = cache(&server);
    cache.get_token(&request(USER_A_TOKEN)).await.unwrap();
    let stats = cache.stats();
    assert!(stats.failures.is_empty(), "{stats:?}");
    assert_eq!(stats.failures_total(), 0);
}

#[test]
fn debug_names_what_is_configured_and_never_the_token() {
    let request = request(USER_A_TOKEN);
    let shown = format!("{request:?}");
    assert!(
        shown.contains("ExchangeRequest") && shown.contains(API_AUDIENCE),
        "{shown}"
    );
    assert!(!shown.contains(USER_A_TOKEN), "{shown}");
}

#[tokio::test]
async fn cache_debug_names_the_client_and_skew() {
    let server = MockServer::start().await;
    let shown = format!("{:?}", cache(&server));
    assert!(
        shown.contains("TokenCache") && shown.contains(CLIENT_ID) && shown.contains("skew"),
        "{shown}"
    );
}
