//! The mock Auth0 tenant over real HTTP: JWKS, every On-Behalf-Of check and refusal,
//! counters, faults and key rotation. The metadata is tested in `discovery.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use mock_tenant::keys::TestKey;
use mock_tenant::token::now;
use mock_tenant::{
    ACCESS_TOKEN_TYPE, ApiGrant, Fault, MockTenant, TOKEN_EXCHANGE_GRANT, TenantConfig,
};
use serde_json::{Map, Value};

const ALICE: &str = "auth0|alice";
const BOB: &str = "auth0|bob";

/// How the test authenticates the client.
enum Auth<'a> {
    /// RFC 6749 §2.3.1: form-encode id and secret, then Basic.
    Basic(&'a str, &'a str),
    /// Basic without the form-encoding step (what reqwest's `basic_auth` does).
    BasicUnencoded(&'a str, &'a str),
    Post(&'a str, &'a str),
    None,
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

    #[track_caller]
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        assert_eq!(body["error"], error, "body: {}", self.body);
        assert!(
            body["error_description"]
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

fn form_encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn post_token(tenant: &MockTenant, auth: Auth<'_>, params: &[(&str, &str)]) -> Reply {
    let mut params: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let mut request = reqwest::Client::new().post(tenant.token_endpoint());
    match auth {
        Auth::Basic(id, secret) => {
            let credentials =
                STANDARD.encode(format!("{}:{}", form_encode(id), form_encode(secret)));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        Auth::BasicUnencoded(id, secret) => {
            let credentials = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        Auth::Post(id, secret) => {
            params.push(("client_id".into(), id.into()));
            params.push(("client_secret".into(), secret.into()));
        }
        Auth::None => {}
    }
    let response = request
        .form(&params)
        .send()
        .await
        .expect("token endpoint reachable");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// A well-formed exchange request for `subject`, with `overrides` replacing or adding
/// parameters (an empty value removes one).
fn exchange_params<'a>(
    tenant: &'a MockTenant,
    subject: &'a str,
    overrides: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut params = vec![
        ("grant_type", TOKEN_EXCHANGE_GRANT),
        ("subject_token", subject),
        ("subject_token_type", ACCESS_TOKEN_TYPE),
        ("requested_token_type", ACCESS_TOKEN_TYPE),
        ("audience", tenant.api_audience()),
        ("scope", "read:private"),
    ];
    for (name, value) in overrides {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    params
}

async fn exchange(tenant: &MockTenant, subject: &str, overrides: &[(&str, &str)]) -> Reply {
    let params = exchange_params(tenant, subject, overrides);
    post_token(
        tenant,
        Auth::Basic(tenant.client_id(), tenant.client_secret()),
        &params,
    )
    .await
}

async fn get(url: &str) -> Reply {
    let response = reqwest::get(url).await.expect("tenant reachable");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.unwrap(),
    }
}

/// Verifies a minted token for the private API against the tenant's JWKS, fetched
/// over HTTP.
async fn decode_minted(
    tenant: &MockTenant,
    token: &str,
) -> (jsonwebtoken::Header, Map<String, Value>) {
    decode_minted_for(tenant, token, tenant.api_audience()).await
}

/// [`decode_minted`] for a token whose `aud` must be `audience`.
async fn decode_minted_for(
    tenant: &MockTenant,
    token: &str,
    audience: &str,
) -> (jsonwebtoken::Header, Map<String, Value>) {
    let jwks: JwkSet = serde_json::from_str(&get(&tenant.jwks_uri()).await.body).unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("minted token's kid is published");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[tenant.issuer()]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(
        token,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .expect("minted token verifies with the published JWKS");
    (data.header, data.claims)
}

async fn tenant() -> MockTenant {
    MockTenant::start(TenantConfig::default()).await
}

#[tokio::test]
async fn jwks_publishes_the_rs256_signing_key_with_max_age() {
    let tenant = tenant().await;
    let reply = get(&tenant.jwks_uri()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-control"), Some("public, max-age=600"));
    let jwks = reply.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["kid"], tenant.signing_key().kid());
    assert_eq!(
        tenant.published_kids(),
        vec![tenant.signing_key().kid().to_string()]
    );
    assert_eq!(tenant.jwks_fetches(), 1);
}

#[tokio::test]
async fn user_token_looks_like_auth0s_for_the_mcp_api() {
    let tenant = tenant().await;
    let claims = tenant.user_token(ALICE).claims();
    assert_eq!(claims["iss"], tenant.issuer());
    assert_eq!(claims["aud"], tenant.mcp_audience());
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["azp"], "mcp-inspector");
    assert_eq!(claims["scope"], "tool:whoami tool:greet");
    assert_eq!(
        claims["permissions"],
        serde_json::json!(["tool:whoami", "tool:greet"])
    );
    assert_eq!(claims["name"], "alice");
    assert_eq!(claims["email"], "alice@example.com");
    assert!((claims["exp"].as_i64().unwrap() - now() - 3600).abs() <= 2);

    let token = tenant.token_for(BOB, &["tool:whoami"]);
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(tenant.signing_key().kid()));
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
}

#[tokio::test]
async fn rfc8693_exchange_with_basic_auth_form_encodes_credentials_and_mints_an_obo_token() {
    let config = TenantConfig {
        client_id: "mcp server:client".into(),
        client_secret: "s3cr%t+/:é&=".into(),
        ..TenantConfig::default()
    };
    let tenant = MockTenant::start(config).await;
    // A subject token that already carries one actor: the new actor nests over it.
    let subject = tenant.sign_user_token(&tenant.user_token(ALICE).act(["upstream-agent"]));
    let before = now();
    let reply = exchange(&tenant, &subject, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert!(
        body.get("scope").is_none(),
        "scope echoed though granted = requested: {body}"
    );

    let (header, claims) = decode_minted(&tenant, body["access_token"].as_str().unwrap()).await;
    assert_eq!(header.kid.as_deref(), Some(tenant.signing_key().kid()));
    assert_eq!(header.alg, Algorithm::RS256);
    assert_eq!(claims["iss"], tenant.issuer());
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["aud"], tenant.api_audience());
    assert_eq!(claims["scope"], "read:private");
    assert_eq!(claims["permissions"], serde_json::json!(["read:private"]));
    assert_eq!(claims["azp"], "mcp server:client");
    assert_eq!(claims["client_id"], "mcp server:client");
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": "mcp server:client", "act": {"sub": "upstream-agent"}})
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert!(iat >= before && iat <= now());
    assert_eq!(claims["exp"].as_i64().unwrap(), iat + 3600);
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // Without the form-encoding step the same credentials do not authenticate.
    let params = exchange_params(&tenant, &subject, &[]);
    post_token(
        &tenant,
        Auth::BasicUnencoded("mcp server:client", "s3cr%t+/:é&="),
        &params,
    )
    .await
    .assert_error(401, "invalid_client");
}

#[tokio::test]
async fn rfc8693_exchange_with_client_secret_post_sets_act_to_the_client() {
    let tenant = tenant().await;
    let subject = tenant.token_for(BOB, &["tool:greet"]);
    let params = exchange_params(&tenant, &subject, &[]);
    let reply = post_token(
        &tenant,
        Auth::Post(tenant.client_id(), tenant.client_secret()),
        &params,
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, claims) = decode_minted(&tenant, reply.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], BOB);
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": "mcp-server-client"})
    );
}

#[tokio::test]
async fn minted_tokens_have_unique_jtis() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let mut jtis = std::collections::HashSet::new();
    for _ in 0..3 {
        let token = exchange(&tenant, &subject, &[]).await.json()["access_token"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, claims) = decode_minted(&tenant, &token).await;
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_string()));
    }
}

#[tokio::test]
async fn rfc8693_2_2_1_scope_is_echoed_only_when_granted_differs_from_requested() {
    let config = TenantConfig {
        allowed_scopes: vec!["read:private".into(), "write:private".into()],
        ..TenantConfig::default()
    };
    let tenant = MockTenant::start(config).await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);

    let same = exchange(
        &tenant,
        &subject,
        &[("scope", "read:private write:private")],
    )
    .await
    .json();
    assert!(same.get("scope").is_none(), "{same}");

    // Alice's roles give only read:private: granted is narrower, so `scope` is sent.
    tenant.set_user_api_scopes(ALICE, &["read:private"]);
    let narrower = exchange(
        &tenant,
        &subject,
        &[("scope", "read:private write:private")],
    )
    .await
    .json();
    assert_eq!(narrower["scope"], "read:private");
    let (_, claims) = decode_minted(&tenant, narrower["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scope"], "read:private");
    tenant.clear_user_api_scopes(ALICE);

    // No scope requested: the whole client grant, stated in the response.
    let unrequested = exchange(&tenant, &subject, &[("scope", "")]).await.json();
    assert_eq!(unrequested["scope"], "read:private write:private");
}

#[tokio::test]
async fn bad_client_authentication_is_401_invalid_client() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let params = exchange_params(&tenant, &subject, &[]);
    let id = tenant.client_id();
    for auth in [
        Auth::Basic(id, "wrong"),
        Auth::Basic("someone-else", tenant.client_secret()),
        Auth::Post(id, "wrong"),
        Auth::None,
    ] {
        post_token(&tenant, auth, &params)
            .await
            .assert_error(401, "invalid_client");
    }
    let reply = post_token(&tenant, Auth::Basic(id, "wrong"), &params).await;
    assert!(
        reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic")
    );
    // A client_id alone is not authentication.
    let mut only_id = params.clone();
    only_id.push(("client_id", id));
    post_token(&tenant, Auth::None, &only_id)
        .await
        .assert_error(401, "invalid_client");
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn wrong_grant_type_is_400_unsupported_grant_type() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    exchange(&tenant, &subject, &[("grant_type", "client_credentials")])
        .await
        .assert_error(400, "unsupported_grant_type");
    exchange(&tenant, &subject, &[("grant_type", "")])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn wrong_token_types_and_missing_parameters_are_400_invalid_request() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let id_token = "urn:ietf:params:oauth:token-type:id_token";
    for overrides in [
        [("subject_token_type", id_token)],
        [(
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:refresh_token",
        )],
        [("subject_token_type", "")],
        [("subject_token", "")],
        [("audience", "")],
    ] {
        exchange(&tenant, &subject, &overrides)
            .await
            .assert_error(400, "invalid_request");
    }
    // requested_token_type is optional.
    assert_eq!(
        exchange(&tenant, &subject, &[("requested_token_type", "")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expired_or_foreign_signed_subject_token_is_401_invalid_grant() {
    let tenant = tenant().await;
    let expired = tenant.sign_user_token(&tenant.user_token(ALICE).expires_in(-10));
    exchange(&tenant, &expired, &[])
        .await
        .assert_error(401, "invalid_grant");

    let stranger = TestKey::rsa(tenant.signing_key().kid()); // same kid, other key
    let forged = tenant.user_token(ALICE).sign(&stranger);
    exchange(&tenant, &forged, &[])
        .await
        .assert_error(401, "invalid_grant");

    let unknown_kid = tenant
        .user_token(ALICE)
        .sign(&TestKey::rsa("not-published"));
    exchange(&tenant, &unknown_kid, &[])
        .await
        .assert_error(401, "invalid_grant");
}

#[tokio::test]
async fn subject_token_for_another_audience_or_issuer_is_400_invalid_request() {
    let tenant = tenant().await;
    let tenant = &tenant;
    let reply = |builder: mock_tenant::token::TokenBuilder| {
        let token = tenant.sign_user_token(&builder);
        async move { exchange(tenant, &token, &[]).await }
    };
    // A token for the private API (e.g. an already exchanged one) is not a subject token.
    reply(tenant.user_token(ALICE).audience(tenant.api_audience()))
        .await
        .assert_error(400, "invalid_request");
    reply(tenant.user_token(ALICE).issuer("https://other.auth0.com/"))
        .await
        .assert_error(400, "invalid_request");
    reply(tenant.user_token(ALICE).without("sub"))
        .await
        .assert_error(400, "invalid_request");
    reply(tenant.user_token(ALICE).header("kid", Value::Null))
        .await
        .assert_error(400, "invalid_request");
    // An audience array containing the MCP API is fine (Auth0 adds userinfo with openid).
    let userinfo = format!("{}userinfo", tenant.issuer());
    let both = tenant
        .user_token(ALICE)
        .audiences([tenant.mcp_audience(), userinfo.as_str()]);
    assert_eq!(reply(both).await.status, 200);
    let unsigned = tenant.user_token(ALICE).unsigned();
    exchange(tenant, &unsigned, &[])
        .await
        .assert_error(400, "invalid_request");
    exchange(tenant, "not a jwt", &[])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn audience_without_a_client_grant_is_403_access_denied() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let reply = exchange(
        &tenant,
        &subject,
        &[("audience", "https://billing.example/")],
    )
    .await;
    reply.assert_error(403, "access_denied");
    assert!(
        reply.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("https://billing.example/")
    );
    exchange(&tenant, &subject, &[("audience", tenant.mcp_audience())])
        .await
        .assert_error(403, "access_denied");
}

// --- several APIs and their client grants ---

const ORDERS: &str = "https://orders.example/";
const BILLING: &str = "https://billing.example/";

/// A tenant with the private API, an orders API whose grant allows `read:orders` of the
/// two scopes it defines, and a billing API nobody granted the client.
async fn tenant_with_apis() -> MockTenant {
    MockTenant::start(TenantConfig {
        extra_apis: vec![
            ApiGrant::granted(ORDERS, &["read:orders"]).defining(&["read:orders", "write:orders"]),
            ApiGrant::without_grant(BILLING, &["read:invoices"]),
        ],
        ..TenantConfig::default()
    })
    .await
}

#[tokio::test]
async fn an_api_with_a_client_grant_gets_a_token_with_its_own_audience() {
    let tenant = tenant_with_apis().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let reply = exchange(
        &tenant,
        &subject,
        &[("audience", ORDERS), ("scope", "read:orders")],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert!(body.get("scope").is_none(), "{body}");
    let (_, claims) =
        decode_minted_for(&tenant, body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(claims["aud"], ORDERS);
    assert_eq!(claims["sub"], ALICE);
    assert_eq!(claims["scope"], "read:orders");
    assert_eq!(
        claims["act"],
        serde_json::json!({"sub": tenant.client_id()})
    );

    // No scope requested: that API's whole grant, not the private API's.
    let whole = exchange(&tenant, &subject, &[("audience", ORDERS), ("scope", "")])
        .await
        .json();
    assert_eq!(whole["scope"], "read:orders");

    assert_eq!(tenant.exchanges_for_audience(ALICE, ORDERS), 2);
    assert_eq!(
        tenant.exchanges_for_audience(ALICE, tenant.api_audience()),
        0
    );
    assert_eq!(tenant.exchanges_for_audience(BOB, ORDERS), 0);
    assert_eq!(tenant.exchanges_for(ALICE), 2);
}

#[tokio::test]
async fn an_api_without_a_client_grant_is_403_access_denied_and_the_others_keep_working() {
    let tenant = tenant_with_apis().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let reply = exchange(
        &tenant,
        &subject,
        &[("audience", BILLING), ("scope", "read:invoices")],
    )
    .await;
    reply.assert_error(403, "access_denied");
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        description.starts_with(&format!("Client is not authorized to access \"{BILLING}\"")),
        "{description}"
    );
    assert!(description.contains("client-grant"), "{description}");

    // The private API and the orders API answer as before, in either order.
    assert_eq!(exchange(&tenant, &subject, &[]).await.status, 200);
    let orders = exchange(
        &tenant,
        &subject,
        &[("audience", ORDERS), ("scope", "read:orders")],
    )
    .await;
    assert_eq!(orders.status, 200, "{}", orders.body);
    assert_eq!(tenant.exchanges_for_audience(ALICE, BILLING), 0);
    assert_eq!(tenant.exchanges_for_audience(ALICE, ORDERS), 1);
    assert_eq!(
        tenant.exchanges_for_audience(ALICE, tenant.api_audience()),
        1
    );

    // The MCP server's own API exists, but its client has no grant to it.
    let own = exchange(&tenant, &subject, &[("audience", tenant.mcp_audience())]).await;
    own.assert_error(403, "access_denied");
    assert!(own.body.contains("client-grant"), "{}", own.body);
    // An identifier no API has keeps its own refusal.
    let unknown = exchange(
        &tenant,
        &subject,
        &[("audience", "https://nowhere.example/")],
    )
    .await;
    unknown.assert_error(403, "access_denied");
    assert_eq!(
        unknown.json()["error_description"],
        "Service not enabled within domain: https://nowhere.example/"
    );
}

#[tokio::test]
async fn a_scope_beyond_an_apis_client_grant_is_403_access_denied() {
    let tenant = tenant_with_apis().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    // Defined by the orders API, but not in the grant.
    let reply = exchange(
        &tenant,
        &subject,
        &[("audience", ORDERS), ("scope", "read:orders write:orders")],
    )
    .await;
    reply.assert_error(403, "access_denied");
    let description = reply.json()["error_description"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(description.contains("write:orders"), "{description}");
    assert!(!description.contains("read:orders"), "{description}");
    // Another API's scope is not this API's.
    exchange(
        &tenant,
        &subject,
        &[("audience", ORDERS), ("scope", "read:private")],
    )
    .await
    .assert_error(403, "access_denied");
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn add_api_grants_and_revokes_while_running() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let params: &[(&str, &str)] = &[("audience", ORDERS), ("scope", "read:orders")];
    exchange(&tenant, &subject, params)
        .await
        .assert_error(403, "access_denied");

    tenant.add_api(ApiGrant::granted(ORDERS, &["read:orders"]));
    assert_eq!(exchange(&tenant, &subject, params).await.status, 200);
    assert_eq!(
        tenant.apis(),
        vec![
            ApiGrant::granted(tenant.api_audience(), &["read:private"]),
            ApiGrant::granted(ORDERS, &["read:orders"]),
        ]
    );

    // Replacing it without a grant is deleting the client grant.
    tenant.add_api(ApiGrant::without_grant(ORDERS, &["read:orders"]));
    let refused = exchange(&tenant, &subject, params).await;
    refused.assert_error(403, "access_denied");
    assert!(refused.body.contains("client-grant"), "{}", refused.body);
    assert_eq!(tenant.apis().len(), 2);
    assert_eq!(tenant.exchanges_for_audience(ALICE, ORDERS), 1);
    tenant.reset_counters();
    assert_eq!(tenant.exchanges_for_audience(ALICE, ORDERS), 0);
}

#[tokio::test]
async fn rbac_limits_apply_to_the_api_they_were_set_on() {
    let tenant = MockTenant::start(TenantConfig {
        extra_apis: vec![ApiGrant::granted(ORDERS, &["read:orders", "write:orders"])],
        ..TenantConfig::default()
    })
    .await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let both: &[(&str, &str)] = &[("audience", ORDERS), ("scope", "read:orders write:orders")];
    tenant.set_user_scopes_on(ORDERS, ALICE, &["read:orders"]);
    assert_eq!(
        exchange(&tenant, &subject, both).await.json()["scope"],
        "read:orders"
    );
    // The private API is not narrowed by a limit on the orders API.
    assert!(
        exchange(&tenant, &subject, &[])
            .await
            .json()
            .get("scope")
            .is_none()
    );
    tenant.clear_user_scopes_on(ORDERS, ALICE);
    assert!(
        exchange(&tenant, &subject, both)
            .await
            .json()
            .get("scope")
            .is_none()
    );
}

#[tokio::test]
#[should_panic(expected = "names scopes the API does not define: write:orders")]
async fn a_grant_for_scopes_the_api_does_not_define_is_a_setup_error() {
    let mut api = ApiGrant::granted(ORDERS, &["read:orders", "write:orders"]);
    api.scopes = vec!["read:orders".into()];
    tenant().await.add_api(api);
}

#[tokio::test]
#[should_panic(expected = "is already the MCP server's API or the private API")]
async fn the_private_api_is_not_an_extra_api() {
    MockTenant::start(TenantConfig {
        extra_apis: vec![ApiGrant::without_grant(
            mock_tenant::DEFAULT_API_AUDIENCE,
            &["read:private"],
        )],
        ..TenantConfig::default()
    })
    .await;
}

#[tokio::test]
async fn scope_outside_the_client_grant_is_403_access_denied() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let reply = exchange(
        &tenant,
        &subject,
        &[("scope", "read:private delete:everything")],
    )
    .await;
    reply.assert_error(403, "access_denied");
    assert!(
        reply.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("delete:everything")
    );
}

#[tokio::test]
async fn act_chain_of_depth_4_is_400_invalid_request_and_depth_3_is_nested() {
    let tenant = tenant().await;
    let deep = tenant.sign_user_token(&tenant.user_token(ALICE).act(["a1", "a2", "a3", "a4"]));
    let reply = exchange(&tenant, &deep, &[]).await;
    reply.assert_error(400, "invalid_request");
    assert_eq!(
        reply.json()["error_description"],
        "Delegation chain (`act` claim) depth exceeds the maximum allowed limit of 4"
    );

    let three = tenant.sign_user_token(&tenant.user_token(ALICE).act(["a1", "a2", "a3"]));
    let reply = exchange(&tenant, &three, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, claims) = decode_minted(&tenant, reply.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["act"]["sub"], tenant.client_id());
    assert_eq!(claims["act"]["act"]["act"]["act"]["sub"], "a3");

    let malformed = tenant.sign_user_token(&tenant.user_token(ALICE).claim("act", "a1"));
    exchange(&tenant, &malformed, &[])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn hostile_bodies_are_400_not_a_crash() {
    let tenant = tenant().await;
    let client = reqwest::Client::new();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", tenant.client_id(), tenant.client_secret()))
    );
    for (content_type, body) in [
        (
            "application/x-www-form-urlencoded",
            b"%%%&&==&grant_type=%ff%fe".to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            vec![0xff, 0x00, b'=', 0xc3],
        ),
        ("application/json", b"[1,2".to_vec()),
        ("application/json", br#"{"grant_type": 7}"#.to_vec()),
        ("text/plain", b"grant_type=x".to_vec()),
    ] {
        let status = client
            .post(tenant.token_endpoint())
            .header("content-type", content_type)
            .header("authorization", &basic)
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400);
    }
    // A repeated parameter (RFC 6749 §3.2), and a garbage Authorization header.
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let mut params = exchange_params(&tenant, &subject, &[]);
    params.push(("audience", "https://billing.example/"));
    post_token(
        &tenant,
        Auth::Basic(tenant.client_id(), tenant.client_secret()),
        &params,
    )
    .await
    .assert_error(400, "invalid_request");
    for header in ["Basic", "Basic !!!", "Bearer abc", "Basic OmJhZCUy"] {
        let status = client
            .post(tenant.token_endpoint())
            .header("authorization", header)
            .form(&exchange_params(&tenant, &subject, &[]))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 401, "{header}");
    }
    assert_eq!(exchange(&tenant, &subject, &[]).await.status, 200);
}

#[tokio::test]
async fn json_bodies_are_accepted_like_auth0() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let body: Map<String, Value> = exchange_params(&tenant, &subject, &[])
        .into_iter()
        .chain([
            ("client_id", tenant.client_id()),
            ("client_secret", tenant.client_secret()),
        ])
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let response = reqwest::Client::new()
        .post(tenant.token_endpoint())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn counters_count_attempts_exchanges_and_exchanges_per_user() {
    let tenant = tenant().await;
    let alice = tenant.token_for(ALICE, &["tool:greet"]);
    let bob = tenant.token_for(BOB, &["tool:greet"]);
    for _ in 0..3 {
        assert_eq!(exchange(&tenant, &alice, &[]).await.status, 200);
    }
    assert_eq!(exchange(&tenant, &bob, &[]).await.status, 200);
    exchange(&tenant, &bob, &[("scope", "admin")])
        .await
        .assert_error(403, "access_denied");
    assert_eq!(tenant.exchanges_for(ALICE), 3);
    assert_eq!(tenant.exchanges_for(BOB), 1);
    assert_eq!(tenant.exchanges_for("auth0|nobody"), 0);
    assert_eq!(tenant.exchanges(), 4);
    assert_eq!(tenant.exchange_attempts(), 5);
    tenant.reset_counters();
    assert_eq!(
        (
            tenant.exchanges(),
            tenant.exchange_attempts(),
            tenant.exchanges_for(ALICE)
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn fault_rate_limited_is_429_with_retry_after_and_ratelimit_headers() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    tenant.inject(
        Fault::RateLimited {
            retry_after_secs: 7,
        },
        Some(2),
    );
    for _ in 0..2 {
        let reply = exchange(&tenant, &subject, &[]).await;
        reply.assert_error(429, "too_many_requests");
        assert_eq!(reply.header("retry-after"), Some("7"));
        assert!(reply.header("x-ratelimit-limit").is_some());
        assert_eq!(reply.header("x-ratelimit-remaining"), Some("0"));
        let reset: i64 = reply.header("x-ratelimit-reset").unwrap().parse().unwrap();
        assert!((reset - now() - 7).abs() <= 2);
    }
    assert_eq!(
        exchange(&tenant, &subject, &[]).await.status,
        200,
        "fault used up after 2"
    );
    assert_eq!((tenant.exchanges(), tenant.exchange_attempts()), (1, 3));
}

#[tokio::test]
async fn fault_server_error_is_500_until_cleared() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    tenant.inject(Fault::ServerError, None);
    for _ in 0..3 {
        exchange(&tenant, &subject, &[])
            .await
            .assert_error(500, "server_error");
    }
    tenant.clear_faults();
    assert_eq!(exchange(&tenant, &subject, &[]).await.status, 200);
}

#[tokio::test]
async fn fault_delay_answers_normally_after_the_delay() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    tenant.inject(Fault::Delay(Duration::from_millis(300)), Some(1));
    let start = Instant::now();
    let reply = exchange(&tenant, &subject, &[]).await;
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.status, 200);
    assert_eq!(tenant.exchanges_for(ALICE), 1);
    // Checks still apply to a delayed request.
    tenant.inject(Fault::Delay(Duration::from_millis(10)), Some(1));
    exchange(&tenant, &subject, &[("scope", "admin")])
        .await
        .assert_error(403, "access_denied");
}

#[tokio::test]
async fn fault_non_json_and_missing_access_token_answer_200() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    tenant.inject(Fault::NonJson, Some(1));
    tenant.inject(Fault::MissingAccessToken, Some(1));
    let html = exchange(&tenant, &subject, &[]).await;
    assert_eq!(html.status, 200);
    assert!(
        html.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(serde_json::from_str::<Value>(&html.body).is_err());
    let missing = exchange(&tenant, &subject, &[]).await;
    assert_eq!(missing.status, 200);
    assert!(missing.json().get("access_token").is_none());
    assert_eq!(missing.json()["token_type"], "Bearer");
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn fault_oauth_error_answers_any_refusal() {
    let tenant = tenant().await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    tenant.inject(
        Fault::OAuthError {
            status: 403,
            error: "unauthorized_client".into(),
            description: "Client is not a Custom API client".into(),
        },
        Some(1),
    );
    exchange(&tenant, &subject, &[])
        .await
        .assert_error(403, "unauthorized_client");
}

#[tokio::test]
async fn rotate_keys_keeps_the_old_key_published_so_old_tokens_still_exchange() {
    let tenant = tenant().await;
    let old_kid = tenant.signing_key().kid().to_string();
    let old_token = tenant.token_for(ALICE, &["tool:greet"]);
    let new_key = tenant.rotate_keys();
    assert_ne!(new_key.kid(), old_kid);
    assert_eq!(tenant.signing_key().kid(), new_key.kid());
    assert_eq!(
        tenant.published_kids(),
        vec![new_key.kid().to_string(), old_kid.clone()]
    );
    let jwks = get(&tenant.jwks_uri()).await.json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, vec![new_key.kid(), old_kid.as_str()]);

    let reply = exchange(&tenant, &old_token, &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (header, _) = decode_minted(&tenant, reply.json()["access_token"].as_str().unwrap()).await;
    assert_eq!(
        header.kid.as_deref(),
        Some(new_key.kid()),
        "minted with the new key"
    );
}

#[tokio::test]
async fn rotate_keys_dropping_old_unpublishes_it_so_old_tokens_are_refused() {
    let tenant = tenant().await;
    let old_token = tenant.token_for(ALICE, &["tool:greet"]);
    let new_key = tenant.rotate_keys_dropping_old();
    let jwks = get(&tenant.jwks_uri()).await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], new_key.kid());
    exchange(&tenant, &old_token, &[])
        .await
        .assert_error(401, "invalid_grant");
    let new_token = tenant.token_for(ALICE, &["tool:greet"]);
    assert_eq!(exchange(&tenant, &new_token, &[]).await.status, 200);
}

#[tokio::test]
async fn jwks_down_answers_503_and_is_counted() {
    let tenant = tenant().await;
    tenant.jwks_down(true);
    assert_eq!(get(&tenant.jwks_uri()).await.status, 503);
    tenant.jwks_down(false);
    assert_eq!(get(&tenant.jwks_uri()).await.status, 200);
    assert_eq!(tenant.jwks_fetches(), 2);
}

#[tokio::test]
async fn set_exchanged_expires_in_changes_expires_in_and_exp() {
    let tenant = MockTenant::start(TenantConfig {
        expires_in: 120,
        ..TenantConfig::default()
    })
    .await;
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    assert_eq!(
        exchange(&tenant, &subject, &[]).await.json()["expires_in"],
        120
    );
    tenant.set_exchanged_expires_in(5);
    assert_eq!(tenant.exchanged_expires_in(), 5);
    let body = exchange(&tenant, &subject, &[]).await.json();
    assert_eq!(body["expires_in"], 5);
    let (_, claims) = decode_minted(&tenant, body["access_token"].as_str().unwrap()).await;
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        5
    );
}

#[tokio::test]
async fn start_on_a_chosen_listener_and_debug_redacts_the_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tenant = MockTenant::start_on(listener, TenantConfig::default()).await;
    assert_eq!(tenant.issuer(), format!("http://127.0.0.1:{port}/"));
    assert_eq!(tenant.address().port(), port);
    let debug = format!("{tenant:?}");
    assert!(!debug.contains(tenant.client_secret()));
    assert!(debug.contains("redacted"));
    // Clones share state.
    let clone = tenant.clone();
    clone.inject(Fault::ServerError, Some(1));
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    exchange(&tenant, &subject, &[])
        .await
        .assert_error(500, "server_error");
}

#[test]
fn mock_tenant_is_send_sync_and_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<MockTenant>();
    assert_send_sync::<TenantConfig>();
    assert_send_sync::<Fault>();
}
