//! Running the router on a socket until told to stop.

use std::future::Future;

use http_serve::ListenerLimits;
use tokio::net::TcpListener;

use crate::{AppState, app};

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight
/// requests finish for up to `limits.shutdown_grace` and closes what is still open.
/// Every wait on a client is bounded by `limits` (see [`http_serve::serve`]).
pub async fn serve<F>(listener: TcpListener, state: AppState, limits: ListenerLimits, shutdown: F)
where
    F: Future<Output = ()> + Send,
{
    http_serve::serve(listener, app(state), limits, shutdown).await;
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what container runtimes send).
///
/// If a handler cannot be installed, that signal is simply not awaited: the process
/// can still be stopped by the other one, or killed.
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
        () = ctrl_c => tracing::info!("SIGINT received, shutting down"),
        () = terminate => tracing::info!("SIGTERM received, shutting down"),
    }
}
