//! The verifier: from a bearer token string to a [`Principal`] or a reason.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::claims::{StrictObject, parse_object, principal_from_claims};
use crate::clock::{Clock, ManualClock};
use crate::error::{ConfigError, JwksError, VerifyError, echo_claim};
use crate::header;
use crate::issuer::Issuer;
use crate::jwks::JwksSource;
use crate::jwks_http::HttpJwksSource;
use crate::key_cache::{JwksStats, KeyCache};
use crate::key_set::{Selection, VerificationKey};
use crate::options::{Algorithm, VerifierOptions};
use crate::principal::Principal;
use crate::verified_cache::{Entry, TokenDigest, VerifiedCache, VerifiedCacheStats, token_digest};

/// Verifies JWT access tokens from one issuer, for one audience, against the issuer's
/// cached JWKS.
///
/// Cheap to clone (the state is shared behind an `Arc`): build one at startup and hand
/// clones to every request handler.
#[derive(Clone)]
pub struct JwksVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    issuer: Issuer,
    audience: String,
    options: VerifierOptions,
    /// One `Validation` per accepted algorithm: jsonwebtoken refuses a validation that
    /// lists algorithms of another family than the key's.
    validations: Vec<(Algorithm, Validation)>,
    cache: KeyCache,
    /// `None` when [`VerifierOptions::verified_cache_capacity`] is 0.
    verified: Option<VerifiedCache>,
    /// What `exp` and `nbf` are checked against.
    clock: Clock,
}

impl fmt::Debug for JwksVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksVerifier")
            .field("issuer", &self.inner.issuer.as_str())
            .field("audience", &self.inner.audience)
            .field("algorithms", &self.inner.options.algorithms)
            .field("has_keys", &self.has_keys())
            .finish()
    }
}

impl JwksVerifier {
    /// A verifier that fetches keys over HTTP from where `options.jwks` says.
    ///
    /// No request is made yet; call [`JwksVerifier::refresh_keys`] to warm the cache
    /// (and learn early that the issuer is unreachable).
    pub fn new(
        issuer: Issuer,
        audience: impl Into<String>,
        options: VerifierOptions,
    ) -> Result<Self, ConfigError> {
        options.validate()?;
        let source = HttpJwksSource::new(&issuer, &options)?;
        Self::with_source(issuer, audience, options, Arc::new(source))
    }

    /// A verifier whose keys come from `source` (e.g. a [`StaticJwks`](crate::StaticJwks)).
    /// `options.jwks` and `options.http_timeout` are not used.
    pub fn with_source(
        issuer: Issuer,
        audience: impl Into<String>,
        options: VerifierOptions,
        source: Arc<dyn JwksSource>,
    ) -> Result<Self, ConfigError> {
        Self::build(issuer, audience.into(), options, source, Clock::system())
    }

    /// Like [`JwksVerifier::with_source`], with `exp` and `nbf` checked against `clock`
    /// instead of the system clock. For tests only.
    #[doc(hidden)]
    pub fn with_clock(
        issuer: Issuer,
        audience: impl Into<String>,
        options: VerifierOptions,
        source: Arc<dyn JwksSource>,
        clock: &ManualClock,
    ) -> Result<Self, ConfigError> {
        Self::build(
            issuer,
            audience.into(),
            options,
            source,
            Clock::manual(clock),
        )
    }

    fn build(
        issuer: Issuer,
        audience: String,
        options: VerifierOptions,
        source: Arc<dyn JwksSource>,
        clock: Clock,
    ) -> Result<Self, ConfigError> {
        options.validate()?;
        if audience.trim().is_empty() {
            return Err(ConfigError::EmptyAudience);
        }
        let validations = options
            .algorithms
            .iter()
            .map(|alg| (*alg, validation(*alg)))
            .collect();
        let cache = KeyCache::new(source, &options);
        let verified = VerifiedCache::new(
            options.verified_cache_capacity,
            options.leeway.as_secs(),
            clock.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                issuer,
                audience,
                options,
                validations,
                cache,
                verified,
                clock,
            }),
        })
    }

    /// Verifies `token` (the bare token, without `Bearer `) and returns who it speaks for.
    ///
    /// Checks, in order: size; JWS shape and header (`alg` accepted, no `crit`); the
    /// key named by `kid` (refetching the JWKS once if it is unknown); the signature;
    /// `exp`, `nbf` (with leeway), `iss` (exact), `aud`; then the typed claims (`sub`,
    /// client id, `scope`, `permissions`, `act`).
    ///
    /// A token already verified under the keys now held is answered from the
    /// verified-token cache ([`VerifierOptions::verified_cache_capacity`]) after
    /// checking only its `exp` and `nbf` again: the same answer, without the signature
    /// check and claims parsing.
    pub async fn verify(&self, token: &str) -> Result<Arc<Principal>, VerifyError> {
        let inner = &*self.inner;
        if token.is_empty() {
            return Err(VerifyError::Empty);
        }
        if token.len() > inner.options.max_token_bytes {
            return Err(VerifyError::TooLarge {
                limit: inner.options.max_token_bytes,
            });
        }
        let Some(verified) = &inner.verified else {
            return self
                .verify_fully(token)
                .await
                .map(|(principal, _)| principal);
        };
        let key = token_digest(token);
        if let Some(answer) = self.cached_answer(verified, &key).await {
            return answer;
        }
        let (principal, entry) = self.verify_fully(token).await?;
        if let Some(entry) = entry {
            verified.offer(key, entry);
        }
        Ok(principal)
    }

    /// The answer the cache holds for `key`, if any: `None` sends the token to a full
    /// verification.
    async fn cached_answer(
        &self,
        verified: &VerifiedCache,
        key: &TokenDigest,
    ) -> Option<Result<Arc<Principal>, VerifyError>> {
        let entry = verified.get(key)?;
        // The token parsed and its key was found before, so a full verification would
        // fail here too if the keys are unavailable now.
        let snapshot = match self.inner.cache.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => return Some(Err(VerifyError::KeysUnavailable(error))),
        };
        let generation = snapshot.keys.generation;
        verified.note_generation(generation);
        if entry.generation != generation {
            verified.discard(key);
            return None;
        }
        // The signature and every claim but the times were checked under these very
        // keys; the times are checked as a full verification would.
        if let Err(error) = check_times(
            entry.exp,
            entry.nbf,
            self.inner.clock.now(),
            self.inner.options.leeway.as_secs(),
        ) {
            verified.discard(key);
            return Some(Err(error));
        }
        verified.hit();
        Some(Ok(entry.principal))
    }

    /// The whole verification, and the cache entry it earns if the token may be
    /// cached (valid now: not only within the `nbf` leeway).
    async fn verify_fully(
        &self,
        token: &str,
    ) -> Result<(Arc<Principal>, Option<Entry>), VerifyError> {
        let inner = &*self.inner;
        let header = header::parse(token, &inner.options.algorithms)?;
        let snapshot = inner
            .cache
            .snapshot()
            .await
            .map_err(VerifyError::KeysUnavailable)?;
        if let Some(verified) = &inner.verified {
            verified.note_generation(snapshot.keys.generation);
        }
        let kid = header.kid.as_deref();
        let (claims, generation) = match snapshot.keys.keys.select(kid, header.alg) {
            Selection::Found(key) => (
                self.decode(token, header.alg, key)?,
                snapshot.keys.generation,
            ),
            Selection::Mismatch => return Err(VerifyError::KeyMismatch),
            Selection::NotFound => {
                let refreshed = inner
                    .cache
                    .refetch_for_unknown_kid(&snapshot)
                    .await
                    .ok_or_else(|| unknown_key(token, inner.issuer.as_str()))?;
                match refreshed.keys.select(kid, header.alg) {
                    Selection::Found(key) => {
                        (self.decode(token, header.alg, key)?, refreshed.generation)
                    }
                    Selection::Mismatch => return Err(VerifyError::KeyMismatch),
                    Selection::NotFound => {
                        return Err(unknown_key(token, inner.issuer.as_str()));
                    }
                }
            }
        };
        let now = inner.clock.now();
        let (exp, nbf) = registered_claims(
            &claims,
            now,
            inner.options.leeway.as_secs(),
            inner.issuer.as_str(),
            &inner.audience,
        )?;
        let principal = Arc::new(principal_from_claims(
            claims,
            inner.issuer.as_str(),
            &inner.options.required_claims,
            token,
        )?);
        let entry = nbf.is_none_or(|nbf| nbf <= now).then(|| Entry {
            principal: Arc::clone(&principal),
            exp,
            nbf,
            generation,
        });
        Ok((principal, entry))
    }

    /// Fetches the JWKS now, whatever the cache holds and however recently a fetch
    /// failed. Use at startup to warm the cache and to fail fast when the issuer is
    /// unreachable; for anything a client can trigger, use
    /// [`JwksVerifier::ensure_keys`].
    pub async fn refresh_keys(&self) -> Result<(), JwksError> {
        self.inner.cache.refresh().await
    }

    /// Makes sure usable keys are cached, fetching them only when verifying a token
    /// would: the same single flight, the same backoff after a failed fetch, the same
    /// cooldown for stale keys. Safe to call on every request (a readiness probe): it
    /// never costs the issuer more fetches than verification does.
    pub async fn ensure_keys(&self) -> Result<(), JwksError> {
        self.inner.cache.ensure().await
    }

    /// Whether usable keys are cached (a readiness signal): fetched, and not past
    /// [`VerifierOptions::jwks_max_staleness`].
    pub fn has_keys(&self) -> bool {
        self.inner.cache.has_keys()
    }

    /// JWKS fetch counters, for metrics.
    pub fn jwks_stats(&self) -> JwksStats {
        self.inner.cache.stats()
    }

    /// Verified-token cache counters, for metrics (all zero when the cache is off).
    pub fn verified_cache_stats(&self) -> VerifiedCacheStats {
        self.inner
            .verified
            .as_ref()
            .map(VerifiedCache::stats)
            .unwrap_or_default()
    }

    /// The issuer tokens must come from.
    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    /// The audience tokens must be for.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    fn decode(
        &self,
        token: &str,
        alg: Algorithm,
        key: &VerificationKey,
    ) -> Result<serde_json::Map<String, serde_json::Value>, VerifyError> {
        let validation = self
            .inner
            .validations
            .iter()
            .find_map(|(accepted, validation)| (*accepted == alg).then_some(validation))
            .ok_or(VerifyError::UnsupportedAlgorithm { alg: alg.as_str() })?;
        decode::<StrictObject>(token, &key.decoding, validation)
            .map(|data| data.claims.0)
            .map_err(|error| match map_jwt_error(error.into_kind()) {
                // jsonwebtoken reports a registered claim of the wrong type as missing.
                // The signature has been checked by then, so looking at the payload to
                // tell the two apart is safe.
                VerifyError::MissingClaim(name) if claim_present(token, &name) => {
                    VerifyError::InvalidClaim(name)
                }
                other => other,
            })
    }
}

/// jsonwebtoken checks the signature and that the registered claims are present;
/// `exp`, `nbf`, `iss` and `aud` are checked by [`registered_claims`], because
/// jsonwebtoken reads the system time itself and the verifier's clock must rule.
fn validation(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg.to_jsonwebtoken());
    // jsonwebtoken requires only `exp` by default: a token with no `iss` or `aud`
    // would pass the issuer and audience checks.
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation
}

/// A NumericDate as jsonwebtoken reads one: an unsigned integer, or a finite
/// non-negative float rounded to the nearest second.
enum NumericDate {
    Absent,
    Parsed(u64),
    Invalid,
}

fn numeric_date(value: Option<&serde_json::Value>) -> NumericDate {
    let Some(value) = value else {
        return NumericDate::Absent;
    };
    let Some(number) = value.as_number() else {
        return NumericDate::Invalid;
    };
    if let Some(seconds) = number.as_u64() {
        return NumericDate::Parsed(seconds);
    }
    match number.as_f64() {
        #[allow(clippy::cast_precision_loss)] // jsonwebtoken's bound, kept as it is.
        Some(seconds)
            if number.is_f64()
                && seconds.is_finite()
                && seconds >= 0.0
                && seconds < u64::MAX as f64 =>
        {
            // The cast saturates; the range check keeps it meaningful.
            NumericDate::Parsed(seconds.round() as u64)
        }
        _ => NumericDate::Invalid,
    }
}

/// The registered-claim checks jsonwebtoken used to make, in its order and with its
/// errors, against the verifier's clock: `exp` and `nbf` well-formed, not expired, not
/// before `nbf` (both with leeway), then `iss` and `aud` (a string, or an array with
/// ours in it). Presence was checked by jsonwebtoken. Returns `exp` and `nbf`.
fn registered_claims(
    claims: &serde_json::Map<String, serde_json::Value>,
    now: u64,
    leeway: u64,
    issuer: &str,
    audience: &str,
) -> Result<(u64, Option<u64>), VerifyError> {
    use std::borrow::Cow;
    let invalid = |name: &'static str| VerifyError::InvalidClaim(Cow::Borrowed(name));
    let exp = match numeric_date(claims.get("exp")) {
        NumericDate::Parsed(exp) => exp,
        NumericDate::Invalid => return Err(invalid("exp")),
        NumericDate::Absent => return Err(VerifyError::MissingClaim(Cow::Borrowed("exp"))),
    };
    let nbf = match numeric_date(claims.get("nbf")) {
        NumericDate::Parsed(nbf) => Some(nbf),
        NumericDate::Invalid => return Err(invalid("nbf")),
        NumericDate::Absent => None,
    };
    check_times(exp, nbf, now, leeway)?;
    if !names(claims.get("iss"), issuer) {
        return Err(wrong_issuer(claims.get("iss"), issuer));
    }
    if !names(claims.get("aud"), audience) {
        return Err(wrong_audience(claims.get("aud"), issuer, audience));
    }
    Ok((exp, nbf))
}

/// The strings of an `iss` or `aud` value (a string, or an array's strings).
fn strings(value: Option<&serde_json::Value>) -> Vec<&str> {
    match value {
        Some(serde_json::Value::String(one)) => vec![one.as_str()],
        Some(serde_json::Value::Array(many)) => {
            many.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    }
}

/// The most `aud` values a refusal names.
const MAX_ECHOED_AUDIENCES: usize = 4;

/// A token from another issuer, naming the `iss` it carries (made safe to show).
pub(crate) fn wrong_issuer(iss: Option<&serde_json::Value>, issuer: &str) -> VerifyError {
    let found = strings(iss)
        .first()
        .map_or_else(|| "(none)".to_owned(), |iss| echo_claim(iss));
    VerifyError::WrongIssuer {
        found,
        expected: echo_claim(issuer),
    }
}

/// A token for another audience: [`VerifyError::UserinfoAudience`] when its only
/// audience is the issuer's `userinfo` endpoint (Auth0's token for no API), else
/// [`VerifyError::WrongAudience`] naming the `aud` it carries (made safe to show).
fn wrong_audience(aud: Option<&serde_json::Value>, issuer: &str, audience: &str) -> VerifyError {
    let found = strings(aud);
    let userinfo = format!("{}/userinfo", issuer.trim_end_matches('/'));
    if !found.is_empty() && found.iter().all(|aud| *aud == userinfo) {
        return VerifyError::UserinfoAudience;
    }
    let mut echoed: Vec<String> = found
        .iter()
        .take(MAX_ECHOED_AUDIENCES)
        .map(|aud| echo_claim(aud))
        .collect();
    if found.len() > MAX_ECHOED_AUDIENCES {
        echoed.push("...".to_owned());
    }
    VerifyError::WrongAudience {
        found: if echoed.is_empty() {
            "(none)".to_owned()
        } else {
            echoed.join(" ")
        },
        expected: echo_claim(audience),
    }
}

/// For a token signed by a key the issuer does not have: [`VerifyError::WrongIssuer`]
/// when its (unverified) `iss` names another issuer, a token from another tenant;
/// else [`VerifyError::UnknownKey`]. Only `iss` is read, and only to name it.
fn unknown_key(token: &str, issuer: &str) -> VerifyError {
    let iss = token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|bytes| parse_object(&bytes).ok())
        .and_then(|mut claims| claims.remove("iss"));
    match iss {
        Some(serde_json::Value::String(iss)) if iss != issuer => {
            wrong_issuer(Some(&serde_json::Value::String(iss)), issuer)
        }
        _ => VerifyError::UnknownKey,
    }
}

/// `exp` and `nbf` against `now`, with leeway: on a full verification and on every
/// cache hit.
fn check_times(exp: u64, nbf: Option<u64>, now: u64, leeway: u64) -> Result<(), VerifyError> {
    if exp < now.saturating_sub(leeway) {
        return Err(VerifyError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(VerifyError::NotYetValid);
    }
    Ok(())
}

/// Whether an `iss` or `aud` value (a string, or an array of strings) names `expected`.
fn names(value: Option<&serde_json::Value>, expected: &str) -> bool {
    match value {
        Some(serde_json::Value::String(one)) => one == expected,
        Some(serde_json::Value::Array(many)) => many.iter().any(|one| one == expected),
        _ => false,
    }
}

fn map_jwt_error(kind: ErrorKind) -> VerifyError {
    match kind {
        ErrorKind::InvalidSignature => VerifyError::BadSignature,
        ErrorKind::ExpiredSignature => VerifyError::Expired,
        ErrorKind::ImmatureSignature => VerifyError::NotYetValid,
        // Never raised: `registered_claims` checks `iss` and `aud` itself.
        ErrorKind::InvalidIssuer => VerifyError::WrongIssuer {
            found: "(unknown)".to_owned(),
            expected: "(unknown)".to_owned(),
        },
        ErrorKind::InvalidAudience => VerifyError::WrongAudience {
            found: "(unknown)".to_owned(),
            expected: "(unknown)".to_owned(),
        },
        ErrorKind::MissingRequiredClaim(claim) => VerifyError::MissingClaim(known_claim(&claim)),
        ErrorKind::InvalidClaimFormat(claim) => VerifyError::InvalidClaim(known_claim(&claim)),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => VerifyError::UnsupportedAlgorithm {
            alg: "unrecognised",
        },
        // The key parsed from the JWKS was rejected by the crypto backend: nothing
        // signed by it can be trusted, which for the client means a bad token.
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            VerifyError::BadSignature
        }
        ErrorKind::Json(_) => {
            VerifyError::Malformed("claims are not a JSON object with unique members")
        }
        ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            VerifyError::Malformed("segment is not base64url")
        }
        _ => VerifyError::Malformed("rejected by the JWT library"),
    }
}

/// jsonwebtoken names only the five registered claims it checks; map to static names
/// so nothing token-derived reaches an error message.
fn known_claim(claim: &str) -> std::borrow::Cow<'static, str> {
    let name = ["exp", "nbf", "iss", "aud", "sub"]
        .into_iter()
        .find(|known| *known == claim);
    std::borrow::Cow::Borrowed(name.unwrap_or("unknown"))
}

fn claim_present(token: &str, name: &str) -> bool {
    use base64::Engine;
    token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
        })
        .and_then(|bytes| crate::claims::parse_object(&bytes).ok())
        .is_some_and(|claims| claims.get(name).is_some_and(|value| !value.is_null()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our own header and claims parsers run first, so most of these are unreachable
    /// through `verify` today; the mapping still decides what a client is told if
    /// jsonwebtoken ever refuses first, so each arm is pinned.
    #[test]
    fn each_jsonwebtoken_refusal_maps_to_its_typed_error() {
        let kind = |error: VerifyError| error.kind();
        assert_eq!(
            kind(map_jwt_error(ErrorKind::InvalidSignature)),
            VerifyError::BadSignature.kind()
        );
        assert!(matches!(
            map_jwt_error(ErrorKind::InvalidAlgorithm),
            VerifyError::UnsupportedAlgorithm { .. }
        ));
        assert!(matches!(
            map_jwt_error(ErrorKind::MissingAlgorithm),
            VerifyError::UnsupportedAlgorithm { .. }
        ));
        assert!(matches!(
            map_jwt_error(ErrorKind::InvalidKeyFormat),
            VerifyError::BadSignature
        ));
        assert!(matches!(
            map_jwt_error(ErrorKind::InvalidEcdsaKey),
            VerifyError::BadSignature
        ));
        let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert!(matches!(
            map_jwt_error(ErrorKind::Json(Arc::new(json))),
            VerifyError::Malformed(reason) if reason.contains("JSON")
        ));
        assert!(matches!(
            map_jwt_error(ErrorKind::Base64(base64::DecodeError::InvalidPadding)),
            VerifyError::Malformed(reason) if reason.contains("base64url")
        ));
        assert!(matches!(
            map_jwt_error(ErrorKind::InvalidToken),
            VerifyError::Malformed("rejected by the JWT library")
        ));
    }
}
