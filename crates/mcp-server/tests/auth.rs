//! The bearer layer in front of `/mcp`: every refusal and its exact challenge
//! (RFC 6750 §3, RFC 9728 §5.1, the MCP authorization spec).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Answer, Options, TestServer};
use jwt_verify::{BearerErrorCode, Challenge};
use obo_tests::keys::TestKey;
use serde_json::json;

fn list() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

/// What a 401's challenge names by default: every tool scope, sorted
/// (`MCP_BASE_SCOPES` unset).
const BASE_SCOPES: [&str; 2] = ["tool:greet", "tool:whoami"];

/// A 401 `invalid_token` with exactly `description`, in the challenge and the body.
fn assert_invalid_token(server: &TestServer, answer: &Answer, description: &str) {
    assert_eq!(answer.status, 401, "{answer:?}");
    let challenge = answer.challenge();
    assert_eq!(challenge.error_code(), Some(BearerErrorCode::InvalidToken));
    assert_eq!(challenge.error_description_value(), Some(description));
    assert_eq!(
        challenge.resource_metadata_value(),
        Some(server.resource_metadata_url().as_str())
    );
    assert_eq!(challenge.scopes().collect::<Vec<_>>(), BASE_SCOPES);
    assert_eq!(challenge.realm_value(), None);
    assert_eq!(challenge.error_uri_value(), None);
    assert_eq!(
        answer.body,
        json!({"error": "invalid_token", "error_description": description})
    );
}

/// A 400 `invalid_request` with exactly `description`, in the challenge and the body.
fn assert_invalid_request(server: &TestServer, answer: &Answer, description: &str) {
    assert_eq!(answer.status, 400, "{answer:?}");
    let challenge = answer.challenge();
    assert_eq!(
        challenge.error_code(),
        Some(BearerErrorCode::InvalidRequest)
    );
    assert_eq!(challenge.error_description_value(), Some(description));
    assert_eq!(
        challenge.resource_metadata_value(),
        Some(server.resource_metadata_url().as_str())
    );
    assert_eq!(challenge.scopes().count(), 0);
    assert_eq!(
        answer.body,
        json!({"error": "invalid_request", "error_description": description})
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_request_without_a_token_gets_a_challenge_without_an_error_code() {
    let server = TestServer::start(Options::default()).await;
    let answer = server.http().post(&[], list()).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    let expected = format!(
        r#"Bearer scope="tool:greet tool:whoami", resource_metadata="{}""#,
        server.resource_metadata_url()
    );
    assert_eq!(answer.header("www-authenticate"), Some(expected.as_str()));
    assert_eq!(
        answer.challenge(),
        Challenge::new()
            .scope(BASE_SCOPES)
            .resource_metadata(&server.resource_metadata_url())
    );
    assert_eq!(
        server.resource_metadata_url(),
        server.url("/.well-known/oauth-protected-resource")
    );
    assert_eq!(
        answer.body["error_description"],
        "an access token is required"
    );
    assert!(answer.body["error"].is_string(), "{answer:?}");
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn rfc9728_3_1_resource_metadata_is_path_inserted_when_the_audience_is_this_server() {
    let server = TestServer::start(Options {
        audience_on_this_server: true,
        ..Options::default()
    })
    .await;
    let answer = server.http().post(&[], list()).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.challenge().resource_metadata_value(),
        Some(
            server
                .url("/.well-known/oauth-protected-resource/mcp")
                .as_str()
        )
    );
    // And that URL serves the document for that resource.
    let metadata: serde_json::Value = reqwest::get(server.resource_metadata_url())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], server.mcp_url());
    // A token for that audience is accepted.
    let token = server.full_token("auth0|alice");
    assert_eq!(server.http().list_tools(&token).await.status, 200);
}

#[tokio::test]
async fn invariant_5_a_session_id_is_not_proof_of_identity() {
    let server = TestServer::start(Options::default()).await;
    let answer = read_of(
        server
            .http()
            .request(&[], &list())
            .header("mcp-session-id", "an-existing-looking-session")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(answer.challenge().error_code(), None);
}

async fn read_of(response: reqwest::Response) -> Answer {
    common::read(response).await
}

#[tokio::test]
async fn rfc6750_3_1_a_token_that_is_not_a_jwt_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    let answer = server
        .http()
        .post(&["Bearer not-a-jwt.at-all.really"], list())
        .await;
    assert_invalid_token(&server, &answer, OPAQUE);
}

/// What an opaque token (Auth0's answer to a client that asked for no API) is told.
const OPAQUE: &str = "The access token is opaque, not a JWT: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience";

#[tokio::test]
async fn issue_19_an_opaque_token_names_the_profile_or_audience() {
    let server = TestServer::start(Options::default()).await;
    let answer = server
        .http()
        .post(&["Bearer hQXhbU3i3XKFMHk_3HvTgcBrwNj4bJzC"], list())
        .await;
    assert_invalid_token(&server, &answer, OPAQUE);
}

#[tokio::test]
async fn issue_19_a_jwe_names_token_encryption() {
    let server = TestServer::start(Options::default()).await;
    let token = obo_tests::token::jwe_shaped();
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(
        &server,
        &answer,
        "The access token is encrypted (a JWE): turn off token encryption for this API in the tenant",
    );
}

#[tokio::test]
async fn issue_19_a_userinfo_only_token_names_the_profile_or_audience() {
    let server = TestServer::start(Options::default()).await;
    let userinfo = format!("{}userinfo", server.tenant.issuer());
    let token = server
        .tenant
        .sign_user_token(&server.tenant.user_token("auth0|alice").audience(userinfo));
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(
        &server,
        &answer,
        "The access token's only audience is the tenant's userinfo endpoint: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience",
    );
}

#[tokio::test]
async fn rfc6750_3_1_an_expired_token_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .issued_ago(7200)
            .expires_in(-3600),
    );
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(&server, &answer, "The access token expired");
}

#[tokio::test]
async fn rfc6750_3_1_a_token_for_another_audience_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    // The private API's token is the classic confused deputy: valid, but not for us.
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .audience(server.tenant.api_audience()),
    );
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(
        &server,
        &answer,
        &format!(
            "The access token is for the audience {} but this server expects the audience {}: the client must ask for a token for this API",
            server.tenant.api_audience(),
            server.tenant.mcp_audience()
        ),
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_token_from_another_issuer_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .issuer("https://evil.example/"),
    );
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(
        &server,
        &answer,
        &format!(
            "The access token was issued by https://evil.example/ but this server expects tokens issued by {}",
            server.tenant.issuer()
        ),
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_token_signed_by_an_unpublished_key_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    let stranger = TestKey::rsa("not-published");
    let token = server.tenant.user_token("auth0|alice").sign(&stranger);
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(
        &server,
        &answer,
        "The access token is signed with an unknown key",
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_forged_signature_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    // The tenant's kid, another key's signature.
    let kid = server.tenant.signing_key().kid().to_owned();
    let token = server
        .tenant
        .user_token("auth0|alice")
        .sign(&TestKey::rsa(kid));
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_invalid_token(&server, &answer, "The access token's signature is invalid");
}

#[tokio::test]
async fn rfc6750_3_1_an_unsigned_token_is_invalid_token() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.user_token("auth0|alice").unsigned();
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.challenge().error_code(),
        Some(BearerErrorCode::InvalidToken)
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_bearer_header_with_two_tokens_is_invalid_request() {
    let server = TestServer::start(Options::default()).await;
    let answer = server.http().post(&["Bearer a b"], list()).await;
    assert_invalid_request(
        &server,
        &answer,
        "The Authorization header must hold exactly one bearer token",
    );
}

/// The issue 16 probe: `!` is outside RFC 6750's `b64token`, and the description says
/// so rather than blaming the number of tokens.
#[tokio::test]
async fn rfc6750_2_1_a_bearer_token_outside_b64token_is_invalid_request_saying_so() {
    let server = TestServer::start(Options::default()).await;
    let answer = server.http().post(&["Bearer !!!.x.y"], list()).await;
    assert_invalid_request(
        &server,
        &answer,
        "The bearer token holds characters outside RFC 6750's b64token (letters, digits, - . _ ~ + / and trailing =)",
    );
}

#[tokio::test]
async fn rfc6750_3_1_a_bearer_header_without_a_token_is_invalid_request() {
    let server = TestServer::start(Options::default()).await;
    let answer = server.http().post(&["Bearer"], list()).await;
    assert_invalid_request(
        &server,
        &answer,
        "The Authorization header has no bearer token",
    );
}

#[tokio::test]
async fn rfc6750_3_1_another_authentication_scheme_is_treated_as_no_credentials() {
    let server = TestServer::start(Options::default()).await;
    let answer = server
        .http()
        .post(&["Basic dXNlcjpwYXNzd29yZA=="], list())
        .await;
    // "attempted using an unsupported authentication method": no error code.
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.challenge(),
        Challenge::new()
            .scope(BASE_SCOPES)
            .resource_metadata(&server.resource_metadata_url())
    );
}

#[tokio::test]
async fn mcp_base_scopes_replace_the_tool_scopes_in_the_401_challenge() {
    let server = TestServer::start(Options {
        base_scopes: Some("tool:whoami openid".into()),
        ..Options::default()
    })
    .await;
    let answer = server.http().post(&[], list()).await;
    assert_eq!(answer.status, 401, "{answer:?}");
    let expected = format!(
        r#"Bearer scope="openid tool:whoami", resource_metadata="{}""#,
        server.resource_metadata_url()
    );
    assert_eq!(answer.header("www-authenticate"), Some(expected.as_str()));

    // An invalid token's 401 names them too; a 400 names none.
    let answer = server
        .http()
        .post(&["Bearer not-a-jwt.at-all.really"], list())
        .await;
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(
        answer.challenge().scopes().collect::<Vec<_>>(),
        ["openid", "tool:whoami"]
    );
    let answer = server.http().post(&["Bearer a b"], list()).await;
    assert_eq!(answer.status, 400, "{answer:?}");
    assert_eq!(answer.challenge().scopes().count(), 0);
}

#[tokio::test]
async fn an_invalid_mcp_base_scopes_is_refused_naming_the_variable() {
    let mut prepared = common::Prepared::new(&Options::default()).await;
    let mut args = prepared.args.clone();
    args.mcp_base_scopes = Some("tool:greet \"quoted\"".into());
    let error = mcp_server::Settings::from_args(&args).unwrap_err();
    assert_eq!(error.problems.len(), 1, "{error}");
    assert!(
        error.problems[0].starts_with(r#"MCP_BASE_SCOPES has "\"quoted\"", which is not a scope"#),
        "{error}"
    );
    // A valid one is accepted as it is.
    prepared.reconfigure(|args| args.mcp_base_scopes = Some("tool:greet".into()));
}

#[tokio::test]
async fn rfc6750_2_1_two_authorization_headers_are_invalid_request() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let bearer = format!("Bearer {token}");
    let answer = server.http().post(&[&bearer, &bearer], list()).await;
    assert_invalid_request(&server, &answer, "send exactly one Authorization header");
}

#[tokio::test]
async fn a_refusal_never_echoes_the_token_it_refused() {
    let server = TestServer::start(Options::default()).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .audience("https://elsewhere.example/"),
    );
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_eq!(answer.status, 401);
    let everything = format!("{:?} {}", answer.headers, answer.body);
    assert!(!everything.contains(&token), "{everything}");
}

#[tokio::test]
async fn a_jwks_that_cannot_be_fetched_is_503_not_401() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);
    let token = server.full_token("auth0|alice");
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_eq!(answer.status, 503, "{answer:?}");
    assert_eq!(answer.header("retry-after"), Some("5"));
    assert!(answer.header("www-authenticate").is_none(), "{answer:?}");
    assert_eq!(answer.body["error"], "temporarily_unavailable");

    // Once the keys are back, the same token works: with no keys at all the verifier
    // retries the JWKS after about a second, not after the full refetch cooldown.
    server.tenant.jwks_down(false);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let answer = loop {
        let answer = server
            .http()
            .post(&[&format!("Bearer {token}")], list())
            .await;
        if answer.status != 503 || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(answer.status, 200, "{answer:?}");
}

#[tokio::test]
async fn a_valid_token_reaches_rmcp() {
    let server = TestServer::start(Options::default()).await;
    let token = server.full_token("auth0|alice");
    let answer = server.http().list_tools(&token).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body["jsonrpc"], "2.0");
    assert!(answer.body["result"]["tools"].is_array(), "{answer:?}");
    assert!(answer.header("www-authenticate").is_none());
}
