//! What every handler shares: the token verifier for this API's audience.

use jwt_verify::{JwksVerifier, VerifierOptions};

use crate::Config;

/// The router's state. Cheap to clone: the verifier shares its key cache.
#[derive(Debug, Clone)]
pub struct AppState {
    verifier: JwksVerifier,
}

impl AppState {
    /// A verifier for `config`'s issuer and audience, with the default options
    /// (RS256 only, 60 s leeway, keys at `{issuer}.well-known/jwks.json`), and the
    /// verified-token cache sized by the settings.
    ///
    /// # Errors
    ///
    /// If the verifier cannot be built from the configuration.
    pub fn new(config: &Config) -> Result<Self, jwt_verify::ConfigError> {
        let verifier = JwksVerifier::new(
            config.issuer.clone(),
            config.audience.clone(),
            VerifierOptions {
                verified_cache_capacity: config.verified_token_cache_capacity,
                ..VerifierOptions::default()
            },
        )?;
        Ok(Self::from_verifier(verifier))
    }

    /// State around an existing verifier (for tests, or other options).
    pub fn from_verifier(verifier: JwksVerifier) -> Self {
        Self { verifier }
    }

    /// The verifier.
    pub fn verifier(&self) -> &JwksVerifier {
        &self.verifier
    }

    /// Fetches the issuer's keys in the background so the first request does not
    /// wait for them. A failure is only logged: requests answer 503 until keys can
    /// be fetched, and the verifier retries on its own.
    pub fn warm_up(&self) {
        let verifier = self.verifier.clone();
        tokio::spawn(async move {
            match verifier.refresh_keys().await {
                Ok(_) => tracing::info!("fetched the issuer's signing keys"),
                Err(e) => {
                    tracing::warn!(error = %e, "could not fetch the issuer's signing keys yet")
                }
            }
        });
    }
}
