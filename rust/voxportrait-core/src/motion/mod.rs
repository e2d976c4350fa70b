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
//!   procedural head motion, blinks and brow raises;
//! - [`recognizer`]: the learned engine (encoder + trained head);
//! - [`engine`]: the whole stage in one call, [`engine::audio_to_motion`].

pub mod blink;
pub mod coarticulation;
pub mod energy;
pub mod engine;
pub mod expression;
pub mod head;
pub mod prosody;
pub mod recognizer;
pub(crate) mod rng;
pub mod visemes;
pub mod whisper;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::video::Fps;
pub use expression::Expression;

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

impl HeadMotion {
    /// Field names in array order (the columns of the Python API's `[N, 6]`
    /// arrays).
    pub const NAMES: [&'static str; 6] = ["yaw", "pitch", "roll", "tx", "ty", "scale"];

    /// The fields in [`HeadMotion::NAMES`] order.
    pub fn to_array(&self) -> [f32; 6] {
        [
            self.yaw, self.pitch, self.roll, self.tx, self.ty, self.scale,
        ]
    }

    /// Head motion from an array in [`HeadMotion::NAMES`] order.
    pub fn from_array(a: [f32; 6]) -> Self {
        Self {
            yaw: a[0],
            pitch: a[1],
            roll: a[2],
            tx: a[3],
            ty: a[4],
            scale: a[5],
        }
    }
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
