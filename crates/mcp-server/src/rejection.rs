//! HTTP answers to requests that may not proceed, with the challenges clients act on.
//!
//! Every 401 and 403 carries `WWW-Authenticate` with `resource_metadata` (RFC 9728 §5.1),
//! which is how an MCP client discovers where to get a token or a wider one. The
//! JSON body repeats the error for people reading it with curl.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_verify::{BearerErrorCode, Challenge};
use serde_json::json;

/// Why a request to `/mcp` was refused before reaching a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials at all: the challenge has no `error` (RFC 6750 §3.1).
    MissingToken,
    /// A malformed `Authorization` header.
    InvalidRequest { description: String },
    /// A token that did not verify.
    InvalidToken { description: String },
    /// A valid token without the scopes the operation needs.
    InsufficientScope { scope: String, description: String },
    /// The token cannot be checked right now (for example the JWKS is unreachable).
    Unavailable { description: String },
    /// The request body is larger than the server accepts.
    PayloadTooLarge { limit: usize },
}

impl Rejection {
    /// Builds the response; `resource_metadata` is this server's metadata URL.
    pub fn into_response_with(self, resource_metadata: &str) -> Response {
        let (status, code, description, challenge) = match self {
            Rejection::MissingToken => (
                StatusCode::UNAUTHORIZED,
                BearerErrorCode::InvalidToken.as_str(),
                "an access token is required".to_owned(),
                Some(Challenge::new().resource_metadata(resource_metadata)),
            ),
            Rejection::InvalidRequest { description } => (
                StatusCode::BAD_REQUEST,
                BearerErrorCode::InvalidRequest.as_str(),
                description.clone(),
                Some(
                    Challenge::new()
                        .error(BearerErrorCode::InvalidRequest)
                        .error_description(&description)
                        .resource_metadata(resource_metadata),
                ),
            ),
            Rejection::InvalidToken { description } => (
                StatusCode::UNAUTHORIZED,
                BearerErrorCode::InvalidToken.as_str(),
                description.clone(),
                Some(
                    Challenge::new()
                        .error(BearerErrorCode::InvalidToken)
                        .error_description(&description)
                        .resource_metadata(resource_metadata),
                ),
            ),
            Rejection::InsufficientScope { scope, description } => (
                StatusCode::FORBIDDEN,
                BearerErrorCode::InsufficientScope.as_str(),
                description.clone(),
                Some(
                    Challenge::new()
                        .error(BearerErrorCode::InsufficientScope)
                        .scope(scope.split(' '))
                        .resource_metadata(resource_metadata)
                        .error_description(&description),
                ),
            ),
            Rejection::Unavailable { description } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                description,
                None,
            ),
            Rejection::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                format!("the request body is larger than {limit} bytes"),
                None,
            ),
        };
        let body = Json(json!({ "error": code, "error_description": description }));
        let mut response = (status, body).into_response();
        if let Some(challenge) = challenge
            && let Ok(value) = HeaderValue::from_str(&challenge.to_string())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}
