//! `GET /api/private-scope`: the one protected resource.

use axum::Json;
use axum::response::{IntoResponse, Response};
use jwt_verify::Refusal;
use serde::{Deserialize, Serialize};

use crate::LoggedSubject;
use crate::auth::Authenticated;
use crate::rejection::Rejection;

/// The scope this endpoint requires.
pub const REQUIRED_SCOPE: &str = "read:private";

/// The greeting every successful answer carries.
pub const GREETING: &str = "Hello from upstream API";

/// The body of a successful answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateScopeResponse {
    /// Always [`GREETING`].
    pub msg: String,
    /// The user the token was issued for.
    pub sub: String,
    /// The token's scopes.
    pub scopes: Vec<String>,
    /// The current actor (outermost `act`), or `null` for a token used directly.
    pub actor: Option<Actor>,
    /// Every actor, the current one first (RFC 8693 §4.1). Only the first may be
    /// used for authorization; the rest are the history, for audit.
    pub delegation_chain: Vec<Actor>,
    /// The token's `org_id`: the Auth0 organization it was issued in. Absent for a
    /// token issued outside any organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
}

/// One party in the delegation chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The actor's subject (a client id, for Auth0).
    pub sub: String,
}

/// Answers with the verified caller's identity, if the token has `read:private`.
pub async fn private_scope(Authenticated(principal): Authenticated) -> Response {
    let sub = principal.sub.clone();
    if !principal.has_scope(REQUIRED_SCOPE) {
        return Rejection::from(Refusal::insufficient_scope([REQUIRED_SCOPE]))
            .with_subject(sub)
            .into_response();
    }
    let delegation_chain: Vec<Actor> = principal
        .delegation_chain
        .iter()
        .map(|a| Actor { sub: a.sub.clone() })
        .collect();
    let body = PrivateScopeResponse {
        msg: GREETING.to_owned(),
        sub: sub.clone(),
        scopes: principal.scopes.iter().cloned().collect(),
        actor: delegation_chain.first().cloned(),
        delegation_chain,
        org_id: principal.org_id.clone(),
    };
    let mut response = Json(body).into_response();
    response.extensions_mut().insert(LoggedSubject(sub));
    response
}
