//! The `authorization_code` and `refresh_token` grants and `POST /oauth/revoke` over
//! real HTTP. Clients and codes are put straight into the tenant's state (as
//! registration and the consent page would), so these endpoints are tested on their own.

use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::{Map, Value, json};

use crate::authorization_code::store_code;
use crate::refresh::{REMEMBERED_ROTATIONS, open_family, revoke_family};
use crate::signin::{
    AuthorizationCode, ClientAuthMethod, MAX_CODES, MAX_FAMILIES, RegisteredClient, SignIn,
};
use crate::state::lock;
use crate::test_support::{RFC7636_VERIFIER, code_for, insert_client, insert_code};
use crate::{ACCESS_TOKEN_TYPE, MockTenant, TOKEN_EXCHANGE_GRANT, TenantConfig};

const ALICE: &str = "auth0|alice";
const REDIRECT: &str = "http://127.0.0.1:33418/callback";
const GREET: &str = "tool:greet";
const OFFLINE: &str = "offline_access";

/// How a request authenticates the client.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
    Basic(&'a str, &'a str),
    /// `client_id` and `client_secret` in the body.
    Post(&'a str, &'a str),
    /// `client_id` alone in the body (a public client).
    Id(&'a str),
}

/// The authentication `client` registered.
fn auth_of(client: &RegisteredClient) -> Auth<'_> {
    let secret = client.client_secret.as_deref().unwrap_or_default();
    match client.auth_method {
        ClientAuthMethod::None => Auth::Id(&client.client_id),
        ClientAuthMethod::ClientSecretPost => Auth::Post(&client.client_id, secret),
        ClientAuthMethod::ClientSecretBasic => Auth::Basic(&client.client_id, secret),
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn field(&self, name: &str) -> String {
        self.json()[name]
            .as_str()
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            .to_string()
    }

    #[track_caller]
    fn assert_ok(&self) {
        assert_eq!(self.status, 200, "body: {}", self.body);
    }

    #[track_caller]
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        assert_eq!(body["error"], error, "body: {}", self.body);
        assert!(
            body["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "body: {}",
            self.body
        );
    }

    /// RFC 6749 §5.2: a refusal after (or requiring) HTTP Basic says so.
    #[track_caller]
    fn assert_basic_challenge(&self, expected: bool) {
        let challenge = self.header("www-authenticate");
        assert_eq!(
            challenge.is_some_and(|c| c.starts_with("Basic")),
            expected,
            "WWW-Authenticate: {challenge:?}"
        );
    }
}

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn post(tenant: &MockTenant, path: &str, auth: Auth<'_>, params: &[(&str, &str)]) -> Reply {
    let mut params: Vec<(&str, &str)> = params.to_vec();
    let mut request = reqwest::Client::new().post(format!("{}{path}", tenant.issuer()));
    match auth {
        Auth::Basic(id, secret) => {
            let credentials =
                STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        Auth::Post(id, secret) => {
            params.push(("client_id", id));
            params.push(("client_secret", secret));
        }
        Auth::Id(id) => params.push(("client_id", id)),
    }
    reply(request.form(&params)).await
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// The parameters of a code redemption, with `overrides` replacing (or, with `None`,
/// removing) the defaults: the code, the RFC 7636 verifier, the first redirect URI.
fn code_params<'a>(
    client: &'a RegisteredClient,
    code: &'a str,
    overrides: &[(&'a str, Option<&'a str>)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", RFC7636_VERIFIER),
        ("redirect_uri", client.redirect_uris[0].as_str()),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if let Some(value) = value {
            params.push((name, value));
        }
    }
    params
}

async fn redeem(
    tenant: &MockTenant,
    client: &RegisteredClient,
    code: &str,
    overrides: &[(&str, Option<&str>)],
) -> Reply {
    let params = code_params(client, code, overrides);
    post(tenant, "oauth/token", auth_of(client), &params).await
}

async fn refresh(
    tenant: &MockTenant,
    client: &RegisteredClient,
    refresh_token: &str,
    extra: &[(&str, &str)],
) -> Reply {
    let mut params = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    params.extend_from_slice(extra);
    post(tenant, "oauth/token", auth_of(client), &params).await
}

async fn revoke(tenant: &MockTenant, client: &RegisteredClient, token: &str) -> Reply {
    post(tenant, "oauth/revoke", auth_of(client), &[("token", token)]).await
}

/// Exchanges `subject` On-Behalf-Of with the MCP server's own client credentials.
async fn exchange(tenant: &MockTenant, subject: &str) -> Reply {
    let params = [
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("audience", tenant.api_audience()),
    ];
    let auth = Auth::Basic(tenant.client_id(), tenant.client_secret());
    post(tenant, "oauth/token", auth, &params).await
}

/// Verifies `token` with the key the tenant's JWKS publishes for its `kid`, as a
/// resource server would, and returns its header and claims.
async fn verify(tenant: &MockTenant, token: &str) -> (Header, Map<String, Value>) {
    let jwks: JwkSet = reqwest::get(tenant.jwks_uri())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[tenant.issuer()]);
    validation.set_audience(&[tenant.mcp_audience()]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap();
    (data.header, data.claims)
}

async fn tenant() -> MockTenant {
    MockTenant::start(TenantConfig::default()).await
}

fn client(tenant: &MockTenant, method: ClientAuthMethod) -> RegisteredClient {
    insert_client(tenant, method, &[REDIRECT], true)
}

/// A fresh code for `client`, for Alice, with `scopes`.
fn code(tenant: &MockTenant, client: &RegisteredClient, scopes: &[&str]) -> String {
    insert_code(tenant, code_for(tenant, client, ALICE, scopes))
}

fn edit_client(tenant: &MockTenant, client_id: &str, edit: impl FnOnce(&mut RegisteredClient)) {
    let mut signin = lock(&tenant.inner.state.signin);
    edit(signin.clients.get_mut(client_id).unwrap());
}

fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

fn an_instant_ago() -> Instant {
    Instant::now().checked_sub(Duration::from_secs(1)).unwrap()
}

// ---- Success -------------------------------------------------------------------------

#[tokio::test]
async fn rfc6749_4_1_4_code_redeems_for_an_at_jwt_with_the_contract_claims_and_a_refresh_token() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET, OFFLINE]);

    let reply = redeem(&tenant, &client, &code, &[]).await;
    reply.assert_ok();
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("pragma"), Some("no-cache"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["expires_in"],
        json!(tenant.config().access_token_expires_in)
    );
    assert_eq!(body["scope"], "tool:greet offline_access");
    let refresh_token = reply.field("refresh_token");
    assert!(refresh_token.len() >= 43, "32+ random bytes, base64url");
    assert!(
        refresh_token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );

    let access_token = reply.field("access_token");
    let (header, claims) = verify(&tenant, &access_token).await;
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.kid.as_deref(), Some(tenant.signing_key().kid()));
    assert_eq!(claims["iss"], tenant.issuer());
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["aud"], tenant.mcp_audience());
    assert_eq!(claims["scope"], "tool:greet offline_access");
    assert_eq!(claims["permissions"], json!([GREET]));
    assert_eq!(claims["azp"], client.client_id.as_str());
    assert_eq!(claims["client_id"], client.client_id.as_str());
    let iat = claims["iat"].as_i64().unwrap();
    assert!((iat - crate::token::now()).abs() <= 5);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - iat,
        i64::try_from(tenant.config().access_token_expires_in).unwrap()
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert_eq!(tenant.issued_tokens(), vec![access_token]);
    assert_eq!(tenant.sign_ins(), 1);
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn rfc6749_2_3_1_each_registered_client_authentication_method_redeems_its_code() {
    let tenant = tenant().await;
    for method in [
        ClientAuthMethod::None,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::ClientSecretBasic,
    ] {
        let client = client(&tenant, method);
        let code = code(&tenant, &client, &[GREET]);
        let reply = redeem(&tenant, &client, &code, &[]).await;
        assert_eq!(reply.status, 200, "{method:?}: {}", reply.body);
    }
    assert_eq!(tenant.sign_ins(), 3);
}

#[tokio::test]
async fn without_offline_access_no_refresh_token_is_issued() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let reply = redeem(&tenant, &client, &code, &[]).await;
    reply.assert_ok();
    assert_eq!(reply.json()["scope"], GREET);
    assert!(reply.json().get("refresh_token").is_none());
}

#[tokio::test]
async fn a_client_without_the_refresh_token_grant_gets_no_refresh_token_nor_offline_access() {
    let tenant = tenant().await;
    let client = insert_client(&tenant, ClientAuthMethod::None, &[REDIRECT], false);
    let code = code(&tenant, &client, &[GREET, OFFLINE]);
    let reply = redeem(&tenant, &client, &code, &[]).await;
    reply.assert_ok();
    assert_eq!(reply.json()["scope"], GREET);
    assert!(reply.json().get("refresh_token").is_none());
}

#[tokio::test]
async fn rfc8693_a_signed_in_users_token_is_exchanged_on_behalf_of_them() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET, OFFLINE]);
    let reply = redeem(&tenant, &client, &code, &[]).await;
    reply.assert_ok();

    let exchanged = exchange(&tenant, &reply.field("access_token")).await;
    exchanged.assert_ok();
    assert_eq!(tenant.exchanges_for(ALICE), 1);
    assert_eq!(tenant.exchanges(), 1);
    assert_eq!(tenant.sign_ins(), 1);
}

#[tokio::test]
async fn rfc8707_resource_naming_the_codes_api_is_accepted_with_or_without_trailing_slash() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let audience = tenant.mcp_audience().to_string();
    let bare = audience.trim_end_matches('/').to_string();
    for resource in [&audience, &bare] {
        let code = code(&tenant, &client, &[GREET]);
        redeem(&tenant, &client, &code, &[("resource", Some(resource))])
            .await
            .assert_ok();
    }
}

#[tokio::test]
async fn rfc7636_4_1_verifiers_of_43_and_128_characters_are_accepted() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    for verifier in ["a".repeat(43), "Az09-._~".repeat(16)] {
        let mut entry = code_for(&tenant, &client, ALICE, &[GREET]);
        entry.code_challenge = challenge_of(&verifier);
        let code = insert_code(&tenant, entry);
        redeem(
            &tenant,
            &client,
            &code,
            &[("code_verifier", Some(&verifier))],
        )
        .await
        .assert_ok();
    }
}

// ---- Client authentication -----------------------------------------------------------

#[tokio::test]
async fn rfc6749_5_2_unknown_client_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let reply = post(&tenant, "oauth/token", Auth::Id("tpc_nobody"), &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(false);
}

#[tokio::test]
async fn rfc6749_5_2_the_mcp_servers_own_client_cannot_redeem_codes() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let auth = Auth::Basic(tenant.client_id(), tenant.client_secret());
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
}

#[tokio::test]
async fn rfc6749_2_3_1_basic_client_with_a_wrong_secret_is_401_with_a_basic_challenge() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretBasic);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let auth = Auth::Basic(&client.client_id, "wrong");
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
}

#[tokio::test]
async fn rfc6749_2_3_1_basic_client_sending_its_secret_in_the_body_is_401_with_a_basic_challenge() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretBasic);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let secret = client.client_secret.clone().unwrap();
    let reply = post(
        &tenant,
        "oauth/token",
        Auth::Post(&client.client_id, &secret),
        &params,
    )
    .await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
}

#[tokio::test]
async fn rfc6749_2_3_1_post_client_with_a_wrong_secret_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretPost);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let auth = Auth::Post(&client.client_id, "wrong");
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(false);
}

#[tokio::test]
async fn rfc6749_2_3_1_post_client_without_its_secret_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretPost);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let reply = post(&tenant, "oauth/token", Auth::Id(&client.client_id), &params).await;
    reply.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn rfc6749_2_3_1_post_client_using_basic_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretPost);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let secret = client.client_secret.clone().unwrap();
    let auth = Auth::Basic(&client.client_id, &secret);
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
}

#[tokio::test]
async fn rfc6749_2_1_public_client_sending_a_secret_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let auth = Auth::Post(&client.client_id, "made-up");
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(false);
}

#[tokio::test]
async fn rfc6749_2_1_public_client_using_basic_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let params = code_params(&client, &code, &[]);
    let auth = Auth::Basic(&client.client_id, "");
    let reply = post(&tenant, "oauth/token", auth, &params).await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
}

#[tokio::test]
async fn rfc7523_a_registered_client_cannot_authenticate_with_a_client_assertion() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let key = crate::keys::TestKey::rsa("k1");
    let now = crate::token::now();
    let assertion = key.sign(&json!({
        "iss": client.client_id, "sub": client.client_id, "aud": tenant.issuer(),
        "iat": now, "exp": now + 60, "jti": "dcr-1",
    }));
    let mut params = code_params(&client, &code, &[]);
    params.push(("client_assertion_type", crate::CLIENT_ASSERTION_TYPE));
    params.push(("client_assertion", &assertion));
    let reply = post(&tenant, "oauth/token", Auth::Id(&client.client_id), &params).await;
    reply.assert_error(401, "invalid_client");
    assert!(reply.field("error_description").contains("private_key_jwt"));
    // With a secret as well, the request is malformed before anything else.
    let secret_client = insert_client(
        &tenant,
        ClientAuthMethod::ClientSecretPost,
        &[REDIRECT],
        true,
    );
    let secret = secret_client.client_secret.clone().unwrap();
    let auth = Auth::Post(&secret_client.client_id, &secret);
    let reply = post(
        &tenant,
        "oauth/revoke",
        auth,
        &[
            ("token", "anything"),
            ("client_assertion_type", crate::CLIENT_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    reply.assert_error(400, "invalid_request");
    // The code was not spent by the refused request.
    redeem(&tenant, &client, &code, &[]).await.assert_ok();
}

#[tokio::test]
async fn rfc6749_5_2_a_client_without_the_authorization_code_grant_is_unauthorized_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    edit_client(&tenant, &client.client_id, |c| {
        c.grant_types.retain(|g| g != "authorization_code");
    });
    redeem(&tenant, &client, &code, &[])
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn rfc6749_5_2_an_unknown_grant_type_is_unsupported_grant_type() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let params = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "x"),
    ];
    post(&tenant, "oauth/token", auth_of(&client), &params)
        .await
        .assert_error(400, "unsupported_grant_type");
}

// ---- The code ------------------------------------------------------------------------

#[tokio::test]
async fn rfc6749_4_1_3_an_unknown_code_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    redeem(&tenant, &client, "no-such-code", &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_4_1_3_a_missing_code_is_invalid_request() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    redeem(&tenant, &client, "", &[("code", None)])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_2_an_expired_code_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let mut entry = code_for(&tenant, &client, ALICE, &[GREET]);
    entry.expires = an_instant_ago();
    let code = insert_code(&tenant, entry);
    redeem(&tenant, &client, &code, &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_4_1_3_another_clients_code_is_invalid_grant_and_left_alone() {
    let tenant = tenant().await;
    let owner = client(&tenant, ClientAuthMethod::None);
    let thief = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &owner, &[GREET]);
    redeem(&tenant, &thief, &code, &[])
        .await
        .assert_error(400, "invalid_grant");
    redeem(&tenant, &owner, &code, &[]).await.assert_ok();
}

#[tokio::test]
async fn rfc6749_4_1_3_a_different_redirect_uri_is_invalid_grant() {
    let tenant = tenant().await;
    let client = insert_client(
        &tenant,
        ClientAuthMethod::None,
        &[REDIRECT, "http://127.0.0.1:9999/other"],
        true,
    );
    let code = code(&tenant, &client, &[GREET]);
    let other = [("redirect_uri", Some("http://127.0.0.1:9999/other"))];
    redeem(&tenant, &client, &code, &other)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_4_1_3_a_missing_redirect_uri_is_invalid_request() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    redeem(&tenant, &client, &code, &[("redirect_uri", None)])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_2_a_reused_code_is_invalid_grant_and_revokes_the_tokens_it_issued() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET, OFFLINE]);
    let first = redeem(&tenant, &client, &code, &[]).await;
    first.assert_ok();

    redeem(&tenant, &client, &code, &[])
        .await
        .assert_error(400, "invalid_grant");

    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
    exchange(&tenant, &first.field("access_token"))
        .await
        .assert_error(401, "invalid_grant");
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn rfc8707_2_2_a_resource_other_than_the_codes_api_is_invalid_target() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let api = tenant.api_audience().to_string();
    redeem(&tenant, &client, &code, &[("resource", Some(&api))])
        .await
        .assert_error(400, "invalid_target");
}

// ---- PKCE ----------------------------------------------------------------------------

#[tokio::test]
async fn rfc7636_4_6_a_wrong_verifier_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    let wrong = "x".repeat(43);
    redeem(&tenant, &client, &code, &[("code_verifier", Some(&wrong))])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc7636_4_6_a_missing_verifier_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let code = code(&tenant, &client, &[GREET]);
    redeem(&tenant, &client, &code, &[("code_verifier", None)])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc7636_4_1_a_malformed_verifier_is_invalid_grant_even_when_its_hash_matches() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let too_short = "a".repeat(42);
    let too_long = "a".repeat(129);
    let not_unreserved = format!("{}+", "a".repeat(42));
    for verifier in [too_short, too_long, not_unreserved] {
        let mut entry = code_for(&tenant, &client, ALICE, &[GREET]);
        entry.code_challenge = challenge_of(&verifier);
        let code = insert_code(&tenant, entry);
        let reply = redeem(
            &tenant,
            &client,
            &code,
            &[("code_verifier", Some(&verifier))],
        )
        .await;
        assert_eq!(reply.status, 400, "{verifier}: {}", reply.body);
        reply.assert_error(400, "invalid_grant");
    }
}

// ---- Refresh -------------------------------------------------------------------------

/// Signs Alice in with `offline_access` and returns the first answer.
async fn signed_in(tenant: &MockTenant, client: &RegisteredClient) -> Reply {
    let code = code(tenant, client, &[GREET, OFFLINE]);
    let reply = redeem(tenant, client, &code, &[]).await;
    reply.assert_ok();
    reply
}

#[tokio::test]
async fn rfc6749_6_refresh_rotates_the_refresh_token_and_mints_a_token_for_the_same_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretBasic);
    let first = signed_in(&tenant, &client).await;

    let second = refresh(&tenant, &client, &first.field("refresh_token"), &[]).await;
    second.assert_ok();
    assert_eq!(second.header("cache-control"), Some("no-store"));
    assert_eq!(second.json()["token_type"], "Bearer");
    assert_eq!(second.json()["scope"], "tool:greet offline_access");
    assert_ne!(second.field("refresh_token"), first.field("refresh_token"));
    let (_, claims) = verify(&tenant, &second.field("access_token")).await;
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["azp"], client.client_id.as_str());
    assert_eq!(claims["client_id"], client.client_id.as_str());
    assert_eq!(claims["permissions"], json!([GREET]));
    let (_, first_claims) = verify(&tenant, &first.field("access_token")).await;
    assert_ne!(claims["jti"], first_claims["jti"]);

    let third = refresh(&tenant, &client, &second.field("refresh_token"), &[]).await;
    third.assert_ok();
    assert_eq!(tenant.refreshes(), 2);
    assert_eq!(tenant.sign_ins(), 1);
    exchange(&tenant, &third.field("access_token"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc9700_4_14_2_a_retired_refresh_token_is_invalid_grant_and_revokes_the_family() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let retired = first.field("refresh_token");
    let second = refresh(&tenant, &client, &retired, &[]).await;
    second.assert_ok();

    refresh(&tenant, &client, &retired, &[])
        .await
        .assert_error(400, "invalid_grant");

    refresh(&tenant, &client, &second.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
    for access_token in [first.field("access_token"), second.field("access_token")] {
        exchange(&tenant, &access_token)
            .await
            .assert_error(401, "invalid_grant");
    }
}

#[tokio::test]
async fn rfc6749_5_2_an_unknown_refresh_token_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    refresh(&tenant, &client, "no-such-token", &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc6749_6_a_missing_refresh_token_is_invalid_request() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    post(
        &tenant,
        "oauth/token",
        auth_of(&client),
        &[("grant_type", "refresh_token")],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn rfc6749_6_another_clients_refresh_token_is_invalid_grant_and_left_alone() {
    let tenant = tenant().await;
    let owner = client(&tenant, ClientAuthMethod::None);
    let thief = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &owner).await;
    refresh(&tenant, &thief, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
    refresh(&tenant, &owner, &first.field("refresh_token"), &[])
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc6749_6_client_authentication_failure_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretPost);
    let first = signed_in(&tenant, &client).await;
    let params = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &first.field("refresh_token")),
    ];
    let auth = Auth::Post(&client.client_id, "wrong");
    post(&tenant, "oauth/token", auth, &params)
        .await
        .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn rfc6749_5_2_a_client_without_the_refresh_token_grant_is_unauthorized_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    edit_client(&tenant, &client.client_id, |c| {
        c.grant_types.retain(|g| g != "refresh_token");
    });
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn rfc6749_6_scope_may_narrow_the_access_token_but_not_the_refresh_token() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;

    let narrowed = refresh(
        &tenant,
        &client,
        &first.field("refresh_token"),
        &[("scope", GREET)],
    )
    .await;
    narrowed.assert_ok();
    assert_eq!(narrowed.json()["scope"], GREET);
    let (_, claims) = verify(&tenant, &narrowed.field("access_token")).await;
    assert_eq!(claims["scope"], GREET);

    let full = refresh(&tenant, &client, &narrowed.field("refresh_token"), &[]).await;
    full.assert_ok();
    assert_eq!(full.json()["scope"], "tool:greet offline_access");
}

#[tokio::test]
async fn rfc6749_6_a_scope_outside_the_grant_is_invalid_scope() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let wider = [("scope", "tool:greet tool:whoami")];
    refresh(&tenant, &client, &first.field("refresh_token"), &wider)
        .await
        .assert_error(400, "invalid_scope");
    // A refused refresh does not rotate.
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc8707_2_2_a_refresh_for_another_resource_is_invalid_target() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let api = tenant.api_audience().to_string();
    refresh(
        &tenant,
        &client,
        &first.field("refresh_token"),
        &[("resource", &api)],
    )
    .await
    .assert_error(400, "invalid_target");
}

#[tokio::test]
async fn a_refresh_token_past_its_familys_lifetime_is_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    for family in lock(&tenant.inner.state.signin).families.values_mut() {
        family.expires = an_instant_ago();
    }
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_token_retired_longer_ago_than_the_family_remembers_is_refused_without_revoking() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let oldest = signed_in(&tenant, &client).await.field("refresh_token");
    let mut current = oldest.clone();
    for _ in 0..=REMEMBERED_ROTATIONS {
        let reply = refresh(&tenant, &client, &current, &[]).await;
        reply.assert_ok();
        current = reply.field("refresh_token");
    }
    refresh(&tenant, &client, &oldest, &[])
        .await
        .assert_error(400, "invalid_grant");
    refresh(&tenant, &client, &current, &[]).await.assert_ok();
    let signin = lock(&tenant.inner.state.signin);
    let family = signin.families.values().next().unwrap();
    assert_eq!(family.retired.len(), REMEMBERED_ROTATIONS);
    assert_eq!(family.issued_jtis.len(), REMEMBERED_ROTATIONS + 1);
    assert_eq!(signin.refresh_tokens.len(), REMEMBERED_ROTATIONS + 1);
}

// ---- Revocation ----------------------------------------------------------------------

#[tokio::test]
async fn rfc7009_2_1_revoking_a_refresh_token_revokes_its_family_and_answers_200_empty() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretBasic);
    let first = signed_in(&tenant, &client).await;

    let reply = revoke(&tenant, &client, &first.field("refresh_token")).await;
    reply.assert_ok();
    assert_eq!(reply.body, "");

    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc8693_a_subject_token_whose_grant_was_revoked_is_401_invalid_grant() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    exchange(&tenant, &first.field("access_token"))
        .await
        .assert_ok();

    revoke(&tenant, &client, &first.field("refresh_token"))
        .await
        .assert_ok();

    let refused = exchange(&tenant, &first.field("access_token")).await;
    refused.assert_error(401, "invalid_grant");
    assert!(refused.field("error_description").contains("revoked"));
    assert_eq!(tenant.exchanges(), 1);
}

#[tokio::test]
async fn rfc7009_2_1_revoking_a_retired_token_revokes_the_family_too() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let second = refresh(&tenant, &client, &first.field("refresh_token"), &[]).await;
    second.assert_ok();

    revoke(&tenant, &client, &first.field("refresh_token"))
        .await
        .assert_ok();
    refresh(&tenant, &client, &second.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc7009_2_2_an_unknown_token_is_200_and_changes_nothing() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let reply = revoke(&tenant, &client, "no-such-token").await;
    reply.assert_ok();
    assert_eq!(reply.body, "");
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc7009_2_1_another_clients_token_is_200_and_left_alone() {
    let tenant = tenant().await;
    let owner = client(&tenant, ClientAuthMethod::None);
    let other = client(&tenant, ClientAuthMethod::ClientSecretPost);
    let first = signed_in(&tenant, &owner).await;
    revoke(&tenant, &other, &first.field("refresh_token"))
        .await
        .assert_ok();
    refresh(&tenant, &owner, &first.field("refresh_token"), &[])
        .await
        .assert_ok();
    exchange(&tenant, &first.field("access_token"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc7009_2_1_token_type_hint_is_ignored() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let params = [
        ("token", first.field("refresh_token")),
        ("token_type_hint", "access_token".to_string()),
    ];
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    post(&tenant, "oauth/revoke", auth_of(&client), &params)
        .await
        .assert_ok();
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn auth0_revoke_accepts_a_json_body() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    let first = signed_in(&tenant, &client).await;
    let request = reqwest::Client::new()
        .post(format!("{}oauth/revoke", tenant.issuer()))
        .json(&json!({"client_id": client.client_id, "token": first.field("refresh_token")}));
    reply(request).await.assert_ok();
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rfc7009_2_2_1_revocation_with_bad_client_authentication_is_401_invalid_client() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::ClientSecretBasic);
    let first = signed_in(&tenant, &client).await;
    let auth = Auth::Basic(&client.client_id, "wrong");
    let reply = post(
        &tenant,
        "oauth/revoke",
        auth,
        &[("token", &first.field("refresh_token"))],
    )
    .await;
    reply.assert_error(401, "invalid_client");
    reply.assert_basic_challenge(true);
    refresh(&tenant, &client, &first.field("refresh_token"), &[])
        .await
        .assert_ok();
}

#[tokio::test]
async fn rfc7009_2_1_revocation_without_a_token_is_invalid_request() {
    let tenant = tenant().await;
    let client = client(&tenant, ClientAuthMethod::None);
    post(&tenant, "oauth/revoke", auth_of(&client), &[])
        .await
        .assert_error(400, "invalid_request");
}

// ---- Bounds --------------------------------------------------------------------------

fn stored_code(expires: Instant) -> AuthorizationCode {
    AuthorizationCode {
        client_id: "tpc_x".into(),
        redirect_uri: REDIRECT.into(),
        code_challenge: String::new(),
        sub: ALICE.into(),
        audience: "api".into(),
        scopes: Vec::new(),
        expires,
        used: false,
        issued_jtis: Vec::new(),
        family: None,
    }
}

#[test]
fn codes_stay_under_max_codes_dropping_expired_ones_first_then_the_oldest() {
    let mut signin = SignIn::default();
    let base = Instant::now() + Duration::from_secs(60);
    for i in 0..MAX_CODES - 1 {
        let expires = base + Duration::from_millis(u64::try_from(i).unwrap());
        store_code(&mut signin, format!("c{i}"), stored_code(expires));
    }
    store_code(&mut signin, "expired".into(), stored_code(an_instant_ago()));
    assert_eq!(signin.codes.len(), MAX_CODES);

    let later = base + Duration::from_secs(3600);
    store_code(&mut signin, "new1".into(), stored_code(later));
    assert_eq!(signin.codes.len(), MAX_CODES);
    assert!(!signin.codes.contains_key("expired"));
    assert!(signin.codes.contains_key("c0"));

    store_code(&mut signin, "new2".into(), stored_code(later));
    assert_eq!(signin.codes.len(), MAX_CODES);
    assert!(!signin.codes.contains_key("c0"));
    assert!(signin.codes.contains_key("c1"));
    assert!(signin.codes.contains_key("new1"));
    assert!(signin.codes.contains_key("new2"));
}

#[test]
fn families_stay_under_max_families_dropping_revoked_ones_first_then_the_oldest() {
    let mut signin = SignIn::default();
    let scopes = [GREET.to_string(), OFFLINE.to_string()];
    let open =
        |signin: &mut SignIn| open_family(signin, "tpc_x", ALICE, "api", &scopes, "j".into());
    let (oldest, oldest_token) = open(&mut signin);
    let (revoked, revoked_token) = open(&mut signin);
    revoke_family(&mut signin, &revoked);
    while signin.families.len() < MAX_FAMILIES {
        open(&mut signin);
    }

    open(&mut signin);
    assert_eq!(signin.families.len(), MAX_FAMILIES);
    assert!(!signin.families.contains_key(&revoked));
    assert!(!signin.refresh_tokens.contains_key(&revoked_token));
    assert!(signin.families.contains_key(&oldest));

    open(&mut signin);
    assert_eq!(signin.families.len(), MAX_FAMILIES);
    assert!(!signin.families.contains_key(&oldest));
    assert!(!signin.refresh_tokens.contains_key(&oldest_token));
    assert_eq!(signin.refresh_tokens.len(), MAX_FAMILIES);
}
