//! Issue 12, finding 2, against the real binaries: both services bound every wait on a
//! client through their settings, survive running out of file descriptors, and exit on
//! SIGTERM however their clients behave. Each test runs once per service.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use obo_tests::process::{ServiceProcess, bin_dir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Clone, Copy)]
enum Service {
    McpServer,
    PrivateApi,
}

/// How a test starts a service: extra settings, and optionally an open-file limit.
struct Launch {
    env: &'static [(&'static str, &'static str)],
    max_open_files: Option<u32>,
}

impl Service {
    /// The service on a free port, ready, with just enough configuration to serve
    /// `/healthz`. The issuer is unreachable: no test here needs a token.
    async fn start(self, launch: &Launch) -> ServiceProcess {
        ServiceProcess::on_free_port("/healthz", Duration::from_secs(30), |port| {
            Ok(self.spawn(launch, port))
        })
        .await
        .unwrap()
    }

    fn spawn(self, launch: &Launch, port: u16) -> ServiceProcess {
        let base = format!("http://127.0.0.1:{port}");
        let issuer = "http://127.0.0.1:9/";
        let (name, mut env) = match self {
            Service::McpServer => (
                "mcp-server",
                BTreeMap::from([
                    ("AUTH0_DOMAIN", issuer),
                    ("AUTH0_AUDIENCE", "http://localhost:3001/"),
                    ("MCP_AUTH0_CLIENT_ID", "client"),
                    ("MCP_AUTH0_CLIENT_SECRET", "listener-test-secret"),
                    ("API_AUTH0_AUDIENCE", "http://localhost:8787/"),
                ]),
            ),
            Service::PrivateApi => (
                "private-api",
                BTreeMap::from([
                    ("AUTH0_DOMAIN", issuer),
                    ("API_AUTH0_AUDIENCE", "http://localhost:8787/"),
                ]),
            ),
        };
        env.extend(launch.env.iter().copied());
        let mut env: BTreeMap<String, String> = env
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        env.insert("PORT".into(), port.to_string());
        env.insert("API_BASE_URL".into(), base.clone());
        match launch.max_open_files {
            None => ServiceProcess::spawn(&bin_dir(), name, &base, &env),
            Some(limit) => {
                ServiceProcess::spawn_with_open_file_limit(&bin_dir(), name, &base, &env, limit)
            }
        }
        .unwrap()
    }
}

fn addr(service: &ServiceProcess) -> String {
    service.base_url().trim_start_matches("http://").to_owned()
}

/// A connection that sent half a request head and nothing more.
async fn half_open(service: &ServiceProcess) -> TcpStream {
    let mut stream = TcpStream::connect(addr(service)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    stream
}

/// Waits for the server to close `stream`; panics if it is still open after `within`.
async fn assert_closed_within(stream: &mut TcpStream, within: Duration, service: &ServiceProcess) {
    let mut rest = Vec::new();
    match tokio::time::timeout(within, stream.read_to_end(&mut rest)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Ok(Err(e)) => panic!("reading failed: {e}"),
        Err(_) => panic!(
            "the connection is still open after {within:?}; the service said:\n{}",
            service.log()
        ),
    }
}

async fn healthz(service: &ServiceProcess, timeout: Duration) -> reqwest::Result<u16> {
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", service.base_url()))
        .timeout(timeout)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

async fn a_half_open_connection_is_closed_within_the_header_read_timeout(service: Service) {
    let service = service
        .start(&Launch {
            env: &[("HTTP_HEADER_READ_TIMEOUT_SECS", "1")],
            max_open_files: None,
        })
        .await;
    let mut stream = half_open(&service).await;
    assert_closed_within(&mut stream, Duration::from_secs(3), &service).await;
}

#[tokio::test]
async fn finding_2_mcp_server_closes_a_half_open_connection_within_the_header_read_timeout() {
    a_half_open_connection_is_closed_within_the_header_read_timeout(Service::McpServer).await;
}

#[tokio::test]
async fn finding_2_private_api_closes_a_half_open_connection_within_the_header_read_timeout() {
    a_half_open_connection_is_closed_within_the_header_read_timeout(Service::PrivateApi).await;
}

async fn sigterm_with_a_half_open_connection_exits_within_the_grace(service: Service) {
    let mut service = service
        .start(&Launch {
            env: &[("SHUTDOWN_GRACE_SECS", "1")],
            max_open_files: None,
        })
        .await;
    let mut stream = half_open(&service).await;
    // Connections are accepted in order: once a later one is answered, the half-open
    // one is in the server's hands, not only in the kernel's queue.
    assert_eq!(
        healthz(&service, Duration::from_secs(5)).await.unwrap(),
        200
    );
    let status = service
        .terminate(Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("{e}; the service said:\n{}", service.log()));
    assert!(status.success(), "{status}; {}", service.log());
    assert_closed_within(&mut stream, Duration::from_millis(100), &service).await;
}

#[cfg(unix)]
#[tokio::test]
async fn finding_2_mcp_server_exits_on_sigterm_within_the_grace_despite_a_half_open_connection() {
    sigterm_with_a_half_open_connection_exits_within_the_grace(Service::McpServer).await;
}

#[cfg(unix)]
#[tokio::test]
async fn finding_2_private_api_exits_on_sigterm_within_the_grace_despite_a_half_open_connection() {
    sigterm_with_a_half_open_connection_exits_within_the_grace(Service::PrivateApi).await;
}

/// More half-open connections than the process has descriptors for: accepting fails
/// with `EMFILE` until they time out, and then a legitimate request is served.
#[cfg(unix)]
async fn a_legitimate_request_succeeds_once_half_open_connections_time_out(service: Service) {
    const HALF_OPEN: usize = 150;
    let service = service
        .start(&Launch {
            env: &[("HTTP_HEADER_READ_TIMEOUT_SECS", "1")],
            max_open_files: Some(64),
        })
        .await;
    let mut silent = Vec::with_capacity(HALF_OPEN);
    for _ in 0..HALF_OPEN {
        silent.push(half_open(&service).await);
    }
    let started = Instant::now();
    let answered = healthz(&service, Duration::from_secs(20)).await;
    assert!(
        matches!(answered, Ok(200)),
        "{answered:?} after {:?}; the service said:\n{}",
        started.elapsed(),
        service.log()
    );
    let log = service.log();
    assert!(log.contains("cannot accept connections"), "{log}");
    assert!(log.contains("accepting connections again"), "{log}");
}

#[cfg(unix)]
#[tokio::test]
async fn finding_2_mcp_server_serves_a_request_once_more_half_open_connections_than_descriptors_time_out()
 {
    a_legitimate_request_succeeds_once_half_open_connections_time_out(Service::McpServer).await;
}

#[cfg(unix)]
#[tokio::test]
async fn finding_2_private_api_serves_a_request_once_more_half_open_connections_than_descriptors_time_out()
 {
    a_legitimate_request_succeeds_once_half_open_connections_time_out(Service::PrivateApi).await;
}

/// The harness itself: tests run in parallel processes, so the free port a service was
/// told can be taken by another test's service before it binds it, and that one may
/// well answer `/healthz` with 200. Readiness must not be fooled: the error names the
/// taken port, so the harness starts again on another one.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_service_whose_port_another_process_took_is_never_taken_for_ready() {
    let squatter = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = squatter.local_addr().unwrap().port();
    let app = axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(squatter, app).await });

    for service in [Service::McpServer, Service::PrivateApi] {
        let launch = Launch {
            env: &[],
            max_open_files: None,
        };
        let mut process = service.spawn(&launch, port);
        let error = process
            .wait_ready("/healthz", Duration::from_secs(30))
            .await
            .expect_err("the squatter's 200 is not the service's");
        assert!(error.is_port_taken(), "{service:?}: {error}");
        assert!(
            error
                .to_string()
                .contains(&format!("another process holds its port {port}")),
            "{service:?}: {error}"
        );
    }
}
