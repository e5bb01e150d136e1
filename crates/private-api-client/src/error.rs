use crate::excerpt::{MAX_EXCERPT_CHARS, sanitize};

/// Why a call to the private API failed.
///
/// No variant ever holds the bearer token: bodies and headers copied from the response
/// are scrubbed of it, and a transport error is described without the request's URL
/// (whose query could carry secrets) and scrubbed of it too.
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
    /// A failed request: [`ApiError::Timeout`] when it took too long, otherwise
    /// [`ApiError::Transport`] with [`describe_reqwest_error`]'s text.
    pub(crate) fn from_reqwest(error: &reqwest::Error, token: &str) -> Self {
        if error.is_timeout() {
            return Self::Timeout;
        }
        Self::Transport(describe_reqwest_error(error, token))
    }

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

/// Describes a failed HTTP request in words safe to log and to return: what failed
/// (connecting, following a redirect, reading the answer…) and the chain of causes
/// under it.
///
/// reqwest's own `Display` names the request URL, query included, and a query can
/// carry secrets. This description leaves the URL out (the error already says it was
/// the private API), cuts the query and fragment from any URL a cause mentions (a
/// redirect's target, say), and passes the text through the same scrubber as
/// response bodies: bounded, printable, and without `token`, whatever a cause says.
pub(crate) fn describe_reqwest_error(error: &reqwest::Error, token: &str) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "redirect failed"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    };
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&strip_url_queries(&cause.to_string()));
        source = cause.source();
    }
    sanitize(&text, token, MAX_EXCERPT_CHARS)
}

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

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";

    #[test]
    fn url_queries_and_fragments_are_cut_from_every_word() {
        assert_eq!(
            strip_url_queries("to https://x/y?token=abc: refused (http://z/#f) a?b"),
            "to https://x/y refused (http://z/ a?b"
        );
    }

    /// A real failure, to a port nothing listens on, against a URL with a secret in
    /// its query: reqwest's own `Display` shows it, the description does not, nor
    /// the bearer token sent along.
    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url_or_its_query() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/api/private-scope?secret=s3cr3t#frag");
        let error = reqwest::Client::new()
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap_err();
        assert!(error.to_string().contains("s3cr3t"), "the hazard is real");
        let described = ApiError::from_reqwest(&error, TOKEN);
        let ApiError::Transport(text) = &described else {
            panic!("{described:?}")
        };
        assert!(text.starts_with("connection failed: "), "{text}");
        let shown = format!("{described} {described:?}");
        for hidden in ["s3cr3t", "secret", "private-scope", TOKEN] {
            assert!(!shown.contains(hidden), "{hidden} in {shown}");
        }
    }
}
