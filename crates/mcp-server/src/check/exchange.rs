//! The On-Behalf-Of exchange: the user's token for a token for one downstream API, as
//! the server makes it. It succeeds only when the MCP server's client may use the grant
//! and has a user-delegated client grant to that API, so a refusal here names the
//! tenant setting to change.
//!
//! The exchange goes through [`ExchangeClient`] directly, not the server's cache: a
//! check must reach Auth0, not a token cached by an earlier run.

use std::io::Write;

use auth0_obo::{ExchangeClient, ExchangeRequest, ExchangedToken};

use super::api::ApiToCheck;
use super::report::{Reporter, human_duration, names};
use crate::advice;
use crate::config::Settings;

/// The exchange client the server builds from its settings; a failed `exchange` line
/// when it cannot be built, which no API can then get past.
pub(super) fn client<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
) -> Option<ExchangeClient> {
    match ExchangeClient::builder(
        settings.issuer.as_str(),
        settings.client_id.clone(),
        settings.client_secret.clone(),
    )
    .auth_method(settings.client_auth_method)
    .timeout(settings.upstream_timeout)
    .build()
    {
        Ok(exchange) => Some(exchange),
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("cannot set up the exchange: {e}"),
                advice::exchange_hint(&e),
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
    api: &ApiToCheck,
) -> Option<ExchangedToken> {
    let request = match ExchangeRequest::new(token, &api.audience) {
        Ok(request) => request.with_scope(&api.scope),
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("the exchange request is invalid: {e}"),
                advice::exchange_hint(&e),
            );
            return None;
        }
    };
    let exchanged = match exchange.exchange(&request).await {
        Ok(exchanged) => exchanged,
        Err(e) => {
            r.fail(
                names::EXCHANGE,
                format!("Auth0 refused: {e}"),
                advice::exchange_hint(&e),
            );
            r.skip(
                names::API_CALL,
                "skipped: there is no exchanged token".to_owned(),
            );
            return None;
        }
    };
    let granted = exchanged.scope.clone().unwrap_or_else(|| api.scope.clone());
    r.pass(
        names::EXCHANGE,
        format!(
            "Auth0 issued a token for {:?} with scope {:?}, expiring in {}",
            api.audience,
            granted,
            human_duration(exchanged.expires_in.as_secs()),
        ),
    );
    if granted != api.scope {
        r.warn(
            names::EXCHANGE,
            format!(
                "the granted scope {granted:?} differs from {} {:?}",
                api.variables.scope, api.scope
            ),
            "the exchanged token's scope holds only what the client grant allows and the user's roles carry: give the user a role carrying these scopes on the private API, and check the client grant's scopes".to_owned(),
        );
    }
    Some(exchanged)
}
