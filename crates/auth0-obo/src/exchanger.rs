//! The seam between the cache and whatever performs the exchange.

use async_trait::async_trait;

use crate::error::ExchangeError;
use crate::request::ExchangeRequest;
use crate::response::ExchangedToken;

/// Something that performs RFC 8693 token exchanges: [`ExchangeClient`] against
/// Auth0, or another implementation for a different authorization server.
/// [`TokenCache`] holds an `Arc<dyn TokenExchanger>`.
///
/// Implementations must not put the subject token or any secret into errors or
/// logs (see [`ExchangeError`]).
///
/// [`ExchangeClient`]: crate::ExchangeClient
/// [`TokenCache`]: crate::TokenCache
#[async_trait]
pub trait TokenExchanger: Send + Sync {
    /// The OAuth client id the exchange authenticates as. It is part of the cache
    /// key: tokens obtained by one client are never served for another.
    fn client_id(&self) -> &str;

    /// Exchanges `request.subject_token()` for a token for `request.audience()`.
    async fn exchange(&self, request: &ExchangeRequest) -> Result<ExchangedToken, ExchangeError>;
}
