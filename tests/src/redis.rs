//! A real `redis-server` for one test, on a free loopback port: no mock of Redis.
//!
//! The server keeps nothing on disk (`--save '' --appendonly no`), so each test starts
//! empty. The test can stop it, restart it on the same port (a Redis that comes back),
//! and freeze it with SIGSTOP (a Redis that hangs: the kernel still accepts
//! connections, nothing answers). It is killed when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::process::{PORT_ATTEMPTS, ProcessError, free_port, listens_on, port_in_use};

/// Where Debian's package puts the server; `PATH` is searched when it is not there.
const DEBIAN_BINARY: &str = "/usr/bin/redis-server";

/// How long a start may take before the test fails (a cold start takes a few ms).
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A running `redis-server` (see the [module](self)).
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    password: Option<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server with no password.
    ///
    /// # Panics
    ///
    /// When `redis-server` is not installed (the message names the command that
    /// installs it), or does not answer PING within 10 s.
    pub fn start() -> Self {
        Self::launch(None)
    }

    /// Starts a server that requires `password` (`--requirepass`).
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_with_password(password: &str) -> Self {
        Self::launch(Some(password.to_owned()))
    }

    fn launch(password: Option<String>) -> Self {
        let mut attempt = 1;
        loop {
            let port = free_port().unwrap_or_else(|e| panic!("{e}"));
            let dir = std::env::temp_dir().join(format!("obo-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            let mut server = Self {
                port,
                password: password.clone(),
                dir,
                child: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                // Another process took the free port first: try another one.
                Err(e) if e.is_port_taken() && attempt < PORT_ATTEMPTS => attempt += 1,
                Err(e) => panic!("{e}"),
            }
        }
    }

    fn spawn(&mut self) -> Result<(), ProcessError> {
        let binary = if std::path::Path::new(DEBIAN_BINARY).exists() {
            DEBIAN_BINARY
        } else {
            "redis-server"
        };
        let mut command = Command::new(binary);
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // Quiet (warnings only, to stderr the test shows), in the foreground, with
            // its scratch files (none, normally) in a directory of its own.
            .args([
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                "",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--databases", "1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start redis-server ({e}): the shared token store's tests need it; \
                 `cargo xtask ci` installs it (as root), or run \
                 `sudo apt-get install -y redis-server`"
            )
        });
        self.child = Some(child);
        self.wait_until_answering()
    }

    /// Waits until this very server answers PING: another test's Redis could answer
    /// on a port it took first, so the answer counts once this child listens there.
    fn wait_until_answering(&mut self) -> Result<(), ProcessError> {
        let started = Instant::now();
        while started.elapsed() < START_TIMEOUT {
            let Some(child) = &mut self.child else {
                break;
            };
            let pid = child.id();
            if let Ok(Some(status)) = child.try_wait() {
                let taken = port_in_use(self.port);
                return Err(ProcessError {
                    message: format!(
                        "redis-server on port {} exited at start: {status}{}",
                        self.port,
                        if taken {
                            "; another process holds the port"
                        } else {
                            ""
                        }
                    ),
                    port_taken: taken,
                });
            }
            if self.answers_ping() && listens_on(pid, self.port).unwrap_or(true) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(ProcessError::new(format!(
            "redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
            self.port
        )))
    }

    /// Whether the server answers PING (or asks for a password, which is an answer).
    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
            return false;
        }
        let mut answer = [0u8; 64];
        match stream.read(&mut answer) {
            Ok(n) => answer[..n].starts_with(b"+PONG") || answer[..n].starts_with(b"-NOAUTH"),
            Err(_) => false,
        }
    }

    /// The server's URL, with its password when it has one.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    /// The server's URL with another password (to test a refused one).
    pub fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}/", self.port)
    }

    /// The port it listens on, the same across restarts.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL: a crash, no goodbye to its clients) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server if it runs, then starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Freezes the server (SIGSTOP): connections still open, nothing answers.
    ///
    /// # Panics
    ///
    /// When it is not running, or `kill` cannot be run.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    ///
    /// # Panics
    ///
    /// As [`freeze`](Self::freeze).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("redis-server on port {} is not running", self.port));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(
            status.success(),
            "kill -{signal} {} failed: {status}",
            child.id()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too; no need to thaw it first.
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
