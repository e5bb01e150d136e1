//! The floors: the least an endpoint can do on this machine, each a bare axum handler
//! answering a fixed JSON-RPC body shaped like `get_datetime`'s answer, so that the load
//! generator checks it the same way.
//!
//! - `floor-http` does nothing else: no verification at all. It is the limit of the
//!   HTTP stack (hyper, axum, the loopback socket) on the machine.
//! - `floor` verifies the same JWT with `jwt_verify` against the same tenant's keys, on
//!   every request (its verified-token cache off, [`floor_verifier_options`]): what an
//!   authenticated endpoint costs when each request pays for its RS256 verification.
//!
//! Each runs on its own thread and runtime, pinned to the cores the MCP server uses, so
//! that it gets what the server gets while the load generator keeps the other cores:
//! a single-threaded runtime on one core, `N` worker threads on `N` cores.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use jwt_verify::{Issuer, JwksVerifier, VerifierOptions, bearer};
use tokio::sync::oneshot;

use super::pin::{self, Cores};

const FIXED_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2025-01-01T00:00:00.000Z"}],"isError":false}}"#;

/// Which floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloorKind {
    /// No verification at all: the HTTP stack alone.
    Http,
    /// One RS256 verification per request.
    Verify,
}

/// The options of the floor's verifier, in one place: the floor must verify every
/// request, so nothing here may let a verification be skipped.
pub fn floor_verifier_options() -> VerifierOptions {
    VerifierOptions {
        // A cache hit skips the signature check; the floor is the cost of doing it.
        verified_cache_capacity: 0,
        ..VerifierOptions::default()
    }
}

/// The running floor server; stopped when dropped.
#[derive(Debug)]
pub struct Floor {
    pub url: String,
    /// The kernel ids of the floor's runtime threads, to count their CPU time.
    threads: Arc<Mutex<Vec<u32>>>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Floor {
    /// Starts a floor for tokens from `issuer` for `audience`, on `cores` when given,
    /// with one runtime thread per core.
    pub fn start(
        kind: FloorKind,
        issuer: &str,
        audience: &str,
        cores: Option<Cores>,
        workers: usize,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the floor server")?;
        let url = format!(
            "http://{}/mcp",
            listener.local_addr().context("the floor has no address")?
        );
        listener
            .set_nonblocking(true)
            .context("cannot make the floor's listener non-blocking")?;
        let verifier = match kind {
            FloorKind::Http => None,
            FloorKind::Verify => Some(
                JwksVerifier::new(
                    Issuer::parse(issuer).context("the tenant's issuer does not parse")?,
                    audience,
                    floor_verifier_options(),
                )
                .context("cannot build the floor's verifier")?,
            ),
        };
        let threads = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let registered = Arc::clone(&threads);
        let thread = std::thread::Builder::new()
            .name("bench-floor".into())
            .spawn(move || {
                if let Some(cores) = cores
                    && let Err(e) = pin::pin_this_thread(cores)
                {
                    eprintln!("bench: the floor is not pinned: {e:#}");
                }
                // This thread runs the accept loop (and, on one core, everything).
                register(&registered);
                let runtime = match runtime(workers, &registered) {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("no runtime for the floor: {e}")));
                        return;
                    }
                };
                runtime.block_on(serve(listener, verifier, ready_tx, shutdown_rx));
            })
            .context("cannot start the floor's thread")?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                url,
                threads,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(anyhow!("the floor did not start: {e}")),
            Err(_) => Err(anyhow!("the floor's thread ended before it was ready")),
        }
    }

    /// The kernel ids of the floor's runtime threads.
    pub fn thread_ids(&self) -> Vec<u32> {
        self.threads
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default()
    }
}

/// One core: a single-threaded runtime, as before there was a choice. More: that many
/// worker threads, each recorded for the CPU count.
fn runtime(
    workers: usize,
    registered: &Arc<Mutex<Vec<u32>>>,
) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    let registered = Arc::clone(registered);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_start(move || register(&registered))
        .build()
}

fn register(threads: &Mutex<Vec<u32>>) {
    if let (Ok(id), Ok(mut ids)) = (pin::this_thread_id(), threads.lock()) {
        ids.push(id);
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: TcpListener,
    verifier: Option<JwksVerifier>,
    ready: mpsc::Sender<Result<(), String>>,
    shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot use the listener: {e}")));
            return;
        }
    };
    let app = match verifier {
        None => Router::new().route("/mcp", post(bare)),
        Some(verifier) => {
            // Fetch the keys now, as the MCP server does before it is ready.
            if let Err(e) = verifier.refresh_keys().await {
                let _ = ready.send(Err(format!("cannot fetch the tenant's keys: {e}")));
                return;
            }
            Router::new()
                .route("/mcp", post(handle))
                .with_state(verifier)
        }
    };
    let _ = ready.send(Ok(()));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = shutdown.await;
        })
        .await;
    if let Err(e) = result {
        eprintln!("bench: the floor server failed: {e}");
    }
}

/// `floor-http`: the answer, whatever the request.
async fn bare() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        FIXED_BODY,
    )
}

async fn handle(State(verifier): State<JwksVerifier>, headers: HeaderMap) -> impl IntoResponse {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| bearer::parse_authorization(value).ok());
    let Some(token) = token else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain")],
            "",
        );
    };
    match verifier.verify(token).await {
        Ok(_) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            FIXED_BODY,
        ),
        Err(_) => (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain")],
            "",
        ),
    }
}
