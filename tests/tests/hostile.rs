//! Hostile inputs, end to end: the mock Auth0 tenant in this process, `private-api`
//! and `mcp-server` as real processes. Each test is one attack or malformation, named
//! after it (and the RFC section it leans on). Every one must end in a 4xx with the
//! right challenge, or a JSON-RPC error, never a 5xx, a hang or a crash: each test
//! ends by checking that the server still answers `/healthz` and a valid call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use obo_tests::keys::TestKey;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::token::forge;
use serde_json::{Value, json};
use support::{Reply, tool_call_body};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// No request may take longer than this: a hang is a failure, not a wait.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const ALICE: &str = "auth0|alice";
const ALL_SCOPES: [&str; 2] = ["tool:whoami", "tool:greet"];

struct Sut {
    system: RunningSystem,
    http: reqwest::Client,
}

async fn sut() -> Sut {
    let system = support::start_system(SystemConfig::default).await;
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    Sut { system, http }
}

impl Sut {
    fn tenant(&self) -> &obo_tests::MockTenant {
        &self.system.tenant
    }

    fn metadata_url(&self) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource",
            self.system.mcp_server_url
        )
    }

    /// A valid token for alice with every tool scope.
    fn good_token(&self) -> String {
        self.tenant().token_for(ALICE, &ALL_SCOPES)
    }

    /// Signs alice's default claims after `tweak`, with the tenant's key.
    fn signed(
        &self,
        tweak: impl FnOnce(obo_tests::token::TokenBuilder) -> obo_tests::token::TokenBuilder,
    ) -> String {
        let builder = tweak(self.tenant().user_token(ALICE));
        self.tenant().sign_user_token(&builder)
    }

    /// `POST /mcp` with the given headers (all of them: nothing is added) and body.
    async fn post_raw(&self, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Reply {
        let mut request = self.http.post(self.system.mcp_url()).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("answered within the timeout");
        Reply::read(response).await
    }

    /// A JSON-RPC body posted as a well-behaved client would, with `authorization`.
    async fn post(&self, authorization: Option<&str>, body: &Value) -> Reply {
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        if let Some(value) = authorization {
            headers.push(("authorization", value));
        }
        self.post_raw(&headers, serde_json::to_vec(body).unwrap())
            .await
    }

    /// `get_datetime` (no scope needed) with `Authorization: Bearer <token>`.
    async fn call_with_token(&self, token: &str) -> Reply {
        self.post(
            Some(&format!("Bearer {token}")),
            &tool_call_body(1, "get_datetime", json!({})),
        )
        .await
    }

    /// A request with alice's valid token and this JSON-RPC body.
    async fn post_as_alice(&self, body: &Value) -> Reply {
        self.post(Some(&format!("Bearer {}", self.good_token())), body)
            .await
    }

    /// 401 with `Bearer error="invalid_token"`, a description and our metadata URL.
    fn assert_invalid_token(&self, reply: &Reply) {
        self.assert_challenge(reply, 401, Some("invalid_token"));
        assert_eq!(reply.json["error"], "invalid_token", "{}", reply.text);
    }

    /// A bad token is refused with the right code: RFC 6750 §2.1 defines the
    /// `b64token` syntax, so a value outside it is a malformed request (400
    /// `invalid_request`), and one inside it that does not verify is 401 `invalid_token`.
    async fn assert_refused_token(&self, token: &str) {
        let reply = self.call_with_token(token).await;
        if is_b64token(token) {
            self.assert_invalid_token(&reply);
        } else {
            self.assert_challenge(&reply, 400, Some("invalid_request"));
        }
    }

    /// `status` with a Bearer challenge whose `error` is `error` (absent when `None`,
    /// as RFC 6750 §3.1 asks for a request without credentials).
    fn assert_challenge(&self, reply: &Reply, status: u16, error: Option<&str>) {
        assert_eq!(reply.status, status, "{}", reply.text);
        let challenge = reply
            .challenge()
            .unwrap_or_else(|| panic!("a WWW-Authenticate challenge on {status}"));
        assert_eq!(challenge.scheme, "Bearer", "{challenge:?}");
        assert_eq!(challenge.get("error"), error, "{challenge:?}");
        assert_eq!(
            challenge.get("resource_metadata"),
            Some(self.metadata_url().as_str()),
            "{challenge:?}"
        );
        if error.is_some() {
            let description = challenge.get("error_description").unwrap_or_default();
            assert!(!description.is_empty(), "{challenge:?}");
        } else {
            assert_eq!(
                challenge.params.len(),
                2,
                "only scope and resource_metadata: {challenge:?}"
            );
        }
        // A 401 names the base scopes (every tool scope by default), a 400 none.
        let scope = (status == 401).then_some("tool:greet tool:whoami");
        assert_eq!(challenge.get("scope"), scope, "{challenge:?}");
    }

    /// A JSON-RPC error answer (HTTP 200 or 4xx) with this code.
    fn assert_jsonrpc_error(&self, reply: &Reply, code: i64) {
        assert!(
            reply.status == 200 || (400..500).contains(&reply.status),
            "{} {}",
            reply.status,
            reply.text
        );
        assert_eq!(reply.json["error"]["code"], code, "{}", reply.text);
        assert!(reply.json.get("result").is_none(), "{}", reply.text);
    }

    /// The server is still up: `/healthz` answers, and a valid token still works.
    async fn assert_still_serving(&self) {
        let health = self
            .http
            .get(format!("{}/healthz", self.system.mcp.base_url()))
            .send()
            .await
            .expect("/healthz answers");
        assert_eq!(health.status(), 200);
        let reply = self
            .post_as_alice(&tool_call_body(9, "whoami", json!({})))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["result"]["isError"], false, "{}", reply.text);
        assert!(reply.tool_text().contains(ALICE), "{}", reply.text);
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// A token's three segments.
fn segments(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    [
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    ]
}

/// Signs `payload` bytes (anything, JSON or not) under the tenant's current key.
fn sign_payload(sut: &Sut, payload: &[u8]) -> String {
    let key = sut.tenant().signing_key();
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()});
    key.sign_raw(&serde_json::to_vec(&header).unwrap(), payload)
}

// ---------------------------------------------------------------------------------
// The Authorization header (RFC 6750 §2.1, §3.1)
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn rfc6750_3_1_no_authorization_header_gets_a_challenge_without_error_code() {
    let sut = sut().await;
    let reply = sut
        .post(None, &tool_call_body(1, "get_datetime", json!({})))
        .await;
    sut.assert_challenge(&reply, 401, None);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc6750_2_1_empty_bearer_is_invalid_request() {
    let sut = sut().await;
    for value in ["Bearer", "Bearer ", "Bearer    "] {
        let reply = sut
            .post(Some(value), &tool_call_body(1, "get_datetime", json!({})))
            .await;
        sut.assert_challenge(&reply, 400, Some("invalid_request"));
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc6750_3_1_basic_scheme_is_treated_as_no_credentials() {
    let sut = sut().await;
    for value in [
        "Basic YWxpY2U6c2VjcmV0",
        "DPoP abc.def.ghi",
        "Token abc",
        "Bearerabc",
    ] {
        let reply = sut
            .post(Some(value), &tool_call_body(1, "get_datetime", json!({})))
            .await;
        sut.assert_challenge(&reply, 401, None);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc6750_2_1_two_tokens_in_one_header_are_invalid_request() {
    let sut = sut().await;
    let good = sut.good_token();
    for value in [
        format!("Bearer {good} {good}"),
        format!("Bearer {good},{good}"),
        format!("Bearer {good}, Bearer {good}"),
    ] {
        let reply = sut
            .post(Some(&value), &tool_call_body(1, "get_datetime", json!({})))
            .await;
        sut.assert_challenge(&reply, 400, Some("invalid_request"));
        assert!(!reply.text.contains(&good));
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc6750_2_1_two_authorization_headers_are_invalid_request() {
    let sut = sut().await;
    let good = format!("Bearer {}", sut.good_token());
    let reply = sut
        .post_raw(
            &[
                ("content-type", "application/json"),
                ("accept", "application/json, text/event-stream"),
                ("authorization", &good),
                ("authorization", &good),
            ],
            serde_json::to_vec(&tool_call_body(1, "get_datetime", json!({}))).unwrap(),
        )
        .await;
    sut.assert_challenge(&reply, 400, Some("invalid_request"));
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc9110_11_1_lowercase_bearer_is_the_same_scheme_and_still_verified() {
    // Auth schemes are case-insensitive, so `bearer` is Bearer: a good token passes,
    // and a bad one is refused as a bad Bearer token, not as "no credentials".
    let sut = sut().await;
    let reply = sut
        .post(
            Some(&format!("bearer {}", sut.good_token())),
            &tool_call_body(1, "get_datetime", json!({})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let expired = sut.signed(|b| b.expires_in(-3600));
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let reply = sut
            .post(
                Some(&format!("{scheme} {expired}")),
                &tool_call_body(1, "get_datetime", json!({})),
            )
            .await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn a_100_kb_authorization_header_is_refused_without_parsing_it() {
    let sut = sut().await;
    let huge = format!("Bearer {}", "a".repeat(100 * 1024));
    let reply = sut
        .post(Some(&huge), &tool_call_body(1, "get_datetime", json!({})))
        .await;
    if reply.status == 431 {
        // Refused by the HTTP layer before our code: also a correct 4xx.
    } else {
        sut.assert_invalid_token(&reply);
    }
    // A huge token that looks like a JWT gets the same answer.
    let segment = "A".repeat(34 * 1024);
    let huge_jwt = format!("Bearer {segment}.{segment}.{segment}");
    let reply = sut
        .post(
            Some(&huge_jwt),
            &tool_call_body(1, "get_datetime", json!({})),
        )
        .await;
    assert!(matches!(reply.status, 401 | 431), "{}", reply.status);
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// Algorithms and keys (RFC 8725 §2.1, §3.1; RFC 7515 §4.1)
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn rfc8725_3_1_alg_none_is_refused() {
    let sut = sut().await;
    let builder = sut.tenant().user_token(ALICE);
    for token in [
        builder.unsigned(),
        builder.clone().header("alg", "None").unsigned(),
        builder.clone().header("alg", "NONE").unsigned(),
        // `none` with a signature stuck on, in case only empty signatures are checked.
        format!("{}sig", builder.unsigned()),
    ] {
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc8725_2_1_hs256_signed_with_the_public_key_pem_is_refused() {
    let sut = sut().await;
    let key = sut.tenant().signing_key();
    let builder = sut.tenant().user_token(ALICE);
    for token in [
        builder.sign_hs256(key.public_key_pem().as_bytes(), Some(key.kid())),
        builder.sign_hs256(key.public_key_pem().trim().as_bytes(), Some(key.kid())),
        builder.sign_hs256(key.public_key_pem().as_bytes(), None),
    ] {
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc8725_2_1_hs256_signed_with_the_jwk_modulus_is_refused() {
    let sut = sut().await;
    let key = sut.tenant().signing_key();
    let jwk = key.jwk();
    let builder = sut.tenant().user_token(ALICE);
    let n = jwk["n"].as_str().unwrap();
    for secret in [
        n.as_bytes().to_vec(),
        serde_json::to_vec(&jwk).unwrap(),
        base64_decode(n),
    ] {
        for alg in ["HS256", "HS384", "HS512"] {
            let header = json!({"alg": alg, "typ": "JWT", "kid": key.kid()});
            // Signed as HS256 whatever the header says: any HMAC must be refused
            // before a key is even looked for.
            let token = forge::hs256(&header, &builder.claims(), &secret);
            let reply = sut.call_with_token(&token).await;
            sut.assert_invalid_token(&reply);
        }
    }
    sut.assert_still_serving().await;
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn rfc7515_4_1_4_unknown_kid_is_invalid_token() {
    let sut = sut().await;
    let stranger = TestKey::rsa("not-a-tenant-key");
    let token = sut.tenant().user_token(ALICE).sign(&stranger);
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    // A known kid, but signed by another key, is a bad signature.
    let liar = TestKey::rsa(sut.tenant().signing_key().kid());
    let token = sut.tenant().user_token(ALICE).sign(&liar);
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    // No kid at all.
    let token = sut.signed(|b| b.header("kid", Value::Null));
    let reply = sut.call_with_token(&token).await;
    assert!(matches!(reply.status, 200 | 401), "{}", reply.text);
    if reply.status == 401 {
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_4_1_4_kid_with_path_traversal_is_invalid_token() {
    let sut = sut().await;
    for kid in [
        "../../etc/passwd",
        "../../../../../../dev/zero",
        "/etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "file:///etc/passwd",
        "key\u{0}null",
        "' OR '1'='1",
    ] {
        let token = sut.signed(|b| b.header("kid", kid));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
        assert!(!reply.text.contains("root:"), "{}", reply.text);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_4_1_4_kid_of_10_kb_is_invalid_token() {
    let sut = sut().await;
    let kid = "k".repeat(10 * 1024);
    let token = sut.signed(|b| b.header("kid", kid.as_str()));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    assert!(!reply.text.contains(&kid[..64]), "the kid is never echoed");
    sut.assert_still_serving().await;
}

/// A server an attacker controls, serving the attacker's keys, that must see nothing.
async fn attacker_key_server(key: &TestKey) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(obo_tests::keys::jwks_json(&[key])))
        .mount(&server)
        .await;
    server
}

async fn assert_untouched(server: &MockServer) {
    let requests = server.received_requests().await.expect("recording is on");
    assert!(
        requests.is_empty(),
        "the server fetched a URL from the token header: {requests:?}"
    );
}

#[tokio::test]
async fn rfc7515_4_1_2_jku_header_is_never_fetched() {
    let sut = sut().await;
    let attacker = TestKey::rsa("attacker-key");
    let server = attacker_key_server(&attacker).await;
    let jku = format!("{}/.well-known/jwks.json", server.uri());
    let token = sut
        .tenant()
        .user_token(ALICE)
        .header("jku", jku.as_str())
        .sign(&attacker);
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    // The same header on a token the tenant signed changes nothing either way.
    let token = sut.signed(|b| b.header("jku", jku.as_str()));
    let reply = sut.call_with_token(&token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    sut.assert_still_serving().await;
    assert_untouched(&server).await;
}

#[tokio::test]
async fn rfc7515_4_1_5_x5u_header_is_never_fetched() {
    let sut = sut().await;
    let attacker = TestKey::rsa("attacker-x5u");
    let server = attacker_key_server(&attacker).await;
    let x5u = format!("{}/cert.pem", server.uri());
    let token = sut
        .tenant()
        .user_token(ALICE)
        .header("x5u", x5u.as_str())
        .header(
            "x5c",
            json!(["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]),
        )
        .sign(&attacker);
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
    assert_untouched(&server).await;
}

#[tokio::test]
async fn rfc7515_4_1_3_embedded_jwk_header_is_not_trusted() {
    let sut = sut().await;
    let attacker = TestKey::rsa("attacker-jwk");
    let server = attacker_key_server(&attacker).await;
    let mut jwk = attacker.jwk();
    // A JWK that also points somewhere, in case a library follows it.
    jwk["x5u"] = json!(format!("{}/jwk-cert.pem", server.uri()));
    for kid in [
        attacker.kid().to_owned(),
        sut.tenant().signing_key().kid().to_owned(),
    ] {
        let token = sut
            .tenant()
            .user_token(ALICE)
            .header("jwk", jwk.clone())
            .header("kid", kid.as_str())
            .header("jku", format!("{}/jwks", server.uri()))
            .sign(&attacker);
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
    assert_untouched(&server).await;
}

// ---------------------------------------------------------------------------------
// Registered claims (RFC 7519 §4.1, RFC 9068 §4)
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn rfc7519_4_1_4_expired_token_is_invalid_token() {
    let sut = sut().await;
    // Beyond the 60 s leeway, and long gone.
    for seconds in [-120, -86_400] {
        let token = sut.signed(|b| b.expires_in(seconds).issued_ago(90_000));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
        assert!(reply.text.contains("expired"), "{}", reply.text);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_5_not_yet_valid_token_is_invalid_token() {
    let sut = sut().await;
    let token = sut.signed(|b| b.not_before_in(3600));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_1_wrong_issuer_is_invalid_token() {
    let sut = sut().await;
    for issuer in [
        "https://evil.example/",
        "https://evil.example",
        "http://127.0.0.1:1/",
    ] {
        let token = sut.signed(|b| b.issuer(issuer));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_1_our_issuer_without_its_trailing_slash_is_invalid_token() {
    // Auth0's `iss` ends with `/`; the comparison is exact, so the other spellings fail.
    let sut = sut().await;
    let issuer = sut.tenant().issuer().to_owned();
    let without = issuer.trim_end_matches('/').to_owned();
    for spelling in [without.clone(), format!("{issuer}/"), issuer.to_uppercase()] {
        let token = sut.signed(|b| b.issuer(spelling.as_str()));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    let token = sut.signed(|b| b.claim("iss", json!([issuer.as_str()])));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_3_wrong_audience_is_invalid_token() {
    let sut = sut().await;
    for audience in ["https://other.example/", "", "*"] {
        let token = sut.signed(|b| b.audience(audience));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    let token = sut.signed(|b| b.without("aud"));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_3_audience_array_without_ours_is_invalid_token() {
    let sut = sut().await;
    let ours = sut.tenant().mcp_audience().to_owned();
    let near = ours.trim_end_matches('/').to_owned();
    let token = sut.signed(|b| {
        b.audiences([
            "https://other.example/",
            near.as_str(),
            "https://tenant.example/userinfo",
        ])
    });
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    let token = sut.signed(|b| b.claim("aud", json!([])));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    // Ours among others is accepted (Auth0 adds its userinfo audience).
    let token = sut.signed(|b| b.audiences(["https://tenant.example/userinfo", ours.as_str()]));
    let reply = sut.call_with_token(&token).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_2_missing_sub_is_invalid_token() {
    let sut = sut().await;
    let token = sut.signed(|b| b.without("sub"));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    let token = sut.signed(|b| b.claim("sub", Value::Null));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_2_empty_sub_is_invalid_token() {
    let sut = sut().await;
    for sub in ["", " ", "\t"] {
        let token = sut.signed(|b| b.sub(sub));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_2_sub_with_control_characters_is_invalid_token() {
    // A newline in `sub` would forge a line in text logs; an escape would garble them.
    let sut = sut().await;
    for sub in [
        "auth0|a\nINFO forged",
        "auth0|\u{1b}[31mred",
        "auth0|nul\u{0}",
    ] {
        let token = sut.signed(|b| b.sub(sub));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    assert!(!sut.system.mcp.log().contains("INFO forged"));
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_1_2_numeric_sub_is_invalid_token() {
    let sut = sut().await;
    for sub in [
        json!(42),
        json!(1.5),
        json!(["auth0|alice"]),
        json!({"id": 1}),
        json!(true),
    ] {
        let token = sut.signed(|b| b.claim("sub", sub.clone()));
        let reply = sut.call_with_token(&token).await;
        sut.assert_invalid_token(&reply);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc9068_2_2_missing_client_id_is_invalid_token() {
    let sut = sut().await;
    let token = sut.signed(|b| b.without("azp").without("client_id"));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    let token = sut.signed(|b| b.claim("azp", 7).without("client_id"));
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn a_token_for_the_private_apis_audience_is_invalid_token_at_the_mcp_server() {
    let sut = sut().await;
    let api_audience = sut.tenant().api_audience().to_owned();
    let token = sut.signed(|b| {
        b.audience(api_audience.as_str())
            .scope("read:private")
            .act([sut.tenant().client_id()])
    });
    let reply = sut.call_with_token(&token).await;
    sut.assert_invalid_token(&reply);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_7_2_claims_that_are_an_array_are_invalid_token() {
    let sut = sut().await;
    let token = sign_payload(&sut, br#"[{"sub":"auth0|alice"}]"#);
    sut.assert_invalid_token(&sut.call_with_token(&token).await);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_7_2_claims_that_are_a_string_are_invalid_token() {
    let sut = sut().await;
    let token = sign_payload(&sut, br#""auth0|alice""#);
    sut.assert_invalid_token(&sut.call_with_token(&token).await);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_7_2_claims_that_are_a_number_or_null_are_invalid_token() {
    let sut = sut().await;
    for payload in [&b"42"[..], b"null", b"true", b"", b"{", b"not json"] {
        let token = sign_payload(&sut, payload);
        sut.assert_invalid_token(&sut.call_with_token(&token).await);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7519_4_duplicate_claims_are_invalid_token() {
    let sut = sut().await;
    let claims = sut.tenant().user_token(ALICE).claims().to_string();
    // The same object with a second `sub` spliced in at the end.
    let duplicated = format!(r#"{},"sub":"auth0|mallory"}}"#, &claims[..claims.len() - 1]);
    let token = sign_payload(&sut, duplicated.as_bytes());
    sut.assert_invalid_token(&sut.call_with_token(&token).await);
    sut.assert_still_serving().await;
}

fn nested_act(depth: usize) -> Vec<String> {
    (0..depth).map(|i| format!("actor-{i}")).collect()
}

#[tokio::test]
async fn rfc8693_4_1_act_nested_20_levels_never_reaches_the_api() {
    // jwt-verify bounds `act` nesting at 32 (a generic library: RFC 8693 sets no
    // limit), so a 20-level chain verifies and whoami shows it; Auth0 refuses chains
    // deeper than 4, so greet is a readable tool error and nothing is exchanged.
    let sut = sut().await;
    let token = sut.signed(|b| b.act(nested_act(20)));
    let reply = sut
        .post(
            Some(&format!("Bearer {token}")),
            &tool_call_body(1, "whoami", json!({})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.tool_text().contains("actor-19"), "{}", reply.text);
    let reply = sut
        .post(
            Some(&format!("Bearer {token}")),
            &tool_call_body(2, "greet", json!({"name": "Deep"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
    assert!(
        reply.tool_text().contains("deeper than 4"),
        "{}",
        reply.text
    );
    assert_eq!(sut.tenant().exchanges(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc8693_4_1_act_nested_beyond_the_bound_is_invalid_token() {
    let sut = sut().await;
    for depth in [40, 200] {
        let token = sut.signed(|b| b.act(nested_act(depth)));
        sut.assert_invalid_token(&sut.call_with_token(&token).await);
    }
    // A malformed act (not an object, or an actor without sub).
    for act in [
        json!("actor"),
        json!({"act": {"sub": "x"}}),
        json!({"sub": 5}),
    ] {
        let token = sut.signed(|b| b.claim("act", act.clone()));
        sut.assert_invalid_token(&sut.call_with_token(&token).await);
    }
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// The compact serialisation (RFC 7515 §7.1)
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn rfc7515_7_1_malformed_base64_in_the_header_segment_is_invalid_token() {
    let sut = sut().await;
    let [h, p, s] = segments(&sut.good_token());
    for header in [
        format!("{h}=="),
        format!("+{}", &h[1..]),
        format!("{}/", &h[..h.len() - 1]),
        format!("{}A", h),
        "e30".to_owned(),
        "%7B%7D".to_owned(),
    ] {
        let token = format!("{header}.{p}.{s}");
        sut.assert_refused_token(&token).await;
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_7_1_malformed_base64_in_the_payload_segment_is_invalid_token() {
    let sut = sut().await;
    let [h, p, s] = segments(&sut.good_token());
    for payload in [
        format!("{p}="),
        format!("{}+", &p[..p.len() - 1]),
        format!("{p}A"),
        format!("{p}AA").replace('_', "/"),
        "".to_owned(),
    ] {
        let token = format!("{h}.{payload}.{s}");
        sut.assert_refused_token(&token).await;
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_7_1_malformed_base64_in_the_signature_segment_is_invalid_token() {
    let sut = sut().await;
    let [h, p, s] = segments(&sut.good_token());
    for signature in [
        format!("{s}="),
        format!("{}+", &s[..s.len() - 1]),
        format!("{s}A"),
        format!("{}AA", &s[..s.len() - 2]),
        "".to_owned(),
        "A".to_owned(),
    ] {
        let token = format!("{h}.{p}.{signature}");
        sut.assert_refused_token(&token).await;
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_7_1_a_valid_token_with_a_trailing_dot_segment_is_invalid_token() {
    let sut = sut().await;
    let good = sut.good_token();
    sut.assert_invalid_token(&sut.call_with_token(&format!("{good}.x")).await);
    sut.assert_invalid_token(&sut.call_with_token(&format!("{good}.")).await);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7515_7_1_a_valid_token_with_two_trailing_dots_is_invalid_token() {
    let sut = sut().await;
    let good = sut.good_token();
    sut.assert_invalid_token(&sut.call_with_token(&format!("{good}..")).await);
    sut.assert_invalid_token(&sut.call_with_token(&format!("..{good}")).await);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn rfc7516_9_a_valid_token_with_an_extra_segment_is_invalid_token() {
    // Five segments is the JWE shape; an encrypted token is not something we accept.
    let sut = sut().await;
    let good = sut.good_token();
    let [h, p, s] = segments(&good);
    for token in [
        format!("{good}.{s}"),
        format!("{h}.{p}.{p}.{s}"),
        format!("{h}.{p}.{s}.{s}.{s}"),
    ] {
        sut.assert_invalid_token(&sut.call_with_token(&token).await);
    }
    // Garbage appended to the signature itself is a bad signature.
    sut.assert_invalid_token(&sut.call_with_token(&format!("{good}x")).await);
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// JSON-RPC bodies with a valid token (JSON-RPC 2.0 §5.1, MCP Streamable HTTP)
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_body_over_1_mib_is_413() {
    let sut = sut().await;
    let filler = "x".repeat(1024 * 1024 + 1);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": filler}});
    let reply = sut.post_as_alice(&body).await;
    assert_eq!(
        reply.status,
        413,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    // Far larger: the server answers 413 after 1 MiB and stops reading, so the client
    // may see the answer or only the connection closing under its upload.
    let sent = sut
        .http
        .post(sut.system.mcp_url())
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .bearer_auth(sut.good_token())
        .body(vec![b' '; 8 * 1024 * 1024])
        .send()
        .await;
    match sent {
        Ok(response) => assert_eq!(response.status(), 413),
        Err(error) => assert!(!error.is_timeout(), "{error}"),
    }
    sut.assert_still_serving().await;
}

/// MCP 2025-06-18 removed batching: a batch (even an empty one, even one hiding a
/// call the token may not make) is HTTP 400 with the JSON-RPC error -32600, never 415.
#[tokio::test]
async fn jsonrpc_6_a_batch_request_is_400_with_a_jsonrpc_invalid_request() {
    let sut = sut().await;
    let alice = sut.good_token();
    // mallory may not call greet: the batch still gets the batch answer, not a 403.
    let mallory = sut.tenant().token_for("auth0|mallory", &["tool:whoami"]);
    for (token, batch) in [
        (
            &alice,
            json!([
                tool_call_body(1, "get_datetime", json!({})),
                tool_call_body(2, "whoami", json!({})),
            ]),
        ),
        (&alice, json!([])),
        (
            &mallory,
            json!([
                tool_call_body(1, "whoami", json!({})),
                tool_call_body(2, "get_datetime", json!({})),
                tool_call_body(3, "greet", json!({"name": "x"})),
            ]),
        ),
    ] {
        let reply = sut.post(Some(&format!("Bearer {token}")), &batch).await;
        assert_eq!(reply.status, 400, "{}", reply.text);
        assert_eq!(reply.json["error"]["code"], -32600, "{}", reply.text);
        assert!(reply.json["id"].is_null(), "{}", reply.text);
        let message = reply.json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("batches are not supported by this protocol version"),
            "{}",
            reply.text
        );
    }
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn jsonrpc_5_1_an_unknown_method_is_method_not_found() {
    let sut = sut().await;
    for method in ["tools/explode", "", "rpc.discover", "tools/call/"] {
        let reply = sut
            .post_as_alice(&json!({"jsonrpc": "2.0", "id": 1, "method": method}))
            .await;
        sut.assert_jsonrpc_error(&reply, -32601);
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn mcp_tools_call_of_an_unknown_tool_is_a_jsonrpc_error() {
    let sut = sut().await;
    for tool in ["rm_rf", "", "GREET", "greet ", "../greet"] {
        let reply = sut.post_as_alice(&tool_call_body(1, tool, json!({}))).await;
        assert_eq!(reply.status, 200, "{tool}: {}", reply.text);
        let code = reply.json["error"]["code"].as_i64();
        assert!(
            matches!(code, Some(-32602 | -32601)),
            "{tool}: {}",
            reply.text
        );
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn mcp_greet_with_a_name_of_the_wrong_type_is_invalid_params() {
    let sut = sut().await;
    for arguments in [
        json!({"name": 42}),
        json!({"name": ["a"]}),
        json!({"name": {"x": 1}}),
    ] {
        let reply = sut
            .post_as_alice(&tool_call_body(1, "greet", arguments))
            .await;
        assert_arguments_refused(&reply);
    }
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

/// Arguments that do not fit the tool's schema: rmcp answers either JSON-RPC -32602 or,
/// as MCP 2025-11-25 asks for input validation errors, a tool result with `isError`
/// that says what was wrong. Either way nothing ran.
fn assert_arguments_refused(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.text);
    if reply.json["error"]["code"].is_i64() {
        assert_eq!(reply.json["error"]["code"], -32602, "{}", reply.text);
    } else {
        assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
        assert!(reply.tool_text().contains("parameters"), "{}", reply.text);
        assert!(!reply.tool_text().contains("Hello"), "{}", reply.text);
    }
}

#[tokio::test]
async fn mcp_greet_with_arguments_that_are_not_an_object_is_invalid_params() {
    let sut = sut().await;
    // rmcp cannot read such a request as a `tools/call` at all, and answers as for a
    // method it does not know (-32601) or with HTTP 415, rather than -32602: still a
    // refusal before any tool runs.
    for body in [
        tool_call_body(1, "greet", json!("x")),
        tool_call_body(1, "greet", json!(42)),
        tool_call_body(1, "greet", json!([1, 2])),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "greet"}),
    ] {
        let reply = sut.post_as_alice(&body).await;
        // Some of these rmcp refuses at the HTTP level, with 415.
        assert!(
            (400..500).contains(&reply.status)
                || matches!(reply.json["error"]["code"].as_i64(), Some(-32602 | -32601)),
            "{} {}",
            reply.status,
            reply.text
        );
    }
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn mcp_greet_with_a_name_of_1_mb_is_413() {
    let sut = sut().await;
    let name = "n".repeat(1024 * 1024);
    let reply = sut
        .post_as_alice(&tool_call_body(1, "greet", json!({"name": name})))
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn mcp_greet_with_a_name_of_300_characters_is_invalid_params() {
    let sut = sut().await;
    for name in ["n".repeat(300), "é".repeat(257)] {
        let reply = sut
            .post_as_alice(&tool_call_body(1, "greet", json!({"name": name})))
            .await;
        sut.assert_jsonrpc_error(&reply, -32602);
        assert!(!reply.text.contains(&name), "the name is not echoed back");
    }
    // 256 is the limit, and allowed.
    let reply = sut
        .post_as_alice(&tool_call_body(
            1,
            "get_datetime",
            json!({"name": "n".repeat(256)}),
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn mcp_greet_with_control_characters_in_the_name_is_invalid_params() {
    let sut = sut().await;
    for name in [
        "a\u{7}b",
        "line\nbreak",
        "\u{1b}[31mred",
        "nul\u{0}",
        "del\u{7f}",
        "c1\u{85}next",
        "bidi\u{202e}txt",
    ] {
        let reply = sut
            .post_as_alice(&tool_call_body(1, "greet", json!({"name": name})))
            .await;
        sut.assert_jsonrpc_error(&reply, -32602);
    }
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

// ---------------------------------------------------------------------------------
// HTTP framing with a valid token (MCP Streamable HTTP transport)
// ---------------------------------------------------------------------------------

fn authorized_headers(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

async fn post_headers(sut: &Sut, extra: &[(&str, &str)], body: &[u8]) -> Reply {
    let auth = authorized_headers(&sut.good_token());
    let mut headers: Vec<(&str, &str)> = auth.iter().map(|(n, v)| (*n, v.as_str())).collect();
    headers.extend_from_slice(extra);
    sut.post_raw(&headers, body.to_vec()).await
}

#[tokio::test]
async fn streamable_http_content_type_text_plain_is_a_4xx() {
    let sut = sut().await;
    let body = serde_json::to_vec(&tool_call_body(1, "get_datetime", json!({}))).unwrap();
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let mut extra = vec![("accept", "application/json, text/event-stream")];
        if !content_type.is_empty() {
            extra.push(("content-type", content_type));
        }
        let reply = post_headers(&sut, &extra, &body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{content_type:?}: {} {}",
            reply.status,
            reply.text
        );
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn streamable_http_missing_accept_is_a_4xx() {
    let sut = sut().await;
    let body = serde_json::to_vec(&tool_call_body(1, "get_datetime", json!({}))).unwrap();
    for accept in [None, Some("text/html"), Some("application/json")] {
        let mut extra = vec![("content-type", "application/json")];
        if let Some(accept) = accept {
            extra.push(("accept", accept));
        }
        let reply = post_headers(&sut, &extra, &body).await;
        assert!(
            (400..500).contains(&reply.status) || reply.status == 200,
            "{accept:?}: {} {}",
            reply.status,
            reply.text
        );
        if accept.is_none() || accept == Some("text/html") {
            assert!(
                (400..500).contains(&reply.status),
                "{accept:?}: {}",
                reply.status
            );
        }
    }
    sut.assert_still_serving().await;
}

const JSON_HEADERS: [(&str, &str); 2] = [
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
];

#[tokio::test]
async fn jsonrpc_5_1_invalid_json_is_a_parse_error_or_a_4xx() {
    let sut = sut().await;
    for body in [
        &b"{"[..],
        b"{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ",
        b"not json at all",
        b"",
        b"null",
        b"42",
        b"{\"jsonrpc\": \"1.0\", \"id\": 1, \"method\": \"ping\"}",
        b"{\"id\": {\"nested\": 1}, \"jsonrpc\": \"2.0\", \"method\": \"ping\"}",
    ] {
        let reply = post_headers(&sut, &JSON_HEADERS, body).await;
        let text = String::from_utf8_lossy(body);
        assert!(
            reply.status < 500,
            "{text}: {} {}",
            reply.status,
            reply.text
        );
        assert!(
            (400..500).contains(&reply.status) || reply.json["error"]["code"].is_i64(),
            "{text}: {} {}",
            reply.status,
            reply.text
        );
    }
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn a_non_utf8_body_is_a_4xx_or_a_parse_error() {
    let sut = sut().await;
    for body in [
        &b"\xff\xfe\xfd"[..],
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"greet\",\"arguments\":{\"name\":\"\xc3\x28\"}}}",
        b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    ] {
        let reply = post_headers(&sut, &JSON_HEADERS, body).await;
        assert!(reply.status < 500, "{} {}", reply.status, reply.text);
        assert!(
            (400..500).contains(&reply.status) || reply.json["error"]["code"].is_i64(),
            "{} {}",
            reply.status,
            reply.text
        );
    }
    assert_eq!(sut.tenant().exchange_attempts(), 0);
    sut.assert_still_serving().await;
}

#[tokio::test]
async fn dns_rebinding_a_host_header_not_allowed_is_a_4xx() {
    let sut = sut().await;
    let body = serde_json::to_vec(&tool_call_body(1, "get_datetime", json!({}))).unwrap();
    for host in ["evil.example", "evil.example:80", "localhost.evil.example"] {
        let mut extra = JSON_HEADERS.to_vec();
        extra.push(("host", host));
        let reply = post_headers(&sut, &extra, &body).await;
        assert!(
            (400..500).contains(&reply.status),
            "{host}: {} {}",
            reply.status,
            reply.text
        );
        assert!(reply.json.get("result").is_none(), "{}", reply.text);
    }
    sut.assert_still_serving().await;
}
