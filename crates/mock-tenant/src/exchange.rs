//! The On-Behalf-Of grant (RFC 8693 token exchange) of `POST /oauth/token`, checked
//! the way Auth0 checks it.
//!
//! The checks, their order and each refusal are documented on the [crate].
//!
//! The `audience` picks the API and with it the client grant: the private API's
//! ([`TenantConfig::allowed_scopes`]), or one of [`TenantConfig::extra_apis`]. The
//! granted scope is the requested scope (the whole client grant when none is requested)
//! narrowed by the user's RBAC permissions on that API when a test set them with
//! [`MockTenant::set_user_api_scopes`](crate::MockTenant::set_user_api_scopes) or
//! [`MockTenant::set_user_scopes_on`](crate::MockTenant::set_user_scopes_on); the
//! response carries `scope` only when it differs from the request.
//!
//! [`TenantConfig::allowed_scopes`]: crate::TenantConfig::allowed_scopes
//! [`TenantConfig::extra_apis`]: crate::TenantConfig::extra_apis

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::access_token::{sign_access_token, token_response};
use crate::oauth::{Refusal, authenticate, dedup, missing, param};
use crate::state::{ExchangeTarget, State, lock};
use crate::token::now;

/// `grant_type` for RFC 8693 token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The RFC 8693 token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The most `act` levels a subject token may already carry minus one: Auth0 refuses a
/// subject token whose chain is this deep.
pub const MAX_ACT_DEPTH: usize = 4;

/// The RFC 8693 grant, once the token endpoint has parsed the parameters and found
/// `grant_type` to be token exchange.
pub(crate) fn exchange(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<ResponseTemplate, Refusal> {
    let config = &state.config;
    let param = |name: &str| param(params, name);

    authenticate(state, request, params)?;

    let subject_token = param("subject_token").ok_or_else(|| missing("subject_token"))?;
    let subject_token_type =
        param("subject_token_type").ok_or_else(|| missing("subject_token_type"))?;
    if subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(Refusal::invalid_request(format!(
            "Unsupported subject_token_type: {subject_token_type}"
        )));
    }
    if let Some(requested) = param("requested_token_type")
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(Refusal::invalid_request(format!(
            "Unsupported requested_token_type: {requested}"
        )));
    }
    let audience = param("audience").ok_or_else(|| missing("audience"))?;
    let client_grant = match state.exchange_target(audience) {
        ExchangeTarget::Granted(scopes) => scopes,
        ExchangeTarget::NoGrant => return Err(no_client_grant(audience)),
        ExchangeTarget::Unknown => {
            return Err(Refusal::access_denied(format!(
                "Service not enabled within domain: {audience}"
            )));
        }
    };

    let subject = verify_subject(state, subject_token)?;
    if let Some(jti) = subject.get("jti").and_then(Value::as_str)
        && lock(&state.signin).revoked_jtis.contains(jti)
    {
        return Err(Refusal::new(
            401,
            "invalid_grant",
            "Invalid subject token: the grant it was issued under has been revoked",
        ));
    }
    let sub = subject
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if act_depth(&subject)? >= MAX_ACT_DEPTH {
        return Err(Refusal::invalid_request(format!(
            "Delegation chain (`act` claim) depth exceeds the maximum allowed limit of {MAX_ACT_DEPTH}"
        )));
    }

    let org_id = organization(state, &subject, &sub, param("organization"))?;

    let requested_scope = param("scope");
    let requested: Vec<String> = match requested_scope {
        Some(scope) => dedup(scope.split_whitespace()),
        None => client_grant.clone(),
    };
    let not_granted: Vec<&str> = requested
        .iter()
        .filter(|scope| !client_grant.contains(scope))
        .map(String::as_str)
        .collect();
    if !not_granted.is_empty() {
        return Err(Refusal::access_denied(format!(
            "Client has not been granted scopes: {}",
            not_granted.join(" ")
        )));
    }
    let rbac_key = (sub.clone(), audience.to_string());
    let granted: Vec<String> = match lock(&state.user_api_scopes).get(&rbac_key) {
        Some(permitted) => requested
            .iter()
            .filter(|s| permitted.contains(s))
            .cloned()
            .collect(),
        None => requested.clone(),
    };
    let scope_differs = requested_scope.is_none() || granted != requested;

    let expires_in = state.expires_in.load(Ordering::SeqCst);
    let iat = now();
    let mut actor = Map::new();
    actor.insert("sub".into(), json!(config.client_id));
    if let Some(prior) = subject.get("act") {
        actor.insert("act".into(), prior.clone());
    }
    let mut claims = json!({
        "iss": state.issuer,
        "sub": sub,
        "aud": audience,
        "iat": iat,
        "exp": iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
        "azp": config.client_id,
        "client_id": config.client_id,
        "act": actor,
        "jti": state.next_jti(),
        "permissions": granted,
    });
    if let Some(map) = claims.as_object_mut() {
        if !granted.is_empty() {
            map.insert("scope".into(), json!(granted.join(" ")));
        }
        if let Some(org_id) = &org_id {
            map.insert("org_id".into(), json!(org_id));
        }
    }
    let mut body = json!({
        "access_token": sign_access_token(state, &claims),
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    if scope_differs && let Some(map) = body.as_object_mut() {
        map.insert("scope".into(), json!(granted.join(" ")));
    }
    state.record_exchange(&sub, audience, org_id.as_deref());
    Ok(token_response(&body))
}

/// The refusal for an API the client has no user-delegated client grant to. Auth0
/// documents no wording for On-Behalf-Of; this is the one it sends for the same
/// missing grant on the client-credentials grant (docs/decisions.md).
fn no_client_grant(audience: &str) -> Refusal {
    Refusal::access_denied(format!(
        "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
    ))
}

/// Verifies the subject token with the tenant's published keys and returns its claims.
fn verify_subject(state: &State, token: &str) -> Result<Map<String, Value>, Refusal> {
    let malformed = |why: &str| Refusal::invalid_request(format!("Invalid subject token: {why}"));
    let invalid = |why: &str| {
        Refusal::new(
            401,
            "invalid_grant",
            format!("Invalid subject token: {why}"),
        )
    };

    let header = jsonwebtoken::decode_header(token).map_err(|_| malformed("not a JWT"))?;
    if header.alg != Algorithm::RS256 {
        return Err(malformed("unsupported signing algorithm"));
    }
    let kid = header.kid.ok_or_else(|| malformed("no key id"))?;
    let decoding = lock(&state.keys)
        .published
        .iter()
        .find(|key| key.key.kid() == kid)
        .map(|key| key.decoding.clone())
        .ok_or_else(|| invalid("signed by an unknown key"))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_issuer(&[&state.issuer]);
    validation.set_audience(&[&state.config.mcp_audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation).map_err(
        |error| match error.kind() {
            ErrorKind::InvalidSignature => invalid("bad signature"),
            ErrorKind::ExpiredSignature => invalid("expired"),
            ErrorKind::ImmatureSignature => invalid("not valid yet"),
            ErrorKind::InvalidIssuer => malformed("issued by another issuer"),
            ErrorKind::InvalidAudience => malformed("not issued for this client's API"),
            ErrorKind::MissingRequiredClaim(claim) => malformed(&format!("missing {claim}")),
            _ => malformed("malformed"),
        },
    )?;
    match data.claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(data.claims),
        _ => Err(malformed("sub is not a non-empty string")),
    }
}

/// The organization of the exchanged token, if any: the subject token's `org_id`, or
/// the organization the `organization` parameter names (by id or by name). The
/// organization must exist and `sub` must be a member (403 `access_denied`); a
/// parameter naming another organization than the subject token's `org_id` is 400
/// `invalid_request`. Descriptions name the organization, never the token.
fn organization(
    state: &State,
    subject: &Map<String, Value>,
    sub: &str,
    requested: Option<&str>,
) -> Result<Option<String>, Refusal> {
    let subject_org = match subject.get("org_id") {
        None => None,
        Some(Value::String(id)) if !id.is_empty() => Some(id.as_str()),
        Some(_) => {
            return Err(Refusal::invalid_request(
                "Invalid subject token: org_id is not a non-empty string",
            ));
        }
    };
    let organization = match (subject_org, requested) {
        (None, None) => return Ok(None),
        (Some(org_id), requested) => {
            if let Some(requested) = requested {
                let same = requested == org_id
                    || state
                        .find_organization(requested)
                        .is_some_and(|o| o.id == org_id);
                if !same {
                    return Err(Refusal::invalid_request(format!(
                        "organization does not match the subject token's org_id ({org_id})"
                    )));
                }
            }
            lock(&state.organizations)
                .iter()
                .find(|o| o.id == org_id)
                .cloned()
                .ok_or_else(|| {
                    Refusal::access_denied(format!("Organization {org_id} does not exist"))
                })?
        }
        (None, Some(requested)) => state.find_organization(requested).ok_or_else(|| {
            Refusal::access_denied(format!("Organization {requested} does not exist"))
        })?,
    };
    if organization.has_member(sub) {
        Ok(Some(organization.id))
    } else {
        Err(Refusal::access_denied(format!(
            "User is not a member of organization {}",
            organization.id
        )))
    }
}

/// How many actors the subject token's `act` chain names (0 without `act`).
fn act_depth(claims: &Map<String, Value>) -> Result<usize, Refusal> {
    let mut depth = 0;
    let mut current = claims.get("act");
    while let Some(act) = current {
        let Some(sub) = act.get("sub").and_then(Value::as_str) else {
            return Err(Refusal::invalid_request(
                "Invalid subject token: malformed act claim",
            ));
        };
        if sub.is_empty() {
            return Err(Refusal::invalid_request(
                "Invalid subject token: malformed act claim",
            ));
        }
        depth += 1;
        current = act.get("act");
    }
    Ok(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn act_depth_counts_nested_actors_and_rejects_malformed_ones() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(act_depth(&claims(json!({}))).ok(), Some(0));
        assert_eq!(
            act_depth(&claims(json!({"act": {"sub": "a", "act": {"sub": "b"}}}))).ok(),
            Some(2)
        );
        assert!(act_depth(&claims(json!({"act": "a"}))).is_err());
        assert!(act_depth(&claims(json!({"act": {"sub": "a", "act": {}}}))).is_err());
    }
}
