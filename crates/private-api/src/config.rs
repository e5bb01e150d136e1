//! Configuration from the environment (and `./.env` or `--env-file`, loaded by `main`), with the same
//! variable names as the MCP server so one `.env` serves both.
//!
//! Every problem is reported at once, each naming its variable and the fix, so a
//! first run with an empty environment tells the operator everything in one go.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use http_serve::{ListenerArgs, ListenerLimits};
use jwt_verify::Issuer;
use url::Url;

use crate::logging::{LogConfig, LogFormat};

/// Where the API is reached when `API_BASE_URL` is not set.
pub const DEFAULT_BASE_URL: &str = "http://localhost:8787";

/// The command line; every option also reads its environment variable.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "private-api",
    version,
    about = "The sample upstream API: verifies Auth0 access tokens for its own audience and \
             requires read:private on GET /api/private-scope."
)]
pub struct Args {
    /// Your Auth0 tenant domain (e.g. tenant.us.auth0.com), or a full issuer URL such
    /// as http://127.0.0.1:9999/ for a local mock. Tokens must carry this `iss`.
    #[arg(long, env = "AUTH0_DOMAIN")]
    pub auth0_domain: Option<String>,

    /// The identifier (audience) of this API in Auth0. Tokens for any other audience,
    /// including the MCP server's, are refused.
    #[arg(long, env = "API_AUTH0_AUDIENCE")]
    pub api_auth0_audience: Option<String>,

    /// The URL at which this API is reached. The server listens on its port.
    #[arg(long, env = "API_BASE_URL", default_value = DEFAULT_BASE_URL)]
    pub api_base_url: String,

    /// The IP address to listen on (`localhost` means 127.0.0.1).
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Listen on this port instead of API_BASE_URL's (0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,

    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `private_api=debug`.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,

    /// Log line format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Time limits and the connection cap of the listener.
    #[command(flatten)]
    pub listener: ListenerArgs,

    /// How many verified access tokens to remember, so a token seen again skips the
    /// signature check (its expiry is still checked, and the cache is cleared when the
    /// signing keys change). About 1.8 KB per entry with an Auth0-sized token. 0 turns it off.
    #[arg(long, env = "VERIFIED_TOKEN_CACHE_CAPACITY", default_value_t = 10_000)]
    pub verified_token_cache_capacity: u64,

    /// Read settings from this file instead of ./.env. Only the working directory's
    /// .env is read otherwise, never one in a parent directory. Variables already set
    /// in the environment win over the file. (Read by `main` before the other options.)
    #[arg(long, value_name = "PATH")]
    pub env_file: Option<PathBuf>,
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The token issuer (`https://{AUTH0_DOMAIN}/`).
    pub issuer: Issuer,
    /// This API's audience.
    pub audience: String,
    /// Where the API is reached.
    pub base_url: Url,
    /// The address to listen on.
    pub listen: SocketAddr,
    /// Logging settings.
    pub log: LogConfig,
    /// Bounds on every wait of the listener, and how long shutdown drains.
    pub listener: ListenerLimits,
    /// Entries of the verified-token cache; 0: off.
    pub verified_token_cache_capacity: u64,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigProblem {
    /// A required variable is unset or empty.
    #[error("{var} is not set: {fix}")]
    Missing {
        /// The environment variable.
        var: &'static str,
        /// How to fix it.
        fix: &'static str,
    },
    /// A variable is set to something unusable.
    #[error("{var} is invalid ({reason}): {fix}")]
    Invalid {
        /// The environment variable.
        var: &'static str,
        /// What is wrong with it.
        reason: String,
        /// How to fix it.
        fix: &'static str,
    },
}

impl ConfigProblem {
    /// The environment variable at fault.
    pub fn var(&self) -> &'static str {
        match self {
            Self::Missing { var, .. } | Self::Invalid { var, .. } => var,
        }
    }
}

/// Everything wrong with the configuration, one line per problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    /// The problems, in the order of the variables in `--help`.
    pub problems: Vec<ConfigProblem>,
}

const AUTH0_DOMAIN_FIX: &str = "set it to your tenant domain, e.g. tenant.us.auth0.com (or an issuer URL such as http://127.0.0.1:9999/ for a local mock)";
const AUDIENCE_FIX: &str = "set it to this API's identifier in Auth0 (Applications > APIs), e.g. https://private-api.example.com";
const BASE_URL_FIX: &str = "set it to the URL this API is reached at, e.g. http://localhost:8787";
const HOST_FIX: &str = "set it to an IP address to listen on, e.g. 127.0.0.1 or 0.0.0.0";
const RUST_LOG_FIX: &str = "set it to a tracing filter, e.g. info or private_api=debug";
const LOG_FORMAT_FIX: &str = "set it to text or json";

impl Config {
    /// Validates the arguments, reporting every problem found.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] listing each unusable variable.
    pub fn from_args(args: &Args) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();

        let issuer = match non_empty(args.auth0_domain.as_deref()) {
            None => {
                problems.push(ConfigProblem::Missing {
                    var: "AUTH0_DOMAIN",
                    fix: AUTH0_DOMAIN_FIX,
                });
                None
            }
            Some(domain) => match Issuer::parse(domain) {
                Ok(issuer) => Some(issuer),
                Err(e) => {
                    problems.push(ConfigProblem::Invalid {
                        var: "AUTH0_DOMAIN",
                        reason: e.to_string(),
                        fix: AUTH0_DOMAIN_FIX,
                    });
                    None
                }
            },
        };

        let audience = match args.api_auth0_audience.as_deref() {
            None => None,
            Some(a) if a.trim().is_empty() => None,
            Some(a) if a.trim() != a => {
                problems.push(ConfigProblem::Invalid {
                    var: "API_AUTH0_AUDIENCE",
                    reason: "it has leading or trailing whitespace".to_owned(),
                    fix: AUDIENCE_FIX,
                });
                Some(a.to_owned())
            }
            Some(a) => Some(a.to_owned()),
        };
        if audience.is_none() {
            problems.push(ConfigProblem::Missing {
                var: "API_AUTH0_AUDIENCE",
                fix: AUDIENCE_FIX,
            });
        }

        let base_url = match parse_base_url(&args.api_base_url) {
            Ok(url) => Some(url),
            Err(reason) => {
                problems.push(ConfigProblem::Invalid {
                    var: "API_BASE_URL",
                    reason,
                    fix: BASE_URL_FIX,
                });
                None
            }
        };

        let host = match parse_host(&args.host) {
            Some(ip) => Some(ip),
            None => {
                problems.push(ConfigProblem::Invalid {
                    var: "HOST",
                    reason: format!("{:?} is not an IP address", args.host),
                    fix: HOST_FIX,
                });
                None
            }
        };

        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&args.rust_log) {
            problems.push(ConfigProblem::Invalid {
                var: "RUST_LOG",
                reason: e.to_string(),
                fix: RUST_LOG_FIX,
            });
        }

        let format = match args.log_format.trim().to_ascii_lowercase().as_str() {
            "text" | "" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            other => {
                problems.push(ConfigProblem::Invalid {
                    var: "LOG_FORMAT",
                    reason: format!("{other:?} is not a known format"),
                    fix: LOG_FORMAT_FIX,
                });
                None
            }
        };

        let listener = match args.listener.limits() {
            Ok(limits) => Some(limits),
            Err(bad) => {
                problems.extend(bad.into_iter().map(|e| ConfigProblem::Invalid {
                    var: e.var,
                    reason: format!("got {:?}", e.value),
                    fix: e.fix,
                }));
                None
            }
        };

        match (issuer, audience, base_url, host, format, listener) {
            (
                Some(issuer),
                Some(audience),
                Some(base_url),
                Some(host),
                Some(format),
                Some(listener),
            ) if problems.is_empty() => {
                // `parse_base_url` guarantees a port for http(s).
                let port = args
                    .port
                    .or_else(|| base_url.port_or_known_default())
                    .unwrap_or(0);
                Ok(Self {
                    issuer,
                    audience,
                    base_url,
                    listen: SocketAddr::new(host, port),
                    log: LogConfig {
                        filter: args.rust_log.clone(),
                        format,
                    },
                    listener,
                    verified_token_cache_capacity: args.verified_token_cache_capacity,
                })
            }
            _ => Err(ConfigError { problems }),
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

fn parse_base_url(value: &str) -> Result<Url, String> {
    let url = Url::parse(value.trim()).map_err(|e| format!("{value:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "the scheme must be http or https, not {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host".to_owned());
    }
    Ok(url)
}

fn parse_host(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("localhost") {
        return Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    // Accept `[::1]` as well as `::1`.
    value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value)
        .parse()
        .ok()
}
