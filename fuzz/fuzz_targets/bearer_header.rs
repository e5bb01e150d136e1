//! `Authorization` header values, as any client can send them, through
//! `jwt_verify::bearer::parse_authorization`.
//!
//! Checks: no panic; a token is only ever returned when it is exactly one RFC 6750
//! `b64token` that ends the header value after a case-insensitive `Bearer`; and
//! `Bearer <that token>` parses back to it.

#![no_main]

use jwt_verify::bearer::parse_authorization;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A header value that is not UTF-8 is refused by `HeaderValue::to_str` before it
    // reaches the parser; try the lossy form too so such bytes still exercise it.
    let lossy = String::from_utf8_lossy(data);
    check(&lossy);
});

fn check(value: &str) {
    match parse_authorization(value) {
        Ok(token) => {
            assert!(!token.is_empty());
            let body = token.trim_end_matches('=');
            assert!(
                !body.is_empty(),
                "a b64token has at least one character before padding"
            );
            assert!(
                body.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)),
                "not a b64token: {token:?}"
            );
            let trimmed = value.trim_matches([' ', '\t']);
            assert!(trimmed.ends_with(token));
            assert!(
                trimmed
                    .get(..6)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("bearer"))
            );
            assert_eq!(parse_authorization(&format!("Bearer {token}")), Ok(token));
        }
        Err(error) => {
            // Every refusal has a fixed, client-safe description.
            assert!(!error.description().is_empty());
            let _ = error.error_code();
        }
    }
}
