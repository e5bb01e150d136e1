//! The HTML the sign-in endpoints answer with: escaping, the headers every page carries,
//! and the error page shown where OAuth forbids redirecting (RFC 6749 §4.1.2.1).
//!
//! Pages have no script and load nothing. Their one inline `<style>` is allowed by its
//! hash in the `Content-Security-Policy`, so the policy keeps `default-src 'none'`.

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use wiremock::ResponseTemplate;

/// The stylesheet of every page; the CSP allows exactly this text.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:2rem auto;\
padding:0 1rem;line-height:1.5}ul{padding-left:1.2rem}fieldset{margin:1rem 0}\
label{display:block}button{font-size:1rem;margin-right:.5rem;padding:.4rem 1.2rem}\
.note{color:#555;font-size:.9rem}";

static STYLE_SOURCE: LazyLock<String> = LazyLock::new(|| {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, STYLE.as_bytes());
    format!("'sha256-{}'", STANDARD.encode(digest.as_ref()))
});

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// A whole page: `title` is text, `body` is HTML the caller escaped.
///
/// `form_action` is the CSP `form-action` source list; `None` leaves the directive out,
/// for redirect origins a CSP source cannot express.
pub(crate) fn page(
    status: u16,
    title: &str,
    body: &str,
    form_action: Option<&str>,
) -> ResponseTemplate {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n",
        title = escape(title),
    );
    let form_action = form_action
        .map(|sources| format!(" form-action {sources};"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src {style};{form_action} frame-ancestors 'none'; base-uri 'none'",
        style = *STYLE_SOURCE,
    );
    ResponseTemplate::new(status)
        .insert_header("cache-control", "no-store")
        .insert_header("x-frame-options", "DENY")
        .insert_header("referrer-policy", "no-referrer")
        .insert_header("x-content-type-options", "nosniff")
        .insert_header("content-security-policy", csp.as_str())
        .set_body_raw(html, "text/html; charset=utf-8")
}

/// The page for a request that must not be redirected back to the client, or a consent
/// form that cannot be honoured. `message` is text.
pub(crate) fn error_page(status: u16, message: &str) -> ResponseTemplate {
    let body = format!(
        "<h1>Sign-in error</h1>\n<p>{}</p>\n<p class=\"note\">Start the sign-in again from \
         the application.</p>\n",
        escape(message)
    );
    page(status, "Sign-in error", &body, Some("'none'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_replaces_the_five_html_special_characters() {
        assert_eq!(
            escape(r#"<script>alert(1)</script>"'&"#),
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;"
        );
        assert_eq!(escape("Café ✓ plain"), "Café ✓ plain");
    }
}
