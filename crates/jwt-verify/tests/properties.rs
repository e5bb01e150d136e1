//! Property tests: no input panics, and challenges round-trip through their parser.
//!
//! Keys come from a [`StaticJwks`] here rather than wiremock: these tests are about
//! token and header parsing, and thousands of cases should not each cost an HTTP hop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, LazyLock};

use oauth_jwt_verify::bearer::parse_authorization;
use oauth_jwt_verify::{
    BearerErrorCode, Challenge, Issuer, JwksVerifier, StaticJwks, VerifierOptions,
};
use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::{TokenBuilder, forge};
use proptest::prelude::*;
use serde_json::{Map, Value};

const ISSUER: &str = "https://tenant.example.com/";
const AUDIENCE: &str = "https://mcp.example.com/";

struct World {
    runtime: tokio::runtime::Runtime,
    key: TestKey,
    verifier: JwksVerifier,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let key = TestKey::rsa("key-1");
    let verifier = JwksVerifier::with_source(
        Issuer::parse(ISSUER).unwrap(),
        AUDIENCE,
        VerifierOptions::default(),
        Arc::new(StaticJwks::from_json(&jwks_json(&[&key]))),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    World {
        runtime,
        key,
        verifier,
    }
});

fn verify(token: &str) -> Result<Arc<oauth_jwt_verify::Principal>, oauth_jwt_verify::VerifyError> {
    WORLD.runtime.block_on(WORLD.verifier.verify(token))
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("sub"),
            Just("act"),
            Just("tool:greet read:private"),
            Just("")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(claim_name(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Mostly the names this crate reads, so mutations hit the typed checks.
fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "iss", "sub", "aud", "exp", "nbf", "iat", "azp", "client_id", "scope",
            "permissions", "name", "email", "act",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

fn sanitized(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| if c.is_ascii() { c } else { '?' })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic_and_never_verify(token in ".{0,300}") {
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn arbitrary_jws_shaped_strings_never_panic(
        header in prop::collection::vec(any::<u8>(), 0..80),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        signature in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let token = forge::raw_bytes(&header, &payload, &signature);
        prop_assert!(verify(&token).is_err());
    }

    #[test]
    fn arbitrary_claims_signed_with_a_valid_key_never_panic(
        overrides in prop::collection::btree_map(claim_name(), json_value(), 0..6),
        removals in prop::collection::vec(claim_name(), 0..3),
    ) {
        let mut builder = TokenBuilder::new(ISSUER, AUDIENCE);
        for name in &removals {
            builder = builder.without(name);
        }
        for (name, value) in &overrides {
            builder = builder.claim(name.clone(), value.clone());
        }
        let token = builder.sign(&WORLD.key);
        match verify(&token) {
            Ok(principal) => {
                // Whatever got through upholds the Principal's promises.
                prop_assert!(!principal.sub.is_empty());
                prop_assert!(!principal.client_id.is_empty());
                prop_assert!(principal.scopes.iter().all(|s| !s.is_empty() && !s.contains(' ')));
                prop_assert!(principal.delegation_chain.iter().all(|a| !a.sub.is_empty()));
                prop_assert_eq!(principal.token().secret(), token.as_str());
            }
            Err(error) => {
                prop_assert_eq!(error.error_code(), Some(BearerErrorCode::InvalidToken));
                prop_assert!(!error.to_string().contains(&token));
            }
        }
    }

    #[test]
    fn arbitrary_signed_payload_bytes_never_panic(payload in prop::collection::vec(any::<u8>(), 0..200)) {
        let header = br#"{"alg":"RS256","kid":"key-1"}"#;
        let token = WORLD.key.sign_raw(header, &payload);
        prop_assert!(verify(&token).is_err());
    }


    #[test]
    fn parse_authorization_accepts_every_well_formed_bearer_header(
        scheme in "[bB][eE][aA][rR][eE][rR]",
        token in "[A-Za-z0-9._~+/-]{1,40}={0,2}",
        spaces in " {1,3}",
    ) {
        let header = format!("{scheme}{spaces}{token}");
        prop_assert_eq!(parse_authorization(&header), Ok(token.as_str()));
    }

    #[test]
    fn rfc6750_3_challenges_render_as_valid_headers_and_round_trip(
        realm in proptest::option::of(".{0,20}"),
        code in proptest::option::of(prop::sample::select(vec![
            BearerErrorCode::InvalidRequest, BearerErrorCode::InvalidToken, BearerErrorCode::InsufficientScope,
        ])),
        description in proptest::option::of(".{0,40}"),
        scopes in proptest::option::of(prop::collection::vec(".{0,10}", 0..4)),
        metadata in proptest::option::of(".{0,30}"),
    ) {
        let mut challenge = Challenge::new();
        if let Some(realm) = &realm { challenge = challenge.realm(realm); }
        if let Some(code) = code { challenge = challenge.error(code); }
        if let Some(description) = &description { challenge = challenge.error_description(description); }
        if let Some(scopes) = &scopes { challenge = challenge.scope(scopes); }
        if let Some(metadata) = &metadata { challenge = challenge.resource_metadata(metadata); }
        let header = challenge.to_string();
        // A valid HTTP field value: visible ASCII and spaces only.
        prop_assert!(header.bytes().all(|b| (0x20..0x7f).contains(&b)), "{}", header);
        let parsed = Challenge::parse(&header);
        prop_assert_eq!(parsed.as_ref(), Ok(&challenge), "{}", header);
        prop_assert_eq!(challenge.error_description_value().map(str::to_owned), description.as_deref().map(sanitized));
    }

    #[test]
    fn challenge_parse_never_panics(value in ".{0,120}") {
        let _ = Challenge::parse(&value);
        let _ = Challenge::parse(&format!("Bearer {value}"));
    }
}

/// What `parse_authorization` returns is always one whole `b64token` taken from the
/// value. The values are built around a `Bearer` prefix on purpose (arbitrary strings
/// almost never have one), with tails that are sometimes valid and sometimes hold a
/// character RFC 6750 forbids, and both outcomes are counted, so the property is known
/// to have been checked on accepted and refused tokens alike.
#[test]
fn parse_authorization_returns_a_single_b64token_or_an_error() {
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;

    let strategy = (
        "[bB][eE][aA][rR][eE][rR]",
        prop_oneof![3 => " {1,2}", 1 => "[ \t]{0,2}"],
        prop_oneof![
            2 => "[A-Za-z0-9._~+/-]{1,30}={0,2}",
            1 => "[A-Za-z0-9._~+/=-]{0,12}[ ,;\"!@#$%^&*()<>\\\t=][A-Za-z0-9._~+/=-]{0,12}",
            1 => ".{0,40}",
        ],
    );
    let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
    let mut runner = TestRunner::new(Config::with_cases(1024));
    runner
        .run(&strategy, |(scheme, spaces, tail)| {
            let value = format!("{scheme}{spaces}{tail}");
            match parse_authorization(&value) {
                Ok(token) => {
                    accepted.set(accepted.get() + 1);
                    prop_assert!(!token.is_empty());
                    prop_assert_eq!(token, tail.trim_matches([' ', '\t']));
                    let body = token.trim_end_matches('=');
                    prop_assert!(!body.is_empty(), "{:?}", value);
                    prop_assert!(
                        body.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
                        "{:?}",
                        value
                    );
                }
                Err(_) => refused.set(refused.get() + 1),
            }
            Ok(())
        })
        .unwrap();
    assert!(
        accepted.get() >= 200 && refused.get() >= 200,
        "both branches must run: {} accepted, {} refused",
        accepted.get(),
        refused.get()
    );
}
