//! Scope checks that answer with HTTP 403, not a JSON-RPC error inside a 200.
//!
//! The MCP authorization spec ("Scope challenge handling") asks for a 403 with an
//! `insufficient_scope` challenge naming the scopes the operation needs, so that a
//! client can step up. The tool a `tools/call` targets is only known from the
//! JSON-RPC body, so this layer reads the body (bounded), looks at the calls it holds,
//! and passes the same bytes on to rmcp untouched.

use std::borrow::Cow;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jwt_verify::Principal;
use serde::Deserialize;

use crate::app::AppState;
use crate::rejection::Rejection;
use crate::tools::{TOOLS, required_scope};

/// The largest JSON-RPC body accepted on `/mcp`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Only the fields needed to route a call; everything else is rmcp's to parse.
#[derive(Debug, Deserialize)]
struct JsonRpcCall<'a> {
    #[serde(borrow, default)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    params: Option<CallParams<'a>>,
}

#[derive(Debug, Deserialize)]
struct CallParams<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Envelope<'a> {
    #[serde(borrow)]
    One(JsonRpcCall<'a>),
    #[serde(borrow)]
    Batch(Vec<JsonRpcCall<'a>>),
}

pub async fn require_tool_scopes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if http_serve::is_request_body_timeout(&e) => {
            return Rejection::BodyTimeout.into_response_with(&state.resource_metadata_url);
        }
        Err(_) => {
            return Rejection::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
            .into_response_with(&state.resource_metadata_url);
        }
    };
    if let Some(principal) = parts.extensions.get::<std::sync::Arc<Principal>>()
        && let Some((tool, scope)) = first_unpermitted_call(&bytes, principal)
    {
        tracing::info!(sub = %principal.sub, tool = %tool, "tool call refused: insufficient scope");
        // The label comes from our own list: only known tools need a scope.
        if let Some((name, _)) = TOOLS.iter().find(|(name, _)| *name == tool) {
            state.metrics.tool_call(name, "insufficient_scope", None);
        }
        return Rejection::InsufficientScope {
            description: format!("the tool `{tool}` requires the scope {scope}"),
            scope: scope.to_owned(),
        }
        .into_response_with(&state.resource_metadata_url);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The first `tools/call` in the body whose tool needs a scope the principal lacks.
///
/// A body that is not JSON, or a call of an unknown tool, passes: rmcp answers those
/// with the JSON-RPC error the protocol defines.
fn first_unpermitted_call(body: &[u8], principal: &Principal) -> Option<(String, &'static str)> {
    let calls = match serde_json::from_slice::<Envelope<'_>>(body).ok()? {
        Envelope::One(call) => vec![call],
        Envelope::Batch(calls) => calls,
    };
    calls.into_iter().find_map(|call| {
        if call.method.as_deref() != Some("tools/call") {
            return None;
        }
        let name = call.params?.name?;
        let scope = required_scope(&name)??;
        (!principal.has_scope(scope)).then(|| (name.into_owned(), scope))
    })
}
