//! One RFC 6750 §3 refusal, decided once and rendered the same by every server.
//!
//! A resource server that verifies bearer tokens must answer each failure with the
//! right status, the right `WWW-Authenticate` challenge and a body a person can read.
//! Left to each server, those drift: one forgets `Cache-Control: no-store`, another
//! picks its own status for a code. [`Refusal`] makes the whole decision from the
//! error this crate already returned ([`BearerError`], [`VerifyError`]) and knows no
//! HTTP framework: a server maps [`Refusal::status`], [`Refusal::headers`] and
//! [`Refusal::body`] onto its own response type in a few lines.
//!
//! | failure | status | challenge | body `error` |
//! |---|---|---|---|
//! | no `Authorization` header, or another scheme | 401 | `Bearer` with no `error` (RFC 6750 §3.1) | `invalid_token` |
//! | malformed header, empty token | 400 | `error="invalid_request"` | `invalid_request` |
//! | token that did not verify | 401 | `error="invalid_token"` | `invalid_token` |
//! | valid token lacking a scope | 403 | `error="insufficient_scope", scope="…"` | `insufficient_scope` |
//! | issuer's keys unavailable | 503, `Retry-After: 5` | none: the token may be fine | `temporarily_unavailable` |
//!
//! Every refusal carries `Cache-Control: no-store`: an authorization failure is about
//! one request and must not be replayed by a cache in between.

use crate::bearer::BearerError;
use crate::challenge::Challenge;
use crate::error::VerifyError;
use crate::error_code::BearerErrorCode;

/// The description a request without credentials gets in the body. The challenge
/// itself stays bare, as RFC 6750 §3.1 asks.
const MISSING_TOKEN_DESCRIPTION: &str = "an access token is required";

/// The body's `error` for a server-side failure (RFC 6749 §4.1.2.1 names it).
const TEMPORARILY_UNAVAILABLE: &str = "temporarily_unavailable";

/// How long a client should wait before retrying when keys are unavailable, in seconds.
const RETRY_AFTER_SECS: u32 = 5;

/// A bearer-token refusal: status, `WWW-Authenticate` challenge and JSON body.
///
/// Build it from the error that caused it, add the server's Protected Resource
/// Metadata URL when it has one (RFC 9728 §5.1), then render it:
///
/// ```
/// use oauth_jwt_verify::{bearer, Refusal};
///
/// let refusal = match bearer::parse_authorization("Bearer a b") {
///     Ok(_) => unreachable!(),
///     Err(error) => Refusal::from_bearer_error(error),
/// }
/// .resource_metadata("https://mcp.example/.well-known/oauth-protected-resource");
/// assert_eq!(refusal.status(), 400);
/// assert_eq!(
///     refusal.www_authenticate().as_deref(),
///     Some(r#"Bearer error="invalid_request", error_description="The Authorization header must hold exactly one bearer token", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource""#)
/// );
/// assert!(refusal.headers().contains(&("cache-control", "no-store".to_owned())));
/// assert_eq!(
///     refusal.body(),
///     r#"{"error":"invalid_request","error_description":"The Authorization header must hold exactly one bearer token"}"#
/// );
/// ```
///
/// With axum, the whole mapping is:
///
/// ```ignore
/// let mut response = Response::new(Body::from(refusal.body()));
/// *response.status_mut() = StatusCode::from_u16(refusal.status())?;
/// for (name, value) in refusal.headers() {
///     response.headers_mut().insert(HeaderName::from_static(name), HeaderValue::try_from(value)?);
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
    // Boxed: a refusal travels in `Err`, and the challenge's six optional strings
    // would make every `Result` carrying one several times larger.
    challenge: Option<Box<Challenge>>,
    cause: &'static str,
}

impl Refusal {
    /// No credentials: 401 with a bare `Bearer` challenge (RFC 6750 §3.1).
    pub fn missing_token() -> Self {
        Self {
            status: 401,
            error: BearerErrorCode::InvalidToken.as_str(),
            description: MISSING_TOKEN_DESCRIPTION.to_owned(),
            challenge: Some(Box::new(Challenge::new())),
            cause: "missing_token",
        }
    }

    /// An `Authorization` header that did not yield a bearer token. One using another
    /// scheme counts as no credentials at all, so it gets [`missing_token`](Self::missing_token).
    pub fn from_bearer_error(error: BearerError) -> Self {
        match error.error_code() {
            None => Self::missing_token(),
            Some(code) => Self::with_code(code, error.description(), "malformed_header"),
        }
    }

    /// A token that did not verify (400 or 401 with the error's code), or keys that
    /// could not be fetched (503 without a challenge: the token may be fine, and a 401
    /// would make the client drop it).
    pub fn from_verify_error(error: &VerifyError) -> Self {
        let description = error.description();
        match error.error_code() {
            Some(code) => Self::with_code(code, &description, error.kind()),
            None => Self {
                status: 503,
                error: TEMPORARILY_UNAVAILABLE,
                description: description.into_owned(),
                challenge: None,
                cause: error.kind(),
            },
        }
    }

    /// A valid token without a scope the request needs: 403 with an
    /// `insufficient_scope` challenge naming **all** the scopes the request needs, so
    /// the client can ask for them at once (step-up). The description says which;
    /// replace it with [`error_description`](Self::error_description).
    pub fn insufficient_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes: Vec<S> = scopes.into_iter().collect();
        let names: Vec<&str> = scopes.iter().map(AsRef::as_ref).collect();
        let description = match names.as_slice() {
            [one] => format!("The access token lacks the scope {one}"),
            more => format!("The access token lacks the scopes {}", more.join(" ")),
        };
        Self::with_code(
            BearerErrorCode::InsufficientScope,
            &description,
            "insufficient_scope",
        )
        .scope(&names)
    }

    /// Replaces the human-readable description, in the body and, when the challenge
    /// carries an error code, in its `error_description`. A bare no-credentials
    /// challenge stays bare (RFC 6750 §3.1). Never put a token here.
    #[must_use]
    pub fn error_description(mut self, description: &str) -> Self {
        description.clone_into(&mut self.description);
        self.challenge = self.challenge.map(|challenge| {
            if challenge.error_code().is_some() {
                Box::new(challenge.error_description(description))
            } else {
                challenge
            }
        });
        self
    }

    /// Adds `resource_metadata` (RFC 9728 §5.1), the URL of the server's Protected
    /// Resource Metadata, to the challenge: how an MCP client finds where to get a
    /// token. A refusal without a challenge (503) is unchanged.
    #[must_use]
    pub fn resource_metadata(mut self, url: &str) -> Self {
        self.challenge = self
            .challenge
            .map(|challenge| Box::new(challenge.resource_metadata(url)));
        self
    }

    /// The HTTP status: 400, 401, 403 or 503.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body's `error`: an RFC 6750 code, or `temporarily_unavailable`.
    pub fn error(&self) -> &'static str {
        self.error
    }

    /// The body's `error_description`.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The challenge, when the refusal has one (every 4xx does, a 503 does not).
    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_deref()
    }

    /// The `WWW-Authenticate` value: every parameter quoted and escaped.
    pub fn www_authenticate(&self) -> Option<String> {
        self.challenge.as_deref().map(Challenge::to_string)
    }

    /// `Retry-After` in seconds, for a refusal that is the server's fault.
    pub fn retry_after_secs(&self) -> Option<u32> {
        (self.status == 503).then_some(RETRY_AFTER_SECS)
    }

    /// Every header of the response, names in lowercase: `content-type`,
    /// `cache-control: no-store`, and `www-authenticate` or `retry-after` as the
    /// refusal calls for. Each value is a valid HTTP field value.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", "application/json".to_owned()),
            ("cache-control", "no-store".to_owned()),
        ];
        if let Some(challenge) = self.www_authenticate() {
            headers.push(("www-authenticate", challenge));
        }
        if let Some(secs) = self.retry_after_secs() {
            headers.push(("retry-after", secs.to_string()));
        }
        headers
    }

    /// The JSON body, `{"error": …, "error_description": …}`, for people reading the
    /// answer with curl (clients act on the challenge).
    pub fn body(&self) -> String {
        serde_json::json!({ "error": self.error, "error_description": self.description })
            .to_string()
    }

    /// A low-cardinality label of the refusal's class, for logs and metrics:
    /// `missing_token`, `invalid_request`, `invalid_token`, `insufficient_scope` or
    /// `unavailable`.
    pub fn kind(&self) -> &'static str {
        match self.challenge.as_deref().map(Challenge::error_code) {
            None => "unavailable",
            Some(None) => "missing_token",
            Some(Some(code)) => code.as_str(),
        }
    }

    /// A low-cardinality label of the precise cause: `missing_token`,
    /// `malformed_header`, `insufficient_scope`, or a [`VerifyError::kind`] (`expired`,
    /// `jwks_unavailable`…).
    pub fn cause(&self) -> &'static str {
        self.cause
    }

    fn with_code(code: BearerErrorCode, description: &str, cause: &'static str) -> Self {
        Self {
            status: code.http_status(),
            error: code.as_str(),
            description: description.to_owned(),
            challenge: Some(Box::new(
                Challenge::new().error(code).error_description(description),
            )),
            cause,
        }
    }

    fn scope(mut self, scopes: &[&str]) -> Self {
        self.challenge = self
            .challenge
            .map(|challenge| Box::new(challenge.scope(scopes)));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6750_3_1_no_credentials_get_a_bare_challenge_and_no_store() {
        let refusal = Refusal::missing_token().resource_metadata("https://rs.example/prm");
        assert_eq!(refusal.status(), 401);
        assert_eq!(
            refusal.www_authenticate().as_deref(),
            Some(r#"Bearer resource_metadata="https://rs.example/prm""#)
        );
        assert_eq!(
            refusal.headers(),
            [
                ("content-type", "application/json".to_owned()),
                ("cache-control", "no-store".to_owned()),
                (
                    "www-authenticate",
                    r#"Bearer resource_metadata="https://rs.example/prm""#.to_owned()
                ),
            ]
        );
        assert_eq!(
            refusal.body(),
            r#"{"error":"invalid_token","error_description":"an access token is required"}"#
        );
        assert_eq!(refusal.kind(), "missing_token");
        // Another scheme is no credentials too; a description keeps the challenge bare.
        assert_eq!(
            Refusal::from_bearer_error(BearerError::NotBearer).error_description("x"),
            Refusal::missing_token().error_description("x")
        );
        assert_eq!(
            Refusal::missing_token()
                .error_description("x")
                .www_authenticate()
                .as_deref(),
            Some("Bearer")
        );
    }

    #[test]
    fn rfc6750_3_1_status_comes_from_the_error_code() {
        let malformed = Refusal::from_bearer_error(BearerError::Repeated);
        assert_eq!(malformed.status(), 400);
        assert_eq!(malformed.error(), "invalid_request");
        assert_eq!(malformed.cause(), "malformed_header");
        let empty = Refusal::from_verify_error(&VerifyError::Empty);
        assert_eq!((empty.status(), empty.kind()), (400, "invalid_request"));
        let expired = Refusal::from_verify_error(&VerifyError::Expired);
        assert_eq!(expired.status(), 401);
        assert_eq!(
            expired.www_authenticate().as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="The access token expired""#)
        );
        assert_eq!(
            (expired.kind(), expired.cause()),
            ("invalid_token", "expired")
        );
    }

    #[test]
    fn rfc6750_3_1_insufficient_scope_names_every_scope_needed() {
        let one = Refusal::insufficient_scope(["read:private"]);
        assert_eq!(one.status(), 403);
        assert_eq!(
            one.www_authenticate().as_deref(),
            Some(
                r#"Bearer error="insufficient_scope", error_description="The access token lacks the scope read:private", scope="read:private""#
            )
        );
        let two = Refusal::insufficient_scope(["a", "b"])
            .error_description("the tool `x` requires the scopes \"a b\"")
            .resource_metadata("https://rs.example/prm");
        assert_eq!(
            two.www_authenticate().as_deref(),
            Some(
                r#"Bearer error="insufficient_scope", error_description="the tool `x` requires the scopes \"a b\"", scope="a b", resource_metadata="https://rs.example/prm""#
            )
        );
        let body: serde_json::Value = serde_json::from_str(&two.body()).unwrap();
        assert_eq!(
            body["error_description"],
            "the tool `x` requires the scopes \"a b\""
        );
    }

    #[test]
    fn keys_unavailable_is_503_with_retry_after_and_no_challenge() {
        let refusal = Refusal::from_verify_error(&VerifyError::KeysUnavailable(
            crate::JwksError::NoUsableKeys,
        ))
        .resource_metadata("https://rs.example/prm");
        assert_eq!(refusal.status(), 503);
        assert_eq!(refusal.challenge(), None);
        assert_eq!(refusal.error(), "temporarily_unavailable");
        assert_eq!(refusal.kind(), "unavailable");
        assert_eq!(refusal.cause(), "jwks_unavailable");
        assert_eq!(
            refusal.headers(),
            [
                ("content-type", "application/json".to_owned()),
                ("cache-control", "no-store".to_owned()),
                ("retry-after", "5".to_owned()),
            ]
        );
    }
}
