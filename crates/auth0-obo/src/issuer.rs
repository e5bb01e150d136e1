//! The token issuer (the Auth0 tenant), normalised the way Auth0 writes it.

use std::fmt;

use url::Url;

use crate::error::ExchangeError;

/// The issuer identifier of the authorization server, for example
/// `https://tenant.eu.auth0.com/`.
///
/// Auth0 puts the trailing slash in its `iss` claim and in its discovery document,
/// and users often leave it out of configuration. Normalising in one place keeps
/// `{issuer}oauth/token` and issuer comparisons right:
///
/// - a bare domain (`tenant.auth0.com`) becomes `https://tenant.auth0.com/`;
/// - a URL with an empty path (`https://tenant.auth0.com`) gains the `/`;
/// - any other URL is kept exactly as written.
///
/// Only `http` and `https` are accepted, and an issuer may not carry a query, a
/// fragment or credentials (RFC 8414 §2). Whether plain `http` may be *used* is the
/// client builder's decision, not this type's.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Issuer {
    url: Url,
}

impl Issuer {
    /// Parses an issuer from a bare domain or a full `http`/`https` URL.
    ///
    /// # Errors
    ///
    /// [`ExchangeError::Config`] when the input is blank, not a URL, uses another
    /// scheme, or has a query, fragment or user info.
    pub fn parse(input: &str) -> Result<Self, ExchangeError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(ExchangeError::config("issuer is empty"));
        }
        let candidate = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("https://{trimmed}")
        };
        let mut url = Url::parse(&candidate)
            .map_err(|e| ExchangeError::config(format!("issuer is not a valid URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(ExchangeError::config("issuer must use https (or http)"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ExchangeError::config("issuer has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ExchangeError::config(
                "issuer must not have a query or fragment",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ExchangeError::config("issuer must not contain credentials"));
        }
        if url.path().is_empty() {
            url.set_path("/");
        }
        Ok(Self { url })
    }

    /// The issuer exactly as it appears in tokens, e.g. `https://tenant.auth0.com/`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// The issuer as a parsed URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether the issuer is reached without TLS (`http://`).
    #[must_use]
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }

    /// Whether the issuer's host is the loopback interface, where plain HTTP is
    /// acceptable (tests, a local mock tenant).
    #[must_use]
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(&self.url)
    }

    /// `{issuer}oauth/token`, Auth0's token endpoint.
    pub(crate) fn default_token_endpoint(&self) -> Result<Url, ExchangeError> {
        self.join("oauth/token")
    }

    /// `{issuer}.well-known/openid-configuration` (OpenID Connect Discovery §4).
    pub(crate) fn discovery_url(&self) -> Result<Url, ExchangeError> {
        self.join(".well-known/openid-configuration")
    }

    /// Appends a relative path after the issuer's path, as the specs spell
    /// `{issuer}path`: `Url::join` would drop the last segment of an issuer
    /// written without a trailing slash.
    fn join(&self, rest: &str) -> Result<Url, ExchangeError> {
        let base = self.url.as_str();
        let joined = if base.ends_with('/') {
            format!("{base}{rest}")
        } else {
            format!("{base}/{rest}")
        };
        Url::parse(&joined)
            .map_err(|e| ExchangeError::config(format!("cannot build URL from issuer: {e}")))
    }
}

/// Whether `url` points at the loopback interface.
pub(crate) fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Issuer").field(&self.as_str()).finish()
    }
}

impl std::str::FromStr for Issuer {
    type Err = ExchangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_domain_becomes_https_with_trailing_slash() {
        let issuer = Issuer::parse("tenant.eu.auth0.com").unwrap();
        assert_eq!(issuer.as_str(), "https://tenant.eu.auth0.com/");
    }

    #[test]
    fn url_with_empty_path_gains_slash() {
        assert_eq!(
            Issuer::parse("https://tenant.auth0.com").unwrap().as_str(),
            "https://tenant.auth0.com/"
        );
        assert_eq!(
            Issuer::parse("http://127.0.0.1:8080").unwrap().as_str(),
            "http://127.0.0.1:8080/"
        );
    }

    #[test]
    fn url_with_path_is_kept_and_endpoint_joins_after_it() {
        let issuer = Issuer::parse("https://idp.example/realms/x").unwrap();
        assert_eq!(issuer.as_str(), "https://idp.example/realms/x");
        assert_eq!(
            issuer.default_token_endpoint().unwrap().as_str(),
            "https://idp.example/realms/x/oauth/token"
        );
        let auth0 = Issuer::parse("tenant.auth0.com").unwrap();
        assert_eq!(
            auth0.default_token_endpoint().unwrap().as_str(),
            "https://tenant.auth0.com/oauth/token"
        );
    }

    #[test]
    fn rejects_other_schemes_queries_and_credentials() {
        for bad in [
            "",
            "   ",
            "ftp://tenant.auth0.com/",
            "https://tenant.auth0.com/?a=b",
            "https://tenant.auth0.com/#frag",
            "https://user:pw@tenant.auth0.com/",
        ] {
            assert!(Issuer::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn loopback_detection() {
        assert!(Issuer::parse("http://127.0.0.1:1/").unwrap().is_loopback());
        assert!(Issuer::parse("http://localhost:1/").unwrap().is_loopback());
        assert!(Issuer::parse("http://[::1]:1/").unwrap().is_loopback());
        assert!(!Issuer::parse("tenant.auth0.com").unwrap().is_loopback());
    }
}
