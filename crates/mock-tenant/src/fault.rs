//! Faults the token endpoint can be told to produce, and the queue that hands them out.

use std::collections::VecDeque;
use std::time::Duration;

/// A misbehaviour of the token endpoint (`POST /oauth/token`), injected with
/// [`MockTenant::inject`](crate::MockTenant::inject).
///
/// A fault replaces the normal answer (except [`Fault::Delay`], which only delays it),
/// whatever the request carries: nothing is checked and no exchange is counted, though
/// the attempt is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 429 as Auth0 sends it when the tenant's rate limit for the grant is reached:
    /// `Retry-After`, `x-ratelimit-limit`, `x-ratelimit-remaining: 0`,
    /// `x-ratelimit-reset` (Unix seconds), and
    /// `{"error": "too_many_requests", "error_description": ...}`.
    RateLimited {
        /// The `Retry-After` value in seconds; also sets `x-ratelimit-reset`.
        retry_after_secs: u64,
    },
    /// 500 `{"error": "server_error", ...}`.
    ServerError,
    /// Waits this long, then answers normally (every check applies).
    Delay(Duration),
    /// 200 with an HTML page instead of JSON, as a captive portal or proxy might send.
    NonJson,
    /// 200 JSON shaped like a success but without `access_token`.
    MissingAccessToken,
    /// Any OAuth error, e.g. 403 `unauthorized_client` for a client that is not a
    /// Custom API client and so may not use On-Behalf-Of.
    OAuthError {
        /// HTTP status.
        status: u16,
        /// The `error` code.
        error: String,
        /// The `error_description`.
        description: String,
    },
}

/// Injected faults, oldest first; the oldest still active applies to the next request.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    entries: VecDeque<(Fault, Option<usize>)>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault, times: Option<usize>) {
        if times != Some(0) {
            self.entries.push_back((fault, times));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The fault for this request, using up one of its remaining times.
    pub(crate) fn take(&mut self) -> Option<Fault> {
        let (fault, remaining) = self.entries.front_mut()?;
        let fault = fault.clone();
        match remaining {
            None => {}
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.entries.pop_front();
            }
        }
        Some(fault)
    }
}
