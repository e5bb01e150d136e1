//! Every route besides the tools: discovery metadata, health, methods, body limits,
//! CORS and the DNS-rebinding guard.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Options, TestServer, read};
use serde_json::json;

async fn get(url: &str) -> common::Answer {
    read(reqwest::get(url).await.unwrap()).await
}

fn expected_protected_resource_metadata(server: &TestServer) -> serde_json::Value {
    json!({
        "resource": server.tenant.mcp_audience(),
        "authorization_servers": [server.tenant.issuer()],
        "scopes_supported": ["tool:greet", "tool:whoami"],
        "bearer_methods_supported": ["header"],
        "resource_name": "obo-mcp",
    })
}

#[tokio::test]
async fn rfc9728_3_protected_resource_metadata_is_served_on_the_bare_path() {
    let server = TestServer::start(Options::default()).await;
    let answer = get(&server.url("/.well-known/oauth-protected-resource")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body, expected_protected_resource_metadata(&server));
}

#[tokio::test]
async fn rfc9728_3_1_protected_resource_metadata_is_served_on_the_path_inserted_url() {
    let server = TestServer::start(Options::default()).await;
    let answer = get(&server.url("/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    assert_eq!(answer.body, expected_protected_resource_metadata(&server));
    // The issuer keeps Auth0's trailing slash, exactly as tokens carry it in `iss`.
    assert!(server.tenant.issuer().ends_with('/'));
}

#[tokio::test]
async fn rfc8414_authorization_server_metadata_describes_the_tenant() {
    let server = TestServer::start(Options::default()).await;
    let issuer = server.tenant.issuer();
    let answer = get(&server.url("/.well-known/oauth-authorization-server")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(
        answer.body,
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}authorize"),
            "token_endpoint": format!("{issuer}oauth/token"),
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
            "registration_endpoint": format!("{issuer}oidc/register"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "scopes_supported": ["openid", "profile", "email", "offline_access", "tool:greet", "tool:whoami"],
        })
    );
    // The endpoints it names are the tenant's real ones.
    let jwks = get(answer.body["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(jwks.status, 200);
    assert!(jwks.body["keys"].is_array());
}

#[tokio::test]
async fn metadata_is_served_while_the_tenant_is_down() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/healthz",
    ] {
        assert_eq!(get(&server.url(path)).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let server = TestServer::start(Options::default()).await;
    let answer = get(&server.url("/healthz")).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!("ok"));
}

#[tokio::test]
async fn get_and_delete_on_mcp_answer_405_allowing_post() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        for authorization in [None, Some(format!("Bearer {token}"))] {
            let mut request = http
                .request(method.clone(), server.mcp_url())
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", "some-session");
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            let answer = read(request.send().await.unwrap()).await;
            assert_eq!(answer.status, 405, "{method} {answer:?}");
            let allow = answer.header("allow").unwrap_or_default();
            assert!(allow.contains("POST"), "{method}: allow = {allow:?}");
        }
    }
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_refused_with_413() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let padding = "x".repeat(1024 * 1024);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"padding": padding}}});
    let answer = read(
        server
            .http()
            .request(&[&format!("Bearer {token}")], &body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 413, "{:?}", answer.headers);
    assert_eq!(
        answer.body,
        json!({"error": "invalid_request", "error_description": "the request body is larger than 1048576 bytes"})
    );

    // Just under the limit still reaches rmcp.
    let padding = "x".repeat(1024 * 1024 - 200);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {"padding": padding}}});
    assert!(serde_json::to_vec(&body).unwrap().len() <= 1024 * 1024);
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], body)
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.headers);
}

const INSPECTOR: &str = "http://localhost:6274";

#[tokio::test]
async fn cors_preflight_from_a_configured_origin_allows_the_mcp_headers() {
    let server = TestServer::start(Options {
        cors_origins: format!("{INSPECTOR}, https://app.example.com"),
        ..Options::default()
    })
    .await;
    let answer = read(
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, server.mcp_url())
            .header("origin", INSPECTOR)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type,mcp-session-id,mcp-protocol-version",
            )
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(INSPECTOR)
    );
    let methods = answer
        .header("access-control-allow-methods")
        .unwrap()
        .to_ascii_lowercase();
    assert!(methods.contains("post"), "{methods}");
    assert!(
        !methods.contains("delete"),
        "stateless /mcp has no DELETE: {methods}"
    );
    let allowed = answer
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "authorization",
        "content-type",
        "mcp-session-id",
        "mcp-protocol-version",
    ] {
        assert!(allowed.contains(header), "{header} not in {allowed}");
    }
}

#[tokio::test]
async fn cors_responses_expose_www_authenticate_and_the_session_id() {
    let server = TestServer::start(Options {
        cors_origins: INSPECTOR.to_owned(),
        ..Options::default()
    })
    .await;
    // A browser client must be able to read the challenge to find the metadata.
    let answer = read(
        server
            .http()
            .request(
                &[],
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .header("origin", INSPECTOR)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.header("access-control-allow-origin"),
        Some(INSPECTOR)
    );
    let exposed = answer
        .header("access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
}

#[tokio::test]
async fn cors_gives_an_unconfigured_origin_nothing() {
    let server = TestServer::start(Options {
        cors_origins: INSPECTOR.to_owned(),
        ..Options::default()
    })
    .await;
    let preflight = read(
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, server.mcp_url())
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        preflight.header("access-control-allow-origin").is_none(),
        "{preflight:?}"
    );
    let token = server.full_token("auth0|alice");
    let answer = read(
        server
            .http()
            .request(
                &[&format!("Bearer {token}")],
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        answer.header("access-control-allow-origin").is_none(),
        "{answer:?}"
    );
}

#[tokio::test]
async fn cors_is_off_when_no_origin_is_configured() {
    let server = TestServer::start(Options::default()).await;
    let preflight = read(
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, server.mcp_url())
            .header("origin", INSPECTOR)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(
        preflight.header("access-control-allow-origin").is_none(),
        "{preflight:?}"
    );
}

async fn list_with_host(server: &TestServer, host: &str) -> common::Answer {
    let token = server.full_token("auth0|alice");
    read(
        server
            .http()
            .request(
                &[&format!("Bearer {token}")],
                &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            )
            .header("host", host)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn dns_rebinding_an_unknown_host_header_is_refused() {
    let server = TestServer::start(Options::default()).await;
    let answer = list_with_host(&server, "evil.example").await;
    assert_eq!(answer.status, 403, "{answer:?}");
    assert_eq!(answer.body, json!("Forbidden: Host header is not allowed"));
    let port = server.addr.port();
    let answer = list_with_host(&server, &format!("evil.example:{port}")).await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

#[tokio::test]
async fn dns_rebinding_loopback_hosts_are_allowed() {
    let server = TestServer::start(Options::default()).await;
    let port = server.addr.port();
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let answer = list_with_host(&server, &host).await;
        assert_eq!(answer.status, 200, "{host}: {answer:?}");
    }
}

#[tokio::test]
async fn dns_rebinding_the_public_host_of_mcp_server_url_is_allowed() {
    let server = TestServer::start(Options {
        public_url: Some("https://mcp.example.com".to_owned()),
        ..Options::default()
    })
    .await;
    let answer = list_with_host(&server, "mcp.example.com").await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let answer = list_with_host(&server, "other.example.com").await;
    assert_eq!(answer.status, 403, "{answer:?}");
}

#[tokio::test]
async fn an_unknown_path_is_404() {
    let server = TestServer::start(Options::default()).await;
    assert_eq!(get(&server.url("/nope")).await.status, 404);
}
