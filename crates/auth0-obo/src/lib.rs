//! On-Behalf-Of token exchange with Auth0 (RFC 8693), and a token cache that never
//! mixes users and never stampedes the tenant.
//!
//! A service that receives a user's access token often needs to call another API
//! *as that user*. Forwarding the user's token is wrong: it was issued for this
//! service (its `aud` is ours), and the downstream API must reject it. Token
//! exchange asks the authorization server for a new token, for the downstream
//! audience, that still names the user as `sub` and names this service as the
//! actor (`act`).
//!
//! Auth0 limits these exchanges to a few per second per tenant (2 on Free, 8 on
//! Essentials and Professional, 30 on Enterprise) and asks callers to cache the
//! result for its lifetime. So this crate has two halves:
//!
//! - [`ExchangeClient`] speaks the exchange exactly: the RFC 8693 form fields,
//!   Auth0's `organization`, client authentication by `client_secret_basic` (with
//!   the RFC 6749 §2.3.1 form-encoding that most HTTP clients skip),
//!   `client_secret_post` or `private_key_jwt` (RFC 7523, for companies that forbid
//!   shared secrets), response validation, typed OAuth errors ([`ExchangeError`]),
//!   bounded retries within a deadline.
//! - [`TokenCache`] keeps each exchanged token until shortly before it expires,
//!   keyed by a hash of the user's token, the audience, the scopes and the client,
//!   and makes concurrent misses for one key share a single exchange.
//!
//! Nothing here knows about MCP, HTTP servers or JWT validation: verify the
//! incoming token however you like, then hand its raw value here.
//!
//! # Example: a plain tokio program
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use auth0_obo::{CacheOptions, ExchangeClient, ExchangeRequest, TokenCache};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // The Custom API client that Auth0 allows to do On-Behalf-Of exchanges.
//!     let client = ExchangeClient::builder(
//!         "tenant.eu.auth0.com", // becomes https://tenant.eu.auth0.com/
//!         std::env::var("AUTH0_CLIENT_ID")?,
//!         std::env::var("AUTH0_CLIENT_SECRET")?,
//!     )
//!     .build()?;
//!     let cache = TokenCache::new(Arc::new(client), CacheOptions::default());
//!
//!     // The raw access token the user sent us (no "Bearer " prefix), after we
//!     // verified it.
//!     let user_token = std::env::var("USER_TOKEN")?;
//!     let request = ExchangeRequest::new(user_token, "https://api.example.com/")?
//!         .with_scope("read:private");
//!
//!     // The first call exchanges; later calls for the same user, audience and
//!     // scope are answered from memory until one minute before expiry.
//!     for _ in 0..3 {
//!         let token = cache.get_token(&request).await?;
//!         println!(
//!             "{} token ({:?}), valid for {:?}",
//!             token.token().token_type,
//!             token.source(),
//!             token.token().remaining_lifetime(),
//!         );
//!         // Use it: Authorization: Bearer {token.access_token_secret()}
//!     }
//!
//!     // If the API rejects the token (revoked, say), drop it so the next call
//!     // exchanges afresh.
//!     cache.invalidate(&request).await;
//!     println!("{:?}", cache.stats());
//!     Ok(())
//! }
//! ```
//!
//! # Example: an axum API that calls another API as its caller
//!
//! `examples/axum_gateway.rs` is a whole service, not MCP, in one readable file: it
//! verifies each caller's bearer token (with the `jwt-verify` crate; any verifier
//! will do), exchanges it through a [`TokenCache`], calls the downstream API with the
//! new token, invalidating and exchanging once more if that API answers 401, and
//! maps each failure to an HTTP answer. It is configured from the environment
//! (`AUTH0_DOMAIN`, `AUTH0_AUDIENCE`, `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET`,
//! `DOWNSTREAM_AUDIENCE`, `DOWNSTREAM_SCOPE`, `DOWNSTREAM_URL`, `LISTEN_ADDR`):
//!
//! ```sh
//! cargo run -p auth0-obo --example axum_gateway
//! ```
//!
//! Its test (`tests/axum_gateway_example.rs`) runs it against the mock Auth0 tenant and
//! the sample private API, which then reports the user as `sub` and the gateway's
//! client as the current actor.
//!
//! # A fleet of replicas: a shared second tier
//!
//! Behind a load balancer, each replica's in-process cache would cost a user one
//! exchange per replica. Give every replica's cache the same [`SharedTokenStore`]
//! (the `redis-token-store` crate keeps it in Redis, encrypted; this crate never
//! depends on it) and they share tokens and take turns exchanging, so the fleet still
//! makes one exchange per user and token lifetime:
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use auth0_obo::{CacheOptions, SharedTokenStore, TokenCache, TokenExchanger};
//!
//! fn fleet_cache(
//!     exchanger: Arc<dyn TokenExchanger>,
//!     store: Arc<dyn SharedTokenStore>,
//! ) -> TokenCache {
//!     let options = CacheOptions::default()
//!         .shared_store(store)
//!         // One replica exchanges for a key at a time, for at most this long...
//!         .lock_ttl(Duration::from_secs(10))
//!         // ...and the others wait at most this long for its token.
//!         .lock_wait(Duration::from_secs(5));
//!     TokenCache::new(exchanger, options)
//! }
//! ```
//!
//! An in-process miss then reads the store; a miss there takes the key's fleet lock,
//! and the holder asks the store's exchange budget, exchanges and writes the store; the
//! other replicas wait for that entry. The store is an optimisation: any failure of it
//! is a miss, counted in [`CacheStats`] and logged, never a failed call. Without a
//! store, the cache is in-process only.
//!
//! # Private Key JWT
//!
//! Give the builder a [`ClientAssertionKey`] instead of a secret, and every request
//! carries a fresh client assertion signed with it (`iss` = `sub` = the client id,
//! `aud` = the issuer, a 60 s lifetime, a random `jti`), as Auth0's "Authenticate
//! with Private Key JWT" describes:
//!
//! ```no_run
//! use auth0_obo::{AssertionAlgorithm, ClientAssertionKey, ExchangeClient};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pem = std::fs::read("/run/secrets/mcp-server-key.pem")?;
//! // The algorithm and key id of the credential holding the public key in Auth0.
//! let key = ClientAssertionKey::from_pem(&pem, AssertionAlgorithm::Rs256)?
//!     .with_kid("the-credential-key-id")?;
//! let client = ExchangeClient::builder("tenant.eu.auth0.com", "client-id", key).build()?;
//! assert_eq!(client.auth_method().name(), "private_key_jwt");
//! # Ok(())
//! # }
//! ```
//!
//! # Errors
//!
//! [`ExchangeError`] names the OAuth error codes (`invalid_request`,
//! `invalid_grant`, `access_denied`, …) and the transport outcomes (`RateLimited`,
//! `Server`, `Timeout`, `Transport`, `InvalidResponse`), each with
//! [`is_retryable`](ExchangeError::is_retryable) and a metrics
//! [`kind`](ExchangeError::kind).
//!
//! # Secrets
//!
//! The client secret ([`ClientSecret`]) and every token ([`AccessToken`]) are
//! newtypes whose `Debug` and `Display` print `[redacted]`; the assertion key
//! ([`ClientAssertionKey`]) shows only its algorithm and `kid`, and each assertion
//! lives only for the request it authenticates. Errors and log events never contain
//! them; text from the server is scrubbed of them before it is stored in an error. The cache stores only a SHA-256 of the user's token.
//!
//! # Other authorization servers
//!
//! [`TokenCache`] works with any [`TokenExchanger`]. [`ExchangeClient`] itself
//! speaks plain RFC 8693, so [`TokenEndpoint::Discover`] points it at any server
//! with an OpenID Connect discovery document.

// The README's examples compile as doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod assertion;
mod cache;
mod client;
mod error;
mod exchanger;
#[doc(hidden)]
pub mod fuzzing;
mod issuer;
mod request;
mod response;
mod retry;
mod secret;
mod shared_tier;
mod store;

pub use assertion::{
    ASSERTION_LIFETIME, AssertionAlgorithm, CLIENT_ASSERTION_TYPE_JWT_BEARER, ClientAssertionKey,
};
pub use cache::{
    CacheOptions, CacheStats, CachedToken, DEFAULT_MAX_ENTRIES, DEFAULT_SKEW, TokenCache,
    TokenCacheKey, TokenSource,
};
pub use client::{
    ClientAuthMethod, DEFAULT_DEADLINE, DEFAULT_TIMEOUT, ExchangeClient, ExchangeClientBuilder,
    GRANT_TYPE_TOKEN_EXCHANGE, TOKEN_TYPE_ACCESS_TOKEN, TokenEndpoint,
};
pub use error::{ERROR_KINDS, ExchangeError, OAuthErrorDetails};
pub use exchanger::TokenExchanger;
pub use issuer::Issuer;
pub use request::{ExchangeRequest, normalize_scope};
pub use response::{DEFAULT_EXPIRES_IN, ExchangedToken, TokenType};
pub use retry::RetryPolicy;
pub use secret::{AccessToken, ClientSecret};
pub use shared_tier::{
    DEFAULT_BUDGET_WAIT, DEFAULT_LOCK_POLL_INITIAL, DEFAULT_LOCK_POLL_MAX, DEFAULT_LOCK_TTL,
    DEFAULT_LOCK_WAIT, DEFAULT_STORE_CALL_TIMEOUT, WARN_INTERVAL,
};
pub use store::{FleetLock, STORE_ERROR_KINDS, SharedTokenStore, StoreError, StoredToken};
