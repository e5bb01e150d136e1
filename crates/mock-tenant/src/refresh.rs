//! The `refresh_token` grant of `POST /oauth/token` (RFC 6749 §6), and the
//! refresh-token families it rotates: each use retires the token presented and issues
//! the next one; presenting a retired token revokes the whole family (RFC 9700
//! §4.14.2, Auth0's refresh-token rotation).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use wiremock::{Request, ResponseTemplate};

use crate::access_token::{UserGrant, check_resource};
use crate::config::random_secret;
use crate::oauth::{Refusal, authenticate_registered, dedup, missing, param, require_grant_type};
use crate::signin::{MAX_FAMILIES, RefreshFamily, RevokedJtis, SignIn};
use crate::state::{State, lock};

/// `grant_type` (and the registered grant type) of a refresh.
pub(crate) const REFRESH_GRANT: &str = "refresh_token";
/// A family's absolute lifetime: Auth0's default for rotating refresh tokens (30 days).
pub(crate) const FAMILY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// How many retired tokens, and access-token `jti`s, a family remembers. A client that
/// rotates in a loop must not grow the tenant without end; a token retired longer ago
/// is refused as unknown (still `invalid_grant`, without revoking the family), and an
/// access token issued longer ago is not revoked with the family (it has long expired
/// unless the client refreshes in a loop).
pub(crate) const REMEMBERED_ROTATIONS: usize = 32;

/// The grant, once the token endpoint has parsed the parameters.
pub(crate) fn refresh(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<ResponseTemplate, Refusal> {
    let param = |name: &str| param(params, name);
    let client = authenticate_registered(state, request, params)?;
    require_grant_type(&client, REFRESH_GRANT)?;
    let presented = param("refresh_token").ok_or_else(|| missing("refresh_token"))?;
    let requested = param("scope")
        .map(|scope| dedup(scope.split_whitespace()))
        .filter(|scopes| !scopes.is_empty());

    let grant = {
        let mut guard = lock(&state.signin);
        let SignIn {
            refresh_tokens,
            families,
            revoked_jtis,
            ..
        } = &mut *guard;
        // Another client's token is answered like an unknown one, and left alone.
        let Some((family_id, family)) = refresh_tokens
            .get(presented)
            .and_then(|id| Some((id.clone(), families.get_mut(id)?)))
            .filter(|(_, family)| family.client_id == client.client_id)
        else {
            return Err(Refusal::invalid_grant("Unknown or invalid refresh token"));
        };
        if family.revoked {
            return Err(Refusal::invalid_grant("The refresh token has been revoked"));
        }
        if family.expires <= Instant::now() {
            return Err(Refusal::invalid_grant("The refresh token has expired"));
        }
        if family.current != presented {
            revoke(family, revoked_jtis);
            return Err(Refusal::invalid_grant(
                "The refresh token was already used; its whole family is revoked",
            ));
        }
        // RFC 6749 §6: the scope may only narrow, and the new refresh token keeps the
        // family's scope; only the access token is narrowed.
        let scopes = match requested {
            Some(requested) => {
                if let Some(extra) = requested.iter().find(|s| !family.scopes.contains(s)) {
                    return Err(Refusal::new(
                        400,
                        "invalid_scope",
                        format!("Scope not granted to this refresh token: {extra}"),
                    ));
                }
                requested
            }
            None => family.scopes.clone(),
        };
        check_resource(param("resource"), &family.audience)?;

        let jti = state.next_jti();
        let next = random_secret();
        let retired = std::mem::replace(&mut family.current, next.clone());
        family.retired.push(retired);
        family.issued_jtis.push(jti.clone());
        refresh_tokens.insert(next.clone(), family_id);
        if family.retired.len() > REMEMBERED_ROTATIONS {
            let forgotten = family.retired.remove(0);
            refresh_tokens.remove(&forgotten);
        }
        if family.issued_jtis.len() > REMEMBERED_ROTATIONS + 1 {
            family.issued_jtis.remove(0);
        }
        UserGrant {
            sub: family.sub.clone(),
            client_id: client.client_id,
            audience: family.audience.clone(),
            scopes,
            jti,
            refresh_token: Some(next),
        }
    };
    state.refreshes.fetch_add(1, Ordering::SeqCst);
    Ok(grant.answer(state))
}

/// Opens a family whose first access token is `jti`, making room for it first, and
/// returns its id and its first refresh token.
pub(crate) fn open_family(
    signin: &mut SignIn,
    client_id: &str,
    sub: &str,
    audience: &str,
    scopes: &[String],
    jti: String,
) -> (String, String) {
    make_room(signin);
    let family_id = random_secret();
    let refresh_token = random_secret();
    signin
        .refresh_tokens
        .insert(refresh_token.clone(), family_id.clone());
    signin.families.insert(
        family_id.clone(),
        RefreshFamily {
            client_id: client_id.to_owned(),
            sub: sub.to_owned(),
            audience: audience.to_owned(),
            scopes: scopes.to_vec(),
            current: refresh_token.clone(),
            issued_jtis: vec![jti],
            revoked: false,
            retired: Vec::new(),
            expires: Instant::now() + FAMILY_LIFETIME,
        },
    );
    (family_id, refresh_token)
}

/// Revokes a family: none of its refresh tokens works any more, and the token-exchange
/// grant refuses its access tokens.
pub(crate) fn revoke_family(signin: &mut SignIn, family_id: &str) {
    if let Some(family) = signin.families.get_mut(family_id) {
        revoke(family, &mut signin.revoked_jtis);
    }
}

fn revoke(family: &mut RefreshFamily, revoked_jtis: &mut RevokedJtis) {
    family.revoked = true;
    revoked_jtis.revoke(family.issued_jtis.iter().cloned());
}

/// Keeps the families under [`MAX_FAMILIES`]: revoked and expired ones go first, then
/// the oldest; their refresh tokens go with them (and are then refused as unknown).
fn make_room(signin: &mut SignIn) {
    if signin.families.len() < MAX_FAMILIES {
        return;
    }
    let now = Instant::now();
    signin
        .families
        .retain(|_, family| !family.revoked && family.expires > now);
    if signin.families.len() >= MAX_FAMILIES
        && let Some(oldest) = signin
            .families
            .iter()
            .min_by_key(|(_, family)| family.expires)
            .map(|(id, _)| id.clone())
    {
        signin.families.remove(&oldest);
    }
    let families = &signin.families;
    signin
        .refresh_tokens
        .retain(|_, family_id| families.contains_key(family_id));
}
