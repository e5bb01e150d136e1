//! The authorization server's metadata (RFC 8414), served as Auth0 serves it at both
//! `/.well-known/oauth-authorization-server` and `/.well-known/openid-configuration`.
//!
//! It lists only what the tenant implements (design invariant 10): each endpoint answers,
//! and each grant, method and scope listed works. `tests/discovery.rs` probes every URL.
//!
//! The tenant issues no ID tokens and has no `/userinfo`, because its only clients are
//! strict third-party ones registered through DCR, which Auth0 denies `openid`. The
//! document still carries the two fields OpenID Connect Discovery §3 requires
//! (`subject_types_supported`, `id_token_signing_alg_values_supported`), so that clients
//! validating it as an OIDC document (the TypeScript SDK) accept it: both describe the
//! access tokens truthfully (one public `sub` per user, RS256), and `scopes_supported`
//! without `openid` says no ID token is to be had.

use std::sync::Arc;

use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::exchange::TOKEN_EXCHANGE_GRANT;
use crate::state::State;

/// The client authentication methods of the token and revocation endpoints.
const CLIENT_AUTH_METHODS: [&str; 3] = ["client_secret_basic", "client_secret_post", "none"];

/// The metadata document, the same at both well-known paths.
pub(crate) struct Discovery(pub(crate) Arc<State>);

impl Respond for Discovery {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(metadata(&self.0))
    }
}

fn metadata(state: &State) -> Value {
    let issuer = &state.issuer;
    let mut scopes = state.config.mcp_api_scopes.clone();
    scopes.push("offline_access".into());
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}authorize"),
        "token_endpoint": format!("{issuer}oauth/token"),
        "registration_endpoint": format!("{issuer}oidc/register"),
        "revocation_endpoint": format!("{issuer}oauth/revoke"),
        "jwks_uri": format!("{issuer}.well-known/jwks.json"),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", TOKEN_EXCHANGE_GRANT],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}
