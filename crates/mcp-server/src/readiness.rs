//! `GET /readyz`: whether this instance can serve users now.
//!
//! `/healthz` says the process is alive; `/readyz` says it can verify tokens: the
//! configuration is complete (it is, or [`crate::config::Settings`] would not exist)
//! and usable signing keys are cached (fetched, and not past `JWKS_MAX_STALENESS_SECS`).
//! With no keys, a probe starts one background load (never more than one at a time)
//! and waits for it briefly, so a fresh instance turns ready on its first probes
//! without a probe ever hanging on a slow tenant. The load goes through
//! [`JwksVerifier::ensure_keys`], the verifier's own backoff: the endpoint is
//! unauthenticated, so probes must not cost the tenant more fetches than tokens do.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jwt_verify::JwksVerifier;
use serde_json::json;

use crate::state::AppState;

/// How long a probe waits for a key fetch it started or found in flight.
pub const PROBE_WAIT: Duration = Duration::from_millis(1500);

/// The background key fetch shared by probes, and how the last one ended.
#[derive(Debug, Default)]
pub struct Readiness {
    fetching: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl Readiness {
    /// Starts loading keys unless a load is already running. The verifier decides
    /// whether that fetches: not within its backoff after a failed fetch.
    pub fn fetch_keys(self: &Arc<Self>, verifier: &JwksVerifier) {
        if self.fetching.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        let verifier = verifier.clone();
        tokio::spawn(async move {
            let outcome = verifier.ensure_keys().await;
            let error = match outcome {
                Ok(()) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "the signing keys (JWKS) could not be fetched; /readyz answers 503");
                    Some(e.to_string())
                }
            };
            if let Ok(mut last) = this.last_error.lock() {
                *last = error;
            }
            this.fetching.store(false, Ordering::Release);
        });
    }

    fn is_fetching(&self) -> bool {
        self.fetching.load(Ordering::Acquire)
    }

    fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|last| last.clone())
    }
}

/// `GET /readyz`: 200 when ready, else 503 with the reason in JSON.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if !state.verifier.has_keys() {
        state.readiness.fetch_keys(&state.verifier);
        let deadline = tokio::time::Instant::now() + PROBE_WAIT;
        // Once the load has ended without keys, waiting longer cannot change the answer.
        while state.readiness.is_fetching()
            && !state.verifier.has_keys()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let (status, body) = if state.verifier.has_keys() {
        (
            StatusCode::OK,
            json!({
                "status": "ready",
                "checks": {"configuration": "ok", "jwks": "ok"},
            }),
        )
    } else {
        let cause = state
            .readiness
            .last_error()
            .unwrap_or_else(|| "the fetch has not finished yet".to_owned());
        (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({
                "status": "not_ready",
                "reason": format!(
                    "the signing keys (JWKS) of {} have not been fetched: {cause}",
                    state.verifier.issuer().as_str()
                ),
                "checks": {"configuration": "ok", "jwks": "unavailable"},
            }),
        )
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
