//! `examples/orders.rs` run as a user runs it: the example's binary (which the test
//! build compiles) against the mock tenant, with a real orders API that verifies the
//! tokens it is sent and needs `read:orders`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use common::{McpHttp, tool_text};
use jwt_verify::{Issuer, JwksVerifier, VerifierOptions, bearer};
use obo_tests::process::{ServiceProcess, bin_dir};
use obo_tests::tenant::{ApiGrant, MockTenant, TenantConfig};
use serde_json::{Value, json};

const ORDERS: &str = "https://orders.example/";

/// The orders API: verifies the bearer token for its own audience, needs
/// `read:orders`, and answers the caller's orders and the actor that called for them.
async fn orders_api(tenant: &MockTenant) -> String {
    async fn orders(
        State(verifier): State<Arc<JwksVerifier>>,
        headers: HeaderMap,
    ) -> Result<Json<Value>, StatusCode> {
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(StatusCode::UNAUTHORIZED)?;
        let token =
            bearer::parse_authorization(authorization).map_err(|_| StatusCode::UNAUTHORIZED)?;
        let principal = verifier
            .verify(token)
            .await
            .map_err(|_| StatusCode::UNAUTHORIZED)?;
        if !principal.has_scope("read:orders") {
            return Err(StatusCode::FORBIDDEN);
        }
        Ok(Json(json!({
            "sub": principal.sub,
            "actor": principal.delegation_chain.first().map(|a| a.sub.clone()),
            "orders": [{"id": 7, "status": "open"}],
        })))
    }
    let verifier = JwksVerifier::new(
        Issuer::parse(tenant.issuer()).unwrap(),
        ORDERS,
        VerifierOptions::default(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/orders", get(orders))
        .with_state(Arc::new(verifier));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn the_orders_example_lists_the_callers_orders_through_an_exchanged_token() {
    let tenant = MockTenant::start(TenantConfig {
        extra_apis: vec![ApiGrant::granted(ORDERS, &["read:orders"])],
        ..TenantConfig::default()
    })
    .await;
    let orders_base = orders_api(&tenant).await;
    let examples = bin_dir().join("examples");
    let example = ServiceProcess::on_free_port("/healthz", Duration::from_secs(20), |port| {
        let base = format!("http://127.0.0.1:{port}");
        let env: BTreeMap<String, String> = [
            ("AUTH0_DOMAIN", tenant.issuer().to_owned()),
            ("AUTH0_AUDIENCE", tenant.mcp_audience().to_owned()),
            ("MCP_AUTH0_CLIENT_ID", tenant.client_id().to_owned()),
            ("MCP_AUTH0_CLIENT_SECRET", tenant.client_secret().to_owned()),
            ("API_ORDERS_AUDIENCE", ORDERS.to_owned()),
            ("API_ORDERS_BASE_URL", orders_base.clone()),
            ("API_ORDERS_SCOPE", "read:orders".to_owned()),
            ("PORT", port.to_string()),
            ("MCP_SERVER_URL", base.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        ServiceProcess::spawn(&examples, "orders", &base, &env)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let base = example.base_url().to_owned();
    let http = McpHttp::new(&format!("{base}/mcp"));

    // Without `tool:orders`: the step-up challenge, and no exchange.
    let token = tenant.token_for("auth0|alice", &["tool:greet"]);
    let answer = http.call_tool(Some(&token), "list_orders", json!({})).await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(tenant.exchange_attempts(), 0);

    // An application's own token (client credentials, no user): `acts_for_user` answers
    // it with a tool error that names the application, before any exchange.
    let app = "ordersBatchJob";
    let machine = tenant.client_credentials_token(app, &["tool:orders"]);
    let (text, is_error) = tool_text(
        &http
            .call_tool(Some(&machine), "list_orders", json!({}))
            .await,
    );
    assert!(is_error, "{text}");
    assert!(
        text.contains(app),
        "the error names the application: {text}"
    );
    assert_eq!(
        tenant.exchange_attempts(),
        0,
        "no exchange for a machine caller"
    );

    // With it: alice's orders, fetched with a token the tenant issued to the orders API.
    let token = tenant.token_for("auth0|alice", &["tool:orders"]);
    for status in [json!({}), json!({"status": "open"})] {
        let (text, is_error) =
            tool_text(&http.call_tool(Some(&token), "list_orders", status).await);
        assert!(!is_error, "{text}\n{}", example.log());
        assert!(text.starts_with("Orders of auth0|alice: "), "{text}");
        assert!(text.contains(r#""actor":"mcp-server-client""#), "{text}");
        assert!(text.contains(r#""id":7"#), "{text}");
    }
    assert_eq!(
        tenant.exchanges_for("auth0|alice"),
        1,
        "the second call hit the cache"
    );
    assert!(
        !example.log().contains(&token),
        "the caller's token is never logged"
    );
}
