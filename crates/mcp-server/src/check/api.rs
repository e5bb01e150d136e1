//! The downstream APIs: that each one answers at its base URL, and, with an exchanged
//! token, that it accepts the call the tools make.
//!
//! Every check here takes one configured API ([`ApiSettings`]): the check runs them
//! for each API the server would call.

use std::io::Write;

use auth0_obo::ExchangedToken;
use private_api_client::ApiError;
use serde::de::IgnoredAny;

use super::http::{describe_reqwest, redacted_url};
use super::report::{Reporter, names};
use crate::advice;
use crate::apis::{ApiSettings, DEFAULT_API, Setting, variable};
use crate::config::Settings;

/// Whether `api` answers at its base URL at all; any HTTP answer counts, since a real
/// call needs an exchanged token.
pub(super) async fn check_reachable<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    api: &ApiSettings,
    with_token: bool,
) {
    let url = redacted_url(api.base_url());
    match http.get(api.base_url().clone()).send().await {
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
            if api.name() == DEFAULT_API {
                "check API_BASE_URL and that the private API is running (cargo run -p private-api)"
                    .to_owned()
            } else {
                format!(
                    "check {} and that the API is running",
                    variable(api.name(), Setting::BaseUrl)
                )
            },
        ),
    }
}

/// Calls `api` with the token exchanged for it: the quickstart's `GET
/// /api/private-scope`, or, for an API of your own, `GET` of its base URL, where any
/// answer but 401 or 403 shows the token accepted.
pub(super) async fn check_api_call<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    api: &ApiSettings,
    exchanged: &ExchangedToken,
) {
    let client = match settings.api_client(api) {
        Ok(client) => client,
        Err(e) => {
            r.fail(
                names::API_CALL,
                format!("{e}"),
                format!("check {}", variable(api.name(), Setting::BaseUrl)),
            );
            return;
        }
    };
    let bearer = exchanged.access_token.secret();
    if api.name() == DEFAULT_API {
        match client.private_scope(bearer).await {
            Ok(answer) => r.pass(
                names::API_CALL,
                format!(
                    "{} answered: sub={:?} scopes=[{}] actor={:?}",
                    redacted_url(client.endpoint()),
                    answer.sub,
                    answer.scopes.join(" "),
                    answer.actor.as_ref().map(|a| a.sub.as_str()).unwrap_or("-"),
                ),
            ),
            Err(e) => r.fail(
                names::API_CALL,
                format!("{} refused: {e}", redacted_url(client.endpoint())),
                advice::explain_api(&e, api.name()),
            ),
        }
        return;
    }
    let url = redacted_url(api.base_url());
    match client.get_json::<IgnoredAny>("", bearer).await {
        Ok(_) => r.pass(
            names::API_CALL,
            format!("{url} accepted the exchanged token (HTTP 2xx)"),
        ),
        // Only the token is being checked here: the tools call paths of their own.
        Err(ApiError::Status { status, .. }) if status != 429 && status < 500 => r.pass(
            names::API_CALL,
            format!(
                "{url} answered HTTP {status} to the exchanged token, not 401 or 403: it accepts it"
            ),
        ),
        Err(ApiError::InvalidResponse(_)) => r.pass(
            names::API_CALL,
            format!("{url} accepted the exchanged token (HTTP 2xx, not JSON)"),
        ),
        Err(e) => r.fail(
            names::API_CALL,
            format!("{url} refused: {e}"),
            advice::explain_api(&e, api.name()),
        ),
    }
}
