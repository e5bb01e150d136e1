//! CORS for the endpoints a browser-based MCP client calls itself (the MCP Inspector's
//! UI): discovery, JWKS, registration, the token endpoint and revocation. Auth0 answers
//! CORS for an application's allowed web origins; the tenant does for
//! [`TenantConfig::allowed_origins`](crate::TenantConfig::allowed_origins).
//!
//! An origin not listed gets no `Access-Control-*` header at all, so the browser keeps
//! the answer from the page. `/authorize` is not a CORS endpoint: the browser navigates
//! to it.

use std::sync::Arc;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::state::State;

/// What the SDKs send beyond the CORS-safelisted headers: JSON bodies, HTTP Basic, and
/// the TypeScript SDK's `MCP-Protocol-Version` on discovery requests.
const ALLOWED_HEADERS: &str = "content-type, authorization, mcp-protocol-version";
/// How long a browser may cache a preflight answer, in seconds.
const MAX_AGE: &str = "600";

/// Wraps an endpoint's responder: its answers (refusals included, so that the page can
/// read the error) carry `Access-Control-Allow-Origin` for an allowed `Origin`.
pub(crate) struct Cors<R> {
    state: Arc<State>,
    inner: R,
}

impl<R> Cors<R> {
    pub(crate) fn new(state: &Arc<State>, inner: R) -> Self {
        Self {
            state: Arc::clone(state),
            inner,
        }
    }
}

impl<R: Respond> Respond for Cors<R> {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        with_origin(&self.state, request, self.inner.respond(request))
    }
}

/// Answers the preflight `OPTIONS` request of one path whose endpoint takes `methods`.
struct Preflight {
    state: Arc<State>,
    methods: &'static str,
}

impl Respond for Preflight {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let allow = format!("{}, OPTIONS", self.methods);
        let mut response = ResponseTemplate::new(204).insert_header("allow", allow.as_str());
        if allowed_origin(&self.state, request).is_some() {
            response = response
                .insert_header("access-control-allow-methods", self.methods)
                .insert_header("access-control-allow-headers", ALLOWED_HEADERS)
                .insert_header("access-control-max-age", MAX_AGE);
        }
        with_origin(&self.state, request, response)
    }
}

/// Mounts the preflight answer for `route`, whose endpoint takes `methods`
/// (`"GET"`, `"POST"`).
pub(crate) async fn mount_preflight(
    server: &MockServer,
    state: &Arc<State>,
    route: &str,
    methods: &'static str,
) {
    Mock::given(method("OPTIONS"))
        .and(path(route))
        .respond_with(Preflight {
            state: Arc::clone(state),
            methods,
        })
        .mount(server)
        .await;
}

/// Adds `Access-Control-Allow-Origin` for an allowed origin. `Vary: Origin` goes on
/// every answer, allowed or not, so that a cache never serves one origin's answer to
/// another (Fetch standard, CORS protocol and HTTP caches).
fn with_origin(state: &State, request: &Request, response: ResponseTemplate) -> ResponseTemplate {
    let response = response.append_header("vary", "origin");
    match allowed_origin(state, request) {
        Some(origin) => response.insert_header("access-control-allow-origin", origin),
        None => response,
    }
}

/// The request's `Origin`, if it is exactly one of the allowed origins.
fn allowed_origin<'a>(state: &State, request: &'a Request) -> Option<&'a str> {
    let origin = request.headers.get("origin")?.to_str().ok()?;
    state
        .config
        .allowed_origins
        .iter()
        .any(|allowed| allowed == origin)
        .then_some(origin)
}
