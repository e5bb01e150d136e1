//! Graceful shutdown: a request in flight when the signal comes is answered, then
//! `serve` returns. Driven through `Server::serve`, as `main` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{McpHttp, Options, PRIVATE_SCOPE_PATH, Prepared, tool_text};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

#[tokio::test]
async fn shutdown_drains_an_in_flight_tool_call_then_serve_returns() {
    let prepared = Prepared::new(&Options::default()).await;
    // The private API takes a while, so the call is in flight when shutdown starts.
    Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(
                    json!({"msg": "slow", "sub": "auth0|alice", "scopes": ["read:private"]}),
                )
                .set_delay(Duration::from_millis(1500)),
        )
        .with_priority(1)
        .mount(&prepared.api)
        .await;
    let token = prepared.tenant.token_for("auth0|alice", &["tool:greet"]);
    let mcp_url = format!("{}/mcp", prepared.base);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = common::serve(prepared.settings, prepared.listener, async move {
        let _ = stopped.await;
    });

    let call = tokio::spawn(async move {
        McpHttp::new(&mcp_url)
            .call_tool(Some(&token), "greet", json!({}))
            .await
    });
    // Wait until the call has reached the private API, then ask for shutdown.
    let deadline = Instant::now() + Duration::from_secs(5);
    while prepared.api.received_requests().await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the call never reached the API");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.send(()).unwrap();

    let answer = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .expect("the in-flight call is answered")
        .unwrap();
    let (text, is_error) = tool_text(&answer);
    assert!(!is_error, "{text}");
    assert!(text.starts_with("Hello, there (auth0|alice)!"), "{text}");

    let served = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once drained")
        .unwrap();
    assert!(served.is_ok(), "{served:?}");
}
