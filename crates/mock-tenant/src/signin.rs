//! What the sign-in endpoints share: the clients registered through Dynamic Client
//! Registration, consent requests waiting for the user, authorization codes, and
//! refresh-token families. Everything lives in memory for as long as the tenant does,
//! and every map is bounded so that a client looping on an endpoint cannot grow it
//! without end.
//!
//! Who writes and who reads:
//!
//! | data | written by | read by |
//! |---|---|---|
//! | [`RegisteredClient`] | `POST /oidc/register` (`register.rs`) | `/authorize`, the token endpoint, `/oauth/revoke` |
//! | [`PendingAuthorization`] | `GET /authorize` | the consent form's `POST /authorize/decision` |
//! | [`AuthorizationCode`] | the consent decision (or auto-approval) | the `authorization_code` grant |
//! | [`RefreshFamily`] | the `authorization_code` grant | the `refresh_token` grant, `/oauth/revoke` |

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The most clients Dynamic Client Registration keeps; the next registration is refused
/// with 400 `invalid_client_metadata` naming the limit, as a tenant at its quota would.
pub(crate) const MAX_CLIENTS: usize = 1_000;
/// The most consent requests waiting for a decision; the oldest is dropped for a new one.
pub(crate) const MAX_PENDING: usize = 1_000;
/// How long a consent request waits for the user's decision.
pub(crate) const PENDING_LIFETIME: Duration = Duration::from_secs(600);
/// The most live authorization codes and refresh families; expired ones go first.
pub(crate) const MAX_CODES: usize = 10_000;
pub(crate) const MAX_FAMILIES: usize = 10_000;
/// An authorization code is single use and lives this long (RFC 6749 §4.1.2 says at most
/// 10 minutes; Auth0 and this tenant use 60 s).
pub(crate) const CODE_LIFETIME: Duration = Duration::from_secs(60);

/// How a registered client authenticates at the token endpoint
/// (`token_endpoint_auth_method`, RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuthMethod {
    /// A public client: no secret, PKCE alone binds the code to it.
    None,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
}

impl ClientAuthMethod {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(Self::None),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// A client registered with `POST /oidc/register`: a strict third-party application,
/// as Auth0 makes every dynamically registered client.
#[derive(Clone)]
pub(crate) struct RegisteredClient {
    /// `tpc_` and random characters, the shape of Auth0's third-party client ids.
    pub(crate) client_id: String,
    /// Present unless `auth_method` is [`ClientAuthMethod::None`].
    pub(crate) client_secret: Option<String>,
    pub(crate) auth_method: ClientAuthMethod,
    /// Exactly as registered; `/authorize` compares with these (loopback: any port).
    pub(crate) redirect_uris: Vec<String>,
    /// `authorization_code`, and `refresh_token` when registered.
    pub(crate) grant_types: Vec<String>,
    /// What the consent page shows; the client id when none was registered.
    pub(crate) client_name: String,
}

impl std::fmt::Debug for RegisteredClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredClient")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("auth_method", &self.auth_method)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("client_name", &self.client_name)
            .finish_non_exhaustive()
    }
}

/// A valid `/authorize` request waiting for the user's decision on the consent page.
/// `Debug` leaves out the CSRF token.
#[derive(Clone)]
pub(crate) struct PendingAuthorization {
    pub(crate) client_id: String,
    /// The redirect URI the request named (already checked against the registration).
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    /// The S256 `code_challenge`.
    pub(crate) code_challenge: String,
    /// The API identifier the token will be for (`aud`).
    pub(crate) audience: String,
    /// Requested ∩ defined by the API ∩ allowed to the client.
    pub(crate) scopes: Vec<String>,
    /// The CSRF token the consent form must send back.
    pub(crate) csrf: String,
    pub(crate) created: Instant,
}

/// An authorization code, single use, bound to the client, the redirect URI and the
/// PKCE challenge.
#[derive(Debug, Clone)]
pub(crate) struct AuthorizationCode {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: String,
    pub(crate) code_challenge: String,
    /// The user who signed in.
    pub(crate) sub: String,
    pub(crate) audience: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) expires: Instant,
    /// Set when redeemed; a second redemption revokes what the first one issued.
    pub(crate) used: bool,
    /// The `jti`s of the access tokens issued from this code.
    pub(crate) issued_jtis: Vec<String>,
    /// The refresh family issued from this code, if `offline_access` was granted.
    pub(crate) family: Option<String>,
}

/// One chain of rotated refresh tokens. Each use retires the current token and issues
/// the next one; presenting a retired token revokes the whole family (RFC 9700 §4.14.2).
/// `Debug` leaves the refresh tokens out.
#[derive(Clone)]
pub(crate) struct RefreshFamily {
    pub(crate) client_id: String,
    pub(crate) sub: String,
    pub(crate) audience: String,
    pub(crate) scopes: Vec<String>,
    /// The only token of the family that may be used now.
    pub(crate) current: String,
    /// The `jti`s of every access token the family issued (revoked with it).
    pub(crate) issued_jtis: Vec<String>,
    pub(crate) revoked: bool,
    /// The family's retired tokens, oldest first: presenting one revokes the family.
    pub(crate) retired: Vec<String>,
    /// The family's absolute lifetime ends here; its tokens are then refused.
    pub(crate) expires: Instant,
}

impl std::fmt::Debug for RefreshFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshFamily")
            .field("client_id", &self.client_id)
            .field("sub", &self.sub)
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .field("issued_jtis", &self.issued_jtis)
            .field("revoked", &self.revoked)
            .field("retired", &self.retired.len())
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("client_id", &self.client_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("audience", &self.audience)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// The sign-in state of one tenant, behind one lock in [`crate::state::State`].
/// `Debug` shows counts only: the maps are keyed by codes and refresh tokens.
#[derive(Default)]
pub(crate) struct SignIn {
    /// By `client_id`.
    pub(crate) clients: HashMap<String, RegisteredClient>,
    /// By the opaque request id the consent form carries.
    pub(crate) pending: HashMap<String, PendingAuthorization>,
    /// By code.
    pub(crate) codes: HashMap<String, AuthorizationCode>,
    /// Every refresh token ever issued (current and retired) → its family id.
    pub(crate) refresh_tokens: HashMap<String, String>,
    /// By family id.
    pub(crate) families: HashMap<String, RefreshFamily>,
    /// `jti`s of access tokens revoked by a code reuse or a family revocation. The token
    /// exchange grant refuses them as subject tokens, as Auth0 refuses a revoked grant.
    pub(crate) revoked_jtis: RevokedJtis,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("clients", &self.clients.len())
            .field("pending", &self.pending.len())
            .field("codes", &self.codes.len())
            .field("families", &self.families.len())
            .finish_non_exhaustive()
    }
}

/// Revoked access tokens, each remembered only as long as it could still be presented:
/// the access-token lifetime from its revocation, which is never before its `exp`. So
/// the set stays as small as the tokens still alive.
#[derive(Debug, Default)]
pub(crate) struct RevokedJtis {
    until: HashMap<String, Instant>,
    lifetime: Duration,
}

impl RevokedJtis {
    /// Remembers revoked tokens for `lifetime`, the longest an access token lives.
    pub(crate) fn new(lifetime: Duration) -> Self {
        Self {
            until: HashMap::new(),
            lifetime,
        }
    }

    pub(crate) fn revoke(&mut self, jtis: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        self.until.retain(|_, until| *until > now);
        let until = now + self.lifetime;
        self.until.extend(jtis.into_iter().map(|jti| (jti, until)));
    }

    pub(crate) fn contains(&self, jti: &str) -> bool {
        self.until.contains_key(jti)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_token_is_forgotten_once_no_token_it_names_can_be_alive() {
        let mut alive = RevokedJtis::new(Duration::from_secs(3600));
        alive.revoke(["a".to_string()]);
        alive.revoke(["b".to_string()]);
        assert!(alive.contains("a") && alive.contains("b"));

        let mut expired = RevokedJtis::new(Duration::ZERO);
        expired.revoke(["a".to_string()]);
        assert!(expired.contains("a"));
        expired.revoke(["b".to_string()]);
        assert!(!expired.contains("a"), "kept past every token's lifetime");
        assert!(expired.contains("b"));
    }

    #[test]
    fn debug_shows_neither_codes_refresh_tokens_nor_csrf_tokens() {
        let mut signin = SignIn::default();
        signin.codes.insert(
            "the-code".into(),
            AuthorizationCode {
                client_id: "tpc_x".into(),
                redirect_uri: "http://127.0.0.1/cb".into(),
                code_challenge: "c".into(),
                sub: "auth0|alice".into(),
                audience: "http://localhost:3001/".into(),
                scopes: Vec::new(),
                expires: Instant::now(),
                used: false,
                issued_jtis: Vec::new(),
                family: None,
            },
        );
        signin
            .refresh_tokens
            .insert("the-refresh-token".into(), "f".into());
        let pending = PendingAuthorization {
            client_id: "tpc_x".into(),
            redirect_uri: "http://127.0.0.1/cb".into(),
            state: None,
            code_challenge: "c".into(),
            audience: "http://localhost:3001/".into(),
            scopes: Vec::new(),
            csrf: "the-csrf-token".into(),
            created: Instant::now(),
        };
        let shown = format!("{signin:?} {pending:?}");
        for secret in ["the-code", "the-refresh-token", "the-csrf-token"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("codes: 1"), "{shown}");
    }
}
