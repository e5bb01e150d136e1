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
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(value) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        let value = value.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        if let Some(at) = parse_http_date(value) {
            return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
        }
    }
    let reset = headers
        .get("x-ratelimit-reset")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(reset))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the HTTP-date form
/// that RFC 9110 §5.6.7 requires senders to use.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let rest = value.split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':');
    let hour: u64 = hms.next()?.parse().ok()?;
    let minute: u64 = hms.next()?.parse().ok()?;
    let second: u64 = hms.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || parts.next().is_some()
        || hms.next().is_some()
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
        || year < 1970
    {
        return None;
    }
    let days = u64::try_from(days_from_civil(year, month, i64::try_from(day).ok()?)).ok()?;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::HeaderValue;

    #[test]
    fn rfc9110_5_6_7_imf_fixdate() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(
            parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
            Some(UNIX_EPOCH)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
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
