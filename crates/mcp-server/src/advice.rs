//! Turning failures of a delegated call into messages a person can act on.
//!
//! Auth0's error codes say what went wrong in OAuth terms; the person reading a tool
//! error (or the output of `mcp-server check`) needs the tenant setting or the variable
//! behind it, for the API that failed. The mapping follows Auth0's documentation of
//! On-Behalf-Of token exchange.

use auth0_obo::ExchangeError;
use private_api_client::ApiError;

use crate::apis::{ApiSettings, DEFAULT_API, Setting, variable};

/// "the private API" for the quickstart's, "the API `orders`" for a named one.
fn the_api(api: &str) -> String {
    if api == DEFAULT_API {
        "the private API".to_owned()
    } else {
        format!("the API `{api}`")
    }
}

/// Auth0 refused or failed the exchange for `api`: which error, and the likely
/// setting to check.
pub(crate) fn explain_exchange(
    error: &ExchangeError,
    api: &ApiSettings,
    client_auth: &str,
) -> String {
    let hint = exchange_hint(error, api, client_auth);
    format!(
        "Auth0 did not exchange your token for {}: {error}. {hint}",
        the_api(api.name())
    )
}

/// The tenant setting or operational cause most likely behind an exchange error.
/// `client_auth` is how the MCP server authenticated (`ClientAuthMethod::name`).
pub(crate) fn exchange_hint(
    error: &ExchangeError,
    settings: &ApiSettings,
    client_auth: &str,
) -> String {
    let api = settings.name();
    let scope_var = variable(api, Setting::Scope);
    let audience_var = variable(api, Setting::Audience);
    let audience = settings.audience();
    let scope = settings.scope();
    match error {
        ExchangeError::InvalidRequest { .. } => "Check that your MCP client asked for a token for this server's API (AUTH0_AUDIENCE), that it has not expired, and that its delegation chain is not deeper than 4.".to_owned(),
        ExchangeError::InvalidClient(details) if client_auth == "private_key_jwt" => {
            assertion_hint(details.description.as_deref().unwrap_or(""))
        }
        ExchangeError::InvalidClient { .. } => "Check MCP_AUTH0_CLIENT_ID and MCP_AUTH0_CLIENT_SECRET: they must be the credentials of the MCP server's Custom API client (and MCP_AUTH0_CLIENT_AUTH_METHOD its token endpoint authentication method). If the application authenticates with Private Key JWT, set MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE instead of MCP_AUTH0_CLIENT_SECRET.".to_owned(),
        ExchangeError::UnauthorizedClient { .. } => "The MCP server's client must be a Custom API client linked to the MCP server's API, with On-Behalf-Of token exchange allowed (token_exchange.allow_any_profile_of_type = [\"on_behalf_of_token_exchange\"]).".to_owned(),
        ExchangeError::AccessDenied(details)
            if details
                .description
                .as_deref()
                .is_some_and(|d| d.to_ascii_lowercase().contains("organization")) =>
        {
            "The token names an Auth0 organization (org_id) that does not exist or that the user is not a member of: add the user to it (Organizations > Members), or sign in without it. MCP_AUTH0_EXCHANGE_ORGANIZATION=none stops passing org_id on.".to_owned()
        }
        ExchangeError::AccessDenied { .. } => format!("Create a user-delegated client grant (subject_type \"user\") from the MCP server's client to {} ({audience}) with the scope in {scope_var} ({scope}), and check that the user's role grants that scope.", the_api(api)),
        ExchangeError::InvalidScope { .. } => format!("Check {scope_var}: each scope must be defined on {} and included in the client grant.", the_api(api)),
        ExchangeError::InvalidTarget { .. } => format!("Check {audience_var}: it must be the identifier of {} in this tenant.", the_api(api)),
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

/// Auth0 refused the MCP server's client assertion (Private Key JWT): the fix for
/// the cause its `error_description` names, or every likely cause when it names none.
fn assertion_hint(description: &str) -> String {
    const KEY: &str = "Upload the public key of MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE to the application's credentials (Applications > the MCP server's client > Credentials > Add New Credential) with the algorithm in MCP_AUTH0_CLIENT_ASSERTION_ALG (default RS256); if MCP_AUTH0_CLIENT_ASSERTION_KID is set, it must be that credential's key id.";
    const AUDIENCE: &str = "AUTH0_DOMAIN must be the tenant's domain or its custom domain: the assertion's audience is that issuer URL, with its trailing slash.";
    const CLOCK: &str = "Set this machine's clock right (NTP): each assertion is valid for 60 s from the moment it is signed.";
    const CLIENT: &str = "MCP_AUTH0_CLIENT_ID must be the client id of the application whose credentials hold this key.";
    const METHOD: &str = "Set the application's Authentication Method (Credentials tab) to Private Key JWT, or go back to MCP_AUTH0_CLIENT_SECRET.";
    const REPLAY: &str = "Auth0 had already seen this assertion's jti: each is sent once, so check that no proxy between this server and Auth0 repeats token requests.";
    let said = description.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|word| said.contains(word));
    let fix = if has(&["signature", "kid", "credential", "alg"]) {
        KEY
    } else if has(&["aud"]) {
        AUDIENCE
    } else if has(&["expired", "exp", "iat", "nbf", "future", "lifetime"]) {
        CLOCK
    } else if has(&["jti", "replay", "already used"]) {
        REPLAY
    } else if has(&["iss", "sub", "client_id", "client id"]) {
        CLIENT
    } else if has(&[
        "secret",
        "authentication method",
        "private_key_jwt",
        "private key jwt",
    ]) {
        METHOD
    } else {
        return format!(
            "Auth0 refused the MCP server's client assertion (Private Key JWT). {KEY} {CLIENT} {AUDIENCE} {CLOCK}"
        );
    };
    format!("Auth0 refused the MCP server's client assertion (Private Key JWT). {fix}")
}

/// `api` refused or failed the call made with the exchanged token.
pub(crate) fn explain_api(error: &ApiError, api: &str) -> String {
    let the_api = the_api(api);
    match error {
        ApiError::Unauthorized { .. } => format!(
            "{} refused the exchanged token even after a fresh exchange. Check that {} matches the audience {the_api} expects and that both use the same tenant.",
            capitalised(&the_api),
            variable(api, Setting::Audience)
        ),
        ApiError::InsufficientScope { scope, .. } => format!(
            "{} needs the scope {} which the exchanged token lacks. Check {}, the client grant's scopes, and the user's roles.",
            capitalised(&the_api),
            scope.as_deref().unwrap_or("(not stated)"),
            variable(api, Setting::Scope)
        ),
        ApiError::Timeout => format!(
            "{} did not answer in time; retry shortly.",
            capitalised(&the_api)
        ),
        ApiError::Transport { .. } => format!(
            "{} is unreachable: check {} and that the API is running.",
            capitalised(&the_api),
            variable(api, Setting::BaseUrl)
        ),
        other => format!("{} call failed: {other}.", capitalised(&the_api)),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

#[cfg(test)]
mod tests {
    use auth0_obo::OAuthErrorDetails;
    use reqwest::StatusCode;

    use super::*;

    fn invalid_client(description: &str) -> ExchangeError {
        ExchangeError::InvalidClient(
            OAuthErrorDetails::new(StatusCode::UNAUTHORIZED).with_description(description),
        )
    }

    /// The mock tenant's descriptions of each refusal of a client assertion (Auth0's
    /// own wording is undocumented; the keywords are the claims' names).
    #[test]
    fn each_refused_assertion_gets_the_fix_for_its_cause() {
        let api = ApiSettings {
            name: DEFAULT_API.to_owned(),
            audience: "https://api.example.com/".to_owned(),
            base_url: url::Url::parse("https://api.example.com").unwrap(),
            scope: "read:private".to_owned(),
            allow_plain_http: false,
        };
        for (description, fix) in [
            (
                "client_assertion signature does not verify with the client's credential",
                "Upload the public key",
            ),
            (
                "client_assertion kid names no credential of the client",
                "Upload the public key",
            ),
            (
                "client_assertion alg RS256 is not the algorithm of any credential of the client",
                "MCP_AUTH0_CLIENT_ASSERTION_ALG",
            ),
            (
                "The client has no credential for private_key_jwt; it authenticates with its client secret",
                "Upload the public key",
            ),
            (
                "client_assertion aud is not this tenant: it must be https://t/ (with the trailing slash)",
                "AUTH0_DOMAIN must be the tenant's domain",
            ),
            ("client_assertion has expired (exp is in the past)", "clock"),
            (
                "client_assertion exp is too far ahead: an assertion may live at most 300 seconds",
                "clock",
            ),
            ("client_assertion iat is in the future", "clock"),
            (
                "client_assertion jti has already been used; each assertion is single use",
                "repeats token requests",
            ),
            (
                "client_assertion iss and sub are not the client id of a client of this tenant",
                "MCP_AUTH0_CLIENT_ID must be the client id",
            ),
            ("something Auth0 may say one day", "Upload the public key"),
        ] {
            let hint = exchange_hint(&invalid_client(description), &api, "private_key_jwt");
            assert!(hint.contains("Private Key JWT"), "{description}: {hint}");
            assert!(hint.contains(fix), "{description}: {hint}");
        }
        // A secret that Auth0 refuses keeps its own advice, which mentions the key too.
        let hint = exchange_hint(&invalid_client("Unauthorized"), &api, "client_secret_basic");
        assert!(hint.contains("MCP_AUTH0_CLIENT_SECRET"), "{hint}");
        assert!(
            hint.contains("MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE"),
            "{hint}"
        );
    }
}
