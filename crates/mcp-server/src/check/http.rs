//! Reaching the tenant and the APIs: the HTTP client the checks share, fetching a JSON
//! document, and describing what went wrong without a secret a URL may carry.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::report::{Reporter, names};
use crate::config::Settings;

/// The largest discovery document or JWKS the check reads.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// The client for the tenant's documents and the APIs' reachability, with the server's
/// upstream timeout; a failed `configuration` line when it cannot be built.
pub(super) fn client<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
) -> Option<reqwest::Client> {
    match reqwest::Client::builder()
        .timeout(settings.upstream_timeout)
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(http) => Some(http),
        Err(e) => {
            r.fail(
                names::CONFIGURATION,
                format!("cannot build an HTTP client: {e}"),
                "check the system's TLS set-up".to_owned(),
            );
            None
        }
    }
}

/// GETs `url` and reads its JSON answer, up to [`MAX_DOCUMENT_BYTES`].
pub(super) async fn fetch_json(http: &reqwest::Client, url: &Url) -> Result<Value, String> {
    let response = http
        .get(url.clone())
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| describe_reqwest(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("it answered HTTP {}", status.as_u16()));
    }
    let bytes = response.bytes().await.map_err(|e| describe_reqwest(&e))?;
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(format!(
            "its answer is larger than {MAX_DOCUMENT_BYTES} bytes"
        ));
    }
    serde_json::from_slice(&bytes).map_err(|_| "its answer is not JSON".to_owned())
}

/// What went wrong, for a line that names the URL itself: the kind of failure and its
/// causes, never reqwest's own "for url (...)".
///
/// A URL's query, fragment and credentials can carry secrets (an API key in
/// `?api_key=`), and the report is pasted into tickets, so wherever the URL shows up
/// among the causes (a redirect policy's error, a nested reqwest error) it is cut to
/// [`redacted_url`].
pub(super) fn describe_reqwest(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "no answer in time".to_owned();
    }
    let mut message = if error.is_connect() {
        "cannot connect"
    } else if error.is_decode() || error.is_body() {
        "the answer could not be read"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    match error.url() {
        Some(url) => scrub(message, url),
        None => message,
    }
}

/// `url` as the report shows it: without its query, fragment, user name or password.
pub(super) fn redacted_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    // Fails only for URLs that cannot have credentials, which then have none.
    let _ = shown.set_password(None);
    let _ = shown.set_username("");
    shown.into()
}

/// `message` with every secret part of `url` removed, and every other URL it names
/// (a redirect's target) cut to [`redacted_url`].
fn scrub(message: String, url: &Url) -> String {
    let mut message = redact_urls_in(&message);
    if has_secret_parts(url) {
        message = message.replace(url.as_str(), &redacted_url(url));
    }
    let parts = [
        url.query().map(|q| format!("?{q}")),
        url.fragment().map(|f| format!("#{f}")),
        url.password().map(|p| format!(":{p}@")),
    ];
    for part in parts.into_iter().flatten() {
        if part.len() > 2 {
            message = message.replace(&part, if part.ends_with('@') { "@" } else { "" });
        }
    }
    message
}

/// `text` with each `http://` or `https://` URL in it that carries a query, fragment or
/// credentials shown as [`redacted_url`]; other text is left as it is.
fn redact_urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = [rest.find("http://"), rest.find("https://")]
        .into_iter()
        .flatten()
        .min()
    {
        out.push_str(&rest[..start]);
        let candidate = &rest[start..];
        let end = candidate
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '(' | ')' | '"' | '\'' | '<' | '>' | ',')
            })
            .unwrap_or(candidate.len());
        let (found, after) = candidate.split_at(end);
        match Url::parse(found) {
            Ok(url) if has_secret_parts(&url) => out.push_str(&redacted_url(&url)),
            _ => out.push_str(found),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

fn has_secret_parts(url: &Url) -> bool {
    url.query().is_some()
        || url.fragment().is_some()
        || url.password().is_some()
        || !url.username().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cret-9f2c";

    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn a_url_is_shown_without_its_query_fragment_or_credentials() {
        let url = Url::parse(&format!(
            "https://user:{SECRET}@api.example.com/v1/?api_key={SECRET}#{SECRET}"
        ))
        .unwrap();
        assert_eq!(redacted_url(&url), "https://api.example.com/v1/");
        let plain = Url::parse("http://localhost:8787/").unwrap();
        assert_eq!(redacted_url(&plain), plain.as_str());
    }

    #[tokio::test]
    async fn a_failed_request_is_described_without_the_query_or_fragment_of_its_url() {
        let url = format!(
            "http://127.0.0.1:{}/api/?api_key={SECRET}#{SECRET}",
            closed_port()
        );
        let error = reqwest::Client::new().get(&url).send().await.unwrap_err();
        let description = describe_reqwest(&error);
        assert!(description.starts_with("cannot connect"), "{description}");
        assert!(!description.contains(SECRET), "{description}");
    }

    /// A redirect policy's error is one cause that names the URL: a redirect to a
    /// URL with a key in its query, refused by a policy that says where it led.
    #[tokio::test]
    async fn a_url_among_the_causes_loses_its_query() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = format!("http://127.0.0.1:{port}/next?api_key={SECRET}");
        let location = target.clone();
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await.unwrap();
            let answer = format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
        });
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let refusal = format!("refused to follow a redirect to {}", attempt.url());
            attempt.error(refusal)
        });
        let http = reqwest::Client::builder().redirect(policy).build().unwrap();
        let error = http
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        server.await.unwrap();
        let description = describe_reqwest(&error);
        assert!(
            description.contains(&format!(
                "refused to follow a redirect to http://127.0.0.1:{port}/next"
            )),
            "{description}"
        );
        assert!(!description.contains(SECRET), "{description}");
    }
}
