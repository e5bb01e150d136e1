//! The issuer identifier a verifier trusts, and where its well-known documents live.

use std::fmt;

use url::Url;

use crate::error::ConfigError;

/// An OAuth issuer identifier, compared byte for byte with a token's `iss`.
///
/// Auth0 issuers end in `/` (`https://tenant.auth0.com/`), and a token whose `iss`
/// lacks the slash is a different issuer. [`Issuer::parse`] therefore normalises only
/// what is unambiguous:
///
/// - a bare domain (`tenant.auth0.com`) becomes `https://tenant.auth0.com/`;
/// - a URL with an empty path gains `/` (`https://tenant.auth0.com` is the same URL);
/// - any other URL is kept as written (`https://idp.example/realms/x` has no slash).
///
/// Plain `http` is accepted only for loopback hosts (tests, local development): keys
/// fetched over plain HTTP from anywhere else could be replaced in transit.
///
/// ```
/// use oauth_jwt_verify::Issuer;
/// assert_eq!(Issuer::parse("tenant.auth0.com")?.as_str(), "https://tenant.auth0.com/");
/// assert_eq!(Issuer::parse("http://127.0.0.1:8080")?.as_str(), "http://127.0.0.1:8080/");
/// assert!(Issuer::parse("http://tenant.auth0.com/").is_err());
/// # Ok::<(), oauth_jwt_verify::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Issuer {
    url: Url,
}

impl Issuer {
    /// Parses a bare domain or an `https` (or loopback `http`) URL.
    pub fn parse(input: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidIssuer {
            issuer: input.to_owned(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty"));
        }
        let candidate = if trimmed.contains("://") {
            trimmed.to_owned()
        } else {
            format!("https://{trimmed}")
        };
        let url = Url::parse(&candidate).map_err(|_| invalid("not a URL or domain name"))?;
        check_fetchable(&url).map_err(invalid)?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("an issuer has no query or fragment (RFC 8414 §2)"));
        }
        Ok(Self { url })
    }

    /// The issuer identifier, exactly as tokens must carry it in `iss`.
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// `{issuer}.well-known/jwks.json`, where Auth0 publishes its keys.
    pub fn well_known_jwks_url(&self) -> Url {
        self.well_known("jwks.json")
    }

    /// `{issuer}.well-known/openid-configuration` (OIDC Discovery §4).
    pub fn discovery_url(&self) -> Url {
        self.well_known("openid-configuration")
    }

    fn well_known(&self, document: &str) -> Url {
        let mut url = self.url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/.well-known/{document}"));
        url
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Keys must come over TLS unless the peer is this machine.
pub(crate) fn check_fetchable(url: &Url) -> Result<(), &'static str> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL are not allowed");
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => return Err("plain http is allowed only for loopback hosts"),
        _ => return Err("the scheme must be https"),
    }
    if url.host().is_none() {
        return Err("no host");
    }
    Ok(())
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_domain_becomes_https_with_trailing_slash() {
        assert_eq!(
            Issuer::parse("tenant.auth0.com").unwrap().as_str(),
            "https://tenant.auth0.com/"
        );
        assert_eq!(
            Issuer::parse(" tenant.auth0.com ").unwrap().as_str(),
            "https://tenant.auth0.com/"
        );
    }

    #[test]
    fn url_with_empty_path_gains_slash_and_other_paths_are_kept() {
        assert_eq!(
            Issuer::parse("https://t.example").unwrap().as_str(),
            "https://t.example/"
        );
        assert_eq!(
            Issuer::parse("https://t.example/").unwrap().as_str(),
            "https://t.example/"
        );
        assert_eq!(
            Issuer::parse("https://idp.example/realms/x")
                .unwrap()
                .as_str(),
            "https://idp.example/realms/x"
        );
    }

    #[test]
    fn plain_http_only_for_loopback() {
        assert!(Issuer::parse("http://127.0.0.1:9/").is_ok());
        assert!(Issuer::parse("http://localhost:9").is_ok());
        assert!(Issuer::parse("http://[::1]:9/").is_ok());
        assert!(Issuer::parse("http://tenant.auth0.com/").is_err());
        assert!(Issuer::parse("ftp://tenant.auth0.com/").is_err());
    }

    #[test]
    fn rejects_empty_query_fragment_and_credentials() {
        assert!(Issuer::parse("").is_err());
        assert!(Issuer::parse("https://t.example/?a=b").is_err());
        assert!(Issuer::parse("https://t.example/#x").is_err());
        assert!(Issuer::parse("https://u:p@t.example/").is_err());
        assert!(Issuer::parse("not a domain").is_err());
    }

    #[test]
    fn well_known_urls_follow_the_issuer_path() {
        let auth0 = Issuer::parse("tenant.auth0.com").unwrap();
        assert_eq!(
            auth0.well_known_jwks_url().as_str(),
            "https://tenant.auth0.com/.well-known/jwks.json"
        );
        let realm = Issuer::parse("https://idp.example/realms/x").unwrap();
        assert_eq!(
            realm.discovery_url().as_str(),
            "https://idp.example/realms/x/.well-known/openid-configuration"
        );
    }
}
