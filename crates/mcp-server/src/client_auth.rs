//! How the MCP server authenticates to Auth0's token endpoint: a client secret
//! (`MCP_AUTH0_CLIENT_SECRET`, the quickstart's), or Private Key JWT
//! (`MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE`, with `_ALG` and `_KID`). Exactly one.

use std::path::Path;

use auth0_obo::{AssertionAlgorithm, ClientAssertionKey, ClientAuthMethod, ClientSecret};
use clap::ValueEnum;

use crate::config::{AuthMethodArg, ServerArgs};

pub(crate) const SECRET: &str = "MCP_AUTH0_CLIENT_SECRET";
pub(crate) const METHOD: &str = "MCP_AUTH0_CLIENT_AUTH_METHOD";
pub(crate) const KEY_FILE: &str = "MCP_AUTH0_CLIENT_ASSERTION_KEY_FILE";
pub(crate) const ALG: &str = "MCP_AUTH0_CLIENT_ASSERTION_ALG";
pub(crate) const KID: &str = "MCP_AUTH0_CLIENT_ASSERTION_KID";

/// The client's credential, and the secret material the fleet's cache key is derived
/// from when `TOKEN_CACHE_ENCRYPTION_KEY` is unset: the client secret, or the private
/// key file's text.
#[derive(Debug, Clone)]
pub(crate) struct ClientCredential {
    pub(crate) auth: ClientAuthMethod,
    pub(crate) key_material: ClientSecret,
}

fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Reads the credential from the arguments, pushing every problem found.
pub(crate) fn from_args(args: &ServerArgs, problems: &mut Vec<String>) -> Option<ClientCredential> {
    let secret = set(args
        .mcp_auth0_client_secret
        .as_ref()
        .map(ClientSecret::secret));
    let key_file = args
        .mcp_auth0_client_assertion_key_file
        .as_deref()
        .filter(|path| !path.as_os_str().is_empty());
    let alg = set(args.mcp_auth0_client_assertion_alg.as_deref());
    let kid = set(args.mcp_auth0_client_assertion_kid.as_deref());
    match (secret, key_file) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{SECRET} and {KEY_FILE} are both set, but the client authenticates with one: remove {SECRET} to use Private Key JWT, or {KEY_FILE} to keep the client secret"
            ));
            None
        }
        (None, None) => {
            problems.push(format!(
                "{SECRET} is not set: set it to the client secret of the MCP server's Custom API client, or set {KEY_FILE} to the private key whose public key is uploaded to its credentials (Private Key JWT)"
            ));
            None
        }
        (Some(secret), None) => {
            for (value, name) in [(alg, ALG), (kid, KID)] {
                if value.is_some() {
                    problems.push(format!(
                        "{name} is set but {KEY_FILE} is not: remove {name}, or set {KEY_FILE} to use Private Key JWT"
                    ));
                }
            }
            let secret = ClientSecret::new(secret);
            let auth = match args.mcp_auth0_client_auth_method.unwrap_or_default() {
                AuthMethodArg::ClientSecretBasic => {
                    ClientAuthMethod::ClientSecretBasic(secret.clone())
                }
                AuthMethodArg::ClientSecretPost => {
                    ClientAuthMethod::ClientSecretPost(secret.clone())
                }
            };
            Some(ClientCredential {
                auth,
                key_material: secret,
            })
        }
        (None, Some(path)) => {
            if let Some(method) = args.mcp_auth0_client_auth_method {
                let method = method
                    .to_possible_value()
                    .map(|value| value.get_name().to_owned())
                    .unwrap_or_default();
                problems.push(format!(
                    "{METHOD} is set ({method}) but {KEY_FILE} is set too: {METHOD} says how the client secret is sent, and Private Key JWT sends none. Remove {METHOD}, or remove {KEY_FILE} and set {SECRET} to use the secret"
                ));
            }
            private_key(path, alg, kid, problems)
        }
    }
}

fn private_key(
    path: &Path,
    alg: Option<&str>,
    kid: Option<&str>,
    problems: &mut Vec<String>,
) -> Option<ClientCredential> {
    let algorithm = match alg.map(str::parse::<AssertionAlgorithm>) {
        // Auth0's default for a new credential.
        None => AssertionAlgorithm::Rs256,
        Some(Ok(algorithm)) if algorithm.accepted_by_auth0() => algorithm,
        Some(_) => {
            problems.push(format!(
                "{ALG} must be RS256, RS384 or PS256, the algorithms an Auth0 application credential can have: set it to the one chosen when the public key was uploaded"
            ));
            return None;
        }
    };
    let pem = match std::fs::read(path) {
        Ok(pem) => pem,
        Err(error) => {
            problems.push(format!(
                "{KEY_FILE} ({}) cannot be read ({error}): point it at the PEM private key whose public key is uploaded to the application's credentials",
                path.display()
            ));
            return None;
        }
    };
    let key = match ClientAssertionKey::from_pem(&pem, algorithm) {
        Ok(key) => key,
        Err(error) => {
            problems.push(format!("{KEY_FILE} ({}): {error}", path.display()));
            return None;
        }
    };
    let key = match kid {
        None => key,
        Some(kid) => match key.with_kid(kid) {
            Ok(key) => key,
            Err(error) => {
                problems.push(format!(
                    "{KID}: {error}; copy the key id Auth0 shows for the credential, or unset it"
                ));
                return None;
            }
        },
    };
    // Line endings differ between copies of one file; the key does not.
    let material = String::from_utf8_lossy(&pem).replace('\r', "");
    Some(ClientCredential {
        auth: ClientAuthMethod::PrivateKeyJwt(key),
        key_material: ClientSecret::new(material.trim()),
    })
}
