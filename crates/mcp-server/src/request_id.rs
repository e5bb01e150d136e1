//! Request ids: taken from `x-request-id` when the caller sent a sane one, generated
//! (a UUID) otherwise, returned in the response's `x-request-id`, and recorded in the
//! span around the request so every log line of that request carries it.
//!
//! A caller's id is kept only when it is one header of 1 to [`MAX_REQUEST_ID_LEN`]
//! visible ASCII characters: it is echoed into logs and a response header, so it must
//! not be able to forge log lines or carry a payload. (An access token is far longer
//! than the limit, so a client cannot get its token logged this way.)

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use tower_http::trace::MakeSpan;
use tracing::Span;

use crate::metrics::UNMATCHED_ROUTE;

/// `x-request-id`.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id accepted from a caller, in bytes.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a caller's request id may be used as is.
pub fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// The request's id, as `SetRequestIdLayer` left it in `x-request-id`.
pub(crate) fn of(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
}

/// Drops an `x-request-id` that is not acceptable (or repeated), so that
/// `SetRequestIdLayer`, which runs next, generates one instead.
pub async fn drop_unacceptable(mut request: Request) -> Request {
    let headers = request.headers();
    let mut values = headers.get_all(&REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(value), None) => is_acceptable(value),
        (Some(_), Some(_)) => false,
    };
    if !keep {
        request.headers_mut().remove(&REQUEST_ID_HEADER);
    }
    request
}

/// The span around each request: its id, method and route template. Never the raw
/// URI (its query could hold a secret) and never a header. The access line (status and
/// latency, at `info`) is written inside it and so carries its fields.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &http::Request<B>) -> Span {
        let request_id = of(request.headers()).unwrap_or("-");
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or(UNMATCHED_ROUTE, MatchedPath::as_str);
        // `sub`, `tool`, `outcome` and `token_from_cache` are filled in on `/mcp` by
        // the bearer layer, the scope gate and the tools ([`crate::telemetry::RequestLog`]),
        // so the one access line of a tool call says who called what and how it ended.
        tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %route,
            sub = tracing::field::Empty,
            tool = tracing::field::Empty,
            outcome = tracing::field::Empty,
            token_from_cache = tracing::field::Empty,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_bounded_visible_ascii() {
        assert!(is_acceptable(&HeaderValue::from_static("abc-123_X.y:z")));
        assert!(!is_acceptable(&HeaderValue::from_static("")));
        assert!(!is_acceptable(&HeaderValue::from_static("has space")));
        let long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        assert!(!is_acceptable(&HeaderValue::from_str(&long).unwrap()));
        let max = "a".repeat(MAX_REQUEST_ID_LEN);
        assert!(is_acceptable(&HeaderValue::from_str(&max).unwrap()));
        assert!(!is_acceptable(
            &HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()
        ));
    }
}
