//! Test support shared by every crate's tests: signing keys, token minting and
//! a mock Auth0 tenant on wiremock ([`tenant::MockTenant`]), the whole system run
//! as real processes ([`system::RunningSystem`]), a real `redis-server` per test
//! ([`redis::RedisServer`]), a headless stand-in for a browser
//! on the tenant's sign-in page ([`consent::HeadlessBrowser`]), and what every
//! server's bearer refusals must look like on the wire ([`refusal::Refused`]).
//!
//! This crate and `mock-tenant` depend on none of the libraries under test on purpose:
//! tokens are minted with `jsonwebtoken` directly, so a bug in `jwt-verify` cannot hide
//! itself by also being in the minting.

// Test support fails loudly on setup failure (a key that cannot be generated means the
// machine is broken, not that the code under test is); panicking is the right report.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod consent;
pub mod mcp_client;
pub mod process;
pub mod redis;
pub mod refusal;
pub mod system;

/// The mock Auth0 tenant lives in its own crate, `mock-tenant`; these paths keep the
/// tests' imports short.
pub use mock_tenant::{self as tenant, Fault, MockTenant, TenantConfig, keys, token};
