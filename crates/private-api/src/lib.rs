//! The sample upstream API that the MCP server calls on the user's behalf.
//!
//! It is deliberately an ordinary OAuth 2.0 resource server, knowing nothing of MCP:
//! it accepts only access tokens issued **for its own audience** (`API_AUTH0_AUDIENCE`)
//! by the configured issuer (`AUTH0_DOMAIN`). A user's token for the MCP server is
//! therefore refused with 401, which is exactly why the MCP server must exchange it
//! (RFC 8693) instead of passing it through.
//!
//! # Endpoints
//!
//! - `GET /api/private-scope` requires scope `read:private` and answers
//!   `{"msg": "Hello from upstream API", "sub", "scopes", "actor", "delegation_chain"}`,
//!   and `org_id` when the token was issued in an Auth0 organization,
//!   where `actor` is the current actor (the outermost `act` claim, RFC 8693 §4.1) or
//!   `null`, and `delegation_chain` lists every actor, the current one first.
//! - `GET /healthz` answers `{"status":"ok"}`.
//!
//! # Errors (RFC 6750 §3)
//!
//! | situation | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization` header | 401 | `Bearer` (no `error`) |
//! | malformed `Authorization` header (or two of them), empty token | 400 | `Bearer error="invalid_request", error_description="…"` |
//! | bad, expired or foreign-audience token | 401 | `Bearer error="invalid_token", error_description="…"` |
//! | token without `read:private` | 403 | `Bearer error="insufficient_scope", scope="read:private", error_description="…"` |
//! | issuer's keys unreachable | 503, `Retry-After: 5` | none |
//!
//! Every error body is JSON: `{"error": "...", "error_description": "..."}`, and every
//! refusal carries `Cache-Control: no-store`. jwt-verify's
//! [`Refusal`](jwt_verify::Refusal) decides all of it, so the MCP server answers the
//! same failure the same way (adding only its `resource_metadata`).
//!
//! # Running it in-process
//!
//! [`app`] builds the router, so tests and the end-to-end harness can serve it on any
//! listener; `main.rs` only adds configuration, logging and signal handling.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use clap::Parser as _;
//! let config = private_api::Config::from_args(&private_api::Args::parse())?;
//! let state = private_api::AppState::new(&config)?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! private_api::serve(listener, state, config.listener, std::future::pending()).await;
//! # Ok(())
//! # }
//! ```
//!
//! No token or `Authorization` header is ever logged: each request produces one line
//! with its route, status, latency and (once verified) the token's `sub`.

mod app;
mod auth;
pub mod config;
mod health;
pub mod logging;
mod private_scope;
mod rejection;
mod serve;
mod state;

pub use app::{PRIVATE_SCOPE_PATH, app};
pub use auth::Authenticated;
pub use config::{Args, Config, ConfigError, ConfigProblem};
pub use private_scope::{Actor, GREETING, PrivateScopeResponse, REQUIRED_SCOPE};
pub use serve::{serve, shutdown_signal};
pub use state::AppState;

/// The verified subject of a request, placed in the response's extensions so that the
/// request log line can name it (the log layer never sees the token itself).
#[derive(Debug, Clone)]
pub(crate) struct LoggedSubject(pub(crate) String);
