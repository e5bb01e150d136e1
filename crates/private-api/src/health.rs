//! `GET /healthz`: the process is up and serving. It does not touch the JWKS, so a
//! load balancer does not take the API out of rotation when Auth0 has a blip (those
//! requests get a 503 of their own).

use axum::Json;
use serde_json::{Value, json};

/// Always `200 {"status":"ok"}`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
