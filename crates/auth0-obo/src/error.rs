//! Everything that can go wrong with an exchange, named after the OAuth error codes
//! (RFC 6749 §5.2, RFC 8693 §2.2.2) so callers can match on what the server said.

use std::time::Duration;

use reqwest::StatusCode;

/// What the token endpoint said alongside an OAuth error code.
///
/// `description` and `uri` come from the server (`error_description`,
/// `error_uri`). They are trimmed to a bounded length, stripped of control
/// characters, and scrubbed of the subject token and client secret in case a
/// server echoes them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthErrorDetails {
    /// The HTTP status of the error response.
    pub status: StatusCode,
    /// `error_description`, when the server sent one.
    pub description: Option<String>,
    /// `error_uri`, when the server sent one.
    pub uri: Option<String>,
}

impl OAuthErrorDetails {
    /// Details of an error answered with `status`, with no description or URI: for
    /// other [`TokenExchanger`](crate::TokenExchanger) implementations and tests.
    #[must_use]
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            description: None,
            uri: None,
        }
    }

    /// With this `error_description`.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    fn suffix(&self) -> String {
        let mut out = format!(" (HTTP {})", self.status.as_u16());
        if let Some(d) = &self.description {
            out.push_str(": ");
            out.push_str(d);
        }
        if let Some(u) = &self.uri {
            out.push_str(" [");
            out.push_str(u);
            out.push(']');
        }
        out
    }
}

/// A failed token exchange.
///
/// The OAuth variants mirror the `error` codes of RFC 6749 §5.2 and RFC 8693
/// §2.2.2. What Auth0 means by each (see `docs/architecture.md`):
/// `InvalidRequest` is a bad or unacceptable subject token (also an `act` chain
/// deeper than 4), `InvalidClient` is bad client credentials, and
/// `UnauthorizedClient`/`AccessDenied` mean the client or the user is not allowed
/// (a missing client grant, a client that is not a Custom API client).
///
/// The error is `Clone` because concurrent cache misses for one key share a single
/// exchange, and each waiter receives its own copy of the outcome.
///
/// No variant ever contains the subject token, the exchanged token or the client
/// secret, in its fields or its `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExchangeError {
    /// `invalid_request`: a missing or malformed parameter, or a subject token the
    /// server will not accept.
    #[error("token endpoint refused the exchange: invalid_request{}", .0.suffix())]
    InvalidRequest(OAuthErrorDetails),
    /// `invalid_client`: client authentication failed.
    #[error("token endpoint refused the exchange: invalid_client{}", .0.suffix())]
    InvalidClient(OAuthErrorDetails),
    /// `invalid_grant`: the subject token is invalid, expired or revoked.
    #[error("token endpoint refused the exchange: invalid_grant{}", .0.suffix())]
    InvalidGrant(OAuthErrorDetails),
    /// `unauthorized_client`: this client may not use token exchange.
    #[error("token endpoint refused the exchange: unauthorized_client{}", .0.suffix())]
    UnauthorizedClient(OAuthErrorDetails),
    /// `unsupported_grant_type`: the server does not do RFC 8693 for this client.
    #[error("token endpoint refused the exchange: unsupported_grant_type{}", .0.suffix())]
    UnsupportedGrantType(OAuthErrorDetails),
    /// `invalid_scope`: the requested scope is unknown or too broad.
    #[error("token endpoint refused the exchange: invalid_scope{}", .0.suffix())]
    InvalidScope(OAuthErrorDetails),
    /// `invalid_target` (RFC 8693 §2.2.2): the audience is unknown or not allowed.
    #[error("token endpoint refused the exchange: invalid_target{}", .0.suffix())]
    InvalidTarget(OAuthErrorDetails),
    /// `access_denied`: the user or client is not permitted.
    #[error("token endpoint refused the exchange: access_denied{}", .0.suffix())]
    AccessDenied(OAuthErrorDetails),
    /// Any other OAuth error code.
    #[error("token endpoint refused the exchange: {code}{}", details.suffix())]
    Other {
        /// The `error` code as sent (bounded and sanitised).
        code: String,
        /// Status and description.
        details: OAuthErrorDetails,
    },
    /// HTTP 429. `retry_after` comes from `Retry-After` (seconds or an HTTP date),
    /// else from Auth0's `x-ratelimit-reset` (epoch seconds).
    #[error("token endpoint rate limited the exchange{}", retry_after_suffix(*.retry_after))]
    RateLimited {
        /// How long the server asked us to wait, when it said.
        retry_after: Option<Duration>,
    },
    /// A 5xx (or other unexpected) status from the token endpoint.
    #[error("token endpoint failed with HTTP {}", .status.as_u16())]
    Server {
        /// The status received.
        status: StatusCode,
    },
    /// No answer within the request timeout or the overall deadline.
    #[error("token exchange timed out after {} ms", .after.as_millis())]
    Timeout {
        /// How long we waited in total.
        after: Duration,
    },
    /// The request could not be sent or the response not received (DNS, TCP, TLS).
    #[error("could not reach the token endpoint: {message}")]
    Transport {
        /// What failed, without URLs, query strings or secrets.
        message: String,
    },
    /// The token endpoint answered, but not with a usable OAuth response.
    #[error("invalid response from the token endpoint: {reason}")]
    InvalidResponse {
        /// What was wrong with it.
        reason: String,
    },
    /// The fleet-wide exchange budget (a [`SharedTokenStore`](crate::SharedTokenStore)'s
    /// rate limiter) had no room within the longest wait allowed. Nothing was sent.
    #[error(
        "the fleet-wide token exchange budget had no room within {} ms; the fleet is exchanging at its configured rate (EXCHANGE_RATE_LIMIT in mcp-server): raise the Auth0 tenant's rate limit for token exchange and EXCHANGE_RATE_LIMIT with it, or retry shortly",
        .max_wait.as_millis()
    )]
    BudgetExhausted {
        /// The longest wait allowed (`CacheOptions::exchange_budget_wait`).
        max_wait: Duration,
    },
    /// The caller's input was refused before anything was sent.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which input (`subject_token`, `audience`, `scope`).
        field: &'static str,
        /// Why. Never echoes the input.
        reason: &'static str,
    },
    /// The client is misconfigured (issuer, CA bundle, discovery document).
    #[error("token exchange is misconfigured: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
}

fn retry_after_suffix(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(" (retry after {} s)", d.as_secs_f64().ceil()),
        None => String::new(),
    }
}

impl ExchangeError {
    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Self::Config {
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_response(reason: impl Into<String>) -> Self {
        Self::InvalidResponse {
            reason: reason.into(),
        }
    }

    /// The request could not be sent or its answer not read, described by
    /// [`describe_reqwest_error`].
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        Self::Transport {
            message: describe_reqwest_error(error),
        }
    }

    /// Maps an RFC 6749 §5.2 / RFC 8693 §2.2.2 `error` code to its variant.
    pub(crate) fn from_oauth_code(code: &str, details: OAuthErrorDetails) -> Self {
        match code {
            "invalid_request" => Self::InvalidRequest(details),
            "invalid_client" => Self::InvalidClient(details),
            "invalid_grant" => Self::InvalidGrant(details),
            "unauthorized_client" => Self::UnauthorizedClient(details),
            "unsupported_grant_type" => Self::UnsupportedGrantType(details),
            "invalid_scope" => Self::InvalidScope(details),
            "invalid_target" => Self::InvalidTarget(details),
            "access_denied" => Self::AccessDenied(details),
            other => Self::Other {
                code: other.to_owned(),
                details,
            },
        }
    }

    /// Whether trying the same exchange again may succeed: transport failures,
    /// timeouts, 5xx, rate limiting and an exhausted fleet budget. OAuth errors (4xx)
    /// are answers, not accidents, and repeating them only spends the tenant's rate
    /// limit.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. }
                | Self::BudgetExhausted { .. }
                | Self::Server { .. }
                | Self::Timeout { .. }
                | Self::Transport { .. }
        )
    }

    /// The OAuth `error` code, for the OAuth variants.
    #[must_use]
    pub fn oauth_error_code(&self) -> Option<&str> {
        Some(match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::Other { code, .. } => code,
            _ => return None,
        })
    }

    /// Status, `error_description` and `error_uri`, for the OAuth variants.
    #[must_use]
    pub fn oauth_details(&self) -> Option<&OAuthErrorDetails> {
        match self {
            Self::InvalidRequest(d)
            | Self::InvalidClient(d)
            | Self::InvalidGrant(d)
            | Self::UnauthorizedClient(d)
            | Self::UnsupportedGrantType(d)
            | Self::InvalidScope(d)
            | Self::InvalidTarget(d)
            | Self::AccessDenied(d)
            | Self::Other { details: d, .. } => Some(d),
            _ => None,
        }
    }

    /// The HTTP status the token endpoint answered with, when there was one.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Self::Server { status } => Some(*status),
            other => other.oauth_details().map(|d| d.status),
        }
    }

    /// A short, fixed label for metrics (`invalid_grant`, `timeout`, …). Unknown
    /// OAuth codes are all `other_oauth`, so the label set stays small.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient(_) => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::AccessDenied(_) => "access_denied",
            Self::Other { .. } => "other_oauth",
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server",
            Self::Timeout { .. } => "timeout",
            Self::Transport { .. } => "transport",
            Self::InvalidResponse { .. } => "invalid_response",
            Self::BudgetExhausted { .. } => "budget_exhausted",
            Self::InvalidInput { .. } => "invalid_input",
            Self::Config { .. } => "config",
        }
    }
}

/// Every value [`ExchangeError::kind`] can return, in a fixed order (used by the
/// cache's failure counters).
pub const ERROR_KINDS: [&str; 17] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "access_denied",
    "other_oauth",
    "rate_limited",
    "server",
    "timeout",
    "transport",
    "invalid_response",
    "budget_exhausted",
    "invalid_input",
    "config",
];

/// Describes a failed HTTP request in words safe to log and to return: what failed
/// (connecting, timing out, reading the answer…) and the chain of causes under it.
///
/// reqwest's own `Display` names the request URL, query included, and a query can
/// carry secrets. This description leaves the URL out (the error's variant already
/// says which endpoint: the token endpoint, the discovery document), cuts the query
/// and fragment from any URL a cause mentions, drops control characters and stays
/// under 300 characters. The subject token and the client secret travel only in the
/// form body and the `Authorization` header, which a reqwest error never holds.
pub(crate) fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let what = if error.is_connect() {
        "connection failed"
    } else if error.is_timeout() {
        "timed out"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else if error.is_request() {
        "sending the request failed"
    } else if error.is_builder() {
        "building the request failed"
    } else {
        "HTTP failure"
    };
    let mut message = what.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&strip_url_queries(&cause.to_string()));
        source = cause.source();
    }
    message
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

/// The longest [`describe_reqwest_error`] text, in characters.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// Cuts `?…` and `#…` from every URL-looking word of `text`.
fn strip_url_queries(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.find("://") {
            Some(scheme_end) => word[scheme_end..]
                .find(['?', '#'])
                .map_or(word, |cut| &word[..scheme_end + cut]),
            None => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_queries_and_fragments_are_cut_from_every_word() {
        assert_eq!(
            strip_url_queries("error for https://x/y?token=abc: refused (http://z/#f) a?b"),
            "error for https://x/y refused (http://z/ a?b"
        );
    }

    /// A real failure, to a port nothing listens on, against a URL with a secret in
    /// its query: reqwest's own `Display` shows it, the description does not.
    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url_or_its_query() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/oauth/token?secret=s3cr3t#frag");
        let error = reqwest::Client::new()
            .post(&url)
            .form(&[("subject_token", "eyJ.subject.token")])
            .send()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("s3cr3t"), "the hazard is real");
        let text = ExchangeError::transport(&error).to_string();
        assert!(
            text.starts_with("could not reach the token endpoint: connection failed: "),
            "{text}"
        );
        for hidden in ["s3cr3t", "secret", "oauth/token", "eyJ.subject.token"] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
    }

    fn details() -> OAuthErrorDetails {
        OAuthErrorDetails {
            status: StatusCode::BAD_REQUEST,
            description: Some("bad".into()),
            uri: None,
        }
    }

    #[test]
    fn every_kind_is_listed() {
        let samples = [
            ExchangeError::from_oauth_code("invalid_request", details()),
            ExchangeError::from_oauth_code("invalid_client", details()),
            ExchangeError::from_oauth_code("invalid_grant", details()),
            ExchangeError::from_oauth_code("unauthorized_client", details()),
            ExchangeError::from_oauth_code("unsupported_grant_type", details()),
            ExchangeError::from_oauth_code("invalid_scope", details()),
            ExchangeError::from_oauth_code("invalid_target", details()),
            ExchangeError::from_oauth_code("access_denied", details()),
            ExchangeError::from_oauth_code("slow_down", details()),
            ExchangeError::RateLimited { retry_after: None },
            ExchangeError::Server {
                status: StatusCode::BAD_GATEWAY,
            },
            ExchangeError::Timeout {
                after: Duration::from_secs(1),
            },
            ExchangeError::Transport {
                message: "x".into(),
            },
            ExchangeError::invalid_response("x"),
            ExchangeError::BudgetExhausted {
                max_wait: Duration::from_secs(2),
            },
            ExchangeError::InvalidInput {
                field: "audience",
                reason: "is empty",
            },
            ExchangeError::config("x"),
        ];
        assert_eq!(samples.len(), ERROR_KINDS.len());
        for (e, kind) in samples.iter().zip(ERROR_KINDS) {
            assert_eq!(e.kind(), kind);
        }
    }

    #[test]
    fn display_names_the_code_status_and_description() {
        let e = ExchangeError::from_oauth_code("invalid_grant", details());
        assert_eq!(
            e.to_string(),
            "token endpoint refused the exchange: invalid_grant (HTTP 400): bad"
        );
        assert_eq!(e.oauth_error_code(), Some("invalid_grant"));
        assert!(!e.is_retryable());
    }
}
