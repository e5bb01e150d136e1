//! Reading response bodies without trusting their size.

use crate::ApiError;

/// Reads the whole body, refusing one over `limit` bytes. A declared
/// `Content-Length` over the limit is refused before reading anything; otherwise the
/// count is checked chunk by chunk, so at most `limit` plus one chunk is ever held.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
    token: &str,
) -> Result<Vec<u8>, ApiError> {
    if let Some(len) = response.content_length()
        && len > limit as u64
    {
        return Err(ApiError::BodyTooLarge { limit });
    }
    let capacity = response
        .content_length()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
        .min(limit);
    let mut body = Vec::with_capacity(capacity);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ApiError::from_reqwest(&e, token))?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(ApiError::BodyTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads at most about `max` bytes of the body for diagnostics, best effort: an
/// error while reading just ends the excerpt early.
pub(crate) async fn read_prefix(mut response: reqwest::Response, max: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = max - body.len();
                body.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or(&chunk));
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}
