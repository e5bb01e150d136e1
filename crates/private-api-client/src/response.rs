use serde::{Deserialize, Serialize};

/// The body of a successful `GET /api/private-scope`.
///
/// ```json
/// {"msg": "Hello from upstream API", "sub": "auth0|123", "scopes": ["read:private"],
///  "actor": {"sub": "mcp-client-id"}, "delegation_chain": [{"sub": "mcp-client-id"}]}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PrivateScope {
    /// A greeting from the API.
    pub msg: String,
    /// The user the token was issued for.
    pub sub: String,
    /// The scopes the API saw in the token.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The current actor: the party presenting the token on the user's behalf
    /// (the outermost `act` claim, RFC 8693 §4.1). `None` for a token used directly.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// Every actor in the `act` chain, the current one first. Only the first may
    /// drive authorization; the rest are for audit.
    #[serde(default)]
    pub delegation_chain: Vec<Actor>,
    /// The Auth0 organization the token was issued in (`org_id`), when it was.
    #[serde(default)]
    pub org_id: Option<String>,
}

/// One party in an RFC 8693 delegation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's subject, usually an OAuth client id.
    pub sub: String,
}

/// A successful (2xx) answer of the API: its exact status, and its JSON body read as
/// `T`. [`PrivateApiClient::get_answer`](crate::PrivateApiClient::get_answer) and
/// [`send_answer`](crate::PrivateApiClient::send_answer) return it, for a caller that
/// records or acts on the status (`201 Created`, `202 Accepted`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answer<T> {
    /// The HTTP status, a 2xx.
    pub status: u16,
    /// The body.
    pub body: T,
}
