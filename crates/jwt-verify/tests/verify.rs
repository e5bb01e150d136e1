//! Token verification against a wiremock JWKS: claims, algorithms, the principal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::borrow::Cow;

use common::{AUDIENCE, Fixture, assert_refused, fast_options};
use oauth_jwt_verify::{Algorithm, BearerErrorCode, VerifierOptions, VerifyError};
use obo_tests::keys::TestKey;
use obo_tests::token::{DEFAULT_CLIENT_ID, DEFAULT_SUB, forge, now};
use serde_json::json;

// ---- The happy path and the principal ----

#[tokio::test]
async fn valid_auth0_access_token_yields_principal() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .scope("openid tool:greet")
        .name("Alice")
        .email("alice@example.com")
        .header("typ", "at+jwt")
        .sign(&fx.key);
    let principal = fx.verifier().verify(&token).await.unwrap();
    assert_eq!(principal.sub, DEFAULT_SUB);
    assert_eq!(principal.client_id, DEFAULT_CLIENT_ID);
    assert_eq!(principal.azp.as_deref(), Some(DEFAULT_CLIENT_ID));
    assert!(principal.has_scope("tool:greet") && principal.has_scope("openid"));
    assert!(!principal.has_scope("tool"));
    assert_eq!(principal.name.as_deref(), Some("Alice"));
    assert_eq!(principal.email.as_deref(), Some("alice@example.com"));
    let exp = u64::try_from(now() + 3600).unwrap();
    assert!((exp - 2..=exp + 2).contains(&principal.expires_at));
    assert!(principal.delegation_chain.is_empty());
    assert_eq!(principal.token().secret(), token);
}

#[tokio::test]
async fn an_organization_token_yields_its_org_id_and_a_malformed_one_is_refused() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let personal = fx.token().sign(&fx.key);
    assert_eq!(verifier.verify(&personal).await.unwrap().org_id, None);
    let in_org = fx.token().claim("org_id", "org_W4L1kTr4pX").sign(&fx.key);
    assert_eq!(
        verifier.verify(&in_org).await.unwrap().org_id.as_deref(),
        Some("org_W4L1kTr4pX")
    );
    for bad in [serde_json::json!(""), serde_json::json!(42)] {
        let token = fx.token().claim("org_id", bad).sign(&fx.key);
        let error = verifier.verify(&token).await.unwrap_err();
        assert!(error.to_string().contains("org_id"), "{error}");
    }
}

#[tokio::test]
async fn client_id_claim_takes_precedence_over_azp() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .client_id("m2m-client")
        .azp("other")
        .sign(&fx.key);
    let principal = fx.verifier().verify(&token).await.unwrap();
    assert_eq!(principal.client_id, "m2m-client");
    assert_eq!(principal.azp.as_deref(), Some("other"));

    let only_client_id = fx
        .token()
        .without("azp")
        .client_id("m2m-client")
        .sign(&fx.key);
    let principal = fx.verifier().verify(&only_client_id).await.unwrap();
    assert_eq!(principal.client_id, "m2m-client");
    assert_eq!(principal.azp, None);
}

#[tokio::test]
async fn rfc7519_4_1_3_aud_array_containing_our_audience_is_accepted() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let token = fx
        .token()
        .audiences(["https://tenant/userinfo", AUDIENCE])
        .sign(&fx.key);
    verifier.verify(&token).await.unwrap();

    let without_us = fx
        .token()
        .audiences(["https://other/", "https://tenant/userinfo"])
        .sign(&fx.key);
    assert_refused(
        verifier.verify(&without_us).await,
        &without_us,
        "wrong_audience",
    );
    let empty = fx.token().audiences(Vec::<String>::new()).sign(&fx.key);
    assert_refused(verifier.verify(&empty).await, &empty, "wrong_audience");
}

/// Issue 12, finding 1: with RBAC, Auth0 lists in `permissions` every permission the
/// user holds, whatever the client was consented; only `scope` may grant.
#[tokio::test]
async fn finding_1_scopes_come_from_scope_only_and_permissions_stay_apart() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .scope("openid  tool:whoami")
        .permissions(["tool:whoami", "tool:greet", "read:private"])
        .sign(&fx.key);
    let principal = fx.verifier().verify(&token).await.unwrap();
    let scopes: Vec<&str> = principal.scopes.iter().map(String::as_str).collect();
    assert_eq!(scopes, ["openid", "tool:whoami"]);
    let permissions: Vec<&str> = principal.permissions.iter().map(String::as_str).collect();
    assert_eq!(permissions, ["read:private", "tool:greet", "tool:whoami"]);
    assert!(principal.has_scope("tool:whoami"));
    assert!(!principal.has_scope("tool:greet"));
    assert!(!principal.has_scope("read:private"));

    let only_permissions = fx.token().permissions(["read:private"]).sign(&fx.key);
    let principal = fx.verifier().verify(&only_permissions).await.unwrap();
    assert!(!principal.has_scope("read:private"));
    assert!(principal.scopes.is_empty());
    assert_eq!(
        principal.permissions.iter().collect::<Vec<_>>(),
        ["read:private"]
    );
}

#[tokio::test]
async fn rfc8693_4_1_act_chains_of_depth_0_1_and_3() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();

    let none = verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    assert!(none.delegation_chain.is_empty());
    assert_eq!(none.current_actor(), None);

    let one = verifier
        .verify(&fx.token().act(["mcp-server"]).sign(&fx.key))
        .await
        .unwrap();
    let subs: Vec<&str> = one
        .delegation_chain
        .iter()
        .map(|a| a.sub.as_str())
        .collect();
    assert_eq!(subs, ["mcp-server"]);
    assert_eq!(one.current_actor().unwrap().sub, "mcp-server");

    let three = verifier
        .verify(
            &fx.token()
                .act(["current", "previous", "first"])
                .sign(&fx.key),
        )
        .await
        .unwrap();
    let subs: Vec<&str> = three
        .delegation_chain
        .iter()
        .map(|a| a.sub.as_str())
        .collect();
    assert_eq!(subs, ["current", "previous", "first"]);
    assert_eq!(three.current_actor().unwrap().sub, "current");
    assert_eq!(
        serde_json::to_value(three.current_actor().unwrap()).unwrap(),
        json!({"sub": "current"})
    );
}

#[tokio::test]
async fn rfc8693_4_1_malformed_act_is_an_invalid_token() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let mut deep = json!({"sub": "innermost"});
    for depth in 0..40 {
        deep = json!({"sub": format!("actor-{depth}"), "act": deep});
    }
    let cases = [
        json!("mcp-server"),
        json!(null),
        json!({"client_id": "x"}),
        json!({"sub": ""}),
        json!({"sub": 7}),
        json!({"sub": "a", "act": {"sub": ["b"]}}),
        json!({"sub": "a", "act": "b"}),
        deep,
    ];
    for act in cases {
        let token = fx.token().claim("act", act.clone()).sign(&fx.key);
        let error = assert_refused(verifier.verify(&token).await, &token, "invalid_act");
        assert_eq!(
            error.error_code(),
            Some(BearerErrorCode::InvalidToken),
            "act = {act}"
        );
    }
}

#[tokio::test]
async fn principal_debug_does_not_contain_the_token() {
    let fx = Fixture::new().await;
    let token = fx.token().act(["mcp"]).sign(&fx.key);
    let principal = fx.verifier().verify(&token).await.unwrap();
    let debug = format!(
        "{principal:?} {:?} {}",
        principal.token(),
        principal.token()
    );
    assert!(
        debug.contains(DEFAULT_SUB),
        "Debug should still be useful: {debug}"
    );
    for part in token.split('.') {
        assert!(
            !debug.contains(part),
            "Debug leaks a token segment: {debug}"
        );
    }
}

// ---- Claim failures ----

#[tokio::test]
async fn rfc7519_4_1_4_expired_token_is_refused_beyond_leeway() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let expired = fx.token().issued_ago(3600).expires_in(-120).sign(&fx.key);
    let error = assert_refused(verifier.verify(&expired).await, &expired, "expired");
    assert_eq!(error.error_code(), Some(BearerErrorCode::InvalidToken));
    // Within the default 60 s leeway the token still passes.
    verifier
        .verify(&fx.token().expires_in(-30).sign(&fx.key))
        .await
        .unwrap();
}

#[tokio::test]
async fn rfc7519_4_1_5_token_before_nbf_is_refused_beyond_leeway() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let early = fx.token().not_before_in(300).sign(&fx.key);
    assert_refused(verifier.verify(&early).await, &early, "not_yet_valid");
    verifier
        .verify(&fx.token().not_before_in(30).sign(&fx.key))
        .await
        .unwrap();
    let bad_nbf = fx.token().claim("nbf", "tomorrow").sign(&fx.key);
    assert_refused(verifier.verify(&bad_nbf).await, &bad_nbf, "invalid_claim");
}

#[tokio::test]
async fn rfc7519_4_1_1_iss_must_match_exactly() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let without_slash = fx.token().issuer(fx.server.uri()).sign(&fx.key);
    assert_refused(
        verifier.verify(&without_slash).await,
        &without_slash,
        "wrong_issuer",
    );
    let other = fx.token().issuer("https://evil.example/").sign(&fx.key);
    assert_refused(verifier.verify(&other).await, &other, "wrong_issuer");
    let array = fx.token().claim("iss", json!([fx.issuer()])).sign(&fx.key);
    assert!(
        verifier.verify(&array).await.is_err(),
        "an iss array is not an issuer"
    );
}

#[tokio::test]
async fn rfc7519_4_1_3_wrong_audience_is_refused() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .audience("https://private-api.example/")
        .sign(&fx.key);
    assert_refused(fx.verifier().verify(&token).await, &token, "wrong_audience");
}

#[tokio::test]
async fn iss_aud_exp_and_sub_are_required_claims() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    for claim in ["iss", "aud", "exp", "sub"] {
        let token = fx.token().without(claim).sign(&fx.key);
        let error = assert_refused(verifier.verify(&token).await, &token, "missing_claim");
        assert!(
            matches!(&error, VerifyError::MissingClaim(name) if name == claim),
            "{claim}: {error:?}"
        );
        assert!(error.description().contains(claim));
    }
    // Without iss *and* aud (jsonwebtoken's default would accept this).
    let bare = fx.token().without("iss").without("aud").sign(&fx.key);
    assert_refused(verifier.verify(&bare).await, &bare, "missing_claim");
}

#[tokio::test]
async fn configured_required_claims_are_enforced() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(VerifierOptions {
        required_claims: vec!["iat".into()],
        ..fast_options()
    });
    verifier.verify(&fx.token().sign(&fx.key)).await.unwrap();
    let token = fx.token().without("iat").sign(&fx.key);
    let error = assert_refused(verifier.verify(&token).await, &token, "missing_claim");
    assert!(matches!(error, VerifyError::MissingClaim(Cow::Owned(ref name)) if name == "iat"));
}

#[tokio::test]
async fn sub_must_be_a_non_empty_string() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let empty = fx.token().sub("").sign(&fx.key);
    assert_refused(verifier.verify(&empty).await, &empty, "invalid_claim");
    let number = fx.token().claim("sub", 42).sign(&fx.key);
    assert!(verifier.verify(&number).await.is_err());
}

#[tokio::test]
async fn an_empty_scope_name_or_email_means_none() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .scope("")
        .claim("name", "")
        .claim("email", "")
        .sign(&fx.key);
    let principal = fx.verifier().verify(&token).await.unwrap();
    assert!(principal.scopes.is_empty());
    assert_eq!(principal.name, None);
    assert_eq!(principal.email, None);
}

#[tokio::test]
async fn a_client_id_from_client_id_or_azp_is_required() {
    let fx = Fixture::new().await;
    let token = fx.token().without("azp").sign(&fx.key);
    let error = assert_refused(
        fx.verifier().verify(&token).await,
        &token,
        "missing_client_id",
    );
    assert_eq!(error.error_code(), Some(BearerErrorCode::InvalidToken));
}

#[tokio::test]
async fn wrongly_typed_claims_are_invalid_tokens() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let cases = [
        ("scope", json!(["tool:greet"])),
        ("permissions", json!("tool:greet")),
        ("permissions", json!(["ok", 1])),
        ("azp", json!(5)),
        ("client_id", json!("")),
        ("iat", json!("yesterday")),
        ("name", json!({"first": "A"})),
        ("email", json!(true)),
        ("exp", json!("soon")),
    ];
    for (claim, value) in cases {
        let token = fx.token().claim(claim, value.clone()).sign(&fx.key);
        let error = assert_refused(verifier.verify(&token).await, &token, "invalid_claim");
        assert!(
            matches!(&error, VerifyError::InvalidClaim(name) if name == claim),
            "{claim}={value}: {error:?}"
        );
    }
}

#[tokio::test]
async fn duplicate_claims_are_refused() {
    let fx = Fixture::new().await;
    let claims = fx.token().claims().to_string();
    let duplicated = format!(r#"{{"sub":"auth0|attacker",{}"#, &claims[1..]);
    let header = json!({"alg": "RS256", "kid": fx.key.kid()}).to_string();
    let token = fx.key.sign_raw(header.as_bytes(), duplicated.as_bytes());
    assert_refused(fx.verifier().verify(&token).await, &token, "malformed");

    let duplicated_header = format!(r#"{{"alg":"RS256","kid":"{0}","kid":"{0}"}}"#, fx.key.kid());
    let token = fx
        .key
        .sign_raw(duplicated_header.as_bytes(), claims.as_bytes());
    assert_refused(fx.verifier().verify(&token).await, &token, "malformed");
}

#[tokio::test]
async fn signed_payloads_that_are_not_claims_objects_are_malformed() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let header = json!({"alg": "RS256", "kid": fx.key.kid()}).to_string();
    for payload in [
        &b"[1,2]"[..],
        b"\"claims\"",
        b"null",
        b"{not json",
        b"\xff\xfe",
        b"",
    ] {
        let token = fx.key.sign_raw(header.as_bytes(), payload);
        let error = verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), "malformed", "payload {payload:?}: {error:?}");
    }
}

// ---- Algorithms and keys ----

#[tokio::test]
async fn rfc8725_3_1_alg_none_is_refused() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let unsigned = fx.token().header("kid", fx.key.kid()).unsigned();
    let error = assert_refused(
        verifier.verify(&unsigned).await,
        &unsigned,
        "unsupported_alg",
    );
    assert!(matches!(
        error,
        VerifyError::UnsupportedAlgorithm { alg: "none" }
    ));
    // The same with a (meaningless) signature attached.
    let with_sig = format!("{unsigned}c2ln");
    assert_refused(
        verifier.verify(&with_sig).await,
        &with_sig,
        "unsupported_alg",
    );
    assert_eq!(
        fx.jwks_requests().await,
        0,
        "an unsigned token must not even cost a key fetch"
    );
}

#[tokio::test]
async fn rfc8725_3_1_hs256_signed_with_the_rsa_public_key_is_refused() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let jwk = fx.key.jwk();
    let secrets: [Vec<u8>; 3] = [
        fx.key.public_key_pem().as_bytes().to_vec(),
        jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        jwk.to_string().into_bytes(),
    ];
    for secret in secrets {
        let token = fx.token().sign_hs256(&secret, Some(fx.key.kid()));
        let error = assert_refused(verifier.verify(&token).await, &token, "unsupported_alg");
        assert!(matches!(
            error,
            VerifyError::UnsupportedAlgorithm { alg: "HS256" }
        ));
    }
}

#[tokio::test]
async fn token_signed_by_a_key_the_issuer_never_published_is_refused() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(fast_options());
    // Same kid as the real key: the signature check is what stops it.
    let impostor = TestKey::rsa(fx.key.kid());
    let forged = fx.token().sign(&impostor);
    assert_refused(verifier.verify(&forged).await, &forged, "bad_signature");
    // Its own kid: unknown even after a refetch.
    let stranger = TestKey::rsa("stranger");
    let token = fx.token().sign(&stranger);
    assert_refused(verifier.verify(&token).await, &token, "unknown_kid");
    // A tampered payload under a genuine signature.
    let genuine = fx.token().sign(&fx.key);
    let parts: Vec<&str> = genuine.split('.').collect();
    let tampered_claims = fx.token().sub("auth0|admin").claims().to_string();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        forge::b64url(tampered_claims.as_bytes()),
        parts[2]
    );
    assert_refused(verifier.verify(&tampered).await, &tampered, "bad_signature");
}

#[tokio::test]
async fn header_alg_must_match_the_key_kty_and_jwk_alg() {
    let rsa = TestKey::rsa("rsa");
    let fx = Fixture::with_key(rsa.clone()).await;
    let ec = TestKey::ec_p256("ec");
    fx.publish(&[&rsa, &ec]);
    let verifier = fx.verifier_with(VerifierOptions {
        algorithms: vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
        ..fast_options()
    });
    // An ES256 header naming the RSA key.
    let token = fx.token().header("alg", "ES256").sign(&rsa);
    assert_refused(verifier.verify(&token).await, &token, "key_mismatch");
    // PS256 with an RSA key whose JWK pins RS256.
    let token = fx
        .token()
        .sign(&rsa.clone().with_alg(jsonwebtoken::Algorithm::PS256));
    assert_refused(verifier.verify(&token).await, &token, "key_mismatch");
    // RS256 naming the EC key.
    let token = fx.token().header("kid", "ec").sign(&rsa);
    assert_refused(verifier.verify(&token).await, &token, "key_mismatch");
}

#[tokio::test]
async fn ps256_and_es256_verify_only_when_configured() {
    let ps = TestKey::rsa("ps").with_alg(jsonwebtoken::Algorithm::PS256);
    let fx = Fixture::with_key(ps.clone()).await;
    let ec = TestKey::ec_p256("ec");
    let rs_unpinned = TestKey::rsa("rs").without_jwk_alg();
    fx.publish(&[&ps, &ec, &rs_unpinned]);
    let all = fx.verifier_with(VerifierOptions {
        algorithms: vec![Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
        ..fast_options()
    });
    for key in [&ps, &ec, &rs_unpinned] {
        all.verify(&fx.token().sign(key)).await.unwrap();
    }
    // A JWK without alg may be used with any configured algorithm of its kty.
    let ps_with_unpinned = rs_unpinned.clone().with_alg(jsonwebtoken::Algorithm::PS256);
    let token = fx.token().header("kid", "rs").sign(&ps_with_unpinned);
    all.verify(&token).await.unwrap();

    let default_only = fx.verifier();
    for key in [&ps, &ec] {
        let token = fx.token().sign(key);
        assert_refused(default_only.verify(&token).await, &token, "unsupported_alg");
    }
}

#[tokio::test]
async fn rfc8725_3_10_jku_x5u_and_jwk_headers_are_never_used() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier_with(fast_options());
    let attacker = TestKey::rsa(fx.key.kid());
    let attacker_jwks = format!("{}/attacker/jwks.json", fx.server.uri());
    let token = fx
        .token()
        .header("jku", attacker_jwks.clone())
        .header("x5u", format!("{}/attacker/cert.pem", fx.server.uri()))
        .header("jwk", attacker.jwk())
        .sign(&attacker);
    let error = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(error.kind(), "bad_signature" | "malformed"),
        "{error:?}"
    );
    // Headers pointing elsewhere do not stop a genuine token from verifying.
    let genuine = fx.token().header("jku", attacker_jwks).sign(&fx.key);
    verifier.verify(&genuine).await.unwrap();
    assert_eq!(fx.requests_to("/attacker/jwks.json").await, 0);
    assert_eq!(fx.requests_to("/attacker/cert.pem").await, 0);
}

#[tokio::test]
async fn rfc7515_4_1_11_crit_headers_are_refused() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .header("crit", json!(["exp"]))
        .header("exp", 1)
        .sign(&fx.key);
    assert_refused(fx.verifier().verify(&token).await, &token, "malformed");
}

#[tokio::test]
async fn token_without_kid_uses_the_only_matching_key() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .header("kid", serde_json::Value::Null)
        .sign(&fx.key);
    fx.verifier().verify(&token).await.unwrap();

    let second = TestKey::rsa("key-2");
    fx.publish(&[&fx.key, &second]);
    let verifier = fx.verifier();
    assert_refused(verifier.verify(&token).await, &token, "unknown_kid");
}

// ---- Size and garbage ----

#[tokio::test]
async fn token_over_the_size_limit_is_refused_before_parsing() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let big = fx
        .token()
        .claim("padding", "x".repeat(20 * 1024))
        .sign(&fx.key);
    let error = assert_refused(verifier.verify(&big).await, &big, "too_large");
    assert!(matches!(error, VerifyError::TooLarge { limit: 16384 }));
    let garbage = "!".repeat(16 * 1024 + 1);
    assert_refused(verifier.verify(&garbage).await, &garbage, "too_large");
    assert_eq!(
        fx.jwks_requests().await,
        0,
        "refused before any key was needed"
    );

    let small = fx.verifier_with(VerifierOptions {
        max_token_bytes: 100,
        ..fast_options()
    });
    let ordinary = fx.token().sign(&fx.key);
    assert_refused(small.verify(&ordinary).await, &ordinary, "too_large");
}

#[tokio::test]
async fn garbage_strings_are_refused_as_opaque_or_malformed() {
    let fx = Fixture::new().await;
    let verifier = fx.verifier();
    let header = forge::b64url(br#"{"alg":"RS256","kid":"key-1"}"#);
    let cases: Vec<(String, &str)> = vec![
        ("".into(), "empty"),
        (".".into(), "opaque_token"),
        ("..".into(), "opaque_token"),
        ("a.b".into(), "opaque_token"),
        ("a.b.c.d".into(), "opaque_token"),
        ("!!!.!!!.!!!".into(), "opaque_token"),
        ("Bearer x.y.z".into(), "opaque_token"),
        ("e30.e30.e30".into(), "malformed"), // header {} has no alg
        ("bnVsbA.e30.e30".into(), "malformed"), // header null
        (format!("{header}.e30="), "opaque_token"), // padding
        (format!("{header}.e30"), "opaque_token"),
        (format!("{header}.e30."), "malformed"), // empty signature
        (format!("{header}.%%%.c2ln"), "malformed"),
        (format!("{header}.e30.c2ln"), "bad_signature"),
        ("eyJhbGciOiJSUzI1NiJ9\u{0}.e30.c2ln".into(), "opaque_token"),
        ("ünïcödé.ünïcödé.ünïcödé".into(), "opaque_token"),
    ];
    for (token, kind) in cases {
        let error = verifier.verify(&token).await.unwrap_err();
        assert_eq!(error.kind(), kind, "{token:?}: {error:?}");
    }
}

#[tokio::test]
async fn a_token_exactly_at_the_size_bound_is_verified_and_one_byte_over_is_not() {
    let fx = Fixture::new().await;
    let token = fx.token().sign(&fx.key);
    let at_bound = fx.verifier_with(VerifierOptions {
        max_token_bytes: token.len(),
        ..VerifierOptions::default()
    });
    assert!(at_bound.verify(&token).await.is_ok());
    let below = fx.verifier_with(VerifierOptions {
        max_token_bytes: token.len() - 1,
        ..VerifierOptions::default()
    });
    let error = below.verify(&token).await.unwrap_err();
    assert!(matches!(error, VerifyError::TooLarge { .. }), "{error:?}");
}

// ---- Auth0 misconfigurations, named (issue 19) ----

/// Every character RFC 6750 §3 allows in `error_description`: %x20-21 / %x23-5B / %x5D-7E.
fn rfc6750_safe(text: &str) -> bool {
    text.bytes()
        .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// No segment of `token` (of at least 8 characters) appears in any text of `error`.
fn assert_no_segment(error: &VerifyError, token: &str) {
    for text in [
        error.to_string(),
        format!("{error:?}"),
        error.description().into_owned(),
    ] {
        for segment in token.split('.').filter(|s| s.len() >= 8) {
            assert!(!text.contains(segment), "{text} holds a token segment");
        }
    }
    assert!(
        rfc6750_safe(&error.description()),
        "{}",
        error.description()
    );
}

const NO_API_FIX: &str = "Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience";

#[tokio::test]
async fn an_opaque_token_names_the_missing_api_audience() {
    let fx = Fixture::new().await;
    for token in [
        "hQXhbU3i3XKFMHk_3HvTgcBrwNj4bJzC".to_owned(),
        "not-a-jwt.at-all.0123456789".to_owned(),
        // Auth0's own opaque format: a JWE encrypted for Auth0 (`alg: dir`).
        format!(
            "{}..aXZpdml2aXZpdml2.Y2lwaGVydGV4dGNpcGhlcnRleHQ.dGFndGFndGFndGFn",
            forge::b64url(br#"{"alg":"dir","enc":"A256GCM","iss":"https://t.example/"}"#)
        ),
    ] {
        let error = assert_refused(fx.verifier().verify(&token).await, &token, "opaque_token");
        assert!(matches!(error, VerifyError::Opaque), "{error:?}");
        assert!(
            error.description().contains(NO_API_FIX),
            "{}",
            error.description()
        );
        assert!(error.description().contains("no API audience"));
        assert_no_segment(&error, &token);
    }
}

#[tokio::test]
async fn a_jwe_names_token_encryption() {
    let fx = Fixture::new().await;
    let header = forge::b64url(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"api-enc"}"#);
    let token = format!(
        "{header}.ZW5jcnlwdGVka2V5ZW5jcnlwdGVka2V5.aXZpdml2aXZpdml2.Y2lwaGVydGV4dGNpcGhlcnRleHQ.dGFndGFndGFndGFn"
    );
    let error = assert_refused(
        fx.verifier().verify(&token).await,
        &token,
        "encrypted_token",
    );
    assert_eq!(
        error.description(),
        "The access token is encrypted (a JWE): turn off token encryption for this API in the tenant"
    );
    assert_no_segment(&error, &token);
}

#[tokio::test]
async fn a_jwt_for_userinfo_only_names_the_missing_api_audience() {
    let fx = Fixture::new().await;
    let userinfo = format!("{}userinfo", fx.issuer());
    for aud in [json!(userinfo), json!([userinfo])] {
        let token = fx.token().claim("aud", aud).sign(&fx.key);
        let error = assert_refused(
            fx.verifier().verify(&token).await,
            &token,
            "userinfo_audience",
        );
        assert!(
            error.description().contains("userinfo"),
            "{}",
            error.description()
        );
        assert!(
            error.description().contains(NO_API_FIX),
            "{}",
            error.description()
        );
        assert_no_segment(&error, &token);
    }
    // With an API beside it, it is a token for another API.
    let token = fx
        .token()
        .claim("aud", json!(["https://other-api.example/", userinfo]))
        .sign(&fx.key);
    assert_refused(fx.verifier().verify(&token).await, &token, "wrong_audience");
}

#[tokio::test]
async fn another_issuer_is_named_with_the_one_expected() {
    let fx = Fixture::new().await;
    let token = fx.token().issuer("https://other.example/").sign(&fx.key);
    let error = assert_refused(fx.verifier().verify(&token).await, &token, "wrong_issuer");
    assert_eq!(
        error.description(),
        format!(
            "The access token was issued by https://other.example/ but this server expects tokens issued by {}",
            fx.issuer()
        )
    );
    assert_no_segment(&error, &token);

    // Another tenant signs with its own key: its kid is unknown here, and the
    // (unverified) iss names it.
    let stranger = TestKey::rsa("other-tenant-key");
    let token = fx.token().issuer("https://other.example/").sign(&stranger);
    let error = assert_refused(fx.verifier().verify(&token).await, &token, "wrong_issuer");
    assert!(
        error
            .description()
            .contains("issued by https://other.example/ but")
    );
    // Our own issuer under an unknown key is an unknown key.
    let token = fx.token().sign(&stranger);
    assert_refused(fx.verifier().verify(&token).await, &token, "unknown_kid");
}

#[tokio::test]
async fn the_wrong_api_is_named_with_the_audience_expected() {
    let fx = Fixture::new().await;
    let token = fx
        .token()
        .audience("https://other-api.example/")
        .sign(&fx.key);
    let error = assert_refused(fx.verifier().verify(&token).await, &token, "wrong_audience");
    assert_eq!(
        error.description(),
        format!(
            "The access token is for the audience https://other-api.example/ but this server expects the audience {AUDIENCE}: the client must ask for a token for this API"
        )
    );
    assert_no_segment(&error, &token);
}

#[tokio::test]
async fn hostile_claims_are_cut_and_stripped_before_they_are_named() {
    let fx = Fixture::new().await;
    let huge = format!("https://x.example/\"\\\u{7}\r\n{}", "a".repeat(10_000));
    let many: Vec<String> = (0..50)
        .map(|i| format!("https://api{i}.example/"))
        .collect();
    let wrong_aud = fx.token().claim("aud", json!(many)).sign(&fx.key);
    let wrong_iss = fx.token().issuer(huge.clone()).sign(&fx.key);
    let wrong_both = fx.token().claim("aud", json!([huge])).sign(&fx.key);
    for token in [wrong_aud, wrong_iss, wrong_both] {
        let error = fx.verifier().verify(&token).await.unwrap_err();
        let description = error.description();
        assert!(rfc6750_safe(&description), "{description}");
        assert!(description.len() < 1_200, "{} chars", description.len());
        assert_no_segment(&error, &token);
    }
    assert_eq!(
        oauth_jwt_verify::echo_claim(&huge).len(),
        oauth_jwt_verify::MAX_ECHOED_CLAIM_CHARS + 3
    );
    assert_eq!(oauth_jwt_verify::echo_claim("\"\\\n"), "(empty)");
}
