//! What one exchanged token costs in memory once cached, with and without moka.
//!
//! `cargo run --release -p auth0-obo --example entry_memory [ENTRIES] [TOKEN_BYTES]`
//! (defaults: 10,000 entries of an 800-byte token, about an Auth0 RS256 access token).
//!
//! It fills, in turn, a [`TokenCache`] with ENTRIES users' tokens, then a plain
//! `HashMap` from the same 32-byte keys to the same token bytes in one allocation
//! each (what the entries would cost with no cache library at all), and prints the
//! growth of the process's resident memory (`/proc/self/statm`) per entry for each,
//! under mimalloc as in `mcp-server`. The difference is moka's bookkeeping (its hash
//! table, access and write deques, timer wheel and frequency sketch) and our inline
//! entry. Resident memory is what an operator's limit counts, so that is what is
//! measured, allocator rounding and all. Linux only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth0_obo::{
    CacheOptions, ExchangeError, ExchangeRequest, ExchangedToken, TokenCache, TokenExchanger,
    TokenType,
};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Answers at once with a token of the requested size, as Auth0 would.
struct OfLength(usize);

#[async_trait]
impl TokenExchanger for OfLength {
    fn client_id(&self) -> &str {
        "memory-client"
    }

    async fn exchange(&self, request: &ExchangeRequest) -> Result<ExchangedToken, ExchangeError> {
        // Distinct per user, so nothing is shared between entries.
        let mut token = request.subject_token().secret().to_owned();
        token.extend(std::iter::repeat_n('x', self.0.saturating_sub(token.len())));
        Ok(ExchangedToken::new(
            token,
            TokenType::Bearer,
            "urn:ietf:params:oauth:token-type:access_token",
            None,
            Duration::from_secs(3600),
        ))
    }
}

/// Resident memory now, in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

fn user(i: usize) -> String {
    format!("user-token-{i:08}")
}

fn main() {
    let mut args = std::env::args().skip(1);
    let entries: usize = args.next().map_or(10_000, |n| n.parse().expect("ENTRIES"));
    let token_bytes: usize = args.next().map_or(800, |n| n.parse().expect("TOKEN_BYTES"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");

    // Every user's request is built before measuring, so only the entries count.
    let requests: Vec<ExchangeRequest> = (0..entries)
        .map(|i| {
            ExchangeRequest::new(user(i), "https://api.example.com/")
                .expect("request")
                .with_scope("read:private")
        })
        .collect();

    let cache = TokenCache::new(
        Arc::new(OfLength(token_bytes)),
        CacheOptions::default().max_entries(entries as u64),
    );
    let before = rss();
    runtime.block_on(async {
        for request in &requests {
            cache.get_token(request).await.expect("exchange");
        }
        cache.run_pending_tasks().await;
    });
    let with_moka = rss().saturating_sub(before);
    assert_eq!(cache.stats().entry_count, entries as u64);

    let before = rss();
    let mut plain: HashMap<[u8; 32], Arc<str>> = HashMap::with_capacity(entries);
    for request in &requests {
        let mut token = request.subject_token().secret().to_owned();
        token.extend(std::iter::repeat_n(
            'x',
            token_bytes.saturating_sub(token.len()),
        ));
        plain.insert(*cache.key(request).as_bytes(), Arc::from(token));
    }
    let without_moka = rss().saturating_sub(before);

    let per = |bytes: u64| bytes as f64 / entries as f64;
    println!(
        "{entries} entries of a {token_bytes}-byte token, resident memory per entry:\n  TokenCache (moka): {:.0} B\n  HashMap<key, Arc<str>>: {:.0} B\n  moka's bookkeeping and our inline entry: {:.0} B",
        per(with_moka),
        per(without_moka),
        per(with_moka) - per(without_moka),
    );
    drop(plain);
    drop(cache);
}
