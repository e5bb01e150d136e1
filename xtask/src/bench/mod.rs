//! `cargo xtask bench`: throughput, latency, exchanges and memory of the MCP server,
//! against the floor of the same machine (issue 7; `docs/performance.md`).
//!
//! The system runs as users run it: the mock Auth0 tenant in this process, the private
//! API and the MCP server as release-built processes. The MCP server gets cores
//! `0..N` (`--server-cores N`, default 1) to itself; this process (load generator and
//! tenant) and the private API share the rest.

mod cpu;
mod fleet;
mod floor;
mod http1;
mod load;
mod pin;
mod plot;
mod report;
mod runs;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use obo_tests::process::ServiceProcess;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::tenant::MockTenant;

use crate::cmd::{cargo, step, workspace_root};
use floor::{Floor, FloorKind};
use load::{Connections, Order, Plan, Tool, User};
use pin::{Layout, Machine};
use report::{Report, ScenarioReport};
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
    /// Scenarios to run, in this order whatever the order given [default:
    /// floor-http,floor,a,b,c,d; `fleet` runs only when named: it needs redis-server].
    #[arg(long, value_enum, value_delimiter = ',')]
    scenario: Vec<Scenario>,
    /// Cores for the MCP server and the floors (0..N); the load generator, tenant and
    /// private API get the rest, so N must leave at least one. On a 2-core machine only
    /// 1 is meaningful.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    server_cores: u16,
    /// Run the whole set this many times; results.json then holds the median of each
    /// figure, and each run's own results.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=99))]
    runs: u16,
    /// Draw the results as an SVG chart (req/s, p50/p99, the floors marked) beside
    /// results.json, or at --svg.
    #[arg(long)]
    plot: bool,
    /// Draw the chart of an existing results.json [default: target/bench/results.json]
    /// without measuring anything.
    #[arg(long, value_name = "RESULTS_JSON", num_args = 0..=1)]
    plot_only: Option<Option<PathBuf>>,
    /// Where --plot and --plot-only write the chart [default: results.svg beside the
    /// results], for example docs/bench.svg.
    #[arg(long, value_name = "PATH")]
    svg: Option<PathBuf>,
}

/// The scenarios of issues 7 and 16, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The (a) request to a bare axum handler that verifies nothing: the HTTP stack's limit.
    FloorHttp,
    /// A bare axum handler that only verifies the JWT, every time: the floor for (a).
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
            Scenario::FloorHttp => "floor-http",
            Scenario::Floor => "floor",
            Scenario::A => "a get_datetime",
            Scenario::B => "b greet 1 user",
            Scenario::C => "c greet 100 users",
            Scenario::D => "d greet each once",
            Scenario::Fleet => "fleet 3 replicas",
        }
    }

    /// The floors run in the bench's process, not the MCP server.
    fn is_floor(self) -> bool {
        matches!(self, Scenario::FloorHttp | Scenario::Floor)
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
    /// `--server-cores`: cores for the MCP server and the floors.
    pub server_cores: usize,
    /// Which cores the server and the generator get; `None` on a one-core machine.
    pub layout: Option<Layout>,
    /// What the output says about `--server-cores` on this machine, if anything.
    pub cores_note: Option<String>,
    pub pinned: bool,
    /// `--runs`: how many times the whole set ran (figures are medians when > 1).
    pub runs: usize,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(json) = &args.plot_only {
        let json = json.clone().unwrap_or_else(results_path);
        let svg = args
            .svg
            .clone()
            .unwrap_or_else(|| json.with_extension("svg"));
        plot::plot_file(&json, &svg)?;
        eprintln!(
            "bench: chart of {} written to {}",
            json.display(),
            svg.display()
        );
        return Ok(());
    }
    // Before pinning: what the machine has, not what this process is allowed.
    let machine = Machine::describe();
    let scenarios = chosen(&args.scenario);
    let server_cores = usize::from(args.server_cores);
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
        server_cores,
        layout: Layout::new(machine.nproc, server_cores)?,
        cores_note: Layout::note(machine.nproc),
        pinned: false,
        runs: usize::from(args.runs),
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
    // tenant's thread and the private API inherit the generator's cores; the MCP
    // server is moved to the server's cores once it runs.
    match settings.layout {
        Some(layout) if pin::taskset_available() => {
            match pin::pin_process(std::process::id(), layout.generator) {
                Ok(()) => settings.pinned = true,
                Err(e) => eprintln!("bench: not pinning: {e:#}"),
            }
        }
        _ => eprintln!(
            "bench: not pinning (taskset missing or a single core): the server and the load generator share the CPUs"
        ),
    }
    if let Some(note) = &settings.cores_note {
        eprintln!("bench: {note}");
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the bench's runtime")?;
    let mut reports = Vec::new();
    for run in 1..=settings.runs {
        if settings.runs > 1 {
            eprintln!("bench: run {run} of {}", settings.runs);
        }
        let report = runtime.block_on(measure(&settings, machine.clone()))?;
        if settings.runs > 1 {
            report.print();
        }
        reports.push(report);
    }
    drop(runtime);

    let report = runs::combine(reports)?;
    if settings.runs > 1 {
        println!(
            "
medians of {} runs:",
            settings.runs
        );
    }
    report.print();
    let path = results_path();
    report.write(&path)?;
    eprintln!("\nbench: results written to {}", path.display());
    if args.plot {
        let svg = args
            .svg
            .clone()
            .unwrap_or_else(|| path.with_extension("svg"));
        plot::plot_file(&path, &svg)?;
        eprintln!("bench: chart written to {}", svg.display());
    }
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
            Scenario::FloorHttp,
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
    let (mut scenarios, idle_rss_kib) = if settings.scenarios.iter().any(|s| *s != Scenario::Fleet)
    {
        measure_one_server(settings).await?
    } else {
        (Vec::new(), None)
    };
    // After the single server has stopped, so the fleet has the machine to itself.
    let fleet = if settings.scenarios.contains(&Scenario::Fleet) {
        let (row, fleet) = fleet::measure(settings, target_dir().join("release")).await?;
        scenarios.push(row);
        Some(fleet)
    } else {
        None
    };
    Ok(Report::new(
        settings.clone(),
        machine,
        idle_rss_kib,
        scenarios,
        fleet,
    ))
}

/// The MCP server's environment under the bench: with `N` server cores, a runtime of
/// `N` workers (tokio reads `TOKIO_WORKER_THREADS`), since the server starts on the
/// generator's cores and is moved to its own only once it runs. `AUDIT_LOG` is passed
/// on from the bench's environment, so the cost of the audit file can be measured.
fn server_env(settings: &Settings) -> std::collections::BTreeMap<String, String> {
    let mut env = std::collections::BTreeMap::new();
    if let Ok(path) = std::env::var("AUDIT_LOG") {
        env.insert("AUDIT_LOG".to_owned(), path);
    }
    if settings.pinned {
        env.insert(
            "TOKIO_WORKER_THREADS".to_owned(),
            settings.server_cores.to_string(),
        );
    }
    env
}

/// The scenarios of issues 7 and 16 on one MCP server, and the server's idle RSS.
async fn measure_one_server(
    settings: &Settings,
) -> anyhow::Result<(Vec<ScenarioReport>, Option<u64>)> {
    let started = Instant::now();
    let system = RunningSystem::start(SystemConfig {
        bin_dir: target_dir().join("release"),
        mcp_env: server_env(settings),
        ..SystemConfig::default()
    })
    .await
    .context("the system did not start")?;
    let mcp_pid = system
        .mcp
        .pid()
        .context("the MCP server exited right after it started")?;
    let server_cores = settings
        .layout
        .filter(|_| settings.pinned)
        .map(|l| l.server);
    if let Some(cores) = server_cores
        && let Err(e) = pin::pin_process(mcp_pid, cores)
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
    // Started, keys fetched (it is ready only then), no request served yet.
    let idle_rss_kib = pin::current_rss_kib(mcp_pid);

    let mut scenarios = Vec::new();
    for &scenario in &settings.scenarios {
        let (tool, users, order) = match scenario {
            Scenario::FloorHttp | Scenario::Floor | Scenario::A => {
                (Tool::GetDatetime, &users.single, Order::Repeat)
            }
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
        let result = if scenario.is_floor() {
            let kind = if scenario == Scenario::FloorHttp {
                FloorKind::Http
            } else {
                FloorKind::Verify
            };
            let floor = Floor::start(
                kind,
                system.tenant.issuer(),
                system.tenant.mcp_audience(),
                server_cores,
                settings.server_cores,
            )?;
            let target = Target {
                server: None,
                subject: Some(cpu::Subject::Threads(floor.thread_ids())),
                ..target
            };
            run_scenario(scenario, settings, &floor.url, plan, target).await?
        } else {
            run_scenario(scenario, settings, &mcp_url, plan, target).await?
        };
        eprintln!("{}", result.one_line());
        scenarios.push(result);
    }
    Ok((scenarios, idle_rss_kib))
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
            chosen(&[]),
            vec![
                Scenario::FloorHttp,
                Scenario::Floor,
                Scenario::A,
                Scenario::B,
                Scenario::C,
                Scenario::D
            ]
        );
        assert_eq!(
            chosen(&[Scenario::Fleet, Scenario::C, Scenario::Fleet]),
            vec![Scenario::C, Scenario::Fleet]
        );
    }
}
