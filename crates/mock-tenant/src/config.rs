//! What the mock tenant is configured with: its APIs, the MCP server's client and its
//! client grants, and the lifetimes it issues.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The MCP server's API identifier the tenant uses unless told otherwise.
pub const DEFAULT_MCP_AUDIENCE: &str = "http://localhost:3001/";
/// The private API's identifier the tenant uses unless told otherwise.
pub const DEFAULT_API_AUDIENCE: &str = "http://localhost:8787/";
/// The MCP server's (Custom API) client id the tenant uses unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "mcp-server-client";
/// The MCP client application (for example MCP Inspector) that signs users in; user
/// tokens carry it in `azp` and `client_id`.
pub const DEFAULT_USER_CLIENT_ID: &str = "mcp-inspector";
/// The scopes user tokens carry unless told otherwise.
pub const DEFAULT_USER_SCOPES: [&str; 2] = ["tool:whoami", "tool:greet"];
/// The scope the MCP server's client grant allows on the private API.
pub const DEFAULT_EXCHANGE_SCOPE: &str = "read:private";
/// The origins of browser-based MCP clients allowed by default: the MCP Inspector's UI.
pub const DEFAULT_ALLOWED_ORIGINS: [&str; 2] = ["http://localhost:6274", "http://127.0.0.1:6274"];

/// A user of the tenant who can sign in on the consent page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoUser {
    /// `sub` of the tokens issued to this user, e.g. `auth0|alice`.
    pub sub: String,
    /// What the sign-in page shows, e.g. `Alice`.
    pub name: String,
    /// `alice@example.com`.
    pub email: String,
}

impl DemoUser {
    /// A user `auth0|{local}` named `name`, with the email `{local}@example.com`.
    pub fn new(local: &str, name: &str) -> Self {
        Self {
            sub: format!("auth0|{local}"),
            name: name.into(),
            email: format!("{local}@example.com"),
        }
    }
}

/// One more API (resource server) of the tenant, besides the MCP server's and the
/// private API, and the MCP server's client's user-delegated client grant to it, if it
/// has one: what `POST /api/v2/resource-servers` and `POST /api/v2/client-grants
/// {client_id, audience, scope, subject_type: "user"}` create in a real tenant.
///
/// An API without a grant exists but refuses On-Behalf-Of exchanges for it with 403
/// `access_denied`, as Auth0 does for an API whose user access requires a client grant
/// (`subject_type_authorization: {user: {policy: "require_client_grant"}}`). Put them
/// in [`TenantConfig::extra_apis`], or add one to a running tenant with
/// [`MockTenant::add_api`](crate::MockTenant::add_api).
///
/// ```
/// use mock_tenant::{ApiGrant, TenantConfig};
///
/// let config = TenantConfig {
///     extra_apis: vec![
///         // The MCP server may exchange for the orders API, with read:orders only.
///         ApiGrant::granted("https://orders.example/", &["read:orders"])
///             .defining(&["read:orders", "write:orders"]),
///         // The billing API exists, but nobody created the client grant.
///         ApiGrant::without_grant("https://billing.example/", &["read:invoices"]),
///     ],
///     ..TenantConfig::default()
/// };
/// let orders = &config.extra_apis[0];
/// assert_eq!(orders.client_grant, Some(vec!["read:orders".to_string()]));
/// assert!(config.extra_apis[1].client_grant.is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGrant {
    /// The API's identifier: the `audience` an exchange names, and the `aud` of the
    /// tokens minted for it.
    pub audience: String,
    /// The permissions (scopes) the API defines.
    pub scopes: Vec<String>,
    /// The scopes of the MCP server's client's user-delegated client grant to this API,
    /// each one of [`ApiGrant::scopes`]; `None` when there is no grant.
    pub client_grant: Option<Vec<String>>,
}

impl ApiGrant {
    /// An API defining `scopes`, with a client grant for all of them.
    pub fn granted(audience: impl Into<String>, scopes: &[&str]) -> Self {
        let scopes = owned(scopes);
        Self {
            audience: audience.into(),
            client_grant: Some(scopes.clone()),
            scopes,
        }
    }

    /// An API defining `scopes` that the MCP server's client has no client grant for
    /// (never created, or deleted).
    pub fn without_grant(audience: impl Into<String>, scopes: &[&str]) -> Self {
        Self {
            audience: audience.into(),
            scopes: owned(scopes),
            client_grant: None,
        }
    }

    /// Makes the API define `scopes` (and keeps the grant): for a grant narrower than
    /// what the API defines.
    #[must_use]
    pub fn defining(mut self, scopes: &[&str]) -> Self {
        self.scopes = owned(scopes);
        self
    }

    /// Why this API cannot sit in a tenant whose MCP API and private API are
    /// `reserved`, if it cannot: a grant scope the API does not define, or an
    /// identifier already taken. Auth0's Management API refuses both.
    pub(crate) fn problem(&self, reserved: &[&str]) -> Option<String> {
        if reserved.contains(&self.audience.as_str()) {
            return Some(format!(
                "{} is already the MCP server's API or the private API; configure those with TenantConfig::mcp_audience, api_audience and allowed_scopes",
                self.audience
            ));
        }
        let undefined: Vec<&str> = self
            .client_grant
            .iter()
            .flatten()
            .filter(|scope| !self.scopes.contains(scope))
            .map(String::as_str)
            .collect();
        (!undefined.is_empty()).then(|| {
            format!(
                "the client grant to {} names scopes the API does not define: {}; add them with ApiGrant::defining",
                self.audience,
                undefined.join(" ")
            )
        })
    }
}

/// The most credentials (public keys) an Auth0 application may hold for Private Key
/// JWT: two, so that a key can be rotated without downtime.
pub const MAX_CLIENT_CREDENTIALS: usize = 2;

/// The signing algorithms an Auth0 credential for Private Key JWT may be created with.
pub const CLIENT_ASSERTION_ALGS: [&str; 3] = ["RS256", "RS384", "PS256"];

/// `client_assertion_type` of a Private Key JWT client authentication (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A credential of the MCP server's client for Private Key JWT client authentication:
/// the public key uploaded to the application (`POST /api/v2/clients/{id}/credentials`
/// with `credential_type: "public_key"`), the algorithm chosen for it, and its `kid`.
///
/// With at least one in [`TenantConfig::client_credentials`] (or set with
/// [`MockTenant::set_client_credentials`](crate::MockTenant::set_client_credentials)),
/// the client authenticates with `private_key_jwt` only: its secret is refused.
///
/// ```
/// use mock_tenant::ClientCredential;
/// use mock_tenant::keys::TestKey;
///
/// let key = TestKey::rsa("key-1");
/// let credential = ClientCredential::from_test_key(&key, "PS256");
/// assert_eq!(credential.kid, "key-1");
/// assert!(credential.public_key_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredential {
    /// The public key, PEM `PUBLIC KEY` (SubjectPublicKeyInfo), RSA.
    pub public_key_pem: String,
    /// One of [`CLIENT_ASSERTION_ALGS`]: the only `alg` an assertion verified with this
    /// key may carry.
    pub alg: String,
    /// The key id; an assertion whose header has a `kid` must name a credential by it.
    pub kid: String,
}

impl ClientCredential {
    /// A credential from a PEM public key, an algorithm and a key id.
    pub fn new(
        public_key_pem: impl Into<String>,
        alg: impl Into<String>,
        kid: impl Into<String>,
    ) -> Self {
        Self {
            public_key_pem: public_key_pem.into(),
            alg: alg.into(),
            kid: kid.into(),
        }
    }

    /// The public half of `key`, with its key id, registered for `alg` (an RSA key
    /// serves RS256, RS384 and PS256 alike; sign with
    /// [`TestKey::with_alg`](crate::keys::TestKey::with_alg) to match).
    pub fn from_test_key(key: &crate::keys::TestKey, alg: impl Into<String>) -> Self {
        Self::new(key.public_key_pem(), alg, key.kid())
    }
}

/// An Auth0 Organization: its id (`org_…`, what tokens carry in `org_id`), its name,
/// and the users (`sub`s) who are its members.
///
/// ```
/// use mock_tenant::Organization;
///
/// let acme = Organization::new("org_acme123", "acme", &["auth0|alice"]);
/// assert!(acme.has_member("auth0|alice"));
/// assert!(!acme.has_member("auth0|bob"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    /// `org_…`: the `org_id` claim of tokens issued in the organization.
    pub id: String,
    /// The organization's name (lowercase, unique in the tenant at Auth0).
    pub name: String,
    /// The `sub` of each member.
    pub members: Vec<String>,
}

impl Organization {
    /// An organization `id` named `name` whose members are `members`.
    pub fn new(id: impl Into<String>, name: impl Into<String>, members: &[&str]) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            members: owned(members),
        }
    }

    /// Whether `sub` is a member.
    pub fn has_member(&self, sub: &str) -> bool {
        self.members.iter().any(|m| m == sub)
    }
}

fn owned(scopes: &[&str]) -> Vec<String> {
    scopes.iter().map(|s| (*s).to_string()).collect()
}

/// How a [`MockTenant`](crate::MockTenant) is set up, mirroring the objects of a real
/// Auth0 tenant configured for On-Behalf-Of (see `shared/auth0-tenant.md`).
///
/// Fields are public so a test overrides only what it cares about:
///
/// ```
/// use mock_tenant::TenantConfig;
///
/// let config = TenantConfig {
///     mcp_audience: "https://mcp.example/".into(),
///     ..TenantConfig::default()
/// };
/// assert_eq!(config.api_audience, "http://localhost:8787/");
/// ```
///
/// `Debug` redacts the client secret.
#[derive(Clone)]
pub struct TenantConfig {
    /// The MCP server's API identifier: the `aud` of user tokens, and the audience a
    /// subject token must carry to be exchanged (`AUTH0_AUDIENCE`).
    pub mcp_audience: String,
    /// The private API's identifier (`API_AUTH0_AUDIENCE`): the default API, which the
    /// MCP server's client always has a user-delegated client grant to.
    pub api_audience: String,
    /// The MCP server's client id (`MCP_AUTH0_CLIENT_ID`).
    pub client_id: String,
    /// The MCP server's client secret (`MCP_AUTH0_CLIENT_SECRET`); random by default.
    pub client_secret: String,
    /// The scopes the private API defines and its client grant allows; asking for any
    /// other is refused with 403 `access_denied`.
    pub allowed_scopes: Vec<String>,
    /// The tenant's other APIs, each with or without a client grant (none by default).
    /// Their identifiers differ from the two above (the tenant panics at start
    /// otherwise); of one listed twice, the last counts.
    pub extra_apis: Vec<ApiGrant>,
    /// `expires_in` of exchanged tokens, in seconds (Auth0's default is 3600). Can be
    /// changed while running with [`MockTenant::set_exchanged_expires_in`](crate::MockTenant::set_exchanged_expires_in).
    pub expires_in: u64,
    /// The MCP client application users sign in with: `azp` and `client_id` of user tokens.
    pub user_client_id: String,
    /// The scopes (and RBAC `permissions`) of tokens from [`MockTenant::user_token`](crate::MockTenant::user_token).
    pub user_scopes: Vec<String>,
    /// `max-age` of the JWKS response's `Cache-Control`, in seconds.
    pub jwks_max_age: u64,
    /// The permissions the MCP server's API defines, all of them third-party default
    /// permissions: what a client registered through DCR may be granted for it.
    pub mcp_api_scopes: Vec<String>,
    /// The users the sign-in page offers (at least two, so a person can see that tokens
    /// never cross users). The first is the default user.
    pub users: Vec<DemoUser>,
    /// When `true`, `/authorize` skips the consent page and approves at once as the
    /// default user: for tests and scripted runs.
    pub auto_approve: bool,
    /// Origins allowed to call discovery, registration, the token and revocation
    /// endpoints from a browser (CORS), as an Auth0 application's allowed web origins.
    pub allowed_origins: Vec<String>,
    /// `expires_in` of access tokens issued by the `authorization_code` and
    /// `refresh_token` grants, in seconds.
    pub access_token_expires_in: u64,
    /// The most clients Dynamic Client Registration keeps (1,000 by default); the next
    /// registration is refused with 400 `invalid_client_metadata`.
    pub max_clients: usize,
    /// The MCP server's client's credentials for Private Key JWT client authentication,
    /// at most [`MAX_CLIENT_CREDENTIALS`] (none by default: the client authenticates with
    /// its secret). With any, the client authenticates with `private_key_jwt` only.
    /// Can be replaced while running with
    /// [`MockTenant::set_client_credentials`](crate::MockTenant::set_client_credentials).
    pub client_credentials: Vec<ClientCredential>,
    /// The tenant's organizations (none by default). More can be added while running
    /// with [`MockTenant::add_organization`](crate::MockTenant::add_organization).
    pub organizations: Vec<Organization>,
    /// Auth0's Resource Parameter Compatibility Profile (on by default). On, `/authorize`
    /// takes the API from `resource` (RFC 8707) when no `audience` is sent, and an
    /// authorization request naming neither is for the MCP API (the tenant's default
    /// audience). Off, as on a tenant that never turned it on: `resource` is ignored,
    /// only `audience` picks an API, the tenant has no default audience, and a sign-in
    /// without `audience` yields an opaque access token (a random string, not a JWT)
    /// with no scope, which no API can verify (`shared/auth0-login.md` §2).
    pub resource_parameter_profile: bool,
}

impl Default for TenantConfig {
    fn default() -> Self {
        Self {
            mcp_audience: DEFAULT_MCP_AUDIENCE.into(),
            api_audience: DEFAULT_API_AUDIENCE.into(),
            client_id: DEFAULT_CLIENT_ID.into(),
            client_secret: random_secret(),
            allowed_scopes: vec![DEFAULT_EXCHANGE_SCOPE.into()],
            extra_apis: Vec::new(),
            expires_in: 3600,
            user_client_id: DEFAULT_USER_CLIENT_ID.into(),
            user_scopes: DEFAULT_USER_SCOPES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            jwks_max_age: 600,
            mcp_api_scopes: DEFAULT_USER_SCOPES
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            users: vec![DemoUser::new("alice", "Alice"), DemoUser::new("bob", "Bob")],
            auto_approve: false,
            allowed_origins: DEFAULT_ALLOWED_ORIGINS
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
            access_token_expires_in: 3600,
            max_clients: crate::signin::MAX_CLIENTS,
            client_credentials: Vec::new(),
            organizations: Vec::new(),
            resource_parameter_profile: true,
        }
    }
}

impl std::fmt::Debug for TenantConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantConfig")
            .field("mcp_audience", &self.mcp_audience)
            .field("api_audience", &self.api_audience)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("allowed_scopes", &self.allowed_scopes)
            .field("extra_apis", &self.extra_apis)
            .field("expires_in", &self.expires_in)
            .field("user_client_id", &self.user_client_id)
            .field("user_scopes", &self.user_scopes)
            .field("jwks_max_age", &self.jwks_max_age)
            .field("mcp_api_scopes", &self.mcp_api_scopes)
            .field("users", &self.users)
            .field("auto_approve", &self.auto_approve)
            .field("allowed_origins", &self.allowed_origins)
            .field("access_token_expires_in", &self.access_token_expires_in)
            .field("max_clients", &self.max_clients)
            .field("client_credentials", &self.client_credentials)
            .field("organizations", &self.organizations)
            .field(
                "resource_parameter_profile",
                &self.resource_parameter_profile,
            )
            .finish()
    }
}

/// 32 random bytes, base64url: the shape of an Auth0 client secret (64 chars there).
pub(crate) fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Random bytes from aws-lc-rs; a failing system RNG means a broken machine.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    bytes
}
