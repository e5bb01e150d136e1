//! The fleet secret: the salt of every entry's encryption key, shared by all replicas
//! and kept out of Redis. Without it, a user's own token does not open that user's
//! entries either.

use std::fmt;

use auth0_obo::ClientSecret;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::config::ConfigError;
use crate::kdf::hkdf_sha256;

/// The fewest bytes a fleet secret may decode to: AES-256's key size,
/// so the secret is never the weakest link.
pub const MIN_FLEET_SECRET_BYTES: usize = 32;

/// A label of its own, so that a secret derived from the client credentials can never
/// equal any other key derived from them.
const CLIENT_CREDENTIALS_LABEL: &[u8] = b"obo-mcp/fleet-secret-from-client-credentials/v1";

/// The secret every replica of a fleet shares: the salt of every entry's encryption
/// key, kept out of Redis, so that a user's own token alone does not open that user's
/// entries. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct FleetSecret(Vec<u8>);

impl FleetSecret {
    /// A secret given as base64 (standard or URL-safe, padded or not) of at least
    /// [`MIN_FLEET_SECRET_BYTES`] bytes, e.g. from `openssl rand -base64 32`
    /// (`mcp-server` reads it from `TOKEN_CACHE_ENCRYPTION_KEY`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::FleetSecretNotBase64`] or [`ConfigError::FleetSecretTooShort`];
    /// neither quotes the value.
    pub fn from_base64(value: &str) -> Result<Self, ConfigError> {
        let value = value.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(value).ok())
            .ok_or(ConfigError::FleetSecretNotBase64)?;
        if bytes.len() < MIN_FLEET_SECRET_BYTES {
            return Err(ConfigError::FleetSecretTooShort { bytes: bytes.len() });
        }
        Ok(Self(bytes))
    }

    /// The secret derived from the MCP server's own client credentials (HKDF-SHA256),
    /// for a fleet given no secret of its own: every replica has the same
    /// credentials, and so the same secret. Rotating the client secret then also
    /// makes every stored entry unreadable (each becomes a miss).
    #[must_use]
    pub fn derive_from_client_credentials(client_id: &str, client_secret: &ClientSecret) -> Self {
        let mut input = Vec::with_capacity(16 + client_id.len() + client_secret.secret().len());
        // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
        input.extend_from_slice(&(client_id.len() as u64).to_be_bytes());
        input.extend_from_slice(client_id.as_bytes());
        input.extend_from_slice(client_secret.secret().as_bytes());
        let secret = hkdf_sha256(CLIENT_CREDENTIALS_LABEL, &input, CLIENT_CREDENTIALS_LABEL);
        Self(secret.to_vec())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for FleetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FleetSecret(..)")
    }
}
