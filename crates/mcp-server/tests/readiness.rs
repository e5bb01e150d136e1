//! `/readyz` (ready only with the signing keys in hand) against `/healthz` (alive).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Options, TestServer, logs, read};
use jwt_verify::{JwksVerifier, VerifierOptions};
use serde_json::json;

#[tokio::test]
async fn readyz_is_503_with_a_reason_while_the_jwks_is_down_and_200_once_keys_are_fetched() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);

    let answer = read(reqwest::get(server.url("/readyz")).await.unwrap()).await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.body["status"], "not_ready");
    assert_eq!(answer.body["checks"]["configuration"], "ok");
    assert_eq!(answer.body["checks"]["jwks"], "unavailable");
    let reason = answer.body["reason"].as_str().unwrap();
    assert!(reason.contains("signing keys (JWKS)"), "{reason}");
    assert!(reason.contains(server.tenant.issuer()), "{reason}");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    // Liveness does not depend on the tenant.
    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        200
    );

    server.tenant.jwks_down(false);
    let deadline = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        let answer = read(reqwest::get(server.url("/readyz")).await.unwrap()).await;
        if answer.status == 200 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(ready.status, 200, "{ready:?}");
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["checks"]["jwks"], "ok");

    // Once loaded, the keys stay: a tenant outage does not make the instance unready.
    server.tenant.jwks_down(true);
    assert_eq!(
        reqwest::get(server.url("/readyz")).await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn the_first_probe_fetches_the_keys_itself() {
    let server = TestServer::start(Options::default()).await;
    assert_eq!(server.tenant.jwks_fetches(), 0, "nothing fetched at start");
    let answer = read(reqwest::get(server.url("/readyz")).await.unwrap()).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(server.tenant.jwks_fetches(), 1);
}

#[tokio::test]
async fn concurrent_probes_start_one_fetch() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);
    let started = std::time::Instant::now();
    let probes: Vec<_> = (0..8)
        .map(|_| reqwest::get(server.url("/readyz")))
        .collect();
    for probe in futures_join(probes).await {
        assert_eq!(probe.unwrap().status(), 503);
    }
    // One fetch, shared; a failed one is retried only after the 1 s cold backoff, so
    // probes spread over longer (a loaded machine) may add one per second, no more.
    let allowed = 1 + started.elapsed().as_secs();
    let fetches = server.tenant.jwks_fetches();
    assert!(
        (1..=allowed).contains(&fetches),
        "{fetches} fetches for 8 probes in {:?}",
        started.elapsed()
    );
}

async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// jwt-verify's wait after a failed fetch while no keys are cached: the refetch
/// cooldown (30 s by default), but at most 1 s.
const COLD_RETRY_BACKOFF: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_4_hammering_readyz_with_the_jwks_down_fetches_at_most_once_per_backoff() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let hammer_for = Duration::from_millis(2500);
    let mut probers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), server.url("/readyz"));
        probers.spawn(async move {
            let mut probes = 0u64;
            while started.elapsed() < hammer_for {
                let status = client.get(&url).send().await.unwrap().status();
                assert_eq!(status, 503);
                probes += 1;
            }
            probes
        });
    }
    let mut probes = 0;
    while let Some(count) = probers.join_next().await {
        probes += count.unwrap();
    }
    let fetches = server.tenant.jwks_fetches();
    let window = started.elapsed();
    // Each fetch after the first waits out the backoff the previous failure started, so
    // n fetches take more than (n - 1) backoffs.
    let allowed = 1 + window.as_millis() / COLD_RETRY_BACKOFF.as_millis();
    assert!(
        fetches >= 1 && u128::from(fetches) <= allowed,
        "{fetches} JWKS fetches for {probes} probes in {window:?}; the backoff allows {allowed}"
    );
}

#[tokio::test]
async fn finding_7_readyz_turns_503_once_stale_keys_pass_the_bound_then_recovers() {
    let logs = logs::capture();
    // Keys fresh for 50 ms (the tenant's max-age is capped), then usable for 1 s more.
    const TTL: Duration = Duration::from_millis(50);
    const STALENESS: Duration = Duration::from_secs(1);
    let server = TestServer::start_with(Options::default(), |settings, server| {
        server.verifier(
            JwksVerifier::new(
                settings.issuer().clone(),
                settings.audience(),
                VerifierOptions {
                    jwks_min_ttl: Duration::ZERO,
                    jwks_max_ttl: TTL,
                    jwks_max_staleness: STALENESS,
                    ..settings.verifier_options()
                },
            )
            .unwrap(),
        )
    })
    .await;
    let readyz = || async { read(reqwest::get(server.url("/readyz")).await.unwrap()).await };
    let http = server.http();
    let token = server.token("auth0|alice", &["tool:whoami"]);
    let fetched = Instant::now();
    assert_eq!(readyz().await.status, 200);

    server.tenant.jwks_down(true);
    tokio::time::sleep(TTL * 2).await;
    assert_eq!(readyz().await.status, 200, "stale keys within the bound");
    let answer = http.call_tool(Some(&token), "whoami", json!({})).await;
    assert_eq!(answer.status, 200, "{answer:?}");

    tokio::time::sleep_until((fetched + TTL + STALENESS + Duration::from_millis(100)).into()).await;
    for _ in 0..3 {
        let answer = readyz().await;
        assert_eq!(answer.status, 503, "{answer:?}");
        assert_eq!(answer.body["checks"]["jwks"], "unavailable");
        let answer = http.call_tool(Some(&token), "whoami", json!({})).await;
        assert_eq!(answer.status, 503, "{answer:?}");
    }
    let warnings = logs
        .contents()
        .matches("past their maximum staleness")
        .count();
    assert_eq!(warnings, 1, "logged once, not once per request");

    server.tenant.jwks_down(false);
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = readyz().await;
        if answer.status == 200 || Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = http.call_tool(Some(&token), "whoami", json!({})).await;
    assert_eq!(answer.status, 200, "{answer:?}");
}
