//! A token's claims, from the decoded payload to a `Principal`
//! (`jwt_verify::fuzzing::claims`): strict JSON (duplicate members refused at any
//! depth), then the typed claims (`iss`, `sub`, `exp`, `iat`, `nbf`, client id, `scope`,
//! `permissions`, the nested `act` chain).
//!
//! The input is the claims JSON itself, so every execution reaches the claim logic.
//! Signature and registered-claim validation happen before this in the verifier; the
//! `jwt_verify_signed` target covers the whole path.
//!
//! Checks: no panic; an accepted principal has exactly the issuer, a non-empty `sub`
//! equal to the claim, a non-empty client id taken from `client_id` or `azp`, no empty
//! scope, no scope but those of `scope` (never one from `permissions`), and an actor
//! chain no deeper than the bound; errors are short and fixed.

#![no_main]

use jwt_verify::fuzzing::claims;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const ISSUER: &str = "https://tenant.example.com/";

fuzz_target!(|data: &[u8]| {
    match claims(data, ISSUER, &[], "header.payload.signature") {
        Ok(principal) => {
            let json: serde_json::Map<String, Value> =
                serde_json::from_slice(data).expect("accepted claims are a JSON object");
            assert_eq!(json.get("iss").and_then(Value::as_str), Some(ISSUER));
            assert!(!principal.sub.is_empty());
            assert_eq!(
                json.get("sub").and_then(Value::as_str),
                Some(principal.sub.as_str())
            );
            assert!(!principal.client_id.is_empty());
            let client_id = json
                .get("client_id")
                .and_then(Value::as_str)
                .or_else(|| json.get("azp").and_then(Value::as_str));
            assert_eq!(client_id, Some(principal.client_id.as_str()));
            assert!(principal.scopes.iter().all(|scope| !scope.is_empty()));
            // Only `scope` grants: nothing in `permissions` may reach `scopes`.
            let granted: Vec<&str> = json
                .get("scope")
                .and_then(Value::as_str)
                .map(|scope| scope.split(' ').collect())
                .unwrap_or_default();
            assert!(
                principal
                    .scopes
                    .iter()
                    .all(|scope| granted.contains(&scope.as_str()))
            );
            assert!(principal.permissions.iter().all(|p| !p.is_empty()));
            assert!(principal.delegation_chain.len() <= 32);
            assert_eq!(
                principal.current_actor().map(|actor| actor.sub.as_str()),
                json.get("act")
                    .and_then(|act| act.get("sub"))
                    .and_then(Value::as_str)
            );
            assert_eq!(principal.token().secret(), "header.payload.signature");
        }
        Err(error) => {
            assert!(error.to_string().len() < 160, "{error}");
            assert!(
                error.error_code().is_some(),
                "a claims failure is the client's: {error}"
            );
        }
    }
});
