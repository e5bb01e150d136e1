//! auth0-obo's [`SharedTokenStore`](auth0_obo::SharedTokenStore) on Redis, so that a
//! fleet of replicas makes one token exchange per user, not one per replica.
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
//! - `{prefix}exchange-budget`: the fleet-wide GCRA of `EXCHANGE_RATE_LIMIT`.
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
//!
//! # Use
//!
//! ```no_run
//! use std::sync::Arc;
//! use auth0_obo::{ClientSecret, SharedTokenStore};
//! use redis_token_store::{FleetSecret, RedisStoreConfig, RedisTokenStore, RedisUrl};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = RedisUrl::parse("redis://:password@redis.internal:6379/0")?;
//! let fleet_secret = FleetSecret::derive_from_client_credentials(
//!     "mcp-server-client-id",
//!     &ClientSecret::new("the MCP server's client secret"),
//! );
//! let store = RedisTokenStore::new(RedisStoreConfig::new(url, fleet_secret))?;
//! store.check().await?; // SET, GET, DEL under the prefix
//! let store: Arc<dyn SharedTokenStore> = Arc::new(store);
//! # Ok(()) }
//! ```

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
