//! Minting Auth0-like access tokens, and forging bad ones, for tests and benchmarks.
//!
//! ```
//! use mock_tenant::keys::TestKey;
//! use mock_tenant::token::TokenBuilder;
//!
//! let key = TestKey::rsa("key-1");
//! let token = TokenBuilder::new("https://tenant.example/", "https://mcp.example/")
//!     .sub("auth0|alice")
//!     .scope("tool:greet")
//!     .permissions(["read:private"])
//!     .act(["mcp-client-id"])
//!     .sign(&key);
//! assert_eq!(token.split('.').count(), 3);
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::keys::TestKey;

/// The `sub` a [`TokenBuilder`] uses unless told otherwise.
pub const DEFAULT_SUB: &str = "auth0|user-123";
/// The client id (`azp`) a [`TokenBuilder`] uses unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "test-client-id";

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Builds the claims of an access token as Auth0 issues them, then signs them.
///
/// Defaults: `iss`, `aud` (a string), `sub` = [`DEFAULT_SUB`], `azp` =
/// [`DEFAULT_CLIENT_ID`], `iat` = now, `exp` = now + 1 h; no `scope` until set.
/// Every setter replaces; [`TokenBuilder::without`] removes a claim so tests can
/// check what happens when it is missing.
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    claims: Map<String, Value>,
    header: Map<String, Value>,
}

impl TokenBuilder {
    /// A valid token for `issuer` (e.g. `https://tenant.auth0.com/`) and `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let now = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer.into()));
        claims.insert("sub".into(), json!(DEFAULT_SUB));
        claims.insert("aud".into(), json!(audience.into()));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 3600));
        claims.insert("azp".into(), json!(DEFAULT_CLIENT_ID));
        Self {
            claims,
            header: Map::new(),
        }
    }

    /// Sets `sub`.
    #[allow(clippy::should_implement_trait)] // `sub` is the JWT claim, not subtraction.
    pub fn sub(self, sub: impl Into<String>) -> Self {
        self.claim("sub", sub.into())
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: impl Into<String>) -> Self {
        self.claim("iss", issuer.into())
    }

    /// Sets `aud` to a single string.
    pub fn audience(self, audience: impl Into<String>) -> Self {
        self.claim("aud", audience.into())
    }

    /// Sets `aud` to an array (Auth0 does this when `openid` adds its userinfo audience).
    pub fn audiences<I, S>(self, audiences: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claim(
            "aud",
            audiences
                .into_iter()
                .map(Into::into)
                .collect::<Vec<String>>(),
        )
    }

    /// Sets `azp` (the client the token was issued to).
    pub fn azp(self, azp: impl Into<String>) -> Self {
        self.claim("azp", azp.into())
    }

    /// Sets `client_id` (RFC 9068; Auth0 sends it on client-credentials tokens).
    pub fn client_id(self, client_id: impl Into<String>) -> Self {
        self.claim("client_id", client_id.into())
    }

    /// Sets `scope`, a space-separated string.
    pub fn scope(self, scope: impl Into<String>) -> Self {
        self.claim("scope", scope.into())
    }

    /// Sets `permissions` (Auth0 RBAC), an array of strings.
    pub fn permissions<I, S>(self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.claim(
            "permissions",
            permissions
                .into_iter()
                .map(Into::into)
                .collect::<Vec<String>>(),
        )
    }

    /// Sets `name`.
    pub fn name(self, name: impl Into<String>) -> Self {
        self.claim("name", name.into())
    }

    /// Sets `email`.
    pub fn email(self, email: impl Into<String>) -> Self {
        self.claim("email", email.into())
    }

    /// Sets `exp` to now + `seconds` (negative: already expired).
    pub fn expires_in(self, seconds: i64) -> Self {
        self.claim("exp", now() + seconds)
    }

    /// Sets `iat` to now − `seconds`.
    pub fn issued_ago(self, seconds: i64) -> Self {
        self.claim("iat", now() - seconds)
    }

    /// Sets `nbf` to now + `seconds` (positive: not valid yet).
    pub fn not_before_in(self, seconds: i64) -> Self {
        self.claim("nbf", now() + seconds)
    }

    /// Sets the RFC 8693 `act` chain from actor subjects, current actor first:
    /// `["a", "b"]` becomes `{"sub": "a", "act": {"sub": "b"}}`. Empty removes `act`.
    pub fn act<I, S>(self, actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let actors: Vec<String> = actors.into_iter().map(Into::into).collect();
        match act_chain(&actors) {
            Some(act) => self.claim("act", act),
            None => self.without("act"),
        }
    }

    /// Sets any claim to any JSON value.
    pub fn claim(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Overrides a header member (`kid`, `typ`, `alg`, `jku`...); `null` removes it.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// The claims as JSON.
    pub fn claims(&self) -> Value {
        Value::Object(self.claims.clone())
    }

    /// Signs with `key`, using its `kid` and algorithm unless the header was overridden.
    pub fn sign(&self, key: &TestKey) -> String {
        key.sign_with_header(&Value::Object(self.header.clone()), &self.claims())
    }

    /// An unsigned token (`alg: none`, empty signature) carrying these claims.
    pub fn unsigned(&self) -> String {
        let mut header = json!({"alg": "none", "typ": "JWT"});
        if let Some(map) = header.as_object_mut() {
            map.extend(self.header.clone());
        }
        forge::raw(&header, &self.claims(), b"")
    }

    /// An HS256 token whose HMAC secret is `secret`: with a public key's bytes as the
    /// secret this is the algorithm-confusion attack.
    pub fn sign_hs256(&self, secret: &[u8], kid: Option<&str>) -> String {
        let mut header = json!({"alg": "HS256", "typ": "JWT"});
        if let (Some(kid), Some(map)) = (kid, header.as_object_mut()) {
            map.insert("kid".into(), json!(kid));
        }
        forge::hs256(&header, &self.claims(), secret)
    }
}

fn act_chain(actors: &[String]) -> Option<Value> {
    let (first, rest) = actors.split_first()?;
    let mut act = Map::new();
    act.insert("sub".into(), json!(first));
    if let Some(inner) = act_chain(rest) {
        act.insert("act".into(), inner);
    }
    Some(Value::Object(act))
}

/// Hand-built tokens for negative tests: any header, any payload, any signature.
/// An opaque access token as Auth0 issues one to a client that asked for no API: a
/// random string, not a JWT.
pub fn opaque() -> String {
    URL_SAFE_NO_PAD.encode(crate::config::random_bytes::<24>())
}

/// A JWE-shaped access token (five segments, RFC 7516 §7.1), as Auth0 issues one for
/// an API with token encryption on: key-wrapped (`RSA-OAEP-256`), `A256GCM`. Its
/// parts are random; nothing can decrypt it, and nothing needs to.
pub fn jwe_shaped() -> String {
    let header = URL_SAFE_NO_PAD
        .encode(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"api-encryption-key"}"#);
    let part = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{header}.{}.{}.{}.{}",
        part(&crate::config::random_bytes::<256>()),
        part(&crate::config::random_bytes::<12>()),
        part(&crate::config::random_bytes::<48>()),
        part(&crate::config::random_bytes::<16>()),
    )
}

pub mod forge {
    use super::*;

    /// Base64url without padding, as JWS uses.
    pub fn b64url(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// `b64(header).b64(claims).b64(signature)` with no cryptography at all.
    pub fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
        let header = serde_json::to_vec(header).expect("serialise header");
        let claims = serde_json::to_vec(claims).expect("serialise claims");
        raw_bytes(&header, &claims, signature)
    }

    /// Like [`raw`] but with arbitrary (possibly non-JSON) header and payload bytes.
    pub fn raw_bytes(header: &[u8], payload: &[u8], signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64url(header),
            b64url(payload),
            b64url(signature)
        )
    }

    /// A correctly computed HS256 token under `secret`.
    pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let header = serde_json::to_vec(header).expect("serialise header");
        let claims = serde_json::to_vec(claims).expect("serialise claims");
        let message = format!("{}.{}", b64url(&header), b64url(&claims));
        let key = jsonwebtoken::EncodingKey::from_secret(secret);
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
                .expect("HMAC signing");
        format!("{message}.{signature}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_look_like_an_auth0_access_token() {
        let claims = TokenBuilder::new("https://t.example/", "api").claims();
        assert_eq!(claims["iss"], "https://t.example/");
        assert_eq!(claims["aud"], "api");
        assert_eq!(claims["sub"], DEFAULT_SUB);
        assert_eq!(claims["azp"], DEFAULT_CLIENT_ID);
        assert!(claims["exp"].as_i64().unwrap() > now());
    }

    #[test]
    fn act_chain_nests_current_actor_outermost() {
        let claims = TokenBuilder::new("i", "a").act(["a1", "a2", "a3"]).claims();
        assert_eq!(claims["act"]["sub"], "a1");
        assert_eq!(claims["act"]["act"]["sub"], "a2");
        assert_eq!(claims["act"]["act"]["act"]["sub"], "a3");
        assert!(claims["act"]["act"]["act"].get("act").is_none());
        let none = TokenBuilder::new("i", "a")
            .act(["x"])
            .act(Vec::<String>::new())
            .claims();
        assert!(none.get("act").is_none());
    }

    #[test]
    fn unsigned_token_has_alg_none_and_empty_signature() {
        let token = TokenBuilder::new("i", "a").unsigned();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let header = URL_SAFE_NO_PAD.decode(parts[0]).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&header).unwrap()["alg"],
            "none"
        );
    }

    #[test]
    fn hs256_forgery_verifies_under_its_secret() {
        let token = TokenBuilder::new("i", "a").sign_hs256(b"secret", Some("k"));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.validate_aud = false;
        let decoded = jsonwebtoken::decode::<Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(b"secret"),
            &validation,
        )
        .unwrap();
        assert_eq!(decoded.header.kid.as_deref(), Some("k"));
    }
}
