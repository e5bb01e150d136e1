//! End to end with an MCP client nobody here wrote: rmcp's own OAuth client (its `auth`
//! feature) signs a user in against the running system, as Claude Code or VS Code
//! would. It connects with no token, reads the 401's `resource_metadata`, fetches the
//! Protected Resource Metadata and the tenant's metadata, registers itself (RFC 7591),
//! builds the authorization URL with PKCE (RFC 7636) and `resource` (RFC 8707); a
//! headless browser picks a user on the tenant's consent page and clicks Allow; rmcp
//! checks `state` and `iss` (RFC 9207), redeems the code (RFC 6749 §4.1.3), and calls
//! `greet` with the token. The tenant does not approve on its own: a person (here, the
//! headless browser) picks the user.
//!
//! The step-up tests (issue 19) sign in with `tool:whoami` only, call `greet`, and sign
//! in once more on the 403, as clients of each protocol version do.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::future::Future;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use obo_tests::consent::{Decision, HeadlessBrowser};
use obo_tests::process::free_port;
use obo_tests::system::{RunningSystem, SystemConfig};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient};
use rmcp::transport::IntoTransport;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use support::forward_proxy::{Exchange, ForwardProxy};
use support::{Client, text_of, upstream_json};
use url::Url;

const ALICE: &str = "auth0|alice";
const BOB: &str = "auth0|bob";

async fn system() -> RunningSystem {
    let system = support::start_system(SystemConfig::default).await;
    assert!(
        !system.tenant.config().auto_approve,
        "these tests sign in through the consent page, as a person does"
    );
    system
}

/// Bounds every step, so a client or server that hangs fails the test instead.
async fn within<T>(what: &str, step: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), step)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish in time"))
}

/// What a client asks for when it signs in.
#[derive(Clone)]
struct Asking {
    /// The MCP version it speaks.
    version: ProtocolVersion,
    /// The scopes it asks the tenant for; empty leaves the choice to rmcp (the
    /// challenge's, then the Protected Resource Metadata's).
    scopes: Vec<&'static str>,
}

impl Default for Asking {
    /// What rmcp's default client ends up speaking with this server: it offers its
    /// newest version at `initialize`, and the server answers the newest one that
    /// still has that handshake.
    fn default() -> Self {
        Self {
            version: ProtocolVersion::LATEST_WITH_INITIALIZE,
            scopes: Vec::new(),
        }
    }
}

/// One user signed in with rmcp's OAuth client, and that client connected.
struct SignedIn {
    client: Client,
    /// Where, and in which version, the client connects again after signing in once more.
    mcp_url: String,
    version: ProtocolVersion,
    /// The same auth client the transport uses: its manager holds the tokens.
    auth: AuthClient<reqwest::Client>,
    /// The client id the tenant gave rmcp at registration.
    client_id: String,
    /// Where the browser was sent back to rmcp.
    redirect: Decision,
}

impl SignedIn {
    async fn access_token(&self) -> String {
        within("reading the access token", self.auth.get_access_token())
            .await
            .expect("rmcp holds an access token")
    }

    /// The refresh token rmcp stored, as the token endpoint sent it.
    async fn refresh_token(&self) -> String {
        let manager = self.auth.auth_manager.lock().await;
        let (_, response) = manager.get_credentials().await.expect("credentials");
        let response = serde_json::to_value(response.expect("a token response")).unwrap();
        response["refresh_token"]
            .as_str()
            .expect("a refresh token (offline_access was asked for)")
            .to_owned()
    }

    async fn greet(&self, name: &str) -> Value {
        let result = support::call(&self.client, "greet", json!({"name": name})).await;
        assert_eq!(result.is_error, Some(false), "{}", text_of(&result));
        upstream_json(&text_of(&result))
    }
}

/// How the client and the browser reach the system: directly, each with rmcp's and
/// reqwest's own defaults, or through a recording proxy.
#[derive(Clone, Copy)]
enum Network<'a> {
    Direct,
    Via(&'a ForwardProxy),
}

impl Network<'_> {
    fn http(self) -> reqwest::Client {
        match self {
            Network::Direct => reqwest::Client::new(),
            Network::Via(proxy) => proxy.client(),
        }
    }

    fn browser(self) -> HeadlessBrowser {
        match self {
            Network::Direct => HeadlessBrowser::default(),
            Network::Via(proxy) => HeadlessBrowser::through_proxy(&proxy.url),
        }
    }

    async fn oauth_state(self, mcp_url: &str) -> OAuthState {
        let result = match self {
            // rmcp's own HTTP client, with its checks of where discovery may lead.
            Network::Direct => OAuthState::new(mcp_url, None).await,
            Network::Via(proxy) => OAuthState::new(mcp_url, Some(proxy.client())).await,
        };
        result.expect("rmcp's OAuth state machine")
    }
}

/// Starts an MCP session in `version`: the `initialize` handshake up to 2025-11-25;
/// from 2026-07-28 (SEP-2567), `server/discover` and the version in every request's
/// `_meta`, which rmcp also sends as `MCP-Protocol-Version`.
async fn connect<T, E, A>(
    version: &ProtocolVersion,
    transport: T,
) -> Result<Client, rmcp::service::ClientInitializeError>
where
    T: IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let config = ClientConfig::default().with_protocol_version(version.clone());
    if version.has_initialize() {
        config.serve(transport).await
    } else {
        let lifecycle = ClientLifecycleMode::Discover {
            preferred_versions: vec![version.clone()],
        };
        config.serve_with_lifecycle(transport, lifecycle).await
    }
}

/// What an rmcp application does, following rmcp's own OAuth example: connect with no
/// token; on the 401, authorize with the challenge (discovery, registration, PKCE); let
/// the user sign in as `user` in the browser; hand the redirect to rmcp; reconnect.
async fn sign_in(system: &RunningSystem, user: &str, network: Network<'_>) -> SignedIn {
    sign_in_asking(system, user, network, Asking::default()).await
}

/// [`sign_in`], with the client asking for `asking`'s version and scopes.
async fn sign_in_asking(
    system: &RunningSystem,
    user: &str,
    network: Network<'_>,
    asking: Asking,
) -> SignedIn {
    let mcp_url = system.mcp_url();
    let config = || StreamableHttpClientTransportConfig::with_uri(mcp_url.clone());

    let unauthenticated = StreamableHttpClientTransport::with_client(network.http(), config());
    let refused = within(
        "the first connection",
        connect(&asking.version, unauthenticated),
    )
    .await;
    let error = match refused {
        Ok(_) => panic!("the MCP server accepted a client with no token"),
        Err(error) => error,
    };
    let challenge = error
        .auth_challenge()
        .unwrap_or_else(|| panic!("the refusal carries no challenge: {error}"))
        .to_owned();

    // A native client's loopback redirect URI, on a port of its choosing (RFC 8252 §7.3).
    let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port().unwrap());
    let mut oauth = network.oauth_state(&mcp_url).await;
    within(
        "discovery and registration",
        oauth.start_authorization(
            AuthorizationRequest::new(&redirect_uri)
                .with_client_name("rmcp sign-in test")
                .with_challenge(challenge)
                .with_scopes(asking.scopes.iter().copied()),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("rmcp could not start signing in: {e}"));
    let authorize_url = oauth.get_authorization_url().await.unwrap();

    let redirect = within(
        "the consent page",
        network.browser().sign_in(&authorize_url, user),
    )
    .await
    .unwrap_or_else(|e| panic!("the browser could not sign in as {user}: {e}"));
    assert!(
        redirect.location.starts_with(&format!("{redirect_uri}?")),
        "the tenant sent the browser to {}, not back to the client at {redirect_uri}",
        redirect.location
    );
    within(
        "the code exchange",
        oauth.handle_callback_url(&redirect.location),
    )
    .await
    .unwrap_or_else(|e| panic!("rmcp refused the callback or the code exchange: {e}"));

    let (client_id, _) = oauth.get_credentials().await.unwrap();
    let manager = oauth
        .into_authorization_manager()
        .expect("rmcp is authorized after the callback");
    let auth = AuthClient::new(network.http(), manager);
    let transport = StreamableHttpClientTransport::with_client(auth.clone(), config());
    let client = within(
        "the signed-in connection",
        connect(&asking.version, transport),
    )
    .await
    .unwrap_or_else(|e| panic!("the signed-in client could not connect: {e}"));
    SignedIn {
        client,
        mcp_url,
        version: asking.version,
        auth,
        client_id,
        redirect,
    }
}

/// The header and the claims of a JWT, unverified: what the tenant put in the token.
fn decode(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut part = || -> Value {
        let bytes = URL_SAFE_NO_PAD
            .decode(parts.next().expect("a JWT part"))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (part(), part())
}

/// The access token's claims, checked against what the sign-in decided.
fn assert_user_token(system: &RunningSystem, signed_in: &SignedIn, token: &str, user: &str) {
    let (header, claims) = decode(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(claims["iss"], system.tenant.issuer());
    assert_eq!(
        claims["sub"], user,
        "the token is for the user picked on the page"
    );
    assert_eq!(claims["aud"], system.tenant.mcp_audience());
    assert_eq!(claims["azp"], signed_in.client_id.as_str());
    assert_eq!(claims["client_id"], signed_in.client_id.as_str());
    let scopes: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    assert!(scopes.contains(&"tool:greet"), "{scopes:?}");
}

#[tokio::test]
async fn rmcp_oauth_client_signs_in_on_the_page_as_the_user_picked_and_refreshes() {
    let system = system().await;
    // Bob is not the page's default user: the token follows the choice, not the default.
    let bob = sign_in(&system, BOB, Network::Direct).await;

    assert_eq!(bob.redirect.status, 302);
    let callback = Url::parse(&bob.redirect.location).unwrap();
    let iss = callback
        .query_pairs()
        .find(|(k, _)| k == "iss")
        .map(|(_, v)| v.into_owned());
    assert_eq!(iss.as_deref(), Some(system.tenant.issuer()), "RFC 9207 §2");
    assert!(
        bob.client_id.starts_with("tpc_"),
        "a third-party client: {}",
        bob.client_id
    );
    assert_eq!(system.tenant.registered_clients(), 1);
    assert_eq!(system.tenant.sign_ins(), 1);
    let first_token = bob.access_token().await;
    assert_user_token(&system, &bob, &first_token, BOB);

    let upstream = bob.greet("Bob").await;
    assert_eq!(upstream["sub"], BOB);
    assert_eq!(upstream["actor"]["sub"], system.tenant.client_id());
    assert_eq!(system.tenant.exchanges_for(BOB), 1);
    assert_eq!(system.tenant.exchanges_for(ALICE), 0);

    // RFC 6749 §6, with rotation: a new access token and a new refresh token.
    let first_refresh = bob.refresh_token().await;
    let refreshed = within("the refresh", async {
        bob.auth.auth_manager.lock().await.refresh_token().await
    })
    .await
    .unwrap_or_else(|e| panic!("rmcp's refresh failed: {e}"));
    assert_eq!(system.tenant.refreshes(), 1);
    let refreshed = serde_json::to_value(refreshed).unwrap();
    let second_token = bob.access_token().await;
    assert_eq!(refreshed["access_token"], second_token.as_str());
    assert_ne!(second_token, first_token);
    assert_ne!(
        bob.refresh_token().await,
        first_refresh,
        "the refresh token rotates"
    );
    assert_user_token(&system, &bob, &second_token, BOB);
    assert_ne!(
        decode(&second_token).1["jti"],
        decode(&first_token).1["jti"]
    );

    // The new token works, and is the one presented: a token the MCP server has not
    // seen means a new exchange.
    let upstream = bob.greet("Bob").await;
    assert_eq!(upstream["sub"], BOB);
    assert_eq!(system.tenant.exchanges_for(BOB), 2);
    bob.client.cancel().await.unwrap();
}

#[tokio::test]
async fn two_users_signed_in_on_the_page_each_see_their_own_sub_and_exchange_once() {
    let system = system().await;
    let alice = sign_in(&system, ALICE, Network::Direct).await;
    let bob = sign_in(&system, BOB, Network::Direct).await;
    assert_ne!(
        alice.client_id, bob.client_id,
        "each client registers itself"
    );
    assert_eq!(system.tenant.sign_ins(), 2);
    assert_user_token(&system, &alice, &alice.access_token().await, ALICE);
    assert_user_token(&system, &bob, &bob.access_token().await, BOB);

    // Interleaved, twice each: the second calls come from the MCP server's cache, which
    // must never hand one user's exchanged token to the other.
    for _ in 0..2 {
        assert_eq!(alice.greet("Alice").await["sub"], ALICE);
        assert_eq!(bob.greet("Bob").await["sub"], BOB);
    }
    assert_eq!(system.tenant.exchanges_for(ALICE), 1);
    assert_eq!(system.tenant.exchanges_for(BOB), 1);
    assert_eq!(system.tenant.exchanges(), 2);
    alice.client.cancel().await.unwrap();
    bob.client.cancel().await.unwrap();
}

/// Names the two servers in the recorded traffic.
fn label(system: &RunningSystem, exchange: &Exchange) -> &'static str {
    if exchange.origin == system.mcp_server_url {
        "mcp-server"
    } else if exchange.origin == system.tenant.uri() {
        "tenant"
    } else {
        "elsewhere"
    }
}

#[tokio::test]
async fn the_requests_a_real_client_makes_to_sign_in_are_those_of_the_mcp_authorization_spec() {
    let system = system().await;
    let proxy = ForwardProxy::start().await;
    let bob = sign_in(&system, BOB, Network::Via(&proxy)).await;
    assert_eq!(bob.greet("Bob").await["sub"], BOB);
    bob.client.cancel().await.unwrap();

    let traffic = proxy.exchanges();
    println!("What rmcp's OAuth client and the browser sent, in order (method, path, status):");
    for exchange in &traffic {
        println!(
            "  {:<10} {:<5} {:<45} {}",
            label(&system, exchange),
            exchange.method,
            exchange.path,
            exchange.status
        );
    }

    let seen: Vec<(&str, &str, &str, u16)> = traffic
        .iter()
        .map(|e| {
            (
                label(&system, e),
                e.method.as_str(),
                e.path.as_str(),
                e.status,
            )
        })
        .collect();
    let expected_sign_in = [
        // The first contact, with no token: the challenge names the metadata.
        ("mcp-server", "POST", "/mcp", 401),
        // RFC 9728: the Protected Resource Metadata names the tenant.
        (
            "mcp-server",
            "GET",
            "/.well-known/oauth-protected-resource",
            200,
        ),
        // RFC 8414, at the issuer's root.
        (
            "tenant",
            "GET",
            "/.well-known/oauth-authorization-server",
            200,
        ),
        // RFC 7591.
        ("tenant", "POST", "/oidc/register", 201),
        // The browser: the sign-in page, then the consent form's answer.
        ("tenant", "GET", "/authorize", 200),
        ("tenant", "POST", "/authorize/decision", 302),
        // RFC 6749 §4.1.3, with the PKCE verifier.
        ("tenant", "POST", "/oauth/token", 200),
    ];
    assert!(
        seen.len() > expected_sign_in.len(),
        "the client never came back to /mcp: {seen:?}"
    );
    assert_eq!(seen[..expected_sign_in.len()], expected_sign_in);
    let after = &seen[expected_sign_in.len()..];
    assert_eq!(
        after[0],
        ("mcp-server", "POST", "/mcp", 200),
        "the first request with the token is accepted: {after:?}"
    );
    assert!(
        after
            .iter()
            .all(|(server, _, path, status)| *server == "mcp-server"
                && *path == "/mcp"
                && *status < 500
                && *status != 401),
        "after signing in, the client only talks MCP, and is never refused: {after:?}"
    );
    assert_eq!(
        after.last(),
        Some(&("mcp-server", "POST", "/mcp", 200)),
        "the greet is the last request, and answered"
    );
}

/// How a client asks for more after a 403 `insufficient_scope`.
enum StepUp<'a> {
    /// Sign in again asking for exactly the challenge's `scope`, and nothing else: what
    /// Claude Code and the TypeScript and Python SDKs did under 2025-06-18 and 2025-11-25.
    ReplaceWithChallenge(&'a str),
    /// rmcp's own scope upgrade (SEP-2350): the scopes it holds and the challenge's.
    Upgrade(&'a str),
}

impl SignedIn {
    /// Calls `tool` with no arguments, as the user signed in.
    async fn call(&self, tool: &str) -> Result<rmcp::model::CallToolResult, rmcp::ServiceError> {
        within(
            &format!("calling {tool}"),
            self.client
                .call_tool(CallToolRequestParams::new(tool.to_owned())),
        )
        .await
    }

    /// Calls `tool` and returns the 403's challenge, failing if the call was not refused.
    async fn challenged(&self, tool: &str) -> String {
        match self.call(tool).await {
            Ok(result) => panic!("{tool} answered instead of asking for more scope: {result:?}"),
            Err(error) => error
                .auth_challenge()
                .unwrap_or_else(|| panic!("{tool} failed with no challenge: {error}"))
                .to_owned(),
        }
    }

    /// Calls `tool`, which must succeed.
    async fn works(&self, tool: &str) {
        let result = self
            .call(tool)
            .await
            .unwrap_or_else(|e| panic!("{tool} was refused: {e}"));
        assert_eq!(result.is_error, Some(false), "{tool}: {}", text_of(&result));
    }

    /// Sends the user through the tenant's page again as `step_up` asks, redeems the
    /// code into the same manager, and connects again with the new token.
    async fn step_up(&mut self, user: &str, network: Network<'_>, step_up: StepUp<'_>) {
        let authorize_url = {
            let manager = self.auth.auth_manager.lock().await;
            let url = match step_up {
                StepUp::ReplaceWithChallenge(scope) => {
                    let scopes: Vec<&str> = scope.split_whitespace().collect();
                    manager.get_authorization_url(&scopes).await
                }
                StepUp::Upgrade(scope) => manager.request_scope_upgrade(scope).await,
            };
            url.unwrap_or_else(|e| panic!("rmcp could not build the authorization URL: {e}"))
        };
        let redirect = within(
            "the consent page",
            network.browser().sign_in(&authorize_url, user),
        )
        .await
        .unwrap_or_else(|e| panic!("the browser could not sign in again as {user}: {e}"));
        let callback = Url::parse(&redirect.location).unwrap();
        let param = |name: &str| {
            callback
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        let (code, state) = (param("code").unwrap(), param("state").unwrap());
        within("the code exchange", async {
            let manager = self.auth.auth_manager.lock().await;
            manager
                .exchange_code_for_token_with_issuer(&code, &state, param("iss").as_deref())
                .await
        })
        .await
        .unwrap_or_else(|e| panic!("rmcp could not redeem the new code: {e}"));

        let transport = StreamableHttpClientTransport::with_client(
            self.auth.clone(),
            StreamableHttpClientTransportConfig::with_uri(self.mcp_url.clone()),
        );
        let client = within(
            "the connection after stepping up",
            connect(&self.version, transport),
        )
        .await
        .unwrap_or_else(|e| panic!("the client could not connect after stepping up: {e}"));
        let old = std::mem::replace(&mut self.client, client);
        // The old session may already be closed by the refusal; either way it is done.
        let _ = old.cancel().await;
    }

    /// The scopes of the access token rmcp holds now, sorted.
    async fn granted(&self) -> Vec<String> {
        let (_, claims) = decode(&self.access_token().await);
        let mut scopes: Vec<String> = claims["scope"]
            .as_str()
            .unwrap()
            .split(' ')
            .map(str::to_owned)
            .collect();
        scopes.sort();
        scopes
    }

    /// The tool scopes among them (rmcp adds `offline_access` when the tenant offers it).
    async fn tool_scopes(&self) -> Vec<String> {
        let mut scopes = self.granted().await;
        scopes.retain(|scope| scope.starts_with("tool:"));
        scopes
    }
}

/// The `scope` of a `WWW-Authenticate: Bearer` challenge, and its `error`.
fn challenge_params(challenge: &str) -> (String, String) {
    let param = |name: &str| {
        let start = challenge
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} in the challenge {challenge}"))
            + name.len()
            + 2;
        let end = challenge[start..].find('"').unwrap() + start;
        challenge[start..end].to_owned()
    };
    (param("error"), param("scope"))
}

fn sorted(scope: &str) -> Vec<&str> {
    let mut scopes: Vec<&str> = scope.split_whitespace().collect();
    scopes.sort_unstable();
    scopes
}

/// The number of 403s the MCP server answered through the proxy, after checking that
/// every request to `/mcp` that named a protocol version named `version`, and that
/// the calls did.
fn forbidden_speaking(system: &RunningSystem, proxy: &ForwardProxy, version: &str) -> usize {
    let mcp: Vec<Exchange> = proxy
        .exchanges()
        .into_iter()
        .filter(|e| label(system, e) == "mcp-server" && e.path == "/mcp")
        .collect();
    let named: Vec<&str> = mcp
        .iter()
        .filter_map(|e| e.protocol_version.as_deref())
        .collect();
    assert!(
        named.len() >= 4 && named.iter().all(|sent| *sent == version),
        "the client spoke {version}: {named:?}"
    );
    mcp.iter().filter(|e| e.status == 403).count()
}

/// A client of `version` that asks for `tool:whoami` only when it signs in.
fn whoami_only(version: ProtocolVersion) -> Asking {
    Asking {
        version,
        scopes: vec!["tool:whoami"],
    }
}

/// Issue 19: a client of the 2025-06-18 and 2025-11-25 versions replaces its scopes with
/// the 403 challenge's. Signed in with `tool:whoami` only, it calls `greet`; the challenge
/// names what the token holds as well as `tool:greet`, so the one new sign-in gives a token
/// for both, and `greet` and `whoami` both work: one step-up, no loop.
#[tokio::test]
async fn a_client_that_replaces_its_scopes_steps_up_once_and_keeps_what_it_had() {
    for version in [ProtocolVersion::V_2025_06_18, ProtocolVersion::V_2025_11_25] {
        let system = system().await;
        let proxy = ForwardProxy::start().await;
        let network = Network::Via(&proxy);
        let mut alice = sign_in_asking(&system, ALICE, network, whoami_only(version.clone())).await;
        assert_eq!(alice.tool_scopes().await, ["tool:whoami"]);
        alice.works("whoami").await;

        let challenge = alice.challenged("greet").await;
        let (error, scope) = challenge_params(&challenge);
        assert_eq!(error, "insufficient_scope", "{challenge}");
        let mut expected = alice.granted().await;
        expected.push("tool:greet".to_owned());
        expected.sort();
        assert_eq!(
            sorted(&scope),
            expected,
            "{version}: the challenge keeps what the token holds: {challenge}"
        );
        assert_eq!(
            system.tenant.exchanges(),
            0,
            "no exchange for a refused call"
        );

        alice
            .step_up(ALICE, network, StepUp::ReplaceWithChallenge(&scope))
            .await;
        assert_eq!(alice.tool_scopes().await, ["tool:greet", "tool:whoami"]);
        alice.works("greet").await;
        alice.works("whoami").await;
        alice.works("greet").await;

        assert_eq!(system.tenant.sign_ins(), 2, "one sign-in, one step-up");
        assert_eq!(system.tenant.exchanges_for(ALICE), 1);
        assert_eq!(
            forbidden_speaking(&system, &proxy, version.as_str()),
            1,
            "{version}: exactly one 403, no loop"
        );
        alice.client.cancel().await.unwrap();
    }
}

/// The same client, had the server named only the missing scope (as it does for clients
/// that announce 2026-07-28, which add the challenge to what they hold): its new token
/// would lose `tool:whoami`, and `whoami` would be refused next, and then `greet` again.
/// This is the loop the union above prevents, shown with a client that says 2026-07-28
/// but replaces its scopes as the older ones did.
#[tokio::test]
async fn a_challenge_naming_only_the_missing_scope_would_loop_a_client_that_replaces() {
    let system = system().await;
    let proxy = ForwardProxy::start().await;
    let network = Network::Via(&proxy);
    let asking = whoami_only(ProtocolVersion::V_2026_07_28);
    let mut alice = sign_in_asking(&system, ALICE, network, asking).await;
    let challenge = alice.challenged("greet").await;
    assert_eq!(challenge_params(&challenge).1, "tool:greet", "{challenge}");
    alice
        .step_up(ALICE, network, StepUp::ReplaceWithChallenge("tool:greet"))
        .await;
    alice.works("greet").await;
    let challenge = alice.challenged("whoami").await;
    assert_eq!(challenge_params(&challenge).1, "tool:whoami", "{challenge}");
    assert_eq!(
        forbidden_speaking(&system, &proxy, "2026-07-28"),
        2,
        "the second 403 is the start of the loop"
    );
    alice.client.cancel().await.unwrap();
}

/// rmcp's own client does the union itself (SEP-2350): whatever the challenge names, it
/// asks for that and for what it holds. Signed in with `tool:whoami`, stepped up for
/// `greet`, it keeps both.
#[tokio::test]
async fn rmcp_steps_up_with_the_union_of_what_it_holds_and_the_challenge() {
    let system = system().await;
    let proxy = ForwardProxy::start().await;
    let network = Network::Via(&proxy);
    let asking = whoami_only(ProtocolVersion::V_2026_07_28);
    let mut bob = sign_in_asking(&system, BOB, network, asking).await;
    assert_eq!(bob.tool_scopes().await, ["tool:whoami"]);

    let challenge = bob.challenged("greet").await;
    let (error, scope) = challenge_params(&challenge);
    assert_eq!(error, "insufficient_scope");
    assert_eq!(scope, "tool:greet", "2026-07-28: only what is missing");

    bob.step_up(BOB, network, StepUp::Upgrade(&scope)).await;
    assert_eq!(bob.tool_scopes().await, ["tool:greet", "tool:whoami"]);
    bob.works("greet").await;
    bob.works("whoami").await;
    assert_eq!(system.tenant.sign_ins(), 2);
    assert_eq!(
        forbidden_speaking(&system, &proxy, "2026-07-28"),
        1,
        "exactly one 403"
    );
    bob.client.cancel().await.unwrap();
}
