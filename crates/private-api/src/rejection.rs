//! The API's refusals: status, RFC 6750 §3 challenge and a JSON body.
//!
//! Challenges are always built with jwt-verify's [`Challenge`], which quotes and
//! escapes every value; nothing here writes header syntax by hand.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_verify::bearer::BearerError;
use jwt_verify::{BearerErrorCode, Challenge, VerifyError};
use serde_json::json;

use crate::LoggedSubject;

/// Why a request was refused, and for the log line, a fixed label of the cause.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    status: StatusCode,
    error: &'static str,
    description: String,
    challenge: Option<Challenge>,
    subject: Option<String>,
    reason: &'static str,
}

/// The cause of a refusal (a [`VerifyError::kind`] or similar), for the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoggedReason(pub(crate) &'static str);

impl Rejection {
    /// A refusal with no challenge.
    pub(crate) fn plain(status: StatusCode, error: &'static str, description: &str) -> Self {
        Self {
            status,
            error,
            description: description.to_owned(),
            challenge: None,
            subject: None,
            reason: error,
        }
    }

    /// No credentials (or another scheme): a challenge without `error` (RFC 6750 §3.1).
    pub(crate) fn missing_token() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: BearerErrorCode::InvalidToken.as_str(),
            description: "An access token is required".to_owned(),
            challenge: Some(Challenge::new()),
            subject: None,
            reason: "missing_token",
        }
    }

    /// An `Authorization` header that does not hold one bearer token.
    pub(crate) fn from_bearer_error(error: BearerError) -> Self {
        match error.error_code() {
            None => Self::missing_token(),
            Some(code) => {
                Self::challenge(code, error.description()).with_reason("malformed_header")
            }
        }
    }

    /// A token that did not verify, or keys that could not be fetched.
    pub(crate) fn from_verify_error(error: &VerifyError) -> Self {
        let description = error.description();
        match error.error_code() {
            Some(code) => Self::challenge(code, &description),
            // A server-side failure: the token may be fine, so neither 401 (which
            // would make a client drop a good token) nor a challenge.
            None => Self::plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                &description,
            ),
        }
        .with_reason(error.kind())
    }

    /// A valid token without `scope`.
    pub(crate) fn insufficient_scope(scope: &str) -> Self {
        let description = format!("The access token lacks the scope {scope}");
        Self {
            status: StatusCode::FORBIDDEN,
            error: BearerErrorCode::InsufficientScope.as_str(),
            challenge: Some(
                Challenge::new()
                    .error(BearerErrorCode::InsufficientScope)
                    .scope([scope])
                    .error_description(&description),
            ),
            description,
            subject: None,
            reason: "insufficient_scope",
        }
    }

    fn challenge(code: BearerErrorCode, description: &str) -> Self {
        Self {
            status: StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
            error: code.as_str(),
            description: description.to_owned(),
            challenge: Some(Challenge::new().error(code).error_description(description)),
            subject: None,
            reason: code.as_str(),
        }
    }

    fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = reason;
        self
    }

    /// Names the verified subject in the request log (for a 403).
    pub(crate) fn with_subject(mut self, sub: String) -> Self {
        self.subject = Some(sub);
        self
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.error, "error_description": self.description }));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        if let Some(challenge) = &self.challenge {
            // Challenge sanitises every value, so this cannot fail; if it ever did, a
            // bare `Bearer` still tells the client which scheme to use.
            let value = HeaderValue::from_str(&challenge.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        // Authorization failures must not be cached by anything in between.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        let extensions = response.extensions_mut();
        extensions.insert(LoggedReason(self.reason));
        if let Some(sub) = self.subject {
            extensions.insert(LoggedSubject(sub));
        }
        response
    }
}
