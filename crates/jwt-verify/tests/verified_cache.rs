//! The verified-token cache: each of its rules, and a property test that a verifier
//! with the cache gives the same verdict as one without, whatever happens between.
//!
//! The verifiers read a [`ManualClock`], so expiry and `nbf` are exercised without
//! waiting; keys come from a JWKS source the test rewrites.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oauth_jwt_verify::{
    FetchedJwks, Issuer, JwksError, JwksSource, JwksVerifier, ManualClock, Principal,
    VerifierOptions, VerifyError,
};
use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;
use proptest::prelude::*;

const ISSUER: &str = "https://tenant.example.com/";
const AUDIENCE: &str = "https://mcp.example.com/";
/// The clock's start: tokens' times are set relative to it.
const T0: u64 = 1_900_000_000;
const LEEWAY: u64 = 60;

/// A JWKS the test can change (rotation) or make fail (an outage).
#[derive(Debug, Default)]
struct Jwks(Mutex<Option<Vec<u8>>>);

impl Jwks {
    fn serving(keys: &[&TestKey]) -> Arc<Self> {
        let jwks = Arc::new(Self::default());
        jwks.serve(keys);
        jwks
    }

    fn serve(&self, keys: &[&TestKey]) {
        *self.0.lock().unwrap() = Some(jwks_json(keys).to_string().into_bytes());
    }

    fn fail(&self) {
        *self.0.lock().unwrap() = None;
    }
}

#[async_trait]
impl JwksSource for Jwks {
    async fn fetch(&self) -> Result<FetchedJwks, JwksError> {
        match self.0.lock().unwrap().clone() {
            Some(body) => Ok(FetchedJwks::new(body, None)),
            None => Err(JwksError::InvalidDocument("down for the test")),
        }
    }
}

struct Keys {
    k1: TestKey,
    k2: TestKey,
    /// Never published: its tokens have an unknown `kid`.
    k3: TestKey,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| Keys {
    k1: TestKey::rsa("k1"),
    k2: TestKey::rsa("k2"),
    k3: TestKey::rsa("k3"),
});

fn verifier(source: &Arc<Jwks>, clock: &ManualClock, options: VerifierOptions) -> JwksVerifier {
    JwksVerifier::with_clock(
        Issuer::parse(ISSUER).unwrap(),
        AUDIENCE,
        VerifierOptions {
            leeway: Duration::from_secs(LEEWAY),
            ..options
        },
        Arc::clone(source) as Arc<dyn JwksSource>,
        clock,
    )
    .unwrap()
}

fn cached(source: &Arc<Jwks>, clock: &ManualClock) -> JwksVerifier {
    verifier(source, clock, VerifierOptions::default())
}

/// A token valid from `T0 + nbf` (if given) until `T0 + exp`, signed by `key`.
fn token(key: &TestKey, exp: i64, nbf: Option<i64>) -> String {
    let t0 = i64::try_from(T0).unwrap();
    let mut builder = TokenBuilder::new(ISSUER, AUDIENCE)
        .scope("tool:whoami")
        .claim("iat", t0 - 10)
        .claim("exp", t0 + exp);
    if let Some(nbf) = nbf {
        builder = builder.claim("nbf", t0 + nbf);
    }
    builder.sign(key)
}

/// `token` with one character of segment `segment` (0 header, 1 payload, 2 signature)
/// changed.
fn tamper(token: &str, segment: usize) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let part = &mut parts[segment];
    let at = part.len() / 2;
    let old = part.as_bytes()[at];
    let new = if old == b'A' { 'B' } else { 'A' };
    part.replace_range(at..=at, &new.to_string());
    parts.join(".")
}

fn kind(result: &Result<Arc<Principal>, VerifyError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(error) => error.kind(),
    }
}

#[tokio::test]
async fn a_token_verified_twice_is_then_answered_from_the_cache() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let verifier = cached(&source, &clock);
    let token = token(&KEYS.k1, 300, None);
    verifier.verify(&token).await.unwrap();
    // Seen once: no entry yet (a one-off token costs none).
    assert_eq!(verifier.verified_cache_stats().entries, 0);
    let second = verifier.verify(&token).await.unwrap();
    let third = verifier.verify(&token).await.unwrap();
    assert!(Arc::ptr_eq(&second, &third), "the same Arc<Principal>");
    let stats = verifier.verified_cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (1, 2, 1));
}

#[tokio::test]
async fn an_entry_is_not_served_past_its_tokens_exp() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let verifier = cached(&source, &clock);
    let token = token(&KEYS.k1, 30, None);
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    // Within the leeway past exp: still accepted, from the cache.
    clock.set(T0 + 30 + LEEWAY);
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().hits, 1);
    // One second more: refused, as a full verification would.
    clock.advance(1);
    assert_eq!(kind(&verifier.verify(&token).await), "expired");
    assert_eq!(kind(&verifier.verify(&token).await), "expired");
    assert_eq!(verifier.verified_cache_stats().hits, 1);
}

#[tokio::test]
async fn a_token_not_yet_valid_is_never_cached_even_within_the_leeway() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let verifier = cached(&source, &clock);
    // nbf 30 s ahead: accepted within the 60 s leeway, but not cached.
    let soon = token(&KEYS.k1, 300, Some(30));
    verifier.verify(&soon).await.unwrap();
    verifier.verify(&soon).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().hits, 0);
    assert_eq!(verifier.verified_cache_stats().entries, 0);
    // nbf beyond the leeway: refused, and still not cached.
    let later = token(&KEYS.k1, 300, Some(120));
    assert_eq!(kind(&verifier.verify(&later).await), "not_yet_valid");
    // Once nbf is reached the token is cached like any other.
    clock.set(T0 + 120);
    for _ in 0..3 {
        verifier.verify(&later).await.unwrap();
    }
    assert_eq!(verifier.verified_cache_stats().hits, 1);
}

#[tokio::test]
async fn failures_are_not_cached() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let verifier = cached(&source, &clock);
    let good = token(&KEYS.k1, 300, None);
    let expired = token(&KEYS.k1, -100, None);
    let forged = tamper(&good, 2);
    for _ in 0..2 {
        assert_eq!(kind(&verifier.verify(&expired).await), "expired");
        assert_eq!(kind(&verifier.verify(&forged).await), "bad_signature");
    }
    let stats = verifier.verified_cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (0, 4, 0));
    // A cached good token does not vouch for a tampered copy.
    verifier.verify(&good).await.unwrap();
    verifier.verify(&good).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().entries, 1);
    for segment in 0..3 {
        assert_ne!(kind(&verifier.verify(&tamper(&good, segment)).await), "ok");
    }
}

#[tokio::test]
async fn the_cache_is_cleared_when_the_key_set_changes_but_not_on_a_refetch_of_the_same() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1, &KEYS.k2]);
    let verifier = cached(&source, &clock);
    let by_k1 = token(&KEYS.k1, 300, None);
    let by_k2 = token(&KEYS.k2, 300, None);
    for _ in 0..2 {
        verifier.verify(&by_k1).await.unwrap();
        verifier.verify(&by_k2).await.unwrap();
    }
    // The same document again: the entries still count.
    verifier.refresh_keys().await.unwrap();
    verifier.verify(&by_k1).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().hits, 1);
    // k1 withdrawn: its token stops passing at once, though it was cached.
    source.serve(&[&KEYS.k2]);
    verifier.refresh_keys().await.unwrap();
    assert_eq!(kind(&verifier.verify(&by_k1).await), "unknown_kid");
    // k2's token is verified again in full under the new key set (twice, to be
    // admitted again), then answered from the cache.
    verifier.verify(&by_k2).await.unwrap();
    verifier.verify(&by_k2).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().hits, 1);
    verifier.verify(&by_k2).await.unwrap();
    assert_eq!(verifier.verified_cache_stats().hits, 2);
    assert_eq!(verifier.verified_cache_stats().entries, 1);
}

#[tokio::test]
async fn the_cache_is_cleared_when_the_keys_pass_their_maximum_staleness() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let ttl = Duration::from_millis(100);
    let verifier = verifier(
        &source,
        &clock,
        VerifierOptions {
            jwks_ttl: ttl,
            jwks_min_ttl: ttl,
            jwks_max_staleness: Duration::from_millis(200),
            refetch_cooldown: Duration::from_millis(100),
            ..VerifierOptions::default()
        },
    );
    let token = token(&KEYS.k1, 300, None);
    for _ in 0..3 {
        verifier.verify(&token).await.unwrap();
    }
    assert_eq!(verifier.verified_cache_stats().hits, 1);
    source.fail();
    tokio::time::sleep(Duration::from_millis(500)).await; // past ttl + staleness
    assert_eq!(kind(&verifier.verify(&token).await), "jwks_unavailable");
    assert!(!verifier.has_keys());
    // The same keys come back: the token is verified in full again, not served from
    // the entry made under the forgotten keys.
    source.serve(&[&KEYS.k1]);
    verifier.refresh_keys().await.unwrap();
    let misses = verifier.verified_cache_stats().misses;
    verifier.verify(&token).await.unwrap();
    let stats = verifier.verified_cache_stats();
    assert_eq!((stats.hits, stats.misses), (1, misses + 1));
}

#[tokio::test]
async fn capacity_zero_turns_the_cache_off() {
    let clock = ManualClock::new(T0);
    let source = Jwks::serving(&[&KEYS.k1]);
    let verifier = verifier(
        &source,
        &clock,
        VerifierOptions {
            verified_cache_capacity: 0,
            ..VerifierOptions::default()
        },
    );
    let token = token(&KEYS.k1, 300, None);
    let first = verifier.verify(&token).await.unwrap();
    let second = verifier.verify(&token).await.unwrap();
    assert!(!Arc::ptr_eq(&first, &second));
    assert_eq!(verifier.verified_cache_stats(), Default::default());
}

/// Tokens the property test picks from, signed once (RSA signing is slow in debug
/// builds).
static POOL: LazyLock<Vec<String>> = LazyLock::new(|| {
    let keys = &*KEYS;
    let good = token(&keys.k1, 300, None);
    vec![
        good.clone(),
        token(&keys.k1, 30, None),                     // expires soon
        token(&keys.k1, 1000, Some(100)),              // nbf ahead, beyond the leeway at first
        token(&keys.k1, 1000, Some(30)),               // nbf ahead, within the leeway
        token(&keys.k2, 500, None),                    // the other key
        token(&keys.k2, 200, Some(10)),                // the other key, nbf soon
        token(&keys.k3, 500, None),                    // unknown kid
        token(&keys.k1, -200, None),                   // already expired
        tamper(&good, 0),                              // header changed
        tamper(&good, 1),                              // payload changed
        tamper(&good, 2),                              // signature changed
        token(&keys.k2, 300, None).replace('.', ".."), // not a JWS
    ]
});

#[derive(Debug, Clone)]
enum Op {
    Verify(usize),
    Advance(u64),
    /// The clock goes back (NTP step): `nbf` must still rule on a hit.
    Back(u64),
    /// k1 withdrawn: the JWKS holds k2 only, and the verifiers learn of it.
    Rotate,
    /// k1 published again beside k2.
    ReAdd,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..POOL.len()).prop_map(Op::Verify),
        3 => (0u64..150).prop_map(Op::Advance),
        1 => (0u64..90).prop_map(Op::Back),
        1 => Just(Op::Rotate),
        1 => Just(Op::ReAdd),
    ]
}

fn same_principal(a: &Principal, b: &Principal) -> bool {
    a.sub == b.sub
        && a.client_id == b.client_id
        && a.azp == b.azp
        && a.scopes == b.scopes
        && a.permissions == b.permissions
        && a.name == b.name
        && a.email == b.email
        && a.org_id == b.org_id
        && a.expires_at == b.expires_at
        && a.delegation_chain == b.delegation_chain
        && a.token().secret() == b.token().secret()
}

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn with_or_without_the_cache_the_verdict_is_the_same(
        ops in proptest::collection::vec(op(), 1..60)
    ) {
        RUNTIME.block_on(async {
            let keys = &*KEYS;
            let clock = ManualClock::new(T0);
            let source = Jwks::serving(&[&keys.k1, &keys.k2]);
            let with = cached(&source, &clock);
            let without = verifier(&source, &clock, VerifierOptions {
                verified_cache_capacity: 0,
                ..VerifierOptions::default()
            });
            for (step, op) in ops.iter().enumerate() {
                match op {
                    Op::Verify(index) => {
                        let token = &POOL[*index];
                        let a = with.verify(token).await;
                        let b = without.verify(token).await;
                        let same = match (&a, &b) {
                            (Ok(a), Ok(b)) => same_principal(a, b),
                            (Err(a), Err(b)) => a.kind() == b.kind(),
                            _ => false,
                        };
                        prop_assert!(
                            same,
                            "step {}: token {}: {:?} (cached) vs {:?}; ops {:?}",
                            step, index, kind(&a), kind(&b), ops
                        );
                    }
                    Op::Advance(seconds) => clock.advance(*seconds),
                    Op::Back(seconds) => clock.set(clock.now().saturating_sub(*seconds)),
                    Op::Rotate | Op::ReAdd => {
                        match op {
                            Op::Rotate => source.serve(&[&keys.k2]),
                            _ => source.serve(&[&keys.k1, &keys.k2]),
                        }
                        with.refresh_keys().await.unwrap();
                        without.refresh_keys().await.unwrap();
                    }
                }
            }
            Ok(())
        })?;
    }
}
