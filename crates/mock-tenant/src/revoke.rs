//! `POST /oauth/revoke`: token revocation (RFC 7009) as Auth0 offers it, for refresh
//! tokens, with the client authenticated by its registered method.
//!
//! Revoking any token of a family (the current one or a retired one) revokes the
//! family, and with it the access tokens it issued. A token the tenant does not know,
//! an access token, or another client's refresh token is answered 200 and left alone
//! (RFC 7009 §2.2): the answer tells a client nothing about tokens it does not hold.

use std::sync::Arc;

use wiremock::{Request, Respond, ResponseTemplate};

use crate::oauth::{Refusal, authenticate_registered, missing, param, parse_params};
use crate::refresh::revoke_family;
use crate::state::{State, lock};

/// The wiremock responder for the revocation endpoint.
pub(crate) struct Revoke(pub(crate) Arc<State>);

impl Respond for Revoke {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        match revoke(&self.0, request) {
            Ok(()) => ResponseTemplate::new(200),
            Err(refusal) => refusal.into_response(),
        }
    }
}

/// `token_type_hint` (RFC 7009 §2.1) is read by nobody: only refresh tokens are
/// revoked, whatever the hint says.
fn revoke(state: &State, request: &Request) -> Result<(), Refusal> {
    let params = parse_params(request)?;
    let client = authenticate_registered(state, request, &params)?;
    let token = param(&params, "token").ok_or_else(|| missing("token"))?;
    let mut signin = lock(&state.signin);
    let family_id = signin.refresh_tokens.get(token).cloned();
    if let Some(family_id) = family_id
        && signin
            .families
            .get(&family_id)
            .is_some_and(|family| family.client_id == client.client_id)
    {
        revoke_family(&mut signin, &family_id);
    }
    Ok(())
}
