//! The tools through rmcp's own Streamable HTTP client, and the scope step-up through
//! raw HTTP where the status and challenge matter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    McpHttp, Options, TestServer, call, connect, jwt_claims, read, text_of, tool_text, tools_call,
    upstream_json,
};
use jwt_verify::{BearerErrorCode, Challenge};
use obo_tests::tenant::MockTenant;
use serde_json::{Value, json};

async fn tool_names(server: &TestServer, token: &str) -> Vec<String> {
    let client = connect(&server.mcp_url(), token).await;
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    client.cancel().await.unwrap();
    names.sort();
    names
}

#[tokio::test]
async fn tools_list_names_every_tool_with_its_scope_title_and_read_only_hint() {
    let server = TestServer::start(Options::default()).await;
    let client = connect(&server.mcp_url(), &server.full_token("auth0|alice")).await;
    let mut tools = client.list_all_tools().await.unwrap();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["get_datetime", "greet", "whoami"]);
    let expected = [
        ("get_datetime", "Needs no scope", "Current date and time"),
        ("greet", "Requires the scope tool:greet", "Greet"),
        ("whoami", "Requires the scope tool:whoami", "Who am I"),
    ];
    for (tool, (name, scope_sentence, title)) in tools.iter().zip(expected) {
        assert_eq!(tool.name, name);
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            description.contains(scope_sentence),
            "{name}: {description}"
        );
        assert_eq!(tool.title.as_deref(), Some(title), "{name}");
        let annotations = tool.annotations.as_ref().expect("annotated");
        assert_eq!(annotations.read_only_hint, Some(true), "{name}");
        assert_eq!(annotations.title.as_deref(), Some(title), "{name}");
    }
    // greet takes an optional name and nothing is required.
    let greet = &tools[1];
    assert!(greet.input_schema["properties"]["name"].is_object());
    assert!(
        greet.input_schema.get("required").is_none() || greet.input_schema["required"] == json!([])
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn tools_list_shows_every_tool_even_to_a_token_without_scopes() {
    let server = TestServer::start(Options::default()).await;
    let token = server.no_scope_token("auth0|alice");
    assert_eq!(
        tool_names(&server, &token).await,
        ["get_datetime", "greet", "whoami"]
    );
}

#[tokio::test]
async fn hide_unpermitted_tools_lists_only_the_tools_the_token_may_call() {
    let server = TestServer::start(Options {
        hide_unpermitted_tools: true,
        ..Options::default()
    })
    .await;
    assert_eq!(
        tool_names(&server, &server.no_scope_token("auth0|a")).await,
        ["get_datetime"]
    );
    assert_eq!(
        tool_names(&server, &server.token("auth0|b", &["tool:greet"])).await,
        ["get_datetime", "greet"]
    );
    assert_eq!(
        tool_names(&server, &server.token("auth0|c", &["tool:whoami"])).await,
        ["get_datetime", "whoami"]
    );
    assert_eq!(
        tool_names(&server, &server.full_token("auth0|d")).await,
        ["get_datetime", "greet", "whoami"]
    );
}

#[tokio::test]
async fn get_datetime_is_rfc3339_utc_with_milliseconds_and_needs_no_scope() {
    let server = TestServer::start(Options::default()).await;
    let client = connect(&server.mcp_url(), &server.no_scope_token("auth0|alice")).await;
    let result = call(&client, "get_datetime", json!({})).await;
    assert_eq!(result.is_error, Some(false));
    let text = text_of(&result);
    // 2026-11-28T10:18:10.123Z
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(text.as_bytes()[19], b'.', "{text}");
    let parsed =
        time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(parsed.offset(), time::UtcOffset::UTC);
    let skew = (time::OffsetDateTime::now_utc() - parsed).abs();
    assert!(skew < time::Duration::seconds(5), "{text} is {skew} off");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_reports_the_user_their_scopes_and_the_delegation_chain() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .scope("tool:whoami")
            .permissions(["tool:whoami", "tool:greet"])
            .act(["agent-x", "orchestrator"]),
    );
    let client = connect(&server.mcp_url(), &token).await;
    let result = call(&client, "whoami", json!({})).await;
    assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
    let whoami: Value = serde_json::from_str(&text_of(&result)).unwrap();
    assert_eq!(
        whoami,
        json!({
            "caller": "user",
            "sub": "auth0|alice",
            "client_id": "mcp-inspector",
            "azp": "mcp-inspector",
            "name": "alice",
            "email": "alice@example.com",
            "org_id": null,
            "scopes": ["tool:whoami"],
            "permissions": ["tool:greet", "tool:whoami"],
            "delegation_chain": [{"sub": "agent-x"}, {"sub": "orchestrator"}],
        })
    );
    assert!(!text_of(&result).contains(&token));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn whoami_without_act_has_an_empty_chain_and_no_missing_claims() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|bob")
            .without("name")
            .without("email"),
    );
    let client = connect(&server.mcp_url(), &token).await;
    let whoami: Value =
        serde_json::from_str(&text_of(&call(&client, "whoami", json!({})).await)).unwrap();
    assert_eq!(whoami["sub"], "auth0|bob");
    assert_eq!(whoami["delegation_chain"], json!([]));
    assert_eq!(whoami["name"], Value::Null);
    assert_eq!(whoami["email"], Value::Null);
    assert_eq!(whoami["scopes"], json!(["tool:greet", "tool:whoami"]));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn invariant_1_greet_sends_the_exchanged_token_upstream_and_never_the_users() {
    let server = TestServer::start(Options::default()).await;
    let user_token = server.full_token("auth0|alice");
    let client = connect(&server.mcp_url(), &user_token).await;
    let result = call(&client, "greet", json!({"name": "Alice"})).await;
    assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
    let text = text_of(&result);
    assert!(
        text.starts_with("Hello, Alice (auth0|alice)! Upstream API Response: {"),
        "{text}"
    );
    let upstream = upstream_json(&text);
    assert_eq!(upstream["sub"], "auth0|alice");
    assert_eq!(upstream["scopes"], json!(["read:private"]));
    assert_eq!(upstream["actor"], json!({"sub": server.tenant.client_id()}));
    // The upstream JSON is indented.
    assert!(text.contains("{\n  \""), "{text}");

    let requests = server.api.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "GET");
    assert_eq!(request.url.path(), "/api/private-scope");
    let authorizations = server.api_authorizations().await;
    assert_eq!(authorizations.len(), 1);
    let exchanged = authorizations[0].strip_prefix("Bearer ").unwrap();
    assert_ne!(exchanged, user_token);
    for request in &requests {
        let seen = format!(
            "{:?} {:?} {}",
            request.url,
            request.headers,
            String::from_utf8_lossy(&request.body)
        );
        assert!(
            !seen.contains(&user_token),
            "the user's token went upstream"
        );
    }

    // The exchanged token is for the API, on the user's behalf, with us as the actor.
    let claims = jwt_claims(exchanged).unwrap();
    assert_eq!(claims["aud"], server.tenant.api_audience());
    assert_eq!(claims["sub"], "auth0|alice");
    assert_eq!(claims["act"]["sub"], server.tenant.client_id());
    assert_eq!(claims["scope"], "read:private");
    assert_eq!(server.tenant.exchanges(), 1);
    assert!(!text.contains(exchanged) && !text.contains(&user_token));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn greet_without_a_name_greets_there() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "greet", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    assert!(text.starts_with("Hello, there (auth0|alice)!"), "{text}");
}

#[tokio::test]
async fn greet_refuses_a_name_with_control_characters_as_invalid_params() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let answer = server
        .http()
        .call_tool(Some(&token), "greet", json!({"name": "a\u{1b}[2Jb"}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["error"]["code"], -32602, "{answer:?}");
    assert_eq!(server.tenant.exchanges(), 0);
}

#[tokio::test]
async fn invariant_3_a_second_greet_by_the_same_user_makes_no_second_exchange() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let client = connect(&server.mcp_url(), &token).await;
    for _ in 0..2 {
        let result = call(&client, "greet", json!({})).await;
        assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
    }
    assert_eq!(server.tenant.exchanges(), 1);
    assert_eq!(server.tenant.exchange_attempts(), 1);
    assert_eq!(server.api_requests().await, 2);
    let authorizations = server.api_authorizations().await;
    assert_eq!(
        authorizations[0], authorizations[1],
        "the cached token is reused"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn invariant_2_two_users_each_get_their_own_sub_back() {
    let server = TestServer::start(Options::default()).await;
    let alice = connect(&server.mcp_url(), &server.full_token("auth0|alice")).await;
    let bob = connect(&server.mcp_url(), &server.full_token("auth0|bob")).await;
    for round in 0..2 {
        for (client, sub) in [(&alice, "auth0|alice"), (&bob, "auth0|bob")] {
            let text = text_of(&call(client, "greet", json!({})).await);
            assert!(
                text.starts_with(&format!("Hello, there ({sub})!")),
                "round {round}: {text}"
            );
            assert_eq!(upstream_json(&text)["sub"], sub, "round {round}");
        }
    }
    assert_eq!(server.tenant.exchanges(), 2);
    assert_eq!(server.tenant.exchanges_for("auth0|alice"), 1);
    assert_eq!(server.tenant.exchanges_for("auth0|bob"), 1);
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
}

/// The step-up answer of the MCP authorization spec for `tool`, which needs the
/// scope `missing`, to a client that speaks `version` (`None`: no
/// `MCP-Protocol-Version`): the challenge names `challenge_scope`, the description
/// and body only what is missing.
async fn step_up(
    server: &TestServer,
    token: &str,
    tool: &str,
    version: Option<&str>,
    missing: &str,
    challenge_scope: &str,
) {
    let mut request = server
        .http()
        .request(&[&format!("Bearer {token}")], &tools_call(tool, json!({})));
    if let Some(version) = version {
        request = request.header("mcp-protocol-version", version);
    }
    let answer = read(request.send().await.unwrap()).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let description = format!("the tool `{tool}` requires the scope {missing}");
    let expected = format!(
        r#"Bearer error="insufficient_scope", error_description="{description}", scope="{challenge_scope}", resource_metadata="{}""#,
        server.resource_metadata_url()
    );
    assert_eq!(answer.header("www-authenticate"), Some(expected.as_str()));
    // Nothing else: no realm, no error_uri.
    assert_eq!(
        answer.challenge(),
        Challenge::new()
            .error(BearerErrorCode::InsufficientScope)
            .scope(challenge_scope.split(' '))
            .resource_metadata(&server.resource_metadata_url())
            .error_description(&description)
    );
    assert_eq!(
        answer.body,
        json!({"error": "insufficient_scope", "error_description": description})
    );
}

/// [`step_up`] for a client that sends no `MCP-Protocol-Version`, taken as one that
/// speaks the oldest version (before 2026-07-28): the challenge names the scopes the
/// token holds as well as the missing one.
async fn assert_step_up(
    server: &TestServer,
    token: &str,
    tool: &str,
    missing: &str,
    challenge_scope: &str,
) {
    step_up(server, token, tool, None, missing, challenge_scope).await;
}

#[tokio::test]
async fn mcp_scope_challenge_greet_without_tool_greet_is_403_insufficient_scope() {
    let server = TestServer::start(Options::default()).await;
    let token = server.token("auth0|alice", &["tool:whoami"]);
    assert_step_up(
        &server,
        &token,
        "greet",
        "tool:greet",
        "tool:greet tool:whoami",
    )
    .await;
    assert_eq!(
        server.tenant.exchange_attempts(),
        0,
        "no exchange before the scope check"
    );
    assert_eq!(server.api_requests().await, 0);
}

/// Issue 19: clients of 2025-06-18 and 2025-11-25 replace their scopes with the
/// challenge's, so it names what the token holds too; from 2026-07-28 (SEP-2350)
/// clients add it to theirs, so it names only what is needed.
#[tokio::test]
async fn mcp_scope_challenge_follows_the_protocol_version_the_client_speaks() {
    let server = TestServer::start(Options::default()).await;
    let token = server.token("auth0|alice", &["tool:whoami"]);
    let union = "tool:greet tool:whoami";
    for (version, scope) in [
        (None, union),
        (Some("2025-06-18"), union),
        (Some("2025-11-25"), union),
        (Some("not-a-date"), union),
        (Some("2026-07-28"), "tool:greet"),
        (Some("2027-01-15"), "tool:greet"),
    ] {
        step_up(&server, &token, "greet", version, "tool:greet", scope).await;
    }
    assert_eq!(server.tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn mcp_scope_challenge_whoami_without_tool_whoami_is_403_insufficient_scope() {
    let server = TestServer::start(Options::default()).await;
    let token = server.token("auth0|alice", &["tool:greet"]);
    assert_step_up(
        &server,
        &token,
        "whoami",
        "tool:whoami",
        "tool:greet tool:whoami",
    )
    .await;
    step_up(
        &server,
        &token,
        "whoami",
        Some("2026-07-28"),
        "tool:whoami",
        "tool:whoami",
    )
    .await;
}

#[tokio::test]
async fn mcp_scope_challenge_get_datetime_needs_no_scope() {
    let server = TestServer::start(Options::default()).await;
    let token = server.no_scope_token("auth0|alice");
    let answer = server
        .http()
        .call_tool(Some(&token), "get_datetime", json!({}))
        .await;
    let (text, is_error) = tool_text(&answer);
    assert!(!is_error, "{text}");
    assert!(text.ends_with('Z'), "{text}");
}

#[tokio::test]
async fn mcp_scope_challenge_the_rmcp_client_sees_the_403_as_an_error() {
    let server = TestServer::start(Options::default()).await;
    let client = connect(&server.mcp_url(), &server.no_scope_token("auth0|alice")).await;
    let mut params = rmcp::model::CallToolRequestParams::new("greet");
    params = params.with_arguments(serde_json::Map::new());
    let outcome = client.call_tool(params).await;
    assert!(outcome.is_err(), "{outcome:?}");
    // The session is still usable for what the token allows.
    let result = call(&client, "get_datetime", json!({})).await;
    assert_eq!(result.is_error, Some(false));
    client.cancel().await.unwrap();
}

/// Issue 12, finding 1: what the client was consented (`scope`) is narrower than what
/// the user holds (Auth0 RBAC `permissions`). Only `scope` may grant a tool.
fn consented_whoami_holding_greet(tenant: &MockTenant) -> String {
    tenant.sign_user_token(
        &tenant
            .user_token("auth0|alice")
            .scope("openid tool:whoami")
            .permissions(["tool:whoami", "tool:greet"]),
    )
}

#[tokio::test]
async fn finding_1_permissions_never_grant_a_tool_greet_is_403_with_no_exchange() {
    let server = TestServer::start(Options::default()).await;
    let token = consented_whoami_holding_greet(&server.tenant);
    // The union is of the granted scopes (`scope`), never of the RBAC permissions.
    assert_step_up(
        &server,
        &token,
        "greet",
        "tool:greet",
        "openid tool:greet tool:whoami",
    )
    .await;
    assert_eq!(server.tenant.exchange_attempts(), 0, "no exchange");
    assert_eq!(server.api_requests().await, 0, "no private API call");
}

#[tokio::test]
async fn finding_1_permissions_never_grant_a_tool_in_the_tools_own_check() {
    // Without the scope gate, as a program that mounts the tools itself would run
    // them: only the tools' own check stands.
    let server =
        TestServer::start_with(Options::default(), |_, server| server.without_scope_gate()).await;
    let token = consented_whoami_holding_greet(&server.tenant);
    let http = McpHttp::new(&server.mcp_url());

    // The server answers what `scope` grants, so the refusal below is the tool's.
    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "whoami", json!({})).await);
    assert!(!is_error, "{text}");

    let answer = http.call_tool(Some(&token), "greet", json!({})).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.body["error"]["message"], "the tool `greet` requires the scope tool:greet",
        "{answer:?}"
    );
    assert_eq!(server.tenant.exchange_attempts(), 0, "no exchange");
    assert_eq!(server.api_requests().await, 0, "no private API call");
    // The refusal is counted, so an operator sees calls that got past a gate.
    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("tool_calls_total{")
                && line.contains(r#"tool="greet""#)
                && line.contains(r#"outcome="refused""#)
                && line.ends_with(" 1")),
        "{metrics}"
    );
}

#[tokio::test]
async fn finding_1_permissions_never_grant_a_tool_hidden_tools_stay_hidden() {
    let server = TestServer::start(Options {
        hide_unpermitted_tools: true,
        ..Options::default()
    })
    .await;
    let token = consented_whoami_holding_greet(&server.tenant);
    assert_eq!(
        tool_names(&server, &token).await,
        ["get_datetime", "whoami"]
    );
}

#[tokio::test]
async fn an_unknown_tool_passes_the_gate_and_gets_a_json_rpc_error() {
    let server = TestServer::start(Options::default()).await;
    let token = server.no_scope_token("auth0|alice");
    let answer = server
        .http()
        .call_tool(Some(&token), "no_such_tool", json!({}))
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body["error"]["code"].is_i64(), "{answer:?}");
    assert!(answer.header("www-authenticate").is_none());
}

/// MCP 2025-06-18 removed JSON-RPC batching: a batch is refused whole, with HTTP 400
/// and the JSON-RPC error -32600, never rmcp's 415 and never run in part. A batch
/// hiding a call the token may not make is refused the same way, before any exchange.
#[tokio::test]
async fn a_batch_is_refused_with_400_and_a_jsonrpc_invalid_request_and_runs_nothing() {
    let server = TestServer::start(Options::default()).await;
    let expected = json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32600,
            "message": "Invalid Request: JSON-RPC batches are not supported by this protocol version (MCP 2025-06-18 and later)",
        },
    });
    let full = server.full_token("auth0|alice");
    let narrow = server.no_scope_token("auth0|bob");
    for (token, batch) in [
        (
            &full,
            json!([
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "greet", "arguments": {}}},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            ]),
        ),
        (
            &narrow,
            json!([
                {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_datetime", "arguments": {}}},
                {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "greet", "arguments": {}}},
            ]),
        ),
        (&full, json!([])),
    ] {
        let answer = server
            .http()
            .post(&[&format!("Bearer {token}")], batch)
            .await;
        assert_eq!(answer.status, 400, "{answer:?}");
        assert_eq!(answer.header("content-type"), Some("application/json"));
        assert_eq!(answer.body, expected);
    }
    // Whitespace before the `[` does not hide a batch.
    let answer = read(
        server
            .http()
            .http
            .post(server.mcp_url())
            .header("authorization", format!("Bearer {full}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(" \r\n\t[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}]")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.body, expected);
    assert_eq!(server.tenant.exchange_attempts(), 0);
    assert_eq!(server.api_requests().await, 0);
}

#[tokio::test]
async fn invariant_3_concurrent_greets_by_one_user_make_one_exchange() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let calls = (0..8).map(|_| {
        let http = server.http();
        let token = token.clone();
        async move { http.call_tool(Some(&token), "greet", json!({})).await }
    });
    for answer in futures_join_all(calls).await {
        let (text, is_error) = tool_text(&answer);
        assert!(!is_error, "{text}");
    }
    assert_eq!(server.tenant.exchanges(), 1);
    assert_eq!(server.tenant.exchange_attempts(), 1);
    assert_eq!(server.api_requests().await, 8);
}

/// Runs the futures concurrently on the test's runtime.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}

#[tokio::test]
async fn a_body_that_is_not_json_passes_the_gate_and_rmcp_refuses_it() {
    let server = TestServer::start(Options::default()).await;
    let token = server.no_scope_token("auth0|alice");
    let answer = common::read(
        server
            .http()
            .http
            .post(server.mcp_url())
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body("{not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        (400..500).contains(&answer.status) && answer.status != 401 && answer.status != 403,
        "{answer:?}"
    );
    assert!(answer.header("www-authenticate").is_none(), "{answer:?}");
}

#[tokio::test]
async fn stateless_initialize_then_call_without_a_session_id() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let http = server.http();
    let init = http
        .post(
            &[&format!("Bearer {token}")],
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "curl", "version": "1"}
            }}),
        )
        .await;
    assert_eq!(init.status, 200, "{init:?}");
    assert_eq!(init.body["result"]["serverInfo"]["name"], "obo-mcp");
    assert!(init.body["result"]["capabilities"]["tools"].is_object());
    assert!(
        init.header("mcp-session-id").is_none(),
        "stateless: {init:?}"
    );
    // The next call carries no session and needs none; only its token.
    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "whoami", json!({})).await);
    assert!(!is_error, "{text}");
    // And a call without the token fails even right after a successful initialize.
    assert_eq!(http.call_tool(None, "whoami", json!({})).await.status, 401);
}

#[tokio::test]
async fn hide_unpermitted_tools_still_answers_403_for_a_hidden_tool() {
    let server = TestServer::start(Options {
        hide_unpermitted_tools: true,
        ..Options::default()
    })
    .await;
    let token = server.token("auth0|alice", &["tool:whoami"]);
    assert_step_up(
        &server,
        &token,
        "greet",
        "tool:greet",
        "tool:greet tool:whoami",
    )
    .await;
}
