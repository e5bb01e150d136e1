//! Issue 12, finding 2, on `/mcp`: a tool call whose body never finishes arriving is
//! answered 408 once `HTTP_REQUEST_BODY_TIMEOUT_SECS` has passed, and the connection
//! closed, instead of holding the server's task and descriptor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Options, Prepared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn finding_2_a_tool_call_whose_body_stops_arriving_gets_408_at_the_request_body_timeout() {
    let mut prepared = Prepared::new(&Options::default()).await;
    prepared.reconfigure(|args| args.listener.http_request_body_timeout_secs = "1".into());
    let token = prepared.tenant.token_for("auth0|alice", &["tool:greet"]);
    let addr = prepared.addr;
    common::serve(prepared.settings, prepared.listener, std::future::pending());

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
         Content-Length: 1000\r\n\r\n{{\"jsonrpc\":\"2.0\","
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed within the body timeout plus two seconds")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("the request body did not arrive in time"),
        "{answer}"
    );
}
