//! The error codes of RFC 6750 §3.1, which a resource server sends in its challenge.

use std::fmt;

/// An RFC 6750 §3.1 error code for the `error` parameter of a `Bearer` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BearerErrorCode {
    /// `invalid_request`: the request is malformed (HTTP 400).
    InvalidRequest,
    /// `invalid_token`: the token is expired, malformed or otherwise invalid (HTTP 401).
    InvalidToken,
    /// `insufficient_scope`: the token lacks a scope the request needs (HTTP 403).
    InsufficientScope,
}

impl BearerErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
        }
    }

    /// The HTTP status RFC 6750 §3.1 pairs with the code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::InvalidToken => 401,
            Self::InsufficientScope => 403,
        }
    }

    /// Parses a wire code; unknown codes are `None` (a client must tolerate them).
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "invalid_request" => Some(Self::InvalidRequest),
            "invalid_token" => Some(Self::InvalidToken),
            "insufficient_scope" => Some(Self::InsufficientScope),
            _ => None,
        }
    }
}

impl fmt::Display for BearerErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
