//! The libraries published on crates.io, and CI's check that they would package.
//!
//! `cargo package -p a -p b …` packages workspace members together (cargo 1.90 and
//! later): a crate's dependency on another of them resolves to the one just packaged,
//! not to crates.io, so the check needs no registry upload and no crate published
//! first. It does read the crates.io index, to resolve the packages' lockfiles.

use std::time::Instant;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cmd::{cargo, step, target_dir, workspace_root};

/// The published libraries: package name and folder under `crates/`, each after the
/// ones it depends on (the order `cargo publish` needs).
pub const PUBLISHED: [(&str, &str); 4] = [
    ("oauth-jwt-verify", "jwt-verify"),
    ("private-api-client", "private-api-client"),
    ("auth0-obo", "auth0-obo"),
    ("redis-token-store", "redis-token-store"),
];

/// Every published crate carries the workspace's LICENSE, packages without error, and
/// no other member of the workspace is publishable.
pub fn ci() -> anyhow::Result<()> {
    let started = Instant::now();
    check_publishable_members()?;
    check_license_copies()?;
    let mut command = cargo();
    // --allow-dirty: the check is about what would be packaged, so it runs on a work
    // tree with uncommitted changes as well (before a commit, say).
    command.args(["package", "--no-verify", "--locked", "--allow-dirty"]);
    for (name, _) in PUBLISHED {
        command.args(["-p", name]);
    }
    step("package the published crates", &mut command).context(
        "a published crate must depend only on published crates (version plus path in the \
         root Cargo.toml) or crates.io; an unpublished crate may be a path-only dev-dependency",
    )?;
    eprintln!(
        "==> package the published crates: {} crates in {:.1?} ({})",
        PUBLISHED.len(),
        started.elapsed(),
        target_dir().join("package").display()
    );
    Ok(())
}

#[derive(Deserialize)]
struct Metadata {
    packages: Vec<Package>,
}

#[derive(Deserialize)]
struct Package {
    name: String,
    /// `None`: any registry; `Some([])`: `publish = false`.
    publish: Option<Vec<String>>,
}

/// The workspace's publishable members are exactly [`PUBLISHED`]: a service or a
/// test-support crate that loses its `publish.workspace = true` fails here.
fn check_publishable_members() -> anyhow::Result<()> {
    let output = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1", "--locked"])
        .output()
        .context("cannot run cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Metadata =
        serde_json::from_slice(&output.stdout).context("cannot read cargo metadata's output")?;
    let mut publishable: Vec<&str> = metadata
        .packages
        .iter()
        .filter(|package| package.publish.as_ref().is_none_or(|to| !to.is_empty()))
        .map(|package| package.name.as_str())
        .collect();
    publishable.sort_unstable();
    let mut expected: Vec<&str> = PUBLISHED.iter().map(|(name, _)| *name).collect();
    expected.sort_unstable();
    if publishable != expected {
        bail!(
            "the publishable crates are {publishable:?}, expected {expected:?}: a library to \
             publish sets `publish = true` and joins PUBLISHED in xtask/src/package.rs; \
             any other crate keeps `publish.workspace = true` (the workspace sets `publish = false`)"
        );
    }
    Ok(())
}

/// Each published crate holds a copy of the root LICENSE (cargo packages only files
/// inside the crate's folder); the copies must not drift from it.
fn check_license_copies() -> anyhow::Result<()> {
    let root = workspace_root();
    let license = std::fs::read(root.join("LICENSE")).context("cannot read LICENSE")?;
    for (name, folder) in PUBLISHED {
        let path = root.join("crates").join(folder).join("LICENSE");
        let copy = std::fs::read(&path).ok();
        if copy.as_deref() != Some(license.as_slice()) {
            bail!(
                "{name}: crates/{folder}/LICENSE is missing or differs from the root LICENSE; \
                 run `cp LICENSE crates/{folder}/LICENSE`"
            );
        }
    }
    Ok(())
}
