//! The whole job: portrait + speech file → video file, streaming.
//!
//! Stages run in order (audio, portrait, face, motion, render, video); frames
//! are rendered one at a time and handed to the sink at once, so memory does
//! not grow with the clip length. Cheap checks (output writable, encoder
//! present) run before any heavy work.

use std::path::{Path, PathBuf};

use crate::audio::{self, LoadOptions, Soundtrack};
use crate::error::{Error, Result};
use crate::face::analyze::{AnalyzeOptions, FaceAnalyzer};
use crate::face::FaceAnchor;
use crate::motion::blink::{BlinkOptions, BrowOptions};
use crate::motion::coarticulation::CoarticulationOptions;
use crate::motion::engine::{idle_motion, MotionOptions, VisemeEngine};
use crate::motion::expression::RestingMouth;
use crate::motion::head::{HeadOptions, HeadPreset};
use crate::motion::MotionTrack;
use crate::portrait;
use crate::render::{framing, Framing, MouthWarpRenderer, Renderer};
use crate::video::{self, Fps, FrameSink, GifSink, Mp4Sink, OutputFormat, PngSequenceSink};

/// Everything [`animate`] can be told, with sensible defaults.
#[derive(Debug, Clone)]
pub struct AnimateOptions {
    /// Output frame rate.
    pub fps: Fps,
    /// Which part of the portrait becomes the video, at what size
    /// (`crop` 256/512/1024, `resize` to a longer side, or `full`).
    pub framing: Framing,
    /// Which face to animate when there are several (0 = the largest).
    pub face_index: usize,
    /// Seed of all random motion.
    pub seed: u64,
    /// Output container; `None` picks it from the output extension.
    pub format: Option<OutputFormat>,
    /// Viseme engine.
    pub engine: VisemeEngine,
    /// Mouth movement multiplier (0 = closed mouth).
    pub mouth_scale: f32,
    /// What the portrait's own mouth becomes at rest, the state speech
    /// moves from (an open photo mouth closes by default).
    pub resting_mouth: RestingMouth,
    /// Head movement multiplier (0 = still head).
    pub head_scale: f32,
    /// Style of head motion.
    pub head_preset: HeadPreset,
    /// Blinks per minute (0 = no blinks).
    pub blink_rate: f32,
    /// Brow raise multiplier (0 = still brows).
    pub brow_scale: f32,
    /// Mouth centre as a fraction of the image width and height; `None`
    /// finds it with face analysis.
    pub mouth_fraction: Option<(f32, f32)>,
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
    /// A reference video whose head pose and/or blinks replace the
    /// generated ones (SadTalker's ref_pose / ref_eyeblink); the mouth still
    /// follows the audio.
    pub reference: Option<ReferenceVideo>,
}

/// A video that lends an audio-driven animation its head motion and blinks.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceVideo {
    /// The video file (any frame rate; it is resampled to the output's).
    pub path: PathBuf,
    /// Take the head pose (relative to the video's first frame).
    pub pose: bool,
    /// Take the eye blinks.
    pub blinks: bool,
}

/// Replaces `track`'s head pose and/or blinks with `reference`'s (fitted at
/// the same fps). A shorter reference plays forward and backward
/// (ping-pong), so its motion never jumps.
pub fn apply_reference(track: &mut MotionTrack, reference: &MotionTrack, pose: bool, blinks: bool) {
    let n = reference.frames.len() as u64;
    if n == 0 {
        return;
    }
    for (i, f) in track.frames.iter_mut().enumerate() {
        let r = &reference.frames[crate::dub::LengthMode::ping_pong_index(i as u64, n) as usize];
        if pose {
            f.head = r.head;
        }
        if blinks {
            f.expression.blink_left = r.expression.blink_left;
            f.expression.blink_right = r.expression.blink_right;
        }
    }
}

/// Motion of `reference`'s face at `fps`: pose relative to its first frame
/// and/or blinks only. `cancelled()` is polled once per frame.
fn reference_motion(
    reference: &ReferenceVideo,
    fps: Fps,
    ffmpeg: &video::Ffmpeg,
    cancelled: &mut dyn FnMut() -> bool,
) -> Result<MotionTrack> {
    use crate::reenact::{motion_from_frames, Parts, ReenactOptions};
    let opts = ReenactOptions {
        relative: true,
        parts: Parts {
            pose: reference.pose,
            eyes: reference.blinks,
            brows: false,
            mouth: false,
        },
        // Blinks only: the portrait keeps its own gaze.
        gaze: false,
        ..Default::default()
    };
    let named = |e: Error| match e {
        Error::Input(m) => Error::Input(format!("reference video: {m}")),
        other => other,
    };
    let mut reader = video::VideoReader::open(ffmpeg, &reference.path, Some(fps)).map_err(named)?;
    motion_from_frames(&mut reader, &opts, &mut |_, _| !cancelled()).map_err(named)
}

impl Default for AnimateOptions {
    fn default() -> Self {
        Self {
            fps: Fps::new(25, 1).expect("25 fps is valid"),
            framing: Framing::Resize { size: 512 },
            face_index: 0,
            seed: 0,
            format: None,
            engine: VisemeEngine::Learned,
            mouth_scale: 1.0,
            resting_mouth: RestingMouth::default(),
            head_scale: 1.0,
            head_preset: HeadPreset::default(),
            blink_rate: BlinkOptions::default().rate_per_minute,
            brow_scale: 1.0,
            mouth_fraction: None,
            max_audio_seconds: audio::STREAMING_MAX_SECONDS,
            allow_silent: false,
            background: [255, 255, 255],
            ffmpeg: None,
            ffmpeg_candidates: Vec::new(),
            reference: None,
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
    /// Viseme engine used.
    pub engine: VisemeEngine,
    /// Renderer used: "mesh", or "mouth-warp" for a portrait without a
    /// detectable face whose mouth position was given.
    pub renderer: &'static str,
}

impl AnimateOptions {
    /// The motion stage's options these amount to.
    pub fn motion_options(&self) -> MotionOptions {
        MotionOptions {
            engine: self.engine,
            mouth: CoarticulationOptions {
                mouth_scale: self.mouth_scale,
                ..Default::default()
            },
            head: HeadOptions {
                preset: self.head_preset,
                scale: self.head_scale,
                seed: self.seed,
            },
            blink: BlinkOptions {
                rate_per_minute: self.blink_rate,
                seed: self.seed.wrapping_add(1),
            },
            brow: BrowOptions {
                scale: self.brow_scale,
            },
            ..MotionOptions::new(self.fps)
        }
    }
}

/// A frame renderer: the mesh renderer, or the fallback for portraits
/// without a detectable face.
pub enum FrameRenderer {
    /// The mesh-driven renderer.
    Mesh(Box<Renderer>),
    /// The mouth-only warp at a position the user gave.
    MouthWarp(MouthWarpRenderer),
}

impl FrameRenderer {
    /// Output size.
    pub fn dimensions(&self) -> (u32, u32) {
        match self {
            FrameRenderer::Mesh(r) => (r.width(), r.height()),
            FrameRenderer::MouthWarp(r) => (r.width(), r.height()),
        }
    }

    /// Renders one frame into `out` (RGB24).
    pub fn render_into(&self, motion: &crate::motion::MotionFrame, out: &mut [u8]) {
        match self {
            FrameRenderer::Mesh(r) => r.render_into(motion, out, None),
            FrameRenderer::MouthWarp(r) => r.render_into(motion, out),
        }
    }

    /// The renderer's name, for reports.
    pub fn name(&self) -> &'static str {
        match self {
            FrameRenderer::Mesh(_) => "mesh",
            FrameRenderer::MouthWarp(_) => "mouth-warp",
        }
    }
}

/// Prepares the renderer for `portrait`: face analysis on the original
/// image, framing, then the mesh renderer with the portrait's mouth in its
/// `resting` state. With `mouth_fraction` the face analysis is skipped and
/// the mouth-only fallback renders a resized portrait.
pub fn prepare_renderer(
    portrait: &image::RgbImage,
    framing: Framing,
    face_index: usize,
    mouth_fraction: Option<(f32, f32)>,
    resting: RestingMouth,
) -> Result<FrameRenderer> {
    if let Some(f) = mouth_fraction {
        let size = match framing {
            Framing::Crop { size } | Framing::Resize { size } => size,
            Framing::Full => 0,
        };
        let img = portrait::fit_even(portrait, size);
        let (w, h) = img.dimensions();
        return Ok(FrameRenderer::MouthWarp(MouthWarpRenderer::new(
            img,
            FaceAnchor::from_fraction(w, h, f),
        )));
    }
    let analyzer = FaceAnalyzer::shared()?;
    // Iris landmarks give the portrait's own gaze, which a motion's gaze
    // moves the irises from.
    let opts = AnalyzeOptions {
        iris: true,
        face_index: Some(face_index),
        ..Default::default()
    };
    let face = analyzer
        .analyze(portrait, &opts)
        .map_err(|e| match e {
            Error::Input(m) => Error::Input(format!(
                "{m}; for a stylised portrait whose face is not found, give the mouth \
                 position yourself (--mouth X,Y as fractions of the width and height) \
                 for a mouth-only animation"
            )),
            other => other,
        })?
        .remove(0);
    let framed = framing::frame(portrait, &face, analyzer.canonical(), framing)?;
    Ok(FrameRenderer::Mesh(Box::new(
        Renderer::new(framed.image, &framed.face, analyzer.canonical())?
            .with_resting_mouth(resting),
    )))
}

/// Opens the streaming destination for `format` at `output`: MP4 through
/// `ffmpeg` (H.264 + AAC with `audio`), an animated GIF, or a folder of PNG
/// frames plus `audio.wav`. Shared by the renderer's own output and by
/// frames that come back from a host stage (the Python `FrameWriter`).
pub fn open_sink(
    output: &Path,
    format: OutputFormat,
    width: u32,
    height: u32,
    fps: Fps,
    audio: Option<Soundtrack>,
    ffmpeg: Option<&video::Ffmpeg>,
) -> Result<Box<dyn FrameSink + Send>> {
    Ok(match (ffmpeg, format) {
        (Some(f), OutputFormat::Mp4) => {
            Box::new(Mp4Sink::create(f, output, width, height, fps, audio)?)
        }
        (None, OutputFormat::Mp4) => return Err(Error::Encoder("MP4 output needs ffmpeg".into())),
        (_, OutputFormat::Gif) => Box::new(GifSink::create(output, width, height, fps)?),
        (_, OutputFormat::PngSequence) => {
            Box::new(PngSequenceSink::create(output, width, height, audio)?)
        }
    })
}

/// Renders every frame of `track` with `renderer` straight into `output`
/// (MP4 through `ffmpeg`, else GIF or PNG frames by `format`), with
/// `audio` as the soundtrack when given. Frames go to the encoder one at a
/// time, so memory does not grow with the length. Returns the frame count.
///
/// `progress(done, total)` is called after every frame; returning `false`
/// stops with [`Error::Cancelled`] and leaves no output behind.
pub fn render_to_file(
    renderer: &FrameRenderer,
    track: &MotionTrack,
    audio: Option<Soundtrack>,
    output: &Path,
    format: OutputFormat,
    ffmpeg: Option<&video::Ffmpeg>,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<u64> {
    let (width, height) = renderer.dimensions();
    let mut sink = open_sink(output, format, width, height, track.fps, audio, ffmpeg)?;
    let total = track.frames.len() as u64;
    let mut frame = vec![0u8; (width as usize) * (height as usize) * 3];
    for (i, motion) in track.frames.iter().enumerate() {
        renderer.render_into(motion, &mut frame);
        sink.write_frame(&frame)?;
        if !progress(i as u64 + 1, total) {
            return Err(Error::Cancelled);
        }
    }
    sink.finish()?;
    Ok(total)
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
    // The audio streams: analysed a minute at a time here, and decoded again
    // a chunk at a time into the encoder's soundtrack below. Only the motion
    // track (about 100 bytes a frame) is held whole.
    let load = LoadOptions {
        max_seconds: opts.max_audio_seconds,
    };
    let motion_opts = opts.motion_options();
    let analysed = crate::motion::engine::analyse_file(audio_path, &load, &motion_opts)?;
    if analysed.samples == 0 {
        return Err(Error::input(
            audio_path,
            "contains no audio samples (0 s long)",
        ));
    }
    if analysed.motion.is_none() && !opts.allow_silent {
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

    let renderer = prepare_renderer(
        &portrait,
        opts.framing,
        opts.face_index,
        opts.mouth_fraction,
        opts.resting_mouth,
    )?;
    let (width, height) = renderer.dimensions();
    let audio_seconds = analysed.samples as f64 / analysed.sample_rate.max(1) as f64;
    let mut track = match analysed.motion {
        Some(m) => m.track,
        None => {
            let frames = opts
                .fps
                .frame_count(analysed.samples as u64, analysed.sample_rate);
            let mut t = idle_motion(audio_seconds.max(1e-3), &motion_opts)?;
            t.frames.resize(frames as usize, Default::default());
            t
        }
    };
    if let Some(reference) = &opts.reference {
        let ff = match &ffmpeg {
            Some(f) => f.clone(),
            None => video::find_ffmpeg(opts.ffmpeg.as_deref(), &opts.ffmpeg_candidates)?,
        };
        let total = track.frames.len() as u64;
        let r = reference_motion(reference, opts.fps, &ff, &mut || !progress(0, total))?;
        apply_reference(&mut track, &r, reference.pose, reference.blinks);
    }

    let total = render_to_file(
        &renderer,
        &track,
        Some(Soundtrack::File(audio_path, &load)),
        output,
        format,
        ffmpeg.as_ref(),
        progress,
    )?;
    Ok(AnimateReport {
        output: output.to_path_buf(),
        format,
        frames: total,
        width,
        height,
        fps: opts.fps,
        audio_seconds,
        ffmpeg: ffmpeg.map(|f| f.path),
        engine: opts.engine,
        renderer: renderer.name(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{example, fixture};

    #[test]
    fn a_reference_lends_pose_and_blinks_and_leaves_the_mouth() {
        use crate::motion::MotionFrame;
        let fps = Fps::new(25, 1).unwrap();
        let spoken = |i: usize| {
            let mut f = MotionFrame::default();
            f.expression.jaw_open = 0.1 * i as f32;
            f.expression.blink_left = 0.5;
            f.head.yaw = 9.0;
            f
        };
        let reference = MotionTrack {
            fps,
            frames: (0..3)
                .map(|k| {
                    let mut f = MotionFrame::default();
                    f.head.yaw = k as f32;
                    f.expression.blink_left = k as f32 / 2.0;
                    f.expression.jaw_open = 5.0;
                    f
                })
                .collect(),
        };
        let mut track = MotionTrack {
            fps,
            frames: (0..6).map(spoken).collect(),
        };
        apply_reference(&mut track, &reference, true, false);
        let yaw: Vec<f32> = track.frames.iter().map(|f| f.head.yaw).collect();
        assert_eq!(yaw, [0.0, 1.0, 2.0, 1.0, 0.0, 1.0]); // ping-pong through the reference
        assert!(track.frames.iter().all(|f| f.expression.blink_left == 0.5));
        assert!(track
            .frames
            .iter()
            .enumerate()
            .all(|(i, f)| f.expression.jaw_open == 0.1 * i as f32));
        let mut track = MotionTrack {
            fps,
            frames: (0..6).map(spoken).collect(),
        };
        apply_reference(&mut track, &reference, false, true);
        assert_eq!(track.frames[2].expression.blink_left, 1.0);
        assert!(track.frames.iter().all(|f| f.head.yaw == 9.0));
    }

    #[test]
    fn animates_the_example_to_a_png_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("frames");
        let opts = AnimateOptions {
            framing: Framing::Resize { size: 128 },
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
            framing: Framing::Resize { size: 64 },
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
            framing: Framing::Resize { size: 64 },
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
