//! HTTP answers to requests that may not proceed, with the challenges clients act on.
//!
//! Bearer refusals are decided by jwt-verify's [`Refusal`], the same as the private
//! API's, so both servers send the same status, challenge, `Cache-Control: no-store`
//! and body for the same failure. Here they only gain `resource_metadata` (RFC 9728
//! §5.1), which is how an MCP client discovers where to get a token or a wider one,
//! and a 401 gains `scope` with the base scopes (`MCP_BASE_SCOPES`): what a client
//! that picks its first scopes from the challenge should ask for.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_verify::{BearerErrorCode, Refusal};
use serde_json::json;

/// Why a request to `/mcp` was refused before reaching a tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// A missing or malformed `Authorization` header, a token that did not verify, or
    /// keys that could not be fetched (503).
    Bearer(Refusal),
    /// A valid token without the scopes the operation needs.
    InsufficientScope { scope: String, description: String },
    /// The request body is larger than the server accepts.
    PayloadTooLarge { limit: usize },
    /// The request body did not arrive within `HTTP_REQUEST_BODY_TIMEOUT_SECS`.
    BodyTimeout,
}

impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Self {
        Self::Bearer(refusal)
    }
}

impl Rejection {
    /// A low-cardinality name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Bearer(refusal) => refusal.kind(),
            Rejection::InsufficientScope { .. } => "insufficient_scope",
            Rejection::PayloadTooLarge { .. } => "payload_too_large",
            Rejection::BodyTimeout => "body_timeout",
        }
    }

    /// The precise cause, for logs: a [`Refusal::cause`], else the kind.
    pub fn cause(&self) -> &'static str {
        match self {
            Rejection::Bearer(refusal) => refusal.cause(),
            other => other.kind(),
        }
    }

    /// The `error_description` a bearer refusal sends, for logs: what to fix, never
    /// any part of the token. Empty for the others.
    pub fn description(&self) -> &str {
        match self {
            Rejection::Bearer(refusal) => refusal.description(),
            Rejection::InsufficientScope { description, .. } => description,
            Rejection::PayloadTooLarge { .. } | Rejection::BodyTimeout => "",
        }
    }

    /// Builds the response; `resource_metadata` is this server's metadata URL, and
    /// `base_scopes` the scopes a 401's challenge names (none: no `scope`).
    pub fn into_response_with(self, resource_metadata: &str, base_scopes: &[String]) -> Response {
        let refusal = match self {
            Rejection::Bearer(refusal) => refusal,
            Rejection::InsufficientScope { scope, description } => {
                Refusal::insufficient_scope(scope.split(' ')).error_description(&description)
            }
            Rejection::PayloadTooLarge { limit } => {
                return body_refused(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("the request body is larger than {limit} bytes"),
                );
            }
            Rejection::BodyTimeout => {
                return body_refused(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body did not arrive in time",
                );
            }
        };
        let refusal = refusal.resource_metadata(resource_metadata);
        let mut response = refusal_response(&refusal);
        if refusal.status() == 401
            && !base_scopes.is_empty()
            && let Some(challenge) = refusal.challenge()
            && let Ok(value) =
                HeaderValue::try_from(challenge.clone().scope(base_scopes).to_string())
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// The refusal as axum's response: its status, headers and body, nothing added.
fn refusal_response(refusal: &Refusal) -> Response {
    let mut response = Response::new(Body::from(refusal.body()));
    *response.status_mut() =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in refusal.headers() {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// A body the server would not read: no challenge, the token is not in question.
fn body_refused(status: StatusCode, description: &str) -> Response {
    let error = BearerErrorCode::InvalidRequest.as_str();
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}
