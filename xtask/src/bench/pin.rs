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

/// A run of consecutive cores, `first ..= first + count - 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Cores {
    pub first: u32,
    pub count: u32,
}

impl Cores {
    /// The cores as `taskset -c` takes them: `0`, or `0-3`.
    pub fn list(self) -> String {
        if self.count <= 1 {
            self.first.to_string()
        } else {
            format!("{}-{}", self.first, self.first + self.count - 1)
        }
    }
}

/// Which cores the server under test (and the floors) get, and which the load
/// generator, the tenant and the private API get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Layout {
    pub server: Cores,
    pub generator: Cores,
}

impl Layout {
    /// The server on cores `0..server_cores`, everything else on the rest. `None` on a
    /// one-core machine, where nothing can be pinned apart; an error, with the fix,
    /// when `server_cores` leaves no core for the load generator.
    pub fn new(nproc: usize, server_cores: usize) -> anyhow::Result<Option<Self>> {
        if server_cores == 0 {
            bail!("--server-cores must be at least 1");
        }
        if nproc <= 1 && server_cores == 1 {
            return Ok(None);
        }
        if server_cores >= nproc {
            bail!(
                "--server-cores {server_cores} leaves no core for the load generator on this \
                 {nproc}-core machine: give --server-cores {} or less",
                nproc.saturating_sub(1).max(1)
            );
        }
        let count = |n: usize| u32::try_from(n).context("too many cores");
        let server = count(server_cores)?;
        Ok(Some(Self {
            server: Cores {
                first: 0,
                count: server,
            },
            generator: Cores {
                first: server,
                count: count(nproc - server_cores)?,
            },
        }))
    }

    /// What the output says about the layout on machines where there is no choice.
    pub fn note(nproc: usize) -> Option<String> {
        (nproc == 2).then(|| {
            "on a 2-core machine only --server-cores 1 is meaningful: one core for the server \
             under test, the other for the load generator, the tenant and the private API"
                .to_owned()
        })
    }
}

/// Pins every thread of process `pid` to `cores` (`taskset -a -p -c`). Threads and
/// children it starts later inherit the mask.
pub fn pin_process(pid: u32, cores: Cores) -> anyhow::Result<()> {
    taskset(&["-a", "-p", "-c", &cores.list(), &pid.to_string()])
}

/// Pins the calling thread only (threads it starts later inherit the mask).
pub fn pin_this_thread(cores: Cores) -> anyhow::Result<()> {
    let tid = this_thread_id()?;
    taskset(&["-p", "-c", &cores.list(), &tid.to_string()])
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

/// The process's resident set now (`VmRSS`), in KiB.
pub fn current_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_gets_the_first_cores_and_the_generator_the_rest() {
        let layout = Layout::new(8, 3).expect("fits").expect("pinned");
        assert_eq!(layout.server.list(), "0-2");
        assert_eq!(layout.generator.list(), "3-7");
        let layout = Layout::new(2, 1).expect("fits").expect("pinned");
        assert_eq!(
            (layout.server.list(), layout.generator.list()),
            ("0".into(), "1".into())
        );
    }

    #[test]
    fn the_generator_must_keep_a_core() {
        let e = Layout::new(2, 2).expect_err("no core left");
        assert!(e.to_string().contains("--server-cores 1 or less"), "{e}");
        assert!(Layout::new(4, 4).is_err());
        assert!(Layout::new(4, 0).is_err());
        assert!(Layout::new(1, 2).is_err());
        // One core: nothing to pin apart, and that is not an error.
        assert_eq!(Layout::new(1, 1).expect("one core"), None);
    }

    #[test]
    fn only_two_core_machines_get_the_note() {
        assert!(Layout::note(2).is_some_and(|n| n.contains("only --server-cores 1")));
        assert!(Layout::note(16).is_none());
    }
}
