//! Just enough of RFC 7235 / RFC 6750 §3 to read a `Bearer` challenge's parameters.
//!
//! This crate knows nothing of our other crates (so not jwt-verify's challenge type);
//! it only needs `error` and `scope`, and must never panic on a hostile header.

/// The parameters of the first `Bearer` challenge in a `WWW-Authenticate` value.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct BearerChallenge {
    pub(crate) error: Option<String>,
    pub(crate) scope: Option<String>,
}

/// Finds the first `Bearer` challenge among the header values, if any.
pub(crate) fn find_bearer<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Option<BearerChallenge> {
    values.into_iter().find_map(parse_bearer)
}

/// Parses one header value, which may hold several comma-separated challenges.
/// Returns the parameters of the first `Bearer` one; parsing stops quietly at the
/// first syntax error, keeping what was read so far.
pub(crate) fn parse_bearer(value: &str) -> Option<BearerChallenge> {
    let mut p = Parser {
        s: value.as_bytes(),
        i: 0,
    };
    let mut in_bearer = false;
    let mut found: Option<BearerChallenge> = None;
    loop {
        p.skip_ws_and_commas();
        if p.at_end() {
            break;
        }
        let Some(name) = p.token() else { break };
        p.skip_ws();
        if p.eat(b'=') {
            p.skip_ws();
            let Some(value) = p.param_value() else { break };
            if in_bearer && let Some(ch) = found.as_mut() {
                // RFC 7235 §2.1: parameter names are case-insensitive; first one wins.
                if name.eq_ignore_ascii_case("error") && ch.error.is_none() {
                    ch.error = Some(value);
                } else if name.eq_ignore_ascii_case("scope") && ch.scope.is_none() {
                    ch.scope = Some(value);
                }
            }
        } else {
            // A bare token starts a new challenge: `scheme [params]`.
            if found.is_some() {
                break; // the Bearer challenge has ended
            }
            in_bearer = name.eq_ignore_ascii_case("bearer");
            if in_bearer {
                found = Some(BearerChallenge::default());
            }
        }
    }
    found
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }

    fn skip_ws_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// RFC 7230 `token`: one or more `tchar`.
    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        let bytes = self.s.get(start..self.i)?;
        if bytes.is_empty() {
            return None;
        }
        // tchar is ASCII, so this cannot fail; stay total anyway.
        std::str::from_utf8(bytes).ok().map(str::to_owned)
    }

    /// `token / quoted-string`, with `\` escapes undone in the quoted form.
    fn param_value(&mut self) -> Option<String> {
        if !self.eat(b'"') {
            // A token68 parameter (`name=abc==`) is not ours to read; an empty
            // unquoted value is kept as empty.
            let value = self.token().unwrap_or_default();
            while self.eat(b'=') {}
            return Some(value);
        }
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.i += 1;
                    out.push(self.peek()?);
                    self.i += 1;
                }
                b => {
                    out.push(b);
                    self.i += 1;
                }
            }
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(v: &str) -> Option<String> {
        parse_bearer(v).and_then(|c| c.scope)
    }

    #[test]
    fn rfc6750_section_3_insufficient_scope() {
        let c = parse_bearer(
            r#"Bearer error="insufficient_scope", scope="read:private", error_description="needs read:private""#,
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("read:private"));
    }

    #[test]
    fn quoted_string_escapes_are_undone() {
        assert_eq!(
            scope(r#"Bearer scope="a \"b\" c\\d""#).as_deref(),
            Some(r#"a "b" c\d"#)
        );
    }

    #[test]
    fn scheme_and_param_names_are_case_insensitive() {
        assert_eq!(scope(r#"bEaReR SCOPE="x y""#).as_deref(), Some("x y"));
    }

    #[test]
    fn token_values_and_whitespace() {
        let c = parse_bearer("Bearer  error = insufficient_scope ,scope=read").unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(c.scope.as_deref(), Some("read"));
    }

    #[test]
    fn finds_bearer_among_other_challenges() {
        assert_eq!(
            scope(r#"Negotiate abc==, Bearer scope="s""#).as_deref(),
            Some("s")
        );
        let v = r#"Basic realm="x", scope="not-this", Bearer realm="api", scope="a b", DPoP algs="ES256", scope="nor-this""#;
        assert_eq!(scope(v).as_deref(), Some("a b"));
        assert_eq!(
            find_bearer([r#"Basic realm="x""#, r#"Bearer scope="s""#])
                .unwrap()
                .scope
                .as_deref(),
            Some("s")
        );
    }

    #[test]
    fn no_bearer_or_garbage_is_not_a_panic() {
        assert_eq!(parse_bearer(r#"Basic realm="x""#), None);
        assert_eq!(parse_bearer(""), None);
        for v in [
            "Bearer scope=\"unterminated",
            "Bearer scope=\"\\",
            "Bearer =",
            "Bearer ,,,, ===",
            "Bearer scope=\"\u{e9}\"",
            "\u{0}\u{ff}Bearer",
            "Negotiate abc==, Bearer scope=\"s\"",
        ] {
            let _ = parse_bearer(v);
        }
        assert_eq!(scope("Bearer scope=\"\u{e9}\"").as_deref(), Some("\u{e9}"));
    }
}
