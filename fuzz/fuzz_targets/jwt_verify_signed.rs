//! The whole verifier on tokens whose claims are fuzzed but whose signature is good:
//! the harness signs the input (the claims JSON) with a fixed ES256 test key and
//! verifies it with a `JwksVerifier` over a `StaticJwks` holding that key, inside one
//! single-threaded tokio runtime made once. A harness that had to invent a whole
//! signed token would never get past the signature; this one reaches `jsonwebtoken`'s
//! registered-claim checks (`exp`, `nbf`, `iss`, `aud`, required claims) and ours.
//!
//! Checks: no panic; a correctly signed token is never refused for its signature,
//! key or algorithm, only for its claims; an accepted token has our `iss`, an `aud`
//! holding our audience, an unexpired `exp` and the `sub` it carries.

#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_verify::{Algorithm, Issuer, JwksVerifier, StaticJwks, VerifierOptions, VerifyError};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const ISSUER: &str = "https://tenant.example.com/";
const AUDIENCE: &str = "https://mcp.example.com/";
const KID: &str = "fuzz-es256";

struct Harness {
    runtime: tokio::runtime::Runtime,
    verifier: JwksVerifier,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    header: String,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("an ES256 key");
        let point = key.public_key().as_ref();
        assert!(
            point.len() == 65 && point[0] == 4,
            "an uncompressed P-256 point"
        );
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": KID, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }]});
        let options = VerifierOptions {
            algorithms: vec![Algorithm::ES256],
            ..VerifierOptions::default()
        };
        let verifier = JwksVerifier::with_source(
            Issuer::parse(ISSUER).expect("the issuer parses"),
            AUDIENCE,
            options,
            Arc::new(StaticJwks::from_json(&jwks)),
        )
        .expect("the verifier builds");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        runtime
            .block_on(verifier.refresh_keys())
            .expect("the static key set loads");
        let header = URL_SAFE_NO_PAD
            .encode(json!({"alg": "ES256", "kid": KID, "typ": "at+jwt"}).to_string());
        Harness {
            runtime,
            verifier,
            key,
            rng: SystemRandom::new(),
            header,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let harness = harness();
    let signing_input = format!("{}.{}", harness.header, URL_SAFE_NO_PAD.encode(data));
    let signature = harness
        .key
        .sign(&harness.rng, signing_input.as_bytes())
        .expect("signing succeeds");
    let token = format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.as_ref())
    );

    match harness.runtime.block_on(harness.verifier.verify(&token)) {
        Ok(principal) => {
            let claims: serde_json::Map<String, Value> =
                serde_json::from_slice(data).expect("accepted claims are a JSON object");
            assert_eq!(claims.get("iss").and_then(Value::as_str), Some(ISSUER));
            let audience_ok = match claims.get("aud") {
                Some(Value::String(aud)) => aud == AUDIENCE,
                Some(Value::Array(auds)) => auds.iter().any(|aud| aud == AUDIENCE),
                _ => false,
            };
            assert!(audience_ok, "aud without ours was accepted");
            assert_eq!(
                claims.get("sub").and_then(Value::as_str),
                Some(principal.sub.as_str())
            );
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            assert!(
                principal.expires_at + 60 >= now,
                "an expired token was accepted"
            );
        }
        Err(error) => {
            assert!(
                !matches!(
                    error,
                    VerifyError::BadSignature
                        | VerifyError::UnknownKey
                        | VerifyError::KeyMismatch
                        | VerifyError::UnsupportedAlgorithm { .. }
                        | VerifyError::KeysUnavailable(_)
                        | VerifyError::Empty
                ),
                "a well-signed token was refused for its signature or key: {error:?}"
            );
            assert!(error.to_string().len() < 160, "{error}");
        }
    }
});
