//! Private Key JWT client authentication (RFC 7523 §2.2, as Auth0 documents it) and
//! the `organization` parameter, checked on the wire. The assertion is verified here
//! with the public half of a key generated for the test run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use auth0_obo::{
    ASSERTION_LIFETIME, AssertionAlgorithm, CLIENT_ASSERTION_TYPE_JWT_BEARER, CacheOptions,
    ClientAssertionKey, ExchangeError, ExchangeRequest, TokenCache,
};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine as _;
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use wiremock::{MockServer, ResponseTemplate};

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A private key PEM and the key that verifies its signatures.
struct KeyFiles {
    private_pem: String,
    public: DecodingKey,
}

fn rsa_key() -> KeyFiles {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let private = AsDer::<Pkcs8V1Der<'static>>::as_der(&pair).unwrap();
    let public = AsDer::<PublicKeyX509Der<'static>>::as_der(pair.public_key()).unwrap();
    KeyFiles {
        private_pem: pem("PRIVATE KEY", private.as_ref()),
        public: DecodingKey::from_rsa_pem(pem("PUBLIC KEY", public.as_ref()).as_bytes()).unwrap(),
    }
}

fn ec_key() -> KeyFiles {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let private = pair.to_pkcs8v1().unwrap();
    let public = AsDer::<PublicKeyX509Der<'static>>::as_der(pair.public_key()).unwrap();
    KeyFiles {
        private_pem: pem("PRIVATE KEY", private.as_ref()),
        public: DecodingKey::from_ec_pem(pem("PUBLIC KEY", public.as_ref()).as_bytes()).unwrap(),
    }
}

fn request() -> ExchangeRequest {
    ExchangeRequest::new(USER_A_TOKEN, API_AUDIENCE)
        .unwrap()
        .with_scope("read:private")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Verifies an assertion the way a tenant would, and returns its header and claims.
fn verify(assertion: &str, key: &DecodingKey, alg: Algorithm, issuer: &str) -> (Value, Value) {
    let mut validation = Validation::new(alg);
    validation.set_audience(&[issuer]);
    validation.set_issuer(&[CLIENT_ID]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub", "jti"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<Value>(assertion, key, &validation).unwrap();
    let header = serde_json::to_value(&data.header).unwrap();
    (header, data.claims)
}

#[tokio::test]
async fn rfc7523_each_exchange_sends_a_fresh_signed_assertion_and_no_secret() {
    let cases = [
        (AssertionAlgorithm::Rs256, Algorithm::RS256, rsa_key()),
        (AssertionAlgorithm::Rs384, Algorithm::RS384, rsa_key()),
        (AssertionAlgorithm::Ps256, Algorithm::PS256, rsa_key()),
        (AssertionAlgorithm::Es256, Algorithm::ES256, ec_key()),
    ];
    for (alg, jose, key) in cases {
        let server = MockServer::start().await;
        token_endpoint()
            .respond_with(ok_response(API_TOKEN, 3600))
            .mount(&server)
            .await;
        let signing = ClientAssertionKey::from_pem(key.private_pem.as_bytes(), alg)
            .unwrap()
            .with_kid("credential-kid-1")
            .unwrap();
        let client = builder_with(&server, signing).build().unwrap();
        assert_eq!(client.auth_method().name(), "private_key_jwt");
        let before = now();
        client.exchange(&request()).await.unwrap();

        let sent = token_requests(&server).await;
        assert_eq!(sent.len(), 1);
        assert!(sent[0].headers.get("authorization").is_none(), "{alg}");
        let fields = form(&sent[0]);
        assert!(!fields.contains_key("client_secret"), "{alg}");
        assert_eq!(fields["client_id"], CLIENT_ID);
        assert_eq!(
            fields["client_assertion_type"],
            CLIENT_ASSERTION_TYPE_JWT_BEARER
        );
        let issuer = format!("{}/", server.uri());
        let (header, claims) = verify(&fields["client_assertion"], &key.public, jose, &issuer);
        assert_eq!(header["alg"], alg.as_str());
        assert_eq!(header["kid"], "credential-kid-1");
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(
            claims["aud"],
            issuer.as_str(),
            "the tenant's URL, with its slash"
        );
        let iat = claims["iat"].as_u64().unwrap();
        let exp = claims["exp"].as_u64().unwrap();
        assert!(iat >= before && iat <= now(), "{iat}");
        assert_eq!(exp - iat, ASSERTION_LIFETIME.as_secs());
        assert!(exp - iat <= 60, "at most 60 s");
        let jti = claims["jti"].as_str().unwrap();
        assert_eq!(jti.len(), 36, "a UUID: {jti}");
        // The rest of the exchange is unchanged.
        assert_eq!(fields["subject_token"], USER_A_TOKEN);
        assert_eq!(fields["audience"], API_AUDIENCE);
        assert_eq!(fields.len(), 9, "{fields:?}");
    }
}

#[tokio::test]
async fn rfc7523_concurrent_exchanges_and_retries_never_reuse_a_jti() {
    let key = rsa_key();
    let server = MockServer::start().await;
    // The first attempt fails with a 503, so one exchange is retried.
    token_endpoint()
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let signing =
        ClientAssertionKey::from_pem(key.private_pem.as_bytes(), AssertionAlgorithm::Rs256)
            .unwrap();
    let client = builder_with(&server, signing).build().unwrap();
    let users = ["user-1", "user-2", "user-3", "user-4"];
    let mut exchanges = tokio::task::JoinSet::new();
    for user in users {
        let client = client.clone();
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{user}.c2ln");
        exchanges.spawn(async move {
            let request = ExchangeRequest::new(token, API_AUDIENCE).unwrap();
            client.exchange(&request).await
        });
    }
    while let Some(outcome) = exchanges.join_next().await {
        outcome.unwrap().unwrap();
    }

    let sent = token_requests(&server).await;
    assert_eq!(sent.len(), users.len() + 1, "four exchanges, one retried");
    let issuer = format!("{}/", server.uri());
    let mut jtis = HashSet::new();
    for request in &sent {
        let fields = form(request);
        let (header, claims) = verify(
            &fields["client_assertion"],
            &key.public,
            Algorithm::RS256,
            &issuer,
        );
        assert!(header.get("kid").is_none_or(Value::is_null), "no kid set");
        assert!(claims["exp"].as_u64().unwrap() <= now() + 60);
        assert!(jtis.insert(claims["jti"].as_str().unwrap().to_owned()));
    }
}

#[tokio::test]
async fn a_refused_assertion_is_invalid_client_and_the_assertion_is_scrubbed_from_it() {
    let key = rsa_key();
    let server = MockServer::start().await;
    // A tenant that quotes the whole form back in its description.
    token_endpoint()
        .respond_with(|request: &wiremock::Request| {
            let body = String::from_utf8_lossy(&request.body).into_owned();
            let assertion = url::form_urlencoded::parse(body.as_bytes())
                .find(|(k, _)| k == "client_assertion")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            oauth_error(
                401,
                "invalid_client",
                &format!("Invalid client assertion signature: {assertion}"),
            )
        })
        .mount(&server)
        .await;
    let signing =
        ClientAssertionKey::from_pem(key.private_pem.as_bytes(), AssertionAlgorithm::Ps256)
            .unwrap();
    let client = builder_with(&server, signing).build().unwrap();
    let cache = TokenCache::new(Arc::new(client.clone()), CacheOptions::default());
    let error = cache.get_token(&request()).await.unwrap_err();
    let ExchangeError::InvalidClient(details) = &error else {
        panic!("{error:?}");
    };
    assert_eq!(details.status.as_u16(), 401);
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("Invalid client assertion signature"),
        "{text}"
    );
    let sent = form(&token_requests(&server).await[0]);
    let assertion = &sent["client_assertion"];
    for part in assertion.split('.') {
        assert!(
            !text.contains(part),
            "a part of the assertion leaked: {text}"
        );
    }
    assert_eq!(token_requests(&server).await.len(), 1, "never retried");

    // Nothing of the key either, in any Debug output.
    let body_line = key.private_pem.lines().nth(1).unwrap();
    for shown in [
        format!("{client:?}"),
        format!("{:?}", client.auth_method()),
        format!("{:?}", builder_with(&server, client.auth_method().clone())),
    ] {
        assert!(!shown.contains(body_line), "{shown}");
        assert!(!shown.contains(&key.private_pem[40..80]), "{shown}");
        assert!(
            shown.contains("Ps256") || shown.contains("PrivateKeyJwt"),
            "{shown}"
        );
    }
}

#[test]
fn a_key_of_the_wrong_kind_for_its_algorithm_is_refused_at_start_without_quoting_it() {
    let rsa = rsa_key();
    let ec = ec_key();
    for (pem, alg, says) in [
        (
            &ec.private_pem,
            AssertionAlgorithm::Rs256,
            "RSA private key",
        ),
        (
            &ec.private_pem,
            AssertionAlgorithm::Ps256,
            "RSA private key",
        ),
        (&rsa.private_pem, AssertionAlgorithm::Es256, "P-256"),
    ] {
        let error = ClientAssertionKey::from_pem(pem.as_bytes(), alg).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(text.contains(says), "{text}");
        assert!(!text.contains(&pem[40..80]), "{text}");
    }
    let key = ClientAssertionKey::from_pem(rsa.private_pem.as_bytes(), AssertionAlgorithm::Rs256)
        .unwrap();
    assert!(key.clone().with_kid("has space").is_err());
    assert!(key.clone().with_kid("").is_err());
    assert_eq!(key.with_kid("kid-1").unwrap().kid(), Some("kid-1"));
}

#[tokio::test]
async fn an_organization_is_sent_only_when_asked_for_and_keys_the_cache() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let cache = TokenCache::new(Arc::new(client(&server)), CacheOptions::default());
    let personal = request();
    let in_org = request().with_organization("org_abc123").unwrap();
    for request in [&personal, &in_org, &personal, &in_org] {
        cache.get_token(request).await.unwrap();
    }
    let sent = token_requests(&server).await;
    assert_eq!(sent.len(), 2, "one exchange per organization");
    assert!(!form(&sent[0]).contains_key("organization"));
    assert_eq!(form(&sent[1])["organization"], "org_abc123");
    assert!(
        request().with_organization("org abc").is_err(),
        "whitespace is refused before anything is sent"
    );
}
