//! The cached key set: when to fetch, and making sure concurrent requests fetch once.
//!
//! Three rules shape this file:
//! - **Single flight.** Every fetch happens under one async mutex. A request that waited
//!   for the mutex first checks whether a fetch completed while it waited (the
//!   `attempts` counter moved) and, if so, uses that result instead of fetching again.
//! - **Failures are shared too.** With no keys cached, a failed fetch answers the
//!   requests queued behind it and any arriving within a second, instead of each
//!   retrying.
//! - **Stale keys beat no keys, for a while.** When the cache expires and the endpoint
//!   fails (or answers no usable key), the old keys keep verifying; retries are spaced
//!   by the refetch cooldown. Requests that find a refresh already in progress do not
//!   wait for it. Past the maximum staleness the keys are forgotten, once, with a
//!   warning: a tenant that withdrew a compromised key must win eventually, so from
//!   then on it is as if keys had never been fetched.
//! - **Every key set has a generation.** A fetch that returns the same document (same
//!   bytes) keeps the generation; a different one (rotation, a key removed), or a fetch
//!   after the keys were forgotten, starts a new one. The verified-token cache serves
//!   only entries of the generation a request sees.
//! - **Unknown `kid` is rate-limited.** It may trigger one refetch per cooldown, so a
//!   flood of tokens with made-up key ids costs the issuer at most one request each
//!   cooldown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::error::JwksError;
use crate::jwks::JwksSource;
use crate::key_set::{KeySet, parse_jwks};
use crate::options::VerifierOptions;

/// Counters of JWKS activity since the verifier was built, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksStats {
    /// Fetches that produced a usable key set.
    pub fetches_ok: u64,
    /// Fetches that failed (transport, status, size, or no usable key).
    pub fetches_failed: u64,
    /// Refetches triggered by a token whose `kid` was not cached.
    pub unknown_kid_refetches: u64,
}

/// A key set, when it stops being fresh, and when it stops being usable at all.
#[derive(Debug)]
pub(crate) struct CachedKeys {
    pub(crate) keys: KeySet,
    /// Numbers the distinct key sets this cache has held, from 1; see the module doc.
    pub(crate) generation: u64,
    /// SHA-256 of the JWKS document, to tell a changed document from a refetched one.
    document: [u8; 32],
    expires_at: Instant,
    usable_until: Instant,
}

/// A view of the cache taken at the start of a verification.
pub(crate) struct Snapshot {
    pub(crate) keys: Arc<CachedKeys>,
    /// The fetch count before this request looked: if it has moved by the time the
    /// request wants to refetch, someone else already did.
    seen_attempts: u64,
}

#[derive(Debug, Default)]
struct RefreshState {
    last_unknown_kid_refetch: Option<Instant>,
    last_failure: Option<(Instant, JwksError)>,
}

#[derive(Debug)]
pub(crate) struct KeyCache {
    source: Arc<dyn JwksSource>,
    current: RwLock<Option<Arc<CachedKeys>>>,
    refresh: tokio::sync::Mutex<RefreshState>,
    attempts: AtomicU64,
    /// The last generation handed out.
    generations: AtomicU64,
    fetches_ok: AtomicU64,
    fetches_failed: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    ttl_default: Duration,
    ttl_min: Duration,
    ttl_max: Duration,
    cooldown: Duration,
    max_staleness: Duration,
}

impl KeyCache {
    pub(crate) fn new(source: Arc<dyn JwksSource>, options: &VerifierOptions) -> Self {
        Self {
            source,
            current: RwLock::new(None),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
            attempts: AtomicU64::new(0),
            generations: AtomicU64::new(0),
            fetches_ok: AtomicU64::new(0),
            fetches_failed: AtomicU64::new(0),
            unknown_kid_refetches: AtomicU64::new(0),
            ttl_default: options.jwks_ttl,
            ttl_min: options.jwks_min_ttl,
            ttl_max: options.jwks_max_ttl,
            cooldown: options.refetch_cooldown,
            max_staleness: options.jwks_max_staleness,
        }
    }

    pub(crate) fn stats(&self) -> JwksStats {
        JwksStats {
            fetches_ok: self.fetches_ok.load(Ordering::Relaxed),
            fetches_failed: self.fetches_failed.load(Ordering::Relaxed),
            unknown_kid_refetches: self.unknown_kid_refetches.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn has_keys(&self) -> bool {
        self.current().is_some()
    }

    /// Keys to verify with: cached if fresh; refreshed if stale (falling back to the
    /// stale ones on failure); fetched if there are none yet.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, JwksError> {
        // Read the counter before the keys (and `fetch` stores keys before bumping it),
        // so a snapshot never pairs old keys with a newer count.
        let seen_attempts = self.attempts.load(Ordering::SeqCst);
        match self.current() {
            Some(keys) if Instant::now() < keys.expires_at => Ok(Snapshot {
                keys,
                seen_attempts,
            }),
            Some(stale) => {
                let keys = self.refresh_stale(stale).await;
                Ok(Snapshot {
                    keys,
                    seen_attempts,
                })
            }
            None => {
                let mut state = self.refresh.lock().await;
                if let Some(keys) = self.current() {
                    return Ok(Snapshot {
                        keys,
                        seen_attempts,
                    });
                }
                // Someone else's fetch failed while we queued, or one failed a moment
                // ago: share its answer rather than stampeding a failing endpoint.
                if let Some((at, error)) = &state.last_failure
                    && (self.attempts.load(Ordering::SeqCst) != seen_attempts
                        || at.elapsed() < self.cold_retry_backoff())
                {
                    return Err(error.clone());
                }
                let keys = self.fetch(&mut state).await?;
                Ok(Snapshot {
                    keys,
                    seen_attempts,
                })
            }
        }
    }

    async fn refresh_stale(&self, stale: Arc<CachedKeys>) -> Arc<CachedKeys> {
        // Whoever holds the lock is already refreshing; the stale keys are good enough
        // for this request.
        let Ok(mut state) = self.refresh.try_lock() else {
            return stale;
        };
        if let Some(keys) = self
            .current()
            .filter(|keys| Instant::now() < keys.expires_at)
        {
            return keys;
        }
        if state
            .last_failure
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < self.cooldown)
        {
            return stale;
        }
        self.fetch(&mut state).await.unwrap_or(stale)
    }

    /// Called when `kid` was not in `snapshot`: refetch unless someone already did since
    /// the snapshot, or the cooldown has not passed. Returns the keys to look in again.
    pub(crate) async fn refetch_for_unknown_kid(
        &self,
        snapshot: &Snapshot,
    ) -> Option<Arc<CachedKeys>> {
        let mut state = self.refresh.lock().await;
        if self.attempts.load(Ordering::SeqCst) != snapshot.seen_attempts {
            return self.current();
        }
        if state
            .last_unknown_kid_refetch
            .is_some_and(|at| at.elapsed() < self.cooldown)
        {
            return None;
        }
        state.last_unknown_kid_refetch = Some(Instant::now());
        self.unknown_kid_refetches.fetch_add(1, Ordering::Relaxed);
        self.fetch(&mut state).await.ok()
    }

    /// Makes sure usable keys are cached, fetching only when a verification would, so
    /// under the same single flight, cold-start backoff and cooldown.
    pub(crate) async fn ensure(&self) -> Result<(), JwksError> {
        self.snapshot().await.map(drop)
    }

    /// Fetches now, whatever the cache holds and however recently a fetch failed (at
    /// startup, or on an operator's request; never on behalf of every request).
    pub(crate) async fn refresh(&self) -> Result<(), JwksError> {
        let mut state = self.refresh.lock().await;
        self.fetch(&mut state).await.map(drop)
    }

    /// The one place keys are fetched; the caller holds the refresh lock.
    async fn fetch(&self, state: &mut RefreshState) -> Result<Arc<CachedKeys>, JwksError> {
        let result = match self.source.fetch().await {
            Ok(fetched) => parse_jwks(&fetched.body).map(|keys| {
                let document = crate::verified_cache::token_digest_bytes(&fetched.body);
                (keys, fetched.max_age, document)
            }),
            Err(error) => Err(error),
        };
        let outcome = match result {
            Ok((keys, max_age, document)) => {
                // `current()` forgets keys past their staleness bound, so a document
                // fetched after that starts a new generation even if unchanged.
                let generation = match self.current() {
                    Some(old) if old.document == document => old.generation,
                    _ => self.generations.fetch_add(1, Ordering::SeqCst) + 1,
                };
                let ttl = max_age
                    .unwrap_or(self.ttl_default)
                    .clamp(self.ttl_min, self.ttl_max);
                tracing::debug!(keys = keys.len(), ttl_secs = ttl.as_secs(), "fetched JWKS");
                let expires_at = Instant::now() + ttl;
                let cached = Arc::new(CachedKeys {
                    keys,
                    generation,
                    document,
                    expires_at,
                    usable_until: expires_at + self.max_staleness,
                });
                *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                    Some(Arc::clone(&cached));
                state.last_failure = None;
                self.fetches_ok.fetch_add(1, Ordering::Relaxed);
                Ok(cached)
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "JWKS fetch failed");
                state.last_failure = Some((Instant::now(), error.clone()));
                self.fetches_failed.fetch_add(1, Ordering::Relaxed);
                Err(error)
            }
        };
        self.attempts.fetch_add(1, Ordering::SeqCst);
        outcome
    }

    /// With no keys at all every request fails, so retry sooner than the cooldown, but
    /// not on every request.
    fn cold_retry_backoff(&self) -> Duration {
        self.cooldown.min(Duration::from_secs(1))
    }

    /// The cached keys, unless they are past their maximum staleness.
    fn current(&self) -> Option<Arc<CachedKeys>> {
        let keys = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()?;
        if Instant::now() < keys.usable_until {
            return Some(keys);
        }
        self.forget(&keys);
        None
    }

    /// Drops keys that outlived their maximum staleness. Only the caller that removes
    /// them logs, so the warning is written once per key set, not once per request.
    fn forget(&self, expired: &Arc<CachedKeys>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current
            .as_ref()
            .is_some_and(|keys| Arc::ptr_eq(keys, expired))
        {
            *current = None;
            drop(current);
            // Whatever was verified with these keys no longer counts.
            self.generations.fetch_add(1, Ordering::SeqCst);
            tracing::warn!(
                max_staleness_secs = self.max_staleness.as_secs(),
                "the cached signing keys (JWKS) are past their maximum staleness and could not be refreshed; \
                 tokens are refused as unverifiable (503) until the JWKS can be fetched again"
            );
        }
    }
}

/// Displays an error with its sources, for one informative log line.
struct ErrorChain<'a>(&'a (dyn std::error::Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_chain_shows_every_cause() {
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(ErrorChain(&error).to_string(), "outer: inner");
    }
}
