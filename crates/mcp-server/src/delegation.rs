//! The On-Behalf-Of hop for every configured API: exchange the caller's token for one
//! issued for the API, then call the API with the new token only.
//!
//! The caller's token goes to exactly one place, Auth0's token endpoint, as
//! `subject_token` (invariant 1). A 401 from an API most often means the cached token
//! was revoked or its signing key rotated, so the entry is dropped and the call made
//! once more with a fresh exchange; a second 401 is reported, never looped on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use auth0_obo::{CachedToken, ExchangeError, ExchangeRequest, TokenCache};
use jwt_verify::Principal;
use private_api_client::{ApiError, PrivateApiClient};

use crate::apis::{ApiSettings, Setting, variable};
use crate::audit::Audit;
use crate::metrics::Metrics;

/// One downstream API: its settings and its HTTP client (one connection pool per API).
#[derive(Debug)]
pub(crate) struct Api {
    pub(crate) settings: ApiSettings,
    pub(crate) client: PrivateApiClient,
    /// How the MCP server authenticates to the tenant (`ClientAuthMethod::name`), for
    /// the advice on an `invalid_client`.
    pub(crate) client_auth: &'static str,
}

impl Api {
    pub(crate) fn exchange_error(&self, error: ExchangeError) -> DownstreamError {
        DownstreamError::Exchange {
            api: Box::new(self.settings.clone()),
            error,
            client_auth: self.client_auth,
        }
    }

    pub(crate) fn api_error(&self, error: ApiError) -> DownstreamError {
        DownstreamError::Api {
            api: Box::new(self.settings.clone()),
            error,
        }
    }
}

/// Every configured API, and the exchanged-token cache they share.
#[derive(Debug)]
pub(crate) struct Delegation {
    tokens: TokenCache,
    apis: HashMap<String, Arc<Api>>,
    metrics: Metrics,
    /// Whether an exchange passes the caller's `org_id` on as `organization`.
    pass_organization: bool,
    audit: Audit,
}

/// Why an API could not be called on the user's behalf. Its `Display` is for logs;
/// what a user reads (the tool error) is [`DownstreamError::advice`], which names the
/// setting to fix. Neither ever holds a token.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum DownstreamError {
    /// A tool asked for an API the configuration does not name.
    #[error("no API named {name:?} is configured")]
    UnknownApi { name: String },
    /// Auth0 did not exchange the caller's token for the API.
    #[error("the token exchange for the API {:?} failed: {error}", api.name())]
    Exchange {
        api: Box<ApiSettings>,
        error: ExchangeError,
        /// The MCP server's client authentication method (`private_key_jwt`, …).
        client_auth: &'static str,
    },
    /// The API refused or failed the call.
    #[error("the call of the API {:?} failed: {error}", api.name())]
    Api {
        api: Box<ApiSettings>,
        error: ApiError,
    },
    /// The caller is an application with a client-credentials token
    /// ([`Principal::is_machine`]): there is no user to act for, so no exchange is
    /// attempted.
    #[error("the caller is the application {client_id:?}, with no user to act for")]
    NoUser {
        /// The application's client id.
        client_id: String,
    },
}

impl DownstreamError {
    /// The failure's low-cardinality name, from the crate that failed.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::UnknownApi { .. } => "unknown_api",
            Self::NoUser { .. } => "no_user",
            Self::Exchange { error, .. } => error.kind(),
            Self::Api { error, .. } => error.kind(),
        }
    }

    /// The class of failure, as the `tool_calls_total` metric's `outcome`.
    pub fn class(&self) -> &'static str {
        match self {
            Self::UnknownApi { .. } => "config_error",
            Self::NoUser { .. } => "no_user",
            Self::Exchange { .. } => "exchange_error",
            Self::Api { .. } => "api_error",
        }
    }

    /// The exchange's error, if the exchange failed.
    pub fn exchange_error(&self) -> Option<&ExchangeError> {
        match self {
            Self::Exchange { error, .. } => Some(error),
            _ => None,
        }
    }

    /// What to tell the person calling the tool: what failed, and the tenant setting
    /// or variable to check. Never contains a token.
    pub fn advice(&self) -> String {
        match self {
            Self::UnknownApi { name } => format!(
                "This server has no API named {name:?}: set {} (and its _BASE_URL and _SCOPE) to configure it.",
                variable(name, Setting::Audience)
            ),
            Self::Exchange {
                api,
                error,
                client_auth,
            } => crate::advice::explain_exchange(error, api, client_auth),
            Self::Api { api, error } => crate::advice::explain_api(error, api.name()),
            Self::NoUser { client_id } => format!(
                "This tool acts on a user's behalf, and the caller is the application {client_id:?} with a client-credentials token, which has no user to act for: sign in as a user to call it."
            ),
        }
    }

    /// The API's error, if the call failed.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl Delegation {
    pub(crate) fn new(
        tokens: TokenCache,
        apis: Vec<Api>,
        metrics: Metrics,
        pass_organization: bool,
    ) -> Self {
        Self {
            pass_organization,
            tokens,
            apis: apis
                .into_iter()
                .map(|api| (api.settings.name.clone(), Arc::new(api)))
                .collect(),
            audit: Audit::to_log(metrics.clone()),
            metrics,
        }
    }

    /// Writes the audit events to `audit` instead of the logs.
    pub(crate) fn with_audit(mut self, audit: Audit) -> Self {
        self.audit = audit;
        self
    }

    /// The audit trail.
    pub(crate) fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Where calls are counted.
    pub(crate) fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The exchanged-token cache, for its counters.
    pub(crate) fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    pub(crate) fn api(&self, name: &str) -> Result<&Arc<Api>, DownstreamError> {
        self.apis
            .get(name)
            .ok_or_else(|| DownstreamError::UnknownApi {
                name: name.to_owned(),
            })
    }

    /// The exchange request for `principal`'s token and `api`, in the organization of
    /// the token (its `org_id`) unless that is turned off.
    pub(crate) fn request(
        &self,
        principal: &Principal,
        api: &Api,
    ) -> Result<ExchangeRequest, DownstreamError> {
        let exchange = |error| api.exchange_error(error);
        let mut request = ExchangeRequest::new(principal.token().secret(), &api.settings.audience)
            .map_err(exchange)?
            .with_scope(&api.settings.scope);
        if let Some(expires_at) =
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(principal.expires_at))
        {
            request = request.with_subject_expires_at(expires_at);
        }
        if let Some(org_id) = principal
            .org_id
            .as_deref()
            .filter(|_| self.pass_organization)
        {
            request = request.with_organization(org_id).map_err(exchange)?;
        }
        Ok(request)
    }

    /// A token for `request`, from the cache or a fresh exchange.
    pub(crate) async fn token(
        &self,
        api: &Api,
        request: &ExchangeRequest,
    ) -> Result<CachedToken, DownstreamError> {
        self.tokens
            .get_token(request)
            .await
            .map_err(|error| api.exchange_error(error))
    }

    /// A fresh token for `request`, after the API refused the cached one.
    pub(crate) async fn refresh(
        &self,
        api: &Api,
        request: &ExchangeRequest,
    ) -> Result<CachedToken, DownstreamError> {
        tracing::info!(api = %api.settings.name, "the API refused the exchanged token; exchanging afresh once");
        self.tokens.invalidate(request).await;
        self.token(api, request).await
    }

    /// One call of an API, counted by API and status, with its latency.
    pub(crate) async fn counted<T>(
        &self,
        api: &Api,
        call: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let result = call.await;
        let status = match &result {
            Ok(_) => "2xx",
            Err(error) => error.status_label(),
        };
        self.metrics
            .api_call(&api.settings.name, status, started.elapsed());
        result
    }
}
