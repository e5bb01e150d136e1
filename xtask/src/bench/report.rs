//! The bench's results: one row per scenario, the targets of issue 7 checked against
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

/// (a) must reach this share of the floor's requests per second.
const FLOOR_RATIO_TARGET: f64 = 0.60;
/// (a)'s p99 must stay under this at 32 connections, in microseconds.
const P99_TARGET_US: u64 = 5_000;
/// The server's peak RSS under every scenario must stay under this (30 MB), in KiB.
const RSS_TARGET_KIB: u64 = 30_000_000 / 1024;

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
    /// (a)'s requests per second over the floor's.
    pub ratio_to_floor: Option<f64>,
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
            ratio_to_floor: None,
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
    pub measured: String,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub date: String,
    pub machine: Machine,
    pub settings: Settings,
    pub scenarios: Vec<ScenarioReport>,
    /// The fleet scenario's L2-hit and L1-hit phases (its round-robin phase is a row of
    /// `scenarios`); `None` when it did not run.
    pub fleet: Option<FleetReport>,
    pub targets: Vec<TargetCheck>,
}

impl Report {
    pub fn new(
        settings: Settings,
        machine: Machine,
        mut scenarios: Vec<ScenarioReport>,
        fleet: Option<(ScenarioReport, FleetReport)>,
    ) -> Self {
        let fleet = fleet.map(|(row, fleet)| {
            scenarios.push(row);
            fleet
        });
        let floor_rps = scenarios
            .iter()
            .find(|s| s.scenario == Scenario::Floor)
            .map(|s| s.requests_per_sec);
        let floor_cost = scenarios
            .iter()
            .find(|s| s.scenario == Scenario::Floor)
            .and_then(|s| s.server_cpu_us_per_request);
        for scenario in scenarios.iter_mut().filter(|s| s.scenario == Scenario::A) {
            if let Some(floor_rps) = floor_rps.filter(|rps| *rps > 0.0) {
                scenario.ratio_to_floor = Some(scenario.requests_per_sec / floor_rps);
            }
            if let (Some(floor), Some(a)) = (floor_cost, scenario.server_cpu_us_per_request)
                && a > 0.0
            {
                scenario.cpu_ratio_to_floor = Some(floor / a);
            }
        }
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
            scenarios,
            fleet,
            targets,
        }
    }

    pub fn print(&self) {
        let pinning = if self.settings.pinned {
            "MCP server and floor on CPU 0; load generator, tenant and private API on CPU 1"
        } else {
            "not pinned"
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
        println!();
        println!(
            "| scenario | req/s | p50 ms | p99 ms | max ms | errors | exchanges | peak RSS MB | vs floor | server CPU | CPU µs/req | cores busy |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for s in &self.scenarios {
            println!(
                "| {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                s.requests_per_sec,
                ms(s.p50_us),
                ms(s.p99_us),
                ms(s.max_us),
                s.errors,
                if s.scenario == Scenario::Floor {
                    "–".to_owned()
                } else {
                    s.exchanges.to_string()
                },
                rss(s.peak_rss_kib),
                s.ratio_to_floor
                    .map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0)),
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
            println!(
                "  {} {}: {}",
                if t.met { "✓" } else { "✗" },
                t.target,
                t.measured
            );
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

fn targets(scenarios: &[ScenarioReport]) -> Vec<TargetCheck> {
    let mut checks = Vec::new();
    let find = |which: Scenario| scenarios.iter().find(|s| s.scenario == which);
    if let Some(a) = find(Scenario::A) {
        match a.ratio_to_floor {
            Some(ratio) => checks.push(TargetCheck {
                target: format!(
                    "(a) ≥ {:.0}% of the floor's req/s",
                    FLOOR_RATIO_TARGET * 100.0
                ),
                met: ratio >= FLOOR_RATIO_TARGET,
                measured: format!("{:.1}%", ratio * 100.0),
            }),
            None => checks.push(TargetCheck {
                target: "(a) ≥ 60% of the floor's req/s".to_owned(),
                met: false,
                measured: "not measured: run the floor scenario too".to_owned(),
            }),
        }
        if let Some(ratio) = a.cpu_ratio_to_floor {
            checks.push(TargetCheck {
                target: format!(
                    "(a) ≥ {:.0}% of the floor by CPU per request (informational: holds when the load generator, not the server, sets the pace)",
                    FLOOR_RATIO_TARGET * 100.0
                ),
                met: ratio >= FLOOR_RATIO_TARGET,
                measured: format!("{:.1}%", ratio * 100.0),
            });
        }
        checks.push(TargetCheck {
            target: format!("(a) p99 < {} ms at 32 connections", ms(P99_TARGET_US)),
            met: a.p99_us < P99_TARGET_US && a.connections == 32,
            measured: format!("{} ms at {} connections", ms(a.p99_us), a.connections),
        });
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
        checks.push(TargetCheck {
            target: format!(
                "(d) exactly {users} exchanges, no errors{}",
                if users == 10_000 {
                    ""
                } else {
                    " (target: 10,000)"
                }
            ),
            met: d.exchanges == users && d.errors == 0 && d.requests == users,
            measured: format!(
                "{} exchanges, {} requests, {} errors",
                d.exchanges, d.requests, d.errors
            ),
        });
    }
    for s in scenarios.iter().filter(|s| s.scenario != Scenario::Floor) {
        checks.push(TargetCheck {
            target: format!("{}: server peak RSS < 30 MB", s.name),
            met: s.peak_rss_kib.is_some_and(|kib| kib < RSS_TARGET_KIB),
            measured: rss(s.peak_rss_kib) + " MB",
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
        TargetCheck {
            target: format!(
                "(fleet) every L1 miss on replica B hit L2: 0 exchanges, {users} L2 hits"
            ),
            met: fleet.l2_phase_exchanges == 0 && fleet.l2_phase_l2_hits == Some(users),
            measured: format!(
                "{} exchanges, {}",
                fleet.l2_phase_exchanges,
                hits(fleet.l2_phase_l2_hits)
            ),
        },
        TargetCheck {
            target: "(fleet) the L1-hit phase read nothing from L2".to_owned(),
            met: fleet.l1_phase_l2_hits == Some(0),
            measured: hits(fleet.l1_phase_l2_hits),
        },
    ]
}

fn exact(target: &str, s: &ScenarioReport, want: u64) -> TargetCheck {
    TargetCheck {
        target: target.to_owned(),
        met: s.exchanges == want,
        measured: format!("{} exchanges", s.exchanges),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::fleet::Latency;

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
