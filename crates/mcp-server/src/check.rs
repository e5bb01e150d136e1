//! `mcp-server check`: read the same configuration as the server, check it against the
//! tenant, the private API and (optionally) a real user token, and say what to fix.
//!
//! Each check prints one line, `✓` passed, `!` a warning, `✗` failed, `-` skipped,
//! followed by an indented `fix:` line when there is something to change. The checks
//! follow the mistakes people make setting up a tenant for On-Behalf-Of (see
//! `docs/quickstart.md`): an issuer that differs from `AUTH0_DOMAIN` (often by its
//! trailing slash), an API not signing with RS256, a `resource` that MCP clients will
//! not accept for the URL they connect to, and an exchange refused because the client
//! is not a Custom API client or has no user-delegated grant to the private API.
//! With `TOKEN_CACHE_REDIS_URL` set, it also makes one round trip to Redis under the
//! key prefix, as the server's shared token cache will.
//!
//! The user token is never printed, only its claims.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth0_obo::{ExchangeRequest, StoreError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Args;
use jwt_verify::{JwksVerifier, VerifierOptions};
use private_api_client::ApiError;
use redis_token_store::RedisTokenStore;
use serde_json::Value;
use url::Url;

use crate::advice;
use crate::apis::DEFAULT_API;
use crate::config::{ServerArgs, Settings};
use crate::shared_cache::SharedCacheSettings;

/// The largest discovery document or JWKS the check reads.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// `mcp-server check`'s options: the server's own, plus the token to try.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// A user's access token for this server, to verify, exchange and call the private
    /// API with. `-` reads it from stdin. A token on the command line is visible to
    /// other users of the machine: prefer `-`, --token-file or CHECK_TOKEN.
    #[arg(
        long,
        env = "CHECK_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<SecretArg>,

    /// Read the user's access token from this file.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// A secret given as an argument; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretArg(String);

impl SecretArg {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg([redacted])")
    }
}

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Why the token to check could not be read. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenInputError {
    #[error("cannot read the token from {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the token from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("the token from {0} is empty")]
    Empty(&'static str),
}

/// The token to check, from `--token` (`-`: `stdin`), `--token-file` or `CHECK_TOKEN`,
/// trimmed, with a pasted `Bearer ` prefix removed.
pub fn read_token(
    token: Option<&SecretArg>,
    token_file: Option<&Path>,
    stdin: impl Read,
) -> Result<Option<String>, TokenInputError> {
    let (raw, from) = match (token.map(SecretArg::expose), token_file) {
        (Some("-"), _) => {
            let mut raw = String::new();
            let mut stdin = stdin.take(64 * 1024);
            stdin
                .read_to_string(&mut raw)
                .map_err(TokenInputError::Stdin)?;
            (raw, "stdin")
        }
        (Some(token), _) => (token.to_owned(), "--token"),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|source| TokenInputError::File {
                path: path.to_owned(),
                source,
            })?;
            (raw, "--token-file")
        }
        (None, None) => return Ok(None),
    };
    let token = raw.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(TokenInputError::Empty(from));
    }
    Ok(Some(token.to_owned()))
}

/// How one check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    Skip,
}

impl Outcome {
    pub fn symbol(self) -> &'static str {
        match self {
            Outcome::Pass => "✓",
            Outcome::Warn => "!",
            Outcome::Fail => "✗",
            Outcome::Skip => "-",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    pub name: &'static str,
    pub outcome: Outcome,
    pub detail: String,
    pub fix: Option<String>,
}

/// Every check that ran, in order.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    pub lines: Vec<CheckLine>,
}

impl CheckReport {
    /// No check failed (warnings allowed).
    pub fn passed(&self) -> bool {
        !self.lines.iter().any(|l| l.outcome == Outcome::Fail)
    }

    /// The line of the check called `name`, if it ran.
    pub fn line(&self, name: &str) -> Option<&CheckLine> {
        self.lines.iter().find(|l| l.name == name)
    }

    /// The process exit code: 0 when every check passed, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.passed() { 0 } else { 1 }
    }
}

/// Writes lines as they are found, so a slow tenant shows progress.
struct Reporter<'a, W: Write> {
    out: &'a mut W,
    report: CheckReport,
}

impl<W: Write> Reporter<'_, W> {
    fn add(&mut self, name: &'static str, outcome: Outcome, detail: String, fix: Option<String>) {
        // A closed stdout must not stop the checks; the report still has every line.
        let _ = writeln!(self.out, "{} {name}: {detail}", outcome.symbol());
        if let Some(fix) = &fix {
            let _ = writeln!(self.out, "    fix: {fix}");
        }
        let _ = self.out.flush();
        self.report.lines.push(CheckLine {
            name,
            outcome,
            detail,
            fix,
        });
    }

    fn pass(&mut self, name: &'static str, detail: String) {
        self.add(name, Outcome::Pass, detail, None);
    }

    fn warn(&mut self, name: &'static str, detail: String, fix: String) {
        self.add(name, Outcome::Warn, detail, Some(fix));
    }

    fn fail(&mut self, name: &'static str, detail: String, fix: String) {
        self.add(name, Outcome::Fail, detail, Some(fix));
    }

    fn skip(&mut self, name: &'static str, detail: String) {
        self.add(name, Outcome::Skip, detail, None);
    }
}

/// Names of the checks, as printed.
pub mod names {
    pub const DISCOVERY: &str = "discovery";
    pub const ISSUER: &str = "issuer";
    pub const JWKS: &str = "jwks";
    pub const RESOURCE: &str = "resource";
    pub const PRIVATE_API: &str = "private api";
    pub const TOKEN: &str = "token";
    pub const TOKEN_SCOPES: &str = "token scopes";
    pub const EXCHANGE: &str = "exchange";
    pub const API_CALL: &str = "api call";
    pub const CONFIGURATION: &str = "configuration";
    pub const SHARED_CACHE: &str = "shared cache";
}

/// Runs every check, writing each line to `out` as it completes.
pub async fn run<W: Write>(settings: &Settings, token: Option<&str>, out: &mut W) -> CheckReport {
    let mut r = Reporter {
        out,
        report: CheckReport::default(),
    };
    let http = match reqwest::Client::builder()
        .timeout(settings.upstream_timeout)
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(http) => http,
        Err(e) => {
            r.fail(
                names::CONFIGURATION,
                format!("cannot build an HTTP client: {e}"),
                "check the system's TLS set-up".to_owned(),
            );
            return r.report;
        }
    };

    let discovery = check_discovery(&mut r, &http, settings).await;
    if let Some(discovery) = &discovery {
        check_issuer(&mut r, settings, discovery);
    } else {
        r.skip(
            names::ISSUER,
            "skipped: no discovery document to compare with".to_owned(),
        );
    }
    let verifier = check_jwks(&mut r, &http, settings).await;
    check_resource(&mut r, settings);
    check_private_api(&mut r, &http, settings, token.is_some()).await;
    if let Some(shared) = &settings.shared_cache {
        check_shared_cache(&mut r, settings, shared).await;
    }

    match token {
        None => r.skip(
            names::TOKEN,
            "no user token given: run with --token - (reading it from stdin), --token-file or CHECK_TOKEN to also verify it, exchange it and call the private API".to_owned(),
        ),
        Some(token) => check_token(&mut r, settings, verifier, token).await,
    }
    r.report
}

async fn fetch_json(http: &reqwest::Client, url: &Url) -> Result<Value, String> {
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| describe_reqwest(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("it answered HTTP {}", status.as_u16()));
    }
    let bytes = response.bytes().await.map_err(|e| describe_reqwest(&e))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "its answer is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&bytes).map_err(|_| "its answer is not JSON".to_owned())
}

/// reqwest's errors name the URL; ours already does, so only the causes are kept.
fn describe_reqwest(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut message = if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "the answer could not be read"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

async fn check_discovery<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    settings: &Settings,
) -> Option<Value> {
    let url = settings.issuer.discovery_url();
    match fetch_json(http, &url).await {
        Ok(document) if document.get("issuer").and_then(Value::as_str).is_some() => {
            r.pass(names::DISCOVERY, format!("{url} answers"));
            Some(document)
        }
        Ok(_) => {
            r.fail(
                names::DISCOVERY,
                format!("{url} answers, but without an `issuer`"),
                "AUTH0_DOMAIN must be your Auth0 tenant's domain (e.g. tenant.us.auth0.com) or its custom domain".to_owned(),
            );
            None
        }
        Err(cause) => {
            r.fail(
                names::DISCOVERY,
                format!("OIDC discovery at {url} failed: {cause}"),
                "check AUTH0_DOMAIN: it must be your Auth0 tenant's domain (e.g. tenant.us.auth0.com, from the application's settings), or its custom domain; and check that this machine can reach it".to_owned(),
            );
            None
        }
    }
}

fn check_issuer<W: Write>(r: &mut Reporter<'_, W>, settings: &Settings, discovery: &Value) {
    let ours = settings.issuer.as_str();
    let theirs = discovery
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if theirs == ours {
        r.pass(
            names::ISSUER,
            format!("the tenant's issuer is {ours}, exactly what tokens must carry in `iss`"),
        );
    } else if theirs.trim_end_matches('/') == ours.trim_end_matches('/') {
        r.fail(
            names::ISSUER,
            format!(
                "the tenant's issuer is {theirs:?} but AUTH0_DOMAIN gives {ours:?}: they differ by the trailing slash, and `iss` is compared exactly, so every token would be refused"
            ),
            format!(
                "set AUTH0_DOMAIN to exactly {theirs:?} (Auth0's issuer is https://{{domain}}/, with the slash)"
            ),
        );
    } else {
        r.fail(
            names::ISSUER,
            format!(
                "the tenant's discovery names the issuer {theirs:?}, not {ours:?} (from AUTH0_DOMAIN): tokens carry the tenant's issuer in `iss`, so every token would be refused"
            ),
            format!(
                "set AUTH0_DOMAIN to {theirs:?}; a custom domain and the tenant's own domain are different issuers, so use the one your MCP clients sign in through"
            ),
        );
    }
}

/// Checks the JWKS the server will use and returns a verifier with its keys loaded.
async fn check_jwks<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    settings: &Settings,
) -> Option<JwksVerifier> {
    let url = settings.issuer.well_known_jwks_url();
    let document = match fetch_json(http, &url).await {
        Ok(document) => document,
        Err(cause) => {
            r.fail(
                names::JWKS,
                format!("the signing keys at {url} could not be fetched: {cause}"),
                "check AUTH0_DOMAIN and that this machine can reach the tenant".to_owned(),
            );
            return None;
        }
    };
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rs256: Vec<String> = keys
        .iter()
        .filter(|key| {
            key.get("kty").and_then(Value::as_str) == Some("RSA")
                && matches!(key.get("alg").and_then(Value::as_str), None | Some("RS256"))
                && matches!(key.get("use").and_then(Value::as_str), None | Some("sig"))
        })
        .map(|key| {
            key.get("kid")
                .and_then(Value::as_str)
                .map(|kid| format!("{kid:?}"))
                .unwrap_or_else(|| "(no kid)".to_owned())
        })
        .collect();
    if rs256.is_empty() {
        r.fail(
            names::JWKS,
            format!("{url} publishes no RS256 signing key ({} keys in all)", keys.len()),
            "the MCP server's API in Auth0 must sign with RS256 (APIs > your API > Settings > Signing Algorithm)".to_owned(),
        );
        return None;
    }
    let verifier = match JwksVerifier::new(
        settings.issuer.clone(),
        settings.audience.clone(),
        VerifierOptions::default(),
    ) {
        Ok(verifier) => verifier,
        Err(e) => {
            r.fail(
                names::JWKS,
                format!("cannot set up token verification: {e}"),
                "check AUTH0_DOMAIN".to_owned(),
            );
            return None;
        }
    };
    if let Err(e) = verifier.refresh_keys().await {
        r.fail(
            names::JWKS,
            format!("{url} lists RS256 keys, but the server could not load them: {e}"),
            "check that the tenant's JWKS is a standard RSA key set".to_owned(),
        );
        return None;
    }
    r.pass(
        names::JWKS,
        format!(
            "{url} publishes {} RS256 signing key{} (kid {})",
            rs256.len(),
            if rs256.len() == 1 { "" } else { "s" },
            rs256.join(", ")
        ),
    );
    Some(verifier)
}

/// The metadata's `resource` (AUTH0_AUDIENCE) against the URL clients connect to.
///
/// MCP clients fetch the Protected Resource Metadata from the server they connect to
/// and check that its `resource` names that server (RFC 9728 §3.3; the MCP SDKs accept
/// the same origin with a path that is a prefix of the endpoint's). With the Resource
/// Parameter Compatibility Profile they then send it as `resource`, which Auth0 matches
/// exactly against the API identifier.
pub fn resource_findings(settings: &Settings) -> Vec<(Outcome, String, Option<String>)> {
    let audience = settings.audience.as_str();
    let mcp_url = settings.mcp_url();
    let public_base = settings.public_base();
    let mut findings = Vec::new();
    if settings
        .public_url
        .path()
        .trim_end_matches('/')
        .ends_with("/mcp")
    {
        findings.push((
            Outcome::Warn,
            format!(
                "MCP_SERVER_URL ({}) already ends in /mcp, so clients must connect to {mcp_url}",
                settings.public_url
            ),
            Some(format!(
                "MCP_SERVER_URL is the server's base URL: set it to {:?}",
                public_base.trim_end_matches("/mcp")
            )),
        ));
    }
    let Ok(resource) = Url::parse(audience) else {
        findings.push((
            Outcome::Fail,
            format!(
                "AUTH0_AUDIENCE {audience:?} is not a URL, but MCP clients require the metadata's `resource` to be the URL of the server they connect to ({mcp_url})"
            ),
            Some(format!(
                "use the server's URL as the identifier of its API in Auth0 and as AUTH0_AUDIENCE, e.g. \"{public_base}/\" (an API identifier cannot be changed: create a new API)"
            )),
        ));
        return findings;
    };
    let endpoint = match Url::parse(&mcp_url) {
        Ok(endpoint) => endpoint,
        Err(_) => return findings,
    };
    if resource.origin() != endpoint.origin() {
        findings.push((
            Outcome::Fail,
            format!(
                "the metadata's resource {audience:?} (AUTH0_AUDIENCE) is not on the origin clients connect to ({mcp_url}, from MCP_SERVER_URL); clients will refuse it"
            ),
            Some(format!(
                "make them agree: AUTH0_AUDIENCE (and the API identifier in Auth0) \"{public_base}/\", or MCP_SERVER_URL {:?}; note that localhost and 127.0.0.1 are different origins",
                resource.origin().ascii_serialization()
            )),
        ));
        return findings;
    }
    let resource_path = resource.path();
    let endpoint_path = endpoint.path();
    let prefix = if resource_path.ends_with('/') {
        resource_path.to_owned()
    } else {
        format!("{resource_path}/")
    };
    if !format!("{endpoint_path}/").starts_with(&prefix) {
        findings.push((
            Outcome::Fail,
            format!(
                "the metadata's resource {audience:?} (AUTH0_AUDIENCE) has a path that does not lead to the endpoint clients connect to ({mcp_url}); clients will refuse it"
            ),
            Some(format!(
                "use \"{public_base}/\" or \"{mcp_url}\" as AUTH0_AUDIENCE and as the API identifier in Auth0"
            )),
        ));
        return findings;
    }
    if resource_path == "/" && !audience.ends_with('/') {
        findings.push((
            Outcome::Warn,
            format!(
                "AUTH0_AUDIENCE {audience:?} has no trailing slash; clients that normalise the URL send {:?}, and Auth0 compares identifiers exactly",
                resource.as_str()
            ),
            Some(format!(
                "use one spelling everywhere: set AUTH0_AUDIENCE={:?} and make it the API identifier in Auth0 (the identifier tokens carry in `aud` must equal AUTH0_AUDIENCE)",
                resource.as_str()
            )),
        ));
    } else if resource_path.len() > 1 && resource_path.ends_with('/') {
        findings.push((
            Outcome::Warn,
            format!(
                "AUTH0_AUDIENCE {audience:?} ends in a slash but clients connect to {mcp_url}; clients that compare the resource with that URL exactly will refuse it"
            ),
            Some(format!(
                "set AUTH0_AUDIENCE={:?} and make it the API identifier in Auth0",
                audience.trim_end_matches('/')
            )),
        ));
    }
    if findings.is_empty() {
        findings.push((
            Outcome::Pass,
            format!(
                "the metadata's resource {audience:?} matches the endpoint clients connect to ({mcp_url})"
            ),
            None,
        ));
    }
    findings
}

fn check_resource<W: Write>(r: &mut Reporter<'_, W>, settings: &Settings) {
    for (outcome, detail, fix) in resource_findings(settings) {
        r.add(names::RESOURCE, outcome, detail, fix);
    }
}

async fn check_private_api<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    settings: &Settings,
    with_token: bool,
) {
    let Some(api) = settings.api(DEFAULT_API) else {
        return;
    };
    let url = api.base_url();
    match http.get(url.clone()).send().await {
        Ok(response) => r.pass(
            names::PRIVATE_API,
            format!(
                "{url} answered HTTP {} (any answer counts: it is reachable{})",
                response.status().as_u16(),
                if with_token {
                    "; the real call follows"
                } else {
                    "; a real call needs --token"
                }
            ),
        ),
        Err(e) => r.fail(
            names::PRIVATE_API,
            format!("{url} did not answer: {}", describe_reqwest(&e)),
            "check API_BASE_URL and that the private API is running (cargo run -p private-api)"
                .to_owned(),
        ),
    }
}

/// Connects to Redis (authenticating when the URL has credentials), then writes, reads
/// and deletes one key under the prefix, as the server will.
async fn check_shared_cache<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    shared: &SharedCacheSettings,
) {
    let store = match shared
        .store_config(&settings.client_id, &settings.client_secret)
        .and_then(RedisTokenStore::new)
    {
        Ok(store) => store,
        Err(e) => {
            r.fail(
                names::SHARED_CACHE,
                format!("cannot set up the Redis client: {e}"),
                "fix TOKEN_CACHE_REDIS_URL".to_owned(),
            );
            return;
        }
    };
    let prefix = &shared.key_prefix;
    match store.check().await {
        Ok(()) => r.pass(
            names::SHARED_CACHE,
            format!(
                "Redis answers: connected, and a SET, GET and DEL of a key under {prefix:?} round-tripped"
            ),
        ),
        Err(error) => {
            let fix = match &error {
                StoreError::Timeout(_) => format!(
                    "Redis did not answer in time: check that it is not overloaded or paused, and that TOKEN_CACHE_REDIS_TIMEOUT_MS ({} ms) allows for the network between here and Redis",
                    shared.timeout.as_millis()
                ),
                StoreError::Protocol(_) | StoreError::Corrupt => format!(
                    "check that TOKEN_CACHE_REDIS_URL names a Redis server, and that its user may SET, GET and DEL keys under {prefix:?} (TOKEN_CACHE_KEY_PREFIX)"
                ),
                _ => "check TOKEN_CACHE_REDIS_URL (host, port, user and password; rediss:// for TLS) and that Redis is running and reachable from here. The server still serves without it, one exchange per user per replica".to_owned(),
            };
            r.fail(names::SHARED_CACHE, format!("Redis: {error}"), fix);
        }
    }
}

async fn check_token<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    verifier: Option<JwksVerifier>,
    token: &str,
) {
    let Some(verifier) = verifier else {
        r.skip(
            names::TOKEN,
            "skipped: the signing keys are not available (see jwks above)".to_owned(),
        );
        return;
    };
    let principal = match verifier.verify(token).await {
        Ok(principal) => principal,
        Err(e) => {
            let claims = unverified_claims(token);
            let fix = token_fix(e.kind(), claims.as_ref(), settings);
            r.fail(
                names::TOKEN,
                format!("the token was refused ({}): {}", e.kind(), e.description()),
                fix,
            );
            r.skip(
                names::EXCHANGE,
                "skipped: the token did not verify".to_owned(),
            );
            return;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let scopes: Vec<&str> = principal.scopes.iter().map(String::as_str).collect();
    let mut detail = format!(
        "verified: sub={:?} aud={:?} azp={:?} client_id={:?} scopes=[{}]",
        principal.sub,
        settings.audience,
        principal.azp.as_deref().unwrap_or("-"),
        principal.client_id,
        scopes.join(" "),
    );
    if !principal.permissions.is_empty() {
        let permissions: Vec<&str> = principal.permissions.iter().map(String::as_str).collect();
        detail.push_str(&format!(" permissions=[{}]", permissions.join(" ")));
    }
    detail.push_str(&format!(
        " expires in {}",
        human_duration(principal.expires_at.saturating_sub(now))
    ));
    if !principal.delegation_chain.is_empty() {
        let chain: Vec<&str> = principal
            .delegation_chain
            .iter()
            .map(|a| a.sub.as_str())
            .collect();
        detail.push_str(&format!(" act=[{}]", chain.join(" > ")));
    }
    r.pass(names::TOKEN, detail);
    let scopes = crate::quickstart::Quickstart::scopes();
    let missing: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|scope| !principal.has_scope(scope))
        .collect();
    if !missing.is_empty() {
        let mut detail = format!(
            "the token's scope lacks {}: the tools that need it will answer 403 insufficient_scope",
            missing.join(" ")
        );
        let held: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|scope| principal.permissions.contains(*scope))
            .collect();
        if !held.is_empty() {
            detail.push_str(&format!(
                " (the user holds {} in `permissions`, which grants no tool: the client did not request it, or the user did not consent)",
                held.join(" ")
            ));
        }
        r.warn(
            names::TOKEN_SCOPES,
            detail,
            "have the MCP client request these scopes for the MCP server's API and the user consent to them at sign-in; with RBAC on, the user's role must also carry them".to_owned(),
        );
    }

    let Some(api_settings) = settings.api(DEFAULT_API) else {
        return;
    };
    let exchange = match settings.exchange_client() {
        Ok(exchange) => exchange,
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("cannot set up the exchange: {e}"),
                "check AUTH0_DOMAIN".to_owned(),
            );
            return;
        }
    };
    let request = match ExchangeRequest::new(token, api_settings.audience()) {
        Ok(request) => request.with_scope(api_settings.scope()),
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("the exchange request is invalid: {e}"),
                advice::exchange_hint(&e, api_settings),
            );
            return;
        }
    };
    let exchanged = match exchange.exchange(&request).await {
        Ok(exchanged) => exchanged,
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("Auth0 refused: {e}"),
                advice::exchange_hint(&e, api_settings),
            );
            r.skip(
                names::API_CALL,
                "skipped: there is no exchanged token".to_owned(),
            );
            return;
        }
    };
    let granted = exchanged
        .scope
        .clone()
        .unwrap_or_else(|| api_settings.scope().to_owned());
    r.pass(
        names::EXCHANGE,
        format!(
            "Auth0 issued a token for {:?} with scope {:?}, expiring in {}",
            api_settings.audience(),
            granted,
            human_duration(exchanged.expires_in.as_secs()),
        ),
    );
    if granted != api_settings.scope() {
        r.warn(
            names::EXCHANGE,
            format!(
                "the granted scope {granted:?} differs from MCP_AUTH0_EXCHANGE_SCOPE {:?}",
                api_settings.scope()
            ),
            "the exchanged token's scope holds only what the client grant allows and the user's roles carry: give the user a role carrying these scopes on the private API, and check the client grant's scopes".to_owned(),
        );
    }

    let api = match settings.api_client(api_settings) {
        Ok(api) => api,
        Err(e) => {
            r.fail(
                names::API_CALL,
                format!("cannot set up the private API client: {e}"),
                "check API_BASE_URL".to_owned(),
            );
            return;
        }
    };
    match api.private_scope(exchanged.access_token.secret()).await {
        Ok(answer) => r.pass(
            names::API_CALL,
            format!(
                "{} answered: sub={:?} scopes=[{}] actor={:?}",
                api.endpoint(),
                answer.sub,
                answer.scopes.join(" "),
                answer.actor.as_ref().map(|a| a.sub.as_str()).unwrap_or("-"),
            ),
        ),
        Err(e) => {
            let fix = api_fix(&e);
            r.fail(
                names::API_CALL,
                format!("{} refused: {e}", api.endpoint()),
                fix,
            );
        }
    }
}

fn api_fix(error: &ApiError) -> String {
    // The tool's advice is written for its user; the same text is the fix here.
    advice::explain_api(error, DEFAULT_API)
}

/// What to change for a token the server refuses.
fn token_fix(kind: &str, claims: Option<&Value>, settings: &Settings) -> String {
    let claim = |name: &str| -> String {
        match claims.and_then(|c| c.get(name)) {
            Some(Value::String(s)) => format!("{s:?}"),
            Some(other) => other.to_string(),
            None => "(none)".to_owned(),
        }
    };
    match kind {
        "wrong_audience" => {
            let aud = claim("aud");
            let trailing = claims
                .and_then(|c| c.get("aud"))
                .map(|aud| match aud {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                })
                .unwrap_or_default()
                .iter()
                .any(|a| a.trim_end_matches('/') == settings.audience.trim_end_matches('/'));
            if trailing {
                format!(
                    "the token's aud is {aud} and AUTH0_AUDIENCE is {:?}: they differ by the trailing slash. Set AUTH0_AUDIENCE to exactly the API identifier in Auth0",
                    settings.audience
                )
            } else {
                format!(
                    "the token's aud is {aud}, not AUTH0_AUDIENCE {:?}: the MCP client must ask for a token for this server's API (audience={:?}, or resource= with the Resource Parameter Compatibility Profile on)",
                    settings.audience, settings.audience
                )
            }
        }
        "wrong_issuer" => format!(
            "the token's iss is {}, but AUTH0_DOMAIN gives {:?}: use the domain the MCP client signs in through",
            claim("iss"),
            settings.issuer.as_str()
        ),
        "expired" | "not_yet_valid" => {
            "get a fresh token (and check this machine's clock)".to_owned()
        }
        "unknown_kid" | "bad_signature" | "key_mismatch" => {
            "the token was not signed by this tenant's keys: check that it comes from the tenant in AUTH0_DOMAIN".to_owned()
        }
        "unsupported_alg" => {
            "the MCP server's API in Auth0 must sign with RS256".to_owned()
        }
        "malformed" | "empty" | "too_large" => {
            "pass the access token itself (a JWT: three base64url parts separated by dots), not an ID token or an opaque token; an opaque token means the client did not ask for this server's API as audience".to_owned()
        }
        "missing_claim" | "invalid_claim" | "missing_client_id" | "invalid_act" => {
            "the token lacks a claim every Auth0 access token has: check that it is an access token for this server's API".to_owned()
        }
        "jwks_unavailable" => "the tenant's keys could not be fetched: check the network".to_owned(),
        _ => "check that the token is an access token for this server's API".to_owned(),
    }
}

/// The claims of a JWT, unverified, to explain a refusal. Never printed whole.
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    if payload.len() > 64 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..=119 => format!("{secs} s"),
        120..=7199 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// `mcp-server check`: the whole command. Returns the process exit code: 0 when every
/// check passed, 1 when one failed, 2 when the configuration or the token could not be
/// read at all.
pub async fn command(args: &CheckArgs, out: &mut impl Write) -> u8 {
    let server_args = args.server.clone().with_named_apis(std::env::vars());
    let settings = match Settings::from_args(&server_args) {
        Ok(settings) => settings,
        Err(e) => {
            for problem in &e.problems {
                let _ = writeln!(out, "✗ {}: {problem}", names::CONFIGURATION);
            }
            let _ = writeln!(
                out,
                "    fix: set these in the environment or in a .env file (see `mcp-server check --help`)"
            );
            return 2;
        }
    };
    let token = match read_token(
        args.token.as_ref(),
        args.token_file.as_deref(),
        std::io::stdin(),
    ) {
        Ok(token) => token,
        Err(e) => {
            let _ = writeln!(out, "✗ {}: {e}", names::TOKEN);
            return 2;
        }
    };
    let _ = writeln!(
        out,
        "Checking obo-mcp for {} (tenant {})",
        settings.mcp_url(),
        settings.issuer.as_str()
    );
    let report = run(&settings, token.as_deref(), out).await;
    let failed = report
        .lines
        .iter()
        .filter(|l| l.outcome == Outcome::Fail)
        .count();
    let _ = if failed == 0 {
        writeln!(out, "All checks passed.")
    } else {
        writeln!(
            out,
            "{failed} check{} failed.",
            if failed == 1 { "" } else { "s" }
        )
    };
    report.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_trimmed_without_a_bearer_prefix_and_never_shown_in_debug() {
        let arg = SecretArg::from_str("Bearer abc.def.ghi\n").unwrap();
        assert!(!format!("{arg:?}").contains("abc"));
        assert_eq!(
            read_token(Some(&arg), None, std::io::empty()).unwrap(),
            Some("abc.def.ghi".to_owned())
        );
        let dash = SecretArg::from_str("-").unwrap();
        assert_eq!(
            read_token(Some(&dash), None, &b"  x.y.z \n"[..]).unwrap(),
            Some("x.y.z".to_owned())
        );
        assert!(matches!(
            read_token(Some(&dash), None, &b"\n"[..]),
            Err(TokenInputError::Empty("stdin"))
        ));
        assert_eq!(read_token(None, None, std::io::empty()).unwrap(), None);
    }
}
