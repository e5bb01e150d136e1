//! The downstream APIs a server calls on its users' behalf, each under a name: the
//! quickstart's own (`default`, from `API_AUTH0_AUDIENCE`, `API_BASE_URL` and
//! `MCP_AUTH0_EXCHANGE_SCOPE`), and any number more, one environment prefix each:
//!
//! ```text
//! API_ORDERS_AUDIENCE=https://orders.example.com/
//! API_ORDERS_BASE_URL=https://orders.example.com
//! API_ORDERS_SCOPE=read:orders
//! API_ORDERS_ALLOW_PLAIN_HTTP=false        # optional, as API_ALLOW_PLAIN_HTTP
//! ```
//!
//! makes the API `orders` (the name is the part between `API_` and the setting,
//! lowercased). Why a prefix rather than a file: docs/decisions.md, "Several
//! downstream APIs".

use std::collections::BTreeMap;

use url::Url;

/// The name of the quickstart's API, configured by its own variable names.
pub const DEFAULT_API: &str = "default";

/// The settings each named API reads, after `API_{NAME}`.
const AUDIENCE: &str = "_AUDIENCE";
const BASE_URL: &str = "_BASE_URL";
const SCOPE: &str = "_SCOPE";
const ALLOW_PLAIN_HTTP: &str = "_ALLOW_PLAIN_HTTP";
const SUFFIXES: [&str; 4] = [AUDIENCE, BASE_URL, SCOPE, ALLOW_PLAIN_HTTP];

/// One downstream API, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    pub(crate) name: String,
    pub(crate) audience: String,
    pub(crate) base_url: Url,
    pub(crate) scope: String,
    pub(crate) allow_plain_http: bool,
}

impl ApiSettings {
    /// The name tools ask for it by, e.g. `orders` (`default` for the quickstart's).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its identifier in Auth0: the `audience` of the exchange.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Where it is served.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The scopes the exchange requests for it, normalised (sorted, deduplicated).
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// Whether `base_url` may be plain http off loopback.
    pub fn allow_plain_http(&self) -> bool {
        self.allow_plain_http
    }
}

/// A setting of an API, for naming its variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Setting {
    Audience,
    BaseUrl,
    Scope,
    AllowPlainHttp,
}

pub(crate) fn variable(name: &str, setting: Setting) -> String {
    if name == DEFAULT_API {
        return match setting {
            Setting::Audience => "API_AUTH0_AUDIENCE",
            Setting::BaseUrl => "API_BASE_URL",
            Setting::Scope => "MCP_AUTH0_EXCHANGE_SCOPE",
            Setting::AllowPlainHttp => "API_ALLOW_PLAIN_HTTP",
        }
        .to_owned();
    }
    let suffix = match setting {
        Setting::Audience => AUDIENCE,
        Setting::BaseUrl => BASE_URL,
        Setting::Scope => SCOPE,
        Setting::AllowPlainHttp => ALLOW_PLAIN_HTTP,
    };
    format!("API_{}{suffix}", name.to_ascii_uppercase())
}

/// The raw values of one named API, as found in the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiArgs {
    pub audience: Option<String>,
    pub base_url: Option<String>,
    pub scope: Option<String>,
    pub allow_plain_http: Option<String>,
}

/// The named APIs among `vars` (the process environment, usually): every
/// `API_{NAME}_AUDIENCE`, `_BASE_URL`, `_SCOPE` and `_ALLOW_PLAIN_HTTP`, by lowercased
/// name. The quickstart's `API_AUTH0_AUDIENCE`, `API_BASE_URL` and
/// `API_ALLOW_PLAIN_HTTP` are not named APIs, and are left to their own flags.
pub fn named_api_args(
    vars: impl IntoIterator<Item = (String, String)>,
) -> BTreeMap<String, ApiArgs> {
    let mut apis: BTreeMap<String, ApiArgs> = BTreeMap::new();
    for (key, value) in vars {
        let Some(rest) = key.strip_prefix("API_") else {
            continue;
        };
        if rest == "AUTH0_AUDIENCE" {
            continue;
        }
        for suffix in SUFFIXES {
            let Some(name) = rest.strip_suffix(suffix) else {
                continue;
            };
            if name.is_empty() {
                break;
            }
            let api = apis.entry(name.to_ascii_lowercase()).or_default();
            let slot = match suffix {
                AUDIENCE => &mut api.audience,
                BASE_URL => &mut api.base_url,
                SCOPE => &mut api.scope,
                _ => &mut api.allow_plain_http,
            };
            *slot = Some(value);
            break;
        }
    }
    apis
}

/// Validates one API's raw values, adding each problem (named by its variable) to
/// `problems`.
pub(crate) fn validate(
    name: &str,
    audience: Option<&str>,
    base_url: Option<&str>,
    scope: Option<&str>,
    allow_plain_http: bool,
    problems: &mut Vec<String>,
) -> Option<ApiSettings> {
    let var = |setting| variable(name, setting);
    let before = problems.len();
    if name != DEFAULT_API
        && (name == "auth0"
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
    {
        problems.push(format!(
            "{} names an API {name:?}, which is not a usable name: use letters, digits and underscores, and not AUTH0 (the quickstart's API is API_AUTH0_AUDIENCE, API_BASE_URL and MCP_AUTH0_EXCHANGE_SCOPE)",
            var(Setting::Audience)
        ));
        return None;
    }
    let audience = audience.map(str::trim).filter(|a| !a.is_empty());
    if audience.is_none() {
        problems.push(format!(
            "{} is not set: set it to the identifier of the API in Auth0 (the other {} settings are set)",
            var(Setting::Audience),
            name.to_ascii_uppercase()
        ));
    }
    let base_url = match base_url.map(str::trim).filter(|u| !u.is_empty()) {
        // Shown without what could be a secret: a query, a fragment, credentials.
        None => {
            problems.push(format!(
                "{} is not set: set it to where the API is served, e.g. https://api.example.com",
                var(Setting::BaseUrl)
            ));
            None
        }
        Some(raw) => match private_api_client::parse_base_url(raw, allow_plain_http) {
            Ok(url) => Some(url),
            Err(private_api_client::ConfigError::PlainHttp { .. }) => {
                problems.push(format!(
                    "{} uses plain http on a host that is not loopback (got {:?}): every exchanged token is sent there, so use https, or set {}=true if the network in between is trusted",
                    var(Setting::BaseUrl),
                    shown(raw),
                    var(Setting::AllowPlainHttp)
                ));
                None
            }
            Err(e) => {
                problems.push(format!(
                    "{} must be an http:// or https:// URL with a host and no query or fragment ({e}; got {:?})",
                    var(Setting::BaseUrl),
                    shown(raw)
                ));
                None
            }
        },
    };
    let scope = scope
        .and_then(auth0_obo::normalize_scope)
        .unwrap_or_default();
    if scope.is_empty() {
        problems.push(format!(
            "{} is empty: set the scopes to request for the API, e.g. read:private",
            var(Setting::Scope)
        ));
    }
    match (audience, base_url) {
        (Some(audience), Some(base_url)) if problems.len() == before => Some(ApiSettings {
            name: name.to_owned(),
            audience: audience.to_owned(),
            base_url,
            scope,
            allow_plain_http,
        }),
        _ => None,
    }
}

/// A URL as an error may show it: without its query, fragment and credentials, which
/// can hold secrets (`?api_key=`), even when it does not parse.
fn shown(raw: &str) -> String {
    let cut = raw.find(['?', '#']).map_or(raw, |end| &raw[..end]);
    match cut.split_once("://") {
        Some((scheme, rest)) => {
            let host_start = rest
                .find('/')
                .map_or(rest, |end| &rest[..end])
                .rfind('@')
                .map_or(0, |at| at + 1);
            format!("{scheme}://{}", &rest[host_start..])
        }
        None => cut.to_owned(),
    }
}

/// `true`, `false` (any case), `1`, `0`, or empty for `false`.
pub(crate) fn parse_bool(value: Option<&str>, variable: &str, problems: &mut Vec<String>) -> bool {
    match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            problems.push(format!("{variable} must be true or false (got {other:?})"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn named_apis_are_read_by_prefix_and_the_quickstart_names_are_not() {
        let apis = named_api_args(vars(&[
            ("API_ORDERS_AUDIENCE", "https://orders/"),
            ("API_ORDERS_BASE_URL", "https://orders.example.com"),
            ("API_ORDERS_SCOPE", "read:orders"),
            ("API_ORDER_HISTORY_SCOPE", "read:history"),
            ("API_AUTH0_AUDIENCE", "http://localhost:8787/"),
            ("API_BASE_URL", "http://localhost:8787"),
            ("API_ALLOW_PLAIN_HTTP", "false"),
            ("API_KEY", "unrelated"),
            ("AUTH0_AUDIENCE", "http://localhost:3001/"),
        ]));
        assert_eq!(apis.keys().collect::<Vec<_>>(), ["order_history", "orders"]);
        assert_eq!(apis["orders"].audience.as_deref(), Some("https://orders/"));
        assert_eq!(apis["orders"].scope.as_deref(), Some("read:orders"));
        assert_eq!(apis["order_history"].audience, None);
    }

    #[test]
    fn each_missing_or_bad_setting_is_named_by_its_variable() {
        let mut problems = Vec::new();
        assert!(
            validate(
                "orders",
                None,
                Some("ftp://x"),
                Some(" "),
                false,
                &mut problems
            )
            .is_none()
        );
        let text = problems.join("\n");
        for expected in [
            "API_ORDERS_AUDIENCE is not set",
            "API_ORDERS_BASE_URL must be an http:// or https:// URL",
            "API_ORDERS_SCOPE is empty",
        ] {
            assert!(text.contains(expected), "{expected}: {text}");
        }
        problems.clear();
        assert!(
            validate(
                "orders",
                Some("a"),
                Some("http://orders.example.com"),
                Some("x"),
                false,
                &mut problems
            )
            .is_none()
        );
        assert!(
            problems[0].contains("set API_ORDERS_ALLOW_PLAIN_HTTP=true"),
            "{problems:?}"
        );
        problems.clear();
        let api = validate(
            "orders",
            Some(" https://orders/ "),
            Some("https://orders.example.com/v1"),
            Some("write:o read:o"),
            false,
            &mut problems,
        )
        .unwrap();
        assert_eq!(api.audience(), "https://orders/");
        assert_eq!(api.base_url().as_str(), "https://orders.example.com/v1/");
        assert_eq!(api.scope(), "read:o write:o");
        assert!(problems.is_empty());
    }

    #[test]
    fn a_refused_base_url_is_shown_without_query_fragment_or_credentials() {
        let mut problems = Vec::new();
        for raw in [
            "https://api.example.com/v1/?api_key=s3cr3t#s3cr3t",
            "https://user:s3cr3t@api.example.com/v1?x=1",
            "ftp://user:s3cr3t@api.example.com/?s3cr3t",
        ] {
            problems.clear();
            assert!(
                validate(
                    "orders",
                    Some("a"),
                    Some(raw),
                    Some("s"),
                    false,
                    &mut problems
                )
                .is_none()
            );
            let text = problems.join("\n");
            assert!(text.contains("API_ORDERS_BASE_URL"), "{text}");
            assert!(text.contains("api.example.com"), "{text}");
            assert!(!text.contains("s3cr3t"), "{text}");
        }
    }

    #[test]
    fn the_default_api_speaks_the_quickstart_variable_names() {
        assert_eq!(
            variable(DEFAULT_API, Setting::Audience),
            "API_AUTH0_AUDIENCE"
        );
        assert_eq!(
            variable(DEFAULT_API, Setting::Scope),
            "MCP_AUTH0_EXCHANGE_SCOPE"
        );
        assert_eq!(
            variable("order_history", Setting::BaseUrl),
            "API_ORDER_HISTORY_BASE_URL"
        );
        let mut problems = Vec::new();
        assert!(
            validate(
                "auth0",
                Some("a"),
                Some("https://x"),
                Some("s"),
                false,
                &mut problems
            )
            .is_none()
        );
        assert!(problems[0].contains("not AUTH0"), "{problems:?}");
    }
}
