//! `cargo xtask e2e`: the end-to-end tests, which start the real binaries.

use crate::cmd::{cargo, has_cargo_subcommand, step};

/// Builds the binaries the tests start, then runs the tests in the `tests` package.
pub fn run() -> anyhow::Result<()> {
    build_binaries()?;
    if has_cargo_subcommand("nextest") {
        step(
            "end-to-end tests (nextest)",
            cargo().args(["nextest", "run", "-p", "obo-tests", "--no-fail-fast"]),
        )
    } else {
        step(
            "end-to-end tests",
            cargo().args(["test", "-p", "obo-tests", "--no-fail-fast"]),
        )
    }
}

/// The end-to-end tests run `target/debug/{mcp-server,private-api}`.
pub fn build_binaries() -> anyhow::Result<()> {
    step(
        "build binaries",
        cargo().args(["build", "--locked", "-p", "mcp-server", "-p", "private-api"]),
    )
}
