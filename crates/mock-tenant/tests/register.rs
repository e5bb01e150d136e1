//! Dynamic Client Registration (RFC 7591) at `POST /oidc/register`, over real HTTP:
//! what the MCP clients send, what the tenant registers, and each refusal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mock_tenant::token::now;
use mock_tenant::{MockTenant, TenantConfig};
use serde_json::{Value, json};

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    #[track_caller]
    fn assert_registered(&self) {
        assert_eq!(self.status, 201, "body: {}", self.body);
        assert_eq!(self.header("cache-control"), Some("no-store"));
    }

    /// RFC 7591 §3.2.2: 400 with a JSON `{error, error_description}`.
    #[track_caller]
    fn assert_refused(&self, error: &str) {
        assert_eq!(self.status, 400, "body: {}", self.body);
        assert_eq!(self.body["error"], error, "body: {}", self.body);
        assert!(
            self.body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        assert!(
            self.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
    }
}

async fn tenant() -> MockTenant {
    MockTenant::start(TenantConfig::default()).await
}

async fn post_raw(tenant: &MockTenant, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    let response = reqwest::Client::new()
        .post(tenant.registration_endpoint())
        .header("content-type", content_type)
        .body(body.into())
        .send()
        .await
        .expect("registration endpoint reachable");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Reply {
        status,
        headers,
        body,
    }
}

async fn register(tenant: &MockTenant, metadata: &Value) -> Reply {
    post_raw(tenant, "application/json", metadata.to_string()).await
}

/// What the MCP Inspector registers: a public client with two callbacks.
fn inspector() -> Value {
    json!({
        "client_name": "MCP Inspector",
        "redirect_uris": [
            "http://localhost:6274/oauth/callback",
            "http://localhost:6274/oauth/callback/debug",
        ],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
    })
}

/// A registration otherwise valid, with `redirect_uris` replaced.
fn with_redirect_uris(uris: Value) -> Value {
    let mut metadata = inspector();
    metadata["redirect_uris"] = uris;
    metadata
}

/// The refused registration left no client behind.
#[track_caller]
fn assert_nothing_registered(tenant: &MockTenant) {
    assert_eq!(tenant.registered_clients(), 0);
}

#[tokio::test]
async fn rfc7591_3_2_1_a_public_client_gets_an_id_and_no_secret() {
    let tenant = tenant().await;
    let before = now();
    let reply = register(&tenant, &inspector()).await;
    reply.assert_registered();
    let body = reply.body.as_object().unwrap();
    let client_id = body["client_id"].as_str().unwrap();
    assert!(client_id.starts_with("tpc_"), "{client_id}");
    assert!(client_id.len() > "tpc_".len() + 20);
    let issued_at = body["client_id_issued_at"].as_i64().unwrap();
    assert!((before..=now()).contains(&issued_at));
    assert!(!body.contains_key("client_secret"));
    assert!(!body.contains_key("client_secret_expires_at"));
    // Everything registered is echoed as registered.
    for field in [
        "client_name",
        "redirect_uris",
        "grant_types",
        "response_types",
        "token_endpoint_auth_method",
    ] {
        assert_eq!(body[field], inspector()[field], "{field}");
    }
    assert_eq!(tenant.registered_clients(), 1);
}

#[tokio::test]
async fn rfc7591_3_2_1_a_confidential_client_gets_a_secret_that_never_expires() {
    let tenant = tenant().await;
    for method in ["client_secret_basic", "client_secret_post"] {
        let mut metadata = inspector();
        metadata["token_endpoint_auth_method"] = method.into();
        let reply = register(&tenant, &metadata).await;
        reply.assert_registered();
        assert_eq!(reply.body["token_endpoint_auth_method"], method);
        let secret = reply.body["client_secret"].as_str().unwrap();
        assert!(secret.len() >= 32, "{secret}");
        assert_eq!(reply.body["client_secret_expires_at"], 0);
    }
    assert_eq!(tenant.registered_clients(), 2);
}

#[tokio::test]
async fn an_omitted_auth_method_is_client_secret_post_as_at_auth0() {
    // The MCP Python SDK's registration: no token_endpoint_auth_method, and a scope.
    let tenant = tenant().await;
    let reply = register(
        &tenant,
        &json!({
            "redirect_uris": ["http://localhost:3030/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "scope": "tool:greet offline_access",
            "client_name": "Python client",
        }),
    )
    .await;
    reply.assert_registered();
    assert_eq!(
        reply.body["token_endpoint_auth_method"],
        "client_secret_post"
    );
    assert!(reply.body["client_secret"].as_str().is_some());
    assert_eq!(reply.body["client_secret_expires_at"], 0);
    assert_eq!(reply.body["scope"], "tool:greet offline_access");
}

#[tokio::test]
async fn omitted_grant_and_response_types_are_authorization_code_and_code() {
    let tenant = tenant().await;
    let reply = register(
        &tenant,
        &json!({"redirect_uris": ["https://app.example/callback"]}),
    )
    .await;
    reply.assert_registered();
    assert_eq!(reply.body["grant_types"], json!(["authorization_code"]));
    assert_eq!(reply.body["response_types"], json!(["code"]));
    // Nothing was sent for these, so nothing is registered or echoed.
    assert!(reply.body.get("client_name").is_none());
    assert!(reply.body.get("scope").is_none());
    assert!(reply.body.get("application_type").is_none());
}

#[tokio::test]
async fn every_registration_gets_its_own_id_and_secret() {
    let tenant = tenant().await;
    let mut metadata = inspector();
    metadata["token_endpoint_auth_method"] = "client_secret_post".into();
    let first = register(&tenant, &metadata).await;
    let second = register(&tenant, &metadata).await;
    assert_ne!(first.body["client_id"], second.body["client_id"]);
    assert_ne!(first.body["client_secret"], second.body["client_secret"]);
    assert_eq!(tenant.registered_clients(), 2);
}

#[tokio::test]
async fn rfc7591_2_unknown_metadata_is_ignored_and_not_echoed() {
    let tenant = tenant().await;
    let mut metadata = inspector();
    metadata["logo_uri"] = "https://app.example/logo.png".into();
    metadata["x_vendor_extension"] = json!({"nested": [1, 2, 3]});
    metadata["client_secret"] = "chosen-by-the-client".into();
    let reply = register(&tenant, &metadata).await;
    reply.assert_registered();
    assert!(reply.body.get("logo_uri").is_none());
    assert!(reply.body.get("x_vendor_extension").is_none());
    // A client does not choose its own secret; a public client gets none.
    assert!(reply.body.get("client_secret").is_none());
}

#[tokio::test]
async fn rfc8252_vs_code_native_loopback_and_custom_scheme_uris_are_registered() {
    // VS Code: application_type native, loopback with and without a port; Cursor and
    // VS Code also use their own schemes (RFC 8252 §7.1).
    let tenant = tenant().await;
    let uris = json!([
        "http://127.0.0.1/",
        "http://127.0.0.1:33418/",
        "http://localhost:8080/callback",
        "http://[::1]:9000/callback",
        "https://vscode.dev/redirect",
        "vscode://vscode.github-authentication/did-authenticate",
        "cursor://anysphere.cursor-retrieval/oauth/callback",
    ]);
    let mut metadata = with_redirect_uris(uris.clone());
    metadata["application_type"] = "native".into();
    let reply = register(&tenant, &metadata).await;
    reply.assert_registered();
    assert_eq!(reply.body["redirect_uris"], uris);
    assert_eq!(reply.body["application_type"], "native");
}

#[tokio::test]
async fn rfc7591_3_2_2_no_redirect_uris_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    let mut metadata = inspector();
    metadata.as_object_mut().unwrap().remove("redirect_uris");
    register(&tenant, &metadata)
        .await
        .assert_refused("invalid_redirect_uri");
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_empty_redirect_uris_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    register(&tenant, &with_redirect_uris(json!([])))
        .await
        .assert_refused("invalid_redirect_uri");
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_redirect_uris_not_an_array_of_strings_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    for uris in [json!("http://localhost:6274/oauth/callback"), json!([42])] {
        register(&tenant, &with_redirect_uris(uris))
            .await
            .assert_refused("invalid_redirect_uri");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc6749_3_1_2_a_redirect_uri_with_a_fragment_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    for uri in [
        "https://app.example/callback#x",
        "https://app.example/callback#",
    ] {
        register(
            &tenant,
            &with_redirect_uris(json!(["https://app.example/ok", uri])),
        )
        .await
        .assert_refused("invalid_redirect_uri");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc6749_3_1_2_a_relative_redirect_uri_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    for uri in ["/callback", "callback", "//app.example/callback", ""] {
        register(&tenant, &with_redirect_uris(json!([uri])))
            .await
            .assert_refused("invalid_redirect_uri");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc8252_8_3_plain_http_to_a_host_other_than_loopback_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    for uri in [
        "http://app.example/callback",
        "http://localhost.app.example/callback",
        "http://127.0.0.2/callback",
        "http://10.0.0.1/callback",
        "http://[::2]/callback",
    ] {
        register(&tenant, &with_redirect_uris(json!([uri])))
            .await
            .assert_refused("invalid_redirect_uri");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn a_script_or_data_uri_is_invalid_redirect_uri() {
    let tenant = tenant().await;
    for uri in [
        "javascript:alert(1)",
        "javascript://app.example/%0aalert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "mailto:someone@app.example",
    ] {
        register(&tenant, &with_redirect_uris(json!([uri])))
            .await
            .assert_refused("invalid_redirect_uri");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_an_unsupported_grant_type_is_invalid_client_metadata() {
    // Auth0 filters grant_types down to these two; the demo refuses instead, so that a
    // client never believes it holds a grant it cannot use.
    let tenant = tenant().await;
    for grants in [
        json!(["authorization_code", "client_credentials"]),
        json!(["authorization_code", "implicit"]),
        json!([
            "authorization_code",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ]),
    ] {
        let mut metadata = inspector();
        metadata["grant_types"] = grants;
        register(&tenant, &metadata)
            .await
            .assert_refused("invalid_client_metadata");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_2_1_grant_types_without_authorization_code_is_invalid_client_metadata() {
    let tenant = tenant().await;
    for grants in [json!(["refresh_token"]), json!([])] {
        let mut metadata = inspector();
        metadata["grant_types"] = grants;
        register(&tenant, &metadata)
            .await
            .assert_refused("invalid_client_metadata");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_a_response_type_other_than_code_is_invalid_client_metadata() {
    let tenant = tenant().await;
    for types in [json!(["token"]), json!(["code", "id_token"]), json!([])] {
        let mut metadata = inspector();
        metadata["response_types"] = types;
        register(&tenant, &metadata)
            .await
            .assert_refused("invalid_client_metadata");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_an_unsupported_auth_method_is_invalid_client_metadata() {
    let tenant = tenant().await;
    for method in [
        "private_key_jwt",
        "client_secret_jwt",
        "tls_client_auth",
        "",
    ] {
        let mut metadata = inspector();
        metadata["token_endpoint_auth_method"] = method.into();
        register(&tenant, &metadata)
            .await
            .assert_refused("invalid_client_metadata");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn an_application_type_other_than_web_or_native_is_invalid_client_metadata() {
    let tenant = tenant().await;
    let mut metadata = inspector();
    metadata["application_type"] = "spa".into();
    register(&tenant, &metadata)
        .await
        .assert_refused("invalid_client_metadata");
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_1_a_body_that_is_not_a_json_object_is_invalid_client_metadata() {
    let tenant = tenant().await;
    for body in [
        "[]",
        "\"client\"",
        "null",
        "{\"redirect_uris\": [",
        "",
        "\u{0}",
    ] {
        post_raw(&tenant, "application/json", body)
            .await
            .assert_refused("invalid_client_metadata");
    }
    // The same object as a form is not a registration request.
    post_raw(
        &tenant,
        "application/x-www-form-urlencoded",
        "redirect_uris=https%3A%2F%2Fapp.example%2Fcb",
    )
    .await
    .assert_refused("invalid_client_metadata");
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn rfc7591_3_2_2_a_field_of_the_wrong_type_is_invalid_client_metadata() {
    let tenant = tenant().await;
    for (field, value) in [
        ("client_name", json!(42)),
        ("grant_types", json!("authorization_code")),
        ("grant_types", json!([["authorization_code"]])),
        ("response_types", json!("code")),
        ("token_endpoint_auth_method", json!(["none"])),
        ("scope", json!(["tool:greet"])),
        ("application_type", json!(true)),
    ] {
        let mut metadata = inspector();
        metadata[field] = value;
        let reply = register(&tenant, &metadata).await;
        reply.assert_refused("invalid_client_metadata");
        let description = reply.body["error_description"].as_str().unwrap();
        assert!(description.contains(field), "{description}");
    }
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn a_registration_body_over_64_kib_is_refused_with_413() {
    let tenant = tenant().await;
    let mut metadata = inspector();
    metadata["client_name"] = "x".repeat(64 * 1024).into();
    let reply = register(&tenant, &metadata).await;
    assert_eq!(reply.status, 413, "body: {}", reply.body);
    assert_eq!(reply.body["error"], "invalid_client_metadata");
    assert_nothing_registered(&tenant);
}

#[tokio::test]
async fn registrations_beyond_max_clients_are_refused_naming_the_limit() {
    let tenant = MockTenant::start(TenantConfig {
        max_clients: 2,
        ..TenantConfig::default()
    })
    .await;
    register(&tenant, &inspector()).await.assert_registered();
    register(&tenant, &inspector()).await.assert_registered();
    let reply = register(&tenant, &inspector()).await;
    reply.assert_refused("invalid_client_metadata");
    let description = reply.body["error_description"].as_str().unwrap();
    assert!(description.contains("at most 2 "), "{description}");
    assert_eq!(tenant.registered_clients(), 2);
}
