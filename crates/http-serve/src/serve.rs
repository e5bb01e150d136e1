//! The accept loop: one task per connection, each bounded by [`ListenerLimits`], and a
//! shutdown that drains for the grace period, then closes what is left.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower_http::timeout::RequestBodyDeadlineLayer;

use crate::ListenerLimits;

/// How long the loop pauses after an accept error that is not about one connection
/// (out of file descriptors, of memory): long enough not to spin, short enough to
/// pick up again as soon as connections close.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting,
/// lets open connections finish their current request for up to
/// [`ListenerLimits::shutdown_grace`], and closes whatever is still open.
///
/// Connections speak HTTP/1.1. Every wait on the client is bounded: the request head
/// by [`ListenerLimits::header_read_timeout`] (on a kept-alive connection the clock
/// starts again after each response, so it is also the idle timeout), the request body
/// by [`ListenerLimits::request_body_timeout`], and the number of connections by
/// [`ListenerLimits::max_connections`]. An accept error such as `EMFILE` is logged
/// and retried after a short pause; it never stops the server.
///
/// Returns once every connection is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ListenerLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let service = TowerToHyperService::new(
        tower::ServiceBuilder::new()
            .layer(RequestBodyDeadlineLayer::new(limits.request_body_timeout))
            .service(router),
    );
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let slots = Arc::new(Semaphore::new(
        limits
            .max_connections
            .map_or(Semaphore::MAX_PERMITS, |cap| cap.get()),
    ));
    let graceful = GracefulShutdown::new();
    let force_close = CancellationToken::new();
    let mut accept_errors = AcceptErrors::default();

    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Waiting for a slot before accepting leaves the excess in the kernel's queue,
        // where it costs this process no descriptor and no memory.
        let slot = tokio::select! {
            biased;
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    accept_errors.recovered();
                    stream
                }
                Err(error) => {
                    if accept_errors.failed(&error) {
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            },
        };
        let connection =
            graceful.watch(http.serve_connection(TokioIo::new(stream), service.clone()));
        let force_close = force_close.clone();
        tokio::spawn(async move {
            tokio::select! {
                served = connection => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                () = force_close.cancelled() => {}
            }
            drop(slot);
        });
    }
    drop(listener);

    let open = graceful.count();
    tracing::info!(
        open,
        grace_secs = limits.shutdown_grace.as_secs(),
        "stopped accepting connections; draining the open ones"
    );
    let drained = graceful.shutdown();
    let mut drained = std::pin::pin!(drained);
    if tokio::time::timeout(limits.shutdown_grace, &mut drained)
        .await
        .is_err()
    {
        tracing::warn!(
            grace_secs = limits.shutdown_grace.as_secs(),
            "closing the connections still open at the end of the shutdown grace"
        );
        force_close.cancel();
        drained.await;
    }
}

/// Accept errors in a row: the first is logged at ERROR, the rest are counted, and the
/// recovery is logged with the count, so a long `EMFILE` spell is two log lines.
#[derive(Debug, Default)]
struct AcceptErrors {
    in_a_row: u64,
}

impl AcceptErrors {
    /// Records `error`; true if the loop should pause before accepting again.
    fn failed(&mut self, error: &io::Error) -> bool {
        // These concern one connection that the peer already gave up on.
        if matches!(
            error.kind(),
            io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionRefused
        ) {
            return false;
        }
        if self.in_a_row == 0 {
            tracing::error!(
                %error,
                "cannot accept connections; retrying every {} ms. If this is `Too many open files`, lower HTTP_MAX_CONNECTIONS below the open-file limit (ulimit -n) or raise that limit",
                ACCEPT_BACKOFF.as_millis()
            );
        }
        self.in_a_row += 1;
        true
    }

    fn recovered(&mut self) {
        if self.in_a_row > 0 {
            tracing::info!(
                failed_attempts = self.in_a_row,
                "accepting connections again"
            );
            self.in_a_row = 0;
        }
    }
}
