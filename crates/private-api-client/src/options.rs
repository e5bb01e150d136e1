use std::time::Duration;

/// Limits for a [`PrivateApiClient`](crate::PrivateApiClient).
///
/// The defaults suit a service on the same network: the upstream call sits inside an
/// MCP tool call, so a slow API must fail fast rather than hold the tool open.
///
/// Start from the defaults and change what you need; more limits may come, so the
/// struct cannot be written as a literal:
///
/// ```
/// use std::time::Duration;
/// use private_api_client::ClientOptions;
///
/// let options = ClientOptions::default()
///     .with_timeout(Duration::from_secs(5))
///     .with_max_body_bytes(64 * 1024);
/// assert_eq!(options.connect_timeout, ClientOptions::DEFAULT_CONNECT_TIMEOUT);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// Time allowed to establish the TCP (and TLS) connection. Default 2 s.
    pub connect_timeout: Duration,
    /// Time allowed for the whole request, from sending to the last body byte.
    /// Default 10 s. Applied per request, so it also bounds a client given to
    /// [`PrivateApiClient::with_http_client`](crate::PrivateApiClient::with_http_client).
    pub timeout: Duration,
    /// Largest response body accepted, in bytes. Default 1 MiB.
    pub max_body_bytes: usize,
    /// Allows an `http://` base URL whose host is not loopback. Off by default: every
    /// token sent to the API would cross the network in clear text. Loopback
    /// (`127.0.0.1`, `::1`, `localhost`) is always allowed, for tests and local use.
    pub allow_plain_http: bool,
}

impl ClientOptions {
    /// The default connect timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
    /// The default request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

    /// Replaces [`connect_timeout`](Self::connect_timeout).
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Replaces [`timeout`](Self::timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Replaces [`max_body_bytes`](Self::max_body_bytes).
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// Replaces [`allow_plain_http`](Self::allow_plain_http).
    #[must_use]
    pub fn with_allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            timeout: Self::DEFAULT_TIMEOUT,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            allow_plain_http: false,
        }
    }
}
