//! The cost of one verification with cached keys: what every authenticated request
//! pays the first time it presents a token. Expect tens of microseconds with the aws-lc
//! backend (RS256 signature check dominates). The `*_cached_keys` cases run with the
//! verified-token cache off, so they measure the full verification every time;
//! `verify_rs256_cache_hit` measures a token answered from that cache.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Benchmark setup may panic.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use oauth_jwt_verify::{Algorithm, Issuer, JwksVerifier, StaticJwks, VerifierOptions};
use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;

const ISSUER: &str = "https://tenant.example.com/";
const AUDIENCE: &str = "https://mcp.example.com/";

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rsa = TestKey::rsa("rsa");
    let ec = TestKey::ec_p256("ec");
    let build = |verified_cache_capacity| {
        JwksVerifier::with_source(
            Issuer::parse(ISSUER).unwrap(),
            AUDIENCE,
            VerifierOptions {
                algorithms: vec![Algorithm::RS256, Algorithm::ES256],
                verified_cache_capacity,
                ..VerifierOptions::default()
            },
            Arc::new(StaticJwks::from_json(&jwks_json(&[&rsa, &ec]))),
        )
        .unwrap()
    };
    let verifier = build(0);
    let caching = build(10_000);
    let claims = TokenBuilder::new(ISSUER, AUDIENCE)
        .scope("openid profile tool:greet")
        .permissions(["tool:greet", "read:private"])
        .act(["mcp-server"]);
    let rs256 = claims.sign(&rsa);
    let es256 = claims.sign(&ec);
    // Warm the cache so the benchmark measures verification, not the first fetch.
    runtime.block_on(verifier.verify(&rs256)).unwrap();
    runtime.block_on(caching.verify(&rs256)).unwrap();

    c.bench_function("verify_rs256_cached_keys", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&rs256)))
                .unwrap()
        })
    });
    // Verified twice: admitted to the cache on the second verification.
    for _ in 0..2 {
        runtime.block_on(caching.verify(&rs256)).unwrap();
    }
    c.bench_function("verify_rs256_cache_hit", |b| {
        b.iter(|| runtime.block_on(caching.verify(black_box(&rs256))).unwrap())
    });
    c.bench_function("verify_es256_cached_keys", |b| {
        b.iter(|| {
            runtime
                .block_on(verifier.verify(black_box(&es256)))
                .unwrap()
        })
    });
}

criterion_group!(benches, verify);
criterion_main!(benches);
