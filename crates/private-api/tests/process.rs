//! The real binary: serves, logs one line per request without the token, and exits 0
//! on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::process::ServiceProcess;
use obo_tests::token::TokenBuilder;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUDIENCE: &str = "https://private-api.test";

#[cfg(unix)]
#[tokio::test]
async fn serves_logs_without_tokens_and_exits_0_on_sigterm() {
    let issuer = MockServer::start().await;
    let key = TestKey::rsa("k");
    Mock::given(path("/.well-known/jwks.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(jwks_json(&[&key])))
        .mount(&issuer)
        .await;

    for format in ["text", "json"] {
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_private-api"));
        let mut child = ServiceProcess::on_free_port("/healthz", Duration::from_secs(20), |port| {
            let base = format!("http://127.0.0.1:{port}");
            let env = BTreeMap::from([
                ("AUTH0_DOMAIN".to_owned(), issuer.uri()),
                ("API_AUTH0_AUDIENCE".to_owned(), AUDIENCE.to_owned()),
                ("API_BASE_URL".to_owned(), base.clone()),
                ("RUST_LOG".to_owned(), "debug".to_owned()),
                ("LOG_FORMAT".to_owned(), format.to_owned()),
            ]);
            ServiceProcess::spawn(binary.parent().unwrap(), "private-api", &base, &env)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        let base = child.base_url().to_owned();

        let token = TokenBuilder::new(format!("{}/", issuer.uri()), AUDIENCE)
            .sub("auth0|logged-user")
            .scope("read:private")
            .sign(&key);
        let http = reqwest::Client::new();
        let ok = http
            .get(format!("{base}/api/private-scope"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let refused = http
            .get(format!("{base}/api/private-scope"))
            .bearer_auth(format!("{token}x"))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);

        let status = child.terminate(Duration::from_secs(10)).await.unwrap();
        assert!(status.success(), "exit status {status}");
        let log = child.log();
        // Invariant 4: neither the token nor any piece of its signature is logged.
        let signature = token.rsplit('.').next().unwrap();
        assert!(!log.contains(&token), "{log}");
        assert!(!log.contains(signature), "{log}");
        assert!(!log.to_ascii_lowercase().contains("authorization"), "{log}");
        // One line per request, with status and subject.
        assert!(log.contains("auth0|logged-user"), "{log}");
        assert!(log.contains("200") && log.contains("401"), "{log}");
        assert!(log.contains("SIGTERM"), "{log}");
        if format == "json" {
            for line in log.lines().filter(|l| !l.trim().is_empty()) {
                serde_json::from_str::<serde_json::Value>(line)
                    .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            }
        }
    }
}
