//! Running the project's binaries as real processes, the way a user would: configured
//! only through their environment, stopped however the run ends.
//!
//! Each child's output goes to a log file under `target/obo-logs/`, so a failing test
//! can show what the service said, and the no-leak tests can read every line.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// Why a service could not be started or stopped.
#[derive(Debug)]
pub struct ProcessError {
    pub(crate) message: String,
    pub(crate) port_taken: bool,
}

impl ProcessError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            port_taken: false,
        }
    }

    /// The child could not listen because another process took its port after
    /// [`free_port`] chose it. Starting again on another free port is the fix.
    pub fn is_port_taken(&self) -> bool {
        self.port_taken
    }
}

impl std::fmt::Display for ProcessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ProcessError {}

/// How many times a start that lost its port to another process is tried, each
/// time on another free port.
pub const PORT_ATTEMPTS: usize = 3;

/// A free TCP port on 127.0.0.1, for a child that must be told its port up front.
///
/// The port is released before the child binds it, and tests run in parallel
/// processes, so another one can take it in between. [`ServiceProcess::wait_ready`]
/// tells that apart from a ready child (the other process may well answer 200 on the
/// same path) and says so with [`ProcessError::is_port_taken`], so the caller can
/// start again on another port.
pub fn free_port() -> Result<u16, ProcessError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| ProcessError::new(format!("cannot find a free port on 127.0.0.1: {e}")))
}

/// Whether process `pid` itself holds a listening TCP socket on `port`.
///
/// Linux only (`/proc/net/tcp*` and `/proc/<pid>/fd`); `None` where that cannot be
/// read, and then the caller has to trust whoever answers on the port.
pub fn listens_on(pid: u32, port: u16) -> Option<bool> {
    let mut inodes = Vec::new();
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        readable = true;
        // `sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode`,
        // addresses as `HEXADDR:HEXPORT`, state 0A = LISTEN.
        inodes.extend(text.lines().skip(1).filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let inode = fields.get(9)?;
            (u16::from_str_radix(local_port, 16).ok()? == port && *fields.get(3)? == "0A")
                .then(|| format!("socket:[{inode}]"))
        }));
    }
    if !readable {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(fds.flatten().any(|fd| {
        std::fs::read_link(fd.path()).is_ok_and(|target| {
            inodes
                .iter()
                .any(|inode| target.as_os_str() == inode.as_str())
        })
    }))
}

/// Whether some process now listens on 127.0.0.1:`port` (binding it fails).
pub(crate) fn port_in_use(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_err_and(|e| e.kind() == std::io::ErrorKind::AddrInUse)
}

/// Where cargo put the binaries that sit next to the running executable.
///
/// Test binaries live in `target/<profile>/deps/`, xtask in `target/<profile>/`; the
/// services are in `target/<profile>/`. `OBO_BIN_DIR` overrides.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OBO_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|name| name == "deps") {
        dir.pop();
    }
    dir
}

/// A running child process, killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    name: String,
    child: Child,
    log_path: PathBuf,
    base_url: String,
}

impl ServiceProcess {
    /// Starts `bin_dir/name` with exactly `env` (plus `PATH`), logging to a file.
    pub fn spawn(
        bin_dir: &Path,
        name: &str,
        base_url: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ProcessError> {
        Self::launch(bin_dir, name, base_url, env, None)
    }

    /// As [`spawn`](Self::spawn), with the process's open-file limit (`ulimit -n`)
    /// lowered to `max_open_files`, so a test can run it out of descriptors.
    #[cfg(unix)]
    pub fn spawn_with_open_file_limit(
        bin_dir: &Path,
        name: &str,
        base_url: &str,
        env: &BTreeMap<String, String>,
        max_open_files: u32,
    ) -> Result<Self, ProcessError> {
        Self::launch(bin_dir, name, base_url, env, Some(max_open_files))
    }

    fn launch(
        bin_dir: &Path,
        name: &str,
        base_url: &str,
        env: &BTreeMap<String, String>,
        max_open_files: Option<u32>,
    ) -> Result<Self, ProcessError> {
        // Absolute, because the child runs in another directory.
        let program =
            std::path::absolute(bin_dir.join(name)).unwrap_or_else(|_| bin_dir.join(name));
        if !program.exists() {
            return Err(ProcessError::new(format!(
                "{} does not exist: build it first (`cargo build -p {name}`), or run `cargo xtask e2e`",
                program.display()
            )));
        }
        // A binary older than the sources would test yesterday's code and pass for it.
        // `OBO_BIN_DIR` names binaries built elsewhere, on purpose: those are trusted.
        if std::env::var_os("OBO_BIN_DIR").is_none()
            && let Some(newer) = source_newer_than(&program)
        {
            return Err(ProcessError::new(format!(
                "{} is older than {}: rebuild it first (`cargo build -p mcp-server -p private-api`), or run `cargo xtask e2e`",
                program.display(),
                newer.display()
            )));
        }
        let log_dir = bin_dir
            .parent()
            .map(|target| target.join("obo-logs"))
            .unwrap_or_else(|| PathBuf::from("obo-logs"));
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| ProcessError::new(format!("cannot create {}: {e}", log_dir.display())))?;
        let log_path = log_dir.join(format!("{name}-{}.log", unique_suffix()));
        let log = File::create(&log_path)
            .map_err(|e| ProcessError::new(format!("cannot create {}: {e}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(|e| ProcessError::new(format!("cannot share {}: {e}", log_path.display())))?;
        let mut command = match max_open_files {
            None => Command::new(&program),
            // `exec` keeps the pid, so `terminate` still signals the service itself.
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\""))
                    .arg(&program);
                shell
            }
        };
        command
            .env_clear()
            .envs(env)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            // Run from an empty directory so a developer's own `.env` is not picked up.
            .current_dir(&log_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .kill_on_drop(true);
        let child = command
            .spawn()
            .map_err(|e| ProcessError::new(format!("cannot start {}: {e}", program.display())))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log_path,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    /// Starts a service on a free port and waits until it is ready at `ready_path`.
    ///
    /// `spawn` starts the child on the port it is given. When another process takes
    /// that port first, the child is started again on another one, up to
    /// [`PORT_ATTEMPTS`] times.
    pub async fn on_free_port(
        ready_path: &str,
        timeout: Duration,
        mut spawn: impl FnMut(u16) -> Result<Self, ProcessError>,
    ) -> Result<Self, ProcessError> {
        let mut attempt = 1;
        loop {
            let mut service = spawn(free_port()?)?;
            match service.wait_ready(ready_path, timeout).await {
                Err(e) if e.is_port_taken() && attempt < PORT_ATTEMPTS => attempt += 1,
                ready => return ready.map(|()| service),
            }
        }
    }

    /// The service's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The operating system's id of the process, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the process has written so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Where the process writes its output.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Waits until `GET {base_url}{path}` answers 200 from this very process, or fails
    /// with the log's tail.
    ///
    /// Another process that took the port (another test's service, say) may answer 200
    /// on the same path, so an answer counts only once the child itself listens on the
    /// port. When the child exits because the port is taken, the error says so
    /// ([`ProcessError::is_port_taken`]).
    pub async fn wait_ready(&mut self, path: &str, timeout: Duration) -> Result<(), ProcessError> {
        let url = format!("{}{path}", self.base_url);
        let port = reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|url| url.port_or_known_default());
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(port, format!("exited before it was ready ({status})")));
            }
            if let Ok(response) = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && response.status().is_success()
                && self.owns(port)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(
                    self.not_ready(port, format!("was not ready at {url} within {timeout:?}"))
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the child itself listens on `port` (true where that cannot be told).
    fn owns(&self, port: Option<u16>) -> bool {
        match (self.pid(), port) {
            (Some(pid), Some(port)) => listens_on(pid, port).unwrap_or(true),
            _ => true,
        }
    }

    /// Why the child is not ready, with its output, and whether another process holds
    /// its port.
    fn not_ready(&self, port: Option<u16>, what: String) -> ProcessError {
        // An exited child listens nowhere; a running one where /proc says.
        let listening = |port| match self.pid() {
            None => Some(false),
            Some(pid) => listens_on(pid, port),
        };
        let taken = port.filter(|&port| listening(port) == Some(false) && port_in_use(port));
        let cause = taken
            .map(|port| format!("; another process holds its port {port}"))
            .unwrap_or_default();
        ProcessError {
            message: format!(
                "{} {what}{cause}; its output:\n{}",
                self.name,
                tail(&self.log(), 40)
            ),
            port_taken: taken.is_some(),
        }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, ProcessError> {
        let Some(pid) = self.child.id() else {
            return self
                .child
                .wait()
                .await
                .map_err(|e| ProcessError::new(format!("cannot reap {}: {e}", self.name)));
        };
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .map_err(|e| ProcessError::new(format!("cannot run kill: {e}")))?;
        if !sent.success() {
            return Err(ProcessError::new(format!(
                "kill -TERM {pid} failed: {sent}"
            )));
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                status.map_err(|e| ProcessError::new(format!("cannot reap {}: {e}", self.name)))
            }
            Err(_) => {
                let _ = self.child.kill().await;
                Err(ProcessError::new(format!(
                    "{} did not exit within {timeout:?} of SIGTERM",
                    self.name
                )))
            }
        }
    }

    /// The resident set size of the process, in KiB (Linux; `None` elsewhere).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The peak resident set size of the process, in KiB (Linux; `None` elsewhere).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// A source file `binary` was built from that changed after it was built, if any.
///
/// Cargo lists those files in the dep-info file it writes beside the binary
/// (`target/debug/mcp-server.d`), and rebuilds when one is newer: this is its own test.
fn source_newer_than(binary: &Path) -> Option<PathBuf> {
    let built = modified(binary)?;
    let dep_info = std::fs::read_to_string(binary.with_extension("d")).ok()?;
    let (_, sources) = dep_info.lines().next()?.split_once(": ")?;
    // Spaces inside a path are escaped as `\ `.
    let sources = sources.replace("\\ ", "\0");
    sources
        .split(' ')
        .filter(|source| !source.is_empty())
        .map(|source| PathBuf::from(source.replace('\0', " ")))
        .find(|source| modified(source).is_some_and(|at| at > built))
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
