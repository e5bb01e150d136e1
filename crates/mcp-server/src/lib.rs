//! The obo-mcp MCP server: Streamable HTTP at `/mcp`, every request authenticated
//! with Auth0-issued access tokens, and a `greet` tool that calls a private API **on
//! behalf of the user** through Auth0 On-Behalf-Of token exchange (RFC 8693).
//!
//! The binary (`cargo run -p mcp-server`) reads [`config::ServerArgs`] from the
//! environment, `.env` and flags, and calls [`serve`]. Tests and tools embed the same
//! application with [`app::AppState::new`] and [`app::router`].
//!
//! Layers, outermost first: tracing, CORS, then on `/mcp` the bearer layer
//! ([`auth`]), the scope gate ([`scope_gate`]) and rmcp's Streamable HTTP service
//! running [`tools::OboTools`].

pub mod advice;
pub mod app;
pub mod auth;
pub mod config;
pub mod delegation;
pub mod metadata;
pub mod rejection;
pub mod scope_gate;
pub mod telemetry;
pub mod tools;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{AppState, router};
use crate::config::Settings;

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Build(#[from] app::BuildError),
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until `shutdown` completes, then drains in-flight requests.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(&settings)?;
    let cancel = CancellationToken::new();
    let app = router(&settings, state, cancel.clone());
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, mcp_url = %settings.mcp_url(), issuer = %settings.issuer.as_str(), "obo-mcp listening");
    let grace = cancel.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            // rmcp answers an in-flight call whose token is cancelled with a 500, so
            // the token is not cancelled now: in-flight calls finish (the upstream
            // timeouts bound them), and only what is still open after the grace
            // period is cut.
            tokio::spawn(async move {
                tokio::time::sleep(DRAIN_GRACE).await;
                grace.cancel();
            });
        })
        .await?;
    cancel.cancel();
    tracing::info!("obo-mcp stopped");
    Ok(())
}

/// How long shutdown waits for in-flight requests before cutting them: longer than
/// the exchange's overall deadline (30 s) plus one private API call.
pub const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(45);

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}
