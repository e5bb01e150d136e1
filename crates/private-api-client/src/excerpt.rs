//! Turning bytes the server chose into text safe to keep in an error.
//!
//! A misbehaving (or hostile) upstream may echo the request, including our bearer
//! token, in its body or headers. Anything copied into an [`ApiError`](crate::ApiError)
//! passes through here: bounded, stripped of control characters (no log injection),
//! and with the token removed.

/// Longest excerpt kept from an error body, in characters.
pub(crate) const MAX_EXCERPT_CHARS: usize = 256;

/// Longest header value (such as `WWW-Authenticate`) kept, in characters.
pub(crate) const MAX_HEADER_CHARS: usize = 1024;

const REDACTED: &str = "[redacted]";

/// Shortest partial token worth cutting from the end of a truncated excerpt. Three
/// characters of a JWT (`eyJ`) say nothing; cutting shorter tails would only eat
/// honest text.
const MIN_TOKEN_TAIL: usize = 4;

/// A bounded, printable excerpt of `bytes` that does not contain `token`.
pub(crate) fn excerpt(bytes: &[u8], token: &str, max_chars: usize) -> String {
    sanitize(&String::from_utf8_lossy(bytes), token, max_chars)
}

/// A bounded, printable copy of `text` that does not contain `token`.
pub(crate) fn sanitize(text: &str, token: &str, max_chars: usize) -> String {
    // Controls go first so that a token split by them cannot reappear after stripping.
    let printable: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let scrubbed = scrub(&printable, token);
    let mut out: String = scrubbed.trim().chars().take(max_chars).collect();
    cut_token_tail(&mut out, token);
    out
}

fn scrub(text: &str, token: &str) -> String {
    if token.is_empty() {
        return text.to_owned();
    }
    let mut out = text.replace(token, REDACTED);
    // The same token as it appears inside a JSON string, where `/` may be escaped.
    if token.contains('/') {
        out = out.replace(&token.replace('/', "\\/"), REDACTED);
    }
    out
}

/// Truncation can leave the start of a token at the end of the excerpt, where the
/// whole-token replacement did not see it. Cut such a tail.
fn cut_token_tail(out: &mut String, token: &str) {
    let longest = token.len().min(out.len());
    for k in (MIN_TOKEN_TAIL..=longest).rev() {
        if let Some(prefix) = token.get(..k)
            && out.ends_with(prefix)
        {
            out.truncate(out.len() - k);
            out.push_str(REDACTED);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl";

    #[test]
    fn removes_the_token_wherever_it_appears() {
        let body = format!("{{\"echo\":\"Bearer {TOKEN}\",\"again\":\"{TOKEN}\"}}");
        let e = excerpt(body.as_bytes(), TOKEN, MAX_EXCERPT_CHARS);
        assert!(!e.contains(TOKEN));
        assert!(!e.contains("c2lnbmF0dXJl"));
        assert!(e.contains("[redacted]"));
    }

    #[test]
    fn json_escaped_slashes_are_still_the_token() {
        let token = "abc/def/ghi";
        let e = excerpt(br#"{"t":"abc\/def\/ghi"}"#, token, MAX_EXCERPT_CHARS);
        assert_eq!(e, r#"{"t":"[redacted]"}"#);
    }

    #[test]
    fn control_characters_cannot_hide_the_token() {
        let split = format!("{}\u{0}{}", &TOKEN[..10], &TOKEN[10..]);
        let e = excerpt(split.as_bytes(), TOKEN, MAX_EXCERPT_CHARS);
        assert!(!e.contains(TOKEN));
    }

    #[test]
    fn a_token_cut_by_truncation_leaves_no_tail() {
        let body = format!("{}{TOKEN}", "x".repeat(MAX_EXCERPT_CHARS - 20));
        let e = excerpt(body.as_bytes(), TOKEN, MAX_EXCERPT_CHARS);
        assert!(!e.contains(&TOKEN[..8]), "{e}");
        assert!(e.ends_with("[redacted]"));
    }

    #[test]
    fn bounded_and_printable() {
        let body = format!("line1\nline2\r\n\u{1b}[31m{}", "y".repeat(10_000));
        let e = excerpt(body.as_bytes(), TOKEN, MAX_EXCERPT_CHARS);
        assert_eq!(e.chars().count(), MAX_EXCERPT_CHARS);
        assert!(!e.chars().any(char::is_control));
        assert!(e.starts_with("line1 line2"));
    }

    #[test]
    fn invalid_utf8_is_not_a_panic() {
        let e = excerpt(&[0xff, 0xfe, b'a', 0xc3], TOKEN, MAX_EXCERPT_CHARS);
        assert!(e.contains('a'));
    }
}
