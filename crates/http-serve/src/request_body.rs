//! Telling a request body that arrived too slowly from other body errors, so a handler
//! can answer 408 rather than blame the client's payload.

use std::error::Error;

use tower_http::timeout::TimeoutError;

/// True if `error`, or any error it wraps, is the request body timeout that
/// [`serve`](crate::serve) enforces ([`ListenerLimits::request_body_timeout`](crate::ListenerLimits::request_body_timeout)).
///
/// For example, the error of `axum::body::to_bytes` on a body that was still arriving
/// when the timeout passed.
pub fn is_request_body_timeout(error: &(dyn Error + 'static)) -> bool {
    std::iter::successors(Some(error), |&error| error.source())
        .any(|error| error.is::<TimeoutError>())
}
