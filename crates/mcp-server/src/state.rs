//! What every handler and layer shares. Its own module, so that the layers
//! (`auth`, `scope_gate`, `metadata`, `metrics`, `readiness`) and the application that
//! composes them all point here, and nothing points back.

use std::sync::Arc;

use jwt_verify::JwksVerifier;
use redis_token_store::RedisTokenStore;

use crate::config::Settings;
use crate::delegation::Delegation;
use crate::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::toolbox::ToolScopes;

/// The shared state: one reference count, so that the clones axum makes for every
/// layer of every request cost one atomic increment each.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The components behind [`AppState`].
#[derive(Debug)]
pub(crate) struct SharedState {
    pub(crate) verifier: JwksVerifier,
    pub(crate) delegation: Arc<Delegation>,
    pub(crate) scopes: Arc<ToolScopes>,
    pub(crate) resource_metadata_url: Arc<str>,
    /// The scopes a 401's challenge names: `MCP_BASE_SCOPES`, or every tool scope.
    pub(crate) base_scopes: Vec<String>,
    pub(crate) protected_resource_metadata: ProtectedResourceMetadata,
    pub(crate) authorization_server_metadata: AuthorizationServerMetadata,
    /// This instance's series (not the process-wide recorder; see [`crate::metrics`]).
    pub(crate) metrics: Metrics,
    pub(crate) readiness: Arc<Readiness>,
    /// The fleet's shared token cache, when `TOKEN_CACHE_REDIS_URL` is set; the token
    /// cache holds it too, this is for the start-up check.
    pub(crate) shared_store: Option<Arc<RedisTokenStore>>,
}

impl AppState {
    /// The state for `settings`, with the components already built for them.
    pub(crate) fn new(
        settings: &Settings,
        verifier: JwksVerifier,
        delegation: Arc<Delegation>,
        scopes: Arc<ToolScopes>,
        shared_store: Option<Arc<RedisTokenStore>>,
    ) -> Self {
        let scopes_supported = scopes.all();
        Self(Arc::new(SharedState {
            verifier,
            metrics: delegation.metrics().clone(),
            delegation,
            resource_metadata_url: settings.resource_metadata_url().into(),
            base_scopes: settings
                .base_scopes
                .clone()
                .unwrap_or_else(|| scopes_supported.clone()),
            protected_resource_metadata: ProtectedResourceMetadata {
                resource: settings.audience.clone(),
                authorization_servers: vec![settings.issuer.as_str().to_owned()],
                bearer_methods_supported: vec!["header".to_owned()],
                resource_name: settings.resource_name.clone(),
                scopes_supported: scopes_supported.clone(),
            },
            authorization_server_metadata: AuthorizationServerMetadata::for_auth0(
                settings.issuer.as_str(),
                &scopes_supported,
            ),
            scopes,
            readiness: Arc::default(),
            shared_store,
        }))
    }
}
