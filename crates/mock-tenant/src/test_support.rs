//! For the crate's own tests of the sign-in endpoints: a started tenant with clients
//! registered straight into its state, so each endpoint is tested on its own.

use crate::MockTenant;
use crate::signin::{ClientAuthMethod, RegisteredClient};
use crate::state::lock;

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
        metadata: serde_json::Map::new(),
    };
    lock(&state.signin)
        .clients
        .insert(client_id, client.clone());
    client
}
