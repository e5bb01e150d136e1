//! Verify OAuth 2.0 JWT access tokens (Auth0, RFC 9068) against an issuer's JWKS.
//!
//! A resource server receives `Authorization: Bearer <jwt>` and must decide, cheaply
//! and without calling the issuer per request, whether the token may enter. This crate
//! makes that decision:
//!
//! 1. [`bearer::parse_authorization`] takes the token out of the header, strictly.
//! 2. [`JwksVerifier::verify`] checks it against the issuer's keys, fetched once and
//!    cached ([`JwksSource`]), and returns a [`Principal`]: who the token speaks for,
//!    with which scopes, through which chain of actors (RFC 8693 `act`).
//! 3. On failure, the [`VerifyError`] knows its RFC 6750 error code and a description
//!    fit for the client, [`Refusal`] turns it into the whole answer (status,
//!    `WWW-Authenticate` challenge, `Cache-Control: no-store`, JSON body) without
//!    tying you to an HTTP framework, and [`Challenge`] renders and parses the header.
//!
//! ```rust,no_run
//! use oauth_jwt_verify::{Issuer, JwksVerifier, Refusal, VerifierOptions, bearer};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Once, at startup: the issuer exactly as tokens carry it in `iss`, and our
//!     // audience.
//!     let verifier = JwksVerifier::new(
//!         Issuer::parse("tenant.auth0.com")?, // becomes https://tenant.auth0.com/
//!         "https://mcp.example.com/",
//!         VerifierOptions::default(),
//!     )?;
//!     verifier.refresh_keys().await?; // fail fast if the issuer is unreachable
//!
//!     // Per request: the value of its `Authorization` header.
//!     let authorization = std::env::var("AUTHORIZATION")?; // "Bearer eyJ..."
//!     let refusal = match bearer::parse_authorization(&authorization) {
//!         // 400 invalid_request, or 401 with a bare challenge for another scheme.
//!         Err(error) => Refusal::from_bearer_error(error),
//!         Ok(token) => match verifier.verify(token).await {
//!             Ok(principal) if principal.has_scope("tool:greet") => {
//!                 println!("hello {} via {:?}", principal.sub, principal.current_actor());
//!                 return Ok(());
//!             }
//!             // 403 with an insufficient_scope challenge: the client can step up.
//!             Ok(_) => Refusal::insufficient_scope(["tool:greet"]),
//!             // 401 invalid_token when the token is at fault; 503 (no challenge) when
//!             // the issuer's keys are unreachable, so the client keeps its good token.
//!             Err(error) => Refusal::from_verify_error(&error),
//!         },
//!     };
//!     // The whole answer, for whichever HTTP framework serves the request.
//!     println!("{} {:?} {}", refusal.status(), refusal.headers(), refusal.body());
//!     Ok(())
//! }
//! ```
//!
//! # What is checked
//!
//! - **Size first.** Tokens over [`VerifierOptions::max_token_bytes`] (16 KiB) are
//!   refused before any decoding.
//! - **Algorithms.** Only those configured ([`Algorithm`]: RS256 by default; PS256,
//!   ES256). `none` and HMAC cannot even be named. The header's `alg` must fit the key's
//!   `kty`, and the JWK's own `alg` when it has one. `jku`, `x5u`, `jwk` and `x5c` in the
//!   header are never used: keys come only from the configured issuer.
//! - **Claims.** `iss` exactly equal to the [`Issuer`]; `aud` a string or array holding
//!   our audience; `exp` and `nbf` with leeway; `sub` a non-empty string; a client id
//!   from `client_id`, else `azp`. Claims we read must have their registered type, and
//!   a claims object with duplicate members is refused.
//! - **Scopes.** [`Principal::scopes`] and [`Principal::has_scope`] come from `scope`
//!   alone: what the client asked for and the user consented to. Auth0's RBAC
//!   `permissions` (every permission the user holds, whatever the client asked for) is
//!   kept apart in [`Principal::permissions`] and grants nothing.
//!
//! # Keys and rotation
//!
//! Keys are fetched on first use (or by [`JwksVerifier::refresh_keys`]) and cached for
//! the response's `Cache-Control: max-age`, clamped to 30 s ..= 24 h (10 minutes when
//! absent). A token with an unknown `kid` triggers one refetch, at most once per
//! [`VerifierOptions::refetch_cooldown`], and concurrent refetches share one request.
//! When the endpoint fails, cached keys keep working for up to
//! [`VerifierOptions::jwks_max_staleness`] (24 h) past their lifetime; with no keys at
//! all, or only older ones, verification fails with [`VerifyError::KeysUnavailable`], a
//! server-side error. [`JwksVerifier::ensure_keys`] loads keys under the same limits,
//! for callers such as readiness probes that anyone may trigger.
//!
//! # The verified-token cache
//!
//! A token verified once is remembered (up to
//! [`VerifierOptions::verified_cache_capacity`] tokens, 10,000 by default; 0 turns it
//! off), keyed by the SHA-256 of its bytes. Presented again, it skips the signature
//! check and claims parsing, but its `exp` and `nbf` are checked again against the
//! clock, and the entry counts only while the keys it was verified with are the ones
//! held: a changed JWKS (rotation, a key withdrawn) or keys forgotten past their
//! staleness bound clear it. Failures and tokens whose `nbf` is still ahead are never
//! cached. [`JwksVerifier::verified_cache_stats`] counts hits and misses.
//!
//! # Secrets
//!
//! The token is kept in [`AccessToken`], whose `Debug` and `Display` are redacted. No
//! error, log line or `Debug` output of this crate contains a token. A failed JWKS
//! fetch is described by [`describe_reqwest_error`], never by reqwest's `Display`, which
//! would show the URL's query; the function is public for other callers of reqwest.

// The README's examples are doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub mod bearer;
mod challenge;
mod claims;
mod clock;
mod error;
mod error_code;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod issuer;
mod jwks;
mod jwks_http;
mod key_cache;
mod key_set;
mod options;
mod principal;
mod refusal;
mod verified_cache;
mod verifier;

pub use bearer::BearerError;
pub use challenge::{Challenge, ChallengeParseError};
#[doc(hidden)]
pub use clock::ManualClock;
pub use error::{
    ConfigError, JwksError, MAX_ECHOED_CLAIM_CHARS, VerifyError, describe_reqwest_error, echo_claim,
};
pub use error_code::BearerErrorCode;
pub use issuer::Issuer;
pub use jwks::{FetchedJwks, JwksSource, StaticJwks};
pub use jwks_http::HttpJwksSource;
pub use key_cache::JwksStats;
pub use options::{Algorithm, JwksLocation, VerifierOptions};
pub use principal::{AccessToken, Actor, Principal};
pub use refusal::Refusal;
pub use verified_cache::VerifiedCacheStats;
pub use verifier::JwksVerifier;

// Crates whose types appear in this crate's public API (`describe_reqwest_error`,
// `Issuer::well_known_jwks_url`, `StaticJwks::from_json`), re-exported so that
// callers use the very versions this crate was built with.
pub use reqwest;
pub use serde_json;
pub use url;
