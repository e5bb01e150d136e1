//! Prometheus metrics, served at `GET /metrics` (or on `METRICS_ADDR`).
//!
//! Each [`Metrics`] owns its own recorder rather than installing the process-wide one:
//! tests start several servers in one process, and a server embedded in another program
//! should not take over that program's global recorder. Every emission therefore runs
//! under [`metrics::with_local_recorder`].
//!
//! Counters the libraries already keep (JWKS fetches, the exchanged-token cache and its
//! exchanges) are read at scrape time from [`jwt_verify::JwksVerifier::stats`] and
//! [`auth0_obo::TokenCache::stats`], so there is one source of truth for each.
//!
//! Labels are drawn from fixed sets only: route templates (never raw paths), status
//! codes or classes, tool names from the tool router (never a name a client sent), the
//! configured API names, and error kinds. No label
//! ever carries a user id, a client id or a token.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use auth0_obo::TokenCache;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jwt_verify::JwksVerifier;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Every series this server exports.
pub mod names {
    pub const HTTP_REQUESTS: &str = "http_requests_total";
    pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";
    pub const TOKEN_VERIFICATIONS: &str = "token_verifications_total";
    pub const TOKEN_EXCHANGES: &str = "token_exchanges_total";
    pub const CACHE_HITS: &str = "exchanged_token_cache_hits_total";
    pub const CACHE_MISSES: &str = "exchanged_token_cache_misses_total";
    pub const CACHE_ENTRIES: &str = "exchanged_token_cache_entries";
    pub const TOOL_CALLS: &str = "tool_calls_total";
    pub const TOOL_CALL_DURATION: &str = "tool_call_duration_seconds";
    pub const API_CALLS: &str = "api_calls_total";
    pub const API_CALL_DURATION: &str = "api_call_duration_seconds";
    pub const JWKS_FETCHES: &str = "jwks_fetches_total";
    pub const JWKS_UNKNOWN_KID_REFETCHES: &str = "jwks_unknown_kid_refetches_total";
    pub const JWKS_KEYS_LOADED: &str = "jwks_keys_loaded";
    pub const VERIFIED_CACHE_HITS: &str = "verified_token_cache_hits_total";
    pub const VERIFIED_CACHE_MISSES: &str = "verified_token_cache_misses_total";
    pub const VERIFIED_CACHE_ENTRIES: &str = "verified_token_cache_entries";
    pub const L2_HITS: &str = "exchanged_token_cache_l2_hits_total";
    pub const L2_MISSES: &str = "exchanged_token_cache_l2_misses_total";
    pub const L2_ERRORS: &str = "exchanged_token_cache_l2_errors_total";
    pub const L2_READS: &str = "exchanged_token_cache_l2_reads_total";
    pub const L2_READ_MICROS: &str = "exchanged_token_cache_l2_read_microseconds_total";
    pub const L2_READ_MAX: &str = "exchanged_token_cache_l2_read_max_seconds";
    pub const LOCK_WAITS: &str = "exchanged_token_cache_lock_waits_total";
    pub const LOCK_WAIT_EXCHANGES: &str = "exchanged_token_cache_lock_wait_exchanges_total";
    pub const BUDGET_EXHAUSTED: &str = "token_exchange_budget_exhausted_total";
    pub const LOG_LINES_DROPPED: &str = "log_lines_dropped_total";
    pub const AUDIT_WRITE_ERRORS: &str = "audit_write_errors_total";
}

/// Latency buckets, in seconds: from a cached call (a few ms) to the upstream timeout.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The route label of a request that matched no route (a 404 or a probe).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A recorder and the handle that renders it. Cheap to clone; clones share the series.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    /// Whether the token cache has a shared tier, whose series are exported only then.
    shared_cache: bool,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh set of series, every `*_seconds` metric a histogram with [`LATENCY_BUCKETS`].
    pub fn new() -> Self {
        let recorder = match PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
        {
            Ok(builder) => builder.build_recorder(),
            // Only empty buckets are refused, and ours are not; summaries would still do.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        let metrics = Self {
            recorder: Arc::new(recorder),
            handle,
            shared_cache: false,
        };
        metrics.with(describe);
        metrics
    }

    /// Folds recorded histogram samples into their buckets every `every`, until `stop`.
    ///
    /// The exporter keeps each sample until upkeep runs, and otherwise runs it only
    /// when `/metrics` is read: a server nobody scrapes would grow by every latency
    /// sample it records (about 50 bytes a call, found by the long soak).
    pub fn spawn_upkeep(&self, every: Duration, stop: CancellationToken) {
        let handle = self.handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = ticks.tick() => handle.run_upkeep(),
                }
            }
        });
    }

    /// Exports the shared tier's series (L2 hits, misses, errors by kind, reads and
    /// their latency, fleet lock waits, the exchange budget). Without a shared tier
    /// they would all stay zero, so a single server's `/metrics` is as before.
    pub fn with_shared_cache(mut self, shared_cache: bool) -> Self {
        self.shared_cache = shared_cache;
        self
    }

    fn with<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(self.recorder.as_ref(), f)
    }

    /// One HTTP request answered. `route` is the matched route template.
    pub fn http_request(&self, route: &str, status: u16, elapsed: Duration) {
        let route = route.to_owned();
        self.with(|| {
            counter!(names::HTTP_REQUESTS, "route" => route.clone(), "status" => status.to_string())
                .increment(1);
            histogram!(names::HTTP_REQUEST_DURATION, "route" => route).record(elapsed);
        });
    }

    /// One bearer token verified: `ok`, or a [`jwt_verify::VerifyError::kind`].
    pub fn token_verification(&self, outcome: &'static str) {
        self.with(|| counter!(names::TOKEN_VERIFICATIONS, "outcome" => outcome).increment(1));
    }

    /// One tool call finished: `ok`, or why not. `elapsed` is `None` for calls refused
    /// before the tool ran, which would only skew the latency histogram. `tool` is a
    /// name from the tool router, never one a client sent, so the series stay bounded.
    pub(crate) fn tool_call(
        &self,
        tool: Cow<'static, str>,
        outcome: &'static str,
        elapsed: Option<Duration>,
    ) {
        self.with(|| {
            counter!(names::TOOL_CALLS, "tool" => tool.clone(), "outcome" => outcome).increment(1);
            if let Some(elapsed) = elapsed {
                histogram!(names::TOOL_CALL_DURATION, "tool" => tool).record(elapsed);
            }
        });
    }

    /// One call of a downstream API (by its configured name): `2xx`, or
    /// [`private_api_client::ApiError::status_label`].
    pub(crate) fn api_call(&self, api: &str, status: &'static str, elapsed: Duration) {
        let api = api.to_owned();
        self.with(|| {
            counter!(names::API_CALLS, "api" => api.clone(), "status" => status).increment(1);
            histogram!(names::API_CALL_DURATION, "api" => api).record(elapsed);
        });
    }

    /// An audit event that could not be written to `AUDIT_LOG`.
    pub(crate) fn audit_write_error(&self) {
        self.with(|| counter!(names::AUDIT_WRITE_ERRORS).increment(1));
    }

    /// The exposition text, after copying the libraries' own counters into it.
    pub fn render(&self, verifier: &JwksVerifier, tokens: &TokenCache) -> String {
        let jwks = verifier.jwks_stats();
        let keys_loaded = verifier.has_keys();
        let verified = verifier.verified_cache_stats();
        let cache = tokens.stats();
        self.with(|| {
            counter!(names::JWKS_FETCHES, "outcome" => "ok").absolute(jwks.fetches_ok);
            counter!(names::JWKS_FETCHES, "outcome" => "failed").absolute(jwks.fetches_failed);
            counter!(names::JWKS_UNKNOWN_KID_REFETCHES).absolute(jwks.unknown_kid_refetches);
            gauge!(names::JWKS_KEYS_LOADED).set(if keys_loaded { 1.0 } else { 0.0 });
            counter!(names::VERIFIED_CACHE_HITS).absolute(verified.hits);
            counter!(names::VERIFIED_CACHE_MISSES).absolute(verified.misses);
            gauge!(names::VERIFIED_CACHE_ENTRIES).set(verified.entries as f64);
            counter!(names::LOG_LINES_DROPPED).absolute(crate::telemetry::log_lines_dropped());
            counter!(names::CACHE_HITS).absolute(cache.hits);
            counter!(names::CACHE_MISSES).absolute(cache.misses);
            gauge!(names::CACHE_ENTRIES).set(cache.entry_count as f64);
            // `exchanges` counts every exchange started (a concurrent group of misses
            // once), so those that did not fail succeeded, or are still in flight.
            counter!(names::TOKEN_EXCHANGES, "outcome" => "ok")
                .absolute(cache.exchanges.saturating_sub(cache.failures_total()));
            for (kind, count) in &cache.failures {
                counter!(names::TOKEN_EXCHANGES, "outcome" => *kind).absolute(*count);
            }
            if self.shared_cache {
                counter!(names::L2_HITS).absolute(cache.l2_hits);
                counter!(names::L2_MISSES).absolute(cache.l2_misses);
                // Every kind, seen or not, so an alert on a kind has a series from the start.
                for kind in auth0_obo::STORE_ERROR_KINDS {
                    let count = cache.l2_errors.get(kind).copied().unwrap_or(0);
                    counter!(names::L2_ERRORS, "kind" => kind).absolute(count);
                }
                counter!(names::L2_READS).absolute(cache.l2_gets);
                counter!(names::L2_READ_MICROS).absolute(cache.l2_get_micros_total);
                gauge!(names::L2_READ_MAX).set(cache.l2_get_micros_max as f64 / 1e6);
                counter!(names::LOCK_WAITS).absolute(cache.lock_waits);
                counter!(names::LOCK_WAIT_EXCHANGES).absolute(cache.lock_wait_exchanges);
                counter!(names::BUDGET_EXHAUSTED).absolute(cache.budget_exhausted);
            }
        });
        self.handle.run_upkeep();
        self.handle.render()
    }
}

fn describe() {
    use names::*;
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template and status code."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template."
    );
    describe_counter!(
        TOKEN_VERIFICATIONS,
        "Bearer tokens verified, by outcome (ok, or why the token was refused)."
    );
    describe_counter!(
        TOKEN_EXCHANGES,
        "On-Behalf-Of token exchanges at Auth0, by outcome (ok, the OAuth error code, rate_limited, timeout, ...)."
    );
    describe_counter!(CACHE_HITS, "Exchanged tokens served from the cache.");
    describe_counter!(CACHE_MISSES, "Exchanged-token cache misses.");
    describe_gauge!(CACHE_ENTRIES, "Exchanged tokens currently cached.");
    describe_counter!(TOOL_CALLS, "MCP tool calls, by tool and outcome.");
    describe_counter!(
        AUDIT_WRITE_ERRORS,
        "Audit events that could not be written to AUDIT_LOG (docs/audit.md)."
    );
    describe_histogram!(
        TOOL_CALL_DURATION,
        metrics::Unit::Seconds,
        "Time a tool took, by tool."
    );
    describe_counter!(
        API_CALLS,
        "Calls of the downstream APIs, by API name and status (2xx, 401, 403, 4xx, 5xx, or timeout/transport)."
    );
    describe_histogram!(
        API_CALL_DURATION,
        metrics::Unit::Seconds,
        "Time a downstream API call took, by API name."
    );
    describe_counter!(JWKS_FETCHES, "JWKS fetches, by outcome (ok, failed).");
    describe_counter!(
        JWKS_UNKNOWN_KID_REFETCHES,
        "JWKS refetches caused by a token with an unknown key id."
    );
    describe_counter!(
        L2_HITS,
        "In-process cache misses answered by the shared token cache (Redis)."
    );
    describe_counter!(
        L2_MISSES,
        "In-process cache misses that the shared token cache could not answer either."
    );
    describe_counter!(
        L2_ERRORS,
        "Failed calls to the shared token cache, by kind (timeout, unavailable, protocol, corrupt); each is a miss, never a failed tool call."
    );
    describe_counter!(
        L2_READS,
        "Reads of the shared token cache (each poll while waiting for another replica counts)."
    );
    describe_counter!(
        L2_READ_MICROS,
        "Total time of the reads of the shared token cache, in microseconds: divided by the reads, their mean latency."
    );
    describe_gauge!(
        L2_READ_MAX,
        "The slowest read of the shared token cache since the start, in seconds."
    );
    describe_counter!(
        LOCK_WAITS,
        "Calls that found another replica exchanging for the same user (its fleet lock) and waited for its token."
    );
    describe_counter!(
        LOCK_WAIT_EXCHANGES,
        "Waits for another replica that ended with this replica exchanging after all (the holder failed or died, or the wait ran out)."
    );
    describe_counter!(
        BUDGET_EXHAUSTED,
        "Calls refused because the fleet-wide exchange budget (EXCHANGE_RATE_LIMIT) had no room in time."
    );
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines dropped because the log writer thread fell behind (stderr blocked); 0 unless it did."
    );
    describe_gauge!(
        JWKS_KEYS_LOADED,
        "1 when signing keys are cached (tokens can be verified), else 0."
    );
    describe_counter!(
        VERIFIED_CACHE_HITS,
        "Bearer tokens answered from the verified-token cache (signature not checked again; exp and nbf are)."
    );
    describe_counter!(
        VERIFIED_CACHE_MISSES,
        "Bearer tokens not in the verified-token cache (or cached under keys since replaced), verified in full."
    );
    describe_gauge!(VERIFIED_CACHE_ENTRIES, "Verified tokens currently cached.");
}

/// `GET /metrics`.
pub async fn scrape(State(state): State<AppState>) -> Response {
    // moka applies inserts and evictions lazily; settle them so the entry gauge is true.
    state.delegation.tokens().run_pending_tasks().await;
    let body = state
        .metrics
        .render(&state.verifier, state.delegation.tokens());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Counts every request by its route template and status.
pub async fn track_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let response = next.run(request).await;
    state.metrics.http_request(
        route.as_deref().unwrap_or(UNMATCHED_ROUTE),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
