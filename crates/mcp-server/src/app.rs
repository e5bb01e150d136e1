//! Composing the layers and the tools into one axum application.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use axum::routing::{get, post_service};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Settings;
use crate::request_id::{REQUEST_ID_HEADER, RequestSpan};
use crate::scope_gate::MAX_BODY_BYTES;
use crate::state::AppState;
use crate::toolbox::Toolbox;
use crate::{auth, metadata, metrics, readiness, request_id, scope_gate};

/// The whole HTTP application. `shutdown` ends in-flight MCP streams on cancel.
/// Without `gate_scopes`, a call without its tool's scope is refused by the tools'
/// handler alone (a JSON-RPC error rather than the HTTP 403 step-up).
///
/// `/metrics` is part of it unless `METRICS_ADDR` is set; then [`metrics_router`]
/// serves it on that address alone.
pub(crate) fn router<T: Clone + Send + Sync + 'static>(
    settings: &Settings,
    state: AppState,
    tools: Toolbox<T>,
    gate_scopes: bool,
    shutdown: CancellationToken,
) -> Router {
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
    let mut mcp_route = post_service(mcp);
    if gate_scopes {
        mcp_route = mcp_route.route_layer(middleware::from_fn_with_state(
            state.clone(),
            scope_gate::require_tool_scopes,
        ));
    }
    let mcp_route = mcp_route.route_layer(middleware::from_fn_with_state(
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
pub(crate) fn metrics_router(state: AppState) -> Router {
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
