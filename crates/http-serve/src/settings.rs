//! The listener's limits as settings: the same environment variables and flags in
//! every service that flattens [`ListenerArgs`] into its command line.

use std::num::NonZeroUsize;
use std::time::Duration;

use crate::ListenerLimits;

/// The raw values of the listener's settings, as clap reads them from the command line
/// or the environment. Flatten it into a service's arguments, then call
/// [`ListenerArgs::limits`].
///
/// Values are kept as text so that validation reports every bad one, each naming its
/// variable, instead of clap stopping at the first.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ListenerArgs {
    /// Seconds a client may take to send a request head; also how long a kept-alive
    /// connection may stay idle between requests.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value = "10")]
    pub http_header_read_timeout_secs: String,

    /// Seconds a client may take to send a request body, counted from the end of its
    /// head. It bounds reading the request, not the work done for it.
    #[arg(long, env = "HTTP_REQUEST_BODY_TIMEOUT_SECS", default_value = "30")]
    pub http_request_body_timeout_secs: String,

    /// Connections served at once; further ones wait to be accepted until one ends.
    /// 0: no cap. Keep it well below the open-file limit (`ulimit -n`).
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value = "512")]
    pub http_max_connections: String,

    /// Seconds that shutdown (SIGTERM, Ctrl-C) waits for requests in flight before
    /// closing every connection still open.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value = "45")]
    pub shutdown_grace_secs: String,
}

impl Default for ListenerArgs {
    /// The defaults clap applies when nothing is set.
    fn default() -> Self {
        let limits = ListenerLimits::default();
        Self {
            http_header_read_timeout_secs: limits.header_read_timeout.as_secs().to_string(),
            http_request_body_timeout_secs: limits.request_body_timeout.as_secs().to_string(),
            http_max_connections: limits
                .max_connections
                .map_or(0, NonZeroUsize::get)
                .to_string(),
            shutdown_grace_secs: limits.shutdown_grace.as_secs().to_string(),
        }
    }
}

/// One listener setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var} is invalid (got {value:?}): {fix}")]
pub struct SettingError {
    /// The environment variable.
    pub var: &'static str,
    /// What it was set to.
    pub value: String,
    /// What to set it to instead.
    pub fix: &'static str,
}

/// The longest timeout or grace accepted: an hour. Anything longer is a mistake, not
/// a bound.
const MAX_SECS: u64 = 3600;
const MAX_CONNECTIONS: usize = 1_000_000;

impl ListenerArgs {
    /// Validates every value, reporting each unusable one.
    ///
    /// # Errors
    ///
    /// One [`SettingError`] per bad value, in the order of the flags.
    pub fn limits(&self) -> Result<ListenerLimits, Vec<SettingError>> {
        let mut problems = Vec::new();
        let header_read_timeout = seconds(
            "HTTP_HEADER_READ_TIMEOUT_SECS",
            &self.http_header_read_timeout_secs,
            1,
            "set it to a whole number of seconds from 1 to 3600, e.g. 10",
            &mut problems,
        );
        let request_body_timeout = seconds(
            "HTTP_REQUEST_BODY_TIMEOUT_SECS",
            &self.http_request_body_timeout_secs,
            1,
            "set it to a whole number of seconds from 1 to 3600, e.g. 30",
            &mut problems,
        );
        let max_connections = match self.http_max_connections.trim().parse::<usize>() {
            Ok(cap) if cap <= MAX_CONNECTIONS => Some(NonZeroUsize::new(cap)),
            _ => {
                problems.push(SettingError {
                    var: "HTTP_MAX_CONNECTIONS",
                    value: self.http_max_connections.clone(),
                    fix: "set it to a whole number from 0 (no cap) to 1000000, e.g. 512",
                });
                None
            }
        };
        let shutdown_grace = seconds(
            "SHUTDOWN_GRACE_SECS",
            &self.shutdown_grace_secs,
            0,
            "set it to a whole number of seconds from 0 to 3600, e.g. 45",
            &mut problems,
        );
        match (
            header_read_timeout,
            request_body_timeout,
            max_connections,
            shutdown_grace,
        ) {
            (
                Some(header_read_timeout),
                Some(request_body_timeout),
                Some(max_connections),
                Some(shutdown_grace),
            ) => Ok(ListenerLimits {
                header_read_timeout,
                request_body_timeout,
                max_connections,
                shutdown_grace,
            }),
            _ => Err(problems),
        }
    }
}

fn seconds(
    var: &'static str,
    value: &str,
    min: u64,
    fix: &'static str,
    problems: &mut Vec<SettingError>,
) -> Option<Duration> {
    match value.trim().parse::<u64>() {
        Ok(secs) if (min..=MAX_SECS).contains(&secs) => Some(Duration::from_secs(secs)),
        _ => {
            problems.push(SettingError {
                var,
                value: value.to_owned(),
                fix,
            });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_arguments_are_the_default_limits() {
        assert_eq!(
            ListenerArgs::default().limits(),
            Ok(ListenerLimits::default())
        );
    }

    #[test]
    fn clap_defaults_match_the_default_limits() {
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            listener: ListenerArgs,
        }
        // The environment of the test run must not leak into the parse.
        let cli = <Cli as clap::Parser>::try_parse_from(["test"]).map(|cli| cli.listener);
        if [
            "HTTP_HEADER_READ_TIMEOUT_SECS",
            "HTTP_REQUEST_BODY_TIMEOUT_SECS",
            "HTTP_MAX_CONNECTIONS",
            "SHUTDOWN_GRACE_SECS",
        ]
        .iter()
        .all(|var| std::env::var_os(var).is_none())
        {
            assert_eq!(cli.ok(), Some(ListenerArgs::default()));
        }
    }

    #[test]
    fn zero_max_connections_means_no_cap_and_zero_grace_is_allowed() {
        let args = ListenerArgs {
            http_max_connections: "0".into(),
            shutdown_grace_secs: "0".into(),
            ..ListenerArgs::default()
        };
        let limits = args.limits().unwrap_or_default();
        assert_eq!(limits.max_connections, None);
        assert_eq!(limits.shutdown_grace, Duration::ZERO);
    }

    #[test]
    fn every_bad_value_is_named_with_its_fix() {
        let args = ListenerArgs {
            http_header_read_timeout_secs: "0".into(),
            http_request_body_timeout_secs: "ten".into(),
            http_max_connections: "-1".into(),
            shutdown_grace_secs: "3601".into(),
        };
        let problems = args.limits().err().unwrap_or_default();
        let vars: Vec<_> = problems.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            [
                "HTTP_HEADER_READ_TIMEOUT_SECS",
                "HTTP_REQUEST_BODY_TIMEOUT_SECS",
                "HTTP_MAX_CONNECTIONS",
                "SHUTDOWN_GRACE_SECS"
            ]
        );
        assert_eq!(
            problems[1].to_string(),
            "HTTP_REQUEST_BODY_TIMEOUT_SECS is invalid (got \"ten\"): set it to a whole number of seconds from 1 to 3600, e.g. 30"
        );
    }
}
