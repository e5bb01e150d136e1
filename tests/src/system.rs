//! The whole system on one machine: the mock Auth0 tenant in this process, and the
//! private API and the MCP server as real processes configured only through their
//! environment, as a user runs them. The end-to-end tests, `cargo xtask demo` and
//! `cargo xtask bench` all start it this way.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::Duration;

use crate::process::{PORT_ATTEMPTS, ProcessError, ServiceProcess, bin_dir, free_port};
use crate::tenant::{MockTenant, TenantConfig};

/// How to start the system. Ports of 0 mean "any free port".
#[derive(Debug, Clone)]
pub struct SystemConfig {
    /// Where the `mcp-server` and `private-api` binaries are.
    pub bin_dir: PathBuf,
    pub tenant_port: u16,
    pub api_port: u16,
    pub mcp_port: u16,
    /// Lifetime of exchanged tokens, in seconds.
    pub exchanged_expires_in: u64,
    /// Extra environment for the MCP server (for example `RUST_LOG`, `LOG_FORMAT`).
    pub mcp_env: BTreeMap<String, String>,
    /// Extra environment for the private API.
    pub api_env: BTreeMap<String, String>,
    /// How long each service may take to become ready.
    pub ready_timeout: Duration,
    /// Where the MCP server calls the private API, instead of the real one (which
    /// still runs): a wiremock stand-in that misbehaves on purpose.
    pub api_base_url_override: Option<String>,
    /// Start with the tenant's JWKS endpoint down, so the MCP server starts cold.
    pub jwks_down_at_start: bool,
}

impl Default for SystemConfig {
    fn default() -> Self {
        Self {
            bin_dir: bin_dir(),
            tenant_port: 0,
            api_port: 0,
            mcp_port: 0,
            exchanged_expires_in: 3600,
            mcp_env: BTreeMap::new(),
            api_env: BTreeMap::new(),
            ready_timeout: Duration::from_secs(30),
            api_base_url_override: None,
            jwks_down_at_start: false,
        }
    }
}

/// The three running parts. Dropping it stops both processes.
#[derive(Debug)]
pub struct RunningSystem {
    pub tenant: MockTenant,
    pub api: ServiceProcess,
    pub mcp: ServiceProcess,
    /// `MCP_SERVER_URL`, e.g. `http://localhost:3001`.
    pub mcp_server_url: String,
    /// How `mcp` was started, so [`RunningSystem::start_mcp_replica`] can start more.
    mcp_env: BTreeMap<String, String>,
    bin_dir: PathBuf,
    ready_timeout: Duration,
}

impl RunningSystem {
    /// Starts the tenant, then the private API, then the MCP server, each ready
    /// before the next starts.
    ///
    /// A service whose free port another process took first is started again, with
    /// the whole system on new ports (the tenant's audiences name them), up to
    /// [`PORT_ATTEMPTS`] times. Ports asked for by number are not retried.
    pub async fn start(config: SystemConfig) -> Result<Self, ProcessError> {
        let any_ports = config.api_port == 0 && config.mcp_port == 0;
        let mut attempt = 1;
        loop {
            match Self::start_once(config.clone()).await {
                Err(e) if e.is_port_taken() && any_ports && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                }
                started => return started,
            }
        }
    }

    async fn start_once(config: SystemConfig) -> Result<Self, ProcessError> {
        let tenant_listener = bind("mock Auth0 tenant", config.tenant_port)?;
        let api_port = pick("private API", config.api_port)?;
        let mcp_port = pick("MCP server", config.mcp_port)?;
        let mcp_server_url = format!("http://localhost:{mcp_port}");
        let api_base_url = format!("http://127.0.0.1:{api_port}");
        let tenant = MockTenant::start_on(
            tenant_listener,
            TenantConfig {
                mcp_audience: format!("{mcp_server_url}/"),
                api_audience: format!("http://localhost:{api_port}/"),
                expires_in: config.exchanged_expires_in,
                ..TenantConfig::default()
            },
        )
        .await;
        tenant.jwks_down(config.jwks_down_at_start);

        let mut api_env = common_env(&tenant);
        api_env.insert("API_BASE_URL".into(), api_base_url.clone());
        api_env.extend(config.api_env.clone());
        let mut api =
            ServiceProcess::spawn(&config.bin_dir, "private-api", &api_base_url, &api_env)?;
        api.wait_ready("/healthz", config.ready_timeout).await?;

        let mut mcp_env = common_env(&tenant);
        mcp_env.insert("PORT".into(), mcp_port.to_string());
        mcp_env.insert("MCP_SERVER_URL".into(), mcp_server_url.clone());
        mcp_env.insert(
            "API_BASE_URL".into(),
            config.api_base_url_override.clone().unwrap_or(api_base_url),
        );
        mcp_env.insert("MCP_AUTH0_CLIENT_ID".into(), tenant.client_id().to_owned());
        mcp_env.insert(
            "MCP_AUTH0_CLIENT_SECRET".into(),
            tenant.client_secret().to_owned(),
        );
        mcp_env.insert("MCP_AUTH0_EXCHANGE_SCOPE".into(), "read:private".into());
        mcp_env.extend(config.mcp_env.clone());
        let mut mcp = ServiceProcess::spawn(
            &config.bin_dir,
            "mcp-server",
            &format!("http://127.0.0.1:{mcp_port}"),
            &mcp_env,
        )?;
        mcp.wait_ready("/healthz", config.ready_timeout).await?;

        Ok(Self {
            tenant,
            api,
            mcp,
            mcp_server_url,
            mcp_env,
            bin_dir: config.bin_dir,
            ready_timeout: config.ready_timeout,
        })
    }

    /// Starts one more `mcp-server`, a replica of `mcp` as a fleet behind a load
    /// balancer runs it: the same tenant, client, private API and public
    /// `MCP_SERVER_URL`, on a port of its own, with `extra_env` on top. Reach it at its
    /// [`ServiceProcess::base_url`]; dropping it stops it.
    pub async fn start_mcp_replica(
        &self,
        extra_env: &BTreeMap<String, String>,
    ) -> Result<ServiceProcess, ProcessError> {
        ServiceProcess::on_free_port("/healthz", self.ready_timeout, |port| {
            let mut env = self.mcp_env.clone();
            env.insert("PORT".into(), port.to_string());
            env.extend(extra_env.clone());
            ServiceProcess::spawn(
                &self.bin_dir,
                "mcp-server",
                &format!("http://127.0.0.1:{port}"),
                &env,
            )
        })
        .await
    }

    /// The MCP endpoint, as clients are told to connect to it.
    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.mcp_server_url)
    }
}

/// What both services read: the tenant and the two audiences.
fn common_env(tenant: &MockTenant) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("AUTH0_DOMAIN".to_owned(), tenant.issuer().to_owned()),
        (
            "AUTH0_AUDIENCE".to_owned(),
            tenant.mcp_audience().to_owned(),
        ),
        (
            "API_AUTH0_AUDIENCE".to_owned(),
            tenant.api_audience().to_owned(),
        ),
        (
            "RUST_LOG".to_owned(),
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".to_owned()),
        ),
    ])
}

fn bind(what: &str, port: u16) -> Result<TcpListener, ProcessError> {
    TcpListener::bind(("127.0.0.1", port)).map_err(|e| {
        ProcessError::new(format!(
            "cannot listen on 127.0.0.1:{port} for the {what}: {e}. Is another program using that port?"
        ))
    })
}

/// A port for a child: the one asked for (checked free now), or any free one.
fn pick(what: &str, port: u16) -> Result<u16, ProcessError> {
    if port == 0 {
        free_port()
    } else {
        bind(what, port).map(|_| port)
    }
}
