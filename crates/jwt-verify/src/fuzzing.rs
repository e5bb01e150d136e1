//! Entry points for the fuzz targets in `fuzz/`: the parsers that read foreign bytes
//! before a signature has been checked or a claim typed. Not a stable API; hidden from
//! the docs.

use crate::claims::{parse_object, principal_from_claims};
use crate::error::VerifyError;
use crate::header;
use crate::options::Algorithm;
use crate::principal::Principal;

/// Every algorithm this crate can verify, as a verifier configured for all of them
/// accepts.
pub const ALL_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256];

/// Reads the JOSE header of a compact JWS, as [`JwksVerifier::verify`](crate::JwksVerifier::verify)
/// does before choosing a key: the accepted algorithm and the `kid`.
pub fn jose_header(token: &str) -> Result<(Algorithm, Option<String>), VerifyError> {
    header::parse(token, &ALL_ALGORITHMS).map(|header| (header.alg, header.kid))
}

/// Reads a claims object (the JWS payload after base64url decoding) into a
/// [`Principal`], as the verifier does once the signature and the registered claims
/// have been checked: strict JSON (no duplicate members), then the typed claims.
pub fn claims(
    payload: &[u8],
    issuer: &str,
    required: &[String],
    token: &str,
) -> Result<Principal, VerifyError> {
    let claims = parse_object(payload)
        .map_err(|_| VerifyError::Malformed("claims are not a JSON object with unique members"))?;
    principal_from_claims(claims, issuer, required, token)
}
