//! The verified-token cache: a token verified once is not verified again while it is
//! still valid and the keys that verified it are still the ones we hold.
//!
//! An RS256 verification costs tens of microseconds; a client sends the same token on
//! every request for as long as it lives. So successful verifications are remembered,
//! under rules that keep a hit exactly as strict as a full verification:
//! - **Keyed by SHA-256 of the exact token bytes.** A token that differs in any byte
//!   (a tampered signature, payload or header) is another key, so it misses and is
//!   verified in full. The token itself is not kept as the key.
//! - **`exp` and `nbf` are checked on every hit**, against the verifier's clock and
//!   with the same leeway as a full verification. moka's per-entry expiry only reclaims
//!   memory; it is never what makes an expired token fail.
//! - **A token not yet valid is never cached** (`nbf` in the future, even within the
//!   leeway), and neither is any failure.
//! - **Each entry records the key-set generation it was verified under**
//!   ([`crate::key_cache`]); a hit needs the generation of the keys the request sees. A
//!   new JWKS document (rotation, a key removed) or keys forgotten past their maximum
//!   staleness start a new generation, so a token signed by a withdrawn key stops
//!   passing as soon as the verifier learns of the change, and a verification that
//!   started under old keys cannot insert an entry that later counts.
//! - **A token is admitted on its second verification.** The first one only leaves an
//!   8-byte fingerprint in a bounded set (the "doorkeeper" of TinyLFU). A token seen
//!   once and never again (a one-off caller, a flood of distinct tokens) costs no entry
//!   of about 1.8 KB (the principal holds the token); a client that keeps its token,
//!   which MCP clients do, pays one more full verification per token lifetime.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use moka::sync::Cache;

use crate::principal::Principal;

/// SHA-256 of the token bytes.
pub(crate) type TokenDigest = [u8; 32];

pub(crate) fn token_digest(token: &str) -> TokenDigest {
    token_digest_bytes(token.as_bytes())
}

/// SHA-256 of any bytes (the key cache also fingerprints JWKS documents with it).
pub(crate) fn token_digest_bytes(bytes: &[u8]) -> TokenDigest {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    key
}

/// Hit, miss and size counters of the verified-token cache, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCacheStats {
    /// Verifications answered from the cache.
    pub hits: u64,
    /// Verifications that looked in the cache and found no usable entry (none, another
    /// key-set generation), so were done in full. Zero when the cache is off.
    pub misses: u64,
    /// Entries held now.
    pub entries: u64,
}

/// A successful verification, as remembered.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) principal: Arc<Principal>,
    /// `exp` as the time checks read it (jsonwebtoken's rounding of a fractional date).
    pub(crate) exp: u64,
    /// `nbf`, if the token has one; rechecked on a hit in case the clock went back.
    pub(crate) nbf: Option<u64>,
    /// The key-set generation the token was verified under.
    pub(crate) generation: u64,
}

/// Reclaims an entry's memory once its token has expired (plus leeway). Only memory:
/// the verifier checks `exp` itself on every hit.
struct ExpireAtExp {
    leeway: u64,
    clock: crate::clock::Clock,
}

impl moka::Expiry<TokenDigest, Entry> for ExpireAtExp {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        entry: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        let remaining = entry
            .exp
            .saturating_add(self.leeway)
            .saturating_sub(self.clock.now());
        Some(Duration::from_secs(remaining.saturating_add(1)))
    }
}

pub(crate) struct VerifiedCache {
    entries: Cache<TokenDigest, Entry>,
    hits: AtomicU64,
    misses: AtomicU64,
    /// The newest key-set generation seen; when it moves, every entry is dropped at
    /// once rather than one by one as each is looked up.
    generation_seen: AtomicU64,
    /// Fingerprints of tokens verified once and not admitted yet: at most `capacity`
    /// of them (8 bytes each), cleared when full.
    seen_once: Mutex<HashSet<u64>>,
    capacity: usize,
}

impl VerifiedCache {
    /// `None` when `capacity` is 0 (the cache is off).
    pub(crate) fn new(capacity: u64, leeway: u64, clock: crate::clock::Clock) -> Option<Self> {
        (capacity > 0).then(|| Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(ExpireAtExp { leeway, clock })
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            generation_seen: AtomicU64::new(0),
            seen_once: Mutex::new(HashSet::new()),
            capacity: usize::try_from(capacity).unwrap_or(usize::MAX),
        })
    }

    /// Caches `entry` if its token was verified before (and is still in the
    /// doorkeeper); otherwise only remembers that it has now been seen once.
    pub(crate) fn offer(&self, key: TokenDigest, entry: Entry) {
        if self.seen_before(&key) {
            self.insert(key, entry);
        }
    }

    fn seen_before(&self, key: &TokenDigest) -> bool {
        let mut fingerprint = [0u8; 8];
        fingerprint.copy_from_slice(&key[..8]);
        let fingerprint = u64::from_le_bytes(fingerprint);
        let mut seen = self
            .seen_once
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if seen.remove(&fingerprint) {
            return true;
        }
        // A full doorkeeper starts over: a token of the old set then needs one more
        // verification, which costs time, never correctness.
        if seen.len() >= self.capacity {
            seen.clear();
        }
        seen.insert(fingerprint);
        false
    }

    /// The entry for `key`, whatever its generation; counts a miss when there is none.
    /// The caller checks the generation and the times, and counts the hit.
    pub(crate) fn get(&self, key: &TokenDigest) -> Option<Entry> {
        let entry = self.entries.get(key);
        if entry.is_none() {
            self.miss();
        }
        entry
    }

    /// Records that keys of `generation` are in use. When it is newer than any seen,
    /// every entry is dropped at once, rather than one by one as each is looked up.
    /// Generations only grow, so a request still holding older keys clears nothing.
    pub(crate) fn note_generation(&self, generation: u64) {
        if self.generation_seen.load(Ordering::Relaxed) < generation {
            let previous = self
                .generation_seen
                .fetch_max(generation, Ordering::Relaxed);
            if previous < generation && previous != 0 {
                self.entries.invalidate_all();
            }
        }
    }

    /// Drops an entry found unusable (another generation, or its token expired) and
    /// counts the lookup as a miss.
    pub(crate) fn discard(&self, key: &TokenDigest) {
        self.entries.invalidate(key);
        self.miss();
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn insert(&self, key: TokenDigest, entry: Entry) {
        self.entries.insert(key, entry);
    }

    pub(crate) fn stats(&self) -> VerifiedCacheStats {
        // Applies pending inserts and evictions, so the count is current (metrics are
        // scraped every few seconds at most; this is not on the request path).
        self.entries.run_pending_tasks();
        VerifiedCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.entries.entry_count(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_sha256_of_the_token_bytes() {
        // FIPS 180-2 test vector.
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex: String = token_digest("abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, expected);
        assert_ne!(token_digest("a.b.c"), token_digest("a.b.d"));
    }

    #[test]
    fn a_token_is_admitted_on_its_second_offer_and_the_doorkeeper_stays_bounded() {
        let cache = VerifiedCache::new(2, 60, crate::clock::Clock::system()).unwrap();
        let principal = Arc::new(typical_principal("t".repeat(10)));
        let entry = || Entry {
            principal: Arc::clone(&principal),
            exp: 4_000_000_000,
            nbf: None,
            generation: 1,
        };
        let key = |i: u64| token_digest_bytes(&i.to_le_bytes());
        cache.offer(key(1), entry());
        assert!(cache.get(&key(1)).is_none(), "seen once: not cached");
        cache.offer(key(1), entry());
        assert!(cache.get(&key(1)).is_some(), "seen twice: cached");
        // Two more one-off tokens fill the doorkeeper; a third starts it over, so the
        // first of them must be seen twice again.
        cache.offer(key(2), entry());
        cache.offer(key(3), entry());
        cache.offer(key(4), entry());
        assert!(cache.seen_once.lock().unwrap().len() <= 2);
        cache.offer(key(2), entry());
        assert!(cache.get(&key(2)).is_none());
        cache.offer(key(4), entry());
        assert!(cache.get(&key(4)).is_some());
    }

    #[test]
    fn capacity_zero_is_no_cache() {
        assert!(VerifiedCache::new(0, 60, crate::clock::Clock::system()).is_none());
    }

    /// Resident memory, from /proc (Linux).
    fn rss_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|field| field.parse().ok())
            .unwrap_or(0);
        pages * 4096
    }

    /// A principal as an Auth0 access token yields, with a token of `token_len` bytes.
    fn typical_principal(token: String) -> Principal {
        let claims = serde_json::json!({
            "iss": "https://tenant.us.auth0.com/",
            "sub": "auth0|64f1c2a9b7e3d10012345678",
            "aud": ["https://mcp.example.com/mcp", "https://tenant.us.auth0.com/userinfo"],
            "exp": 4_000_000_000u64,
            "azp": "pQ8xZ2kLmN4vR7sT1uW3yA5bC6dE9fG0",
            "scope": "openid profile email tool:whoami tool:greet",
        });
        let serde_json::Value::Object(claims) = claims else {
            unreachable!()
        };
        crate::claims::principal_from_claims(claims, "https://tenant.us.auth0.com/", &[], &token)
            .unwrap()
    }

    /// Measures what an entry costs, for docs/performance.md: run with
    /// `cargo test -p oauth-jwt-verify --lib -- --ignored --nocapture bytes_per_entry`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn bytes_per_entry() {
        const N: u64 = 100_000;
        let entry = |principal: Arc<Principal>| Entry {
            principal,
            exp: 4_000_000_000,
            nbf: None,
            generation: 1,
        };
        let key = |i: u64| token_digest_bytes(&i.to_le_bytes());

        // The cache's own cost: every entry shares one principal.
        let shared = Arc::new(typical_principal("x".repeat(900)));
        let before = rss_bytes();
        let cache = VerifiedCache::new(N, 60, crate::clock::Clock::system()).unwrap();
        for i in 0..N {
            cache.insert(key(i), entry(Arc::clone(&shared)));
        }
        cache.entries.run_pending_tasks();
        let overhead = (rss_bytes() - before) / N;
        assert_eq!(cache.stats().entries, N);
        drop(cache);

        // With a principal of its own per entry, as in real use (a 900-byte token).
        let before = rss_bytes();
        let cache = VerifiedCache::new(N, 60, crate::clock::Clock::system()).unwrap();
        for i in 0..N {
            let mut token = "x".repeat(900);
            token.push_str(&i.to_string());
            cache.insert(key(i), entry(Arc::new(typical_principal(token))));
        }
        cache.entries.run_pending_tasks();
        let total = (rss_bytes() - before) / N;
        println!(
            "verified-token cache, {N} entries: {overhead} bytes per entry of cache overhead \
             (moka, key, entry), {total} bytes per entry with a principal of its own \
             (900-byte token); size_of::<Entry>() = {}",
            std::mem::size_of::<Entry>()
        );
    }
}
