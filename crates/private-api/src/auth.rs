//! The bearer-token extractor: a handler that takes [`Authenticated`] only runs for a
//! request whose token verified for this API's audience.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use jwt_verify::bearer::parse_authorization_headers;
use jwt_verify::{Principal, Refusal};

use crate::AppState;
use crate::rejection::Rejection;

/// The verified caller. Extracting it verifies the `Authorization: Bearer` token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Principal>);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        authenticate(parts, state)
            .await
            .map(Authenticated)
            .map_err(IntoResponse::into_response)
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Arc<Principal>, Rejection> {
    let values = parts.headers.get_all(AUTHORIZATION).iter();
    let token = parse_authorization_headers(values.map(HeaderValue::as_bytes))
        .map_err(Refusal::from_bearer_error)?;
    state.verifier().verify(token).await.map_err(|e| {
        if e.error_code().is_none() {
            // Our problem, not the client's: worth a warning with the cause.
            tracing::warn!(error = %e, "cannot verify tokens");
        }
        Refusal::from_verify_error(&e).into()
    })
}
