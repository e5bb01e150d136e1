//! Issue 19, machine callers: an application calling with its own client-credentials
//! token (no user) may call the tools that need no user; a tool that acts on a user's
//! behalf answers it with a tool error naming the application, and the tenant never
//! sees an exchange attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{McpHttp, Options, Prepared, TestServer, tool_text};
use mcp_server::{Caller, DownstreamError, Server, requires_scope};
use obo_tests::tenant::MockTenant;
use rmcp::{tool, tool_router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// The application calling for itself.
const APP: &str = "agentAppClientId123";

/// A client-credentials token as Auth0 issues it: `gty`, `sub` = `{client_id}@clients`,
/// `azp` = the application, no user claims.
fn machine_token(tenant: &MockTenant, scopes: &[&str]) -> String {
    tenant.client_credentials_token(APP, scopes)
}

const SCOPES: &[&str] = &["tool:whoami", "tool:greet"];

#[tokio::test]
async fn a_machine_caller_gets_the_time() {
    let server = TestServer::start(Options::default()).await;
    let token = machine_token(&server.tenant, SCOPES);
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "get_datetime", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn whoami_says_a_machine_caller_is_an_application_and_a_user_is_a_user() {
    let server = TestServer::start(Options::default()).await;
    let token = machine_token(&server.tenant, SCOPES);
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "whoami", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    let whoami: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(whoami["caller"], "application");
    assert_eq!(whoami["client_id"], APP);
    assert_eq!(whoami["sub"], format!("{APP}@clients"));

    let user = server.full_token("auth0|alice");
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&user), "whoami", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    let whoami: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(whoami["caller"], "user");
    assert_eq!(whoami["sub"], "auth0|alice");
    assert_eq!(whoami["email"], "alice@example.com");
    assert_eq!(server.tenant.exchange_attempts(), 0);
}

fn assert_no_user_error(text: &str, is_error: bool) {
    assert!(is_error, "{text}");
    assert!(
        text.contains(&format!("the application \"{APP}\"")),
        "{text}"
    );
    assert!(text.contains("client-credentials"), "{text}");
    assert!(text.contains("acts on a user's behalf"), "{text}");
    assert!(text.contains("sign in as a user"), "{text}");
}

#[tokio::test]
async fn greet_refuses_a_machine_caller_with_a_tool_error_and_no_exchange_attempt() {
    let server = TestServer::start(Options::default()).await;
    // Either of Auth0's two signs is enough: `gty`, or `sub` = `{client_id}@clients`.
    let by_gty = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("some-service")
            .azp(APP)
            .client_id(APP)
            .claim("gty", "client-credentials")
            .scope(SCOPES.join(" ")),
    );
    let by_sub = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token(&format!("{APP}@clients"))
            .azp(APP)
            .client_id(APP)
            .scope(SCOPES.join(" ")),
    );
    for token in [machine_token(&server.tenant, SCOPES), by_gty, by_sub] {
        let answer = server
            .http()
            .call_tool(Some(&token), "greet", json!({"name": "Ada"}))
            .await;
        let (text, is_error) = tool_text(&answer);
        assert_no_user_error(&text, is_error);
        assert!(!text.contains(&token), "{text}");
    }
    assert_eq!(server.tenant.exchange_attempts(), 0);
    assert_eq!(server.api_requests().await, 0);

    // A user still greets, through the same server.
    let user = server.full_token("auth0|alice");
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&user), "greet", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 1);
}

#[tokio::test]
async fn a_machine_caller_without_the_scope_still_gets_the_step_up_first() {
    let server = TestServer::start(Options::default()).await;
    let token = machine_token(&server.tenant, &["tool:whoami"]);
    let answer = server
        .http()
        .call_tool(Some(&token), "greet", json!({}))
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(server.tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn tools_list_says_greet_acts_for_a_user() {
    let server = TestServer::start(Options::default()).await;
    let token = machine_token(&server.tenant, SCOPES);
    let tools = server.http().list_tools(&token).await;
    let tools = tools.body["result"]["tools"].as_array().unwrap().clone();
    let tool = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap().clone();
    let greet = tool("greet");
    assert_eq!(greet["_meta"]["obo-mcp/acts-for-user"], true);
    assert_eq!(greet["_meta"]["obo-mcp/scope"], "tool:greet");
    assert!(
        greet["description"]
            .as_str()
            .unwrap()
            .contains("Acts on the signed-in user's behalf"),
        "{greet}"
    );
    for name in ["whoami", "get_datetime"] {
        assert!(
            tool(name)["_meta"].get("obo-mcp/acts-for-user").is_none(),
            "{name}"
        );
    }
}

// ---- a tool that did not declare acting for a user ----

#[derive(Clone)]
struct Undeclared;

#[tool_router]
impl Undeclared {
    /// Calls the private API, but says nothing about needing a user.
    #[tool(description = "A token for the default API.", meta = requires_scope("tool:greet"))]
    async fn fetch(&self, caller: Caller) -> Result<String, DownstreamError> {
        let token = caller.token(mcp_server::DEFAULT_API).await?;
        Ok(format!("got a token of {} bytes", token.secret().len()))
    }

    /// What `Caller::token` answered, as the tool sees it.
    #[tool(description = "The error Caller::client gives, if any.")]
    async fn error_kind(&self, caller: Caller) -> String {
        match caller.client(mcp_server::DEFAULT_API).await {
            Ok(_) => "ok".to_owned(),
            Err(DownstreamError::NoUser { client_id }) => format!("no_user {client_id}"),
            Err(other) => other.kind().to_owned(),
        }
    }
}

#[tokio::test]
async fn an_undeclared_tool_calling_caller_token_gets_no_user_without_an_exchange_attempt() {
    let prepared = Prepared::new(&Options::default()).await;
    let cancel = CancellationToken::new();
    let app = Server::new(
        prepared.settings.clone(),
        Undeclared,
        Undeclared::tool_router(),
    )
    .into_router(cancel.clone())
    .unwrap();
    let shutdown = cancel.clone();
    tokio::spawn(async move {
        axum::serve(prepared.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    let http = McpHttp::new(&format!("{}/mcp", prepared.base));
    let tenant = prepared.tenant;
    let token = machine_token(&tenant, SCOPES);

    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "fetch", json!({})).await);
    assert_no_user_error(&text, is_error);
    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "error_kind", json!({})).await);
    assert!(!is_error, "{text}");
    assert_eq!(text, format!("no_user {APP}"));
    assert_eq!(tenant.exchange_attempts(), 0);

    // A user's token is exchanged as ever.
    let user = tenant.token_for("auth0|alice", SCOPES);
    let (text, is_error) = tool_text(&http.call_tool(Some(&user), "fetch", json!({})).await);
    assert!(!is_error, "{text}");
    assert_eq!(tenant.exchange_attempts(), 1);
    cancel.cancel();
}
