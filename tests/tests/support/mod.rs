//! Clients for the end-to-end tests: rmcp's own client, and raw HTTP where headers matter.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod forward_proxy;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

// Each test file uses a different part of the support.
#[allow(unused_imports)]
pub use obo_tests::mcp_client::{Client, call, connect, text_of, upstream_json};

/// Bare JSON-RPC over HTTP, as a load generator or curl sends it.
pub struct McpHttp {
    url: String,
    http: reqwest::Client,
}

impl McpHttp {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            http: reqwest::Client::new(),
        }
    }

    pub async fn post(&self, authorization: Option<&str>, body: Value) -> (u16, HeaderMap, Value) {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, headers, body)
    }

    pub async fn call_tool(
        &self,
        token: Option<&str>,
        tool: &str,
        arguments: Value,
    ) -> (u16, HeaderMap, Value) {
        let authorization = token.map(|t| format!("Bearer {t}"));
        self.post(
            authorization.as_deref(),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}),
        )
        .await
    }
}

/// One HTTP answer, kept whole so a test can check status, headers and body together.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    /// The single `WWW-Authenticate` header, parsed.
    pub fn challenge(&self) -> Option<Challenge> {
        let mut values = self.headers.get_all("www-authenticate").iter();
        let value = values.next()?;
        assert!(values.next().is_none(), "more than one WWW-Authenticate");
        Some(Challenge::parse(
            value.to_str().expect("the challenge is visible ASCII"),
        ))
    }

    /// The text of a JSON-RPC tool result's first content block.
    pub fn tool_text(&self) -> String {
        self.json["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// An RFC 6750 §3 challenge, read back: the scheme and its quoted parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: std::collections::BTreeMap<String, String>,
}

impl Challenge {
    /// Parses `Scheme k="v", k2="v\"2"`; every value must be a quoted string, as our
    /// challenges always quote (design.md §3). Panics on anything else.
    pub fn parse(value: &str) -> Self {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let mut params = std::collections::BTreeMap::new();
        let mut chars = rest.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| *c == ' ' || *c == ',') {
                chars.next();
            }
            if chars.peek().is_none() {
                break;
            }
            let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
            assert_eq!(
                chars.next(),
                Some('='),
                "no '=' after {name:?} in {value:?}"
            );
            assert_eq!(chars.next(), Some('"'), "unquoted {name:?} in {value:?}");
            let mut quoted = String::new();
            loop {
                match chars.next() {
                    Some('\\') => quoted.push(chars.next().expect("escaped character")),
                    Some('"') => break,
                    Some(c) => quoted.push(c),
                    None => panic!("unterminated {name:?} in {value:?}"),
                }
            }
            assert!(
                params.insert(name.trim().to_owned(), quoted).is_none(),
                "repeated parameter in {value:?}"
            );
        }
        Self {
            scheme: scheme.to_owned(),
            params,
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// A JSON-RPC `tools/call` body.
pub fn tool_call_body(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

/// Starts the system, trying again on failure: a child's port is picked free and then
/// released before the child binds it, and with dozens of systems started in parallel
/// another listener occasionally takes it in between.
pub async fn start_system(
    config: impl Fn() -> obo_tests::system::SystemConfig,
) -> obo_tests::system::RunningSystem {
    let mut last_error = None;
    for _ in 0..3 {
        match obo_tests::system::RunningSystem::start(config()).await {
            Ok(system) => return system,
            Err(error) => {
                eprintln!("the system did not start, trying again: {error}");
                last_error = Some(error);
            }
        }
    }
    panic!("the system did not start: {}", last_error.unwrap());
}

/// A reverse proxy in front of the real private API that records the `Authorization`
/// value of every request it forwards: what reached the API, seen from outside it.
pub struct RecordingProxy {
    /// `http://127.0.0.1:{port}`: give it to the MCP server as `API_BASE_URL`.
    pub url: String,
    target: std::sync::Arc<std::sync::OnceLock<String>>,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RecordingProxy {
    /// Listens now; forwards once [`RecordingProxy::forward_to`] names the target
    /// (until then every request gets a 502).
    pub async fn start() -> Self {
        use axum::extract::{Request, State};
        use axum::http::StatusCode;
        use axum::response::{IntoResponse, Response};

        type Shared = (
            std::sync::Arc<std::sync::OnceLock<String>>,
            std::sync::Arc<std::sync::Mutex<Vec<String>>>,
            reqwest::Client,
        );
        async fn forward(State((target, seen, http)): State<Shared>, request: Request) -> Response {
            let authorization = request
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock()
                .unwrap()
                .push(authorization.clone().unwrap_or_default());
            let Some(target) = target.get() else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let url = format!("{target}{}", request.uri());
            let mut upstream = http.get(url);
            if let Some(authorization) = authorization {
                upstream = upstream.header("authorization", authorization);
            }
            let answer = upstream.send().await.unwrap();
            let status = answer.status().as_u16();
            let headers = answer.headers().clone();
            let body = answer.bytes().await.unwrap();
            let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
            for name in ["content-type", "www-authenticate"] {
                if let Some(value) = headers.get(name) {
                    response
                        .headers_mut()
                        .insert(name, value.to_str().unwrap().parse().unwrap());
                }
            }
            response
        }

        let target = std::sync::Arc::default();
        let seen = std::sync::Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state((
            std::sync::Arc::clone(&target),
            std::sync::Arc::clone(&seen),
            reqwest::Client::new(),
        ));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, target, seen }
    }

    pub fn forward_to(&self, base_url: &str) {
        let _ = self.target.set(base_url.trim_end_matches('/').to_owned());
    }

    /// Every `Authorization` value forwarded so far, in order (`""` for none).
    pub fn authorizations(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}
