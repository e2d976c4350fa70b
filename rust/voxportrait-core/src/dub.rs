//! The dub job: an existing talking video + new speech → the same video with
//! the mouth re-animated to the new speech (VideoReTalking's job), streaming.
//!
//! Per video frame, in one pass (frames are decoded, changed and encoded
//! one at a time, so memory does not grow with the video's length):
//! 1. **Track** the face (the tracker re-uses the previous landmarks and
//!    runs the detector only when the face is lost, or after a scene cut,
//!    found by a jump in the luminance histogram).
//! 2. **Smooth** the landmarks with a One-Euro filter, so the re-rendered
//!    mouth does not jitter with the tracker's noise.
//! 3. **Neutralise** the original mouth as `animate` does a portrait's
//!    ([`RestingMouth::KeepSmile`]): the frame's own opening is measured on
//!    the expression basis and closed (jaw and lips, teeth hidden, smile
//!    kept), and the new speech's expression is applied from there, so the
//!    result opens as far as the new speech says whatever the actor was
//!    saying. Where the frame showed teeth, an opening reuses them.
//! 4. **Render** with the mesh renderer and no head change: only the jaw,
//!    lips and the skin that follows them move; everything else is the
//!    frame's own pixels, so the head, eyes and background are the
//!    original's and there is no seam.
//! 5. Frames where the face is lost pass through; the dub fades out over a
//!    few frames (with the last landmarks) and back in when the face
//!    returns.

use std::path::Path;

use image::RgbImage;

use crate::audio::{self, AudioClip, LoadOptions};
use crate::error::{Error, Result};
use crate::face::analyze::{Face, FaceAnalyzer, FaceTracker};
use crate::face::canonical::NUM_VERTICES;
use crate::motion::engine::{audio_to_motion, MotionOptions};
use crate::motion::expression::RestingMouth;
use crate::motion::{Expression, MotionFrame};
use crate::render::{FrameMasks, Renderer};
use crate::video::{self, Fps, FrameSink, Mp4Sink, VideoReader};

/// What to do when the new speech and the video differ in length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthMode {
    /// The output is as long as the speech; the video loops if shorter.
    Loop,
    /// The output is as long as the speech; the video's last frame holds if
    /// shorter (and is cut if longer).
    Pad,
    /// The output is as long as the shorter of the two.
    Cut,
    /// The output is as long as the speech; the video plays forward, then
    /// backward, then forward again (no jump at the seam, unlike a loop).
    PingPong,
}

impl LengthMode {
    /// Parses "loop", "pad", "cut" or "pingpong" ("ping-pong").
    pub fn parse(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_'], "")
            .as_str()
        {
            "loop" => Ok(Self::Loop),
            "pad" => Ok(Self::Pad),
            "cut" => Ok(Self::Cut),
            "pingpong" => Ok(Self::PingPong),
            other => Err(Error::Input(format!(
                "unknown length mode {other:?}; use loop, pad, cut or pingpong"
            ))),
        }
    }

    /// The source frame shown at output frame `i` of a video of `n` frames
    /// once the video has run out (`i >= n`): ping-pong bounces off both
    /// ends without repeating the end frames (0 1 2 1 0 1 2 ...).
    pub fn ping_pong_index(i: u64, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let period = 2 * (n - 1);
        let k = i % period;
        if k < n {
            k
        } else {
            period - k
        }
    }
}

/// Which part of the face a dub re-renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DubRegion {
    /// Jaw, lips, chin and the skin around them (the jaw really opens).
    LowerFace,
    /// Only the mouth region (lips, the skin within about 1 cm, the
    /// interior), feathered; chin and jaw line stay the original's, as
    /// Wav2Lip-style tools do.
    Mouth,
}

impl DubRegion {
    /// Parses "lower-face" ("lower_face", "face") or "mouth".
    pub fn parse(s: &str) -> Result<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', '_', ' '], "")
            .as_str()
        {
            "lowerface" | "face" => Ok(Self::LowerFace),
            "mouth" | "mouthonly" => Ok(Self::Mouth),
            other => Err(Error::Input(format!(
                "unknown dub region {other:?}; use lower-face or mouth"
            ))),
        }
    }
}

/// The expression the original mouth is neutralised to, under the speech's
/// mouth motion (VideoReTalking's expression template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MouthTemplate {
    /// A relaxed, neutral mouth.
    Neutral,
    /// A light smile: the lips spread while speaking.
    Smile,
}

impl MouthTemplate {
    /// Parses "neutral" or "smile".
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "neutral" => Ok(Self::Neutral),
            "smile" => Ok(Self::Smile),
            other => Err(Error::Input(format!(
                "unknown mouth template {other:?}; use neutral or smile"
            ))),
        }
    }

    /// Adds the template's offsets to the speech's expression.
    pub fn apply(self, e: &mut Expression) {
        if self == Self::Smile {
            e.lip_spread = (e.lip_spread + SMILE_SPREAD).min(1.0);
        }
    }
}

/// Lip spread of the smile template (the basis' unit is a broad smile).
const SMILE_SPREAD: f32 = 0.7;

/// Decoded frames kept on disk for ping-pong playback, read back by index,
/// so memory stays at one frame whatever the video's length (the disk holds
/// the raw video: width x height x 3 bytes a frame, removed afterwards).
/// Hand-written: a fixed-size record file; no crate adds anything here.
struct FrameSpill {
    file: std::fs::File,
    _tmp: tempfile::TempPath,
    frame_bytes: usize,
    frames: u64,
}

impl FrameSpill {
    fn new(frame_bytes: usize) -> Result<Self> {
        let tmp = tempfile::NamedTempFile::new().map_err(|e| {
            Error::Output(format!("cannot create a temporary file for ping-pong: {e}"))
        })?;
        let (file, path) = tmp.into_parts();
        Ok(Self {
            file,
            _tmp: path,
            frame_bytes,
            frames: 0,
        })
    }

    fn push(&mut self, frame: &[u8]) -> Result<()> {
        use std::io::Write;
        self.file
            .write_all(frame)
            .map_err(|e| Error::Output(format!("cannot write the ping-pong frame store: {e}")))?;
        self.frames += 1;
        Ok(())
    }

    fn read(&mut self, index: u64, out: &mut Vec<u8>) -> Result<()> {
        use std::io::{Read, Seek, SeekFrom};
        out.resize(self.frame_bytes, 0);
        self.file
            .seek(SeekFrom::Start(index * self.frame_bytes as u64))
            .and_then(|_| self.file.read_exact(out))
            .map_err(|e| Error::Output(format!("cannot read the ping-pong frame store: {e}")))
    }
}

/// Options of [`dub`].
#[derive(Debug, Clone)]
pub struct DubOptions {
    /// Mouth movement multiplier for the new speech.
    pub lip_strength: f32,
    /// Length handling.
    pub length: LengthMode,
    /// Level of the original soundtrack mixed under the new speech
    /// (0 = replaced).
    pub mix_original: f32,
    /// Which face to dub when there are several (0 = the largest).
    pub face_index: usize,
    /// One-Euro filter minimum cutoff, Hz (lower = smoother, more lag).
    pub smooth_min_cutoff: f32,
    /// Lower face (default) or the mouth only.
    pub region: DubRegion,
    /// The expression the original mouth is neutralised to.
    pub template: MouthTemplate,
    /// Explicit ffmpeg.
    pub ffmpeg: Option<std::path::PathBuf>,
    /// Further ffmpeg binaries to try.
    pub ffmpeg_candidates: Vec<std::path::PathBuf>,
    /// Longest accepted speech, seconds.
    pub max_audio_seconds: f64,
}

impl Default for DubOptions {
    fn default() -> Self {
        Self {
            lip_strength: 1.0,
            length: LengthMode::Loop,
            mix_original: 0.0,
            face_index: 0,
            smooth_min_cutoff: 1.5,
            region: DubRegion::LowerFace,
            template: MouthTemplate::Neutral,
            ffmpeg: None,
            ffmpeg_candidates: Vec::new(),
            max_audio_seconds: audio::DEFAULT_MAX_SECONDS,
        }
    }
}

/// What [`dub`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct DubReport {
    /// Frames written.
    pub frames: u64,
    /// Frames where a face was dubbed.
    pub dubbed_frames: u64,
    /// Frame size.
    pub width: u32,
    /// Frame size.
    pub height: u32,
    /// Frame rate.
    pub fps: Fps,
    /// Times the face detector ran (start, lost face, scene cuts).
    pub detector_runs: usize,
}

/// One-Euro filter (Casiraghi et al. 2012) over a vector of values: a
/// low-pass whose cutoff rises with speed, so still landmarks stay still and
/// fast motion does not lag. A dozen lines, so written here.
#[derive(Debug, Clone)]
pub struct OneEuro {
    min_cutoff: f32,
    beta: f32,
    rate: f32,
    x: Option<Vec<f32>>,
    dx: Vec<f32>,
}

impl OneEuro {
    /// A filter for samples arriving at `rate` Hz.
    pub fn new(rate: f32, min_cutoff: f32, beta: f32) -> Self {
        Self {
            min_cutoff,
            beta,
            rate,
            x: None,
            dx: Vec::new(),
        }
    }

    /// Forgets the past (after a cut or a lost face).
    pub fn reset(&mut self) {
        self.x = None;
    }

    /// Smoothing factor of a first-order low-pass at `cutoff` Hz.
    fn alpha(&self, cutoff: f32) -> f32 {
        let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
        1.0 / (1.0 + tau * self.rate)
    }

    /// Filters one sample in place.
    pub fn filter(&mut self, v: &mut [f32]) {
        if self.x.as_ref().is_none_or(|x| x.len() != v.len()) {
            self.x = Some(v.to_vec());
            self.dx = vec![0.0; v.len()];
            return;
        }
        let a_d = self.alpha(1.0);
        let prev = self.x.as_mut().expect("set above");
        // (The speed estimate itself is smoothed at 1 Hz: `a_d`.)
        // Speed: one magnitude for the whole shape (all landmarks move
        // together when the head moves).
        let mut speed = 0.0f32;
        for (i, x) in v.iter().enumerate() {
            let d = (x - prev[i]) * self.rate;
            self.dx[i] += a_d * (d - self.dx[i]);
            speed = speed.max(self.dx[i].abs());
        }
        let cutoff = self.min_cutoff + self.beta * speed;
        let tau = 1.0 / (2.0 * std::f32::consts::PI * cutoff);
        let a = 1.0 / (1.0 + tau * self.rate);
        for (i, x) in v.iter_mut().enumerate() {
            prev[i] += a * (*x - prev[i]);
            *x = prev[i];
        }
    }
}

/// Smooths a tracked face's landmarks with `smoother` and refits its head
/// pose to them (shared by dubbing and reenactment).
pub fn smooth_face(
    smoother: &mut OneEuro,
    face: &mut Face,
    canonical: &crate::face::canonical::CanonicalFace,
) -> Result<()> {
    let mut flat: Vec<f32> = face.landmarks.iter().flatten().copied().collect();
    smoother.filter(&mut flat);
    for (p, c) in face.landmarks.iter_mut().zip(flat.chunks_exact(3)) {
        *p = [c[0], c[1], c[2]];
    }
    face.pose = crate::face::pose::HeadPose::fit(canonical, &face.landmarks[..NUM_VERTICES])?;
    Ok(())
}

/// Luminance histogram of a frame (64 bins, subsampled), for cut detection.
fn histogram(rgb: &[u8]) -> [f32; 64] {
    let mut h = [0f32; 64];
    let mut n = 0f32;
    for px in rgb.chunks_exact(3).step_by(7) {
        let y = (px[0] as u32 * 77 + px[1] as u32 * 150 + px[2] as u32 * 29) >> 8;
        h[(y >> 2) as usize] += 1.0;
        n += 1.0;
    }
    h.map(|v| v / n.max(1.0))
}

/// Half the L1 distance of two histograms (0 = same, 1 = disjoint).
fn histogram_distance(a: &[f32; 64], b: &[f32; 64]) -> f32 {
    0.5 * a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>()
}

/// Histogram distance above which two frames belong to different shots.
const CUT_THRESHOLD: f32 = 0.35;

/// Frames over which the dub fades in and out when the face comes and goes.
const FADE_FRAMES: f32 = 4.0;

/// The per-frame work of a dub, independent of decoding and encoding: track,
/// smooth, measure the frame's own mouth, and re-render it with the new
/// speech's.
pub struct Dubber {
    analyzer: &'static FaceAnalyzer,
    tracker: FaceTracker<'static>,
    smoother: OneEuro,
    prev_hist: Option<[f32; 64]>,
    last_face: Option<Face>,
    fade: f32,
    region: DubRegion,
    template: MouthTemplate,
    masks: FrameMasks,
    /// Frames where a face was dubbed so far.
    pub dubbed: u64,
}

impl Dubber {
    /// A dubber for frames at `fps`.
    pub fn new(fps: Fps, opts: &DubOptions) -> Result<Self> {
        let analyzer = FaceAnalyzer::shared()?;
        let mut tracker = FaceTracker::new(analyzer, opts.face_index);
        tracker.iris = false;
        Ok(Self {
            analyzer,
            tracker,
            smoother: OneEuro::new(fps.as_f64() as f32, opts.smooth_min_cutoff, 0.05),
            prev_hist: None,
            last_face: None,
            fade: 0.0,
            region: opts.region,
            template: opts.template,
            masks: FrameMasks {
                face: Vec::new(),
                mouth: Vec::new(),
            },
            dubbed: 0,
        })
    }

    /// Forgets the tracked face (a cut, or the video starting over).
    pub fn cut(&mut self) {
        self.tracker.reset();
        self.smoother.reset();
        self.prev_hist = None;
        self.last_face = None;
    }

    /// Dubs one frame to `target`'s mouth; returns the output frame.
    pub fn process(&mut self, img: RgbImage, target: &MotionFrame) -> Result<RgbImage> {
        let hist = histogram(img.as_raw());
        if self
            .prev_hist
            .is_some_and(|p| histogram_distance(&p, &hist) > CUT_THRESHOLD)
        {
            self.cut();
        }
        self.prev_hist = Some(hist);
        let face = match self.tracker.next_frame(&img)? {
            Some(mut f) => {
                smooth_face(&mut self.smoother, &mut f, self.analyzer.canonical())?;
                self.fade = (self.fade + 1.0 / FADE_FRAMES).min(1.0);
                self.last_face = Some(f.clone());
                Some(f)
            }
            None => {
                self.smoother.reset();
                self.fade = (self.fade - 1.0 / FADE_FRAMES).max(0.0);
                self.last_face.clone().filter(|_| self.fade > 0.0)
            }
        };
        let Some(f) = face else { return Ok(img) };
        let mut expression = target.expression;
        self.template.apply(&mut expression);
        let m = MotionFrame {
            expression,
            ..Default::default()
        };
        let r = Renderer::new(img, &f, self.analyzer.canonical())?
            .with_resting_mouth(RestingMouth::KeepSmile);
        let mut out = r.source().as_raw().clone();
        let mouth_only = self.region == DubRegion::Mouth;
        r.render_into(&m, &mut out, mouth_only.then_some(&mut self.masks));
        if self.fade < 1.0 || mouth_only {
            // Blend towards the source: by the cross-fade, and (mouth only)
            // by the feathered mouth mask.
            let (fade, mask) = (self.fade, &self.masks.mouth);
            for (k, (o, s)) in out
                .chunks_exact_mut(3)
                .zip(r.source().as_raw().chunks_exact(3))
                .enumerate()
            {
                let a = if mouth_only {
                    fade * mask[k] as f32 / 255.0
                } else {
                    fade
                };
                for c in 0..3 {
                    o[c] = (s[c] as f32 + (o[c] as f32 - s[c] as f32) * a + 0.5) as u8;
                }
            }
        }
        self.dubbed += 1;
        Ok(RgbImage::from_raw(r.width(), r.height(), out).expect("sized like the source"))
    }
}

/// Dubs `video_path` with the speech in `audio_path`, writing `output` (MP4).
///
/// `progress(done, total)` is called after every frame; returning `false`
/// stops with [`Error::Cancelled`] and leaves no output behind.
pub fn dub(
    video_path: &Path,
    audio_path: &Path,
    output: &Path,
    opts: &DubOptions,
    progress: &mut dyn FnMut(u64, u64) -> bool,
) -> Result<DubReport> {
    let ffmpeg = video::find_ffmpeg(opts.ffmpeg.as_deref(), &opts.ffmpeg_candidates)?;
    let speech = audio::load(
        audio_path,
        &LoadOptions {
            max_seconds: opts.max_audio_seconds,
        },
    )?;
    video::check_output_writable(output)?;
    let mut reader = VideoReader::open(&ffmpeg, video_path, None)?;
    let info = reader.info.clone();
    if info.width % 2 == 1 || info.height % 2 == 1 {
        return Err(Error::input(
            video_path,
            format!(
                "video is {}x{}; H.264 output needs even sides (crop or scale it by one pixel first)",
                info.width, info.height
            ),
        ));
    }
    let fps = info.fps;
    // Mouth-only motion from the new speech: no head, blinks or brows (the
    // video has its own).
    let mut mo = MotionOptions::new(fps);
    mo.mouth.mouth_scale = opts.lip_strength;
    mo.head.scale = 0.0;
    mo.blink.rate_per_minute = 0.0;
    mo.brow.scale = 0.0;
    let track = if speech.is_silent() {
        Vec::new()
    } else {
        audio_to_motion(&speech, &mo)?.track.frames
    };
    let speech_frames = fps.frame_count(speech.samples.len() as u64, speech.sample_rate);
    let video_frames = info
        .duration
        .map(|d| (d * fps.as_f64()).round() as u64)
        .unwrap_or(speech_frames);
    let total = match opts.length {
        LengthMode::Loop | LengthMode::Pad | LengthMode::PingPong => speech_frames,
        LengthMode::Cut => speech_frames.min(video_frames.max(1)),
    };
    if total == 0 {
        return Err(Error::input(
            audio_path,
            "speech is too short for one frame",
        ));
    }
    let soundtrack = soundtrack(&speech, video_path, &info, opts.mix_original, total, fps)?;
    let mut sink: Box<dyn FrameSink> = Box::new(Mp4Sink::create(
        &ffmpeg,
        output,
        info.width,
        info.height,
        fps,
        Some(crate::audio::Soundtrack::Clip(&soundtrack)),
    )?);

    let mut dubber = Dubber::new(fps, opts)?;
    let (mut frame, mut last_frame) = (Vec::new(), Vec::new());
    let mut read = 0u64;
    let frame_bytes = info.width as usize * info.height as usize * 3;
    let mut spill = match opts.length {
        LengthMode::PingPong if total > video_frames.saturating_sub(1) => {
            Some(FrameSpill::new(frame_bytes)?)
        }
        _ => None,
    };
    let mut exhausted = false;
    for i in 0..total {
        // Next source frame, with the length mode at the video's end.
        if !exhausted && reader.read_frame(&mut frame)? {
            read += 1;
            last_frame.clone_from(&frame);
            if let Some(s) = spill.as_mut() {
                s.push(&frame)?;
            }
        } else if read == 0 {
            return Err(Error::input(video_path, "video has no frames"));
        } else if let Some(s) = spill.as_mut() {
            exhausted = true;
            let n = s.frames;
            s.read(LengthMode::ping_pong_index(i, n), &mut frame)?;
        } else if opts.length == LengthMode::Loop {
            reader = VideoReader::open(&ffmpeg, video_path, Some(fps))?;
            if !reader.read_frame(&mut frame)? {
                return Err(Error::input(
                    video_path,
                    "video could not be read again to loop",
                ));
            }
            dubber.cut();
        } else {
            frame.clone_from(&last_frame);
        }
        let img = RgbImage::from_raw(info.width, info.height, std::mem::take(&mut frame))
            .expect("frame sized by the reader");
        let target = track.get(i as usize).copied().unwrap_or_default();
        let out = dubber.process(img, &target)?;
        sink.write_frame(out.as_raw())?;
        frame = out.into_raw();
        if !progress(i + 1, total) {
            return Err(Error::Cancelled);
        }
    }
    sink.finish()?;
    Ok(DubReport {
        frames: total,
        dubbed_frames: dubber.dubbed,
        width: info.width,
        height: info.height,
        fps,
        detector_runs: dubber.tracker.detector_runs,
    })
}

/// The output's soundtrack: the new speech, exactly `frames` long (padded
/// with silence or cut), with the original soundtrack mixed under it at
/// `mix` when asked and present.
fn soundtrack(
    speech: &AudioClip,
    video_path: &Path,
    info: &video::VideoInfo,
    mix: f32,
    frames: u64,
    fps: Fps,
) -> Result<AudioClip> {
    let rate = speech.sample_rate;
    let len = (frames as f64 / fps.as_f64() * rate as f64).round() as usize;
    let mut samples = speech.samples.clone();
    samples.resize(len, 0.0);
    if mix > 0.0 && info.has_audio {
        let original = audio::load(video_path, &LoadOptions::default())
            .and_then(|c| audio::resample(&c, rate))?;
        for (s, o) in samples.iter_mut().zip(original.samples.iter().cycle()) {
            *s = (*s + mix * o).clamp(-1.0, 1.0);
        }
    }
    Ok(AudioClip::new(samples, rate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::analyze::AnalyzeOptions;
    use crate::motion::expression::ExpressionBasis;
    use crate::pipeline::{animate, AnimateOptions};
    use crate::render::Framing;
    use crate::testdata::{correlation, example, fixture};

    #[test]
    fn one_euro_keeps_still_values_still_and_follows_motion() {
        let mut f = OneEuro::new(25.0, 1.5, 0.05);
        let mut out = Vec::new();
        for i in 0..50 {
            let noise = if i % 2 == 0 { 0.3 } else { -0.3 };
            let mut v = [100.0 + noise];
            f.filter(&mut v);
            out.push(v[0]);
        }
        let spread = out[25..]
            .iter()
            .fold(0.0f32, |m, v| m.max((v - 100.0).abs()));
        assert!(spread < 0.15, "noise reduced: {spread}");
        f.reset();
        let mut v = [0.0];
        f.filter(&mut v);
        for _ in 0..25 {
            let mut v = [50.0];
            f.filter(&mut v);
            out.push(v[0]);
        }
        assert!(
            (out.last().unwrap() - 50.0).abs() < 1.0,
            "a step is followed"
        );
    }

    /// The example photo's smile shows its upper teeth. Dubbed to a wider
    /// opening, the frame keeps those real teeth (read from the frame under
    /// the upper lip, which the jaw does not move) instead of painting over
    /// them, and dubbed to a closed mouth it hides them.
    #[test]
    fn a_dubbed_open_frame_keeps_the_frames_own_teeth() {
        let img = crate::portrait::load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let analyzer = FaceAnalyzer::shared().unwrap();
        let face = analyzer
            .analyze(&img, &AnalyzeOptions::default())
            .unwrap()
            .remove(0);
        let k = analyzer.canonical().groups.keypoints;
        let up = face.landmarks[k.upper_lip_inner];
        let (l, r) = (face.landmarks[k.mouth_right], face.landmarks[k.mouth_left]);
        let width = (r[0] - l[0]).abs();
        let cx = 0.5 * (l[0] + r[0]);
        let gap = |f: &Face| f.landmarks[k.lower_lip_inner][1] - f.landmarks[k.upper_lip_inner][1];
        // The upper teeth: a band a third of the source's opening high,
        // starting a fifth of it under a frame's upper inner lip landmark
        // (`top`; FaceMesh puts it on the lip, above the teeth), across the
        // middle of the mouth. An opening reads the source's interior at the same
        // distance below the upper lip, so the bands compare pixel for pixel.
        let height = (gap(&face) / 3.0).max(3.0) as u32;
        let band = |im: &RgbImage, top: f32| -> Vec<[f32; 3]> {
            let y0 = (top + gap(&face) / 5.0) as u32;
            (y0..y0 + height)
                .flat_map(|y| {
                    ((cx - 0.2 * width) as u32..(cx + 0.2 * width) as u32).map(move |x| (x, y))
                })
                .map(|(x, y)| im.get_pixel(x, y).0.map(f32::from))
                .collect()
        };
        let teeth = |px: &[[f32; 3]]| {
            // Bright and unsaturated: enamel, not lip or cavity.
            px.iter()
                .filter(|c| {
                    let (mx, mn) = (c[0].max(c[1]).max(c[2]), c[0].min(c[1]).min(c[2]));
                    mx > 150.0 && mx - mn < 0.18 * mx
                })
                .count() as f32
                / px.len() as f32
        };
        let source = band(&img, up[1]);
        assert!(
            teeth(&source) > 0.4,
            "the example shows teeth: {}",
            teeth(&source)
        );

        let fps = Fps::new(25, 1).unwrap();
        let dub_to = |jaw_open: f32| {
            let mut d = Dubber::new(fps, &DubOptions::default()).unwrap();
            let target = MotionFrame {
                expression: Expression {
                    jaw_open,
                    ..Default::default()
                },
                ..Default::default()
            };
            // The dub fades in over its first frames.
            let mut out = img.clone();
            for _ in 0..6 {
                out = d.process(img.clone(), &target).unwrap();
            }
            out
        };
        let open = dub_to(1.0);
        let closed_img = dub_to(0.0);
        if let Ok(dir) = std::env::var("VOXPORTRAIT_TEST_OUT") {
            open.save(format!("{dir}/dub_open.png")).unwrap();
            closed_img.save(format!("{dir}/dub_closed.png")).unwrap();
        }
        let opened = analyzer
            .analyze(&open, &AnalyzeOptions::default())
            .unwrap()
            .remove(0);
        assert!(
            gap(&opened) > 1.3 * gap(&face),
            "dubbed open: {} vs {}",
            gap(&opened),
            gap(&face)
        );
        let kept = band(&open, opened.landmarks[k.upper_lip_inner][1]);
        assert!(
            teeth(&kept) > 0.7 * teeth(&source),
            "teeth kept: {} of {}",
            teeth(&kept),
            teeth(&source)
        );
        let diff = source
            .iter()
            .zip(&kept)
            .map(|(a, b)| (0..3).map(|c| (a[c] - b[c]).abs()).sum::<f32>() / 3.0)
            .sum::<f32>()
            / source.len() as f32;
        assert!(
            diff < 30.0,
            "the frame's own teeth, not painted ones: mean difference {diff}"
        );

        let closed = band(&closed_img, up[1]);
        assert!(
            teeth(&closed) < 0.2,
            "closed lips hide the teeth: {}",
            teeth(&closed)
        );
    }

    /// A synthetic talking video (the example photo rendered with its own
    /// speech, still head), dubbed with other speech: the mouth measured on
    /// the output follows the new speech, and the upper face is unchanged.
    #[test]
    fn dubbing_a_rendered_video_follows_the_new_speech() {
        let Ok(ffmpeg) = video::find_ffmpeg(None, &[]) else {
            eprintln!("no ffmpeg here: dubbing is covered by the Python tests");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("talk.mp4");
        let opts = AnimateOptions {
            framing: Framing::Resize { size: 256 },
            head_scale: 0.0,
            ..Default::default()
        };
        animate(
            &example("portrait.png"),
            &fixture("speech_1s.wav"),
            &source,
            &opts,
            &mut |_, _| true,
        )
        .unwrap();
        let out = dir.path().join("dubbed.mp4");
        let new_speech = example("speech.wav");
        let report = dub(
            &source,
            &new_speech,
            &out,
            &DubOptions::default(),
            &mut |_, _| true,
        )
        .unwrap();
        // Loop mode: as long as the new speech (7.84 s at 25 fps).
        assert_eq!(report.frames, 196);
        assert!(report.dubbed_frames >= 190, "{report:?}");

        let mo = {
            let mut m = MotionOptions::new(report.fps);
            m.head.scale = 0.0;
            m
        };
        let clip = audio::load(&new_speech, &LoadOptions::default()).unwrap();
        // The commanded opening: the inner-lip gap the basis gives the
        // canonical face for each frame's whole expression (jaw, lip
        // closure, pucker...).
        let analyzer = FaceAnalyzer::shared().unwrap();
        let canonical = analyzer.canonical();
        let basis = ExpressionBasis::new(canonical);
        let k = canonical.groups.keypoints;
        let want: Vec<f32> = audio_to_motion(&clip, &mo)
            .unwrap()
            .track
            .frames
            .iter()
            .map(|f| {
                let v = basis.apply(&canonical.vertices, &f.expression);
                v[k.upper_lip_inner][1] - v[k.lower_lip_inner][1]
            })
            .collect();
        let mut reader = VideoReader::open(&ffmpeg, &out, None).unwrap();
        let mut src_reader = VideoReader::open(&ffmpeg, &source, None).unwrap();
        let (mut buf, mut sbuf) = (Vec::new(), Vec::new());
        let (mut measured, mut commanded) = (Vec::new(), Vec::new());
        let mut upper_err = 0.0f64;
        let mut upper_n = 0usize;
        let mut i = 0;
        while reader.read_frame(&mut buf).unwrap() {
            let have_src = src_reader.read_frame(&mut sbuf).unwrap();
            let img = RgbImage::from_raw(256, 256, buf.clone()).unwrap();
            let f = analyzer
                .analyze(
                    &img,
                    &AnalyzeOptions {
                        iris: false,
                        ..Default::default()
                    },
                )
                .unwrap()
                .remove(0);
            let gap = (f.landmarks[14][1] - f.landmarks[13][1]) / f.interocular();
            measured.push(gap);
            commanded.push(want[i.min(want.len() - 1)]);
            // Rows above the nose tip are the source's (up to the codec).
            if have_src {
                let rows = (f.landmarks[1][1] - 8.0).max(0.0) as usize;
                for (a, b) in buf[..rows * 256 * 3].iter().zip(&sbuf[..rows * 256 * 3]) {
                    upper_err += (*a as f64 - *b as f64).powi(2);
                    upper_n += 1;
                }
            }
            i += 1;
        }
        let c = correlation(&commanded, &measured);
        let psnr = 10.0 * (255.0f64.powi(2) / (upper_err / upper_n as f64)).log10();
        eprintln!("dub: {i} frames, mouth vs new speech r = {c:.3}, upper face PSNR {psnr:.1} dB");
        assert!(c >= 0.8, "{c}");
        assert!(psnr >= 35.0, "{psnr}");
    }

    #[test]
    fn ping_pong_bounces_off_both_ends_without_repeating_them() {
        let seq: Vec<u64> = (0..12).map(|i| LengthMode::ping_pong_index(i, 4)).collect();
        assert_eq!(seq, [0, 1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1]);
        assert!((0..5).all(|i| LengthMode::ping_pong_index(i, 1) == 0));
        for text in ["pingpong", "ping-pong", "PING_PONG"] {
            assert_eq!(LengthMode::parse(text).unwrap(), LengthMode::PingPong);
        }
        assert!(LengthMode::parse("bounce")
            .unwrap_err()
            .to_string()
            .contains("pingpong"));
    }

    #[test]
    fn region_and_template_parse_and_the_smile_spreads_the_lips() {
        assert_eq!(
            DubRegion::parse("lower-face").unwrap(),
            DubRegion::LowerFace
        );
        assert_eq!(DubRegion::parse("Mouth").unwrap(), DubRegion::Mouth);
        assert!(DubRegion::parse("eyes")
            .unwrap_err()
            .to_string()
            .contains("lower-face or mouth"));
        assert_eq!(MouthTemplate::parse("smile").unwrap(), MouthTemplate::Smile);
        assert!(MouthTemplate::parse("frown").is_err());
        let mut e = Expression {
            jaw_open: 0.4,
            lip_spread: 0.5,
            ..Default::default()
        };
        MouthTemplate::Neutral.apply(&mut e);
        assert_eq!(e.lip_spread, 0.5);
        MouthTemplate::Smile.apply(&mut e);
        assert_eq!((e.lip_spread, e.jaw_open), (1.0, 0.4)); // capped at the basis' full smile
    }

    #[test]
    fn a_file_that_is_not_a_video_is_a_clear_error() {
        let Ok(_) = video::find_ffmpeg(None, &[]) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.mp4");
        let e = dub(
            &fixture("speech_1s.wav"),
            &fixture("speech_1s.wav"),
            &out,
            &DubOptions::default(),
            &mut |_, _| true,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no video stream"), "{e}");
        assert!(!out.exists());
    }
}
