//! Where signing keys come from: the [`JwksSource`] seam and its fixed-set
//! implementation. The HTTP implementation is in `jwks_http.rs`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::JwksError;

/// A JWKS document as fetched, not yet trusted or parsed. A [`JwksSource`] builds it
/// with [`FetchedJwks::new`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedJwks {
    /// The raw JSON (`{"keys": [...]}`). It is parsed defensively by the verifier, so a
    /// source need not validate it.
    pub body: Vec<u8>,
    /// How long the publisher says the document may be cached (`Cache-Control:
    /// max-age`); the verifier clamps it to its configured bounds.
    pub max_age: Option<Duration>,
}

impl FetchedJwks {
    /// The raw JSON of a key set, and how long its publisher says it may be cached.
    pub fn new(body: impl Into<Vec<u8>>, max_age: Option<Duration>) -> Self {
        Self {
            body: body.into(),
            max_age,
        }
    }
}

impl fmt::Debug for FetchedJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchedJwks")
            .field("body_len", &self.body.len())
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// Supplies an issuer's JSON Web Key Set.
///
/// The verifier decides when to call [`JwksSource::fetch`] (cache expiry, unknown
/// `kid`) and guarantees calls never overlap, so an implementation needs no caching
/// or coalescing of its own.
#[async_trait]
pub trait JwksSource: Send + Sync + fmt::Debug {
    /// Fetches the current key set.
    async fn fetch(&self) -> Result<FetchedJwks, JwksError>;
}

/// A fixed key set: pinned keys for offline use, or an issuer whose keys are
/// distributed out of band.
///
/// ```
/// use oauth_jwt_verify::StaticJwks;
/// let source = StaticJwks::new(r#"{"keys": []}"#);
/// # let _ = source;
/// ```
#[derive(Clone)]
pub struct StaticJwks {
    body: Vec<u8>,
}

impl StaticJwks {
    /// A source that always returns `jwks_json`.
    pub fn new(jwks_json: impl Into<Vec<u8>>) -> Self {
        Self {
            body: jwks_json.into(),
        }
    }

    /// A source that always returns this JSON value.
    pub fn from_json(jwks: &serde_json::Value) -> Self {
        Self {
            body: jwks.to_string().into_bytes(),
        }
    }
}

impl fmt::Debug for StaticJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticJwks")
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[async_trait]
impl JwksSource for StaticJwks {
    async fn fetch(&self) -> Result<FetchedJwks, JwksError> {
        Ok(FetchedJwks {
            body: self.body.clone(),
            max_age: None,
        })
    }
}
