//! The API's refusals: status, RFC 6750 §3 challenge and a JSON body.
//!
//! jwt-verify's [`Refusal`] decides all of it, the same as for the MCP server, so the
//! two servers answer the same failure with the same headers; this module only maps
//! it onto axum's response and names the cause for the request log.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_verify::Refusal;
use serde_json::json;

use crate::LoggedSubject;

/// A refused request, and for the log line, who was refused when the token verified.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    refusal: Refusal,
    subject: Option<String>,
}

/// The cause of a refusal (a [`Refusal::cause`] or similar), for the request log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoggedReason(pub(crate) &'static str);

impl From<Refusal> for Rejection {
    fn from(refusal: Refusal) -> Self {
        Self {
            refusal,
            subject: None,
        }
    }
}

impl Rejection {
    /// Names the verified subject in the request log (for a 403).
    pub(crate) fn with_subject(mut self, sub: String) -> Self {
        self.subject = Some(sub);
        self
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let refusal = &self.refusal;
        let mut response = Response::new(Body::from(refusal.body()));
        *response.status_mut() =
            StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (name, value) in refusal.headers() {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                response.headers_mut().insert(name, value);
            }
        }
        let extensions = response.extensions_mut();
        extensions.insert(LoggedReason(refusal.cause()));
        if let Some(sub) = self.subject {
            extensions.insert(LoggedSubject(sub));
        }
        response
    }
}

/// 404 for any path the API does not serve.
pub(crate) async fn not_found() -> Response {
    let body = json!({ "error": "not_found", "error_description": "No such endpoint" });
    let mut response = (
        StatusCode::NOT_FOUND,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response();
    response.extensions_mut().insert(LoggedReason("not_found"));
    response
}
