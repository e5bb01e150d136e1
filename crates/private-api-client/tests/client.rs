//! The client against real HTTP peers: every status mapping, URL joining, body limits,
//! redirects and the rule that the token never shows up in an error.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use private_api_client::{
    Actor, Answer, ApiError, ClientOptions, ConfigError, PrivateApiClient, PrivateScope,
};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str =
    "eyJhbGciOiJSUzI1NiIsImtpZCI6InQifQ.eyJzdWIiOiJhdXRoMHwxMjMifQ.c2VjcmV0LXNpZ25hdHVyZQ";

fn ok_body() -> serde_json::Value {
    json!({
        "msg": "Hello from upstream API",
        "sub": "auth0|123",
        "scopes": ["read:private", "openid"],
        "actor": {"sub": "mcp-client"},
        "delegation_chain": [{"sub": "mcp-client"}, {"sub": "first-hop"}],
    })
}

/// Every error is checked here: neither `Display` nor `Debug` may reveal the token
/// or any recognisable piece of it.
fn assert_no_token(err: &ApiError) {
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(TOKEN), "token in {text}");
        assert!(!text.contains("c2VjcmV0"), "token signature in {text}");
    }
}

async fn call(base: &str) -> Result<PrivateScope, ApiError> {
    PrivateApiClient::new(base)
        .unwrap()
        .private_scope(TOKEN)
        .await
}

async fn call_err(base: &str) -> ApiError {
    let err = call(base).await.unwrap_err();
    assert_no_token(&err);
    err
}

#[tokio::test]
async fn sends_exactly_bearer_token_and_parses_the_body() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/private-scope"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("accept", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(1)
        .mount(&server)
        .await;

    let scope = call(&server.uri()).await.unwrap();
    assert_eq!(scope.msg, "Hello from upstream API");
    assert_eq!(scope.sub, "auth0|123");
    assert_eq!(scope.scopes, ["read:private", "openid"]);
    let actor = |sub: &str| Actor { sub: sub.into() };
    assert_eq!(scope.actor, Some(actor("mcp-client")));
    assert_eq!(
        scope.delegation_chain,
        [actor("mcp-client"), actor("first-hop")]
    );
    assert_eq!(scope.org_id, None);
    let requests = server.received_requests().await.unwrap();
    let auth: Vec<_> = requests[0]
        .headers
        .get_all("authorization")
        .iter()
        .collect();
    assert_eq!(auth.len(), 1, "exactly one Authorization header");
    assert_eq!(auth[0], format!("Bearer {TOKEN}").as_str());
}

#[tokio::test]
async fn an_answer_keeps_the_exact_success_status() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/orders"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .expect(2)
        .mount(&server)
        .await;
    let client = PrivateApiClient::new(&format!("{}/v1", server.uri())).unwrap();
    let order = json!({"item": "book"});
    let answer: Answer<serde_json::Value> = client
        .send_answer(reqwest::Method::POST, "orders", &order, TOKEN)
        .await
        .unwrap();
    assert_eq!(answer.status, 201);
    assert_eq!(answer.body, json!({"id": 7}));
    // send_json is the same call without the status.
    let body: serde_json::Value = client
        .send_json(reqwest::Method::POST, "orders", &order, TOKEN)
        .await
        .unwrap();
    assert_eq!(body, json!({"id": 7}));
}

#[tokio::test]
async fn a_direct_token_has_no_actor() {
    let server = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "msg": "Hello from upstream API", "sub": "u", "scopes": [], "actor": null,
            "delegation_chain": [], "future_field": 1
        })))
        .mount(&server)
        .await;
    let scope = call(&server.uri()).await.unwrap();
    assert_eq!(scope.actor, None);
    assert!(scope.delegation_chain.is_empty());
}

#[tokio::test]
async fn base_url_prefix_is_kept_with_or_without_trailing_slash() {
    let server = MockServer::start().await;
    Mock::given(path("/prefix/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(3)
        .mount(&server)
        .await;
    let uri = server.uri();
    for base in [
        format!("{uri}/prefix"),
        format!("{uri}/prefix/"),
        format!("{uri}/prefix//"),
    ] {
        let client = PrivateApiClient::new(&base).unwrap();
        assert_eq!(
            client.endpoint().as_str(),
            format!("{uri}/prefix/api/private-scope")
        );
        client.private_scope(TOKEN).await.unwrap();
    }
    for base in [uri.clone(), format!("{uri}/")] {
        assert_eq!(
            PrivateApiClient::new(&base).unwrap().endpoint().as_str(),
            format!("{uri}/api/private-scope")
        );
    }
}

#[tokio::test]
async fn bad_base_urls_are_refused() {
    for base in [
        "ftp://h/",
        "http://h/?q=1",
        "http://h/#f",
        "http://user:pw@h/",
        "h:8787",
        "",
    ] {
        assert!(PrivateApiClient::new(base).is_err(), "{base:?}");
    }
}

#[test]
fn finding_6_plain_http_off_loopback_is_refused_unless_allowed() {
    let allowed = ClientOptions::default().with_allow_plain_http(true);
    for base in [
        "http://api.example.com/",
        "http://10.0.0.5:8787",
        "http://127.0.0.1.nip.io/",
    ] {
        let err = PrivateApiClient::new(base).unwrap_err();
        assert!(
            matches!(err, ConfigError::PlainHttp { .. }),
            "{base}: {err:?}"
        );
        assert!(err.to_string().contains("use https"), "{err}");
        let err = PrivateApiClient::with_http_client(base, reqwest::Client::new()).unwrap_err();
        assert!(
            matches!(err, ConfigError::PlainHttp { .. }),
            "{base}: {err:?}"
        );
        assert!(
            PrivateApiClient::with_options(base, allowed.clone()).is_ok(),
            "{base}"
        );
    }
    for base in [
        "http://127.0.0.1:8787",
        "http://localhost:8787/",
        "http://[::1]:8787",
        "https://api.example.com/",
    ] {
        assert!(PrivateApiClient::new(base).is_ok(), "{base}");
    }
}

#[tokio::test]
async fn rfc6750_401_is_unauthorized_with_the_challenge() {
    let server = MockServer::start().await;
    let challenge = r#"Bearer error="invalid_token", error_description="token expired""#;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", challenge)
                .set_body_json(json!({"error": "invalid_token"})),
        )
        .mount(&server)
        .await;
    let err = call_err(&server.uri()).await;
    assert!(err.is_unauthorized());
    assert_eq!(
        err,
        ApiError::Unauthorized {
            www_authenticate: Some(challenge.into())
        }
    );
    assert_eq!(err.kind(), "unauthorized");
    assert_eq!(err.status_label(), "401");
}

#[tokio::test]
async fn a_401_challenge_echoing_the_token_is_scrubbed() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(401).insert_header(
            "www-authenticate",
            format!(r#"Bearer error="invalid_token", error_description="bad {TOKEN}""#).as_str(),
        ))
        .mount(&server)
        .await;
    let err = call_err(&server.uri()).await;
    let ApiError::Unauthorized {
        www_authenticate: Some(w),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(w.contains("[redacted]"));
}

#[tokio::test]
async fn rfc6750_403_insufficient_scope_reports_the_scope() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(403).insert_header(
            "www-authenticate",
            r#"Bearer error="insufficient_scope", scope="read:private \"x\"", error_description="needs read:private""#,
        ))
        .mount(&server)
        .await;
    let err = call_err(&server.uri()).await;
    assert_eq!(
        err,
        ApiError::InsufficientScope {
            scope: Some(r#"read:private "x""#.into())
        }
    );
    assert!(!err.is_unauthorized());
    assert_eq!(err.status_label(), "403");
}

#[tokio::test]
async fn a_403_without_a_bearer_challenge_is_a_status() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(403).set_body_string("forbidden by WAF"))
        .mount(&server)
        .await;
    assert_eq!(
        call_err(&server.uri()).await,
        ApiError::Status {
            status: 403,
            body_excerpt: "forbidden by WAF".into()
        }
    );
}

#[tokio::test]
async fn other_statuses_keep_a_bounded_scrubbed_excerpt() {
    let server = MockServer::start().await;
    let body = format!(
        "{{\"error\":\"boom\",\"echo\":\"Bearer {TOKEN}\"}}\n\u{1b}[2J{}",
        "z".repeat(100_000)
    );
    Mock::given(any())
        .respond_with(ResponseTemplate::new(502).set_body_string(body))
        .mount(&server)
        .await;
    let err = call_err(&server.uri()).await;
    let ApiError::Status {
        status,
        ref body_excerpt,
    } = err
    else {
        panic!("{err:?}")
    };
    assert_eq!(status, 502);
    assert_eq!(body_excerpt.chars().count(), 256);
    assert!(body_excerpt.starts_with(r#"{"error":"boom","echo":"Bearer [redacted]"}"#));
    assert!(!body_excerpt.chars().any(char::is_control));
    assert!(err.is_retryable());
    assert_eq!(err.status_label(), "5xx");
}

#[tokio::test]
async fn a_success_that_is_not_the_expected_json_is_an_invalid_response() {
    let server = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>hello</html>"))
        .mount(&server)
        .await;
    assert!(matches!(
        call_err(&server.uri()).await,
        ApiError::InvalidResponse(_)
    ));

    let server = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"msg": TOKEN, "sub": 42})))
        .mount(&server)
        .await;
    let err = call_err(&server.uri()).await;
    assert!(matches!(err, ApiError::InvalidResponse(_)), "{err:?}");
    assert_eq!(err.kind(), "invalid_response");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_by_content_length() {
    let server = MockServer::start().await;
    let mut big = ok_body();
    big["msg"] = json!("m".repeat(ClientOptions::DEFAULT_MAX_BODY_BYTES));
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_json(big))
        .mount(&server)
        .await;
    assert_eq!(
        call_err(&server.uri()).await,
        ApiError::BodyTooLarge { limit: 1024 * 1024 }
    );

    // A smaller limit, and a body just at it, which is accepted.
    let body = serde_json::to_vec(&ok_body()).unwrap();
    let server = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
        .mount(&server)
        .await;
    let client = PrivateApiClient::new(&server.uri()).unwrap();
    let exact = client.clone().with_max_body_bytes(body.len());
    exact.private_scope(TOKEN).await.unwrap();
    let small = client.with_max_body_bytes(body.len() - 1);
    assert_eq!(
        small.private_scope(TOKEN).await.unwrap_err(),
        ApiError::BodyTooLarge {
            limit: body.len() - 1
        }
    );
}

/// A server that answers every connection with a chunked (no `Content-Length`) 200
/// whose body never ends, until the peer hangs up. Returns its base URL and a handle
/// reporting how many body bytes it managed to write.
async fn endless_chunked_server() -> (String, tokio::task::JoinHandle<usize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 4096];
        let _ = socket.read(&mut buf).await.unwrap();
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            .await
            .unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
        let mut written = 0usize;
        // Stop on our own after 64 MiB so a broken client cannot hang the test.
        while written < 64 * 1024 * 1024 {
            if socket.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
            written += 16 * 1024;
        }
        written
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_while_streaming() {
    let (base, server) = endless_chunked_server().await;
    let err = call_err(&base).await;
    assert_eq!(err, ApiError::BodyTooLarge { limit: 1024 * 1024 });
    assert_eq!(err.kind(), "body_too_large");
    // The client hung up soon after the limit rather than reading everything.
    let written = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        written < 64 * 1024 * 1024,
        "the client read the whole stream"
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(307).insert_header(
            "location",
            format!("{}/api/private-scope", elsewhere.uri()).as_str(),
        ))
        .mount(&api)
        .await;

    let err = call_err(&api.uri()).await;
    assert!(
        matches!(err, ApiError::Status { status: 307, .. }),
        "{err:?}"
    );
    assert_eq!(err.status_label(), "3xx");
    assert!(elsewhere.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed_with_the_token() {
    let api = MockServer::start().await;
    Mock::given(path("/api/private-scope"))
        .respond_with(ResponseTemplate::new(308).insert_header("location", "/v2/private-scope"))
        .mount(&api)
        .await;
    Mock::given(path("/v2/private-scope"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(1)
        .mount(&api)
        .await;
    call(&api.uri()).await.unwrap();
}

#[tokio::test]
async fn a_caller_client_that_follows_redirects_still_leaks_nothing() {
    let elsewhere = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .mount(&elsewhere)
        .await;
    let api = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header(
            "location",
            format!("{}/api/private-scope", elsewhere.uri()).as_str(),
        ))
        .mount(&api)
        .await;

    // reqwest's default policy follows cross-origin redirects.
    let client = PrivateApiClient::with_http_client(&api.uri(), reqwest::Client::new()).unwrap();
    let err = client.private_scope(TOKEN).await.unwrap_err();
    assert_no_token(&err);
    assert!(matches!(err, ApiError::InvalidResponse(_)), "{err:?}");
    for request in elsewhere.received_requests().await.unwrap() {
        assert!(request.headers.get("authorization").is_none());
    }
}

#[tokio::test]
async fn a_slow_api_is_a_timeout() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(ok_body())
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let options = ClientOptions::default().with_timeout(Duration::from_millis(200));
    let client = PrivateApiClient::with_options(&server.uri(), options).unwrap();
    let err = client.private_scope(TOKEN).await.unwrap_err();
    assert_no_token(&err);
    assert_eq!(err, ApiError::Timeout);
    assert!(err.is_retryable());
    assert_eq!(err.status_label(), "timeout");
}

#[tokio::test]
async fn an_unreachable_api_is_a_transport_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = call_err(&format!("http://{addr}")).await;
    let ApiError::Transport(ref message) = err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("connection failed"), "{message}");
    assert!(!message.contains("private-scope"), "no URL: {message}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_token_that_is_not_a_b64token_is_never_sent() {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_body()))
        .expect(0)
        .mount(&server)
        .await;
    let client = PrivateApiClient::new(&server.uri()).unwrap();
    for bad in [
        "",
        " ",
        "Bearer abc",
        "abc\r\nX-Injected: 1",
        " abc",
        "abc ",
    ] {
        assert_eq!(
            client.private_scope(bad).await.unwrap_err(),
            ApiError::InvalidBearer
        );
    }
}

#[tokio::test]
async fn the_client_debug_holds_no_token() {
    let client = PrivateApiClient::new("http://127.0.0.1:1/p").unwrap();
    let _ = client.private_scope(TOKEN).await;
    assert!(!format!("{client:?}").contains(TOKEN));
}
