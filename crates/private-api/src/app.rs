//! The router: routes, the shared state, and the one-line-per-request log.

use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::Response;
use axum::routing::get;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::health::healthz;
use crate::private_scope::private_scope;
use crate::rejection::{self, LoggedReason};
use crate::{AppState, LoggedSubject};

/// The path of the protected endpoint.
pub const PRIVATE_SCOPE_PATH: &str = "/api/private-scope";

/// Builds the API's router. Serve it with `axum::serve` or [`crate::serve`].
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(PRIVATE_SCOPE_PATH, get(private_scope))
        .route("/healthz", get(healthz))
        .fallback(rejection::not_found)
        .with_state(state)
        .layer(
            // TraceLayer logs no headers unless told to; we only add the matched route
            // (never the raw path, which is client-chosen text) and, after the handler,
            // the status and the verified subject.
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let route = request
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or("<unmatched>", MatchedPath::as_str);
                    tracing::info_span!("request", method = %request.method(), route)
                })
                .on_request(())
                .on_response(|response: &Response<_>, latency: Duration, _span: &Span| {
                    let sub = response
                        .extensions()
                        .get::<LoggedSubject>()
                        .map(|s| s.0.as_str());
                    let reason = response.extensions().get::<LoggedReason>().map(|r| r.0);
                    tracing::info!(
                        status = response.status().as_u16(),
                        sub,
                        reason,
                        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                        "request handled"
                    );
                })
                .on_failure(()),
        )
}
