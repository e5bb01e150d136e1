//! `greet`'s delegated call when it fails: Auth0 refusing or failing the exchange and the
//! private API refusing, failing, hanging or missing all become tool results a person
//! can act on (`isError: true`, the cause and the setting to check, never a token), and
//! a 401 from the API is retried exactly once with a fresh exchange.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    Options, PRIVATE_SCOPE_PATH, TestServer, closed_port, mount_api_unauthorized, tool_text,
};
use obo_tests::tenant::Fault;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// Calls `greet` for `auth0|alice` over raw JSON-RPC and returns the tool's text,
/// asserting it is a tool error (not a JSON-RPC error) that leaks no secret.
async fn greet_error(server: &TestServer) -> String {
    let token = server.full_token("auth0|alice");
    let answer = server
        .http()
        .call_tool(Some(&token), "greet", json!({}))
        .await;
    assert!(
        answer.body.get("error").is_none(),
        "a tool error, not a JSON-RPC error: {answer:?}"
    );
    let (text, is_error) = tool_text(&answer);
    assert!(is_error, "expected isError: true, got {text}");
    assert_no_secret(server, &token, &text);
    text
}

async fn greet_ok(server: &TestServer, sub: &str) -> String {
    greet_ok_with(server, &server.full_token(sub)).await
}

/// A token minted a second later differs (its `iat` and `exp`), and so does its cache
/// key: tests that expect a cache hit send the same token twice.
async fn greet_ok_with(server: &TestServer, token: &str) -> String {
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(token), "greet", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    text
}

fn assert_no_secret(server: &TestServer, user_token: &str, text: &str) {
    assert!(!text.contains(user_token), "user token in: {text}");
    assert!(
        !text.contains(server.tenant.client_secret()),
        "client secret in: {text}"
    );
    assert!(!text.contains("eyJ"), "something JWT-like in: {text}");
    assert!(!text.contains("Bearer "), "a bearer value in: {text}");
}

fn oauth_error(status: u16, error: &str, description: &str) -> Fault {
    Fault::OAuthError {
        status,
        error: error.to_owned(),
        description: description.to_owned(),
    }
}

#[tokio::test]
async fn rfc6749_5_2_unauthorized_client_names_the_custom_api_client_setting() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.inject(
        oauth_error(
            403,
            "unauthorized_client",
            "The client is not authorized for token exchange",
        ),
        Some(1),
    );
    let text = greet_error(&server).await;
    assert!(
        text.starts_with("Auth0 did not exchange your token for the private API: token endpoint refused the exchange: unauthorized_client"),
        "{text}"
    );
    assert!(text.contains("Custom API client"), "{text}");
    assert!(text.contains("on_behalf_of_token_exchange"), "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 1, "4xx is not retried");
    assert_eq!(server.api_requests().await, 0);
}

#[tokio::test]
async fn rfc6749_5_2_access_denied_names_the_client_grant_and_exchange_scope() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.inject(
        oauth_error(403, "access_denied", "Client has not been granted scopes"),
        Some(1),
    );
    let text = greet_error(&server).await;
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("client grant"), "{text}");
    assert!(text.contains("MCP_AUTH0_EXCHANGE_SCOPE"), "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 1);
}

#[tokio::test]
async fn rfc6749_5_2_invalid_client_from_a_wrong_secret_names_the_credentials() {
    let wrong = "wrong-secret-0123456789abcdef";
    let server = TestServer::start(Options {
        client_secret: Some(wrong.to_owned()),
        ..Options::default()
    })
    .await;
    let text = greet_error(&server).await;
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        text.contains("MCP_AUTH0_CLIENT_ID and MCP_AUTH0_CLIENT_SECRET"),
        "{text}"
    );
    assert!(!text.contains(wrong), "{text}");
    assert_eq!(server.tenant.exchanges(), 0);
    assert_eq!(server.api_requests().await, 0);
}

#[tokio::test]
async fn rate_limited_says_when_to_retry() {
    let server = TestServer::start(Options::default()).await;
    // Longer than the exchange's overall deadline, so it is reported, not waited out.
    server.tenant.inject(
        Fault::RateLimited {
            retry_after_secs: 45,
        },
        None,
    );
    let started = Instant::now();
    let text = greet_error(&server).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it did not wait"
    );
    assert!(text.contains("rate limit"), "{text}");
    assert!(text.contains("retry after 45 s"), "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 1);
}

#[tokio::test]
async fn auth0_5xx_beyond_the_retries_says_auth0_failed_and_names_auth0_domain() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.inject(Fault::ServerError, None);
    let text = greet_error(&server).await;
    assert!(text.contains("HTTP 500"), "{text}");
    assert!(
        text.contains("Auth0 could not be reached or failed"),
        "{text}"
    );
    assert!(text.contains("AUTH0_DOMAIN"), "{text}");
    assert_eq!(
        server.tenant.exchange_attempts(),
        3,
        "one try and two retries"
    );
    assert_eq!(server.api_requests().await, 0);
}

#[tokio::test]
async fn auth0_5xx_once_is_retried_and_the_call_succeeds() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.inject(Fault::ServerError, Some(1));
    greet_ok(&server, "auth0|alice").await;
    assert_eq!(server.tenant.exchange_attempts(), 2);
    assert_eq!(server.tenant.exchanges(), 1);
}

#[tokio::test]
async fn invariant_3_a_failed_exchange_is_not_cached() {
    let server = TestServer::start(Options::default()).await;
    server
        .tenant
        .inject(oauth_error(403, "access_denied", "not this time"), Some(1));
    greet_error(&server).await;
    greet_ok(&server, "auth0|alice").await;
    assert_eq!(server.tenant.exchange_attempts(), 2);
    assert_eq!(server.tenant.exchanges(), 1);
}

#[tokio::test]
async fn the_private_api_answering_500_is_reported_with_its_status() {
    let server = TestServer::start(Options::default()).await;
    Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(ResponseTemplate::new(500).set_body_string("database on fire"))
        .with_priority(1)
        .mount(&server.api)
        .await;
    let text = greet_error(&server).await;
    assert_eq!(
        text,
        "The private API call failed: the private API answered 500: database on fire."
    );
    assert_eq!(server.tenant.exchanges(), 1);
}

#[tokio::test]
async fn the_private_api_refusing_a_scope_names_the_scope_to_grant() {
    let server = TestServer::start(Options::default()).await;
    Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(ResponseTemplate::new(403).insert_header(
            "www-authenticate",
            r#"Bearer error="insufficient_scope", scope="read:private""#,
        ))
        .with_priority(1)
        .mount(&server.api)
        .await;
    let text = greet_error(&server).await;
    assert!(text.contains("read:private"), "{text}");
    assert!(text.contains("MCP_AUTH0_EXCHANGE_SCOPE"), "{text}");
}

#[tokio::test]
async fn an_unreachable_private_api_names_api_base_url() {
    let server = TestServer::start(Options {
        api_base_url: Some(format!("http://127.0.0.1:{}", closed_port())),
        ..Options::default()
    })
    .await;
    let text = greet_error(&server).await;
    assert_eq!(
        text,
        "The private API is unreachable: check API_BASE_URL and that the API is running."
    );
    assert_eq!(server.tenant.exchanges(), 1);
}

#[tokio::test]
async fn a_private_api_slower_than_upstream_timeout_secs_times_out() {
    let server = TestServer::start(Options {
        upstream_timeout_secs: 1,
        ..Options::default()
    })
    .await;
    Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"msg": "late", "sub": "auth0|alice"}))
                .set_delay(Duration::from_secs(10)),
        )
        .with_priority(1)
        .mount(&server.api)
        .await;
    let started = Instant::now();
    let text = greet_error(&server).await;
    let elapsed = started.elapsed();
    assert_eq!(
        text,
        "The private API did not answer in time; retry shortly."
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_401_from_the_api_is_retried_once_with_a_fresh_exchange() {
    let server = TestServer::start(Options::default()).await;
    mount_api_unauthorized(&server.api, Some(1)).await;
    let token = server.full_token("auth0|alice");
    let text = greet_ok_with(&server, &token).await;
    assert!(text.starts_with("Hello, there (auth0|alice)!"), "{text}");
    assert_eq!(server.tenant.exchanges(), 2);
    assert_eq!(server.api_requests().await, 2);
    let authorizations = server.api_authorizations().await;
    assert_ne!(
        authorizations[0], authorizations[1],
        "the retry uses a freshly exchanged token"
    );

    // The fresh token is the one cached now.
    greet_ok_with(&server, &token).await;
    assert_eq!(server.tenant.exchanges(), 2);
    let authorizations = server.api_authorizations().await;
    assert_eq!(authorizations[1], authorizations[2]);
}

#[tokio::test]
async fn a_401_from_the_api_every_time_is_reported_after_exactly_one_retry() {
    let server = TestServer::start(Options::default()).await;
    mount_api_unauthorized(&server.api, None).await;
    let text = greet_error(&server).await;
    assert!(
        text.starts_with(
            "The private API refused the exchanged token even after a fresh exchange."
        ),
        "{text}"
    );
    assert!(text.contains("API_AUTH0_AUDIENCE"), "{text}");
    assert_eq!(server.api_requests().await, 2, "no loop");
    assert_eq!(server.tenant.exchanges(), 2);
}

/// Wired where it matters: the exchanged token lives an hour, the user's token three
/// seconds. Once the user's token has expired (the server still accepts it, inside its
/// 60 s leeway), the cached exchanged token must not be served: the server exchanges
/// again, and the tenant refuses the expired subject token.
#[tokio::test]
async fn the_subject_tokens_expiry_caps_the_cached_exchanged_token() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .scope("tool:greet")
            .expires_in(3),
    );
    let http = server.http();
    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "greet", json!({})).await);
    assert!(!is_error, "{text}");
    assert_eq!(server.tenant.exchange_attempts(), 1);

    tokio::time::sleep(Duration::from_secs(4)).await;
    let (text, is_error) = tool_text(&http.call_tool(Some(&token), "greet", json!({})).await);
    assert_eq!(
        server.tenant.exchange_attempts(),
        2,
        "the cached token outlived the user's token"
    );
    assert_eq!(
        server.tenant.exchanges(),
        1,
        "the second exchange is refused"
    );
    assert!(is_error, "the expired subject token was refused: {text}");
    assert_no_secret(&server, &token, &text);
}
