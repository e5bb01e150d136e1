//! Issue 18, end to end: the MCP server authenticating to the tenant with Private Key
//! JWT (a key file, no secret), and organizations passed on through the exchange. The
//! tenant checks both as Auth0 does; the MCP server and the private API are the real
//! binaries, configured through their environment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;

use obo_tests::system::{RunningSystem, SystemConfig};
use obo_tests::tenant::keys::TestKey;
use obo_tests::tenant::{ClientCredential, Organization};
use serde_json::{Value, json};
use support::{call, connect, text_of, upstream_json};

/// A private key file for the MCP server, in a directory of its own.
struct KeyFile {
    dir: PathBuf,
    path: PathBuf,
}

impl KeyFile {
    fn write(key: &TestKey) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "obo-mcp-key-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mcp-server-key.pem");
        std::fs::write(&path, key.private_pem()).unwrap();
        Self { dir, path }
    }
}

impl Drop for KeyFile {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

async fn system_with_key(key_file: &KeyFile, alg: &str, kid: Option<&str>) -> RunningSystem {
    let path = key_file.path.display().to_string();
    let kid = kid.map(str::to_owned);
    let alg = alg.to_owned();
    support::start_system(move || {
        let mut config = SystemConfig::default();
        // Everything the server can write, so the no-leak check below sees it all.
        config.mcp_env.insert("RUST_LOG".into(), "trace".into());
        // An empty secret is an unset one: the server authenticates with the key.
        config
            .mcp_env
            .insert("MCP_AUTH0_CLIENT_SECRET".into(), String::new());
        config
            .mcp_env
            .insert("MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE".into(), path.clone());
        config
            .mcp_env
            .insert("MCP_AUTH0_CLIENT_ASSERTION_ALG".into(), alg.clone());
        if let Some(kid) = &kid {
            config
                .mcp_env
                .insert("MCP_AUTH0_CLIENT_ASSERTION_KID".into(), kid.clone());
        }
        config
    })
    .await
}

async fn greet(system: &RunningSystem, token: &str) -> (bool, String) {
    let client = connect(&system.mcp_url(), token).await;
    let result = call(&client, "greet", json!({"name": "Ada"})).await;
    client.cancel().await.ok();
    (result.is_error == Some(true), text_of(&result))
}

#[tokio::test]
async fn issue_18_greet_works_with_private_key_jwt_and_each_refusal_names_its_fix() {
    let key = TestKey::rsa("cred-ps256");
    let key_file = KeyFile::write(&key);
    let system = system_with_key(&key_file, "PS256", Some("cred-ps256")).await;
    let tenant = &system.tenant;

    // 1. The application still authenticates with a secret: the assertion is refused.
    let token = tenant.token_for("auth0|ada", &["tool:greet"]);
    let (failed, text) = greet(&system, &token).await;
    assert!(failed, "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(text.contains("Private Key JWT"), "{text}");

    // 2. The public key is uploaded as the application's credential: greet works.
    tenant.set_client_credentials(vec![ClientCredential::from_test_key(&key, "PS256")]);
    let (failed, text) = greet(&system, &token).await;
    assert!(!failed, "{text}");
    let upstream = upstream_json(&text);
    assert_eq!(upstream["sub"], "auth0|ada");
    assert_eq!(upstream["actor"]["sub"], tenant.client_id());
    let accepted = tenant.accepted_client_assertions();
    assert_eq!(accepted.len(), 1, "{accepted:?}");
    let claims = &accepted[0];
    assert_eq!(claims["iss"], tenant.client_id());
    assert_eq!(claims["sub"], tenant.client_id());
    assert_eq!(claims["aud"], tenant.issuer());
    let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
    assert!((1..=60).contains(&lifetime), "{lifetime}");

    // 3. The credential is replaced by another key: the refusal says to upload ours.
    let other = TestKey::rsa("cred-other");
    tenant.set_client_credentials(vec![ClientCredential::from_test_key(&other, "PS256")]);
    let token = tenant.token_for("auth0|grace", &["tool:greet"]);
    let (failed, text) = greet(&system, &token).await;
    assert!(failed, "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(
        text.contains("Upload the public key of MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE"),
        "{text}"
    );

    // Nothing of the private key reached the trace-level log or a tool error: no line
    // of the PEM, and no half of one.
    let log = system.mcp.log();
    let pem = key.private_pem();
    let body: Vec<&str> = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    assert!(body.len() > 20, "a 2048-bit key is some 26 lines");
    for line in body {
        let (left, right) = line.split_at(line.len() / 2);
        for part in [line, left, right] {
            assert!(!log.contains(part), "a part of the private key was logged");
            assert!(
                !text.contains(part),
                "a part of the private key was answered"
            );
        }
    }
    assert!(
        log.contains("private_key_jwt"),
        "the start-up line names the method"
    );
}

#[tokio::test]
async fn issue_18_a_server_with_both_a_secret_and_a_key_file_does_not_start_and_says_which_to_remove()
 {
    let key = TestKey::rsa("cred-1");
    let key_file = KeyFile::write(&key);
    let path = key_file.path.display().to_string();
    let mut config = SystemConfig {
        ready_timeout: std::time::Duration::from_secs(5),
        ..SystemConfig::default()
    };
    config
        .mcp_env
        .insert("MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE".into(), path);
    let error = RunningSystem::start(config).await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("remove MCP_AUTH0_CLIENT_SECRET to use Private Key JWT"),
        "{text}"
    );
}

#[tokio::test]
async fn issue_18_an_organization_token_and_a_personal_token_of_one_user_make_two_exchanges() {
    let system = support::start_system(SystemConfig::default).await;
    let tenant = &system.tenant;
    tenant.add_organization(Organization::new("org_acme", "acme", &["auth0|alice"]));
    let personal = tenant.token_for("auth0|alice", &["tool:greet", "tool:whoami"]);
    let in_org = tenant.sign_user_token(
        &tenant
            .user_token("auth0|alice")
            .scope("tool:greet tool:whoami")
            .claim("org_id", "org_acme"),
    );

    for _ in 0..2 {
        for (token, org) in [(&personal, Value::Null), (&in_org, json!("org_acme"))] {
            let (failed, text) = greet(&system, token).await;
            assert!(!failed, "{text}");
            let upstream = upstream_json(&text);
            assert_eq!(upstream["sub"], "auth0|alice");
            assert_eq!(upstream["org_id"], org, "{text}");
        }
    }
    assert_eq!(
        tenant.exchanges_for("auth0|alice"),
        2,
        "one exchange per organization, then the cache"
    );

    let client = connect(&system.mcp_url(), &in_org).await;
    let whoami = call(&client, "whoami", json!({})).await;
    let whoami: Value = serde_json::from_str(&text_of(&whoami)).unwrap();
    assert_eq!(whoami["org_id"], "org_acme");
    client.cancel().await.ok();

    // A user who is not a member of the organization is refused by the tenant.
    let intruder = tenant.sign_user_token(
        &tenant
            .user_token("auth0|mallory")
            .scope("tool:greet")
            .claim("org_id", "org_acme"),
    );
    let (failed, text) = greet(&system, &intruder).await;
    assert!(failed, "{text}");
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("Organizations > Members"), "{text}");
}
