//! Every bearer refusal of `/mcp`, whole: status, challenge, `Cache-Control:
//! no-store`, `Retry-After` and body, against the one table both servers answer by
//! (`obo_tests::refusal`; the private API's `tests/refusals.rs` reads the same).
//! The only differences the MCP server adds are `resource_metadata` (RFC 9728 §5.1)
//! and, in a 401, `scope` with its base scopes (`MCP_BASE_SCOPES`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Answer, Options, TestServer, tools_call};
use obo_tests::refusal::{
    MALFORMED_AUTHORIZATION, MALFORMED_TOKEN_DESCRIPTION, NOT_A_JWT_AUTHORIZATION, Refused,
};
use serde_json::json;

fn list() -> serde_json::Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
}

/// Every tool scope, sorted: the 401's `scope` when `MCP_BASE_SCOPES` is unset.
const BASE_SCOPES: &str = "tool:greet tool:whoami";

fn refused(answer: Answer) -> Refused {
    Refused::from_parts(answer.status, &answer.headers, answer.body)
}

#[tokio::test]
async fn rfc6750_3_every_refusal_is_the_shared_one_plus_resource_metadata() {
    let server = TestServer::start(Options::default()).await;
    let metadata = server.resource_metadata_url();
    let metadata = Some(metadata.as_str());
    let http = server.http();

    let answer = http.post(&[], list()).await;
    assert_eq!(
        refused(answer),
        Refused::missing_token(metadata).with_scope(BASE_SCOPES)
    );

    let answer = http.post(&["Basic dXNlcjpwYXNz"], list()).await;
    assert_eq!(
        refused(answer),
        Refused::missing_token(metadata).with_scope(BASE_SCOPES)
    );

    let answer = http.post(&[MALFORMED_AUTHORIZATION], list()).await;
    assert_eq!(refused(answer), Refused::malformed_header(metadata));

    let answer = http.post(&[NOT_A_JWT_AUTHORIZATION], list()).await;
    assert_eq!(
        refused(answer),
        Refused::invalid_token(MALFORMED_TOKEN_DESCRIPTION, metadata).with_scope(BASE_SCOPES)
    );

    let token = server.no_scope_token("auth0|alice");
    let answer = http
        .post(
            &[&format!("Bearer {token}")],
            tools_call("greet", json!({})),
        )
        .await;
    assert_eq!(
        refused(answer),
        Refused::insufficient_scope(
            "tool:greet",
            "the tool `greet` requires the scope tool:greet",
            metadata
        )
    );
}

#[tokio::test]
async fn jwks_unavailable_is_the_shared_503() {
    let server = TestServer::start(Options::default()).await;
    server.tenant.jwks_down(true);
    let token = server.full_token("auth0|alice");
    let answer = server
        .http()
        .post(&[&format!("Bearer {token}")], list())
        .await;
    assert_eq!(refused(answer), Refused::keys_unavailable());
}
