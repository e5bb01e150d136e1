//! What `mcp-server check` is given: the server's own options, and the user's token to
//! try, read so that it never shows up in `Debug`, in a process listing or in the report.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use clap::Args;

use crate::config::ServerArgs;

/// `mcp-server check`'s options: the server's own, plus the token to try.
#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    /// A user's access token for this server, to verify, exchange and call the private
    /// API with. `-` reads it from stdin. A token on the command line is visible to
    /// other users of the machine: prefer `-`, --token-file or CHECK_TOKEN.
    #[arg(
        long,
        env = "CHECK_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<SecretArg>,

    /// Read the user's access token from this file.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// A secret given as an argument; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretArg(String);

impl SecretArg {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg([redacted])")
    }
}

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// Why the token to check could not be read. Never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenInputError {
    #[error("cannot read the token from {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the token from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("the token from {0} is empty")]
    Empty(&'static str),
}

/// The token to check, from `--token` (`-`: `stdin`), `--token-file` or `CHECK_TOKEN`,
/// trimmed, with a pasted `Bearer ` prefix removed.
pub fn read_token(
    token: Option<&SecretArg>,
    token_file: Option<&Path>,
    stdin: impl Read,
) -> Result<Option<String>, TokenInputError> {
    let (raw, from) = match (token.map(SecretArg::expose), token_file) {
        (Some("-"), _) => {
            let mut raw = String::new();
            let mut stdin = stdin.take(64 * 1024);
            stdin
                .read_to_string(&mut raw)
                .map_err(TokenInputError::Stdin)?;
            (raw, "stdin")
        }
        (Some(token), _) => (token.to_owned(), "--token"),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|source| TokenInputError::File {
                path: path.to_owned(),
                source,
            })?;
            (raw, "--token-file")
        }
        (None, None) => return Ok(None),
    };
    let token = raw.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.is_empty() {
        return Err(TokenInputError::Empty(from));
    }
    Ok(Some(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_read_trimmed_without_a_bearer_prefix_and_never_shown_in_debug() {
        let arg = SecretArg::from_str("Bearer abc.def.ghi\n").unwrap();
        assert!(!format!("{arg:?}").contains("abc"));
        assert_eq!(
            read_token(Some(&arg), None, std::io::empty()).unwrap(),
            Some("abc.def.ghi".to_owned())
        );
        let dash = SecretArg::from_str("-").unwrap();
        assert_eq!(
            read_token(Some(&dash), None, &b"  x.y.z \n"[..]).unwrap(),
            Some("x.y.z".to_owned())
        );
        assert!(matches!(
            read_token(Some(&dash), None, &b"\n"[..]),
            Err(TokenInputError::Empty("stdin"))
        ));
        assert_eq!(read_token(None, None, std::io::empty()).unwrap(), None);
    }
}
