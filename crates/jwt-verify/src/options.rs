//! What a verifier accepts and how it treats the issuer's JWKS endpoint.

use std::time::Duration;

use crate::error::ConfigError;

/// A JWS signing algorithm this crate can verify.
///
/// The set is closed on purpose: `none` and the HMAC algorithms cannot be named, so no
/// configuration can accept an unsigned token or a public key misused as an HMAC
/// secret.
#[allow(clippy::upper_case_acronyms)] // The JOSE registry's names, as they appear in tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: Auth0's default.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

/// The kind of key an algorithm needs (the JWK `kty`, plus the curve for EC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
}

impl Algorithm {
    /// The JOSE name (`"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
        }
    }

    pub(crate) fn from_jose(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::RS256),
            "PS256" => Some(Self::PS256),
            "ES256" => Some(Self::ES256),
            _ => None,
        }
    }

    pub(crate) fn key_kind(self) -> KeyKind {
        match self {
            Self::RS256 | Self::PS256 => KeyKind::Rsa,
            Self::ES256 => KeyKind::EcP256,
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

/// Where the issuer's signing keys are published.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum JwksLocation {
    /// `{issuer}.well-known/jwks.json` (Auth0).
    #[default]
    WellKnown,
    /// The `jwks_uri` of `{issuer}.well-known/openid-configuration` (OIDC Discovery).
    Discover,
    /// An explicit URL (`https`, or `http` on a loopback host).
    Url(String),
}

/// How a [`JwksVerifier`](crate::JwksVerifier) verifies tokens and caches keys.
///
/// Build with struct update syntax:
///
/// ```
/// use std::time::Duration;
/// use oauth_jwt_verify::{Algorithm, VerifierOptions};
/// let options = VerifierOptions {
///     algorithms: vec![Algorithm::RS256, Algorithm::ES256],
///     leeway: Duration::from_secs(30),
///     ..VerifierOptions::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone)]
pub struct VerifierOptions {
    /// Accepted algorithms. Default: `[RS256]`.
    pub algorithms: Vec<Algorithm>,
    /// Clock skew tolerated on `exp` and `nbf`. Default: 60 s; at most 1 hour.
    pub leeway: Duration,
    /// Where the keys are. Default: [`JwksLocation::WellKnown`].
    pub jwks: JwksLocation,
    /// How long keys are cached when the response has no `Cache-Control: max-age`.
    /// Default: 10 minutes.
    pub jwks_ttl: Duration,
    /// The floor for any cache lifetime, so a `max-age=0` cannot make every request
    /// fetch. Default: 30 s.
    pub jwks_min_ttl: Duration,
    /// The ceiling for any cache lifetime, so revoked keys do age out. Default: 24 h.
    pub jwks_max_ttl: Duration,
    /// How long keys may keep verifying after their cache lifetime ended while the JWKS
    /// cannot be refreshed (the endpoint fails, or answers no usable key). Keys are
    /// kept through an outage so a tenant blip does not refuse every token, but not
    /// forever: past this, verification fails with
    /// [`VerifyError::KeysUnavailable`](crate::VerifyError::KeysUnavailable) as if keys
    /// had never been fetched. Default: 24 h; at most 30 days.
    pub jwks_max_staleness: Duration,
    /// An unknown `kid` refetches the JWKS at most once per this period, however many
    /// such tokens arrive. It also spaces out retries while the endpoint is failing and
    /// older keys are still cached. Default: 30 s.
    pub refetch_cooldown: Duration,
    /// Tokens longer than this are refused before any parsing. Default: 16 KiB.
    pub max_token_bytes: usize,
    /// JWKS (and discovery) responses longer than this are refused. Default: 256 KiB.
    pub max_jwks_bytes: usize,
    /// Timeout for each HTTP request to the issuer. Default: 5 s.
    pub http_timeout: Duration,
    /// Claims that must be present in addition to `iss`, `aud`, `exp` and `sub`, which
    /// are always required. Default: none.
    pub required_claims: Vec<String>,
    /// How many verified tokens to remember, so a token seen again is answered without
    /// checking its signature again (its `exp` and `nbf` still are, and entries of
    /// replaced or forgotten keys never count). A token is admitted on its second
    /// verification: one seen once leaves only an 8-byte fingerprint. 0 turns the cache
    /// off. Default: 10,000.
    ///
    /// Measured (RSS over 100,000 entries): about 420 bytes per entry for the cache
    /// itself (moka's node, the 32-byte key, the entry), plus the
    /// [`Principal`](crate::Principal) it holds, mostly its token: about 1,770 bytes in
    /// all with a 900-byte token, so some 18 MB when 10,000 distinct tokens are held.
    /// See docs/performance.md.
    pub verified_cache_capacity: u64,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            algorithms: vec![Algorithm::RS256],
            leeway: Duration::from_secs(60),
            jwks: JwksLocation::WellKnown,
            jwks_ttl: Duration::from_secs(600),
            jwks_min_ttl: Duration::from_secs(30),
            jwks_max_ttl: Duration::from_secs(24 * 3600),
            jwks_max_staleness: Duration::from_secs(24 * 3600),
            refetch_cooldown: Duration::from_secs(30),
            max_token_bytes: 16 * 1024,
            max_jwks_bytes: 256 * 1024,
            http_timeout: Duration::from_secs(5),
            required_claims: Vec::new(),
            verified_cache_capacity: 10_000,
        }
    }
}

impl VerifierOptions {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |reason| Err(ConfigError::InvalidOption(reason));
        if self.algorithms.is_empty() {
            return fail("at least one algorithm must be accepted");
        }
        // Bounded so that clock arithmetic in the JWT library cannot overflow.
        if self.leeway > Duration::from_secs(3600) {
            return fail("leeway must be at most one hour");
        }
        // Bounded so that `Instant + ttl` cannot overflow.
        if self.jwks_max_ttl > Duration::from_secs(30 * 24 * 3600) {
            return fail("jwks_max_ttl must be at most 30 days");
        }
        // Bounded so that `Instant + ttl + staleness` cannot overflow.
        if self.jwks_max_staleness > Duration::from_secs(30 * 24 * 3600) {
            return fail("jwks_max_staleness must be at most 30 days");
        }
        if self.jwks_min_ttl > self.jwks_max_ttl {
            return fail("jwks_min_ttl must not exceed jwks_max_ttl");
        }
        if self.max_token_bytes == 0 || self.max_jwks_bytes == 0 {
            return fail("size limits must be positive");
        }
        if self.http_timeout.is_zero() {
            return fail("http_timeout must be positive");
        }
        Ok(())
    }
}
