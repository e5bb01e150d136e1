//! [`Server`]: your tools, served behind everything obo-mcp does.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use jwt_verify::JwksVerifier;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::Implementation;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::{metrics_router, router};
use crate::components::BuildError;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::state::AppState;
use crate::toolbox::{Toolbox, ToolboxParts};
use crate::{METRICS_UPKEEP_EVERY, shared_cache, shutdown_signal};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("the listener failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "cannot listen on {addr}: {source}. Is another process using the port? Set HOST and PORT to a free address."
    )]
    Listener {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on METRICS_ADDR {addr}: {source}. Is another process using the port? Set METRICS_ADDR to a free one."
    )]
    MetricsListener {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// An MCP server for your own tools (`T`: a type with an rmcp `#[tool_router]`),
/// served at `/mcp` with Streamable HTTP behind:
///
/// - bearer verification against the tenant's keys, every request;
/// - the scope gate: a call without its tool's scope ([`requires_scope`]) gets
///   HTTP 403 with a step-up challenge;
/// - Protected Resource Metadata (RFC 9728), with every tool scope;
/// - `/metrics`, one access line per request, `/healthz` and `/readyz`;
/// - bounded listeners, and a shutdown that drains and then ends.
///
/// Each tool takes a [`Caller`] to act on the user's behalf. See the crate docs for a
/// whole server.
///
/// [`requires_scope`]: crate::requires_scope
/// [`Caller`]: crate::Caller
pub struct Server<T> {
    settings: Settings,
    tools: T,
    router: ToolRouter<T>,
    implementation: Implementation,
    instructions: Option<String>,
    verifier: Option<JwksVerifier>,
    gate_scopes: bool,
}

impl<T> std::fmt::Debug for Server<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("settings", &self.settings)
            .field("tools", &self.router.map.len())
            .field("implementation", &self.implementation)
            .finish_non_exhaustive()
    }
}

/// What [`Server::into_parts`] hands to [`Server::serve`], or to a test.
pub(crate) struct Built {
    pub(crate) app: Router,
    pub(crate) metrics_app: Option<Router>,
    pub(crate) state: AppState,
}

impl<T: Clone + Send + Sync + 'static> Server<T> {
    /// A server for `tools` and their router (`T::tool_router()`, which rmcp's
    /// `#[tool_router]` writes), with `settings` (usually [`Settings::from_env`]).
    pub fn new(settings: Settings, tools: T, router: ToolRouter<T>) -> Self {
        Self {
            implementation: Implementation::new(
                settings.resource_name.clone(),
                env!("CARGO_PKG_VERSION"),
            ),
            settings,
            tools,
            router,
            instructions: None,
            verifier: None,
            gate_scopes: true,
        }
    }

    /// The name and version the server gives clients at initialization [default:
    /// `MCP_RESOURCE_NAME` and obo-mcp's version].
    #[must_use]
    pub fn name(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.implementation = Implementation::new(name.into(), version.into());
        self
    }

    /// What the server tells clients (and models) about its tools, at initialization.
    #[must_use]
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Verifies tokens with `verifier` instead of the one [`Settings::verifier`]
    /// builds, for timings or a key source no setting offers. Its issuer and audience
    /// should be the settings' own.
    #[must_use]
    pub fn verifier(mut self, verifier: JwksVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Leaves out the HTTP scope gate, so a call without its tool's scope meets only
    /// the tools' own check (a JSON-RPC error, not the 403 step-up): for tests of that
    /// check.
    #[doc(hidden)]
    #[must_use]
    pub fn without_scope_gate(mut self) -> Self {
        self.gate_scopes = false;
        self
    }

    /// The axum application, to serve yourself or to nest in a larger one. Cancel
    /// `shutdown` to end in-flight MCP streams. `/metrics` is part of it unless
    /// `METRICS_ADDR` is set (then [`serve`](Self::serve) serves it there; this
    /// application leaves it out). Call it inside a Tokio runtime.
    ///
    /// # Errors
    ///
    /// A [`BuildError`] if a component cannot be built from the settings. Nothing here
    /// contacts the tenant, an API or Redis.
    pub fn into_router(self, shutdown: CancellationToken) -> Result<Router, BuildError> {
        Ok(self.into_parts(shutdown)?.app)
    }

    pub(crate) fn into_parts(self, shutdown: CancellationToken) -> Result<Built, BuildError> {
        let settings = self.settings;
        let verifier = match self.verifier {
            Some(verifier) => verifier,
            None => settings.verifier()?,
        };
        let shared_store = settings.shared_store()?;
        let tokens = settings.token_cache(shared_store.as_ref())?;
        let metrics = Metrics::new().with_shared_cache(shared_store.is_some());
        let delegation = Arc::new(settings.delegation(tokens, metrics)?);
        let tools = Toolbox::new(
            self.tools,
            self.router,
            ToolboxParts {
                delegation: Arc::clone(&delegation),
                implementation: self.implementation,
                instructions: self.instructions,
                hide_unpermitted_tools: settings.hide_unpermitted_tools,
            },
        );
        let state = AppState::new(
            &settings,
            verifier,
            delegation,
            Arc::clone(tools.scopes()),
            shared_store,
        );
        let metrics_app = settings.metrics_addr.map(|_| metrics_router(state.clone()));
        let app = router(&settings, state.clone(), tools, self.gate_scopes, shutdown);
        Ok(Built {
            app,
            metrics_app,
            state,
        })
    }

    /// Serves on `listener` until `shutdown` completes, then drains in-flight requests
    /// for up to `SHUTDOWN_GRACE_SECS` and closes the connections still open.
    ///
    /// # Errors
    ///
    /// A [`ServeError`] if the server cannot be built or a listener fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let limits = self.settings.listener;
        let metrics_addr = self.settings.metrics_addr;
        let mcp_url = self.settings.mcp_url();
        let issuer = self.settings.issuer.as_str().to_owned();
        let client_auth = self.settings.client_auth.name();
        let cancel = CancellationToken::new();
        let Built {
            app,
            metrics_app,
            state,
        } = self.into_parts(cancel.clone())?;
        if let (Some(addr), Some(metrics_app)) = (metrics_addr, metrics_app) {
            let metrics_listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServeError::MetricsListener { addr, source })?;
            tracing::info!(addr = %metrics_listener.local_addr()?, "metrics on their own listener");
            tokio::spawn(http_serve::serve(
                metrics_listener,
                metrics_app,
                limits,
                cancel.clone().cancelled_owned(),
            ));
        }
        // Fetch the signing keys now rather than on the first request, so /readyz
        // turns ready without waiting for traffic; a failure here is only logged.
        state.readiness.fetch_keys(&state.verifier);
        if let Some(store) = state.shared_store.clone() {
            tokio::spawn(shared_cache::report_at_start(store));
        }
        state
            .metrics
            .spawn_upkeep(METRICS_UPKEEP_EVERY, cancel.child_token());
        let addr: SocketAddr = listener.local_addr()?;
        tracing::info!(%addr, %mcp_url, %issuer, client_auth, "obo-mcp listening");
        // rmcp answers an in-flight call whose token is cancelled with a 500, so the
        // token is cancelled only once the listener has drained (or, after the grace,
        // closed) every connection.
        http_serve::serve(listener, app, limits, shutdown).await;
        cancel.cancel();
        tracing::info!("obo-mcp stopped");
        Ok(())
    }

    /// Listens on `HOST`:`PORT` and serves until SIGINT or SIGTERM.
    ///
    /// # Errors
    ///
    /// As [`serve`](Self::serve), or if the address cannot be bound.
    pub async fn run(self) -> Result<(), ServeError> {
        let addr = self.settings.listen_addr();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Listener { addr, source })?;
        self.serve(listener, shutdown_signal()).await
    }
}
