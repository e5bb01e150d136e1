//! What the caller asks for: exchange this subject token for a token for that
//! audience, with these scopes. Validated on construction, so an
//! `ExchangeRequest` that exists is one that may be sent.

use std::fmt;
use std::time::SystemTime;

use crate::error::ExchangeError;
use crate::secret::AccessToken;

/// Longest subject token accepted. Auth0 access tokens are 1–2 KiB; anything far
/// larger is not a token, and the cache key hashes every byte of it.
const MAX_SUBJECT_TOKEN_LEN: usize = 16 * 1024;

/// One RFC 8693 token-exchange request (§2.1).
///
/// ```
/// use auth0_obo::ExchangeRequest;
///
/// let request = ExchangeRequest::new("eyJhbGciOiJSUzI1NiJ9.e30.sig", "https://api.example/")?
///     .with_scope("read:private write:private");
/// assert_eq!(request.audience(), "https://api.example/");
/// // Scopes are normalised: split on whitespace, deduplicated, sorted.
/// assert_eq!(request.scope(), Some("read:private write:private"));
/// // The token never shows up when printed.
/// assert!(!format!("{request:?}").contains("eyJ"));
/// # Ok::<(), auth0_obo::ExchangeError>(())
/// ```
#[derive(Clone)]
pub struct ExchangeRequest {
    subject_token: AccessToken,
    audience: String,
    scope: Option<String>,
    organization: Option<String>,
    subject_expires_at: Option<SystemTime>,
}

impl ExchangeRequest {
    /// Builds a request for `audience` (the downstream API's identifier) on behalf
    /// of the user who presented `subject_token` (their raw access token).
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidInput`] when the token is blank, has surrounding or
    /// inner whitespace, still carries a `Bearer ` prefix, contains control
    /// characters or is implausibly long; or when the audience is blank or has
    /// surrounding whitespace. The error never contains the input.
    pub fn new(
        subject_token: impl Into<String>,
        audience: impl Into<String>,
    ) -> Result<Self, ExchangeError> {
        let subject_token = subject_token.into();
        let audience = audience.into();
        validate_subject_token(&subject_token)?;
        validate_audience(&audience)?;
        Ok(Self {
            subject_token: AccessToken::new(subject_token),
            audience,
            scope: None,
            organization: None,
            subject_expires_at: None,
        })
    }

    /// Requests these scopes (space-separated). They are normalised — split on
    /// whitespace, deduplicated and sorted — so that the same set in another order
    /// is the same request (and the same cache entry). A blank scope means "no
    /// `scope` parameter", which lets the server apply its default.
    #[must_use]
    pub fn with_scope(mut self, scope: impl AsRef<str>) -> Self {
        self.scope = normalize_scope(scope.as_ref());
        self
    }

    /// Like [`with_scope`](Self::with_scope), for an optional scope.
    #[must_use]
    pub fn with_optional_scope(self, scope: Option<impl AsRef<str>>) -> Self {
        match scope {
            Some(s) => self.with_scope(s),
            None => self,
        }
    }

    /// Asks for the new token in this Auth0 organization (its id, `org_…`, or its
    /// name), sent as Auth0's `organization` parameter. Pass the subject token's
    /// `org_id` here, so the new token is issued in the organization the user signed
    /// in to. Part of the cache key: the same user in two organizations never
    /// shares a token.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::InvalidInput`] when it is blank, has whitespace or control
    /// characters, or is over 256 characters.
    pub fn with_organization(
        mut self,
        organization: impl Into<String>,
    ) -> Result<Self, ExchangeError> {
        let organization = organization.into();
        if organization.is_empty()
            || organization.len() > 256
            || organization
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ExchangeError::InvalidInput {
                field: "organization",
                reason: "must be 1 to 256 characters with no whitespace or control characters",
            });
        }
        self.organization = Some(organization);
        Ok(self)
    }

    /// Tells the cache when the subject token itself expires (its `exp`). A token
    /// obtained on the user's behalf is then never served from the cache after the
    /// user's own token has expired. Not sent to the server.
    #[must_use]
    pub fn with_subject_expires_at(mut self, expires_at: SystemTime) -> Self {
        self.subject_expires_at = Some(expires_at);
        self
    }

    /// The user's token, to be sent as `subject_token`.
    #[must_use]
    pub fn subject_token(&self) -> &AccessToken {
        &self.subject_token
    }

    /// The target audience.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The normalised scope, if any.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The organization, if any.
    #[must_use]
    pub fn organization(&self) -> Option<&str> {
        self.organization.as_deref()
    }

    /// The subject token's expiry, if the caller supplied it.
    #[must_use]
    pub fn subject_expires_at(&self) -> Option<SystemTime> {
        self.subject_expires_at
    }
}

impl fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("subject_token", &self.subject_token)
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("organization", &self.organization)
            .field("subject_expires_at", &self.subject_expires_at)
            .finish()
    }
}

/// Splits on whitespace, drops duplicates, sorts and joins with one space.
/// `None` when nothing is left.
#[must_use]
pub fn normalize_scope(scope: &str) -> Option<String> {
    let mut parts: Vec<&str> = scope.split_whitespace().collect();
    parts.sort_unstable();
    parts.dedup();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(" "))
    }
}

fn invalid(field: &'static str, reason: &'static str) -> ExchangeError {
    ExchangeError::InvalidInput { field, reason }
}

fn validate_subject_token(token: &str) -> Result<(), ExchangeError> {
    const FIELD: &str = "subject_token";
    if token.trim().is_empty() {
        return Err(invalid(FIELD, "is blank"));
    }
    if token.trim() != token {
        return Err(invalid(FIELD, "has surrounding whitespace"));
    }
    // The caller passed the whole Authorization header value; sending it would
    // make the server reject the token, so say what is wrong instead.
    let scheme = token
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer"));
    if scheme
        && token
            .get(6..)
            .is_some_and(|r| r.starts_with(char::is_whitespace))
    {
        return Err(invalid(FIELD, "must not include the \"Bearer \" prefix"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(invalid(FIELD, "contains whitespace"));
    }
    if token.chars().any(char::is_control) {
        return Err(invalid(FIELD, "contains control characters"));
    }
    if token.len() > MAX_SUBJECT_TOKEN_LEN {
        return Err(invalid(FIELD, "is longer than 16 KiB"));
    }
    Ok(())
}

fn validate_audience(audience: &str) -> Result<(), ExchangeError> {
    const FIELD: &str = "audience";
    if audience.trim().is_empty() {
        return Err(invalid(FIELD, "is empty"));
    }
    if audience.trim() != audience {
        return Err(invalid(FIELD, "has surrounding whitespace"));
    }
    if audience.chars().any(char::is_control) {
        return Err(invalid(FIELD, "contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln";

    fn reason(token: &str) -> &'static str {
        match ExchangeRequest::new(token, "aud") {
            Err(ExchangeError::InvalidInput { reason, .. }) => reason,
            other => panic!("expected InvalidInput, got {other:?}"),
        }
    }

    #[test]
    fn rfc8693_2_1_subject_token_is_a_bare_token() {
        assert_eq!(reason(""), "is blank");
        assert_eq!(reason("   "), "is blank");
        assert_eq!(reason(&format!(" {TOKEN}")), "has surrounding whitespace");
        assert_eq!(reason(&format!("{TOKEN}\n")), "has surrounding whitespace");
        for prefix in ["Bearer ", "bearer ", "BEARER ", "Bearer\t"] {
            assert_eq!(
                reason(&format!("{prefix}{TOKEN}")),
                "must not include the \"Bearer \" prefix"
            );
        }
        assert_eq!(reason("abc def"), "contains whitespace");
        assert_eq!(reason("abc\u{7}def"), "contains control characters");
        assert!(ExchangeRequest::new(TOKEN, "aud").is_ok());
        // A token that merely starts with the letters "bearer" is fine.
        assert!(ExchangeRequest::new("bearerish.token.value", "aud").is_ok());
    }

    #[test]
    fn invalid_input_never_echoes_the_token() {
        let err = ExchangeRequest::new(format!("Bearer {TOKEN}"), "aud").unwrap_err();
        assert!(!err.to_string().contains("eyJ"));
        assert!(!format!("{err:?}").contains("eyJ"));
    }

    #[test]
    fn rfc8693_2_1_audience_is_required() {
        for bad in ["", "  ", " https://api/"] {
            match ExchangeRequest::new(TOKEN, bad) {
                Err(ExchangeError::InvalidInput { field, .. }) => assert_eq!(field, "audience"),
                other => panic!("expected InvalidInput, got {other:?}"),
            }
        }
    }

    #[test]
    fn subject_tokens_up_to_16_kib_are_accepted_and_longer_ones_refused() {
        // Auth0 tokens carrying many permissions reach several KiB.
        assert!(ExchangeRequest::new("a".repeat(4 * 1024), "aud").is_ok());
        assert!(ExchangeRequest::new("a".repeat(16 * 1024), "aud").is_ok());
        assert!(ExchangeRequest::new("a".repeat(16 * 1024 + 1), "aud").is_err());
    }

    #[test]
    fn scope_is_normalised() {
        assert_eq!(normalize_scope("  b a\tb  c ").as_deref(), Some("a b c"));
        assert_eq!(normalize_scope("   "), None);
        let r = ExchangeRequest::new(TOKEN, "aud").unwrap().with_scope(" ");
        assert_eq!(r.scope(), None);
    }
}
