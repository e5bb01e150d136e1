//! `cargo xtask ci`: every check, in the order that fails fastest.

use crate::cmd::{cargo, has_cargo_subcommand, step};

pub fn run() -> anyhow::Result<()> {
    // The sign-in page's test drives a headless Chromium: installed first, so a machine
    // that cannot install it says so before minutes of building.
    crate::provision::browser()?;
    // The shared token store's tests start their own redis-server processes.
    crate::provision::redis_server()?;
    step("format", cargo().args(["fmt", "--all", "--check"]))?;
    step(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // The crate docs are how users learn the libraries: a broken link or a warning in
    // them fails CI like a test would.
    step(
        "docs",
        cargo()
            .args(["doc", "--workspace", "--no-deps", "--locked"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // The libraries published on crates.io must package: metadata, README, LICENSE, and
    // dependencies that resolve without the workspace's unpublished crates.
    crate::package::ci()?;
    // The end-to-end tests start `target/debug/{mcp-server,private-api}`. A workspace
    // test run builds both binaries before any test starts (their own integration tests
    // need them), with the features the test build unifies (rmcp's OAuth client for the
    // sign-in tests), so building them apart first would only build them twice.
    if has_cargo_subcommand("nextest") {
        step(
            "tests (nextest)",
            cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--locked",
                "--no-fail-fast",
            ]),
        )?;
        // nextest does not run doc tests; the crate docs' examples are tests too.
        step(
            "doc tests",
            cargo().args(["test", "--workspace", "--locked", "--doc"]),
        )?;
    } else {
        // `cargo test` runs unit, integration and doc tests in one go.
        step(
            "tests",
            cargo().args(["test", "--workspace", "--locked", "--no-fail-fast"]),
        )?;
    }
    crate::mutants::ci()?;
    eprintln!("\nci: every check passed");
    Ok(())
}
