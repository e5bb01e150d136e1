//! Serving an axum [`Router`](axum::Router) on a TCP listener with every wait on a
//! client bounded, so that idle, slow or half-open connections cannot hold the server's
//! descriptors, tasks or shutdown.
//!
//! [`serve`] speaks HTTP/1.1 through hyper with a timer, and enforces
//! [`ListenerLimits`]:
//!
//! | limit | default | when it is reached |
//! |---|---|---|
//! | [`header_read_timeout`](ListenerLimits::header_read_timeout) | 10 s | the connection is closed; this also closes a kept-alive connection idle that long |
//! | [`request_body_timeout`](ListenerLimits::request_body_timeout) | 30 s | reading the body fails ([`is_request_body_timeout`]); the handler's own work is not bounded |
//! | [`max_connections`](ListenerLimits::max_connections) | 512 | new connections wait in the kernel's accept queue until one ends |
//! | [`shutdown_grace`](ListenerLimits::shutdown_grace) | 45 s | the connections still open are closed and [`serve`] returns |
//!
//! An accept error such as `EMFILE` (out of file descriptors) is logged and retried
//! after 100 ms: it never stops the server.
//!
//! Services flatten [`ListenerArgs`] into their command line, so every one of them reads
//! the same variables (`HTTP_HEADER_READ_TIMEOUT_SECS`, `HTTP_REQUEST_BODY_TIMEOUT_SECS`,
//! `HTTP_MAX_CONNECTIONS`, `SHUTDOWN_GRACE_SECS`) with the same validation, and load
//! their settings file the same way first ([`load_env_file`]: `./.env` or
//! `--env-file`, never a parent directory's).
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use axum::{Router, routing::get};
//!
//! let router = Router::new().route("/healthz", get(|| async { "ok" }));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = http_serve::ListenerLimits::default();
//! let shutdown = async {
//!     let _ = tokio::signal::ctrl_c().await;
//! };
//! http_serve::serve(listener, router, limits, shutdown).await;
//! # Ok(())
//! # }
//! ```

mod env_file;
mod limits;
mod request_body;
mod serve;
mod settings;

pub use env_file::{EnvFileError, load_env_file};
pub use limits::ListenerLimits;
pub use request_body::is_request_body_timeout;
pub use serve::serve;
pub use settings::{ListenerArgs, SettingError};
