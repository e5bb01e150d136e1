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

use crate::authorize::Reply;
use crate::config::random_bytes;
use crate::html::error_page;
use crate::oauth::parse_params;
use crate::signin::{
    AuthorizationCode, CODE_LIFETIME, MAX_CODES, PENDING_LIFETIME, PendingAuthorization, SignIn,
};
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
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

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

/// At the bound, expired codes go first, then the one closest to expiring. Used codes
/// stay while there is room, so a replay is still recognised (RFC 6749 §4.1.2).
fn store_code(signin: &mut SignIn, code: String, entry: AuthorizationCode) {
    if signin.codes.len() >= MAX_CODES {
        let now = Instant::now();
        signin.codes.retain(|_, c| c.expires > now);
    }
    while signin.codes.len() >= MAX_CODES {
        let first = signin
            .codes
            .iter()
            .min_by_key(|(_, c)| c.expires)
            .map(|(code, _)| code.clone());
        match first {
            Some(code) => signin.codes.remove(&code),
            None => break,
        };
    }
    signin.codes.insert(code, entry);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn code_expiring(expires: Instant, used: bool) -> AuthorizationCode {
        AuthorizationCode {
            client_id: "tpc_x".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            code_challenge: "c".into(),
            sub: "auth0|alice".into(),
            audience: crate::DEFAULT_MCP_AUDIENCE.into(),
            scopes: Vec::new(),
            expires,
            used,
            issued_jtis: Vec::new(),
            family: None,
        }
    }

    #[test]
    fn at_the_bound_expired_codes_go_first_then_the_closest_to_expiring() {
        let mut signin = SignIn::default();
        let now = Instant::now();
        let expired = now.checked_sub(Duration::from_secs(1)).unwrap();
        store_code(&mut signin, "expired".into(), code_expiring(expired, true));
        for i in 1..MAX_CODES {
            let expires = now + CODE_LIFETIME + Duration::from_millis(u64::try_from(i).unwrap());
            store_code(&mut signin, format!("c{i}"), code_expiring(expires, i == 1));
        }
        assert_eq!(signin.codes.len(), MAX_CODES);

        store_code(
            &mut signin,
            "new1".into(),
            code_expiring(now + CODE_LIFETIME * 2, false),
        );
        assert_eq!(signin.codes.len(), MAX_CODES);
        assert!(!signin.codes.contains_key("expired"));
        assert!(signin.codes.contains_key("c1"), "a used live code is kept");

        store_code(
            &mut signin,
            "new2".into(),
            code_expiring(now + CODE_LIFETIME * 2, false),
        );
        assert_eq!(signin.codes.len(), MAX_CODES);
        assert!(!signin.codes.contains_key("c1"));
        assert!(signin.codes.contains_key("c2") && signin.codes.contains_key("new2"));
    }
}
