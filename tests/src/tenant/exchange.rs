//! `POST /oauth/token`: On-Behalf-Of token exchange (RFC 8693) checked the way Auth0
//! checks it.
//!
//! The checks, their order and each refusal are documented on the [`tenant`](super)
//! module.
//!
//! The granted scope is the requested scope (the whole client grant when none is
//! requested) narrowed by the user's RBAC permissions when a test set them with
//! [`MockTenant::set_user_api_scopes`](super::MockTenant::set_user_api_scopes); the
//! response carries `scope` only when it differs from the request.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

use super::fault::Fault;
use super::state::{State, lock};
use crate::token::now;

/// `grant_type` for RFC 8693 token exchange.
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The RFC 8693 token type of an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The most `act` levels a subject token may already carry minus one: Auth0 refuses a
/// subject token whose chain is this deep.
pub const MAX_ACT_DEPTH: usize = 4;

/// The wiremock responder for the token endpoint.
pub(crate) struct TokenEndpoint(pub(crate) std::sync::Arc<State>);

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.0;
        state.exchange_attempts.fetch_add(1, Ordering::SeqCst);
        let fault = lock(&state.faults).take();
        let delay = match fault {
            None => None,
            Some(Fault::Delay(delay)) => Some(delay),
            Some(fault) => return faulty(fault),
        };
        let response = match exchange(state, request) {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        };
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

/// An OAuth error response (RFC 6749 §5.2).
#[derive(Debug)]
struct Refusal {
    status: u16,
    error: &'static str,
    description: String,
    basic_challenge: bool,
}

impl Refusal {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", description)
    }

    fn invalid_client(basic: bool) -> Self {
        Self {
            basic_challenge: basic,
            ..Self::new(401, "invalid_client", "Client authentication failed")
        }
    }

    fn access_denied(description: impl Into<String>) -> Self {
        Self::new(403, "access_denied", description)
    }

    fn into_response(self) -> ResponseTemplate {
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

fn faulty(fault: Fault) -> ResponseTemplate {
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            let reset = now().saturating_add(i64::try_from(retry_after_secs).unwrap_or(i64::MAX));
            ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after_secs.to_string().as_str())
                .insert_header("x-ratelimit-limit", "2")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({
                    "error": "too_many_requests",
                    "error_description": "Global limit has been reached",
                }))
        }
        Fault::ServerError => ResponseTemplate::new(500).set_body_json(json!({
            "error": "server_error",
            "error_description": "Internal Server Error",
        })),
        Fault::NonJson => ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><body><h1>Sign in to the network</h1></body></html>",
            "text/html; charset=utf-8",
        ),
        Fault::MissingAccessToken => ResponseTemplate::new(200).set_body_json(json!({
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 3600,
        })),
        Fault::OAuthError {
            status,
            error,
            description,
        } => ResponseTemplate::new(status)
            .set_body_json(json!({"error": error, "error_description": description})),
        // Handled by the caller; answering normally here would skip the checks.
        Fault::Delay(_) => {
            Refusal::new(500, "server_error", "misrouted delay fault").into_response()
        }
    }
}

fn exchange(state: &State, request: &Request) -> Result<ResponseTemplate, Refusal> {
    let config = &state.config;
    let params = parse_params(request)?;
    let param = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };

    let grant_type = param("grant_type").ok_or_else(|| missing("grant_type"))?;
    if grant_type != TOKEN_EXCHANGE_GRANT {
        return Err(Refusal::new(
            400,
            "unsupported_grant_type",
            format!("Unsupported grant type: {grant_type}"),
        ));
    }

    authenticate(request, &params, &config.client_id, &config.client_secret)?;

    let subject_token = param("subject_token").ok_or_else(|| missing("subject_token"))?;
    let subject_token_type =
        param("subject_token_type").ok_or_else(|| missing("subject_token_type"))?;
    if subject_token_type != ACCESS_TOKEN_TYPE {
        return Err(Refusal::invalid_request(format!(
            "Unsupported subject_token_type: {subject_token_type}"
        )));
    }
    if let Some(requested) = param("requested_token_type")
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(Refusal::invalid_request(format!(
            "Unsupported requested_token_type: {requested}"
        )));
    }
    let audience = param("audience").ok_or_else(|| missing("audience"))?;
    if audience != config.api_audience {
        return Err(Refusal::access_denied(format!(
            "Service not enabled within domain: {audience}"
        )));
    }

    let subject = verify_subject(state, subject_token)?;
    let sub = subject
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if act_depth(&subject)? >= MAX_ACT_DEPTH {
        return Err(Refusal::invalid_request(format!(
            "Delegation chain (`act` claim) depth exceeds the maximum allowed limit of {MAX_ACT_DEPTH}"
        )));
    }

    let requested_scope = param("scope");
    let requested: Vec<String> = match requested_scope {
        Some(scope) => dedup(scope.split_whitespace()),
        None => config.allowed_scopes.clone(),
    };
    let not_granted: Vec<&str> = requested
        .iter()
        .filter(|scope| !config.allowed_scopes.contains(scope))
        .map(String::as_str)
        .collect();
    if !not_granted.is_empty() {
        return Err(Refusal::access_denied(format!(
            "Client has not been granted scopes: {}",
            not_granted.join(" ")
        )));
    }
    let granted: Vec<String> = match lock(&state.user_api_scopes).get(&sub) {
        Some(permitted) => requested
            .iter()
            .filter(|s| permitted.contains(s))
            .cloned()
            .collect(),
        None => requested.clone(),
    };
    let scope_differs = requested_scope.is_none() || granted != requested;

    let expires_in = state.expires_in.load(Ordering::SeqCst);
    let iat = now();
    let mut actor = Map::new();
    actor.insert("sub".into(), json!(config.client_id));
    if let Some(prior) = subject.get("act") {
        actor.insert("act".into(), prior.clone());
    }
    let mut claims = json!({
        "iss": state.issuer,
        "sub": sub,
        "aud": config.api_audience,
        "iat": iat,
        "exp": iat.saturating_add(i64::try_from(expires_in).unwrap_or(i64::MAX)),
        "azp": config.client_id,
        "client_id": config.client_id,
        "act": actor,
        "jti": state.next_jti(),
        "permissions": granted,
    });
    if !granted.is_empty()
        && let Some(map) = claims.as_object_mut()
    {
        map.insert("scope".into(), json!(granted.join(" ")));
    }
    let key = state.signing_key();
    let access_token = key.sign_with_header(&json!({"typ": "at+jwt"}), &claims);

    let mut body = json!({
        "access_token": access_token,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": expires_in,
    });
    if scope_differs && let Some(map) = body.as_object_mut() {
        map.insert("scope".into(), json!(granted.join(" ")));
    }
    state.record_exchange(&sub);
    state.record_issued(&access_token);
    Ok(ResponseTemplate::new(200)
        .insert_header("cache-control", "no-store")
        .insert_header("pragma", "no-cache")
        .set_body_json(body))
}

fn missing(name: &str) -> Refusal {
    Refusal::invalid_request(format!("Missing required parameter: {name}"))
}

fn dedup<'a>(scopes: impl Iterator<Item = &'a str>) -> Vec<String> {
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
fn parse_params(request: &Request) -> Result<HashMap<String, String>, Refusal> {
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

/// Client authentication: `client_secret_basic` (RFC 6749 §2.3.1: id and secret each
/// form-urlencoded, joined by `:`, then base64) or `client_secret_post`.
fn authenticate(
    request: &Request,
    params: &HashMap<String, String>,
    client_id: &str,
    client_secret: &str,
) -> Result<(), Refusal> {
    let authorization = request.headers.get("authorization");
    let (id, secret, basic) = match authorization {
        Some(value) => {
            let (id, secret) = value
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
                .is_some_and(|body_id| *body_id != id)
            {
                return Err(Refusal::invalid_request(
                    "client_id in the body does not match the authenticated client",
                ));
            }
            (id, secret, true)
        }
        None => {
            let id = params.get("client_id").filter(|v| !v.is_empty());
            let secret = params.get("client_secret").filter(|v| !v.is_empty());
            match (id, secret) {
                (Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
                _ => return Err(Refusal::invalid_client(false)),
            }
        }
    };
    if id == client_id && secret == client_secret {
        Ok(())
    } else {
        Err(Refusal::invalid_client(basic))
    }
}

/// `Basic base64(form(id) ":" form(secret))` → (id, secret).
fn decode_basic(header: &str) -> Option<(String, String)> {
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
fn form_decode(encoded: &str) -> Option<String> {
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

/// Verifies the subject token with the tenant's published keys and returns its claims.
fn verify_subject(state: &State, token: &str) -> Result<Map<String, Value>, Refusal> {
    let malformed = |why: &str| Refusal::invalid_request(format!("Invalid subject token: {why}"));
    let invalid = |why: &str| {
        Refusal::new(
            401,
            "invalid_grant",
            format!("Invalid subject token: {why}"),
        )
    };

    let header = jsonwebtoken::decode_header(token).map_err(|_| malformed("not a JWT"))?;
    if header.alg != Algorithm::RS256 {
        return Err(malformed("unsupported signing algorithm"));
    }
    let kid = header.kid.ok_or_else(|| malformed("no key id"))?;
    let decoding = lock(&state.keys)
        .published
        .iter()
        .find(|key| key.key.kid() == kid)
        .map(|key| key.decoding.clone())
        .ok_or_else(|| invalid("signed by an unknown key"))?;

    let mut validation = Validation::new(Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_issuer(&[&state.issuer]);
    validation.set_audience(&[&state.config.mcp_audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation).map_err(
        |error| match error.kind() {
            ErrorKind::InvalidSignature => invalid("bad signature"),
            ErrorKind::ExpiredSignature => invalid("expired"),
            ErrorKind::ImmatureSignature => invalid("not valid yet"),
            ErrorKind::InvalidIssuer => malformed("issued by another issuer"),
            ErrorKind::InvalidAudience => malformed("not issued for this client's API"),
            ErrorKind::MissingRequiredClaim(claim) => malformed(&format!("missing {claim}")),
            _ => malformed("malformed"),
        },
    )?;
    match data.claims.get("sub") {
        Some(Value::String(sub)) if !sub.is_empty() => Ok(data.claims),
        _ => Err(malformed("sub is not a non-empty string")),
    }
}

/// How many actors the subject token's `act` chain names (0 without `act`).
fn act_depth(claims: &Map<String, Value>) -> Result<usize, Refusal> {
    let mut depth = 0;
    let mut current = claims.get("act");
    while let Some(act) = current {
        let Some(sub) = act.get("sub").and_then(Value::as_str) else {
            return Err(Refusal::invalid_request(
                "Invalid subject token: malformed act claim",
            ));
        };
        if sub.is_empty() {
            return Err(Refusal::invalid_request(
                "Invalid subject token: malformed act claim",
            ));
        }
        depth += 1;
        current = act.get("act");
    }
    Ok(depth)
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

    #[test]
    fn act_depth_counts_nested_actors_and_rejects_malformed_ones() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(act_depth(&claims(json!({}))).ok(), Some(0));
        assert_eq!(
            act_depth(&claims(json!({"act": {"sub": "a", "act": {"sub": "b"}}}))).ok(),
            Some(2)
        );
        assert!(act_depth(&claims(json!({"act": "a"}))).is_err());
        assert!(act_depth(&claims(json!({"act": {"sub": "a", "act": {}}}))).is_err());
    }
}
