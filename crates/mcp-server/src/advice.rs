//! Turning failures of the delegated call into messages a person can act on.
//!
//! Auth0's error codes say what went wrong in OAuth terms; the person reading a tool
//! error (or the output of `mcp-server check`) needs the tenant setting behind it.
//! The mapping follows Auth0's documentation of On-Behalf-Of token exchange.

use auth0_obo::ExchangeError;
use private_api_client::ApiError;

use crate::delegation::DelegationError;

/// What to tell the user about a failed delegated call. Never contains a token.
pub fn explain(error: &DelegationError) -> String {
    match error {
        DelegationError::Exchange(e) => explain_exchange(e),
        DelegationError::Api(e) => explain_api(e),
    }
}

/// Auth0 refused or failed the exchange: which error, and the likely setting to check.
pub fn explain_exchange(error: &ExchangeError) -> String {
    let hint = exchange_hint(error);
    format!("Auth0 did not exchange your token for the private API: {error}. {hint}")
}

/// The tenant setting or operational cause most likely behind an exchange error.
pub fn exchange_hint(error: &ExchangeError) -> String {
    match error {
        ExchangeError::InvalidRequest { .. } => "Check that your MCP client asked for a token for this server's API (AUTH0_AUDIENCE), that it has not expired, and that its delegation chain is not deeper than 4.".to_owned(),
        ExchangeError::InvalidClient { .. } => "Check MCP_AUTH0_CLIENT_ID and MCP_AUTH0_CLIENT_SECRET: they must be the credentials of the MCP server's Custom API client (and MCP_AUTH0_CLIENT_AUTH_METHOD its token endpoint authentication method).".to_owned(),
        ExchangeError::UnauthorizedClient { .. } => "The MCP server's client must be a Custom API client linked to the MCP server's API, with On-Behalf-Of token exchange allowed (token_exchange.allow_any_profile_of_type = [\"on_behalf_of_token_exchange\"]).".to_owned(),
        ExchangeError::AccessDenied { .. } => "Create a user-delegated client grant (subject_type \"user\") from the MCP server's client to the private API with the scope in MCP_AUTH0_EXCHANGE_SCOPE, and check that the user's role grants that scope.".to_owned(),
        ExchangeError::InvalidScope { .. } => "Check MCP_AUTH0_EXCHANGE_SCOPE: each scope must be defined on the private API and included in the client grant.".to_owned(),
        ExchangeError::InvalidTarget { .. } => "Check API_AUTH0_AUDIENCE: it must be the identifier of the private API in this tenant.".to_owned(),
        ExchangeError::UnsupportedGrantType { .. } => "The tenant refused the token-exchange grant for this client: the MCP server's client must be a Custom API client with On-Behalf-Of allowed (token_exchange.allow_any_profile_of_type = [\"on_behalf_of_token_exchange\"]), and AUTH0_DOMAIN must be an Auth0 tenant.".to_owned(),
        ExchangeError::InvalidGrant { .. } => "Sign in again: the token you sent can no longer be exchanged.".to_owned(),
        ExchangeError::RateLimited { retry_after, .. } => match retry_after {
            Some(after) => format!("Auth0's rate limit for token exchange was reached; retry after {} s.", after.as_secs().max(1)),
            None => "Auth0's rate limit for token exchange was reached; retry in a few seconds.".to_owned(),
        },
        ExchangeError::Timeout { .. } | ExchangeError::Transport { .. } | ExchangeError::Server { .. } => {
            "Auth0 could not be reached or failed; retry shortly, and check AUTH0_DOMAIN and the network if it persists.".to_owned()
        }
        _ => "Check the tenant's On-Behalf-Of settings (see docs/quickstart.md, \"When it fails\").".to_owned(),
    }
}

fn explain_api(error: &ApiError) -> String {
    match error {
        ApiError::Unauthorized { .. } => "The private API refused the exchanged token even after a fresh exchange. Check that API_AUTH0_AUDIENCE matches the private API's configured audience and that both use the same tenant.".to_owned(),
        ApiError::InsufficientScope { scope, .. } => format!(
            "The private API needs the scope {} which the exchanged token lacks. Check MCP_AUTH0_EXCHANGE_SCOPE, the client grant's scopes, and the user's roles.",
            scope.as_deref().unwrap_or("(not stated)")
        ),
        ApiError::Timeout => "The private API did not answer in time; retry shortly.".to_owned(),
        ApiError::Transport { .. } => "The private API is unreachable: check API_BASE_URL and that the API is running.".to_owned(),
        other => format!("The private API call failed: {other}."),
    }
}
