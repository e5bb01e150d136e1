//! Turning a fetched JWKS, which may be hostile or broken, into verification keys.
//!
//! One bad key must not take the good ones down with it, so each entry is judged on its
//! own and skipped if it is not a signing key we can use: unsupported `kty` or `alg`,
//! `use` other than `sig`, `key_ops` without `verify`, malformed or out-of-range
//! parameters, or a `kid` already taken by an earlier key. The number of entries
//! considered is bounded.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use serde_json::{Map, Value};

use crate::error::JwksError;
use crate::options::{Algorithm, KeyKind};

/// The most JWKS entries looked at; real issuers publish two or three.
pub(crate) const MAX_KEYS: usize = 100;

/// A public key usable for verification.
#[derive(Debug)]
pub(crate) struct VerificationKey {
    kind: KeyKind,
    /// The algorithm the JWK pins, if it names one.
    alg: Option<Algorithm>,
    pub(crate) decoding: DecodingKey,
}

impl VerificationKey {
    /// Whether this key may verify a token whose header says `alg` (RFC 7517 §4.4:
    /// a key's `alg` restricts the algorithms it is used with).
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.kind == alg.key_kind() && self.alg.is_none_or(|pinned| pinned == alg)
    }
}

/// The usable keys of one JWKS document.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    all: Vec<Arc<VerificationKey>>,
}

/// The outcome of choosing a key for a token.
pub(crate) enum Selection<'a> {
    Found(&'a VerificationKey),
    /// The `kid` exists but its key cannot produce the header's `alg`.
    Mismatch,
    NotFound,
}

impl KeySet {
    /// Chooses the key for a token. Without a `kid` the choice is made only when a
    /// single key could have signed it; guessing among several would let one key's
    /// weakness affect tokens meant for another.
    pub(crate) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Selection<'_> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(key) if key.accepts(alg) => Selection::Found(key),
                Some(_) => Selection::Mismatch,
                None => Selection::NotFound,
            },
            None => {
                let mut candidates = self.all.iter().filter(|key| key.accepts(alg));
                match (candidates.next(), candidates.next()) {
                    (Some(key), None) => Selection::Found(key),
                    _ => Selection::NotFound,
                }
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }
}

/// Parses a JWKS document, keeping only the keys that are safe to use.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<KeySet, JwksError> {
    let document: Value =
        serde_json::from_slice(body).map_err(|_| JwksError::InvalidDocument("JWKS is not JSON"))?;
    let entries = document
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwksError::InvalidDocument("JWKS has no keys array"))?;
    if entries.len() > MAX_KEYS {
        tracing::warn!(
            entries = entries.len(),
            limit = MAX_KEYS,
            "JWKS has too many keys; using the first"
        );
    }
    let mut set = KeySet::default();
    for (index, entry) in entries.iter().take(MAX_KEYS).enumerate() {
        let (kid, key) = match parse_jwk(entry) {
            Ok(parsed) => parsed,
            Err(reason) => {
                tracing::debug!(index, reason, "skipping JWKS entry");
                continue;
            }
        };
        let key = Arc::new(key);
        if let Some(kid) = kid {
            if set.by_kid.contains_key(&kid) {
                tracing::warn!(index, "skipping JWKS entry with a duplicate kid");
                continue;
            }
            set.by_kid.insert(kid, Arc::clone(&key));
        }
        set.all.push(key);
    }
    if set.all.is_empty() {
        return Err(JwksError::NoUsableKeys);
    }
    Ok(set)
}

fn parse_jwk(entry: &Value) -> Result<(Option<String>, VerificationKey), &'static str> {
    let jwk = entry.as_object().ok_or("not an object")?;
    match jwk.get("use") {
        None => {}
        Some(Value::String(usage)) if usage == "sig" => {}
        Some(_) => return Err("not a signature key (use)"),
    }
    match jwk.get("key_ops") {
        None => {}
        Some(Value::Array(ops)) if ops.iter().any(|op| op == "verify") => {}
        Some(_) => return Err("not a verification key (key_ops)"),
    }
    let kid = match jwk.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err("kid is not a string"),
    };
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(Algorithm::from_jose(name).ok_or("unsupported alg")?),
        Some(_) => return Err("alg is not a string"),
    };
    let (kind, decoding) = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => (KeyKind::Rsa, rsa_key(jwk)?),
        Some("EC") => (KeyKind::EcP256, ec_p256_key(jwk)?),
        _ => return Err("unsupported kty"),
    };
    if alg.is_some_and(|alg| alg.key_kind() != kind) {
        return Err("alg does not fit kty");
    }
    Ok((
        kid,
        VerificationKey {
            kind,
            alg,
            decoding,
        },
    ))
}

fn rsa_key(jwk: &Map<String, Value>) -> Result<DecodingKey, &'static str> {
    let n = strip_leading_zeros(member_bytes(jwk, "n")?);
    let e = strip_leading_zeros(member_bytes(jwk, "e")?);
    // aws-lc verifies RSA signatures with 2048- to 8192-bit moduli; anything else
    // is refused here so it cannot cost work per token.
    if !(256..=1024).contains(&n.len()) {
        return Err("RSA modulus out of range");
    }
    if e.is_empty() || e.len() > 8 {
        return Err("RSA exponent out of range");
    }
    Ok(DecodingKey::from_rsa_raw_components(&n, &e))
}

fn ec_p256_key(jwk: &Map<String, Value>) -> Result<DecodingKey, &'static str> {
    if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
        return Err("unsupported curve");
    }
    let x = member_bytes(jwk, "x")?;
    let y = member_bytes(jwk, "y")?;
    if x.len() != 32 || y.len() != 32 {
        return Err("P-256 coordinates must be 32 bytes");
    }
    // SEC1 uncompressed point, the form aws-lc parses.
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(DecodingKey::from_ec_der(&point))
}

fn member_bytes(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, &'static str> {
    let encoded = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or("missing key parameter")?;
    // RFC 7518 says unpadded, but some publishers pad; padding carries no information.
    URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| "key parameter is not base64url")
}

fn strip_leading_zeros(bytes: Vec<u8>) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}
