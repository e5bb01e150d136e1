//! `POST /oauth/token`: injected faults first, then the grant the request names.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use crate::authorization_code::{AUTHORIZATION_CODE_GRANT, authorization_code};
use crate::exchange::{ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, exchange};
use crate::fault::Fault;
use crate::oauth::{Refusal, missing, param, parse_params};
use crate::refresh::{REFRESH_GRANT, refresh};
use crate::state::{State, lock};
use crate::token::now;

/// The wiremock responder for the token endpoint.
pub(crate) struct TokenEndpoint(pub(crate) Arc<State>);

impl Respond for TokenEndpoint {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = &self.0;
        state.exchange_attempts.fetch_add(1, Ordering::SeqCst);
        let fault = lock(&state.faults).take();
        let delay = match fault {
            None => None,
            Some(Fault::Delay(delay)) => Some(delay),
            Some(fault) => return faulty(fault),
        };
        let response = match grant(state, request) {
            Ok(response) => response,
            Err(refusal) => refusal.into_response(),
        };
        match delay {
            Some(delay) => response.set_delay(delay),
            None => response,
        }
    }
}

/// Dispatches on `grant_type` (RFC 6749 §4.1.3, §6; RFC 8693 §2.1).
fn grant(state: &State, request: &Request) -> Result<ResponseTemplate, Refusal> {
    let params = parse_params(request)?;
    let grant_type = param(&params, "grant_type").ok_or_else(|| missing("grant_type"))?;
    match grant_type {
        TOKEN_EXCHANGE_GRANT => exchange(state, request, &params),
        AUTHORIZATION_CODE_GRANT => authorization_code(state, request, &params),
        REFRESH_GRANT => refresh(state, request, &params),
        other => Err(Refusal::new(
            400,
            "unsupported_grant_type",
            format!("Unsupported grant type: {other}"),
        )),
    }
}

fn faulty(fault: Fault) -> ResponseTemplate {
    match fault {
        Fault::RateLimited { retry_after_secs } => {
            let reset = now().saturating_add(i64::try_from(retry_after_secs).unwrap_or(i64::MAX));
            ResponseTemplate::new(429)
                .insert_header("retry-after", retry_after_secs.to_string().as_str())
                .insert_header("x-ratelimit-limit", "2")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", reset.to_string().as_str())
                .set_body_json(json!({
                    "error": "too_many_requests",
                    "error_description": "Global limit has been reached",
                }))
        }
        Fault::ServerError => ResponseTemplate::new(500).set_body_json(json!({
            "error": "server_error",
            "error_description": "Internal Server Error",
        })),
        Fault::NonJson => ResponseTemplate::new(200).set_body_raw(
            "<!DOCTYPE html><html><body><h1>Sign in to the network</h1></body></html>",
            "text/html; charset=utf-8",
        ),
        Fault::MissingAccessToken => ResponseTemplate::new(200).set_body_json(json!({
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": 3600,
        })),
        Fault::OAuthError {
            status,
            error,
            description,
        } => ResponseTemplate::new(status)
            .set_body_json(json!({"error": error, "error_description": description})),
        // Handled by the caller; answering normally here would skip the checks.
        Fault::Delay(_) => {
            Refusal::new(500, "server_error", "misrouted delay fault").into_response()
        }
    }
}
