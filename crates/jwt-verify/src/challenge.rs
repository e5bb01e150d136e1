//! The `WWW-Authenticate: Bearer` challenge of RFC 6750 §3, built and parsed.
//!
//! Values are sanitised when set, so whatever text is passed in, the rendered header is
//! a valid HTTP field value: control characters are dropped, non-ASCII becomes `?`, and
//! `"` and `\` are escaped inside quoted strings. Scope tokens additionally lose the
//! characters RFC 6749 §3.3 forbids in them (space, `"` and `\`).

use std::fmt;

use crate::error_code::BearerErrorCode;

/// A `Bearer` challenge: the value of a `WWW-Authenticate` header.
///
/// ```
/// use oauth_jwt_verify::{BearerErrorCode, Challenge};
/// let challenge = Challenge::new()
///     .error(BearerErrorCode::InsufficientScope)
///     .scope(["tool:greet"])
///     .resource_metadata("https://mcp.example/.well-known/oauth-protected-resource")
///     .error_description("The \"greet\" tool needs tool:greet");
/// let header = challenge.to_string();
/// assert_eq!(
///     header,
///     r#"Bearer error="insufficient_scope", error_description="The \"greet\" tool needs tool:greet", scope="tool:greet", resource_metadata="https://mcp.example/.well-known/oauth-protected-resource""#
/// );
/// assert_eq!(Challenge::parse(&header), Ok(challenge));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Challenge {
    realm: Option<String>,
    error: Option<BearerErrorCode>,
    error_description: Option<String>,
    error_uri: Option<String>,
    scope: Option<String>,
    resource_metadata: Option<String>,
}

/// Why a header value is not a `Bearer` challenge this crate understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeParseError {
    /// The scheme is not `Bearer`.
    #[error("the challenge scheme is not Bearer")]
    NotBearer,
    /// The parameter list does not follow RFC 9110 §11.2 syntax.
    #[error("the challenge parameters are malformed")]
    Syntax,
    /// A parameter appears twice.
    #[error("a challenge parameter appears twice")]
    DuplicateParameter,
    /// The `error` value is not an RFC 6750 code.
    #[error("the challenge error code is not one of RFC 6750's")]
    UnknownErrorCode,
}

impl Challenge {
    /// A challenge with no parameters: what a request without credentials gets.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `realm`.
    pub fn realm(mut self, realm: &str) -> Self {
        self.realm = Some(sanitize(realm));
        self
    }

    /// Sets `error`.
    pub fn error(mut self, code: BearerErrorCode) -> Self {
        self.error = Some(code);
        self
    }

    /// Sets `error_description` (human-readable, never a token).
    pub fn error_description(mut self, description: &str) -> Self {
        self.error_description = Some(sanitize(description));
        self
    }

    /// Sets `error_uri`.
    pub fn error_uri(mut self, uri: &str) -> Self {
        self.error_uri = Some(sanitize(uri));
        self
    }

    /// Sets `scope` to the space-separated scopes (for `insufficient_scope`: all the
    /// scopes the request needs). Empty scopes are dropped.
    pub fn scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes: Vec<String> = scopes
            .into_iter()
            .map(|scope| sanitize(scope.as_ref()).replace([' ', '"', '\\'], ""))
            .filter(|scope| !scope.is_empty())
            .collect();
        self.scope = Some(scopes.join(" "));
        self
    }

    /// Sets `resource_metadata`: the URL of the RFC 9728 Protected Resource Metadata.
    pub fn resource_metadata(mut self, url: &str) -> Self {
        self.resource_metadata = Some(sanitize(url));
        self
    }

    /// The `realm`, if set.
    pub fn realm_value(&self) -> Option<&str> {
        self.realm.as_deref()
    }

    /// The `error` code, if set.
    pub fn error_code(&self) -> Option<BearerErrorCode> {
        self.error
    }

    /// The `error_description`, if set.
    pub fn error_description_value(&self) -> Option<&str> {
        self.error_description.as_deref()
    }

    /// The `error_uri`, if set.
    pub fn error_uri_value(&self) -> Option<&str> {
        self.error_uri.as_deref()
    }

    /// The scopes of `scope`, in order.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope
            .iter()
            .flat_map(|scope| scope.split(' '))
            .filter(|s| !s.is_empty())
    }

    /// The `resource_metadata` URL, if set.
    pub fn resource_metadata_value(&self) -> Option<&str> {
        self.resource_metadata.as_deref()
    }

    /// Parses a `WWW-Authenticate` value holding one `Bearer` challenge. Unknown
    /// parameters are ignored (RFC 6750 §3 allows extensions).
    pub fn parse(value: &str) -> Result<Self, ChallengeParseError> {
        let mut cursor = Cursor {
            rest: value.trim_matches([' ', '\t']),
        };
        let scheme = cursor.token();
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(ChallengeParseError::NotBearer);
        }
        let mut challenge = Self::new();
        if cursor.rest.is_empty() {
            return Ok(challenge);
        }
        if cursor.skip_whitespace() == 0 {
            return Err(ChallengeParseError::Syntax);
        }
        let mut seen: Vec<String> = Vec::new();
        loop {
            // RFC 9110 §5.6.1 lists tolerate empty elements.
            while cursor.eat(',') {
                cursor.skip_whitespace();
            }
            if cursor.rest.is_empty() {
                break;
            }
            let name = cursor.token().to_ascii_lowercase();
            if name.is_empty() {
                return Err(ChallengeParseError::Syntax);
            }
            cursor.skip_whitespace();
            if !cursor.eat('=') {
                return Err(ChallengeParseError::Syntax);
            }
            cursor.skip_whitespace();
            let value = if cursor.rest.starts_with('"') {
                cursor.quoted_string()?
            } else {
                let token = cursor.token();
                if token.is_empty() {
                    return Err(ChallengeParseError::Syntax);
                }
                token.to_owned()
            };
            if seen.contains(&name) {
                return Err(ChallengeParseError::DuplicateParameter);
            }
            challenge = match name.as_str() {
                "realm" => challenge.realm(&value),
                "error" => challenge.error(
                    BearerErrorCode::parse(&value).ok_or(ChallengeParseError::UnknownErrorCode)?,
                ),
                "error_description" => challenge.error_description(&value),
                "error_uri" => challenge.error_uri(&value),
                "scope" => challenge.scope(value.split(' ')),
                "resource_metadata" => challenge.resource_metadata(&value),
                _ => challenge,
            };
            seen.push(name);
            cursor.skip_whitespace();
            if cursor.rest.is_empty() {
                break;
            }
            if !cursor.eat(',') {
                return Err(ChallengeParseError::Syntax);
            }
            cursor.skip_whitespace();
        }
        Ok(challenge)
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer")?;
        let params = [
            ("realm", self.realm.as_deref()),
            ("error", self.error.map(BearerErrorCode::as_str)),
            ("error_description", self.error_description.as_deref()),
            ("error_uri", self.error_uri.as_deref()),
            ("scope", self.scope.as_deref()),
            ("resource_metadata", self.resource_metadata.as_deref()),
        ];
        let mut separator = " ";
        for (name, value) in params {
            let Some(value) = value else { continue };
            write!(f, "{separator}{name}=\"")?;
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
            separator = ", ";
        }
        Ok(())
    }
}

/// Keeps only printable ASCII and space, the characters a header value and RFC 6750's
/// parameter grammar both allow.
fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, c: char) -> bool {
        match self.rest.strip_prefix(c) {
            Some(rest) => {
                self.rest = rest;
                true
            }
            None => false,
        }
    }

    fn skip_whitespace(&mut self) -> usize {
        let before = self.rest.len();
        self.rest = self.rest.trim_start_matches([' ', '\t']);
        before - self.rest.len()
    }

    /// RFC 9110 §5.6.2 `token`.
    fn token(&mut self) -> &'a str {
        let end = self
            .rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)))
            .unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }

    /// RFC 9110 §5.6.4 `quoted-string`, unescaped.
    fn quoted_string(&mut self) -> Result<String, ChallengeParseError> {
        let mut chars = self.rest.char_indices();
        if !matches!(chars.next(), Some((_, '"'))) {
            return Err(ChallengeParseError::Syntax);
        }
        let mut value = String::new();
        while let Some((index, c)) = chars.next() {
            match c {
                '"' => {
                    self.rest = &self.rest[index + 1..];
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, escaped)) if escaped == '\t' || !escaped.is_control() => {
                        value.push(escaped)
                    }
                    _ => return Err(ChallengeParseError::Syntax),
                },
                c if c == '\t' || !c.is_control() => value.push(c),
                _ => return Err(ChallengeParseError::Syntax),
            }
        }
        Err(ChallengeParseError::Syntax)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6750_3_no_credentials_challenge_has_no_parameters() {
        assert_eq!(Challenge::new().to_string(), "Bearer");
        assert_eq!(Challenge::parse("Bearer"), Ok(Challenge::new()));
        assert_eq!(Challenge::parse("bearer  "), Ok(Challenge::new()));
    }

    #[test]
    fn rfc6750_3_values_are_quoted_and_escaped() {
        let challenge = Challenge::new()
            .error(BearerErrorCode::InvalidToken)
            .error_description("bad \"x\" \\ y\r\ninjected: 1 é");
        assert_eq!(
            challenge.to_string(),
            r#"Bearer error="invalid_token", error_description="bad \"x\" \\ yinjected: 1 ?""#
        );
        assert_eq!(Challenge::parse(&challenge.to_string()), Ok(challenge));
    }

    #[test]
    fn parse_accepts_token_values_unknown_parameters_and_odd_spacing() {
        let parsed =
            Challenge::parse(r#"Bearer realm=api , error=invalid_token,, foo="bar",scope="a b""#)
                .unwrap();
        assert_eq!(parsed.realm_value(), Some("api"));
        assert_eq!(parsed.error_code(), Some(BearerErrorCode::InvalidToken));
        assert_eq!(parsed.scopes().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn parse_rejects_malformed_challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(ChallengeParseError::NotBearer)
        );
        assert_eq!(
            Challenge::parse("Bearer realm"),
            Err(ChallengeParseError::Syntax)
        );
        assert_eq!(
            Challenge::parse("Bearer realm=\"x"),
            Err(ChallengeParseError::Syntax)
        );
        assert_eq!(
            Challenge::parse("Bearer realm=x y=z"),
            Err(ChallengeParseError::Syntax)
        );
        assert_eq!(
            Challenge::parse("Bearerrealm=x"),
            Err(ChallengeParseError::NotBearer)
        );
        assert_eq!(
            Challenge::parse("Bearer realm=x, realm=y"),
            Err(ChallengeParseError::DuplicateParameter)
        );
        assert_eq!(
            Challenge::parse("Bearer error=nope"),
            Err(ChallengeParseError::UnknownErrorCode)
        );
    }
}
