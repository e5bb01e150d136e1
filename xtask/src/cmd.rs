//! Running child commands the way every xtask step wants: echoed first, failing loudly.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root: xtask's manifest sits one level below it.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where cargo writes build output: `CARGO_TARGET_DIR`, or `target/` in the workspace.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Makes relative paths (`target/…`) and child cargo invocations refer to the workspace.
pub fn enter_workspace_root() -> anyhow::Result<()> {
    let root = workspace_root();
    std::env::set_current_dir(&root)
        .with_context(|| format!("cannot enter the workspace root {}", root.display()))
}

/// The cargo that runs xtask, so a toolchain chosen by rustup applies to every step.
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `command`, printing it first; fails with the step's name when it fails.
pub fn step(name: &str, command: &mut Command) -> anyhow::Result<()> {
    eprintln!("\n==> {name}: {}", display(command));
    let status = command
        .status()
        .with_context(|| format!("{name}: could not start `{}`", display(command)))?;
    if !status.success() {
        bail!("{name} failed ({status}): `{}`", display(command));
    }
    Ok(())
}

/// Whether `cargo <subcommand>` is installed (for optional tools such as nextest).
pub fn has_cargo_subcommand(subcommand: &str) -> bool {
    cargo()
        .args([subcommand, "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

fn display(command: &Command) -> String {
    let mut shown = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        shown.push(' ');
        shown.push_str(&arg.to_string_lossy());
    }
    shown
}
