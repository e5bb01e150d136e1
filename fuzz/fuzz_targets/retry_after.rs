//! A 429's wait (RFC 9110 §10.2.3 `Retry-After`, as delay-seconds or an HTTP date in
//! any of the three formats of §5.6.7, else Auth0's `x-ratelimit-reset`) through
//! `auth0_obo::fuzzing::retry_after`.
//!
//! Checks: no panic or overflow, whatever the year or the number; delay-seconds are
//! taken as they are; a wait read from a date never reaches past 9999-12-31, the last
//! day an HTTP date can name.

#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use auth0_obo::fuzzing::retry_after;
use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// 9999-12-31T23:59:59Z in seconds after the epoch.
const LAST_HTTP_DATE: u64 = 253_402_300_799;

/// The input layout, simple enough to write seeds by hand: the time the answer was
/// received (4 bytes, big endian, seconds after the epoch), the length of the
/// `Retry-After` value (1 byte), that value; the rest, when not empty, is the
/// `x-ratelimit-reset` value.
fn split(data: &[u8]) -> Option<(u64, &[u8], &[u8])> {
    let (time, rest) = data.split_at_checked(4)?;
    let time = u64::from(u32::from_be_bytes([time[0], time[1], time[2], time[3]]));
    let (&len, rest) = rest.split_first()?;
    let (value, reset) = rest.split_at_checked(usize::from(len))?;
    Some((time, value, reset))
}

fuzz_target!(|data: &[u8]| {
    let Some((now, value, reset)) = split(data) else {
        return;
    };
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_bytes(value).ok();
    if let Some(value) = &value {
        headers.insert(RETRY_AFTER, value.clone());
    }
    let reset = (!reset.is_empty())
        .then(|| HeaderValue::from_bytes(reset).ok())
        .flatten();
    if let Some(reset) = &reset {
        headers.insert("x-ratelimit-reset", reset.clone());
    }
    let wait = retry_after(&headers, UNIX_EPOCH + Duration::from_secs(now));

    let text = value.as_ref().and_then(|v| v.to_str().ok()).map(str::trim);
    let seconds = text
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<u64>().ok());
    if let Some(seconds) = seconds {
        assert_eq!(wait, Some(Duration::from_secs(seconds)), "{text:?}");
    } else if reset.is_none()
        && let Some(wait) = wait
    {
        assert!(
            wait.as_secs() <= LAST_HTTP_DATE.saturating_sub(now),
            "{text:?} at {now}: {wait:?}"
        );
    }
});
