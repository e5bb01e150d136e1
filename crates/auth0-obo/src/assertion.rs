//! Private Key JWT client authentication (RFC 7523 §2.2, OpenID Connect Core §9):
//! instead of a shared secret, the client signs a short-lived JWT, the client
//! assertion, with a private key whose public half the tenant holds.
//!
//! Auth0's rules for the assertion ("Authenticate with Private Key JWT"):
//! - the header's `alg` is the algorithm of the application's credential; its
//!   `kid`, the credential's key id, is optional;
//! - `iss` and `sub` are the client id; `aud` is the tenant's URL with its
//!   trailing slash (the issuer), or the custom domain's;
//! - `exp` at most 5 minutes ahead (we use [`ASSERTION_LIFETIME`]), `iat`;
//! - a `jti` used once (we send a random UUID).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::ExchangeError;

/// `client_assertion_type` for a JWT assertion (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE_JWT_BEARER: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long each client assertion is valid: `exp` is this long after `iat`. Auth0
/// accepts at most 5 minutes; an assertion is sent at once and used once, so a
/// minute leaves room for clock skew and nothing for a thief.
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(60);

/// The longest `kid` accepted. Auth0's are about 43 characters.
const MAX_KID_LEN: usize = 256;

/// The signature algorithm of a client assertion. It must be the algorithm of the
/// credential registered with the tenant.
///
/// Auth0's application credentials accept `RS256`, `RS384` and `PS256` (each with an
/// RSA key); `ES256` (a P-256 key) is here for other authorization servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, Auth0's default.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA on P-256 with SHA-256 (not accepted by Auth0 credentials).
    Es256,
}

impl AssertionAlgorithm {
    /// Every algorithm, in the order of their names in error messages.
    pub const ALL: [Self; 4] = [Self::Rs256, Self::Rs384, Self::Ps256, Self::Es256];

    /// The JOSE name: `RS256`, `RS384`, `PS256` or `ES256`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Ps256 => "PS256",
            Self::Es256 => "ES256",
        }
    }

    /// Whether an Auth0 application credential can use it.
    #[must_use]
    pub fn accepted_by_auth0(self) -> bool {
        !matches!(self, Self::Es256)
    }

    fn jose(self) -> Algorithm {
        match self {
            Self::Rs256 => Algorithm::RS256,
            Self::Rs384 => Algorithm::RS384,
            Self::Ps256 => Algorithm::PS256,
            Self::Es256 => Algorithm::ES256,
        }
    }
}

impl fmt::Display for AssertionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssertionAlgorithm {
    type Err = ExchangeError;

    /// Parses `RS256`, `RS384`, `PS256` or `ES256`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                ExchangeError::config(
                    "the client assertion algorithm must be RS256, RS384, PS256 or ES256",
                )
            })
    }
}

/// The private key that signs client assertions, with its algorithm and the
/// credential's optional key id.
///
/// A secret: `Debug` shows the algorithm and the `kid`, never the key, and no
/// error quotes the PEM.
///
/// ```
/// use auth0_obo::{AssertionAlgorithm, ClientAssertionKey};
///
/// let pem = b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
/// let error = ClientAssertionKey::from_pem(pem, AssertionAlgorithm::Rs256).unwrap_err();
/// assert!(error.to_string().contains("RSA private key"));
/// assert!(!error.to_string().contains("not a key"));
/// ```
#[derive(Clone)]
pub struct ClientAssertionKey {
    key: EncodingKey,
    algorithm: AssertionAlgorithm,
    kid: Option<String>,
}

impl fmt::Debug for ClientAssertionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientAssertionKey")
            .field("algorithm", &self.algorithm)
            .field("kid", &self.kid)
            .field("key", &"[redacted]")
            .finish()
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
    jti: String,
}

impl ClientAssertionKey {
    /// Loads a PEM private key for `algorithm`: PKCS#8 (`BEGIN PRIVATE KEY`) or
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) for the RSA algorithms, PKCS#8 or SEC1
    /// (`BEGIN EC PRIVATE KEY`) on P-256 for `ES256`. The key signs one test
    /// assertion here, so a key of the wrong kind fails now, not at the first
    /// exchange.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::Config`] naming what is wrong (not PEM, encrypted, the
    /// wrong kind of key for the algorithm), never quoting the key.
    pub fn from_pem(pem: &[u8], algorithm: AssertionAlgorithm) -> Result<Self, ExchangeError> {
        let text = String::from_utf8_lossy(pem);
        if !text.contains("-----BEGIN ") {
            return Err(ExchangeError::config(
                "the client assertion key is not PEM: expected a -----BEGIN PRIVATE KEY----- block",
            ));
        }
        if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            return Err(ExchangeError::config(
                "the client assertion key is encrypted: store it decrypted, readable only by the server (openssl pkey -in encrypted.pem -out key.pem)",
            ));
        }
        if text.contains("PUBLIC KEY-----") || text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(ExchangeError::config(
                "the client assertion key file holds a public key or certificate: give the private key here, and upload the public key to the application's credentials",
            ));
        }
        let wrong_kind = || {
            ExchangeError::config(match algorithm {
                AssertionAlgorithm::Es256 => {
                    "the client assertion key is not a P-256 EC private key, which ES256 needs"
                        .to_owned()
                }
                rsa => {
                    format!("the client assertion key is not an RSA private key, which {rsa} needs")
                }
            })
        };
        let key = match algorithm {
            AssertionAlgorithm::Es256 => EncodingKey::from_ec_pem(pem),
            _ => EncodingKey::from_rsa_pem(pem),
        }
        .map_err(|_| wrong_kind())?;
        let key = Self {
            key,
            algorithm,
            kid: None,
        };
        key.sign("probe", "https://probe.invalid/", SystemTime::now())
            .map_err(|_| wrong_kind())?;
        Ok(key)
    }

    /// The key id of the credential, sent as the assertion's `kid` header. Auth0
    /// generates it when the public key is uploaded; it is optional there.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::Config`] when it is blank, has whitespace or control
    /// characters, or is over 256 characters.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Result<Self, ExchangeError> {
        let kid = kid.into();
        if kid.is_empty()
            || kid.len() > MAX_KID_LEN
            || kid.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ExchangeError::config(
                "the client assertion kid must be 1 to 256 characters with no whitespace",
            ));
        }
        self.kid = Some(kid);
        Ok(self)
    }

    /// The signature algorithm.
    #[must_use]
    pub fn algorithm(&self) -> AssertionAlgorithm {
        self.algorithm
    }

    /// The credential's key id, if one was given.
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// A fresh assertion for `client_id` at the token endpoint of `audience` (the
    /// issuer URL): `iss` = `sub` = the client id, `iat` = now, `exp` =
    /// [`ASSERTION_LIFETIME`] later, and a random UUID as `jti`.
    pub(crate) fn sign(
        &self,
        client_id: &str,
        audience: &str,
        now: SystemTime,
    ) -> Result<String, ExchangeError> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| ExchangeError::config("the system clock is before 1970"))?
            .as_secs();
        let claims = AssertionClaims {
            iss: client_id,
            sub: client_id,
            aud: audience,
            iat,
            exp: iat + ASSERTION_LIFETIME.as_secs(),
            jti: random_uuid(),
        };
        let mut header = Header::new(self.algorithm.jose());
        header.kid.clone_from(&self.kid);
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|_| ExchangeError::config("cannot sign the client assertion"))
    }
}

/// A version 4 UUID (RFC 9562 §5.4) from the thread's CSPRNG, as Auth0 recommends
/// for `jti`.
fn random_uuid() -> String {
    let mut bytes: [u8; 16] = rand::random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4_and_distinct() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn algorithms_parse_in_any_case_and_refuse_others() {
        assert_eq!(
            "ps256".parse::<AssertionAlgorithm>().ok(),
            Some(AssertionAlgorithm::Ps256)
        );
        for alg in AssertionAlgorithm::ALL {
            assert_eq!(alg.as_str().parse::<AssertionAlgorithm>().ok(), Some(alg));
        }
        let error = "HS256".parse::<AssertionAlgorithm>().unwrap_err();
        assert!(error.to_string().contains("RS256, RS384, PS256 or ES256"));
        assert!(!AssertionAlgorithm::Es256.accepted_by_auth0());
    }

    #[test]
    fn public_keys_and_encrypted_keys_are_named() {
        let public = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        let error = ClientAssertionKey::from_pem(public, AssertionAlgorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("public key"), "{error}");
        let encrypted =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let error = ClientAssertionKey::from_pem(encrypted, AssertionAlgorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("encrypted"), "{error}");
        let error = ClientAssertionKey::from_pem(b"hello", AssertionAlgorithm::Rs256).unwrap_err();
        assert!(error.to_string().contains("not PEM"), "{error}");
    }
}
