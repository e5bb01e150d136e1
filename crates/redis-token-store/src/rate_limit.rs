//! The exchange rate limit (e.g. `8/s`; `mcp-server`'s `EXCHANGE_RATE_LIMIT`) and the GCRA that
//! enforces it in one process, when Redis cannot be asked.
//!
//! GCRA (the generic cell rate algorithm) keeps one number, the theoretical arrival
//! time (TAT) of the next request: a request may go when `TAT ≤ now`, and then moves
//! the TAT one emission interval (`period / count`) on. With no burst allowance this
//! is the strictest reading of the tenant's limit: never more than `count` exchanges
//! in any window of one `period`. The fleet-wide version is the Lua script in
//! [`scripts`](crate::scripts), with Redis's clock.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::ConfigError;

/// A rate: at most `count` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    count: NonZeroU32,
    period: Duration,
}

impl RateLimit {
    /// `count` per `period`; `None` for a zero period.
    #[must_use]
    pub fn new(count: NonZeroU32, period: Duration) -> Option<Self> {
        (!period.is_zero()).then_some(Self { count, period })
    }

    /// How many per period.
    #[must_use]
    pub fn count(&self) -> NonZeroU32 {
        self.count
    }

    /// The period.
    #[must_use]
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The spacing between two requests: `period / count`.
    #[must_use]
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count.get()
    }

    /// One replica's share when `replicas` divide the rate: the interval `replicas`
    /// times as long.
    #[must_use]
    pub fn share(&self, replicas: NonZeroU32) -> Duration {
        self.emission_interval().saturating_mul(replicas.get())
    }
}

impl FromStr for RateLimit {
    type Err = ConfigError;

    /// `COUNT/s`, `COUNT/sec`, `COUNT/m` or `COUNT/min` (spaces around are allowed).
    fn from_str(value: &str) -> Result<Self, ConfigError> {
        let invalid = || ConfigError::InvalidRateLimit(value.chars().take(40).collect());
        let (count, unit) = value.trim().split_once('/').ok_or_else(invalid)?;
        let count: NonZeroU32 = count.trim().parse().map_err(|_| invalid())?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            _ => return Err(invalid()),
        };
        Self::new(count, period).ok_or_else(invalid)
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.period == Duration::from_secs(60) {
            write!(f, "{}/min", self.count)
        } else {
            write!(f, "{}/s", self.count)
        }
    }
}

/// GCRA in one process: the replica's own share of the budget.
#[derive(Debug)]
pub(crate) struct LocalGcra {
    interval: Duration,
    /// The theoretical arrival time of the next request; `None` before the first.
    tat: Mutex<Option<Instant>>,
}

impl LocalGcra {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            interval,
            tat: Mutex::new(None),
        }
    }

    /// `None` to go now (and the request is counted), or how long to wait before
    /// asking again.
    pub(crate) fn acquire(&self, now: Instant) -> Option<Duration> {
        // A poisoned lock only means another thread panicked between two plain
        // assignments; the value is still a valid instant.
        let mut tat = self
            .tat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = tat.map_or(now, |tat| tat.max(now));
        if current > now {
            return Some(current - now);
        }
        *tat = Some(current + self.interval);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_tenant_limits() {
        let limit: RateLimit = "8/s".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limit.count().get(), 8);
        assert_eq!(limit.period(), Duration::from_secs(1));
        assert_eq!(limit.emission_interval(), Duration::from_millis(125));
        let limit: RateLimit = " 120 / min ".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(limit.emission_interval(), Duration::from_millis(500));
        assert_eq!(limit.to_string(), "120/min");
    }

    #[test]
    fn refuses_what_is_not_a_rate() {
        for bad in [
            "",
            "8",
            "0/s",
            "-1/s",
            "8/h",
            "eight/s",
            "8/s/s",
            "99999999999/s",
        ] {
            let error = bad.parse::<RateLimit>().expect_err(bad);
            assert!(matches!(error, ConfigError::InvalidRateLimit(_)), "{bad}");
            assert!(
                error.to_string().contains("8/s"),
                "the fix is named: {error}"
            );
        }
    }

    #[test]
    fn a_replica_share_spaces_its_requests_by_replicas_times_the_interval() {
        let limit: RateLimit = "8/s".parse().unwrap_or_else(|e| panic!("{e}"));
        let replicas = NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN);
        assert_eq!(limit.share(replicas), Duration::from_millis(375));
    }

    #[test]
    fn local_gcra_lets_one_through_per_interval() {
        let gcra = LocalGcra::new(Duration::from_millis(100));
        let start = Instant::now();
        assert_eq!(gcra.acquire(start), None);
        assert_eq!(gcra.acquire(start), Some(Duration::from_millis(100)));
        let later = start + Duration::from_millis(40);
        assert_eq!(gcra.acquire(later), Some(Duration::from_millis(60)));
        let due = start + Duration::from_millis(100);
        assert_eq!(gcra.acquire(due), None);
        assert_eq!(gcra.acquire(due), Some(Duration::from_millis(100)));
        // After a quiet spell, no credit is banked: one at once, then spaced again.
        let quiet = start + Duration::from_secs(10);
        assert_eq!(gcra.acquire(quiet), None);
        assert_eq!(gcra.acquire(quiet), Some(Duration::from_millis(100)));
    }
}
