//! The exchange against a mock Auth0 tenant: the wire format (RFC 8693 §2.1,
//! RFC 6749 §2.3.1), response validation (RFC 8693 §2.2), error mapping (RFC 6749
//! §5.2) and the retry rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auth0_obo::{
    ClientAuthMethod, ExchangeClient, ExchangeError, ExchangeRequest, TokenEndpoint, TokenType,
};
use base64::Engine as _;
use common::*;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn request() -> ExchangeRequest {
    ExchangeRequest::new(USER_A_TOKEN, API_AUDIENCE).unwrap()
}

#[tokio::test]
async fn rfc8693_2_1_request_carries_exactly_the_specified_form_fields() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(1)
        .mount(&server)
        .await;

    let req = request().with_scope("write:private read:private");
    client(&server).exchange(&req).await.unwrap();

    let sent = token_requests(&server).await;
    assert_eq!(sent.len(), 1);
    let r = &sent[0];
    assert_eq!(r.method.as_str(), "POST");
    assert_eq!(
        r.headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let fields = form(r);
    let expected: Vec<(&str, &str)> = vec![
        ("audience", API_AUDIENCE),
        (
            "grant_type",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ),
        (
            "requested_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
        ("scope", "read:private write:private"),
        ("subject_token", USER_A_TOKEN),
        (
            "subject_token_type",
            "urn:ietf:params:oauth:token-type:access_token",
        ),
    ];
    let got: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn rfc8693_2_1_scope_is_omitted_when_not_requested() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    client(&server).exchange(&request()).await.unwrap();
    let fields = form(&token_requests(&server).await[0]);
    assert!(!fields.contains_key("scope"));
    assert_eq!(fields.len(), 5);
}

#[tokio::test]
async fn rfc6749_2_3_1_basic_header_form_encodes_id_and_secret_before_base64() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let id = "client:id+1 %x";
    let secret = "s:e+c%r et/ü";
    let client = ExchangeClient::builder(server.uri(), id, secret)
        .build()
        .unwrap();
    client.exchange(&request()).await.unwrap();

    let sent = token_requests(&server).await;
    let auth = sent[0]
        .headers
        .get("authorization")
        .unwrap()
        .to_str()
        .unwrap();
    // Written out by hand from RFC 6749 §2.3.1 and the urlencoded serializer rules.
    let expected_plain = "client%3Aid%2B1+%25x:s%3Ae%2Bc%25r+et%2F%C3%BC";
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(expected_plain)
    );
    assert_eq!(auth, expected);
    let fields = form(&sent[0]);
    assert!(!fields.contains_key("client_id"));
    assert!(!fields.contains_key("client_secret"));
}

#[tokio::test]
async fn rfc6749_2_3_1_client_secret_post_sends_credentials_in_the_body() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let client = builder_with(
        &server,
        ClientAuthMethod::ClientSecretPost(CLIENT_SECRET.into()),
    )
    .build()
    .unwrap();
    assert_eq!(client.auth_method().name(), "client_secret_post");
    client.exchange(&request()).await.unwrap();

    let sent = token_requests(&server).await;
    assert!(sent[0].headers.get("authorization").is_none());
    let fields = form(&sent[0]);
    assert_eq!(fields["client_id"], CLIENT_ID);
    assert_eq!(fields["client_secret"], CLIENT_SECRET);
    assert_eq!(fields["subject_token"], USER_A_TOKEN);
    assert_eq!(fields.len(), 7);
}

#[tokio::test]
async fn design_3_bad_subject_token_or_audience_is_refused_before_any_request() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(0)
        .mount(&server)
        .await;
    for (token, audience) in [
        ("", API_AUDIENCE),
        ("   ", API_AUDIENCE),
        (&format!(" {USER_A_TOKEN}") as &str, API_AUDIENCE),
        (&format!("{USER_A_TOKEN} "), API_AUDIENCE),
        (&format!("Bearer {USER_A_TOKEN}"), API_AUDIENCE),
        (&format!("bEaReR {USER_A_TOKEN}"), API_AUDIENCE),
        (USER_A_TOKEN, ""),
        (USER_A_TOKEN, "  "),
    ] {
        let err = ExchangeRequest::new(token, audience).unwrap_err();
        assert!(matches!(err, ExchangeError::InvalidInput { .. }), "{err:?}");
        assert_eq!(err.kind(), "invalid_input");
        assert!(!err.to_string().contains(USER_A_TOKEN));
    }
    // The mock's `expect(0)` is verified when the server drops.
}

#[tokio::test]
async fn rfc8693_2_2_1_success_response_is_parsed() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": API_TOKEN,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "DPoP",
            "expires_in": 120,
            "scope": "read:private",
        })))
        .mount(&server)
        .await;
    let before = SystemTime::now();
    let token = client(&server).exchange(&request()).await.unwrap();
    assert_eq!(token.access_token.secret(), API_TOKEN);
    assert_eq!(token.token_type, TokenType::DPoP);
    assert_eq!(
        token.issued_token_type,
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(token.scope.as_deref(), Some("read:private"));
    assert_eq!(token.expires_in, Duration::from_secs(120));
    assert!(token.expires_at >= before + Duration::from_secs(120));
    assert!(token.expires_at <= SystemTime::now() + Duration::from_secs(120));
}

#[tokio::test]
async fn rfc8693_2_2_1_missing_expires_in_means_3600_seconds() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": API_TOKEN,
            "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
            "token_type": "Bearer",
        })))
        .mount(&server)
        .await;
    let token = client(&server).exchange(&request()).await.unwrap();
    assert_eq!(token.expires_in, Duration::from_secs(3600));
    assert_eq!(token.token_type, TokenType::Bearer);
    assert_eq!(token.scope, None);
}

#[tokio::test]
async fn rfc8693_2_2_1_invalid_success_bodies_are_invalid_response() {
    let bodies = [
        json!({"access_token": API_TOKEN, "issued_token_type": "x", "token_type": "Bearer", "expires_in": -5}),
        json!({"access_token": API_TOKEN, "issued_token_type": "x", "token_type": "Bearer", "expires_in": "soon"}),
        json!({"access_token": "", "issued_token_type": "x", "token_type": "Bearer", "expires_in": 60}),
        json!({"issued_token_type": "x", "token_type": "Bearer", "expires_in": 60}),
    ];
    for body in bodies {
        let server = MockServer::start().await;
        token_endpoint()
            .respond_with(ResponseTemplate::new(200).set_body_json(&body))
            .expect(1) // not retried: the server answered
            .mount(&server)
            .await;
        let err = client(&server).exchange(&request()).await.unwrap_err();
        assert!(
            matches!(err, ExchangeError::InvalidResponse { .. }),
            "{body} -> {err:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn non_json_body_is_invalid_response_naming_the_content_type() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    let ExchangeError::InvalidResponse { reason } = &err else {
        panic!("{err:?}")
    };
    assert!(reason.contains("text/html"), "{reason}");
}

#[tokio::test]
async fn oversized_body_is_invalid_response() {
    let server = MockServer::start().await;
    let huge = "a".repeat(200 * 1024);
    token_endpoint()
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": huge, "token_type": "Bearer", "issued_token_type": "x"
        })))
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::InvalidResponse { reason } if reason.contains("KiB")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc6749_5_2_each_error_code_maps_to_its_variant() {
    type Check = fn(&ExchangeError) -> bool;
    let cases: [(u16, &str, Check); 9] = [
        (400, "invalid_request", |e| {
            matches!(e, ExchangeError::InvalidRequest(_))
        }),
        (401, "invalid_client", |e| {
            matches!(e, ExchangeError::InvalidClient(_))
        }),
        (400, "invalid_grant", |e| {
            matches!(e, ExchangeError::InvalidGrant(_))
        }),
        (403, "unauthorized_client", |e| {
            matches!(e, ExchangeError::UnauthorizedClient(_))
        }),
        (400, "unsupported_grant_type", |e| {
            matches!(e, ExchangeError::UnsupportedGrantType(_))
        }),
        (400, "invalid_scope", |e| {
            matches!(e, ExchangeError::InvalidScope(_))
        }),
        (400, "invalid_target", |e| {
            matches!(e, ExchangeError::InvalidTarget(_))
        }),
        (403, "access_denied", |e| {
            matches!(e, ExchangeError::AccessDenied(_))
        }),
        (
            400,
            "consent_required",
            |e| matches!(e, ExchangeError::Other { code, .. } if code == "consent_required"),
        ),
    ];
    for (status, code, check) in cases {
        let server = MockServer::start().await;
        token_endpoint()
            .respond_with(ResponseTemplate::new(status).set_body_json(json!({
                "error": code,
                "error_description": format!("because {code}"),
                "error_uri": "https://docs.example/errors",
            })))
            .expect(1) // 4xx is never retried
            .mount(&server)
            .await;
        let err = client(&server).exchange(&request()).await.unwrap_err();
        assert!(check(&err), "{code} -> {err:?}");
        assert_eq!(err.oauth_error_code(), Some(code));
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        let details = err.oauth_details().unwrap();
        assert_eq!(
            details.description.as_deref(),
            Some(&*format!("because {code}"))
        );
        assert_eq!(details.uri.as_deref(), Some("https://docs.example/errors"));
        assert!(!err.is_retryable());
        assert!(err.to_string().contains(code));
    }
}

#[tokio::test]
async fn rfc6749_5_2_error_status_without_oauth_body_is_invalid_response() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(403).set_body_raw("Forbidden", "text/plain"))
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::InvalidResponse { reason } if reason.contains("403") && reason.contains("text/plain")),
        "{err:?}"
    );
}

#[tokio::test]
async fn rfc6585_4_429_is_retried_when_retry_after_fits_the_deadline() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .insert_header("x-ratelimit-limit", "2")
                .insert_header("x-ratelimit-remaining", "0"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let started = Instant::now();
    let token = builder(&server)
        .deadline(Duration::from_secs(4))
        .build()
        .unwrap()
        .exchange(&request())
        .await
        .unwrap();
    assert_eq!(token.access_token.secret(), API_TOKEN);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );
    assert_eq!(token_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn rfc6585_4_429_is_not_retried_when_retry_after_exceeds_the_deadline() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = client(&server).exchange(&request()).await.unwrap_err();
    assert_eq!(
        err,
        ExchangeError::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert!(err.is_retryable());
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn auth0_429_without_retry_after_uses_x_ratelimit_reset() {
    let server = MockServer::start().await;
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 100;
    token_endpoint()
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "2")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    let ExchangeError::RateLimited {
        retry_after: Some(wait),
    } = err
    else {
        panic!("{err:?}")
    };
    assert!(wait > Duration::from_secs(95) && wait <= Duration::from_secs(100));
}

#[tokio::test]
async fn rfc9110_15_6_500_then_200_recovers_with_exactly_one_retry() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600))
        .mount(&server)
        .await;
    let token = client(&server).exchange(&request()).await.unwrap();
    assert_eq!(token.access_token.secret(), API_TOKEN);
    assert_eq!(token_requests(&server).await.len(), 2);
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_two_retries() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    assert!(
        matches!(err, ExchangeError::Server { status } if status.as_u16() == 503),
        "{err:?}"
    );
}

#[tokio::test]
async fn hanging_endpoint_ends_in_timeout_within_the_deadline() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ok_response(API_TOKEN, 3600).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let deadline = Duration::from_millis(700);
    let client = builder(&server)
        .timeout(Duration::from_millis(250))
        .deadline(deadline)
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.exchange(&request()).await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, ExchangeError::Timeout { .. }), "{err:?}");
    assert!(
        elapsed < deadline + Duration::from_millis(500),
        "{elapsed:?}"
    );
    // Timeouts are retried while the deadline allows.
    assert!(token_requests(&server).await.len() >= 2);
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error_without_the_url_or_secrets() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = ExchangeClient::builder(
        format!("http://127.0.0.1:{port}/"),
        CLIENT_ID,
        CLIENT_SECRET,
    )
    .max_retries(0)
    .build()
    .unwrap();
    let err = client.exchange(&request()).await.unwrap_err();
    let ExchangeError::Transport { message } = &err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("connection failed"), "{message}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("oauth/token"), "{shown}");
    assert!(!shown.contains(USER_A_TOKEN) && !shown.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(ResponseTemplate::new(302).insert_header("location", "https://evil.example/"))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server).exchange(&request()).await.unwrap_err();
    assert!(
        matches!(&err, ExchangeError::InvalidResponse { reason } if reason.contains("302")),
        "{err:?}"
    );
}

#[tokio::test]
async fn oidc_discovery_4_token_endpoint_is_discovered_once() {
    let server = MockServer::start().await;
    let issuer = format!("{}/", server.uri());
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer,
            "token_endpoint": format!("{}/custom/token", server.uri()),
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/custom/token"))
        .respond_with(ok_response(API_TOKEN, 3600))
        .expect(2)
        .mount(&server)
        .await;
    let client = builder(&server)
        .token_endpoint(TokenEndpoint::Discover)
        .build()
        .unwrap();
    client.exchange(&request()).await.unwrap();
    client.exchange(&request()).await.unwrap();
    assert_eq!(
        client.token_endpoint().await.unwrap().as_str(),
        format!("{}/custom/token", server.uri())
    );
}

#[tokio::test]
async fn oidc_discovery_4_3_document_for_another_issuer_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": "https://someone-else.example/",
            "token_endpoint": format!("{}/custom/token", server.uri()),
        })))
        .mount(&server)
        .await;
    let err = builder(&server)
        .token_endpoint(TokenEndpoint::Discover)
        .build()
        .unwrap()
        .exchange(&request())
        .await
        .unwrap_err();
    assert!(matches!(err, ExchangeError::Config { .. }), "{err:?}");
}

#[test]
fn invalid_ca_bundle_is_a_config_error() {
    for pem in [&b"not a pem"[..], b""] {
        let err = ExchangeClient::builder("tenant.auth0.com", CLIENT_ID, CLIENT_SECRET)
            .ca_bundle_pem(pem)
            .build()
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Config { .. }), "{err:?}");
    }
}

#[test]
fn bare_domain_issuer_targets_https_oauth_token() {
    let client = ExchangeClient::builder("tenant.eu.auth0.com", CLIENT_ID, CLIENT_SECRET)
        .build()
        .unwrap();
    assert_eq!(client.issuer().as_str(), "https://tenant.eu.auth0.com/");
}

#[test]
fn empty_client_credentials_are_config_errors() {
    for (id, secret) in [("", CLIENT_SECRET), (CLIENT_ID, "")] {
        let err = ExchangeClient::builder("tenant.auth0.com", id, secret)
            .build()
            .unwrap_err();
        assert!(matches!(err, ExchangeError::Config { .. }), "{err:?}");
    }
}
