//! auth0-obo's [`SharedTokenStore`](auth0_obo::SharedTokenStore) on Redis, so that a
//! fleet of replicas makes one token exchange per user, not one per replica.
//!
//! ```rust,no_run
//! use std::sync::Arc;
//!
//! use auth0_obo::{CacheOptions, ClientSecret, ExchangeClient, ExchangeRequest, TokenCache};
//! use redis_token_store::{FleetSecret, RedisStoreConfig, RedisTokenStore, RedisUrl};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client_id = std::env::var("AUTH0_CLIENT_ID")?;
//!     let client_secret = ClientSecret::new(std::env::var("AUTH0_CLIENT_SECRET")?);
//!
//!     // Every replica derives the same fleet secret from the credentials they share
//!     // (or reads a random one, `FleetSecret::from_base64`).
//!     let fleet_secret =
//!         FleetSecret::derive_from_client_credentials(&client_id, &client_secret);
//!     let url = RedisUrl::parse("redis://:password@redis.internal:6379/0")?;
//!     let store = RedisTokenStore::new(RedisStoreConfig::new(url, fleet_secret))?;
//!     store.check().await?; // SET, GET, DEL under the prefix: fail fast at start-up
//!
//!     let client = ExchangeClient::builder("tenant.eu.auth0.com", client_id, client_secret)
//!         .build()?;
//!     let cache = TokenCache::new(
//!         Arc::new(client),
//!         CacheOptions::default().shared_store(Arc::new(store)),
//!     );
//!
//!     // The first replica to miss exchanges; the others read its token from Redis.
//!     let user_token = std::env::var("USER_TOKEN")?;
//!     let request = ExchangeRequest::new(user_token, "https://api.example.com/")?;
//!     let token = cache.get_token(&request).await?;
//!     println!("{:?}, valid for {:?}", token.source(), token.token().remaining_lifetime());
//!     Ok(())
//! }
//! ```
//!
//! # What Redis holds
//!
//! - `{prefix}{hex(cache key)}`: an exchanged token and its metadata, sealed with
//!   AES-256-GCM under a key derived (HKDF-SHA256) from the **user's own subject
//!   token**, salted with the **fleet secret**; the Redis key is the associated data.
//!   Its TTL ends when the token stops being usable. Whoever reads all of Redis holds
//!   nothing usable without both a user's token and the fleet secret, and the keys are
//!   hashes (docs/security.md).
//! - `{prefix}lock:{hex(cache key)}`: the fleet lock of one key (`SET NX PX` with a
//!   random owner, released by compare-and-delete), so one replica exchanges while the
//!   others wait for its entry.
//! - `{prefix}exchange-budget`: the fleet-wide GCRA of the
//!   [`ExchangeBudget`], when one is configured.
//!
//! # Faults
//!
//! Every operation is bounded by the configured timeout (50 ms by default) and answers
//! [`StoreError::Timeout`](auth0_obo::StoreError::Timeout) past it;
//! a refused or dropped connection, or refused credentials, answer
//! [`StoreError::Unavailable`](auth0_obo::StoreError::Unavailable), with no secret in
//! the text. The connection is made on first use and remade by itself after a
//! failure. A value that does not open is deleted and answers
//! [`StoreError::Corrupt`](auth0_obo::StoreError::Corrupt). The cache treats all of
//! them as a miss.

// The README's examples are doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod config;
mod fleet_secret;
mod kdf;
mod rate_limit;
mod scripts;
mod sealed_entry;
mod store;

pub use config::{
    ConfigError, DEFAULT_KEY_PREFIX, DEFAULT_TIMEOUT, ExchangeBudget, RedisStoreConfig, RedisUrl,
};
pub use fleet_secret::{FleetSecret, MIN_FLEET_SECRET_BYTES};
pub use rate_limit::RateLimit;
pub use store::RedisTokenStore;
