//! The On-Behalf-Of exchange: the user's token for a token for one downstream API, as
//! the server makes it. It succeeds only when the MCP server's client may use the grant
//! and has a user-delegated client grant to that API, so a refusal here names the
//! tenant setting to change.
//!
//! The exchange goes through the server's own [`ExchangeClient`]
//! ([`Settings::exchange_client`]), not its cache: a check must reach Auth0, not a
//! token cached by an earlier run.

use std::io::Write;

use auth0_obo::{ExchangeClient, ExchangeRequest, ExchangedToken};

use super::report::{Reporter, human_duration, names};
use crate::advice;
use crate::apis::{ApiSettings, Setting, variable};
use crate::config::Settings;

/// The exchange client the server builds from its settings; a failed `exchange` line
/// when it cannot be built, which no API can then get past.
pub(super) fn client<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
) -> Option<ExchangeClient> {
    match settings.exchange_client() {
        Ok(exchange) => Some(exchange),
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("{e}"),
                "check AUTH0_DOMAIN, MCP_AUTH0_CLIENT_ID and MCP_AUTH0_CLIENT_SECRET (or MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE)".to_owned(),
            );
            None
        }
    }
}

/// Exchanges `token` for a token for `api` with its scope, and says whether Auth0
/// granted less than was asked. Returns the exchanged token for the API call.
pub(super) async fn check_exchange<W: Write>(
    r: &mut Reporter<'_, W>,
    exchange: &ExchangeClient,
    token: &str,
    organization: Option<&str>,
    api: &ApiSettings,
) -> Option<ExchangedToken> {
    let request = ExchangeRequest::new(token, api.audience()).and_then(|request| {
        let request = request.with_scope(api.scope());
        match organization {
            Some(organization) => request.with_organization(organization),
            None => Ok(request),
        }
    });
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("the exchange request is invalid: {e}"),
                advice::exchange_hint(&e, api, exchange.auth_method().name()),
            );
            return None;
        }
    };
    let exchanged = match exchange.exchange(&request).await {
        Ok(exchanged) => exchanged,
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!(
                    "Auth0 refused ({} client authentication): {e}",
                    exchange.auth_method().name()
                ),
                advice::exchange_hint(&e, api, exchange.auth_method().name()),
            );
            r.skip(
                names::API_CALL,
                "skipped: there is no exchanged token".to_owned(),
            );
            return None;
        }
    };
    let granted = exchanged
        .scope
        .clone()
        .unwrap_or_else(|| api.scope().to_owned());
    r.pass(
        names::EXCHANGE,
        format!(
            "Auth0 accepted the client ({}) and issued a token for {:?} with scope {:?}, expiring in {}",
            exchange.auth_method().name(),
            api.audience(),
            granted,
            human_duration(exchanged.expires_in.as_secs()),
        ),
    );
    if granted != api.scope() {
        r.warn(
            names::EXCHANGE,
            format!(
                "the granted scope {granted:?} differs from {} {:?}",
                variable(api.name(), Setting::Scope),
                api.scope()
            ),
            "the exchanged token's scope holds only what the client grant allows and the user's roles carry: give the user a role carrying these scopes on the API, and check the client grant's scopes".to_owned(),
        );
    }
    Some(exchanged)
}
