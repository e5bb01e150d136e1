//! The bench's results: one row per scenario, the targets of issue 16 checked against
//! them, printed as a table and written as JSON.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::cpu::CpuUsage;
use super::fleet::{FleetReport, REPLICAS};
use super::load::PhaseResult;
use super::pin::Machine;
use super::{ROTATING_USERS, Scenario, Settings};

/// (a) must reach this share of `floor-http`'s requests per second.
const FLOOR_HTTP_RATIO_TARGET: f64 = 0.50;
/// (a)'s p99 must stay under this, in microseconds…
const P99_TARGET_US: u64 = 3_000;
/// …at this many connections.
const P99_TARGET_CONNECTIONS: usize = 32;
/// (b) and (c) must reach this share of (a)'s requests per second.
const GREET_RATIO_TARGET: f64 = 0.65;
/// The server's peak RSS under (a), (b) and (c) must stay at or under this (16 MB), in KiB.
const RSS_TARGET_KIB: u64 = 16_000_000 / 1024;
/// …and under (d) with this many users, at or under this (30 MB), in KiB.
const RSS_TARGET_D_KIB: u64 = 30_000_000 / 1024;
const RSS_TARGET_D_USERS: usize = 10_000;

#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    pub scenario: Scenario,
    pub name: String,
    pub connections: usize,
    /// Distinct users (tokens) the scenario sent.
    pub users: usize,
    pub seconds: f64,
    pub requests: u64,
    pub errors: u64,
    pub requests_per_sec: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
    /// Successful exchanges at the mock tenant, warm-up included.
    pub exchanges: u64,
    /// The MCP server's `VmHWM` during the scenario (`None` for the floor).
    pub peak_rss_kib: Option<u64>,
    /// Requests per second over `floor-http`'s (every row but `floor-http`).
    pub ratio_to_floor_http: Option<f64>,
    /// Requests per second over the floor's (the MCP server's rows).
    pub ratio_to_floor: Option<f64>,
    /// Requests per second over (a)'s ((b), (c), (d) and the fleet).
    pub ratio_to_a: Option<f64>,
    /// CPU time during the measured phase: the server under test, and each core.
    pub cpu: CpuUsage,
    /// The server's CPU time per request, in microseconds: what a request costs,
    /// whoever set the pace.
    pub server_cpu_us_per_request: Option<f64>,
    /// For (a): the floor's CPU per request over (a)'s, that is the share of the floor's
    /// requests/s (a) would reach if both saturated their core.
    pub cpu_ratio_to_floor: Option<f64>,
    pub error_samples: Vec<String>,
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
}

impl ScenarioReport {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: Scenario,
        connections: usize,
        users: usize,
        result: &PhaseResult,
        exchanges: u64,
        peak_rss_kib: Option<u64>,
        cpu: CpuUsage,
        load_before: Option<f64>,
        load_after: Option<f64>,
    ) -> Self {
        let histogram = &result.histogram;
        Self {
            scenario,
            name: scenario.name().to_owned(),
            connections,
            users,
            seconds: result.elapsed.as_secs_f64(),
            requests: result.requests(),
            errors: result.errors,
            requests_per_sec: result.requests_per_sec(),
            p50_us: histogram.value_at_quantile(0.50),
            p99_us: histogram.value_at_quantile(0.99),
            max_us: histogram.max(),
            mean_us: histogram.mean(),
            exchanges,
            peak_rss_kib,
            ratio_to_floor_http: None,
            ratio_to_floor: None,
            ratio_to_a: None,
            server_cpu_us_per_request: cpu
                .server_pct
                .filter(|_| result.requests_per_sec() > 0.0)
                .map(|pct| pct / 100.0 * 1e6 / result.requests_per_sec()),
            cpu_ratio_to_floor: None,
            cpu,
            error_samples: result.error_samples.clone(),
            load_before,
            load_after,
        }
    }

    pub fn one_line(&self) -> String {
        let mut line = format!(
            "bench: {:<18} {:>9.0} req/s  p50 {} ms  p99 {} ms  errors {}  exchanges {}  peak RSS {}  server CPU {}  cores busy {}  (load {} → {})",
            self.name,
            self.requests_per_sec,
            ms(self.p50_us),
            ms(self.p99_us),
            self.errors,
            self.exchanges,
            rss(self.peak_rss_kib),
            pct(self.cpu.server_pct),
            cores(&self.cpu.cores_busy_pct),
            load(self.load_before),
            load(self.load_after),
        );
        for sample in &self.error_samples {
            line.push_str("\n       error: ");
            line.push_str(sample);
        }
        line
    }
}

#[derive(Debug, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub met: bool,
    /// False when the run cannot judge the target (for example (d) with fewer users
    /// than the target names); `met` is then false too, and the output prints `–`.
    pub applies: bool,
    pub measured: String,
}

impl TargetCheck {
    fn new(target: impl Into<String>, met: bool, measured: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            met,
            applies: true,
            measured: measured.into(),
        }
    }

    fn not_measured(target: impl Into<String>, why: &str) -> Self {
        Self::new(target, false, format!("not measured: {why}"))
    }

    fn mark(&self) -> &'static str {
        match (self.applies, self.met) {
            (false, _) => "–",
            (true, true) => "✓",
            (true, false) => "✗",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    /// The MCP server's RSS after it started and fetched the keys, before any load.
    pub idle_rss_kib: Option<u64>,
    /// One row per scenario; with `--runs N` (N > 1), each figure is the median of the
    /// runs' (errors are summed, so none is hidden).
    pub scenarios: Vec<ScenarioReport>,
    /// The fleet scenario's L2-hit and L1-hit phases (its round-robin phase is a row of
    /// `scenarios`); `None` when it did not run. With `--runs`, the last run's.
    pub fleet: Option<FleetReport>,
    pub targets: Vec<TargetCheck>,
    /// With `--runs N` (N > 1): each run's own results, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<serde_json::Value>,
}

impl Report {
    /// The report of `scenarios` (the fleet's round-robin row among them): the ratios
    /// between rows, and the targets.
    pub fn new(
        settings: Settings,
        machine: Machine,
        idle_rss_kib: Option<u64>,
        mut scenarios: Vec<ScenarioReport>,
        fleet: Option<FleetReport>,
    ) -> Self {
        relate(&mut scenarios);
        let mut targets = targets(&scenarios);
        if let Some(fleet) = &fleet {
            targets.extend(fleet_targets(fleet));
        }
        Self {
            date: OffsetDateTime::now_utc()
                .format(&Rfc3339)
                .unwrap_or_else(|_| "unknown".to_owned()),
            machine,
            settings,
            idle_rss_kib,
            scenarios,
            fleet,
            targets,
            runs: Vec::new(),
        }
    }

    pub fn print(&self) {
        let pinning = match (self.settings.pinned, self.settings.layout) {
            (true, Some(layout)) => format!(
                "MCP server and floors on CPU {}; load generator, tenant and private API on CPU {}",
                layout.server.list(),
                layout.generator.list()
            ),
            _ => "not pinned".to_owned(),
        };
        println!(
            "\n{}  |  {} × {}  |  {}",
            self.date, self.machine.nproc, self.machine.cpu_model, pinning
        );
        println!(
            "{} connections, {} s per scenario after {} s warm-up{}{}",
            self.settings.connections,
            self.settings.duration_s,
            self.settings.warmup_s,
            if self.settings.quick {
                " (--quick)"
            } else {
                ""
            },
            if self.settings.scenarios.contains(&Scenario::D) {
                format!(
                    "; (d) {} distinct users{}",
                    self.settings.users_d,
                    if self.settings.users_d == 10_000 {
                        ""
                    } else {
                        " (not the 10,000 of the target)"
                    }
                )
            } else {
                String::new()
            }
        );
        if let Some(note) = &self.settings.cores_note {
            println!("--server-cores {}: {note}", self.settings.server_cores);
        }
        if self.settings.runs > 1 {
            println!(
                "each figure is the median of {} runs (errors: their sum)",
                self.settings.runs
            );
        }
        println!(
            "server idle RSS (started, keys fetched, before any load): {} MB",
            rss(self.idle_rss_kib)
        );
        println!();
        println!(
            "| scenario | req/s | p50 ms | p99 ms | max ms | errors | exchanges | peak RSS MB | vs floor-http | vs floor | vs (a) | server CPU | CPU µs/req | cores busy |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &self.scenarios {
            println!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                s.requests_per_sec,
                ms(s.p50_us),
                ms(s.p99_us),
                ms(s.max_us),
                s.errors,
                if s.scenario.is_floor() {
                    "–".to_owned()
                } else {
                    s.exchanges.to_string()
                },
                rss(s.peak_rss_kib),
                ratio(s.ratio_to_floor_http),
                ratio(s.ratio_to_floor),
                ratio(s.ratio_to_a),
                pct(s.cpu.server_pct),
                s.server_cpu_us_per_request
                    .map_or_else(|| "–".to_owned(), |us| format!("{us:.0}")),
                cores(&s.cpu.cores_busy_pct),
            );
        }
        if let Some(fleet) = &self.fleet {
            println!(
                "\nfleet: {} replicas sharing one redis-server; {:.2} exchanges per user over the round robin; {} fresh users, each called on replica A (exchange), then twice on replica B:",
                fleet.replicas, fleet.exchanges_per_user, fleet.l2_users
            );
            println!("\n| replica B call | req/s | p50 ms | p99 ms | max ms | mean ms | errors |");
            println!("|---|---:|---:|---:|---:|---:|---:|");
            for (name, l) in [
                ("L1 miss, L2 hit", &fleet.l2_hit),
                ("L1 hit", &fleet.l1_hit),
            ] {
                println!(
                    "| {name} | {:.0} | {} | {} | {} | {:.2} | {} |",
                    l.requests_per_sec,
                    ms(l.p50_us),
                    ms(l.p99_us),
                    ms(l.max_us),
                    l.mean_us / 1000.0,
                    l.errors
                );
            }
            for l in [&fleet.prime, &fleet.l2_hit, &fleet.l1_hit] {
                for sample in &l.error_samples {
                    println!("  error: {sample}");
                }
            }
        }
        println!("\ntargets:");
        for t in &self.targets {
            println!("  {} {}: {}", t.mark(), t.target, t.measured);
        }
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let json = serde_json::to_string_pretty(self).context("cannot serialise the results")?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Each row's requests/s against `floor-http`'s, the floor's and (a)'s, and (a)'s CPU per
/// request against the floor's.
fn relate(scenarios: &mut [ScenarioReport]) {
    let find = |which: Scenario| {
        scenarios
            .iter()
            .find(|s| s.scenario == which)
            .map(|s| (s.requests_per_sec, s.server_cpu_us_per_request))
    };
    let positive = |rps: f64| (rps > 0.0).then_some(rps);
    let floor_http = find(Scenario::FloorHttp).and_then(|(rps, _)| positive(rps));
    let floor = find(Scenario::Floor);
    let floor_rps = floor.and_then(|(rps, _)| positive(rps));
    let floor_cost = floor.and_then(|(_, cost)| cost);
    let a_rps = find(Scenario::A).and_then(|(rps, _)| positive(rps));
    for s in scenarios.iter_mut() {
        let rps = s.requests_per_sec;
        if s.scenario != Scenario::FloorHttp {
            s.ratio_to_floor_http = floor_http.map(|base| rps / base);
        }
        if !s.scenario.is_floor() {
            s.ratio_to_floor = floor_rps.map(|base| rps / base);
        }
        if !s.scenario.is_floor() && s.scenario != Scenario::A {
            s.ratio_to_a = a_rps.map(|base| rps / base);
        }
        if s.scenario == Scenario::A {
            s.cpu_ratio_to_floor = match (floor_cost, s.server_cpu_us_per_request) {
                (Some(floor), Some(a)) if a > 0.0 => Some(floor / a),
                _ => None,
            };
        }
    }
}

/// The targets of issue 16, for the rows there are.
fn targets(scenarios: &[ScenarioReport]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let find = |which: Scenario| scenarios.iter().find(|s| s.scenario == which);
    if let Some(a) = find(Scenario::A) {
        let target = "(a) CPU µs per request ≤ the floor's (the floor verifies every request)";
        let floor_cost = find(Scenario::Floor).and_then(|f| f.server_cpu_us_per_request);
        checks.push(match (a.server_cpu_us_per_request, floor_cost) {
            (Some(a_cost), Some(floor)) => TargetCheck::new(
                target,
                a_cost <= floor,
                format!("(a) {a_cost:.1} µs, floor {floor:.1} µs"),
            ),
            (_, None) => TargetCheck::not_measured(target, "run the floor scenario too"),
            (None, Some(_)) => TargetCheck::not_measured(target, "(a)'s CPU time unreadable"),
        });
        let target = format!(
            "(a) ≥ {:.0}% of floor-http's req/s",
            FLOOR_HTTP_RATIO_TARGET * 100.0
        );
        checks.push(match a.ratio_to_floor_http {
            Some(ratio) => TargetCheck::new(
                target,
                ratio >= FLOOR_HTTP_RATIO_TARGET,
                format!("{:.1}%", ratio * 100.0),
            ),
            None => TargetCheck::not_measured(target, "run the floor-http scenario too"),
        });
        let mut target = format!(
            "(a) p99 < {} ms at {} connections",
            P99_TARGET_US / 1000,
            a.connections
        );
        if a.connections != P99_TARGET_CONNECTIONS {
            target.push_str(&format!(
                " (the target is stated for {P99_TARGET_CONNECTIONS})"
            ));
        }
        checks.push(TargetCheck::new(
            target,
            a.p99_us < P99_TARGET_US,
            format!("{} ms", ms(a.p99_us)),
        ));
    }
    for (which, label) in [(Scenario::B, "(b)"), (Scenario::C, "(c)")] {
        if let Some(s) = find(which) {
            let target = format!(
                "{label} ≥ {:.0}% of (a)'s req/s",
                GREET_RATIO_TARGET * 100.0
            );
            checks.push(match s.ratio_to_a {
                Some(ratio) => TargetCheck::new(
                    target,
                    ratio >= GREET_RATIO_TARGET,
                    format!("{:.1}%", ratio * 100.0),
                ),
                None => TargetCheck::not_measured(target, "run scenario a too"),
            });
        }
    }
    if let Some(b) = find(Scenario::B) {
        checks.push(exact("(b) exactly 1 exchange", b, 1));
    }
    if let Some(c) = find(Scenario::C) {
        checks.push(exact(
            &format!("(c) exactly {ROTATING_USERS} exchanges"),
            c,
            ROTATING_USERS as u64,
        ));
    }
    if let Some(fleet) = find(Scenario::Fleet) {
        checks.push(exact(
            &format!(
                "(fleet) exactly {ROTATING_USERS} exchanges over {REPLICAS} replicas (one per user)"
            ),
            fleet,
            ROTATING_USERS as u64,
        ));
    }
    if let Some(d) = find(Scenario::D) {
        let users = d.users as u64;
        checks.push(TargetCheck::new(
            format!(
                "(d) exactly {users} exchanges, no errors{}",
                if d.users == RSS_TARGET_D_USERS {
                    ""
                } else {
                    " (target: 10,000)"
                }
            ),
            d.exchanges == users && d.errors == 0 && d.requests == users,
            format!(
                "{} exchanges, {} requests, {} errors",
                d.exchanges, d.requests, d.errors
            ),
        ));
    }
    for s in scenarios
        .iter()
        .filter(|s| matches!(s.scenario, Scenario::A | Scenario::B | Scenario::C))
    {
        checks.push(TargetCheck::new(
            format!("{}: server peak RSS ≤ {} MB", s.name, mb(RSS_TARGET_KIB)),
            s.peak_rss_kib.is_some_and(|kib| kib <= RSS_TARGET_KIB),
            rss(s.peak_rss_kib) + " MB",
        ));
    }
    if let Some(d) = find(Scenario::D) {
        let target = format!(
            "{}: server peak RSS ≤ {} MB with 10,000 users",
            d.name,
            mb(RSS_TARGET_D_KIB)
        );
        let measured = format!("{} MB with {} users", rss(d.peak_rss_kib), d.users);
        checks.push(if d.users == RSS_TARGET_D_USERS {
            TargetCheck::new(
                target,
                d.peak_rss_kib.is_some_and(|kib| kib <= RSS_TARGET_D_KIB),
                measured,
            )
        } else {
            TargetCheck {
                applies: false,
                ..TargetCheck::new(
                    target,
                    false,
                    measured + ": the target is for 10,000 users and does not apply",
                )
            }
        });
    }
    checks
}

/// The L2-hit phase must be served from L2 alone, and the L1-hit phase from L1 alone;
/// otherwise its latency is not the one it is named for.
fn fleet_targets(fleet: &FleetReport) -> Vec<TargetCheck> {
    let users = fleet.l2_users as u64;
    let hits = |hits: Option<u64>| {
        hits.map_or_else(
            || "L2 hits unknown (/metrics unreadable)".to_owned(),
            |h| format!("{h} L2 hits"),
        )
    };
    vec![
        TargetCheck::new(
            format!("(fleet) every L1 miss on replica B hit L2: 0 exchanges, {users} L2 hits"),
            fleet.l2_phase_exchanges == 0 && fleet.l2_phase_l2_hits == Some(users),
            format!(
                "{} exchanges, {}",
                fleet.l2_phase_exchanges,
                hits(fleet.l2_phase_l2_hits)
            ),
        ),
        TargetCheck::new(
            "(fleet) the L1-hit phase read nothing from L2",
            fleet.l1_phase_l2_hits == Some(0),
            hits(fleet.l1_phase_l2_hits),
        ),
    ]
}

fn exact(target: &str, s: &ScenarioReport, want: u64) -> TargetCheck {
    TargetCheck::new(
        target,
        s.exchanges == want,
        format!("{} exchanges", s.exchanges),
    )
}

fn mb(kib: u64) -> String {
    format!("{:.0}", kib as f64 * 1024.0 / 1_000_000.0)
}

fn ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn rss(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "–".to_owned(),
        |kib| format!("{:.1}", kib as f64 * 1024.0 / 1_000_000.0),
    )
}

fn load(value: Option<f64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"))
}

fn pct(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.0}%"))
}

fn cores(busy: &[f64]) -> String {
    busy.iter()
        .map(|v| format!("{v:.0}%"))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// Rows and reports made up for tests, without a run.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn row(
        scenario: Scenario,
        requests_per_sec: f64,
        p99_us: u64,
        cpu_us: Option<f64>,
        peak_rss_kib: Option<u64>,
        exchanges: u64,
    ) -> ScenarioReport {
        let users = match scenario {
            Scenario::C | Scenario::Fleet => ROTATING_USERS,
            Scenario::D => 10_000,
            _ => 1,
        };
        ScenarioReport {
            scenario,
            name: scenario.name().to_owned(),
            connections: 32,
            users,
            seconds: 15.0,
            requests: if scenario == Scenario::D {
                users as u64
            } else {
                (requests_per_sec * 15.0) as u64
            },
            errors: 0,
            requests_per_sec,
            p50_us: p99_us / 2,
            p99_us,
            max_us: p99_us * 3,
            mean_us: p99_us as f64 / 2.0,
            exchanges,
            peak_rss_kib,
            ratio_to_floor_http: None,
            ratio_to_floor: None,
            ratio_to_a: None,
            cpu: CpuUsage {
                server_pct: Some(100.0),
                cores_busy_pct: vec![100.0, 50.0],
            },
            server_cpu_us_per_request: cpu_us,
            cpu_ratio_to_floor: None,
            error_samples: Vec::new(),
            load_before: Some(1.0),
            load_after: Some(1.5),
        }
    }

    pub fn report(rows: Vec<ScenarioReport>, idle_rss_kib: Option<u64>) -> Report {
        let settings = Settings {
            quick: false,
            connections: 32,
            duration_s: 15,
            warmup_s: 2,
            users_d: 10_000,
            scenarios: rows.iter().map(|r| r.scenario).collect(),
            server_cores: 1,
            layout: None,
            cores_note: None,
            pinned: false,
            runs: 1,
        };
        let machine = Machine {
            nproc: 2,
            cpu_model: "test".to_owned(),
            load_at_start: None,
        };
        Report::new(settings, machine, idle_rss_kib, rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{report, row};
    use super::*;
    use crate::bench::fleet::Latency;

    /// Each target's verdict, by a part of its wording; `None` for a missing target,
    /// and "n/a" ones as `Some(None)`.
    fn verdicts(report: &Report) -> Vec<(String, Option<bool>)> {
        report
            .targets
            .iter()
            .map(|t| (t.target.clone(), t.applies.then_some(t.met)))
            .collect()
    }

    fn verdict(report: &Report, part: &str) -> Option<Option<bool>> {
        verdicts(report)
            .into_iter()
            .find(|(target, _)| target.contains(part))
            .map(|(_, v)| v)
    }

    const MB: u64 = 1_000_000 / 1024;

    fn full(a_rps: f64, a_cpu: f64, a_p99: u64, greet_rps: f64, rss_abc: u64) -> Report {
        report(
            vec![
                row(Scenario::FloorHttp, 40_000.0, 800, Some(20.0), None, 0),
                row(Scenario::Floor, 25_000.0, 1_200, Some(40.0), None, 0),
                row(Scenario::A, a_rps, a_p99, Some(a_cpu), Some(rss_abc), 0),
                row(Scenario::B, greet_rps, 3_000, Some(50.0), Some(rss_abc), 1),
                row(
                    Scenario::C,
                    greet_rps,
                    3_000,
                    Some(50.0),
                    Some(rss_abc),
                    100,
                ),
                row(
                    Scenario::D,
                    1_500.0,
                    25_000,
                    Some(200.0),
                    Some(29 * MB),
                    10_000,
                ),
            ],
            Some(8 * MB),
        )
    }

    #[test]
    fn a_run_that_meets_every_target() {
        let report = full(20_000.0, 40.0, 2_999, 13_000.0, RSS_TARGET_KIB);
        for (target, verdict) in verdicts(&report) {
            assert_eq!(verdict, Some(true), "{target}");
        }
        assert_eq!(report.targets.len(), 12, "{:#?}", verdicts(&report));
        let a = &report.scenarios[2];
        assert_eq!(a.ratio_to_floor_http, Some(0.5));
        assert_eq!(a.ratio_to_floor, Some(0.8));
        assert_eq!(report.scenarios[3].ratio_to_a, Some(0.65));
        assert_eq!(report.scenarios[0].ratio_to_floor_http, None);
        assert_eq!(report.scenarios[1].ratio_to_floor, None);
    }

    #[test]
    fn each_target_misses_on_its_own_figure() {
        // (a) costs more CPU than the floor.
        let r = full(20_000.0, 40.1, 2_000, 13_000.0, 15 * MB);
        assert_eq!(verdict(&r, "CPU µs per request"), Some(Some(false)));
        // (a) under half of floor-http.
        let r = full(19_999.0, 30.0, 2_000, 13_000.0, 15 * MB);
        assert_eq!(verdict(&r, "of floor-http"), Some(Some(false)));
        // p99 at 3 ms is not under 3 ms.
        let r = full(20_000.0, 30.0, 3_000, 13_000.0, 15 * MB);
        assert_eq!(
            verdict(&r, "p99 < 3 ms at 32 connections"),
            Some(Some(false))
        );
        // (b) and (c) under 65 % of (a).
        let r = full(20_000.0, 30.0, 2_000, 12_999.0, 15 * MB);
        assert_eq!(verdict(&r, "(b) ≥ 65%"), Some(Some(false)));
        assert_eq!(verdict(&r, "(c) ≥ 65%"), Some(Some(false)));
        // Over 16 MB under (a), (b), (c).
        let r = full(20_000.0, 30.0, 2_000, 13_000.0, RSS_TARGET_KIB + 1);
        assert_eq!(
            verdict(&r, "a get_datetime: server peak RSS ≤ 16 MB"),
            Some(Some(false))
        );
        assert_eq!(
            verdict(&r, "c greet 100 users: server peak RSS"),
            Some(Some(false))
        );
    }

    #[test]
    fn missing_rows_are_reported_not_passed() {
        let r = report(
            vec![row(Scenario::A, 20_000.0, 2_000, Some(30.0), Some(MB), 0)],
            None,
        );
        assert_eq!(verdict(&r, "CPU µs per request"), Some(Some(false)));
        assert_eq!(verdict(&r, "of floor-http"), Some(Some(false)));
        assert!(
            r.targets
                .iter()
                .filter(|t| !t.met)
                .all(|t| t.measured.starts_with("not measured"))
        );
    }

    #[test]
    fn d_s_memory_target_applies_only_with_10000_users_and_says_so() {
        let mut d = row(Scenario::D, 1_500.0, 25_000, None, Some(31 * MB), 1_000);
        d.users = 1_000;
        d.requests = 1_000;
        let r = report(vec![d], None);
        let t = r
            .targets
            .iter()
            .find(|t| t.target.contains("≤ 30 MB"))
            .expect("the (d) RSS target is listed");
        assert!(!t.applies && !t.met);
        assert!(t.measured.contains("does not apply"), "{}", t.measured);
        assert_eq!(t.mark(), "–");
        // With 10,000 users it is judged.
        let d = row(Scenario::D, 1_500.0, 25_000, None, Some(31 * MB), 10_000);
        let r = report(vec![d], None);
        assert_eq!(verdict(&r, "≤ 30 MB"), Some(Some(false)));
    }

    #[test]
    fn the_p99_target_names_the_connections_it_was_measured_at() {
        let mut a = row(Scenario::A, 20_000.0, 2_000, None, None, 0);
        a.connections = 64;
        let r = report(vec![a], None);
        assert!(
            r.targets
                .iter()
                .any(|t| t.target
                    == "(a) p99 < 3 ms at 64 connections (the target is stated for 32)")
        );
    }

    fn latency() -> Latency {
        Latency {
            requests: 1000,
            errors: 0,
            requests_per_sec: 1.0,
            p50_us: 1,
            p99_us: 2,
            max_us: 3,
            mean_us: 1.0,
            error_samples: Vec::new(),
        }
    }

    fn fleet(exchanges: u64, l2_hits: Option<u64>, l1_phase_l2_hits: Option<u64>) -> FleetReport {
        FleetReport {
            replicas: REPLICAS,
            rotating_users: ROTATING_USERS,
            exchanges_per_user: 1.0,
            l2_users: 1000,
            prime: latency(),
            l2_hit: latency(),
            l1_hit: latency(),
            l2_phase_exchanges: exchanges,
            l2_phase_l2_hits: l2_hits,
            l1_phase_l2_hits,
        }
    }

    fn met(report: &FleetReport) -> Vec<bool> {
        fleet_targets(report).iter().map(|t| t.met).collect()
    }

    #[test]
    fn the_l2_phase_must_be_all_l2_hits_and_the_l1_phase_none() {
        assert_eq!(met(&fleet(0, Some(1000), Some(0))), vec![true, true]);
        // An exchange in the L2 phase: some call missed L2.
        assert_eq!(met(&fleet(1, Some(999), Some(0))), vec![false, true]);
        // Fewer hits than users, or unknown: not shown to be L2 hits.
        assert_eq!(met(&fleet(0, Some(998), Some(0))), vec![false, true]);
        assert_eq!(met(&fleet(0, None, None)), vec![false, false]);
        // L2 read in the L1 phase: L1 lost entries, the L1 latency is not pure.
        assert_eq!(met(&fleet(0, Some(1000), Some(3))), vec![true, false]);
    }
}
