//! Log output: human-readable text by default, JSON lines for log shippers.
//!
//! What is logged is decided elsewhere (one line per request in [`crate::app`]); this
//! file only installs the subscriber. Nothing here ever sees a request header.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::{SubscriberInitExt, TryInitError};

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// Logging settings from `RUST_LOG` and `LOG_FORMAT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// An `EnvFilter` directive string.
    pub filter: String,
    /// The line format.
    pub format: LogFormat,
}

/// Installs the global subscriber.
///
/// # Errors
///
/// If a global subscriber is already installed.
pub fn init(config: &LogConfig) -> Result<(), TryInitError> {
    // The filter was validated with the rest of the configuration; fall back to
    // `info` rather than fail if it somehow is not valid here.
    let filter = EnvFilter::try_new(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colour codes only help a person at a terminal; in files and pipes they are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    match config.format {
        LogFormat::Text => builder.finish().try_init(),
        LogFormat::Json => builder.json().finish().try_init(),
    }
}
