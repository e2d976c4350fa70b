//! The one error type of the core, sorted by who can fix the problem.
//!
//! Every variant carries a complete, single-line message that names the
//! problem and what to do about it, because the CLI and the host plug-ins show
//! it to users as-is.

use std::path::Path;

/// Errors returned by every stage of the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input file or parameter is unusable (missing, not media, silent, too long...).
    #[error("{0}")]
    Input(String),
    /// The output cannot be written (missing folder, read-only place, disk full...).
    #[error("{0}")]
    Output(String),
    /// No working video encoder (ffmpeg), or the encoder failed.
    #[error("{0}")]
    Encoder(String),
    /// The caller asked to stop (progress callback returned `false`).
    #[error("cancelled by the caller")]
    Cancelled,
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Input error about a specific file.
    pub fn input(path: &Path, msg: impl std::fmt::Display) -> Self {
        Error::Input(format!("{}: {}", path.display(), msg))
    }

    /// Output error about a specific path.
    pub fn output(path: &Path, msg: impl std::fmt::Display) -> Self {
        Error::Output(format!("{}: {}", path.display(), msg))
    }
}

/// Checks that `path` names an existing, non-empty regular file, with messages
/// a user can act on. Shared by the audio and image loaders.
pub(crate) fn check_input_file(path: &Path, what: &str) -> Result<u64> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::input(path, format!("{what} file not found; check the path"))
        }
        std::io::ErrorKind::PermissionDenied => Error::input(
            path,
            format!("{what} file cannot be read (permission denied)"),
        ),
        _ => Error::input(path, format!("cannot open {what} file: {e}")),
    })?;
    if meta.is_dir() {
        return Err(Error::input(
            path,
            format!("is a folder, expected a {what} file"),
        ));
    }
    if meta.len() == 0 {
        return Err(Error::input(
            path,
            format!("{what} file is empty (0 bytes)"),
        ));
    }
    Ok(meta.len())
}
