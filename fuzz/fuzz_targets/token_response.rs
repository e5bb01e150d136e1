//! The token endpoint's answer (RFC 8693 §2.2, RFC 6749 §5.2) as the exchange client
//! reads it: a fuzzed status, headers (`Content-Type`, `Retry-After`, Auth0's
//! `x-ratelimit-*`) and body through `auth0_obo::fuzzing::token_response`.
//!
//! Checks: no panic; a token only from a 2xx with a non-blank `access_token` and a
//! bounded lifetime that `expires_at` reflects; `RateLimited` only for 429, `Server`
//! only for 5xx; the subject token and the client secret never appear in an error's
//! `Display` or `Debug`, whatever the server echoes; error text stays bounded.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use auth0_obo::ExchangeError;
use auth0_obo::fuzzing::token_response;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

/// What the server could echo back: the request's secrets.
const SUBJECT_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxhbGljZSJ9.c2lnbmF0dXJl";
const CLIENT_SECRET: &str = "fuzz-client-secret-0123456789";

const HEADER_NAMES: [&str; 6] = [
    "content-type",
    "retry-after",
    "x-ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "cache-control",
];

/// The input layout, simple enough to write seeds by hand: status (2 bytes, big
/// endian), receipt time (4 bytes, big endian, seconds after the epoch), the number of
/// headers (1 byte, at most 8), each header as a name index (1 byte), a value length
/// (1 byte) and the value; the rest is the body.
fn split(data: &[u8]) -> Option<(StatusCode, u64, HeaderMap, &[u8])> {
    let (status, rest) = data.split_at_checked(2)?;
    let status =
        StatusCode::from_u16(100 + u16::from_be_bytes([status[0], status[1]]) % 500).ok()?;
    let (time, rest) = rest.split_at_checked(4)?;
    let time = u64::from(u32::from_be_bytes([time[0], time[1], time[2], time[3]]));
    let (&count, mut rest) = rest.split_first()?;
    let mut headers = HeaderMap::new();
    for _ in 0..count % 9 {
        let (&name, after) = rest.split_first()?;
        let (&len, after) = after.split_first()?;
        let (value, after) = after.split_at_checked(usize::from(len))?;
        rest = after;
        let name = HeaderName::from_static(HEADER_NAMES[usize::from(name) % HEADER_NAMES.len()]);
        if let Ok(value) = HeaderValue::from_bytes(value) {
            headers.append(name, value);
        }
    }
    Some((status, time, headers, rest))
}

fuzz_target!(|data: &[u8]| {
    let Some((status, time, headers, body)) = split(data) else {
        return;
    };
    let received_at = UNIX_EPOCH + Duration::from_secs(time);
    let outcome = token_response(
        status,
        &headers,
        body,
        received_at,
        &[SUBJECT_TOKEN, CLIENT_SECRET],
    );
    match outcome {
        Ok(token) => {
            assert!(status.is_success());
            assert!(!token.access_token.secret().trim().is_empty());
            assert!(token.expires_in <= Duration::from_secs(10 * 365 * 24 * 3600));
            assert_eq!(token.expires_at, received_at + token.expires_in);
            let secret = token.access_token.secret();
            let shown = format!("{:?}", token.access_token);
            assert!(
                !shown.contains(secret) || "AccessToken([redacted])".contains(secret),
                "{shown}"
            );
        }
        Err(error) => {
            match &error {
                ExchangeError::RateLimited { .. } => {
                    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS)
                }
                ExchangeError::Server { .. } => assert!(status.is_server_error()),
                _ => assert!(!status.is_server_error() && status != StatusCode::TOO_MANY_REQUESTS),
            }
            let shown = format!("{error} {error:?}");
            for secret in [SUBJECT_TOKEN, CLIENT_SECRET] {
                assert!(
                    !shown.contains(secret),
                    "a secret echoed by the server leaked: {shown}"
                );
            }
            assert!(error.to_string().chars().count() < 1200, "{error}");
        }
    }
});
