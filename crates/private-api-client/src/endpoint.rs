use url::{Host, Url};

use crate::{ApiError, ConfigError, PRIVATE_SCOPE_PATH};

/// Validates a base URL as [`PrivateApiClient`](crate::PrivateApiClient) does, and
/// returns it with its path normalised to end in exactly one `/`, so that relative
/// joins keep any path prefix. Plain `http` is refused off loopback unless
/// `allow_plain_http`: every token the client holds is sent there. Configuration code
/// can call it to report a bad URL before building anything.
///
/// # Errors
///
/// The [`ConfigError`] naming what is wrong with the URL.
pub fn parse_base_url(base: &str, allow_plain_http: bool) -> Result<Url, ConfigError> {
    let mut url = Url::parse(base.trim())?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(ConfigError::UnsupportedScheme {
                scheme: other.to_owned(),
            });
        }
    }
    if url.query().is_some() {
        return Err(ConfigError::HasQuery);
    }
    if url.fragment().is_some() {
        return Err(ConfigError::HasFragment);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::HasUserinfo);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::NoHost);
    }
    if url.scheme() == "http" && !allow_plain_http && !is_loopback(&url) {
        return Err(ConfigError::PlainHttp {
            host: url.host_str().unwrap_or_default().to_owned(),
        });
    }
    // `Url::join` drops the last segment of a path without a trailing slash
    // (`http://h/prefix` + `api` = `http://h/api`), and a base ending in several
    // slashes would yield `//`. Normalising to a single trailing slash avoids both.
    let path = format!("{}/", url.path().trim_end_matches('/'));
    url.set_path(&path);
    Ok(url)
}

/// The same rule as the exchange's issuer and token endpoint (`auth0-obo`).
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The full URL of `GET /api/private-scope` under a normalised base.
pub(crate) fn private_scope_url(base: &Url) -> Result<Url, ConfigError> {
    Ok(base.join(PRIVATE_SCOPE_PATH)?)
}

/// `path` (relative, with or without a leading `/`, optionally with a query) under a
/// normalised base. Refused when it names another origin (`https://x/`, `//x/`) or
/// climbs out of the base's path (`../`): the token must reach the configured API only.
pub(crate) fn join_under(base: &Url, path: &str) -> Result<Url, ApiError> {
    let invalid = || ApiError::InvalidPath(crate::excerpt::sanitize(path, "", 120));
    let relative = path.trim_start_matches('/');
    if relative.len() + 1 < path.len() || relative.contains('#') || relative.contains('\\') {
        // `//host/...` is a URL of another origin; a fragment is never sent.
        return Err(invalid());
    }
    let url = base.join(relative).map_err(|_| invalid())?;
    if url.origin() != base.origin() || !url.path().starts_with(base.path()) {
        return Err(invalid());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_under_the_base() {
        let base = parse_base_url("https://api.example.com/v1", false).unwrap();
        for (path, want) in [
            ("orders", "https://api.example.com/v1/orders"),
            ("/orders", "https://api.example.com/v1/orders"),
            (
                "orders/7?limit=10",
                "https://api.example.com/v1/orders/7?limit=10",
            ),
            ("a/../orders", "https://api.example.com/v1/orders"),
        ] {
            assert_eq!(join_under(&base, path).unwrap().as_str(), want, "{path}");
        }
        for path in [
            "https://evil.example/orders",
            "//evil.example/orders",
            "../admin",
            "orders/../../admin",
            "http:orders",
            "orders#frag",
            "\\\\evil.example\\x",
        ] {
            assert!(
                matches!(join_under(&base, path), Err(ApiError::InvalidPath(_))),
                "{path}"
            );
        }
    }

    fn endpoint(base: &str) -> String {
        let base = parse_base_url(base, true).unwrap();
        private_scope_url(&base).unwrap().to_string()
    }

    #[test]
    fn joins_without_double_slash_or_lost_prefix() {
        for (base, want) in [
            ("http://h", "http://h/api/private-scope"),
            ("http://h/", "http://h/api/private-scope"),
            ("http://h//", "http://h/api/private-scope"),
            ("http://h:8787", "http://h:8787/api/private-scope"),
            ("http://h/prefix", "http://h/prefix/api/private-scope"),
            ("http://h/prefix/", "http://h/prefix/api/private-scope"),
            ("http://h/prefix///", "http://h/prefix/api/private-scope"),
            ("https://h/a/b", "https://h/a/b/api/private-scope"),
            (" https://h/a/b/ ", "https://h/a/b/api/private-scope"),
        ] {
            assert_eq!(endpoint(base), want, "base {base:?}");
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_base() {
        assert!(matches!(
            parse_base_url("ftp://h/", true),
            Err(ConfigError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_base_url("file:///tmp", true),
            Err(ConfigError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_base_url("http://h/?a=b", true),
            Err(ConfigError::HasQuery)
        ));
        assert!(matches!(
            parse_base_url("http://h/#x", true),
            Err(ConfigError::HasFragment)
        ));
        assert!(matches!(
            parse_base_url("http://u:p@h/", true),
            Err(ConfigError::HasUserinfo)
        ));
        assert!(matches!(
            parse_base_url("http://u@h/", true),
            Err(ConfigError::HasUserinfo)
        ));
        assert!(matches!(
            parse_base_url("localhost:8787", true),
            Err(ConfigError::UnsupportedScheme { .. })
        ));
        assert!(matches!(
            parse_base_url("not a url", true),
            Err(ConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            parse_base_url("", true),
            Err(ConfigError::InvalidUrl(_))
        ));
    }
}
