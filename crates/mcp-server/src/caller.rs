//! What a tool gets to act for its caller: [`Caller`], an rmcp extractor.
//!
//! ```ignore
//! #[tool(description = "List the caller's orders.", meta = requires_scope("tool:orders"))]
//! async fn list_orders(&self, caller: Caller) -> Result<String, DownstreamError> {
//!     let orders: serde_json::Value = caller.client("orders").await?.get_json("orders").await?;
//!     Ok(format!("{} has {} orders", caller.principal().sub, orders.as_array().map_or(0, Vec::len)))
//! }
//! ```
//!
//! [`Caller::token`] gives a token for any configured API, issued to the caller by
//! On-Behalf-Of exchange; [`Caller::client`] gives a client for the API with that
//! token attached. Both use the exchanged-token cache (one exchange per user, API and
//! token lifetime), and both keep the rule that a 401 from the API drops the cached
//! token and tries once more with a fresh exchange.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use auth0_obo::{CachedToken, ExchangeRequest};
use jwt_verify::Principal;
use private_api_client::{Answer, ApiError};
use reqwest::Method;
use rmcp::handler::server::common::{AsRequestContext, FromContextPart};
use rmcp::model::{ContentBlock, IntoContents};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::audit::{DownstreamCall, millis};
use crate::delegation::{Api, Delegation, DownstreamError};
use crate::telemetry::RequestLog;

/// The verified caller of a tool call, and the way to act on their behalf.
///
/// Take it as an argument of a `#[tool]` function served by [`crate::Server`]; it is
/// there for every call that passed authentication and the tool's scope.
#[derive(Debug, Clone)]
pub struct Caller {
    principal: Arc<Principal>,
    delegation: Arc<Delegation>,
    record: Arc<CallRecord>,
}

/// How the delegated calls of one tool call went, for its log line and metrics.
#[derive(Debug, Default)]
pub(crate) struct CallRecord {
    failure: Mutex<Option<(&'static str, &'static str)>>,
    log: Option<RequestLog>,
    /// The downstream calls, for the audit event.
    downstream: Mutex<Vec<DownstreamCall>>,
}

impl CallRecord {
    pub(crate) fn new(log: Option<RequestLog>) -> Self {
        Self {
            failure: Mutex::default(),
            log,
            downstream: Mutex::default(),
        }
    }

    /// The downstream calls so far, in the order they started.
    pub(crate) fn downstream(&self) -> Vec<DownstreamCall> {
        self.downstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A new downstream call; its index.
    fn call_started(&self, call: DownstreamCall) -> usize {
        let mut calls = self
            .downstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        calls.push(call);
        calls.len() - 1
    }

    /// More of downstream call `index`: a new token source (or error kind), the API's
    /// status, and the time it took.
    fn call_went_on(
        &self,
        index: usize,
        exchange: Option<&'static str>,
        status: Option<Option<u16>>,
        elapsed: Duration,
    ) {
        let mut calls = self
            .downstream
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(call) = calls.get_mut(index) {
            if let Some(exchange) = exchange {
                call.exchange = exchange;
            }
            if let Some(status) = status {
                call.status = status;
            }
            call.duration_ms += millis(elapsed);
        }
    }

    /// The last delegated call's failure: its class (`exchange_error`, `api_error`,
    /// `config_error`) and its kind.
    pub(crate) fn failure(&self) -> Option<(&'static str, &'static str)> {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn failed(&self, error: &DownstreamError) {
        *self.failure.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((error.class(), error.kind()));
    }

    fn token_from_cache(&self, from_cache: bool) {
        if let Some(log) = &self.log {
            log.0.record("token_from_cache", from_cache);
        }
    }
}

impl Caller {
    pub(crate) fn new(
        principal: Arc<Principal>,
        delegation: Arc<Delegation>,
        record: Arc<CallRecord>,
    ) -> Self {
        Self {
            principal,
            delegation,
            record,
        }
    }

    /// Who is calling: `sub`, client id, scopes, the delegation chain...
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// A token for the API named `api`, issued to the caller (On-Behalf-Of), from the
    /// cache or a fresh exchange. If the API answers it with 401, call
    /// [`ApiToken::refresh`] once and retry with the token it gives.
    ///
    /// # Errors
    ///
    /// [`DownstreamError::UnknownApi`] for an API the configuration does not name,
    /// [`DownstreamError::NoUser`] for a machine caller (a client-credentials token,
    /// [`Principal::is_machine`]), without contacting the tenant,
    /// [`DownstreamError::Exchange`] when Auth0 does not exchange the token.
    pub async fn token(&self, api: &str) -> Result<ApiToken, DownstreamError> {
        let started = Instant::now();
        let found = self.delegation.api(api).map(Arc::clone);
        let audience = found.as_ref().ok().map(|api| api.settings.audience.clone());
        let result = match found {
            Ok(api) => self.exchange(&api).await.map(|exchanged| (exchanged, api)),
            Err(error) => Err(error),
        };
        let exchange = match &result {
            Ok(((token, _), _)) => token.source().as_str(),
            Err(error) => {
                self.record.failed(error);
                error.kind()
            }
        };
        let audit_index = self.record.call_started(DownstreamCall {
            api: api.to_owned(),
            audience,
            exchange,
            status: None,
            duration_ms: millis(started.elapsed()),
        });
        result.map(|((token, request), api)| ApiToken {
            token,
            request,
            api,
            caller: self.clone(),
            audit_index,
        })
    }

    async fn exchange(&self, api: &Api) -> Result<(CachedToken, ExchangeRequest), DownstreamError> {
        if self.principal.is_machine() {
            return Err(DownstreamError::NoUser {
                client_id: self.principal.client_id.clone(),
            });
        }
        let request = self.delegation.request(&self.principal, api)?;
        let token = self.delegation.token(api, &request).await?;
        self.record.token_from_cache(token.from_cache());
        Ok((token, request))
    }

    /// A client for the API named `api`, with a token for the caller attached (see
    /// [`token`](Self::token)). Its calls retry once with a fresh exchange when the API
    /// answers 401.
    ///
    /// # Errors
    ///
    /// As [`token`](Self::token).
    pub async fn client(&self, api: &str) -> Result<ApiClient, DownstreamError> {
        let token = self.token(api).await?;
        Ok(ApiClient {
            token: tokio::sync::Mutex::new(token),
        })
    }
}

/// rmcp hands a [`Caller`] to any tool that names it as an argument.
impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, rmcp::ErrorData> {
        context
            .as_request_context()
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| {
                rmcp::ErrorData::internal_error(
                    "no caller for this tool call: serve the tools with mcp_server::Server, which authenticates every call",
                    None,
                )
            })
    }
}

/// A token for one API, issued to the caller. `Debug` does not show it.
pub struct ApiToken {
    token: CachedToken,
    request: ExchangeRequest,
    api: Arc<Api>,
    caller: Caller,
    /// Its entry in the call's downstream calls (audit).
    audit_index: usize,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("api", &self.api.settings.name)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl ApiToken {
    /// The access token, to send as `Authorization: Bearer …` to this API only.
    pub fn secret(&self) -> &str {
        self.token.access_token_secret()
    }

    /// Whether it came from the cache rather than a fresh exchange.
    pub fn from_cache(&self) -> bool {
        self.token.from_cache()
    }

    /// The API answered this token with 401: drop it from the cache and exchange
    /// afresh. Call it once per call; a second 401 is the API's answer, not a stale
    /// token.
    ///
    /// # Errors
    ///
    /// [`DownstreamError::Exchange`] when Auth0 does not exchange the token.
    pub async fn refresh(self) -> Result<ApiToken, DownstreamError> {
        self.refreshed().await
    }

    async fn refreshed(&self) -> Result<ApiToken, DownstreamError> {
        let started = Instant::now();
        let record = &self.caller.record;
        let fresh = self
            .caller
            .delegation
            .refresh(&self.api, &self.request)
            .await
            .inspect_err(|e| {
                record.failed(e);
                record.call_went_on(self.audit_index, Some(e.kind()), None, started.elapsed());
            })?;
        record.token_from_cache(false);
        record.call_went_on(
            self.audit_index,
            Some(fresh.source().as_str()),
            None,
            started.elapsed(),
        );
        Ok(ApiToken {
            token: fresh,
            request: self.request.clone(),
            api: Arc::clone(&self.api),
            caller: self.caller.clone(),
            audit_index: self.audit_index,
        })
    }
}

/// A client for one API, with the caller's token attached. Each call that the API
/// answers with 401 is made once more with a freshly exchanged token.
#[derive(Debug)]
pub struct ApiClient {
    token: tokio::sync::Mutex<ApiToken>,
}

impl ApiClient {
    /// `GET {base}/{path}`, and its JSON answer. `path` is relative to the API's base
    /// URL (`API_{NAME}_BASE_URL`), and may carry a query: `orders?status=open`.
    ///
    /// # Errors
    ///
    /// [`DownstreamError::Api`] for any answer but a 2xx with JSON that reads as `T`
    /// (after one retry on 401), [`DownstreamError::Exchange`] if the retry's exchange
    /// fails.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, DownstreamError> {
        self.call(|api, bearer| async move {
            api.client
                .get_answer(path, bearer.access_token_secret())
                .await
        })
        .await
    }

    /// `method {base}/{path}` with `body` as JSON, and its JSON answer; see
    /// [`get_json`](Self::get_json).
    ///
    /// # Errors
    ///
    /// As [`get_json`](Self::get_json).
    pub async fn send_json<B, T>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T, DownstreamError>
    where
        B: Serialize + ?Sized + Sync,
        T: DeserializeOwned,
    {
        self.call(|api, bearer| {
            let method = method.clone();
            async move {
                api.client
                    .send_answer(method, path, body, bearer.access_token_secret())
                    .await
            }
        })
        .await
    }

    /// One call with the current token, and once more with a fresh one on 401. The
    /// lock is held only to read or replace the token, so calls of one client may run
    /// at once; of several that meet the same 401, the first refreshes the token and
    /// the others use what it got.
    async fn call<T, F, Fut>(&self, call: F) -> Result<T, DownstreamError>
    where
        F: Fn(Arc<Api>, CachedToken) -> Fut,
        Fut: Future<Output = Result<Answer<T>, ApiError>>,
    {
        let (api, caller, sent, index) = {
            let current = self.token.lock().await;
            (
                Arc::clone(&current.api),
                current.caller.clone(),
                current.token.clone(),
                current.audit_index,
            )
        };
        let delegation = &caller.delegation;
        let record = &caller.record;
        // The API's status for the audit event.
        let answered = |result: &Result<Answer<T>, ApiError>, started: Instant| {
            let status = match result {
                Ok(answer) => Some(answer.status),
                Err(error) => error.status(),
            };
            record.call_went_on(index, None, Some(status), started.elapsed());
        };
        let started = Instant::now();
        let mut result = delegation
            .counted(&api, call(Arc::clone(&api), sent.clone()))
            .await;
        answered(&result, started);
        if matches!(&result, Err(error) if error.is_unauthorized()) {
            let fresh = {
                let mut current = self.token.lock().await;
                if current.token.access_token_secret() == sent.access_token_secret() {
                    *current = current.refreshed().await?;
                }
                current.token.clone()
            };
            let started = Instant::now();
            result = delegation
                .counted(&api, call(Arc::clone(&api), fresh))
                .await;
            answered(&result, started);
        }
        result.map(|answer| answer.body).map_err(|error| {
            let error = api.api_error(error);
            caller.record.failed(&error);
            error
        })
    }
}

/// A failed delegated call as a tool error (`isError: true`) that says what failed
/// and what to fix, never a token: a tool can return `Result<_, DownstreamError>` and
/// use `?`.
impl IntoContents for DownstreamError {
    fn into_contents(self) -> Vec<ContentBlock> {
        vec![ContentBlock::text(self.advice())]
    }
}
