//! Scope checks that answer with HTTP 403, not a JSON-RPC error inside a 200.
//!
//! The MCP authorization spec ("Scope challenge handling") asks for a 403 with an
//! `insufficient_scope` challenge naming the scopes the operation needs, so that a
//! client can step up. The tool a `tools/call` targets is only known from the
//! JSON-RPC body, so this layer reads the body (bounded), reads only `method` and
//! `params.name` of it, and passes the same bytes on to rmcp untouched. A JSON-RPC
//! batch is answered here, with the JSON-RPC error the protocol defines.
//!
//! What the challenge's `scope` names follows the protocol version the client speaks
//! (`MCP-Protocol-Version`; docs/decisions.md, "Step-up follows the protocol
//! version"): before 2026-07-28 clients replace their scopes with it, so it names the
//! scopes already granted as well as those needed; from 2026-07-28 on clients add it
//! to what they have, so it names only what the operation needs (RFC 6750 §3.1).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jwt_verify::Principal;
use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::rejection::Rejection;
use crate::request_id;
use crate::state::AppState;
use crate::telemetry::RequestLog;
use crate::toolbox::missing_scopes;

/// The largest JSON-RPC body accepted on `/mcp`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The JSON-RPC error a batch gets (HTTP 400): the MCP revision this server speaks
/// (2025-06-18 and later) removed batching, and answering it with rmcp's 415 or
/// running part of it would both mislead the client.
pub const BATCH_ERROR_MESSAGE: &str = "Invalid Request: JSON-RPC batches are not supported by this protocol version (MCP 2025-06-18 and later)";

/// The header in which an MCP client names the protocol version it speaks.
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

/// An MCP protocol version: a date, `YYYY-MM-DD`, compared as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProtocolVersion(time::Date);

impl ProtocolVersion {
    /// The oldest version this server speaks: what a request without the header (or
    /// with one that is not a date) is taken to speak.
    pub const OLDEST: Self = Self(time::macros::date!(2025 - 06 - 18));
    /// The version from which clients add the challenge's scopes to the ones they
    /// hold (SEP-2350), so the challenge names only what is needed.
    pub const CLIENT_UNIONS_SCOPES: Self = Self(time::macros::date!(2026 - 07 - 28));

    /// A `YYYY-MM-DD` calendar date; `None` for anything else.
    pub fn parse(value: &str) -> Option<Self> {
        const FORMAT: &[time::format_description::BorrowedFormatItem<'_>] =
            time::macros::format_description!("[year]-[month]-[day]");
        // `[year]` would also take a sign, or more digits than four.
        if value.len() != 10 || !value.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        time::Date::parse(value, FORMAT).ok().map(Self)
    }

    /// The version a request speaks: its `MCP-Protocol-Version`, or [`Self::OLDEST`]
    /// when there is none or it is not a date.
    pub fn of_request(headers: &HeaderMap) -> Self {
        headers
            .get(PROTOCOL_VERSION_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| Self::parse(value.trim()))
            .unwrap_or(Self::OLDEST)
    }
}

/// The `scope` of the 403 challenge: before 2026-07-28, the granted scopes and the
/// needed ones together (those clients replace their scopes with it); from then on,
/// only the needed ones. Sorted and without duplicates.
pub fn challenge_scopes<'a>(
    version: ProtocolVersion,
    granted: impl IntoIterator<Item = &'a str>,
    needed: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut scopes: BTreeSet<&str> = needed.into_iter().collect();
    if version < ProtocolVersion::CLIENT_UNIONS_SCOPES {
        scopes.extend(granted);
    }
    scopes.into_iter().collect()
}

/// Only the fields needed to route a call; everything else is rmcp's to parse.
///
/// A plain struct, read straight from the bytes: serde skips the other fields (and
/// `params.arguments`, however large) without building anything, and the strings are
/// borrowed unless they hold escapes. An `#[serde(untagged)]` enum, which this was,
/// first buffers the whole body into serde's `Content` tree: a full parse before
/// rmcp's own (docs/performance.md, "One parse per request").
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

/// Whether the body is a JSON-RPC batch: its first non-whitespace byte is `[`.
pub fn is_batch(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .is_some_and(|b| *b == b'[')
}

/// The tool a single JSON-RPC `tools/call` names; `None` for any other body (another
/// method, no name, not JSON). Reads only `method` and `params.name`.
pub fn called_tool(body: &[u8]) -> Option<Cow<'_, str>> {
    let call = serde_json::from_slice::<JsonRpcCall<'_>>(body).ok()?;
    if call.method.as_deref() != Some("tools/call") {
        return None;
    }
    call.params?.name
}

/// HTTP 400 with the JSON-RPC error `-32600` (Invalid Request) and a null id: the id
/// of a batch's calls cannot stand for the whole.
fn batch_refused() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {"code": -32600, "message": BATCH_ERROR_MESSAGE},
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

pub async fn require_tool_scopes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(e) if http_serve::is_request_body_timeout(&e) => {
            return Rejection::BodyTimeout
                .into_response_with(&state.resource_metadata_url, &state.base_scopes);
        }
        Err(_) => {
            return Rejection::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
            .into_response_with(&state.resource_metadata_url, &state.base_scopes);
        }
    };
    if is_batch(&bytes) {
        RequestLog::current().0.record("outcome", "batch_refused");
        return batch_refused();
    }
    if let Some(principal) = parts.extensions.get::<Arc<Principal>>()
        && let Some(tool) = called_tool(&bytes)
        && let Some((label, needed)) = state.scopes.get(&tool)
        && let missing = missing_scopes(needed, principal)
        && !missing.is_empty()
    {
        let scope = missing.join(" ");
        let challenge = challenge_scopes(
            ProtocolVersion::of_request(&parts.headers),
            principal.scopes.iter().map(String::as_str),
            needed.iter().map(String::as_str),
        )
        .join(" ");
        tracing::info!(sub = %principal.sub, tool = %tool, "tool call refused: insufficient scope");
        let request_id = request_id::of(&parts.headers);
        state.delegation.audit().emit(
            &AuditEvent::new(principal, request_id, label, needed).ended(
                "insufficient_scope",
                Vec::new(),
                started.elapsed(),
            ),
        );
        RequestLog::current().tool_call(label, "insufficient_scope");
        // The label is the router's name of the tool, never the client's text.
        state
            .metrics
            .tool_call(label.clone(), "insufficient_scope", None);
        return Rejection::InsufficientScope {
            description: format!("the tool `{tool}` requires the scope {scope}"),
            scope: challenge,
        }
        .into_response_with(&state.resource_metadata_url, &state.base_scopes);
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(value: &str) -> ProtocolVersion {
        ProtocolVersion::parse(value).unwrap()
    }

    #[test]
    fn protocol_versions_are_dates_compared_as_dates() {
        assert!(version("2025-06-18") < version("2025-11-25"));
        assert!(version("2025-11-25") < ProtocolVersion::CLIENT_UNIONS_SCOPES);
        assert_eq!(version("2026-07-28"), ProtocolVersion::CLIENT_UNIONS_SCOPES);
        assert!(version("2027-01-01") > ProtocolVersion::CLIENT_UNIONS_SCOPES);
        for bad in [
            "",
            "2026-7-28",
            "2026-07-28x",
            "2026/07/28",
            "2026-13-01",
            "2026-00-10",
            "2026-02-30",
            "-2026-07-2",
            "２０２６-07-28",
            "+026-07-28",
            "latest",
        ] {
            assert_eq!(ProtocolVersion::parse(bad), None, "{bad}");
        }
        let mut headers = HeaderMap::new();
        assert_eq!(
            ProtocolVersion::of_request(&headers),
            ProtocolVersion::OLDEST
        );
        headers.insert(PROTOCOL_VERSION_HEADER, "draft".parse().unwrap());
        assert_eq!(
            ProtocolVersion::of_request(&headers),
            ProtocolVersion::OLDEST
        );
        headers.insert(PROTOCOL_VERSION_HEADER, "2026-07-28".parse().unwrap());
        assert_eq!(ProtocolVersion::of_request(&headers), version("2026-07-28"));
    }

    #[test]
    fn older_versions_get_the_union_and_newer_ones_what_is_needed() {
        let granted = ["tool:whoami", "openid"];
        let needed = ["tool:greet", "tool:whoami"];
        assert_eq!(
            challenge_scopes(version("2025-11-25"), granted, needed),
            ["openid", "tool:greet", "tool:whoami"]
        );
        assert_eq!(
            challenge_scopes(version("2026-07-28"), granted, needed),
            ["tool:greet", "tool:whoami"]
        );
    }

    #[test]
    fn a_batch_is_an_array_after_any_whitespace() {
        assert!(is_batch(b"[]"));
        assert!(is_batch(b" \r\n\t[{\"jsonrpc\":\"2.0\"}]"));
        assert!(!is_batch(b"{\"method\":\"[\"}"));
        assert!(!is_batch(b""));
        assert!(!is_batch(b"   "));
    }

    #[test]
    fn only_a_tools_call_names_a_tool() {
        let call = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"name":"x","deep":[1,{"a":null}]},"name":"greet"}}"#;
        assert_eq!(called_tool(call).as_deref(), Some("greet"));
        let escaped = br#"{"method":"tools\/call","params":{"name":"gr\u0065et"}}"#;
        assert_eq!(called_tool(escaped).as_deref(), Some("greet"));
        assert_eq!(
            called_tool(br#"{"method":"tools/list","params":{"name":"greet"}}"#),
            None
        );
        assert_eq!(called_tool(br#"{"method":"tools/call","params":{}}"#), None);
        assert_eq!(called_tool(br#"{"method":"tools/call"}"#), None);
        assert_eq!(called_tool(b"not json"), None);
        assert_eq!(
            called_tool(br#"[{"method":"tools/call","params":{"name":"greet"}}]"#),
            None
        );
    }
}
