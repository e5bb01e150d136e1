//! A private API served in-process on 127.0.0.1:0, its issuer's JWKS on wiremock, and
//! tokens minted with obo-tests.
#![allow(dead_code)] // each test file uses a different part

use obo_tests::keys::{TestKey, jwks_json};
use obo_tests::token::TokenBuilder;
use private_api::{AppState, Args, Config};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const API_AUDIENCE: &str = "https://private-api.test";
pub const MCP_AUDIENCE: &str = "https://mcp-server.test/mcp";

/// Arguments as if from an environment with just these values.
pub fn args(auth0_domain: Option<&str>, audience: Option<&str>) -> Args {
    Args {
        auth0_domain: auth0_domain.map(str::to_owned),
        api_auth0_audience: audience.map(str::to_owned),
        api_base_url: private_api::config::DEFAULT_BASE_URL.to_owned(),
        host: "127.0.0.1".to_owned(),
        port: Some(0),
        rust_log: "info".to_owned(),
        log_format: "text".to_owned(),
        listener: Default::default(),
        verified_token_cache_capacity: 10_000,
        env_file: None,
    }
}

pub struct Harness {
    /// The issuer's wiremock server (serves `/.well-known/jwks.json`).
    pub issuer_server: MockServer,
    /// The issuer string tokens must carry (`http://127.0.0.1:PORT/`).
    pub issuer: String,
    pub key: TestKey,
    /// `http://127.0.0.1:PORT` of the API.
    pub base: String,
    pub http: reqwest::Client,
}

impl Harness {
    /// An API whose issuer publishes `key`.
    pub async fn start() -> Self {
        let issuer_server = MockServer::start().await;
        let key = TestKey::rsa("key-1");
        Mock::given(method("GET"))
            .and(path("/.well-known/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(jwks_json(&[&key])))
            .mount(&issuer_server)
            .await;
        Self::start_with(issuer_server, key).await
    }

    /// An API whose issuer is `issuer_server`, however it behaves.
    pub async fn start_with(issuer_server: MockServer, key: TestKey) -> Self {
        let config = Config::from_args(&args(Some(&issuer_server.uri()), Some(API_AUDIENCE)))
            .expect("valid configuration");
        let issuer = config.issuer.as_str().to_owned();
        let state = AppState::new(&config).expect("verifier");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(private_api::serve(
            listener,
            state,
            config.listener,
            std::future::pending(),
        ));
        Self {
            issuer_server,
            issuer,
            key,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// A valid token for the API, with `read:private` unless changed.
    pub fn token(&self) -> TokenBuilder {
        TokenBuilder::new(&self.issuer, API_AUDIENCE).scope("read:private")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /api/private-scope` with `authorization` as the header value, if any.
    pub async fn get(&self, authorization: Option<&str>) -> reqwest::Response {
        let mut request = self.http.get(self.url("/api/private-scope"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        request.send().await.unwrap()
    }

    pub async fn get_with_token(&self, token: &str) -> reqwest::Response {
        self.get(Some(&format!("Bearer {token}"))).await
    }
}

/// The `WWW-Authenticate` header, if present.
pub fn challenge(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
}
