//! Where the binary reads its settings from: `./.env` in the working directory, never
//! one above it, or the file `--env-file` names; and the start log names the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

/// A directory of its own, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("private-api-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The binary with an empty environment, in `dir`.
fn binary(dir: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_private-api"));
    command
        .env_clear()
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[tokio::test]
async fn finding_3_a_dot_env_in_a_parent_directory_is_not_read() {
    let dir = TempDir::new("dotenv-parent");
    // Only one of the two required variables, so that the old behaviour (reading
    // it) stops the start too, rather than serving.
    std::fs::write(
        dir.0.join(".env"),
        "API_AUTH0_AUDIENCE=https://private-api.test\n",
    )
    .unwrap();
    let child = dir.0.join("work");
    std::fs::create_dir(&child).unwrap();
    let output = binary(&child).output().await.unwrap();
    assert!(!output.status.success());
    let stderr = stderr(&output);
    assert!(stderr.contains("AUTH0_DOMAIN is not set"), "{stderr}");
    assert!(stderr.contains("API_AUTH0_AUDIENCE is not set"), "{stderr}");
}

#[tokio::test]
async fn finding_3_a_named_env_file_that_is_missing_is_an_error_naming_it() {
    let dir = TempDir::new("env-file-missing");
    let file = dir.0.join("missing.env");
    let output = binary(&dir.0)
        .arg("--env-file")
        .arg(&file)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!("the env file {} does not exist", file.display())),
        "{stderr}"
    );
}

#[tokio::test]
async fn finding_3_env_file_is_read_and_the_start_log_names_it() {
    let dir = TempDir::new("env-file");
    let file = dir.0.join("settings.env");
    // An issuer nobody listens on: the keys are fetched in the background and their
    // failure does not stop the start.
    std::fs::write(
        &file,
        "AUTH0_DOMAIN=http://127.0.0.1:9/\nAPI_AUTH0_AUDIENCE=https://private-api.test\nLOG_FORMAT=text\n",
    )
    .unwrap();
    let child = dir.0.join("work");
    std::fs::create_dir(&child).unwrap();
    let mut process = binary(&child)
        .arg("--env-file")
        .arg(&file)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let listening = line.contains("private API listening");
            seen.push(line);
            if listening {
                return true;
            }
        }
        false
    })
    .await;
    process.kill().await.unwrap();
    assert_eq!(read, Ok(true), "never listening; logs: {seen:#?}");
    assert!(
        seen.iter()
            .any(|line| line.contains("settings read from the env file")
                && line.contains(&file.display().to_string())),
        "no start log line naming {}: {seen:#?}",
        file.display()
    );
}
