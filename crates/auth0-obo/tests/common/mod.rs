//! Shared fixtures: wiremock plays the Auth0 tenant.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use auth0_obo::{ClientAuthMethod, ExchangeClient, ExchangeClientBuilder, RetryPolicy};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

pub const CLIENT_ID: &str = "mcp-server-client";
pub const CLIENT_SECRET: &str = "very-secret-client-secret-Zq9";
/// Looks like a JWT so that leaks would be easy to spot.
pub const USER_A_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLWEifQ.c2lnbmF0dXJlLWE";
pub const USER_B_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLWIifQ.c2lnbmF0dXJlLWI";
pub const API_AUDIENCE: &str = "http://localhost:8787/";
pub const API_TOKEN: &str = "api-token-issued-by-exchange-XYZ123";

pub fn token_body(access_token: &str, expires_in: u64) -> Value {
    json!({
        "access_token": access_token,
        "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
        "token_type": "Bearer",
        "expires_in": expires_in,
    })
}

pub fn ok_response(access_token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(token_body(access_token, expires_in))
}

pub fn oauth_error(status: u16, code: &str, description: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"error": code, "error_description": description}))
}

pub fn token_endpoint() -> wiremock::MockBuilder {
    Mock::given(method("POST")).and(path("/oauth/token"))
}

/// A builder pointed at the mock tenant, with retries fast enough for tests.
pub fn builder(server: &MockServer) -> ExchangeClientBuilder {
    builder_with(server, CLIENT_SECRET)
}

/// [`builder`], authenticating with `auth`.
pub fn builder_with(
    server: &MockServer,
    auth: impl Into<ClientAuthMethod>,
) -> ExchangeClientBuilder {
    ExchangeClient::builder(server.uri(), CLIENT_ID, auth)
        .retry_policy(RetryPolicy::new(
            2,
            Duration::from_millis(10),
            Duration::from_millis(50),
        ))
        .timeout(Duration::from_secs(2))
        .deadline(Duration::from_secs(5))
}

pub fn client(server: &MockServer) -> ExchangeClient {
    builder(server).build().expect("client builds")
}

/// The form fields of a request, as a map; panics on a repeated field, which the
/// wire format never has.
pub fn form(request: &Request) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(&request.body) {
        assert!(
            fields.insert(k.to_string(), v.to_string()).is_none(),
            "field {k} repeated"
        );
    }
    fields
}

pub async fn token_requests(server: &MockServer) -> Vec<Request> {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .into_iter()
        .filter(|r| r.url.path() == "/oauth/token")
        .collect()
}
