//! Fetching, caching and rotating the issuer's keys, and surviving a hostile or absent
//! JWKS endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{
    AUDIENCE, Fixture, STALENESS, TTL, assert_refused, fast_options, staleness_options,
    wait_past_the_bound,
};
use oauth_jwt_verify::{
    ConfigError, Issuer, JwksError, JwksLocation, JwksStats, JwksVerifier, StaticJwks,
    VerifierOptions, VerifyError,
};
use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn keys_are_fetched_once_and_cached() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    assert!(!verifier.has_keys());
    for _ in 0..5 {
        verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    }
    // Clones share the cache.
    verifier
        .clone()
        .verify(&fx.token().sign(&fx.key))
        .await
        .unwrap();
    assert!(verifier.has_keys());
    assert_eq!(fx.jwks_requests().await, 1);
    assert_eq!(counters(verifier.jwks_stats()), (1, 0, 0));
}

#[tokio::test]
async fn rotated_key_is_accepted_after_one_refetch() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    let rotated = TestKey::rsa("key-2");
    fx.publish(&[&fx.key, &rotated]);
    verifier.verify(&fx.token().sign(&rotated)).await.unwrap();
    assert_eq!(fx.jwks_requests().await, 2);
    assert_eq!(verifier.jwks_stats().unknown_kid_refetches, 1);
    // The new key is now cached: no further fetches.
    verifier.verify(&fx.token().sign(&rotated)).await.unwrap();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert_eq!(fx.jwks_requests().await, 2);
}

#[tokio::test]
async fn a_key_dropped_from_the_jwks_stops_verifying_once_the_rotation_is_seen() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let old_token = fx.token().sign(&fx.key);
    verifier.verify(&old_token).await.unwrap();

    // The tenant rotates and withdraws the old key: only the new one is published.
    let rotated = TestKey::rsa("key-2");
    fx.publish(&[&rotated]);
    verifier.verify(&fx.token().sign(&rotated)).await.unwrap();
    assert_eq!(fx.jwks_requests().await, 2, "one refetch for the new kid");

    // The verifier has learnt the new key set, so the withdrawn key is gone with it.
    assert!(
        matches!(
            verifier.verify(&old_token).await,
            Err(VerifyError::UnknownKey)
        ),
        "a token signed by the withdrawn key must not verify"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_unknown_kid_tokens_at_once_cause_at_most_one_refetch() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    verifier.refresh_keys().await.unwrap();
    let stranger = TestKey::rsa("stranger");
    let token = fx.token().sign(&stranger);

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..500 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(matches!(result.unwrap(), Err(VerifyError::UnknownKey)));
    }
    assert_eq!(
        fx.jwks_requests().await,
        2,
        "warm-up plus exactly one refetch"
    );
    assert_eq!(verifier.jwks_stats().unknown_kid_refetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_kid_requests_waiting_on_a_slow_refetch_share_its_result() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(fast_options()); // cooldown 300 ms
    verifier.refresh_keys().await.unwrap();
    // The refetch outlasts the cooldown: waiters must not start their own afterwards.
    fx.delay(Duration::from_millis(500));
    let rotated = TestKey::rsa("key-2");
    fx.publish(&[&fx.key, &rotated]);
    let token = fx.token().sign(&rotated);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await.map(|_| ()) });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(
        fx.jwks_requests().await,
        2,
        "warm-up plus one shared refetch"
    );
    assert_eq!(verifier.jwks_stats().unknown_kid_refetches, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_cold_start_verifications_share_one_fetch() {
    let fx = Fixture::new().await;
    fx.server.reset().await;
    Mock::given(method("GET"))
        .and(path(common::JWKS_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(jwks_json(&[&fx.key]))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&fx.server)
        .await;
    let verifier = fx.verifier();
    let token = fx.token().sign(&fx.key);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await.map(|_| ()) });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(fx.jwks_requests().await, 1);
}

#[tokio::test]
async fn unknown_kid_refetch_is_rate_limited_by_the_cooldown() {
    let fx = Fixture::new().await;
    // A cooldown long enough that a busy machine cannot outlast it between two calls.
    let cooldown = Duration::from_secs(1);
    let verifier = fx.verifier_with(VerifierOptions {
        refetch_cooldown: cooldown,
        ..fast_options()
    });
    verifier.refresh_keys().await.unwrap();
    let first = fx.token().sign(&TestKey::rsa("unknown-1"));
    let second = fx.token().sign(&TestKey::rsa("unknown-2"));
    assert_refused(verifier.verify(&first).await, &first, "unknown_kid");
    assert_refused(verifier.verify(&second).await, &second, "unknown_kid");
    assert_eq!(
        fx.jwks_requests().await,
        2,
        "the second unknown kid is within the cooldown"
    );

    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    assert_refused(verifier.verify(&second).await, &second, "unknown_kid");
    assert_eq!(fx.jwks_requests().await, 3);
    assert_eq!(verifier.jwks_stats().unknown_kid_refetches, 2);
}

#[tokio::test]
async fn jwks_down_after_warm_up_keeps_verifying_with_cached_keys() {
    let fx = Fixture::new().await;
    let cooldown = Duration::from_secs(1);
    let verifier = fx.verifier_with(VerifierOptions {
        jwks_ttl: Duration::from_millis(50),
        refetch_cooldown: cooldown,
        ..fast_options()
    });
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    fx.fail_with(503);
    tokio::time::sleep(Duration::from_millis(100)).await; // the keys are now stale
    for _ in 0..3 {
        verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    }
    assert_eq!(
        counters(verifier.jwks_stats()),
        (1, 1, 0),
        "one refresh attempt, then retries wait for the cooldown"
    );
    assert!(verifier.refresh_keys().await.is_err());
    assert!(verifier.has_keys());
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    // Once the endpoint recovers, a stale cache is refreshed again.
    fx.publish(&[&fx.key]);
    tokio::time::sleep(cooldown + Duration::from_millis(50)).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert_eq!(verifier.jwks_stats().fetches_ok, 2);
}

#[tokio::test]
async fn jwks_down_at_cold_start_is_a_server_side_error() {
    let fx = Fixture::new().await;
    fx.fail_with(500);
    let verifier = fx.verifier();
    let token = fx.token().sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert_eq!(
        error.error_code(),
        None,
        "not the client's fault: no invalid_token"
    );
    assert!(matches!(
        &error,
        VerifyError::KeysUnavailable(JwksError::Status { status: 500, .. })
    ));
    assert!(!verifier.has_keys());
    assert_eq!(verifier.jwks_stats().fetches_failed, 1);
    // A request right behind a failure shares it rather than hitting the endpoint again.
    assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert_eq!(verifier.jwks_stats().fetches_failed, 1);
    assert_eq!(fx.jwks_requests().await, 1);

    // Nothing listening at all (wiremock pools its servers, so free a port ourselves).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = Issuer::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
    drop(listener);
    let verifier = JwksVerifier::new(issuer.clone(), AUDIENCE, fast_options()).unwrap();
    let token = TokenBuilder::new(issuer.as_str(), AUDIENCE).sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert!(matches!(
        error,
        VerifyError::KeysUnavailable(JwksError::Transport(_))
    ));
    assert!(matches!(
        verifier.refresh_keys().await,
        Err(JwksError::Transport(_))
    ));

    // Recovery: the endpoint comes back and the next request fetches.
    fx.publish(&[&fx.key]);
    fx.verifier()
        .verify(&fx.token().sign(&fx.key))
        .await
        .unwrap();
}

#[tokio::test]
async fn cache_control_max_age_drives_the_cache_lifetime() {
    let fx = Fixture::new().await;
    // Long max-age beats a zero default TTL: one fetch.
    fx.cache_control("public, max-age=3600");
    let verifier = fx.verifier_with(VerifierOptions {
        jwks_ttl: Duration::ZERO,
        ..fast_options()
    });
    for _ in 0..3 {
        verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    }
    assert_eq!(fx.jwks_requests().await, 1);

    // max-age=0 with no floor: every verification refreshes.
    fx.cache_control("max-age=0");
    let verifier = fx.verifier_with(fast_options());
    for _ in 0..3 {
        verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    }
    assert_eq!(fx.jwks_requests().await, 4);

    // The default 30 s floor stops max-age=0 from causing a fetch per request.
    let verifier = fx.verifier();
    for _ in 0..3 {
        verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    }
    assert_eq!(fx.jwks_requests().await, 5);
}

#[tokio::test]
async fn hostile_jwks_entries_are_skipped_and_good_keys_still_work() {
    let fx = Fixture::new().await;
    let good = fx.key.jwk();
    let impostor = TestKey::rsa(fx.key.kid());
    let ec = TestKey::ec_p256("ec").jwk();
    let with = |changes: serde_json::Value| {
        let mut jwk = good.clone();
        for (k, v) in changes.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    };
    let hostile = json!({"keys": [
        "not an object",
        42,
        null,
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"},
        with(json!({"kid": "enc", "use": "enc"})),
        with(json!({"kid": "ops", "key_ops": ["encrypt"]})),
        with(json!({"kid": "rs512", "alg": "RS512"})),
        with(json!({"kid": "none", "alg": "none"})),
        with(json!({"kid": "es-on-rsa", "alg": "ES256"})),
        with(json!({"kid": "bad-n", "n": "!!!not base64!!!"})),
        with(json!({"kid": "n-number", "n": 12345})),
        with(json!({"kid": "short-n", "n": "AQAB"})),
        with(json!({"kid": "huge-e", "e": "AQABAQABAQABAQAB"})),
        with(json!({"kid": ["array"]})),
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": ec["x"], "y": ec["y"]},
        {"kty": "EC", "crv": "P-256", "kid": "short-x", "x": "AQAB", "y": ec["y"]},
        {"kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
        good,
        // A later key reusing the kid must not replace the first.
        impostor.jwk(),
    ]});
    fx.publish_json(&hostile);
    let verifier = fx.verifier_with(VerifierOptions {
        algorithms: vec![
            oauth_jwt_verify::Algorithm::RS256,
            oauth_jwt_verify::Algorithm::ES256,
        ],
        ..fast_options()
    });
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    let forged = fx.token().sign(&impostor);
    assert_refused(verifier.verify(&forged).await, &forged, "bad_signature");
    for kid in [
        "enc",
        "ops",
        "rs512",
        "bad-n",
        "short-n",
        "huge-e",
        "p384",
        "short-x",
        "es-on-rsa",
    ] {
        let token = fx.token().header("kid", kid).sign(&fx.key);
        assert_refused(verifier.verify(&token).await, &token, "unknown_kid");
    }
    let hmac = fx.token().sign_hs256(b"secret", Some("hmac"));
    assert_refused(verifier.verify(&hmac).await, &hmac, "unsupported_alg");
}

#[tokio::test]
async fn only_the_first_hundred_jwks_entries_are_considered() {
    let fx = Fixture::new().await;
    let filler = |count: usize| -> Vec<serde_json::Value> {
        (0..count)
            .map(|i| {
                let mut jwk = fx.key.jwk();
                jwk["kid"] = json!(format!("filler-{i}"));
                jwk
            })
            .collect()
    };
    let mut late = filler(120);
    late.push(fx.key.jwk());
    fx.publish_json(&json!({ "keys": late }));
    let token = fx.token().sign(&fx.key);
    assert_refused(fx.verifier().verify(&token).await, &token, "unknown_kid");

    let mut early = filler(5);
    early.push(fx.key.jwk());
    early.extend(filler(200));
    fx.publish_json(&json!({ "keys": early }));
    fx.verifier().verify(&token).await.unwrap();
}

#[tokio::test]
async fn jwks_without_usable_keys_or_too_large_is_a_failed_fetch() {
    let fx = Fixture::new().await;
    let token = fx.token().sign(&fx.key);
    for (document, expected) in [
        (json!({"keys": []}), "no usable"),
        (
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}),
            "no usable",
        ),
        (json!({"keys": "nope"}), "not a valid document"),
        (json!([1, 2, 3]), "not a valid document"),
    ] {
        fx.publish_json(&document);
        let verifier = fx.verifier();
        let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.contains(expected), "{document}: {source}");
        assert_eq!(verifier.jwks_stats().fetches_failed, 1);
    }

    fx.publish(&[&fx.key]);
    let verifier = fx.verifier_with(VerifierOptions {
        max_jwks_bytes: 256,
        ..fast_options()
    });
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert!(matches!(
        error,
        VerifyError::KeysUnavailable(JwksError::TooLarge { limit: 256 })
    ));
}

#[tokio::test]
async fn a_bad_jwks_refresh_does_not_replace_good_cached_keys() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    verifier.refresh_keys().await.unwrap();
    fx.publish_json(&json!({"keys": []}));
    assert!(matches!(
        verifier.refresh_keys().await,
        Err(JwksError::NoUsableKeys)
    ));
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
}

#[tokio::test]
async fn oidc_discovery_finds_the_jwks_uri() {
    let fx = Fixture::new().await;
    let discovery = Mock::given(method("GET")).and(path("/.well-known/openid-configuration"));
    discovery
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": fx.issuer(),
            "jwks_uri": format!("{}/keys/current", fx.server.uri()),
        })))
        .mount(&fx.server)
        .await;
    Mock::given(method("GET"))
        .and(path("/keys/current"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks_json(&[&fx.key])))
        .mount(&fx.server)
        .await;
    let verifier = fx.verifier_with(VerifierOptions {
        jwks: JwksLocation::Discover,
        ..fast_options()
    });
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    verifier.refresh_keys().await.unwrap();
    assert_eq!(fx.requests_to("/keys/current").await, 2);
    assert_eq!(
        fx.requests_to("/.well-known/openid-configuration").await,
        1,
        "jwks_uri is remembered"
    );
    assert_eq!(fx.jwks_requests().await, 0);
}

#[tokio::test]
async fn oidc_discovery_document_for_another_issuer_is_refused() {
    let fx = Fixture::new().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": "https://evil.example/",
            "jwks_uri": format!("{}/.well-known/jwks.json", fx.server.uri()),
        })))
        .mount(&fx.server)
        .await;
    let verifier = fx.verifier_with(VerifierOptions {
        jwks: JwksLocation::Discover,
        ..fast_options()
    });
    let token = fx.token().sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert!(matches!(
        error,
        VerifyError::KeysUnavailable(JwksError::Discovery(_))
    ));
    assert_eq!(fx.jwks_requests().await, 0);
}

#[tokio::test]
async fn explicit_jwks_url_is_used() {
    let fx = Fixture::new().await;
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/custom/jwks"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks_json(&[&fx.key])))
        .expect(1)
        .mount(&other)
        .await;
    let verifier = fx.verifier_with(VerifierOptions {
        jwks: JwksLocation::Url(format!("{}/custom/jwks", other.uri())),
        ..fast_options()
    });
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert_eq!(fx.jwks_requests().await, 0);
}

#[tokio::test]
async fn static_key_set_verifies_without_any_http() {
    let key = TestKey::ec_p256("pinned");
    let issuer = Issuer::parse("tenant.example.com").unwrap();
    let verifier = JwksVerifier::with_source(
        issuer.clone(),
        AUDIENCE,
        VerifierOptions {
            algorithms: vec![oauth_jwt_verify::Algorithm::ES256],
            ..VerifierOptions::default()
        },
        Arc::new(StaticJwks::from_json(&jwks_json(&[&key]))),
    )
    .unwrap();
    let principal = verifier
        .verify(&TokenBuilder::new(issuer.as_str(), AUDIENCE).sign(&key))
        .await
        .unwrap();
    assert_eq!(principal.client_id, obo_tests::token::DEFAULT_CLIENT_ID);
    assert_eq!(verifier.issuer().as_str(), "https://tenant.example.com/");
    assert_eq!(verifier.audience(), AUDIENCE);
}

#[test]
fn invalid_configuration_is_refused_at_construction() {
    let issuer = Issuer::parse("tenant.example.com").unwrap();
    let build = |audience: &str, options: VerifierOptions| {
        JwksVerifier::new(issuer.clone(), audience, options).map(drop)
    };
    assert!(matches!(
        build(" ", VerifierOptions::default()),
        Err(ConfigError::EmptyAudience)
    ));
    let cases = [
        VerifierOptions {
            algorithms: vec![],
            ..VerifierOptions::default()
        },
        VerifierOptions {
            leeway: Duration::from_secs(7200),
            ..VerifierOptions::default()
        },
        VerifierOptions {
            jwks_min_ttl: Duration::from_secs(10),
            jwks_max_ttl: Duration::from_secs(5),
            ..VerifierOptions::default()
        },
        VerifierOptions {
            jwks_max_ttl: Duration::MAX,
            ..VerifierOptions::default()
        },
        VerifierOptions {
            jwks_max_staleness: Duration::from_secs(30 * 24 * 3600 + 1),
            ..VerifierOptions::default()
        },
        VerifierOptions {
            max_token_bytes: 0,
            ..VerifierOptions::default()
        },
        VerifierOptions {
            http_timeout: Duration::ZERO,
            ..VerifierOptions::default()
        },
    ];
    for options in cases {
        assert!(
            matches!(
                build(AUDIENCE, options.clone()),
                Err(ConfigError::InvalidOption(_))
            ),
            "{options:?}"
        );
    }
    for url in [
        "http://keys.example.com/jwks",
        "not a url",
        "file:///etc/jwks.json",
    ] {
        let options = VerifierOptions {
            jwks: JwksLocation::Url(url.into()),
            ..VerifierOptions::default()
        };
        assert!(
            matches!(
                build(AUDIENCE, options),
                Err(ConfigError::InvalidJwksUrl { .. })
            ),
            "{url}"
        );
    }
}

#[tokio::test]
async fn verifier_debug_shows_configuration_not_keys_or_tokens() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    verifier.refresh_keys().await.unwrap();
    let debug = format!("{verifier:?}");
    assert!(
        debug.contains(&fx.issuer())
            && debug.contains(AUDIENCE)
            && debug.contains("has_keys: true"),
        "{debug}"
    );
    assert!(!debug.contains(fx.key.jwk()["n"].as_str().unwrap()));
}

/// Options for the staleness tests: keys fresh for `ttl`, then usable for
/// `staleness` more while the JWKS cannot be refreshed.
#[tokio::test]
async fn finding_7_stale_keys_verify_within_the_bound_and_are_refused_after_it() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(staleness_options(TTL, STALENESS));
    let fetched = std::time::Instant::now();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    fx.fail_with(503);
    tokio::time::sleep(TTL * 2).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert!(verifier.has_keys(), "stale but within the bound");

    wait_past_the_bound(fetched).await;
    assert!(!verifier.has_keys(), "past the bound the keys are gone");
    let token = fx.token().sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert_eq!(error.error_code(), None, "a 503, as with no keys at all");
    assert!(matches!(
        error,
        VerifyError::KeysUnavailable(JwksError::Status { status: 503, .. })
    ));
    assert!(matches!(
        verifier.ensure_keys().await,
        Err(JwksError::Status { status: 503, .. })
    ));

    // Recovery: the next fetch after the cold-start backoff (the cooldown, 300 ms).
    fx.publish(&[&fx.key]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert!(verifier.has_keys());
}

#[tokio::test]
async fn finding_7_an_empty_jwks_does_not_keep_stale_keys_past_the_bound() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(staleness_options(TTL, STALENESS));
    let fetched = std::time::Instant::now();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    fx.publish_json(&json!({"keys": []}));
    tokio::time::sleep(TTL * 2).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    wait_past_the_bound(fetched).await;
    let token = fx.token().sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "jwks_unavailable");
    assert!(matches!(
        error,
        VerifyError::KeysUnavailable(JwksError::NoUsableKeys)
    ));

    fx.publish(&[&fx.key]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
}

#[tokio::test]
async fn finding_7_a_refresh_within_the_bound_starts_a_new_lifetime() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(staleness_options(TTL, STALENESS));
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    fx.fail_with(503);
    tokio::time::sleep(TTL * 2).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();

    // The JWKS answers again before the bound; the refreshed keys get a bound of their
    // own, so the first fetch's bound passing changes nothing.
    fx.publish(&[&fx.key]);
    tokio::time::sleep(Duration::from_millis(400)).await; // past the 300 ms cooldown
    let refreshed = std::time::Instant::now();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert_eq!(verifier.jwks_stats().fetches_ok, 2);
    fx.fail_with(503);
    tokio::time::sleep(STALENESS / 2).await;
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    wait_past_the_bound(refreshed).await;
    assert!(!verifier.has_keys());
}

#[tokio::test]
async fn finding_4_ensure_keys_fetches_no_more_than_verification_does() {
    let fx = Fixture::new().await;
    fx.fail_with(503);
    // The default cooldown (30 s) makes the cold-start backoff 1 s, far longer than
    // this loop, which makes no other request.
    let verifier = fx.verifier();
    for _ in 0..500 {
        assert!(matches!(
            verifier.ensure_keys().await,
            Err(JwksError::Status { status: 503, .. })
        ));
    }
    assert_eq!(
        fx.jwks_requests().await,
        1,
        "one fetch; the other calls share its failure"
    );

    // With keys cached it fetches nothing at all; refresh_keys always does (for
    // `mcp-server check` and warm-ups).
    fx.publish(&[&fx.key]);
    verifier.refresh_keys().await.unwrap();
    for _ in 0..500 {
        verifier.ensure_keys().await.unwrap();
    }
    assert_eq!(fx.jwks_requests().await, 2);
}

/// `(fetches_ok, fetches_failed, unknown_kid_refetches)`: `JwksStats` is
/// `#[non_exhaustive]`, so tests outside the crate cannot build one to compare.
fn counters(stats: JwksStats) -> (u64, u64, u64) {
    (
        stats.fetches_ok,
        stats.fetches_failed,
        stats.unknown_kid_refetches,
    )
}
