//! The fleet scenario (issue 15): three `mcp-server` replicas sharing one real
//! `redis-server` as the exchanged-token cache's L2.
//!
//! Two things are measured. First (c)'s traffic, `greet` rotating over the same number
//! of users, with the connections split over the replicas as a load balancer splits
//! keep-alive connections: every user's calls land on every replica, and the fleet
//! must still make one exchange per user. Then the latency of an L1 miss that hits L2:
//! each of a set of fresh users calls replica A once (an exchange, which writes L2),
//! then replica B (timed: not in B's L1, found in L2), then replica B again (timed: an
//! L1 hit), the two timed phases with the same users, connections and order.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use obo_tests::process::ServiceProcess;
use obo_tests::redis::RedisServer;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::tenant::MockTenant;
use serde::Serialize;

use super::cpu::{CpuSample, CpuUsage, Subject};
use super::http1::{self, Connection};
use super::load::{self, Connections, Order, PhaseResult, Plan, Tool, User};
use super::report::ScenarioReport;
use super::{EACH_ONCE_BOUND, ROTATING_USERS, Scenario, Settings, pin, server_env};

/// Replicas in the fleet, as in the end-to-end fleet tests.
pub const REPLICAS: usize = 3;
/// Fresh users of the L2-hit phases, at most: every one of them must stay in replica
/// B's L1 (10,000 entries by default) through the L1 phase, next to (c)'s users.
const L2_USERS_MAX: usize = 5_000;
/// Where Debian's package puts the server (`obo_tests::redis` looks there first).
const DEBIAN_REDIS: &str = "/usr/bin/redis-server";
/// The Prometheus series of replica B's L2 hits.
const L2_HITS: &str = "exchanged_token_cache_l2_hits_total";

/// The fleet's figures beyond the round-robin row of the table.
#[derive(Debug, Serialize)]
pub struct FleetReport {
    pub replicas: usize,
    /// (c)'s users, rotated over the whole fleet.
    pub rotating_users: usize,
    /// Exchanges per user over the round-robin phase (warm-up included): 1 is the goal.
    pub exchanges_per_user: f64,
    /// Fresh users of the L2-hit phases.
    pub l2_users: usize,
    /// Each user's first call, on replica A: the exchange path, not timed.
    pub prime: Latency,
    /// Each user's second call, on replica B: an L1 miss served from L2.
    pub l2_hit: Latency,
    /// Each user's third call, on replica B again: an L1 hit.
    pub l1_hit: Latency,
    /// Exchanges at the tenant during the L2-hit phase: 0 when every call hit L2.
    pub l2_phase_exchanges: u64,
    /// Replica B's L2 hits during the L2-hit phase (`None`: `/metrics` unreadable).
    pub l2_phase_l2_hits: Option<u64>,
    /// Replica B's L2 hits during the L1-hit phase: 0 when every call hit L1.
    pub l1_phase_l2_hits: Option<u64>,
}

/// One phase's latency, in microseconds, as the table reports it.
#[derive(Debug, Serialize)]
pub struct Latency {
    pub requests: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    pub error_samples: Vec<String>,
}

impl Latency {
    fn of(result: &PhaseResult) -> Self {
        let histogram = &result.histogram;
        Self {
            requests: result.requests(),
            errors: result.errors,
            requests_per_sec: result.requests_per_sec(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
            error_samples: result.error_samples.clone(),
        }
    }
}

impl FleetReport {
    /// Errors in any phase of the fleet scenario, the round-robin one excepted.
    pub fn errors(&self) -> u64 {
        self.prime.errors + self.l2_hit.errors + self.l1_hit.errors
    }
}

/// Stops early, before anything is built, when the scenario cannot run here.
pub fn check_redis_installed() -> anyhow::Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    match find_redis(Path::new(DEBIAN_REDIS), &path) {
        Some(_) => Ok(()),
        None => bail!("{}", missing_redis_message()),
    }
}

/// Where `redis-server` is: Debian's path, else the first in `path` (a `PATH` value).
fn find_redis(debian: &Path, path: &std::ffi::OsStr) -> Option<PathBuf> {
    if debian.is_file() {
        return Some(debian.to_owned());
    }
    std::env::split_paths(path)
        .map(|dir| dir.join("redis-server"))
        .find(|candidate| candidate.is_file())
}

fn missing_redis_message() -> String {
    "the fleet scenario needs redis-server, which is not installed: install it with \
     `sudo apt-get install -y redis-server` (the bench starts its own server on a free \
     port; no service needs to run), or leave `fleet` out of --scenario"
        .to_owned()
}

/// Starts Redis, the system and two more replicas; runs the phases; stops them all.
pub async fn measure(
    settings: &Settings,
    bin_dir: PathBuf,
) -> anyhow::Result<(ScenarioReport, FleetReport)> {
    let started = Instant::now();
    // `RedisServer` panics when it cannot start; `check_redis_installed` ran before.
    let redis = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .context("redis-server did not start")?;
    // No TOKEN_CACHE_ENCRYPTION_KEY: the replicas derive the same fleet secret from
    // their shared client credentials, as a fleet does by default.
    let mut fleet_env = server_env(settings);
    fleet_env.extend([
        ("TOKEN_CACHE_REDIS_URL".to_owned(), redis.url()),
        ("TOKEN_CACHE_KEY_PREFIX".to_owned(), "obo-bench:".to_owned()),
    ]);
    let system = RunningSystem::start(SystemConfig {
        bin_dir,
        mcp_env: fleet_env,
        ..SystemConfig::default()
    })
    .await
    .context("the fleet's system did not start")?;
    let mut others = Vec::new();
    for _ in 1..REPLICAS {
        others.push(
            system
                .start_mcp_replica(&BTreeMap::new())
                .await
                .context("a replica of the MCP server did not start")?,
        );
    }
    let replicas: Vec<&ServiceProcess> = std::iter::once(&system.mcp).chain(&others).collect();
    let mut pids = Vec::new();
    for replica in &replicas {
        let pid = replica
            .pid()
            .context("a replica of the MCP server exited right after it started")?;
        if let Some(layout) = settings.layout.filter(|_| settings.pinned)
            && let Err(e) = pin::pin_process(pid, layout.server)
        {
            eprintln!("bench: replica {pid} is not pinned: {e:#}");
        }
        pids.push(pid);
    }
    eprintln!(
        "bench: fleet up in {:.1} s ({REPLICAS} MCP servers, pids {pids:?}, sharing redis-server on port {})",
        started.elapsed().as_secs_f64(),
        redis.port()
    );

    let l2_users = settings.users_d.min(L2_USERS_MAX);
    let users = mint(&system.tenant, l2_users).await?;
    let urls: Vec<String> = replicas
        .iter()
        .map(|r| format!("{}/mcp", r.base_url()))
        .collect();

    let row = round_robin(settings, &system, &replicas, &pids, &urls, &users.rotating).await?;
    eprintln!("{}", row.one_line());
    let mut fleet = l2_hits(settings, &system.tenant, &replicas, &urls, users.fresh).await?;
    fleet.exchanges_per_user = row.exchanges as f64 / ROTATING_USERS as f64;
    eprintln!(
        "bench: fleet L2 hit p50 {} ms p99 {} ms; L1 hit p50 {} ms p99 {} ms; {} exchanges in the L2 phase",
        ms(fleet.l2_hit.p50_us),
        ms(fleet.l2_hit.p99_us),
        ms(fleet.l1_hit.p50_us),
        ms(fleet.l1_hit.p99_us),
        fleet.l2_phase_exchanges
    );
    drop(others);
    drop(system);
    drop(redis);
    Ok((row, fleet))
}

struct FleetUsers {
    rotating: Arc<[User]>,
    fresh: Arc<[User]>,
}

/// Mints before any clock starts, as the other scenarios do (RSA signing is slow).
async fn mint(tenant: &MockTenant, fresh: usize) -> anyhow::Result<FleetUsers> {
    let tenant = tenant.clone();
    tokio::task::spawn_blocking(move || {
        let many = |prefix: &str, count: usize| -> Arc<[User]> {
            (0..count)
                .map(|i| {
                    let sub = format!("auth0|bench-{prefix}-{i:05}");
                    let token = tenant.token_for(&sub, &["tool:greet"]);
                    User { sub, token }
                })
                .collect()
        };
        FleetUsers {
            rotating: many("fleet-c", ROTATING_USERS),
            fresh: many("fleet-l2", fresh),
        }
    })
    .await
    .context("minting the fleet's tokens failed")
}

/// (c)'s traffic over the whole fleet: warm-up, then the measured phase.
async fn round_robin(
    settings: &Settings,
    system: &RunningSystem,
    replicas: &[&ServiceProcess],
    pids: &[u32],
    urls: &[String],
    users: &Arc<[User]>,
) -> anyhow::Result<ScenarioReport> {
    let load_before = pin::load_average();
    let mut sets = Vec::new();
    let counts = split(settings.connections, urls.len());
    let connections = counts.iter().sum();
    for (url, count) in urls.iter().zip(counts) {
        sets.push(Connections::open(url, count).await?);
    }
    let plan = || Arc::new(Plan::new(Tool::Greet, Arc::clone(users), Order::Repeat));
    let exchanges_before = system.tenant.exchanges();
    if let Some(pid) = pids.first()
        && let Err(e) = pin::reset_peak_rss(*pid)
    {
        eprintln!("bench: {e:#}; the peak RSS reported is the process's lifetime peak");
    }
    if settings.warmup_s > 0 {
        load::run_phase_spread(&mut sets, plan(), Duration::from_secs(settings.warmup_s)).await?;
    }
    let samples: Vec<CpuSample> = pids
        .iter()
        .map(|&pid| CpuSample::take(Some(Subject::Process(pid))))
        .collect();
    let result =
        load::run_phase_spread(&mut sets, plan(), Duration::from_secs(settings.duration_s)).await?;
    let cpu = fleet_cpu(samples.iter().map(CpuSample::usage_since).collect());
    let exchanges = system.tenant.exchanges().saturating_sub(exchanges_before);
    Ok(ScenarioReport::new(
        Scenario::Fleet,
        connections,
        users.len(),
        &result,
        exchanges,
        replicas.first().and_then(|r| r.peak_rss_kib()),
        cpu,
        load_before,
        pin::load_average(),
    ))
}

/// The L1 miss that hits L2, against the L1 hit, for the same fresh users.
async fn l2_hits(
    settings: &Settings,
    tenant: &MockTenant,
    replicas: &[&ServiceProcess],
    urls: &[String],
    users: Arc<[User]>,
) -> anyhow::Result<FleetReport> {
    let (Some(url_a), Some(url_b), Some(replica_b)) = (urls.first(), urls.get(1), replicas.get(1))
    else {
        bail!("the fleet scenario needs two replicas at least");
    };
    let each_once = || Arc::new(Plan::new(Tool::Greet, Arc::clone(&users), Order::EachOnce));
    let mut on_a = Connections::open(url_a, settings.connections).await?;
    let prime = load::run_phase(&mut on_a, each_once(), EACH_ONCE_BOUND).await?;
    drop(on_a);

    let mut on_b = Connections::open(url_b, settings.connections).await?;
    let exchanges_before = tenant.exchanges();
    let hits_before = l2_hits_of(replica_b).await;
    let l2 = load::run_phase(&mut on_b, each_once(), EACH_ONCE_BOUND).await?;
    let l2_phase_exchanges = tenant.exchanges().saturating_sub(exchanges_before);
    let hits_between = l2_hits_of(replica_b).await;
    let l1 = load::run_phase(&mut on_b, each_once(), EACH_ONCE_BOUND).await?;
    let hits_after = l2_hits_of(replica_b).await;
    let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));

    let mut report = FleetReport {
        replicas: replicas.len(),
        rotating_users: ROTATING_USERS,
        exchanges_per_user: 0.0,
        l2_users: users.len(),
        prime: Latency::of(&prime),
        l2_hit: Latency::of(&l2),
        l1_hit: Latency::of(&l1),
        l2_phase_exchanges,
        l2_phase_l2_hits: delta(hits_before, hits_between),
        l1_phase_l2_hits: delta(hits_between, hits_after),
    };
    for latency in [&mut report.prime, &mut report.l2_hit, &mut report.l1_hit] {
        unserved(latency, users.len());
    }
    Ok(report)
}

/// An each-once phase that ended before serving every user failed for the rest.
fn unserved(latency: &mut Latency, users: usize) {
    let missing = u64::try_from(users)
        .unwrap_or(u64::MAX)
        .saturating_sub(latency.requests);
    if missing > 0 {
        latency.errors += missing;
        latency.error_samples.push(format!(
            "{missing} users not served within {EACH_ONCE_BOUND:?}"
        ));
    }
}

/// `total` connections split as evenly as can be over `parts` replicas, each at least 1.
fn split(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|i| (total / parts + usize::from(i < total % parts)).max(1))
        .collect()
}

/// The fleet's CPU: the replicas' shares summed (what a request costs the fleet); the
/// cores as the first reading saw them.
fn fleet_cpu(usages: Vec<CpuUsage>) -> CpuUsage {
    let server_pct = usages.iter().map(|u| u.server_pct).sum::<Option<f64>>();
    CpuUsage {
        server_pct,
        cores_busy_pct: usages
            .into_iter()
            .next()
            .map(|u| u.cores_busy_pct)
            .unwrap_or_default(),
    }
}

/// A replica's L2 hits so far, from its `/metrics`; `None` when it cannot be read.
async fn l2_hits_of(replica: &ServiceProcess) -> Option<u64> {
    let rest = replica.base_url().strip_prefix("http://")?;
    let addr: SocketAddr = rest.trim_end_matches('/').parse().ok()?;
    let mut connection = Connection::open(addr).await.ok()?;
    let response = connection
        .send(&http1::get(rest.trim_end_matches('/'), "/metrics"))
        .await
        .ok()?;
    if response.status != 200 {
        return None;
    }
    metric(&String::from_utf8_lossy(&response.body), L2_HITS)
}

/// The value of an unlabelled `series` in a Prometheus text exposition.
fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .filter(|value| value.is_finite() && *value >= 0.0)
        .map(|value| value as u64)
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_split_evenly_over_the_replicas() {
        assert_eq!(split(32, 3), vec![11, 11, 10]);
        assert_eq!(split(3, 3), vec![1, 1, 1]);
        // Fewer connections than replicas: each replica still gets one.
        assert_eq!(split(1, 3), vec![1, 1, 1]);
        assert_eq!(split(32, 3).iter().sum::<usize>(), 32);
    }

    #[test]
    fn metric_reads_the_unlabelled_series_only() {
        let text = "# HELP exchanged_token_cache_l2_hits_total L2 hits\n\
                    # TYPE exchanged_token_cache_l2_hits_total counter\n\
                    exchanged_token_cache_l2_hits_total_other 9\n\
                    exchanged_token_cache_l2_hits_total 1234\n";
        assert_eq!(metric(text, L2_HITS), Some(1234));
        assert_eq!(
            metric("exchanged_token_cache_l2_hits_total 5e2\n", L2_HITS),
            Some(500)
        );
        assert_eq!(
            metric("exchanged_token_cache_l2_hits_total NaN\n", L2_HITS),
            None
        );
        assert_eq!(metric("other_total 3\n", L2_HITS), None);
    }

    #[test]
    fn fleet_cpu_sums_the_replicas_and_needs_every_one() {
        let usage = |pct| CpuUsage {
            server_pct: pct,
            cores_busy_pct: vec![90.0, 40.0],
        };
        let sum = fleet_cpu(vec![
            usage(Some(30.0)),
            usage(Some(25.0)),
            usage(Some(20.0)),
        ]);
        assert_eq!(sum.server_pct, Some(75.0));
        assert_eq!(sum.cores_busy_pct, vec![90.0, 40.0]);
        assert_eq!(
            fleet_cpu(vec![usage(Some(30.0)), usage(None)]).server_pct,
            None
        );
    }

    #[test]
    fn an_each_once_phase_that_stops_short_counts_the_rest_as_errors() {
        let mut latency = Latency {
            requests: 7,
            errors: 1,
            requests_per_sec: 0.0,
            p50_us: 0,
            p99_us: 0,
            max_us: 0,
            mean_us: 0.0,
            error_samples: Vec::new(),
        };
        unserved(&mut latency, 10);
        assert_eq!(latency.errors, 4);
        assert_eq!(latency.error_samples.len(), 1);
        unserved(&mut latency, 7);
        assert_eq!(latency.errors, 4);
    }

    #[test]
    fn redis_is_found_at_debians_path_or_on_the_path() {
        let dir = std::env::temp_dir().join(format!("obo-bench-find-redis-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
        let nowhere = dir.join("no-such-redis-server");
        let path = std::env::join_paths([dir.join("empty"), bin.clone()])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_redis(&nowhere, &path), None);
        std::fs::write(bin.join("redis-server"), b"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_redis(&nowhere, &path), Some(bin.join("redis-server")));
        let debian = dir.join("debian-redis-server");
        std::fs::write(&debian, b"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(find_redis(&debian, &path), Some(debian.clone()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(missing_redis_message().contains("sudo apt-get install -y redis-server"));
    }
}
