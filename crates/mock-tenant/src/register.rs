//! Dynamic Client Registration (RFC 7591) at `POST /oidc/register`, Auth0's path. Open,
//! like Auth0's: no initial access token. Every client registered here is a strict
//! third-party application, as at Auth0.
//!
//! | metadata | registered |
//! |---|---|
//! | `redirect_uris` | required, non-empty; each absolute, without fragment; `https`, `http` only to `localhost`, `127.0.0.1` or `[::1]`, or a private-use scheme (`vscode:`, `cursor:`; RFC 8252 §7.1) |
//! | `token_endpoint_auth_method` | `none`, `client_secret_post` (the default, as at Auth0) or `client_secret_basic` |
//! | `grant_types` | `authorization_code` (the default), optionally `refresh_token`; nothing else |
//! | `response_types` | `code` (the default); nothing else |
//! | `client_name`, `scope`, `application_type` (`web` or `native`) | as sent |
//!
//! Anything wrong with `redirect_uris` is 400 `invalid_redirect_uri`, anything else 400
//! `invalid_client_metadata` (RFC 7591 §3.2.2). Other fields are ignored and not echoed
//! (RFC 7591 §2). A success is 201 with the registered metadata, `client_id`,
//! `client_id_issued_at`, and for a confidential client `client_secret` and
//! `client_secret_expires_at: 0` (the secret never expires), with `Cache-Control:
//! no-store`.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use url::Url;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::authorize::is_loopback;
use crate::config::{random_bytes, random_secret};
use crate::oauth::{Refusal, dedup};
use crate::signin::{ClientAuthMethod, RegisteredClient};
use crate::state::{State, lock};
use crate::token::now;

/// The largest registration request read, in bytes; a larger one is refused with 413.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// The grants a registered client may have: what `/authorize` and the token endpoint
/// implement for it.
const GRANT_TYPES: [&str; 2] = ["authorization_code", "refresh_token"];

/// Schemes that are never a place to send a browser back to with a code.
const FORBIDDEN_SCHEMES: [&str; 6] = ["javascript", "data", "vbscript", "file", "blob", "about"];

/// The wiremock responder for `POST /oidc/register`.
pub(crate) struct Register(pub(crate) Arc<State>);

impl Respond for Register {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        register(&self.0, request).unwrap_or_else(Refusal::into_response)
    }
}

fn register(state: &State, request: &Request) -> Result<ResponseTemplate, Refusal> {
    let metadata = read_body(request)?;
    let registration = Registration::parse(&metadata)?;
    let client_id = format!("tpc_{}", URL_SAFE_NO_PAD.encode(random_bytes::<24>()));
    let client_secret = (registration.auth_method != ClientAuthMethod::None).then(random_secret);

    let mut echoed = registration.echo();
    echoed.insert("client_id".into(), client_id.clone().into());
    echoed.insert("client_id_issued_at".into(), now().into());
    if client_secret.is_some() {
        echoed.insert("client_secret_expires_at".into(), 0.into());
    }
    let client = RegisteredClient {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        auth_method: registration.auth_method,
        redirect_uris: registration.redirect_uris,
        grant_types: registration.grant_types,
        client_name: registration
            .client_name
            .unwrap_or_else(|| client_id.clone()),
    };
    {
        let mut signin = lock(&state.signin);
        let max = state.config.max_clients;
        if signin.clients.len() >= max {
            return Err(invalid_metadata(format!(
                "This tenant keeps at most {max} registered clients"
            )));
        }
        signin.clients.insert(client_id, client);
    }

    let mut body = echoed;
    if let Some(secret) = client_secret {
        body.insert("client_secret".into(), secret.into());
    }
    Ok(ResponseTemplate::new(201)
        .insert_header("cache-control", "no-store")
        .set_body_json(Value::Object(body)))
}

/// The request's JSON object (RFC 7591 §3.1), read only up to [`MAX_BODY`].
fn read_body(request: &Request) -> Result<Map<String, Value>, Refusal> {
    if request.body.len() > MAX_BODY {
        return Err(Refusal::new(
            413,
            "invalid_client_metadata",
            format!("The registration request may be at most {MAX_BODY} bytes"),
        ));
    }
    let is_json = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
    if !is_json {
        return Err(invalid_metadata("Content-Type must be application/json"));
    }
    match serde_json::from_slice(&request.body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(invalid_metadata("The request body must be a JSON object")),
    }
}

/// The metadata the tenant registers, checked and with Auth0's defaults filled in.
struct Registration {
    redirect_uris: Vec<String>,
    auth_method: ClientAuthMethod,
    grant_types: Vec<String>,
    response_types: Vec<String>,
    client_name: Option<String>,
    scope: Option<String>,
    application_type: Option<String>,
}

impl Registration {
    fn parse(metadata: &Map<String, Value>) -> Result<Self, Refusal> {
        let redirect_uris = strings(metadata, "redirect_uris")
            .map_err(|description| Refusal::new(400, "invalid_redirect_uri", description))?
            .filter(|uris| !uris.is_empty())
            .ok_or_else(|| {
                Refusal::new(400, "invalid_redirect_uri", "redirect_uris is required")
            })?;
        for uri in &redirect_uris {
            check_redirect_uri(uri)
                .map_err(|description| Refusal::new(400, "invalid_redirect_uri", description))?;
        }

        let auth_method = match string(metadata, "token_endpoint_auth_method")? {
            None => ClientAuthMethod::ClientSecretPost,
            Some(name) => ClientAuthMethod::parse(&name).ok_or_else(|| {
                invalid_metadata(format!("Unsupported token_endpoint_auth_method: {name}"))
            })?,
        };

        let grant_types = strings(metadata, "grant_types")
            .map_err(invalid_metadata)?
            .unwrap_or_else(|| vec!["authorization_code".into()]);
        if let Some(other) = grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(invalid_metadata(format!("Unsupported grant type: {other}")));
        }
        if !grant_types.iter().any(|g| g == "authorization_code") {
            return Err(invalid_metadata(
                "grant_types must include authorization_code",
            ));
        }

        let response_types = strings(metadata, "response_types")
            .map_err(invalid_metadata)?
            .unwrap_or_else(|| vec!["code".into()]);
        if response_types.is_empty() || response_types.iter().any(|r| r != "code") {
            return Err(invalid_metadata("response_types may only be [\"code\"]"));
        }

        let application_type = string(metadata, "application_type")?;
        if let Some(other) = application_type
            .as_deref()
            .filter(|t| !matches!(*t, "web" | "native"))
        {
            return Err(invalid_metadata(format!(
                "Unsupported application_type: {other}"
            )));
        }

        Ok(Self {
            redirect_uris,
            auth_method,
            grant_types: dedup(grant_types.iter().map(String::as_str)),
            response_types: dedup(response_types.iter().map(String::as_str)),
            client_name: string(metadata, "client_name")?.filter(|n| !n.trim().is_empty()),
            scope: string(metadata, "scope")?,
            application_type,
        })
    }

    /// The registered metadata as the response echoes it (RFC 7591 §3.2.1).
    fn echo(&self) -> Map<String, Value> {
        let mut echoed = Map::new();
        echoed.insert("redirect_uris".into(), self.redirect_uris.clone().into());
        echoed.insert(
            "token_endpoint_auth_method".into(),
            self.auth_method.as_str().into(),
        );
        echoed.insert("grant_types".into(), self.grant_types.clone().into());
        echoed.insert("response_types".into(), self.response_types.clone().into());
        for (name, value) in [
            ("client_name", &self.client_name),
            ("scope", &self.scope),
            ("application_type", &self.application_type),
        ] {
            if let Some(value) = value {
                echoed.insert(name.into(), value.clone().into());
            }
        }
        echoed
    }
}

/// A redirect URI a browser may be sent back to with a code (RFC 7591 §2, RFC 8252 §7,
/// RFC 6749 §3.1.2).
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("Not a valid absolute URL: {uri}"))?;
    if url.fragment().is_some() {
        return Err(format!("A redirect URI may not have a fragment: {uri}"));
    }
    if url.cannot_be_a_base() || FORBIDDEN_SCHEMES.contains(&url.scheme()) {
        return Err(format!("Not a redirect URI: {uri}"));
    }
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(format!(
            "Plain http is allowed only to localhost, 127.0.0.1 or [::1]: {uri}"
        ));
    }
    Ok(())
}

fn invalid_metadata(description: impl Into<String>) -> Refusal {
    Refusal::new(400, "invalid_client_metadata", description)
}

/// An optional string field; `null` counts as absent.
fn string(metadata: &Map<String, Value>, name: &str) -> Result<Option<String>, Refusal> {
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(invalid_metadata(format!("{name} must be a string"))),
    }
}

/// An optional array of strings; `null` counts as absent. The error is the description.
fn strings(metadata: &Map<String, Value>, name: &str) -> Result<Option<Vec<String>>, String> {
    let not_strings = || format!("{name} must be an array of strings");
    match metadata.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(values)) => values
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(not_strings))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(not_strings()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{MockTenant, TenantConfig};

    async fn post(tenant: &MockTenant, body: &Value) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}oidc/register", tenant.issuer()))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    fn stored(tenant: &MockTenant, client_id: &str) -> RegisteredClient {
        lock(&tenant.inner.state.signin).clients[client_id].clone()
    }

    #[tokio::test]
    async fn the_stored_client_is_the_one_the_response_describes() {
        let tenant = MockTenant::start(TenantConfig::default()).await;
        let answer = post(
            &tenant,
            &json!({
                "client_name": "Inspector",
                "redirect_uris": ["http://localhost:6274/oauth/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "client_secret_basic",
            }),
        )
        .await;
        let client_id = answer["client_id"].as_str().unwrap();
        let client = stored(&tenant, client_id);
        assert_eq!(client.client_id, client_id);
        assert_eq!(
            client.client_secret.as_deref(),
            answer["client_secret"].as_str()
        );
        assert_eq!(client.auth_method, ClientAuthMethod::ClientSecretBasic);
        assert_eq!(
            client.redirect_uris,
            ["http://localhost:6274/oauth/callback"]
        );
        assert_eq!(client.grant_types, ["authorization_code", "refresh_token"]);
        assert_eq!(client.client_name, "Inspector");
        assert!(!format!("{client:?}").contains(client.client_secret.as_deref().unwrap()));
    }

    #[tokio::test]
    async fn a_client_without_a_name_is_shown_by_its_id() {
        let tenant = MockTenant::start(TenantConfig::default()).await;
        let answer = post(
            &tenant,
            &json!({
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
            }),
        )
        .await;
        let client_id = answer["client_id"].as_str().unwrap();
        let client = stored(&tenant, client_id);
        assert_eq!(client.client_name, client_id);
        assert_eq!(client.client_secret, None);
        assert_eq!(client.auth_method, ClientAuthMethod::None);
        assert_eq!(client.grant_types, ["authorization_code"]);
    }
}
