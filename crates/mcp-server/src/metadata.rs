//! The discovery documents MCP clients fetch before they have a token.
//!
//! Protected Resource Metadata (RFC 9728) tells a client which authorization server
//! issues tokens for this server and which scopes exist. The authorization server
//! metadata (RFC 8414) is served for clients of the 2025-03-26 MCP revision, which
//! look for it on the MCP server's own origin; it describes Auth0, built from the
//! issuer alone so that start-up never depends on reaching the tenant.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::state::AppState;

/// RFC 9728 §2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    pub resource: String,
    pub authorization_servers: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub bearer_methods_supported: Vec<String>,
    pub resource_name: String,
}

/// RFC 8414 §2, as Auth0 publishes it for the endpoints MCP clients use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub registration_endpoint: String,
    pub response_types_supported: Vec<String>,
    pub grant_types_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
}

impl AuthorizationServerMetadata {
    /// Auth0's endpoints all hang off the issuer, which ends in `/`.
    pub fn for_auth0(issuer: &str, tool_scopes: &[String]) -> Self {
        let strings = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect();
        let mut scopes: Vec<String> = strings(&["openid", "profile", "email", "offline_access"]);
        scopes.extend(tool_scopes.iter().cloned());
        Self {
            issuer: issuer.to_owned(),
            authorization_endpoint: format!("{issuer}authorize"),
            token_endpoint: format!("{issuer}oauth/token"),
            jwks_uri: format!("{issuer}.well-known/jwks.json"),
            registration_endpoint: format!("{issuer}oidc/register"),
            response_types_supported: strings(&["code"]),
            grant_types_supported: strings(&["authorization_code", "refresh_token"]),
            code_challenge_methods_supported: strings(&["S256"]),
            token_endpoint_auth_methods_supported: strings(&[
                "client_secret_basic",
                "client_secret_post",
                "none",
            ]),
            scopes_supported: scopes,
        }
    }
}

pub async fn protected_resource(State(state): State<AppState>) -> Response {
    no_store(Json(&state.protected_resource_metadata))
}

pub async fn authorization_server(State(state): State<AppState>) -> Response {
    no_store(Json(&state.authorization_server_metadata))
}

/// Metadata changes with configuration; a stale copy in a proxy would point clients
/// at the wrong tenant after a redeploy.
fn no_store(body: impl IntoResponse) -> Response {
    ([(header::CACHE_CONTROL, "no-store")], body).into_response()
}
