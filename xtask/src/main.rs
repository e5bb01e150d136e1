//! Project automation, run as `cargo xtask <command>` (see `.cargo/config.toml`).
//!
//! Automation lives in Rust rather than shell scripts or Makefiles so that it runs the
//! same on every machine that can build the project, and is checked by the compiler.

mod bench;
mod ci;
mod cmd;
mod demo;
mod e2e;
mod fuzz;
mod mutants;
mod package;
mod provision;
mod soak;

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
    /// Run every check CI runs: formatting, clippy, the crate docs, packaging, unit, integration, doc and end-to-end tests.
    Ci,
    /// Run the whole system locally with a mock Auth0 tenant, and print how to connect.
    Demo(demo::DemoArgs),
    /// Build the binaries and run the end-to-end tests against them (installs Chromium if missing).
    E2e(e2e::E2eArgs),
    /// Fuzz every parser of foreign bytes for a bounded time (installs cargo-fuzz if missing).
    Fuzz(fuzz::FuzzArgs),
    /// Mutation testing (cargo-mutants) of the code that decides access and identity.
    Mutants(mutants::MutantsArgs),
    /// Package the crates published on crates.io, as CI checks them (into target/package/).
    Package,
    /// The soak test at full length: many more calls than the short form CI runs.
    Soak(soak::SoakArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    cmd::enter_workspace_root()?;
    match cli.command {
        Command::Bench(args) => bench::run(&args),
        Command::Ci => ci::run(),
        Command::Demo(args) => demo::run(&args),
        Command::E2e(args) => e2e::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::Mutants(args) => mutants::run(&args),
        Command::Package => package::ci(),
        Command::Soak(args) => soak::run(&args),
    }
}
