//! `cargo xtask demo`: the whole system on this machine, with the demo Auth0 tenant,
//! until Ctrl-C. Prints first how to connect an MCP client that signs in by itself (no
//! token: the tenant's sign-in page opens in the browser, and a person picks the demo
//! user), then a pasted token and the commands that use it, and writes those to
//! `target/demo/connection.json` for scripts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::tenant::DEFAULT_ALLOWED_ORIGINS;
use serde_json::json;

use crate::cmd::{cargo, step, target_dir};

/// Where the demo listens unless told otherwise: the MCP server and the private API on
/// the ports of Auth0's quickstart, and the mock tenant next to them.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Port of the MCP server.
    #[arg(long, default_value_t = 3001)]
    pub port: u16,
    /// Port of the private API.
    #[arg(long, default_value_t = 8787)]
    pub api_port: u16,
    /// Port of the mock Auth0 tenant.
    #[arg(long, default_value_t = 9400)]
    pub tenant_port: u16,
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    step(
        "build the services",
        cargo().args(["build", "-p", "mcp-server", "-p", "private-api"]),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: &DemoArgs) -> anyhow::Result<()> {
    let system = RunningSystem::start(SystemConfig {
        bin_dir: target_dir().join("debug"),
        tenant_port: args.tenant_port,
        api_port: args.api_port,
        mcp_port: args.port,
        // The MCP Inspector's web UI fetches the Protected Resource Metadata from the
        // browser: the MCP server must answer CORS for the origins the tenant allows.
        mcp_env: BTreeMap::from([("CORS_ORIGINS".to_owned(), DEFAULT_ALLOWED_ORIGINS.join(","))]),
        ..SystemConfig::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("the demo could not start: {e}"))?;
    // A person picks the user on the sign-in page; an approving tenant would hide it.
    anyhow::ensure!(
        !system.tenant.config().auto_approve,
        "the demo tenant must show its sign-in page"
    );

    // The pasted tokens are for the page's default user, so both ways in meet the
    // same people.
    let user = system
        .tenant
        .config()
        .users
        .first()
        .context("the demo tenant has no users")?
        .sub
        .clone();
    let token = system
        .tenant
        .token_for(&user, &["tool:whoami", "tool:greet"]);
    let token_whoami_only = system.tenant.token_for(&user, &["tool:whoami"]);
    let connection = json!({
        "mcp_url": system.mcp_url(),
        "token": token,
        "token_whoami_only": token_whoami_only,
        "issuer": system.tenant.issuer(),
        "api_base_url": system.api.base_url(),
    });
    let dir = target_dir().join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("connection.json");
    std::fs::write(&path, serde_json::to_string_pretty(&connection)?)
        .with_context(|| format!("cannot write {}", path.display()))?;

    // The MCP server's own configuration, so `mcp-server check` (or a second server
    // under a debugger) can be pointed at the demo tenant.
    let env_path = dir.join("mcp-server.env");
    let env = format!(
        "AUTH0_DOMAIN={}\nAUTH0_AUDIENCE={}\nMCP_SERVER_URL={}\nMCP_AUTH0_CLIENT_ID={}\nMCP_AUTH0_CLIENT_SECRET={}\nAPI_AUTH0_AUDIENCE={}\nAPI_BASE_URL={}\n",
        system.tenant.issuer(),
        system.tenant.mcp_audience(),
        system.mcp_server_url,
        system.tenant.client_id(),
        system.tenant.client_secret(),
        system.tenant.api_audience(),
        system.api.base_url(),
    );
    std::fs::write(&env_path, env)
        .with_context(|| format!("cannot write {}", env_path.display()))?;

    println!("{}", sign_in_instructions(&system));
    println!(
        "{}",
        token_instructions(&system, &user, &token, &token_whoami_only, &path, &env_path)
    );
    wait_for_stop().await;
    println!("\nStopping the demo…");
    stop(system).await;
    Ok(())
}

/// How to connect with no token: the client finds the tenant from the MCP server's 401,
/// registers itself, and opens the tenant's sign-in page in the browser. First, because
/// that is how MCP clients are meant to be used.
fn sign_in_instructions(system: &RunningSystem) -> String {
    let url = system.mcp_url();
    let vscode = json!({"servers": {"obo-mcp": {"type": "http", "url": url}}});
    let users: Vec<&str> = system
        .tenant
        .config()
        .users
        .iter()
        .map(|u| u.name.as_str())
        .collect();
    format!(
        r#"
obo-mcp demo is running.

  MCP server      {url}
  private API     {api}
  demo tenant     {issuer}
  logs            {mcp_log}
                  {api_log}

Connect an MCP client with no token: it signs you in by itself.

Claude Code:
  claude mcp add --transport http obo-mcp {url}
  then, in Claude Code: /mcp, pick obo-mcp, Authenticate.

VS Code: add this to .vscode/mcp.json (or "MCP: Open User Configuration"), start the
server, and allow it to authenticate:
  {vscode}

MCP Inspector (web UI, needs Node.js 22 or newer):
  npx @modelcontextprotocol/inspector
  then Transport Type "Streamable HTTP", URL {url}, and Connect
  (or "Open Auth Settings", then "Quick OAuth Flow", to watch each step).

A browser tab opens the demo tenant's sign-in page: pick a demo user ({users})
and click Allow. Then call `greet`: the answer names the user you picked, as the
private API saw them."#,
        api = system.api.base_url(),
        issuer = system.tenant.issuer(),
        mcp_log = system.mcp.log_path().display(),
        api_log = system.api.log_path().display(),
        users = users.join(" or "),
    )
}

/// Pasted tokens, for clients and tools that do not sign in by themselves.
fn token_instructions(
    system: &RunningSystem,
    user: &str,
    token: &str,
    whoami_only: &str,
    path: &Path,
    env_path: &Path,
) -> String {
    let url = system.mcp_url();
    format!(
        r#"
Or paste a token. A token for user {user}, valid for one hour, with scopes tool:whoami and tool:greet:

export TOKEN='{token}'

A token with only tool:whoami, to try the scope step-up (greet answers 403):

export TOKEN_WHOAMI_ONLY='{whoami_only}'

MCP Inspector (CLI):
  npx @modelcontextprotocol/inspector@latest --cli {url} --transport http --header "Authorization: Bearer $TOKEN" --method tools/call --tool-name greet

curl:
  curl -s {url} -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' -d '{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"greet","arguments":{{"name":"you"}}}}}}'

Claude Code, with the token instead of signing in:
  claude mcp add --transport http obo-mcp-token {url} --header "Authorization: Bearer $TOKEN"

Check the configuration against the demo tenant (what `mcp-server check` finds on a real one):
  (set -a; . {env_path}; cargo run -q -p mcp-server -- check --token "$TOKEN")

The same, for scripts: {path}
Press Ctrl-C to stop."#,
        path = path.display(),
        env_path = env_path.display(),
    )
}

/// Ctrl-C or SIGTERM.
async fn wait_for_stop() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Lets both services drain and exit on their own; they are killed if they do not.
async fn stop(mut system: RunningSystem) {
    for (name, process) in [
        ("MCP server", &mut system.mcp),
        ("private API", &mut system.api),
    ] {
        match process.terminate(Duration::from_secs(10)).await {
            Ok(status) => println!("  {name} stopped ({status})"),
            Err(e) => eprintln!("  {name}: {e}"),
        }
    }
}
