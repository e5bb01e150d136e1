//! The obo-mcp MCP server: Streamable HTTP at `/mcp`, every request authenticated
//! with Auth0-issued access tokens, and a `greet` tool that calls a private API **on
//! behalf of the user** through Auth0 On-Behalf-Of token exchange (RFC 8693).
//!
//! The binary (`cargo run -p mcp-server`) reads [`config::ServerArgs`] from the
//! environment, `.env` and flags, and calls [`serve`]. Tests and tools embed the same
//! application with [`app::AppState::new`] and [`app::router`].
//!
//! Layers, outermost first: the request id and its tracing span ([`request_id`]),
//! request metrics ([`metrics`]), CORS, then on `/mcp` the bearer layer ([`auth`]), the
//! scope gate ([`scope_gate`]) and rmcp's Streamable HTTP service running
//! [`tools::OboTools`]. `/healthz` is liveness, `/readyz` readiness ([`readiness`]).
//!
//! `mcp-server check` ([`check`]) reads the same configuration and checks it against
//! the tenant, the private API and optionally a user's token.

pub mod advice;
pub mod app;
pub mod auth;
pub mod check;
pub mod config;
pub mod delegation;
pub mod metadata;
pub mod metrics;
pub mod readiness;
pub mod rejection;
pub mod request_id;
pub mod scope_gate;
pub mod shared_cache;
pub mod telemetry;
pub mod tools;

use std::future::Future;
use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{AppState, metrics_router, router};
use crate::config::Settings;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Build(#[from] app::BuildError),
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "cannot listen on METRICS_ADDR {addr}: {source}. Is another process using the port? Set METRICS_ADDR to a free one."
    )]
    MetricsListener {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// Serves until `shutdown` completes, then drains in-flight requests for up to
/// `SHUTDOWN_GRACE_SECS` and closes the connections still open.
pub async fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let state = AppState::new(&settings)?;
    let cancel = CancellationToken::new();
    if let Some(addr) = settings.metrics_addr {
        let metrics_listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::MetricsListener { addr, source })?;
        let metrics_app = metrics_router(state.clone());
        tracing::info!(addr = %metrics_listener.local_addr()?, "metrics on their own listener");
        tokio::spawn(http_serve::serve(
            metrics_listener,
            metrics_app,
            settings.listener,
            cancel.clone().cancelled_owned(),
        ));
    }
    // Fetch the signing keys now rather than on the first request, so /readyz turns
    // ready without waiting for traffic; a failure here is only logged.
    state.readiness.fetch_keys(&state.verifier);
    if let Some(store) = state.shared_store.clone() {
        tokio::spawn(shared_cache::report_at_start(store));
    }
    state
        .metrics
        .spawn_upkeep(METRICS_UPKEEP_EVERY, cancel.child_token());
    let app = router(&settings, state, cancel.clone());
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!(%addr, mcp_url = %settings.mcp_url(), issuer = %settings.issuer.as_str(), "obo-mcp listening");
    // rmcp answers an in-flight call whose token is cancelled with a 500, so the token
    // is cancelled only once the listener has drained (or, after the grace, closed)
    // every connection.
    http_serve::serve(listener, app, settings.listener, shutdown).await;
    cancel.cancel();
    tracing::info!("obo-mcp stopped");
    Ok(())
}

/// How often recorded latency samples are folded into histogram buckets.
pub const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

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
