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
use obo_tests::tenant::keys::TestKey;
use obo_tests::tenant::{ClientCredential, DEFAULT_ALLOWED_ORIGINS};
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
    /// Authenticate the MCP server to the tenant with Private Key JWT instead of a
    /// client secret: a key pair is made, its public key registered with the tenant as
    /// the client's credential, and its private key written to
    /// `target/demo/mcp-server-key.pem` for the server.
    #[arg(long)]
    pub private_key_jwt: bool,
}

/// The demo client's credential for `--private-key-jwt`.
const DEMO_CREDENTIAL_KID: &str = "demo-credential";

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
    let dir = target_dir().join("demo");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The MCP Inspector's web UI fetches the Protected Resource Metadata from the
    // browser: the MCP server must answer CORS for the origins the tenant allows.
    let mut mcp_env =
        BTreeMap::from([("CORS_ORIGINS".to_owned(), DEFAULT_ALLOWED_ORIGINS.join(","))]);
    let client_key = if args.private_key_jwt {
        let key = TestKey::rsa(DEMO_CREDENTIAL_KID);
        let key_path = dir.join("mcp-server-key.pem");
        write_private(&key_path, &key.private_pem())?;
        mcp_env.extend([
            // An empty secret is an unset one.
            ("MCP_AUTH0_CLIENT_SECRET".to_owned(), String::new()),
            (
                "MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE".to_owned(),
                key_path.display().to_string(),
            ),
            (
                "MCP_AUTH0_CLIENT_ASSERTION_ALG".to_owned(),
                "RS256".to_owned(),
            ),
            (
                "MCP_AUTH0_CLIENT_ASSERTION_KID".to_owned(),
                DEMO_CREDENTIAL_KID.to_owned(),
            ),
        ]);
        Some((key, key_path))
    } else {
        None
    };
    let system = RunningSystem::start(SystemConfig {
        bin_dir: target_dir().join("debug"),
        tenant_port: args.tenant_port,
        api_port: args.api_port,
        mcp_port: args.port,
        mcp_env,
        ..SystemConfig::default()
    })
    .await
    .map_err(|e| anyhow::anyhow!("the demo could not start: {e}"))?;
    if let Some((key, _)) = &client_key {
        // The public key uploaded to the application's credentials, as in Auth0.
        system
            .tenant
            .set_client_credentials(vec![ClientCredential::from_test_key(key, "RS256")]);
    }
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
    let path = dir.join("connection.json");
    std::fs::write(&path, serde_json::to_string_pretty(&connection)?)
        .with_context(|| format!("cannot write {}", path.display()))?;

    // The MCP server's own configuration, so `mcp-server check` (or a second server
    // under a debugger) can be pointed at the demo tenant.
    let env_path = dir.join("mcp-server.env");
    let credential = match &client_key {
        Some((_, key_path)) => format!(
            "MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE={}\nMCP_AUTH0_CLIENT_ASSERTION_ALG=RS256\nMCP_AUTH0_CLIENT_ASSERTION_KID={DEMO_CREDENTIAL_KID}",
            key_path.display()
        ),
        None => format!("MCP_AUTH0_CLIENT_SECRET={}", system.tenant.client_secret()),
    };
    let env = format!(
        "AUTH0_DOMAIN={}\nAUTH0_AUDIENCE={}\nMCP_SERVER_URL={}\nMCP_AUTH0_CLIENT_ID={}\n{credential}\nAPI_AUTH0_AUDIENCE={}\nAPI_BASE_URL={}\n",
        system.tenant.issuer(),
        system.tenant.mcp_audience(),
        system.mcp_server_url,
        system.tenant.client_id(),
        system.tenant.api_audience(),
        system.api.base_url(),
    );
    std::fs::write(&env_path, env)
        .with_context(|| format!("cannot write {}", env_path.display()))?;

    if let Some((_, key_path)) = &client_key {
        println!(
            "The MCP server authenticates to the tenant with Private Key JWT: its key is {}, and the tenant holds the public key as the credential {DEMO_CREDENTIAL_KID:?} (RS256).\n",
            key_path.display()
        );
    }
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

/// Writes a private key readable by its owner alone.
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt as _;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
