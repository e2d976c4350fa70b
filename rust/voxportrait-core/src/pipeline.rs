//! The whole job: portrait + speech file → video file, streaming.
//!
//! Stages run in order (audio, portrait, face, motion, render, video); frames
//! are rendered one at a time and handed to the sink at once, so memory does
//! not grow with the clip length. Cheap checks (output writable, encoder
//! present) run before any heavy work.

use std::path::{Path, PathBuf};

use crate::audio::{self, LoadOptions};
use crate::error::{Error, Result};
use crate::face::{FaceAnchor, DEFAULT_MOUTH_FRACTION};
use crate::motion::LoudnessEngine;
use crate::portrait;
use crate::render::MouthWarpRenderer;
use crate::video::{self, Fps, FrameSink, GifSink, Mp4Sink, OutputFormat, PngSequenceSink};

/// Name of the motion engine the pipeline uses today.
pub const ENGINE: &str = "loudness";

/// Everything [`animate`] can be told, with sensible defaults.
#[derive(Debug, Clone)]
pub struct AnimateOptions {
    /// Output frame rate.
    pub fps: Fps,
    /// Longer side of the output in pixels (0 keeps the portrait's size).
    pub size: u32,
    /// Seed of all random motion.
    pub seed: u64,
    /// Output container; `None` picks it from the output extension.
    pub format: Option<OutputFormat>,
    /// Mouth movement multiplier.
    pub mouth_scale: f32,
    /// Head movement multiplier.
    pub head_scale: f32,
    /// Mouth centre as a fraction of the image width and height.
    pub mouth_fraction: (f32, f32),
    /// Longest accepted audio, in seconds.
    pub max_audio_seconds: f64,
    /// Render silent audio (an idle face) instead of refusing it.
    pub allow_silent: bool,
    /// Background for transparent portraits.
    pub background: [u8; 3],
    /// Explicit ffmpeg binary.
    pub ffmpeg: Option<PathBuf>,
    /// Further ffmpeg binaries to try before PATH (e.g. imageio-ffmpeg's).
    pub ffmpeg_candidates: Vec<PathBuf>,
}

impl Default for AnimateOptions {
    fn default() -> Self {
        Self {
            fps: Fps::new(25, 1).expect("25 fps is valid"),
            size: 512,
            seed: 0,
            format: None,
            mouth_scale: 1.0,
            head_scale: 1.0,
            mouth_fraction: DEFAULT_MOUTH_FRACTION,
            max_audio_seconds: audio::DEFAULT_MAX_SECONDS,
            allow_silent: false,
            background: [255, 255, 255],
            ffmpeg: None,
            ffmpeg_candidates: Vec::new(),
        }
    }
}

/// What [`animate`] produced.
#[derive(Debug, Clone, PartialEq)]
pub struct AnimateReport {
    /// Where the video was written.
    pub output: PathBuf,
    /// Container written.
    pub format: OutputFormat,
    /// Number of frames written.
    pub frames: u64,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Frame rate.
    pub fps: Fps,
    /// Audio duration in seconds.
    pub audio_seconds: f64,
    /// ffmpeg used, for MP4 output.
    pub ffmpeg: Option<PathBuf>,
    /// Motion engine used.
    pub engine: &'static str,
}

/// Animates `image` with the speech in `audio`, writing `output`.
///
/// `progress(done, total)` is called after every frame; returning `false`
/// stops the job with [`Error::Cancelled`] and leaves no output behind.
pub fn animate(
    image: &Path,
    audio_path: &Path,
    output: &Path,
    opts: &AnimateOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<AnimateReport> {
    let format = match opts.format {
        Some(f) => f,
        None => OutputFormat::from_path(output)?,
    };
    let portrait = portrait::load_rgb(image, opts.background)?;
    let clip = audio::load(
        audio_path,
        &LoadOptions {
            max_seconds: opts.max_audio_seconds,
        },
    )?;
    if clip.is_silent() && !opts.allow_silent {
        return Err(Error::input(
            audio_path,
            "audio is silent (peak below -60 dBFS), so there is nothing to lip-sync; \
             check the recording, or pass --allow-silent for an idle face",
        ));
    }
    video::check_output_writable(output)?;
    let ffmpeg = match format {
        OutputFormat::Mp4 => Some(video::find_ffmpeg(
            opts.ffmpeg.as_deref(),
            &opts.ffmpeg_candidates,
        )?),
        _ => None,
    };

    let portrait = portrait::fit_even(&portrait, opts.size);
    let (width, height) = portrait.dimensions();
    let anchor = FaceAnchor::from_fraction(width, height, opts.mouth_fraction);
    let engine = LoudnessEngine {
        mouth_scale: opts.mouth_scale,
        head_scale: opts.head_scale,
        seed: opts.seed,
    };
    let track = engine.drive(&clip, opts.fps);
    let renderer = MouthWarpRenderer::new(portrait, anchor);

    let mut sink: Box<dyn FrameSink> = match (&ffmpeg, format) {
        (Some(f), _) => Box::new(Mp4Sink::create(
            f,
            output,
            width,
            height,
            opts.fps,
            Some(&clip),
        )?),
        (None, OutputFormat::Gif) => Box::new(GifSink::create(output, width, height, opts.fps)?),
        (None, _) => Box::new(PngSequenceSink::create(output, width, height, Some(&clip))?),
    };
    let total = track.frames.len() as u64;
    let mut frame = vec![0u8; (width * height * 3) as usize];
    for (i, motion) in track.frames.iter().enumerate() {
        renderer.render_into(motion, &mut frame);
        sink.write_frame(&frame)?;
        if !progress(i as u64 + 1, total) {
            return Err(Error::Cancelled);
        }
    }
    sink.finish()?;
    Ok(AnimateReport {
        output: output.to_path_buf(),
        format,
        frames: total,
        width,
        height,
        fps: opts.fps,
        audio_seconds: clip.duration_seconds(),
        ffmpeg: ffmpeg.map(|f| f.path),
        engine: ENGINE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{example, fixture};

    #[test]
    fn animates_the_example_to_a_png_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("frames");
        let opts = AnimateOptions {
            size: 128,
            ..Default::default()
        };
        let mut calls = 0;
        let report = animate(
            &example("portrait.png"),
            &fixture("speech_1s.wav"),
            &out,
            &opts,
            &mut |d, t| {
                calls += 1;
                assert!(d <= t);
                true
            },
        )
        .unwrap();
        assert_eq!(calls, report.frames);
        let clip = audio::load(&fixture("speech_1s.wav"), &LoadOptions::default()).unwrap();
        assert_eq!(
            report.frames,
            opts.fps
                .frame_count(clip.samples.len() as u64, clip.sample_rate)
        );
        assert_eq!((report.width, report.height), (128, 128));
        let pngs = std::fs::read_dir(&out).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .map(|x| x == "png")
                .unwrap_or(false)
        });
        assert_eq!(pngs.count() as u64, report.frames);
    }

    #[test]
    fn cancelling_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.gif");
        let opts = AnimateOptions {
            size: 64,
            ..Default::default()
        };
        let e = animate(
            &example("portrait.png"),
            &fixture("speech_1s.wav"),
            &out,
            &opts,
            &mut |d, _| d < 3,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Cancelled));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn silent_audio_is_refused_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.gif");
        let mut opts = AnimateOptions {
            size: 64,
            ..Default::default()
        };
        let e = animate(
            &example("portrait.png"),
            &fixture("silence_1s.wav"),
            &out,
            &opts,
            &mut |_, _| true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("silent"), "{e}");
        opts.allow_silent = true;
        animate(
            &example("portrait.png"),
            &fixture("silence_1s.wav"),
            &out,
            &opts,
            &mut |_, _| true,
        )
        .unwrap();
        assert!(out.exists());
    }
}
