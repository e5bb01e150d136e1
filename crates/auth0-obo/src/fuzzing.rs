//! Entry points for the fuzz targets in `fuzz/`: how a token endpoint's answer
//! (status, headers, body: all foreign bytes) becomes an [`ExchangedToken`] or an
//! [`ExchangeError`], and how a 429's headers become a wait; and, for a benchmark, one
//! client assertion. Not a stable API; hidden
//! from the docs.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use crate::error::ExchangeError;
use crate::response::{ExchangedToken, content_type, parse_token_response, status_error};

/// Interprets a token endpoint response exactly as
/// [`ExchangeClient::exchange`](crate::ExchangeClient::exchange) does once it has
/// received it. `secrets` (the subject token and the client secret) are scrubbed from
/// any text the server wrote.
pub fn token_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    received_at: SystemTime,
    secrets: &[&str],
) -> Result<ExchangedToken, ExchangeError> {
    let content_type = content_type(headers, secrets);
    if let Some(error) = status_error(status, headers, received_at) {
        return Err(error);
    }
    parse_token_response(status, body, &content_type, received_at, secrets)
}

/// How long a 429 with these headers (`Retry-After`, `x-ratelimit-reset`) asks the
/// client to wait, read at `now`, exactly as the exchange client reads it.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    crate::retry::retry_after(headers, now)
}

/// Signs one client assertion as each `private_key_jwt` exchange attempt does (for
/// the `assertion` benchmark).
///
/// # Errors
///
/// As the exchange would: only if the key cannot sign.
pub fn client_assertion(
    key: &crate::ClientAssertionKey,
    client_id: &str,
    issuer: &str,
) -> Result<String, ExchangeError> {
    key.sign(client_id, issuer, SystemTime::now())
}
