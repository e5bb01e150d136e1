//! End-to-end: the mock Auth0 tenant, and `private-api` and `mcp-server` as real
//! processes configured only through their environment. Run by `cargo xtask e2e`
//! and `cargo xtask ci`, which build the binaries first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use obo_tests::system::{RunningSystem, SystemConfig};
use serde_json::{Value, json};
use support::{McpHttp, connect, text_of};

async fn system() -> RunningSystem {
    RunningSystem::start(SystemConfig::default())
        .await
        .expect("the system starts")
}

#[tokio::test]
async fn initialize_then_list_and_call_every_tool() {
    let system = system().await;
    let token = system
        .tenant
        .token_for("auth0|alice", &["tool:whoami", "tool:greet"]);
    let client = connect(&system.mcp_url(), &token).await;

    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, ["get_datetime", "greet", "whoami"]);

    let whoami = support::call(&client, "whoami", json!({})).await;
    let whoami: Value = serde_json::from_str(&text_of(&whoami)).unwrap();
    assert_eq!(whoami["sub"], "auth0|alice");

    let greet = support::call(&client, "greet", json!({"name": "Alice"})).await;
    assert_eq!(greet.is_error, Some(false), "{}", text_of(&greet));
    let text = text_of(&greet);
    assert!(text.starts_with("Hello, Alice (auth0|alice)!"), "{text}");
    let upstream = support::upstream_json(&text);
    assert_eq!(upstream["sub"], "auth0|alice");
    assert_eq!(upstream["actor"]["sub"], system.tenant.client_id());

    let now = support::call(&client, "get_datetime", json!({})).await;
    assert!(text_of(&now).ends_with('Z'));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn stateless_tools_call_needs_no_initialize() {
    let system = system().await;
    let token = system.tenant.token_for("auth0|bob", &["tool:greet"]);
    let http = McpHttp::new(&system.mcp_url());
    let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Hello, there (auth0|bob)!"), "{text}");
    let _ = Duration::ZERO;
}
