//! The user's token, verified as the server verifies it: its claims, what to change
//! when it is refused, and the tool scopes it lacks. Never printed, only its claims.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_verify::{JwksVerifier, VerifyError};
use serde_json::Value;

use super::report::{Reporter, human_duration, names};
use crate::config::Settings;

/// How the token check ended, which decides what the exchange checks can do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Verdict {
    /// The server would accept it: exchange it, in the organization it names (its
    /// `org_id`, when the server passes it on).
    Verified { organization: Option<String> },
    /// The server would refuse it: there is nothing to exchange.
    Refused,
    /// It could not be verified at all (no signing keys): the jwks line says why.
    Unchecked,
}

pub(super) async fn check_token<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    verifier: Option<JwksVerifier>,
    token: &str,
) -> Verdict {
    let Some(verifier) = verifier else {
        r.skip(
            names::TOKEN,
            "skipped: the signing keys are not available (see jwks above)".to_owned(),
        );
        return Verdict::Unchecked;
    };
    let principal = match verifier.verify(token).await {
        Ok(principal) => principal,
        Err(e) => {
            let claims = unverified_claims(token);
            let fix = token_fix(
                &e,
                claims.as_ref(),
                &settings.audience,
                settings.issuer.as_str(),
            );
            r.fail(
                names::TOKEN,
                format!("the token was refused ({}): {}", e.kind(), e.description()),
                fix,
            );
            return Verdict::Refused;
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let scopes: Vec<&str> = principal.scopes.iter().map(String::as_str).collect();
    let mut detail = format!(
        "verified: sub={:?} aud={:?} azp={:?} client_id={:?} scopes=[{}]",
        principal.sub,
        settings.audience,
        principal.azp.as_deref().unwrap_or("-"),
        principal.client_id,
        scopes.join(" "),
    );
    if !principal.permissions.is_empty() {
        let permissions: Vec<&str> = principal.permissions.iter().map(String::as_str).collect();
        detail.push_str(&format!(" permissions=[{}]", permissions.join(" ")));
    }
    detail.push_str(&format!(
        " expires in {}",
        human_duration(principal.expires_at.saturating_sub(now))
    ));
    if !principal.delegation_chain.is_empty() {
        let chain: Vec<&str> = principal
            .delegation_chain
            .iter()
            .map(|a| a.sub.as_str())
            .collect();
        detail.push_str(&format!(" act=[{}]", chain.join(" > ")));
    }
    r.pass(names::TOKEN, detail);
    let scopes = crate::quickstart::Quickstart::scopes();
    let missing: Vec<&str> = scopes
        .iter()
        .map(String::as_str)
        .filter(|scope| !principal.has_scope(scope))
        .collect();
    if !missing.is_empty() {
        let mut detail = format!(
            "the token's scope lacks {}: the tools that need it will answer 403 insufficient_scope",
            missing.join(" ")
        );
        let held: Vec<&str> = missing
            .iter()
            .copied()
            .filter(|scope| principal.permissions.contains(*scope))
            .collect();
        if !held.is_empty() {
            detail.push_str(&format!(
                " (the user holds {} in `permissions`, which grants no tool: the client did not request it, or the user did not consent)",
                held.join(" ")
            ));
        }
        r.warn(
            names::TOKEN_SCOPES,
            detail,
            "have the MCP client request these scopes for the MCP server's API and the user consent to them at sign-in; with RBAC on, the user's role must also carry them".to_owned(),
        );
    }
    Verdict::Verified {
        organization: principal
            .org_id
            .clone()
            .filter(|_| settings.pass_organization),
    }
}

/// What to change for a token the server refuses with `error`, given the token's
/// unverified `claims`, the server's `audience` (AUTH0_AUDIENCE) and its `issuer`.
fn token_fix(error: &VerifyError, claims: Option<&Value>, audience: &str, issuer: &str) -> String {
    let claim = |name: &str| -> String {
        match claims.and_then(|c| c.get(name)) {
            Some(Value::String(s)) => format!("{s:?}"),
            Some(other) => other.to_string(),
            None => "(none)".to_owned(),
        }
    };
    match error {
        VerifyError::WrongAudience { .. } => {
            let aud = claim("aud");
            let trailing = claims
                .and_then(|c| c.get("aud"))
                .map(|aud| match aud {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) => items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                })
                .unwrap_or_default()
                .iter()
                .any(|a| a.trim_end_matches('/') == audience.trim_end_matches('/'));
            if trailing {
                format!(
                    "the token's aud is {aud} and AUTH0_AUDIENCE is {audience:?}: they differ by the trailing slash. Set AUTH0_AUDIENCE to exactly the API identifier in Auth0"
                )
            } else {
                format!(
                    "the token's aud is {aud}, not AUTH0_AUDIENCE {audience:?}: the MCP client must ask for a token for this server's API (audience={audience:?}, or resource= with the Resource Parameter Compatibility Profile on)"
                )
            }
        }
        VerifyError::WrongIssuer { .. } => format!(
            "the token's iss is {}, but AUTH0_DOMAIN gives {issuer:?}: use the domain the MCP client signs in through",
            claim("iss"),
        ),
        VerifyError::Opaque | VerifyError::UserinfoAudience => format!(
            "the MCP client got a token for no API: in Auth0, enable the tenant's Resource Parameter Compatibility Profile (so that resource= selects the API), or have the client send audience={audience:?}"
        ),
        VerifyError::Encrypted => format!(
            "in Auth0, turn off token encryption (JWE) for the API {audience:?}: the MCP server verifies signed JWTs only"
        ),
        VerifyError::Expired | VerifyError::NotYetValid => {
            "get a fresh token (and check this machine's clock)".to_owned()
        }
        VerifyError::UnknownKey | VerifyError::BadSignature | VerifyError::KeyMismatch => {
            "the token was not signed by this tenant's keys: check that it comes from the tenant in AUTH0_DOMAIN".to_owned()
        }
        VerifyError::UnsupportedAlgorithm { .. } => {
            "the MCP server's API in Auth0 must sign with RS256".to_owned()
        }
        VerifyError::Malformed(_) | VerifyError::Empty | VerifyError::TooLarge { .. } => {
            "pass the access token itself (a JWT: three base64url parts separated by dots), not an ID token or an opaque token; an opaque token means the client did not ask for this server's API as audience".to_owned()
        }
        VerifyError::MissingClaim(_)
        | VerifyError::InvalidClaim(_)
        | VerifyError::MissingClientId
        | VerifyError::InvalidActor(_) => {
            "the token lacks a claim every Auth0 access token has: check that it is an access token for this server's API".to_owned()
        }
        VerifyError::KeysUnavailable(_) => {
            "the tenant's keys could not be fetched: check the network".to_owned()
        }
        // `VerifyError` is non-exhaustive: a refusal added to jwt-verify later.
        _ => "check that the token is an access token for this server's API".to_owned(),
    }
}

/// The claims of a JWT, unverified, to explain a refusal. Never printed whole.
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    if payload.len() > 64 * 1024 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::json;

    use super::*;

    const AUDIENCE: &str = "http://localhost:3001/";
    const ISSUER: &str = "https://tenant.example.auth0.com/";

    fn wrong_audience() -> VerifyError {
        VerifyError::WrongAudience {
            found: "x".to_owned(),
            expected: AUDIENCE.to_owned(),
        }
    }

    fn wrong_issuer() -> VerifyError {
        VerifyError::WrongIssuer {
            found: "x".to_owned(),
            expected: ISSUER.to_owned(),
        }
    }

    fn fix(error: VerifyError, claims: Value) -> String {
        token_fix(&error, Some(&claims), AUDIENCE, ISSUER)
    }

    /// Each refusal gets the fix for its own cause, read from the typed error rather
    /// than from its metrics label.
    #[test]
    fn each_refusal_names_its_own_fix() {
        let claims = json!({"aud": "http://localhost:3001", "iss": "https://other.example/"});
        assert!(fix(wrong_audience(), claims.clone()).contains("differ by the trailing slash"));
        let other = json!({"aud": ["https://api.example/", "https://x/userinfo"]});
        let wrong = fix(wrong_audience(), other);
        assert!(
            wrong.contains("the MCP client must ask for a token"),
            "{wrong}"
        );
        assert!(wrong.contains(&format!("audience={AUDIENCE:?}")), "{wrong}");
        let issuer = fix(wrong_issuer(), claims.clone());
        assert!(
            issuer.contains("\"https://other.example/\"") && issuer.contains(ISSUER),
            "{issuer}"
        );
        for (error, expected) in [
            (VerifyError::Expired, "get a fresh token"),
            (
                VerifyError::Opaque,
                "Resource Parameter Compatibility Profile",
            ),
            (
                VerifyError::UserinfoAudience,
                "or have the client send audience=",
            ),
            (VerifyError::Encrypted, "turn off token encryption"),
            (VerifyError::NotYetValid, "clock"),
            (VerifyError::UnknownKey, "not signed by this tenant's keys"),
            (VerifyError::KeyMismatch, "not signed by this tenant's keys"),
            (
                VerifyError::UnsupportedAlgorithm { alg: "HS256" },
                "must sign with RS256",
            ),
            (
                VerifyError::Malformed("not a JWS"),
                "pass the access token itself",
            ),
            (
                VerifyError::TooLarge { limit: 8192 },
                "pass the access token itself",
            ),
            (
                VerifyError::MissingClaim(Cow::Borrowed("sub")),
                "lacks a claim every Auth0 access token has",
            ),
            (
                VerifyError::InvalidActor("too deep"),
                "lacks a claim every Auth0 access token has",
            ),
        ] {
            let text = fix(error.clone(), claims.clone());
            assert!(text.contains(expected), "{error:?}: {text}");
        }
    }

    #[test]
    fn a_token_without_readable_claims_still_gets_a_fix() {
        let text = token_fix(&wrong_issuer(), None, AUDIENCE, ISSUER);
        assert!(text.contains("the token's iss is (none)"), "{text}");
        assert_eq!(unverified_claims("not-a-jwt"), None);
    }
}
