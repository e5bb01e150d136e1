//! For the crate's own tests of the sign-in endpoints: a started tenant with clients
//! registered straight into its state, so each endpoint is tested on its own.

use std::time::Instant;

use crate::MockTenant;
use crate::signin::{AuthorizationCode, CODE_LIFETIME, ClientAuthMethod, RegisteredClient};
use crate::state::lock;

/// RFC 7636 Appendix B: a verifier and its S256 challenge, computed by the RFC rather
/// than by the code under test.
pub(crate) const RFC7636_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(crate) const RFC7636_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Registers a client as `POST /oidc/register` would have, and returns it.
pub(crate) fn insert_client(
    tenant: &MockTenant,
    auth_method: ClientAuthMethod,
    redirect_uris: &[&str],
    with_refresh: bool,
) -> RegisteredClient {
    let state = &tenant.inner.state;
    let serial = lock(&state.signin).clients.len();
    let client_id = format!("tpc_test{serial}");
    let client_secret = (auth_method != ClientAuthMethod::None).then(crate::config::random_secret);
    let mut grant_types = vec!["authorization_code".to_string()];
    if with_refresh {
        grant_types.push("refresh_token".to_string());
    }
    let client = RegisteredClient {
        client_id: client_id.clone(),
        client_secret,
        auth_method,
        redirect_uris: redirect_uris.iter().map(|u| (*u).to_string()).collect(),
        grant_types,
        client_name: format!("Test client {serial}"),
    };
    lock(&state.signin)
        .clients
        .insert(client_id, client.clone());
    client
}

/// A code as the consent decision would issue it to `client` for `sub`: the client's
/// first redirect URI, the [`RFC7636_CHALLENGE`], the MCP API, fresh. Tweak it, then
/// store it with [`insert_code`].
pub(crate) fn code_for(
    tenant: &MockTenant,
    client: &RegisteredClient,
    sub: &str,
    scopes: &[&str],
) -> AuthorizationCode {
    AuthorizationCode {
        client_id: client.client_id.clone(),
        redirect_uri: client.redirect_uris.first().cloned().unwrap_or_default(),
        code_challenge: RFC7636_CHALLENGE.into(),
        sub: sub.into(),
        audience: tenant.mcp_audience().into(),
        scopes: scopes.iter().map(|s| (*s).to_string()).collect(),
        expires: Instant::now() + CODE_LIFETIME,
        used: false,
        issued_jtis: Vec::new(),
        family: None,
    }
}

/// Stores `code` as the consent decision would, and returns the code's value.
pub(crate) fn insert_code(tenant: &MockTenant, code: AuthorizationCode) -> String {
    let value = crate::config::random_secret();
    crate::authorization_code::store_code(
        &mut lock(&tenant.inner.state.signin),
        value.clone(),
        code,
    );
    value
}
