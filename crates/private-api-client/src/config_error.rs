/// Why a [`PrivateApiClient`](crate::PrivateApiClient) could not be built.
///
/// These are mistakes in configuration (usually `API_BASE_URL`), reported before any
/// request is made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The base URL does not parse.
    #[error("the private API base URL is not a valid URL: {0}")]
    InvalidUrl(#[from] url::ParseError),
    /// Only `http` and `https` are spoken.
    #[error("the private API base URL must use http or https, not {scheme:?}")]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// A query would be lost or misplaced when the endpoint path is appended.
    #[error("the private API base URL must not have a query string")]
    HasQuery,
    /// A fragment is never sent and almost certainly a typo.
    #[error("the private API base URL must not have a fragment")]
    HasFragment,
    /// Credentials in the URL would be sent alongside the bearer token; refuse them.
    #[error("the private API base URL must not contain a user name or password")]
    HasUserinfo,
    /// Plain `http` to a host that is not loopback would send every token in clear
    /// text; see [`ClientOptions::allow_plain_http`](crate::ClientOptions::allow_plain_http).
    #[error(
        "the private API base URL uses plain http on a host that is not loopback ({host}): use https, or allow plain http explicitly"
    )]
    PlainHttp {
        /// The host found.
        host: String,
    },
    /// The URL has no host to connect to.
    #[error("the private API base URL has no host")]
    NoHost,
    /// The HTTP client could not be built (for example, no TLS backend).
    #[error("could not build the HTTP client: {0}")]
    HttpClient(String),
}
