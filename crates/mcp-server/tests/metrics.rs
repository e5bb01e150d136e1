//! `GET /metrics`: the series a session produces, their labels, and what never appears
//! in them (a user id, a token, a secret); and `METRICS_ADDR` moving them off the main
//! listener.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Options, Prepared, TestServer, closed_port, tool_text};
use obo_tests::tenant::Fault;
use serde_json::json;

/// The value of the series `name` whose labels are exactly `labels`.
fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    wanted.sort();
    body.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (series_name, mut got) = match series.split_once('{') {
                Some((n, rest)) => (
                    n,
                    rest.trim_end_matches('}')
                        .split(',')
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect::<Vec<_>>(),
                ),
                None => (series, Vec::new()),
            };
            got.sort();
            (series_name == name && got == wanted).then(|| value.parse().ok())?
        })
}

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn a_session_shows_in_every_series_with_bounded_labels_and_no_user_or_token() {
    let server = TestServer::start(Options::default()).await;
    let http = server.http();
    let alice = server.full_token("auth0|alice-metrics");
    let bob = server.full_token("auth0|bob-metrics");
    let narrow = server.token("auth0|carol-metrics", &["tool:whoami"]);
    let expired = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|dave-metrics")
            .issued_ago(7200)
            .expires_in(-3600),
    );

    let (_, is_error) = tool_text(&http.call_tool(Some(&alice), "whoami", json!({})).await);
    assert!(!is_error);
    for _ in 0..2 {
        let (text, is_error) = tool_text(&http.call_tool(Some(&alice), "greet", json!({})).await);
        assert!(!is_error, "{text}");
    }
    server.tenant.inject(
        Fault::OAuthError {
            status: 403,
            error: "access_denied".into(),
            description: "no client grant".into(),
        },
        Some(1),
    );
    let (_, is_error) = tool_text(&http.call_tool(Some(&bob), "greet", json!({})).await);
    assert!(is_error);
    assert_eq!(
        http.call_tool(Some(&narrow), "greet", json!({}))
            .await
            .status,
        403
    );
    assert_eq!(
        http.call_tool(Some(&expired), "whoami", json!({}))
            .await
            .status,
        401
    );
    assert_eq!(http.call_tool(None, "whoami", json!({})).await.status, 401);
    let secret_path = reqwest::get(server.url("/no-such-route/auth0%7Calice?token=sekrit"))
        .await
        .unwrap();
    assert_eq!(secret_path.status(), 404);

    let body = scrape(&server.url("/metrics")).await;
    let v = |name: &str, labels: &[(&str, &str)]| value(&body, name, labels);

    // Requests by route template and status; an unmatched path is never its own label.
    assert_eq!(
        v(
            "http_requests_total",
            &[("route", "/mcp"), ("status", "200")]
        ),
        Some(4.0),
        "{body}"
    );
    assert_eq!(
        v(
            "http_requests_total",
            &[("route", "/mcp"), ("status", "401")]
        ),
        Some(2.0)
    );
    assert_eq!(
        v(
            "http_requests_total",
            &[("route", "/mcp"), ("status", "403")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert!(!body.contains("no-such-route"), "{body}");
    assert_eq!(
        v("http_request_duration_seconds_count", &[("route", "/mcp")]),
        Some(7.0)
    );

    // Verifications: five good tokens, one expired (the request without a token
    // verified nothing).
    assert_eq!(
        v("token_verifications_total", &[("outcome", "ok")]),
        Some(5.0)
    );
    assert_eq!(
        v("token_verifications_total", &[("outcome", "expired")]),
        Some(1.0)
    );

    // Exchanges: alice's once (then cached), bob's refused.
    assert_eq!(v("token_exchanges_total", &[("outcome", "ok")]), Some(1.0));
    assert_eq!(
        v("token_exchanges_total", &[("outcome", "access_denied")]),
        Some(1.0)
    );
    assert_eq!(v("exchanged_token_cache_hits_total", &[]), Some(1.0));
    assert_eq!(v("exchanged_token_cache_misses_total", &[]), Some(2.0));
    // alice's token is cached; bob's refusal is not.
    assert_eq!(v("exchanged_token_cache_entries", &[]), Some(1.0), "{body}");

    // Tools by tool and outcome, with latency.
    assert_eq!(
        v("tool_calls_total", &[("tool", "greet"), ("outcome", "ok")]),
        Some(2.0)
    );
    assert_eq!(
        v(
            "tool_calls_total",
            &[("tool", "greet"), ("outcome", "exchange_error")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "tool_calls_total",
            &[("tool", "greet"), ("outcome", "insufficient_scope")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v("tool_calls_total", &[("tool", "whoami"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(
        v("tool_call_duration_seconds_count", &[("tool", "greet")]),
        Some(3.0)
    );
    assert_eq!(
        v(
            "tool_call_duration_seconds_bucket",
            &[("tool", "greet"), ("le", "+Inf")]
        ),
        Some(3.0)
    );

    // The private API: two calls, both answered.
    assert_eq!(
        v("api_calls_total", &[("api", "default"), ("status", "2xx")]),
        Some(2.0)
    );
    assert_eq!(
        v("api_call_duration_seconds_count", &[("api", "default")]),
        Some(2.0)
    );

    // JWKS fetched once, keys loaded.
    assert_eq!(v("jwks_fetches_total", &[("outcome", "ok")]), Some(1.0));
    assert_eq!(v("jwks_fetches_total", &[("outcome", "failed")]), Some(0.0));
    assert_eq!(v("jwks_keys_loaded", &[]), Some(1.0));
    // The in-process server logs to the test's subscriber, not the writer thread.
    assert_eq!(v("log_lines_dropped_total", &[]), Some(0.0));

    // The verified-token cache: alice's token verified in full twice (admitted on the
    // second), then served from the cache; bob's and carol's, seen once, and the
    // expired one are verified in full and not cached.
    assert_eq!(v("verified_token_cache_hits_total", &[]), Some(1.0));
    assert_eq!(v("verified_token_cache_misses_total", &[]), Some(5.0));
    assert_eq!(v("verified_token_cache_entries", &[]), Some(1.0));

    // Every series is described.
    for name in [
        "http_requests_total",
        "token_verifications_total",
        "token_exchanges_total",
        "tool_calls_total",
        "tool_call_duration_seconds",
        "api_calls_total",
        "jwks_fetches_total",
        "verified_token_cache_hits_total",
        "verified_token_cache_misses_total",
        "verified_token_cache_entries",
        "log_lines_dropped_total",
    ] {
        assert!(body.contains(&format!("# HELP {name} ")), "{name}: {body}");
    }

    // No user, client, token or secret anywhere.
    for forbidden in [
        "alice",
        "bob",
        "carol",
        "dave",
        "auth0|",
        "auth0%7C",
        "sekrit",
        alice.as_str(),
        server.tenant.client_secret(),
        server.tenant.client_id(),
        "mcp-inspector",
    ] {
        assert!(!body.contains(forbidden), "{forbidden:?} in {body}");
    }
    // Nor any piece of a token: their base64url header is long and distinctive.
    let header = alice.split('.').next().unwrap();
    assert!(!body.contains(&header[..20]), "{body}");
}

#[tokio::test]
async fn a_failing_private_api_is_counted_by_status() {
    let server = TestServer::start(Options {
        api_base_url: Some(format!("http://127.0.0.1:{}", closed_port())),
        ..Options::default()
    })
    .await;
    let alice = server.full_token("auth0|alice");
    let (_, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&alice), "greet", json!({}))
            .await,
    );
    assert!(is_error);
    let body = scrape(&server.url("/metrics")).await;
    assert_eq!(
        value(
            &body,
            "api_calls_total",
            &[("api", "default"), ("status", "transport")]
        ),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        value(
            &body,
            "tool_calls_total",
            &[("tool", "greet"), ("outcome", "api_error")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn each_server_counts_only_its_own_requests() {
    let one = TestServer::start(Options::default()).await;
    let two = TestServer::start(Options::default()).await;
    for _ in 0..3 {
        reqwest::get(one.url("/healthz")).await.unwrap();
    }
    let body = scrape(&two.url("/metrics")).await;
    assert_eq!(
        value(
            &body,
            "http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ),
        None,
        "{body}"
    );
    let body = scrape(&one.url("/metrics")).await;
    assert_eq!(
        value(
            &body,
            "http_requests_total",
            &[("route", "/healthz"), ("status", "200")]
        ),
        Some(3.0)
    );
}

#[tokio::test]
async fn with_metrics_addr_the_metrics_leave_the_main_listener() {
    let mut prepared = Prepared::new(&Options::default()).await;
    let metrics_port = closed_port();
    prepared.reconfigure(|args| args.metrics_addr = Some(format!("127.0.0.1:{metrics_port}")));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let base = prepared.base.clone();
    let server = common::serve(prepared.settings, prepared.listener, async move {
        let _ = stopped.await;
    });

    // The metrics listener comes up alongside the main one.
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let mut body = None;
    for _ in 0..100 {
        if let Ok(response) = reqwest::get(&metrics_url).await {
            body = Some(response.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = body.expect("the metrics listener answers");
    assert!(body.contains("# HELP jwks_fetches_total"), "{body}");

    let main = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(
        main.status(),
        404,
        "/metrics must not be on the main listener"
    );
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    // The main listener's requests are counted in the same series.
    let body = scrape(&metrics_url).await;
    assert_eq!(
        value(
            &body,
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0),
        "{body}"
    );
    // serve() fetched the keys at start, before any token arrived.
    let mut loaded = None;
    for _ in 0..100 {
        loaded = value(&scrape(&metrics_url).await, "jwks_keys_loaded", &[]);
        if loaded == Some(1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(loaded, Some(1.0));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn issue_15_without_a_redis_url_no_shared_tier_series_is_exported() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice-single");
    let (_, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "greet", json!({}))
            .await,
    );
    assert!(!is_error);
    let body = scrape(&server.url("/metrics")).await;
    assert_eq!(
        value(&body, "exchanged_token_cache_misses_total", &[]),
        Some(1.0),
        "{body}"
    );
    for series in [
        "exchanged_token_cache_l2_",
        "exchanged_token_cache_lock_",
        "token_exchange_budget_",
    ] {
        assert!(!body.contains(series), "{series} in:\n{body}");
    }
}
