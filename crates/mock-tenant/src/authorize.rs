//! `GET /authorize`: the authorization endpoint of the code flow with PKCE (RFC 6749
//! §4.1.1, RFC 7636), for clients registered through Dynamic Client Registration.
//!
//! Checks run in this order; the first failure answers. Until the client and its
//! redirect URI are known, nothing is redirected (RFC 6749 §4.1.2.1, §10.6): an unknown
//! `client_id` or `redirect_uri` gets a 400 HTML page. After that every refusal is a
//! `302` to the redirect URI with `error`, `error_description`, `state` (when sent) and
//! `iss` = the issuer (RFC 9207), so the client can show it.
//!
//! | check | refusal |
//! |---|---|
//! | `client_id` sent once, and registered | 400 page |
//! | `redirect_uri` sent once, and one of the client's (a loopback URI: any port, RFC 8252 §7.3) | 400 page |
//! | no parameter repeated (RFC 6749 §3.1) | `invalid_request` |
//! | `response_type` sent | `invalid_request` |
//! | `response_type` is `code` | `unsupported_response_type` |
//! | `code_challenge` sent, `code_challenge_method` is `S256` (RFC 7636 §4.4.1) | `invalid_request` |
//! | `code_challenge` is 43–128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.2) | `invalid_request` |
//! | `resource`, if sent, is an absolute URI without a fragment (RFC 8707 §2) | `invalid_target` |
//! | `audience`, else `resource`, names one of the tenant's APIs | `invalid_target` |
//! | the client has permissions on that API | `access_denied` |
//!
//! A parameter sent empty counts as not sent (RFC 6749 §3.1); unknown ones are ignored.
//! With [`TenantConfig::resource_parameter_profile`] off, `resource` is ignored (not
//! even checked), and a request without `audience` is for no API: its code yields an
//! opaque access token, as Auth0's does.
//! Without `audience` and `resource` the token is for the MCP API, the tenant's default
//! audience. An API identifier matches a value that differs from it only by one trailing
//! slash, since clients send `https://h/` for a path-less `https://h`.
//!
//! The granted scopes are the requested ones, in order and without repeats, that the
//! client may have on the API: a DCR client is a strict third-party client, so it gets
//! the MCP API's third-party default permissions ([`TenantConfig::mcp_api_scopes`]) and
//! `offline_access` if it registered the `refresh_token` grant; never `openid`,
//! `profile` or `email`; and nothing on the private API or the tenant's other APIs
//! ([`TenantConfig::extra_apis`]). Scopes it may not have are
//! dropped, not refused (RFC 6749 §3.3).
//!
//! A valid request waits for the user's decision ([`crate::decision`]) on the consent
//! page ([`crate::consent`]), or, while the tenant auto-approves, gets a code for the
//! first user at once.
//!
//! [`TenantConfig::mcp_api_scopes`]: crate::TenantConfig::mcp_api_scopes
//! [`TenantConfig::extra_apis`]: crate::TenantConfig::extra_apis

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::{Host, Url};
use wiremock::{Request, Respond, ResponseTemplate};

use crate::access_token::NO_API;
use crate::config::{TenantConfig, random_bytes};
use crate::consent::ConsentPage;
use crate::decision::issue_code;
use crate::html::error_page;
use crate::oauth::dedup;
use crate::signin::{
    MAX_PENDING, PENDING_LIFETIME, PendingAuthorization, RegisteredClient, SignIn,
};
use crate::state::{State, lock};

#[cfg(test)]
mod tests;

/// The wiremock responder for `GET /authorize`.
pub(crate) struct Authorize(pub(crate) Arc<State>);

impl Respond for Authorize {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        authorize(&self.0, &request.url)
    }
}

/// Where an authorization response goes (RFC 6749 §4.1.2): the checked redirect URI,
/// with the request's `state` and the issuer (RFC 9207) added to its query.
pub(crate) struct Reply<'a> {
    pub(crate) redirect_uri: Url,
    pub(crate) state: Option<&'a str>,
    pub(crate) issuer: &'a str,
}

impl Reply<'_> {
    pub(crate) fn code(self, code: &str) -> ResponseTemplate {
        self.send(&[("code", code)])
    }

    pub(crate) fn error(self, error: &str, description: &str) -> ResponseTemplate {
        self.send(&[("error", error), ("error_description", description)])
    }

    fn send(mut self, params: &[(&str, &str)]) -> ResponseTemplate {
        {
            // Appends to a query the client registered, as RFC 6749 §3.1.2 requires.
            let mut query = self.redirect_uri.query_pairs_mut();
            for (name, value) in params {
                query.append_pair(name, value);
            }
            if let Some(state) = self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer);
        }
        ResponseTemplate::new(302)
            .insert_header("location", self.redirect_uri.as_str())
            .insert_header("cache-control", "no-store")
            .insert_header("referrer-policy", "no-referrer")
    }
}

/// The query's parameters, those sent empty left out (RFC 6749 §3.1).
struct Query {
    params: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Query {
    fn parse(url: &Url) -> Self {
        let mut params = HashMap::new();
        let mut repeated = Vec::new();
        for (name, value) in url.query_pairs() {
            if value.is_empty() {
                continue;
            }
            if params.contains_key(name.as_ref()) {
                if !repeated.iter().any(|r| r == &name) {
                    repeated.push(name.into_owned());
                }
            } else {
                params.insert(name.into_owned(), value.into_owned());
            }
        }
        Self { params, repeated }
    }

    /// The value of a parameter sent exactly once.
    fn once(&self, name: &str) -> Option<&str> {
        if self.repeated.iter().any(|r| r == name) {
            return None;
        }
        self.params.get(name).map(String::as_str)
    }
}

/// A refusal redirected to the client (RFC 6749 §4.1.2.1).
struct Refused {
    error: &'static str,
    description: String,
}

fn refused(error: &'static str, description: impl Into<String>) -> Refused {
    Refused {
        error,
        description: description.into(),
    }
}

/// What a valid request asks for.
struct Checked<'c> {
    code_challenge: String,
    audience: &'c str,
    scopes: Vec<String>,
}

fn authorize(state: &State, url: &Url) -> ResponseTemplate {
    let query = Query::parse(url);
    let (client, redirect_uri, redirect) = match client_and_redirect(state, &query) {
        Ok(found) => found,
        Err(message) => return error_page(400, message),
    };
    let reply = Reply {
        redirect_uri: redirect,
        state: query.once("state"),
        issuer: &state.issuer,
    };
    let extra_apis = state.extra_audiences();
    let checked = match check(&state.config, &extra_apis, &client, &query) {
        Ok(checked) => checked,
        Err(Refused { error, description }) => return reply.error(error, &description),
    };
    let pending = PendingAuthorization {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        state: reply.state.map(str::to_string),
        code_challenge: checked.code_challenge,
        audience: checked.audience.to_string(),
        scopes: checked.scopes,
        csrf: URL_SAFE_NO_PAD.encode(random_bytes::<32>()),
        created: Instant::now(),
    };

    if state.auto_approve.load(Ordering::SeqCst) {
        let Some(user) = state.config.users.first() else {
            return error_page(500, "The tenant has no users to approve as");
        };
        return reply.code(&issue_code(state, &pending, &user.sub));
    }

    let request_id = URL_SAFE_NO_PAD.encode(random_bytes::<16>());
    let page = ConsentPage {
        client_name: &client.client_name,
        client_id: &client.client_id,
        redirect_uri,
        redirect_url: &reply.redirect_uri,
        audience: &pending.audience,
        scopes: &pending.scopes,
        users: &state.config.users,
        request_id: &request_id,
        csrf: &pending.csrf,
    }
    .render();
    store_pending(&mut lock(&state.signin), request_id, pending);
    page
}

/// The registered client and the redirect URI as sent and parsed, or why the request
/// cannot be answered with a redirect.
fn client_and_redirect<'q>(
    state: &State,
    query: &'q Query,
) -> Result<(RegisteredClient, &'q str, Url), &'static str> {
    let client_id = query
        .once("client_id")
        .ok_or("The request must name its client once: client_id is missing or repeated.")?;
    let client = lock(&state.signin)
        .clients
        .get(client_id)
        .cloned()
        .ok_or("Unknown client: this client_id is not registered with the tenant.")?;
    let redirect_uri = query
        .once("redirect_uri")
        .ok_or("The request must name its redirect_uri once: it is missing or repeated.")?;
    if !client
        .redirect_uris
        .iter()
        .any(|registered| redirect_matches(registered, redirect_uri))
    {
        return Err("This redirect_uri is not registered for the client.");
    }
    let parsed = Url::parse(redirect_uri).map_err(|_| "The redirect_uri is not a valid URL.")?;
    Ok((client, redirect_uri, parsed))
}

/// Exact string equality, except that a loopback URI matches with any port (RFC 8252
/// §7.3): native clients listen on whatever port is free when they sign in.
fn redirect_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    let (Ok(registered), Ok(requested)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    is_loopback(&registered)
        && registered.scheme() == requested.scheme()
        && registered.host() == requested.host()
        && registered.path() == requested.path()
        && registered.query() == requested.query()
        && registered.fragment() == requested.fragment()
        && registered.username() == requested.username()
        && registered.password() == requested.password()
}

/// A plain-`http` URL to `localhost`, `127.0.0.1` or `[::1]` (RFC 8252 §7.3).
pub(crate) fn is_loopback(url: &Url) -> bool {
    url.scheme() == "http"
        && match url.host() {
            Some(Host::Domain(domain)) => domain == "localhost",
            Some(Host::Ipv4(ip)) => ip == Ipv4Addr::LOCALHOST,
            Some(Host::Ipv6(ip)) => ip == Ipv6Addr::LOCALHOST,
            None => false,
        }
}

/// The checks after the redirect URI is known, in the order of the module's table.
fn check<'c>(
    config: &'c TenantConfig,
    extra_apis: &[String],
    client: &RegisteredClient,
    query: &Query,
) -> Result<Checked<'c>, Refused> {
    if let Some(name) = query.repeated.first() {
        return Err(refused(
            "invalid_request",
            format!("Parameter {name} must not be sent more than once"),
        ));
    }
    let param = |name: &str| query.once(name);

    match param("response_type") {
        None => {
            return Err(refused(
                "invalid_request",
                "Missing required parameter: response_type",
            ));
        }
        Some("code") => {}
        Some(other) => {
            return Err(refused(
                "unsupported_response_type",
                format!("Unsupported response_type: {other}"),
            ));
        }
    }

    let code_challenge = param("code_challenge").ok_or_else(|| {
        refused(
            "invalid_request",
            "PKCE is required: missing code_challenge",
        )
    })?;
    if param("code_challenge_method") != Some("S256") {
        return Err(refused(
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    if !is_code_challenge(code_challenge) {
        return Err(refused(
            "invalid_request",
            "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
        ));
    }

    // Without the Resource Parameter Compatibility Profile, Auth0 ignores `resource`.
    let resource = param("resource").filter(|_| config.resource_parameter_profile);
    if let Some(resource) = resource
        && !Url::parse(resource).is_ok_and(|url| url.fragment().is_none())
    {
        return Err(refused(
            "invalid_target",
            "resource must be an absolute URI without a fragment",
        ));
    }
    // Auth0's Resource Parameter Compatibility Profile: `audience` wins over `resource`.
    let audience = match param("audience").or(resource) {
        // No API asked for, and no default audience: Auth0 issues an opaque token.
        None if !config.resource_parameter_profile => NO_API,
        None => config.mcp_audience.as_str(),
        Some(requested) => {
            let known = [&config.mcp_audience, &config.api_audience]
                .into_iter()
                .find(|identifier| same_identifier(identifier, requested));
            match known {
                Some(identifier) => identifier.as_str(),
                // The other APIs, like the private API, grant third-party clients nothing.
                None if extra_apis.iter().any(|id| same_identifier(id, requested)) => {
                    return Err(no_permissions(client, requested));
                }
                None => {
                    return Err(refused(
                        "invalid_target",
                        format!("Service not found: {requested}"),
                    ));
                }
            }
        }
    };
    let permissions = if audience == NO_API {
        &[][..]
    } else {
        client_permissions(config, audience).ok_or_else(|| no_permissions(client, audience))?
    };

    let may_refresh = client.grant_types.iter().any(|g| g == "refresh_token");
    let requested = param("scope").unwrap_or_default().split(' ');
    let scopes = dedup(requested.filter(|scope| {
        permissions.iter().any(|p| p == scope) || (*scope == "offline_access" && may_refresh)
    }));
    Ok(Checked {
        code_challenge: code_challenge.to_string(),
        audience,
        scopes,
    })
}

fn no_permissions(client: &RegisteredClient, audience: &str) -> Refused {
    refused(
        "access_denied",
        format!(
            "Client {} has no permissions on {audience}",
            client.client_id
        ),
    )
}

/// RFC 7636 §4.2: `code-challenge = 43*128unreserved`.
fn is_code_challenge(challenge: &str) -> bool {
    (43..=128).contains(&challenge.len())
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Equal, or equal but for one trailing slash on either side.
fn same_identifier(identifier: &str, requested: &str) -> bool {
    identifier == requested
        || identifier.strip_suffix('/') == Some(requested)
        || requested.strip_suffix('/') == Some(identifier)
}

/// The scopes a DCR client may be granted on an API: the MCP API's third-party default
/// permissions; `None` for the private API, which grants third-party clients nothing.
fn client_permissions<'c>(config: &'c TenantConfig, audience: &str) -> Option<&'c [String]> {
    (audience == config.mcp_audience).then_some(config.mcp_api_scopes.as_slice())
}

/// Keeps the request until the user decides, dropping expired requests and, at the
/// bound, the oldest one.
fn store_pending(signin: &mut SignIn, request_id: String, pending: PendingAuthorization) {
    signin
        .pending
        .retain(|_, p| p.created.elapsed() < PENDING_LIFETIME);
    while signin.pending.len() >= MAX_PENDING {
        let oldest = signin
            .pending
            .iter()
            .min_by_key(|(_, p)| p.created)
            .map(|(id, _)| id.clone());
        match oldest {
            Some(id) => signin.pending.remove(&id),
            None => break,
        };
    }
    signin.pending.insert(request_id, pending);
}
