//! The settings file every service reads before its command line: `./.env`, or the
//! file `--env-file` names.

use std::path::{Path, PathBuf};

/// Why the settings file could not be loaded. No variant quotes the file's lines: they
/// may hold a secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvFileError {
    /// The file `--env-file` named does not exist.
    #[error("the env file {} does not exist: fix the path given to --env-file", .0.display())]
    Missing(PathBuf),
    /// A line is not `KEY=VALUE`.
    #[error(
        "{} is malformed near character {index}: each line must be KEY=VALUE (the line is not shown: it may hold a secret)",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Where in the file the parse stopped.
        index: usize,
    },
    /// The file exists but cannot be read.
    #[error("{} could not be read: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Loads `named`, or else `./.env` if there is one, without replacing variables that
/// are already set, and returns the file read (`None`: no `named` and no `./.env`).
///
/// `dotenvy::dotenv()` would also search the parent directories, and so read a `.env`
/// that someone else put above ours.
///
/// # Errors
///
/// [`EnvFileError`] when `named` does not exist, or the file is malformed or unreadable.
pub fn load_env_file(named: Option<&Path>) -> Result<Option<PathBuf>, EnvFileError> {
    let path = named.unwrap_or(Path::new(".env"));
    match dotenvy::from_path(path) {
        Ok(()) => Ok(Some(
            std::path::absolute(path).unwrap_or_else(|_| path.to_owned()),
        )),
        Err(e) if e.not_found() && named.is_none() => Ok(None),
        Err(e) if e.not_found() => Err(EnvFileError::Missing(path.to_owned())),
        // dotenvy's parse error quotes the offending line.
        Err(dotenvy::Error::LineParse(_, index)) => Err(EnvFileError::Malformed {
            path: path.to_owned(),
            index,
        }),
        Err(dotenvy::Error::Io(source)) => Err(EnvFileError::Unreadable {
            path: path.to_owned(),
            source,
        }),
        // dotenvy's other error is about `var()`, which `from_path` does not return.
        Err(e) => Err(EnvFileError::Unreadable {
            path: path.to_owned(),
            source: std::io::Error::other(e.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_file_that_does_not_exist_names_the_flag() {
        let path = std::env::temp_dir().join("http-serve-no-such-env-file");
        let error = load_env_file(Some(&path)).unwrap_err();
        assert!(matches!(error, EnvFileError::Missing(_)), "{error:?}");
        assert!(
            error
                .to_string()
                .contains("fix the path given to --env-file")
        );
    }

    #[test]
    fn a_malformed_line_is_located_but_never_shown() {
        let path = std::env::temp_dir().join(format!("http-serve-env-{}", std::process::id()));
        // Malformed on its first line, so nothing is loaded into this test process.
        std::fs::write(&path, "CLIENT SECRET s3cr3t-value\n").unwrap();
        let error = load_env_file(Some(&path)).unwrap_err();
        std::fs::remove_file(&path).ok();
        let text = error.to_string();
        assert!(matches!(error, EnvFileError::Malformed { .. }), "{error:?}");
        assert!(text.contains("each line must be KEY=VALUE"), "{text}");
        assert!(
            !text.contains("s3cr3t") && !format!("{error:?}").contains("s3cr3t"),
            "{text}"
        );
    }
}
