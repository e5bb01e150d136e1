//! Private Key JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9) of the
//! MCP server's own client, checked the way Auth0's "Authenticate with Private Key JWT"
//! describes it.
//!
//! The checks, their order and each refusal are documented on the [crate]. Every
//! refusal is 401 `invalid_client` with its own `error_description`, except a
//! `client_id` parameter naming another client than the assertion's `iss` (400
//! `invalid_request`, as for a Basic header and a body `client_id` that disagree). No
//! description ever repeats the assertion.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

use crate::config::{CLIENT_ASSERTION_ALGS, ClientCredential, MAX_CLIENT_CREDENTIALS};
use crate::oauth::Refusal;
use crate::state::{State, lock};
use crate::token::now;

/// The clock skew allowed on an assertion's `exp`, `iat` and `nbf`, in seconds.
pub const ASSERTION_CLOCK_SKEW_SECS: i64 = 10;
/// The longest lifetime of an assertion, in seconds: `exp` at most this far ahead of
/// now (plus the skew), and of `iat` when it is present.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// The longest `iss`, `sub` and `jti` of an assertion, in characters.
pub const MAX_ASSERTION_CLAIM_CHARS: usize = 64;
/// The longest `alg` of an assertion's header, in characters.
pub const MAX_ASSERTION_ALG_CHARS: usize = 16;
/// The most unexpired `jti`s the tenant remembers; past it, new assertions are refused
/// rather than an old `jti` forgotten (which would let it be replayed).
const MAX_REMEMBERED_JTIS: usize = 10_000;

/// A credential with its verification key ready.
#[derive(Clone)]
pub(crate) struct RegisteredCredential {
    pub(crate) credential: ClientCredential,
    alg: Algorithm,
    decoding: DecodingKey,
}

/// Parses credentials for the tenant. A setup mistake (more than
/// [`MAX_CLIENT_CREDENTIALS`], an algorithm Auth0 does not offer, a PEM that is not an
/// RSA public key, two credentials with one `kid`) panics, so the test learns it at
/// setup rather than from a puzzling refusal.
pub(crate) fn register_credentials(credentials: &[ClientCredential]) -> Vec<RegisteredCredential> {
    assert!(
        credentials.len() <= MAX_CLIENT_CREDENTIALS,
        "mock tenant: {} client credentials given; an Auth0 application holds at most {MAX_CLIENT_CREDENTIALS}",
        credentials.len()
    );
    let mut registered: Vec<RegisteredCredential> = Vec::with_capacity(credentials.len());
    for credential in credentials {
        let alg = match credential.alg.as_str() {
            "RS256" => Algorithm::RS256,
            "RS384" => Algorithm::RS384,
            "PS256" => Algorithm::PS256,
            other => panic!(
                "mock tenant: credential {} has algorithm {other:?}; Auth0 offers {}",
                credential.kid,
                CLIENT_ASSERTION_ALGS.join(", ")
            ),
        };
        let decoding = DecodingKey::from_rsa_pem(credential.public_key_pem.as_bytes())
            .unwrap_or_else(|_| {
                panic!(
                    "mock tenant: credential {} is not an RSA public key in PEM",
                    credential.kid
                )
            });
        assert!(
            registered
                .iter()
                .all(|r| r.credential.kid != credential.kid),
            "mock tenant: two client credentials have the kid {:?}",
            credential.kid
        );
        registered.push(RegisteredCredential {
            credential: credential.clone(),
            alg,
            decoding,
        });
    }
    registered
}

/// The `jti`s of accepted assertions, each until its `exp` (plus the skew): a replay
/// within the assertion's lifetime is refused, and the set stays bounded by the
/// assertions alive at once.
#[derive(Default)]
pub(crate) struct UsedJtis {
    expiry_by_jti: HashMap<String, i64>,
}

impl UsedJtis {
    fn contains(&self, jti: &str, now: i64) -> bool {
        self.expiry_by_jti
            .get(jti)
            .is_some_and(|expiry| *expiry >= now)
    }

    /// Remembers `jti` until `expiry`; `false` when the set is full of live ones.
    fn insert(&mut self, jti: &str, expiry: i64, now: i64) -> bool {
        if self.expiry_by_jti.len() >= MAX_REMEMBERED_JTIS {
            self.expiry_by_jti.retain(|_, e| *e >= now);
        }
        if self.expiry_by_jti.len() >= MAX_REMEMBERED_JTIS {
            return false;
        }
        self.expiry_by_jti.insert(jti.to_owned(), expiry);
        true
    }
}

fn refuse(description: impl Into<String>) -> Refusal {
    Refusal::new(401, "invalid_client", description)
}

/// A base64url JSON object (a JWS header or payload), or `None`.
fn decode_segment(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// A string claim: `Ok(None)` when absent, refused when not a string.
fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.as_str())),
        Some(_) => Err(refuse(format!("client_assertion {name} is not a string"))),
    }
}

/// A NumericDate claim, in whole seconds: `Ok(None)` when absent, refused when not a
/// number.
fn numeric_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => number
            .as_i64()
            // Fractional seconds are allowed (RFC 7519 §2); the whole second will do.
            .or_else(|| number.as_f64().map(|f| f.floor() as i64))
            .map(Some)
            .ok_or_else(|| refuse(format!("client_assertion {name} is not a number"))),
        Some(_) => Err(refuse(format!("client_assertion {name} is not a number"))),
    }
}

/// Verifies a `client_assertion` for the MCP server's client. `client_id` is the
/// request's `client_id` parameter, if any. On success the claims are recorded for
/// [`MockTenant::accepted_client_assertions`](crate::MockTenant::accepted_client_assertions)
/// and the `jti` is spent.
pub(crate) fn verify_client_assertion(
    state: &State,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<(), Refusal> {
    let mut segments = assertion.split('.');
    let (Some(header_segment), Some(payload_segment), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(refuse(
            "client_assertion is not a JWT (three base64url segments separated by dots)",
        ));
    };
    let header = decode_segment(header_segment)
        .ok_or_else(|| refuse("client_assertion header is not a base64url JSON object"))?;
    let claims = decode_segment(payload_segment)
        .ok_or_else(|| refuse("client_assertion payload is not a base64url JSON object"))?;

    // Auth0's limits on sizes come first: they bound what the rest reads.
    let alg = string_claim(&header, "alg")?
        .ok_or_else(|| refuse("client_assertion header has no alg"))?;
    if alg.chars().count() > MAX_ASSERTION_ALG_CHARS {
        return Err(refuse(format!(
            "client_assertion alg is longer than {MAX_ASSERTION_ALG_CHARS} characters"
        )));
    }
    let kid = string_claim(&header, "kid")?;
    for name in ["iss", "sub", "jti"] {
        if string_claim(&claims, name)?
            .is_some_and(|v| v.chars().count() > MAX_ASSERTION_CLAIM_CHARS)
        {
            return Err(refuse(format!(
                "client_assertion {name} is longer than {MAX_ASSERTION_CLAIM_CHARS} characters"
            )));
        }
    }

    // Which client: iss = sub = the client id.
    let iss = string_claim(&claims, "iss")?.ok_or_else(|| refuse("client_assertion has no iss"))?;
    let sub = string_claim(&claims, "sub")?.ok_or_else(|| refuse("client_assertion has no sub"))?;
    if iss != sub {
        return Err(refuse(
            "client_assertion iss and sub differ; both must be the client id",
        ));
    }
    if iss != state.config.client_id {
        return Err(refuse(
            "client_assertion iss and sub are not the client id of a client of this tenant",
        ));
    }
    if client_id.is_some_and(|id| id != iss) {
        return Err(Refusal::invalid_request(
            "client_id does not match the client_assertion's iss",
        ));
    }

    // The signature, by one of the client's credentials.
    let credentials = lock(&state.client_credentials).clone();
    if credentials.is_empty() {
        return Err(refuse(
            "The client has no credential for private_key_jwt; it authenticates with its client secret",
        ));
    }
    let candidates: Vec<&RegisteredCredential> = match kid {
        Some(kid) => {
            let credential = credentials
                .iter()
                .find(|c| c.credential.kid == kid)
                .ok_or_else(|| refuse("client_assertion kid names no credential of the client"))?;
            if credential.credential.alg != alg {
                return Err(refuse(format!(
                    "client_assertion alg {alg} is not the algorithm of the credential its kid names ({})",
                    credential.credential.alg
                )));
            }
            vec![credential]
        }
        None => {
            let matching: Vec<&RegisteredCredential> = credentials
                .iter()
                .filter(|c| c.credential.alg == alg)
                .collect();
            if matching.is_empty() {
                return Err(refuse(format!(
                    "client_assertion alg {alg} is not the algorithm of any credential of the client"
                )));
            }
            matching
        }
    };
    let message = format!("{header_segment}.{payload_segment}");
    let verified = candidates.iter().any(|c| {
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &c.decoding, c.alg)
            .unwrap_or(false)
    });
    if !verified {
        return Err(refuse(
            "client_assertion signature does not verify with the client's credential",
        ));
    }

    // The claims.
    let issuer = &state.issuer;
    let token_endpoint = format!("{issuer}oauth/token");
    let audiences: Vec<&str> = match claims.get("aud") {
        None => return Err(refuse("client_assertion has no aud")),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(refuse(
                "client_assertion aud is not a string or an array of strings",
            ));
        }
    };
    if !audiences
        .iter()
        .any(|aud| *aud == issuer.as_str() || *aud == token_endpoint)
    {
        return Err(refuse(format!(
            "client_assertion aud is not this tenant: it must be {issuer} (with the trailing slash)"
        )));
    }
    let now = now();
    let exp =
        numeric_claim(&claims, "exp")?.ok_or_else(|| refuse("client_assertion has no exp"))?;
    let iat = numeric_claim(&claims, "iat")?;
    let nbf = numeric_claim(&claims, "nbf")?;
    if exp.saturating_add(ASSERTION_CLOCK_SKEW_SECS) < now {
        return Err(refuse("client_assertion has expired (exp is in the past)"));
    }
    if exp.saturating_sub(now) > MAX_ASSERTION_LIFETIME_SECS + ASSERTION_CLOCK_SKEW_SECS {
        return Err(refuse(format!(
            "client_assertion exp is too far ahead: an assertion may live at most {MAX_ASSERTION_LIFETIME_SECS} seconds"
        )));
    }
    if iat.is_some_and(|iat| iat > now.saturating_add(ASSERTION_CLOCK_SKEW_SECS)) {
        return Err(refuse("client_assertion iat is in the future"));
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(ASSERTION_CLOCK_SKEW_SECS)) {
        return Err(refuse(
            "client_assertion is not valid yet (nbf is in the future)",
        ));
    }
    if iat.is_some_and(|iat| exp.saturating_sub(iat) > MAX_ASSERTION_LIFETIME_SECS) {
        return Err(refuse(format!(
            "client_assertion lifetime (exp - iat) exceeds {MAX_ASSERTION_LIFETIME_SECS} seconds"
        )));
    }
    let jti = string_claim(&claims, "jti")?
        .filter(|jti| !jti.is_empty())
        .ok_or_else(|| refuse("client_assertion has no jti"))?;
    {
        let mut used = lock(&state.used_assertion_jtis);
        if used.contains(jti, now) {
            return Err(refuse(
                "client_assertion jti has already been used; each assertion is single use",
            ));
        }
        if !used.insert(jti, exp.saturating_add(ASSERTION_CLOCK_SKEW_SECS), now) {
            return Err(refuse(
                "Too many client assertions are alive at once; retry when some have expired",
            ));
        }
    }
    lock(&state.accepted_assertions).push(Value::Object(claims));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_jtis_forget_expired_ones_only_when_full() {
        let mut used = UsedJtis::default();
        assert!(used.insert("a", 100, 50));
        assert!(used.contains("a", 100));
        assert!(!used.contains("a", 101));
        for i in 0..MAX_REMEMBERED_JTIS - 1 {
            assert!(used.insert(&format!("live-{i}"), 1_000, 50));
        }
        // Full of live jtis: a new one is refused rather than an old one forgotten.
        assert!(!used.insert("b", 1_000, 50));
        assert!(used.contains("a", 60));
        // Once "a" has expired, it makes room.
        assert!(used.insert("b", 1_000, 200));
        assert!(!used.contains("a", 200));
    }
}
