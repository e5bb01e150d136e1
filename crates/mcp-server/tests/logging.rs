//! Request ids (taken from a sane `x-request-id` or generated, always returned) and
//! `LOG_FORMAT=json` from the real binary: one JSON object per line, and every line of
//! a request carries its id.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Options, TestServer, mount_private_api, tools_call};
use obo_tests::tenant::{MockTenant, TenantConfig};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use wiremock::MockServer;

async fn request_id_of(server: &TestServer, sent: Option<&str>) -> String {
    let mut request = reqwest::Client::new().get(server.url("/healthz"));
    if let Some(id) = sent {
        request = request.header("x-request-id", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let ids: Vec<_> = response.headers().get_all("x-request-id").iter().collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].to_str().unwrap().to_owned()
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.chars().enumerate().all(|(i, c)| {
            matches!(i, 8 | 13 | 18 | 23) == (c == '-') && (c == '-' || c.is_ascii_hexdigit())
        })
}

#[tokio::test]
async fn a_sane_request_id_is_returned_and_any_other_is_replaced_by_a_generated_one() {
    let server = TestServer::start(Options::default()).await;
    assert_eq!(
        request_id_of(&server, Some("req-abc_123.x:y")).await,
        "req-abc_123.x:y"
    );
    let generated = request_id_of(&server, None).await;
    assert!(is_uuid(&generated), "{generated}");
    assert_ne!(generated, request_id_of(&server, None).await);
    for insane in ["has space", &"x".repeat(129), ""] {
        let id = request_id_of(&server, Some(insane)).await;
        assert!(is_uuid(&id), "{insane:?} -> {id}");
    }
    // Refusals carry one too, and browsers may read it.
    let answer = server
        .http()
        .request(&[], &tools_call("whoami", serde_json::json!({})))
        .header("x-request-id", "refused-1")
        .header("origin", "http://example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 401);
    assert_eq!(answer.headers()["x-request-id"], "refused-1");
}

/// Every stderr line of a child process, as it arrives.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    async fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.all().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in {:?}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Starts `command` with its stderr collected into [`Lines`]; killed when dropped.
fn spawn_logging(mut command: tokio::process::Command) -> (tokio::process::Child, Lines) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let lines = Lines::default();
    let mut reader = BufReader::new(child.stderr.take().unwrap()).lines();
    let sink = lines.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = reader.next_line().await {
            sink.0.lock().unwrap().push(line);
        }
    });
    (child, lines)
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_and_carry_the_request_id() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let api = MockServer::start().await;
    mount_private_api(&api, tenant.api_audience()).await;
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .env("PORT", "0")
        .env("AUTH0_DOMAIN", tenant.issuer())
        .env("AUTH0_AUDIENCE", tenant.mcp_audience())
        .env("MCP_AUTH0_CLIENT_ID", tenant.client_id())
        .env("MCP_AUTH0_CLIENT_SECRET", tenant.client_secret())
        .env("API_AUTH0_AUDIENCE", tenant.api_audience())
        .env("API_BASE_URL", api.uri());
    let (mut child, lines) = spawn_logging(command);

    let listening: Value =
        serde_json::from_str(&lines.wait_for("obo-mcp listening").await).unwrap();
    let addr = listening["addr"].as_str().unwrap().to_owned();
    let base = format!("http://{addr}");
    let token = tenant.token_for("auth0|alice", &["tool:whoami", "tool:greet"]);
    let http = common::McpHttp::new(&format!("{base}/mcp"));
    let response = http
        .request(
            &[&format!("Bearer {token}")],
            &tools_call("greet", serde_json::json!({"name": "Ada"})),
        )
        .header("x-request-id", "greet-req-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "greet-req-1");
    let generated = reqwest::get(format!("{base}/healthz"))
        .await
        .unwrap()
        .headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    lines.wait_for(&generated).await;
    lines.wait_for("\"greet\"").await;
    child.kill().await.unwrap();

    let all = lines.all();
    let objects: Vec<Value> = all
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    // The request's span is the outermost; spans opened inside it (rmcp's) nest below.
    let request_id = |object: &Value| {
        object["spans"]
            .as_array()
            .and_then(|spans| spans.iter().find_map(|s| s["request_id"].as_str()))
            .map(str::to_owned)
    };
    let of_greet: Vec<&Value> = objects
        .iter()
        .filter(|o| request_id(o).as_deref() == Some("greet-req-1"))
        .collect();
    // One line for the whole call: the access line carries the tool, its outcome and
    // the caller, recorded into the request's span.
    let access: Vec<&&Value> = of_greet
        .iter()
        .filter(|o| o["message"] == "finished processing request")
        .collect();
    assert_eq!(access.len(), 1, "{all:#?}");
    let access = access[0];
    assert!(
        !of_greet.iter().any(|o| o["message"] == "tool call"),
        "{all:#?}"
    );
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["status"], 200);
    assert!(access["latency"].is_string(), "{access}");
    let span = &access["spans"][0];
    assert_eq!(span["route"], "/mcp");
    assert_eq!(span["method"], "POST");
    assert_eq!(span["sub"], "auth0|alice");
    assert_eq!(span["tool"], "greet");
    assert_eq!(span["outcome"], "ok");
    assert_eq!(span["token_from_cache"], false);
    assert!(
        objects
            .iter()
            .any(|o| request_id(o).as_deref() == Some(generated.as_str())),
        "{all:#?}"
    );
    // Never a token, a secret or a header.
    let text = all.join("\n");
    assert!(!text.contains(&token));
    assert!(!text.contains(tenant.client_secret()));
    assert!(
        !text.to_ascii_lowercase().contains("authorization"),
        "{text}"
    );
}

/// The `.env` of Auth0's quickstart samples, with their variable names only, starts
/// the binary as it always did: the three tools, and `greet` through the private API.
#[tokio::test]
async fn the_quickstart_dot_env_starts_the_server_with_its_three_tools() {
    let tenant = MockTenant::start(TenantConfig::default()).await;
    let api = MockServer::start().await;
    mount_private_api(&api, tenant.api_audience()).await;
    let dir = std::env::temp_dir().join(format!("obo-quickstart-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(".env"),
        format!(
            "AUTH0_DOMAIN={}\nAUTH0_AUDIENCE={}\nMCP_AUTH0_CLIENT_ID={}\nMCP_AUTH0_CLIENT_SECRET={}\nAPI_AUTH0_AUDIENCE={}\nAPI_BASE_URL={}\nMCP_AUTH0_EXCHANGE_SCOPE=read:private\nPORT=0\n",
            tenant.issuer(),
            tenant.mcp_audience(),
            tenant.client_id(),
            tenant.client_secret(),
            tenant.api_audience(),
            api.uri(),
        ),
    )
    .unwrap();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    command
        .env_clear()
        .current_dir(&dir)
        .env("LOG_FORMAT", "json");
    let (child, lines) = spawn_logging(command);
    let listening: Value =
        serde_json::from_str(&lines.wait_for("obo-mcp listening").await).unwrap();
    let base = format!("http://{}", listening["addr"].as_str().unwrap());
    let http = common::McpHttp::new(&format!("{base}/mcp"));
    let token = tenant.token_for("auth0|alice", &["tool:whoami", "tool:greet"]);

    let listed = http.list_tools(&token).await;
    let mut names: Vec<&str> = listed.body["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["get_datetime", "greet", "whoami"]);
    let (text, is_error) = common::tool_text(
        &http
            .call_tool(Some(&token), "greet", serde_json::json!({"name": "Ada"}))
            .await,
    );
    assert!(!is_error, "{text}");
    assert!(
        text.starts_with("Hello, Ada (auth0|alice)! Upstream API Response: "),
        "{text}"
    );
    assert_eq!(tenant.exchanges(), 1);
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
}
