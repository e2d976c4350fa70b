//! The one error type of the core, sorted by who can fix the problem.
//!
//! Every variant carries a complete, single-line message that names the
//! problem and what to do about it, because the CLI and the host plug-ins show
//! it to users as-is.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

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
    /// A failure inside VoxPortrait, not caused by the input: the network
    /// runtime or the embedded weights failed, or a lock was poisoned by an
    /// earlier panic. A bug or a broken install; the user cannot fix the input.
    #[error("{0}")]
    Internal(String),
}

/// Shorthand used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Input error about a specific file.
    pub fn input(path: &Path, msg: impl std::fmt::Display) -> Self {
        Error::Input(format!("{}: {}", path.display(), msg))
    }

    /// Internal error: `what` failed inside VoxPortrait (see [`Error::Internal`]).
    pub fn internal(what: impl std::fmt::Display, e: impl std::fmt::Display) -> Self {
        Error::Internal(format!(
            "internal error in VoxPortrait (a bug or a broken install; please report it): {what}: {e}"
        ))
    }

    /// Output error about a specific path.
    pub fn output(path: &Path, msg: impl std::fmt::Display) -> Self {
        Error::Output(format!("{}: {}", path.display(), msg))
    }
}

/// Locks `mutex`, which guards the `what` (e.g. "dubber"). A lock poisoned
/// by a panic in an earlier call is an [`Error::Internal`]: the object is in
/// an unknown state and the user's input is not to blame.
pub fn lock<'a, T>(mutex: &'a Mutex<T>, what: &str) -> Result<MutexGuard<'a, T>> {
    mutex.lock().map_err(|_| {
        Error::internal(
            format!("the {what} cannot be used after an earlier failure"),
            "its lock was poisoned by a panic; create a new one",
        )
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_an_internal_error() {
        let m = Mutex::new(0u8);
        assert_eq!(*lock(&m, "counter").unwrap(), 0);
        let poison = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = m.lock().unwrap();
                panic!("deliberate test panic while holding the lock");
            })
            .join()
        });
        assert!(poison.is_err() && m.is_poisoned());
        let e = lock(&m, "counter").unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
        let text = e.to_string();
        assert!(
            text.contains("the counter cannot be used") && text.contains("please report"),
            "{text}"
        );
    }
}
