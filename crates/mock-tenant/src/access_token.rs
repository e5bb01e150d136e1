//! The access tokens the tenant signs. Every grant signs and records them with
//! [`sign_access_token`]; the two grants that issue a user's token to a registered
//! client (`authorization_code`, `refresh_token`) share its claims and their answer.

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::oauth::Refusal;
use crate::state::State;
use crate::token::now;

/// `offline_access` asks for a refresh token; it is a scope of the grant, not a
/// permission on the API.
pub(crate) const OFFLINE_ACCESS: &str = "offline_access";
/// Scopes that are about the grant or the user's profile rather than the API, so never
/// in `permissions`.
const NOT_API_SCOPES: [&str; 4] = [OFFLINE_ACCESS, "openid", "profile", "email"];

/// Signs access-token claims with the tenant's current key (header `typ: at+jwt` and the
/// key's `kid`), and records the token for [`MockTenant::issued_tokens`](crate::MockTenant::issued_tokens).
/// Call it without holding a lock: RSA signing is slow.
pub(crate) fn sign_access_token(state: &State, claims: &Value) -> String {
    let access_token = state
        .signing_key()
        .sign_with_header(&json!({"typ": "at+jwt"}), claims);
    state.record_issued(&access_token);
    access_token
}

/// A successful token response (RFC 6749 §5.1): never cached.
pub(crate) fn token_response(body: &Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("cache-control", "no-store")
        .insert_header("pragma", "no-cache")
        .set_body_json(body)
}

/// What a user grant decided, under the sign-in lock; the token is signed after it is
/// released.
pub(crate) struct UserGrant {
    pub(crate) sub: String,
    /// The registered client: `azp` and `client_id`.
    pub(crate) client_id: String,
    pub(crate) audience: String,
    /// The scopes of this access token: the answer's `scope`.
    pub(crate) scopes: Vec<String>,
    /// Reserved under the lock and already recorded with the code or family, so a
    /// revocation racing with the signing still covers this token.
    pub(crate) jti: String,
    pub(crate) refresh_token: Option<String>,
}

/// The audience of a grant for no API (Auth0 without the Resource Parameter
/// Compatibility Profile, and no `audience` sent): its access token is opaque.
pub(crate) const NO_API: &str = "";

impl UserGrant {
    /// Signs the access token and answers `{access_token, token_type, expires_in,
    /// scope, refresh_token?}`.
    pub(crate) fn answer(self, state: &State) -> ResponseTemplate {
        let expires_in = state.config.access_token_expires_in;
        let iat = now();
        let permissions: Vec<&String> = self
            .scopes
            .iter()
            .filter(|s| !NOT_API_SCOPES.contains(&s.as_str()))
            .collect();
        let scope = self.scopes.join(" ");
        let claims = json!({
            "iss": state.issuer,
            "sub": self.sub,
            "aud": self.audience,
            "iat": iat,
            "exp": iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
            "azp": self.client_id,
            "client_id": self.client_id,
            "scope": scope,
            "permissions": permissions,
            "jti": self.jti,
        });
        let access_token = if self.audience == NO_API {
            crate::token::opaque()
        } else {
            sign_access_token(state, &claims)
        };
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scope,
        });
        if let (Some(refresh_token), Some(map)) = (self.refresh_token, body.as_object_mut()) {
            map.insert("refresh_token".into(), json!(refresh_token));
        }
        token_response(&body)
    }
}

/// RFC 8707 §2.2: a `resource` sent to the token endpoint must name the API the grant
/// is for. A trailing slash is not significant: clients differ in adding one to a bare
/// origin (`shared/auth0-login.md` §4), and `/authorize` accepted the same spelling.
pub(crate) fn check_resource(resource: Option<&str>, audience: &str) -> Result<(), Refusal> {
    // A grant for no API came from a tenant that ignores `resource` (no compatibility
    // profile); the token endpoint ignores it too.
    if audience == NO_API {
        return Ok(());
    }
    match resource {
        Some(resource) if strip_slash(resource) != strip_slash(audience) => Err(Refusal::new(
            400,
            "invalid_target",
            "The resource is not the API this grant is for",
        )),
        _ => Ok(()),
    }
}

fn strip_slash(uri: &str) -> &str {
    uri.strip_suffix('/').unwrap_or(uri)
}
