//! The token endpoint's answer: an [`ExchangedToken`] on success (RFC 8693
//! §2.2.1), a typed [`ExchangeError`] otherwise (RFC 6749 §5.2).

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Map, Value};

use crate::error::{ExchangeError, OAuthErrorDetails};
use crate::retry::retry_after;
use crate::secret::{AccessToken, scrub};

/// Largest response body read from the token endpoint. A token response is a few
/// KiB; a bound keeps a misbehaving or hostile endpoint from exhausting memory.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// RFC 6749 §5.1 makes `expires_in` only RECOMMENDED; Auth0's default lifetime for
/// access tokens is one hour, so that is what a missing value means.
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(3600);

/// Longer lifetimes are not real (Auth0 caps access tokens at 30 days) and could
/// overflow `SystemTime` arithmetic.
const MAX_EXPIRES_IN_SECS: u64 = 10 * 365 * 24 * 3600;

/// The `token_type` of the issued token (RFC 6749 §7.1), which says how to present
/// it: `Bearer` (RFC 6750) or `DPoP` (RFC 9449). Matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// `Bearer`: send as `Authorization: Bearer <token>`.
    Bearer,
    /// `DPoP`: sender-constrained; needs a DPoP proof with each use.
    DPoP,
    /// Anything else, as sent.
    Other(String),
}

impl TokenType {
    /// Parses a `token_type` value.
    #[must_use]
    pub fn parse(value: &str) -> Self {
        if value.eq_ignore_ascii_case("bearer") {
            Self::Bearer
        } else if value.eq_ignore_ascii_case("dpop") {
            Self::DPoP
        } else {
            Self::Other(value.to_owned())
        }
    }

    /// The value as it appears in the `Authorization` scheme.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Bearer => "Bearer",
            Self::DPoP => "DPoP",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token issued by the exchange (RFC 8693 §2.2.1), for the requested audience,
/// on the user's behalf. Its `Debug` shows everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExchangedToken {
    /// The new access token. Read it with [`AccessToken::secret`].
    pub access_token: AccessToken,
    /// How to present it (`Bearer` or `DPoP`).
    pub token_type: TokenType,
    /// `issued_token_type`, e.g. `urn:ietf:params:oauth:token-type:access_token`.
    pub issued_token_type: String,
    /// The granted scope, present only when the server says it differs from what
    /// was requested (Auth0 narrows it when the user's roles lack a scope).
    pub scope: Option<String>,
    /// The lifetime the server gave (3600 s when it did not say).
    pub expires_in: Duration,
    /// When the token expires by our clock: receipt time plus `expires_in`.
    pub expires_at: SystemTime,
}

impl ExchangedToken {
    /// A token received now with the given lifetime. Useful for other
    /// [`TokenExchanger`](crate::TokenExchanger) implementations and tests.
    #[must_use]
    pub fn new(
        access_token: impl Into<String>,
        token_type: TokenType,
        issued_token_type: impl Into<String>,
        scope: Option<String>,
        expires_in: Duration,
    ) -> Self {
        let expires_at = SystemTime::now()
            .checked_add(expires_in)
            .unwrap_or_else(SystemTime::now);
        Self {
            access_token: AccessToken::new(access_token),
            token_type,
            issued_token_type: issued_token_type.into(),
            scope,
            expires_in,
            expires_at,
        }
    }

    /// The same token, expiring at `expires_at` by our clock instead: for a token
    /// read back from a store, which knows when it was received.
    #[must_use]
    pub fn expiring_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// The time left before `expires_at`, zero if already past.
    #[must_use]
    pub fn remaining_lifetime(&self) -> Duration {
        self.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// Reads a response body, refusing more than [`MAX_BODY_BYTES`].
pub(crate) async fn read_body_limited(
    mut response: reqwest::Response,
) -> Result<Vec<u8>, ExchangeError> {
    let too_large = || {
        ExchangeError::invalid_response(format!(
            "body is larger than {} KiB",
            MAX_BODY_BYTES / 1024
        ))
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_BODY_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ExchangeError::transport(&e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The `Content-Type` header, made safe to quote in an error message: bounded,
/// printable, and without `secrets` (a server chooses this text too).
pub(crate) fn content_type(headers: &HeaderMap, secrets: &[&str]) -> String {
    match headers.get(CONTENT_TYPE).map(|v| v.to_str()) {
        None => "none".to_owned(),
        Some(Ok(v)) => sanitize(v, secrets, 100),
        Some(Err(_)) => "unreadable".to_owned(),
    }
}

fn parse_json_object(body: &[u8], content_type: &str) -> Result<Map<String, Value>, ExchangeError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ExchangeError::invalid_response(format!(
            "body is JSON but not an object (content-type: {content_type})"
        ))),
        Err(_) => Err(ExchangeError::invalid_response(format!(
            "body is not JSON (content-type: {content_type})"
        ))),
    }
}

/// The statuses that are answered without reading the body: 429 (with when to retry,
/// from the headers) and 5xx.
pub(crate) fn status_error(
    status: StatusCode,
    headers: &HeaderMap,
    received_at: SystemTime,
) -> Option<ExchangeError> {
    if status == StatusCode::TOO_MANY_REQUESTS {
        Some(ExchangeError::RateLimited {
            retry_after: retry_after(headers, received_at),
        })
    } else if status.is_server_error() {
        Some(ExchangeError::Server { status })
    } else {
        None
    }
}

/// The body of any other answer: a token on 2xx, the OAuth error on 4xx (with
/// `secrets` scrubbed from what the server wrote), an invalid response otherwise.
pub(crate) fn parse_token_response(
    status: StatusCode,
    body: &[u8],
    content_type: &str,
    received_at: SystemTime,
    secrets: &[&str],
) -> Result<ExchangedToken, ExchangeError> {
    if status.is_success() {
        parse_success(body, content_type, received_at)
    } else if status.is_client_error() {
        Err(parse_oauth_error(status, body, content_type, secrets))
    } else {
        // Redirects are disabled: following one would resend credentials to a place
        // nobody configured.
        Err(ExchangeError::invalid_response(format!(
            "unexpected HTTP {}",
            status.as_u16()
        )))
    }
}

/// Validates a successful (2xx) token response.
pub(crate) fn parse_success(
    body: &[u8],
    content_type: &str,
    received_at: SystemTime,
) -> Result<ExchangedToken, ExchangeError> {
    let map = parse_json_object(body, content_type)?;
    let field_str = |name: &str| -> Result<Option<&str>, ExchangeError> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ExchangeError::invalid_response(format!(
                "`{name}` is not a string"
            ))),
        }
    };

    let access_token = match field_str("access_token")? {
        Some(t) if !t.trim().is_empty() => t.to_owned(),
        Some(_) => return Err(ExchangeError::invalid_response("`access_token` is empty")),
        None => return Err(ExchangeError::invalid_response("`access_token` is missing")),
    };
    let token_type = match field_str("token_type")? {
        Some(t) if !t.trim().is_empty() => TokenType::parse(t.trim()),
        _ => return Err(ExchangeError::invalid_response("`token_type` is missing")),
    };
    let issued_token_type = match field_str("issued_token_type")? {
        Some(t) if !t.trim().is_empty() => t.trim().to_owned(),
        _ => {
            return Err(ExchangeError::invalid_response(
                "`issued_token_type` is missing",
            ));
        }
    };
    let scope = field_str("scope")?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let expires_in = match map.get("expires_in") {
        None | Some(Value::Null) => DEFAULT_EXPIRES_IN,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) if secs <= MAX_EXPIRES_IN_SECS => Duration::from_secs(secs),
            Some(_) => {
                return Err(ExchangeError::invalid_response(
                    "`expires_in` is implausibly large",
                ));
            }
            None => {
                return Err(ExchangeError::invalid_response(
                    "`expires_in` is not a non-negative integer",
                ));
            }
        },
        Some(_) => {
            return Err(ExchangeError::invalid_response(
                "`expires_in` is not a number",
            ));
        }
    };
    let expires_at = received_at
        .checked_add(expires_in)
        .ok_or_else(|| ExchangeError::invalid_response("`expires_in` overflows the clock"))?;

    Ok(ExchangedToken {
        access_token: AccessToken::new(access_token),
        token_type,
        issued_token_type,
        scope,
        expires_in,
        expires_at,
    })
}

/// Turns a 4xx response other than 429 into the OAuth error it carries
/// (RFC 6749 §5.2). `secrets` are scrubbed from anything the server wrote.
pub(crate) fn parse_oauth_error(
    status: StatusCode,
    body: &[u8],
    content_type: &str,
    secrets: &[&str],
) -> ExchangeError {
    let Ok(map) = parse_json_object(body, content_type) else {
        return ExchangeError::invalid_response(format!(
            "HTTP {} without an OAuth error body (content-type: {content_type})",
            status.as_u16()
        ));
    };
    let Some(code) = map.get("error").and_then(Value::as_str) else {
        return ExchangeError::invalid_response(format!(
            "HTTP {} without an `error` code",
            status.as_u16()
        ));
    };
    let text = |name: &str, max: usize| {
        map.get(name)
            .and_then(Value::as_str)
            .map(|s| sanitize(s, secrets, max))
            .filter(|s| !s.is_empty())
    };
    let details = OAuthErrorDetails {
        status,
        description: text("error_description", 512),
        uri: text("error_uri", 256),
    };
    ExchangeError::from_oauth_code(&sanitize(code, secrets, 64), details)
}

/// Drops control characters, scrubs `secrets` and bounds the length of text that
/// came from the network, so it can neither forge nor flood log lines nor carry a
/// secret back. The order matters: control characters go first, or a secret echoed
/// with one inside it would slip past the scrubber and be rejoined afterwards; the
/// length bound comes last, or a secret cut at the bound would leave its prefix.
fn sanitize(text: &str, secrets: &[&str], max_chars: usize) -> String {
    let printable: String = text.chars().filter(|c| !c.is_control()).collect();
    let scrubbed = scrub(&printable, secrets);
    let trimmed = scrubbed.trim();
    let mut out: String = trimmed.chars().take(max_chars).collect();
    if trimmed.chars().nth(max_chars).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> Result<ExchangedToken, ExchangeError> {
        parse_success(body.as_bytes(), "application/json", SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn rfc8693_2_2_1_full_response() {
        let t = ok(r#"{"access_token":"at","issued_token_type":"urn:ietf:params:oauth:token-type:access_token","token_type":"Bearer","expires_in":120,"scope":"read:private"}"#).unwrap();
        assert_eq!(t.access_token.secret(), "at");
        assert_eq!(t.token_type, TokenType::Bearer);
        assert_eq!(t.expires_in, Duration::from_secs(120));
        assert_eq!(
            t.expires_at,
            SystemTime::UNIX_EPOCH + Duration::from_secs(120)
        );
        assert_eq!(t.scope.as_deref(), Some("read:private"));
    }

    #[test]
    fn rfc6749_5_1_missing_expires_in_means_one_hour() {
        let t = ok(r#"{"access_token":"at","issued_token_type":"x","token_type":"DPoP"}"#).unwrap();
        assert_eq!(t.expires_in, DEFAULT_EXPIRES_IN);
        assert_eq!(t.token_type, TokenType::DPoP);
    }

    #[test]
    fn bad_expires_in_or_access_token_is_invalid_response() {
        for body in [
            r#"{"access_token":"at","issued_token_type":"x","token_type":"Bearer","expires_in":-1}"#,
            r#"{"access_token":"at","issued_token_type":"x","token_type":"Bearer","expires_in":"3600"}"#,
            r#"{"access_token":"at","issued_token_type":"x","token_type":"Bearer","expires_in":1.5}"#,
            r#"{"access_token":"","issued_token_type":"x","token_type":"Bearer"}"#,
            r#"{"issued_token_type":"x","token_type":"Bearer"}"#,
            r#"{"access_token":7,"issued_token_type":"x","token_type":"Bearer"}"#,
            r#"["access_token"]"#,
        ] {
            assert!(
                matches!(ok(body), Err(ExchangeError::InvalidResponse { .. })),
                "{body}"
            );
        }
    }

    #[test]
    fn non_json_names_the_content_type() {
        let err =
            parse_success(b"<html>", "text/html; charset=utf-8", SystemTime::now()).unwrap_err();
        assert!(err.to_string().contains("text/html"), "{err}");
    }

    #[test]
    fn rfc6749_5_2_error_body_is_sanitised_and_scrubbed() {
        let err = parse_oauth_error(
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_request","error_description":"bad token eyJsecret.token\n forged"}"#,
            "application/json",
            &["eyJsecret.token"],
        );
        let ExchangeError::InvalidRequest(d) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(
            d.description.as_deref(),
            Some("bad token [redacted] forged")
        );
    }
}

#[cfg(test)]
mod fuzz_regressions {
    use super::*;

    /// Found by the `token_response` fuzz target (artifact `crash-4fc953eb…`, kept as
    /// `fuzz/seeds/token_response/crash-4fc953eb-secret-split-by-newline`) within a
    /// few hundred executions: a 403 whose `error_description` echoes the subject token
    /// with an escaped newline inside it. Control characters were dropped after
    /// scrubbing, so the token was rejoined past the scrubber and shown in the error.
    #[test]
    fn fuzz_crash_4fc953eb_secret_split_by_a_newline_is_still_scrubbed() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxhbGljZSJ9.c2lnbmF0dXJl";
        let body = br#"{"error": "invamid_request", "error_description": "bad subject token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxhbG\nljZSJ9.c2lnbmF0dXJl"}"#;
        let err = parse_oauth_error(StatusCode::FORBIDDEN, body, "", &[secret]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
    }

    /// The same flaw with other control characters, in both free-text fields.
    #[test]
    fn rfc6749_5_2_echoed_secret_split_by_a_control_character_is_still_scrubbed() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxhbGljZSJ9.c2lnbmF0dXJl";
        let body = br#"{"error":"invalid_request","error_description":"bad eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxh\u0001bGljZSJ9.c2lnbmF0dXJl","error_uri":"https://x/eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxh\u007fbGljZSJ9.c2lnbmF0dXJl"}"#;
        let err = parse_oauth_error(StatusCode::BAD_REQUEST, body, "application/json", &[secret]);
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
    }

    /// The same review: a secret that straddles the 512-character bound of
    /// `error_description` was cut before scrubbing, leaving its first part.
    #[test]
    fn rfc6749_5_2_echoed_secret_at_the_length_bound_leaves_no_prefix() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhdXRoMHxhbGljZSJ9.c2lnbmF0dXJl";
        let description = format!("{}{secret}", "x".repeat(500));
        let body = serde_json::json!({"error": "invalid_grant", "error_description": description});
        let err = parse_oauth_error(
            StatusCode::BAD_REQUEST,
            body.to_string().as_bytes(),
            "application/json",
            &[secret],
        );
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&secret[..12]), "{shown}");
    }

    /// Found by the `token_response` fuzz target (artifact `crash-b7c4477f…`, kept as
    /// `fuzz/seeds/token_response/crash-b7c4477f-secret-in-content-type`): the
    /// `Content-Type` header is quoted in "body is not JSON" errors, and it was only
    /// stripped of control characters, so a token endpoint that put the client secret
    /// there had it shown in the error (and so in logs).
    #[test]
    fn fuzz_crash_b7c4477f_secret_in_content_type_is_scrubbed() {
        let secret = "fuzz-client-secret-0123456789";
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            reqwest::header::HeaderValue::from_static(
                "eras_denOOfuzz-client-secret-0123456789OOOOO/",
            ),
        );
        let content_type = content_type(&headers, &[secret]);
        assert!(!content_type.contains(secret), "{content_type}");
        let err = parse_token_response(
            StatusCode::OK,
            b"{\t\t{",
            &content_type,
            SystemTime::UNIX_EPOCH,
            &[secret],
        )
        .unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("eras_denOO[redacted]OOOOO/"), "{shown}");
    }
}
