//! Private Key JWT client authentication (RFC 7523 §2.2) of the MCP server's client at
//! `POST /oauth/token`, over real HTTP: what is accepted, and each refusal with its own
//! description. Assertions are built with jsonwebtoken directly, as a client would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mock_tenant::keys::TestKey;
use mock_tenant::token::now;
use mock_tenant::{
    ACCESS_TOKEN_TYPE, CLIENT_ASSERTION_TYPE, ClientCredential, MockTenant, TOKEN_EXCHANGE_GRANT,
    TenantConfig,
};
use serde_json::{Value, json};

const ALICE: &str = "auth0|alice";
const KID: &str = "cred-1";

struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts the refusal and returns its description.
    #[track_caller]
    fn refusal(&self, status: u16, error: &str) -> String {
        assert_eq!(self.status, status, "body: {}", self.body);
        let body = self.json();
        assert_eq!(body["error"], error, "body: {}", self.body);
        let description = body["error_description"].as_str().unwrap().to_string();
        assert!(!description.is_empty());
        description
    }

    #[track_caller]
    fn assert_ok(&self) -> Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        let body = self.json();
        assert!(body["access_token"].is_string());
        body
    }
}

/// How the request authenticates besides the assertion.
#[derive(Clone, Copy)]
enum Secret<'a> {
    None,
    Basic(&'a str, &'a str),
    Post(&'a str),
}

async fn post(tenant: &MockTenant, secret: Secret<'_>, extra: &[(&str, &str)]) -> Reply {
    let subject = tenant.token_for(ALICE, &["tool:greet"]);
    let mut params: Vec<(String, String)> = vec![
        ("grant_type".into(), TOKEN_EXCHANGE_GRANT.into()),
        ("subject_token".into(), subject),
        ("subject_token_type".into(), ACCESS_TOKEN_TYPE.into()),
        ("audience".into(), tenant.api_audience().into()),
        ("scope".into(), "read:private".into()),
    ];
    for (name, value) in extra {
        params.push(((*name).into(), (*value).into()));
    }
    let mut request = reqwest::Client::new().post(tenant.token_endpoint());
    match secret {
        Secret::None => {}
        Secret::Basic(id, secret) => {
            let credentials = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {credentials}"));
        }
        Secret::Post(secret) => params.push(("client_secret".into(), secret.into())),
    }
    let response = request
        .form(&params)
        .send()
        .await
        .expect("tenant reachable");
    Reply {
        status: response.status().as_u16(),
        body: response.text().await.unwrap(),
    }
}

/// Sends `assertion` with the right `client_assertion_type`.
async fn with_assertion(tenant: &MockTenant, assertion: &str) -> Reply {
    post(
        tenant,
        Secret::None,
        &[
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn unique_jti() -> String {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    format!("jti-{}-{}", now(), SERIAL.fetch_add(1, Ordering::SeqCst))
}

/// The claims Auth0 documents: iss = sub = client id, aud = the tenant's URL, iat, exp
/// 60 s ahead, a unique jti.
fn claims(tenant: &MockTenant) -> Value {
    let now = now();
    json!({
        "iss": tenant.client_id(),
        "sub": tenant.client_id(),
        "aud": tenant.issuer(),
        "iat": now,
        "exp": now + 60,
        "jti": unique_jti(),
    })
}

/// Signs `claims` with `key`'s private PEM through jsonwebtoken, as `alg`, with `kid`.
fn sign(key: &TestKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let encoding = EncodingKey::from_rsa_pem(key.private_pem().as_bytes()).unwrap();
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &encoding).unwrap()
}

async fn tenant_with(key: &TestKey, alg: &str) -> MockTenant {
    MockTenant::start(TenantConfig {
        client_credentials: vec![ClientCredential::from_test_key(key, alg)],
        ..TenantConfig::default()
    })
    .await
}

/// `claims` with members replaced (a `null` removes one).
fn with(mut claims: Value, changes: &Value) -> Value {
    let map = claims.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            map.remove(name);
        } else {
            map.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// Sends a valid RS256 assertion (with `kid`) whose claims are changed by `changes`;
/// returns the reply and the assertion.
async fn send_changed(tenant: &MockTenant, key: &TestKey, changes: &Value) -> (Reply, String) {
    let assertion = sign(
        key,
        Algorithm::RS256,
        Some(KID),
        &with(claims(tenant), changes),
    );
    (with_assertion(tenant, &assertion).await, assertion)
}

/// A refusal's description never carries the assertion or any segment of it.
#[track_caller]
fn assert_no_echo(description: &str, assertion: &str) {
    for segment in assertion.split('.') {
        assert!(
            segment.len() < 8 || !description.contains(segment),
            "description echoes the assertion: {description}"
        );
    }
}

/// Every refusal case: its name, and the reply and assertion it draws from a fresh
/// tenant whose one RS256 credential is `key`.
async fn refusal_case(name: &str, tenant: &MockTenant, key: &TestKey) -> (Reply, String) {
    let now = now();
    match name {
        "bad signature" => {
            let other = TestKey::rsa(KID);
            let assertion = sign(&other, Algorithm::RS256, Some(KID), &claims(tenant));
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "unknown kid" => {
            let assertion = sign(
                key,
                Algorithm::RS256,
                Some("not-a-credential"),
                &claims(tenant),
            );
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "alg differs from the credential's" => {
            let assertion = sign(key, Algorithm::PS256, Some(KID), &claims(tenant));
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "alg without kid matches no credential" => {
            let assertion = sign(key, Algorithm::RS384, None, &claims(tenant));
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "wrong aud" => send_changed(tenant, key, &json!({"aud": "https://evil.example/"})).await,
        "expired" => send_changed(tenant, key, &json!({"iat": now - 120, "exp": now - 60})).await,
        "exp too far ahead" => {
            send_changed(tenant, key, &json!({"iat": null, "exp": now + 600})).await
        }
        "lifetime over five minutes" => {
            send_changed(tenant, key, &json!({"iat": now - 200, "exp": now + 200})).await
        }
        "replayed jti" => {
            let assertion = sign(key, Algorithm::RS256, Some(KID), &claims(tenant));
            with_assertion(tenant, &assertion).await.assert_ok();
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "missing jti" => send_changed(tenant, key, &json!({"jti": null})).await,
        "iss and sub not the client" => {
            send_changed(tenant, key, &json!({"iss": "someone", "sub": "someone"})).await
        }
        "iss and sub differ" => send_changed(tenant, key, &json!({"sub": "someone"})).await,
        "iss over 64 chars" => {
            let long = "c".repeat(65);
            send_changed(tenant, key, &json!({"iss": long, "sub": long})).await
        }
        "jti over 64 chars" => send_changed(tenant, key, &json!({"jti": "j".repeat(65)})).await,
        "alg over 16 chars" => {
            let assertion = key.sign_with_header(
                &json!({"alg": "RS256-and-then-some", "kid": KID}),
                &claims(tenant),
            );
            (with_assertion(tenant, &assertion).await, assertion)
        }
        "iat in the future" => {
            send_changed(tenant, key, &json!({"iat": now + 60, "exp": now + 120})).await
        }
        "nbf in the future" => {
            send_changed(tenant, key, &json!({"nbf": now + 60, "exp": now + 120})).await
        }
        other => panic!("no case {other}"),
    }
}

/// The 401 `invalid_client` cases, each with a fragment of its description.
const INVALID_CLIENT_CASES: [(&str, &str); 17] = [
    ("bad signature", "signature does not verify"),
    ("unknown kid", "kid names no credential"),
    (
        "alg differs from the credential's",
        "not the algorithm of the credential",
    ),
    (
        "alg without kid matches no credential",
        "not the algorithm of any credential",
    ),
    ("wrong aud", "aud is not this tenant"),
    ("expired", "has expired"),
    ("exp too far ahead", "exp is too far ahead"),
    ("lifetime over five minutes", "lifetime (exp - iat)"),
    ("replayed jti", "already been used"),
    ("missing jti", "has no jti"),
    ("iss and sub not the client", "not the client id"),
    ("iss and sub differ", "iss and sub differ"),
    ("iss over 64 chars", "iss is longer than 64"),
    ("jti over 64 chars", "jti is longer than 64"),
    ("alg over 16 chars", "alg is longer than 16"),
    ("iat in the future", "iat is in the future"),
    ("nbf in the future", "nbf is in the future"),
];

#[track_caller]
fn expected_fragment(name: &str) -> &'static str {
    INVALID_CLIENT_CASES
        .iter()
        .find(|(case, _)| *case == name)
        .map(|(_, fragment)| *fragment)
        .unwrap()
}

/// Runs one 401 case on a fresh tenant and checks status, error, description, and that
/// nothing was accepted.
async fn assert_invalid_client(name: &str) {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let accepted_before = tenant.accepted_client_assertions().len();
    let (reply, assertion) = refusal_case(name, &tenant, &key).await;
    let description = reply.refusal(401, "invalid_client");
    assert!(
        description.contains(expected_fragment(name)),
        "{name}: {description}"
    );
    assert_no_echo(&description, &assertion);
    assert_eq!(tenant.accepted_client_assertions().len(), accepted_before);
    assert_eq!(tenant.client_assertion_refusals(), 1);
    assert_eq!(
        tenant.exchanges(),
        0,
        "{name}: no token for a refused client"
    );
}

#[tokio::test]
async fn bad_signature_is_401_invalid_client() {
    assert_invalid_client("bad signature").await;
    assert_invalid_client("unknown kid").await;
    assert_invalid_client("alg differs from the credential's").await;
    assert_invalid_client("alg without kid matches no credential").await;
}

#[tokio::test]
async fn wrong_aud_is_401_invalid_client() {
    assert_invalid_client("wrong aud").await;
    // The issuer without its trailing slash is another URL.
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let (reply, _) = send_changed(&tenant, &key, &json!({"aud": tenant.uri()})).await;
    assert!(
        reply
            .refusal(401, "invalid_client")
            .contains("aud is not this tenant")
    );
    let (reply, _) = send_changed(&tenant, &key, &json!({"aud": null})).await;
    assert!(reply.refusal(401, "invalid_client").contains("has no aud"));
}

#[tokio::test]
async fn expired_assertion_is_401_invalid_client() {
    assert_invalid_client("expired").await;
    // Within the 10 s of skew, it is still accepted.
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let now = now();
    let (reply, _) = send_changed(&tenant, &key, &json!({"iat": now - 30, "exp": now - 5})).await;
    reply.assert_ok();
}

#[tokio::test]
async fn exp_too_far_ahead_is_401_invalid_client() {
    assert_invalid_client("exp too far ahead").await;
    assert_invalid_client("lifetime over five minutes").await;
    // Exactly five minutes is allowed.
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let now = now();
    let (reply, _) = send_changed(&tenant, &key, &json!({"iat": now, "exp": now + 300})).await;
    reply.assert_ok();
}

#[tokio::test]
async fn replayed_or_missing_jti_is_401_invalid_client() {
    assert_invalid_client("missing jti").await;
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let (reply, assertion) = refusal_case("replayed jti", &tenant, &key).await;
    let description = reply.refusal(401, "invalid_client");
    assert!(description.contains(expected_fragment("replayed jti")));
    assert_no_echo(&description, &assertion);
    // The first use was accepted, and only it.
    assert_eq!(tenant.accepted_client_assertions().len(), 1);
    assert_eq!(tenant.exchanges(), 1);
    assert_eq!(tenant.client_assertion_refusals(), 1);
}

#[tokio::test]
async fn iss_or_sub_not_the_client_or_too_long_is_401_invalid_client() {
    assert_invalid_client("iss and sub not the client").await;
    assert_invalid_client("iss and sub differ").await;
    assert_invalid_client("iss over 64 chars").await;
    assert_invalid_client("jti over 64 chars").await;
    assert_invalid_client("alg over 16 chars").await;
}

#[tokio::test]
async fn iat_or_nbf_in_the_future_is_401_invalid_client() {
    assert_invalid_client("iat in the future").await;
    assert_invalid_client("nbf in the future").await;
}

#[tokio::test]
async fn every_refusal_has_its_own_description() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let mut seen: HashSet<String> = HashSet::new();
    for (name, _) in INVALID_CLIENT_CASES {
        let (reply, _) = refusal_case(name, &tenant, &key).await;
        let description = reply.refusal(401, "invalid_client");
        assert!(
            seen.insert(description.clone()),
            "{name} shares its description: {description}"
        );
    }
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    for reply in [
        post(
            &tenant,
            Secret::Basic(tenant.client_id(), tenant.client_secret()),
            &[
                ("client_assertion_type", CLIENT_ASSERTION_TYPE),
                ("client_assertion", &assertion),
            ],
        )
        .await,
        post(&tenant, Secret::None, &[("client_assertion", &assertion)]).await,
        post(
            &tenant,
            Secret::None,
            &[
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
                ),
                ("client_assertion", &assertion),
            ],
        )
        .await,
    ] {
        let description = reply.refusal(400, "invalid_request");
        assert!(seen.insert(description.clone()), "shared: {description}");
    }
    let secret_only = post(
        &tenant,
        Secret::Basic(tenant.client_id(), tenant.client_secret()),
        &[],
    )
    .await;
    let description = secret_only.refusal(401, "invalid_client");
    assert!(seen.insert(description.clone()), "shared: {description}");
    // 17 assertion cases (one consumed a jti, accepted once), 3 bad requests.
    assert_eq!(tenant.client_assertion_refusals(), 20);
}

#[tokio::test]
async fn secret_together_with_an_assertion_is_400_invalid_request() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    let assertion_params = [
        ("client_assertion_type", CLIENT_ASSERTION_TYPE),
        ("client_assertion", assertion.as_str()),
    ];
    let basic = post(
        &tenant,
        Secret::Basic(tenant.client_id(), tenant.client_secret()),
        &assertion_params,
    )
    .await;
    let description = basic.refusal(400, "invalid_request");
    assert!(description.contains("not both"), "{description}");
    assert_no_echo(&description, &assertion);
    let post_secret = post(
        &tenant,
        Secret::Post(tenant.client_secret()),
        &assertion_params,
    )
    .await;
    assert!(
        post_secret
            .refusal(400, "invalid_request")
            .contains("not both")
    );
    // The assertion was not spent by the refused requests.
    with_assertion(&tenant, &assertion).await.assert_ok();
}

#[tokio::test]
async fn wrong_or_missing_assertion_type_is_400_invalid_request() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    let missing = post(&tenant, Secret::None, &[("client_assertion", &assertion)]).await;
    let missing = missing.refusal(400, "invalid_request");
    assert!(missing.contains("client_assertion_type"), "{missing}");
    let wrong = post(
        &tenant,
        Secret::None,
        &[
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            ),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    let wrong = wrong.refusal(400, "invalid_request");
    assert!(
        wrong.contains("Unsupported client_assertion_type"),
        "{wrong}"
    );
    assert_ne!(missing, wrong);
    // A type without an assertion.
    let no_assertion = post(
        &tenant,
        Secret::None,
        &[("client_assertion_type", CLIENT_ASSERTION_TYPE)],
    )
    .await;
    assert!(
        no_assertion
            .refusal(400, "invalid_request")
            .contains("client_assertion")
    );
    assert_eq!(tenant.exchanges(), 0);
}

#[tokio::test]
async fn assertion_with_kid_and_issuer_aud_is_accepted_and_recorded() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let sent = claims(&tenant);
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &sent);
    let body = with_assertion(&tenant, &assertion).await.assert_ok();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(tenant.exchanges_for(ALICE), 1);
    assert_eq!(tenant.accepted_client_assertions(), vec![sent]);
    assert_eq!(tenant.client_assertion_refusals(), 0);
}

#[tokio::test]
async fn assertion_without_kid_and_token_endpoint_aud_is_accepted() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let sent = with(claims(&tenant), &json!({"aud": tenant.token_endpoint()}));
    let assertion = sign(&key, Algorithm::RS256, None, &sent);
    // A client_id naming the same client is allowed alongside.
    post(
        &tenant,
        Secret::None,
        &[
            ("client_id", tenant.client_id()),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await
    .assert_ok();
    // aud as an array holding the issuer, with nbf now.
    let now = now();
    let array = with(
        claims(&tenant),
        &json!({"aud": [tenant.issuer(), "https://other.example/"], "nbf": now}),
    );
    with_assertion(&tenant, &sign(&key, Algorithm::RS256, None, &array))
        .await
        .assert_ok();
    assert_eq!(tenant.accepted_client_assertions(), vec![sent, array]);
}

#[tokio::test]
async fn client_id_naming_another_client_than_iss_is_400_invalid_request() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    let reply = post(
        &tenant,
        Secret::None,
        &[
            ("client_id", "another-client"),
            ("client_assertion_type", CLIENT_ASSERTION_TYPE),
            ("client_assertion", &assertion),
        ],
    )
    .await;
    assert!(
        reply
            .refusal(400, "invalid_request")
            .contains("client_id does not match")
    );
}

#[tokio::test]
async fn each_credential_algorithm_is_accepted_and_the_others_refused() {
    for registered in ["RS256", "PS256", "RS384"] {
        let key = TestKey::rsa(KID);
        let tenant = tenant_with(&key, registered).await;
        for (other, signed_as) in [
            ("RS256", Algorithm::RS256),
            ("PS256", Algorithm::PS256),
            ("RS384", Algorithm::RS384),
        ] {
            for kid in [Some(KID), None] {
                let assertion = sign(&key, signed_as, kid, &claims(&tenant));
                let reply = with_assertion(&tenant, &assertion).await;
                if other == registered {
                    reply.assert_ok();
                } else {
                    let description = reply.refusal(401, "invalid_client");
                    assert!(
                        description.contains("not the algorithm of"),
                        "{registered} credential, {other} assertion: {description}"
                    );
                }
            }
        }
        assert_eq!(tenant.exchanges(), 2, "{registered}");
    }
}

#[tokio::test]
async fn two_credentials_verify_each_their_own_assertions() {
    let old = TestKey::rsa("old");
    let new = TestKey::rsa("new");
    let tenant = MockTenant::start(TenantConfig {
        client_credentials: vec![
            ClientCredential::from_test_key(&old, "RS256"),
            ClientCredential::from_test_key(&new, "PS256"),
        ],
        ..TenantConfig::default()
    })
    .await;
    for (key, alg) in [(&old, Algorithm::RS256), (&new, Algorithm::PS256)] {
        with_assertion(&tenant, &sign(key, alg, Some(key.kid()), &claims(&tenant)))
            .await
            .assert_ok();
        with_assertion(&tenant, &sign(key, alg, None, &claims(&tenant)))
            .await
            .assert_ok();
    }
    // The old key's signature under the new key's kid does not verify.
    let swapped = sign(&old, Algorithm::PS256, Some("new"), &claims(&tenant));
    assert!(
        with_assertion(&tenant, &swapped)
            .await
            .refusal(401, "invalid_client")
            .contains("signature does not verify")
    );
}

#[tokio::test]
#[should_panic(expected = "at most 2")]
async fn more_than_two_credentials_is_a_setup_mistake() {
    let keys: Vec<TestKey> = (0..3).map(|i| TestKey::rsa(format!("k{i}"))).collect();
    let tenant = MockTenant::start(TenantConfig::default()).await;
    tenant.set_client_credentials(
        keys.iter()
            .map(|k| ClientCredential::from_test_key(k, "RS256"))
            .collect(),
    );
}

#[tokio::test]
async fn secret_is_refused_while_credentials_exist_and_accepted_again_without() {
    let key = TestKey::rsa(KID);
    let tenant = tenant_with(&key, "RS256").await;
    for secret in [
        Secret::Basic(tenant.client_id(), tenant.client_secret()),
        Secret::None,
    ] {
        let extra: &[(&str, &str)] = match secret {
            Secret::None => &[
                ("client_id", tenant.client_id()),
                ("client_secret", tenant.client_secret()),
            ],
            _ => &[],
        };
        let description = post(&tenant, secret, extra)
            .await
            .refusal(401, "invalid_client");
        assert!(description.contains("private_key_jwt"), "{description}");
    }
    // Deleting the credentials brings the secret back, and refuses assertions.
    tenant.set_client_credentials(Vec::new());
    assert!(tenant.client_credentials().is_empty());
    post(
        &tenant,
        Secret::Basic(tenant.client_id(), tenant.client_secret()),
        &[],
    )
    .await
    .assert_ok();
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    let description = with_assertion(&tenant, &assertion)
        .await
        .refusal(401, "invalid_client");
    assert!(description.contains("has no credential"), "{description}");
    assert_eq!(tenant.client_assertion_refusals(), 1);
}

#[tokio::test]
async fn the_default_tenant_refuses_assertions_and_takes_its_secret() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let key = TestKey::rsa(KID);
    let assertion = sign(&key, Algorithm::RS256, Some(KID), &claims(&tenant));
    let description = with_assertion(&tenant, &assertion)
        .await
        .refusal(401, "invalid_client");
    assert!(description.contains("client secret"), "{description}");
    post(
        &tenant,
        Secret::Basic(tenant.client_id(), tenant.client_secret()),
        &[],
    )
    .await
    .assert_ok();
    // Credentials added at run time switch the client to private_key_jwt.
    tenant.set_client_credentials(vec![ClientCredential::from_test_key(&key, "RS256")]);
    with_assertion(&tenant, &assertion).await.assert_ok();
}
