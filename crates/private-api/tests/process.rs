//! The real binary: serves, logs one line per request without the token, and exits 0
//! on SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;
use tokio::io::AsyncReadExt;
use wiremock::matchers::path;
use wiremock::{Mock, MockServer, ResponseTemplate};

const AUDIENCE: &str = "https://private-api.test";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(base: &str, child: &mut tokio::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let http = reqwest::Client::new();
    loop {
        assert!(child.try_wait().unwrap().is_none(), "exited early");
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "not ready in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

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
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_private-api"))
            .env_clear()
            .env("AUTH0_DOMAIN", issuer.uri())
            .env("API_AUTH0_AUDIENCE", AUDIENCE)
            .env("API_BASE_URL", &base)
            .env("RUST_LOG", "debug")
            .env("LOG_FORMAT", format)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        wait_ready(&base, &mut child).await;

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

        let pid = child.id().unwrap();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "exit status {status}");

        let mut log = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .await
            .unwrap();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .await
            .unwrap();
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
