//! The JOSE header of a JWS, read before any key is chosen
//! (`jwt_verify::fuzzing::jose_header`).
//!
//! The input is the header's JSON; the harness base64url-encodes it and adds a payload
//! and a signature segment, so the fuzzer spends its time on the JSON and the `alg`,
//! `kid` and `crit` logic rather than on inventing base64. When the input is itself
//! text, it is also tried as a whole compact token, for the shape checks.
//!
//! Checks: no panic; an accepted header has a string `alg` naming an algorithm this
//! crate supports, its `kid` (if any) is the header's string `kid`, it has no `crit`;
//! error messages are short and fixed (no header text is echoed).

#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_verify::fuzzing::jose_header;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let token = format!(
        "{}.eyJzdWIiOiJmdXp6In0.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(data)
    );
    match jose_header(&token) {
        Ok((alg, kid)) => {
            let header: serde_json::Map<String, Value> =
                serde_json::from_slice(data).expect("an accepted header is a JSON object");
            assert_eq!(
                header.get("alg").and_then(Value::as_str),
                Some(alg.as_str())
            );
            assert_eq!(kid.as_deref(), header.get("kid").and_then(Value::as_str));
            assert!(!header.contains_key("crit"));
        }
        Err(error) => assert!(error.to_string().len() < 160, "{error}"),
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(error) = jose_header(text) {
            assert!(error.to_string().len() < 160, "{error}");
        }
    }
});
