//! An ordinary axum API, nothing to do with MCP, that calls another API *as its
//! caller*: the "reusing the OBO crate elsewhere" case, end to end.
//!
//! ```text
//! client ──GET /downstream, Bearer <user token, aud = this API>──▶ this gateway
//!   1. verify the token (jwt-verify, keys from the tenant's JWKS)
//!   2. exchange it for a token for the downstream API (auth0_obo::TokenCache:
//!      one exchange per user, audience and scope, reused until shortly before expiry)
//!   3. GET DOWNSTREAM_URL, Bearer <new token: same sub, aud = downstream, act = us>
//! ◀── the downstream API's JSON answer
//! ```
//!
//! The caller's own token never leaves this process except to the tenant's token
//! endpoint: the downstream API would (and must) refuse it, since it was not issued
//! for that API.
//!
//! # Settings (environment)
//!
//! | variable | meaning |
//! |---|---|
//! | `AUTH0_DOMAIN` | the tenant: `tenant.eu.auth0.com`, or the issuer URL |
//! | `AUTH0_AUDIENCE` | this API's identifier; callers' tokens must carry it in `aud` |
//! | `AUTH0_CLIENT_ID`, `AUTH0_CLIENT_SECRET` | this API's Custom API client, allowed On-Behalf-Of, with a user-delegated client grant to the downstream API |
//! | `DOWNSTREAM_AUDIENCE` | the downstream API's identifier |
//! | `DOWNSTREAM_SCOPE` | the scopes to ask for there (unset: the whole client grant) |
//! | `DOWNSTREAM_URL` | what to call, e.g. `http://localhost:8787/api/private-scope` |
//! | `LISTEN_ADDR` | where to listen; `127.0.0.1:8080` unless set, port 0 picks a free one |
//!
//! ```sh
//! cargo run -p auth0-obo --example axum_gateway
//! curl -H "Authorization: Bearer $USER_TOKEN" http://127.0.0.1:8080/downstream
//! ```
//!
//! `crates/auth0-obo/tests/axum_gateway_example.rs` runs it against the mock tenant and
//! the sample private API.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use auth0_obo::{CacheOptions, ExchangeClient, ExchangeError, ExchangeRequest, TokenCache};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jwt_verify::{BearerErrorCode, Challenge, JwksVerifier, Principal, VerifierOptions, bearer};
use serde_json::{Value, json};

/// What every request shares.
struct Gateway {
    verifier: JwksVerifier,
    tokens: TokenCache,
    http: reqwest::Client,
    downstream_audience: String,
    downstream_scope: Option<String>,
    downstream_url: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let domain = setting("AUTH0_DOMAIN")?;
    let verifier = JwksVerifier::new(
        jwt_verify::Issuer::parse(&domain)?,
        setting("AUTH0_AUDIENCE")?,
        VerifierOptions::default(),
    )?;
    let exchange = ExchangeClient::builder(
        &domain,
        setting("AUTH0_CLIENT_ID")?,
        setting("AUTH0_CLIENT_SECRET")?,
    )
    .build()?;
    let gateway = Arc::new(Gateway {
        verifier,
        tokens: TokenCache::new(Arc::new(exchange), CacheOptions::default()),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
        downstream_audience: setting("DOWNSTREAM_AUDIENCE")?,
        downstream_scope: std::env::var("DOWNSTREAM_SCOPE").ok(),
        downstream_url: setting("DOWNSTREAM_URL")?,
    });

    let app = Router::new()
        .route("/downstream", get(downstream))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(gateway);
    let listen = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".to_owned());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}

fn setting(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}: see the table atop axum_gateway.rs"))
}

/// `GET /downstream`: the downstream API's answer, fetched on the caller's behalf.
async fn downstream(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
) -> Result<Json<Value>, Response> {
    let caller = gateway.authenticate(&headers).await?;
    let mut request = ExchangeRequest::new(caller.token().secret(), &gateway.downstream_audience)
        .map_err(|error| exchange_failed(&error))?
        .with_optional_scope(gateway.downstream_scope.as_deref());
    // The exchanged token is not reused past the caller's own.
    if let Some(expires_at) =
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(caller.expires_at))
    {
        request = request.with_subject_expires_at(expires_at);
    }

    let mut answer = gateway.call_as(&request).await?;
    // A token the downstream API no longer takes (revoked, keys rotated) is dropped and
    // exchanged afresh, once.
    if answer.status() == StatusCode::UNAUTHORIZED {
        gateway.tokens.invalidate(&request).await;
        answer = gateway.call_as(&request).await?;
    }
    if !answer.status().is_success() {
        let why = format!("the downstream API answered {}", answer.status());
        return Err(problem(StatusCode::BAD_GATEWAY, "downstream_refused", &why));
    }
    let body = answer.json::<Value>().await.map_err(|_| {
        let why = "the downstream API did not answer with JSON";
        problem(StatusCode::BAD_GATEWAY, "downstream_invalid", why)
    })?;
    Ok(Json(body))
}

impl Gateway {
    /// The verified caller, or the RFC 6750 answer that says why not.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Principal>, Response> {
        let Some(authorization) = headers.get(header::AUTHORIZATION) else {
            return Err(unauthenticated(None, ""));
        };
        let authorization = authorization.to_str().map_err(|_| {
            let why = "The Authorization header holds characters outside ASCII";
            unauthenticated(Some(BearerErrorCode::InvalidRequest), why)
        })?;
        let token = bearer::parse_authorization(authorization)
            .map_err(|error| unauthenticated(error.error_code(), error.description()))?;
        self.verifier
            .verify(token)
            .await
            .map_err(|error| match error.error_code() {
                Some(code) => unauthenticated(Some(code), &error.description()),
                // Our side failed (the tenant's keys are unreachable): not the caller's fault.
                None => problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    &error.description(),
                ),
            })
    }

    /// Calls the downstream API with a token exchanged for `request`, cached or fresh.
    async fn call_as(&self, request: &ExchangeRequest) -> Result<reqwest::Response, Response> {
        let token = self
            .tokens
            .get_token(request)
            .await
            .map_err(|error| exchange_failed(&error))?;
        self.http
            .get(&self.downstream_url)
            .bearer_auth(token.access_token_secret())
            .send()
            .await
            .map_err(|_| {
                let why = "the downstream API did not answer";
                problem(StatusCode::BAD_GATEWAY, "downstream_unreachable", why)
            })
    }
}

/// 401 (or 400 for a malformed header) with a `WWW-Authenticate: Bearer` challenge.
fn unauthenticated(code: Option<BearerErrorCode>, description: &str) -> Response {
    let Some(code) = code else {
        // No credentials at all: a bare challenge (RFC 6750 §3.1).
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, Challenge::new().to_string())],
        )
            .into_response();
    };
    let challenge = Challenge::new().error(code).error_description(description);
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
    let body = json!({"error": code.as_str(), "error_description": description});
    let www_authenticate = [(header::WWW_AUTHENTICATE, challenge.to_string())];
    (status, www_authenticate, Json(body)).into_response()
}

/// The exchange failed: 503 when trying again later may work (rate limited, the tenant
/// unreachable), 502 when an operator must act (a missing client grant, say).
fn exchange_failed(error: &ExchangeError) -> Response {
    let status = if error.is_retryable() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::BAD_GATEWAY
    };
    // An `ExchangeError` never holds a token or the client secret, so it may be shown.
    problem(status, error.kind(), &error.to_string())
}

fn problem(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (status, Json(body)).into_response()
}
