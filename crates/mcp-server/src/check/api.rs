//! The downstream APIs: that each one answers at its base URL, and, with an exchanged
//! token, that it accepts the call the tools make.
//!
//! Every check here takes one [`ApiToCheck`], so checking every configured API is a
//! loop over them; today the server has one, the quickstart's private API.

use std::io::Write;

use auth0_obo::ExchangedToken;
use private_api_client::{ApiError, ClientOptions, PrivateApiClient};
use url::Url;

use super::http::{describe_reqwest, redacted_url};
use super::report::{Reporter, names};
use crate::advice;
use crate::config::Settings;
use crate::delegation::DelegationError;

/// One downstream API, as the server exchanges tokens for it and calls it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToCheck {
    /// What the report calls it; with several APIs, the heading over its lines.
    pub name: String,
    /// Its identifier at the tenant: the exchange's `audience`.
    pub audience: String,
    /// The scope to request for it, space-separated.
    pub scope: String,
    /// Where it is served.
    pub base_url: Url,
    /// The settings the three values come from, so that a fix names what to change.
    pub variables: ApiVariables,
}

/// The names of the settings that configure one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVariables {
    pub audience: String,
    pub scope: String,
    pub base_url: String,
}

impl ApiToCheck {
    /// The name of the quickstart's API.
    pub const DEFAULT_NAME: &'static str = "default";

    /// The quickstart's API: `API_AUTH0_AUDIENCE`, `MCP_AUTH0_EXCHANGE_SCOPE` and
    /// `API_BASE_URL`.
    pub fn quickstart(settings: &Settings) -> Self {
        Self {
            name: Self::DEFAULT_NAME.to_owned(),
            audience: settings.api_audience.clone(),
            scope: settings.exchange_scope.clone(),
            base_url: settings.api_base_url.clone(),
            variables: ApiVariables {
                audience: "API_AUTH0_AUDIENCE".to_owned(),
                scope: "MCP_AUTH0_EXCHANGE_SCOPE".to_owned(),
                base_url: "API_BASE_URL".to_owned(),
            },
        }
    }
}

/// Whether `api` answers at its base URL at all; any HTTP answer counts, since a real
/// call needs an exchanged token.
pub(super) async fn check_reachable<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    api: &ApiToCheck,
    with_token: bool,
) {
    let url = redacted_url(&api.base_url);
    match http.get(api.base_url.clone()).send().await {
        Ok(response) => r.pass(
            names::PRIVATE_API,
            format!(
                "{url} answered HTTP {} (any answer counts: it is reachable{})",
                response.status().as_u16(),
                if with_token {
                    "; the real call follows"
                } else {
                    "; a real call needs --token"
                }
            ),
        ),
        Err(e) => r.fail(
            names::PRIVATE_API,
            format!("{url} did not answer: {}", describe_reqwest(&e)),
            format!(
                "check {} and that the private API is running (cargo run -p private-api)",
                api.variables.base_url
            ),
        ),
    }
}

/// Calls `api` with the token exchanged for it, as the tools do.
pub(super) async fn check_api_call<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    api: &ApiToCheck,
    exchanged: &ExchangedToken,
) {
    let client = match PrivateApiClient::with_options(
        api.base_url.as_str(),
        ClientOptions {
            timeout: settings.upstream_timeout,
            allow_plain_http: settings.api_allow_plain_http,
            ..ClientOptions::default()
        },
    ) {
        Ok(client) => client,
        Err(e) => {
            r.fail(
                names::API_CALL,
                format!("cannot set up the private API client: {e}"),
                format!("check {}", api.variables.base_url),
            );
            return;
        }
    };
    match client.private_scope(exchanged.access_token.secret()).await {
        Ok(answer) => r.pass(
            names::API_CALL,
            format!(
                "{} answered: sub={:?} scopes=[{}] actor={:?}",
                client.endpoint(),
                answer.sub,
                answer.scopes.join(" "),
                answer.actor.as_ref().map(|a| a.sub.as_str()).unwrap_or("-"),
            ),
        ),
        Err(e) => {
            let fix = api_fix(&e);
            r.fail(
                names::API_CALL,
                format!("{} refused: {e}", client.endpoint()),
                fix,
            );
        }
    }
}

fn api_fix(error: &ApiError) -> String {
    // The tool's advice is written for its user; the same text is the fix here.
    advice::explain(&DelegationError::Api(error.clone()))
}
