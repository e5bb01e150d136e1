//! Why a token was refused, why a verifier could not be built, and why keys could not
//! be fetched.
//!
//! Every message here is safe to log: none contains the token or any part of it. Values
//! that come from the token itself (an `alg` name, a claim name) are only shown when
//! they are one of a fixed set of names this crate knows.

use std::borrow::Cow;
use std::sync::Arc;

use crate::error_code::BearerErrorCode;

/// Why [`JwksVerifier::verify`](crate::JwksVerifier::verify) refused a token.
///
/// Each variant knows its RFC 6750 error code ([`VerifyError::error_code`]), a
/// description a client may see ([`VerifyError::description`]) and a low-cardinality
/// label for metrics ([`VerifyError::kind`]).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is the empty string.
    #[error("the access token is empty")]
    Empty,
    /// The token is longer than the configured limit; it was not parsed at all.
    #[error("the access token is longer than {limit} bytes")]
    TooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The token is not a well-formed JWS compact serialisation with JSON header and
    /// claims objects.
    #[error("the access token is malformed: {0}")]
    Malformed(&'static str),
    /// The header's `alg` is not one this verifier accepts (`none` and HMAC never are).
    #[error("the signing algorithm {alg} is not accepted")]
    UnsupportedAlgorithm {
        /// The header's `alg` if it is a registered JOSE name, else `"unrecognised"`.
        alg: &'static str,
    },
    /// No key in the issuer's JWKS has the token's `kid`, even after a refetch.
    #[error("no signing key of the issuer matches the token's key id")]
    UnknownKey,
    /// The key named by `kid` cannot produce the header's `alg` (wrong `kty`, or the
    /// JWK pins another `alg`).
    #[error("the token's algorithm does not match the key it names")]
    KeyMismatch,
    /// The signature does not verify under the issuer's key.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// `exp` is in the past, beyond the leeway.
    #[error("the access token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// `iss` is not exactly the configured issuer. Also answered, before any
    /// signature check, for a token whose `kid` is unknown and whose unverified `iss`
    /// names another issuer: a token from another tenant.
    #[error("the access token was issued by another issuer")]
    WrongIssuer {
        /// The token's `iss`, as [`echo_claim`] makes it safe to show.
        found: String,
        /// The issuer this verifier expects.
        expected: String,
    },
    /// `aud` does not contain the configured audience (and is not only the
    /// issuer's userinfo endpoint: that is [`VerifyError::UserinfoAudience`]).
    #[error("the access token is not intended for this audience")]
    WrongAudience {
        /// The token's `aud` values, each as [`echo_claim`] makes it safe to show,
        /// separated by spaces.
        found: String,
        /// The audience this verifier expects.
        expected: String,
    },
    /// The token is not a JWS at all (not three base64url segments with a JSON
    /// header), or is an Auth0 opaque token (a five-segment JWE with `alg: dir`): the
    /// client got no API audience.
    #[error("the access token is opaque, not a JWT")]
    Opaque,
    /// The token is a JWE (five segments): the API has token encryption on.
    #[error("the access token is encrypted (a JWE)")]
    Encrypted,
    /// A JWT whose only audience is the issuer's `userinfo` endpoint: the client got
    /// no API audience.
    #[error("the access token's only audience is the issuer's userinfo endpoint")]
    UserinfoAudience,
    /// A required claim is absent.
    #[error("the access token lacks the required claim {0}")]
    MissingClaim(Cow<'static, str>),
    /// A claim is present with the wrong type or an empty value.
    #[error("the access token's claim {0} is invalid")]
    InvalidClaim(Cow<'static, str>),
    /// Neither `client_id` nor `azp` names the client the token was issued to.
    #[error("the access token names no client (client_id or azp)")]
    MissingClientId,
    /// The RFC 8693 `act` claim is malformed or nested too deeply.
    #[error("the access token's act claim is invalid: {0}")]
    InvalidActor(&'static str),
    /// No keys could be obtained from the issuer: a server-side failure, not the
    /// client's fault.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable(#[source] JwksError),
}

impl VerifyError {
    /// The RFC 6750 error code for the challenge, or `None` when the failure is on the
    /// server's side (answer 5xx/503, not 401).
    pub fn error_code(&self) -> Option<BearerErrorCode> {
        match self {
            Self::Empty => Some(BearerErrorCode::InvalidRequest),
            Self::KeysUnavailable(_) => None,
            _ => Some(BearerErrorCode::InvalidToken),
        }
    }

    /// A short sentence that may be sent to the client as `error_description`. It never
    /// contains any part of the token and uses only characters RFC 6750 allows there.
    pub fn description(&self) -> Cow<'static, str> {
        let text = match self {
            Self::Empty => "The access token is empty",
            Self::TooLarge { .. } => "The access token is too large",
            Self::Malformed(_) => "The access token is malformed",
            Self::UnsupportedAlgorithm { .. } => {
                "The access token is signed with an algorithm that is not accepted"
            }
            Self::UnknownKey => "The access token is signed with an unknown key",
            Self::KeyMismatch => "The access token's algorithm does not match its key",
            Self::BadSignature => "The access token's signature is invalid",
            Self::Expired => "The access token expired",
            Self::NotYetValid => "The access token is not valid yet",
            Self::WrongIssuer { found, expected } => {
                return Cow::Owned(format!(
                    "The access token was issued by {found} but this server expects tokens issued by {expected}"
                ));
            }
            Self::WrongAudience { found, expected } => {
                return Cow::Owned(format!(
                    "The access token is for the audience {found} but this server expects the audience {expected}: the client must ask for a token for this API"
                ));
            }
            Self::Opaque => {
                "The access token is opaque, not a JWT: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience"
            }
            Self::Encrypted => {
                "The access token is encrypted (a JWE): turn off token encryption for this API in the tenant"
            }
            Self::UserinfoAudience => {
                "The access token's only audience is the tenant's userinfo endpoint: the client got no API audience. Enable the tenant's Resource Parameter Compatibility Profile, or have the client send audience"
            }
            Self::MissingClaim(name) => {
                return Cow::Owned(format!("The access token lacks the required claim {name}"));
            }
            Self::InvalidClaim(name) => {
                return Cow::Owned(format!("The access token's claim {name} is invalid"));
            }
            Self::MissingClientId => "The access token names no client",
            Self::InvalidActor(_) => "The access token's act claim is invalid",
            Self::KeysUnavailable(_) => {
                "The authorization server's signing keys are unavailable; try again later"
            }
        };
        Cow::Borrowed(text)
    }

    /// A stable, low-cardinality label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLarge { .. } => "too_large",
            Self::Malformed(_) => "malformed",
            Self::UnsupportedAlgorithm { .. } => "unsupported_alg",
            Self::UnknownKey => "unknown_kid",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::WrongIssuer { .. } => "wrong_issuer",
            Self::WrongAudience { .. } => "wrong_audience",
            Self::Opaque => "opaque_token",
            Self::Encrypted => "encrypted_token",
            Self::UserinfoAudience => "userinfo_audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "invalid_claim",
            Self::MissingClientId => "missing_client_id",
            Self::InvalidActor(_) => "invalid_act",
            Self::KeysUnavailable(_) => "jwks_unavailable",
        }
    }
}

/// The longest claim value [`echo_claim`] keeps, in characters.
pub const MAX_ECHOED_CLAIM_CHARS: usize = 200;

/// A claim value (an `iss` or one `aud`) made safe to put in an `error_description`
/// and a log line: only the characters RFC 6750 §3 allows there (printable ASCII but
/// `"` and `\`), at most [`MAX_ECHOED_CLAIM_CHARS`] of them, `...` marking a cut.
/// An empty result reads `(empty)`.
pub fn echo_claim(value: &str) -> String {
    let mut allowed = value
        .chars()
        .filter(|c| matches!(c, ' '..='~') && *c != '"' && *c != '\\');
    let mut text: String = allowed.by_ref().take(MAX_ECHOED_CLAIM_CHARS).collect();
    if allowed.next().is_some() {
        text.push_str("...");
    }
    let text = text.trim();
    if text.is_empty() {
        "(empty)".to_owned()
    } else {
        text.to_owned()
    }
}

/// Why a verifier (or a JWKS source) could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The issuer is not a usable URL or domain.
    #[error("invalid issuer {issuer:?}: {reason}")]
    InvalidIssuer {
        /// The issuer as configured.
        issuer: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The expected audience is empty.
    #[error("the audience must not be empty")]
    EmptyAudience,
    /// An option is out of its allowed range.
    #[error("invalid verifier option: {0}")]
    InvalidOption(&'static str),
    /// The explicit JWKS URL is not usable.
    #[error("invalid JWKS URL {url:?}: {reason}")]
    InvalidJwksUrl {
        /// The URL as configured.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be built (e.g. no TLS roots).
    #[error("cannot build the HTTP client for JWKS fetches")]
    HttpClient(#[source] reqwest::Error),
}

/// Why a JWKS fetch failed. These are the server's problems, never the client's.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    /// The endpoint answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL fetched, without its query and fragment.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The request failed: connection, TLS, timeout. The text is
    /// [`describe_reqwest_error`]'s: no URL, no query.
    #[error("request to the JWKS endpoint failed: {0}")]
    Transport(String),
    /// The response body exceeded the configured limit.
    #[error("the response is larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The response is not the JSON document it should be.
    #[error("the response is not a valid document: {0}")]
    InvalidDocument(&'static str),
    /// OIDC discovery failed (no `jwks_uri`, or the document names another issuer).
    #[error("OIDC discovery failed: {0}")]
    Discovery(&'static str),
    /// The JWKS holds no key this crate can use.
    #[error("the JWKS contains no usable signing key")]
    NoUsableKeys,
    /// A custom [`JwksSource`](crate::JwksSource) failed.
    #[error("the JWKS source failed")]
    Source(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

/// Describes a failed HTTP request in words safe to log and to show: what failed
/// (connecting, timing out, reading the answer…) and the chain of causes under it.
///
/// reqwest's own `Display` names the request URL, query included, and a query can
/// carry secrets (an API key, a signed link). This description leaves the URL out
/// (the caller knows which endpoint it called and says so), cuts the query and
/// fragment from any URL a cause mentions, drops control characters and stays under
/// 300 characters. A reqwest error never holds headers or bodies, so no token can
/// appear in it.
///
/// ```no_run
/// # async fn run() {
/// let error = reqwest::get("http://127.0.0.1:9/keys?secret=s3cr3t").await.unwrap_err();
/// let text = oauth_jwt_verify::describe_reqwest_error(&error);
/// assert!(text.starts_with("connection failed"));
/// assert!(!text.contains("s3cr3t"));
/// # }
/// ```
pub fn describe_reqwest_error(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_redirect() {
        "following a redirect failed"
    } else if error.is_body() || error.is_decode() {
        "reading the response failed"
    } else if error.is_builder() {
        "building the request failed"
    } else {
        "sending the request failed"
    };
    let mut text = what.to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&strip_url_queries(&cause.to_string()));
        source = cause.source();
    }
    text.chars()
        .filter(|c| !c.is_control())
        .take(MAX_DESCRIPTION_CHARS)
        .collect()
}

/// The longest [`describe_reqwest_error`] text, in characters.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// `url` as text without its query and fragment, for errors and logs.
pub(crate) fn url_without_query(url: &url::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.into()
}

/// Cuts `?…` and `#…` from every URL-looking word of `text`.
fn strip_url_queries(text: &str) -> String {
    text.split(' ')
        .map(|word| match word.find("://") {
            Some(scheme_end) => word[scheme_end..]
                .find(['?', '#'])
                .map_or(word, |cut| &word[..scheme_end + cut]),
            None => word,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_queries_and_fragments_are_cut_from_every_word() {
        assert_eq!(
            strip_url_queries("error for (https://x/y?token=abc) and http://z/#frag?x plain?text"),
            "error for (https://x/y and http://z/ plain?text"
        );
        let url = url::Url::parse("https://x.example/jwks?sig=s3cr3t#k").unwrap();
        assert_eq!(url_without_query(&url), "https://x.example/jwks");
    }

    /// A real failure, to a port nothing listens on, against a URL with a secret in
    /// its query: reqwest's own `Display` shows it, the description does not.
    #[tokio::test]
    async fn a_refused_connection_is_described_without_the_url_or_its_query() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/jwks?secret=s3cr3t#frag");
        let error = reqwest::get(&url).await.unwrap_err();
        assert!(error.to_string().contains("s3cr3t"), "the hazard is real");
        let text = describe_reqwest_error(&error);
        assert!(text.starts_with("connection failed: "), "{text}");
        assert!(
            !text.contains("s3cr3t") && !text.contains("secret"),
            "{text}"
        );
        assert!(!text.contains("/jwks"), "{text}");
    }
}
