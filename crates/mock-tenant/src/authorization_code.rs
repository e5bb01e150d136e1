//! The `authorization_code` grant of `POST /oauth/token` (RFC 6749 §4.1.3) with PKCE
//! (RFC 7636 §4.6), and how codes are stored.
//!
//! A code is single use: a second redemption is refused, and what the first one issued
//! is revoked (RFC 6749 §4.1.2). A refused redemption (wrong `redirect_uri`, verifier or
//! resource) does not use the code up; it still dies at
//! [`CODE_LIFETIME`](crate::signin::CODE_LIFETIME).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use wiremock::{Request, ResponseTemplate};

use crate::access_token::{OFFLINE_ACCESS, UserGrant, check_resource};
use crate::oauth::{Refusal, authenticate_registered, missing, param, require_grant_type};
use crate::refresh::{REFRESH_GRANT, open_family, revoke_family};
use crate::signin::{AuthorizationCode, MAX_CODES, SignIn};
use crate::state::{State, lock};

/// `grant_type` (and the registered grant type) of a code redemption.
pub(crate) const AUTHORIZATION_CODE_GRANT: &str = "authorization_code";

/// The grant, once the token endpoint has parsed the parameters.
pub(crate) fn authorization_code(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<ResponseTemplate, Refusal> {
    let param = |name: &str| param(params, name);
    let client = authenticate_registered(state, request, params)?;
    require_grant_type(&client, AUTHORIZATION_CODE_GRANT)?;
    let code = param("code").ok_or_else(|| missing("code"))?;
    let redirect_uri = param("redirect_uri").ok_or_else(|| missing("redirect_uri"))?;
    let may_refresh = client.grant_types.iter().any(|g| g == REFRESH_GRANT);

    let grant = {
        let mut guard = lock(&state.signin);
        let signin = &mut *guard;
        // Another client's code is answered like an unknown one, and left alone.
        let Some(entry) = signin
            .codes
            .get_mut(code)
            .filter(|entry| entry.client_id == client.client_id)
        else {
            return Err(Refusal::invalid_grant("Invalid authorization code"));
        };
        if entry.used {
            let jtis = entry.issued_jtis.clone();
            let family = entry.family.clone();
            signin.revoked_jtis.revoke(jtis);
            if let Some(family) = family {
                revoke_family(signin, &family);
            }
            return Err(Refusal::invalid_grant(
                "The authorization code was already used; the tokens issued from it are revoked",
            ));
        }
        if entry.expires <= Instant::now() {
            signin.codes.remove(code);
            return Err(Refusal::invalid_grant("The authorization code has expired"));
        }
        if entry.redirect_uri != redirect_uri {
            return Err(Refusal::invalid_grant(
                "redirect_uri is not the one of the authorization request",
            ));
        }
        verify_pkce(param("code_verifier"), &entry.code_challenge)?;
        check_resource(param("resource"), &entry.audience)?;

        // Recorded before the lock is released, so a reuse racing with the signing
        // below still revokes what this redemption issues.
        entry.used = true;
        let jti = state.next_jti();
        entry.issued_jtis.push(jti.clone());
        let mut scopes = entry.scopes.clone();
        if !may_refresh {
            scopes.retain(|s| s != OFFLINE_ACCESS);
        }
        let (sub, audience) = (entry.sub.clone(), entry.audience.clone());
        let refresh_token = if scopes.iter().any(|s| s == OFFLINE_ACCESS) {
            let (family_id, refresh_token) = open_family(
                signin,
                &client.client_id,
                &sub,
                &audience,
                &scopes,
                jti.clone(),
            );
            if let Some(entry) = signin.codes.get_mut(code) {
                entry.family = Some(family_id);
            }
            Some(refresh_token)
        } else {
            None
        };
        UserGrant {
            sub,
            client_id: client.client_id,
            audience,
            scopes,
            jti,
            refresh_token,
        }
    };
    state.sign_ins.fetch_add(1, Ordering::SeqCst);
    Ok(grant.answer(state))
}

/// RFC 7636 §4.6: the verifier is 43 to 128 unreserved characters (§4.1), and
/// `BASE64URL(SHA256(verifier))` is the challenge. Every failure, a missing verifier
/// included, is `invalid_grant`.
fn verify_pkce(verifier: Option<&str>, challenge: &str) -> Result<(), Refusal> {
    let verifier =
        verifier.ok_or_else(|| Refusal::invalid_grant("Missing parameter: code_verifier"))?;
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-._~".contains(&b);
    if !(43..=128).contains(&verifier.len()) || !verifier.bytes().all(unreserved) {
        return Err(Refusal::invalid_grant(
            "code_verifier must be 43 to 128 unreserved characters",
        ));
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    if computed == challenge {
        Ok(())
    } else {
        Err(Refusal::invalid_grant("Failed to verify code_verifier"))
    }
}

/// Stores a code the user just approved, keeping the codes under [`MAX_CODES`]: expired
/// codes go first, then the oldest.
pub(crate) fn store_code(signin: &mut SignIn, code: String, entry: AuthorizationCode) {
    if signin.codes.len() >= MAX_CODES {
        let now = Instant::now();
        signin.codes.retain(|_, entry| entry.expires > now);
    }
    if signin.codes.len() >= MAX_CODES
        && let Some(oldest) = signin
            .codes
            .iter()
            .min_by_key(|(_, entry)| entry.expires)
            .map(|(code, _)| code.clone())
    {
        signin.codes.remove(&oldest);
    }
    signin.codes.insert(code, entry);
}
