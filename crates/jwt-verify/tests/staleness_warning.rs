//! The one warning logged when keys pass their maximum staleness (finding 7), in a
//! test binary of its own: the log is captured with a thread-scoped subscriber, and
//! `tracing` caches each call site's interest process-wide, so a test running beside
//! it on another thread, with no subscriber, could make the call site look disabled
//! (it failed that way under `cargo test`, where tests share one process).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Fixture, STALENESS, TTL, staleness_options, wait_past_the_bound};

/// Past the bound the keys are dropped with one WARN line per key set, however many
/// requests find them gone: an operator sees the moment, not a flood.
#[tokio::test]
async fn finding_7_keys_past_the_bound_are_dropped_with_one_warning() {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(staleness_options(TTL, STALENESS));
    let fetched = std::time::Instant::now();
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    fx.fail_with(503);
    wait_past_the_bound(fetched).await;
    for _ in 0..5 {
        assert!(verifier.verify(&fx.token().sign(&fx.key)).await.is_err());
        assert!(!verifier.has_keys());
    }
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(
        logs.matches("past their maximum staleness").count(),
        1,
        "{logs}"
    );
}
