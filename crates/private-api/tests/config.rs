//! Configuration: each problem names its variable and the fix, and the binary refuses
//! to start with all of them listed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use private_api::{Config, ConfigProblem};
use support::args;

fn problems(args: &private_api::Args) -> Vec<ConfigProblem> {
    Config::from_args(args).unwrap_err().problems
}

#[test]
fn missing_values_are_each_named_with_a_fix() {
    let problems = problems(&args(None, Some("  ")));
    let vars: Vec<_> = problems.iter().map(ConfigProblem::var).collect();
    assert_eq!(vars, ["AUTH0_DOMAIN", "API_AUTH0_AUDIENCE"]);
    assert_eq!(
        problems[0].to_string(),
        "AUTH0_DOMAIN is not set: set it to your tenant domain, e.g. tenant.us.auth0.com (or an issuer URL such as http://127.0.0.1:9999/ for a local mock)"
    );
    assert!(
        problems[1]
            .to_string()
            .starts_with("API_AUTH0_AUDIENCE is not set: set it to")
    );
}

#[test]
fn malformed_values_are_each_named() {
    let mut a = args(Some("http://tenant.auth0.com/"), Some(" aud "));
    a.api_base_url = "localhost:8787".into();
    a.host = "example.com".into();
    a.rust_log = "info,[=".into();
    a.log_format = "xml".into();
    let vars: Vec<_> = problems(&a).iter().map(ConfigProblem::var).collect();
    assert_eq!(
        vars,
        [
            "AUTH0_DOMAIN",
            "API_AUTH0_AUDIENCE",
            "API_BASE_URL",
            "HOST",
            "RUST_LOG",
            "LOG_FORMAT"
        ]
    );
}

#[test]
fn the_port_comes_from_api_base_url_unless_overridden() {
    let mut a = args(Some("tenant.us.auth0.com"), Some("https://api"));
    a.port = None;
    let config = Config::from_args(&a).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
    assert_eq!(config.issuer.as_str(), "https://tenant.us.auth0.com/");

    a.api_base_url = "https://api.example.com".into();
    assert_eq!(Config::from_args(&a).unwrap().listen.port(), 443);

    a.port = Some(9000);
    a.host = "0.0.0.0".into();
    assert_eq!(
        Config::from_args(&a).unwrap().listen.to_string(),
        "0.0.0.0:9000"
    );
}

fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_private-api"));
    // Exactly the environment given; a temp directory so no `.env` is found.
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .stdin(std::process::Stdio::null());
    command
}

#[test]
fn the_binary_refuses_to_start_and_says_why() {
    let output = binary().output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("AUTH0_DOMAIN is not set: set it to your tenant domain"),
        "{stderr}"
    );
    assert!(stderr.contains("API_AUTH0_AUDIENCE is not set"), "{stderr}");

    let output = binary()
        .env("AUTH0_DOMAIN", "tenant.us.auth0.com")
        .env("API_AUTH0_AUDIENCE", "https://api")
        .env("LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("LOG_FORMAT is invalid"), "{stderr}");
    assert!(!stderr.contains("AUTH0_DOMAIN"), "{stderr}");
}

#[test]
fn help_documents_every_variable() {
    let output = binary().arg("--help").output().unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for var in [
        "AUTH0_DOMAIN",
        "API_AUTH0_AUDIENCE",
        "API_BASE_URL",
        "HOST",
        "RUST_LOG",
        "LOG_FORMAT",
        "--port",
    ] {
        assert!(help.contains(var), "--help lacks {var}:\n{help}");
    }
}
