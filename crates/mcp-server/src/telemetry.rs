//! Logging set-up. Nothing here ever sees a token: the tracing layers log method,
//! path and status, never headers or bodies.
//!
//! Lines are formatted on the thread that logs them, then handed to a writer thread
//! (`tracing-appender`'s non-blocking writer) that writes them to stderr in batches.
//! A request therefore never waits for stderr: the two synchronous `write(2)` calls a
//! request used to make cost about a fifth of an MCP call (issue 16). When the
//! writer falls behind by [`MAX_PENDING_LINES`], further lines are dropped and
//! counted ([`log_lines_dropped`], `log_lines_dropped_total` in `/metrics`):
//! docs/decisions.md, "Logging off the hot path".

use std::io::BufWriter;
use std::sync::OnceLock;

use clap::ValueEnum;
use tracing::Span;
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines waiting for the writer thread before new ones are dropped. At a few hundred
/// bytes a line that is at most a few MB, and many seconds of a stalled stderr at the
/// request rates this server sees.
pub const MAX_PENDING_LINES: usize = 8_192;

/// The writer thread's buffer: lines that arrive together leave in one `write(2)`.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// The dropped-line counter of the writer installed by [`init`].
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Log lines dropped since the start because the writer thread fell behind (0 when
/// [`init`] did not install the writer, as in tests that capture logs themselves).
pub fn log_lines_dropped() -> u64 {
    DROPPED
        .get()
        .map_or(0, |counter| counter.dropped_lines() as u64)
}

/// Keeps the writer thread; dropping it writes every pending line and stops the
/// thread. Hold it until the process exits, early exits included.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: WorkerGuard,
}

/// The request's span, put in the request's extensions by the bearer layer, so that
/// code running outside it (rmcp runs the tools in a task of its own) can still record
/// the fields the access line carries: `sub`, `tool`, `outcome`, `token_from_cache`.
/// One line per request then says who called what and how it ended.
#[derive(Debug, Clone)]
pub struct RequestLog(pub Span);

impl RequestLog {
    /// The span of the request being served now.
    pub fn current() -> Self {
        Self(Span::current())
    }

    /// A tool call: which tool and how it ended (`ok`, or the failure's kind).
    pub fn tool_call(&self, tool: &str, outcome: &str) {
        self.0.record("tool", tool);
        self.0.record("outcome", outcome);
    }
}

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
/// call and repeat what our own access line says. So rmcp speaks only
/// of warnings unless `RUST_LOG` names it, e.g. `RUST_LOG=trace,rmcp=debug`.
const RMCP_WITHOUT_PAYLOADS: &str = "rmcp=warn";

/// `RUST_LOG` could not be parsed; the message names the variable and the fix.
#[derive(Debug, thiserror::Error)]
#[error("RUST_LOG is not a valid log filter ({0}): use e.g. info, or info,mcp_server=debug")]
pub struct InvalidLogFilter(String);

/// Installs the global subscriber, writing to stderr through the writer thread;
/// `RUST_LOG` filters (default `info`). Keep the returned guard until the process
/// exits, or the last lines are lost.
///
/// A malformed `RUST_LOG` is refused rather than replaced: a server that silently logs
/// at another level than asked hides exactly what its operator went looking for.
pub fn init(format: LogFormat) -> Result<LogGuard, InvalidLogFilter> {
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    let filter = filter(&directives)?;
    // Lossy: a stalled stderr (a full pipe, a blocked log driver) must not stall the
    // requests; the lines it costs are counted instead.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(MAX_PENDING_LINES)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(
            WRITE_BUFFER_BYTES,
            std::io::stderr(),
        ));
    let counter = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only help a person at a terminal; in files they are noise, and
        // they defeat searching the logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    // A second call (tests) keeps the first subscriber; that is not an error.
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if installed.is_ok() {
        let _ = DROPPED.set(counter);
    }
    Ok(LogGuard { _writer: guard })
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
