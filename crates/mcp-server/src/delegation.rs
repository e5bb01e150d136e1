//! The On-Behalf-Of hop: exchange the caller's token for one issued for the private
//! API, then call the API with the new token only.
//!
//! The caller's token goes to exactly one place, Auth0's token endpoint, as
//! `subject_token` (invariant 1). A 401 from the API most often means the cached
//! token was revoked or its signing key rotated, so the entry is dropped and the call
//! made once more with a fresh exchange; a second 401 is reported, never looped on.

use std::time::{Duration, Instant, SystemTime};

use auth0_obo::{ExchangeError, ExchangeRequest, TokenCache};
use jwt_verify::Principal;
use private_api_client::{ApiError, PrivateApiClient, PrivateScope};

use crate::metrics::Metrics;

/// Exchanges tokens for the private API and calls it.
#[derive(Debug, Clone)]
pub struct Delegation {
    tokens: TokenCache,
    api: PrivateApiClient,
    audience: String,
    scope: String,
    metrics: Metrics,
}

/// The upstream answer, and whether the exchanged token came from the cache.
#[derive(Debug, Clone)]
pub struct Delegated {
    pub response: PrivateScope,
    pub token_from_cache: bool,
}

/// Why the private API could not be called on the user's behalf.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DelegationError {
    #[error("the token exchange failed: {0}")]
    Exchange(#[from] ExchangeError),
    #[error("the private API call failed: {0}")]
    Api(#[from] ApiError),
}

impl DelegationError {
    /// The failure's low-cardinality name, from the crate that failed.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Exchange(e) => e.kind(),
            Self::Api(e) => e.kind(),
        }
    }
}

impl Delegation {
    pub fn new(tokens: TokenCache, api: PrivateApiClient, audience: String, scope: String) -> Self {
        Self {
            tokens,
            api,
            audience,
            scope,
            metrics: Metrics::default(),
        }
    }

    /// Records private API calls (and, through the tools, tool calls) in `metrics`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Where this delegation's calls are counted.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The exchanged-token cache, for its counters.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Calls `GET /api/private-scope` on behalf of `principal`.
    pub async fn private_scope(&self, principal: &Principal) -> Result<Delegated, DelegationError> {
        let mut request = ExchangeRequest::new(principal.token().secret(), &self.audience)?
            .with_scope(&self.scope);
        if let Some(expires_at) =
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(principal.expires_at))
        {
            request = request.with_subject_expires_at(expires_at);
        }
        let cached = self.tokens.get_token(&request).await?;
        match self.call_api(cached.access_token_secret()).await {
            Ok(response) => Ok(Delegated {
                response,
                token_from_cache: cached.from_cache(),
            }),
            Err(error) if error.is_unauthorized() => {
                tracing::info!(sub = %principal.sub, "the private API refused the exchanged token; exchanging afresh once");
                self.tokens.invalidate(&request).await;
                let fresh = self.tokens.get_token(&request).await?;
                let response = self.call_api(fresh.access_token_secret()).await?;
                Ok(Delegated {
                    response,
                    token_from_cache: false,
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// One call of the API, counted by status with its latency.
    async fn call_api(&self, bearer: &str) -> Result<PrivateScope, ApiError> {
        let started = Instant::now();
        let result = self.api.private_scope(bearer).await;
        let status = match &result {
            Ok(_) => "2xx",
            Err(error) => error.status_label(),
        };
        self.metrics.private_api_call(status, started.elapsed());
        result
    }
}
