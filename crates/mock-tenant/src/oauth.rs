//! What every endpoint of the tenant shares with OAuth 2.0 (RFC 6749): the error
//! response, reading form or JSON parameters, and client authentication.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::client_assertion::verify_client_assertion;
use crate::config::CLIENT_ASSERTION_TYPE;
use crate::signin::{ClientAuthMethod, RegisteredClient};
use crate::state::{State, lock};

/// An OAuth error response (RFC 6749 §5.2).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) error: &'static str,
    pub(crate) description: String,
    pub(crate) basic_challenge: bool,
}

impl Refusal {
    pub(crate) fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    pub(crate) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    pub(crate) fn invalid_client(basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(401, "invalid_client", "Client authentication failed")
        }
    }

    pub(crate) fn access_denied(description: impl Into<String>) -> Self {
        Self::new(403, "access_denied", description)
    }

    pub(crate) fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", description)
    }

    pub(crate) fn into_response(self) -> ResponseTemplate {
        let response = ResponseTemplate::new(self.status)
            .insert_header("cache-control", "no-store")
            .set_body_json(json!({"error": self.error, "error_description": self.description}));
        if self.basic_challenge {
            response.insert_header("www-authenticate", "Basic realm=\"mock-auth0\"")
        } else {
            response
        }
    }
}

/// A parameter's value; an empty value counts as absent, as at Auth0.
pub(crate) fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Option<&'a str> {
    params
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

pub(crate) fn missing(name: &str) -> Refusal {
    Refusal::invalid_request(format!("Missing required parameter: {name}"))
}

pub(crate) fn dedup<'a>(scopes: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in scopes {
        if !out.iter().any(|s| s == scope) {
            out.push(scope.to_string());
        }
    }
    out
}

/// The request's parameters: a form body (RFC 6749 §4.1.3), or a JSON object of
/// strings, which Auth0 also accepts. A repeated parameter is refused (RFC 6749 §3.2).
pub(crate) fn parse_params(request: &Request) -> Result<HashMap<String, String>, Refusal> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let pairs: Vec<(String, String)> =
        if content_type.starts_with("application/x-www-form-urlencoded") {
            url::form_urlencoded::parse(&request.body)
                .into_owned()
                .collect()
        } else if content_type.starts_with("application/json") {
            let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&request.body) else {
                return Err(Refusal::invalid_request(
                    "The request body must be a JSON object",
                ));
            };
            let mut pairs = Vec::with_capacity(object.len());
            for (name, value) in object {
                let Value::String(value) = value else {
                    return Err(Refusal::invalid_request(format!(
                        "Parameter {name} must be a string"
                    )));
                };
                pairs.push((name, value));
            }
            pairs
        } else {
            return Err(Refusal::invalid_request(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ));
        };
    let mut params = HashMap::with_capacity(pairs.len());
    for (name, value) in pairs {
        if params.contains_key(&name) {
            return Err(Refusal::invalid_request(format!(
                "Duplicate parameter: {name}"
            )));
        }
        params.insert(name, value);
    }
    Ok(params)
}

/// The credentials a request presents (RFC 6749 §2.3.1): HTTP Basic, or `client_id`
/// (and `client_secret`, if any) in the body.
struct Presented {
    client_id: String,
    secret: Option<String>,
    /// Whether they came in an `Authorization: Basic` header: a refusal then carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    basic: bool,
}

/// Reads the client's credentials. Basic and a body secret together, or a body
/// `client_id` naming another client than Basic does, is `invalid_request`; no client id
/// at all is `invalid_client`.
fn presented_credentials(
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<Presented, Refusal> {
    match request.headers.get("authorization") {
        Some(value) => {
            let (client_id, secret) = value
                .to_str()
                .ok()
                .and_then(decode_basic)
                .ok_or_else(|| Refusal::invalid_client(true))?;
            if params.contains_key("client_secret") {
                return Err(Refusal::invalid_request(
                    "Only one client authentication method may be used",
                ));
            }
            if params
                .get("client_id")
                .is_some_and(|body_id| *body_id != client_id)
            {
                return Err(Refusal::invalid_request(
                    "client_id in the body does not match the authenticated client",
                ));
            }
            Ok(Presented {
                client_id,
                secret: Some(secret),
                basic: true,
            })
        }
        None => {
            let client_id = param(params, "client_id")
                .ok_or_else(|| Refusal::invalid_client(false))?
                .to_owned();
            Ok(Presented {
                client_id,
                secret: param(params, "client_secret").map(str::to_owned),
                basic: false,
            })
        }
    }
}

/// Client authentication of the MCP server's own client.
///
/// With a `client_assertion` (or a `client_assertion_type`): Private Key JWT (RFC 7523
/// §2.2), checked in [`crate::client_assertion`]; a secret sent with it is 400
/// `invalid_request`. Otherwise `client_secret_basic` (RFC 6749 §2.3.1: id and secret
/// each form-urlencoded, joined by `:`, then base64) or `client_secret_post`, refused
/// with 401 `invalid_client` while the client has Private Key JWT credentials.
pub(crate) fn authenticate(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<(), Refusal> {
    let assertion = param(params, "client_assertion");
    let assertion_type = param(params, "client_assertion_type");
    if assertion.is_none() && assertion_type.is_none() {
        return authenticate_with_secret(state, request, params);
    }
    let result = authenticate_with_assertion(state, request, params, assertion, assertion_type);
    if result.is_err() && assertion.is_some() {
        state.assertion_refusals.fetch_add(1, Ordering::SeqCst);
    }
    result
}

fn authenticate_with_assertion(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
    assertion: Option<&str>,
    assertion_type: Option<&str>,
) -> Result<(), Refusal> {
    refuse_secret_with_assertion(request, params)?;
    let assertion = assertion.ok_or_else(|| missing("client_assertion"))?;
    match assertion_type {
        None => Err(missing("client_assertion_type")),
        Some(CLIENT_ASSERTION_TYPE) => {
            verify_client_assertion(state, assertion, param(params, "client_id"))
        }
        Some(_) => Err(Refusal::invalid_request(format!(
            "Unsupported client_assertion_type: it must be {CLIENT_ASSERTION_TYPE}"
        ))),
    }
}

/// 400 `invalid_request` when a request carrying a client assertion also carries a
/// client secret (Basic, or `client_secret`): RFC 6749 §2.3 allows one method only.
fn refuse_secret_with_assertion(
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<(), Refusal> {
    if request.headers.contains_key("authorization") || params.contains_key("client_secret") {
        Err(Refusal::invalid_request(
            "Only one client authentication method may be used: send a client_assertion or a client secret, not both",
        ))
    } else {
        Ok(())
    }
}

fn authenticate_with_secret(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<(), Refusal> {
    let config = &state.config;
    let presented = presented_credentials(request, params)?;
    if presented.client_id != config.client_id {
        return Err(Refusal::invalid_client(presented.basic));
    }
    if !lock(&state.client_credentials).is_empty() {
        return Err(Refusal {
            basic_challenge: presented.basic,
            ..Refusal::new(
                401,
                "invalid_client",
                "The client authenticates with private_key_jwt: send a client_assertion signed with its private key, not a client secret",
            )
        });
    }
    if presented.secret.as_deref() == Some(config.client_secret.as_str()) {
        Ok(())
    } else {
        Err(Refusal::invalid_client(presented.basic))
    }
}

/// Client authentication of a client registered through DCR, by the method it
/// registered: `none` presents its id in the body and nothing else (a secret or a Basic
/// header is refused), `client_secret_post` its id and secret in the body,
/// `client_secret_basic` both in HTTP Basic. An unknown client is `invalid_client`, as
/// is any other way of authenticating. A refusal to a Basic client, or after a Basic
/// header, carries `WWW-Authenticate: Basic`.
pub(crate) fn authenticate_registered(
    state: &State,
    request: &Request,
    params: &HashMap<String, String>,
) -> Result<RegisteredClient, Refusal> {
    if params.contains_key("client_assertion") || params.contains_key("client_assertion_type") {
        refuse_secret_with_assertion(request, params)?;
        return Err(Refusal::new(
            401,
            "invalid_client",
            "Clients registered through Dynamic Client Registration cannot use private_key_jwt",
        ));
    }
    let presented = presented_credentials(request, params)?;
    let Some(client) = lock(&state.signin)
        .clients
        .get(&presented.client_id)
        .cloned()
    else {
        return Err(Refusal::invalid_client(presented.basic));
    };
    let secret_matches = || presented.secret.is_some() && presented.secret == client.client_secret;
    let accepted = match client.auth_method {
        ClientAuthMethod::None => !presented.basic && presented.secret.is_none(),
        ClientAuthMethod::ClientSecretPost => !presented.basic && secret_matches(),
        ClientAuthMethod::ClientSecretBasic => presented.basic && secret_matches(),
    };
    if accepted {
        Ok(client)
    } else {
        Err(Refusal::invalid_client(
            presented.basic || client.auth_method == ClientAuthMethod::ClientSecretBasic,
        ))
    }
}

/// 400 `unauthorized_client` unless the client registered `grant_type` (RFC 6749 §5.2).
pub(crate) fn require_grant_type(
    client: &RegisteredClient,
    grant_type: &str,
) -> Result<(), Refusal> {
    if client.grant_types.iter().any(|g| g == grant_type) {
        Ok(())
    } else {
        Err(Refusal::new(
            400,
            "unauthorized_client",
            format!("The client is not authorized to use the {grant_type} grant"),
        ))
    }
}

/// `Basic base64(form(id) ":" form(secret))` → (id, secret).
pub(crate) fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, credentials) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id)?, form_decode(secret)?))
}

/// Strict `application/x-www-form-urlencoded` decoding of one value: `+` is a space,
/// `%XX` a byte; a stray `%` or invalid UTF-8 is an error rather than guessed at.
pub(crate) fn form_decode(encoded: &str) -> Option<String> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_follows_rfc_6749_appendix_b() {
        assert_eq!(form_decode("a+b%3A%25c").as_deref(), Some("a b:%c"));
        assert_eq!(
            form_decode("plain-id_1.x~").as_deref(),
            Some("plain-id_1.x~")
        );
        assert_eq!(form_decode("bad%2"), None);
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("%ff"), None);
        assert_eq!(form_decode("%"), None);
    }

    #[test]
    fn decode_basic_splits_at_the_first_colon_and_form_decodes_both_halves() {
        let header = format!("Basic {}", STANDARD.encode("my%3Aid:s%3Acret+x"));
        assert_eq!(
            decode_basic(&header),
            Some(("my:id".into(), "s:cret x".into()))
        );
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic !!!"), None);
        assert_eq!(decode_basic("Basic"), None);
        assert_eq!(
            decode_basic(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
    }
}
