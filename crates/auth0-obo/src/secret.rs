//! Newtypes for the two kinds of secret this crate handles: the client secret and
//! access tokens. Their `Debug` and `Display` are redacted so that a stray `{:?}`
//! in a log line, a panic message or a derived `Debug` cannot leak them.

use std::fmt;

const REDACTED: &str = "[redacted]";

/// The OAuth client secret (`MCP_AUTH0_CLIENT_SECRET`).
///
/// Read it with [`ClientSecret::secret`]; every other way of printing it shows
/// `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a client secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself. Call this only where it is put on the wire.
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientSecret({REDACTED})")
    }
}

impl fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for ClientSecret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for ClientSecret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// An OAuth access token: the user's subject token going in, or the exchanged
/// token coming back.
///
/// Read it with [`AccessToken::secret`]; `Debug` and `Display` show `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, e.g. to put in an `Authorization: Bearer` header.
    #[must_use]
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken({REDACTED})")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<String> for AccessToken {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// Removes `secrets` from text that came from elsewhere (an error description from
/// the server, a transport error) before it is stored in an error. A server that
/// echoes the subject token back must not make us log it.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        // Very short "secrets" would redact ordinary words; real tokens and client
        // secrets are long.
        if secret.len() >= 8 && out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_redacted() {
        let s = ClientSecret::new("s3cr3t-value");
        assert_eq!(format!("{s:?}"), "ClientSecret([redacted])");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(s.secret(), "s3cr3t-value");
        let t = AccessToken::new("eyJhbGciOi.payload.sig");
        assert!(!format!("{t:?} {t}").contains("eyJ"));
        assert_eq!(t.secret(), "eyJhbGciOi.payload.sig");
    }

    #[test]
    fn scrub_removes_long_secrets_only() {
        assert_eq!(
            scrub("bad token abcdefghijk here", &["abcdefghijk", "ab"]),
            "bad token [redacted] here"
        );
    }
}
