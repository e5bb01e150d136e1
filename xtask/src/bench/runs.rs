//! `--runs N`: the whole set N times, and the median of each figure, so that the docs
//! can report medians of three runs without hand work.

use anyhow::Context;

use super::cpu::CpuUsage;
use super::report::{Report, ScenarioReport};

/// One run's report as it is; several runs' as their medians, with each run's own
/// results kept in `runs`. A scenario's medians are over the runs that have it.
pub fn combine(mut reports: Vec<Report>) -> anyhow::Result<Report> {
    if reports.len() <= 1 {
        return reports.pop().context("the bench ran no run");
    }
    let raw = reports
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .context("cannot serialise a run's results")?;
    let rows = reports[0]
        .scenarios
        .iter()
        .map(|row| {
            let same: Vec<&ScenarioReport> = reports
                .iter()
                .filter_map(|r| r.scenarios.iter().find(|s| s.scenario == row.scenario))
                .collect();
            median_row(&same)
        })
        .collect();
    let idle_rss_kib = median_u64(reports.iter().filter_map(|r| r.idle_rss_kib));
    let settings = reports[0].settings.clone();
    let machine = reports[0].machine.clone();
    // The fleet's L2/L1-hit details are the last run's; its round-robin row is a median.
    let fleet = reports.pop().and_then(|r| r.fleet);
    let mut report = Report::new(settings, machine, idle_rss_kib, rows, fleet);
    report.runs = raw;
    Ok(report)
}

/// At most this many error samples are kept over all runs.
const ERROR_SAMPLES: usize = 10;

/// The median of each figure of `rows` (one scenario, several runs); errors are summed,
/// so that no run's errors are hidden. The ratios are left for [`Report::new`].
fn median_row(rows: &[&ScenarioReport]) -> ScenarioReport {
    let first = rows[0];
    let f = |get: fn(&ScenarioReport) -> f64| median_f64(rows.iter().map(|r| get(r)));
    let u = |get: fn(&ScenarioReport) -> u64| median_u64(rows.iter().map(|r| get(r))).unwrap_or(0);
    let fo =
        |get: fn(&ScenarioReport) -> Option<f64>| median_f64(rows.iter().filter_map(|r| get(r)));
    let cores = first.cpu.cores_busy_pct.len();
    ScenarioReport {
        scenario: first.scenario,
        name: first.name.clone(),
        connections: first.connections,
        users: first.users,
        seconds: f(|r| r.seconds).unwrap_or(0.0),
        requests: u(|r| r.requests),
        errors: rows.iter().map(|r| r.errors).sum(),
        requests_per_sec: f(|r| r.requests_per_sec).unwrap_or(0.0),
        p50_us: u(|r| r.p50_us),
        p99_us: u(|r| r.p99_us),
        max_us: u(|r| r.max_us),
        mean_us: f(|r| r.mean_us).unwrap_or(0.0),
        exchanges: u(|r| r.exchanges),
        peak_rss_kib: median_u64(rows.iter().filter_map(|r| r.peak_rss_kib)),
        ratio_to_floor_http: None,
        ratio_to_floor: None,
        ratio_to_a: None,
        cpu: CpuUsage {
            server_pct: fo(|r| r.cpu.server_pct),
            cores_busy_pct: (0..cores)
                .map(|i| {
                    median_f64(
                        rows.iter()
                            .filter_map(|r| r.cpu.cores_busy_pct.get(i).copied()),
                    )
                    .unwrap_or(0.0)
                })
                .collect(),
        },
        server_cpu_us_per_request: fo(|r| r.server_cpu_us_per_request),
        cpu_ratio_to_floor: None,
        error_samples: rows
            .iter()
            .flat_map(|r| r.error_samples.iter().cloned())
            .take(ERROR_SAMPLES)
            .collect(),
        load_before: fo(|r| r.load_before),
        load_after: fo(|r| r.load_after),
    }
}

/// The median; of an even count, the mean of the middle two. `None` when empty.
pub fn median_f64(values: impl Iterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The median, rounded down between the middle two of an even count.
pub fn median_u64(values: impl Iterator<Item = u64>) -> Option<u64> {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        // Sorted, so the difference cannot underflow, and the sum is never formed.
        _ => Some(values[n / 2 - 1] + (values[n / 2] - values[n / 2 - 1]) / 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Scenario;
    use crate::bench::report::fixtures::{report, row};

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median_f64([3.0, 1.0, 2.0].into_iter()), Some(2.0));
        assert_eq!(median_f64([4.0, 1.0, 3.0, 2.0].into_iter()), Some(2.5));
        assert_eq!(median_f64([f64::NAN, 5.0].into_iter()), Some(5.0));
        assert_eq!(median_f64(std::iter::empty()), None);
        assert_eq!(median_u64([30, 10, 20].into_iter()), Some(20));
        assert_eq!(median_u64([1, 2].into_iter()), Some(1));
        assert_eq!(median_u64([u64::MAX, u64::MAX].into_iter()), Some(u64::MAX));
        assert_eq!(median_u64([7].into_iter()), Some(7));
        assert_eq!(median_u64(std::iter::empty()), None);
    }

    #[test]
    fn three_runs_give_each_figure_s_median_summed_errors_and_the_raw_runs() {
        let run = |rps_a: f64, p99_a: u64, cpu_a: f64, errors: u64, idle: u64| {
            let mut a = row(Scenario::A, rps_a, p99_a, Some(cpu_a), Some(15_000), 0);
            a.errors = errors;
            report(
                vec![
                    row(Scenario::FloorHttp, 40_000.0, 900, Some(20.0), None, 0),
                    row(Scenario::Floor, 30_000.0, 1_200, Some(40.0), None, 0),
                    a,
                ],
                Some(idle),
            )
        };
        let combined = combine(vec![
            run(21_000.0, 2_000, 45.0, 0, 9_000),
            run(19_000.0, 3_500, 50.0, 2, 8_000),
            run(20_000.0, 2_500, 38.0, 0, 10_000),
        ])
        .expect("combined");
        let a = combined
            .scenarios
            .iter()
            .find(|s| s.scenario == Scenario::A)
            .expect("a");
        assert_eq!(a.requests_per_sec, 20_000.0);
        assert_eq!(a.p99_us, 2_500);
        assert_eq!(a.server_cpu_us_per_request, Some(45.0));
        assert_eq!(a.errors, 2);
        assert_eq!(combined.idle_rss_kib, Some(9_000));
        assert_eq!(combined.runs.len(), 3);
        // Ratios and targets come from the medians: 20,000 / 40,000 = 50 %.
        assert_eq!(a.ratio_to_floor_http, Some(0.5));
        let met = |name: &str| {
            combined
                .targets
                .iter()
                .find(|t| t.target.contains(name))
                .map(|t| t.met)
        };
        assert_eq!(met("of floor-http"), Some(true));
        assert_eq!(met("CPU µs per request"), Some(false));
        assert_eq!(met("p99"), Some(true));
    }

    #[test]
    fn one_run_is_its_own_report() {
        let one = report(vec![row(Scenario::A, 1.0, 1, None, None, 0)], None);
        let combined = combine(vec![one]).expect("one run");
        assert!(combined.runs.is_empty());
        assert!(combine(Vec::new()).is_err());
    }
}
