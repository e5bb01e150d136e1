//! A server of one's own, built only from the crate's public API: a tool with its own
//! scope that calls a second API on the caller's behalf, a tool whose API has no
//! client grant, and the quickstart's `greet` beside them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{McpHttp, Options, Prepared, jwt_claims, mount_private_api, tool_text};
use mcp_server::{Caller, DownstreamError, Server, requires_scope};
use obo_tests::tenant::ApiGrant;
use private_api_client::{PRIVATE_SCOPE_PATH, PrivateScope};
use rmcp::{tool, tool_router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ORDERS: &str = "https://orders.example/";
const BILLING: &str = "https://billing.example/";

#[derive(Clone)]
struct Shop;

#[tool_router]
impl Shop {
    #[tool(description = "List the caller's orders.", meta = requires_scope("tool:orders"))]
    async fn list_orders(&self, caller: Caller) -> Result<String, DownstreamError> {
        let orders: Value = caller.client("orders").await?.get_json("orders").await?;
        Ok(orders.to_string())
    }

    #[tool(description = "List the caller's invoices.", meta = requires_scope("tool:billing"))]
    async fn list_invoices(&self, caller: Caller) -> Result<String, DownstreamError> {
        let token = caller.token("billing").await?;
        Ok(format!("got a token of {} bytes", token.secret().len()))
    }

    #[tool(description = "The private API's view of the caller.")]
    async fn private(&self, caller: Caller) -> Result<String, DownstreamError> {
        let answer: PrivateScope = caller
            .client(mcp_server::DEFAULT_API)
            .await?
            .get_json(PRIVATE_SCOPE_PATH)
            .await?;
        Ok(answer.sub)
    }
}

struct Running {
    http: McpHttp,
    base: String,
    prepared_tenant: obo_tests::tenant::MockTenant,
    orders: MockServer,
    _cancel: CancellationToken,
}

/// The orders API: answers the caller's orders, with the `aud` and `scope` of the
/// token it was sent, so a test sees which token reached it.
async fn orders_api() -> MockServer {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orders"))
        .respond_with(|request: &Request| {
            let token = request
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default();
            let claims = jwt_claims(token).unwrap_or_default();
            if claims["aud"] != ORDERS {
                return ResponseTemplate::new(401);
            }
            ResponseTemplate::new(200).set_body_json(json!({
                "sub": claims["sub"],
                "aud": claims["aud"],
                "scope": claims["scope"],
                "orders": [{"id": 7}],
            }))
        })
        .mount(&api)
        .await;
    api
}

async fn start() -> Running {
    let mut prepared = Prepared::new(&Options {
        tenant_apis: vec![
            ApiGrant::granted(ORDERS, &["read:orders"]),
            ApiGrant::without_grant(BILLING, &["read:invoices"]),
        ],
        ..Options::default()
    })
    .await;
    mount_private_api(&prepared.api, prepared.tenant.api_audience()).await;
    let orders = orders_api().await;
    let vars = [
        ("API_ORDERS_AUDIENCE", ORDERS.to_owned()),
        ("API_ORDERS_BASE_URL", orders.uri()),
        ("API_ORDERS_SCOPE", "read:orders".to_owned()),
        ("API_BILLING_AUDIENCE", BILLING.to_owned()),
        ("API_BILLING_BASE_URL", "http://127.0.0.1:9".to_owned()),
        ("API_BILLING_SCOPE", "read:invoices".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    prepared.reconfigure(|args| *args = args.clone().with_named_apis(vars));
    let cancel = CancellationToken::new();
    let app = Server::new(prepared.settings.clone(), Shop, Shop::tool_router())
        .into_router(cancel.clone())
        .unwrap();
    let shutdown = cancel.clone();
    tokio::spawn(async move {
        axum::serve(prepared.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .unwrap();
    });
    Running {
        http: McpHttp::new(&format!("{}/mcp", prepared.base)),
        base: prepared.base,
        prepared_tenant: prepared.tenant,
        orders,
        _cancel: cancel,
    }
}

#[tokio::test]
async fn a_custom_tool_without_its_scope_gets_the_403_step_up() {
    let server = start().await;
    let token = server
        .prepared_tenant
        .token_for("auth0|alice", &["tool:billing"]);
    let answer = server
        .http
        .call_tool(Some(&token), "list_orders", json!({}))
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let challenge = answer.challenge();
    assert_eq!(
        challenge.error_code(),
        Some(jwt_verify::BearerErrorCode::InsufficientScope)
    );
    // No MCP-Protocol-Version: the oldest version, whose clients replace their scopes
    // with the challenge's, so it names the one the token holds as well.
    assert_eq!(
        challenge.scopes().collect::<Vec<_>>(),
        ["tool:billing", "tool:orders"]
    );
    assert_eq!(server.prepared_tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn a_custom_tool_scope_is_published_and_described() {
    let server = start().await;
    let metadata: Value = reqwest::get(format!(
        "{}/.well-known/oauth-protected-resource",
        server.base
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        metadata["scopes_supported"],
        json!(["tool:billing", "tool:orders"])
    );
    let token = server
        .prepared_tenant
        .token_for("auth0|alice", &["tool:orders"]);
    let tools = server.http.list_tools(&token).await;
    let orders = tools.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "list_orders")
        .unwrap()
        .clone();
    assert_eq!(
        orders["description"],
        "List the caller's orders. Requires the scope tool:orders."
    );
    assert_eq!(orders["_meta"]["obo-mcp/scope"], "tool:orders");
}

#[tokio::test]
async fn a_custom_tool_calls_its_api_with_a_token_exchanged_for_that_api() {
    let server = start().await;
    let token = server
        .prepared_tenant
        .token_for("auth0|alice", &["tool:orders"]);
    let (text, is_error) = tool_text(
        &server
            .http
            .call_tool(Some(&token), "list_orders", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["sub"], "auth0|alice");
    assert_eq!(
        answer["aud"], ORDERS,
        "a token for the orders API, not the caller's"
    );
    assert_eq!(answer["scope"], "read:orders");
    let sent = server.orders.received_requests().await.unwrap();
    assert!(
        sent.iter()
            .all(|r| r.headers["authorization"] != format!("Bearer {token}")),
        "the caller's token never reaches the API"
    );
}

#[tokio::test]
async fn an_api_without_a_client_grant_names_it_and_the_other_api_keeps_working() {
    let server = start().await;
    let token = server
        .prepared_tenant
        .token_for("auth0|alice", &["tool:orders", "tool:billing"]);
    let (text, is_error) = tool_text(
        &server
            .http
            .call_tool(Some(&token), "list_invoices", json!({}))
            .await,
    );
    assert!(is_error, "{text}");
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("client grant"), "{text}");
    assert!(text.contains("the API `billing`"), "{text}");
    assert!(text.contains(BILLING), "{text}");
    assert!(text.contains("API_BILLING_SCOPE"), "{text}");
    assert!(!text.contains(&token), "{text}");

    let (text, is_error) = tool_text(
        &server
            .http
            .call_tool(Some(&token), "list_orders", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
}

#[tokio::test]
async fn a_user_calling_two_apis_makes_one_exchange_per_api_per_token() {
    let server = start().await;
    let token = server
        .prepared_tenant
        .token_for("auth0|alice", &["tool:orders"]);
    for _ in 0..3 {
        for tool in ["list_orders", "private"] {
            let (text, is_error) =
                tool_text(&server.http.call_tool(Some(&token), tool, json!({})).await);
            assert!(!is_error, "{tool}: {text}");
        }
    }
    assert_eq!(server.prepared_tenant.exchanges_for("auth0|alice"), 2);
    assert_eq!(server.orders.received_requests().await.unwrap().len(), 3);
}
