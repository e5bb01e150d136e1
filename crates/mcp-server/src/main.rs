//! `mcp-server`: read the configuration, set up logging, serve, shut down gracefully;
//! or `mcp-server check`: check the configuration against the tenant.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_server::check::{self, CheckArgs};
use mcp_server::quickstart::Quickstart;
use mcp_server::{DEFAULT_API, LogFormat, ServerArgs, Settings};

// Every request allocates and frees many small objects (rmcp builds a service per
// stateless call); glibc malloc spent about a fifth of the server's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "mcp-server",
    version,
    about = "MCP server that calls a private API on behalf of the signed-in user (Auth0 On-Behalf-Of token exchange).",
    long_about = "MCP server that calls a private API on behalf of the signed-in user (Auth0 On-Behalf-Of token exchange).\n\nEvery option can also be set in the environment or in a .env file in the working directory (or the file --env-file names), under the name shown.",
    after_help = "Logging: RUST_LOG sets the log filter (default info), e.g. RUST_LOG=info,mcp_server=debug.\nWith no command, the server serves."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    server: ServerArgs,

    /// Read settings from this file instead of ./.env. Only the working directory's
    /// .env is read otherwise, never one in a parent directory. Variables already set
    /// in the environment win over the file.
    #[arg(long, global = true, value_name = "PATH")]
    env_file: Option<PathBuf>,

    /// Log format: `json` writes one JSON object per line, with the request id.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration against the Auth0 tenant and the private API, one line
    /// per check with what to fix; with a user token, also verify it, exchange it and
    /// call the private API. Exits 1 when a check fails.
    Check(CheckArgs),
}

fn main() -> ExitCode {
    match runtime() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("mcp-server cannot start its async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Threads that may run blocking work at once (DNS lookups for the tenant, the private
/// API and the key set, as reqwest resolves names on tokio's blocking pool). tokio's
/// default is 512; each thread keeps its own stack and allocator heap while it lives,
/// so a burst of lookups could hold megabytes. Four let the three upstream hosts
/// resolve at once; more lookups wait their turn.
const MAX_BLOCKING_THREADS: usize = 4;

/// How long an idle blocking thread stays for the next lookup (tokio's default is
/// 10 s). Lookups are rare once connections are pooled; a thread that ends gives back
/// its stack and heap.
const BLOCKING_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(5);

/// The server's runtime: one worker per CPU this process may use (tokio counts the
/// CPU affinity mask and the cgroup quota, so a one-core container gets one worker;
/// `TOKIO_WORKER_THREADS` overrides it), and a small blocking pool.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
}

async fn run() -> ExitCode {
    // Clap reads the environment while it parses, so the file has to be loaded before
    // the parse that counts: a first parse only finds out which file to load.
    let env_file = match http_serve::load_env_file(Cli::parse().env_file.as_deref()) {
        Ok(env_file) => env_file,
        Err(e) => {
            eprintln!("mcp-server cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse();
    if let Some(Command::Check(args)) = &cli.command {
        if let Some(path) = &env_file {
            eprintln!("settings read from {}", path.display());
        }
        let code = check::command(args, &mut std::io::stdout()).await;
        return ExitCode::from(code);
    }
    // Log lines leave through a writer thread; the guard writes what is pending when
    // it is dropped, so every exit below goes through `exit`, which drops it first and
    // then writes its own message: the lines come out in the order they were logged.
    let log_guard = match mcp_server::init_logging(cli.log_format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("mcp-server cannot start: {e}");
            return ExitCode::from(2);
        }
    };
    let exit = |code: u8, message: String| {
        drop(log_guard);
        if !message.is_empty() {
            eprintln!("{message}");
        }
        ExitCode::from(code)
    };
    if let Some(path) = &env_file {
        tracing::info!(env_file = %path.display(), "settings read from the env file");
    }
    let args = cli.server.with_named_apis(std::env::vars());
    let settings = match Settings::from_args(&args) {
        Ok(settings) => settings,
        Err(e) => return exit(2, format!("mcp-server cannot start: {e}")),
    };
    // `greet` calls the quickstart's API; a server of your own may have none.
    if settings.api(DEFAULT_API).is_none() {
        return exit(
            2,
            "mcp-server cannot start: API_AUTH0_AUDIENCE is not set: the quickstart's greet tool calls the private API; set it to the identifier of the private API in Auth0, e.g. http://localhost:8787/".to_owned(),
        );
    }
    let addr = settings.listen_addr();
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            return exit(
                1,
                format!(
                    "mcp-server cannot listen on {addr}: {e}. Is another process using the port? Set PORT to a free one."
                ),
            );
        }
    };
    let server = Quickstart::server(settings);
    match server.serve(listener, mcp_server::shutdown_signal()).await {
        Ok(()) => exit(0, String::new()),
        Err(e) => exit(1, format!("mcp-server failed: {e:#}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "client-secret-4f9a0c";
    const TOKEN: &str = "eyJ-user-token-c0ffee";

    #[test]
    fn finding_8_debug_of_the_whole_parsed_command_line_shows_no_secret() {
        let cli = Cli::try_parse_from([
            "mcp-server",
            "--mcp-auth0-client-secret",
            SECRET,
            "check",
            "--mcp-auth0-client-secret",
            SECRET,
            "--token",
            TOKEN,
        ])
        .unwrap();
        let debug = format!("{cli:?}");
        // Both secrets were parsed (so the check below is not vacuous), then redacted.
        assert_eq!(
            debug.matches("mcp_auth0_client_secret: Some(").count(),
            2,
            "{debug}"
        );
        assert!(debug.contains("token: Some("), "{debug}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains(TOKEN), "{debug}");
    }
}
