//! The tenant's authorization-server metadata over real HTTP: served at both well-known
//! paths, listing only what is implemented, and every URL it lists answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mock_tenant::{MockTenant, TOKEN_EXCHANGE_GRANT, TenantConfig};
use serde_json::{Value, json};

const WELL_KNOWN: [&str; 2] = [
    ".well-known/oauth-authorization-server",
    ".well-known/openid-configuration",
];

async fn metadata_at(tenant: &MockTenant, well_known: &str) -> Value {
    let response = reqwest::get(format!("{}{well_known}", tenant.issuer()))
        .await
        .expect("tenant reachable");
    assert_eq!(response.status(), 200, "{well_known}");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

async fn metadata(tenant: &MockTenant) -> Value {
    metadata_at(tenant, WELL_KNOWN[0]).await
}

#[tokio::test]
async fn rfc8414_3_the_same_metadata_is_served_at_both_well_known_paths() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let rfc8414 = metadata_at(&tenant, WELL_KNOWN[0]).await;
    let oidc = metadata_at(&tenant, WELL_KNOWN[1]).await;
    assert_eq!(rfc8414, oidc);
    // RFC 8414 §3.3: the issuer is the one whose metadata was asked for; MCP clients
    // compare it with the Protected Resource Metadata's entry exactly.
    assert_eq!(rfc8414["issuer"], tenant.issuer());
    assert!(tenant.issuer().starts_with("http://127.0.0.1:"));
    assert!(tenant.issuer().ends_with('/'));
}

#[tokio::test]
async fn metadata_lists_exactly_what_is_implemented() {
    // No userinfo_endpoint and no openid/profile/email (no first-party client could use
    // them), no client_credentials grant, no fragment or form_post response mode, no
    // `plain` PKCE, and no client_id_metadata_document_supported (CIMD is not
    // implemented): the whole document is compared, so nothing slips in.
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let issuer = tenant.issuer();
    let methods = json!(["client_secret_basic", "client_secret_post", "none"]);
    assert_eq!(
        metadata(&tenant).await,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}authorize"),
            "token_endpoint": format!("{issuer}oauth/token"),
            "registration_endpoint": format!("{issuer}oidc/register"),
            "revocation_endpoint": format!("{issuer}oauth/revoke"),
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
            "scopes_supported": ["tool:whoami", "tool:greet", "offline_access"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", TOKEN_EXCHANGE_GRANT],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_methods_supported": methods,
            "authorization_response_iss_parameter_supported": true,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
        })
    );
    assert_eq!(tenant.token_endpoint(), format!("{issuer}oauth/token"));
    assert_eq!(tenant.jwks_uri(), format!("{issuer}.well-known/jwks.json"));
    assert_eq!(
        tenant.registration_endpoint(),
        format!("{issuer}oidc/register")
    );
}

#[tokio::test]
async fn oidc_discovery_3_required_fields_keep_the_document_parseable_as_oidc() {
    // The TypeScript SDK validates openid-configuration with its OIDC schema.
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let doc = metadata_at(&tenant, WELL_KNOWN[1]).await;
    for field in ["issuer", "authorization_endpoint", "jwks_uri"] {
        assert!(doc[field].is_string(), "{field}");
    }
    for field in [
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ] {
        assert!(
            doc[field].as_array().is_some_and(|a| !a.is_empty()),
            "{field}"
        );
    }
}

#[tokio::test]
async fn scopes_supported_are_the_mcp_apis_scopes_and_offline_access() {
    let tenant = MockTenant::start(TenantConfig {
        mcp_api_scopes: vec!["tool:a".into(), "tool:b".into(), "tool:c".into()],
        ..TenantConfig::default()
    })
    .await;
    assert_eq!(
        metadata(&tenant).await["scopes_supported"],
        json!(["tool:a", "tool:b", "tool:c", "offline_access"])
    );
}

#[tokio::test]
async fn metadata_lists_no_endpoint_that_answers_404() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let doc = metadata(&tenant).await;
    let client = reqwest::Client::new();
    let mut probed = Vec::new();
    for (name, url) in doc.as_object().unwrap() {
        if !(name.ends_with("_endpoint") || name.ends_with("_uri")) {
            continue;
        }
        let url = url.as_str().unwrap();
        assert!(url.starts_with(tenant.issuer()), "{name}: {url}");
        // The browser navigates to /authorize and fetches the JWKS; the rest take a POST.
        let request = match name.as_str() {
            "authorization_endpoint" | "jwks_uri" => client.get(url),
            _ => client.post(url),
        };
        let status = request.send().await.expect("tenant reachable").status();
        probed.push((name.clone(), status.as_u16()));
    }
    let missing: Vec<_> = probed.iter().filter(|(_, status)| *status == 404).collect();
    assert!(missing.is_empty(), "listed but answering 404: {missing:?}");
    let mut probed: Vec<_> = probed.into_iter().map(|(name, _)| name).collect();
    probed.sort();
    assert_eq!(
        probed,
        [
            "authorization_endpoint",
            "jwks_uri",
            "registration_endpoint",
            "revocation_endpoint",
            "token_endpoint",
        ]
    );
}
