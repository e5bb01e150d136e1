//! Issue 19: Auth0 misconfigurations named where they happen. Each one reproduced
//! against the mock tenant the way Auth0 produces it, refused with a 401 whose
//! `error_description` names the fix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Answer, Options, TestServer};
use jwt_verify::BearerErrorCode;
use obo_tests::consent::HeadlessBrowser;
use serde_json::json;

const REDIRECT: &str = "http://127.0.0.1:33418/callback";
/// RFC 7636 Appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const NO_API_FIX: &str = "Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience";

/// Signs in as alice the way an MCP client does (DCR, then `/authorize` with
/// `resource` only, then the code at the token endpoint) and returns the access token.
async fn sign_in_with_resource_only(server: &TestServer) -> String {
    let tenant = &server.tenant;
    let http = reqwest::Client::new();
    let registered: serde_json::Value = http
        .post(tenant.registration_endpoint())
        .json(&json!({
            "client_name": "an MCP client",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let mut authorize = url::Url::parse(&format!("{}authorize", tenant.issuer())).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "s1")
        .append_pair("scope", "tool:whoami")
        .append_pair("resource", tenant.mcp_audience());
    let decision = HeadlessBrowser::default()
        .sign_in(authorize.as_str(), "auth0|alice")
        .await
        .unwrap();
    let location = url::Url::parse(&decision.location).unwrap();
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, code)| code.into_owned())
        .unwrap_or_else(|| panic!("no code in {location}"));
    let answer: serde_json::Value = http
        .post(tenant.token_endpoint())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("resource", tenant.mcp_audience()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {answer}"))
        .to_owned()
}

async fn list_tools(server: &TestServer, token: &str) -> Answer {
    server
        .http()
        .post(
            &[&format!("Bearer {token}")],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await
}

fn description(answer: &Answer) -> String {
    assert_eq!(answer.status, 401, "{answer:?}");
    let challenge = answer.challenge();
    assert_eq!(challenge.error_code(), Some(BearerErrorCode::InvalidToken));
    let description = challenge.error_description_value().unwrap().to_owned();
    assert_eq!(answer.body["error_description"], description.as_str());
    description
}

#[tokio::test]
async fn without_the_compatibility_profile_a_resource_only_sign_in_yields_an_opaque_token_named_at_401()
 {
    let server = TestServer::start(Options {
        resource_parameter_profile: false,
        ..Options::default()
    })
    .await;
    let token = sign_in_with_resource_only(&server).await;
    assert_ne!(token.split('.').count(), 3, "opaque, not a JWT: {token}");
    let answer = list_tools(&server, &token).await;
    let description = description(&answer);
    assert_eq!(
        description,
        format!(
            "The access token is opaque, not a JWT: the client got no API audience. {NO_API_FIX}"
        )
    );
    assert!(!format!("{:?} {}", answer.headers, answer.body).contains(&token));

    // With the profile on (Auth0's setting for MCP), the same sign-in works.
    let server = TestServer::start(Options::default()).await;
    let token = sign_in_with_resource_only(&server).await;
    assert_eq!(list_tools(&server, &token).await.status, 200);
}

#[tokio::test]
async fn each_misconfigured_token_from_the_tenant_is_named_at_401() {
    let server = TestServer::start(Options::default()).await;
    let tenant = &server.tenant;
    let userinfo = format!("{}userinfo", tenant.issuer());
    let cases = [
        (
            obo_tests::token::jwe_shaped(),
            "The access token is encrypted (a JWE): turn off token encryption for this API in the tenant".to_owned(),
        ),
        (
            tenant.sign_user_token(&tenant.user_token("auth0|alice").audience(userinfo)),
            format!("The access token's only audience is the tenant's userinfo endpoint: the client got no API audience. {NO_API_FIX}"),
        ),
        (
            tenant.sign_user_token(
                &tenant
                    .user_token("auth0|alice")
                    .issuer("https://other-tenant.example/"),
            ),
            format!(
                "The access token was issued by https://other-tenant.example/ but this server expects tokens issued by {}",
                tenant.issuer()
            ),
        ),
        (
            tenant.sign_user_token(
                &tenant
                    .user_token("auth0|alice")
                    .audience(tenant.api_audience()),
            ),
            format!(
                "The access token is for the audience {} but this server expects the audience {}: the client must ask for a token for this API",
                tenant.api_audience(),
                tenant.mcp_audience()
            ),
        ),
    ];
    for (token, expected) in cases {
        let answer = list_tools(&server, &token).await;
        assert_eq!(description(&answer), expected);
        let everything = format!("{:?} {}", answer.headers, answer.body);
        for segment in token.split('.').filter(|s| s.len() >= 8) {
            assert!(!everything.contains(segment), "{everything}");
        }
    }
}
