//! A cache entry as Redis holds it: sealed with AES-256-GCM under a key that only the
//! entry's own user and the fleet can make.
//!
//! Value: `version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! - Key: HKDF-SHA256 over the user's subject token, salted with the fleet secret,
//!   with a label of its own (the cache key hashes the same token under another), so
//!   reading all of Redis gives nothing without both.
//! - Nonce: random for each write. Two writes under one key are rare (one per token
//!   lifetime, a few more when a fleet lock is lost), far from GCM's 2³² bound.
//! - Associated data: the version and the Redis key, so that a value moved to another
//!   key does not open.
//!
//! The plaintext is the entry's fields, each length-prefixed (see [`encode`]), read
//! back only after the tag checked out.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth0_obo::{ExchangedToken, StoredToken, TokenType};
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::fleet_secret::FleetSecret;
use crate::kdf::hkdf_sha256;

/// The layout's version; a new layout gets a new one (and old entries become misses).
const VERSION: u8 = 1;

/// The derivation label of entry keys, distinct from the cache key's
/// (`auth0-obo/token-cache-key/v2`).
const AEAD_LABEL: &[u8] = b"obo-mcp/token-cache-aead/v1";

/// Why an entry could not be sealed (the system's random source failed).
#[derive(Debug)]
pub(crate) struct SealError;

/// Seals `entry`, stored under `redis_key`, for the user of `subject_token`.
pub(crate) fn seal(
    fleet: &FleetSecret,
    subject_token: &str,
    redis_key: &str,
    entry: &StoredToken,
) -> Result<Vec<u8>, SealError> {
    let key = entry_key(fleet, subject_token).ok_or(SealError)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SealError)?;
    let mut in_out = encode(entry);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(associated_data(redis_key)),
        &mut in_out,
    )
    .map_err(|_| SealError)?;
    let mut value = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
    value.push(VERSION);
    value.extend_from_slice(&nonce);
    value.extend_from_slice(&in_out);
    Ok(value)
}

/// The entry in `value`, if it opens with this user's key under this Redis key and
/// parses; `None` for anything else (another user's entry, a moved or altered value,
/// garbage, an unknown version).
pub(crate) fn open(
    fleet: &FleetSecret,
    subject_token: &str,
    redis_key: &str,
    value: &[u8],
) -> Option<StoredToken> {
    let (&version, rest) = value.split_first()?;
    if version != VERSION || rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, sealed) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let key = entry_key(fleet, subject_token)?;
    let mut in_out = sealed.to_vec();
    let plaintext = key
        .open_in_place(nonce, Aad::from(associated_data(redis_key)), &mut in_out)
        .ok()?;
    decode(plaintext)
}

fn entry_key(fleet: &FleetSecret, subject_token: &str) -> Option<LessSafeKey> {
    let key = hkdf_sha256(fleet.as_bytes(), subject_token.as_bytes(), AEAD_LABEL);
    UnboundKey::new(&AES_256_GCM, &key)
        .ok()
        .map(LessSafeKey::new)
}

fn associated_data(redis_key: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(1 + redis_key.len());
    aad.push(VERSION);
    aad.extend_from_slice(redis_key.as_bytes());
    aad
}

/// The plaintext: access token, token type (0 Bearer, 1 DPoP, 2 other + its text),
/// issued token type, scope (0 none, 1 + text), then `expires_in`, `expires_at` and
/// `usable_until` as seconds and nanoseconds (since the Unix epoch for instants).
/// Texts are a 4-byte big-endian length and UTF-8.
fn encode(entry: &StoredToken) -> Vec<u8> {
    let token = &entry.token;
    let mut out = Vec::with_capacity(256 + token.access_token.secret().len());
    put_text(&mut out, token.access_token.secret());
    match &token.token_type {
        TokenType::Bearer => out.push(0),
        TokenType::DPoP => out.push(1),
        TokenType::Other(other) => {
            out.push(2);
            put_text(&mut out, other);
        }
    }
    put_text(&mut out, &token.issued_token_type);
    match &token.scope {
        None => out.push(0),
        Some(scope) => {
            out.push(1);
            put_text(&mut out, scope);
        }
    }
    put_duration(&mut out, token.expires_in);
    put_duration(&mut out, since_epoch(token.expires_at));
    put_duration(&mut out, since_epoch(entry.usable_until));
    out
}

fn decode(bytes: &[u8]) -> Option<StoredToken> {
    let mut reader = Reader(bytes);
    let access_token = reader.text()?;
    let token_type = match reader.byte()? {
        0 => TokenType::Bearer,
        1 => TokenType::DPoP,
        2 => TokenType::Other(reader.text()?),
        _ => return None,
    };
    let issued_token_type = reader.text()?;
    let scope = match reader.byte()? {
        0 => None,
        1 => Some(reader.text()?),
        _ => return None,
    };
    let expires_in = reader.duration()?;
    let expires_at = UNIX_EPOCH.checked_add(reader.duration()?)?;
    let usable_until = UNIX_EPOCH.checked_add(reader.duration()?)?;
    if !reader.0.is_empty() {
        return None;
    }
    let token = ExchangedToken::new(
        access_token,
        token_type,
        issued_token_type,
        scope,
        expires_in,
    )
    .expiring_at(expires_at);
    Some(StoredToken::new(token, usable_until))
}

fn since_epoch(instant: SystemTime) -> Duration {
    instant.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

fn put_text(out: &mut Vec<u8>, text: &str) {
    // Texts here are tokens and scopes, far under 4 GiB; a longer one is cut to fit,
    // which makes the entry unreadable, never a wrong one.
    let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&text.as_bytes()[..len as usize]);
}

fn put_duration(out: &mut Vec<u8>, duration: Duration) {
    out.extend_from_slice(&duration.as_secs().to_be_bytes());
    out.extend_from_slice(&duration.subsec_nanos().to_be_bytes());
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_be_bytes)
    }

    fn text(&mut self) -> Option<String> {
        let len = usize::try_from(self.u32()?).ok()?;
        String::from_utf8(self.take(len)?.to_vec()).ok()
    }

    fn duration(&mut self) -> Option<Duration> {
        let secs = self.u64()?;
        let nanos = self.u32()?;
        (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet() -> FleetSecret {
        FleetSecret::from_base64("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").unwrap()
    }

    fn entry(token_type: TokenType, scope: Option<&str>) -> StoredToken {
        let token = ExchangedToken::new(
            "api-token",
            token_type,
            "urn:ietf:params:oauth:token-type:access_token",
            scope.map(str::to_owned),
            Duration::from_secs(3600),
        );
        let usable_until = token.expires_at - Duration::from_secs(60);
        StoredToken::new(token, usable_until)
    }

    #[test]
    fn every_field_round_trips() {
        for entry in [
            entry(TokenType::Bearer, None),
            entry(TokenType::DPoP, Some("read:private")),
            entry(TokenType::Other("MAC".into()), Some("")),
        ] {
            let value = seal(&fleet(), "subject", "p:k", &entry).unwrap();
            assert_eq!(open(&fleet(), "subject", "p:k", &value), Some(entry));
        }
    }

    #[test]
    fn opens_only_with_the_same_user_key_and_fleet() {
        let entry = entry(TokenType::Bearer, None);
        let value = seal(&fleet(), "subject", "p:k", &entry).unwrap();
        assert_eq!(open(&fleet(), "other subject", "p:k", &value), None);
        assert_eq!(open(&fleet(), "subject", "p:other", &value), None);
        let other_fleet = FleetSecret::from_base64(&"B".repeat(44)).unwrap();
        assert_eq!(open(&other_fleet, "subject", "p:k", &value), None);
        for i in 0..value.len() {
            let mut altered = value.clone();
            altered[i] ^= 1;
            assert_eq!(open(&fleet(), "subject", "p:k", &altered), None, "byte {i}");
        }
        for len in 0..value.len() {
            assert_eq!(open(&fleet(), "subject", "p:k", &value[..len]), None);
        }
    }

    #[test]
    fn a_fresh_nonce_for_each_write() {
        let entry = entry(TokenType::Bearer, None);
        let one = seal(&fleet(), "subject", "p:k", &entry).unwrap();
        let two = seal(&fleet(), "subject", "p:k", &entry).unwrap();
        assert_ne!(one[1..1 + NONCE_LEN], two[1..1 + NONCE_LEN]);
    }

    #[test]
    fn decode_refuses_truncated_or_trailing_plaintext() {
        let plain = encode(&entry(TokenType::Bearer, Some("a")));
        assert!(decode(&plain).is_some());
        for len in 0..plain.len() {
            assert!(decode(&plain[..len]).is_none(), "{len}");
        }
        let mut longer = plain.clone();
        longer.push(0);
        assert!(decode(&longer).is_none());
    }

    #[test]
    fn decode_refuses_nanoseconds_of_a_whole_second() {
        let mut plain = encode(&entry(TokenType::Bearer, None));
        let last = plain.len() - 4;
        plain[last..].copy_from_slice(&999_999_999u32.to_be_bytes());
        assert!(decode(&plain).is_some());
        plain[last..].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert!(decode(&plain).is_none(), "not a normalised duration");
    }
}
