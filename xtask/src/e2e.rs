//! `cargo xtask e2e`: the end-to-end tests, which start the real binaries.

use clap::Args;

use crate::cmd::{cargo, has_cargo_subcommand, step};

#[derive(Debug, Args)]
pub struct E2eArgs {
    /// Only the tests that drive a headless Chromium (the demo tenant's sign-in page).
    #[arg(long)]
    browser: bool,
}

/// Installs the browser the sign-in page's test drives, builds the binaries the other
/// tests start, then runs the tests in the `tests` package (or only the browser's).
pub fn run(args: &E2eArgs) -> anyhow::Result<()> {
    crate::provision::browser()?;
    let only: &[&str] = if args.browser {
        &["--test", "browser"]
    } else {
        build_binaries()?;
        &[]
    };
    if has_cargo_subcommand("nextest") {
        step(
            "end-to-end tests (nextest)",
            cargo()
                .args(["nextest", "run", "-p", "obo-tests", "--no-fail-fast"])
                .args(only),
        )
    } else {
        step(
            "end-to-end tests",
            cargo()
                .args(["test", "-p", "obo-tests", "--no-fail-fast"])
                .args(only),
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
