//! No leaks (invariant 4): a full session with both services logging at `trace`, once
//! as text and once as JSON, and not one user token, exchanged token, client secret or
//! `Authorization` header value in anything either service wrote or answered.
//!
//! The session walks every path a secret could escape by: whoami, greet with an
//! exchange, greet from the cache, an exchange Auth0 refuses, Auth0 failing, a 401, a
//! 400 whose header holds the token twice, a 403, and the private API down. Everything
//! it sees (logs, status lines, headers, bodies, tool results) is then searched for
//! every secret and its signature part. The test also checks that the logs are there
//! and name the user, so it cannot pass by logging nothing.
//!
//! The audit trail (docs/audit.md) is searched too: with text logs it goes to an
//! `AUDIT_LOG` file, with JSON logs it goes to the log itself.
//!
//! The MCP server runs with the fleet's shared token cache (issue 15): a Redis that
//! requires a password, and a fleet secret. After the session, a replica given the
//! wrong password and then Redis stopped make the store fail; neither password, the
//! URL nor the fleet secret may appear anywhere either.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use obo_tests::Fault;
use obo_tests::redis::RedisServer;
use obo_tests::system::{RunningSystem, SystemConfig};
use serde_json::{Value, json};
use support::{Reply, tool_call_body};

const USER: &str = "auth0|leak-test-user";
const REDIS_PASSWORD: &str = "redis-leak-pa55word-4e1d";
const WRONG_REDIS_PASSWORD: &str = "wrong-leak-pa55word-77ac";
const FLEET_SECRET: &str = "0Kq3m9Vx2LwT8bYf5HnR1cZs7AjU4eGp6DiQoWkXyNM=";
const USER_WHOAMI_ONLY: &str = "auth0|leak-test-narrow";

/// What the session saw from the outside: every answer, whole.
#[derive(Default)]
struct Transcript {
    answers: Vec<String>,
}

impl Transcript {
    fn record(&mut self, what: &str, reply: &Reply) {
        let headers: Vec<String> = reply
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        self.answers.push(format!(
            "{what}: {}\n{}\n{}",
            reply.status,
            headers.join("\n"),
            reply.text
        ));
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    authorization: Option<&str>,
    body: &Value,
) -> Reply {
    let mut request = http
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    Reply::read(request.send().await.expect("the server answers")).await
}

/// The session; returns every user token it sent, and the transcript.
async fn run_session(system: &mut RunningSystem) -> (Vec<String>, Transcript) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let url = system.mcp_url();
    let tenant = system.tenant.clone();
    let mut seen = Transcript::default();
    let token = tenant.token_for(USER, &["tool:whoami", "tool:greet"]);
    let narrow = tenant.token_for(USER_WHOAMI_ONLY, &["tool:whoami"]);
    let expired = tenant.sign_user_token(&tenant.user_token(USER).expires_in(-3600));
    let refused_user = tenant.token_for("auth0|leak-test-refused", &["tool:greet"]);
    let bearer = |t: &str| format!("Bearer {t}");

    let reply = post(
        &http,
        &url,
        Some(&bearer(&token)),
        &tool_call_body(1, "whoami", json!({})),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert!(reply.tool_text().contains(USER), "{}", reply.text);
    seen.record("whoami", &reply);

    // Greet: an exchange, then the cached token.
    for what in ["greet (exchange)", "greet (cached)"] {
        let reply = post(
            &http,
            &url,
            Some(&bearer(&token)),
            &tool_call_body(2, "greet", json!({"name": "Leak"})),
        )
        .await;
        assert_eq!(
            reply.json["result"]["isError"], false,
            "{what}: {}",
            reply.text
        );
        seen.record(what, &reply);
    }
    assert_eq!(
        tenant.exchanges_for(USER),
        1,
        "the second greet used the cache"
    );

    // Auth0 refuses the exchange, then fails, then rate limits.
    for (what, fault) in [
        (
            "exchange refused",
            Fault::OAuthError {
                status: 403,
                error: "access_denied".to_owned(),
                description: "User is not allowed to access the API".to_owned(),
            },
        ),
        ("exchange 500", Fault::ServerError),
        (
            "exchange 429",
            Fault::RateLimited {
                retry_after_secs: 90,
            },
        ),
        ("exchange not JSON", Fault::NonJson),
    ] {
        tenant.inject(fault, None);
        let reply = post(
            &http,
            &url,
            Some(&bearer(&refused_user)),
            &tool_call_body(3, "greet", json!({})),
        )
        .await;
        assert_eq!(
            reply.json["result"]["isError"], true,
            "{what}: {}",
            reply.text
        );
        seen.record(what, &reply);
        tenant.clear_faults();
    }

    // 401s: an expired token, a forged one; a 400 whose header holds the token twice.
    let reply = post(
        &http,
        &url,
        Some(&bearer(&expired)),
        &tool_call_body(4, "whoami", json!({})),
    )
    .await;
    assert_eq!(reply.status, 401);
    seen.record("expired", &reply);
    let forged = format!("{}x", &token[..token.len() - 1]);
    let reply = post(
        &http,
        &url,
        Some(&bearer(&forged)),
        &tool_call_body(4, "whoami", json!({})),
    )
    .await;
    assert_eq!(reply.status, 401);
    seen.record("bad signature", &reply);
    let reply = post(
        &http,
        &url,
        Some(&format!("Bearer {token} {token}")),
        &tool_call_body(4, "whoami", json!({})),
    )
    .await;
    assert_eq!(reply.status, 400);
    seen.record("two tokens", &reply);
    let reply = post(
        &http,
        &url,
        Some(&format!(
            "Basic {}",
            STANDARD.encode(format!("{USER}:{token}"))
        )),
        &tool_call_body(4, "whoami", json!({})),
    )
    .await;
    assert_eq!(reply.status, 401);
    seen.record("basic", &reply);

    // 403: a token without tool:greet.
    let reply = post(
        &http,
        &url,
        Some(&bearer(&narrow)),
        &tool_call_body(5, "greet", json!({})),
    )
    .await;
    assert_eq!(reply.status, 403);
    seen.record("insufficient scope", &reply);

    // A tool argument holding the token: rmcp logs payloads whole at debug and trace,
    // which the MCP server turns off (telemetry.rs). (rmcp also echoes an unknown
    // *method name* into its error and a WARN line; a client naming a method after its
    // token is not covered.)
    let reply = post(
        &http,
        &url,
        Some(&bearer(&token)),
        &tool_call_body(6, "greet", json!({"name": token.clone()})),
    )
    .await;
    seen.record("name is a token", &reply);

    // The private API itself refuses the user's own token (it is not for it).
    let direct = http
        .get(format!("{}/api/private-scope", system.api.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let reply = Reply::read(direct).await;
    assert_eq!(reply.status, 401);
    seen.record("API, user token", &reply);
    let exchanged = tenant.issued_tokens().first().cloned().unwrap();
    let direct = http
        .get(format!("{}/api/private-scope", system.api.base_url()))
        .header("authorization", format!("Bearer {exchanged} {exchanged}"))
        .send()
        .await
        .unwrap();
    let reply = Reply::read(direct).await;
    assert!((400..500).contains(&reply.status), "{}", reply.status);
    seen.record("API, malformed header", &reply);

    // The private API down: a fresh user, so an exchange precedes the failure.
    system.api.terminate(Duration::from_secs(10)).await.unwrap();
    let late = tenant.token_for("auth0|leak-test-late", &["tool:greet"]);
    let reply = post(
        &http,
        &url,
        Some(&bearer(&late)),
        &tool_call_body(8, "greet", json!({})),
    )
    .await;
    assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
    seen.record("API down", &reply);
    let reply = post(
        &http,
        &url,
        Some(&bearer(&token)),
        &tool_call_body(9, "greet", json!({})),
    )
    .await;
    assert_eq!(reply.json["result"]["isError"], true, "{}", reply.text);
    seen.record("API down, cached token", &reply);

    (
        vec![token, narrow, expired, refused_user, forged, late],
        seen,
    )
}

/// Every secret the session involved, named, with its signature part.
fn secrets(system: &RunningSystem, user_tokens: &[String]) -> Vec<(String, String)> {
    let tenant = &system.tenant;
    let mut secrets = Vec::new();
    let mut token = |what: &str, token: &str| {
        secrets.push((what.to_owned(), token.to_owned()));
        secrets.push((format!("Bearer {what}"), format!("Bearer {token}")));
        let signature = token.rsplit('.').next().unwrap();
        assert!(signature.len() > 100, "an RS256 signature");
        secrets.push((format!("{what} (signature)"), signature.to_owned()));
    };
    for (i, user_token) in user_tokens.iter().enumerate() {
        token(&format!("user token {i}"), user_token);
    }
    let issued = tenant.issued_tokens();
    assert!(
        issued.len() >= 2,
        "the session exchanged tokens: {}",
        issued.len()
    );
    for (i, exchanged) in issued.iter().enumerate() {
        token(&format!("exchanged token {i}"), exchanged);
    }
    let id = tenant.client_id();
    let secret = tenant.client_secret();
    assert!(secret.len() >= 16);
    secrets.push(("client secret".to_owned(), secret.to_owned()));
    let encoded = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for credentials in [
        format!("{id}:{secret}"),
        format!("{}:{}", encoded(id), encoded(secret)),
    ] {
        secrets.push((
            "client Basic credentials".to_owned(),
            STANDARD.encode(credentials),
        ));
    }
    secrets.push((
        "client_secret form field".to_owned(),
        format!("client_secret={}", encoded(secret)),
    ));
    for (what, secret) in [
        ("the Redis password", REDIS_PASSWORD),
        ("the wrong Redis password", WRONG_REDIS_PASSWORD),
        ("the fleet secret", FLEET_SECRET),
        ("the fleet secret (body)", &FLEET_SECRET[..40]),
    ] {
        secrets.push((what.to_owned(), secret.to_owned()));
    }
    let fleet_secret = STANDARD.decode(FLEET_SECRET).unwrap();
    let hex: String = fleet_secret.iter().map(|b| format!("{b:02x}")).collect();
    secrets.push(("the fleet secret (hex)".to_owned(), hex));
    secrets
}

fn assert_no_secret(place: &str, text: &str, secrets: &[(String, String)]) {
    for (what, secret) in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} leaked into {place}:\n{}",
            context(text, secret)
        );
        // JSON logs escape `/` in some writers; base64url tokens have none, but the
        // standard-base64 Basic credentials may.
        let escaped = secret.replace('/', "\\/");
        assert!(
            !text.contains(&escaped),
            "{what} leaked (escaped) into {place}"
        );
    }
}

fn context(text: &str, secret: &str) -> String {
    let at = text.find(secret).unwrap_or(0);
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    text[line_start..line_end].chars().take(400).collect()
}

async fn session_leaks_nothing(format: &str) {
    let trace = BTreeMap::from([
        ("RUST_LOG".to_owned(), "trace".to_owned()),
        ("LOG_FORMAT".to_owned(), format.to_owned()),
    ]);
    let mut redis = RedisServer::start_with_password(REDIS_PASSWORD);
    let mut mcp_env = trace.clone();
    mcp_env.insert("TOKEN_CACHE_REDIS_URL".to_owned(), redis.url());
    // Text logs: the audit trail in its own file; JSON logs: in the log.
    let audit_file = (format == "text").then(|| {
        std::env::temp_dir().join(format!(
            "obo-mcp-no-leak-audit-{}-{}.jsonl",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ))
    });
    if let Some(path) = &audit_file {
        mcp_env.insert("AUDIT_LOG".to_owned(), path.display().to_string());
    }
    mcp_env.insert(
        "TOKEN_CACHE_ENCRYPTION_KEY".to_owned(),
        FLEET_SECRET.to_owned(),
    );
    let mut system = support::start_system(|| SystemConfig {
        mcp_env: mcp_env.clone(),
        api_env: trace.clone(),
        ..SystemConfig::default()
    })
    .await;
    let (mut user_tokens, mut transcript) = run_session(&mut system).await;

    // The store failing: a replica whose password Redis refuses, then Redis stopped.
    let wrong = system
        .start_mcp_replica(&BTreeMap::from([(
            "TOKEN_CACHE_REDIS_URL".to_owned(),
            redis.url_with_password(WRONG_REDIS_PASSWORD),
        )]))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (what, base_url, sub) in [
        (
            "Redis refuses the password",
            wrong.base_url().to_owned(),
            "auth0|leak-test-wrong-password",
        ),
        (
            "Redis stopped",
            system.mcp.base_url().to_owned(),
            "auth0|leak-test-redis-down",
        ),
    ] {
        if what == "Redis stopped" {
            redis.stop();
        }
        let token = system.tenant.token_for(sub, &["tool:greet"]);
        let reply = post(
            &http,
            &format!("{base_url}/mcp"),
            Some(&format!("Bearer {token}")),
            &tool_call_body(10, "greet", json!({})),
        )
        .await;
        assert_eq!(reply.status, 200, "{what}: {}", reply.text);
        transcript.record(what, &reply);
        user_tokens.push(token);
    }
    // Let the last lines reach the files.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let secrets = secrets(&system, &user_tokens);
    let wrong_log = wrong.log();
    for (name, log) in [
        ("mcp-server", system.mcp.log()),
        ("the wrong-password replica", wrong_log.clone()),
    ] {
        assert!(
            log.contains("shared token store failed"),
            "{name} never logged a failure of the store, so its error texts went unchecked"
        );
    }
    assert_no_secret("the wrong-password replica's log", &wrong_log, &secrets);
    let mcp_log = system.mcp.log();
    let api_log = system.api.log();

    // Not vacuous: both logs are there, at trace, and name the user and what happened.
    for (name, log, at_least) in [("mcp-server", &mcp_log, 100), ("private-api", &api_log, 20)] {
        let lines = log.lines().count();
        assert!(
            lines > at_least,
            "{name} logged only {lines} lines at trace"
        );
        assert!(
            log.contains("TRACE") || log.contains("\"TRACE\""),
            "{name} is not at trace"
        );
        if format == "json" {
            let json_lines = log
                .lines()
                .filter(|line| serde_json::from_str::<Value>(line).is_ok())
                .count();
            assert!(
                json_lines * 10 >= lines * 9,
                "{name}: {json_lines} of {lines} lines are JSON"
            );
        }
    }
    for expected in [
        USER,
        "finished processing request",
        "greet",
        "whoami",
        "refused",
        USER_WHOAMI_ONLY,
    ] {
        assert!(
            mcp_log.contains(expected),
            "the MCP server's log lacks {expected:?}"
        );
    }
    assert!(
        api_log.contains(USER),
        "the private API's log lacks the user's sub"
    );

    assert_no_secret("the MCP server's log", &mcp_log, &secrets);
    // Not vacuous either: the audit trail is there and names the user and the tools.
    let audit = match &audit_file {
        Some(path) => {
            let audit = std::fs::read_to_string(path).expect("the AUDIT_LOG file");
            let _ = std::fs::remove_file(path);
            audit
        }
        None => mcp_log
            .lines()
            .filter(|line| line.contains("\"target\":\"audit\""))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    for expected in [
        USER,
        "greet",
        "whoami",
        "access_denied",
        "insufficient_scope",
    ] {
        assert!(
            audit.contains(expected),
            "the audit trail lacks {expected:?}:\n{audit}"
        );
    }
    assert_no_secret("the audit trail", &audit, &secrets);
    assert_no_secret("the private API's log", &api_log, &secrets);
    for answer in &transcript.answers {
        assert_no_secret("an answer", answer, &secrets);
    }
    eprintln!(
        "{format}: {} mcp-server lines, {} audit events, {} private-api lines, {} answers, {} secrets: none leaked",
        mcp_log.lines().count(),
        audit.lines().count(),
        api_log.lines().count(),
        transcript.answers.len(),
        secrets.len()
    );
}

#[tokio::test]
async fn invariant_4_a_full_session_at_trace_with_text_logs_leaks_no_secret() {
    session_leaks_nothing("text").await;
}

#[tokio::test]
async fn invariant_4_a_full_session_at_trace_with_json_logs_leaks_no_secret() {
    session_leaks_nothing("json").await;
}
