//! The delegation audit trail (docs/audit.md): one JSON event per tool call in the
//! `AUDIT_LOG` file, valid against docs/audit.schema.json, with the caller, the actor
//! chain, the tool and each downstream call, and never a token.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{Options, Prepared, TestServer, tool_text};
use mcp_server::quickstart::Quickstart;
use obo_tests::tenant::Fault;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

/// A fresh path in the temporary directory; the file is removed when dropped.
struct AuditFile(PathBuf);

impl AuditFile {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(std::env::temp_dir().join(format!(
            "obo-mcp-audit-{name}-{}-{nanos}.jsonl",
            std::process::id()
        )))
    }

    /// Every line, which must each be one JSON object valid against the schema.
    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.0).unwrap_or_default();
        assert!(text.is_empty() || text.ends_with('\n'), "{text}");
        let validator = schema();
        text.lines()
            .map(|line| {
                let event: Value = serde_json::from_str(line).expect("one JSON object a line");
                let errors: Vec<String> = validator
                    .iter_errors(&event)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(errors.is_empty(), "{line}: {errors:?}");
                event
            })
            .collect()
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for AuditFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// docs/audit.schema.json, as draft 2020-12 with `format` asserted.
fn schema() -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/audit.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("a valid draft 2020-12 schema")
}

async fn server_with_audit(file: &AuditFile) -> TestServer {
    TestServer::start(Options {
        audit_log: Some(file.0.clone()),
        ..Options::default()
    })
    .await
}

/// Every segment of a JWT (and the whole of it): none may appear in the audit file.
fn assert_no_token_in(text: &str, token: &str) {
    assert!(!text.contains(token), "a token in the audit file: {text}");
    for segment in token.split('.') {
        assert!(
            !text.contains(segment),
            "a token segment ({segment}) in the audit file: {text}"
        );
    }
    assert!(!text.contains("eyJ"), "something JWT-like in: {text}");
}

#[tokio::test]
async fn a_greet_through_an_actor_chain_is_one_schema_valid_event_then_a_cache_hit() {
    let file = AuditFile::new("greet");
    let server = server_with_audit(&file).await;
    let token = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|alice")
            .scope("tool:greet")
            .act(["agent-x", "orchestrator"]),
    );
    let answer = server
        .http()
        .call_tool(Some(&token), "greet", json!({}))
        .await;
    let (text, is_error) = tool_text(&answer);
    assert!(!is_error, "{text}");
    let request_id = answer
        .header("x-request-id")
        .expect("a request id")
        .to_owned();

    let events = file.events();
    assert_eq!(events.len(), 1, "exactly one event: {events:?}");
    let event = &events[0];
    assert_eq!(event["request_id"], request_id.as_str());
    assert_eq!(event["sub"], "auth0|alice");
    assert_eq!(event["client_id"], "mcp-inspector");
    assert_eq!(event["act"], json!(["agent-x", "orchestrator"]));
    assert_eq!(event["org_id"], Value::Null);
    assert_eq!(event["tool"], "greet");
    assert_eq!(event["scopes_required"], json!(["tool:greet"]));
    assert_eq!(event["outcome"], "ok");
    let downstream = event["downstream"].as_array().unwrap();
    assert_eq!(downstream.len(), 1, "{event}");
    assert_eq!(downstream[0]["api"], "default");
    assert_eq!(downstream[0]["audience"], server.tenant.api_audience());
    assert_eq!(downstream[0]["exchange"], "exchange");
    assert_eq!(downstream[0]["status"], 200);
    assert!(
        event["duration_ms"].as_f64().unwrap() >= downstream[0]["duration_ms"].as_f64().unwrap()
    );
    println!("{event}");
    // The schema is not vacuous: an event with a token in an unknown field fails it.
    let mut leaky = event.clone();
    leaky["token"] = json!("eyJ...");
    assert!(!schema().is_valid(&leaky));

    // The same token again: the exchanged token comes from the cache.
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "greet", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    let events = file.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["downstream"][0]["exchange"], "cache");
    assert_eq!(events[1]["downstream"][0]["status"], 200);
    assert_eq!(server.tenant.exchange_attempts(), 1);

    assert_no_token_in(&file.text(), &token);
}

#[tokio::test]
async fn a_failing_exchange_is_recorded_with_its_error_kind_and_no_status() {
    let file = AuditFile::new("denied");
    let server = server_with_audit(&file).await;
    server.tenant.inject(
        Fault::OAuthError {
            status: 403,
            error: "access_denied".to_owned(),
            description: "Client has not been granted scopes".to_owned(),
        },
        Some(1),
    );
    let token = server.full_token("auth0|bob");
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "greet", json!({}))
            .await,
    );
    assert!(is_error, "{text}");
    let events = file.events();
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["sub"], "auth0|bob");
    assert_eq!(event["act"], json!([]));
    assert_eq!(event["outcome"], "exchange_error");
    assert_eq!(event["downstream"][0]["exchange"], "access_denied");
    assert_eq!(event["downstream"][0]["status"], Value::Null);
    assert_eq!(server.api_requests().await, 0);
    assert_no_token_in(&file.text(), &token);
}

/// The API's exact 2xx status is recorded, not a 200 for any success.
#[tokio::test]
async fn the_apis_exact_success_status_is_recorded() {
    let file = AuditFile::new("status");
    let server = TestServer::start(Options {
        audit_log: Some(file.0.clone()),
        mount_private_api: false,
        ..Options::default()
    })
    .await;
    Mock::given(method("GET"))
        .and(path(common::PRIVATE_SCOPE_PATH))
        .respond_with(ResponseTemplate::new(203).set_body_json(json!({
            "msg": "Hello from a proxy's copy", "sub": "auth0|carol", "scopes": ["read:private"]
        })))
        .mount(&server.api)
        .await;
    let token = server.full_token("auth0|carol");
    let (text, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&token), "greet", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    let events = file.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["downstream"][0]["status"], 203, "{}", events[0]);
    assert!(schema().is_valid(&events[0]));
}

#[tokio::test]
async fn refusals_are_audited_too() {
    let file = AuditFile::new("refused");
    let server = server_with_audit(&file).await;

    // The scope gate's 403 step-up: the tool never ran.
    let token = server.token("auth0|carol", &["tool:whoami"]);
    let answer = server
        .http()
        .call_tool(Some(&token), "greet", json!({}))
        .await;
    assert_eq!(answer.status, 403);
    // A machine caller on a tool that acts for a user: no exchange attempted.
    let machine = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("m2m-client@clients")
            .azp("m2m-client")
            .client_id("m2m-client")
            .claim("gty", "client-credentials")
            .scope("tool:greet")
            .without("permissions")
            .without("name")
            .without("email"),
    );
    let (_, is_error) = tool_text(
        &server
            .http()
            .call_tool(Some(&machine), "greet", json!({}))
            .await,
    );
    assert!(is_error);

    let events = file.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["outcome"], "insufficient_scope");
    assert_eq!(events[0]["scopes_required"], json!(["tool:greet"]));
    assert_eq!(events[0]["downstream"], json!([]));
    assert_eq!(events[1]["outcome"], "no_user");
    assert_eq!(events[1]["sub"], "m2m-client@clients");
    assert_eq!(events[1]["client_id"], "m2m-client");
    assert_eq!(events[1]["downstream"], json!([]));
    assert_eq!(server.tenant.exchange_attempts(), 0);
}

#[tokio::test]
async fn an_audit_log_that_cannot_be_opened_stops_the_server_naming_audit_log() {
    let mut prepared = Prepared::new(&Options::default()).await;
    let missing_dir = AuditFile::new("no-such-dir");
    prepared.reconfigure(|args| args.audit_log = Some(missing_dir.0.join("audit.jsonl")));
    let error = Quickstart::server(prepared.settings)
        .into_router(CancellationToken::new())
        .expect_err("refused");
    let text = error.to_string();
    assert!(text.starts_with("AUDIT_LOG: cannot open "), "{text}");
    assert!(text.contains("audit.jsonl"), "{text}");
}
