//! A typed client for the sample private API's `GET /api/private-scope`.
//!
//! ```rust,no_run
//! use private_api_client::{ApiError, PrivateApiClient};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = PrivateApiClient::new("http://localhost:8787")?;
//!     // A token issued for the private API (by a token exchange, say), without the
//!     // "Bearer " prefix.
//!     let api_token = std::env::var("API_TOKEN")?;
//!     match client.private_scope(&api_token).await {
//!         Ok(scope) => {
//!             println!("{} (sub {})", scope.msg, scope.sub);
//!             if let Some(actor) = &scope.actor {
//!                 println!("called by {} on the user's behalf", actor.sub);
//!             }
//!         }
//!         // A token the API no longer accepts: drop it, get a fresh one, retry once.
//!         Err(error) if error.is_unauthorized() => eprintln!("{error}"),
//!         Err(ApiError::InsufficientScope { scope }) => {
//!             eprintln!("the token lacks {scope:?}");
//!         }
//!         Err(error) => return Err(error.into()),
//!     }
//!     Ok(())
//! }
//! ```
//!
//! The MCP server uses this crate for the second hop of a `greet` call: it already holds
//! an access token issued *for the private API* (obtained by token exchange), and this
//! client sends it upstream and turns the answer into types. The client knows nothing of
//! Auth0 or of where the token came from; it owns only
//!
//! - the API's URL: a base URL, with or without a trailing slash and with an optional
//!   path prefix, joined to `api/private-scope` without ever producing `//` or dropping
//!   the prefix ([`PrivateApiClient::endpoint`]);
//! - the response type, [`PrivateScope`], including the RFC 8693 §4.1 actor and
//!   delegation chain;
//! - the mapping of statuses to [`ApiError`]: 401 becomes [`ApiError::Unauthorized`]
//!   (so a caller can drop its cached token and retry once), 403 with an
//!   `insufficient_scope` challenge becomes [`ApiError::InsufficientScope`] with the
//!   scope parsed from `WWW-Authenticate`, and so on.
//!
//! # Safety of the bearer token
//!
//! The token is only ever placed in the `Authorization` header of a request to the
//! configured origin. Redirects to another origin are not followed (the 3xx comes back
//! as [`ApiError::Status`]), no error or `Debug` output contains the token, and a body
//! excerpt kept for diagnostics has the token scrubbed out even if the server echoes
//! it. Response bodies are read up to a limit (1 MiB by default) while streaming, so a
//! hostile or broken upstream cannot make the caller buffer without bound.

// The README's examples are doc tests too.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod body;
mod challenge;
mod client;
mod config_error;
mod endpoint;
mod error;
mod excerpt;
mod options;
mod redirect;
mod response;

pub use client::PrivateApiClient;
pub use config_error::ConfigError;
pub use endpoint::parse_base_url;
pub use error::ApiError;
pub use options::ClientOptions;
pub use response::{Actor, Answer, PrivateScope};

// Crates whose types appear in this crate's public API (`PrivateApiClient::send_json`'s
// `Method`, `with_http_client`'s `Client`, `base_url`'s `Url`), re-exported so that
// callers use the very versions this crate was built with.
pub use reqwest;
pub use url;

/// The path of the endpoint, relative to the API's base URL.
pub const PRIVATE_SCOPE_PATH: &str = "api/private-scope";
