//! `mcp-server check` against the mock tenant: all green, then each tenant mistake and
//! the fix it prints; in-process through `check::run`, and as the real binary for exit
//! codes and reading the token from stdin.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{closed_port, mount_private_api};
use mcp_server::check::{self, CheckReport, Outcome, names};
use mcp_server::{OrganizationArg, ServerArgs, Settings};
use obo_tests::tenant::keys::TestKey;
use obo_tests::tenant::{ClientCredential, Fault, MockTenant, TenantConfig};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Setup {
    tenant: MockTenant,
    api: MockServer,
}

impl Setup {
    async fn start() -> Self {
        let tenant = MockTenant::start(TenantConfig::default()).await;
        let api = MockServer::start().await;
        mount_private_api(&api, tenant.api_audience()).await;
        Self { tenant, api }
    }

    /// The quickstart's configuration against the mock tenant: the audience is
    /// `http://localhost:3001/` and the server's URL the default `http://localhost:3001`.
    fn args(&self) -> ServerArgs {
        ServerArgs {
            auth0_domain: Some(self.tenant.issuer().to_owned()),
            auth0_audience: Some(self.tenant.mcp_audience().to_owned()),
            host: "127.0.0.1".into(),
            port: "3001".into(),
            mcp_server_url: None,
            mcp_auth0_client_id: Some(self.tenant.client_id().to_owned()),
            mcp_auth0_client_secret: Some(self.tenant.client_secret().into()),
            mcp_auth0_client_auth_method: Default::default(),
            mcp_auth0_client_assertion_key_file: None,
            mcp_auth0_client_assertion_alg: None,
            mcp_auth0_client_assertion_kid: None,
            mcp_auth0_exchange_organization: OrganizationArg::FromToken,
            audit_log: None,
            mcp_auth0_exchange_scope: "read:private".into(),
            api_auth0_audience: Some(self.tenant.api_audience().to_owned()),
            api_base_url: self.api.uri(),
            api_allow_plain_http: false,
            cors_origins: String::new(),
            hide_unpermitted_tools: false,
            mcp_base_scopes: None,
            resource_name: "obo-mcp".into(),
            upstream_timeout_secs: "5".into(),
            metrics_addr: None,
            listener: Default::default(),
            jwks_max_staleness_secs: "86400".into(),
            verified_token_cache_capacity: 10_000,
            shared_cache: Default::default(),
            named_apis: Default::default(),
        }
    }

    fn token(&self) -> String {
        self.tenant
            .token_for("auth0|alice", &["tool:whoami", "tool:greet"])
    }

    fn env(&self, command: &mut Command) {
        let args = self.args();
        command
            .env("AUTH0_DOMAIN", args.auth0_domain.unwrap())
            .env("AUTH0_AUDIENCE", args.auth0_audience.unwrap())
            .env("MCP_AUTH0_CLIENT_ID", args.mcp_auth0_client_id.unwrap())
            .env(
                "MCP_AUTH0_CLIENT_SECRET",
                args.mcp_auth0_client_secret.unwrap().secret(),
            )
            .env("API_AUTH0_AUDIENCE", args.api_auth0_audience.unwrap())
            .env("API_BASE_URL", args.api_base_url)
            .env("UPSTREAM_TIMEOUT_SECS", "5");
    }
}

async fn run(args: &ServerArgs, token: Option<&str>) -> (CheckReport, String) {
    let settings = Settings::from_args(args).unwrap();
    let mut out = Vec::new();
    let report = check::run(&settings, token, &mut out).await;
    (report, String::from_utf8(out).unwrap())
}

fn line<'a>(report: &'a CheckReport, name: &str) -> &'a check::CheckLine {
    report
        .line(name)
        .unwrap_or_else(|| panic!("no {name} line in {report:?}"))
}

#[tokio::test]
async fn a_correct_setup_passes_every_check_and_never_prints_the_token() {
    let setup = Setup::start().await;
    let token = setup.token();
    let (report, out) = run(&setup.args(), Some(&token)).await;
    assert!(report.passed(), "{out}");
    assert!(
        report.lines.iter().all(|l| l.outcome == Outcome::Pass),
        "{out}"
    );
    for name in [
        names::DISCOVERY,
        names::ISSUER,
        names::JWKS,
        names::RESOURCE,
        names::PRIVATE_API,
        names::TOKEN,
        names::EXCHANGE,
        names::API_CALL,
    ] {
        assert!(out.contains(&format!("✓ {name}: ")), "{name}: {out}");
    }
    assert!(out.contains("sub=\"auth0|alice\""), "{out}");
    assert!(out.contains("scopes=[tool:greet tool:whoami]"), "{out}");
    assert!(out.contains("azp=\"mcp-inspector\""), "{out}");
    assert!(out.contains("RS256 signing key"), "{out}");
    assert!(!out.contains(&token), "the token was printed: {out}");
    assert!(!out.contains(token.split('.').nth(1).unwrap()), "{out}");
    assert!(!out.contains(setup.tenant.client_secret()), "{out}");
    assert_eq!(report.exit_code(), 0);
}

#[tokio::test]
async fn without_a_token_the_token_checks_are_skipped_and_say_how_to_give_one() {
    let setup = Setup::start().await;
    let (report, out) = run(&setup.args(), None).await;
    assert!(report.passed(), "{out}");
    let token = line(&report, names::TOKEN);
    assert_eq!(token.outcome, Outcome::Skip);
    assert!(token.detail.contains("--token -"), "{out}");
    assert!(report.line(names::EXCHANGE).is_none());
}

/// Each refusal Auth0 answers, and the tenant setting the check names.
#[tokio::test]
async fn each_refused_exchange_names_the_tenant_setting_to_change() {
    let setup = Setup::start().await;
    let token = setup.token();
    let cases = [
        (403, "unauthorized_client", "Custom API client"),
        (403, "unauthorized_client", "on_behalf_of_token_exchange"),
        (403, "access_denied", "user-delegated client grant"),
        (401, "invalid_client", "MCP_AUTH0_CLIENT_SECRET"),
        (403, "invalid_scope", "MCP_AUTH0_EXCHANGE_SCOPE"),
        (400, "invalid_target", "API_AUTH0_AUDIENCE"),
        (400, "invalid_request", "AUTH0_AUDIENCE"),
    ];
    for (status, error, advice) in cases {
        setup.tenant.inject(
            Fault::OAuthError {
                status,
                error: error.into(),
                description: format!("refused: {error}"),
            },
            Some(1),
        );
        let (report, out) = run(&setup.args(), Some(&token)).await;
        assert!(!report.passed(), "{error}: {out}");
        assert_eq!(report.exit_code(), 1);
        let exchange = line(&report, names::EXCHANGE);
        assert_eq!(exchange.outcome, Outcome::Fail, "{error}: {out}");
        assert!(exchange.detail.contains(error), "{error}: {out}");
        let fix = exchange.fix.as_deref().unwrap();
        assert!(fix.contains(advice), "{error}: {fix}");
        assert!(out.contains("✗ exchange: Auth0 refused"), "{out}");
        assert!(out.contains(&format!("    fix: {fix}")), "{out}");
        assert_eq!(line(&report, names::API_CALL).outcome, Outcome::Skip);
        // Everything before the exchange still passed.
        assert_eq!(line(&report, names::TOKEN).outcome, Outcome::Pass);
    }
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    args.mcp_auth0_client_secret = Some("not-the-secret".into());
    let (report, out) = run(&args, Some(&setup.token())).await;
    let exchange = line(&report, names::EXCHANGE);
    assert_eq!(exchange.outcome, Outcome::Fail, "{out}");
    assert!(exchange.detail.contains("invalid_client"), "{out}");
    assert!(
        exchange
            .fix
            .as_deref()
            .unwrap()
            .contains("MCP_AUTH0_CLIENT_ID and MCP_AUTH0_CLIENT_SECRET")
    );
    assert!(!out.contains("not-the-secret"), "{out}");
}

/// A tenant whose discovery names another issuer than AUTH0_DOMAIN gives.
async fn tenant_with_issuer(issuer: impl Fn(&str) -> String) -> MockServer {
    let server = MockServer::start().await;
    let uri = server.uri();
    Mock::given(method("GET"))
        .and(path("/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer(&uri),
            "jwks_uri": format!("{uri}/.well-known/jwks.json"),
        })))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn an_issuer_differing_by_its_trailing_slash_is_named_with_the_exact_fix() {
    let setup = Setup::start().await;
    let fake = tenant_with_issuer(str::to_owned).await;
    let mut args = setup.args();
    args.auth0_domain = Some(fake.uri());
    let (report, out) = run(&args, None).await;
    assert_eq!(line(&report, names::DISCOVERY).outcome, Outcome::Pass);
    let issuer = line(&report, names::ISSUER);
    assert_eq!(issuer.outcome, Outcome::Fail, "{out}");
    assert!(issuer.detail.contains("trailing slash"), "{out}");
    assert!(
        issuer
            .fix
            .as_deref()
            .unwrap()
            .contains(&format!("set AUTH0_DOMAIN to exactly {:?}", fake.uri())),
        "{out}"
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn an_issuer_of_another_tenant_is_named() {
    let setup = Setup::start().await;
    let fake = tenant_with_issuer(|_| "https://other-tenant.eu.auth0.com/".to_owned()).await;
    let mut args = setup.args();
    args.auth0_domain = Some(fake.uri());
    let (report, out) = run(&args, None).await;
    let issuer = line(&report, names::ISSUER);
    assert_eq!(issuer.outcome, Outcome::Fail, "{out}");
    assert!(
        issuer
            .fix
            .as_deref()
            .unwrap()
            .contains("set AUTH0_DOMAIN to \"https://other-tenant.eu.auth0.com/\""),
        "{out}"
    );
    // And it publishes no keys at all.
    assert_eq!(line(&report, names::JWKS).outcome, Outcome::Fail, "{out}");
}

#[tokio::test]
async fn an_unreachable_tenant_fails_discovery_and_skips_what_depends_on_it() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    args.auth0_domain = Some(format!("http://127.0.0.1:{}/", closed_port()));
    let (report, out) = run(&args, Some(&setup.token())).await;
    let discovery = line(&report, names::DISCOVERY);
    assert_eq!(discovery.outcome, Outcome::Fail, "{out}");
    assert!(discovery.detail.contains("cannot connect"), "{out}");
    assert!(discovery.fix.as_deref().unwrap().contains("AUTH0_DOMAIN"));
    assert_eq!(line(&report, names::ISSUER).outcome, Outcome::Skip);
    assert_eq!(line(&report, names::JWKS).outcome, Outcome::Fail);
    assert_eq!(line(&report, names::TOKEN).outcome, Outcome::Skip);
}

#[tokio::test]
async fn a_resource_on_another_origin_than_the_server_url_fails() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    // The audience says localhost, clients connect to 127.0.0.1: different origins.
    args.mcp_server_url = Some("http://127.0.0.1:3001".into());
    let (report, out) = run(&args, None).await;
    let resource = line(&report, names::RESOURCE);
    assert_eq!(resource.outcome, Outcome::Fail, "{out}");
    let fix = resource.fix.as_deref().unwrap();
    assert!(fix.contains("\"http://127.0.0.1:3001/\""), "{fix}");
    assert!(
        fix.contains("localhost and 127.0.0.1 are different origins"),
        "{fix}"
    );
}

#[tokio::test]
async fn an_audience_without_its_trailing_slash_is_a_warning_with_the_exact_fix() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    args.auth0_audience = Some("http://localhost:3001".into());
    let (report, out) = run(&args, None).await;
    let resource = line(&report, names::RESOURCE);
    assert_eq!(resource.outcome, Outcome::Warn, "{out}");
    assert!(
        resource
            .fix
            .as_deref()
            .unwrap()
            .contains("set AUTH0_AUDIENCE=\"http://localhost:3001/\""),
        "{out}"
    );
    assert!(out.contains("! resource: "), "{out}");
    assert!(report.passed(), "a warning does not fail the check: {out}");
}

#[tokio::test]
async fn a_resource_path_that_is_not_the_endpoint_fails_and_one_ending_in_a_slash_warns() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    args.auth0_audience = Some("http://localhost:3001/api".into());
    let (report, out) = run(&args, None).await;
    assert_eq!(
        line(&report, names::RESOURCE).outcome,
        Outcome::Fail,
        "{out}"
    );

    args.auth0_audience = Some("http://localhost:3001/mcp/".into());
    let (report, out) = run(&args, None).await;
    let resource = line(&report, names::RESOURCE);
    assert_eq!(resource.outcome, Outcome::Warn, "{out}");
    assert!(
        resource
            .fix
            .as_deref()
            .unwrap()
            .contains("set AUTH0_AUDIENCE=\"http://localhost:3001/mcp\""),
        "{out}"
    );

    args.auth0_audience = Some("http://localhost:3001/mcp".into());
    let (report, out) = run(&args, None).await;
    assert_eq!(
        line(&report, names::RESOURCE).outcome,
        Outcome::Pass,
        "{out}"
    );
}

#[tokio::test]
async fn an_unreachable_private_api_fails_and_any_answer_counts_as_reachable() {
    let setup = Setup::start().await;
    let mut args = setup.args();
    args.api_base_url = format!("http://127.0.0.1:{}", closed_port());
    let (report, out) = run(&args, None).await;
    let api = line(&report, names::PRIVATE_API);
    assert_eq!(api.outcome, Outcome::Fail, "{out}");
    assert!(api.fix.as_deref().unwrap().contains("API_BASE_URL"));

    // The mock answers 404 on its base URL: reachable all the same.
    let (report, out) = run(&setup.args(), None).await;
    let api = line(&report, names::PRIVATE_API);
    assert_eq!(api.outcome, Outcome::Pass, "{out}");
    assert!(api.detail.contains("HTTP 404"), "{out}");
    assert!(api.detail.contains("any answer counts"), "{out}");
}

#[tokio::test]
async fn a_token_for_another_audience_is_refused_with_what_the_client_must_ask_for() {
    let setup = Setup::start().await;
    let token = setup.tenant.sign_user_token(
        &setup
            .tenant
            .user_token("auth0|alice")
            .audience(setup.tenant.api_audience()),
    );
    let (report, out) = run(&setup.args(), Some(&token)).await;
    let line_ = line(&report, names::TOKEN);
    assert_eq!(line_.outcome, Outcome::Fail, "{out}");
    assert!(line_.detail.contains("wrong_audience"), "{out}");
    let fix = line_.fix.as_deref().unwrap();
    assert!(fix.contains("\"http://localhost:8787/\""), "{fix}");
    assert!(fix.contains("audience="), "{fix}");
    assert_eq!(line(&report, names::EXCHANGE).outcome, Outcome::Skip);
    assert!(!out.contains(&token));

    // The same API, spelled without the trailing slash in AUTH0_AUDIENCE.
    let token = setup.token();
    let mut args = setup.args();
    args.auth0_audience = Some("http://localhost:3001".into());
    let (report, out) = run(&args, Some(&token)).await;
    let fix = line(&report, names::TOKEN).fix.clone().unwrap();
    assert!(fix.contains("differ by the trailing slash"), "{out}");
}

#[tokio::test]
async fn a_token_without_the_tool_scopes_is_a_warning() {
    let setup = Setup::start().await;
    let token = setup.tenant.token_for("auth0|alice", &["tool:whoami"]);
    let (report, out) = run(&setup.args(), Some(&token)).await;
    let scopes = line(&report, names::TOKEN_SCOPES);
    assert_eq!(scopes.outcome, Outcome::Warn, "{out}");
    assert!(scopes.detail.contains("tool:greet"), "{out}");
    assert!(report.passed(), "{out}");
}

/// Issue 12, finding 1: a tool scope the user holds in `permissions` but the client was
/// not consented is still missing, and the fix is consent, not another role.
#[tokio::test]
async fn finding_1_a_tool_scope_in_permissions_only_is_still_missing() {
    let setup = Setup::start().await;
    let token = setup.tenant.sign_user_token(
        &setup
            .tenant
            .user_token("auth0|alice")
            .scope("openid tool:whoami")
            .permissions(["tool:whoami", "tool:greet"]),
    );
    let (report, out) = run(&setup.args(), Some(&token)).await;
    assert!(
        line(&report, names::TOKEN)
            .detail
            .contains("scopes=[openid tool:whoami] permissions=[tool:greet tool:whoami]"),
        "{out}"
    );
    let scopes = line(&report, names::TOKEN_SCOPES);
    assert_eq!(scopes.outcome, Outcome::Warn, "{out}");
    assert!(
        scopes
            .detail
            .contains("the user holds tool:greet in `permissions`, which grants no tool"),
        "{out}"
    );
    let fix = scopes.fix.as_deref().unwrap_or_default();
    assert!(
        fix.contains("have the MCP client request these scopes") && fix.contains("consent"),
        "{out}"
    );
}

// ---- the binary ----

struct EmptyDir(std::path::PathBuf);

impl EmptyDir {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("mcp-server-check-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binary(dir: &EmptyDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    command
        .env_clear()
        .current_dir(&dir.0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `mcp-server check` off the async runtime, with `stdin` as its input.
async fn run_binary(mut command: Command, stdin: Option<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_binary_reads_the_token_from_stdin_and_exits_0_when_all_pass() {
    let setup = Setup::start().await;
    let dir = EmptyDir::new();
    let mut command = binary(&dir);
    setup.env(&mut command);
    command.args(["check", "--token", "-"]);
    let token = setup.token();
    let output = run_binary(command, Some(format!("{token}\n"))).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("✓ exchange: "), "{stdout}");
    assert!(stdout.contains("✓ api call: "), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("All checks passed."),
        "{stdout}"
    );
    assert!(!stdout.contains(&token));
    assert!(!String::from_utf8(output.stderr).unwrap().contains(&token));
}

#[tokio::test]
async fn the_binary_exits_1_when_a_check_fails_and_reads_check_token() {
    let setup = Setup::start().await;
    setup.tenant.inject(
        Fault::OAuthError {
            status: 403,
            error: "unauthorized_client".into(),
            description: "Client is not allowed to use token exchange".into(),
        },
        Some(1),
    );
    let dir = EmptyDir::new();
    let mut command = binary(&dir);
    setup.env(&mut command);
    command.env("CHECK_TOKEN", setup.token()).arg("check");
    let output = run_binary(command, None).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(
            "✗ exchange: Auth0 refused (client_secret_basic client authentication): token endpoint refused the exchange: unauthorized_client"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("    fix: The MCP server's client must be a Custom API client"),
        "{stdout}"
    );
    assert!(stdout.trim_end().ends_with("1 check failed."), "{stdout}");
}

#[tokio::test]
async fn the_binary_exits_2_on_an_incomplete_configuration_naming_each_variable() {
    let dir = EmptyDir::new();
    let mut command = binary(&dir);
    command.arg("check");
    let output = run_binary(command, None).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    for name in ["AUTH0_DOMAIN", "AUTH0_AUDIENCE", "MCP_AUTH0_CLIENT_SECRET"] {
        assert!(
            stdout.contains(&format!("✗ configuration: {name} is not set")),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn the_binary_reads_a_token_file_and_refuses_an_empty_one() {
    let setup = Setup::start().await;
    let dir = EmptyDir::new();
    let file = dir.0.join("token");
    std::fs::write(&file, "\n").unwrap();
    let mut command = binary(&dir);
    setup.env(&mut command);
    command.args(["check", "--token-file"]).arg(&file);
    let output = run_binary(command, None).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains("the token from --token-file is empty"),
        "{stdout}"
    );

    std::fs::write(&file, format!("Bearer {}\n", setup.token())).unwrap();
    let mut command = binary(&dir);
    setup.env(&mut command);
    command.args(["check", "--token-file"]).arg(&file);
    let output = run_binary(command, None).await;
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
}

#[tokio::test]
async fn an_unsupported_grant_type_points_at_on_behalf_of() {
    let setup = Setup::start().await;
    setup.tenant.inject(
        Fault::OAuthError {
            status: 400,
            error: "unsupported_grant_type".into(),
            description: "Grant type not allowed for the client".into(),
        },
        Some(1),
    );
    let (report, out) = run(&setup.args(), Some(&setup.token())).await;
    let exchange = line(&report, names::EXCHANGE);
    assert_eq!(exchange.outcome, Outcome::Fail, "{out}");
    assert!(
        exchange
            .fix
            .as_deref()
            .unwrap()
            .contains("on_behalf_of_token_exchange"),
        "{out}"
    );
}

const REDIS_PASSWORD: &str = "redis-pa55-7d2e";

fn with_redis(args: ServerArgs, url: &str) -> ServerArgs {
    let mut args = args;
    args.shared_cache.token_cache_redis_url = Some(url.parse().unwrap());
    args
}

#[tokio::test]
async fn issue_15_a_reachable_redis_passes_the_shared_cache_round_trip_and_leaves_no_key() {
    let setup = Setup::start().await;
    let redis = obo_tests::redis::RedisServer::start_with_password(REDIS_PASSWORD);
    let (report, out) = run(&with_redis(setup.args(), &redis.url()), None).await;
    assert!(report.passed(), "{out}");
    let shared = line(&report, names::SHARED_CACHE);
    assert_eq!(shared.outcome, Outcome::Pass, "{out}");
    assert!(
        shared
            .detail
            .contains("SET, GET and DEL of a key under \"obo-mcp:\""),
        "{out}"
    );
    assert!(!out.contains(REDIS_PASSWORD), "{out}");
    let keys = redis_keys(&redis);
    assert!(keys.is_empty(), "the check left keys behind: {keys:?}");
}

#[tokio::test]
async fn issue_15_a_refused_password_or_a_redis_that_is_down_fails_with_the_fix_and_no_secret() {
    let setup = Setup::start().await;
    let mut redis = obo_tests::redis::RedisServer::start_with_password(REDIS_PASSWORD);
    let wrong = "wrong-pa55-0b1f";
    let (report, out) = run(
        &with_redis(setup.args(), &redis.url_with_password(wrong)),
        None,
    )
    .await;
    let shared = line(&report, names::SHARED_CACHE);
    assert_eq!(shared.outcome, Outcome::Fail, "{out}");
    assert!(
        shared
            .fix
            .as_deref()
            .unwrap()
            .contains("check TOKEN_CACHE_REDIS_URL (host, port, user and password"),
        "{out}"
    );
    assert_eq!(report.exit_code(), 1);
    assert!(
        !out.contains(wrong) && !out.contains(REDIS_PASSWORD),
        "{out}"
    );

    let url = redis.url();
    redis.stop();
    let (report, out) = run(&with_redis(setup.args(), &url), None).await;
    let shared = line(&report, names::SHARED_CACHE);
    assert_eq!(shared.outcome, Outcome::Fail, "{out}");
    assert!(shared.detail.contains("unavailable"), "{out}");
    assert!(!out.contains(REDIS_PASSWORD), "{out}");
}

#[tokio::test]
async fn issue_15_without_a_redis_url_there_is_no_shared_cache_line() {
    let setup = Setup::start().await;
    let (report, out) = run(&setup.args(), None).await;
    assert!(report.line(names::SHARED_CACHE).is_none(), "{out}");
}

/// Every key in `redis`, read with a raw RESP `KEYS *`.
fn redis_keys(redis: &obo_tests::redis::RedisServer) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", redis.port())).unwrap();
    write!(stream, "AUTH {REDIS_PASSWORD}\r\nKEYS *\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "+OK\r\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    let count: usize = line.trim_start_matches('*').trim().parse().unwrap();
    (0..count)
        .map(|_| {
            let mut len = String::new();
            reader.read_line(&mut len).unwrap();
            let mut key = String::new();
            reader.read_line(&mut key).unwrap();
            key.trim_end().to_owned()
        })
        .collect()
}

// ---- issue 17 ----

/// A query can carry a key (`?api_key=`), and errors are pasted into tickets: a base
/// URL with a query is refused, and the refusal shows it without query or fragment.
#[tokio::test]
async fn issue_17_an_api_base_url_is_printed_without_its_query_or_fragment() {
    let setup = Setup::start().await;
    let secret = "k3y-5e1d-77a0";
    let mut args = setup.args();
    args.api_base_url = format!(
        "http://127.0.0.1:{}/v1/?api_key={secret}#{secret}",
        closed_port()
    );
    // Such a base URL is refused before anything is checked, and the refusal does not
    // repeat the secret either.
    let error = Settings::from_args(&args).unwrap_err().to_string();
    assert!(
        error.contains("API_BASE_URL must be an http:// or https:// URL"),
        "{error}"
    );
    assert!(error.contains("/v1/"), "{error}");
    assert!(!error.contains(secret), "{error}");
}

/// Several downstream APIs: each gets its own reachability, exchange and call lines
/// under a heading naming it, and one refused by the tenant does not stop the others.
#[tokio::test]
async fn issue_17_each_api_is_checked_under_its_own_heading() {
    let setup = Setup::start().await;
    let orders = [
        ("API_ORDERS_AUDIENCE", "https://orders.example/".to_owned()),
        ("API_ORDERS_BASE_URL", setup.api.uri()),
        ("API_ORDERS_SCOPE", "read:orders".to_owned()),
    ]
    .map(|(k, v)| (k.to_owned(), v));
    let settings = Settings::from_args(&setup.args().with_named_apis(orders)).unwrap();
    let token = setup.token();
    let mut out = Vec::new();
    let report = check::run(&settings, Some(&token), &mut out).await;
    let out = String::from_utf8(out).unwrap();

    for name in [names::PRIVATE_API, names::EXCHANGE, names::API_CALL] {
        let line = report.line_for("default", name).unwrap();
        assert_eq!(line.outcome, Outcome::Pass, "{name}: {out}");
    }
    assert_eq!(
        report
            .line_for("orders", names::PRIVATE_API)
            .unwrap()
            .outcome,
        Outcome::Pass,
        "{out}"
    );
    // The mock tenant has no such API: Auth0's refusal, and the grant to create.
    let exchange = report.line_for("orders", names::EXCHANGE).unwrap();
    assert_eq!(exchange.outcome, Outcome::Fail, "{out}");
    assert!(exchange.detail.contains("access_denied"), "{out}");
    assert!(
        exchange
            .fix
            .as_deref()
            .unwrap()
            .contains("user-delegated client grant"),
        "{out}"
    );
    assert_eq!(
        report.line_for("orders", names::API_CALL).unwrap().outcome,
        Outcome::Skip
    );
    // Tenant-wide lines belong to no API.
    assert_eq!(line(&report, names::TOKEN).api, None);

    let heading = format!(
        "API orders: audience \"https://orders.example/\" at {}/",
        setup.api.uri()
    );
    assert_eq!(out.matches(&heading).count(), 2, "{out}");
    let default_heading = out.find("API default: ").unwrap();
    let orders_exchange = out.find("✗ exchange: Auth0 refused").unwrap();
    assert!(default_heading < orders_exchange, "{out}");
    assert!(!out.contains(&token), "{out}");
}

/// With the one quickstart API, the report has no headings: it reads as it always has.
#[tokio::test]
async fn issue_17_one_api_gets_no_heading() {
    let setup = Setup::start().await;
    let (report, out) = run(&setup.args(), Some(&setup.token())).await;
    assert!(report.passed(), "{out}");
    assert!(!out.contains("API default"), "{out}");
    assert_eq!(
        report.line_for("default", names::API_CALL).unwrap().outcome,
        Outcome::Pass
    );
}

#[tokio::test]
async fn issue_18_check_names_private_key_jwt_and_whether_the_tenant_accepted_it() {
    let setup = Setup::start().await;
    let key = TestKey::rsa("check-credential");
    let dir = std::env::temp_dir().join(format!("obo-mcp-check-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key.pem");
    std::fs::write(&key_file, key.private_pem()).unwrap();
    let mut args = setup.args();
    args.mcp_auth0_client_secret = None;
    args.mcp_auth0_client_assertion_key_file = Some(key_file);
    args.mcp_auth0_client_assertion_alg = Some("RS256".into());

    // The tenant has no credential for the client yet: refused, with the fix.
    let (report, out) = run(&args, Some(&setup.token())).await;
    let exchange = line(&report, names::EXCHANGE);
    assert_eq!(exchange.outcome, Outcome::Fail, "{out}");
    assert!(exchange.detail.contains("private_key_jwt"), "{out}");
    assert!(exchange.detail.contains("invalid_client"), "{out}");
    assert!(
        exchange.fix.as_deref().unwrap().contains("Private Key JWT"),
        "{out}"
    );

    // Once the public key is uploaded, the tenant accepts it.
    setup
        .tenant
        .set_client_credentials(vec![ClientCredential::from_test_key(&key, "RS256")]);
    let (report, out) = run(&args, Some(&setup.token())).await;
    let exchange = line(&report, names::EXCHANGE);
    assert_eq!(exchange.outcome, Outcome::Pass, "{out}");
    assert!(
        exchange
            .detail
            .contains("Auth0 accepted the client (private_key_jwt)"),
        "{out}"
    );
    assert!(report.passed(), "{out}");
    let settings = format!("{:?}", Settings::from_args(&args).unwrap());
    assert!(settings.contains("PrivateKeyJwt"), "{settings}");
    for line in key
        .private_pem()
        .lines()
        .filter(|l| !l.starts_with("-----"))
    {
        assert!(!out.contains(line), "{out}");
        assert!(!settings.contains(line), "{settings}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Every refusal of a client assertion a real client can run into, from the mock
/// tenant, as `mcp-server check` reports it: `invalid_client`, and the fix for that
/// cause. (The refusals only a broken client could cause, a replayed `jti` or an
/// assertion living too long, are mapped in `advice.rs`'s unit tests.)
#[tokio::test]
async fn issue_18_each_refused_client_assertion_names_its_own_fix() {
    let setup = Setup::start().await;
    let key = TestKey::rsa("credential-1");
    let other = TestKey::rsa("credential-2");
    let dir = std::env::temp_dir().join(format!("obo-mcp-check-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("key.pem");
    std::fs::write(&key_file, key.private_pem()).unwrap();
    let base = {
        let mut args = setup.args();
        args.mcp_auth0_client_secret = None;
        args.mcp_auth0_client_assertion_key_file = Some(key_file);
        args
    };
    let with = |change: &dyn Fn(&mut ServerArgs)| {
        let mut args = base.clone();
        change(&mut args);
        args
    };
    let uploaded = |key: &TestKey, alg: &str| vec![ClientCredential::from_test_key(key, alg)];
    let cases: Vec<(&str, Vec<ClientCredential>, ServerArgs, &str)> = vec![
        (
            "another key is uploaded",
            uploaded(&other, "RS256"),
            base.clone(),
            "Upload the public key of MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE",
        ),
        (
            "the credential's algorithm differs",
            uploaded(&key, "PS256"),
            base.clone(),
            "MCP_AUTH0_CLIENT_ASSERTION_ALG",
        ),
        (
            "the kid names no credential",
            uploaded(&key, "RS256"),
            with(&|args| args.mcp_auth0_client_assertion_kid = Some("not-a-credential".into())),
            "MCP_AUTH0_CLIENT_ASSERTION_KID",
        ),
        (
            "another client id",
            uploaded(&key, "RS256"),
            with(&|args| args.mcp_auth0_client_id = Some("someone-else".into())),
            "MCP_AUTH0_CLIENT_ID must be the client id",
        ),
    ];
    for (case, credentials, args, fix) in cases {
        setup.tenant.set_client_credentials(credentials);
        let (report, out) = run(&args, Some(&setup.token())).await;
        let exchange = line(&report, names::EXCHANGE);
        assert_eq!(exchange.outcome, Outcome::Fail, "{case}: {out}");
        assert!(exchange.detail.contains("invalid_client"), "{case}: {out}");
        assert!(exchange.detail.contains("(HTTP 401)"), "{case}: {out}");
        assert!(
            exchange.fix.as_deref().unwrap().contains(fix),
            "{case}: {out}"
        );
    }
    assert_eq!(
        setup.tenant.client_assertion_refusals(),
        4,
        "one refused assertion per case: check does not retry an invalid_client"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Issue 19: `check --token` prints the words the 401 sends, for an opaque token and
/// a token for another API.
#[tokio::test]
async fn an_opaque_token_and_the_wrong_api_are_named_as_the_401_names_them() {
    let setup = Setup::start().await;
    let opaque = obo_tests::token::opaque();
    let (report, out) = run(&setup.args(), Some(&opaque)).await;
    let line_ = line(&report, names::TOKEN);
    assert_eq!(line_.outcome, Outcome::Fail, "{out}");
    assert!(
        line_.detail.contains("The access token is opaque, not a JWT: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience"),
        "{out}"
    );
    assert!(!out.contains(&opaque), "{out}");

    let token = setup.tenant.sign_user_token(
        &setup
            .tenant
            .user_token("auth0|alice")
            .audience(setup.tenant.api_audience()),
    );
    let (report, out) = run(&setup.args(), Some(&token)).await;
    let line_ = line(&report, names::TOKEN);
    let words = format!(
        "The access token is for the audience {} but this server expects the audience {}: the client must ask for a token for this API",
        setup.tenant.api_audience(),
        setup.tenant.mcp_audience()
    );
    assert!(line_.detail.contains(&words), "{out}");
    for segment in token.split('.') {
        assert!(!out.contains(segment), "{out}");
    }
}
