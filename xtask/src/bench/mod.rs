//! `cargo xtask bench`: throughput, latency, exchanges and memory of the MCP server,
//! against the floor of the same machine (issue 7; `docs/performance.md`).
//!
//! The system runs as users run it: the mock Auth0 tenant in this process, the private
//! API and the MCP server as release-built processes. The MCP server gets core 0 to
//! itself; this process (load generator and tenant) and the private API share core 1.

mod cpu;
mod fleet;
mod floor;
mod http1;
mod load;
mod pin;
mod report;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use obo_tests::process::ServiceProcess;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::tenant::MockTenant;

use crate::cmd::{cargo, step, workspace_root};
use floor::Floor;
use load::{Connections, Order, Plan, Tool, User};
use pin::Machine;
use report::{Report, ScenarioReport};

/// The core the MCP server (and the floor) run on; everything else runs on the other.
const SERVER_CORE: u32 = 0;
const GENERATOR_CORE: u32 = 1;
/// Scenario (c) rotates over this many users.
const ROTATING_USERS: usize = 100;
/// (d) ends when every user has been served; this bounds it if the server stalls.
const EACH_ONCE_BOUND: Duration = Duration::from_secs(600);

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Smoke run: 3 s per scenario after a 1 s warm-up, 1,000 users in (d).
    #[arg(long)]
    quick: bool,
    /// Keep-alive connections, each with its own task.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=4096))]
    connections: u16,
    /// Seconds measured per scenario [default: 15, or 3 with --quick].
    #[arg(long)]
    duration: Option<u64>,
    /// Seconds of unmeasured load before each scenario [default: 2, or 1 with --quick].
    #[arg(long)]
    warmup: Option<u64>,
    /// Distinct users in scenario (d), and (at most 5000) in the fleet's L2-hit phase
    /// [default: 10000, or 1000 with --quick].
    #[arg(long)]
    users: Option<usize>,
    /// Scenarios to run, in this order whatever the order given [default: floor,a,b,c,d;
    /// `fleet` runs only when named: it needs redis-server].
    #[arg(long, value_enum, value_delimiter = ',')]
    scenario: Vec<Scenario>,
}

/// The scenarios of issue 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// A bare axum handler that only verifies the JWT: the practical limit for (a).
    Floor,
    /// `get_datetime` with one token: the cost of auth plus MCP.
    A,
    /// `greet` with one user's token: one exchange, then the cache.
    B,
    /// `greet` rotating over 100 users' tokens: 100 exchanges, then the cache.
    C,
    /// `greet` with many distinct users, each once: the exchange path.
    D,
    /// (c)'s traffic over three replicas sharing Redis, then the L2-hit latency.
    Fleet,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Floor => "floor",
            Scenario::A => "a get_datetime",
            Scenario::B => "b greet 1 user",
            Scenario::C => "c greet 100 users",
            Scenario::D => "d greet each once",
            Scenario::Fleet => "fleet 3 replicas",
        }
    }
}

/// Settings after defaults and `--quick` are applied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Settings {
    pub quick: bool,
    pub connections: usize,
    pub duration_s: u64,
    pub warmup_s: u64,
    pub users_d: usize,
    pub scenarios: Vec<Scenario>,
    pub pinned: bool,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    // Before pinning: what the machine has, not what this process is allowed.
    let machine = Machine::describe();
    let scenarios = chosen(&args.scenario);
    let mut settings = Settings {
        quick: args.quick,
        connections: usize::from(args.connections),
        duration_s: args.duration.unwrap_or(if args.quick { 3 } else { 15 }),
        warmup_s: args.warmup.unwrap_or(if args.quick { 1 } else { 2 }),
        users_d: args
            .users
            .unwrap_or(if args.quick { 1_000 } else { 10_000 })
            .max(1),
        scenarios,
        pinned: false,
    };
    if settings.duration_s == 0 {
        bail!("--duration must be at least 1 second");
    }
    if settings.scenarios.contains(&Scenario::Fleet) {
        fleet::check_redis_installed()?;
    }

    if std::env::var_os(OPTIMISED_MARKER).is_none() {
        step(
            "build release binaries",
            cargo().args([
                "build",
                "--release",
                "-p",
                "mcp-server",
                "-p",
                "private-api",
                "-p",
                "xtask",
            ]),
        )?;
        if cfg!(debug_assertions) {
            return rerun_optimised();
        }
    }

    // Pin this process before the runtime and the children exist: its threads, the
    // tenant's thread and the private API inherit core 1; the MCP server is moved to
    // core 0 once it runs (and, having started on one core, sizes its runtime for one).
    if machine.nproc >= 2 && pin::taskset_available() {
        match pin::pin_process(std::process::id(), GENERATOR_CORE) {
            Ok(()) => settings.pinned = true,
            Err(e) => eprintln!("bench: not pinning: {e:#}"),
        }
    } else {
        eprintln!(
            "bench: not pinning (taskset missing or a single core): the server and the load generator share the CPUs"
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the bench's runtime")?;
    let report = runtime.block_on(measure(&settings, machine))?;
    drop(runtime);

    report.print();
    let path = results_path();
    report.write(&path)?;
    eprintln!("\nbench: results written to {}", path.display());
    let mut failed: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| s.errors > 0)
        .map(|s| s.name.clone())
        .collect();
    if report.fleet.as_ref().is_some_and(|f| f.errors() > 0) {
        failed.push("fleet L2/L1-hit phases".to_owned());
    }
    if !failed.is_empty() {
        bail!("scenarios with errors: {}", failed.join(", "));
    }
    Ok(())
}

/// The scenarios to run, in their fixed order. The fleet is left out unless named: it
/// needs `redis-server`, and three servers more on the machine.
fn chosen(asked: &[Scenario]) -> Vec<Scenario> {
    let mut scenarios = if asked.is_empty() {
        vec![
            Scenario::Floor,
            Scenario::A,
            Scenario::B,
            Scenario::C,
            Scenario::D,
        ]
    } else {
        asked.to_vec()
    };
    scenarios.sort();
    scenarios.dedup();
    scenarios
}

/// Set for the release-built xtask that [`rerun_optimised`] starts.
const OPTIMISED_MARKER: &str = "OBO_BENCH_OPTIMISED";

/// `cargo xtask` is a debug build, and the load generator and the floor run inside it:
/// measured that way, the floor would be slowed by unoptimised hyper and axum while
/// the server runs in release. So the bench runs again as the release-built xtask.
fn rerun_optimised() -> anyhow::Result<()> {
    let program = target_dir().join("release").join("xtask");
    eprintln!("bench: running the release-built {}", program.display());
    let status = std::process::Command::new(&program)
        .args(std::env::args_os().skip(1))
        .env(OPTIMISED_MARKER, "1")
        .status()
        .with_context(|| format!("cannot run {}", program.display()))?;
    if !status.success() {
        bail!("the bench failed ({status})");
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

fn results_path() -> PathBuf {
    target_dir().join("bench").join("results.json")
}

/// Everything the scenarios need, minted before any clock starts.
struct Users {
    single: Arc<[User]>,
    greet_one: Arc<[User]>,
    rotating: Arc<[User]>,
    each_once: Arc<[User]>,
}

async fn measure(settings: &Settings, machine: Machine) -> anyhow::Result<Report> {
    let scenarios = if settings.scenarios.iter().any(|s| *s != Scenario::Fleet) {
        measure_one_server(settings).await?
    } else {
        Vec::new()
    };
    // After the single server has stopped, so the fleet has the machine to itself.
    let fleet = if settings.scenarios.contains(&Scenario::Fleet) {
        Some(fleet::measure(settings, target_dir().join("release")).await?)
    } else {
        None
    };
    Ok(Report::new(settings.clone(), machine, scenarios, fleet))
}

/// The scenarios of issue 7, on one MCP server.
async fn measure_one_server(settings: &Settings) -> anyhow::Result<Vec<ScenarioReport>> {
    let started = Instant::now();
    let system = RunningSystem::start(SystemConfig {
        bin_dir: target_dir().join("release"),
        ..SystemConfig::default()
    })
    .await
    .context("the system did not start")?;
    let mcp_pid = system
        .mcp
        .pid()
        .context("the MCP server exited right after it started")?;
    if settings.pinned
        && let Err(e) = pin::pin_process(mcp_pid, SERVER_CORE)
    {
        eprintln!("bench: the MCP server is not pinned: {e:#}");
    }
    // The same address the server is listening on; Host 127.0.0.1 is loopback, which
    // the server's DNS-rebinding guard accepts.
    let mcp_url = format!("{}/mcp", system.mcp.base_url());
    eprintln!(
        "bench: system up in {:.1} s (MCP server pid {mcp_pid}, log {})",
        started.elapsed().as_secs_f64(),
        system.mcp.log_path().display()
    );

    let users = mint(&system.tenant, settings).await?;

    let mut scenarios = Vec::new();
    for &scenario in &settings.scenarios {
        let (tool, users, order) = match scenario {
            Scenario::Floor | Scenario::A => (Tool::GetDatetime, &users.single, Order::Repeat),
            Scenario::B => (Tool::Greet, &users.greet_one, Order::Repeat),
            Scenario::C => (Tool::Greet, &users.rotating, Order::Repeat),
            Scenario::D => (Tool::Greet, &users.each_once, Order::EachOnce),
            Scenario::Fleet => continue,
        };
        let plan = || Plan::new(tool, Arc::clone(users), order);
        let target = Target {
            tenant: &system.tenant,
            server: Some(&system.mcp),
            subject: Some(cpu::Subject::Process(mcp_pid)),
        };
        let result = if scenario == Scenario::Floor {
            let core = settings.pinned.then_some(SERVER_CORE);
            let floor = Floor::start(system.tenant.issuer(), system.tenant.mcp_audience(), core)?;
            let target = Target {
                server: None,
                subject: floor.thread_id.map(cpu::Subject::Thread),
                ..target
            };
            run_scenario(scenario, settings, &floor.url, plan, target).await?
        } else {
            run_scenario(scenario, settings, &mcp_url, plan, target).await?
        };
        eprintln!("{}", result.one_line());
        scenarios.push(result);
    }
    Ok(scenarios)
}

/// Mints every token up front: RSA signing is slow enough (about a millisecond each)
/// that doing it inside a timed phase would measure the bench, not the server.
async fn mint(tenant: &MockTenant, settings: &Settings) -> anyhow::Result<Users> {
    let started = Instant::now();
    let tenant = tenant.clone();
    let users_d = settings.users_d;
    let wanted = settings.scenarios.clone();
    let users = tokio::task::spawn_blocking(move || -> anyhow::Result<Users> {
        let user = |sub: String| {
            let token = tenant.token_for(&sub, &["tool:greet"]);
            Ok::<_, anyhow::Error>(User { sub, token })
        };
        let many = |prefix: &str, count: usize| -> anyhow::Result<Arc<[User]>> {
            (0..count)
                .map(|i| user(format!("auth0|bench-{prefix}-{i:05}")))
                .collect()
        };
        Ok(Users {
            single: Arc::from([user("auth0|bench-a".into())?]),
            greet_one: Arc::from([user("auth0|bench-b".into())?]),
            rotating: many("c", ROTATING_USERS)?,
            each_once: if wanted.contains(&Scenario::D) {
                many("d", users_d)?
            } else {
                Arc::from([])
            },
        })
    })
    .await
    .context("minting tokens failed")??;
    eprintln!(
        "bench: minted {} tokens in {:.1} s{}",
        2 + ROTATING_USERS + users.each_once.len(),
        started.elapsed().as_secs_f64(),
        if settings.quick {
            format!(
                " (--quick: (d) uses {} users, not 10,000)",
                users.each_once.len()
            )
        } else {
            String::new()
        }
    );
    Ok(users)
}

/// What a scenario measures: the server (and its process, for RSS and CPU), and the
/// tenant whose exchanges it counts.
struct Target<'a> {
    tenant: &'a MockTenant,
    server: Option<&'a ServiceProcess>,
    subject: Option<cpu::Subject>,
}

/// Warms up (except (d), whose every request must be a first one), measures, and
/// collects the tenant's exchange count and the server's peak RSS for the scenario.
async fn run_scenario(
    scenario: Scenario,
    settings: &Settings,
    url: &str,
    plan: impl Fn() -> Plan,
    target: Target<'_>,
) -> anyhow::Result<ScenarioReport> {
    let Target {
        tenant,
        server,
        subject,
    } = target;
    let load_before = pin::load_average();
    let mut connections = Connections::open(url, settings.connections).await?;
    let exchanges_before = tenant.exchanges();
    let mcp_pid = server.and_then(ServiceProcess::pid);
    if let Some(pid) = mcp_pid
        && let Err(e) = pin::reset_peak_rss(pid)
    {
        eprintln!("bench: {e:#}; the peak RSS reported is the process's lifetime peak");
    }
    if scenario != Scenario::D && settings.warmup_s > 0 {
        load::run_phase(
            &mut connections,
            Arc::new(plan()),
            Duration::from_secs(settings.warmup_s),
        )
        .await?;
    }
    let plan = Arc::new(plan());
    let bound = if scenario == Scenario::D {
        EACH_ONCE_BOUND
    } else {
        Duration::from_secs(settings.duration_s)
    };
    let cpu_before = cpu::CpuSample::take(subject);
    let mut result = load::run_phase(&mut connections, Arc::clone(&plan), bound).await?;
    let cpu = cpu_before.usage_since();
    if plan.order == Order::EachOnce {
        let unserved = u64::try_from(plan.users.len())
            .unwrap_or(u64::MAX)
            .saturating_sub(result.requests());
        if unserved > 0 {
            result.errors += unserved;
            result.error_samples.push(format!(
                "{unserved} users not served within {EACH_ONCE_BOUND:?}"
            ));
        }
    }
    let exchanges = tenant.exchanges().saturating_sub(exchanges_before);
    let peak_rss_kib = server.and_then(ServiceProcess::peak_rss_kib);
    Ok(ScenarioReport::new(
        scenario,
        settings.connections,
        plan.users.len(),
        &result,
        exchanges,
        peak_rss_kib,
        cpu,
        load_before,
        pin::load_average(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_runs_only_when_named_and_always_last() {
        assert!(!chosen(&[]).contains(&Scenario::Fleet));
        assert_eq!(
            chosen(&[Scenario::Fleet, Scenario::C, Scenario::Fleet]),
            vec![Scenario::C, Scenario::Fleet]
        );
    }
}
