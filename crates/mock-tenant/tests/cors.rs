//! CORS over real HTTP: a browser-based MCP client (the MCP Inspector's UI) may call
//! discovery, JWKS, registration, the token endpoint and revocation from an allowed
//! origin, and from no other.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mock_tenant::{MockTenant, TenantConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::json;

const INSPECTOR: &str = "http://localhost:6274";

/// Every route a browser client calls itself, with the method its endpoint takes.
const BROWSER_ROUTES: [(&str, &str); 6] = [
    ("GET", ".well-known/oauth-authorization-server"),
    ("GET", ".well-known/openid-configuration"),
    ("GET", ".well-known/jwks.json"),
    ("POST", "oidc/register"),
    ("POST", "oauth/token"),
    ("POST", "oauth/revoke"),
];

/// A request as the browser sends it for `route` from `origin`: the Inspector registers
/// with JSON and talks to the token endpoint with a form.
fn browser_request(tenant: &MockTenant, route: &str, origin: &str) -> RequestBuilder {
    let client = reqwest::Client::new();
    let url = format!("{}{route}", tenant.issuer());
    let request = match route {
        "oidc/register" => client.post(url).json(&json!({
            "redirect_uris": [format!("{INSPECTOR}/oauth/callback")],
            "token_endpoint_auth_method": "none",
        })),
        "oauth/token" => client
            .post(url)
            .form(&[("grant_type", "authorization_code"), ("code", "x")]),
        "oauth/revoke" => client
            .post(url)
            .form(&[("client_id", "tpc_unknown"), ("token", "x")]),
        _ => client.get(url).header("mcp-protocol-version", "2025-06-18"),
    };
    request.header("origin", origin)
}

fn preflight(tenant: &MockTenant, route: &str, method: &str, origin: &str) -> RequestBuilder {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}{route}", tenant.issuer()))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type,mcp-protocol-version",
        )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[track_caller]
fn assert_no_cors_headers(headers: &HeaderMap, what: &str) {
    let cors: Vec<_> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{what}: {cors:?}");
}

#[track_caller]
fn assert_varies_on_origin(headers: &HeaderMap, what: &str) {
    let vary: Vec<_> = headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .collect();
    assert!(
        vary.iter()
            .any(|v| v.split(',').any(|h| h.trim() == "origin")),
        "{what}: {vary:?}"
    );
}

#[tokio::test]
async fn an_allowed_origin_may_read_the_answers_of_every_browser_endpoint() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    for (_, route) in BROWSER_ROUTES {
        let response = browser_request(&tenant, route, INSPECTOR)
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some(INSPECTOR),
            "{route}"
        );
        assert_varies_on_origin(headers, route);
        // No cookies are involved, so credentials are never allowed.
        assert_eq!(header(headers, "access-control-allow-credentials"), None);
    }
    // The registration went through, and the token refusal is readable by the page.
    assert_eq!(tenant.registered_clients(), 1);
}

#[tokio::test]
async fn fetch_cors_preflight_from_an_allowed_origin_is_answered_on_every_browser_route() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    for (method, route) in BROWSER_ROUTES {
        let response = preflight(&tenant, route, method, INSPECTOR)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204, "{route}");
        let headers = response.headers();
        assert_eq!(
            header(headers, "access-control-allow-origin"),
            Some(INSPECTOR),
            "{route}"
        );
        assert_eq!(
            header(headers, "access-control-allow-methods"),
            Some(method),
            "{route}"
        );
        let allowed = header(headers, "access-control-allow-headers").unwrap();
        for needed in ["content-type", "authorization", "mcp-protocol-version"] {
            assert!(
                allowed.split(',').any(|h| h.trim() == needed),
                "{route}: {needed} not in {allowed}"
            );
        }
        let max_age: u64 = header(headers, "access-control-max-age")
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age > 0, "{route}");
        assert_varies_on_origin(headers, route);
    }
}

#[tokio::test]
async fn an_origin_not_allowed_gets_no_cors_headers() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    for origin in [
        "https://evil.example",
        "http://localhost:62740",
        "http://localhost:6274.evil.example",
        "http://localhost:6274/",
        "null",
    ] {
        for (method, route) in BROWSER_ROUTES {
            let response = preflight(&tenant, route, method, origin)
                .send()
                .await
                .unwrap();
            assert_no_cors_headers(response.headers(), &format!("OPTIONS {route} {origin}"));
            assert_varies_on_origin(response.headers(), route);
            let response = browser_request(&tenant, route, origin)
                .send()
                .await
                .unwrap();
            assert_no_cors_headers(response.headers(), &format!("{method} {route} {origin}"));
        }
    }
}

#[tokio::test]
async fn a_request_without_origin_gets_no_cors_headers() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let response = reqwest::get(tenant.jwks_uri()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_no_cors_headers(response.headers(), "GET jwks");
}

#[tokio::test]
async fn allowed_origins_come_from_the_tenant_config() {
    let app = "https://app.example";
    let tenant = MockTenant::start(TenantConfig {
        allowed_origins: vec![app.into()],
        ..TenantConfig::default()
    })
    .await;
    let route = ".well-known/jwks.json";
    let response = browser_request(&tenant, route, app).send().await.unwrap();
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some(app)
    );
    let response = browser_request(&tenant, route, INSPECTOR)
        .send()
        .await
        .unwrap();
    assert_no_cors_headers(response.headers(), "the default origin, no longer allowed");
}

#[tokio::test]
async fn authorize_is_a_navigation_not_a_cors_endpoint() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let response = preflight(&tenant, "authorize", "GET", INSPECTOR)
        .send()
        .await
        .unwrap();
    assert_no_cors_headers(response.headers(), "OPTIONS /authorize");
}
