//! Test support shared by every crate's tests: signing keys, token minting and
//! a mock Auth0 tenant on wiremock ([`tenant::MockTenant`]), and the whole system run
//! as real processes ([`system::RunningSystem`]).
//!
//! This crate depends on none of ours on purpose: it mints tokens with `jsonwebtoken`
//! directly, so a bug in `jwt-verify` cannot hide itself by also being in the minting.

// Test support fails loudly on setup failure (a key that cannot be generated means the
// machine is broken, not that the code under test is); panicking is the right report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod keys;
pub mod mcp_client;
pub mod process;
pub mod system;
pub mod tenant;
pub mod token;

pub use tenant::{Fault, MockTenant, TenantConfig};
