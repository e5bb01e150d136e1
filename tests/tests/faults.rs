//! Faults, end to end: the tenant's JWKS and token endpoints, and the private API,
//! misbehave while the real `mcp-server` runs. Each test ends by checking that the
//! server still answers every later request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use obo_tests::Fault;
use obo_tests::keys::TestKey;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::token::forge;
use serde_json::{Value, json};
use support::{Reply, tool_call_body};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

struct Sut {
    system: RunningSystem,
    http: reqwest::Client,
}

async fn start(config: SystemConfig) -> Sut {
    let system = support::start_system(|| config.clone()).await;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    Sut { system, http }
}

async fn sut() -> Sut {
    start(SystemConfig::default()).await
}

/// The exchange and the API get one second (the smallest `UPSTREAM_TIMEOUT_SECS`).
fn one_second_timeout() -> BTreeMap<String, String> {
    BTreeMap::from([("UPSTREAM_TIMEOUT_SECS".to_owned(), "1".to_owned())])
}

impl Sut {
    fn tenant(&self) -> &obo_tests::MockTenant {
        &self.system.tenant
    }

    fn token(&self, sub: &str) -> String {
        self.tenant().token_for(sub, &["tool:whoami", "tool:greet"])
    }

    async fn call(&self, token: &str, tool: &str, arguments: Value) -> Reply {
        let response = self
            .http
            .post(self.system.mcp_url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .bearer_auth(token)
            .json(&tool_call_body(1, tool, arguments))
            .send()
            .await
            .expect("answered within the timeout");
        Reply::read(response).await
    }

    async fn greet(&self, token: &str) -> Reply {
        self.call(token, "greet", json!({"name": "Fault"})).await
    }

    /// A greet that ends in a readable tool error (`isError: true`, HTTP 200).
    async fn greet_fails_readably(&self, token: &str) -> String {
        let reply = self.greet(token).await;
        assert_eq!(
            reply.status, 200,
            "a tool error is a result: {}",
            reply.text
        );
        assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
        let text = reply.tool_text();
        assert!(text.len() > 20, "a sentence a person can act on: {text}");
        assert!(!text.contains(token), "{text}");
        text
    }

    async fn greet_succeeds(&self, token: &str, sub: &str) {
        let reply = self.greet(token).await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["result"]["isError"], false, "{}", reply.text);
        let text = reply.tool_text();
        assert!(
            text.starts_with(&format!("Hello, Fault ({sub})!")),
            "{text}"
        );
    }

    /// `/healthz` answers and a valid call that needs no upstream works.
    async fn assert_still_serving(&self) {
        let health = self
            .http
            .get(format!("{}/healthz", self.system.mcp.base_url()))
            .send()
            .await
            .expect("/healthz answers");
        assert_eq!(health.status(), 200);
        let reply = self
            .call(&self.token("auth0|health"), "whoami", json!({}))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["result"]["isError"], false, "{}", reply.text);
    }
}

// ---------------------------------------------------------------------------------
// The JWKS endpoint
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn jwks_down_after_warm_up_tokens_still_verify() {
    let sut = sut().await;
    sut.greet_succeeds(&sut.token("auth0|warm"), "auth0|warm")
        .await;
    let fetches = sut.tenant().jwks_fetches();
    sut.tenant().jwks_down(true);
    for user in 0..5 {
        let sub = format!("auth0|cached-keys-{user}");
        sut.greet_succeeds(&sut.token(&sub), &sub).await;
    }
    // An unknown kid now cannot be looked up: the token is refused as invalid (the
    // keys we have do not sign it), not answered with a 5xx.
    let stranger = TestKey::rsa("unknown-while-down");
    let token = sut.tenant().user_token("auth0|x").sign(&stranger);
    let reply = sut.call(&token, "whoami", json!({})).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    assert!(sut.tenant().jwks_fetches() <= fetches + 1);
    sut.assert_still_serving().await;
}

/// Polls until `token` verifies again (the verifier shares a cold-start failure for a
/// moment), at most `within`.
async fn wait_until_verifies(sut: &Sut, token: &str, within: Duration) -> Reply {
    let deadline = Instant::now() + within;
    loop {
        let reply = sut.call(token, "whoami", json!({})).await;
        if reply.status == 200 || Instant::now() >= deadline {
            return reply;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A 503 with a JSON reason and `Retry-After`, and no challenge: the token may be fine.
fn assert_unavailable(reply: &Reply) {
    assert_eq!(reply.status, 503, "{}", reply.text);
    assert!(reply.challenge().is_none(), "not a 401 in disguise");
    assert!(
        reply.headers.contains_key("retry-after"),
        "{:?}",
        reply.headers
    );
    assert_eq!(
        reply.json["error"], "temporarily_unavailable",
        "{}",
        reply.text
    );
    let reason = reply.json["error_description"].as_str().unwrap_or_default();
    assert!(reason.contains("keys"), "{reason}");
}

#[tokio::test]
async fn jwks_down_at_cold_start_is_503_with_a_json_reason_then_recovers() {
    let sut = start(SystemConfig {
        jwks_down_at_start: true,
        ..SystemConfig::default()
    })
    .await;
    let token = sut.token("auth0|cold");
    for _ in 0..3 {
        assert_unavailable(&sut.call(&token, "whoami", json!({})).await);
    }
    // Without keys the server cannot tell a good token from a bad one, and says so
    // (503) rather than blaming the client (401). Once the JWKS is back, it recovers.
    sut.tenant().jwks_down(false);
    let reply = wait_until_verifies(&sut, &token, Duration::from_secs(10)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    sut.greet_succeeds(&token, "auth0|cold").await;
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn jwks_answering_garbage_is_503_at_cold_start_and_harmless_after_warm_up() {
    let sut = start(SystemConfig {
        jwks_down_at_start: true,
        ..SystemConfig::default()
    })
    .await;
    let token = sut.token("auth0|garbage");
    sut.tenant().jwks_down(false);
    let garbage = [
        (200, "<html>Service Unavailable</html>".to_owned()),
        (200, "{\"keys\": 42}".to_owned()),
        (
            200,
            "{\"keys\": [{\"kty\": \"RSA\", \"kid\": \"k\", \"n\": \"!!\", \"e\": \"AQAB\"}]}"
                .to_owned(),
        ),
        (200, "{".to_owned()),
        (200, "x".repeat(1024 * 1024)),
        (404, "{\"keys\": []}".to_owned()),
    ];
    for (status, body) in &garbage {
        sut.tenant().jwks_answer(Some((*status, body.clone())));
        let reply = sut.call(&token, "whoami", json!({})).await;
        // The token may be fine: with no usable keys the answer is "try later", never
        // "your token is invalid" (which would send the client to sign in again).
        assert_eq!(
            reply.status, 503,
            "JWKS answer {status} {:.60}: {}",
            body, reply.text
        );
        assert_unavailable(&reply);
    }
    sut.tenant().jwks_answer(None);
    let reply = wait_until_verifies(&sut, &token, Duration::from_secs(10)).await;
    assert_eq!(reply.status, 200, "{}", reply.text);

    // Warm now (both services): garbage on a refetch (an unknown kid) changes nothing
    // for good tokens.
    sut.greet_succeeds(&token, "auth0|garbage").await;
    sut.tenant().jwks_answer(Some((200, "not json".to_owned())));
    let stranger = TestKey::rsa("garbage-kid");
    let bad = sut.tenant().user_token("auth0|x").sign(&stranger);
    let reply = sut.call(&bad, "whoami", json!({})).await;
    assert_eq!(reply.status, 401, "{}", reply.text);
    sut.greet_succeeds(&token, "auth0|garbage").await;
    sut.tenant().jwks_answer(None);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn a_key_rotation_is_picked_up_and_old_tokens_keep_working() {
    let sut = sut().await;
    let before = sut.token("auth0|before");
    sut.greet_succeeds(&before, "auth0|before").await;
    sut.tenant().rotate_keys();
    let after = sut.token("auth0|after");
    sut.greet_succeeds(&after, "auth0|after").await;
    // The old key is still published during the rotation, so the old token verifies.
    let reply = sut.call(&before, "whoami", json!({})).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    // The exchanged tokens the API sees are signed with the new key: still accepted.
    let again = sut.token("auth0|after-2");
    sut.greet_succeeds(&again, "auth0|after-2").await;
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn a_thousand_unknown_kids_in_a_second_refetch_the_jwks_at_most_once() {
    let sut = sut().await;
    sut.greet_succeeds(&sut.token("auth0|warm"), "auth0|warm")
        .await;
    let fetches_before = sut.tenant().jwks_fetches();
    let claims = sut.tenant().user_token("auth0|flood").claims();
    // No crypto needed: the kid is looked up before the signature is checked.
    let tokens: Vec<String> = (0..1000)
        .map(|i| {
            forge::raw(
                &json!({"alg": "RS256", "typ": "JWT", "kid": format!("flood-{i}")}),
                &claims,
                &[7u8; 256],
            )
        })
        .collect();
    let sut = Arc::new(sut);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in tokens.chunks(1000 / 32) {
        let chunk = chunk.to_vec();
        let sut = sut.clone();
        tasks.spawn(async move {
            for token in chunk {
                let reply = sut.call(&token, "whoami", json!({})).await;
                assert_eq!(reply.status, 401, "{}", reply.text);
                let challenge = reply.challenge().unwrap();
                assert_eq!(challenge.get("error"), Some("invalid_token"));
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let elapsed = started.elapsed();
    let refetches = sut.tenant().jwks_fetches() - fetches_before;
    eprintln!("1000 unknown-kid tokens in {elapsed:?}: {refetches} JWKS refetch(es)");
    assert!(refetches <= 1, "{refetches} refetches within one cooldown");
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// The Auth0 token endpoint
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn auth0_429_with_retry_after_is_a_readable_tool_error_then_recovers() {
    let sut = sut().await;
    let token = sut.token("auth0|limited");
    sut.tenant().inject(
        Fault::RateLimited {
            retry_after_secs: 90,
        },
        None,
    );
    let text = sut.greet_fails_readably(&token).await;
    assert!(
        text.contains("rate limit") && text.contains("90 s"),
        "{text}"
    );
    // A short Retry-After is waited out within the deadline, once.
    sut.tenant().clear_faults();
    sut.tenant().inject(
        Fault::RateLimited {
            retry_after_secs: 1,
        },
        Some(1),
    );
    sut.greet_succeeds(&token, "auth0|limited").await;
    assert_eq!(sut.tenant().exchanges_for("auth0|limited"), 1);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn auth0_500_is_a_readable_tool_error_and_not_cached() {
    let sut = sut().await;
    let token = sut.token("auth0|five-hundred");
    sut.tenant().inject(Fault::ServerError, None);
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("Auth0"), "{text}");
    // The first attempt and exactly two retries (auth0-obo's RetryPolicy default).
    assert_eq!(sut.tenant().exchange_attempts(), 3);
    sut.tenant().clear_faults();
    sut.greet_succeeds(&token, "auth0|five-hundred").await;
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn auth0_slower_than_the_exchange_timeout_is_a_readable_tool_error() {
    let sut = start(SystemConfig {
        mcp_env: one_second_timeout(),
        ..SystemConfig::default()
    })
    .await;
    let token = sut.token("auth0|slow-auth0");
    sut.tenant()
        .inject(Fault::Delay(Duration::from_millis(2500)), None);
    let started = Instant::now();
    let text = sut.greet_fails_readably(&token).await;
    let elapsed = started.elapsed();
    assert!(text.contains("Auth0"), "{text}");
    assert!(elapsed < Duration::from_secs(12), "bounded: {elapsed:?}");
    sut.tenant().clear_faults();
    // Let the delayed answers drain, then the same user succeeds.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    sut.greet_succeeds(&token, "auth0|slow-auth0").await;
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn auth0_answering_html_is_a_readable_tool_error() {
    let sut = sut().await;
    let token = sut.token("auth0|html");
    sut.tenant().inject(Fault::NonJson, None);
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("Auth0"), "{text}");
    assert!(!text.contains("<html"), "the page is not echoed: {text}");
    sut.tenant().clear_faults();
    sut.greet_succeeds(&token, "auth0|html").await;
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn auth0_success_without_access_token_is_a_readable_tool_error() {
    let sut = sut().await;
    let token = sut.token("auth0|no-token");
    sut.tenant().inject(Fault::MissingAccessToken, None);
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("access_token"), "{text}");
    sut.tenant().clear_faults();
    sut.greet_succeeds(&token, "auth0|no-token").await;
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// The private API (a wiremock stand-in where it must misbehave)
// ---------------------------------------------------------------------------------

async fn with_api_stand_in(extra_env: BTreeMap<String, String>) -> (Sut, MockServer) {
    let api = MockServer::start().await;
    let sut = start(SystemConfig {
        api_base_url_override: Some(api.uri()),
        mcp_env: extra_env,
        ..SystemConfig::default()
    })
    .await;
    (sut, api)
}

async fn api_requests(api: &MockServer) -> Vec<wiremock::Request> {
    api.received_requests().await.expect("recording is on")
}

#[tokio::test]
async fn the_private_api_down_is_a_readable_tool_error() {
    let mut sut = sut().await;
    let token = sut.token("auth0|api-down");
    sut.system
        .api
        .terminate(Duration::from_secs(10))
        .await
        .unwrap();
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("unreachable"), "{text}");
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("API_BASE_URL"), "{text}");
    assert_eq!(
        sut.tenant().exchanges(),
        1,
        "the exchanged token stays cached"
    );
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn the_private_api_slower_than_the_timeout_is_a_readable_tool_error() {
    let (sut, api) = with_api_stand_in(one_second_timeout()).await;
    Mock::given(method("GET"))
        .and(path("/api/private-scope"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(3))
                .set_body_json(json!({"msg": "too late", "sub": "auth0|slow-api", "scopes": []})),
        )
        .mount(&api)
        .await;
    let token = sut.token("auth0|slow-api");
    let started = Instant::now();
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("in time"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn the_private_api_answering_401_gets_one_fresh_exchange_and_one_retry() {
    let (sut, api) = with_api_stand_in(BTreeMap::new()).await;
    Mock::given(method("GET"))
        .and(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="revoked""#,
        ))
        .mount(&api)
        .await;
    let token = sut.token("auth0|revoked");
    let text = sut.greet_fails_readably(&token).await;
    assert!(text.contains("refused"), "{text}");
    assert_eq!(
        sut.tenant().exchanges_for("auth0|revoked"),
        2,
        "one fresh exchange"
    );
    let requests = api_requests(&api).await;
    assert_eq!(requests.len(), 2, "one retry, no more");
    // Two different exchanged tokens were tried, and never the user's own.
    let sent: Vec<String> = requests
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_ne!(sent[0], sent[1]);
    assert!(sent.iter().all(|s| !s.contains(&token)));
    let issued = sut.tenant().issued_tokens();
    assert!(
        sent.iter()
            .all(|s| issued.iter().any(|t| s == &format!("Bearer {t}")))
    );
    sut.assert_still_serving().await;
}

/// A broken upstream whose error page echoes the request's `Authorization` header, as
/// some debugging proxies do.
struct EchoAuthorization(u16);

impl wiremock::Respond for EchoAuthorization {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        ResponseTemplate::new(self.0).set_body_string(format!(
            "<h1>upstream broke</h1> request had {authorization}"
        ))
    }
}

#[tokio::test]
async fn the_private_api_answering_5xx_is_a_readable_tool_error() {
    let (sut, api) = with_api_stand_in(BTreeMap::new()).await;
    for (i, status) in [500u16, 502, 503].into_iter().enumerate() {
        api.reset().await;
        Mock::given(method("GET"))
            .and(path("/api/private-scope"))
            .respond_with(EchoAuthorization(status))
            .mount(&api)
            .await;
        let token = sut.token(&format!("auth0|five-{i}"));
        let text = sut.greet_fails_readably(&token).await;
        assert!(text.contains(&status.to_string()), "{text}");
        // The upstream echoed the exchanged token in its error page: it is cut out.
        let issued = sut.tenant().issued_tokens();
        let exchanged = issued.last().unwrap();
        assert!(!text.contains(exchanged.as_str()), "{text}");
        assert!(!text.contains(&exchanged[exchanged.len() - 20..]), "{text}");
        assert!(text.contains("[redacted]"), "{text}");
        // A 5xx is reported, not retried: only a 401 earns one fresh exchange.
        assert_eq!(api_requests(&api).await.len(), 1);
    }
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_client_disconnecting_mid_request_does_no_harm() {
    let sut = sut().await;
    let token = sut.token("auth0|gone");
    sut.tenant()
        .inject(Fault::Delay(Duration::from_millis(1500)), Some(1));
    // Drop the request while the server waits on Auth0.
    let abandoned = tokio::time::timeout(Duration::from_millis(300), sut.greet(&token)).await;
    assert!(abandoned.is_err(), "the request was still in flight");
    // Many more hang-ups, mid-flight, in parallel.
    sut.tenant()
        .inject(Fault::Delay(Duration::from_millis(800)), Some(10));
    let mut hangups = tokio::task::JoinSet::new();
    let sut = Arc::new(sut);
    for i in 0..10 {
        let sut = sut.clone();
        hangups.spawn(async move {
            let token = sut.token(&format!("auth0|gone-{i}"));
            let _ = tokio::time::timeout(Duration::from_millis(100), sut.greet(&token)).await;
        });
    }
    while let Some(done) = hangups.join_next().await {
        done.unwrap();
    }
    // Meanwhile and afterwards, the server serves; the abandoned exchange either
    // completed (and is cached) or not, and the user's next call works either way.
    sut.assert_still_serving().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    sut.greet_succeeds(&token, "auth0|gone").await;
    assert!(sut.tenant().exchanges_for("auth0|gone") <= 2);
    sut.assert_still_serving().await;
}
