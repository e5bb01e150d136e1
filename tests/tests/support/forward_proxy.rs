//! An HTTP forward proxy that a client is configured to use (as with `HTTP_PROXY`), and
//! that records each request it passes on: the method, the origin and path, and the
//! status the server answered. Put in front of a real MCP client, it shows the whole
//! conversation that client had with the MCP server and the tenant, from the wire,
//! whatever the client does inside.

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// One request the proxy passed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    /// `scheme://host:port` of the server it went to.
    pub origin: String,
    /// The path, without the query.
    pub path: String,
    /// What the server answered, or 502 when it could not be reached; 0 while waiting.
    pub status: u16,
    /// The request's `MCP-Protocol-Version`, when it had one.
    pub protocol_version: Option<String>,
    /// The answer's `WWW-Authenticate`, when it had one.
    pub challenge: Option<String>,
}

/// The largest body passed on either way; MCP and OAuth messages are far smaller.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Headers that belong to one connection (RFC 9110 §7.6.1), not to the message.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Exchange>>>,
    upstream: reqwest::Client,
}

/// A running proxy on 127.0.0.1; it stops with the test's runtime.
pub struct ForwardProxy {
    /// `http://127.0.0.1:PORT`, for `reqwest::Proxy::all`.
    pub url: String,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl ForwardProxy {
    pub async fn start() -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            log: Arc::clone(&log),
            upstream: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new().fallback(forward).with_state(shared);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, log }
    }

    /// A client that sends everything through this proxy and follows no redirect.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .proxy(reqwest::Proxy::all(&self.url).unwrap())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Every request passed on so far, in the order they arrived.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }
}

/// Passes one absolute-form request (`GET http://host:port/path HTTP/1.1`) on, whole,
/// and its answer back, whole. Bodies are buffered: the system under test answers JSON,
/// never an endless stream.
async fn forward(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (Some(scheme), Some(authority)) = (parts.uri.scheme_str(), parts.uri.authority()) else {
        return (StatusCode::BAD_REQUEST, "not a proxy request").into_response();
    };
    let index = {
        let mut log = shared.log.lock().unwrap();
        log.push(Exchange {
            method: parts.method.to_string(),
            origin: format!("{scheme}://{authority}"),
            path: parts.uri.path().to_owned(),
            status: 0,
            protocol_version: header(&parts.headers, "mcp-protocol-version"),
            challenge: None,
        });
        log.len() - 1
    };
    let record = |status: u16| shared.log.lock().unwrap()[index].status = status;
    let record_challenge = |headers: &HeaderMap| {
        shared.log.lock().unwrap()[index].challenge = header(headers, "www-authenticate")
    };

    let Ok(body) = to_bytes(body, MAX_BODY).await else {
        record(413);
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let answer = shared
        .upstream
        .request(parts.method, parts.uri.to_string())
        .headers(end_to_end(&parts.headers))
        .body(body)
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            record(502);
            return (StatusCode::BAD_GATEWAY, error.to_string()).into_response();
        }
    };
    let status = answer.status();
    record_challenge(answer.headers());
    let headers = end_to_end(answer.headers());
    let body = answer.bytes().await.unwrap_or_default();
    record(status.as_u16());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The value of the header `name`, when it is there and text.
fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// `headers` without the hop-by-hop ones, `Host` and `Content-Length`, which the next
/// hop sets again for its own connection and body.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP.iter().chain(&["host", "content-length"]) {
        kept.remove(*name);
    }
    kept
}
