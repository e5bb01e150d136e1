/// Why a call to the private API failed.
///
/// No variant ever holds the bearer token: bodies and headers copied from the response
/// are scrubbed of it, and transport errors keep only reqwest's description (which
/// carries no headers).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 401: the API rejected the token (expired, revoked, wrong audience...). A caller
    /// holding a cached token should drop it and retry once with a fresh one.
    #[error("the private API rejected the token (401)")]
    Unauthorized {
        /// The API's `WWW-Authenticate` challenge, bounded and scrubbed.
        www_authenticate: Option<String>,
    },
    /// 403 with `error="insufficient_scope"`: the token is valid but lacks a scope.
    #[error("the token lacks a scope the private API requires{}", scope.as_deref().map(|s| format!(" ({s})")).unwrap_or_default())]
    InsufficientScope {
        /// The scopes the API asked for, from the challenge's `scope` parameter.
        scope: Option<String>,
    },
    /// Any other unsuccessful status, including a redirect that was not followed.
    #[error("the private API answered {status}{}", if body_excerpt.is_empty() { String::new() } else { format!(": {body_excerpt}") })]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The start of the body, at most 256 characters, without control characters
        /// and without the bearer token.
        body_excerpt: String,
    },
    /// The connection or the whole request took too long.
    #[error("the private API did not answer in time")]
    Timeout,
    /// The request could not be sent or the response not read.
    #[error("could not reach the private API: {0}")]
    Transport(String),
    /// A successful status with a body that is not the expected JSON.
    #[error("the private API sent an invalid response: {0}")]
    InvalidResponse(String),
    /// The body exceeded the configured limit; it was not read further.
    #[error("the private API's response exceeded {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The token cannot be sent as a bearer token (empty, or characters outside
    /// RFC 6750's `b64token`). Nothing was sent.
    #[error("the bearer token is empty or not a valid RFC 6750 b64token")]
    InvalidBearer,
    /// The path is absolute or leaves the API's base URL. Nothing was sent.
    #[error(
        "the path {0:?} is not under the API's base URL: pass a path relative to it, such as `orders/7`"
    )]
    InvalidPath(String),
    /// The request body could not be serialised as JSON. Nothing was sent.
    #[error("the request body cannot be serialised as JSON: {0}")]
    InvalidRequest(String),
}

impl ApiError {
    /// Whether the API rejected the token itself, so that a fresh token may succeed.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }

    /// Whether trying again later, with the same token, might succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport(_) => true,
            Self::Status { status, .. } => *status == 429 || (500..600).contains(status),
            _ => false,
        }
    }

    /// A short, fixed label for metrics and logs (low cardinality).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized { .. } => "unauthorized",
            Self::InsufficientScope { .. } => "insufficient_scope",
            Self::Status { .. } => "status",
            Self::Timeout => "timeout",
            Self::Transport(_) => "transport",
            Self::InvalidResponse(_) => "invalid_response",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::InvalidBearer => "invalid_bearer",
            Self::InvalidPath(_) => "invalid_path",
            Self::InvalidRequest(_) => "invalid_request",
        }
    }

    /// The HTTP status behind this error, when there was a response.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Unauthorized { .. } => Some(401),
            Self::InsufficientScope { .. } => Some(403),
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A label for metrics: the status code class when there was a response
    /// (`"401"`, `"403"`, `"4xx"`, `"5xx"`...), otherwise [`kind`](Self::kind).
    pub fn status_label(&self) -> &'static str {
        match self.status() {
            Some(401) => "401",
            Some(403) => "403",
            Some(429) => "429",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(500..=599) => "5xx",
            Some(_) => "other",
            None => self.kind(),
        }
    }
}
