//! Every bearer refusal of `GET /api/private-scope`, whole: status, challenge,
//! `Cache-Control: no-store`, `Retry-After` and body, against the one table both
//! servers answer by (`obo_tests::refusal`; the MCP server's `tests/refusals.rs` reads
//! the same, plus its `resource_metadata`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use obo_tests::keys::TestKey;
use obo_tests::refusal::{
    MALFORMED_AUTHORIZATION, MALFORMED_TOKEN_DESCRIPTION, NOT_A_JWT_AUTHORIZATION, Refused,
};
use support::Harness;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn rfc6750_3_every_refusal_is_the_shared_one() {
    let api = Harness::start().await;

    let answer = Refused::read(api.get(None).await).await;
    assert_eq!(answer, Refused::missing_token(None));

    let answer = Refused::read(api.get(Some("Basic dXNlcjpwYXNz")).await).await;
    assert_eq!(answer, Refused::missing_token(None));

    let answer = Refused::read(api.get(Some(MALFORMED_AUTHORIZATION)).await).await;
    assert_eq!(answer, Refused::malformed_header(None));

    let answer = Refused::read(api.get(Some(NOT_A_JWT_AUTHORIZATION)).await).await;
    assert_eq!(
        answer,
        Refused::invalid_token(MALFORMED_TOKEN_DESCRIPTION, None)
    );

    let token = api.token().scope("openid read:other").sign(&api.key);
    let answer = Refused::read(api.get_with_token(&token).await).await;
    assert_eq!(
        answer,
        Refused::insufficient_scope(
            "read:private",
            "The access token lacks the scope read:private",
            None
        )
    );
}

#[tokio::test]
async fn jwks_unavailable_is_the_shared_503() {
    let issuer = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .mount(&issuer)
        .await;
    let api = Harness::start_with(issuer, TestKey::rsa("key-1")).await;
    let token = api.token().sign(&api.key);
    let answer = Refused::read(api.get_with_token(&token).await).await;
    assert_eq!(answer, Refused::keys_unavailable());
}
