//! The metrics upkeep that keeps an unscraped server from growing: the exporter keeps
//! every latency sample until upkeep folds it into its histogram's buckets, and without
//! a scrape only `Metrics::spawn_upkeep` does that. (The long soak found the leak: about
//! 50 bytes a call.) Alone in its binary, so nothing else moves the process's RSS.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_server::internals::Metrics;
use tokio_util::sync::CancellationToken;

/// Resident set size of this process, in bytes (`/proc/self/statm`, in pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

const SAMPLES: u32 = 4_000_000;
const BATCH: u32 = 20_000;

/// Unfolded, four million samples hold at least 32 MB (one `f64` each); folded, they are
/// a few hundred bucket counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upkeep_folds_latency_samples_so_an_unscraped_server_does_not_grow() {
    let metrics = Metrics::new();
    let stop = CancellationToken::new();
    metrics.spawn_upkeep(Duration::from_millis(5), stop.clone());
    // Warm up the series and the allocator.
    for i in 0..BATCH {
        metrics.http_request("/mcp", 200, Duration::from_micros(u64::from(i)));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = rss_bytes();
    for batch in 0..SAMPLES / BATCH {
        for i in 0..BATCH {
            let elapsed = Duration::from_micros(u64::from(batch * BATCH + i) % 100_000);
            metrics.http_request("/mcp", 200, elapsed);
        }
        // Give the upkeep task its turn, as a serving runtime would.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let grown = rss_bytes().saturating_sub(before);
    stop.cancel();
    assert!(
        grown < 8 * 1024 * 1024,
        "{SAMPLES} samples grew RSS by {} KiB: upkeep did not fold them",
        grown / 1024
    );
}
