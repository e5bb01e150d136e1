//! The MCP server in-process, bound to `127.0.0.1:0`, in front of a mock Auth0 tenant
//! and a wiremock playing the private API, plus the clients the tests drive it with.
//!
//! Each test binary compiles this module and uses a part of it.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod logs;

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_server::quickstart::Quickstart;
use mcp_server::{OrganizationArg, Server, ServerArgs, Settings};
use obo_tests::tenant::{ApiGrant, MockTenant, TenantConfig};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// The private API's one route, as `private-api-client` calls it.
pub const PRIVATE_SCOPE_PATH: &str = "/api/private-scope";

/// What a test changes about the server it starts.
#[derive(Debug, Clone)]
pub struct Options {
    pub hide_unpermitted_tools: bool,
    /// `CORS_ORIGINS`.
    pub cors_origins: String,
    /// `UPSTREAM_TIMEOUT_SECS`.
    pub upstream_timeout_secs: u64,
    /// A client secret other than the tenant's (`invalid_client`).
    pub client_secret: Option<String>,
    /// An `API_BASE_URL` other than the private API mock (an unreachable one).
    pub api_base_url: Option<String>,
    /// `AUTH0_AUDIENCE` = `http://127.0.0.1:{port}/mcp` (this server's own URL), so the
    /// metadata URL gets the RFC 9728 §3.1 path insertion; else the tenant's default.
    pub audience_on_this_server: bool,
    /// Whether the private API mock answers `GET /api/private-scope` by itself.
    pub mount_private_api: bool,
    /// `MCP_SERVER_URL`; default `http://127.0.0.1:{port}`.
    pub public_url: Option<String>,
    /// The tenant's APIs besides the MCP server's and the private API.
    pub tenant_apis: Vec<ApiGrant>,
    /// `MCP_BASE_SCOPES`; default unset (every tool scope).
    pub base_scopes: Option<String>,
    /// `AUDIT_LOG`; default unset (audit events go to the logs).
    pub audit_log: Option<std::path::PathBuf>,
    /// The tenant's Resource Parameter Compatibility Profile (default on).
    pub resource_parameter_profile: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            hide_unpermitted_tools: false,
            cors_origins: String::new(),
            upstream_timeout_secs: 10,
            client_secret: None,
            api_base_url: None,
            audience_on_this_server: false,
            mount_private_api: true,
            public_url: None,
            tenant_apis: Vec::new(),
            base_scopes: None,
            audit_log: None,
            resource_parameter_profile: true,
        }
    }
}

/// A running MCP server and its two upstreams. Stops when dropped.
pub struct TestServer {
    /// `http://127.0.0.1:{port}`, no trailing slash.
    pub base: String,
    pub addr: SocketAddr,
    pub tenant: MockTenant,
    /// The private API: inspect `received_requests()`.
    pub api: MockServer,
    pub settings: Settings,
    cancel: CancellationToken,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Everything a server needs before it serves: its listener, its settings, and the two
/// upstreams those settings point at.
pub struct Prepared {
    pub listener: TcpListener,
    pub addr: SocketAddr,
    pub base: String,
    /// What `settings` were validated from; see [`Prepared::reconfigure`].
    pub args: ServerArgs,
    pub settings: Settings,
    pub tenant: MockTenant,
    pub api: MockServer,
}

impl Prepared {
    pub async fn new(options: &Options) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let base = format!("http://{addr}");
        let mut config = TenantConfig {
            extra_apis: options.tenant_apis.clone(),
            resource_parameter_profile: options.resource_parameter_profile,
            ..TenantConfig::default()
        };
        if options.audience_on_this_server {
            config.mcp_audience = format!("{base}/mcp");
        }
        let tenant = MockTenant::start(config).await;
        let api = MockServer::start().await;
        if options.mount_private_api {
            mount_private_api(&api, tenant.api_audience()).await;
        }
        let args = ServerArgs {
            auth0_domain: Some(tenant.issuer().to_owned()),
            auth0_audience: Some(tenant.mcp_audience().to_owned()),
            host: "127.0.0.1".into(),
            port: addr.port().to_string(),
            mcp_server_url: Some(options.public_url.clone().unwrap_or_else(|| base.clone())),
            mcp_auth0_client_id: Some(tenant.client_id().to_owned()),
            mcp_auth0_client_secret: Some(
                options
                    .client_secret
                    .clone()
                    .unwrap_or_else(|| tenant.client_secret().to_owned())
                    .into(),
            ),
            mcp_auth0_client_auth_method: None,
            mcp_auth0_client_assertion_key_file: None,
            mcp_auth0_client_assertion_alg: None,
            mcp_auth0_client_assertion_kid: None,
            mcp_auth0_exchange_organization: OrganizationArg::FromToken,
            audit_log: options.audit_log.clone(),
            mcp_auth0_exchange_scope: "read:private".into(),
            api_auth0_audience: Some(tenant.api_audience().to_owned()),
            api_base_url: options.api_base_url.clone().unwrap_or_else(|| api.uri()),
            api_allow_plain_http: false,
            cors_origins: options.cors_origins.clone(),
            hide_unpermitted_tools: options.hide_unpermitted_tools,
            mcp_base_scopes: options.base_scopes.clone(),
            resource_name: "obo-mcp".into(),
            upstream_timeout_secs: options.upstream_timeout_secs.to_string(),
            metrics_addr: None,
            listener: Default::default(),
            jwks_max_staleness_secs: "86400".into(),
            verified_token_cache_capacity: 10_000,
            shared_cache: Default::default(),
            named_apis: Default::default(),
        };
        let settings = Settings::from_args(&args).expect("valid test settings");
        Self {
            listener,
            addr,
            base,
            args,
            settings,
            tenant,
            api,
        }
    }
}

impl Prepared {
    /// Changes the arguments and validates them again, as a different `.env` would.
    pub fn reconfigure(&mut self, change: impl FnOnce(&mut ServerArgs)) {
        change(&mut self.args);
        self.settings = Settings::from_args(&self.args).expect("valid test settings");
    }
}

/// The quickstart server `settings` describe, serving on `listener` until `shutdown`,
/// as `main` runs it.
pub fn serve(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<Result<(), mcp_server::ServeError>> {
    tokio::spawn(Quickstart::server(settings).serve(listener, shutdown))
}

impl TestServer {
    pub async fn start(options: Options) -> Self {
        Self::start_with(options, |_, server| server).await
    }

    /// Starts the quickstart server after `adjust` changes it (e.g. a verifier with
    /// timings no setting offers, so a test need not wait for production periods).
    pub async fn start_with(
        options: Options,
        adjust: impl FnOnce(&Settings, Server<Quickstart>) -> Server<Quickstart>,
    ) -> Self {
        let Prepared {
            listener,
            addr,
            base,
            settings,
            tenant,
            api,
            ..
        } = Prepared::new(&options).await;
        let server = adjust(&settings, Quickstart::server(settings.clone()));
        let cancel = CancellationToken::new();
        let app = server.into_router(cancel.clone()).expect("the app builds");
        let shutdown = cancel.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .unwrap();
        });
        Self {
            base,
            addr,
            tenant,
            api,
            settings,
            cancel,
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The URL every challenge's `resource_metadata` must carry.
    pub fn resource_metadata_url(&self) -> String {
        self.settings.resource_metadata_url()
    }

    /// A user token for the MCP server with exactly `scopes`.
    pub fn token(&self, sub: &str, scopes: &[&str]) -> String {
        self.tenant.token_for(sub, scopes)
    }

    /// A user token that grants nothing: no `scope` claim, empty `permissions`.
    /// (`token_for(sub, &[])` would carry `scope: ""`, which jwt-verify also reads as no
    /// scope, as Auth0 sends it; docs/decisions.md, "Tokens". This one has no claim at
    /// all.)
    pub fn no_scope_token(&self, sub: &str) -> String {
        self.tenant.sign_user_token(
            &self
                .tenant
                .user_token(sub)
                .without("scope")
                .permissions(Vec::<String>::new()),
        )
    }

    /// A token with both tool scopes.
    pub fn full_token(&self, sub: &str) -> String {
        self.token(sub, &["tool:whoami", "tool:greet"])
    }

    /// Raw JSON-RPC over HTTP, where status and headers matter.
    pub fn http(&self) -> McpHttp {
        McpHttp::new(&self.mcp_url())
    }

    /// The `Authorization` values the private API received, in order.
    pub async fn api_authorizations(&self) -> Vec<String> {
        self.api
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .flat_map(|r| r.headers.get_all("authorization").iter())
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// Requests the private API received on its route.
    pub async fn api_requests(&self) -> usize {
        self.api
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == PRIVATE_SCOPE_PATH)
            .count()
    }
}

/// Mounts the default answer of the private API: it reads the token it was sent (no
/// signature check; the tests check the token themselves) and refuses any token not
/// issued for it, as `private-api` does.
pub async fn mount_private_api(api: &MockServer, api_audience: &str) {
    Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(PrivateApi {
            audience: api_audience.to_owned(),
        })
        .mount(api)
        .await;
}

/// Mounts a 401 for the next `times` requests, ahead of the default answer.
pub async fn mount_api_unauthorized(api: &MockServer, times: Option<u64>) {
    let mock = Mock::given(method("GET"))
        .and(path(PRIVATE_SCOPE_PATH))
        .respond_with(unauthorized())
        .with_priority(1);
    match times {
        Some(n) => mock.up_to_n_times(n).mount(api).await,
        None => mock.mount(api).await,
    }
}

fn unauthorized() -> ResponseTemplate {
    ResponseTemplate::new(401)
        .insert_header(
            "www-authenticate",
            r#"Bearer error="invalid_token", error_description="the token was revoked""#,
        )
        .set_body_json(
            json!({"error": "invalid_token", "error_description": "the token was revoked"}),
        )
}

struct PrivateApi {
    audience: String,
}

impl Respond for PrivateApi {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(token) = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        else {
            return unauthorized();
        };
        let Some(claims) = jwt_claims(token) else {
            return unauthorized();
        };
        if claims["aud"] != self.audience.as_str() {
            return unauthorized();
        }
        let scopes: Vec<&str> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .collect();
        let mut chain = Vec::new();
        let mut act = &claims["act"];
        while let Some(sub) = act["sub"].as_str() {
            chain.push(json!({"sub": sub}));
            act = &act["act"];
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "msg": "Hello from the private API",
            "sub": claims["sub"],
            "scopes": scopes,
            "actor": chain.first(),
            "delegation_chain": chain,
        }))
    }
}

/// The claims of a JWT, unverified.
pub fn jwt_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A port on 127.0.0.1 with nothing listening.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---- the rmcp client ----

// Each test file uses a different part of the harness.
#[allow(unused_imports)]
pub use obo_tests::mcp_client::{Client, call, connect, text_of, upstream_json};

// ---- raw HTTP ----

/// Bare JSON-RPC over HTTP, as curl sends it.
pub struct McpHttp {
    pub url: String,
    pub http: reqwest::Client,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The parsed `WWW-Authenticate` challenge; panics when there is none.
    pub fn challenge(&self) -> jwt_verify::Challenge {
        let values: Vec<_> = self.headers.get_all("www-authenticate").iter().collect();
        assert_eq!(values.len(), 1, "one WWW-Authenticate header: {values:?}");
        let value = values[0].to_str().unwrap();
        jwt_verify::Challenge::parse(value)
            .unwrap_or_else(|e| panic!("unparsable challenge {value:?}: {e}"))
    }
}

pub async fn read(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

impl McpHttp {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        }
    }

    /// A POST with the headers a Streamable HTTP client sends, plus `authorization`
    /// values (each one a separate header).
    pub fn request(&self, authorization: &[&str], body: &Value) -> reqwest::RequestBuilder {
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(body);
        for value in authorization {
            request = request.header("authorization", *value);
        }
        request
    }

    pub async fn post(&self, authorization: &[&str], body: Value) -> Answer {
        read(self.request(authorization, &body).send().await.unwrap()).await
    }

    pub async fn call_tool(&self, token: Option<&str>, tool: &str, arguments: Value) -> Answer {
        let authorization = token.map(|t| format!("Bearer {t}"));
        let authorization: Vec<&str> = authorization.iter().map(String::as_str).collect();
        self.post(&authorization, tools_call(tool, arguments)).await
    }

    pub async fn list_tools(&self, token: &str) -> Answer {
        self.post(
            &[&format!("Bearer {token}")],
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await
    }
}

pub fn tools_call(tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

/// A tool call's text and `isError`, from a raw JSON-RPC answer that must be a tool
/// result: a JSON-RPC error (no `result`) or a result without `isError` or text fails
/// the test rather than passing for a success.
pub fn tool_text(answer: &Answer) -> (String, bool) {
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(
        answer.body.get("error").is_none(),
        "a JSON-RPC error, not a tool result: {answer:?}"
    );
    let result = &answer.body["result"];
    let is_error = result["isError"]
        .as_bool()
        .unwrap_or_else(|| panic!("a tool result carries isError: {answer:?}"));
    let text = result["content"][0]["text"]
        .as_str()
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| panic!("a tool result carries text: {answer:?}"));
    (text.to_owned(), is_error)
}
