//! The `WWW-Authenticate: Bearer` challenge (RFC 6750 §3), both ways.
//!
//! Fuzzed parameter values (any text, including quotes, backslashes, control
//! characters and non-ASCII) are set on a `Challenge`, rendered, and:
//! the rendering is a valid `http::HeaderValue`; `Challenge::parse` gives back the same
//! challenge; printable-ASCII values survive unchanged. Arbitrary text is also given
//! to `Challenge::parse`, which must not panic, and whatever it accepts must render to
//! a valid header that parses back to the same challenge.

#![no_main]

use http::HeaderValue;
use jwt_verify::{BearerErrorCode, Challenge};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Params {
    realm: Option<String>,
    error: Option<u8>,
    error_description: Option<String>,
    error_uri: Option<String>,
    scope: Option<Vec<String>>,
    resource_metadata: Option<String>,
    /// A header value as a server could send it.
    raw: String,
}

const CODES: [BearerErrorCode; 3] = [
    BearerErrorCode::InvalidRequest,
    BearerErrorCode::InvalidToken,
    BearerErrorCode::InsufficientScope,
];

fn printable(text: &str) -> bool {
    text.chars().all(|c| (' '..='~').contains(&c))
}

fn round_trips(challenge: &Challenge) {
    let rendered = challenge.to_string();
    assert!(
        HeaderValue::from_str(&rendered).is_ok(),
        "not a valid header value: {rendered:?}"
    );
    assert_eq!(
        Challenge::parse(&rendered).as_ref(),
        Ok(challenge),
        "does not parse back: {rendered:?}"
    );
}

fuzz_target!(|params: Params| {
    let mut challenge = Challenge::new();
    if let Some(realm) = &params.realm {
        challenge = challenge.realm(realm);
    }
    if let Some(code) = params.error {
        challenge = challenge.error(CODES[usize::from(code) % CODES.len()]);
    }
    if let Some(description) = &params.error_description {
        challenge = challenge.error_description(description);
    }
    if let Some(uri) = &params.error_uri {
        challenge = challenge.error_uri(uri);
    }
    if let Some(scopes) = &params.scope {
        challenge = challenge.scope(scopes);
    }
    if let Some(url) = &params.resource_metadata {
        challenge = challenge.resource_metadata(url);
    }
    round_trips(&challenge);

    for (given, kept) in [
        (&params.realm, challenge.realm_value()),
        (
            &params.error_description,
            challenge.error_description_value(),
        ),
        (&params.error_uri, challenge.error_uri_value()),
        (
            &params.resource_metadata,
            challenge.resource_metadata_value(),
        ),
    ] {
        if let Some(given) = given.as_deref().filter(|text| printable(text)) {
            assert_eq!(kept, Some(given));
        }
    }
    if let Some(scopes) = &params.scope {
        let plain: Vec<&str> = scopes
            .iter()
            .map(String::as_str)
            .filter(|scope| !scope.is_empty())
            .collect();
        if plain
            .iter()
            .all(|scope| printable(scope) && !scope.contains([' ', '"', '\\']))
        {
            assert_eq!(challenge.scopes().collect::<Vec<_>>(), plain);
        }
    }

    if let Ok(parsed) = Challenge::parse(&params.raw) {
        round_trips(&parsed);
    }
});
