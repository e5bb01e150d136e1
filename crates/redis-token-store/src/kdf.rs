//! HKDF-SHA256 (RFC 5869) for 32-byte keys.
//!
//! One block of output is two HMACs, written out here because HMAC cannot fail, where
//! aws-lc-rs's `hkdf` returns a `Result` for lengths no caller here asks for.

use aws_lc_rs::hmac;

/// The first 32 bytes of HKDF-SHA256's output for `ikm`, `salt` and `info`.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let prk = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, salt), ikm);
    let expand = hmac::Key::new(hmac::HMAC_SHA256, prk.as_ref());
    let mut ctx = hmac::Context::with_key(&expand);
    ctx.update(info);
    ctx.update(&[1]);
    let mut okm = [0u8; 32];
    okm.copy_from_slice(ctx.sign().as_ref());
    okm
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 5869 Appendix A.1 (test case 1): its 42 bytes begin with these 32.
    #[test]
    fn rfc5869_a1_test_case_1() {
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256(&salt, &[0x0b; 22], &info);
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }
}
