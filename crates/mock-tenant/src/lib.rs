//! A mock Auth0 tenant on wiremock: discovery, JWKS, and On-Behalf-Of token exchange
//! that checks what Auth0 checks, with real RS256 keys generated at start.
//!
//! It plays the tenant described in `shared/auth0-tenant.md`: an API for the MCP server
//! ([`TenantConfig::mcp_audience`]), a private API ([`TenantConfig::api_audience`]), the
//! MCP server's Custom API client allowed On-Behalf-Of, and its user-delegated client
//! grant to the private API ([`TenantConfig::allowed_scopes`]). Any number of other
//! APIs, each with or without a client grant ([`TenantConfig::extra_apis`],
//! [`MockTenant::add_api`]), let a test call several downstream APIs, or miss the grant
//! for one of them.
//!
//! | route | answer |
//! |---|---|
//! | `GET /.well-known/oauth-authorization-server` | the authorization server's metadata (RFC 8414), listing only what is implemented |
//! | `GET /.well-known/openid-configuration` | the same document (Auth0's discovery path) |
//! | `GET /.well-known/jwks.json` | the published keys, `Cache-Control: public, max-age=…`; 503 while [`MockTenant::jwks_down`] |
//! | `POST /oidc/register` | Dynamic Client Registration (RFC 7591), JSON; at most [`TenantConfig::max_clients`] clients |
//! | `POST /oauth/token` | token exchange, `authorization_code`, `refresh_token`; see below |
//! | `POST /oauth/revoke` | refresh-token revocation (RFC 7009), see below |
//! | `OPTIONS` on each route above | CORS preflight |
//! | `GET /authorize` | the code flow with PKCE (checks in `src/authorize.rs`): 200 consent page, or 302 with a code while [auto-approving](MockTenant::set_auto_approve); 302 with `error` for a bad request, 400 page for an unknown client or redirect URI |
//! | `POST /authorize/decision` | the consent form's answer (`src/decision.rs`): 302 to the client with `code` or `error=access_denied`, and `state`, `iss` |
//!
//! Every route but the last two answers CORS for the origins in
//! [`TenantConfig::allowed_origins`] (browser-based clients such as the MCP Inspector's
//! UI), and only for those; `/authorize` is a browser navigation, not a CORS request.
//!
//! ## The token endpoint
//!
//! An injected [`Fault`] answers first. Then:
//!
//! | check | refusal |
//! |---|---|
//! | body is a form (or a JSON object), no parameter repeated | 400 `invalid_request` |
//! | `grant_type` present | 400 `invalid_request` |
//! | `grant_type` is token exchange, `authorization_code` or `refresh_token` | 400 `unsupported_grant_type` |
//!
//! ### Token exchange (On-Behalf-Of)
//!
//! Checks run in this order, and the first failure answers:
//!
//! | check | refusal |
//! |---|---|
//! | client authentication matches the MCP server's client: Basic or post while it has no [credentials](TenantConfig::client_credentials), a client assertion (below) while it has some | 401 `invalid_client` |
//! | both Basic and `client_secret`, or a different body `client_id` | 400 `invalid_request` |
//! | `subject_token`, `subject_token_type`, `audience` present | 400 `invalid_request` |
//! | `subject_token_type` (and `requested_token_type`, if sent) is the access-token type | 400 `invalid_request` |
//! | `audience` is one of the tenant's APIs | 403 `access_denied` ("Service not enabled within domain") |
//! | the client has a user-delegated client grant to that API (always for the private API; per [`ApiGrant::client_grant`] for the others; never for the MCP server's own API) | 403 `access_denied` ("Client is not authorized to access …") |
//! | subject token is a JWT with a `kid`, RS256, `iss` = tenant, `aud` ∋ MCP audience, `sub` | 400 `invalid_request` |
//! | subject token signed by a published key and unexpired | 401 `invalid_grant` |
//! | subject token's `jti` not revoked (its code was reused, its refresh family revoked) | 401 `invalid_grant` |
//! | subject token's `act` chain is shallower than 4 | 400 `invalid_request` |
//! | subject token's `org_id`, if any, is a non-empty string | 400 `invalid_request` |
//! | `organization` (an organization id or name), if sent with a subject token carrying `org_id`, names that organization | 400 `invalid_request` ("organization does not match the subject token's org_id …") |
//! | the organization (the subject token's `org_id`, else the one `organization` names) exists | 403 `access_denied` ("Organization … does not exist") |
//! | the user (`sub`) is a member of it | 403 `access_denied` ("User is not a member of organization org_…") |
//! | every requested scope is in that API's client grant | 403 `access_denied` |
//!
//! `shared/auth0-tenant.md` gives 400 `invalid_request` for a *bad* subject token and
//! 401 for an *invalid or expired* one; the mock reads "bad" as malformed or issued for
//! something else, and "invalid or expired" as a signature that does not verify (unknown
//! `kid` included) or an `exp` in the past, answered with the RFC 6749 code for an
//! unusable grant, `invalid_grant`.
//!
//! A success answers 200 `{access_token, issued_token_type, token_type: "Bearer",
//! expires_in}` with `Cache-Control: no-store`, plus `scope` only when the granted scope
//! differs from the request. The granted scope is the requested one (the whole client
//! grant when none is requested) narrowed by the user's RBAC permissions on that API
//! when a test set them with [`MockTenant::set_user_api_scopes`] or
//! [`MockTenant::set_user_scopes_on`]. The minted token (RS256, current key,
//! `typ: at+jwt`) keeps `sub` and `iss`, and has `aud` = the requested API, `scope` and
//! `permissions` = the granted scopes, `azp` = `client_id` = the MCP server's client,
//! `act: {sub: <client id>, act: <the subject token's act, if any>}`, `iat`,
//! `exp` = `iat` + `expires_in`, a unique `jti`, and `org_id` when the exchange is in an
//! organization (none otherwise). [`MockTenant::exchanges_for_audience`] counts
//! successes per user and API, [`MockTenant::exchanges_in_org`] per user and
//! organization.
//!
//! Organizations ([`TenantConfig::organizations`], [`MockTenant::add_organization`])
//! each have an id (`org_…`), a name and members. A subject token carrying `org_id`
//! (`MockTenant::user_token(sub).claim("org_id", "org_…")`) is exchanged only for a
//! member of an existing organization, and the new token carries the same `org_id`. An
//! exchange may also send `organization`, as Auth0's SDKs do: with a subject token
//! carrying `org_id` it must name that organization; with a personal token it puts the
//! exchange in the organization it names, for a member only. Descriptions name the
//! organization, never the token.
//!
//! ### Private Key JWT client authentication
//!
//! With [`TenantConfig::client_credentials`] (or
//! [`MockTenant::set_client_credentials`]) holding at least one [`ClientCredential`] (at
//! most [`MAX_CLIENT_CREDENTIALS`], algorithms [`CLIENT_ASSERTION_ALGS`]), the MCP
//! server's client authenticates with `private_key_jwt` (RFC 7523 §2.2, Auth0's
//! "Authenticate with Private Key JWT") and nothing else. The request carries
//! `client_assertion_type` = [`CLIENT_ASSERTION_TYPE`] and `client_assertion` = a JWS,
//! and no secret. Checks run in this order, and the first failure answers; each
//! refusal has its own `error_description`, and none repeats the assertion:
//!
//! | check | refusal |
//! |---|---|
//! | no secret (Basic header or `client_secret`) with an assertion | 400 `invalid_request` |
//! | `client_assertion` present with `client_assertion_type`, and the type is jwt-bearer | 400 `invalid_request` |
//! | the assertion is three base64url segments, header and payload JSON objects | 401 `invalid_client` |
//! | header `alg` present, at most 16 characters; `iss`, `sub`, `jti` at most 64 | 401 `invalid_client` |
//! | `iss` and `sub` present and equal | 401 `invalid_client` |
//! | `iss` is the MCP server's client id | 401 `invalid_client` |
//! | body `client_id`, if sent, equals `iss` | 400 `invalid_request` |
//! | the client has credentials (otherwise it authenticates with its secret) | 401 `invalid_client` |
//! | header `kid`, if present, names a credential, whose `alg` is the header's; without `kid`, some credential has the header's `alg` | 401 `invalid_client` |
//! | the signature verifies with such a credential | 401 `invalid_client` |
//! | `aud` (a string, or an array holding one) is the issuer `http://127.0.0.1:PORT/` or `{issuer}oauth/token` | 401 `invalid_client` |
//! | `exp` present, not in the past by more than [`ASSERTION_CLOCK_SKEW_SECS`] | 401 `invalid_client` |
//! | `exp` at most [`MAX_ASSERTION_LIFETIME_SECS`] (plus the skew) ahead | 401 `invalid_client` |
//! | `iat`, `nbf`, if present, not in the future by more than the skew | 401 `invalid_client` |
//! | `exp` − `iat`, with `iat`, at most [`MAX_ASSERTION_LIFETIME_SECS`] | 401 `invalid_client` |
//! | `jti` present and not used by an accepted assertion whose `exp` (plus skew) has not passed | 401 `invalid_client` |
//!
//! A refused assertion leaves its `jti` unspent. An accepted one's claims are kept for
//! [`MockTenant::accepted_client_assertions`]; [`MockTenant::client_assertion_refusals`]
//! counts refused requests that carried one. While the client has credentials, its
//! secret alone is refused with 401 `invalid_client` ("The client authenticates with
//! private_key_jwt …"); while it has none, an assertion is refused with 401
//! `invalid_client` ("The client has no credential for private_key_jwt …"). Clients
//! registered through Dynamic Client Registration never use `private_key_jwt`: an
//! assertion from one is 401 `invalid_client` (400 `invalid_request` with a secret). The
//! metadata does not list `private_key_jwt`, because no registered client can use it.
//!
//! ```no_run
//! # async fn demo() {
//! use mock_tenant::keys::TestKey;
//! use mock_tenant::{ClientCredential, MockTenant, Organization, TenantConfig};
//!
//! // The key the MCP server signs its assertions with; the tenant holds its public half.
//! let key = TestKey::rsa("my-credential");
//! let tenant = MockTenant::start(TenantConfig {
//!     client_credentials: vec![ClientCredential::from_test_key(&key, "RS256")],
//!     organizations: vec![Organization::new("org_acme", "acme", &["auth0|alice"])],
//!     ..TenantConfig::default()
//! })
//! .await;
//! std::fs::write("client-key.pem", key.private_pem()).unwrap();
//! let in_acme = tenant.user_token("auth0|alice").claim("org_id", "org_acme");
//! let in_acme = tenant.sign_user_token(&in_acme);
//! // ... configure the MCP server with client-key.pem, RS256 and the kid, send it
//! // `in_acme`, then:
//! assert_eq!(tenant.accepted_client_assertions().len(), 1);
//! assert_eq!(tenant.exchanges_in_org("auth0|alice", Some("org_acme")), 1);
//! # }
//! ```
//!
//! ### `authorization_code` and `refresh_token`
//!
//! For clients registered through Dynamic Client Registration. Checks run in this
//! order, and the first failure answers:
//!
//! | check | refusal |
//! |---|---|
//! | client authentication by its registered method: `none` (`client_id` in the body, nothing else), `client_secret_post`, `client_secret_basic`; a known client | 401 `invalid_client`, with `WWW-Authenticate: Basic` after a Basic header or for a Basic client |
//! | both Basic and `client_secret`, or a different body `client_id` | 400 `invalid_request` |
//! | the client registered the grant type | 400 `unauthorized_client` |
//! | `code` and `redirect_uri`, or `refresh_token`, present | 400 `invalid_request` |
//! | code: issued to this client, not used yet, unexpired (60 s) | 400 `invalid_grant`; a second redemption also revokes what the first one issued |
//! | code: `redirect_uri` is the authorization request's | 400 `invalid_grant` |
//! | code: `code_verifier` is 43–128 unreserved characters, `BASE64URL(SHA256(verifier))` = the challenge | 400 `invalid_grant` |
//! | refresh: a token of one of this client's families, not revoked, within its 30 days | 400 `invalid_grant` |
//! | refresh: the family's current token, not a retired one | 400 `invalid_grant`, and the whole family is revoked |
//! | refresh: `scope`, if sent, within the family's | 400 `invalid_scope` |
//! | `resource`, if sent, is the grant's API (a trailing slash aside) | 400 `invalid_target` |
//!
//! A refusal leaves the code or refresh token as it was (except for the revocations
//! above). A success answers 200 `{access_token, token_type: "Bearer", expires_in,
//! scope, refresh_token?}` with `Cache-Control: no-store`; `expires_in` is
//! [`TenantConfig::access_token_expires_in`]. The token (RS256, current key,
//! `typ: at+jwt`) has `iss`, `sub` = the user who signed in, `aud` = the API, `scope` =
//! the granted scopes, `permissions` = those of them that are API permissions (not
//! `offline_access`), `azp` = `client_id` = the registered client, `iat`, `exp`, and a
//! unique `jti`; the token-exchange grant takes it as a subject token. A refresh token
//! (random, opaque) comes only when `offline_access` was granted and the client
//! registered `refresh_token`; each refresh returns the next one and retires the one
//! presented. A refresh may narrow `scope` for the access token; the refresh token keeps
//! the family's.
//!
//! ## Revocation
//!
//! `POST /oauth/revoke` (form, or JSON as Auth0 takes it): the client authenticates as
//! at the token endpoint (same refusals), `token` is required (400 `invalid_request`),
//! `token_type_hint` is ignored. Any refresh token of the client's families, current or
//! retired, revokes the family and its access tokens. An unknown token, an access token,
//! or another client's token changes nothing. Each answers 200 with an empty body.
//!
//! ```no_run
//! # async fn demo() {
//! use mock_tenant::{Fault, MockTenant, TenantConfig};
//!
//! let tenant = MockTenant::start(TenantConfig::default()).await;
//! let token = tenant.token_for("auth0|alice", &["tool:greet"]);
//! // ... point the code under test at tenant.issuer(), tenant.client_id(),
//! // tenant.client_secret(), and send `token` to it ...
//! tenant.inject(Fault::RateLimited { retry_after_secs: 1 }, Some(1));
//! assert_eq!(tenant.exchanges_for("auth0|alice"), 0);
//! # }
//! ```
//!
//! Several downstream APIs, one of them missing its client grant:
//!
//! ```no_run
//! # async fn demo() {
//! use mock_tenant::{ApiGrant, MockTenant, TenantConfig};
//!
//! let tenant = MockTenant::start(TenantConfig {
//!     extra_apis: vec![ApiGrant::granted("https://orders.example/", &["read:orders"])],
//!     ..TenantConfig::default()
//! })
//! .await;
//! // Exchanges for the billing API are refused with 403 access_denied.
//! tenant.add_api(ApiGrant::without_grant("https://billing.example/", &["read:invoices"]));
//! // ... run the code under test, then: one exchange per API and token lifetime.
//! assert_eq!(tenant.exchanges_for_audience("auth0|alice", "https://orders.example/"), 1);
//! # }
//! ```

// Setup failures (a port that cannot be bound, a key that cannot be generated) mean the
// machine is broken, not that a request is bad; they panic with a message saying so.
// Nothing a client sends reaches an `expect`.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod access_token;
mod authorization_code;
mod authorize;
mod client_assertion;
mod config;
mod consent;
mod cors;
mod decision;
mod discovery;
mod exchange;
mod fault;
mod html;
pub mod keys;
mod oauth;
mod refresh;
mod register;
mod revoke;
mod signin;
mod state;
pub mod token;
mod token_endpoint;

#[cfg(test)]
mod grants_tests;
#[cfg(test)]
mod test_support;

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use client_assertion::{
    ASSERTION_CLOCK_SKEW_SECS, MAX_ASSERTION_ALG_CHARS, MAX_ASSERTION_CLAIM_CHARS,
    MAX_ASSERTION_LIFETIME_SECS,
};
pub use config::{
    ApiGrant, CLIENT_ASSERTION_ALGS, CLIENT_ASSERTION_TYPE, ClientCredential,
    DEFAULT_ALLOWED_ORIGINS, DEFAULT_API_AUDIENCE, DEFAULT_CLIENT_ID, DEFAULT_EXCHANGE_SCOPE,
    DEFAULT_MCP_AUDIENCE, DEFAULT_USER_CLIENT_ID, DEFAULT_USER_SCOPES, DemoUser,
    MAX_CLIENT_CREDENTIALS, Organization, TenantConfig,
};
pub use exchange::{ACCESS_TOKEN_TYPE, MAX_ACT_DEPTH, TOKEN_EXCHANGE_GRANT};
pub use fault::Fault;

use crate::authorize::Authorize;
use crate::cors::{Cors, mount_preflight};
use crate::decision::Decision;
use crate::discovery::Discovery;
use crate::keys::{TestKey, jwks_json};
use crate::register::Register;
use crate::token::TokenBuilder;
use revoke::Revoke;
use state::{State, lock};
use token_endpoint::TokenEndpoint;

/// A running mock Auth0 tenant. Cheap to clone: clones share the server and its state,
/// which is stopped when the last clone is dropped.
#[derive(Clone)]
pub struct MockTenant {
    inner: Arc<Inner>,
}

struct Inner {
    server: MockServer,
    state: Arc<State>,
}

impl std::fmt::Debug for MockTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockTenant")
            .field("issuer", &self.issuer())
            .field("config", &self.inner.state.config)
            .finish_non_exhaustive()
    }
}

impl MockTenant {
    /// Starts a tenant on `127.0.0.1` and a free port.
    pub async fn start(config: TenantConfig) -> Self {
        let listener =
            TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 for the mock tenant");
        Self::start_on(listener, config).await
    }

    /// Starts a tenant on a listener the caller bound (the demo's fixed port).
    pub async fn start_on(listener: TcpListener, config: TenantConfig) -> Self {
        // Recording would keep every request of a long demo in memory.
        let server = MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        let issuer = format!("{}/", server.uri());
        let state = Arc::new(State::new(config, issuer));
        for well_known in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            Mock::given(method("GET"))
                .and(path(well_known))
                .respond_with(Cors::new(&state, Discovery(Arc::clone(&state))))
                .mount(&server)
                .await;
            mount_preflight(&server, &state, well_known, "GET").await;
        }
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(Cors::new(&state, Jwks(Arc::clone(&state))))
            .mount(&server)
            .await;
        mount_preflight(&server, &state, "/.well-known/jwks.json", "GET").await;
        Mock::given(method("POST"))
            .and(path("/oidc/register"))
            .respond_with(Cors::new(&state, Register(Arc::clone(&state))))
            .mount(&server)
            .await;
        mount_preflight(&server, &state, "/oidc/register", "POST").await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(Cors::new(&state, TokenEndpoint(Arc::clone(&state))))
            .mount(&server)
            .await;
        mount_preflight(&server, &state, "/oauth/token", "POST").await;
        Mock::given(method("POST"))
            .and(path("/oauth/revoke"))
            .respond_with(Cors::new(&state, Revoke(Arc::clone(&state))))
            .mount(&server)
            .await;
        mount_preflight(&server, &state, "/oauth/revoke", "POST").await;
        Mock::given(method("GET"))
            .and(path("/authorize"))
            .respond_with(Authorize(Arc::clone(&state)))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/authorize/decision"))
            .respond_with(Decision(Arc::clone(&state)))
            .mount(&server)
            .await;
        Self {
            inner: Arc::new(Inner { server, state }),
        }
    }

    /// The issuer, exactly as tokens carry it in `iss`: `http://127.0.0.1:PORT/`.
    pub fn issuer(&self) -> &str {
        &self.inner.state.issuer
    }

    /// The base URL without a trailing slash: `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.inner.server.uri()
    }

    /// The socket address the tenant listens on.
    pub fn address(&self) -> SocketAddr {
        *self.inner.server.address()
    }

    /// `{issuer}oauth/token`.
    pub fn token_endpoint(&self) -> String {
        format!("{}oauth/token", self.issuer())
    }

    /// `{issuer}.well-known/jwks.json`.
    pub fn jwks_uri(&self) -> String {
        format!("{}.well-known/jwks.json", self.issuer())
    }

    /// The configuration the tenant started with. [`MockTenant::exchanged_expires_in`]
    /// gives the current exchanged-token lifetime, which may have changed since.
    pub fn config(&self) -> &TenantConfig {
        &self.inner.state.config
    }

    /// The MCP server's API identifier (user tokens' `aud`).
    pub fn mcp_audience(&self) -> &str {
        &self.config().mcp_audience
    }

    /// The private API's identifier (exchanged tokens' `aud`).
    pub fn api_audience(&self) -> &str {
        &self.config().api_audience
    }

    /// The MCP server's client id.
    pub fn client_id(&self) -> &str {
        &self.config().client_id
    }

    /// The MCP server's client secret.
    pub fn client_secret(&self) -> &str {
        &self.config().client_secret
    }

    /// The key currently signing tokens (user tokens from the helpers, exchanged tokens).
    pub fn signing_key(&self) -> TestKey {
        self.inner.state.signing_key()
    }

    /// The key ids the JWKS publishes now, the signing key first.
    pub fn published_kids(&self) -> Vec<String> {
        lock(&self.inner.state.keys)
            .published
            .iter()
            .map(|k| k.key.kid().to_string())
            .collect()
    }

    /// A builder for a user's access token for the MCP server, as Auth0 issues it to the
    /// MCP client app: `iss`, `aud` = MCP audience, `sub`, `azp` and `client_id` = the
    /// MCP client app, `scope` and `permissions` = [`TenantConfig::user_scopes`],
    /// `iat` = now, `exp` = now + 1 h, `name` and `email` derived from `sub`
    /// (`auth0|alice` → `alice`, `alice@example.com`), header `typ: at+jwt`.
    /// Tweak it, then sign with [`MockTenant::sign_user_token`].
    pub fn user_token(&self, sub: &str) -> TokenBuilder {
        let config = self.config();
        let local = sub.rsplit('|').next().unwrap_or(sub);
        let email_local: String = local
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        TokenBuilder::new(self.issuer(), &config.mcp_audience)
            .sub(sub)
            .azp(&config.user_client_id)
            .client_id(&config.user_client_id)
            .scope(config.user_scopes.join(" "))
            .permissions(config.user_scopes.iter().cloned())
            .name(local)
            .email(format!("{email_local}@example.com"))
            .header("typ", "at+jwt")
    }

    /// Signs a builder's claims with the tenant's current signing key.
    pub fn sign_user_token(&self, builder: &TokenBuilder) -> String {
        builder.sign(&self.signing_key())
    }

    /// A signed user token for `sub` with exactly `scopes` (as `scope` and `permissions`).
    pub fn token_for(&self, sub: &str, scopes: &[&str]) -> String {
        let builder = self
            .user_token(sub)
            .scope(scopes.join(" "))
            .permissions(scopes.iter().copied());
        self.sign_user_token(&builder)
    }

    /// A signed access token for the MCP server that the application `client_id` got
    /// for itself (the client-credentials grant), as Auth0 issues it: `sub` =
    /// `{client_id}@clients`, `azp` = `client_id` = the application, `gty:
    /// "client-credentials"`, `scope` = `scopes`, and no user claims (`permissions`,
    /// `name`, `email`). No user is behind it, so it cannot be exchanged On-Behalf-Of.
    pub fn client_credentials_token(&self, client_id: &str, scopes: &[&str]) -> String {
        let builder = self
            .user_token(&format!("{client_id}@clients"))
            .azp(client_id)
            .client_id(client_id)
            .claim("gty", "client-credentials")
            .scope(scopes.join(" "))
            .without("permissions")
            .without("name")
            .without("email");
        self.sign_user_token(&builder)
    }

    /// Limits what `sub`'s roles give on the private API (Auth0 RBAC): exchanges for
    /// that user grant only these of the requested scopes, and the response then carries
    /// `scope`. Users without a limit get every requested scope of the client grant.
    pub fn set_user_api_scopes(&self, sub: &str, scopes: &[&str]) {
        self.set_user_scopes_on(&self.config().api_audience, sub, scopes);
    }

    /// Removes the limit set by [`MockTenant::set_user_api_scopes`].
    pub fn clear_user_api_scopes(&self, sub: &str) {
        self.clear_user_scopes_on(&self.config().api_audience, sub);
    }

    /// [`MockTenant::set_user_api_scopes`] for any API: limits what `sub`'s roles give
    /// on the API `audience`.
    pub fn set_user_scopes_on(&self, audience: &str, sub: &str, scopes: &[&str]) {
        let scopes = scopes.iter().map(|s| (*s).to_string()).collect();
        lock(&self.inner.state.user_api_scopes)
            .insert((sub.to_string(), audience.to_string()), scopes);
    }

    /// Removes the limit set by [`MockTenant::set_user_scopes_on`].
    pub fn clear_user_scopes_on(&self, audience: &str, sub: &str) {
        lock(&self.inner.state.user_api_scopes).remove(&(sub.to_string(), audience.to_string()));
    }

    /// Adds an API to the running tenant, or replaces the one with the same identifier
    /// (so `ApiGrant::without_grant` on a granted API deletes its client grant, as
    /// `DELETE /api/v2/client-grants/{id}` would). Exchanges from then on see it.
    ///
    /// # Panics
    ///
    /// When `api` is the MCP server's API or the private API (configure those in
    /// [`TenantConfig`]), or its grant names a scope it does not define.
    pub fn add_api(&self, api: ApiGrant) {
        self.inner.state.add_api(api);
    }

    /// The APIs an exchange may name, with their client grants: the private API first,
    /// then the others in the order they were first added. Not the MCP server's own
    /// API.
    pub fn apis(&self) -> Vec<ApiGrant> {
        let config = self.config();
        let private = ApiGrant {
            audience: config.api_audience.clone(),
            scopes: config.allowed_scopes.clone(),
            client_grant: Some(config.allowed_scopes.clone()),
        };
        let mut apis = vec![private];
        apis.extend(lock(&self.inner.state.extra_apis).iter().cloned());
        apis
    }

    /// Replaces the MCP server's client's Private Key JWT credentials (as uploading or
    /// deleting an application credential would). With any, the client authenticates
    /// with `private_key_jwt` only; with none, with its secret only. `jti`s already
    /// spent stay spent.
    ///
    /// # Panics
    ///
    /// With more than [`MAX_CLIENT_CREDENTIALS`], an algorithm not in
    /// [`CLIENT_ASSERTION_ALGS`], a PEM that is not an RSA public key, or two
    /// credentials with the same `kid`.
    pub fn set_client_credentials(&self, credentials: Vec<ClientCredential>) {
        let registered = client_assertion::register_credentials(&credentials);
        *lock(&self.inner.state.client_credentials) = registered;
    }

    /// The MCP server's client's Private Key JWT credentials now.
    pub fn client_credentials(&self) -> Vec<ClientCredential> {
        lock(&self.inner.state.client_credentials)
            .iter()
            .map(|r| r.credential.clone())
            .collect()
    }

    /// The claims of every client assertion the token endpoint accepted, oldest first.
    pub fn accepted_client_assertions(&self) -> Vec<serde_json::Value> {
        lock(&self.inner.state.accepted_assertions).clone()
    }

    /// Token-exchange requests carrying a `client_assertion` whose client
    /// authentication was refused (any refusal in the Private Key JWT table of the
    /// [crate] docs); refusals of the grant itself, after the client authenticated, are
    /// not counted. [`MockTenant::reset_counters`] sets it back to zero.
    pub fn client_assertion_refusals(&self) -> u64 {
        self.inner.state.assertion_refusals.load(Ordering::SeqCst)
    }

    /// Adds an organization to the running tenant, or replaces the one with the same
    /// id (to change its members). Exchanges from then on see it.
    ///
    /// # Panics
    ///
    /// When another organization already has its name (Auth0 keeps names unique).
    pub fn add_organization(&self, organization: Organization) {
        self.inner.state.add_organization(organization);
    }

    /// The tenant's organizations, in the order they were first added.
    pub fn organizations(&self) -> Vec<Organization> {
        lock(&self.inner.state.organizations).clone()
    }

    /// Successful exchanges for `sub` whose new token carries `org_id` (`None`: tokens
    /// without an organization, a personal token's).
    pub fn exchanges_in_org(&self, sub: &str, org_id: Option<&str>) -> u64 {
        lock(&self.inner.state.exchanges_by_org)
            .get(&(sub.to_string(), org_id.map(str::to_string)))
            .copied()
            .unwrap_or(0)
    }

    /// Successful On-Behalf-Of exchanges so far (not the sign-in grants).
    pub fn exchanges(&self) -> u64 {
        self.inner.state.exchanges.load(Ordering::SeqCst)
    }

    /// Requests to the token endpoint so far, whatever their outcome (faults included).
    pub fn exchange_attempts(&self) -> u64 {
        self.inner.state.exchange_attempts.load(Ordering::SeqCst)
    }

    /// Successful exchanges of a subject token whose `sub` is `sub`.
    pub fn exchanges_for(&self, sub: &str) -> u64 {
        lock(&self.inner.state.exchanges_by_sub)
            .get(sub)
            .copied()
            .unwrap_or(0)
    }

    /// Successful exchanges of a subject token whose `sub` is `sub`, for the API
    /// `audience`: with several APIs, "one exchange per API per token lifetime" is
    /// `exchanges_for_audience(sub, api) == 1` for each.
    pub fn exchanges_for_audience(&self, sub: &str, audience: &str) -> u64 {
        lock(&self.inner.state.exchanges_by_api)
            .get(&(sub.to_string(), audience.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Successful `authorization_code` redemptions (sign-ins completed by a client) so far.
    pub fn sign_ins(&self) -> u64 {
        self.inner.state.sign_ins.load(Ordering::SeqCst)
    }

    /// Successful `refresh_token` grants so far.
    pub fn refreshes(&self) -> u64 {
        self.inner.state.refreshes.load(Ordering::SeqCst)
    }

    /// Requests to the JWKS endpoint so far (including those answered 503).
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.state.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Sets every counter back to zero.
    pub fn reset_counters(&self) {
        let state = &self.inner.state;
        state.exchanges.store(0, Ordering::SeqCst);
        state.exchange_attempts.store(0, Ordering::SeqCst);
        state.jwks_fetches.store(0, Ordering::SeqCst);
        state.sign_ins.store(0, Ordering::SeqCst);
        state.refreshes.store(0, Ordering::SeqCst);
        state.assertion_refusals.store(0, Ordering::SeqCst);
        lock(&state.exchanges_by_org).clear();
        lock(&state.exchanges_by_sub).clear();
        lock(&state.exchanges_by_api).clear();
    }

    /// Makes the token endpoint misbehave for the next `times` requests (`None`: until
    /// [`MockTenant::clear_faults`]). Faults queue up: the oldest one still active
    /// answers the next request.
    pub fn inject(&self, fault: Fault, times: Option<usize>) {
        lock(&self.inner.state.faults).push(fault, times);
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.inner.state.faults).clear();
    }

    /// Rotates the signing key and returns the new one. The JWKS publishes the new key
    /// first and keeps the old ones, so tokens already issued still verify, as during a
    /// real Auth0 rotation.
    pub fn rotate_keys(&self) -> TestKey {
        self.inner.state.rotate(true)
    }

    /// Rotates the signing key and stops publishing the old ones (a revoked key): tokens
    /// they signed no longer verify, here or anywhere that refetches the JWKS.
    pub fn rotate_keys_dropping_old(&self) -> TestKey {
        self.inner.state.rotate(false)
    }

    /// While `true`, the JWKS endpoint answers 503.
    pub fn jwks_down(&self, down: bool) {
        self.inner.state.jwks_down.store(down, Ordering::SeqCst);
    }

    /// While `Some((status, body))`, the JWKS endpoint answers that instead of the keys
    /// (garbage, an HTML error page, a JWKS with broken keys...); `None` restores it.
    /// [`MockTenant::jwks_down`] takes precedence.
    pub fn jwks_answer(&self, answer: Option<(u16, String)>) {
        *lock(&self.inner.state.jwks_override) = answer;
    }

    /// Every access token the token endpoint has minted so far, oldest first: what the
    /// no-leak tests look for in logs and answers.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.inner.state.issued).clone()
    }

    /// Sets `expires_in` (and so `exp`) of tokens exchanged from now on.
    pub fn set_exchanged_expires_in(&self, seconds: u64) {
        self.inner.state.expires_in.store(seconds, Ordering::SeqCst);
    }

    /// While `true`, `GET /authorize` skips the consent page and issues a code for the
    /// first of [`TenantConfig::users`] at once; starts as [`TenantConfig::auto_approve`].
    pub fn set_auto_approve(&self, auto_approve: bool) {
        self.inner
            .state
            .auto_approve
            .store(auto_approve, Ordering::SeqCst);
    }

    /// Sign-in requests waiting for a decision on the consent page (expired ones not
    /// counted).
    pub fn pending_authorizations(&self) -> usize {
        lock(&self.inner.state.signin)
            .pending
            .values()
            .filter(|p| p.created.elapsed() < signin::PENDING_LIFETIME)
            .count()
    }

    /// The current `expires_in` of exchanged tokens, in seconds.
    pub fn exchanged_expires_in(&self) -> u64 {
        self.inner.state.expires_in.load(Ordering::SeqCst)
    }

    /// `{issuer}oidc/register`, the Dynamic Client Registration endpoint.
    pub fn registration_endpoint(&self) -> String {
        format!("{}oidc/register", self.issuer())
    }

    /// How many clients Dynamic Client Registration holds now.
    pub fn registered_clients(&self) -> usize {
        lock(&self.inner.state.signin).clients.len()
    }
}

/// The JWKS, or 503 while the test says it is down.
struct Jwks(Arc<State>);

impl Respond for Jwks {
    fn respond(&self, _request: &Request) -> ResponseTemplate {
        let state = &self.0;
        state.jwks_fetches.fetch_add(1, Ordering::SeqCst);
        if state.jwks_down.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503).set_body_string("Service Unavailable");
        }
        if let Some((status, body)) = lock(&state.jwks_override).clone() {
            return ResponseTemplate::new(status)
                .insert_header("content-type", "application/json")
                .set_body_string(body);
        }
        let published: Vec<TestKey> = lock(&state.keys)
            .published
            .iter()
            .map(|k| k.key.clone())
            .collect();
        let refs: Vec<&TestKey> = published.iter().collect();
        ResponseTemplate::new(200)
            .insert_header(
                "cache-control",
                format!("public, max-age={}", state.config.jwks_max_age).as_str(),
            )
            .set_body_json(jwks_json(&refs))
    }
}
