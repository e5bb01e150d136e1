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
    /// The request body did not arrive within `HTTP_REQUEST_BODY_TIMEOUT_SECS`.
    BodyTimeout,
}

impl Rejection {
    /// A low-cardinality name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::InvalidRequest { .. } => "invalid_request",
            Rejection::InvalidToken { .. } => "invalid_token",
            Rejection::InsufficientScope { .. } => "insufficient_scope",
            Rejection::Unavailable { .. } => "unavailable",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::BodyTimeout => "body_timeout",
        }
    }

    /// Builds the response; `resource_metadata` is this server's metadata URL.
    pub fn into_response_with(self, resource_metadata: &str) -> Response {
        use BearerErrorCode::{InsufficientScope, InvalidRequest, InvalidToken};
        // Every bearer challenge names the metadata; those with an error explain it.
        let bearer = |code: BearerErrorCode, description: &str| {
            Challenge::new()
                .error(code)
                .error_description(description)
                .resource_metadata(resource_metadata)
        };
        let (status, code, challenge, description) = match self {
            Rejection::MissingToken => (
                StatusCode::UNAUTHORIZED,
                InvalidToken.as_str(),
                Some(Challenge::new().resource_metadata(resource_metadata)),
                "an access token is required".to_owned(),
            ),
            Rejection::InvalidRequest { description } => (
                StatusCode::BAD_REQUEST,
                InvalidRequest.as_str(),
                Some(bearer(InvalidRequest, &description)),
                description,
            ),
            Rejection::InvalidToken { description } => (
                StatusCode::UNAUTHORIZED,
                InvalidToken.as_str(),
                Some(bearer(InvalidToken, &description)),
                description,
            ),
            Rejection::InsufficientScope { scope, description } => (
                StatusCode::FORBIDDEN,
                InsufficientScope.as_str(),
                Some(bearer(InsufficientScope, &description).scope(scope.split(' '))),
                description,
            ),
            Rejection::Unavailable { description } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                None,
                description,
            ),
            Rejection::PayloadTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                InvalidRequest.as_str(),
                None,
                format!("the request body is larger than {limit} bytes"),
            ),
            Rejection::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                InvalidRequest.as_str(),
                None,
                "the request body did not arrive in time".to_owned(),
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
