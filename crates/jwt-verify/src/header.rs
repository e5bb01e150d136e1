//! The JOSE header, read before any key is chosen.
//!
//! We parse it ourselves rather than trusting a library's permissive struct: the header
//! is attacker-controlled input that decides which key and algorithm are used, so only
//! `alg`, `kid` and `crit` are read. `jku`, `x5u`, `jwk` and `x5c` are never looked at,
//! let alone fetched: keys come only from the configured issuer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::claims::parse_object;
use crate::error::VerifyError;
use crate::options::Algorithm;

/// The parts of a JOSE header that select the verification key.
#[derive(Debug)]
pub(crate) struct JoseHeader {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
}

/// Checks the compact serialisation's shape and reads the header.
///
/// A token that is not three base64url segments with a JSON object header is no JWS:
/// [`VerifyError::Opaque`] (what an Auth0 client gets when it asked for no API), or
/// [`VerifyError::Encrypted`] for a JWE (five segments, RFC 7516 §7.1) other than
/// Auth0's opaque format (a JWE with `alg: dir`).
pub(crate) fn parse(token: &str, accepted: &[Algorithm]) -> Result<JoseHeader, VerifyError> {
    let segments: Vec<&str> = token.splitn(6, '.').collect();
    let [header, payload, signature] = segments[..] else {
        return Err(not_a_jws(&segments));
    };
    // Only a token whose header is not base64url JSON at all is opaque; one with a
    // JSON header but a broken rest (`null`, duplicate members, an empty payload) is
    // a malformed JWS, likely a forged one.
    let bytes = Some(header)
        .filter(|header| !header.is_empty() && is_base64url(header))
        .and_then(|header| URL_SAFE_NO_PAD.decode(header).ok())
        .filter(|bytes| serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok())
        .ok_or(VerifyError::Opaque)?;
    if payload.is_empty() {
        return Err(VerifyError::Malformed("empty segment"));
    }
    if [payload, signature].iter().any(|s| !is_base64url(s)) {
        return Err(VerifyError::Malformed("segment is not base64url"));
    }
    let header = parse_object(&bytes)
        .map_err(|_| VerifyError::Malformed("header is not a JSON object with unique members"))?;

    let alg_name = match header.get("alg") {
        Some(Value::String(alg)) => alg.as_str(),
        Some(_) => return Err(VerifyError::Malformed("alg is not a string")),
        None => return Err(VerifyError::Malformed("header has no alg")),
    };
    let alg = Algorithm::from_jose(alg_name)
        .filter(|alg| accepted.contains(alg))
        .ok_or(VerifyError::UnsupportedAlgorithm {
            alg: registered_name(alg_name),
        })?;
    if signature.is_empty() {
        return Err(VerifyError::Malformed("empty signature"));
    }
    // RFC 7515 §4.1.11: extensions named in `crit` must be understood; we know none.
    if header.contains_key("crit") {
        return Err(VerifyError::Malformed(
            "critical header extensions are not supported",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(VerifyError::Malformed("kid is not a string")),
    };
    Ok(JoseHeader { alg, kid })
}

/// Why a token with other than three segments is refused.
fn not_a_jws(segments: &[&str]) -> VerifyError {
    if let [header, _, _, _, _] = segments
        && let Some(header) = json_header(header)
        && header.contains_key("enc")
    {
        // Auth0's opaque access tokens are JWEs encrypted for Auth0 itself (`dir`);
        // an API with token encryption on gets a key-wrapped one (`RSA-OAEP-256`).
        return if header.get("alg").and_then(Value::as_str) == Some("dir") {
            VerifyError::Opaque
        } else {
            VerifyError::Encrypted
        };
    }
    VerifyError::Opaque
}

/// A base64url segment decoded to a JSON object with unique members, if it is one.
fn json_header(segment: &str) -> Option<serde_json::Map<String, Value>> {
    if segment.is_empty() || !is_base64url(segment) {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    parse_object(&bytes).ok()
}

fn is_base64url(segment: &str) -> bool {
    segment
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Echo an algorithm name into errors and logs only if it is a registered one, so a
/// token cannot inject arbitrary text there.
fn registered_name(alg: &str) -> &'static str {
    const REGISTERED: [&str; 14] = [
        "none", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
        "ES256", "ES384", "ES512", "EdDSA",
    ];
    REGISTERED
        .iter()
        .find(|name| **name == alg)
        .copied()
        .unwrap_or("unrecognised")
}
