//! What a native MCP client runs while its user signs in: a loopback HTTP listener on a
//! port of its choosing, where the browser lands with the authorization response
//! (RFC 8252 §7.3).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::driver::Browser;

/// How long a click may take to reach the callback: the redirect is local, so this is
/// only a bound for a browser that never gets there.
const REDIRECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Serves `router` on 127.0.0.1, on a port of the system's choosing, until dropped.
#[derive(Debug)]
pub struct Served {
    origin: String,
    task: JoinHandle<()>,
}

impl Served {
    pub async fn start(router: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let origin = format!("http://{}", listener.local_addr().expect("local address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { origin, task }
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The client's redirect URI, `http://127.0.0.1:PORT/callback`: answers `200 signed in`
/// and keeps the query string of the first request that reached it.
#[derive(Debug)]
pub struct Callback {
    served: Served,
    query: Arc<Mutex<Option<String>>>,
}

impl Callback {
    pub async fn start() -> Self {
        let query = Arc::new(Mutex::new(None));
        let router = Router::new()
            .route("/callback", get(receive))
            .with_state(Arc::clone(&query));
        Self {
            served: Served::start(router).await,
            query,
        }
    }

    pub fn redirect_uri(&self) -> String {
        format!("{}/callback", self.served.origin())
    }

    pub fn origin(&self) -> &str {
        self.served.origin()
    }

    /// The authorization response's parameters, once the browser has brought them here;
    /// fails at once if the browser's console shows that a Content-Security-Policy
    /// blocked the way, or after [`REDIRECT_TIMEOUT`].
    pub async fn wait(&self, browser: &Browser) -> Result<Vec<(String, String)>, String> {
        let deadline = Instant::now() + REDIRECT_TIMEOUT;
        loop {
            let violations = browser.csp_violations().await;
            if !violations.is_empty() {
                return Err(format!(
                    "the consent form's redirect never reached the callback: check the page's Content-Security-Policy form-action; the browser reported {violations:?}"
                ));
            }
            let received = self.query.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if let Some(query) = received {
                return Ok(url::form_urlencoded::parse(query.as_bytes())
                    .into_owned()
                    .collect());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the consent form's redirect never reached the callback {} within {REDIRECT_TIMEOUT:?}: check the page's Content-Security-Policy form-action (browser at {})",
                    self.redirect_uri(),
                    browser.current_url().await
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(query): State<Arc<Mutex<Option<String>>>>, uri: Uri) -> &'static str {
    query
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(|| uri.query().unwrap_or_default().to_owned());
    "signed in"
}

/// The value of the parameter `name`, if present; panics if it is repeated.
pub fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = params.iter().filter(|(key, _)| key == name);
    let value = values.next().map(|(_, value)| value.as_str());
    assert!(
        values.next().is_none(),
        "`{name}` appears more than once in {params:?}"
    );
    value
}
