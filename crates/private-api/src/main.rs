//! `cargo run -p private-api`: the sample upstream API. All the logic is in the
//! library; this file reads the configuration, installs logging and serves.

use anyhow::Context as _;
use clap::Parser as _;
use private_api::{AppState, Args, Config, serve, shutdown_signal};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` prints the whole context chain on one line; configuration
            // problems are already one line each.
            eprintln!("private-api: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    // Clap reads the environment while it parses, so the file has to be loaded before
    // the parse that counts: a first parse only finds out which file to load.
    let env_file = http_serve::load_env_file(Args::parse().env_file.as_deref())?;
    let args = Args::parse();
    let config = Config::from_args(&args)
        .map_err(|e| anyhow::anyhow!("refusing to start, the configuration is incomplete:\n{e}"))?;
    private_api::logging::init(&config.log).context("could not install logging")?;
    if let Some(path) = &env_file {
        tracing::info!(env_file = %path.display(), "settings read from the env file");
    }

    let state = AppState::new(&config).context("could not build the token verifier")?;
    // Fetch the keys now so the first request is fast; a failure is not fatal (the
    // issuer may come up later, and requests answer 503 until then).
    state.warm_up();

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let local = listener.local_addr().context("no local address")?;
    tracing::info!(
        address = %local,
        issuer = %config.issuer.as_str(),
        audience = %config.audience,
        "private API listening"
    );
    serve(listener, state, config.listener, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}
