//! Installing the system packages the tests need, when they are missing: the headless
//! browser that the sign-in page's test drives (`tests/tests/browser`), and the
//! `redis-server` that the shared token store's tests start (`obo_tests::redis`).
//!
//! CI runs on a fresh Debian machine as root, so `cargo xtask ci` installs them itself;
//! anywhere else it stops and names the one command to run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cmd::step;

/// Some programs the tests run, and the Debian packages that ship them.
struct SystemPackages {
    /// What needs them, for the messages.
    needed_by: &'static str,
    binaries: &'static [&'static str],
    packages: &'static [&'static str],
}

const BROWSER: SystemPackages = SystemPackages {
    needed_by: "the browser test",
    binaries: &["/usr/bin/chromium", "/usr/bin/chromedriver"],
    packages: &["chromium", "chromium-driver"],
};

const REDIS: SystemPackages = SystemPackages {
    needed_by: "the shared token store's tests",
    binaries: &["/usr/bin/redis-server"],
    packages: &["redis-server"],
};

/// Makes sure Chromium and chromedriver are installed, installing them with apt-get
/// when this process may (root, on a machine with apt-get).
pub fn browser() -> anyhow::Result<()> {
    ensure(&BROWSER)
}

/// Makes sure `redis-server` is installed, the same way. The package's service is
/// neither started nor left running: each test starts its own server on a free port.
pub fn redis_server() -> anyhow::Result<()> {
    ensure(&REDIS)
}

fn ensure(wanted: &SystemPackages) -> anyhow::Result<()> {
    let missing: Vec<&str> = wanted
        .binaries
        .iter()
        .copied()
        .filter(|binary| !Path::new(binary).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(" and ");
    let packages = wanted.packages.join(" ");
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "{missing} missing: {} need(s) Debian's {packages}; install them with `sudo apt-get install -y {packages}`",
            wanted.needed_by
        );
    }
    eprintln!("\n==> provision: {missing} missing; installing the Debian packages");
    let started = Instant::now();
    let updated = !apt_knows(wanted.packages);
    if updated {
        apt_update()?;
    }
    let _no_services = NoServiceStarts::install()?;
    if let Err(error) = apt_install(wanted.packages) {
        if updated {
            return Err(error);
        }
        // Lists kept from an earlier run may name versions the mirror no longer has.
        apt_update()?;
        apt_install(wanted.packages)?;
    }
    if let Some(absent) = wanted
        .binaries
        .iter()
        .find(|binary| !Path::new(binary).exists())
    {
        bail!("apt-get installed {packages}, but {absent} is still missing");
    }
    eprintln!(
        "provision: installed {packages} in {:.0?}",
        started.elapsed()
    );
    Ok(())
}

const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

/// Debian's rule for "install, but start no service" (invoke-rc.d asks
/// `/usr/sbin/policy-rc.d`; exit 101 means "not allowed"). Without it, a machine with
/// no systemd would start redis-server's init script on port 6379 at install time.
/// Container images often ship one already; then it is left as it is.
struct NoServiceStarts {
    created: bool,
}

impl NoServiceStarts {
    fn install() -> anyhow::Result<Self> {
        if Path::new(POLICY_RC_D).exists() {
            return Ok(Self { created: false });
        }
        std::fs::write(
            POLICY_RC_D,
            "#!/bin/sh\n# cargo xtask ci: install, start nothing\nexit 101\n",
        )
        .with_context(|| format!("cannot write {POLICY_RC_D}"))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(POLICY_RC_D, std::fs::Permissions::from_mode(0o755))
                .with_context(|| format!("cannot make {POLICY_RC_D} executable"))?;
        }
        Ok(Self { created: true })
    }
}

impl Drop for NoServiceStarts {
    fn drop(&mut self) {
        if self.created
            && let Err(error) = std::fs::remove_file(POLICY_RC_D)
        {
            eprintln!("provision: cannot remove the {POLICY_RC_D} it wrote: {error}");
        }
    }
}

fn apt_update() -> anyhow::Result<()> {
    step(
        "provision: apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )
}

fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    step(
        &format!("provision: install {}", packages.join(" ")),
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages),
    )
}
/// Whether apt's package lists have a candidate for every package: on a fresh image
/// they are empty, and `apt-get update` must run first.
fn apt_knows(packages: &[&str]) -> bool {
    let Ok(output) = Command::new("apt-cache")
        .arg("policy")
        .args(packages)
        .output()
    else {
        return false;
    };
    let policy = String::from_utf8_lossy(&output.stdout);
    let candidates = policy
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Candidate:"))
        .filter(|candidate| candidate.trim() != "(none)")
        .count();
    output.status.success() && candidates == packages.len()
}

/// Whether this process runs as root (Linux; `false` elsewhere, which only means the
/// install hint is printed instead).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            // `Uid:` lists the real, effective, saved and filesystem ids.
            let line = status.lines().find(|line| line.starts_with("Uid:"))?;
            line.split_whitespace()
                .nth(2)
                .map(|effective| effective == "0")
        })
        .unwrap_or(false)
}
