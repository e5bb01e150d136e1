//! `GET /authorize`, the consent page and `POST /authorize/decision`, driven over HTTP
//! against a started tenant with clients inserted straight into its state.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Response, StatusCode};
use url::Url;

use super::*;
use crate::decision::MAX_DECISION_BODY;
use crate::signin::{CODE_LIFETIME, ClientAuthMethod};
use crate::test_support::insert_client;
use crate::{MockTenant, TenantConfig};

/// RFC 7636 Appendix B's challenge.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const REDIRECT: &str = "http://127.0.0.1:53682/callback";
const STATE: &str = "af0ifjsldkj";

struct Fixture {
    tenant: MockTenant,
    client_id: String,
    http: reqwest::Client,
}

async fn fixture() -> Fixture {
    fixture_with(TenantConfig::default(), &[REDIRECT], true).await
}

async fn fixture_with(config: TenantConfig, redirect_uris: &[&str], with_refresh: bool) -> Fixture {
    let tenant = MockTenant::start(config).await;
    let client = insert_client(&tenant, ClientAuthMethod::None, redirect_uris, with_refresh);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Fixture {
        tenant,
        client_id: client.client_id,
        http,
    }
}

type Params = Vec<(&'static str, String)>;

impl Fixture {
    /// A valid request, as an MCP client sends it; each test breaks it one way.
    fn params(&self) -> Params {
        vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", REDIRECT.into()),
            ("state", STATE.into()),
            ("code_challenge", CHALLENGE.into()),
            ("code_challenge_method", "S256".into()),
            ("scope", "tool:greet".into()),
            ("resource", self.tenant.mcp_audience().into()),
        ]
    }

    async fn authorize(&self, params: &Params) -> Response {
        self.http
            .get(format!("{}authorize", self.tenant.issuer()))
            .query(params)
            .send()
            .await
            .unwrap()
    }

    /// A valid request with `name` set to `value`, or left out for `None`.
    async fn authorize_with(&self, name: &'static str, value: Option<&str>) -> Response {
        let mut params = self.params();
        params.retain(|(n, _)| *n != name);
        if let Some(value) = value {
            params.push((name, value.to_string()));
        }
        self.authorize(&params).await
    }

    /// The consent page for a valid request, and its hidden `request` and `csrf`.
    async fn consent(&self, params: &Params) -> (String, String, String) {
        let response = self.authorize(params).await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        let request = hidden(&html, "request");
        let csrf = hidden(&html, "csrf");
        (html, request, csrf)
    }

    async fn decide(&self, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}authorize/decision", self.tenant.issuer()))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    fn pending(&self, request: &str) -> Option<PendingAuthorization> {
        lock(&self.tenant.inner.state.signin)
            .pending
            .get(request)
            .cloned()
    }

    fn code(&self, code: &str) -> Option<crate::signin::AuthorizationCode> {
        lock(&self.tenant.inner.state.signin)
            .codes
            .get(code)
            .cloned()
    }
}

/// The value of the `<input name="{name}" value="…">` the consent page carries.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden input") + marker.len();
    let len = html[start..].find('"').unwrap();
    html[start..start + len].to_string()
}

fn location(response: &Response) -> Url {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap();
    Url::parse(location).unwrap()
}

fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// A 302 to `REDIRECT` with `error`, a description, the request's `state` and `iss`.
fn assert_redirected_error(fixture: &Fixture, response: &Response, error: &str) {
    let location = location(response);
    assert_eq!(
        location.as_str().split('?').next(),
        Some(REDIRECT),
        "{location}"
    );
    let query = query(&location);
    assert_eq!(
        query.get("error").map(String::as_str),
        Some(error),
        "{query:?}"
    );
    assert!(
        query
            .get("error_description")
            .is_some_and(|d| !d.is_empty())
    );
    assert_eq!(query.get("state").map(String::as_str), Some(STATE));
    assert_eq!(
        query.get("iss").map(String::as_str),
        Some(fixture.tenant.issuer())
    );
    assert!(!query.contains_key("code"));
}

/// A 400 HTML page, never a redirect.
async fn assert_error_page(response: Response, status: u16) {
    assert_eq!(response.status().as_u16(), status);
    assert!(response.headers().get("location").is_none());
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<h1>Sign-in error</h1>")
    );
}

// --- refusals that must not redirect (RFC 6749 §4.1.2.1, §10.6) ---

#[tokio::test]
async fn rfc6749_4_1_2_1_an_unknown_client_id_gets_an_error_page_not_a_redirect() {
    let fixture = fixture().await;
    let response = fixture
        .authorize_with("client_id", Some("tpc_unknown"))
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn rfc6749_4_1_2_1_a_missing_client_id_gets_an_error_page() {
    let fixture = fixture().await;
    assert_error_page(fixture.authorize_with("client_id", None).await, 400).await;
}

#[tokio::test]
async fn rfc6749_4_1_2_1_a_missing_redirect_uri_gets_an_error_page() {
    let fixture = fixture().await;
    assert_error_page(fixture.authorize_with("redirect_uri", None).await, 400).await;
}

#[tokio::test]
async fn rfc6749_4_1_2_1_an_unregistered_redirect_uri_gets_an_error_page() {
    let fixture = fixture().await;
    let response = fixture
        .authorize_with("redirect_uri", Some("https://attacker.example/callback"))
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn rfc6749_3_1_a_repeated_redirect_uri_gets_an_error_page() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.push(("redirect_uri", REDIRECT.into()));
    assert_error_page(fixture.authorize(&params).await, 400).await;
}

#[tokio::test]
async fn rfc8252_7_3_a_loopback_redirect_uri_matches_with_any_port() {
    let registered = [
        "http://127.0.0.1/callback",
        "http://localhost:33418/callback",
        "http://[::1]/cb",
    ];
    let fixture = fixture_with(TenantConfig::default(), &registered, true).await;
    for sent in [
        "http://127.0.0.1:50001/callback",
        "http://127.0.0.1/callback",
        "http://localhost:50002/callback",
        "http://localhost/callback",
        "http://[::1]:50003/cb",
    ] {
        let response = fixture.authorize_with("redirect_uri", Some(sent)).await;
        assert_eq!(response.status(), StatusCode::OK, "{sent}");
    }
    // The port is the only freedom: scheme, host, path and query must match.
    for sent in [
        "http://127.0.0.1:50001/other",
        "http://127.0.0.1:50001/callback?x=1",
        "http://localhost:50001/cb",
        "https://127.0.0.1:50001/callback",
        "http://127.0.0.2:50001/callback",
    ] {
        let response = fixture.authorize_with("redirect_uri", Some(sent)).await;
        assert_error_page(response, 400).await;
    }
}

#[tokio::test]
async fn rfc8252_7_3_the_any_port_rule_is_for_loopback_only() {
    let fixture = fixture_with(
        TenantConfig::default(),
        &["https://app.example/callback"],
        true,
    )
    .await;
    let response = fixture
        .authorize_with("redirect_uri", Some("https://app.example:8443/callback"))
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn rfc8252_7_3_errors_go_to_the_loopback_port_the_request_named() {
    let fixture = fixture_with(TenantConfig::default(), &["http://127.0.0.1/cb"], true).await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "redirect_uri" && *n != "response_type");
    params.push(("redirect_uri", "http://127.0.0.1:50123/cb".into()));
    params.push(("response_type", "token".into()));
    let location = location(&fixture.authorize(&params).await);
    assert_eq!(location.port(), Some(50123));
    assert_eq!(query(&location)["error"], "unsupported_response_type");
}

// --- refusals redirected with error, state and iss ---

#[tokio::test]
async fn rfc6749_3_1_a_repeated_parameter_is_invalid_request() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.push(("scope", "tool:whoami".into()));
    let response = fixture.authorize(&params).await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_1_a_missing_response_type_is_invalid_request() {
    let fixture = fixture().await;
    let response = fixture.authorize_with("response_type", None).await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

#[tokio::test]
async fn rfc6749_4_1_2_1_response_type_token_is_unsupported_response_type() {
    let fixture = fixture().await;
    let response = fixture.authorize_with("response_type", Some("token")).await;
    assert_redirected_error(&fixture, &response, "unsupported_response_type");
}

#[tokio::test]
async fn rfc7636_4_4_1_a_missing_code_challenge_is_invalid_request() {
    let fixture = fixture().await;
    let response = fixture.authorize_with("code_challenge", None).await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

#[tokio::test]
async fn rfc7636_4_4_1_code_challenge_method_plain_is_invalid_request() {
    let fixture = fixture().await;
    let response = fixture
        .authorize_with("code_challenge_method", Some("plain"))
        .await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

#[tokio::test]
async fn rfc7636_4_4_1_a_missing_code_challenge_method_is_invalid_request() {
    // RFC 7636 defaults it to plain, which the tenant refuses.
    let fixture = fixture().await;
    let response = fixture.authorize_with("code_challenge_method", None).await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

#[tokio::test]
async fn rfc7636_4_2_a_code_challenge_outside_the_grammar_is_invalid_request() {
    let fixture = fixture().await;
    for challenge in [
        &CHALLENGE[..42],
        &format!("{CHALLENGE}{}", "a".repeat(86)),
        &format!("{}+", &CHALLENGE[..42]),
        &format!("{}=", &CHALLENGE[..42]),
    ] {
        let response = fixture
            .authorize_with("code_challenge", Some(challenge))
            .await;
        assert_redirected_error(&fixture, &response, "invalid_request");
    }
    // 128 characters is the longest allowed.
    let longest = format!("{CHALLENGE}{}", "a".repeat(85));
    let response = fixture
        .authorize_with("code_challenge", Some(&longest))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn rfc8707_2_a_relative_resource_is_invalid_target() {
    let fixture = fixture().await;
    let response = fixture.authorize_with("resource", Some("/mcp")).await;
    assert_redirected_error(&fixture, &response, "invalid_target");
}

#[tokio::test]
async fn rfc8707_2_a_resource_with_a_fragment_is_invalid_target() {
    let fixture = fixture().await;
    let resource = format!("{}#frag", fixture.tenant.mcp_audience());
    let response = fixture.authorize_with("resource", Some(&resource)).await;
    assert_redirected_error(&fixture, &response, "invalid_target");
}

#[tokio::test]
async fn rfc8707_2_a_resource_naming_no_api_is_invalid_target() {
    let fixture = fixture().await;
    let response = fixture
        .authorize_with("resource", Some("https://other.example/"))
        .await;
    assert_redirected_error(&fixture, &response, "invalid_target");
}

#[tokio::test]
async fn an_audience_naming_no_api_is_invalid_target() {
    let fixture = fixture().await;
    let response = fixture
        .authorize_with("audience", Some("https://other.example/"))
        .await;
    assert_redirected_error(&fixture, &response, "invalid_target");
}

#[tokio::test]
async fn third_party_clients_have_no_permissions_on_the_private_api_access_denied() {
    let fixture = fixture().await;
    let api = fixture.tenant.api_audience().to_string();
    let response = fixture.authorize_with("resource", Some(&api)).await;
    assert_redirected_error(&fixture, &response, "access_denied");
}

#[tokio::test]
async fn third_party_clients_have_no_permissions_on_the_other_apis_access_denied() {
    let fixture = fixture().await;
    fixture.tenant.add_api(crate::ApiGrant::granted(
        "https://orders.example/",
        &["read:orders"],
    ));
    // One trailing slash aside, as for the MCP API.
    let response = fixture
        .authorize_with("resource", Some("https://orders.example"))
        .await;
    assert_redirected_error(&fixture, &response, "access_denied");
}

#[tokio::test]
async fn rfc6749_4_1_2_1_state_is_left_out_when_the_request_sent_none() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "state" && *n != "code_challenge");
    let location = location(&fixture.authorize(&params).await);
    let query = query(&location);
    assert_eq!(query["error"], "invalid_request");
    assert!(!query.contains_key("state"), "{query:?}");
    assert_eq!(query["iss"], fixture.tenant.issuer());
}

#[tokio::test]
async fn rfc6749_3_1_2_the_response_is_appended_to_the_registered_query() {
    let redirect = "http://127.0.0.1:53682/callback?tenant=a%20b";
    let fixture = fixture_with(TenantConfig::default(), &[redirect], true).await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "redirect_uri" && *n != "code_challenge");
    params.push(("redirect_uri", redirect.into()));
    let location = location(&fixture.authorize(&params).await);
    let query = query(&location);
    assert_eq!(query["tenant"], "a b");
    assert_eq!(query["error"], "invalid_request");
    assert_eq!(query["state"], STATE);
}

// --- audience and scopes ---

#[tokio::test]
async fn rfc8707_resource_selects_the_mcp_api() {
    let fixture = fixture().await;
    let (_, request, _) = fixture.consent(&fixture.params()).await;
    assert_eq!(
        fixture.pending(&request).unwrap().audience,
        fixture.tenant.mcp_audience()
    );
}

#[tokio::test]
async fn audience_wins_over_resource_as_in_auth0s_compatibility_profile() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "resource");
    // The resource alone would be refused (no permissions on the private API).
    params.push(("resource", fixture.tenant.api_audience().into()));
    params.push(("audience", fixture.tenant.mcp_audience().into()));
    let (_, request, _) = fixture.consent(&params).await;
    assert_eq!(
        fixture.pending(&request).unwrap().audience,
        fixture.tenant.mcp_audience()
    );
}

#[tokio::test]
async fn without_resource_or_audience_the_token_is_for_the_mcp_api() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "resource");
    let (_, request, _) = fixture.consent(&params).await;
    assert_eq!(
        fixture.pending(&request).unwrap().audience,
        fixture.tenant.mcp_audience()
    );
}

#[tokio::test]
async fn without_the_compatibility_profile_resource_is_ignored_and_only_audience_picks_an_api() {
    let config = TenantConfig {
        resource_parameter_profile: false,
        ..TenantConfig::default()
    };
    let fixture = fixture_with(config, &[REDIRECT], true).await;
    // `resource` naming the MCP API: ignored, so the request is for no API.
    let (_, request, _) = fixture.consent(&fixture.params()).await;
    let pending = fixture.pending(&request).unwrap();
    assert_eq!(pending.audience, crate::access_token::NO_API);
    assert!(pending.scopes.is_empty(), "{:?}", pending.scopes);
    // Ignored, not even checked: a resource that would be invalid_target.
    let response = fixture
        .authorize_with("resource", Some("https://other.example/#frag"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    // `audience` still picks the API.
    let mut params = fixture.params();
    params.push(("audience", fixture.tenant.mcp_audience().into()));
    let (_, request, _) = fixture.consent(&params).await;
    assert_eq!(
        fixture.pending(&request).unwrap().audience,
        fixture.tenant.mcp_audience()
    );
}

#[tokio::test]
async fn an_identifier_matches_a_resource_differing_by_one_trailing_slash() {
    // The default MCP identifier has the slash; this private API's has none.
    let config = TenantConfig {
        mcp_audience: "http://localhost:3001/".into(),
        ..TenantConfig::default()
    };
    let fixture = fixture_with(config, &[REDIRECT], true).await;
    let (_, request, _) = fixture
        .consent(&{
            let mut params = fixture.params();
            params.retain(|(n, _)| *n != "resource");
            params.push(("resource", "http://localhost:3001".into()));
            params
        })
        .await;
    assert_eq!(
        fixture.pending(&request).unwrap().audience,
        "http://localhost:3001/",
        "aud is the identifier as configured"
    );

    let config = TenantConfig {
        mcp_audience: "https://mcp.example".into(),
        ..TenantConfig::default()
    };
    let fixture = fixture_with(config, &[REDIRECT], true).await;
    let response = fixture
        .authorize_with("resource", Some("https://mcp.example/"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = fixture
        .authorize_with("resource", Some("https://mcp.example//"))
        .await;
    assert_redirected_error(&fixture, &response, "invalid_target");
}

#[tokio::test]
async fn scopes_are_the_requested_ones_the_third_party_client_may_have_in_order() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "scope");
    params.push((
        "scope",
        "openid profile tool:whoami email bogus offline_access tool:whoami  tool:greet".into(),
    ));
    let (html, request, _) = fixture.consent(&params).await;
    assert_eq!(
        fixture.pending(&request).unwrap().scopes,
        ["tool:whoami", "offline_access", "tool:greet"]
    );
    assert!(html.contains("<li><code>offline_access</code>: stay signed in"));
    assert!(!html.contains("openid"));
}

#[tokio::test]
async fn offline_access_needs_the_refresh_token_grant_registered() {
    let fixture = fixture_with(TenantConfig::default(), &[REDIRECT], false).await;
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "scope");
    params.push(("scope", "tool:greet offline_access".into()));
    let (_, request, _) = fixture.consent(&params).await;
    assert_eq!(fixture.pending(&request).unwrap().scopes, ["tool:greet"]);
}

#[tokio::test]
async fn prompt_consent_and_unknown_parameters_are_accepted() {
    let fixture = fixture().await;
    let mut params = fixture.params();
    params.push(("prompt", "consent".into()));
    params.push(("ext-unknown", "whatever".into()));
    fixture.consent(&params).await;
}

// --- the consent page ---

#[tokio::test]
async fn the_consent_page_carries_the_form_contract() {
    let fixture = fixture().await;
    let (html, request, csrf) = fixture.consent(&fixture.params()).await;
    assert_eq!(html.matches("<form").count(), 1);
    assert!(html.contains("<form method=\"post\" action=\"/authorize/decision\">"));
    assert!(html.contains("<input type=\"radio\" name=\"user\" value=\"auth0|alice\" checked>"));
    assert!(html.contains("<input type=\"radio\" name=\"user\" value=\"auth0|bob\">"));
    assert!(
        html.contains("<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>")
    );
    assert!(
        html.contains("<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>")
    );
    assert!(html.contains("Test client 0"));
    assert!(html.contains("<strong>127.0.0.1:53682</strong>"));
    assert!(!html.contains("<script"));
    let pending = fixture.pending(&request).expect("the request is pending");
    assert_eq!(pending.csrf, csrf);
    assert!(request.len() >= 22 && csrf.len() >= 43);
    assert_eq!(fixture.tenant.pending_authorizations(), 1);
}

#[tokio::test]
async fn the_consent_page_is_served_with_its_security_headers() {
    let fixture = fixture().await;
    let response = fixture.authorize(&fixture.params()).await;
    let headers = response.headers().clone();
    let html = response.text().await.unwrap();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let start = html.find("<style>").unwrap() + "<style>".len();
    let end = html.find("</style>").unwrap();
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &html.as_bytes()[start..end]);
    let style = STANDARD.encode(digest.as_ref());
    assert_eq!(
        headers["content-security-policy"].to_str().unwrap(),
        format!(
            "default-src 'none'; style-src 'sha256-{style}'; \
             form-action 'self' http://127.0.0.1:53682; frame-ancestors 'none'; base-uri 'none'"
        )
    );
}

#[tokio::test]
async fn csp_form_action_is_left_out_for_an_ipv6_loopback_redirect() {
    let fixture = fixture_with(TenantConfig::default(), &["http://[::1]/cb"], true).await;
    let response = fixture
        .authorize_with("redirect_uri", Some("http://[::1]:50000/cb"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains("form-action"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
}

#[tokio::test]
async fn the_consent_page_escapes_a_hostile_client_name_and_redirect_uri() {
    let name = r#"<script>alert(1)</script>"'&"#;
    let redirect = r#"http://127.0.0.1:53682/cb?x="><img src=x onerror=alert(1)>"#;
    let fixture = fixture_with(TenantConfig::default(), &[redirect], true).await;
    lock(&fixture.tenant.inner.state.signin)
        .clients
        .get_mut(&fixture.client_id)
        .unwrap()
        .client_name = name.into();
    let mut params = fixture.params();
    params.retain(|(n, _)| *n != "redirect_uri");
    params.push(("redirect_uri", redirect.into()));
    let (html, _, _) = fixture.consent(&params).await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"));
    assert!(html.contains(r#"?x=&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"#));
    assert!(!html.contains(name));
    assert!(!html.contains("<script"));
    assert!(!html.contains("\"><img"));
}

// --- auto-approval ---

#[tokio::test]
async fn auto_approve_issues_a_code_for_the_first_user_without_a_page() {
    let config = TenantConfig {
        auto_approve: true,
        ..TenantConfig::default()
    };
    let fixture = fixture_with(config, &[REDIRECT], true).await;
    let response = fixture.authorize(&fixture.params()).await;
    let query = query(&location(&response));
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], fixture.tenant.issuer());
    let code = fixture.code(&query["code"]).expect("the code is stored");
    assert_eq!(code.sub, "auth0|alice");
    assert_eq!(fixture.tenant.pending_authorizations(), 0);
}

#[tokio::test]
async fn set_auto_approve_switches_between_the_page_and_a_code_at_run_time() {
    let fixture = fixture().await;
    fixture.tenant.set_auto_approve(true);
    let response = fixture.authorize(&fixture.params()).await;
    assert!(query(&location(&response)).contains_key("code"));
    fixture.tenant.set_auto_approve(false);
    fixture.consent(&fixture.params()).await;
}

#[tokio::test]
async fn auto_approve_still_refuses_a_bad_request() {
    let fixture = fixture().await;
    fixture.tenant.set_auto_approve(true);
    let response = fixture.authorize_with("code_challenge", None).await;
    assert_redirected_error(&fixture, &response, "invalid_request");
}

// --- the decision ---

#[tokio::test]
async fn rfc6749_4_1_2_allow_redirects_with_a_code_bound_to_the_user_picked() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|bob"),
            ("decision", "allow"),
        ])
        .await;
    let location = location(&response);
    assert!(location.as_str().starts_with(&format!("{REDIRECT}?code=")));
    let query = query(&location);
    assert_eq!(query["state"], STATE);
    assert_eq!(query["iss"], fixture.tenant.issuer());
    assert!(query["code"].len() >= 43);
    let code = fixture.code(&query["code"]).expect("the code is stored");
    assert_eq!(code.sub, "auth0|bob");
    assert_eq!(code.client_id, fixture.client_id);
    assert_eq!(code.redirect_uri, REDIRECT);
    assert_eq!(code.code_challenge, CHALLENGE);
    assert_eq!(code.audience, fixture.tenant.mcp_audience());
    assert_eq!(code.scopes, ["tool:greet"]);
    assert!(!code.used);
    let now = Instant::now();
    assert!(code.expires > now && code.expires <= now + CODE_LIFETIME);
    assert_eq!(fixture.tenant.pending_authorizations(), 0);
}

#[tokio::test]
async fn rfc6749_4_1_2_1_deny_redirects_with_access_denied() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|alice"),
            ("decision", "deny"),
        ])
        .await;
    assert_redirected_error(&fixture, &response, "access_denied");
    assert!(lock(&fixture.tenant.inner.state.signin).codes.is_empty());
}

#[tokio::test]
async fn a_decision_with_the_wrong_csrf_token_gets_an_error_page() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let wrong = format!("{}x", &csrf[..csrf.len() - 1]);
    for form in [
        vec![
            ("request", request.as_str()),
            ("csrf", wrong.as_str()),
            ("user", "auth0|alice"),
            ("decision", "allow"),
        ],
        vec![
            ("request", request.as_str()),
            ("user", "auth0|alice"),
            ("decision", "allow"),
        ],
    ] {
        assert_error_page(fixture.decide(&form).await, 400).await;
    }
    assert!(lock(&fixture.tenant.inner.state.signin).codes.is_empty());
}

#[tokio::test]
async fn a_decision_for_an_unknown_request_gets_an_error_page() {
    let fixture = fixture().await;
    let (_, _, csrf) = fixture.consent(&fixture.params()).await;
    let response = fixture
        .decide(&[
            ("request", "not-a-request"),
            ("csrf", &csrf),
            ("user", "auth0|alice"),
            ("decision", "allow"),
        ])
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn a_request_is_answered_once() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let form = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("user", "auth0|alice"),
        ("decision", "allow"),
    ];
    assert_eq!(fixture.decide(&form).await.status(), StatusCode::FOUND);
    assert_error_page(fixture.decide(&form).await, 400).await;
    assert_eq!(lock(&fixture.tenant.inner.state.signin).codes.len(), 1);
}

#[tokio::test]
async fn a_decision_for_a_user_the_tenant_does_not_have_gets_an_error_page() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|mallory"),
            ("decision", "allow"),
        ])
        .await;
    assert_error_page(response, 400).await;
    assert!(lock(&fixture.tenant.inner.state.signin).codes.is_empty());
}

#[tokio::test]
async fn a_decision_other_than_allow_or_deny_gets_an_error_page() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|alice"),
            ("decision", "maybe"),
        ])
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn an_expired_request_gets_an_error_page() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let long_ago = Instant::now()
        .checked_sub(PENDING_LIFETIME + Duration::from_secs(1))
        .unwrap();
    lock(&fixture.tenant.inner.state.signin)
        .pending
        .get_mut(&request)
        .unwrap()
        .created = long_ago;
    assert_eq!(fixture.tenant.pending_authorizations(), 0);
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|alice"),
            ("decision", "allow"),
        ])
        .await;
    assert_error_page(response, 400).await;
}

#[tokio::test]
async fn a_decision_body_over_the_bound_gets_413() {
    let fixture = fixture().await;
    let (_, request, csrf) = fixture.consent(&fixture.params()).await;
    let padding = "a".repeat(MAX_DECISION_BODY);
    let response = fixture
        .decide(&[
            ("request", &request),
            ("csrf", &csrf),
            ("user", "auth0|alice"),
            ("decision", "allow"),
            ("padding", &padding),
        ])
        .await;
    assert_error_page(response, 413).await;
}

// --- the bound on pending requests ---

fn pending_created(created: Instant) -> PendingAuthorization {
    PendingAuthorization {
        client_id: "tpc_x".into(),
        redirect_uri: REDIRECT.into(),
        state: None,
        code_challenge: CHALLENGE.into(),
        audience: crate::DEFAULT_MCP_AUDIENCE.into(),
        scopes: Vec::new(),
        csrf: "csrf".into(),
        created,
    }
}

#[test]
fn at_the_bound_the_oldest_pending_request_is_dropped() {
    let mut signin = SignIn::default();
    let start = Instant::now();
    for i in 0..MAX_PENDING {
        let created = start + Duration::from_millis(u64::try_from(i).unwrap());
        store_pending(&mut signin, format!("r{i}"), pending_created(created));
    }
    assert_eq!(signin.pending.len(), MAX_PENDING);
    store_pending(&mut signin, "new".into(), pending_created(start));
    assert_eq!(signin.pending.len(), MAX_PENDING);
    assert!(!signin.pending.contains_key("r0"));
    assert!(signin.pending.contains_key("r1") && signin.pending.contains_key("new"));
}

#[test]
fn storing_a_pending_request_drops_the_expired_ones() {
    let mut signin = SignIn::default();
    let expired = Instant::now()
        .checked_sub(PENDING_LIFETIME + Duration::from_secs(1))
        .unwrap();
    store_pending(&mut signin, "old".into(), pending_created(expired));
    store_pending(&mut signin, "new".into(), pending_created(Instant::now()));
    assert_eq!(signin.pending.keys().collect::<Vec<_>>(), ["new"]);
}
