//! Build your own MCP server whose tools call your APIs **on behalf of the signed-in
//! user**, with Auth0 On-Behalf-Of token exchange (RFC 8693).
//!
//! You write the tools, with rmcp's `#[tool_router]`; [`Server`] serves them at `/mcp`
//! (Streamable HTTP) behind everything else:
//!
//! - every request's bearer token verified against the tenant's keys;
//! - each tool's scope, declared next to it with [`requires_scope`], enforced with an
//!   HTTP 403 step-up challenge, listed in the Protected Resource Metadata (RFC 9728)
//!   and in the tool's description;
//! - [`Caller`] in each tool: the verified [`Principal`], and a token or a ready client
//!   for any configured API, exchanged on the caller's behalf, cached for its
//!   lifetime, and exchanged afresh once if the API answers 401;
//! - machine callers (an application's own client-credentials token, with no user
//!   behind it: [`Principal::is_machine`]) kept to the tools that need no user: a
//!   tool declared with [`acts_for_user`] answers them with a tool error before it
//!   runs, and [`Caller::token`] refuses them ([`DownstreamError::NoUser`]) in any
//!   tool, with no exchange attempted;
//! - `/metrics`, one access line per request, `/healthz`, `/readyz`, bounded
//!   listeners and a graceful shutdown.
//!
//! ```no_run
//! use mcp_server::{Caller, DownstreamError, Server, Settings, acts_for_user, requires_scope};
//! use rmcp::{tool, tool_router};
//!
//! #[derive(Clone)]
//! struct Orders;
//!
//! #[tool_router]
//! impl Orders {
//!     /// The API is configured as API_ORDERS_AUDIENCE, API_ORDERS_BASE_URL and
//!     /// API_ORDERS_SCOPE=read:orders; the caller's token needs `tool:orders`, and
//!     /// a user behind it: the tool calls the API on the user's behalf.
//!     #[tool(
//!         description = "List the caller's open orders.",
//!         meta = acts_for_user(requires_scope("tool:orders"))
//!     )]
//!     async fn list_orders(&self, caller: Caller) -> Result<String, DownstreamError> {
//!         let orders: serde_json::Value =
//!             caller.client("orders").await?.get_json("orders?status=open").await?;
//!         Ok(format!("Open orders of {}: {orders}", caller.principal().sub))
//!     }
//!
//!     /// Needs no scope and no user: an application's own token may call it too.
//!     #[tool(description = "Is the orders service open?")]
//!     async fn opening_hours(&self) -> String {
//!         "Open 24/7".to_owned()
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let settings = Settings::from_env()?;
//!     let _logs = mcp_server::init_logging(mcp_server::LogFormat::Text)?;
//!     Server::new(settings, Orders, Orders::tool_router())
//!         .name("orders-mcp", "1.0.0")
//!         .run()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! [`Settings::from_env`] reads the quickstart's variables (`AUTH0_DOMAIN`,
//! `AUTH0_AUDIENCE`, `MCP_AUTH0_CLIENT_ID`, `MCP_AUTH0_CLIENT_SECRET`, ...; see
//! `mcp-server --help`) and one prefix per API (`API_{NAME}_AUDIENCE`, `_BASE_URL`,
//! `_SCOPE`). A tool's error of type [`DownstreamError`] reaches the client as a tool
//! error that names the setting to fix. The quickstart's own tools ([`quickstart`]) are
//! built this way, and `crates/mcp-server/examples/` has a whole server.
//!
//! ## Machine callers
//!
//! An application may call with a token it got for itself (the client-credentials
//! grant: Auth0 writes `gty: "client-credentials"` and `sub` = `"{client_id}@clients"`).
//! Such a token has no user, so it cannot be exchanged On-Behalf-Of. A tool that calls
//! an API for the user declares it next to its scope, wrapping its `meta` in
//! [`acts_for_user`] (stored under [`ACTS_FOR_USER_META_KEY`], beside
//! [`SCOPE_META_KEY`]); a machine caller then gets, before the tool runs, a tool error
//! (`isError: true`) that names its application and asks for a user's sign-in. A tool
//! that does not declare it is still safe: [`Caller::token`] and [`Caller::client`]
//! answer [`DownstreamError::NoUser`] for a machine caller without contacting the
//! tenant, and `?` turns that into the same tool error. Tools that need no user
//! (`get_datetime`, `whoami`) work for machine callers as for users.
//!
//! `mcp-server check` ([`check`]) checks the same configuration against the tenant
//! and every API, with the same components the server builds.

mod advice;
mod apis;
mod app;
mod audit;
mod auth;
mod caller;
pub mod check;
mod client_auth;
mod components;
mod config;
mod delegation;
mod metadata;
mod metrics;
pub mod quickstart;
mod readiness;
mod rejection;
mod request_id;
mod scope_gate;
mod server;
mod shared_cache;
mod state;
mod telemetry;
mod toolbox;

pub use apis::{ApiArgs, ApiSettings, DEFAULT_API, named_api_args};
pub use audit::{AUDIT_TARGET, AuditOpenError};
pub use caller::{ApiClient, ApiToken, Caller};
pub use components::BuildError;
pub use config::{AuthMethodArg, ConfigError, OrganizationArg, ServerArgs, Settings};
pub use delegation::DownstreamError;
pub use jwt_verify::Principal;
pub use server::{ServeError, Server};
pub use shared_cache::{SecretValue, SharedCacheArgs};
pub use telemetry::{InvalidLogFilter, LogFormat, LogGuard, init as init_logging};
pub use toolbox::{ACTS_FOR_USER_META_KEY, SCOPE_META_KEY, acts_for_user, requires_scope};

/// Not part of the API: what this crate's own tests and benches reach into.
#[doc(hidden)]
pub mod internals {
    pub use crate::metrics::Metrics;
    pub use crate::scope_gate::{BATCH_ERROR_MESSAGE, called_tool, is_batch};
}

/// How often recorded latency samples are folded into histogram buckets.
pub(crate) const METRICS_UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Completes on SIGINT or SIGTERM: the shutdown [`Server::run`] waits for.
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
