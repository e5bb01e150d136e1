//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! Automation lives in Rust rather than shell scripts or Makefiles so that it runs the
//! same on every machine that can build the project, and is checked by the compiler.

mod bench;
mod ci;
mod cmd;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "obo-mcp automation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure throughput, latency, exchanges and memory against the machine's floor (docs/performance.md).
    Bench(bench::BenchArgs),
    /// Run every check CI runs: formatting, clippy, tests, doc tests, end-to-end tests.
    Ci,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cmd::enter_workspace_root()?;
    match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Ci => ci::run(),
    }
}
