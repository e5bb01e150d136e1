//! Invariant 4: a whole run's logs, captured at TRACE, hold no token, no client secret
//! and no `Authorization` value. Its own test binary, so the global subscriber sees only
//! this test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Options, TestServer, mount_api_unauthorized, tool_text};
use obo_tests::tenant::Fault;
use serde_json::json;

#[tokio::test]
async fn invariant_4_logs_of_a_whole_run_contain_no_token_secret_or_authorization_value() {
    let logs = common::logs::capture();
    let server = TestServer::start(Options::default()).await;
    let http = server.http();
    let alice = server.full_token("auth0|alice");
    let bob = server.full_token("auth0|bob");
    let expired = server.tenant.sign_user_token(
        &server
            .tenant
            .user_token("auth0|carol")
            .issued_ago(7200)
            .expires_in(-3600),
    );
    let narrow = server.token("auth0|dave", &["tool:whoami"]);

    // whoami, and get_datetime, which needs no scope but is logged all the same
    let (text, is_error) = tool_text(&http.call_tool(Some(&alice), "whoami", json!({})).await);
    assert!(!is_error, "{text}");
    let (text, is_error) = tool_text(
        &http
            .call_tool(Some(&alice), "get_datetime", json!({}))
            .await,
    );
    assert!(!is_error, "{text}");
    // greet, with an exchange, then from the cache
    for _ in 0..2 {
        let (text, is_error) = tool_text(&http.call_tool(Some(&alice), "greet", json!({})).await);
        assert!(!is_error, "{text}");
    }
    // a failing exchange
    server.tenant.inject(
        Fault::OAuthError {
            status: 403,
            error: "access_denied".into(),
            description: "no grant".into(),
        },
        Some(1),
    );
    let (_, is_error) = tool_text(&http.call_tool(Some(&bob), "greet", json!({})).await);
    assert!(is_error);
    // the API refusing a token once: invalidate and exchange again
    mount_api_unauthorized(&server.api, Some(1)).await;
    let (text, is_error) = tool_text(&http.call_tool(Some(&bob), "greet", json!({})).await);
    assert!(!is_error, "{text}");
    // 401s: an expired token, a malformed one, none at all; a 400; a 403
    assert_eq!(
        http.call_tool(Some(&expired), "whoami", json!({}))
            .await
            .status,
        401
    );
    assert_eq!(
        http.post(
            &["Bearer a.b.c"],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        )
        .await
        .status,
        401
    );
    assert_eq!(http.call_tool(None, "whoami", json!({})).await.status, 401);
    let alice_bearer = format!("Bearer {alice}");
    assert_eq!(
        http.post(
            &[&alice_bearer, &alice_bearer],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        )
        .await
        .status,
        400
    );
    assert_eq!(
        http.call_tool(Some(&narrow), "greet", json!({}))
            .await
            .status,
        403
    );

    let exchanged: Vec<String> = server
        .api_authorizations()
        .await
        .iter()
        .map(|v| v.strip_prefix("Bearer ").unwrap().to_owned())
        .collect();
    assert_eq!(
        exchanged.len(),
        4,
        "alice twice, bob twice (401, then fresh)"
    );
    assert_eq!(server.tenant.exchanges(), 3);

    let captured = logs.contents();
    // It did capture the run: the access lines, with who called what.
    assert!(!captured.is_empty());
    for needle in [
        "finished processing request",
        "sub=auth0|alice",
        "tool=\"whoami\"",
        "tool=\"greet\"",
        "tool=\"get_datetime\"",
        "sub=auth0|bob",
        "token_from_cache=true",
        "request to /mcp refused",
        // the failed exchange's kind, from auth0-obo's typed error
        "outcome=\"access_denied\"",
    ] {
        assert!(
            captured.contains(needle),
            "{needle:?} not logged:\n{captured}"
        );
    }

    let mut secrets: Vec<(&str, String)> = vec![
        ("alice's token", alice.clone()),
        ("bob's token", bob.clone()),
        ("the expired token", expired.clone()),
        ("dave's token", narrow.clone()),
        (
            "the client secret",
            server.tenant.client_secret().to_owned(),
        ),
    ];
    for token in &exchanged {
        secrets.push(("an exchanged token", token.clone()));
    }
    for (what, secret) in &secrets {
        assert!(!captured.contains(secret.as_str()), "{what} was logged");
        // Nor any of its parts: a signature alone is still a leak.
        for part in secret.split('.').filter(|p| p.len() > 20) {
            assert!(!captured.contains(part), "part of {what} was logged");
        }
    }
    assert!(!captured.contains("Bearer "), "a Bearer value was logged");
    assert!(!captured.contains("eyJ"), "something JWT-shaped was logged");
    assert!(
        !captured.to_ascii_lowercase().contains("authorization:"),
        "an Authorization header was logged"
    );
}
