//! Signing keys generated per test run, their public JWKs, and low-level signing.
//!
//! Keys are generated with aws-lc-rs (already in the tree through jsonwebtoken and
//! rustls), so tests never ship a private key in the repository.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Map, Value, json};

/// A private signing key with a key id, as an issuer would hold it.
///
/// `Debug` shows only the key id and algorithm.
#[derive(Clone)]
pub struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
    public_jwk: Map<String, Value>,
    public_pem: String,
    /// PKCS#8 PEM of the private key; never in `Debug`.
    private_pem: String,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish()
    }
}

impl TestKey {
    /// A fresh 2048-bit RSA key that signs RS256 (Auth0's default).
    pub fn rsa(kid: impl Into<String>) -> Self {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("generate RSA key");
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'static>>::as_der(&pair)
            .expect("serialise RSA key");
        // jsonwebtoken's aws-lc signer wants PKCS#1 DER; its PEM reader unwraps PKCS#8.
        let private_pem = pem("PRIVATE KEY", pkcs8.as_ref());
        let encoding = EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("load RSA key");
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let spki =
            AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'static>>::as_der(pair.public_key())
                .expect("serialise RSA public key");
        let kid = kid.into();
        let public_jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        });
        Self {
            kid,
            alg: Algorithm::RS256,
            encoding,
            public_jwk: into_map(public_jwk),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            private_pem,
        }
    }

    /// A fresh P-256 key that signs ES256.
    pub fn ec_p256(kid: impl Into<String>) -> Self {
        let pair =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate EC key");
        let pkcs8 = pair.to_pkcs8v1().expect("serialise EC key");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        let point = pair.public_key().as_ref();
        // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
        let (x, y) = point[1..].split_at(32);
        let spki =
            AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'static>>::as_der(pair.public_key())
                .expect("serialise EC public key");
        let kid = kid.into();
        let public_jwk = json!({
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "crv": "P-256",
            "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        Self {
            kid,
            alg: Algorithm::ES256,
            encoding,
            public_jwk: into_map(public_jwk),
            public_pem: pem("PUBLIC KEY", spki.as_ref()),
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
        }
    }

    /// The same key signing with another algorithm of its family (e.g. PS256 for RSA).
    /// The JWK's `alg` follows, so the published key stays consistent.
    pub fn with_alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self.public_jwk.insert("alg".into(), json!(alg_name(alg)));
        self
    }

    /// The same key published without an `alg` member (many JWKS omit it).
    pub fn without_jwk_alg(mut self) -> Self {
        self.public_jwk.remove("alg");
        self
    }

    /// The key id, as in the JWK and in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        Value::Object(self.public_jwk.clone())
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo): the bytes an
    /// algorithm-confusion attacker uses as an HMAC secret.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// The public key as a PEM `PUBLIC KEY` (SubjectPublicKeyInfo): what is uploaded to
    /// an Auth0 application as a Private Key JWT credential. The same text as
    /// [`TestKey::public_key_pem`].
    pub fn public_pem(&self) -> String {
        self.public_pem.clone()
    }

    /// The private key as a PEM `PRIVATE KEY` (PKCS#8): what a client signing Private
    /// Key JWT assertions reads from its key file. A secret: `Debug` never shows it.
    pub fn private_pem(&self) -> String {
        self.private_pem.clone()
    }

    /// Signs `claims` with the default header `{"alg", "typ": "JWT", "kid"}`.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_with_header(&json!({}), claims)
    }

    /// Signs `claims` with the default header overridden member by member by
    /// `header_overrides` (a JSON object; a `null` member removes that header).
    ///
    /// The signature always uses this key's algorithm, so overriding `alg` yields a
    /// token whose header lies about how it was signed.
    pub fn sign_with_header(&self, header_overrides: &Value, claims: &Value) -> String {
        let mut header =
            into_map(json!({"alg": alg_name(self.alg), "typ": "JWT", "kid": self.kid}));
        if let Some(overrides) = header_overrides.as_object() {
            for (name, value) in overrides {
                if value.is_null() {
                    header.remove(name);
                } else {
                    header.insert(name.clone(), value.clone());
                }
            }
        }
        let header = serde_json::to_vec(&Value::Object(header)).expect("serialise header");
        let claims = serde_json::to_vec(claims).expect("serialise claims");
        self.sign_raw(&header, &claims)
    }

    /// Signs arbitrary header and payload bytes (they need not be JSON, or may be JSON
    /// with duplicate members): the tool for malformed-but-signed tokens.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding, self.alg)
            .expect("sign token");
        format!("{message}.{signature}")
    }
}

/// A JWKS document (`{"keys": [...]}`) publishing the given keys' public halves.
pub fn jwks_json(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|key| key.jwk()).collect::<Vec<_>>() })
}

/// The JOSE name of an algorithm (`"RS256"`).
pub fn alg_name(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => unreachable!("built from a json! object literal"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_publishes_a_jwk_that_verifies_its_signature() {
        let key = TestKey::rsa("k1");
        let token = key.sign(&json!({"sub": "x", "exp": 4_000_000_000u64}));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "x");
        assert_eq!(data.header.kid.as_deref(), Some("k1"));
    }

    #[test]
    fn ec_key_publishes_a_jwk_that_verifies_its_signature() {
        let key = TestKey::ec_p256("e1");
        let token = key.sign(&json!({"sub": "y", "exp": 4_000_000_000u64}));
        let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.jwk()).unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).unwrap();
        assert_eq!(data.claims["sub"], "y");
    }

    #[test]
    fn header_overrides_replace_and_remove_members() {
        let key = TestKey::rsa("k1");
        let token = key.sign_with_header(&json!({"kid": null, "typ": "at+jwt"}), &json!({}));
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid, None);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let key = TestKey::rsa("k1");
        let debug = format!("{key:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains(key.jwk()["n"].as_str().unwrap()));
        let private = key.private_pem();
        let body: String = private.lines().nth(1).unwrap().into();
        assert!(!debug.contains(&body));
    }

    #[test]
    fn private_pem_is_pkcs8_and_signs_what_public_pem_verifies() {
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::PS256] {
            let key = TestKey::rsa("k1").with_alg(alg);
            let private = key.private_pem();
            assert!(private.starts_with("-----BEGIN PRIVATE KEY-----\n"));
            let encoding = EncodingKey::from_rsa_pem(private.as_bytes()).unwrap();
            let mut header = jsonwebtoken::Header::new(alg);
            header.kid = Some("k1".into());
            let token = jsonwebtoken::encode(&header, &json!({"exp": 4_000_000_000u64}), &encoding)
                .unwrap();
            let decoding =
                jsonwebtoken::DecodingKey::from_rsa_pem(key.public_pem().as_bytes()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(alg);
            validation.validate_aud = false;
            assert!(jsonwebtoken::decode::<Value>(&token, &decoding, &validation).is_ok());
        }
        let ec = TestKey::ec_p256("e1");
        assert!(
            ec.private_pem()
                .starts_with("-----BEGIN PRIVATE KEY-----\n")
        );
        assert!(EncodingKey::from_ec_pem(ec.private_pem().as_bytes()).is_ok());
    }
}
