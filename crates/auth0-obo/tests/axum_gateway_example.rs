//! Runs `examples/axum_gateway.rs` as a user would, a process configured only through
//! its environment, between the mock Auth0 tenant and the real private API (served
//! in-process on 127.0.0.1:0, the same router its binary serves).
//!
//! `cargo test -p auth0-obo` (and a workspace run) builds the example before the
//! tests start. A run that selects only this test (`--test axum_gateway_example`) does
//! not: build it first with `cargo build -p auth0-obo --example axum_gateway`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use obo_tests::process::{ServiceProcess, bin_dir};
use obo_tests::tenant::{MockTenant, TenantConfig};
use private_api::{Args, Config, PrivateScopeResponse};
use serde_json::Value;

const EXAMPLE: &str = "axum_gateway";
const ALICE: &str = "auth0|alice";
const BOB: &str = "auth0|bob";

struct Running {
    tenant: MockTenant,
    /// Killed when dropped.
    gateway: ServiceProcess,
    http: reqwest::Client,
}

impl Running {
    async fn start() -> Self {
        let tenant = MockTenant::start(TenantConfig::default()).await;
        let api = start_private_api(&tenant).await;
        let examples = bin_dir().join("examples");
        assert!(
            examples.join(EXAMPLE).exists(),
            "{} is not built: run `cargo build -p auth0-obo --example {EXAMPLE}` (`cargo test -p auth0-obo` builds it)",
            examples.join(EXAMPLE).display()
        );
        let gateway = ServiceProcess::on_free_port("/healthz", Duration::from_secs(30), |port| {
            let env: BTreeMap<String, String> = [
                ("AUTH0_DOMAIN", tenant.issuer().to_owned()),
                // The gateway is the API users' tokens are issued for.
                ("AUTH0_AUDIENCE", tenant.mcp_audience().to_owned()),
                ("AUTH0_CLIENT_ID", tenant.client_id().to_owned()),
                ("AUTH0_CLIENT_SECRET", tenant.client_secret().to_owned()),
                ("DOWNSTREAM_AUDIENCE", tenant.api_audience().to_owned()),
                ("DOWNSTREAM_SCOPE", "read:private".to_owned()),
                (
                    "DOWNSTREAM_URL",
                    format!("{api}{}", private_api::PRIVATE_SCOPE_PATH),
                ),
                ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
            ServiceProcess::spawn(
                &examples,
                EXAMPLE,
                &format!("http://127.0.0.1:{port}"),
                &env,
            )
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        Self {
            tenant,
            gateway,
            http: reqwest::Client::new(),
        }
    }

    /// `GET /downstream` with `Authorization: Bearer {token}`.
    async fn call(&self, token: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/downstream", self.gateway.base_url()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The private API, verifying tokens for the tenant's private-API audience; its base URL.
async fn start_private_api(tenant: &MockTenant) -> String {
    let args = Args {
        auth0_domain: Some(tenant.issuer().to_owned()),
        api_auth0_audience: Some(tenant.api_audience().to_owned()),
        api_base_url: private_api::config::DEFAULT_BASE_URL.to_owned(),
        host: "127.0.0.1".to_owned(),
        port: Some(0),
        rust_log: "info".to_owned(),
        log_format: "text".to_owned(),
        listener: Default::default(),
        verified_token_cache_capacity: 10_000,
        env_file: None,
    };
    let config = Config::from_args(&args).unwrap();
    let state = private_api::AppState::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(private_api::serve(
        listener,
        state,
        config.listener,
        std::future::pending(),
    ));
    base
}

#[tokio::test]
async fn the_gateway_calls_the_private_api_as_the_user_with_one_exchange_per_user() {
    let running = Running::start().await;
    let tenant = &running.tenant;
    let alice = tenant.token_for(ALICE, &["tool:greet"]);

    for _ in 0..2 {
        let response = running.call(&alice).await;
        assert_eq!(response.status(), 200, "{}", running.gateway.log());
        let answer: PrivateScopeResponse = response.json().await.unwrap();
        // The private API saw Alice, through the gateway's client as the current actor.
        assert_eq!(answer.sub, ALICE);
        assert_eq!(answer.scopes, vec!["read:private".to_owned()]);
        let actor = answer.actor.expect("an exchanged token names its actor");
        assert_eq!(actor.sub, tenant.client_id());
        assert_eq!(answer.delegation_chain, vec![actor]);
    }
    // The second call used the cached token.
    assert_eq!(
        tenant.exchanges_for_audience(ALICE, tenant.api_audience()),
        1
    );

    // Bob gets his own exchange and his own answer.
    let bob = tenant.token_for(BOB, &["tool:greet"]);
    let answer: PrivateScopeResponse = running.call(&bob).await.json().await.unwrap();
    assert_eq!(answer.sub, BOB);
    assert_eq!(tenant.exchanges_for_audience(BOB, tenant.api_audience()), 1);
    assert_eq!(tenant.exchanges(), 2);
}

#[tokio::test]
async fn the_gateway_refuses_tokens_not_issued_for_it_before_any_exchange() {
    let running = Running::start().await;
    let tenant = &running.tenant;

    // A token for the private API itself: valid, but not for the gateway.
    let for_the_api = tenant.sign_user_token(
        &tenant
            .user_token(ALICE)
            .audience(tenant.api_audience())
            .scope("read:private"),
    );
    let response = running.call(&for_the_api).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer "), "{challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    // No token at all: a bare challenge.
    let response = running
        .http
        .get(format!("{}/downstream", running.gateway.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");

    assert_eq!(tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn a_refused_exchange_is_a_502_naming_the_oauth_error() {
    let running = Running::start().await;
    let tenant = &running.tenant;
    // Alice's token is fine, but the tenant refuses to exchange it (as for a deleted
    // client grant).
    tenant.inject(
        obo_tests::Fault::OAuthError {
            status: 403,
            error: "access_denied".into(),
            description: "no client grant".into(),
        },
        Some(1),
    );
    let alice = tenant.token_for(ALICE, &["tool:greet"]);
    let response = running.call(&alice).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "access_denied");
    // Not cached: the next call exchanges again, and succeeds.
    assert_eq!(running.call(&alice).await.status(), 200);
    assert_eq!(
        tenant.exchanges_for_audience(ALICE, tenant.api_audience()),
        1
    );
}
