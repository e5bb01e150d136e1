//! `/readyz` (ready only with the signing keys in hand) against `/healthz` (alive).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Options, TestServer, read};

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
    let probes: Vec<_> = (0..8)
        .map(|_| reqwest::get(server.url("/readyz")))
        .collect();
    for probe in futures_join(probes).await {
        assert_eq!(probe.unwrap().status(), 503);
    }
    assert!(
        server.tenant.jwks_fetches() <= 2,
        "{} fetches for 8 probes",
        server.tenant.jwks_fetches()
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
