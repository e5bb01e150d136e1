//! CPU time during a phase, from `/proc`: how busy each core was, and how much of a
//! core the server under test used. A server below ~95 % of its core while the other
//! core is saturated means the load generator, not the server, set the pace.

use std::time::Instant;

/// Linux reports `/proc` CPU times in USER_HZ, which is 100 on every mainstream arch.
const TICKS_PER_SEC: f64 = 100.0;

/// Where the CPU time of the thing under test is counted.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A whole process (the MCP server).
    Process(u32),
    /// Threads of this process (a floor's runtime threads).
    Threads(Vec<u32>),
}

impl Subject {
    fn ticks(&self) -> Option<u64> {
        match self {
            Subject::Process(pid) => stat_ticks(&format!("/proc/{pid}/stat")),
            Subject::Threads(tids) => tids
                .iter()
                .map(|tid| stat_ticks(&format!("/proc/self/task/{tid}/stat")))
                .sum(),
        }
    }
}

/// utime + stime of a `/proc/…/stat` file.
fn stat_ticks(path: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A reading taken at the start of a phase.
#[derive(Debug, Clone)]
pub struct CpuSample {
    at: Instant,
    cores: Vec<(u64, u64)>,
    subject: Option<(Subject, u64)>,
}

/// Busy shares over a phase, in percent of one core.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CpuUsage {
    /// The server under test (the MCP server process, or the floor's thread).
    pub server_pct: Option<f64>,
    /// Each core's busy share, whoever used it (other work on the machine included).
    pub cores_busy_pct: Vec<f64>,
}

impl CpuSample {
    pub fn take(subject: Option<Subject>) -> Self {
        Self {
            at: Instant::now(),
            cores: cores(),
            subject: subject.and_then(|s| s.ticks().map(|ticks| (s, ticks))),
        }
    }

    pub fn usage_since(&self) -> CpuUsage {
        let secs = self.at.elapsed().as_secs_f64();
        let server_pct = self.subject.as_ref().and_then(|(subject, before)| {
            let after = subject.ticks()?;
            (secs > 0.0)
                .then(|| after.saturating_sub(*before) as f64 / TICKS_PER_SEC / secs * 100.0)
        });
        let cores_busy_pct = cores()
            .iter()
            .zip(&self.cores)
            .map(|((busy, total), (busy0, total0))| {
                let total = total.saturating_sub(*total0);
                if total == 0 {
                    0.0
                } else {
                    busy.saturating_sub(*busy0) as f64 / total as f64 * 100.0
                }
            })
            .collect();
        CpuUsage {
            server_pct,
            cores_busy_pct,
        }
    }
}

/// (busy, total) ticks of each core from `/proc/stat`.
fn cores() -> Vec<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    stat.lines()
        .filter(|line| {
            line.strip_prefix("cpu")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(|line| {
            let ticks: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            let total: u64 = ticks.iter().sum();
            // idle and iowait are the 4th and 5th values.
            let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
            (total.saturating_sub(idle), total)
        })
        .collect()
}
