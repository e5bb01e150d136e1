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
    support::start_system(SystemConfig::default).await
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
}

#[tokio::test]
async fn missing_scope_gets_403_with_an_insufficient_scope_challenge() {
    let system = system().await;
    let token = system.tenant.token_for("auth0|carol", &["tool:whoami"]);
    let http = McpHttp::new(&system.mcp_url());

    let (status, headers, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 403, "{body}");
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    // No MCP-Protocol-Version: the oldest version, whose clients replace their scopes
    // with the challenge's, so it names the one the token holds too (issue 19).
    assert!(
        challenge.contains(r#"scope="tool:greet tool:whoami""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!(
            r#"resource_metadata="{}/.well-known/oauth-protected-resource""#,
            system.mcp_server_url
        )),
        "{challenge}"
    );
    assert_eq!(body["error"], "insufficient_scope");

    // The same token may still call what it has the scope for.
    let (status, _, _) = http.call_tool(Some(&token), "whoami", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        system.tenant.exchanges(),
        0,
        "a refused call never exchanges"
    );
}

#[tokio::test]
async fn unauthenticated_requests_get_401_challenges_and_metadata_is_public() {
    let system = system().await;
    let http = McpHttp::new(&system.mcp_url());
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource",
        system.mcp_server_url
    );

    let (status, headers, _) = http.call_tool(None, "get_datetime", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(
        headers["www-authenticate"].to_str().unwrap(),
        format!(r#"Bearer scope="tool:greet tool:whoami", resource_metadata="{metadata_url}""#)
    );

    let expired = system
        .tenant
        .sign_user_token(&system.tenant.user_token("auth0|dave").expires_in(-3600));
    let (status, headers, body) = http
        .call_tool(Some(&expired), "get_datetime", json!({}))
        .await;
    assert_eq!(status, 401);
    let challenge = headers["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.contains("error_description="), "{challenge}");
    assert!(challenge.contains(&metadata_url), "{challenge}");
    assert!(
        challenge.contains(r#"scope="tool:greet tool:whoami""#),
        "{challenge}"
    );
    assert_eq!(body["error"], "invalid_token");

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let response = reqwest::get(format!("{}{path}", system.mcp.base_url()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let document: Value = response.json().await.unwrap();
        assert_eq!(document["resource"], system.tenant.mcp_audience(), "{path}");
        assert_eq!(
            document["authorization_servers"],
            json!([system.tenant.issuer()])
        );
        assert_eq!(
            document["scopes_supported"],
            json!(["tool:greet", "tool:whoami"])
        );
        assert_eq!(document["bearer_methods_supported"], json!(["header"]));
    }
}

#[tokio::test]
async fn twenty_users_ten_calls_each_make_exactly_twenty_exchanges() {
    let system = system().await;
    let http = std::sync::Arc::new(McpHttp::new(&system.mcp_url()));
    let mut calls = tokio::task::JoinSet::new();
    for user in 0..20 {
        let sub = format!("auth0|user-{user}");
        let token = system.tenant.token_for(&sub, &["tool:greet"]);
        let http = http.clone();
        calls.spawn(async move {
            for _ in 0..10 {
                let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
                assert_eq!(status, 200, "{body}");
                let text = body["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert!(
                    text.starts_with(&format!("Hello, there ({sub})!")),
                    "{text}"
                );
                assert_eq!(support::upstream_json(&text)["sub"], sub.as_str(), "{text}");
            }
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    assert_eq!(system.tenant.exchanges(), 20);
    for user in 0..20 {
        assert_eq!(
            system.tenant.exchanges_for(&format!("auth0|user-{user}")),
            1
        );
    }
}

#[tokio::test]
async fn the_private_api_only_ever_receives_exchanged_tokens() {
    // The real private API, behind a proxy that records what reaches it.
    let proxy = support::RecordingProxy::start().await;
    let system = support::start_system(|| SystemConfig {
        api_base_url_override: Some(proxy.url.clone()),
        ..SystemConfig::default()
    })
    .await;
    proxy.forward_to(system.api.base_url());
    let token = system.tenant.token_for("auth0|erin", &["tool:greet"]);
    let http = McpHttp::new(&system.mcp_url());
    for _ in 0..3 {
        let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["isError"], false, "{body}");
        let upstream =
            support::upstream_json(body["result"]["content"][0]["text"].as_str().unwrap());
        // Only an exchanged token names the MCP server as the acting party (RFC 8693 §4.1).
        assert_eq!(upstream["actor"]["sub"], system.tenant.client_id());
        assert_eq!(upstream["scopes"], json!(["read:private"]));
    }
    // Every request that reached the API carried a token the tenant issued for it in an
    // exchange: one exchange, cached, so the same one three times; never the user's.
    let issued = system.tenant.issued_tokens();
    assert_eq!(issued.len(), 1, "one exchange");
    let expected = format!("Bearer {}", issued[0]);
    assert_eq!(
        proxy.authorizations(),
        [expected.clone(), expected.clone(), expected]
    );
    assert!(proxy.authorizations().iter().all(|a| !a.contains(&token)));

    // The user's own token, sent straight to the API, is refused: it is for the MCP server.
    let direct = reqwest::Client::new()
        .get(format!("{}/api/private-scope", system.api.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(direct.status(), 401);
}

#[tokio::test]
async fn an_exchanged_token_that_expires_between_calls_is_exchanged_again() {
    // Tokens living 63 s are cached for 3 s (the cache gives up 60 s before expiry):
    // long enough for two calls on a loaded machine, short enough to wait out.
    let system = support::start_system(|| SystemConfig {
        exchanged_expires_in: 63,
        ..SystemConfig::default()
    })
    .await;
    let token = system.tenant.token_for("auth0|frank", &["tool:greet"]);
    let http = McpHttp::new(&system.mcp_url());
    let (status, _, _) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200);
    let (status, _, _) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(system.tenant.exchanges(), 1, "still cached");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert_eq!(system.tenant.exchanges(), 2, "expired, so exchanged again");
}

#[tokio::test]
async fn auth0_rate_limits_and_server_errors_become_readable_tool_errors() {
    let system = system().await;
    let token = system.tenant.token_for("auth0|grace", &["tool:greet"]);
    let http = McpHttp::new(&system.mcp_url());

    // Retry-After beyond the exchange deadline: reported at once, with the wait.
    system.tenant.inject(
        obo_tests::Fault::RateLimited {
            retry_after_secs: 120,
        },
        Some(1),
    );
    let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200, "a tool error is a result, not an HTTP error");
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("rate limit") && text.contains("120 s"),
        "{text}"
    );
    assert!(!text.contains(&token));

    // Persistent 500s: retried, then reported.
    system.tenant.inject(obo_tests::Fault::ServerError, None);
    let (_, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Auth0"), "{text}");

    // Failures are not cached: once Auth0 recovers, the same user succeeds.
    system.tenant.clear_faults();
    let (_, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(body["result"]["isError"], false, "{body}");
}

#[tokio::test]
async fn the_private_api_down_is_a_readable_tool_error_and_the_server_stays_up() {
    let mut system = system().await;
    let token = system.tenant.token_for("auth0|heidi", &["tool:greet"]);
    let http = McpHttp::new(&system.mcp_url());
    system.api.terminate(Duration::from_secs(10)).await.unwrap();

    let (status, _, body) = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], true, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        text.contains("unreachable") && text.contains("API_BASE_URL"),
        "{text}"
    );

    let (status, _, body) = http
        .call_tool(Some(&token), "get_datetime", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["isError"], false, "{body}");
}

#[tokio::test]
async fn a_key_rotation_while_running_is_picked_up() {
    let system = system().await;
    let http = McpHttp::new(&system.mcp_url());
    let before = system.tenant.token_for("auth0|ivan", &["tool:greet"]);
    let (_, _, body) = http.call_tool(Some(&before), "greet", json!({})).await;
    assert_eq!(body["result"]["isError"], false, "{body}");

    system.tenant.rotate_keys_dropping_old();
    let after = system.tenant.token_for("auth0|judy", &["tool:greet"]);
    let (status, _, body) = http.call_tool(Some(&after), "greet", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["isError"], false, "{body}");
    let text = body["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Hello, there (auth0|judy)!"), "{text}");

    // The old key was withdrawn and the server has seen the new key set: a token it
    // signed (still unexpired) is refused as an invalid token, not served.
    let (status, headers, body) = http.call_tool(Some(&before), "greet", json!({})).await;
    assert_eq!(status, 401, "{body}");
    let challenge = headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer ") && challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let mut system = system().await;
    let status = system.mcp.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "mcp-server exited with {status}");
    let status = system.api.terminate(Duration::from_secs(10)).await.unwrap();
    assert!(status.success(), "private-api exited with {status}");
}
