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
/// a token included (invariant 4). At `info` it writes three lines for every stateless
/// request (the whole initialize parameters among them), which cost about 10 µs a
/// call and repeat what our own request and tool-call lines say. So rmcp speaks only
/// of warnings unless `RUST_LOG` names it, e.g. `RUST_LOG=trace,rmcp=debug`.
const RMCP_WITHOUT_PAYLOADS: &str = "rmcp=warn";

/// `RUST_LOG` could not be parsed; the message names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("RUST_LOG is not a valid log filter ({0}): use e.g. info, or info,mcp_server=debug")]
pub struct InvalidLogFilter(String);

/// Installs the global subscriber; `RUST_LOG` filters (default `info`).
///
/// A malformed `RUST_LOG` is refused rather than replaced: a server that silently logs
/// at another level than asked hides exactly what its operator went looking for.
pub fn init(format: LogFormat) -> Result<(), InvalidLogFilter> {
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(&directives)?)
        // Colour codes only help a person at a terminal; in files they are noise, and
        // they defeat searching the logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second call (tests) keeps the first subscriber; that is not an error.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    Ok(())
}

/// `RUST_LOG`'s directives (`info` when unset), with rmcp's payload logging off unless
/// the directives name rmcp.
fn filter(directives: &str) -> Result<EnvFilter, InvalidLogFilter> {
    let mut filter = if directives.trim().is_empty() {
        EnvFilter::new("info")
    } else {
        EnvFilter::builder()
            .parse(directives)
            .map_err(|e| InvalidLogFilter(e.to_string()))?
    };
    if !directives.contains("rmcp")
        && let Ok(directive) = RMCP_WITHOUT_PAYLOADS.parse()
    {
        filter = filter.add_directive(directive);
    }
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rmcp_payloads_stay_out_of_trace_logs_unless_asked_for() {
        assert!(filter("trace").unwrap().to_string().contains("rmcp=warn"));
        assert!(filter("").unwrap().to_string().contains("rmcp=warn"));
        assert!(
            !filter("trace,rmcp=debug")
                .unwrap()
                .to_string()
                .contains("rmcp=warn")
        );
    }

    #[test]
    fn a_malformed_rust_log_is_refused_with_the_fix() {
        let error = filter("info,[[[").unwrap_err().to_string();
        assert!(
            error.starts_with("RUST_LOG is not a valid log filter"),
            "{error}"
        );
    }
}
