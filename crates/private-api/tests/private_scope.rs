//! `GET /api/private-scope` through real HTTP: each status path of RFC 6750 §3.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use obo_tests::keys::TestKey;
use obo_tests::token::TokenBuilder;
use serde_json::{Value, json};
use support::{API_AUDIENCE, Harness, MCP_AUDIENCE, challenge};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn json_body(response: reqwest::Response) -> Value {
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "every answer is JSON"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn rfc8693_4_1_reports_sub_scopes_and_the_current_actor_first() {
    let api = Harness::start().await;
    let token = api
        .token()
        .sub("auth0|alice")
        .scope("openid read:private")
        .act(["mcp-server-client", "earlier-client"])
        .sign(&api.key);
    let response = api.get_with_token(&token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_body(response).await,
        json!({
            "msg": "Hello from upstream API",
            "sub": "auth0|alice",
            "scopes": ["openid", "read:private"],
            "actor": {"sub": "mcp-server-client"},
            "delegation_chain": [{"sub": "mcp-server-client"}, {"sub": "earlier-client"}],
        })
    );
}

#[tokio::test]
async fn a_token_used_directly_has_no_actor() {
    let api = Harness::start().await;
    let token = api.token().sign(&api.key);
    let body = json_body(api.get_with_token(&token).await).await;
    assert_eq!(body["sub"], obo_tests::token::DEFAULT_SUB);
    assert_eq!(body["actor"], Value::Null);
    assert_eq!(body["delegation_chain"], json!([]));
}

/// Issue 12, finding 1: Auth0's RBAC `permissions` lists every permission the user
/// holds, whatever the client was granted; only the token's `scope` may grant.
#[tokio::test]
async fn finding_1_read_private_in_permissions_only_is_insufficient_scope() {
    let api = Harness::start().await;
    let token = api
        .token()
        .scope("openid")
        .permissions(["read:private"])
        .sign(&api.key);
    let response = api.get_with_token(&token).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response).unwrap(),
        r#"Bearer error="insufficient_scope", error_description="The access token lacks the scope read:private", scope="read:private""#
    );
    assert_eq!(json_body(response).await["error"], "insufficient_scope");
}

#[tokio::test]
async fn rfc6750_3_1_no_token_gets_a_challenge_without_error() {
    let api = Harness::start().await;
    for authorization in [None, Some("Basic dXNlcjpwYXNz")] {
        let response = api.get(authorization).await;
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(challenge(&response).as_deref(), Some("Bearer"));
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = json_body(response).await;
        assert_eq!(body["error"], "invalid_token");
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn rfc6750_3_1_a_malformed_header_is_invalid_request() {
    let api = Harness::start().await;
    for authorization in ["Bearer", "Bearer a b", "Bearer a,b", "Bearer é", "   "] {
        let response = api.get(Some(authorization)).await;
        assert_eq!(response.status(), 400, "{authorization:?}");
        let challenge = challenge(&response).unwrap();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_request", error_description=""#),
            "{challenge}"
        );
        assert_eq!(json_body(response).await["error"], "invalid_request");
    }
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request() {
    let api = Harness::start().await;
    let token = api.token().sign(&api.key);
    let response = api
        .http
        .get(api.url("/api/private-scope"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

async fn assert_invalid_token(api: &Harness, token: &str, description: &str) {
    let response = api.get_with_token(token).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response).unwrap(),
        format!(r#"Bearer error="invalid_token", error_description="{description}""#)
    );
    let body = json_body(response).await;
    assert_eq!(
        body,
        json!({"error": "invalid_token", "error_description": description})
    );
    assert!(!body.to_string().contains(token));
}

#[tokio::test]
async fn rfc6750_3_1_an_expired_token_is_invalid_token() {
    let api = Harness::start().await;
    let token = api
        .token()
        .issued_ago(7200)
        .expires_in(-3600)
        .sign(&api.key);
    assert_invalid_token(&api, &token, "The access token expired").await;
}

#[tokio::test]
async fn rfc6750_3_1_a_bad_token_is_invalid_token() {
    let api = Harness::start().await;
    // Same kid, another key: the signature does not verify.
    let impostor = TestKey::rsa("key-1");
    let forged = api.token().sign(&impostor);
    assert_invalid_token(&api, &forged, "The access token's signature is invalid").await;
    assert_invalid_token(
        &api,
        "not-a-jwt",
        "The access token is opaque, not a JWT: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience",
    )
    .await;
    let unsigned = api.token().unsigned();
    let response = api.get_with_token(&unsigned).await;
    assert_eq!(response.status(), 401);
    let wrong_issuer = TokenBuilder::new("https://evil.example/", API_AUDIENCE)
        .scope("read:private")
        .sign(&api.key);
    assert_invalid_token(
        &api,
        &wrong_issuer,
        &format!(
            "The access token was issued by https://evil.example/ but this server expects tokens issued by {}",
            api.issuer
        ),
    )
    .await;
}

/// The reason the MCP server must exchange tokens: a user token issued for the MCP
/// server, passed through unchanged, is not accepted here.
#[tokio::test]
async fn a_token_for_the_mcp_server_audience_is_refused() {
    let api = Harness::start().await;
    let user_token = TokenBuilder::new(&api.issuer, MCP_AUDIENCE)
        .scope("openid tool:greet read:private")
        .sign(&api.key);
    assert_invalid_token(
        &api,
        &user_token,
        &format!(
            "The access token is for the audience {MCP_AUDIENCE} but this server expects the audience {API_AUDIENCE}: the client must ask for a token for this API"
        ),
    )
    .await;
}

#[tokio::test]
async fn rfc6750_3_1_a_token_without_read_private_is_insufficient_scope() {
    let api = Harness::start().await;
    let token = api.token().scope("openid read:other").sign(&api.key);
    let response = api.get_with_token(&token).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        challenge(&response).unwrap(),
        r#"Bearer error="insufficient_scope", error_description="The access token lacks the scope read:private", scope="read:private""#
    );
    assert_eq!(
        json_body(response).await,
        json!({
            "error": "insufficient_scope",
            "error_description": "The access token lacks the scope read:private"
        })
    );
}

#[tokio::test]
async fn an_unreachable_jwks_at_cold_start_is_503_not_401() {
    let issuer = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&issuer)
        .await;
    let api = Harness::start_with(issuer, TestKey::rsa("key-1")).await;
    let token = api.token().sign(&api.key);
    let response = api.get_with_token(&token).await;
    assert_eq!(response.status(), 503);
    assert!(challenge(&response).is_none(), "not the client's fault");
    assert!(response.headers().contains_key("retry-after"));
    let body = json_body(response).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn healthz_and_unknown_paths() {
    let api = Harness::start().await;
    let response = api.http.get(api.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(json_body(response).await, json!({"status": "ok"}));

    let response = api.http.get(api.url("/nope")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(json_body(response).await["error"], "not_found");
}

/// The contract with `private-api-client`: its typed client, calling this service,
/// reads every field of the answer as the service meant it. (`PrivateScope` defaults
/// its optional fields, so a renamed member would otherwise read as empty.)
#[tokio::test]
async fn the_typed_client_reads_every_field_of_the_real_answer() {
    use private_api_client::{Actor, PrivateApiClient};

    let api = Harness::start().await;
    let token = api
        .token()
        .sub("auth0|alice")
        .scope("openid read:private")
        .act(["mcp-server-client", "earlier-client"])
        .sign(&api.key);
    let client = PrivateApiClient::new(&api.url("/")).unwrap();
    let answer = client.private_scope(&token).await.unwrap();
    let actor = |sub: &str| Actor {
        sub: sub.to_owned(),
    };
    assert_eq!(answer.msg, "Hello from upstream API");
    assert_eq!(answer.sub, "auth0|alice");
    assert_eq!(answer.scopes, ["openid", "read:private"]);
    assert_eq!(answer.actor, Some(actor("mcp-server-client")));
    assert_eq!(
        answer.delegation_chain,
        [actor("mcp-server-client"), actor("earlier-client")]
    );
    assert_eq!(answer.org_id, None);

    // A token issued in an organization: the API says which.
    let in_org = api
        .token()
        .sub("auth0|alice")
        .scope("read:private")
        .claim("org_id", "org_acme")
        .sign(&api.key);
    let answer = client.private_scope(&in_org).await.unwrap();
    assert_eq!(answer.org_id.as_deref(), Some("org_acme"));
    let raw: Value = api
        .http
        .get(api.url("/api/private-scope"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        raw.get("org_id").is_none(),
        "absent outside an organization: {raw}"
    );
}
