//! `cargo xtask mutants`: mutation testing with cargo-mutants on the code that decides
//! access and identity (the files are listed in `.cargo/mutants.toml`).
//!
//! The full run takes hours on a small machine, so CI runs only the mutants on lines a
//! change touched (`--in-diff`), against the merge base with `origin/main`; on main
//! itself there is nothing to run, and CI says so.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use clap::Args;

use crate::cmd::{cargo, has_cargo_subcommand, step, target_dir};

#[derive(Debug, Args)]
pub struct MutantsArgs {
    /// Only the mutants on lines changed since this git revision (for example
    /// `origin/main`), instead of every mutant in the listed files.
    #[arg(long, value_name = "REV")]
    in_diff: Option<String>,
    /// Mutants built and tested at once (each needs its own build tree).
    #[arg(long, default_value_t = 1)]
    jobs: u32,
    /// Only list the mutants.
    #[arg(long)]
    list: bool,
}

pub fn run(args: &MutantsArgs) -> anyhow::Result<()> {
    let mut command = cargo();
    command.args(["mutants", "--jobs", &args.jobs.to_string()]);
    if args.list {
        command.arg("--list");
    }
    if let Some(rev) = &args.in_diff {
        let diff = diff_since(rev)?;
        if diff.trim().is_empty() {
            eprintln!("mutants: nothing changed since {rev}; no mutant to test");
            return Ok(());
        }
        let path = target_dir().join("mutants-in.diff");
        std::fs::create_dir_all(target_dir())?;
        std::fs::write(&path, diff).with_context(|| format!("cannot write {}", path.display()))?;
        command.arg("--in-diff").arg(&path);
    }
    install_if_missing()?;
    step("mutation testing (cargo mutants)", &mut command)
}

/// CI's form: the mutants on lines changed since the merge base with `origin/main`,
/// or a note when there is no such base or nothing changed.
pub fn ci() -> anyhow::Result<()> {
    let Some(base) = merge_base("origin/main") else {
        eprintln!("\n==> mutation testing: skipped (no origin/main to diff against)");
        return Ok(());
    };
    if diff_since(&base)?.trim().is_empty() {
        eprintln!(
            "\n==> mutation testing: skipped (no change to the listed files since the merge base with origin/main)"
        );
        return Ok(());
    }
    run(&MutantsArgs {
        in_diff: Some(base),
        jobs: 1,
        list: false,
    })
}

fn install_if_missing() -> anyhow::Result<()> {
    if has_cargo_subcommand("mutants") {
        return Ok(());
    }
    step(
        "install cargo-mutants",
        cargo().args(["install", "cargo-mutants", "--locked"]),
    )
}

/// The diff of the files `.cargo/mutants.toml` examines, since `rev`.
fn diff_since(rev: &str) -> anyhow::Result<String> {
    let files = examined_files()?;
    let output = Command::new("git")
        .args(["diff", "--no-color", rev, "--"])
        .args(&files)
        .output()
        .context("cannot run git diff")?;
    if !output.status.success() {
        bail!(
            "git diff {rev} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn merge_base(rev: &str) -> Option<String> {
    let output = Command::new("git")
        .args(["merge-base", "HEAD", rev])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The `examine_globs` of `.cargo/mutants.toml`: one list, read by cargo-mutants and
/// by the diff alike.
fn examined_files() -> anyhow::Result<Vec<String>> {
    let path = Path::new(".cargo/mutants.toml");
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let files: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with('"') && line.ends_with("\","))
        .map(|line| line.trim_end_matches(',').trim_matches('"').to_owned())
        .collect();
    if files.is_empty() {
        bail!("{} lists no examine_globs", path.display());
    }
    Ok(files)
}
