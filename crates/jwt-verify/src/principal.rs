//! Who a verified token speaks for, and the token itself kept out of sight.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

/// The identity and authority a verified access token carries.
///
/// Only the current actor ([`Principal::current_actor`]) may drive authorization
/// decisions; the rest of [`Principal::delegation_chain`] is an audit trail (RFC 8693
/// §4.1).
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user (or client, for client-credentials tokens) the token was issued for.
    pub sub: String,
    /// The client the token was issued to: `client_id`, or else `azp`.
    pub client_id: String,
    /// The `azp` claim, when present.
    pub azp: Option<String>,
    /// The `scope` claim split on spaces: what the client requested and the user
    /// consented to. The only claim [`Principal::has_scope`] reads.
    pub scopes: BTreeSet<String>,
    /// Auth0's RBAC `permissions` claim: every permission the user holds on this API,
    /// whatever the client asked for. For display and the caller's own policies only;
    /// granting on it would let a client act beyond the user's consent.
    pub permissions: BTreeSet<String>,
    /// The `name` claim, when present.
    pub name: Option<String>,
    /// The `email` claim, when present.
    pub email: Option<String>,
    /// Auth0's `org_id` claim: the organization the user signed in to, when the
    /// token was issued in one. A token exchange on the user's behalf passes it on,
    /// so the new token is issued in the same organization.
    pub org_id: Option<String>,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: u64,
    /// The `act` chain, current actor first; empty when nobody acts on the user's behalf.
    pub delegation_chain: Vec<Actor>,
    /// Auth0's `gty` claim: the grant that issued the token (`client-credentials`,
    /// `password`, ...). Auth0 writes one string, or for some refreshed tokens an array
    /// of them; absent from tokens of the authorization code flow.
    pub grant_types: Vec<String>,
    pub(crate) token: AccessToken,
}

/// Auth0's `gty` value for a token an application got for itself.
const CLIENT_CREDENTIALS_GTY: &str = "client-credentials";

impl Principal {
    /// The raw token, for a later token exchange. Nothing else should need it.
    pub fn token(&self) -> &AccessToken {
        &self.token
    }

    /// Whether the token's `scope` claim grants `scope`. `permissions` never counts.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// Whether the token speaks for an application itself, with no user behind it: a
    /// client-credentials token. Auth0 marks one with `gty: "client-credentials"`
    /// and `sub` = `"{client_id}@clients"`; either sign is enough. Such a token cannot
    /// be exchanged On-Behalf-Of: there is no user to act for.
    pub fn is_machine(&self) -> bool {
        self.grant_types.iter().any(|g| g == CLIENT_CREDENTIALS_GTY)
            || self
                .sub
                .strip_suffix("@clients")
                .is_some_and(|client| client == self.client_id)
    }

    /// The party currently acting on the user's behalf (the outermost `act`).
    pub fn current_actor(&self) -> Option<&Actor> {
        self.delegation_chain.first()
    }
}

/// One party in an RFC 8693 delegation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The actor's subject (for a service, usually its client id).
    pub sub: String,
}

/// A bearer access token. [`AccessToken::secret`] is the only way to read it; `Debug`
/// and `Display` print a placeholder, so it cannot leak into logs by accident.
#[derive(Clone)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a raw token.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The raw token. Every call site is a place the token leaves this type: keep them
    /// few and deliberate.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

impl fmt::Display for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_token_debug_and_display_are_redacted() {
        let token = AccessToken::new("eyJsecret.payload.sig");
        assert_eq!(token.secret(), "eyJsecret.payload.sig");
        assert!(!format!("{token:?}").contains("eyJ"));
        assert!(!format!("{token}").contains("eyJ"));
    }
}
