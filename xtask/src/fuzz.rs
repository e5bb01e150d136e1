//! `cargo xtask fuzz`: every `cargo fuzz` target in `fuzz/` for a bounded time.
//!
//! Not part of CI: it installs `cargo-fuzz` when missing and spends a minute per
//! target. It runs on the stable toolchain with `-s none` (no sanitizer; the default
//! AddressSanitizer build needs nightly flags), which is enough for a crate that
//! forbids `unsafe`: what the fuzzer looks for here is panics and broken round trips.
//! Seeds are committed under `fuzz/seeds/<target>/`; the working corpus grows in
//! `fuzz/corpus/<target>/` (ignored by git). A crash leaves its input in
//! `fuzz/artifacts/<target>/`, and the command fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;

use crate::cmd::{cargo, has_cargo_subcommand, step, workspace_root};

/// Each target and the dictionary that speaks its input language.
const TARGETS: [(&str, &str); 7] = [
    ("bearer_header", "bearer_header.dict"),
    ("jwt_header", "json.dict"),
    ("jwt_claims", "json.dict"),
    ("jwt_verify_signed", "json.dict"),
    ("token_response", "token_response.dict"),
    ("www_authenticate", "www_authenticate.dict"),
    ("retry_after", "retry_after.dict"),
];

#[derive(Debug, Args)]
pub struct FuzzArgs {
    /// How long to fuzz each target, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Fuzz only this target (default: all of them).
    #[arg(long)]
    target: Option<String>,
}

/// What one target's run reported.
#[derive(Debug, Default)]
struct Outcome {
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    coverage: Option<u64>,
    corpus: Option<u64>,
    crashes: Vec<PathBuf>,
}

pub fn run(args: &FuzzArgs) -> anyhow::Result<()> {
    let selected: Vec<(&str, &str)> = match &args.target {
        None => TARGETS.to_vec(),
        Some(name) => match TARGETS.iter().find(|(target, _)| target == name) {
            Some(target) => vec![*target],
            None => bail!(
                "no fuzz target named {name}; the targets are {}",
                TARGETS.map(|(t, _)| t).join(", ")
            ),
        },
    };
    if !has_cargo_subcommand("fuzz") {
        step(
            "install cargo-fuzz",
            cargo().args(["install", "cargo-fuzz", "--locked"]),
        )?;
    }
    let fuzz_dir = workspace_root().join("fuzz");
    step(
        "build fuzz targets",
        cargo()
            .current_dir(&fuzz_dir)
            .args(["fuzz", "build", "-s", "none"]),
    )?;

    let mut results = Vec::new();
    for (target, dict) in selected {
        let outcome = run_target(&fuzz_dir, target, dict, args.seconds)?;
        results.push((target, outcome));
    }

    eprintln!("\nfuzz: {} s per target", args.seconds);
    eprintln!(
        "{:<20} {:>14} {:>10} {:>8} {:>8}  result",
        "target", "executions", "exec/s", "cov", "corpus"
    );
    let mut failed = Vec::new();
    for (target, outcome) in &results {
        let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = if outcome.crashes.is_empty() {
            "no crash".to_owned()
        } else {
            failed.push(*target);
            format!("{} crash input(s)", outcome.crashes.len())
        };
        eprintln!(
            "{:<20} {:>14} {:>10} {:>8} {:>8}  {result}",
            target,
            show(outcome.executions),
            show(outcome.exec_per_sec),
            show(outcome.coverage),
            show(outcome.corpus),
        );
        for crash in &outcome.crashes {
            eprintln!("    {}", crash.display());
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzzing found crashes in {}; reproduce with `cargo fuzz run -s none <target> <artifact>` in fuzz/, fix, and keep the input as a regression test",
            failed.join(", ")
        );
    }
    Ok(())
}

fn run_target(fuzz_dir: &Path, target: &str, dict: &str, seconds: u64) -> anyhow::Result<Outcome> {
    let corpus = fuzz_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("seeds").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let before = list(&artifacts);
    let mut command = cargo();
    command
        .current_dir(fuzz_dir)
        .args(["fuzz", "run", "-s", "none", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!(
            "-dict={}",
            fuzz_dir.join("dict").join(dict).display()
        ))
        .arg("-print_final_stats=1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    eprintln!("\n==> fuzz {target} for {seconds} s");
    let started = Instant::now();
    let output = command
        .output()
        .with_context(|| format!("could not start cargo fuzz for {target}"))?;
    let log = String::from_utf8_lossy(&output.stderr);
    // libFuzzer's own lines are long and many; keep the last few for the reader.
    let lines: Vec<&str> = log.lines().collect();
    for line in &lines[lines.len().saturating_sub(12)..] {
        eprintln!("    {line}");
    }
    let mut outcome = parse_stats(&log);
    outcome.crashes = list(&artifacts)
        .into_iter()
        .filter(|path| !before.contains(path))
        .collect();
    if !output.status.success() && outcome.crashes.is_empty() {
        bail!(
            "cargo fuzz run {target} failed ({}) after {:.0?} without leaving a crash input",
            output.status,
            started.elapsed()
        );
    }
    Ok(outcome)
}

/// Reads libFuzzer's final lines: `#N DONE cov: C ft: F corp: K/S exec/s: E ...` and
/// the `-print_final_stats` block (`stat::number_of_executed_units: N`).
fn parse_stats(log: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
            outcome.executions = rest.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("stat::average_exec_per_sec:") {
            outcome.exec_per_sec = rest.trim().parse().ok();
        } else if line.starts_with('#')
            && matches!(line.split_whitespace().nth(1), Some("DONE" | "pulse"))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let after = |key: &str| {
                words
                    .iter()
                    .position(|w| *w == key)
                    .and_then(|i| words.get(i + 1))
                    .map(|w| w.split('/').next().unwrap_or(w))
                    .and_then(|w| w.parse::<u64>().ok())
            };
            if outcome.executions.is_none() {
                outcome.executions = words
                    .first()
                    .and_then(|w| w.trim_start_matches('#').parse().ok());
            }
            outcome.coverage = after("cov:").or(outcome.coverage);
            outcome.corpus = after("corp:").or(outcome.corpus);
            outcome.exec_per_sec = outcome.exec_per_sec.or(after("exec/s:"));
        }
    }
    outcome
}

fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_final_stats() {
        let log = "#2097152\tpulse  cov: 900 ft: 2000 corp: 1000/100Kb exec/s: 160000 rss: 60Mb\n\
                   #9815634\tDONE   cov: 910 ft: 2919 corp: 1030/116Kb lim: 4096 exec/s: 163593 rss: 69Mb\n\
                   Done 9815634 runs in 61 second(s)\n\
                   stat::number_of_executed_units: 9815634\n\
                   stat::average_exec_per_sec:     160912\n";
        let outcome = parse_stats(log);
        assert_eq!(outcome.executions, Some(9_815_634));
        assert_eq!(outcome.exec_per_sec, Some(160_912));
        assert_eq!(outcome.coverage, Some(910));
        assert_eq!(outcome.corpus, Some(1030));
    }
}
