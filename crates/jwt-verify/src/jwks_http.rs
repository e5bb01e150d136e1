//! Fetching an issuer's JWKS over HTTP, bounded in time and size.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CACHE_CONTROL, HeaderMap};
use serde_json::Value;
use url::Url;

use crate::claims::parse_object;
use crate::error::{ConfigError, JwksError, describe_reqwest_error, url_without_query};
use crate::issuer::{Issuer, check_fetchable};
use crate::jwks::{FetchedJwks, JwksSource};
use crate::options::{JwksLocation, VerifierOptions};

/// Fetches the JWKS from the issuer's well-known URL, from the `jwks_uri` found by
/// OIDC discovery, or from an explicit URL.
///
/// Responses are read up to a size limit and each request has a timeout, so a hostile
/// or broken endpoint cannot exhaust memory or hang verification.
#[derive(Debug)]
pub struct HttpJwksSource {
    client: reqwest::Client,
    target: Target,
    issuer: String,
    max_bytes: usize,
    /// The `jwks_uri` found by discovery, reused until a fetch from it fails.
    discovered: Mutex<Option<Url>>,
}

#[derive(Debug)]
enum Target {
    Jwks(Url),
    Discover(Url),
}

impl Target {
    fn url(&self) -> &Url {
        match self {
            Self::Jwks(url) | Self::Discover(url) => url,
        }
    }
}

impl HttpJwksSource {
    /// A source for `issuer` as `options` (`jwks`, `http_timeout`, `max_jwks_bytes`)
    /// describe.
    pub fn new(issuer: &Issuer, options: &VerifierOptions) -> Result<Self, ConfigError> {
        let target = match &options.jwks {
            JwksLocation::WellKnown => Target::Jwks(issuer.well_known_jwks_url()),
            JwksLocation::Discover => Target::Discover(issuer.discovery_url()),
            JwksLocation::Url(url) => {
                let invalid = |reason| ConfigError::InvalidJwksUrl {
                    url: url.clone(),
                    reason,
                };
                let parsed = Url::parse(url).map_err(|_| invalid("not a URL"))?;
                check_fetchable(&parsed).map_err(invalid)?;
                Target::Jwks(parsed)
            }
        };
        let client = reqwest::Client::builder()
            .timeout(options.http_timeout)
            .connect_timeout(options.http_timeout)
            // A redirect must not downgrade the key fetch to plain HTTP.
            .https_only(target.url().scheme() == "https")
            .redirect(reqwest::redirect::Policy::limited(3))
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(ConfigError::HttpClient)?;
        Ok(Self {
            client,
            target,
            issuer: issuer.as_str().to_owned(),
            max_bytes: options.max_jwks_bytes,
            discovered: Mutex::new(None),
        })
    }

    async fn jwks_uri(&self, discovery: &Url) -> Result<Url, JwksError> {
        let cached = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(url) = cached {
            return Ok(url);
        }
        let (body, _) = self.get(discovery).await?;
        let document = parse_object(&body)
            .map_err(|_| JwksError::InvalidDocument("discovery document is not a JSON object"))?;
        // OIDC Discovery §4.3: a document naming another issuer must not be used.
        if document.get("issuer").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(JwksError::Discovery(
                "the document names a different issuer",
            ));
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or(JwksError::Discovery("the document has no jwks_uri"))?;
        let url =
            Url::parse(jwks_uri).map_err(|_| JwksError::Discovery("jwks_uri is not a URL"))?;
        check_fetchable(&url).map_err(JwksError::Discovery)?;
        *self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(url.clone());
        Ok(url)
    }

    async fn get(&self, url: &Url) -> Result<(Vec<u8>, Option<Duration>), JwksError> {
        let transport = |e| JwksError::Transport(describe_reqwest_error(&e));
        let mut response = self
            .client
            .get(url.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            return Err(JwksError::Status {
                url: url_without_query(url),
                status: status.as_u16(),
            });
        }
        let too_large = JwksError::TooLarge {
            limit: self.max_bytes,
        };
        if response
            .content_length()
            .is_some_and(|len| len > self.max_bytes as u64)
        {
            return Err(too_large);
        }
        let max_age = max_age(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

#[async_trait]
impl JwksSource for HttpJwksSource {
    async fn fetch(&self) -> Result<FetchedJwks, JwksError> {
        let url = match &self.target {
            Target::Jwks(url) => url.clone(),
            Target::Discover(discovery) => self.jwks_uri(discovery).await?,
        };
        let result = self.get(&url).await;
        if result.is_err() && matches!(self.target, Target::Discover(_)) {
            // The keys may have moved: discover again next time.
            *self
                .discovered
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = None;
        }
        let (body, max_age) = result?;
        Ok(FetchedJwks { body, max_age })
    }
}

/// `Cache-Control: max-age=N` as a duration; `no-cache`/`no-store` as zero (the
/// verifier's floor then applies).
fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut result = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim();
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Ok(seconds) = argument.trim().trim_matches('"').parse::<u64>()
            {
                result = Some(Duration::from_secs(seconds));
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn cache_control_max_age_is_read_case_insensitively() {
        assert_eq!(
            max_age(&headers(&["public, max-age=600"])),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age(&headers(&["Max-Age=\"60\""])),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            max_age(&headers(&["public", "max-age=5"])),
            Some(Duration::from_secs(5))
        );
        assert_eq!(max_age(&headers(&["no-store"])), Some(Duration::ZERO));
        assert_eq!(max_age(&headers(&["max-age=-1"])), None);
        assert_eq!(max_age(&headers(&[])), None);
    }
}
