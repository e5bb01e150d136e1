//! What a bearer-token refusal looks like on the wire (RFC 6750 §3), written out once
//! for every server here: the MCP server and the private API must answer the same
//! failure with the same status, challenge, `Cache-Control: no-store` and body. Each
//! server's tests read its answers into [`Refused`] and compare them with these.
//!
//! The expectations are spelled out as literals, not built with jwt-verify, so that a
//! change there shows up here as a failing test rather than moving both sides at once.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// An `Authorization` header with two tokens: malformed (`invalid_request`, 400).
pub const MALFORMED_AUTHORIZATION: &str = "Bearer a b";

/// A single well-formed `b64token` that is not a JWT (`invalid_token`, 401).
pub const NOT_A_JWT_AUTHORIZATION: &str = "Bearer not-a-jwt.at-all.really";

/// The description [`NOT_A_JWT_AUTHORIZATION`] gets: not a JWT, so an opaque token,
/// which names the Auth0 fix (issue 19).
pub const MALFORMED_TOKEN_DESCRIPTION: &str = "The access token is opaque, not a JWT: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience";

/// What a client sees of a refusal: status, the headers that matter, and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub www_authenticate: Option<String>,
    pub cache_control: Option<String>,
    pub retry_after: Option<String>,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Refused {
    /// An answer as received.
    pub fn from_parts(status: u16, headers: &HeaderMap, body: Value) -> Self {
        let one = |name: &str| {
            let values: Vec<_> = headers.get_all(name).iter().collect();
            assert!(values.len() <= 1, "at most one {name}: {values:?}");
            values
                .first()
                .map(|value| value.to_str().expect("a visible ASCII value").to_owned())
        };
        Self {
            status,
            www_authenticate: one("www-authenticate"),
            cache_control: one("cache-control"),
            retry_after: one("retry-after"),
            content_type: one("content-type"),
            body,
        }
    }

    /// Reads a whole response.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.expect("a JSON body");
        Self::from_parts(status, &headers, body)
    }

    /// No credentials: 401 and a challenge with no error (RFC 6750 §3.1).
    pub fn missing_token(resource_metadata: Option<&str>) -> Self {
        Self::answer(
            401,
            Some(challenge("", resource_metadata)),
            "invalid_token",
            "an access token is required",
        )
    }

    /// [`MALFORMED_AUTHORIZATION`]: 400 `invalid_request`.
    pub fn malformed_header(resource_metadata: Option<&str>) -> Self {
        Self::with_error(
            400,
            "invalid_request",
            "The Authorization header must hold exactly one bearer token",
            resource_metadata,
        )
    }

    /// A token that did not verify: 401 `invalid_token` saying why.
    pub fn invalid_token(description: &str, resource_metadata: Option<&str>) -> Self {
        Self::with_error(401, "invalid_token", description, resource_metadata)
    }

    /// A valid token without `scope`: 403 `insufficient_scope` naming it.
    pub fn insufficient_scope(
        scope: &str,
        description: &str,
        resource_metadata: Option<&str>,
    ) -> Self {
        let params = format!(
            r#"error="insufficient_scope", error_description="{description}", scope="{scope}""#
        );
        Self::answer(
            403,
            Some(challenge(&params, resource_metadata)),
            "insufficient_scope",
            description,
        )
    }

    /// The same refusal with `scope` in its challenge, before `resource_metadata`: the
    /// MCP server names its base scopes in every 401 (`MCP_BASE_SCOPES`).
    #[must_use]
    pub fn with_scope(mut self, scope: &str) -> Self {
        let param = format!(r#"scope="{scope}""#);
        self.www_authenticate =
            self.www_authenticate
                .map(|challenge| match challenge.find(r#"resource_metadata=""#) {
                    Some(at) => format!("{}{param}, {}", &challenge[..at], &challenge[at..]),
                    None if challenge == "Bearer" => format!("Bearer {param}"),
                    None => format!("{challenge}, {param}"),
                });
        self
    }

    /// The issuer's keys cannot be fetched: 503, `Retry-After`, and no challenge (the
    /// token may be fine, and a 401 would make the client drop it).
    pub fn keys_unavailable() -> Self {
        Self {
            retry_after: Some("5".to_owned()),
            ..Self::answer(
                503,
                None,
                "temporarily_unavailable",
                "The authorization server's signing keys are unavailable; try again later",
            )
        }
    }

    fn with_error(
        status: u16,
        error: &str,
        description: &str,
        resource_metadata: Option<&str>,
    ) -> Self {
        let params = format!(r#"error="{error}", error_description="{description}""#);
        Self::answer(
            status,
            Some(challenge(&params, resource_metadata)),
            error,
            description,
        )
    }

    fn answer(
        status: u16,
        www_authenticate: Option<String>,
        error: &str,
        description: &str,
    ) -> Self {
        Self {
            status,
            www_authenticate,
            cache_control: Some("no-store".to_owned()),
            retry_after: None,
            content_type: Some("application/json".to_owned()),
            body: json!({ "error": error, "error_description": description }),
        }
    }
}

/// `Bearer` with `params`, then `resource_metadata` last, as RFC 9728 §5.1 adds it.
fn challenge(params: &str, resource_metadata: Option<&str>) -> String {
    let mut all: Vec<String> = Vec::new();
    if !params.is_empty() {
        all.push(params.to_owned());
    }
    if let Some(url) = resource_metadata {
        all.push(format!(r#"resource_metadata="{url}""#));
    }
    if all.is_empty() {
        "Bearer".to_owned()
    } else {
        format!("Bearer {}", all.join(", "))
    }
}
