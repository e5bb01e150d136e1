//! Issue 19, machine callers, end to end: an application's own client-credentials token
//! against the real `mcp-server` and `private-api` binaries. `get_datetime` works;
//! `greet` is a tool error naming the application, and the tenant sees no exchange
//! attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use obo_tests::system::SystemConfig;
use serde_json::json;
use support::{call, connect, text_of};

/// The application calling for itself.
const APP: &str = "agentAppClientId123";

#[tokio::test]
async fn a_client_credentials_token_gets_the_time_and_a_tool_error_from_greet() {
    let system = support::start_system(SystemConfig::default).await;
    let tenant = &system.tenant;
    // As Auth0 issues it: `gty`, `sub` = `{client_id}@clients`, no user claims.
    let token = tenant.client_credentials_token(APP, &["tool:whoami", "tool:greet"]);
    let client = connect(&system.mcp_url(), &token).await;

    let now = call(&client, "get_datetime", json!({})).await;
    assert_eq!(now.is_error, Some(false), "{}", text_of(&now));
    assert!(text_of(&now).ends_with('Z'), "{}", text_of(&now));

    let greet = call(&client, "greet", json!({"name": "Ada"})).await;
    let text = text_of(&greet);
    assert_eq!(greet.is_error, Some(true), "{text}");
    assert!(
        text.contains(&format!("the application \"{APP}\"")),
        "{text}"
    );
    assert!(text.contains("client-credentials"), "{text}");
    assert!(text.contains("sign in as a user"), "{text}");
    assert!(!text.contains(&token), "{text}");
    assert_eq!(tenant.exchange_attempts(), 0);
    client.cancel().await.unwrap();
}
