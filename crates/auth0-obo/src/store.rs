//! A second cache tier shared by every replica of a fleet (Redis, in `redis-token-store`),
//! behind the in-process cache.
//!
//! With N replicas behind a load balancer, each replica's in-process cache alone would
//! cost a user N exchanges per token lifetime. A [`SharedTokenStore`] lets the replicas
//! share exchanged tokens, and take turns exchanging ([`SharedTokenStore::try_lock`]),
//! so the fleet still makes one exchange per user.
//!
//! The store is an optimisation, never a dependency: [`TokenCache`](crate::TokenCache)
//! treats every [`StoreError`] as a miss (or as "no lock"), logs it, counts it, and goes
//! on with its in-process cache and a direct exchange. A store's operations must
//! therefore be bounded in time (a short timeout of their own).

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::cache::TokenCacheKey;
use crate::request::ExchangeRequest;
use crate::response::ExchangedToken;

/// A token as a shared store keeps it: the exchanged token, and the instant after
/// which no replica may use it (its `expires_at − skew`, capped by the subject token's
/// `exp`), which is also when the store must forget it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredToken {
    /// The exchanged token.
    pub token: ExchangedToken,
    /// Usable strictly before this instant.
    pub usable_until: SystemTime,
}

impl StoredToken {
    /// `token`, usable strictly before `usable_until`.
    #[must_use]
    pub fn new(token: ExchangedToken, usable_until: SystemTime) -> Self {
        Self {
            token,
            usable_until,
        }
    }
}

/// Why a shared store could not answer. It never fails a call: a [`TokenCache`](crate::TokenCache)
/// treats it as a miss (or as "no lock"), logs it and counts it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store did not answer within its timeout (hung, overloaded, partitioned).
    #[error("the shared token store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store refused the connection, dropped it, or refused the credentials. The
    /// text names the cause and never holds a secret (no URL with its password).
    #[error("the shared token store is unavailable: {0}")]
    Unavailable(String),
    /// The store answered something this client cannot read.
    #[error("the shared token store answered something unexpected: {0}")]
    Protocol(String),
    /// A stored value did not decrypt or parse; the store deleted it.
    #[error("a shared token store entry did not decrypt or parse, and was deleted")]
    Corrupt,
}

impl StoreError {
    /// A short, stable name for metrics labels and log fields.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "timeout",
            Self::Unavailable(_) => "unavailable",
            Self::Protocol(_) => "protocol",
            Self::Corrupt => "corrupt",
        }
    }
}

/// Every value [`StoreError::kind`] can return, in a fixed order (the cache's error
/// counters, and metrics labels known before the first error).
pub const STORE_ERROR_KINDS: [&str; 4] = ["timeout", "unavailable", "protocol", "corrupt"];

/// Proof that this replica holds a key's fleet lock: the random value it set, which
/// only its owner can release (compare-and-delete). Give it back with
/// [`SharedTokenStore::unlock`]; if it is lost, the lock expires by itself.
pub struct FleetLock {
    owner: [u8; 16],
}

impl FleetLock {
    /// A lock held under the random `owner` value.
    #[must_use]
    pub fn new(owner: [u8; 16]) -> Self {
        Self { owner }
    }

    /// The owner value the store holds for this lock.
    #[must_use]
    pub fn owner(&self) -> &[u8; 16] {
        &self.owner
    }
}

impl fmt::Debug for FleetLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FleetLock(..)")
    }
}

/// A cache tier shared by a fleet: see [the crate docs](crate#a-fleet-of-replicas-a-shared-second-tier).
///
/// `request` is passed so that a store can bind what it keeps to the user: the store
/// in `redis-token-store` derives each entry's encryption key from the subject token,
/// which never leaves the process. `key` is the in-process cache's key for `request`.
#[async_trait]
pub trait SharedTokenStore: Send + Sync + fmt::Debug {
    /// The entry under `key`, if there is one still usable.
    async fn get(
        &self,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
    ) -> Result<Option<StoredToken>, StoreError>;

    /// Keeps `entry` under `key` until `entry.usable_until`, and no longer.
    async fn put(
        &self,
        key: &TokenCacheKey,
        request: &ExchangeRequest,
        entry: &StoredToken,
    ) -> Result<(), StoreError>;

    /// Forgets the entry under `key` (after the API refused its token).
    async fn remove(&self, key: &TokenCacheKey) -> Result<(), StoreError>;

    /// Tries to become, for at most `ttl`, the one replica exchanging for `key`.
    /// `Ok(None)`: another replica holds the lock.
    async fn try_lock(
        &self,
        key: &TokenCacheKey,
        ttl: Duration,
    ) -> Result<Option<FleetLock>, StoreError>;

    /// Releases a lock this replica holds, if it still does.
    async fn unlock(&self, key: &TokenCacheKey, lock: FleetLock) -> Result<(), StoreError>;

    /// Asks the fleet-wide exchange budget for one exchange: `Ok(None)` to go ahead
    /// now, `Ok(Some(wait))` to ask again after `wait`. A store without a budget
    /// always says go.
    ///
    /// [`TokenCache`](crate::TokenCache) asks before every exchange, even when another
    /// call to the store has just failed in the same request: a store that cannot reach
    /// its shared budget should answer from its local share, and quickly.
    async fn exchange_budget(&self) -> Result<Option<Duration>, StoreError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_listed() {
        let samples = [
            StoreError::Timeout(Duration::from_millis(50)),
            StoreError::Unavailable("connection refused".into()),
            StoreError::Protocol("unexpected reply".into()),
            StoreError::Corrupt,
        ];
        assert_eq!(samples.len(), STORE_ERROR_KINDS.len());
        for (error, kind) in samples.iter().zip(STORE_ERROR_KINDS) {
            assert_eq!(error.kind(), kind);
        }
    }
}
