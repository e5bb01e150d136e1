//! When to try an exchange again, and how long to wait first.
//!
//! Auth0 allows only a few exchanges per second per tenant, shared by every
//! caller, so retries are few (at most two), spread out (jittered exponential
//! backoff, so many instances failing together do not retry together), bounded
//! by an overall deadline, and never spent on a definite answer (4xx).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::error::ExchangeError;

/// How the client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 2).
    pub max_retries: u32,
    /// Backoff before the first retry; doubled for each further one (default
    /// 200 ms). The actual wait is jittered between half and all of it.
    pub initial_backoff: Duration,
    /// Upper bound for one backoff (default 2 s).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 2,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// At most `max_retries` retries, the first after `initial_backoff`, each later
    /// one after twice the last, never more than `max_backoff` (each jittered).
    #[must_use]
    pub fn new(max_retries: u32, initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self {
            max_retries,
            initial_backoff,
            max_backoff,
        }
    }

    /// How long to wait before retry number `retry` (1-based) after `error`, or
    /// `None` when the error must be returned as it is: it is not retryable, the
    /// retries are spent, or the wait would not fit in `remaining`.
    pub(crate) fn delay_before_retry(
        &self,
        error: &ExchangeError,
        retry: u32,
        remaining: Duration,
    ) -> Option<Duration> {
        if retry > self.max_retries || !error.is_retryable() {
            return None;
        }
        let delay = match error {
            // The server said when; waiting less would be refused again, and a
            // 429 without a hint is not retried (guessing only adds load).
            ExchangeError::RateLimited { retry_after } => (*retry_after)?,
            _ => self.backoff(retry),
        };
        // The retry needs time of its own after the wait.
        (delay < remaining).then_some(delay)
    }

    /// Jittered exponential backoff: between 50 % and 100 % of
    /// `initial_backoff × 2^(retry−1)`, capped at `max_backoff`.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(rand::random_range(0..=jitter_nanos))
    }
}

/// How long a 429 asks us to wait: `Retry-After` (delay-seconds or an HTTP date,
/// RFC 9110 §10.2.3), else Auth0's `x-ratelimit-reset` (epoch seconds when the
/// window resets).
///
/// HTTP dates are read by `httpdate` (hyper's parser): all three formats RFC 9110
/// §5.6.7 asks recipients to accept, years 1970 to 9999 only, so no date a server
/// sends can overflow the arithmetic; anything else is ignored as if absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Some(secs) = decimal(value) {
            return Some(Duration::from_secs(secs));
        }
        if let Ok(at) = httpdate::parse_http_date(value) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| decimal(v.trim()))?;
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `1*DIGIT` (RFC 9110 `delay-seconds`): `u64::from_str` would also take a sign.
fn decimal(value: &str) -> Option<u64> {
    value
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| value.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    /// The wait a 429 with this `Retry-After` (and `x-ratelimit-reset`, if given) asks for.
    fn wait(retry_after_value: &str, reset: Option<&str>, now: SystemTime) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(retry_after_value) {
            headers.insert(RETRY_AFTER, value);
        }
        if let Some(reset) = reset {
            headers.insert(
                "x-ratelimit-reset",
                HeaderValue::from_str(reset).expect("a test header value"),
            );
        }
        retry_after(&headers, now)
    }

    const NOV_1994: u64 = 784_111_770;
    /// 9999-12-31T23:59:59Z, the last instant an HTTP date can name.
    const LAST_HTTP_DATE: u64 = 253_402_300_799;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn finding_5_a_retry_after_date_in_year_1000000000000_is_ignored_not_an_overflow() {
        let header = "Sun, 06 Nov 1000000000000 08:49:37 GMT";
        assert_eq!(wait(header, None, at(NOV_1994)), None);
        // The rate limit's own reset time still applies.
        assert_eq!(
            wait(header, Some("784111773"), at(NOV_1994)),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn rfc9110_5_6_7_all_three_http_date_formats_are_accepted() {
        for date in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                wait(date, None, at(NOV_1994)),
                Some(Duration::from_secs(7)),
                "{date}"
            );
        }
        assert_eq!(
            wait("Thu, 01 Jan 1970 00:00:00 GMT", None, UNIX_EPOCH),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn rfc9110_10_2_3_retry_after_edge_cases() {
        let now = at(NOV_1994);
        let year_9999 = "Fri, 31 Dec 9999 23:59:59 GMT";
        assert_eq!(
            wait(year_9999, None, now),
            Some(Duration::from_secs(LAST_HTTP_DATE - NOV_1994))
        );
        for ignored in [
            "Sat, 01 Jan 10000 00:00:00 GMT",
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
            "Sun, 06 Nov -1994 08:49:37 GMT",
            "Thu, 31 Dec 1969 23:59:59 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "-5",
            "+5",
            "5.5",
            "18446744073709551616",
            "",
            "garbage",
        ] {
            assert_eq!(wait(ignored, None, now), None, "{ignored:?}");
        }
        assert_eq!(
            wait("18446744073709551615", None, now),
            Some(Duration::from_secs(u64::MAX))
        );
        // A date already past means "now", not a negative or wrapped wait.
        assert_eq!(
            wait("Sun, 06 Nov 1994 08:49:37 GMT", None, at(NOV_1994 + 3600)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            wait("", Some("18446744073709551615"), now),
            None,
            "a reset beyond SystemTime's range is ignored"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_imf_fixdate_shaped_value_is_bounded_by_year_9999(
            day in 0u64..100,
            month in proptest::sample::select(&["Jan", "Feb", "Nov", "Dec", "Foo"][..]),
            year in proptest::prelude::any::<u64>(),
            hour in 0u64..100,
            now in 0u64..LAST_HTTP_DATE,
        ) {
            let header = format!("Sun, {day:02} {month} {year} {hour:02}:49:37 GMT");
            if let Some(wait) = wait(&header, None, at(now)) {
                proptest::prop_assert!(wait.as_secs() <= LAST_HTTP_DATE - now, "{header}");
            }
        }

        #[test]
        fn any_value_and_any_clock_never_panic(value in "\\PC{0,40}", reset in "[0-9-]{0,25}", now in proptest::prelude::any::<u32>()) {
            let _ = wait(&value, Some(&reset), at(u64::from(now)));
        }

        #[test]
        fn delay_seconds_are_taken_as_they_are(secs in proptest::prelude::any::<u64>()) {
            proptest::prop_assert_eq!(
                wait(&secs.to_string(), None, at(NOV_1994)),
                Some(Duration::from_secs(secs))
            );
        }
    }

    #[test]
    fn rfc9110_10_2_3_retry_after_seconds_date_and_auth0_reset() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_770);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("5"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(5)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(7)));
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-reset", HeaderValue::from_static("784111773"));
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn only_retryable_errors_within_budget_are_retried() {
        let p = RetryPolicy::default();
        let server = ExchangeError::Server {
            status: StatusCode::BAD_GATEWAY,
        };
        let long = Duration::from_secs(60);
        assert!(p.delay_before_retry(&server, 1, long).is_some());
        assert!(p.delay_before_retry(&server, 2, long).is_some());
        assert!(p.delay_before_retry(&server, 3, long).is_none());
        assert!(
            p.delay_before_retry(&server, 1, Duration::from_millis(1))
                .is_none()
        );
        let limited = ExchangeError::RateLimited { retry_after: None };
        assert!(p.delay_before_retry(&limited, 1, long).is_none());
        let limited = ExchangeError::RateLimited {
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            p.delay_before_retry(&limited, 1, long),
            Some(Duration::from_secs(1))
        );
        let denied = ExchangeError::config("x");
        assert!(p.delay_before_retry(&denied, 1, long).is_none());
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let p = RetryPolicy::default();
        for _ in 0..100 {
            let b1 = p.backoff(1);
            assert!(b1 >= Duration::from_millis(100) && b1 <= Duration::from_millis(200));
            let b9 = p.backoff(9);
            assert!(b9 <= p.max_backoff);
        }
    }
}
