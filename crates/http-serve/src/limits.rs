//! How long a listener waits for each thing a client owes it, how many connections it
//! holds at once, and how long shutdown waits for the ones still open.

use std::num::NonZeroUsize;
use std::time::Duration;

/// The bounds [`serve`](crate::serve) enforces. [`Default`] gives the documented
/// defaults; [`ListenerArgs`](crate::ListenerArgs) reads them from the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerLimits {
    /// How long a client may take to send a request head, counted from the moment the
    /// server starts waiting for it: on a new connection, and again after each response
    /// on a kept-alive one. So this is also the keep-alive idle timeout.
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request body, counted from the end of its
    /// head. It bounds reading the request, never the handler's own work.
    pub request_body_timeout: Duration,
    /// At most this many connections are served at once; the next ones wait in the
    /// kernel's accept queue until one ends. `None`: no cap.
    pub max_connections: Option<NonZeroUsize>,
    /// After shutdown is requested, how long connections may take to finish the
    /// request they are serving before they are closed regardless.
    pub shutdown_grace: Duration,
}

impl ListenerLimits {
    /// The default [`header_read_timeout`](Self::header_read_timeout).
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default [`request_body_timeout`](Self::request_body_timeout).
    pub const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
    /// The default [`max_connections`](Self::max_connections): well below the common
    /// open-file limit of 1024, so a flood of connections leaves descriptors for the
    /// server's own outgoing calls.
    pub const DEFAULT_MAX_CONNECTIONS: NonZeroUsize = match NonZeroUsize::new(512) {
        Some(cap) => cap,
        None => panic!("512 is not zero"),
    };
    /// The default [`shutdown_grace`](Self::shutdown_grace): longer than the MCP
    /// server's slowest legitimate request (a 30 s exchange deadline plus one private
    /// API call).
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(45);
}

impl Default for ListenerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            request_body_timeout: Self::DEFAULT_REQUEST_BODY_TIMEOUT,
            max_connections: Some(Self::DEFAULT_MAX_CONNECTIONS),
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}
