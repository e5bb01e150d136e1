//! CPU pinning with `taskset`, and what the bench reports about the machine.
//!
//! Pinning keeps the server under test and the load generator from competing for one
//! core, which on a two-core machine is the difference between measuring the server
//! and measuring the scheduler.

use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// Whether `taskset` (util-linux) can be run.
pub fn taskset_available() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Pins every thread of process `pid` to `core` (`taskset -a -p -c`). Threads and
/// children it starts later inherit the mask.
pub fn pin_process(pid: u32, core: u32) -> anyhow::Result<()> {
    taskset(&["-a", "-p", "-c", &core.to_string(), &pid.to_string()])
}

/// Pins the calling thread only (threads it starts later inherit the mask).
pub fn pin_this_thread(core: u32) -> anyhow::Result<()> {
    let tid = this_thread_id()?;
    taskset(&["-p", "-c", &core.to_string(), &tid.to_string()])
}

/// The kernel's id of the calling thread: `/proc/thread-self` links to `<pid>/task/<tid>`.
pub fn this_thread_id() -> anyhow::Result<u32> {
    let link = std::fs::read_link("/proc/thread-self")
        .context("cannot read /proc/thread-self to learn this thread's id")?;
    link.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .context("/proc/thread-self does not name a thread")
}

fn taskset(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("taskset")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .context("cannot run taskset")?;
    if !output.status.success() {
        bail!(
            "taskset {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// The machine, as reported with the results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// Online processors (`nproc --all`), whatever this process is pinned to.
    pub nproc: usize,
    pub cpu_model: String,
    /// `/proc/loadavg`'s 1-minute load when the bench started.
    pub load_at_start: Option<f64>,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let processors = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let nproc = if processors > 0 {
            processors
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        };
        Self {
            nproc,
            cpu_model,
            load_at_start: load_average(),
        }
    }
}

/// The 1-minute load average, to note how busy the machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Resets the process's peak RSS (`VmHWM`) to its current RSS, so that each scenario
/// reports its own peak (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0).
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("cannot reset the peak RSS of process {pid}"))
}
