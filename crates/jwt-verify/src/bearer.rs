//! Reading a bearer token from an `Authorization` header (RFC 6750 §2.1).

use crate::error_code::BearerErrorCode;

/// Why an `Authorization` header value did not yield a bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BearerError {
    /// The request has no `Authorization` header at all.
    #[error("the request has no Authorization header")]
    Missing,
    /// The request has more than one `Authorization` header: ambiguous, so neither
    /// is used.
    #[error("the request has more than one Authorization header")]
    Repeated,
    /// The header value holds bytes outside visible ASCII, space and tab (RFC 9110
    /// §5.5 obs-text, or bytes that are not UTF-8): it cannot hold a `b64token`.
    #[error("the Authorization header holds bytes outside visible ASCII")]
    NotVisibleAscii,
    /// The header value is empty or blank.
    #[error("the Authorization header is empty")]
    Empty,
    /// Another scheme (`Basic`, `DPoP`...) was used.
    #[error("the Authorization scheme is not Bearer")]
    NotBearer,
    /// `Bearer` with nothing after it.
    #[error("the Bearer credentials contain no token")]
    MissingToken,
    /// What follows `Bearer ` is more than one token (it holds a space or a tab).
    #[error("the Bearer credentials are not a single b64token")]
    InvalidToken,
    /// What follows `Bearer ` is one token, but with characters outside RFC 6750's
    /// `b64token` (or an `=` before its end).
    #[error("the bearer token holds characters outside RFC 6750's b64token")]
    NotB64Token,
}

impl BearerError {
    /// The RFC 6750 error code for the challenge.
    ///
    /// A request without the header, or using another authentication scheme, has no
    /// credentials, so the challenge carries no error code (RFC 6750 §3.1); every
    /// malformed header is `invalid_request`.
    pub fn error_code(&self) -> Option<BearerErrorCode> {
        match self {
            Self::Missing | Self::NotBearer => None,
            Self::Repeated
            | Self::NotVisibleAscii
            | Self::Empty
            | Self::MissingToken
            | Self::InvalidToken
            | Self::NotB64Token => Some(BearerErrorCode::InvalidRequest),
        }
    }

    /// A description safe to send to the client.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Missing => "an access token is required",
            Self::Repeated => "send exactly one Authorization header",
            Self::NotVisibleAscii => "the Authorization header is not visible ASCII",
            Self::Empty => "The Authorization header is empty",
            Self::NotBearer => "Use the Bearer authentication scheme",
            Self::MissingToken => "The Authorization header has no bearer token",
            Self::InvalidToken => "The Authorization header must hold exactly one bearer token",
            Self::NotB64Token => {
                "The bearer token holds characters outside RFC 6750's b64token (letters, digits, - . _ ~ + / and trailing =)"
            }
        }
    }
}

/// Extracts the token from an `Authorization` header value.
///
/// The scheme is matched case-insensitively (RFC 9110 §11.1) and must be followed by
/// spaces and exactly one `b64token` (`1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" /
/// "/" ) *"="`). Anything else is refused rather than guessed at: two tokens (or a tab)
/// as [`BearerError::InvalidToken`], one token with other characters, such as a comma
/// or `!`, as [`BearerError::NotB64Token`], so the description says which is wrong.
///
/// ```
/// use oauth_jwt_verify::bearer::{parse_authorization, BearerError};
/// assert_eq!(parse_authorization("Bearer abc.def-_.x~+/=="), Ok("abc.def-_.x~+/=="));
/// assert_eq!(parse_authorization("bearer abc"), Ok("abc"));
/// assert_eq!(parse_authorization("Bearer a b"), Err(BearerError::InvalidToken));
/// assert_eq!(parse_authorization("Bearer !!!.x.y"), Err(BearerError::NotB64Token));
/// assert_eq!(parse_authorization("Basic dXNlcjpwYXNz"), Err(BearerError::NotBearer));
/// ```
pub fn parse_authorization(value: &str) -> Result<&str, BearerError> {
    let value = value.trim_matches([' ', '\t']);
    if value.is_empty() {
        return Err(BearerError::Empty);
    }
    let (scheme, rest) = value.split_at(value.find([' ', '\t']).unwrap_or(value.len()));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(BearerError::MissingToken);
    }
    // One table lookup per byte on the path every request takes; the slower scans
    // below run only for a value that is refused anyway.
    if !token.bytes().all(|b| B64TOKEN_OR_PAD[usize::from(b)]) {
        if token.contains([' ', '\t']) {
            return Err(BearerError::InvalidToken);
        }
        return Err(BearerError::NotB64Token);
    }
    let body = token.trim_end_matches('=');
    if body.is_empty() || body.contains('=') {
        return Err(BearerError::NotB64Token);
    }
    Ok(token)
}

/// Extracts the token from a request's `Authorization` header values, as a server
/// receives them (with the `http` crate: `headers.get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes)`).
///
/// No header is [`BearerError::Missing`]; two or more are [`BearerError::Repeated`],
/// because picking one would let whatever sits between client and server choose; a
/// value that is not visible ASCII is [`BearerError::NotVisibleAscii`]. One visible
/// value is read by [`parse_authorization`]. Every server built on this crate thus
/// refuses the same header the same way.
///
/// ```
/// use oauth_jwt_verify::bearer::{parse_authorization_headers, BearerError};
/// let one: [&[u8]; 1] = [b"Bearer abc"];
/// assert_eq!(parse_authorization_headers(one), Ok("abc"));
/// assert_eq!(parse_authorization_headers([]), Err(BearerError::Missing));
/// let two: [&[u8]; 2] = [b"Bearer abc", b"Bearer abc"];
/// assert_eq!(parse_authorization_headers(two), Err(BearerError::Repeated));
/// let latin1: [&[u8]; 1] = [b"Bearer \xe9"];
/// assert_eq!(parse_authorization_headers(latin1), Err(BearerError::NotVisibleAscii));
/// ```
pub fn parse_authorization_headers<'a, I>(values: I) -> Result<&'a str, BearerError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut values = values.into_iter();
    let Some(value) = values.next() else {
        return Err(BearerError::Missing);
    };
    if values.next().is_some() {
        return Err(BearerError::Repeated);
    }
    // Controls other than tab cannot reach here through an HTTP parser; anything
    // else outside b64token is refused by parse_authorization, which says why.
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|value| value.is_ascii())
        .ok_or(BearerError::NotVisibleAscii)?;
    parse_authorization(value)
}

/// The bytes of a `b64token`, and its trailing `=`.
const B64TOKEN_OR_PAD: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=');
        byte += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The description goes to the client in the challenge: each says what is wrong.
    #[test]
    fn each_refusal_describes_its_own_cause() {
        let described = |value: &str| parse_authorization(value).unwrap_err().description();
        assert!(described("").contains("empty"));
        assert!(described("Basic dXNlcjpwYXNz").contains("Bearer"));
        assert!(described("Bearer").contains("no bearer token"));
        assert!(described("Bearer a b").contains("exactly one bearer token"));
        assert_eq!(
            described("Bearer !!!.x.y"),
            "The bearer token holds characters outside RFC 6750's b64token (letters, digits, - . _ ~ + / and trailing =)"
        );
    }

    #[test]
    fn rfc6750_2_1_accepts_one_b64token_any_scheme_case() {
        assert_eq!(parse_authorization("Bearer abc"), Ok("abc"));
        assert_eq!(parse_authorization("BEARER abc"), Ok("abc"));
        assert_eq!(parse_authorization("  Bearer   abc  "), Ok("abc"));
        assert_eq!(parse_authorization("Bearer a=="), Ok("a=="));
    }

    #[test]
    fn rfc6750_2_1_refuses_everything_else() {
        assert_eq!(parse_authorization(""), Err(BearerError::Empty));
        assert_eq!(parse_authorization("   "), Err(BearerError::Empty));
        assert_eq!(
            parse_authorization("Bearer"),
            Err(BearerError::MissingToken)
        );
        assert_eq!(
            parse_authorization("Bearer   "),
            Err(BearerError::MissingToken)
        );
        assert_eq!(
            parse_authorization("Bearer a b"),
            Err(BearerError::InvalidToken)
        );
        assert_eq!(
            parse_authorization("Bearer a,b"),
            Err(BearerError::NotB64Token)
        );
        assert_eq!(
            parse_authorization("Bearer =="),
            Err(BearerError::NotB64Token)
        );
        assert_eq!(
            parse_authorization("Bearer a=b"),
            Err(BearerError::NotB64Token)
        );
        assert_eq!(
            parse_authorization("Bearer !!!.x.y"),
            Err(BearerError::NotB64Token)
        );
        assert_eq!(
            parse_authorization("Bearer\tabc"),
            Err(BearerError::InvalidToken)
        );
        assert_eq!(
            parse_authorization("Bearer é"),
            Err(BearerError::NotB64Token)
        );
        assert_eq!(
            parse_authorization("Bearerabc"),
            Err(BearerError::NotBearer)
        );
        assert_eq!(
            parse_authorization("Basic abc"),
            Err(BearerError::NotBearer)
        );
    }

    #[test]
    fn rfc6750_2_1_one_header_of_visible_ascii() {
        let values = |values: &[&'static str]| {
            parse_authorization_headers(values.iter().copied().map(str::as_bytes))
        };
        assert_eq!(values(&["Bearer abc"]), Ok("abc"));
        assert_eq!(values(&[]), Err(BearerError::Missing));
        assert_eq!(
            values(&["Bearer a", "Bearer b"]),
            Err(BearerError::Repeated)
        );
        assert_eq!(values(&["Bearer a", ""]), Err(BearerError::Repeated));
        assert_eq!(values(&["Bearer é"]), Err(BearerError::NotVisibleAscii));
        assert_eq!(values(&["Bearer a,b"]), Err(BearerError::NotB64Token));
        assert_eq!(values(&["Basic abc"]), Err(BearerError::NotBearer));
        assert_eq!(
            parse_authorization_headers([&b"Bearer \xff"[..]]),
            Err(BearerError::NotVisibleAscii)
        );
    }

    #[test]
    fn rfc6750_3_1_other_schemes_get_no_error_code() {
        assert_eq!(BearerError::Missing.error_code(), None);
        assert_eq!(
            BearerError::Repeated.error_code(),
            Some(BearerErrorCode::InvalidRequest)
        );
        assert_eq!(BearerError::NotBearer.error_code(), None);
        assert_eq!(
            BearerError::InvalidToken.error_code(),
            Some(BearerErrorCode::InvalidRequest)
        );
        assert_eq!(
            BearerError::NotB64Token.error_code(),
            Some(BearerErrorCode::InvalidRequest)
        );
    }
}
