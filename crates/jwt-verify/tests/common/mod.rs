//! A JWKS endpoint on wiremock whose answer a test can change (rotate keys, fail, set
//! `Cache-Control`), and the verifier and tokens that go with it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // Shared by several test binaries; setup may panic.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oauth_jwt_verify::{Issuer, JwksVerifier, VerifierOptions, VerifyError};
use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const AUDIENCE: &str = "https://mcp.example.com/";
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// What the JWKS endpoint answers right now.
#[derive(Clone)]
pub struct JwksAnswer {
    pub status: u16,
    pub body: String,
    pub cache_control: Option<String>,
    pub delay: Duration,
}

#[derive(Clone)]
struct Responder(Arc<Mutex<JwksAnswer>>);

impl Respond for Responder {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let answer = self.0.lock().unwrap().clone();
        let mut template = ResponseTemplate::new(answer.status)
            .set_body_raw(answer.body.into_bytes(), "application/json")
            .set_delay(answer.delay);
        if let Some(cache_control) = answer.cache_control {
            template = template.insert_header("cache-control", cache_control.as_str());
        }
        template
    }
}

pub struct Fixture {
    pub server: MockServer,
    pub key: TestKey,
    answer: Arc<Mutex<JwksAnswer>>,
}

impl Fixture {
    /// A JWKS endpoint publishing one fresh RSA key.
    pub async fn new() -> Self {
        Self::with_key(TestKey::rsa("key-1")).await
    }

    pub async fn with_key(key: TestKey) -> Self {
        let server = MockServer::start().await;
        let answer = Arc::new(Mutex::new(JwksAnswer {
            status: 200,
            body: jwks_json(&[&key]).to_string(),
            cache_control: None,
            delay: Duration::ZERO,
        }));
        Mock::given(method("GET"))
            .and(path(JWKS_PATH))
            .respond_with(Responder(Arc::clone(&answer)))
            .mount(&server)
            .await;
        Self {
            server,
            key,
            answer,
        }
    }

    pub fn issuer(&self) -> String {
        format!("{}/", self.server.uri())
    }

    pub fn verifier(&self) -> JwksVerifier {
        self.verifier_with(VerifierOptions::default())
    }

    pub fn verifier_with(&self, options: VerifierOptions) -> JwksVerifier {
        JwksVerifier::new(Issuer::parse(&self.issuer()).unwrap(), AUDIENCE, options).unwrap()
    }

    /// A valid token for this issuer and [`AUDIENCE`], to adjust and sign.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(self.issuer(), AUDIENCE)
    }

    pub fn publish(&self, keys: &[&TestKey]) {
        self.publish_json(&jwks_json(keys));
    }

    pub fn publish_json(&self, jwks: &Value) {
        let mut answer = self.answer.lock().unwrap();
        answer.status = 200;
        answer.body = jwks.to_string();
    }

    pub fn fail_with(&self, status: u16) {
        self.answer.lock().unwrap().status = status;
    }

    /// Makes the endpoint answer slowly, so concurrent requests overlap a fetch.
    pub fn delay(&self, delay: Duration) {
        self.answer.lock().unwrap().delay = delay;
    }

    pub fn cache_control(&self, value: &str) {
        self.answer.lock().unwrap().cache_control = Some(value.to_owned());
    }

    /// How many times the JWKS was requested over HTTP.
    pub async fn jwks_requests(&self) -> usize {
        self.requests_to(JWKS_PATH).await
    }

    pub async fn requests_to(&self, wanted: &str) -> usize {
        let requests = self.server.received_requests().await.unwrap_or_default();
        requests
            .iter()
            .filter(|request| request.url.path() == wanted)
            .count()
    }
}

/// Options with short timings so tests never wait for production periods.
pub fn fast_options() -> VerifierOptions {
    VerifierOptions {
        jwks_min_ttl: Duration::ZERO,
        refetch_cooldown: Duration::from_millis(300),
        http_timeout: Duration::from_secs(2),
        ..VerifierOptions::default()
    }
}

/// Asserts the error is the expected variant, and that nothing printable contains the
/// token.
#[track_caller]
pub fn assert_refused(
    result: Result<std::sync::Arc<oauth_jwt_verify::Principal>, VerifyError>,
    token: &str,
    kind: &str,
) -> VerifyError {
    let error = match result {
        Ok(principal) => panic!("token accepted, expected {kind}: {principal:?}"),
        Err(error) => error,
    };
    assert_eq!(error.kind(), kind, "unexpected error: {error:?}");
    for text in [
        error.to_string(),
        format!("{error:?}"),
        error.description().into_owned(),
    ] {
        assert!(
            !text.contains(token),
            "error text contains the token: {text}"
        );
        if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 8) {
            assert!(
                !text.contains(signature),
                "error text contains the signature: {text}"
            );
        }
    }
    error
}

pub fn staleness_options(ttl: Duration, staleness: Duration) -> VerifierOptions {
    VerifierOptions {
        jwks_ttl: ttl,
        jwks_max_staleness: staleness,
        ..fast_options()
    }
}

/// Keys fresh for 50 ms, then usable for 1 s more: long enough that a busy machine
/// cannot overrun the bound between two steps of a test, short enough to wait out.
pub const TTL: Duration = Duration::from_millis(50);
pub const STALENESS: Duration = Duration::from_secs(1);

/// Waits until the keys fetched at `fetched` are past their lifetime plus `STALENESS`.
pub async fn wait_past_the_bound(fetched: std::time::Instant) {
    tokio::time::sleep_until((fetched + TTL + STALENESS + Duration::from_millis(100)).into()).await;
}
