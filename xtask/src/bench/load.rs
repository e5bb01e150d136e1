//! The load generator: N keep-alive connections, each a task sending bare stateless
//! `tools/call` requests until a deadline (or until its users run out), each answer
//! checked, each latency recorded in a per-task histogram that is merged at the end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::http1::{self, Connection};

/// No request may take longer than this; a slower answer counts as an error, so every
/// loop ends by itself even when the server hangs.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Histogram bounds in microseconds: 1 µs to 60 s, three significant figures.
const MAX_LATENCY_US: u64 = 60_000_000;
/// How many distinct wrong answers to keep, to show what went wrong.
const ERROR_SAMPLES: usize = 5;

/// A caller: the `sub` the answer must name, and the user's access token.
#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    pub token: String,
}

/// Which tool each request calls, and therefore how its answer is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `get_datetime`: an RFC 3339 UTC timestamp ending in `Z`.
    GetDatetime,
    /// `greet` without a name: `Hello, there (<sub>)! …` with the upstream's `sub`.
    Greet,
}

impl Tool {
    fn body(self) -> &'static str {
        match self {
            Tool::GetDatetime => {
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_datetime","arguments":{}}}"#
            }
            Tool::Greet => {
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{}}}"#
            }
        }
    }
}

/// Whom the requests speak for, and in what order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Round-robin over the users, for as long as the phase lasts.
    Repeat,
    /// Each user exactly once; the phase ends when they are used up (or at the deadline).
    EachOnce,
}

/// What one phase sends: shared by every connection's task.
#[derive(Debug)]
pub struct Plan {
    pub tool: Tool,
    pub users: Arc<[User]>,
    pub order: Order,
    next: AtomicUsize,
}

impl Plan {
    pub fn new(tool: Tool, users: Arc<[User]>, order: Order) -> Self {
        Self {
            tool,
            users,
            order,
            next: AtomicUsize::new(0),
        }
    }

    fn next_user(&self) -> Option<usize> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.users.len();
        match self.order {
            Order::Repeat if count > 0 => Some(index % count),
            Order::Repeat => None,
            Order::EachOnce => (index < count).then_some(index),
        }
    }
}

/// The keep-alive connections to one endpoint, kept open from warm-up to measurement.
#[derive(Debug)]
pub struct Connections {
    addr: SocketAddr,
    host: String,
    path: String,
    slots: Vec<Option<Connection>>,
}

impl Connections {
    /// Opens `count` connections to `url` (`http://IP:PORT/path`, loopback).
    pub async fn open(url: &str, count: usize) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .with_context(|| format!("{url} is not an http:// URL"))?;
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let addr: SocketAddr = host
            .parse()
            .with_context(|| format!("{url} does not name an IP address and port"))?;
        if !addr.ip().is_loopback() {
            bail!("the bench only loads loopback addresses, not {addr}");
        }
        let mut slots = Vec::with_capacity(count);
        for _ in 0..count.max(1) {
            let connection = Connection::open(addr)
                .await
                .with_context(|| format!("cannot connect to {addr}"))?;
            slots.push(Some(connection));
        }
        Ok(Self {
            addr,
            host: host.to_owned(),
            path: if path.is_empty() { "/" } else { path }.to_owned(),
            slots,
        })
    }

    pub fn count(&self) -> usize {
        self.slots.len()
    }

    fn request(&self, tool: Tool, user: &User) -> Vec<u8> {
        let authorization = format!("Bearer {}", user.token);
        http1::post(
            &self.host,
            &self.path,
            &[
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
                ("Authorization", &authorization),
            ],
            tool.body(),
        )
    }
}

/// What a phase measured.
#[derive(Debug)]
pub struct PhaseResult {
    pub histogram: Histogram<u64>,
    pub ok: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// A few of the wrong answers, to say what went wrong.
    pub error_samples: Vec<String>,
}

impl PhaseResult {
    fn empty() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .context("cannot create a latency histogram")?,
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            error_samples: Vec::new(),
        })
    }

    pub fn requests(&self) -> u64 {
        self.ok + self.errors
    }

    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests() as f64 / secs
        } else {
            0.0
        }
    }

    /// Adds `part`'s requests, latencies and error samples to these (not its time).
    fn absorb(&mut self, part: PhaseResult) -> anyhow::Result<()> {
        self.histogram
            .add(&part.histogram)
            .context("cannot merge latency histograms")?;
        self.ok += part.ok;
        self.errors += part.errors;
        for sample in part.error_samples {
            if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&sample) {
                self.error_samples.push(sample);
            }
        }
        Ok(())
    }

    fn error(&mut self, error: String) {
        self.errors += 1;
        if self.error_samples.len() < ERROR_SAMPLES && !self.error_samples.contains(&error) {
            self.error_samples.push(error);
        }
    }
}

/// The prepared requests of a phase (one per user) and the users' subs.
struct Prepared {
    plan: Arc<Plan>,
    requests: Vec<Vec<u8>>,
}

/// Runs `plan` over every connection until `duration` has passed or the plan's users
/// are used up, whichever comes first.
pub async fn run_phase(
    connections: &mut Connections,
    plan: Arc<Plan>,
    duration: Duration,
) -> anyhow::Result<PhaseResult> {
    let requests = plan
        .users
        .iter()
        .map(|user| connections.request(plan.tool, user))
        .collect();
    let prepared = Arc::new(Prepared { plan, requests });
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections.count());
    for slot in &mut connections.slots {
        tasks.push(tokio::spawn(connection_loop(
            slot.take(),
            connections.addr,
            Arc::clone(&prepared),
            deadline,
        )));
    }
    let mut total = PhaseResult::empty()?;
    for (task, slot) in tasks.into_iter().zip(&mut connections.slots) {
        let (part, connection) = task.await.context("a load generator task failed")??;
        *slot = connection;
        total.absorb(part)?;
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// Runs one `plan` over several sets of connections at once (one set per replica of a
/// fleet), so they all draw from the same rotation of users; the result is their sum,
/// over the longest of their times.
pub async fn run_phase_spread(
    sets: &mut Vec<Connections>,
    plan: Arc<Plan>,
    duration: Duration,
) -> anyhow::Result<PhaseResult> {
    let tasks: Vec<_> = sets
        .drain(..)
        .map(|mut set| {
            let plan = Arc::clone(&plan);
            tokio::spawn(async move {
                let part = run_phase(&mut set, plan, duration).await;
                (set, part)
            })
        })
        .collect();
    let mut total = PhaseResult::empty()?;
    for task in tasks {
        let (set, part) = task.await.context("a load generator task failed")?;
        sets.push(set);
        let part = part?;
        total.elapsed = total.elapsed.max(part.elapsed);
        total.absorb(part)?;
    }
    Ok(total)
}

async fn connection_loop(
    mut connection: Option<Connection>,
    addr: SocketAddr,
    prepared: Arc<Prepared>,
    deadline: Instant,
) -> anyhow::Result<(PhaseResult, Option<Connection>)> {
    let mut result = PhaseResult::empty()?;
    let plan = &prepared.plan;
    while Instant::now() < deadline {
        let Some(index) = plan.next_user() else {
            break;
        };
        let (Some(user), Some(request)) = (plan.users.get(index), prepared.requests.get(index))
        else {
            break;
        };
        let sent = Instant::now();
        let outcome = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut open = match connection.take() {
                Some(open) => open,
                None => Connection::open(addr)
                    .await
                    .map_err(|e| format!("cannot connect: {e}"))?,
            };
            let response = open
                .send(request)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            if !response.close {
                connection = Some(open);
            }
            Ok::<_, String>(response)
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")))
        .and_then(|response| {
            if response.status != 200 {
                return Err(format!(
                    "status {}: {}",
                    response.status,
                    String::from_utf8_lossy(&response.body[..response.body.len().min(200)])
                ));
            }
            check(plan.tool, &user.sub, &response.body)
        });
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        result
            .histogram
            .saturating_record(micros.clamp(1, MAX_LATENCY_US));
        match outcome {
            Ok(()) => result.ok += 1,
            Err(error) => result.error(error),
        }
    }
    Ok((result, connection))
}

#[derive(Deserialize)]
struct RpcResponse {
    result: Option<ToolResult>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ToolResult {
    #[serde(default)]
    content: Vec<Content>,
    #[serde(rename = "isError")]
    is_error: Option<bool>,
}

#[derive(Deserialize)]
struct Content {
    text: Option<String>,
}

#[derive(Deserialize)]
struct Upstream {
    sub: Option<String>,
}

/// Whether `body` is the right answer to `tool` for `sub`; the reason when it is not.
fn check(tool: Tool, sub: &str, body: &[u8]) -> Result<(), String> {
    let response: RpcResponse =
        serde_json::from_slice(body).map_err(|e| format!("not a JSON-RPC response: {e}"))?;
    if let Some(error) = response.error {
        return Err(format!("JSON-RPC error: {error}"));
    }
    let result = response.result.ok_or("no `result` in the response")?;
    let text = result
        .content
        .first()
        .and_then(|c| c.text.as_deref())
        .ok_or("no text content in the result")?;
    if result.is_error != Some(false) {
        return Err(format!("tool error (isError not false): {}", excerpt(text)));
    }
    match tool {
        Tool::GetDatetime => {
            if !text.ends_with('Z') || OffsetDateTime::parse(text, &Rfc3339).is_err() {
                return Err(format!("not an RFC 3339 UTC time: {}", excerpt(text)));
            }
        }
        Tool::Greet => {
            let greeting = format!("Hello, there ({sub})!");
            if !text.starts_with(&greeting) {
                return Err(format!("unexpected greeting: {}", excerpt(text)));
            }
            let upstream: Upstream = text
                .find('{')
                .and_then(|start| serde_json::from_str(&text[start..]).ok())
                .ok_or_else(|| format!("no upstream JSON: {}", excerpt(text)))?;
            if upstream.sub.as_deref() != Some(sub) {
                return Err(format!(
                    "upstream answered for {:?}, not {sub}",
                    upstream.sub
                ));
            }
        }
    }
    Ok(())
}

fn excerpt(text: &str) -> String {
    text.chars().take(120).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_answer_is_checked() {
        let ok = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2025-01-02T03:04:05.678Z"}],"isError":false}}"#;
        assert_eq!(check(Tool::GetDatetime, "x", ok), Ok(()));
        let wrong = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"yesterday"}],"isError":false}}"#;
        assert!(check(Tool::GetDatetime, "x", wrong).is_err());
        let tool_error = br#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2025-01-02T03:04:05Z"}],"isError":true}}"#;
        assert!(check(Tool::GetDatetime, "x", tool_error).is_err());
    }

    #[test]
    fn greet_answer_must_name_the_caller_twice() {
        let body = |text: &str| {
            serde_json::to_vec(&serde_json::json!({
                "jsonrpc": "2.0", "id": 1,
                "result": {"content": [{"type": "text", "text": text}], "isError": false}
            }))
            .unwrap_or_default()
        };
        let good = body("Hello, there (auth0|a)! Upstream API Response: {\"sub\": \"auth0|a\"}");
        assert_eq!(check(Tool::Greet, "auth0|a", &good), Ok(()));
        let other = body("Hello, there (auth0|a)! Upstream API Response: {\"sub\": \"auth0|b\"}");
        assert!(check(Tool::Greet, "auth0|a", &other).is_err());
        assert!(check(Tool::Greet, "auth0|b", &good).is_err());
    }
}
