//! Configuration: the same variable names as Auth0's quickstart, so its `.env` works
//! unchanged, each also a command-line flag.
//!
//! Clap only collects raw values; [`Settings::from_args`] validates all of them and
//! reports every problem at once, each naming the variable and what it expects, so a
//! user fixes their `.env` in one pass instead of one restart per mistake.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use auth0_obo::{ClientAuthMethod, ClientSecret};

use crate::client_auth::ClientCredential;
use clap::{Args, ValueEnum};
use http_serve::{ListenerArgs, ListenerLimits};
use jwt_verify::{Issuer, VerifierOptions};
use url::Url;

use crate::apis::{
    ApiArgs, ApiSettings, DEFAULT_API, Setting, named_api_args, parse_bool, validate, variable,
};
use crate::shared_cache::{SharedCacheArgs, SharedCacheSettings};

/// jwt-verify's own ceiling for `jwks_max_staleness`.
const MAX_JWKS_STALENESS_SECS: u64 = 30 * 24 * 3600;

/// The raw options, as given on the command line or in the environment.
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Auth0 tenant domain (e.g. `tenant.us.auth0.com`), or a full issuer URL such as
    /// `http://127.0.0.1:9000/` for a local mock tenant.
    #[arg(long, env = "AUTH0_DOMAIN")]
    pub auth0_domain: Option<String>,

    /// Identifier of the MCP server's API in Auth0 (the audience of incoming tokens and
    /// the `resource` of the protected resource metadata), e.g. `http://localhost:3001/`.
    #[arg(long, env = "AUTH0_AUDIENCE")]
    pub auth0_audience: Option<String>,

    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free port).
    #[arg(long, env = "PORT", default_value = "3001")]
    pub port: String,

    /// Public base URL of this server, as MCP clients reach it [default: http://localhost:{PORT}].
    #[arg(long, env = "MCP_SERVER_URL")]
    pub mcp_server_url: Option<String>,

    /// Client id of the MCP server's Custom API client in Auth0 (used for the exchange).
    #[arg(long, env = "MCP_AUTH0_CLIENT_ID")]
    pub mcp_auth0_client_id: Option<String>,

    /// Client secret of the MCP server's Custom API client. Prefer the environment or
    /// `.env` over the command line, where other users of the machine can see it.
    // A `ClientSecret` from the parse on, so no `Debug` of the arguments can show it.
    #[arg(long, env = "MCP_AUTH0_CLIENT_SECRET", hide_env_values = true)]
    pub mcp_auth0_client_secret: Option<ClientSecret>,

    /// How the MCP server sends MCP_AUTH0_CLIENT_SECRET to Auth0's token endpoint
    /// [default: client-secret-basic]. Only with the secret: Private Key JWT sends none.
    #[arg(long, env = "MCP_AUTH0_CLIENT_AUTH_METHOD", value_enum)]
    pub mcp_auth0_client_auth_method: Option<AuthMethodArg>,

    /// Private Key JWT instead of a client secret: the path of the PEM private key
    /// whose public key is uploaded to the application's credentials in Auth0. Set
    /// this or MCP_AUTH0_CLIENT_SECRET, not both.
    #[arg(long, env = "MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE")]
    pub mcp_auth0_client_assertion_key_file: Option<PathBuf>,

    /// The algorithm of that credential in Auth0: RS256, RS384 or PS256 [default: RS256].
    #[arg(long, env = "MCP_AUTH0_CLIENT_ASSERTION_ALG")]
    pub mcp_auth0_client_assertion_alg: Option<String>,

    /// The key id Auth0 shows for that credential, sent as the assertion's `kid`
    /// (optional).
    #[arg(long, env = "MCP_AUTH0_CLIENT_ASSERTION_KID")]
    pub mcp_auth0_client_assertion_kid: Option<String>,

    /// Whether an exchange asks for the organization of the caller's token: `from-token`
    /// sends its `org_id` as Auth0's `organization`, so the new token is issued in the
    /// same organization; `none` never sends one.
    #[arg(
        long,
        env = "MCP_AUTH0_EXCHANGE_ORGANIZATION",
        value_enum,
        default_value = "from-token"
    )]
    pub mcp_auth0_exchange_organization: OrganizationArg,

    /// Space-separated scopes requested for the private API in the exchange.
    #[arg(long, env = "MCP_AUTH0_EXCHANGE_SCOPE", default_value = "read:private")]
    pub mcp_auth0_exchange_scope: String,

    /// Identifier of the private API in Auth0 (the audience of exchanged tokens).
    #[arg(long, env = "API_AUTH0_AUDIENCE")]
    pub api_auth0_audience: Option<String>,

    /// Base URL of the private API. Plain http only to a loopback host, unless
    /// API_ALLOW_PLAIN_HTTP is set.
    #[arg(long, env = "API_BASE_URL", default_value = "http://localhost:8787")]
    pub api_base_url: String,

    /// Allow a plain http API_BASE_URL on a host that is not loopback. Every exchanged
    /// token then crosses the network in clear text: only for a network you trust.
    #[arg(long, env = "API_ALLOW_PLAIN_HTTP", default_value_t = false)]
    pub api_allow_plain_http: bool,

    /// Comma-separated browser origins allowed by CORS (none by default).
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Space-separated scopes named in the 401 challenge (`scope="…"`), which clients
    /// that pick their first scopes from it ask for [default: every tool scope].
    #[arg(long, env = "MCP_BASE_SCOPES")]
    pub mcp_base_scopes: Option<String>,

    /// List only the tools the caller's token may call, instead of every tool.
    #[arg(long, env = "HIDE_UNPERMITTED_TOOLS", default_value_t = false)]
    pub hide_unpermitted_tools: bool,

    /// Human-readable name published as `resource_name` in the metadata.
    #[arg(
        long = "mcp-resource-name",
        alias = "resource-name",
        env = "MCP_RESOURCE_NAME",
        default_value = "obo-mcp"
    )]
    pub resource_name: String,

    /// A file the audit trail (one JSON object per tool call, docs/audit.md) is
    /// appended to; unset: the events go to the logs, on the target `audit`. The
    /// server refuses to start if the file cannot be opened for appending.
    #[arg(long, env = "AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,

    /// Timeout, in seconds, of one call to Auth0 or to the private API.
    #[arg(long, env = "UPSTREAM_TIMEOUT_SECS", default_value = "10")]
    pub upstream_timeout_secs: String,

    /// Serve `/metrics` on this address (e.g. 127.0.0.1:9464) instead of on the main
    /// listener, so it need not be public. Unset: `/metrics` is on the main listener.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<String>,

    /// Time limits and the connection cap of the listeners (`/mcp` and `METRICS_ADDR`).
    #[command(flatten)]
    pub listener: ListenerArgs,

    /// How long, in seconds, cached signing keys keep verifying past their cache
    /// lifetime while the JWKS cannot be refreshed; then tokens get 503 and /readyz
    /// turns 503 until it can. 0 to 2592000 (30 days).
    #[arg(long, env = "JWKS_MAX_STALENESS_SECS", default_value = "86400")]
    pub jwks_max_staleness_secs: String,

    /// How many verified access tokens to remember, so a token seen again skips the
    /// signature check (its expiry is still checked, and the cache is cleared when the
    /// signing keys change). About 1.8 KB per entry with an Auth0-sized token. 0 turns it off.
    #[arg(long, env = "VERIFIED_TOKEN_CACHE_CAPACITY", default_value_t = 10_000)]
    pub verified_token_cache_capacity: u64,

    /// The token cache shared by a fleet of replicas (Redis).
    #[command(flatten)]
    pub shared_cache: SharedCacheArgs,

    /// More downstream APIs, by name: `API_{NAME}_AUDIENCE`, `_BASE_URL`, `_SCOPE`
    /// and `_ALLOW_PLAIN_HTTP` from the environment ([`named_api_args`]); not flags.
    #[arg(skip)]
    pub named_apis: BTreeMap<String, ApiArgs>,
}

impl ServerArgs {
    /// The arguments from the environment alone (and `.env`, if the program loaded
    /// it), named APIs included: what [`Settings::from_env`] validates.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when a variable cannot be read as its flag's type.
    pub fn from_env() -> Result<Self, ConfigError> {
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            server: ServerArgs,
        }
        let parsed =
            <EnvOnly as clap::Parser>::try_parse_from(["mcp-server"]).map_err(|e| ConfigError {
                problems: vec![e.to_string().trim().to_owned()],
            })?;
        Ok(parsed.server.with_named_apis(std::env::vars()))
    }

    /// Adds the named APIs found among `vars` (usually `std::env::vars()`).
    #[must_use]
    pub fn with_named_apis(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.named_apis = named_api_args(vars);
        self
    }
}

/// `client_secret_basic` or `client_secret_post`, as RFC 7591 names them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum AuthMethodArg {
    #[default]
    #[value(name = "client-secret-basic", alias = "client_secret_basic")]
    ClientSecretBasic,
    #[value(name = "client-secret-post", alias = "client_secret_post")]
    ClientSecretPost,
}

/// Which organization an exchange asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OrganizationArg {
    /// The caller's token's `org_id`, when it has one.
    #[default]
    FromToken,
    /// None: the tenant decides.
    None,
}

/// Validated settings: everything the server needs, in the types it uses. Made only
/// by [`Settings::from_env`] or [`Settings::from_args`], so a `Settings` is always
/// valid; read it through its methods.
#[derive(Debug, Clone)]
pub struct Settings {
    pub(crate) issuer: Issuer,
    pub(crate) audience: String,
    pub(crate) host: IpAddr,
    pub(crate) port: u16,
    pub(crate) public_url: Url,
    pub(crate) client_id: String,
    /// The client's credential (a secret, or a key for Private Key JWT).
    pub(crate) client_auth: ClientAuthMethod,
    /// What the fleet's cache key is derived from without TOKEN_CACHE_ENCRYPTION_KEY.
    pub(crate) client_key_material: ClientSecret,
    /// Whether exchanges pass the caller's `org_id` on as `organization`.
    pub(crate) pass_organization: bool,
    /// The downstream APIs, the quickstart's (`default`) first when configured.
    pub(crate) apis: Vec<ApiSettings>,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) hide_unpermitted_tools: bool,
    /// The scopes the 401 challenge names; `None`: every tool scope.
    pub(crate) base_scopes: Option<Vec<String>>,
    pub(crate) resource_name: String,
    pub(crate) upstream_timeout: Duration,
    /// `AUDIT_LOG`: the audit trail's file; `None`: the logs.
    pub(crate) audit_log: Option<PathBuf>,
    /// Where `/metrics` is served on its own; `None`: on the main listener.
    pub(crate) metrics_addr: Option<SocketAddr>,
    /// Bounds on every wait of the listeners, and how long shutdown drains.
    pub(crate) listener: ListenerLimits,
    /// How long stale signing keys may keep verifying while the JWKS is unavailable.
    pub(crate) jwks_max_staleness: Duration,
    /// Entries of the verified-token cache; 0: off.
    pub(crate) verified_token_cache_capacity: u64,
    /// The fleet's shared token cache; `None`: this replica caches on its own.
    pub(crate) shared_cache: Option<SharedCacheSettings>,
}

/// Every problem found in the configuration, one line each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the configuration is incomplete or invalid:")?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        write!(
            f,
            "Set these in the environment or in a .env file (see `mcp-server --help`)."
        )
    }
}

impl Settings {
    /// The settings from the environment (and `.env`, if the program loaded it), every
    /// problem reported at once: what a server on this crate usually starts with.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing every missing or invalid variable, each with its fix.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_args(&ServerArgs::from_env()?)
    }

    /// Validates the raw options, collecting every problem rather than the first.
    pub fn from_args(args: &ServerArgs) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        let mut required = |value: Option<&str>, name: &str, hint: &str| -> Option<String> {
            match value.map(str::trim) {
                Some(v) if !v.is_empty() => Some(v.to_owned()),
                _ => {
                    problems.push(format!("{name} is not set: {hint}"));
                    None
                }
            }
        };
        let domain = required(
            args.auth0_domain.as_deref(),
            "AUTH0_DOMAIN",
            "set it to your tenant's domain, e.g. tenant.us.auth0.com",
        );
        let audience = required(
            args.auth0_audience.as_deref(),
            "AUTH0_AUDIENCE",
            "set it to the identifier of the MCP server's API in Auth0, e.g. http://localhost:3001/",
        );
        let client_id = required(
            args.mcp_auth0_client_id.as_deref(),
            "MCP_AUTH0_CLIENT_ID",
            "set it to the client id of the MCP server's Custom API client",
        );
        let client_credential = crate::client_auth::from_args(args, &mut problems);

        let issuer = domain.and_then(|d| match Issuer::parse(&d) {
            Ok(issuer) => Some(issuer),
            Err(e) => {
                problems.push(format!(
                    "AUTH0_DOMAIN is not a domain or an issuer URL ({e}): use e.g. tenant.us.auth0.com"
                ));
                None
            }
        });
        let host = match args.host.trim() {
            // The one name everyone writes for loopback; resolving others is left to IPs.
            "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
            host => host.parse::<IpAddr>().ok(),
        };
        let host = match host {
            Some(host) => Some(host),
            None => {
                problems.push(format!(
                    "HOST is not an IP address (got {:?}): use e.g. 127.0.0.1, or 0.0.0.0 to listen on every interface",
                    args.host
                ));
                None
            }
        };
        let port = match args.port.trim().parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => {
                problems.push(format!(
                    "PORT is not a port number (got {:?}): use a number from 0 to 65535",
                    args.port
                ));
                None
            }
        };
        let public_url = match args.mcp_server_url.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => parse_http_url(url, "MCP_SERVER_URL", &mut problems),
            _ => port.and_then(|port| {
                parse_http_url(
                    &format!("http://localhost:{port}"),
                    "MCP_SERVER_URL",
                    &mut problems,
                )
            }),
        };
        let apis = api_settings(args, &mut problems);
        let upstream_timeout = match args.upstream_timeout_secs.trim().parse::<u64>() {
            Ok(secs) if (1..=300).contains(&secs) => Some(Duration::from_secs(secs)),
            _ => {
                problems.push(format!(
                    "UPSTREAM_TIMEOUT_SECS must be a whole number of seconds from 1 to 300 (got {:?})",
                    args.upstream_timeout_secs
                ));
                None
            }
        };
        let jwks_max_staleness = match args.jwks_max_staleness_secs.trim().parse::<u64>() {
            Ok(secs) if secs <= MAX_JWKS_STALENESS_SECS => Some(Duration::from_secs(secs)),
            _ => {
                problems.push(format!(
                    "JWKS_MAX_STALENESS_SECS must be a whole number of seconds from 0 to {MAX_JWKS_STALENESS_SECS} (got {:?}); the default is 86400 (24 h)",
                    args.jwks_max_staleness_secs
                ));
                None
            }
        };
        let cors_origins = parse_origins(&args.cors_origins, &mut problems);
        let base_scopes = parse_base_scopes(args.mcp_base_scopes.as_deref(), &mut problems);
        let metrics_addr = parse_metrics_addr(args.metrics_addr.as_deref(), &mut problems);
        let shared_cache = args.shared_cache.settings(&mut problems);
        let listener = args.listener.limits().unwrap_or_else(|bad| {
            problems.extend(bad.iter().map(ToString::to_string));
            ListenerLimits::default()
        });
        if let (Some(metrics), Some(host), Some(port)) = (metrics_addr, host, port)
            && port != 0
            && metrics.port() == port
            && (metrics.ip() == host || metrics.ip().is_unspecified() || host.is_unspecified())
        {
            problems.push(format!(
                "METRICS_ADDR ({metrics}) is the address the server itself listens on: choose another port"
            ));
        }

        match (
            issuer,
            audience,
            host,
            port,
            public_url,
            client_id,
            client_credential,
            upstream_timeout,
            jwks_max_staleness,
        ) {
            (
                Some(issuer),
                Some(audience),
                Some(host),
                Some(port),
                Some(public_url),
                Some(client_id),
                Some(ClientCredential {
                    auth: client_auth,
                    key_material: client_key_material,
                }),
                Some(upstream_timeout),
                Some(jwks_max_staleness),
            ) if problems.is_empty() => Ok(Self {
                issuer,
                audience,
                host,
                port,
                public_url,
                client_id,
                client_auth,
                client_key_material,
                pass_organization: args.mcp_auth0_exchange_organization
                    == OrganizationArg::FromToken,
                apis,
                cors_origins,
                hide_unpermitted_tools: args.hide_unpermitted_tools,
                base_scopes,
                resource_name: args.resource_name.clone(),
                upstream_timeout,
                audit_log: args.audit_log.clone(),
                metrics_addr,
                listener,
                jwks_max_staleness,
                verified_token_cache_capacity: args.verified_token_cache_capacity,
                shared_cache,
            }),
            _ => Err(ConfigError { problems }),
        }
    }

    /// How incoming tokens are verified: the library's defaults, with the staleness
    /// bound and the verified-token cache's size from the settings.
    pub fn verifier_options(&self) -> VerifierOptions {
        VerifierOptions {
            jwks_max_staleness: self.jwks_max_staleness,
            verified_cache_capacity: self.verified_token_cache_capacity,
            ..VerifierOptions::default()
        }
    }

    /// The tenant's issuer, `https://{AUTH0_DOMAIN}/`.
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// The MCP server's own API identifier: the audience of incoming tokens.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The MCP server's client id at the tenant (the exchange's client).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Every downstream API, the quickstart's `default` first when configured.
    pub fn apis(&self) -> &[ApiSettings] {
        &self.apis
    }

    /// The downstream API called `name`.
    pub fn api(&self, name: &str) -> Option<&ApiSettings> {
        self.apis.iter().find(|api| api.name == name)
    }

    /// The listeners' time limits and connection cap.
    pub fn listener(&self) -> ListenerLimits {
        self.listener
    }

    /// Where `/metrics` is served on its own; `None`: on the main listener.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }

    /// The URL of this server's MCP endpoint, as clients connect to it.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.public_base())
    }

    /// The public URL without a trailing slash, so paths can be appended to it.
    pub fn public_base(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }

    /// Where this server's Protected Resource Metadata lives (RFC 9728 §3.1).
    ///
    /// The well-known path is inserted before the resource identifier's own path, so an
    /// audience of `https://host/mcp` gets `/.well-known/oauth-protected-resource/mcp`.
    /// Both that and the bare path are served, because clients differ in which they try.
    pub fn resource_metadata_url(&self) -> String {
        let resource_path = Url::parse(&self.audience)
            .ok()
            .filter(|audience| audience.origin() == self.public_url.origin())
            .map(|audience| audience.path().trim_matches('/').to_owned())
            .unwrap_or_default();
        if resource_path.is_empty() {
            format!(
                "{}/.well-known/oauth-protected-resource",
                self.public_base()
            )
        } else {
            format!(
                "{}/.well-known/oauth-protected-resource/{resource_path}",
                self.public_base()
            )
        }
    }
}

/// The quickstart's API (when `API_AUTH0_AUDIENCE` is set) and every named one. At
/// least one is needed: a server with no API to call needs no exchange client.
fn api_settings(args: &ServerArgs, problems: &mut Vec<String>) -> Vec<ApiSettings> {
    let mut apis = Vec::new();
    let quickstart = args
        .api_auth0_audience
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty());
    match quickstart {
        Some(audience) => apis.extend(validate(
            DEFAULT_API,
            Some(audience),
            Some(&args.api_base_url),
            Some(&args.mcp_auth0_exchange_scope),
            args.api_allow_plain_http,
            problems,
        )),
        None if args.named_apis.is_empty() => problems.push(
            "API_AUTH0_AUDIENCE is not set: set it to the identifier of the private API in Auth0, e.g. http://localhost:8787/ (or configure your APIs as API_{NAME}_AUDIENCE, API_{NAME}_BASE_URL and API_{NAME}_SCOPE)".to_owned(),
        ),
        None => {}
    }
    for (name, raw) in &args.named_apis {
        let allow_plain_http = parse_bool(
            raw.allow_plain_http.as_deref(),
            &variable(name, Setting::AllowPlainHttp),
            problems,
        );
        apis.extend(validate(
            name,
            raw.audience.as_deref(),
            raw.base_url.as_deref(),
            raw.scope.as_deref(),
            allow_plain_http,
            problems,
        ));
    }
    apis
}

fn parse_http_url(value: &str, name: &str, problems: &mut Vec<String>) -> Option<Url> {
    match Url::parse(value) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) => {
            problems.push(format!(
                "{name} must be an http:// or https:// URL with a host (got {value:?})"
            ));
            None
        }
        Err(e) => {
            problems.push(format!(
                "{name} is not a valid URL ({e}; got {value:?}): use e.g. http://localhost:3001"
            ));
            None
        }
    }
}

fn parse_metrics_addr(value: Option<&str>, problems: &mut Vec<String>) -> Option<SocketAddr> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let parsed = match value.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}").parse::<SocketAddr>(),
        None => value.parse::<SocketAddr>(),
    };
    match parsed {
        Ok(addr) => Some(addr),
        Err(_) => {
            problems.push(format!(
                "METRICS_ADDR is not an address and port (got {value:?}): use e.g. 127.0.0.1:9464"
            ));
            None
        }
    }
}

/// `MCP_BASE_SCOPES`, sorted and deduplicated; `None` when unset or blank (every tool
/// scope). Each must be a scope token (RFC 6749 §3.3): printable ASCII other than
/// space, `"` and `\`, which also keeps the challenge's quoted string intact.
fn parse_base_scopes(value: Option<&str>, problems: &mut Vec<String>) -> Option<Vec<String>> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    let mut scopes = std::collections::BTreeSet::new();
    for scope in value.split_ascii_whitespace() {
        if is_scope_token(scope) {
            scopes.insert(scope.to_owned());
        } else {
            problems.push(format!(
                "MCP_BASE_SCOPES has {scope:?}, which is not a scope: use space-separated scopes of printable ASCII without '\"' or '\\', e.g. \"tool:greet tool:whoami\""
            ));
        }
    }
    Some(scopes.into_iter().collect())
}

/// A `scope-token` of RFC 6749 §3.3: `%x21 / %x23-5B / %x5D-7E`, at least one.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn parse_origins(value: &str, problems: &mut Vec<String>) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .filter_map(|origin| match Url::parse(origin) {
            Ok(url) if url.host().is_some() && matches!(url.path(), "" | "/") => {
                Some(origin.trim_end_matches('/').to_owned())
            }
            _ => {
                problems.push(format!(
                    "CORS_ORIGINS has {origin:?}, which is not an origin: use scheme://host[:port], e.g. http://localhost:6274"
                ));
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete() -> ServerArgs {
        ServerArgs {
            auth0_domain: Some("tenant.us.auth0.com".into()),
            auth0_audience: Some("http://localhost:3001/".into()),
            host: "127.0.0.1".into(),
            port: "3001".into(),
            mcp_server_url: None,
            mcp_auth0_client_id: Some("client".into()),
            mcp_auth0_client_secret: Some(ClientSecret::new("s3cret-value")),
            mcp_auth0_client_auth_method: None,
            mcp_auth0_client_assertion_key_file: None,
            mcp_auth0_client_assertion_alg: None,
            mcp_auth0_client_assertion_kid: None,
            mcp_auth0_exchange_organization: OrganizationArg::FromToken,
            audit_log: None,
            mcp_auth0_exchange_scope: "read:private".into(),
            api_auth0_audience: Some("http://localhost:8787/".into()),
            api_base_url: "http://localhost:8787".into(),
            api_allow_plain_http: false,
            cors_origins: String::new(),
            hide_unpermitted_tools: false,
            mcp_base_scopes: None,
            resource_name: "obo-mcp".into(),
            upstream_timeout_secs: "10".into(),
            metrics_addr: None,
            listener: ListenerArgs::default(),
            jwks_max_staleness_secs: "86400".into(),
            verified_token_cache_capacity: 10_000,
            shared_cache: SharedCacheArgs::default(),
            named_apis: BTreeMap::new(),
        }
    }

    #[test]
    fn named_apis_join_the_quickstart_api_which_becomes_optional() {
        let orders = [
            ("API_ORDERS_AUDIENCE", "https://orders.example.com/"),
            ("API_ORDERS_BASE_URL", "https://orders.example.com"),
            ("API_ORDERS_SCOPE", "read:orders"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let settings = Settings::from_args(&complete().with_named_apis(orders.clone())).unwrap();
        let names: Vec<&str> = settings.apis().iter().map(ApiSettings::name).collect();
        assert_eq!(names, [DEFAULT_API, "orders"]);
        assert_eq!(settings.api("orders").unwrap().scope(), "read:orders");

        let mut args = complete().with_named_apis(orders);
        args.api_auth0_audience = None;
        let settings = Settings::from_args(&args).unwrap();
        assert!(settings.api(DEFAULT_API).is_none());

        let mut args =
            complete().with_named_apis([("API_ORDERS_SCOPE".to_owned(), "read:orders".to_owned())]);
        args.api_auth0_audience = None;
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(text.contains("API_ORDERS_AUDIENCE is not set"), "{text}");
        assert!(text.contains("API_ORDERS_BASE_URL is not set"), "{text}");
        assert!(!text.contains("API_AUTH0_AUDIENCE"), "{text}");
    }

    #[test]
    fn base_scopes_are_sorted_scope_tokens_and_a_bad_one_names_the_variable() {
        assert_eq!(Settings::from_args(&complete()).unwrap().base_scopes, None);
        let mut args = complete();
        args.mcp_base_scopes = Some("  tool:whoami  openid tool:whoami ".into());
        assert_eq!(
            Settings::from_args(&args).unwrap().base_scopes,
            Some(vec!["openid".to_owned(), "tool:whoami".to_owned()])
        );
        args.mcp_base_scopes = Some("   ".into());
        assert_eq!(Settings::from_args(&args).unwrap().base_scopes, None);
        for bad in ["tool:\"x\"", "a\\b", "caf\u{e9}"] {
            args.mcp_base_scopes = Some(format!("openid {bad}"));
            let error = Settings::from_args(&args).unwrap_err();
            assert_eq!(error.problems.len(), 1, "{error}");
            assert!(
                error.problems[0].starts_with("MCP_BASE_SCOPES has "),
                "{error}"
            );
        }
    }

    #[test]
    fn a_complete_configuration_is_accepted_with_quickstart_defaults() {
        let settings = Settings::from_args(&complete()).unwrap();
        assert_eq!(settings.issuer.as_str(), "https://tenant.us.auth0.com/");
        assert_eq!(settings.mcp_url(), "http://localhost:3001/mcp");
        assert_eq!(
            settings.resource_metadata_url(),
            "http://localhost:3001/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn every_missing_variable_is_named_in_one_error() {
        let args = ServerArgs {
            port: "3001".into(),
            host: "127.0.0.1".into(),
            api_base_url: "http://localhost:8787".into(),
            mcp_auth0_exchange_scope: "read:private".into(),
            upstream_timeout_secs: "10".into(),
            jwks_max_staleness_secs: "86400".into(),
            ..ServerArgs::default()
        };
        let error = Settings::from_args(&args).unwrap_err();
        let text = error.to_string();
        for name in [
            "AUTH0_DOMAIN is not set",
            "AUTH0_AUDIENCE is not set",
            "MCP_AUTH0_CLIENT_ID is not set",
            "MCP_AUTH0_CLIENT_SECRET is not set",
            "API_AUTH0_AUDIENCE is not set",
        ] {
            assert!(text.contains(name), "{name} missing from: {text}");
        }
        assert_eq!(error.problems.len(), 5);
    }

    #[test]
    fn malformed_values_name_the_variable_and_the_fix() {
        let mut args = complete();
        args.port = "eighty".into();
        args.host = "localhost:3001".into();
        args.api_base_url = "ftp://example.com".into();
        args.cors_origins = "http://ok.example, not a url".into();
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(text.contains("PORT is not a port number"), "{text}");
        assert!(text.contains("HOST is not an IP address"), "{text}");
        assert!(text.contains("API_BASE_URL must be an http://"), "{text}");
        assert!(text.contains("CORS_ORIGINS has \"not a url\""), "{text}");
    }

    #[test]
    fn finding_6_api_base_url_plain_http_off_loopback_needs_the_opt_in() {
        let mut args = complete();
        args.api_base_url = "http://api.example.com/".into();
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(
            text.contains("API_BASE_URL uses plain http on a host that is not loopback"),
            "{text}"
        );
        assert!(text.contains("API_ALLOW_PLAIN_HTTP=true"), "{text}");

        args.api_allow_plain_http = true;
        let settings = Settings::from_args(&args).unwrap();
        let api = settings.api(DEFAULT_API).unwrap();
        assert_eq!(api.base_url().as_str(), "http://api.example.com/");
        assert!(api.allow_plain_http());

        args.api_allow_plain_http = false;
        for base in [
            "http://127.0.0.1:8787",
            "http://localhost:8787",
            "http://[::1]:8787",
            "https://api.example.com",
        ] {
            args.api_base_url = base.into();
            assert!(Settings::from_args(&args).is_ok(), "{base}");
        }
    }

    fn problems_of(args: &ServerArgs) -> String {
        Settings::from_args(args).unwrap_err().problems.join("\n")
    }

    #[test]
    fn a_client_secret_or_a_key_file_exactly_one() {
        let mut args = complete();
        args.mcp_auth0_client_assertion_key_file = Some("/nonexistent/key.pem".into());
        let both = problems_of(&args);
        assert!(
            both.contains(
                "MCP_AUTH0_CLIENT_SECRET and MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE are both set"
            ) && both.contains("remove MCP_AUTH0_CLIENT_SECRET to use Private Key JWT"),
            "{both}"
        );

        args.mcp_auth0_client_secret = None;
        args.mcp_auth0_client_assertion_key_file = None;
        let neither = problems_of(&args);
        assert!(
            neither.contains("MCP_AUTH0_CLIENT_SECRET is not set")
                && neither.contains("MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE"),
            "{neither}"
        );

        let mut args = complete();
        args.mcp_auth0_client_assertion_alg = Some("PS256".into());
        args.mcp_auth0_client_assertion_kid = Some("kid-1".into());
        let stray = problems_of(&args);
        assert!(
            stray.contains("MCP_AUTH0_CLIENT_ASSERTION_ALG is set but MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE is not")
                && stray.contains("MCP_AUTH0_CLIENT_ASSERTION_KID is set"),
            "{stray}"
        );

        // A way to send the secret, named beside a key file, is not silently ignored.
        let mut args = complete();
        args.mcp_auth0_client_secret = None;
        args.mcp_auth0_client_assertion_key_file = Some("/nonexistent/key.pem".into());
        let unset = problems_of(&args);
        assert!(!unset.contains("MCP_AUTH0_CLIENT_AUTH_METHOD"), "{unset}");
        for (method, name) in [
            (AuthMethodArg::ClientSecretBasic, "client-secret-basic"),
            (AuthMethodArg::ClientSecretPost, "client-secret-post"),
        ] {
            args.mcp_auth0_client_auth_method = Some(method);
            let conflict = problems_of(&args);
            assert!(
                conflict.contains(&format!(
                    "MCP_AUTH0_CLIENT_AUTH_METHOD is set ({name}) but MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE is set too"
                )) && conflict.contains("Remove MCP_AUTH0_CLIENT_AUTH_METHOD"),
                "{conflict}"
            );
        }
    }

    #[test]
    fn the_secret_is_sent_as_client_auth_method_says_and_basic_when_unset() {
        let mut args = complete();
        let name = |args: &ServerArgs| Settings::from_args(args).unwrap().client_auth.name();
        assert_eq!(name(&args), "client_secret_basic");
        args.mcp_auth0_client_auth_method = Some(AuthMethodArg::ClientSecretPost);
        assert_eq!(name(&args), "client_secret_post");
        args.mcp_auth0_client_auth_method = Some(AuthMethodArg::ClientSecretBasic);
        assert_eq!(name(&args), "client_secret_basic");
    }

    #[test]
    fn a_key_file_that_cannot_serve_is_named_with_its_fix() {
        let dir = std::env::temp_dir().join(format!("obo-mcp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not-pem.txt");
        std::fs::write(&not_pem, "this is no key SECRETISH").unwrap();
        let mut args = complete();
        args.mcp_auth0_client_secret = None;

        args.mcp_auth0_client_assertion_key_file = Some(dir.join("missing.pem"));
        let missing = problems_of(&args);
        assert!(
            missing.contains("MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE")
                && missing.contains("cannot be read"),
            "{missing}"
        );

        args.mcp_auth0_client_assertion_key_file = Some(not_pem);
        let garbage = problems_of(&args);
        assert!(garbage.contains("not PEM"), "{garbage}");
        assert!(!garbage.contains("SECRETISH"), "{garbage}");

        args.mcp_auth0_client_assertion_alg = Some("ES256".into());
        let es256 = problems_of(&args);
        assert!(
            es256.contains("MCP_AUTH0_CLIENT_ASSERTION_ALG must be RS256, RS384 or PS256"),
            "{es256}"
        );
        args.mcp_auth0_client_assertion_alg = Some("HS256".into());
        assert!(problems_of(&args).contains("RS256, RS384 or PS256"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_client_secret_never_shows_in_debug_output() {
        let settings = Settings::from_args(&complete()).unwrap();
        assert!(!format!("{settings:?}").contains("s3cret-value"));
    }

    #[test]
    fn resource_metadata_url_inserts_the_well_known_path_before_the_resource_path() {
        let mut args = complete();
        args.auth0_audience = Some("https://mcp.example.com/mcp".into());
        args.mcp_server_url = Some("https://mcp.example.com".into());
        let settings = Settings::from_args(&args).unwrap();
        assert_eq!(
            settings.resource_metadata_url(),
            "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
        );
    }

    #[test]
    fn metrics_addr_is_optional_and_must_not_be_the_server_address() {
        let mut args = complete();
        assert_eq!(Settings::from_args(&args).unwrap().metrics_addr, None);
        args.metrics_addr = Some("localhost:9464".into());
        assert_eq!(
            Settings::from_args(&args).unwrap().metrics_addr,
            Some(SocketAddr::from(([127, 0, 0, 1], 9464)))
        );
        args.metrics_addr = Some("nine".into());
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(text.contains("METRICS_ADDR is not an address"), "{text}");
        args.metrics_addr = Some("127.0.0.1:3001".into());
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(
            text.contains("METRICS_ADDR (127.0.0.1:3001) is the address"),
            "{text}"
        );
    }

    #[test]
    fn listener_limits_default_and_each_bad_one_is_named() {
        let mut args = complete();
        assert_eq!(
            Settings::from_args(&args).unwrap().listener,
            ListenerLimits::default()
        );
        args.listener.http_header_read_timeout_secs = "0".into();
        args.listener.http_max_connections = "many".into();
        let text = Settings::from_args(&args).unwrap_err().to_string();
        assert!(
            text.contains("  - HTTP_HEADER_READ_TIMEOUT_SECS is invalid (got \"0\"): set it to"),
            "{text}"
        );
        assert!(
            text.contains("  - HTTP_MAX_CONNECTIONS is invalid (got \"many\"): set it to"),
            "{text}"
        );
    }

    #[test]
    fn exchange_scope_is_normalised_and_must_not_be_empty() {
        let mut args = complete();
        args.mcp_auth0_exchange_scope = "  write:x   read:private read:private ".into();
        assert_eq!(
            Settings::from_args(&args).unwrap().apis[0].scope(),
            "read:private write:x",
            "deduplicated and sorted, as the exchange sends it"
        );
        args.mcp_auth0_exchange_scope = "   ".into();
        assert!(
            Settings::from_args(&args)
                .unwrap_err()
                .to_string()
                .contains("MCP_AUTH0_EXCHANGE_SCOPE is empty")
        );
    }

    #[test]
    fn jwks_max_staleness_defaults_to_a_day_is_bounded_and_reaches_the_verifier() {
        let mut args = complete();
        let settings = Settings::from_args(&args).unwrap();
        assert_eq!(
            settings.verifier_options().jwks_max_staleness,
            Duration::from_secs(86_400)
        );
        args.jwks_max_staleness_secs = " 0 ".into();
        assert_eq!(
            Settings::from_args(&args)
                .unwrap()
                .verifier_options()
                .jwks_max_staleness,
            Duration::ZERO
        );
        for bad in ["2592001", "-1", "1h", ""] {
            args.jwks_max_staleness_secs = bad.into();
            let text = Settings::from_args(&args).unwrap_err().to_string();
            assert!(
                text.contains(
                    "JWKS_MAX_STALENESS_SECS must be a whole number of seconds from 0 to 2592000"
                ),
                "{bad:?}: {text}"
            );
        }
    }

    #[test]
    fn the_shared_cache_is_off_unless_its_url_is_set_and_its_problems_join_the_others() {
        let mut args = complete();
        assert!(Settings::from_args(&args).unwrap().shared_cache.is_none());
        args.shared_cache.token_cache_redis_url = Some("redis://127.0.0.1:6379".parse().unwrap());
        let shared = Settings::from_args(&args).unwrap().shared_cache.unwrap();
        assert_eq!(shared.redis_url.secret(), "redis://127.0.0.1:6379");
        args.port = "eighty".into();
        args.shared_cache.token_cache_redis_timeout_ms = "slow".into();
        let error = Settings::from_args(&args).unwrap_err();
        assert_eq!(error.problems.len(), 2, "{error}");
        assert!(
            error.to_string().contains("TOKEN_CACHE_REDIS_TIMEOUT_MS"),
            "{error}"
        );
    }
}
