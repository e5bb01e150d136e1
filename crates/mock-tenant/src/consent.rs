//! The sign-in and consent page `GET /authorize` answers: who asks, where the answer
//! goes, the scopes asked for, a choice of demo user, and Allow / Deny.
//!
//! Other code drives this form (the browser test, the headless client), so its shape is
//! a contract: one `<form method="post" action="/authorize/decision">` with hidden
//! inputs `request` and `csrf`, radios `name="user"` valued with each user's `sub` (the
//! first checked), and the buttons `name="decision"` `value="allow"` / `value="deny"`.

use url::Url;
use wiremock::ResponseTemplate;

use crate::config::DemoUser;
use crate::html::{escape, page};

/// What the page shows and what its form carries back.
pub(crate) struct ConsentPage<'a> {
    pub(crate) client_name: &'a str,
    pub(crate) client_id: &'a str,
    /// As the request sent it.
    pub(crate) redirect_uri: &'a str,
    pub(crate) redirect_url: &'a Url,
    pub(crate) audience: &'a str,
    pub(crate) scopes: &'a [String],
    pub(crate) users: &'a [DemoUser],
    pub(crate) request_id: &'a str,
    pub(crate) csrf: &'a str,
}

impl ConsentPage<'_> {
    pub(crate) fn render(&self) -> ResponseTemplate {
        let client = escape(self.client_name);
        let mut body = format!(
            "<h1>Authorize {client}</h1>\n\
             <p><strong>{client}</strong> wants to use <strong>{audience}</strong> on your \
             behalf. Your answer goes back to <strong>{destination}</strong> \
             (<code>{redirect_uri}</code>).</p>\n",
            audience = escape(self.audience),
            destination = escape(&destination(self.redirect_url)),
            redirect_uri = escape(self.redirect_uri),
        );
        if self.scopes.is_empty() {
            body.push_str("<p>It asks for no permission: only a token that names you.</p>\n");
        } else {
            body.push_str("<h2>It asks for</h2>\n<ul>\n");
            for scope in self.scopes {
                body.push_str(&format!("<li><code>{}</code>", escape(scope)));
                if let Some(text) = describe(scope) {
                    body.push_str(&format!(": {text}"));
                }
                body.push_str("</li>\n");
            }
            body.push_str("</ul>\n");
        }
        body.push_str(&format!(
            "<form method=\"post\" action=\"/authorize/decision\">\n\
             <input type=\"hidden\" name=\"request\" value=\"{request}\">\n\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
             <fieldset>\n<legend>Sign in as</legend>\n",
            request = escape(self.request_id),
            csrf = escape(self.csrf),
        ));
        for (i, user) in self.users.iter().enumerate() {
            body.push_str(&format!(
                "<label><input type=\"radio\" name=\"user\" value=\"{sub}\"{checked}> \
                 {name} ({email}, <code>{sub}</code>)</label>\n",
                sub = escape(&user.sub),
                checked = if i == 0 { " checked" } else { "" },
                name = escape(&user.name),
                email = escape(&user.email),
            ));
        }
        body.push_str(
            "</fieldset>\n\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n\
             <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n\
             </form>\n",
        );
        body.push_str(&format!(
            "<p class=\"note\">This is the demo tenant: no password, pick a user. \
             Client ID <code>{}</code>.</p>\n",
            escape(self.client_id)
        ));
        page(
            200,
            "Sign in to the demo tenant",
            &body,
            form_action(self.redirect_url).as_deref(),
        )
    }
}

/// What the user reads about where the answer goes: host and port, or the scheme of a
/// private-use URI (RFC 8252 §7.1).
fn destination(redirect_uri: &Url) -> String {
    match (redirect_uri.host_str(), redirect_uri.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        (None, _) => format!("{}:", redirect_uri.scheme()),
    }
}

/// The CSP `form-action` sources. Chromium applies `form-action` to the redirect that
/// follows the form's POST, so the redirect URI's origin must be listed next to
/// `'self'`: the exact origin of this request's URI, which for a loopback client is the
/// random port it listens on now. `None` (leave the directive out) when a CSP source
/// cannot express that origin: CSP hosts are letters, digits, `-` and `.`, so no IPv6
/// literal (`http://[::1]:*` is rejected by Chromium), and nothing that could end the
/// directive and add another.
fn form_action(redirect_uri: &Url) -> Option<String> {
    let origin = redirect_uri.origin();
    let source = if origin.is_tuple() {
        origin.ascii_serialization()
    } else {
        format!("{}:", redirect_uri.scheme())
    };
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-.:/+".contains(&b))
        .then(|| format!("'self' {source}"))
}

/// A line for the scopes the demo's APIs define.
fn describe(scope: &str) -> Option<&'static str> {
    match scope {
        "tool:greet" => Some("greet you by name, through the private API, as you"),
        "tool:whoami" => Some("see who you are signed in as"),
        "offline_access" => Some("stay signed in (a refresh token)"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn form_action_allows_the_exact_redirect_origin_next_to_self() {
        assert_eq!(
            form_action(&url("http://127.0.0.1:53682/callback?x=1")).as_deref(),
            Some("'self' http://127.0.0.1:53682")
        );
        assert_eq!(
            form_action(&url("https://app.example/cb")).as_deref(),
            Some("'self' https://app.example")
        );
        assert_eq!(
            form_action(&url("com.example.app:/oauth")).as_deref(),
            Some("'self' com.example.app:")
        );
    }

    #[test]
    fn form_action_is_left_out_for_an_ipv6_literal_and_for_hosts_csp_cannot_express() {
        assert_eq!(form_action(&url("http://[::1]:8080/cb")), None);
        assert_eq!(form_action(&url("https://a;script-src'x/cb")), None);
    }
}
