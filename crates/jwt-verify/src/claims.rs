//! From a signature-checked claims object to a [`Principal`].
//!
//! `jsonwebtoken` has already checked `iss`, `aud`, `exp` and `nbf` by the time these
//! functions run; what is left are the typed checks it does not make: every claim we
//! read must have the type the specs give it, and a claim present with the wrong type
//! refuses the token rather than being skipped.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::VerifyError;
use crate::principal::{AccessToken, Actor, Principal};

/// Bounds the work a hostile `act` nesting can cause; RFC 8693 chains are short (Auth0
/// stops at 4).
pub(crate) const MAX_ACT_DEPTH: usize = 32;

/// A JSON object whose members (at any depth) are unique.
///
/// `serde_json` keeps the last of duplicate members silently; for a token that means
/// two readers could disagree about a claim, so duplicates refuse the token instead.
#[derive(Debug)]
pub(crate) struct StrictObject(pub(crate) Map<String, Value>);

impl<'de> Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match deserializer.deserialize_any(StrictVisitor)? {
            Value::Object(map) => Ok(Self(map)),
            _ => Err(de::Error::custom("not a JSON object")),
        }
    }
}

/// Parses bytes as a JSON object with unique members.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, serde_json::Error> {
    serde_json::from_slice::<StrictObject>(bytes).map(|object| object.0)
}

struct StrictValue(Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value without duplicate object members")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom("duplicate object member"));
            }
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// The claims this crate requires beyond what `jsonwebtoken` checks, and how to read
/// them into a [`Principal`].
pub(crate) fn principal_from_claims(
    claims: Map<String, Value>,
    issuer: &str,
    required: &[String],
    token: &str,
) -> Result<Principal, VerifyError> {
    // jsonwebtoken also accepts an `iss` array that contains ours; a JWT has one issuer.
    match claims.get("iss") {
        Some(Value::String(iss)) if iss == issuer => {}
        Some(iss @ Value::String(_)) => {
            return Err(crate::verifier::wrong_issuer(Some(iss), issuer));
        }
        Some(_) => return Err(invalid("iss")),
        None => return Err(missing("iss")),
    }
    for name in required {
        if !claims.contains_key(name.as_str()) {
            return Err(VerifyError::MissingClaim(Cow::Owned(name.clone())));
        }
    }

    let sub = required_string(&claims, "sub")?;
    // A blank `sub` names no one, and control characters in it would let a token forge
    // log lines (text logs print it as is) or garble a client's display.
    if sub.trim().is_empty() || sub.chars().any(char::is_control) {
        return Err(invalid("sub"));
    }
    let expires_at = match claims.get("exp") {
        Some(Value::Number(exp)) => numeric_date(exp).ok_or_else(|| invalid("exp"))?,
        Some(_) => return Err(invalid("exp")),
        None => return Err(missing("exp")),
    };
    for name in ["iat", "nbf"] {
        if let Some(value) = claims.get(name)
            && value.as_number().and_then(numeric_date).is_none()
        {
            return Err(invalid(name));
        }
    }

    let client_id = optional_string(&claims, "client_id")?;
    let azp = optional_string(&claims, "azp")?;
    let client_id = client_id
        .or_else(|| azp.clone())
        .ok_or(VerifyError::MissingClientId)?;

    let mut scopes = BTreeSet::new();
    if let Some(scope) = optional_text(&claims, "scope")? {
        scopes.extend(
            scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
    }
    // Kept apart from `scopes`: with RBAC, Auth0 lists here every permission the user
    // holds, whatever the client asked for and the user consented to.
    let mut permissions = BTreeSet::new();
    match claims.get("permissions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(values)) => {
            for permission in values {
                match permission {
                    Value::String(p) if !p.is_empty() => {
                        permissions.insert(p.clone());
                    }
                    _ => return Err(invalid("permissions")),
                }
            }
        }
        Some(_) => return Err(invalid("permissions")),
    }

    Ok(Principal {
        sub,
        client_id,
        azp,
        scopes,
        permissions,
        name: optional_text(&claims, "name")?,
        email: optional_text(&claims, "email")?,
        org_id: optional_string(&claims, "org_id")?,
        expires_at,
        delegation_chain: delegation_chain(claims.get("act"))?,
        grant_types: grant_types(claims.get("gty"))?,
        token: AccessToken::new(token),
    })
}

/// Auth0's `gty`: one string, or an array of non-empty strings; `""` says nothing.
fn grant_types(gty: Option<&Value>) -> Result<Vec<String>, VerifyError> {
    match gty {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(gty)) if gty.is_empty() => Ok(Vec::new()),
        Some(Value::String(gty)) if !gty.is_empty() => Ok(vec![gty.clone()]),
        Some(Value::Array(values)) => values
            .iter()
            .map(|value| match value {
                Value::String(gty) if !gty.is_empty() => Ok(gty.clone()),
                _ => Err(invalid("gty")),
            })
            .collect(),
        Some(_) => Err(invalid("gty")),
    }
}

/// Reads the nested RFC 8693 `act` claim, outermost (current) actor first.
fn delegation_chain(act: Option<&Value>) -> Result<Vec<Actor>, VerifyError> {
    let mut chain = Vec::new();
    let mut next = act;
    while let Some(actor) = next {
        if chain.len() == MAX_ACT_DEPTH {
            return Err(VerifyError::InvalidActor("the chain is nested too deeply"));
        }
        let Value::Object(actor) = actor else {
            return Err(VerifyError::InvalidActor("an actor is not a JSON object"));
        };
        let sub = match actor.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(VerifyError::InvalidActor("an actor has no sub string")),
        };
        chain.push(Actor { sub });
        next = actor.get("act");
    }
    Ok(chain)
}

fn required_string(claims: &Map<String, Value>, name: &'static str) -> Result<String, VerifyError> {
    optional_string(claims, name)?.ok_or_else(|| missing(name))
}

/// `null` counts as absent; any other non-string, or an empty string, is invalid.
fn optional_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, VerifyError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if !value.is_empty() => Ok(Some(value.clone())),
        Some(_) => Err(invalid(name)),
    }
}

/// Like [`optional_string`], but `""` counts as absent: issuers write an empty `scope`
/// for a user granted none, and an empty `name` or `email` says nothing. Identifiers
/// (`sub`, `client_id`, `azp`) stay strict, so "" can never stand in for one.
fn optional_text(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, VerifyError> {
    match claims.get(name) {
        Some(Value::String(value)) if value.is_empty() => Ok(None),
        _ => optional_string(claims, name),
    }
}

/// RFC 7519 NumericDate: seconds since the epoch, possibly fractional, not negative.
fn numeric_date(number: &Number) -> Option<u64> {
    if let Some(seconds) = number.as_u64() {
        return Some(seconds);
    }
    let seconds = number.as_f64()?;
    // The cast saturates; the range check keeps it meaningful.
    (seconds.is_finite() && (0.0..1.0e15).contains(&seconds)).then_some(seconds as u64)
}

fn missing(name: &'static str) -> VerifyError {
    VerifyError::MissingClaim(Cow::Borrowed(name))
}

fn invalid(name: &'static str) -> VerifyError {
    VerifyError::InvalidClaim(Cow::Borrowed(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_object_rejects_duplicates_at_any_depth() {
        assert!(parse_object(br#"{"a":1,"a":2}"#).is_err());
        assert!(parse_object(br#"{"act":{"sub":"x","sub":"y"}}"#).is_err());
        assert!(parse_object(br#"[{"a":1}]"#).is_err());
        assert!(parse_object(br#""text""#).is_err());
        let ok = parse_object(br#"{"a":[1,2.5,"s",null,true,{"b":{}}]}"#).unwrap();
        assert_eq!(ok["a"][1], 2.5);
    }

    /// Apart from refusing duplicates, the strict parser reads every JSON value exactly
    /// as serde_json does: negative and huge integers, floats, and strings with escapes
    /// (which serde_json hands over as owned strings, not borrowed ones).
    #[test]
    fn strict_object_reads_every_value_as_serde_json_does() {
        let json = br#"{"neg":-5,"big":18446744073709551615,"f":-1.5,"esc":"a\u0041\n","plain":"p","t":true,"n":null,"arr":[-1,"\"q\""],"obj":{"k":"v\/w"}}"#;
        let expected: Map<String, Value> = serde_json::from_slice(json).unwrap();
        assert_eq!(parse_object(json).unwrap(), expected);
        assert_eq!(expected["esc"], "aA\n");
        assert_eq!(expected["neg"], -5);
    }

    #[test]
    fn sub_must_name_someone_in_printable_characters() {
        let claims = |sub: &str| {
            let mut claims = Map::new();
            claims.insert("iss".into(), Value::from("https://i/"));
            claims.insert("sub".into(), Value::from(sub));
            claims.insert("exp".into(), Value::from(4_000_000_000u64));
            claims.insert("azp".into(), Value::from("client"));
            claims
        };
        for bad in [
            " ",
            "\t",
            "a\nINFO forged line",
            "\u{1b}[31mred",
            "x\u{85}y",
        ] {
            let result = principal_from_claims(claims(bad), "https://i/", &[], "t");
            assert!(
                matches!(result, Err(VerifyError::InvalidClaim(ref name)) if name == "sub"),
                "{bad:?}"
            );
        }
        let ok = principal_from_claims(claims("auth0|a b"), "https://i/", &[], "t").unwrap();
        assert_eq!(ok.sub, "auth0|a b");
    }

    fn minimal_claims() -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("iss".into(), Value::from("https://i/"));
        claims.insert("sub".into(), Value::from("auth0|a"));
        claims.insert("exp".into(), Value::from(4_000_000_000u64));
        claims.insert("azp".into(), Value::from("client"));
        claims
    }

    /// `jsonwebtoken` checks a string `iss` too, but this function is also the whole
    /// check for callers that reach it directly (the `jwt_claims` fuzz target).
    #[test]
    fn another_issuer_is_refused_here_too() {
        let mut claims = minimal_claims();
        claims.insert("iss".into(), Value::from("https://attacker/"));
        let result = principal_from_claims(claims, "https://i/", &[], "t");
        assert!(
            matches!(result, Err(VerifyError::WrongIssuer { .. })),
            "{result:?}"
        );
        assert!(principal_from_claims(minimal_claims(), "https://i/", &[], "t").is_ok());
    }

    #[test]
    fn an_empty_permission_is_a_malformed_claim() {
        let mut claims = minimal_claims();
        claims.insert("permissions".into(), serde_json::json!(["read:x", ""]));
        let result = principal_from_claims(claims, "https://i/", &[], "t");
        assert!(
            matches!(result, Err(VerifyError::InvalidClaim(ref name)) if name == "permissions"),
            "{result:?}"
        );
    }

    #[test]
    fn a_client_credentials_gty_is_a_machine() {
        let mut claims = minimal_claims();
        claims.insert("gty".into(), Value::from("client-credentials"));
        let principal = principal_from_claims(claims, "https://i/", &[], "t").unwrap();
        assert_eq!(principal.grant_types, ["client-credentials"]);
        assert!(principal.is_machine());

        let mut claims = minimal_claims();
        claims.insert(
            "gty".into(),
            serde_json::json!(["refresh_token", "client-credentials"]),
        );
        let principal = principal_from_claims(claims, "https://i/", &[], "t").unwrap();
        assert!(principal.is_machine());
    }

    #[test]
    fn a_sub_of_client_id_at_clients_is_a_machine() {
        let mut claims = minimal_claims();
        claims.insert("sub".into(), Value::from("client@clients"));
        let principal = principal_from_claims(claims, "https://i/", &[], "t").unwrap();
        assert!(principal.grant_types.is_empty());
        assert!(principal.is_machine());

        // Another client's id before `@clients` is not this token's client.
        let mut claims = minimal_claims();
        claims.insert("sub".into(), Value::from("other@clients"));
        let principal = principal_from_claims(claims, "https://i/", &[], "t").unwrap();
        assert!(!principal.is_machine());
    }

    #[test]
    fn a_user_token_is_not_a_machine() {
        let principal = principal_from_claims(minimal_claims(), "https://i/", &[], "t").unwrap();
        assert!(principal.grant_types.is_empty());
        assert!(!principal.is_machine());

        let mut claims = minimal_claims();
        claims.insert("gty".into(), Value::from("password"));
        let principal = principal_from_claims(claims, "https://i/", &[], "t").unwrap();
        assert_eq!(principal.grant_types, ["password"]);
        assert!(!principal.is_machine());
    }

    #[test]
    fn a_gty_of_another_type_is_a_malformed_claim() {
        for bad in [
            serde_json::json!(7),
            serde_json::json!([""]),
            serde_json::json!(["client-credentials", 1]),
            serde_json::json!({"gty": "client-credentials"}),
        ] {
            let mut claims = minimal_claims();
            claims.insert("gty".into(), bad.clone());
            let result = principal_from_claims(claims, "https://i/", &[], "t");
            assert!(
                matches!(result, Err(VerifyError::InvalidClaim(ref name)) if name == "gty"),
                "{bad}: {result:?}"
            );
        }
    }

    #[test]
    fn numeric_dates_accept_integers_and_fractions_only_in_range() {
        assert_eq!(numeric_date(&Number::from(5u64)), Some(5));
        assert_eq!(numeric_date(&Number::from_f64(5.7).unwrap()), Some(5));
        assert_eq!(numeric_date(&Number::from(-1i64)), None);
        assert_eq!(numeric_date(&Number::from_f64(1e300).unwrap()), None);
    }
}
