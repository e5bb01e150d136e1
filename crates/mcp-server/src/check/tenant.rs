//! The tenant: its OpenID discovery document, the issuer it names against
//! `AUTH0_DOMAIN`, and the signing keys the server will verify tokens with.

use std::io::Write;

use jwt_verify::JwksVerifier;
use serde_json::Value;

use super::http::{fetch_json, redacted_url};
use super::report::{Reporter, names};
use crate::config::Settings;

/// Fetches the tenant's OpenID discovery document: the first thing a wrong
/// `AUTH0_DOMAIN` breaks. Returns it for the issuer check.
pub(super) async fn check_discovery<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    settings: &Settings,
) -> Option<Value> {
    let discovery_url = settings.issuer.discovery_url();
    let url = redacted_url(&discovery_url);
    match fetch_json(http, &discovery_url).await {
        Ok(document) if document.get("issuer").and_then(Value::as_str).is_some() => {
            r.pass(names::DISCOVERY, format!("{url} answers"));
            Some(document)
        }
        Ok(_) => {
            r.fail(
                names::DISCOVERY,
                format!("{url} answers, but without an `issuer`"),
                "AUTH0_DOMAIN must be your Auth0 tenant's domain (e.g. tenant.us.auth0.com) or its custom domain".to_owned(),
            );
            None
        }
        Err(cause) => {
            r.fail(
                names::DISCOVERY,
                format!("OIDC discovery at {url} failed: {cause}"),
                "check AUTH0_DOMAIN: it must be your Auth0 tenant's domain (e.g. tenant.us.auth0.com, from the application's settings), or its custom domain; and check that this machine can reach it".to_owned(),
            );
            None
        }
    }
}

/// The issuer the tenant names against the one tokens are checked for: `iss` is
/// compared exactly, so a trailing slash or a custom domain refuses every token.
pub(super) fn check_issuer<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    discovery: &Value,
) {
    let ours = settings.issuer.as_str();
    let theirs = discovery
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if theirs == ours {
        r.pass(
            names::ISSUER,
            format!("the tenant's issuer is {ours}, exactly what tokens must carry in `iss`"),
        );
    } else if theirs.trim_end_matches('/') == ours.trim_end_matches('/') {
        r.fail(
            names::ISSUER,
            format!(
                "the tenant's issuer is {theirs:?} but AUTH0_DOMAIN gives {ours:?}: they differ by the trailing slash, and `iss` is compared exactly, so every token would be refused"
            ),
            format!(
                "set AUTH0_DOMAIN to exactly {theirs:?} (Auth0's issuer is https://{{domain}}/, with the slash)"
            ),
        );
    } else {
        r.fail(
            names::ISSUER,
            format!(
                "the tenant's discovery names the issuer {theirs:?}, not {ours:?} (from AUTH0_DOMAIN): tokens carry the tenant's issuer in `iss`, so every token would be refused"
            ),
            format!(
                "set AUTH0_DOMAIN to {theirs:?}; a custom domain and the tenant's own domain are different issuers, so use the one your MCP clients sign in through"
            ),
        );
    }
}

/// Checks the JWKS the server will use and returns a verifier with its keys loaded.
pub(super) async fn check_jwks<W: Write>(
    r: &mut Reporter<'_, W>,
    http: &reqwest::Client,
    settings: &Settings,
) -> Option<JwksVerifier> {
    let jwks_url = settings.issuer.well_known_jwks_url();
    let url = redacted_url(&jwks_url);
    let document = match fetch_json(http, &jwks_url).await {
        Ok(document) => document,
        Err(cause) => {
            r.fail(
                names::JWKS,
                format!("the signing keys at {url} could not be fetched: {cause}"),
                "check AUTH0_DOMAIN and that this machine can reach the tenant".to_owned(),
            );
            return None;
        }
    };
    let keys = document
        .get("keys")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rs256: Vec<String> = keys
        .iter()
        .filter(|key| {
            key.get("kty").and_then(Value::as_str) == Some("RSA")
                && matches!(key.get("alg").and_then(Value::as_str), None | Some("RS256"))
                && matches!(key.get("use").and_then(Value::as_str), None | Some("sig"))
        })
        .map(|key| {
            key.get("kid")
                .and_then(Value::as_str)
                .map(|kid| format!("{kid:?}"))
                .unwrap_or_else(|| "(no kid)".to_owned())
        })
        .collect();
    if rs256.is_empty() {
        r.fail(
            names::JWKS,
            format!("{url} publishes no RS256 signing key ({} keys in all)", keys.len()),
            "the MCP server's API in Auth0 must sign with RS256 (APIs > your API > Settings > Signing Algorithm)".to_owned(),
        );
        return None;
    }
    let verifier = match settings.verifier() {
        Ok(verifier) => verifier,
        Err(e) => {
            r.fail(
                names::JWKS,
                format!("cannot set up token verification: {e}"),
                "check AUTH0_DOMAIN".to_owned(),
            );
            return None;
        }
    };
    if let Err(e) = verifier.refresh_keys().await {
        r.fail(
            names::JWKS,
            format!("{url} lists RS256 keys, but the server could not load them: {e}"),
            "check that the tenant's JWKS is a standard RSA key set".to_owned(),
        );
        return None;
    }
    r.pass(
        names::JWKS,
        format!(
            "{url} publishes {} RS256 signing key{} (kid {})",
            rs256.len(),
            if rs256.len() == 1 { "" } else { "s" },
            rs256.join(", ")
        ),
    );
    Some(verifier)
}
