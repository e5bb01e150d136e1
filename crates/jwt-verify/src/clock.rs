//! The wall clock `exp` and `nbf` are checked against, replaceable in tests.
//!
//! jsonwebtoken reads the system time itself, which no test can move; so its time checks
//! are off and ours read this clock instead, both on a full verification and on a hit
//! in the verified-token cache.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, from the system or from a test.
#[derive(Clone)]
pub(crate) struct Clock(Option<Arc<AtomicU64>>);

impl Clock {
    pub(crate) fn system() -> Self {
        Self(None)
    }

    pub(crate) fn manual(clock: &ManualClock) -> Self {
        Self(Some(Arc::clone(&clock.0)))
    }

    pub(crate) fn now(&self) -> u64 {
        match &self.0 {
            Some(manual) => manual.load(Ordering::SeqCst),
            // A system clock set before 1970 reads as 1970 (jsonwebtoken panicked).
            None => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs()),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(manual)"
        } else {
            "Clock(system)"
        })
    }
}

/// A clock a test sets by hand (seconds since the Unix epoch), for
/// [`JwksVerifier::with_clock`](crate::JwksVerifier::with_clock). Not for production.
#[doc(hidden)]
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock that reads `now` until moved.
    pub fn new(now: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// The time it reads.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets the time (it may go back).
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }

    /// Moves the time forward by `seconds`.
    pub fn advance(&self, seconds: u64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}
