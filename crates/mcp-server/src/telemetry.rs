//! Logging set-up. Nothing here ever sees a token: the tracing layers log method,
//! path and status, never headers or bodies.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// rmcp logs every JSON-RPC message whole at `debug` and `trace`: tool arguments and
/// results, which are the user's data and may hold anything a client put in them,
/// a token included (invariant 4). They stay out of the logs unless `RUST_LOG` names
/// rmcp itself, e.g. `RUST_LOG=trace,rmcp=debug`.
const RMCP_WITHOUT_PAYLOADS: &str = "rmcp=info";

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
pub fn init(format: LogFormat) {
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&directives))
        // Colour codes only help a person at a terminal; in files they are noise, and
        // they defeat searching the logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (tests) keeps the first subscriber; that is not an error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// `RUST_LOG`'s directives (`info` when unset or invalid), with rmcp's payload logging
/// off unless the directives name rmcp.
fn filter(directives: &str) -> EnvFilter {
    let mut filter = if directives.trim().is_empty() {
        EnvFilter::new("info")
    } else {
        EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new("info"))
    };
    if !directives.contains("rmcp")
        && let Ok(directive) = RMCP_WITHOUT_PAYLOADS.parse()
    {
        filter = filter.add_directive(directive);
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_payloads_stay_out_of_trace_logs_unless_asked_for() {
        assert!(filter("trace").to_string().contains("rmcp=info"));
        assert!(filter("").to_string().contains("rmcp=info"));
        assert!(!filter("trace,rmcp=debug").to_string().contains("rmcp=info"));
    }
}
