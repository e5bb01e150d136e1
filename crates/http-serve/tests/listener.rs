//! Issue 12, finding 2: every wait on a client is bounded. An in-process server on
//! 127.0.0.1:0 with short limits, driven over raw sockets so a test can be the slow or
//! silent client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::StatusCode;
use axum::routing::{get, post};
use http_serve::{ListenerLimits, is_request_body_timeout, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const SECOND: Duration = Duration::from_secs(1);

/// Limits that no test reaches unless it sets one low on purpose.
fn patient() -> ListenerLimits {
    ListenerLimits {
        header_read_timeout: Duration::from_secs(60),
        request_body_timeout: Duration::from_secs(60),
        max_connections: None,
        shutdown_grace: Duration::from_secs(60),
    }
}

/// `GET /` answers at once; `POST /body` reads the body, answering 408 if it came too
/// slowly; `GET /slow` takes 1.5 s.
fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route(
            "/body",
            post(|body: Body| async move {
                match to_bytes(body, 1 << 20).await {
                    Ok(bytes) => (StatusCode::OK, format!("{} bytes", bytes.len())),
                    Err(e) if is_request_body_timeout(&e) => {
                        (StatusCode::REQUEST_TIMEOUT, "too slow".to_owned())
                    }
                    Err(e) => (StatusCode::BAD_REQUEST, e.to_string()),
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "done"
            }),
        )
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: JoinHandle<()>,
}

impl Server {
    async fn start(limits: ListenerLimits) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(serve(listener, router(), limits, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            served,
        }
    }

    fn shut_down(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
    }
}

/// A connection that sent half a request head and nothing more.
async fn half_open(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    stream
}

/// Everything the server sends until it closes the connection, or a panic if it is
/// still open after `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut received)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("reading failed: {e}"),
        Err(_) => panic!(
            "the connection is still open after {within:?}; received so far: {:?}",
            String::from_utf8_lossy(&received)
        ),
    }
    String::from_utf8_lossy(&received).into_owned()
}

/// Reads one response to a request without a body, and returns its head and body.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    while !String::from_utf8_lossy(&received).contains("\r\n\r\n") {
        let n = tokio::time::timeout(5 * SECOND, stream.read(&mut buffer))
            .await
            .expect("a response within 5 s")
            .unwrap();
        assert!(n > 0, "closed before a response");
        received.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn finding_2_a_connection_that_never_finishes_its_head_is_closed_within_the_header_read_timeout()
 {
    let server = Server::start(ListenerLimits {
        header_read_timeout: SECOND,
        ..patient()
    })
    .await;
    let mut stream = half_open(server.addr).await;
    let started = Instant::now();
    read_until_closed(&mut stream, 3 * SECOND).await;
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn finding_2_a_kept_alive_connection_idle_for_the_header_read_timeout_is_closed() {
    let server = Server::start(ListenerLimits {
        header_read_timeout: SECOND,
        ..patient()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(!response.contains("connection: close"), "{response}");
    // hyper starts the head timer again after each response, so the header read
    // timeout is the keep-alive idle timeout too.
    read_until_closed(&mut stream, 3 * SECOND).await;
}

#[tokio::test]
async fn finding_2_a_body_still_arriving_at_the_request_body_timeout_is_cut_off() {
    let server = Server::start(ListenerLimits {
        request_body_timeout: SECOND,
        ..patient()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST /body HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, 3 * SECOND).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn finding_2_the_request_body_timeout_does_not_bound_the_handlers_work() {
    let server = Server::start(ListenerLimits {
        request_body_timeout: SECOND,
        ..patient()
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn finding_2_connections_beyond_the_cap_wait_until_one_ends_then_are_served() {
    let server = Server::start(ListenerLimits {
        header_read_timeout: SECOND,
        max_connections: NonZeroUsize::new(2),
        ..patient()
    })
    .await;
    let mut silent = [half_open(server.addr).await, half_open(server.addr).await];
    let started = Instant::now();
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut stream).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    // Served only once the two silent connections had taken their slots to the end.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    for stream in &mut silent {
        read_until_closed(stream, Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn finding_2_shutdown_closes_what_is_still_open_at_the_end_of_the_grace() {
    let mut server = Server::start(ListenerLimits {
        shutdown_grace: SECOND,
        ..patient()
    })
    .await;
    let mut stream = half_open(server.addr).await;
    // Let the server accept it before shutting down.
    tokio::time::sleep(Duration::from_millis(100)).await;
    server.shut_down();
    tokio::time::timeout(2 * SECOND, &mut server.served)
        .await
        .expect("serve returns within the grace plus a second")
        .unwrap();
    read_until_closed(&mut stream, Duration::from_millis(100)).await;
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_refuses_new_connections() {
    let mut server = Server::start(patient()).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.shut_down();
    let answer = read_until_closed(&mut stream, 5 * SECOND).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    tokio::time::timeout(SECOND, &mut server.served)
        .await
        .expect("serve returns once drained")
        .unwrap();
    assert!(TcpStream::connect(server.addr).await.is_err());
}
