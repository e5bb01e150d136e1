//! Invariant 4 (design.md §5): no token, client secret or `Authorization` value
//! appears in `Debug`, `Display`, error messages or log events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth0_obo::{
    AccessToken, CacheOptions, ClientAuthMethod, ClientSecret, ExchangeClient, ExchangeError,
    ExchangeRequest, TokenCache,
};
use base64::Engine as _;
use common::*;
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span;
use wiremock::{MockServer, ResponseTemplate};

/// Everything that must never be printed.
fn forbidden() -> Vec<String> {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    vec![
        USER_A_TOKEN.to_owned(),
        CLIENT_SECRET.to_owned(),
        API_TOKEN.to_owned(),
        basic,
    ]
}

fn assert_clean(what: &str, text: &str) {
    for secret in forbidden() {
        assert!(!text.contains(&secret), "{what} leaks a secret: {text}");
    }
}

fn assert_printable_clean<T: std::fmt::Debug>(what: &str, value: &T) {
    assert_clean(what, &format!("{value:?}"));
    assert_clean(what, &format!("{value:#?}"));
}

/// Records every event and span field as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &span::Attributes<'_>) -> span::Id {
        let mut line = attrs.metadata().name().to_owned();
        attrs.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
        span::Id::from_u64(1)
    }
    fn record(&self, _: &span::Id, values: &span::Record<'_>) {
        let mut line = String::new();
        values.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().target().to_owned();
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &span::Id) {}
    fn exit(&self, _: &span::Id) {}
}

#[tokio::test]
async fn invariant_4_no_secret_in_debug_display_errors_or_logs() {
    let capture = Capture::default();
    // Current-thread runtime: every task of this test runs on this thread.
    let _guard = tracing::subscriber::set_default(capture.clone());

    let server = MockServer::start().await;
    // A hostile server that echoes the subject token and secret back.
    let echo = format!("bad subject_token {USER_A_TOKEN} for secret {CLIENT_SECRET}");
    token_endpoint()
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_request", "error_description": echo, "error_uri": echo}),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(500).set_body_string(echo.clone()))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;

    for method in [
        ClientAuthMethod::ClientSecretBasic(CLIENT_SECRET.into()),
        ClientAuthMethod::ClientSecretPost(CLIENT_SECRET.into()),
    ] {
        let builder = builder_with(&server, method);
        assert_printable_clean("builder", &builder);
        let client = builder.build().unwrap();
        assert_printable_clean("client", &client);
    }

    let client = client(&server);
    let cache = TokenCache::new(Arc::new(client.clone()), CacheOptions::default());
    let request = ExchangeRequest::new(USER_A_TOKEN, API_AUDIENCE)
        .unwrap()
        .with_scope("read:private");
    assert_printable_clean("request", &request);
    assert_printable_clean("key", &cache.key(&request));

    // 400 echoing the secrets.
    let err = cache.get_token(&request).await.unwrap_err();
    assert!(matches!(err, ExchangeError::InvalidRequest(_)));
    assert!(err.to_string().contains("[redacted]"), "{err}");
    assert_clean("error display", &err.to_string());
    assert_printable_clean("error", &err);

    // 500 then success, through the cache.
    let got = cache.get_token(&request).await.unwrap();
    assert_eq!(got.token().access_token.secret(), API_TOKEN);
    assert_printable_clean("cached token", &got);
    assert_printable_clean("exchanged token", &got.token());
    assert_clean("token type", &got.token().token_type.to_string());
    let hit = cache.get_token(&request).await.unwrap();
    assert_printable_clean("hit", &hit);
    assert_printable_clean("cache", &cache);
    assert_printable_clean("stats", &cache.stats());

    // Errors that never reach the server, or never get an answer.
    let invalid = ExchangeRequest::new(format!("Bearer {USER_A_TOKEN}"), API_AUDIENCE).unwrap_err();
    assert_clean("invalid input", &invalid.to_string());
    assert_printable_clean("invalid input", &invalid);
    let hanging = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600).set_delay(Duration::from_secs(5)))
        .mount(&hanging)
        .await;
    let timeout = common::builder(&hanging)
        .timeout(Duration::from_millis(100))
        .deadline(Duration::from_millis(300))
        .build()
        .unwrap()
        .exchange(&request)
        .await
        .unwrap_err();
    assert!(matches!(timeout, ExchangeError::Timeout { .. }));
    assert_clean("timeout", &timeout.to_string());

    // The newtypes themselves.
    let secret = ClientSecret::new(CLIENT_SECRET);
    assert_clean("secret", &format!("{secret} {secret:?}"));
    let token = AccessToken::new(API_TOKEN);
    assert_clean("token", &format!("{token} {token:?}"));

    let lines = capture.0.lock().unwrap().clone();
    assert!(
        lines.iter().any(|l| l.contains("auth0_obo")),
        "the capture saw our events: {lines:?}"
    );
    for line in &lines {
        assert_clean("log event", line);
    }
}

#[test]
fn invariant_4_exchange_client_debug_names_the_issuer_but_not_the_secret() {
    let client = ExchangeClient::builder("tenant.auth0.com", CLIENT_ID, CLIENT_SECRET)
        .build()
        .unwrap();
    let shown = format!("{client:?}");
    assert!(shown.contains("https://tenant.auth0.com/"), "{shown}");
    assert!(shown.contains(CLIENT_ID), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_clean("client", &shown);
}
