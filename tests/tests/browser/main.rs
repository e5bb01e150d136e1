//! The demo tenant's sign-in and consent page in a real browser (headless Chromium):
//! a person picks a user and clicks Allow or Deny, and the browser must carry the answer
//! to the client's loopback redirect URI. Only a browser shows whether the page's
//! Content-Security-Policy lets it (Chromium applies `form-action` to the redirect that
//! follows the form's POST).
//!
//! Needs Debian's `chromium` and `chromium-driver`, which `cargo xtask ci` installs;
//! without them every test here fails, saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod driver;
mod loopback;

use std::sync::{Arc, Mutex};

use aws_lc_rs::digest::{SHA256, digest};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use driver::Browser;
use loopback::{Callback, Served, param};
use obo_tests::{MockTenant, TenantConfig};
use serde_json::{Value, json};

const BOB: &str = "auth0|bob";
const PICK_BOB: &str = r#"input[name=user][value="auth0|bob"]"#;
const ALLOW: &str = "button[name=decision][value=allow]";
const DENY: &str = "button[name=decision][value=deny]";

// ---- The demo tenant's page ----

#[tokio::test]
async fn rfc6749_4_1_2_allow_on_the_consent_page_returns_a_code_for_the_user_picked() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let callback = Callback::start().await;
    let client_id = register_public_client(&tenant, &callback.redirect_uri()).await;
    let pkce = Pkce::new();
    let state = random_token();
    let browser = Browser::start().await;

    browser
        .goto(&authorize_url(
            &tenant,
            &client_id,
            &callback.redirect_uri(),
            &state,
            &pkce,
        ))
        .await;
    browser.click(PICK_BOB).await;
    browser.click(ALLOW).await;
    let response = callback
        .wait(&browser)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_landed_on_the_callback(&browser, &callback).await;

    assert_eq!(
        param(&response, "state"),
        Some(state.as_str()),
        "{response:?}"
    );
    assert_eq!(
        param(&response, "iss"),
        Some(tenant.issuer()),
        "{response:?}"
    );
    assert_eq!(param(&response, "error"), None, "{response:?}");
    let code = param(&response, "code").expect("a code");

    let token = reqwest::Client::new()
        .post(format!("{}oauth/token", tenant.issuer()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", &pkce.verifier),
            ("redirect_uri", &callback.redirect_uri()),
            ("client_id", &client_id),
        ])
        .send()
        .await
        .unwrap();
    let status = token.status();
    let token: Value = token.json().await.unwrap();
    assert_eq!(status, 200, "{token}");
    let claims = jwt_claims(token["access_token"].as_str().expect("an access token"));
    assert_eq!(claims["sub"], BOB, "the user picked on the page: {claims}");
    assert_eq!(claims["azp"], client_id.as_str(), "{claims}");
    browser.close().await;
}

#[tokio::test]
async fn rfc6749_4_1_2_1_deny_on_the_consent_page_redirects_with_access_denied() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let callback = Callback::start().await;
    let client_id = register_public_client(&tenant, &callback.redirect_uri()).await;
    let pkce = Pkce::new();
    let state = random_token();
    let browser = Browser::start().await;

    browser
        .goto(&authorize_url(
            &tenant,
            &client_id,
            &callback.redirect_uri(),
            &state,
            &pkce,
        ))
        .await;
    browser.click(DENY).await;
    let response = callback
        .wait(&browser)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_landed_on_the_callback(&browser, &callback).await;

    assert_eq!(
        param(&response, "error"),
        Some("access_denied"),
        "{response:?}"
    );
    assert_eq!(
        param(&response, "state"),
        Some(state.as_str()),
        "{response:?}"
    );
    assert_eq!(
        param(&response, "iss"),
        Some(tenant.issuer()),
        "{response:?}"
    );
    assert_eq!(param(&response, "code"), None, "{response:?}");
    browser.close().await;
}

// ---- The harness itself, on a stand-in page with the same form ----

#[tokio::test]
async fn harness_submits_a_form_and_follows_the_redirect() {
    let callback = Callback::start().await;
    let page = StandInPage::start(&callback, &format!("'self' {}", callback.origin())).await;
    let browser = Browser::start().await;

    browser.goto(&page.url()).await;
    browser.click(PICK_BOB).await;
    browser.click(ALLOW).await;
    let submitted = callback
        .wait(&browser)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_landed_on_the_callback(&browser, &callback).await;

    // The hidden inputs, the radio clicked (not the default) and the button's value.
    assert_eq!(param(&submitted, "request"), Some("pending-1"));
    assert_eq!(param(&submitted, "csrf"), Some("csrf-1"));
    assert_eq!(param(&submitted, "user"), Some(BOB));
    assert_eq!(param(&submitted, "decision"), Some("allow"));
    browser.close().await;
}

/// The failure the consent tests guard against, shown on purpose: Chromium sends the
/// form, then refuses to follow the redirect to an origin `form-action` leaves out.
#[tokio::test]
async fn harness_reports_a_redirect_blocked_by_csp_form_action() {
    let callback = Callback::start().await;
    let page = StandInPage::start(&callback, "'self'").await;
    let browser = Browser::start().await;

    browser.goto(&page.url()).await;
    browser.click(DENY).await;
    let blocked = callback.wait(&browser).await.expect_err("blocked by CSP");

    assert!(blocked.contains("Content-Security-Policy"), "{blocked}");
    assert!(blocked.contains("form-action"), "{blocked}");
    assert!(
        page.posted()
            .is_some_and(|body| body.contains("decision=deny")),
        "the form itself was sent; only its redirect was blocked"
    );
    browser.close().await;
}

// ---- Helpers ----

/// The browser followed the redirect: it shows the client's "signed in" page.
async fn assert_landed_on_the_callback(browser: &Browser, callback: &Callback) {
    let at = browser.current_url().await;
    assert!(
        at.starts_with(&format!("{}?", callback.redirect_uri())),
        "the browser is at {at}"
    );
    let violations = browser.csp_violations().await;
    assert!(violations.is_empty(), "{violations:?}");
}

/// Dynamic Client Registration (RFC 7591) of a public native client, as Claude Code does.
async fn register_public_client(tenant: &MockTenant, redirect_uri: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}oidc/register", tenant.issuer()))
        .json(&json!({
            "client_name": "Browser test",
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 201, "registration: {body}");
    let registered: Value = serde_json::from_str(&body).unwrap();
    registered["client_id"]
        .as_str()
        .expect("a client_id")
        .to_owned()
}

fn authorize_url(
    tenant: &MockTenant,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    pkce: &Pkce,
) -> String {
    url::Url::parse_with_params(
        &format!("{}authorize", tenant.issuer()),
        [
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
            ("scope", "tool:greet offline_access"),
            ("resource", tenant.mcp_audience()),
        ],
    )
    .unwrap()
    .into()
}

/// A PKCE pair (RFC 7636 §4.1, §4.2): `challenge` = BASE64URL(SHA256(`verifier`)).
struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new() -> Self {
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(digest(&SHA256, verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// 32 random bytes, base64url: 43 characters, a valid PKCE verifier and `state`.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The claims of a JWT, read without verification (the tenant signed it; the test
/// only checks whose it is).
fn jwt_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// A page with the consent page's form contract, served with the CSP `form-action` it
/// is given; its form's POST redirects to the callback with every field it received.
struct StandInPage {
    served: Served,
    posted: Arc<Mutex<Option<String>>>,
}

#[derive(Clone)]
struct StandInState {
    form_action: String,
    callback: String,
    posted: Arc<Mutex<Option<String>>>,
}

impl StandInPage {
    async fn start(callback: &Callback, form_action: &str) -> Self {
        let posted = Arc::new(Mutex::new(None));
        let router = Router::new()
            .route("/authorize", get(stand_in_page))
            .route("/authorize/decision", post(stand_in_decision))
            .with_state(StandInState {
                form_action: form_action.to_owned(),
                callback: callback.redirect_uri(),
                posted: Arc::clone(&posted),
            });
        Self {
            served: Served::start(router).await,
            posted,
        }
    }

    fn url(&self) -> String {
        format!("{}/authorize", self.served.origin())
    }

    fn posted(&self) -> Option<String> {
        self.posted.lock().unwrap().clone()
    }
}

async fn stand_in_page(State(page): State<StandInState>) -> impl IntoResponse {
    let csp = format!(
        "default-src 'none'; form-action {}; frame-ancestors 'none'",
        page.form_action
    );
    (
        [(header::CONTENT_SECURITY_POLICY, csp)],
        Html(
            r#"<!doctype html>
<html><head><title>Sign in</title></head><body>
<form method="post" action="/authorize/decision">
<input type="hidden" name="request" value="pending-1">
<input type="hidden" name="csrf" value="csrf-1">
<label><input type="radio" name="user" value="auth0|alice" checked> Alice</label>
<label><input type="radio" name="user" value="auth0|bob"> Bob</label>
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>"#,
        ),
    )
}

async fn stand_in_decision(State(page): State<StandInState>, body: String) -> impl IntoResponse {
    let location = format!("{}?{body}", page.callback);
    *page.posted.lock().unwrap() = Some(body);
    (StatusCode::FOUND, [(header::LOCATION, location)])
}
