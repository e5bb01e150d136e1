//! The RFC 8693 client for Auth0's token endpoint: builds the request exactly as
//! `design.md` §3 says, authenticates the client, retries what is worth
//! retrying, and turns every answer into an [`ExchangedToken`] or a typed
//! [`ExchangeError`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use reqwest::Certificate;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue};
use tokio::sync::OnceCell;
use url::Url;

use crate::assertion::{CLIENT_ASSERTION_TYPE_JWT_BEARER, ClientAssertionKey};
use crate::error::{ExchangeError, describe_reqwest_error};
use crate::exchanger::TokenExchanger;
use crate::issuer::{Issuer, is_loopback_url};
use crate::request::ExchangeRequest;
use crate::response::{content_type, parse_token_response, read_body_limited, status_error};
use crate::retry::RetryPolicy;
use crate::secret::ClientSecret;

/// RFC 8693 §2.1 `grant_type`.
pub const GRANT_TYPE_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// RFC 8693 §3 token type identifier for an OAuth access token, used for both
/// `subject_token_type` and `requested_token_type`.
pub const TOKEN_TYPE_ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";

/// Default time allowed for one attempt (connect, send, read the answer).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for the whole exchange, retries and waits included.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// How the client proves its identity to the token endpoint, with the credential
/// it proves it with.
///
/// A bare secret (`&str`, `String`, [`ClientSecret`]) converts into
/// [`ClientSecretBasic`](Self::ClientSecretBasic), and a [`ClientAssertionKey`] into
/// [`PrivateKeyJwt`](Self::PrivateKeyJwt), so [`ExchangeClient::builder`] takes
/// either directly. `Debug` never shows the secret or the key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic` (RFC 6749 §2.3.1): HTTP Basic with the form-encoded id
    /// and secret. Auth0's default for a new application.
    ClientSecretBasic(ClientSecret),
    /// `client_secret_post`: `client_id` and `client_secret` in the form body.
    ClientSecretPost(ClientSecret),
    /// `private_key_jwt` (RFC 7523 §2.2): `client_id`, and a fresh assertion signed
    /// with this key, on every request. No shared secret crosses the network.
    PrivateKeyJwt(ClientAssertionKey),
}

impl ClientAuthMethod {
    /// The method's name as OAuth registers it (`token_endpoint_auth_method`,
    /// RFC 7591): `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::ClientSecretBasic(_) => "client_secret_basic",
            Self::ClientSecretPost(_) => "client_secret_post",
            Self::PrivateKeyJwt(_) => "private_key_jwt",
        }
    }

    /// The client secret, for the methods that have one.
    fn secret(&self) -> Option<&str> {
        match self {
            Self::ClientSecretBasic(secret) | Self::ClientSecretPost(secret) => {
                Some(secret.secret())
            }
            Self::PrivateKeyJwt(_) => None,
        }
    }
}

impl From<ClientSecret> for ClientAuthMethod {
    fn from(secret: ClientSecret) -> Self {
        Self::ClientSecretBasic(secret)
    }
}

impl From<String> for ClientAuthMethod {
    fn from(secret: String) -> Self {
        Self::ClientSecretBasic(secret.into())
    }
}

impl From<&str> for ClientAuthMethod {
    fn from(secret: &str) -> Self {
        Self::ClientSecretBasic(secret.into())
    }
}

impl From<ClientAssertionKey> for ClientAuthMethod {
    fn from(key: ClientAssertionKey) -> Self {
        Self::PrivateKeyJwt(key)
    }
}

/// Where the token endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TokenEndpoint {
    /// `{issuer}oauth/token`, Auth0's fixed location.
    #[default]
    Auth0Default,
    /// `token_endpoint` from `{issuer}.well-known/openid-configuration`, fetched
    /// on first use and kept (OpenID Connect Discovery 1.0).
    Discover,
    /// This URL.
    Url(Url),
}

/// Exchanges a user's access token for a token for another API (RFC 8693).
///
/// Cheap to clone; clones share one connection pool. Build it with
/// [`ExchangeClient::builder`]. It performs an exchange on every call; wrap it in
/// a [`TokenCache`](crate::TokenCache), as Auth0 asks callers to.
#[derive(Clone)]
pub struct ExchangeClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    issuer: Issuer,
    client_id: String,
    auth: ClientAuthMethod,
    /// Precomputed `Basic …` value for `client_secret_basic`, marked sensitive so
    /// `http` never prints it.
    basic_header: Option<HeaderValue>,
    endpoint_source: TokenEndpoint,
    endpoint: OnceCell<Url>,
    allow_plain_http: bool,
    timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for ExchangeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("ExchangeClient")
            .field("issuer", &i.issuer)
            .field("client_id", &i.client_id)
            .field("auth", &i.auth)
            .field("token_endpoint", &i.endpoint.get().map(Url::as_str))
            .field("timeout", &i.timeout)
            .field("deadline", &i.deadline)
            .field("retry", &i.retry)
            .finish_non_exhaustive()
    }
}

/// Builder for [`ExchangeClient`]. Only the issuer, client id and credential are
/// required; everything else has a default that suits Auth0.
pub struct ExchangeClientBuilder {
    issuer: String,
    client_id: String,
    auth: ClientAuthMethod,
    endpoint: TokenEndpoint,
    timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
    ca_bundle_pem: Option<Vec<u8>>,
    allow_plain_http: bool,
}

impl fmt::Debug for ExchangeClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeClientBuilder")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("auth", &self.auth)
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .field("ca_bundle_pem", &self.ca_bundle_pem.as_ref().map(Vec::len))
            .field("allow_plain_http", &self.allow_plain_http)
            .finish()
    }
}

impl ExchangeClient {
    /// Starts building a client for `issuer` (a bare Auth0 domain such as
    /// `tenant.eu.auth0.com`, or a full URL such as `https://tenant.eu.auth0.com/`),
    /// authenticating as `client_id` with `auth`: a client secret (sent as
    /// `client_secret_basic`), a [`ClientAuthMethod`], or a [`ClientAssertionKey`]
    /// (sent as `private_key_jwt`).
    ///
    /// ```
    /// use auth0_obo::{ClientAuthMethod, ClientSecret, ExchangeClient};
    ///
    /// // client_secret_basic
    /// let basic = ExchangeClient::builder("tenant.eu.auth0.com", "client-id", "secret").build()?;
    /// assert_eq!(basic.auth_method().name(), "client_secret_basic");
    /// // client_secret_post
    /// let post = ExchangeClient::builder(
    ///     "tenant.eu.auth0.com",
    ///     "client-id",
    ///     ClientAuthMethod::ClientSecretPost(ClientSecret::new("secret")),
    /// )
    /// .build()?;
    /// assert_eq!(post.auth_method().name(), "client_secret_post");
    /// // private_key_jwt: ClientAssertionKey::from_pem(&std::fs::read(path)?, alg)?
    /// # Ok::<(), auth0_obo::ExchangeError>(())
    /// ```
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        auth: impl Into<ClientAuthMethod>,
    ) -> ExchangeClientBuilder {
        ExchangeClientBuilder {
            issuer: issuer.into(),
            client_id: client_id.into(),
            auth: auth.into(),
            endpoint: TokenEndpoint::default(),
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            retry: RetryPolicy::default(),
            ca_bundle_pem: None,
            allow_plain_http: false,
        }
    }

    /// The issuer, normalised.
    #[must_use]
    pub fn issuer(&self) -> &Issuer {
        &self.inner.issuer
    }

    /// The client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The client authentication method (its `Debug` shows no secret or key).
    #[must_use]
    pub fn auth_method(&self) -> &ClientAuthMethod {
        &self.inner.auth
    }

    /// The token endpoint, discovering it first if so configured.
    ///
    /// # Errors
    ///
    /// When discovery fails (transport, timeout, an invalid document).
    pub async fn token_endpoint(&self) -> Result<Url, ExchangeError> {
        let timeout = self.inner.timeout;
        match tokio::time::timeout(timeout, self.endpoint()).await {
            Ok(r) => r.cloned(),
            Err(_) => Err(ExchangeError::Timeout { after: timeout }),
        }
    }

    /// Exchanges the request's subject token for a token for its audience.
    ///
    /// Transport failures, timeouts and 5xx are retried (at most
    /// [`RetryPolicy::max_retries`] times, with jittered backoff); a 429 is
    /// retried only when its `Retry-After` fits in what is left of the deadline;
    /// OAuth errors never are. The whole call ends within the deadline.
    ///
    /// # Errors
    ///
    /// The [`ExchangeError`] of the last attempt.
    pub async fn exchange(
        &self,
        request: &ExchangeRequest,
    ) -> Result<crate::ExchangedToken, ExchangeError> {
        let inner = &self.inner;
        let started = Instant::now();
        let deadline = started + inner.deadline;
        let mut retry = 0u32;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(ExchangeError::Timeout {
                    after: started.elapsed(),
                });
            }
            let per_attempt = inner.timeout.min(remaining);
            let outcome = match tokio::time::timeout(per_attempt, self.attempt(request)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(ExchangeError::Timeout {
                    after: started.elapsed(),
                }),
            };
            let error = match outcome {
                Ok(token) => {
                    tracing::debug!(
                        audience = request.audience(),
                        retries = retry,
                        expires_in_s = token.expires_in.as_secs(),
                        "token exchange succeeded"
                    );
                    return Ok(token);
                }
                Err(error) => error,
            };
            retry += 1;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(delay) = inner.retry.delay_before_retry(&error, retry, remaining) else {
                tracing::debug!(
                    audience = request.audience(),
                    kind = error.kind(),
                    retries = retry - 1,
                    "token exchange failed"
                );
                return Err(error);
            };
            tracing::debug!(
                audience = request.audience(),
                kind = error.kind(),
                retry,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "token exchange failed; retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One POST to the token endpoint.
    async fn attempt(
        &self,
        request: &ExchangeRequest,
    ) -> Result<crate::ExchangedToken, ExchangeError> {
        let inner = &self.inner;
        let endpoint = self.endpoint().await?;
        let subject_token = request.subject_token().secret();

        let assertion;
        // Field order follows design.md §3; servers do not care, readers do.
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", GRANT_TYPE_TOKEN_EXCHANGE),
            ("subject_token", subject_token),
            ("subject_token_type", TOKEN_TYPE_ACCESS_TOKEN),
            ("requested_token_type", TOKEN_TYPE_ACCESS_TOKEN),
            ("audience", request.audience()),
        ];
        if let Some(scope) = request.scope() {
            form.push(("scope", scope));
        }
        if let Some(organization) = request.organization() {
            form.push(("organization", organization));
        }
        let mut http_request = inner
            .http
            .post(endpoint.clone())
            .header(ACCEPT, "application/json");
        // The credential, or the assertion made for this attempt alone: scrubbed from
        // anything the server sends back.
        let credential = match &inner.auth {
            ClientAuthMethod::ClientSecretBasic(secret) => {
                if let Some(header) = &inner.basic_header {
                    http_request = http_request.header(AUTHORIZATION, header.clone());
                }
                secret.secret()
            }
            ClientAuthMethod::ClientSecretPost(secret) => {
                form.push(("client_id", &inner.client_id));
                form.push(("client_secret", secret.secret()));
                secret.secret()
            }
            ClientAuthMethod::PrivateKeyJwt(key) => {
                // A fresh assertion per attempt: Auth0 accepts each `jti` once, so a
                // retry must not resend the last one.
                assertion = key.sign(&inner.client_id, inner.issuer.as_str(), SystemTime::now())?;
                form.push(("client_id", &inner.client_id));
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE_JWT_BEARER));
                form.push(("client_assertion", &assertion));
                &assertion
            }
        };

        let response = http_request
            .form(&form)
            .send()
            .await
            .map_err(|e| ExchangeError::transport(&e))?;
        let received_at = SystemTime::now();
        let status = response.status();
        let content_type = content_type(response.headers(), &[subject_token, credential]);
        if let Some(error) = status_error(status, response.headers(), received_at) {
            return Err(error);
        }
        let body = read_body_limited(response).await?;
        parse_token_response(
            status,
            &body,
            &content_type,
            received_at,
            &[subject_token, credential],
        )
    }

    async fn endpoint(&self) -> Result<&Url, ExchangeError> {
        self.inner
            .endpoint
            .get_or_try_init(|| self.discover())
            .await
    }

    /// Resolves the endpoint once. Only `Discover` does I/O; a failure is not
    /// kept, so the next exchange tries again.
    async fn discover(&self) -> Result<Url, ExchangeError> {
        let inner = &self.inner;
        let url = match &inner.endpoint_source {
            TokenEndpoint::Auth0Default => inner.issuer.default_token_endpoint()?,
            TokenEndpoint::Url(url) => url.clone(),
            TokenEndpoint::Discover => {
                let response = inner
                    .http
                    .get(inner.issuer.discovery_url()?)
                    .header(ACCEPT, "application/json")
                    .send()
                    .await
                    .map_err(|e| ExchangeError::transport(&e))?;
                let status = response.status();
                if status.is_server_error() {
                    return Err(ExchangeError::Server { status });
                }
                if !status.is_success() {
                    return Err(ExchangeError::config(format!(
                        "OIDC discovery answered HTTP {}",
                        status.as_u16()
                    )));
                }
                let content_type =
                    content_type(response.headers(), &[inner.auth.secret().unwrap_or("")]);
                let body = read_body_limited(response).await?;
                parse_discovery(&body, &content_type, &inner.issuer)?
            }
        };
        check_scheme(&url, inner.allow_plain_http, "token endpoint")?;
        Ok(url)
    }
}

#[async_trait]
impl TokenExchanger for ExchangeClient {
    fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    async fn exchange(
        &self,
        request: &ExchangeRequest,
    ) -> Result<crate::ExchangedToken, ExchangeError> {
        ExchangeClient::exchange(self, request).await
    }
}

impl ExchangeClientBuilder {
    /// Where the token endpoint is (default `{issuer}oauth/token`).
    #[must_use]
    pub fn token_endpoint(mut self, endpoint: TokenEndpoint) -> Self {
        self.endpoint = endpoint;
        self
    }

    /// Time allowed for one attempt (default 10 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed for the whole exchange, retries included (default 30 s).
    #[must_use]
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Retries after the first attempt (default 2).
    #[must_use]
    pub fn max_retries(mut self, max_retries: u32) -> Self {
        self.retry.max_retries = max_retries;
        self
    }

    /// The whole retry policy.
    #[must_use]
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Trusts the certificates in this PEM bundle in addition to the system roots,
    /// for tenants behind a TLS-intercepting proxy or a private CA.
    #[must_use]
    pub fn ca_bundle_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_bundle_pem = Some(pem.into());
        self
    }

    /// Allows an `http://` issuer or token endpoint that is not on loopback.
    /// Off by default: the client secret and the user's token would cross the
    /// network in clear text. Loopback (`127.0.0.1`, `::1`, `localhost`) is always
    /// allowed, for tests and local mock tenants.
    #[must_use]
    pub fn allow_plain_http(mut self, allow: bool) -> Self {
        self.allow_plain_http = allow;
        self
    }

    /// Builds the client. No network I/O happens here; discovery, when
    /// configured, runs on the first exchange.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::Config`] for an invalid issuer or endpoint, plain HTTP to a
    /// non-loopback host, an empty client id or secret, a client id longer than the
    /// 64 characters Auth0 allows in an assertion's `iss` (with `private_key_jwt`),
    /// zero timeouts, or a CA
    /// bundle that holds no valid PEM certificate.
    pub fn build(self) -> Result<ExchangeClient, ExchangeError> {
        let issuer = Issuer::parse(&self.issuer)?;
        check_scheme(issuer.url(), self.allow_plain_http, "issuer")?;
        if let TokenEndpoint::Url(url) = &self.endpoint {
            check_scheme(url, self.allow_plain_http, "token endpoint")?;
        }
        if self.client_id.trim().is_empty() {
            return Err(ExchangeError::config("client id is empty"));
        }
        if self.auth.secret().is_some_and(str::is_empty) {
            return Err(ExchangeError::config("client secret is empty"));
        }
        if matches!(self.auth, ClientAuthMethod::PrivateKeyJwt(_)) && self.client_id.len() > 64 {
            return Err(ExchangeError::config(
                "client id is over 64 characters, more than a client assertion's iss may hold",
            ));
        }
        if self.timeout.is_zero() || self.deadline.is_zero() {
            return Err(ExchangeError::config(
                "timeout and deadline must be positive",
            ));
        }

        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("auth0-obo/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &self.ca_bundle_pem {
            let certs = Certificate::from_pem_bundle(pem)
                .map_err(|_| ExchangeError::config("CA bundle is not valid PEM"))?;
            if certs.is_empty() {
                return Err(ExchangeError::config("CA bundle holds no certificate"));
            }
            http = http.tls_certs_merge(certs);
        }
        let http = http.build().map_err(|e| {
            ExchangeError::config(format!(
                "cannot build the HTTP client: {}",
                describe_reqwest_error(&e)
            ))
        })?;

        let basic_header = match &self.auth {
            ClientAuthMethod::ClientSecretBasic(secret) => {
                Some(basic_authorization(&self.client_id, secret)?)
            }
            _ => None,
        };
        let endpoint = OnceCell::new();
        Ok(ExchangeClient {
            inner: Arc::new(Inner {
                http,
                issuer,
                client_id: self.client_id,
                auth: self.auth,
                basic_header,
                endpoint_source: self.endpoint,
                endpoint,
                allow_plain_http: self.allow_plain_http,
                timeout: self.timeout,
                deadline: self.deadline,
                retry: self.retry,
            }),
        })
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`. RFC 6749 §2.3.1 requires
/// the form-urlencoding before base64, which reqwest's `basic_auth` skips: a
/// secret containing `:` or `%` would otherwise authenticate as someone else or
/// not at all.
fn basic_authorization(
    client_id: &str,
    client_secret: &ClientSecret,
) -> Result<HeaderValue, ExchangeError> {
    let id: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
    let secret: String =
        url::form_urlencoded::byte_serialize(client_secret.secret().as_bytes()).collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .map_err(|_| ExchangeError::config("cannot build the Authorization header"))?;
    value.set_sensitive(true);
    Ok(value)
}

fn check_scheme(url: &Url, allow_plain_http: bool, what: &str) -> Result<(), ExchangeError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_plain_http || is_loopback_url(url) => Ok(()),
        "http" => Err(ExchangeError::config(format!(
            "{what} uses plain http on a non-loopback host; use https or allow_plain_http"
        ))),
        _ => Err(ExchangeError::config(format!("{what} must use https"))),
    }
}

/// Reads `token_endpoint` from an OIDC discovery document whose `issuer` must be
/// ours (OpenID Connect Discovery §4.3), so a misrouted document is not trusted.
fn parse_discovery(body: &[u8], content_type: &str, issuer: &Issuer) -> Result<Url, ExchangeError> {
    let doc: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        ExchangeError::invalid_response(format!(
            "discovery document is not JSON (content-type: {content_type})"
        ))
    })?;
    let doc_issuer = doc.get("issuer").and_then(serde_json::Value::as_str);
    if doc_issuer != Some(issuer.as_str()) {
        return Err(ExchangeError::config(
            "discovery document names a different issuer",
        ));
    }
    let endpoint = doc
        .get("token_endpoint")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| {
            ExchangeError::invalid_response("discovery document has no `token_endpoint`")
        })?;
    Url::parse(endpoint).map_err(|_| {
        ExchangeError::invalid_response("discovery document's `token_endpoint` is not a URL")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_2_3_1_basic_credentials_are_form_encoded_first() {
        let value =
            basic_authorization("my client:id", &ClientSecret::new("p@ss:w+rd%/ x")).unwrap();
        assert!(value.is_sensitive());
        let b64 = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            "my+client%3Aid:p%40ss%3Aw%2Brd%25%2F+x"
        );
    }

    #[test]
    fn plain_http_only_on_loopback_unless_allowed() {
        assert!(
            ExchangeClient::builder("http://127.0.0.1:9/", "id", "secret")
                .build()
                .is_ok()
        );
        assert!(matches!(
            ExchangeClient::builder("http://tenant.example/", "id", "secret").build(),
            Err(ExchangeError::Config { .. })
        ));
        assert!(
            ExchangeClient::builder("http://tenant.example/", "id", "secret")
                .allow_plain_http(true)
                .build()
                .is_ok()
        );
    }
}
