//! The cost of a cache hit: what every tool call pays once a user's token has been
//! exchanged. Expect well under a microsecond (mostly the SHA-256 of the user's
//! token and moka's lookup).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth0_obo::{
    CacheOptions, ExchangeError, ExchangeRequest, ExchangedToken, TokenCache, TokenCacheKey,
    TokenExchanger, TokenType,
};
use criterion::{Criterion, criterion_group, criterion_main};

/// Answers instantly, so the benchmark measures the cache and nothing else.
#[derive(Debug)]
struct Instant0;

#[async_trait]
impl TokenExchanger for Instant0 {
    fn client_id(&self) -> &str {
        "bench-client"
    }

    async fn exchange(&self, _request: &ExchangeRequest) -> Result<ExchangedToken, ExchangeError> {
        Ok(ExchangedToken::new(
            "x".repeat(800),
            TokenType::Bearer,
            "urn:ietf:params:oauth:token-type:access_token",
            None,
            Duration::from_secs(3600),
        ))
    }
}

/// About the size of an Auth0 RS256 access token with a few custom claims.
fn user_token() -> String {
    format!(
        "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCJ9.{}.{}",
        "a".repeat(500),
        "s".repeat(342)
    )
}

fn cache_hit(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cache = TokenCache::new(Arc::new(Instant0), CacheOptions::default());
    let request = ExchangeRequest::new(user_token(), "http://localhost:8787/")
        .unwrap()
        .with_scope("read:private");
    // Warm the entry: the first call exchanges, every measured call hits.
    rt.block_on(cache.get_token(&request)).unwrap();

    c.bench_function("cache_hit/get_token", |b| {
        // One block_on per batch, not per call, so the runtime's entry cost is not
        // counted against the cache.
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let token = cache.get_token(black_box(&request)).await.unwrap();
                    black_box(token);
                }
                start.elapsed()
            })
        });
    });

    c.bench_function("cache_hit/key_only", |b| {
        b.iter(|| TokenCacheKey::new(black_box("bench-client"), black_box(&request)));
    });

    let stats = cache.stats();
    assert_eq!(stats.exchanges, 1, "every measured call was a hit");
}

criterion_group!(benches, cache_hit);
criterion_main!(benches);
