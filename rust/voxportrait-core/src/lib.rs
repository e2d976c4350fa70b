//! VoxPortrait core: a portrait plus speech becomes a talking-head video.
//!
//! This crate knows nothing about Python. It is organised as one module per
//! pipeline stage, in the order data flows through them:
//!
//! - [`audio`]: decode speech (WAV, MP3, FLAC, OGG/Vorbis, M4A/AAC), downmix, resample.
//! - [`portrait`]: decode the still image (PNG, JPEG, WebP), EXIF orientation, alpha.
//! - [`face`]: where the face and mouth are in the portrait.
//! - [`motion`]: audio → per-frame motion (mouth opening, head sway).
//! - [`render`]: motion + portrait → RGB frames.
//! - [`video`]: frames + audio → MP4 through ffmpeg, or GIF / PNG sequence without it.
//!
//! [`pipeline`] ties the stages into one streaming job ([`dub`] another: new
//! speech into an existing video), and [`error`] holds the
//! error type every stage returns.

pub mod audio;
pub mod dub;
pub mod error;
pub mod face;
pub mod motion;
pub mod pipeline;
pub mod portrait;
pub mod reenact;
pub mod render;
pub mod video;

pub use error::{Error, Result};

/// The crate version, reported by the CLI and bindings.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Test helpers shared by the unit tests of several modules.
#[cfg(test)]
pub(crate) mod testdata {
    use std::path::PathBuf;

    /// Path of a committed fixture under the repository's `tests/data`.
    pub fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(name)
    }

    /// Pearson correlation of two equally long series.
    pub fn correlation(x: &[f32], y: &[f32]) -> f32 {
        let n = x.len() as f32;
        let (mx, my) = (x.iter().sum::<f32>() / n, y.iter().sum::<f32>() / n);
        let cov: f32 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let vx: f32 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let vy: f32 = y.iter().map(|b| (b - my).powi(2)).sum();
        cov / (vx * vy).sqrt().max(1e-12)
    }

    /// Path of a committed file under the repository's `examples`.
    pub fn example(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
    }
}
