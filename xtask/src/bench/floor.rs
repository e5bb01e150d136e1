//! The floor: the least an authenticated endpoint can do on this machine. A bare axum
//! handler that verifies the same JWT with `jwt_verify` against the same tenant's keys
//! and answers a fixed JSON-RPC body, shaped like `get_datetime`'s answer so that the
//! load generator checks it the same way.
//!
//! It runs on its own thread and its own single-threaded runtime, pinned to the core
//! the MCP server uses, so that it gets what the server gets: one core to itself, while
//! the load generator stays on the other.

use std::net::TcpListener;
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use jwt_verify::{Issuer, JwksVerifier, VerifierOptions, bearer};
use tokio::sync::oneshot;

use super::pin;

const FIXED_BODY: &str = r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"2025-01-01T00:00:00.000Z"}],"isError":false}}"#;

/// The running floor server; stopped when dropped.
#[derive(Debug)]
pub struct Floor {
    pub url: String,
    /// The kernel id of the floor's runtime thread, to count its CPU time.
    pub thread_id: Option<u32>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Floor {
    /// Starts the floor for tokens from `issuer` for `audience`, on `core` when given.
    pub fn start(issuer: &str, audience: &str, core: Option<u32>) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the floor server")?;
        let url = format!(
            "http://{}/mcp",
            listener.local_addr().context("the floor has no address")?
        );
        listener
            .set_nonblocking(true)
            .context("cannot make the floor's listener non-blocking")?;
        let verifier = JwksVerifier::new(
            Issuer::parse(issuer).context("the tenant's issuer does not parse")?,
            audience,
            VerifierOptions::default(),
        )
        .context("cannot build the floor's verifier")?;
        let (ready_tx, ready_rx) = mpsc::channel::<Result<Option<u32>, String>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-floor".into())
            .spawn(move || {
                if let Some(core) = core
                    && let Err(e) = pin::pin_this_thread(core)
                {
                    eprintln!("bench: the floor is not pinned: {e:#}");
                }
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
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
            Ok(Ok(thread_id)) => Ok(Self {
                url,
                thread_id,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(anyhow!("the floor did not start: {e}")),
            Err(_) => Err(anyhow!("the floor's thread ended before it was ready")),
        }
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
    verifier: JwksVerifier,
    ready: mpsc::Sender<Result<Option<u32>, String>>,
    shutdown: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot use the listener: {e}")));
            return;
        }
    };
    // Fetch the keys now, as the MCP server does before it is ready.
    if let Err(e) = verifier.refresh_keys().await {
        let _ = ready.send(Err(format!("cannot fetch the tenant's keys: {e}")));
        return;
    }
    let app = Router::new()
        .route("/mcp", post(handle))
        .with_state(verifier);
    let _ = ready.send(Ok(pin::this_thread_id().ok()));
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = shutdown.await;
        })
        .await;
    if let Err(e) = result {
        eprintln!("bench: the floor server failed: {e}");
    }
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
