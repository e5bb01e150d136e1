//! A headless Chromium driven through chromedriver (WebDriver, with `fantoccini`), for
//! what only a real browser shows: how it applies a page's Content-Security-Policy to a
//! form and to the redirect that follows it.
//!
//! Each [`Browser`] has its own chromedriver on a free loopback port and its own fresh
//! profile; dropping it kills both, whatever the test's outcome.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use obo_tests::process::{free_port, listens_on};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// Debian's `chromium` and `chromium-driver` packages, which `cargo xtask ci` installs.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Headless, and quiet on the network: without the `--disable-*` flags Chromium dials
/// Google's services at start-up, which a machine without internet access refuses, and
/// the errors bury the test's own.
const CHROMIUM_ARGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

const DRIVER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A headless Chromium, and the chromedriver that drives it.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// Held for its drop, which ends the browser.
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile; panics, naming
    /// the command that installs them, when they are missing.
    pub async fn start() -> Self {
        for binary in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(binary).exists(),
                "{binary} is missing: this test drives a real browser. Run `cargo xtask ci` \
                 (which installs it), or `sudo apt-get install -y chromium chromium-driver`"
            );
        }
        let mut driver = Driver::start();
        driver.wait_ready().await;
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|arg| (*arg).to_owned()).collect();
        args.push(format!(
            "--user-data-dir={}",
            driver.dir.join("profile").display()
        ));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            // The console, where Chromium reports what a CSP blocked.
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "chromedriver could not start Chromium: {e}\nchromedriver's log:\n{}",
                    driver.log_tail()
                )
            });
        Self {
            client,
            _driver: driver,
        }
    }

    /// Loads `url` and waits for it, as a user typing it in would.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("the browser could not load {url}: {e}"));
    }

    /// Clicks the element `css` selects, failing with the page's source if there is none.
    pub async fn click(&self, css: &str) {
        let element = match self.client.find(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => panic!(
                "no `{css}` on {}: {e}\nthe page:\n{}",
                self.current_url().await,
                self.client.source().await.unwrap_or_default()
            ),
        };
        element
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// Where the browser is now.
    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(String::from)
            .unwrap_or_else(|e| format!("(unknown: {e})"))
    }

    /// What the console reported about a Content-Security-Policy since the last call:
    /// Chromium logs each request a policy blocked, a form's redirect included.
    pub async fn csp_violations(&self) -> Vec<String> {
        let entries = self
            .client
            .issue_cmd(BrowserLog)
            .await
            .unwrap_or_else(|e| panic!("cannot read the browser's console: {e}"));
        entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["message"].as_str())
            .filter(|message| message.contains("Content Security Policy"))
            .map(str::to_owned)
            .collect()
    }

    /// Ends the session, so chromedriver closes Chromium cleanly; dropping does the rest.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// chromedriver, with its profile directory and log; dropping it kills chromedriver and
/// every Chromium process it started, and removes the directory.
#[derive(Debug)]
struct Driver {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Driver {
    fn start() -> Self {
        let dir = fresh_dir();
        let log =
            std::fs::File::create(dir.join("chromedriver.log")).expect("create chromedriver's log");
        let port = free_port().expect("a free port for chromedriver");
        let child = Command::new(CHROMEDRIVER)
            // chromedriver listens on loopback only unless `--allowed-ips` says otherwise.
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().expect("share chromedriver's log"),
            ))
            .stderr(Stdio::from(log))
            // Its own process group, so that the drop kills Chromium too: Chromium
            // outlives a killed chromedriver.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}"));
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        }
    }

    /// Whether this chromedriver itself listens on the port it was given.
    fn listens_on_its_port(&self) -> bool {
        let port = reqwest::Url::parse(&self.url)
            .ok()
            .and_then(|url| url.port());
        match (self.child.id(), port) {
            (Some(pid), Some(port)) => listens_on(pid, port).unwrap_or(true),
            _ => true,
        }
    }

    /// Waits until chromedriver's `/status` says it is ready for a session.
    async fn wait_ready(&mut self) {
        let status_url = format!("{}/status", self.url);
        let http = reqwest::Client::new();
        let deadline = Instant::now() + DRIVER_READY_TIMEOUT;
        loop {
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!(
                    "chromedriver exited before it was ready ({exit}); its log:\n{}",
                    self.log_tail()
                );
            }
            if let Ok(response) = http
                .get(&status_url)
                .timeout(Duration::from_secs(1))
                .send()
                .await
                && let Ok(status) = response.json::<Value>().await
                && status["value"]["ready"] == true
                // Another test's chromedriver may have taken the port first.
                && self.listens_on_its_port()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready at {status_url} within {DRIVER_READY_TIMEOUT:?}; its log:\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("chromedriver.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// chromedriver's (non-W3C, still served) command for the browser's console log.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({ "type": "browser" }).to_string()),
        )
    }
}

/// A directory of this process's own under the system's temp directory.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "obo-browser-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
