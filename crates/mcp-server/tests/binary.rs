//! The real binary's start-up: configuration errors that name every variable, a `.env`
//! in the working directory (and never above it) or the file `--env-file` names, and
//! `--help`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// An empty directory of its own, removed on drop, so no `.env` is found by accident.
struct EmptyDir(PathBuf);

impl EmptyDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("mcp-server-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for EmptyDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with exactly the environment given, in `dir`.
fn binary(dir: &EmptyDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-server"));
    command.env_clear().current_dir(&dir.0).stdin(Stdio::null());
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

const REQUIRED: [&str; 5] = [
    "AUTH0_DOMAIN",
    "AUTH0_AUDIENCE",
    "MCP_AUTH0_CLIENT_ID",
    "MCP_AUTH0_CLIENT_SECRET",
    "API_AUTH0_AUDIENCE",
];

#[test]
fn an_empty_environment_stops_the_start_naming_every_missing_variable() {
    let dir = EmptyDir::new("empty-env");
    let output = binary(&dir).output().unwrap();
    assert!(!output.status.success(), "{output:?}");
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(stderr.starts_with("mcp-server cannot start"), "{stderr}");
    for name in REQUIRED {
        assert!(
            stderr.contains(&format!("  - {name} is not set: set it to")),
            "{name} missing from: {stderr}"
        );
    }
    // One line per problem, and nothing optional is reported as missing.
    assert_eq!(stderr.matches("\n  - ").count(), REQUIRED.len(), "{stderr}");
    assert!(stderr.contains("mcp-server --help"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn malformed_values_are_each_named_with_what_is_expected() {
    let dir = EmptyDir::new("malformed");
    let output = binary(&dir)
        .env("AUTH0_DOMAIN", "tenant.us.auth0.com")
        .env("AUTH0_AUDIENCE", "http://localhost:3001/")
        .env("MCP_AUTH0_CLIENT_ID", "client")
        .env("MCP_AUTH0_CLIENT_SECRET", "very-secret-value-123")
        .env("API_AUTH0_AUDIENCE", "http://localhost:8787/")
        .env("PORT", "eighty")
        .env("API_BASE_URL", "ftp://api.example")
        .env("UPSTREAM_TIMEOUT_SECS", "0")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("PORT is not a port number (got \"eighty\")"),
        "{stderr}"
    );
    assert!(
        stderr.contains("API_BASE_URL must be an http:// or https:// URL"),
        "{stderr}"
    );
    assert!(
        stderr.contains("UPSTREAM_TIMEOUT_SECS must be a whole number of seconds from 1 to 300"),
        "{stderr}"
    );
    assert!(!stderr.contains("AUTH0_DOMAIN"), "{stderr}");
    assert!(!stderr.contains("very-secret-value-123"), "{stderr}");
}

#[test]
fn a_dot_env_in_the_working_directory_is_read() {
    let dir = EmptyDir::new("dotenv");
    std::fs::write(
        dir.0.join(".env"),
        "AUTH0_DOMAIN=tenant.us.auth0.com\nAUTH0_AUDIENCE=http://localhost:3001/\n",
    )
    .unwrap();
    let output = binary(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(!stderr.contains("AUTH0_DOMAIN"), "{stderr}");
    assert!(!stderr.contains("  - AUTH0_AUDIENCE"), "{stderr}");
    assert!(
        stderr.contains("MCP_AUTH0_CLIENT_ID is not set"),
        "{stderr}"
    );
}

#[test]
fn finding_3_a_dot_env_in_a_parent_directory_is_not_read() {
    let dir = EmptyDir::new("dotenv-parent");
    std::fs::write(dir.0.join(".env"), "AUTH0_DOMAIN=tenant.us.auth0.com\n").unwrap();
    let child = dir.0.join("work");
    std::fs::create_dir(&child).unwrap();
    let output = binary(&dir).current_dir(&child).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(stderr.contains("  - AUTH0_DOMAIN is not set"), "{stderr}");
    assert!(!stderr.contains("settings read from"), "{stderr}");
}

#[test]
fn finding_3_the_start_log_names_the_dot_env_read() {
    let dir = EmptyDir::new("dotenv-log");
    std::fs::write(dir.0.join(".env"), "AUTH0_DOMAIN=tenant.us.auth0.com\n").unwrap();
    let output = binary(&dir).output().unwrap();
    let stderr = stderr(&output);
    let log = stderr
        .lines()
        .find(|line| line.contains("settings read from the env file"))
        .unwrap_or_else(|| panic!("no start log line naming the file in: {stderr}"));
    let expected = dir.0.join(".env");
    assert!(log.contains(&expected.display().to_string()), "{log}");
    assert!(!stderr.contains("  - AUTH0_DOMAIN"), "{stderr}");
}

#[test]
fn finding_3_env_file_names_the_file_to_read_for_serve_and_check() {
    let dir = EmptyDir::new("env-file");
    // A ./.env that must not be read when --env-file names another file.
    std::fs::write(
        dir.0.join(".env"),
        "AUTH0_AUDIENCE=http://localhost:3001/\n",
    )
    .unwrap();
    let file = dir.0.join("settings.env");
    std::fs::write(&file, "AUTH0_DOMAIN=tenant.us.auth0.com\n").unwrap();

    let output = binary(&dir).arg("--env-file").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr
            .lines()
            .any(|line| line.contains("settings read from the env file")
                && line.contains(&file.display().to_string())),
        "{stderr}"
    );
    assert!(!stderr.contains("  - AUTH0_DOMAIN"), "{stderr}");
    assert!(stderr.contains("  - AUTH0_AUDIENCE is not set"), "{stderr}");

    // The flag also works after the subcommand.
    let output = binary(&dir)
        .args(["check", "--env-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert!(!stdout.contains("AUTH0_DOMAIN"), "{stdout}");
    assert!(stdout.contains("AUTH0_AUDIENCE is not set"), "{stdout}");
    let check_stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        check_stderr.contains(&file.display().to_string()),
        "{check_stderr}"
    );
}

#[test]
fn finding_3_a_named_env_file_that_is_missing_is_an_error_naming_it() {
    let dir = EmptyDir::new("env-file-missing");
    let file = dir.0.join("missing.env");
    let output = binary(&dir).arg("--env-file").arg(&file).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!("the env file {} does not exist", file.display())),
        "{stderr}"
    );
}

#[test]
fn a_malformed_env_file_is_refused_without_showing_the_line() {
    let dir = EmptyDir::new("env-file-malformed");
    std::fs::write(
        dir.0.join(".env"),
        "MCP_AUTH0_CLIENT_SECRET very-secret-value-123\n",
    )
    .unwrap();
    let output = binary(&dir).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(stderr.contains("is malformed near character"), "{stderr}");
    assert!(!stderr.contains("very-secret-value-123"), "{stderr}");
}

#[test]
fn help_documents_every_option_and_variable() {
    let dir = EmptyDir::new("help");
    let output = binary(&dir)
        .arg("--help")
        .env("MCP_AUTH0_CLIENT_SECRET", "secret-in-the-environment")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8(output.stdout).unwrap();
    for (flag, var) in [
        ("--auth0-domain", "AUTH0_DOMAIN"),
        ("--auth0-audience", "AUTH0_AUDIENCE"),
        ("--host", "HOST"),
        ("--port", "PORT"),
        ("--mcp-server-url", "MCP_SERVER_URL"),
        ("--mcp-auth0-client-id", "MCP_AUTH0_CLIENT_ID"),
        ("--mcp-auth0-client-secret", "MCP_AUTH0_CLIENT_SECRET"),
        (
            "--mcp-auth0-client-auth-method",
            "MCP_AUTH0_CLIENT_AUTH_METHOD",
        ),
        ("--mcp-auth0-exchange-scope", "MCP_AUTH0_EXCHANGE_SCOPE"),
        ("--api-auth0-audience", "API_AUTH0_AUDIENCE"),
        ("--api-base-url", "API_BASE_URL"),
        ("--api-allow-plain-http", "API_ALLOW_PLAIN_HTTP"),
        ("--cors-origins", "CORS_ORIGINS"),
        ("--hide-unpermitted-tools", "HIDE_UNPERMITTED_TOOLS"),
        ("--mcp-resource-name", "MCP_RESOURCE_NAME"),
        ("--upstream-timeout-secs", "UPSTREAM_TIMEOUT_SECS"),
        ("--log-format", "LOG_FORMAT"),
    ] {
        assert!(help.contains(flag), "{flag} missing from --help:\n{help}");
        assert!(
            help.contains(&format!("[env: {var}")),
            "{var} missing from --help:\n{help}"
        );
    }
    // RUST_LOG is read by the logging set-up, not clap; it is documented all the same.
    assert!(
        help.contains("RUST_LOG"),
        "RUST_LOG missing from --help:\n{help}"
    );
    for default in [
        "[default: 3001]",
        "[default: 127.0.0.1]",
        "[default: read:private]",
        "[default: http://localhost:8787]",
    ] {
        assert!(
            help.contains(default),
            "{default} missing from --help:\n{help}"
        );
    }
    assert!(help.contains(".env"), "{help}");
    assert!(help.contains("--env-file <PATH>"), "{help}");
    assert!(!help.contains("secret-in-the-environment"), "{help}");
}
