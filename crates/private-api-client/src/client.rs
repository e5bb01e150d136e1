use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::body::{read_limited, read_prefix};
use crate::challenge::find_bearer;
use crate::endpoint::{join_under, parse_base_url, private_scope_url};
use crate::excerpt::{MAX_EXCERPT_CHARS, MAX_HEADER_CHARS, excerpt, sanitize};
use crate::redirect::same_origin_only;
use crate::{Answer, ApiError, ClientOptions, ConfigError, PrivateScope};

/// How much of an error body is read to build an excerpt. More than the excerpt
/// itself, so the token can be recognised whole before truncation.
const ERROR_BODY_READ: usize = 4096;

/// A client for the private API, cheap to clone (the connection pool is shared).
///
/// It holds no token: each call takes the bearer token to send, so one client serves
/// every user.
#[derive(Debug, Clone)]
pub struct PrivateApiClient {
    http: reqwest::Client,
    base_url: Url,
    endpoint: Url,
    options: ClientOptions,
}

impl PrivateApiClient {
    /// A client for the API at `base_url` (for example `http://localhost:8787` or
    /// `https://api.example.com/prefix/`), with the default [`ClientOptions`].
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if `base_url` is not an `http`/`https` URL, is plain `http` to
    /// a host that is not loopback (see [`ClientOptions::allow_plain_http`]), or has a
    /// query, fragment or credentials.
    pub fn new(base_url: &str) -> Result<Self, ConfigError> {
        Self::with_options(base_url, ClientOptions::default())
    }

    /// A client with its own timeouts and body limit.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), or if the HTTP client cannot be built.
    pub fn with_options(base_url: &str, options: ClientOptions) -> Result<Self, ConfigError> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .redirect(same_origin_only())
            .user_agent(concat!(
                "obo-mcp-private-api-client/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| ConfigError::HttpClient(e.without_url().to_string()))?;
        Self::from_parts(base_url, http, options)
    }

    /// A client that sends its requests through `http`, for sharing a connection
    /// pool or custom TLS settings.
    ///
    /// `http`'s own redirect policy applies. reqwest drops `Authorization` whenever a
    /// redirect leaves the origin, and this client also refuses any answer that came
    /// from another origin, but [`new`](Self::new) does not follow such a redirect at
    /// all. The request timeout from [`ClientOptions::default`] is applied per request.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_http_client(base_url: &str, http: reqwest::Client) -> Result<Self, ConfigError> {
        Self::from_parts(base_url, http, ClientOptions::default())
    }

    fn from_parts(
        base_url: &str,
        http: reqwest::Client,
        options: ClientOptions,
    ) -> Result<Self, ConfigError> {
        let base_url = parse_base_url(base_url, options.allow_plain_http)?;
        let endpoint = private_scope_url(&base_url)?;
        Ok(Self {
            http,
            base_url,
            endpoint,
            options,
        })
    }

    /// Replaces the largest response body accepted, in bytes.
    #[must_use]
    pub fn with_max_body_bytes(mut self, limit: usize) -> Self {
        self.options.max_body_bytes = limit;
        self
    }

    /// The normalised base URL (its path ends in exactly one `/`).
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The URL of `GET /api/private-scope`.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The limits in force.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Calls `GET /api/private-scope` with `bearer` (the token alone, without the
    /// `Bearer ` prefix).
    ///
    /// # Errors
    ///
    /// An [`ApiError`] for every way the call can fail; see its variants.
    pub async fn private_scope(&self, bearer: &str) -> Result<PrivateScope, ApiError> {
        let answer = self
            .call(Method::GET, self.endpoint.clone(), None, bearer)
            .await?;
        Ok(answer.body)
    }

    /// `GET {base}/{path}` with `bearer`, and the JSON answer as `T`: any other
    /// endpoint of the same API, with the same safety as
    /// [`private_scope`](Self::private_scope) (same origin only, bounded body, the
    /// token never in an error) and the same status mapping.
    ///
    /// `path` is relative to the base URL, with or without a leading `/`, and may
    /// carry a query: `orders?limit=10` under `https://api.example.com/v1` is
    /// `https://api.example.com/v1/orders?limit=10`.
    ///
    /// # Errors
    ///
    /// [`ApiError::InvalidPath`] when `path` is absolute or leaves the base URL, and
    /// otherwise as [`private_scope`](Self::private_scope).
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        bearer: &str,
    ) -> Result<T, ApiError> {
        Ok(self.get_answer(path, bearer).await?.body)
    }

    /// [`get_json`](Self::get_json), with the exact 2xx status the API answered.
    ///
    /// # Errors
    ///
    /// As [`get_json`](Self::get_json).
    pub async fn get_answer<T: DeserializeOwned>(
        &self,
        path: &str,
        bearer: &str,
    ) -> Result<Answer<T>, ApiError> {
        let url = self.url_for(path)?;
        self.call(Method::GET, url, None, bearer).await
    }

    /// `method {base}/{path}` with `body` as JSON, and the JSON answer as `T`; see
    /// [`get_json`](Self::get_json).
    ///
    /// # Errors
    ///
    /// As [`get_json`](Self::get_json), or [`ApiError::InvalidRequest`] when `body`
    /// cannot be serialised.
    pub async fn send_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        bearer: &str,
    ) -> Result<T, ApiError> {
        Ok(self.send_answer(method, path, body, bearer).await?.body)
    }

    /// [`send_json`](Self::send_json), with the exact 2xx status the API answered
    /// (`201 Created`, say).
    ///
    /// # Errors
    ///
    /// As [`send_json`](Self::send_json).
    pub async fn send_answer<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
        bearer: &str,
    ) -> Result<Answer<T>, ApiError> {
        let url = self.url_for(path)?;
        let body = serde_json::to_vec(body).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
        self.call(method, url, Some(body), bearer).await
    }

    /// `path` joined under the base URL; refused when it would leave it.
    pub fn url_for(&self, path: &str) -> Result<Url, ApiError> {
        join_under(&self.base_url, path)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        bearer: &str,
    ) -> Result<Answer<T>, ApiError> {
        let authorization = bearer_header(bearer)?;
        let mut request = self
            .http
            .request(method, url.clone())
            .header(AUTHORIZATION, authorization)
            .header(ACCEPT, "application/json")
            .timeout(self.options.timeout);
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, "application/json").body(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| ApiError::from_reqwest(&e, bearer))?;

        // Defence in depth for a caller-supplied client that followed a redirect:
        // whatever another origin says is not the API's answer.
        if response.url().origin() != url.origin() {
            return Err(ApiError::InvalidResponse(
                "the request was redirected to another origin".to_owned(),
            ));
        }

        let status = response.status();
        tracing::debug!(status = status.as_u16(), "API answered");
        match status {
            s if s.is_success() => {
                let body = read_limited(response, self.options.max_body_bytes, bearer).await?;
                let body = serde_json::from_slice(&body).map_err(|e| {
                    ApiError::InvalidResponse(sanitize(&e.to_string(), bearer, MAX_EXCERPT_CHARS))
                })?;
                Ok(Answer {
                    status: s.as_u16(),
                    body,
                })
            }
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized {
                www_authenticate: response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| sanitize(v, bearer, MAX_HEADER_CHARS)),
            }),
            StatusCode::FORBIDDEN => {
                let challenge = find_bearer(
                    response
                        .headers()
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok()),
                );
                match challenge {
                    Some(c) if c.error.as_deref() == Some("insufficient_scope") => {
                        Err(ApiError::InsufficientScope {
                            scope: c.scope.map(|s| sanitize(&s, bearer, MAX_HEADER_CHARS)),
                        })
                    }
                    _ => Err(status_error(response, bearer).await),
                }
            }
            _ => Err(status_error(response, bearer).await),
        }
    }
}

async fn status_error(response: reqwest::Response, bearer: &str) -> ApiError {
    let status = response.status().as_u16();
    let body = read_prefix(response, ERROR_BODY_READ).await;
    ApiError::Status {
        status,
        body_excerpt: excerpt(&body, bearer, MAX_EXCERPT_CHARS),
    }
}

/// `Bearer <token>`, marked sensitive, after checking the token is an RFC 6750 §2.1
/// `b64token` (which also rules out whitespace, a `Bearer ` prefix and anything that
/// could split the header).
fn bearer_header(token: &str) -> Result<HeaderValue, ApiError> {
    if !is_b64token(token) {
        return Err(ApiError::InvalidBearer);
    }
    let mut value =
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| ApiError::InvalidBearer)?;
    // Keeps the value out of HTTP/2 header compression tables and out of `Debug`.
    value.set_sensitive(true);
    Ok(value)
}

/// RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6750_section_2_1_b64token() {
        for ok in ["a", "eyJ.eyJ.sig", "abc+/=", "A-b_c~d.e==", "x=="] {
            assert!(is_b64token(ok), "{ok}");
        }
        for bad in [
            "",
            "=",
            "Bearer abc",
            " abc",
            "abc ",
            "a\nb",
            "a=b",
            "é",
            "a,b",
            "a\"b",
        ] {
            assert!(!is_b64token(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_header_is_sensitive() {
        let v = bearer_header("abc").unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("abc"));
    }
}
