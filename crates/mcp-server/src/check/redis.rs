//! The fleet's shared token cache: one round trip to Redis under the key prefix, as the
//! server's shared cache will make (only with TOKEN_CACHE_REDIS_URL set).

use std::io::Write;

use auth0_obo::StoreError;

use super::report::{Reporter, names};
use crate::config::Settings;
use crate::shared_cache::SharedCacheSettings;

/// Connects to Redis (authenticating when the URL has credentials), then writes, reads
/// and deletes one key under the prefix, as the server will.
pub(super) async fn check_shared_cache<W: Write>(
    r: &mut Reporter<'_, W>,
    settings: &Settings,
    shared: &SharedCacheSettings,
) {
    let store = match settings.shared_store() {
        Ok(Some(store)) => store,
        Ok(None) => return,
        Err(e) => {
            r.fail(
                names::SHARED_CACHE,
                format!("cannot set up the Redis client: {e}"),
                "fix TOKEN_CACHE_REDIS_URL".to_owned(),
            );
            return;
        }
    };
    let prefix = &shared.key_prefix;
    match store.check().await {
        Ok(()) => r.pass(
            names::SHARED_CACHE,
            format!(
                "Redis answers: connected, and a SET, GET and DEL of a key under {prefix:?} round-tripped"
            ),
        ),
        Err(error) => {
            let fix = match &error {
                StoreError::Timeout(_) => format!(
                    "Redis did not answer in time: check that it is not overloaded or paused, and that TOKEN_CACHE_REDIS_TIMEOUT_MS ({} ms) allows for the network between here and Redis",
                    shared.timeout.as_millis()
                ),
                StoreError::Protocol(_) | StoreError::Corrupt => format!(
                    "check that TOKEN_CACHE_REDIS_URL names a Redis server, and that its user may SET, GET and DEL keys under {prefix:?} (TOKEN_CACHE_KEY_PREFIX)"
                ),
                _ => "check TOKEN_CACHE_REDIS_URL (host, port, user and password; rediss:// for TLS) and that Redis is running and reachable from here. The server still serves without it, one exchange per user per replica".to_owned(),
            };
            r.fail(names::SHARED_CACHE, format!("Redis: {error}"), fix);
        }
    }
}
