//! Installing the system packages the tests need, when they are missing: today the
//! headless browser that the sign-in page's test drives (`tests/tests/browser`).
//!
//! CI runs on a fresh Debian machine as root, so `cargo xtask ci` installs them itself;
//! anywhere else it stops and names the one command to run.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::bail;

use crate::cmd::step;

/// What the browser test runs, and the Debian packages that ship them.
const BROWSER_BINARIES: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
const BROWSER_PACKAGES: [&str; 2] = ["chromium", "chromium-driver"];
const BROWSER_INSTALL_HINT: &str = "sudo apt-get install -y chromium chromium-driver";

/// Makes sure Chromium and chromedriver are installed, installing them with apt-get
/// when this process may (root, on a machine with apt-get).
pub fn browser() -> anyhow::Result<()> {
    let missing: Vec<&str> = BROWSER_BINARIES
        .into_iter()
        .filter(|binary| !Path::new(binary).exists())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let missing = missing.join(" and ");
    if !is_root() || !Path::new("/usr/bin/apt-get").exists() {
        bail!(
            "{missing} missing: the browser test needs Debian's chromium and chromium-driver; install them with `{BROWSER_INSTALL_HINT}`"
        );
    }
    eprintln!("\n==> provision: {missing} missing; installing the Debian packages");
    let started = Instant::now();
    let updated = !apt_knows(&BROWSER_PACKAGES);
    if updated {
        apt_update()?;
    }
    if let Err(error) = apt_install() {
        if updated {
            return Err(error);
        }
        // Lists kept from an earlier run may name versions the mirror no longer has.
        apt_update()?;
        apt_install()?;
    }
    if let Some(absent) = BROWSER_BINARIES
        .into_iter()
        .find(|binary| !Path::new(binary).exists())
    {
        bail!("apt-get installed {BROWSER_PACKAGES:?}, but {absent} is still missing");
    }
    eprintln!(
        "provision: installed {} in {:.0?}",
        BROWSER_PACKAGES.join(" and "),
        started.elapsed()
    );
    Ok(())
}

fn apt_update() -> anyhow::Result<()> {
    step(
        "provision: apt-get update",
        Command::new("apt-get").args(["update", "-q"]),
    )
}

fn apt_install() -> anyhow::Result<()> {
    step(
        "provision: install the browser",
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(BROWSER_PACKAGES),
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
