//! `POST /authorize/decision`: the consent form's answer, and the authorization code an
//! approval issues.
//!
//! The form must name a pending request and carry its CSRF token, else a 400 page:
//! without a matching request there is no redirect URI known to be the client's. The
//! request is consumed by the first decision whatever its outcome, so a form can be
//! answered once. `user` must be one of the tenant's users. Then `deny` redirects with
//! `error=access_denied`, and `allow` with a fresh code bound to the client, the
//! redirect URI, the PKCE challenge and the user (RFC 6749 §4.1.2).

use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::authorization_code::store_code;
use crate::authorize::Reply;
use crate::config::random_bytes;
use crate::html::error_page;
use crate::oauth::{param, parse_params};
use crate::signin::{AuthorizationCode, CODE_LIFETIME, PENDING_LIFETIME, PendingAuthorization};
use crate::state::{State, lock};

/// The consent form is four short fields; anything much larger is not from the page.
pub(crate) const MAX_DECISION_BODY: usize = 8 * 1024;

/// The wiremock responder for `POST /authorize/decision`.
pub(crate) struct Decision(pub(crate) Arc<State>);

impl Respond for Decision {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        decide(&self.0, request)
    }
}

fn decide(state: &State, request: &Request) -> ResponseTemplate {
    if request.body.len() > MAX_DECISION_BODY {
        return error_page(413, "The form is larger than the consent page sends.");
    }
    let params = match parse_params(request) {
        Ok(params) => params,
        Err(refusal) => return error_page(400, &refusal.description),
    };
    let param = |name: &str| param(&params, name);

    let pending = param("request").and_then(|id| lock(&state.signin).pending.remove(id));
    let Some(pending) = pending.filter(|p| p.created.elapsed() < PENDING_LIFETIME) else {
        return error_page(
            400,
            "This sign-in request is unknown, expired or already answered.",
        );
    };
    let csrf_matches = param("csrf").is_some_and(|csrf| {
        aws_lc_rs::constant_time::verify_slices_are_equal(csrf.as_bytes(), pending.csrf.as_bytes())
            .is_ok()
    });
    if !csrf_matches {
        return error_page(400, "The form does not belong to this sign-in request.");
    }
    let Some(user) = param("user").filter(|sub| state.config.users.iter().any(|u| u.sub == *sub))
    else {
        return error_page(400, "Pick one of the tenant's users.");
    };
    let Ok(redirect_uri) = Url::parse(&pending.redirect_uri) else {
        return error_page(500, "The pending request's redirect_uri no longer parses.");
    };
    let reply = Reply {
        redirect_uri,
        state: pending.state.as_deref(),
        issuer: &state.issuer,
    };
    match param("decision") {
        Some("allow") => reply.code(&issue_code(state, &pending, user)),
        // Auth0's wording for a denied consent.
        Some("deny") => reply.error("access_denied", "User did not authorize the request"),
        _ => error_page(400, "The decision must be allow or deny."),
    }
}

/// Issues a single-use code for an approved request (by the user, or auto-approval).
pub(crate) fn issue_code(state: &State, approved: &PendingAuthorization, sub: &str) -> String {
    let code = URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let entry = AuthorizationCode {
        client_id: approved.client_id.clone(),
        redirect_uri: approved.redirect_uri.clone(),
        code_challenge: approved.code_challenge.clone(),
        sub: sub.to_string(),
        audience: approved.audience.clone(),
        scopes: approved.scopes.clone(),
        expires: Instant::now() + CODE_LIFETIME,
        used: false,
        issued_jtis: Vec::new(),
        family: None,
    };
    store_code(&mut lock(&state.signin), code.clone(), entry);
    code
}
