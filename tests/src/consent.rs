//! A headless stand-in for the user's browser on the tenant's sign-in page: it opens the
//! authorization URL an MCP client built, reads the consent form the way a browser
//! renders it, picks a user, clicks Allow or Deny, and stops at the redirect back to the
//! client, handing its `Location` to whoever plays the client's callback listener.
//!
//! It follows no redirect on its own, so a test sees each answer of the tenant.

use std::collections::HashMap;

use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Proxy, StatusCode};
use url::Url;

/// The consent form of the tenant's sign-in page (`/authorize`), as a browser reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentForm {
    /// Where the form posts, resolved against the page's URL.
    pub action: Url,
    /// The hidden inputs (`request`, `csrf`), by name.
    pub hidden: HashMap<String, String>,
    /// The `value`s of the `user` radio buttons (the users' `sub`), in page order.
    pub users: Vec<String>,
    /// The `value`s of the `decision` submit buttons, in page order.
    pub decisions: Vec<String>,
}

impl ConsentForm {
    /// Reads the first `<form method="post">` of `html`, served at `page`.
    pub fn parse(html: &str, page: &Url) -> Result<Self, String> {
        let form_start = tags(html, "form")
            .find(|(_, attrs)| {
                attrs
                    .get("method")
                    .is_some_and(|m| m.eq_ignore_ascii_case("post"))
            })
            .ok_or("the page has no <form method=\"post\">")?;
        let (offset, form_attrs) = form_start;
        let body = &html[offset..];
        let body = &body[..body.find("</form>").unwrap_or(body.len())];
        let action = form_attrs.get("action").map_or("", String::as_str);
        let action = page
            .join(action)
            .map_err(|e| format!("the form's action {action:?} is not a URL: {e}"))?;

        let mut hidden = HashMap::new();
        let mut users = Vec::new();
        for (_, input) in tags(body, "input") {
            let kind = input.get("type").map(|t| t.to_ascii_lowercase());
            let (Some(name), Some(value)) = (input.get("name"), input.get("value")) else {
                continue;
            };
            match kind.as_deref() {
                Some("hidden") => {
                    hidden.insert(name.clone(), value.clone());
                }
                Some("radio") if name == "user" => users.push(value.clone()),
                _ => {}
            }
        }
        let decisions = tags(body, "button")
            .filter(|(_, b)| b.get("name").is_some_and(|n| n == "decision"))
            .filter_map(|(_, b)| b.get("value").cloned())
            .collect();
        Ok(Self {
            action,
            hidden,
            users,
            decisions,
        })
    }
}

/// What the tenant answered to the consent form: where it sends the browser next.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The status of the form's answer (a redirect: 302 or 303).
    pub status: u16,
    /// The redirect back to the client: `redirect_uri?code=…&state=…&iss=…`.
    pub location: String,
}

/// A browser that runs no script, keeps no cookies and follows no redirect: enough for
/// the tenant's page, which needs none of them. (`tests/browser` drives a real one.)
#[derive(Debug, Clone)]
pub struct HeadlessBrowser {
    http: reqwest::Client,
}

impl Default for HeadlessBrowser {
    fn default() -> Self {
        Self::build(reqwest::Client::builder())
    }
}

impl HeadlessBrowser {
    /// A browser that sends every request through the HTTP proxy at `proxy_url`.
    pub fn through_proxy(proxy_url: &str) -> Self {
        Self::build(
            reqwest::Client::builder().proxy(Proxy::all(proxy_url).expect("a valid proxy URL")),
        )
    }

    fn build(builder: reqwest::ClientBuilder) -> Self {
        let http = builder
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client");
        Self { http }
    }

    /// Opens `authorize_url` and reads the consent form of the page it answers with.
    pub async fn open_consent_page(&self, authorize_url: &str) -> Result<ConsentForm, String> {
        let page = Url::parse(authorize_url)
            .map_err(|e| format!("the authorization URL is not a URL: {e}"))?;
        let response = self
            .http
            .get(page.clone())
            .send()
            .await
            .map_err(|e| format!("GET {page}: {e}"))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let location = response.headers().get(LOCATION).cloned();
        let html = response.text().await.unwrap_or_default();
        if status != StatusCode::OK {
            return Err(format!(
                "GET /authorize answered {status} (Location: {location:?}), not the sign-in page: {html}"
            ));
        }
        if !content_type.starts_with("text/html") {
            return Err(format!(
                "the sign-in page is {content_type:?}, not text/html"
            ));
        }
        ConsentForm::parse(&html, &page)
    }

    /// Submits `form` as `user` with the button `decision` (`allow` or `deny`) and
    /// returns the redirect the tenant answers with.
    pub async fn decide(
        &self,
        form: &ConsentForm,
        user: &str,
        decision: &str,
    ) -> Result<Decision, String> {
        if !form.users.iter().any(|u| u == user) {
            return Err(format!(
                "the page offers no user {user:?}, only {:?}",
                form.users
            ));
        }
        if !form.decisions.iter().any(|d| d == decision) {
            return Err(format!(
                "the page has no {decision:?} button, only {:?}",
                form.decisions
            ));
        }
        let mut fields: Vec<(&str, &str)> = form
            .hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        fields.push(("user", user));
        fields.push(("decision", decision));
        let response = self
            .http
            .post(form.action.clone())
            .form(&fields)
            .send()
            .await
            .map_err(|e| format!("POST {}: {e}", form.action))?;
        let status = response.status();
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(location) if status.is_redirection() => Ok(Decision {
                status: status.as_u16(),
                location,
            }),
            _ => Err(format!(
                "the consent form answered {status} without a redirect: {}",
                response.text().await.unwrap_or_default()
            )),
        }
    }

    /// Signs in as `user` and clicks Allow: the redirect back to the client.
    pub async fn sign_in(&self, authorize_url: &str, user: &str) -> Result<Decision, String> {
        let form = self.open_consent_page(authorize_url).await?;
        self.decide(&form, user, "allow").await
    }
}

/// Every `<name …>` start tag of `html`: its offset just past the tag, and its
/// attributes with their values unescaped. Enough HTML for a page with no script.
fn tags<'a>(
    html: &'a str,
    name: &'a str,
) -> impl Iterator<Item = (usize, HashMap<String, String>)> + 'a {
    let lower = html.to_ascii_lowercase();
    let open = format!("<{name}");
    let mut from = 0;
    std::iter::from_fn(move || {
        loop {
            let start = from + lower[from..].find(&open)?;
            let after_name = start + open.len();
            from = after_name;
            // `<formfoo` is another tag.
            if !lower[after_name..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>')
                && !lower[after_name..].starts_with("/>")
            {
                continue;
            }
            let (attrs, end) = attributes(&html[after_name..]);
            from = after_name + end;
            return Some((from, attrs));
        }
    })
}

/// The attributes of a start tag whose name has been read, and how many bytes the rest
/// of the tag (up to and including `>`) takes.
fn attributes(rest: &str) -> (HashMap<String, String>, usize) {
    let bytes = rest.as_bytes();
    let mut attrs = HashMap::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (attrs, i);
        }
        if bytes[i] == b'>' {
            return (attrs, i + 1);
        }
        let name_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let name = rest[name_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let value_start = i + 1;
                let value_end = rest[value_start..]
                    .bytes()
                    .position(|b| b == quote)
                    .map_or(bytes.len(), |p| value_start + p);
                value = unescape(&rest[value_start..value_end]);
                i = (value_end + 1).min(bytes.len());
            } else {
                let value_start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = unescape(&rest[value_start..i]);
            }
        }
        attrs.entry(name).or_insert(value);
    }
}

/// Character references as a browser decodes them in attribute values: the named ones
/// an escaper writes, and numeric ones.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let Some(semi) = rest.find(';') else { break };
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!doctype html><html><body>
<h1>Sign in to &lt;Evil&gt; &amp; co</h1>
<form method="post" action="/authorize/decision">
  <input type="hidden" name="request" value="req_1&amp;2">
  <input type='hidden' name='csrf' value='c&#x27;s&#47;rf' />
  <label><input type="radio" name="user" value="auth0|alice" checked> Alice</label>
  <label><input type=radio name=user value="auth0|bob"> Bob</label>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form></body></html>"#;

    #[test]
    fn the_consent_form_is_read_as_a_browser_reads_it() {
        let page = Url::parse("http://127.0.0.1:9/authorize?client_id=x").unwrap();
        let form = ConsentForm::parse(PAGE, &page).unwrap();
        assert_eq!(
            form.action.as_str(),
            "http://127.0.0.1:9/authorize/decision"
        );
        assert_eq!(form.hidden["request"], "req_1&2");
        assert_eq!(form.hidden["csrf"], "c's/rf");
        assert_eq!(form.users, ["auth0|alice", "auth0|bob"]);
        assert_eq!(form.decisions, ["allow", "deny"]);
    }

    #[test]
    fn a_page_without_a_post_form_is_refused() {
        let page = Url::parse("http://127.0.0.1:9/authorize").unwrap();
        let error = ConsentForm::parse("<form method=get action=/x></form>", &page).unwrap_err();
        assert!(error.contains("no <form"), "{error}");
    }

    #[test]
    fn unknown_references_are_left_as_written() {
        assert_eq!(unescape("a &bogus; b & c"), "a &bogus; b & c");
        assert_eq!(unescape("&#65;&#x42;"), "AB");
    }
}
