//! The tenant's mutable state, shared by the handle and the wiremock responders.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::Jwk;

use crate::client_assertion::{RegisteredCredential, UsedJtis, register_credentials};
use crate::config::{ApiGrant, Organization, TenantConfig};
use crate::fault::FaultQueue;
use crate::keys::TestKey;
use crate::signin::{RevokedJtis, SignIn};

/// A tenant signing key with its verification half ready.
#[derive(Clone)]
pub(crate) struct TenantKey {
    pub(crate) key: TestKey,
    pub(crate) decoding: DecodingKey,
}

impl TenantKey {
    fn generate(kid: String) -> Self {
        let key = TestKey::rsa(kid);
        let jwk: Jwk = serde_json::from_value(key.jwk()).expect("TestKey publishes a valid JWK");
        let decoding = DecodingKey::from_jwk(&jwk).expect("TestKey's JWK is an RSA key");
        Self { key, decoding }
    }
}

/// The current signing key and every published key (the signing key first).
pub(crate) struct KeyRing {
    pub(crate) signing: TenantKey,
    pub(crate) published: Vec<TenantKey>,
}

pub(crate) struct State {
    pub(crate) config: TenantConfig,
    pub(crate) issuer: String,
    pub(crate) keys: Mutex<KeyRing>,
    pub(crate) faults: Mutex<FaultQueue>,
    /// The APIs besides the MCP server's and the private API, with their client grants:
    /// [`TenantConfig::extra_apis`], then those added while running.
    pub(crate) extra_apis: Mutex<Vec<ApiGrant>>,
    /// RBAC: the permissions a user's roles give on an API, when limited, by
    /// `(sub, audience)`.
    pub(crate) user_api_scopes: Mutex<HashMap<(String, String), Vec<String>>>,
    pub(crate) exchanges_by_sub: Mutex<HashMap<String, u64>>,
    /// Successful exchanges by `(sub, audience)`.
    pub(crate) exchanges_by_api: Mutex<HashMap<(String, String), u64>>,
    pub(crate) expires_in: AtomicU64,
    pub(crate) jwks_down: AtomicBool,
    pub(crate) exchanges: AtomicU64,
    pub(crate) exchange_attempts: AtomicU64,
    pub(crate) jwks_fetches: AtomicU64,
    /// Successful `authorization_code` redemptions.
    pub(crate) sign_ins: AtomicU64,
    /// Successful `refresh_token` grants.
    pub(crate) refreshes: AtomicU64,
    /// Every access token the token endpoint minted, oldest first.
    pub(crate) issued: Mutex<Vec<String>>,
    /// While set, the JWKS endpoint answers this status and body instead of the keys.
    pub(crate) jwks_override: Mutex<Option<(u16, String)>>,
    /// Registered clients, consent requests, codes and refresh families.
    pub(crate) signin: Mutex<SignIn>,
    /// [`TenantConfig::auto_approve`], switchable at run time.
    pub(crate) auto_approve: AtomicBool,
    /// The MCP server's client's Private Key JWT credentials, parsed.
    pub(crate) client_credentials: Mutex<Vec<RegisteredCredential>>,
    /// `jti`s of accepted client assertions, until their `exp`.
    pub(crate) used_assertion_jtis: Mutex<UsedJtis>,
    /// The claims of each accepted client assertion, oldest first.
    pub(crate) accepted_assertions: Mutex<Vec<serde_json::Value>>,
    /// Token requests carrying a `client_assertion` that were refused.
    pub(crate) assertion_refusals: AtomicU64,
    /// The tenant's organizations: [`TenantConfig::organizations`], then those added.
    pub(crate) organizations: Mutex<Vec<Organization>>,
    /// Successful exchanges by `(sub, org_id of the exchanged token)`.
    pub(crate) exchanges_by_org: Mutex<HashMap<(String, Option<String>), u64>>,
    key_serial: AtomicU64,
    jti_serial: AtomicU64,
}

/// Locks, ignoring poisoning: the data behind these locks stays consistent even if a
/// test thread panicked while holding one, and the responder must never panic.
/// What the tenant holds for an exchange's `audience`, as far as the MCP server's client
/// is concerned.
pub(crate) enum ExchangeTarget {
    /// An API with a client grant allowing these scopes.
    Granted(Vec<String>),
    /// An API the client has no grant to.
    NoGrant,
    /// No API has this identifier.
    Unknown,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn new(config: TenantConfig, issuer: String) -> Self {
        let mut extra_apis: Vec<ApiGrant> = Vec::new();
        for api in &config.extra_apis {
            add_api(&config, &mut extra_apis, api.clone());
        }
        let client_credentials = register_credentials(&config.client_credentials);
        let mut organizations: Vec<Organization> = Vec::new();
        for organization in &config.organizations {
            add_organization(&mut organizations, organization.clone());
        }
        let first = TenantKey::generate(kid(1));
        let access_token_lifetime = Duration::from_secs(config.access_token_expires_in);
        Self {
            expires_in: AtomicU64::new(config.expires_in),
            auto_approve: AtomicBool::new(config.auto_approve),
            config,
            issuer,
            keys: Mutex::new(KeyRing {
                signing: first.clone(),
                published: vec![first],
            }),
            faults: Mutex::new(FaultQueue::default()),
            extra_apis: Mutex::new(extra_apis),
            user_api_scopes: Mutex::new(HashMap::new()),
            exchanges_by_sub: Mutex::new(HashMap::new()),
            exchanges_by_api: Mutex::new(HashMap::new()),
            jwks_down: AtomicBool::new(false),
            exchanges: AtomicU64::new(0),
            exchange_attempts: AtomicU64::new(0),
            jwks_fetches: AtomicU64::new(0),
            sign_ins: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            issued: Mutex::new(Vec::new()),
            jwks_override: Mutex::new(None),
            signin: Mutex::new(SignIn {
                revoked_jtis: RevokedJtis::new(access_token_lifetime),
                ..SignIn::default()
            }),
            client_credentials: Mutex::new(client_credentials),
            used_assertion_jtis: Mutex::new(UsedJtis::default()),
            accepted_assertions: Mutex::new(Vec::new()),
            assertion_refusals: AtomicU64::new(0),
            organizations: Mutex::new(organizations),
            exchanges_by_org: Mutex::new(HashMap::new()),
            key_serial: AtomicU64::new(1),
            jti_serial: AtomicU64::new(0),
        }
    }

    pub(crate) fn signing_key(&self) -> TestKey {
        lock(&self.keys).signing.key.clone()
    }

    /// Generates a new signing key (outside the lock: RSA generation takes a while),
    /// publishes it first, and keeps or drops the previously published keys.
    pub(crate) fn rotate(&self, keep_old: bool) -> TestKey {
        let serial = self.key_serial.fetch_add(1, Ordering::SeqCst) + 1;
        let new = TenantKey::generate(kid(serial));
        let mut ring = lock(&self.keys);
        let mut published = vec![new.clone()];
        if keep_old {
            published.append(&mut ring.published);
        }
        ring.published = published;
        ring.signing = new.clone();
        new.key
    }

    pub(crate) fn next_jti(&self) -> String {
        let serial = self.jti_serial.fetch_add(1, Ordering::SeqCst);
        let random = crate::config::random_bytes::<8>();
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        format!("{serial}-{hex}")
    }

    pub(crate) fn record_issued(&self, access_token: &str) {
        lock(&self.issued).push(access_token.to_owned());
    }

    pub(crate) fn record_exchange(&self, sub: &str, audience: &str, org_id: Option<&str>) {
        *lock(&self.exchanges_by_org)
            .entry((sub.to_string(), org_id.map(str::to_string)))
            .or_insert(0) += 1;
        *lock(&self.exchanges_by_sub)
            .entry(sub.to_string())
            .or_insert(0) += 1;
        *lock(&self.exchanges_by_api)
            .entry((sub.to_string(), audience.to_string()))
            .or_insert(0) += 1;
        self.exchanges.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds an organization, or replaces the one with the same id.
    pub(crate) fn add_organization(&self, organization: Organization) {
        add_organization(&mut lock(&self.organizations), organization);
    }

    /// The organization whose id, or else whose name, is `id_or_name`.
    pub(crate) fn find_organization(&self, id_or_name: &str) -> Option<Organization> {
        let organizations = lock(&self.organizations);
        organizations
            .iter()
            .find(|o| o.id == id_or_name)
            .or_else(|| organizations.iter().find(|o| o.name == id_or_name))
            .cloned()
    }

    /// Adds an API, or replaces the one with the same identifier.
    pub(crate) fn add_api(&self, api: ApiGrant) {
        add_api(&self.config, &mut lock(&self.extra_apis), api);
    }

    /// The identifiers of the APIs besides the MCP server's and the private API.
    pub(crate) fn extra_audiences(&self) -> Vec<String> {
        lock(&self.extra_apis)
            .iter()
            .map(|api| api.audience.clone())
            .collect()
    }

    /// What an exchange for `audience` may get. The MCP server's own API exists but
    /// has no client grant: its client is linked to it, not granted access to it.
    pub(crate) fn exchange_target(&self, audience: &str) -> ExchangeTarget {
        if audience == self.config.api_audience {
            return ExchangeTarget::Granted(self.config.allowed_scopes.clone());
        }
        if audience == self.config.mcp_audience {
            return ExchangeTarget::NoGrant;
        }
        match lock(&self.extra_apis)
            .iter()
            .find(|api| api.audience == audience)
        {
            Some(api) => match &api.client_grant {
                Some(scopes) => ExchangeTarget::Granted(scopes.clone()),
                None => ExchangeTarget::NoGrant,
            },
            None => ExchangeTarget::Unknown,
        }
    }
}

/// Adds `api` to `apis`, replacing one with the same identifier. A test that configures
/// an impossible tenant learns it here, at setup, rather than from a puzzling refusal.
fn add_api(config: &TenantConfig, apis: &mut Vec<ApiGrant>, api: ApiGrant) {
    if let Some(problem) = api.problem(&[&config.mcp_audience, &config.api_audience]) {
        panic!("mock tenant: {problem}");
    }
    match apis.iter_mut().find(|known| known.audience == api.audience) {
        Some(known) => *known = api,
        None => apis.push(api),
    }
}

/// Adds `organization` to `organizations`, replacing one with the same id. Another
/// organization with the same name is a setup mistake (Auth0 keeps names unique, and an
/// exchange's `organization` parameter may name one), so it panics.
fn add_organization(organizations: &mut Vec<Organization>, organization: Organization) {
    if let Some(other) = organizations
        .iter()
        .find(|o| o.name == organization.name && o.id != organization.id)
    {
        panic!(
            "mock tenant: organizations {} and {} are both named {:?}; Auth0 keeps names unique",
            other.id, organization.id, organization.name
        );
    }
    match organizations.iter_mut().find(|o| o.id == organization.id) {
        Some(known) => *known = organization,
        None => organizations.push(organization),
    }
}

fn kid(serial: u64) -> String {
    format!("mock-tenant-key-{serial}")
}
