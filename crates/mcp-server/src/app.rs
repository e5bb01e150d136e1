//! Composing the crates into one axum application.

use std::sync::Arc;

use auth0_obo::{CacheOptions, ExchangeClient, SharedTokenStore, TokenCache};
use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{get, post_service};
use jwt_verify::JwksVerifier;
use private_api_client::{ClientOptions, PrivateApiClient};
use redis_token_store::RedisTokenStore;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Settings;
use crate::delegation::Delegation;
use crate::metadata::{AuthorizationServerMetadata, ProtectedResourceMetadata};
use crate::metrics::Metrics;
use crate::readiness::Readiness;
use crate::request_id::{REQUEST_ID_HEADER, RequestSpan};
use crate::scope_gate::MAX_BODY_BYTES;
use crate::tools::{OboTools, tool_scopes};
use crate::{auth, metadata, metrics, readiness, request_id, scope_gate};

/// What every handler and layer shares: one reference count, so that the clones axum
/// makes for every layer of every request cost one atomic increment each.
#[derive(Debug, Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// Copy-on-write: a state changed before it is handed to the router (tests do) is
/// this state's own.
impl std::ops::DerefMut for AppState {
    fn deref_mut(&mut self) -> &mut SharedState {
        Arc::make_mut(&mut self.0)
    }
}

/// The components behind [`AppState`].
#[derive(Debug, Clone)]
pub struct SharedState {
    pub verifier: JwksVerifier,
    pub delegation: Arc<Delegation>,
    pub resource_metadata_url: Arc<str>,
    pub protected_resource_metadata: Arc<ProtectedResourceMetadata>,
    pub authorization_server_metadata: Arc<AuthorizationServerMetadata>,
    /// This instance's series (not the process-wide recorder; see [`crate::metrics`]).
    pub metrics: Metrics,
    pub readiness: Arc<Readiness>,
    /// The fleet's shared token cache, when `TOKEN_CACHE_REDIS_URL` is set; the token
    /// cache holds it too, this is for the start-up check.
    pub shared_store: Option<Arc<RedisTokenStore>>,
}

/// A component that could not be built from valid settings.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot set up token verification: {0}")]
    Verifier(#[from] jwt_verify::ConfigError),
    #[error("cannot set up the Auth0 exchange client: {0}")]
    Exchange(#[from] auth0_obo::ExchangeError),
    #[error("cannot set up the private API client: {0}")]
    PrivateApi(#[from] private_api_client::ConfigError),
    #[error("cannot set up the shared token cache: {0}")]
    SharedCache(#[from] redis_token_store::ConfigError),
}

impl AppState {
    /// Builds every component. Nothing here contacts Auth0, the private API or Redis:
    /// keys are fetched on the first request and Redis is connected on first use, so
    /// the server starts while any of them is down. Call it inside a Tokio runtime.
    pub fn new(settings: &Settings) -> Result<Self, BuildError> {
        let verifier = JwksVerifier::new(
            settings.issuer.clone(),
            settings.audience.clone(),
            settings.verifier_options(),
        )?;
        let exchange = ExchangeClient::builder(
            settings.issuer.as_str(),
            settings.client_id.clone(),
            settings.client_secret.clone(),
        )
        .auth_method(settings.client_auth_method)
        .timeout(settings.upstream_timeout)
        .build()?;
        let shared_store = match &settings.shared_cache {
            Some(shared) => Some(Arc::new(RedisTokenStore::new(
                shared.store_config(&settings.client_id, &settings.client_secret)?,
            )?)),
            None => None,
        };
        let mut cache_options = CacheOptions::default();
        if let Some(store) = &shared_store {
            cache_options =
                cache_options.shared_store(Arc::clone(store) as Arc<dyn SharedTokenStore>);
        }
        let tokens = TokenCache::new(Arc::new(exchange), cache_options);
        let api = PrivateApiClient::with_options(
            settings.api_base_url.as_str(),
            ClientOptions {
                timeout: settings.upstream_timeout,
                allow_plain_http: settings.api_allow_plain_http,
                ..ClientOptions::default()
            },
        )?;
        let metrics = Metrics::new().with_shared_cache(shared_store.is_some());
        let delegation = Delegation::new(
            tokens,
            api,
            settings.api_audience.clone(),
            settings.exchange_scope.clone(),
        )
        .with_metrics(metrics.clone());
        let scopes = tool_scopes();
        Ok(Self(Arc::new(SharedState {
            verifier,
            delegation: Arc::new(delegation),
            resource_metadata_url: settings.resource_metadata_url().into(),
            protected_resource_metadata: Arc::new(ProtectedResourceMetadata {
                resource: settings.audience.clone(),
                authorization_servers: vec![settings.issuer.as_str().to_owned()],
                scopes_supported: scopes.iter().map(|s| (*s).to_owned()).collect(),
                bearer_methods_supported: vec!["header".to_owned()],
                resource_name: settings.resource_name.clone(),
            }),
            authorization_server_metadata: Arc::new(AuthorizationServerMetadata::for_auth0(
                settings.issuer.as_str(),
                &scopes,
            )),
            metrics,
            readiness: Arc::default(),
            shared_store,
        })))
    }
}

/// The whole HTTP application. `shutdown` ends in-flight MCP streams on cancel.
///
/// `/metrics` is part of it unless `METRICS_ADDR` is set; then [`metrics_router`]
/// serves it on that address alone.
pub fn router(settings: &Settings, state: AppState, shutdown: CancellationToken) -> Router {
    let tools = OboTools::new(state.delegation.clone(), settings.hide_unpermitted_tools);
    let mcp_config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(allowed_hosts(settings))
        .with_max_request_body_bytes(MAX_BODY_BYTES)
        .with_cancellation_token(shutdown);
    let mcp = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(NeverSessionManager::default()),
        mcp_config,
    );
    // Layers added last run first: authenticate, then check the tool's scope.
    let mcp_route = post_service(mcp)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            scope_gate::require_tool_scopes,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));

    let mut app = Router::new()
        .route("/mcp", mcp_route)
        .route(
            "/.well-known/oauth-protected-resource",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::authorization_server),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness::readyz));
    if settings.metrics_addr.is_none() {
        app = app.route("/metrics", get(metrics::scrape));
    }
    observe(app.layer(cors(&settings.cors_origins)), &state).with_state(state)
}

/// `/metrics` alone, for `METRICS_ADDR`.
pub fn metrics_router(state: AppState) -> Router {
    let app = Router::new().route("/metrics", get(metrics::scrape));
    observe(app, &state).with_state(state)
}

/// Outermost first: keep a sane caller `x-request-id` or make one, open the request's
/// span with it, return it in the response, and count the request by route.
fn observe(app: Router<AppState>, state: &AppState) -> Router<AppState> {
    app.layer(middleware::from_fn_with_state(
        state.clone(),
        metrics::track_requests,
    ))
    .layer(
        ServiceBuilder::new()
            .layer(middleware::map_request(request_id::drop_unacceptable))
            .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(RequestSpan)
                    .on_response(DefaultOnResponse::new().level(Level::INFO))
                    // A 503 from /readyz is an answer, not an incident.
                    .on_failure(DefaultOnFailure::new().level(Level::WARN)),
            ),
    )
}

/// rmcp refuses unknown `Host` headers (DNS rebinding); the public host must pass.
fn allowed_hosts(settings: &Settings) -> Vec<String> {
    let mut hosts = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = settings.public_url.host_str() {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    hosts
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        // GET for the metadata documents, POST for /mcp; stateless /mcp has no DELETE.
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([
            HeaderName::from_static("mcp-session-id"),
            header::WWW_AUTHENTICATE,
            REQUEST_ID_HEADER,
        ])
}
