//! Motion stage: audio → per-frame motion: expression coefficients, head
//! pose and gaze, at any frame rate.
//!
//! [`MotionTrack`] is the contract between stages and the MOTION data users
//! chain and edit (JSON through [`MotionTrack::to_json`]). Its parts:
//!
//! - [`expression`]: the interpretable expression basis over the canonical
//!   468-vertex face (jaw open, lip closure, pucker, spread, upper-lip raise,
//!   lower-lip tuck, blinks, brow raise) and its displacement fields;
//! - [`visemes`]: the 15 visemes, their mouth shapes, and exports (Rhubarb,
//!   OVR);
//! - [`whisper`]: audio features (Whisper tiny.en encoder) for the learned
//!   viseme recogniser;
//! - [`energy`]: the model-free viseme engine (energy, spectral tilt, band
//!   ratios);
//! - [`coarticulation`]: visemes → expression curves with look-ahead,
//!   minimum durations and guaranteed bilabial closures;
//! - [`prosody`], [`head`], [`blink`]: pitch and activity analysis, the
//!   procedural head motion, blinks and brow raises.

pub mod blink;
pub mod coarticulation;
pub mod energy;
pub mod expression;
pub mod head;
pub mod prosody;
pub(crate) mod rng;
pub mod visemes;
pub mod whisper;

use serde::{Deserialize, Serialize};

use crate::audio::AudioClip;
use crate::error::{Error, Result};
use crate::video::Fps;
pub use expression::Expression;
use rng::SplitMix64;

/// Head pose of one frame relative to the source portrait's pose.
///
/// Angles in radians, in the head's own frame as
/// [`crate::face::pose::HeadPose`] defines them (yaw > 0 turns toward the
/// image right, pitch > 0 nods down, roll > 0 tilts counter-clockwise in
/// the image). Translation in centimetres of the canonical face (about 15
/// cm wide) along the image axes (x right, y down); `scale` multiplies the
/// head's size (1 = unchanged, > 1 nearer the camera).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadMotion {
    /// Turn left/right, radians.
    pub yaw: f32,
    /// Nod, radians (positive down).
    pub pitch: f32,
    /// Tilt, radians (positive counter-clockwise in the image).
    pub roll: f32,
    /// Shift toward the image right, canonical cm.
    pub tx: f32,
    /// Shift toward the image bottom, canonical cm.
    pub ty: f32,
    /// Size factor (1 = the source's).
    pub scale: f32,
}

impl Default for HeadMotion {
    fn default() -> Self {
        Self {
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            tx: 0.0,
            ty: 0.0,
            scale: 1.0,
        }
    }
}

/// Motion of one video frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MotionFrame {
    /// Expression coefficients on the [`expression`] basis.
    pub expression: Expression,
    /// Head pose change relative to the source.
    pub head: HeadMotion,
    /// Gaze as the iris offset from the eye centre in eye widths (x along
    /// the eye line, y down); `None` keeps the source's eyes.
    pub gaze: Option<[f32; 2]>,
}

/// Motion for a whole clip: one [`MotionFrame`] per video frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MotionTrack {
    /// Frame rate the frames are sampled at.
    pub fps: Fps,
    /// One entry per output frame.
    pub frames: Vec<MotionFrame>,
}

/// Version tag of the JSON layout written by [`MotionTrack::to_json`].
pub const MOTION_FORMAT: &str = "voxportrait.motion/1";

#[derive(Serialize, Deserialize)]
struct MotionFile {
    format: String,
    fps: Fps,
    frames: Vec<MotionFrame>,
}

impl MotionTrack {
    /// Duration in seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.frames.len() as f64 / self.fps.as_f64()
    }

    /// The track as JSON: `{"format": "voxportrait.motion/1", "fps":
    /// {"num", "den"}, "frames": [{"expression": {...}, "head": {...},
    /// "gaze": null | [x, y]}, ...]}`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&MotionFile {
            format: MOTION_FORMAT.to_string(),
            fps: self.fps,
            frames: self.frames.clone(),
        })
        .expect("motion serialises")
    }

    /// Parses [`MotionTrack::to_json`] output. Missing fields take their
    /// neutral defaults, so hand-written or trimmed files load.
    pub fn from_json(text: &str) -> Result<Self> {
        let f: MotionFile = serde_json::from_str(text).map_err(|e| {
            Error::Input(format!(
                "not a VoxPortrait motion file ({e}); expected JSON with \"format\": \"{MOTION_FORMAT}\""
            ))
        })?;
        if f.format != MOTION_FORMAT {
            return Err(Error::Input(format!(
                "motion format {:?} is not supported (expected {MOTION_FORMAT:?})",
                f.format
            )));
        }
        Ok(Self {
            fps: f.fps,
            frames: f.frames,
        })
    }
}

/// The placeholder engine: mouth from loudness, head from seeded noise.
#[derive(Debug, Clone, Copy)]
pub struct LoudnessEngine {
    /// Multiplies the mouth opening (1 = default, 0 = closed mouth).
    pub mouth_scale: f32,
    /// Multiplies the head sway (1 = default, 0 = still head).
    pub head_scale: f32,
    /// Seed of the head-sway noise; the same seed gives the same motion.
    pub seed: u64,
}

impl Default for LoudnessEngine {
    fn default() -> Self {
        Self {
            mouth_scale: 1.0,
            head_scale: 1.0,
            seed: 0,
        }
    }
}

impl LoudnessEngine {
    /// Computes `fps.frame_count(...)` frames of motion for `clip`.
    pub fn drive(&self, clip: &AudioClip, fps: Fps) -> MotionTrack {
        let n = fps.frame_count(clip.samples.len() as u64, clip.sample_rate) as usize;
        let mouth = self.mouth_curve(clip, fps, n);
        let sway = Sway::new(self.seed);
        let frames = (0..n)
            .map(|i| {
                let t = i as f64 / fps.as_f64();
                let (dx, dy, roll) = sway.at(t);
                let h = self.head_scale;
                MotionFrame {
                    expression: Expression {
                        jaw_open: mouth[i],
                        ..Default::default()
                    },
                    // A slight nod down with each loud syllable reads as emphasis.
                    head: HeadMotion {
                        tx: h * 0.18 * dx,
                        ty: h * (0.12 * dy + 0.09 * mouth[i]),
                        roll: -h * 0.025 * roll,
                        ..Default::default()
                    },
                    gaze: None,
                }
            })
            .collect();
        MotionTrack { fps, frames }
    }

    /// Mouth opening per frame from the frame-wise RMS level in dB.
    fn mouth_curve(&self, clip: &AudioClip, fps: Fps, n: usize) -> Vec<f32> {
        let rate = clip.sample_rate as f64;
        let s = &clip.samples;
        // First difference: a cheap high-pass that ignores rumble and DC.
        let level_db: Vec<f32> = (0..n)
            .map(|i| {
                let centre = (i as f64 + 0.5) / fps.as_f64() * rate;
                let half = (rate / fps.as_f64()).max(2.0);
                let a = ((centre - half).max(1.0)) as usize;
                let b = ((centre + half) as usize).min(s.len());
                if b <= a {
                    return -120.0;
                }
                let energy: f64 = (a..b)
                    .map(|k| ((s[k] - s[k - 1]) as f64).powi(2))
                    .sum::<f64>()
                    / (b - a) as f64;
                (10.0 * (energy + 1e-12).log10()) as f32
            })
            .collect();
        // Normalise to the loud end of this clip so quiet recordings still move.
        let mut sorted = level_db.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let loud = sorted
            .get(sorted.len() * 95 / 100)
            .copied()
            .unwrap_or(-120.0);
        let floor = loud - 30.0;
        let mut out = Vec::with_capacity(n);
        let mut state = 0.0f32;
        for db in level_db {
            let target = ((db - floor) / 24.0).clamp(0.0, 1.0).powf(1.3) * self.mouth_scale;
            // Open fast, close a little slower, like jaw muscles.
            let k = if target > state { 0.7 } else { 0.45 };
            state += k * (target - state);
            out.push(state.max(0.0));
        }
        out
    }
}

/// Seeded smooth noise for head sway: a few slow sines per axis.
struct Sway {
    /// (frequency Hz, phase rad) triples for x, y and roll.
    waves: [[(f64, f64); 3]; 3],
}

impl Sway {
    fn new(seed: u64) -> Self {
        let mut rng = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15);
        let mut waves = [[(0.0, 0.0); 3]; 3];
        for axis in waves.iter_mut() {
            for w in axis.iter_mut() {
                *w = (0.08 + 0.5 * rng.unit(), std::f64::consts::TAU * rng.unit());
            }
        }
        Self { waves }
    }

    fn at(&self, t: f64) -> (f32, f32, f32) {
        let axis = |i: usize| {
            self.waves[i]
                .iter()
                .map(|(f, p)| (std::f64::consts::TAU * f * t + p).sin())
                .sum::<f64>() as f32
                / 3.0
        };
        (axis(0), axis(1), axis(2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst_clip() -> AudioClip {
        // 1 s silence, 1 s of a voiced-like buzz, 1 s silence.
        let rate = 16_000;
        let samples = (0..3 * rate)
            .map(|i| {
                let t = i as f32 / rate as f32;
                if (1.0..2.0).contains(&t) {
                    0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                        + 0.1 * (2.0 * std::f32::consts::PI * 1100.0 * t).sin()
                } else {
                    0.0
                }
            })
            .collect();
        AudioClip::new(samples, rate as u32)
    }

    #[test]
    fn mouth_opens_only_while_there_is_sound() {
        let track = LoudnessEngine::default().drive(&burst_clip(), Fps::new(25, 1).unwrap());
        assert_eq!(track.frames.len(), 75);
        let open = |r: std::ops::Range<usize>| {
            track.frames[r.clone()]
                .iter()
                .map(|f| f.expression.jaw_open)
                .sum::<f32>()
                / r.len() as f32
        };
        assert!(open(5..20) < 0.05, "silence {}", open(5..20));
        assert!(open(30..45) > 0.5, "speech {}", open(30..45));
        assert!(open(60..75) < 0.05, "silence {}", open(60..75));
    }

    #[test]
    fn seed_and_scales_control_motion() {
        let clip = burst_clip();
        let fps = Fps::new(30, 1).unwrap();
        let a = LoudnessEngine {
            seed: 1,
            ..Default::default()
        }
        .drive(&clip, fps);
        let b = LoudnessEngine {
            seed: 1,
            ..Default::default()
        }
        .drive(&clip, fps);
        let c = LoudnessEngine {
            seed: 2,
            ..Default::default()
        }
        .drive(&clip, fps);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let still = LoudnessEngine {
            head_scale: 0.0,
            mouth_scale: 0.0,
            seed: 1,
        }
        .drive(&clip, fps);
        assert!(still.frames.iter().all(|f| *f == MotionFrame::default()));
    }

    #[test]
    fn frame_count_follows_any_fps() {
        let clip = burst_clip();
        let fps = Fps::new(30_000, 1001).unwrap();
        assert_eq!(LoudnessEngine::default().drive(&clip, fps).frames.len(), 90);
    }
}
