//! `cargo xtask soak`: the soak test (`tests/tests/soak.rs`) at full length.
//!
//! CI runs the same test in its short form (20,000 calls) with the rest of the tests;
//! this command raises the number of calls (and optionally users and connections)
//! through the environment the test reads, and shows its figures.

use clap::Args;

use crate::cmd::{cargo, step};

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Total tool calls (`OBO_SOAK_CALLS`).
    #[arg(long, default_value_t = 200_000)]
    calls: u64,
    /// Distinct users, each with their own token (`OBO_SOAK_USERS`).
    #[arg(long, default_value_t = 1_000)]
    users: u64,
    /// Concurrent keep-alive connections (`OBO_SOAK_CONNECTIONS`).
    #[arg(long, default_value_t = 64)]
    connections: u64,
}

pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    crate::e2e::build_binaries()?;
    step(
        "soak",
        cargo()
            .args([
                "test",
                "-p",
                "obo-tests",
                "--test",
                "soak",
                "--",
                "--nocapture",
            ])
            .env("OBO_SOAK_CALLS", args.calls.to_string())
            .env("OBO_SOAK_USERS", args.users.to_string())
            .env("OBO_SOAK_CONNECTIONS", args.connections.to_string()),
    )
}
