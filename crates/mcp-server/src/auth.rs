//! The bearer layer in front of `/mcp`: every request is authenticated, every time.
//!
//! rmcp has no server-side authentication, so this layer is the only gate. It never
//! trusts a session id: a request without a valid token is refused even when it
//! carries an `Mcp-Session-Id` (invariant 5). On success the verified [`Principal`]
//! travels in the request's extensions, where rmcp hands it to the tools inside
//! `http::request::Parts`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use jwt_verify::{Principal, Refusal, bearer};

use crate::rejection::Rejection;
use crate::state::AppState;
use crate::telemetry::RequestLog;

/// Verifies the bearer token and stores the [`Principal`] in the request.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let verified = match bearer_token(request.headers()) {
        Ok(token) => verify(&state, &token).await,
        Err(rejection) => Err(rejection),
    };
    let log = RequestLog::current();
    match verified {
        Ok(principal) => {
            log.0.record("sub", tracing::field::display(&principal.sub));
            request.extensions_mut().insert(log);
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(rejection) => {
            log.0.record("outcome", rejection.kind());
            // The description names what to fix (issue 19) and never holds the token.
            tracing::info!(
                outcome = rejection.kind(),
                cause = rejection.cause(),
                description = rejection.description(),
                "request to /mcp refused"
            );
            rejection.into_response_with(&state.resource_metadata_url, &state.base_scopes)
        }
    }
}

/// The token of the single `Authorization: Bearer` header. Owned, because the request
/// body is not `Sync` and so the request cannot be borrowed across the verification.
fn bearer_token(headers: &HeaderMap) -> Result<String, Rejection> {
    let values = headers.get_all(header::AUTHORIZATION).iter();
    bearer::parse_authorization_headers(values.map(HeaderValue::as_bytes))
        .map(str::to_owned)
        .map_err(|e| Refusal::from_bearer_error(e).into())
}

async fn verify(state: &AppState, token: &str) -> Result<Arc<Principal>, Rejection> {
    let verified = state.verifier.verify(token).await;
    state.metrics.token_verification(match &verified {
        Ok(_) => "ok",
        Err(e) => e.kind(),
    });
    verified.map_err(|e| Refusal::from_verify_error(&e).into())
}
