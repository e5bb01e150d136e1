//! Building the server's components from [`Settings`]: one construction path, used
//! by the server and by `mcp-server check` alike, so that check tests exactly what the
//! server runs.

use std::sync::Arc;

use auth0_obo::{CacheOptions, ExchangeClient, SharedTokenStore, TokenCache};
use jwt_verify::JwksVerifier;
use private_api_client::{ClientOptions, PrivateApiClient};
use redis_token_store::RedisTokenStore;

use crate::apis::ApiSettings;
use crate::config::Settings;
use crate::delegation::{Api, Delegation};
use crate::metrics::Metrics;

/// A component that could not be built from valid settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("cannot set up token verification: {0}")]
    Verifier(#[from] jwt_verify::ConfigError),
    #[error("cannot set up the Auth0 exchange client: {0}")]
    Exchange(#[from] auth0_obo::ExchangeError),
    #[error("cannot set up the client of the API {api:?}: {source}")]
    Api {
        api: String,
        source: private_api_client::ConfigError,
    },
    #[error("cannot set up the shared token cache: {0}")]
    SharedCache(#[from] redis_token_store::ConfigError),
    /// `AUDIT_LOG` cannot be opened: the server refuses to start without the audit
    /// trail it was asked to keep.
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditOpenError),
}

impl Settings {
    /// The verifier of incoming tokens. It fetches no keys until first used.
    ///
    /// # Errors
    ///
    /// [`BuildError::Verifier`] if the HTTP client for the key set cannot be built.
    pub fn verifier(&self) -> Result<JwksVerifier, BuildError> {
        Ok(JwksVerifier::new(
            self.issuer.clone(),
            self.audience.clone(),
            self.verifier_options(),
        )?)
    }

    /// The client of the tenant's token endpoint, with the MCP server's credentials.
    ///
    /// # Errors
    ///
    /// [`BuildError::Exchange`] if the HTTP client cannot be built.
    pub fn exchange_client(&self) -> Result<ExchangeClient, BuildError> {
        Ok(ExchangeClient::builder(
            self.issuer.as_str(),
            self.client_id.clone(),
            self.client_auth.clone(),
        )
        .timeout(self.upstream_timeout)
        .build()?)
    }

    /// The fleet's shared token store, when `TOKEN_CACHE_REDIS_URL` is set. It
    /// connects on first use.
    ///
    /// # Errors
    ///
    /// [`BuildError::SharedCache`] if the store's settings are unusable.
    pub fn shared_store(&self) -> Result<Option<Arc<RedisTokenStore>>, BuildError> {
        let Some(shared) = &self.shared_cache else {
            return Ok(None);
        };
        let config = shared.store_config(&self.client_id, &self.client_key_material)?;
        Ok(Some(Arc::new(RedisTokenStore::new(config)?)))
    }

    /// The exchanged-token cache in front of [`exchange_client`](Self::exchange_client),
    /// with `shared` as its second tier.
    ///
    /// # Errors
    ///
    /// As [`exchange_client`](Self::exchange_client).
    pub fn token_cache(
        &self,
        shared: Option<&Arc<RedisTokenStore>>,
    ) -> Result<TokenCache, BuildError> {
        let mut options = CacheOptions::default();
        if let Some(store) = shared {
            options = options.shared_store(Arc::clone(store) as Arc<dyn SharedTokenStore>);
        }
        Ok(TokenCache::new(Arc::new(self.exchange_client()?), options))
    }

    /// The HTTP client of one downstream API.
    ///
    /// # Errors
    ///
    /// [`BuildError::Api`] if the client cannot be built.
    pub fn api_client(&self, api: &ApiSettings) -> Result<PrivateApiClient, BuildError> {
        PrivateApiClient::with_options(
            api.base_url().as_str(),
            ClientOptions::default()
                .with_timeout(self.upstream_timeout)
                .with_allow_plain_http(api.allow_plain_http()),
        )
        .map_err(|source| BuildError::Api {
            api: api.name().to_owned(),
            source,
        })
    }

    /// Every API's client and the cache they share.
    pub(crate) fn delegation(
        &self,
        tokens: TokenCache,
        metrics: Metrics,
    ) -> Result<Delegation, BuildError> {
        let apis = self
            .apis()
            .iter()
            .map(|settings| {
                Ok(Api {
                    client: self.api_client(settings)?,
                    settings: settings.clone(),
                    client_auth: self.client_auth.name(),
                })
            })
            .collect::<Result<Vec<_>, BuildError>>()?;
        let audit = crate::audit::Audit::open(self.audit_log.as_deref(), metrics.clone())?;
        Ok(Delegation::new(tokens, apis, metrics, self.pass_organization).with_audit(audit))
    }
}
