//! The audio → motion stage as one call: viseme posteriors (learned or
//! model-free engine) → segments → coarticulated mouth, plus procedural
//! head motion, blinks and brow raises from the prosody, at any fps.

use super::blink::{blink_track, brow_track, BlinkOptions, BrowOptions};
use super::coarticulation::{mouth_track, CoarticulationOptions};
use super::head::{head_track, HeadOptions};
use super::prosody::{self, Prosody};
use super::visemes::{decode, DecodeOptions, Posterior, VisemeSegment, VISEME_RATE};
use super::{MotionFrame, MotionTrack};
use crate::audio::AudioClip;
use crate::error::{Error, Result};
use crate::video::Fps;

/// Which viseme engine listens to the audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisemeEngine {
    /// Whisper tiny.en encoder + the trained viseme head (English-trained;
    /// the better one on speech, see `models/viseme_head.md`).
    Learned,
    /// Model-free: energy, spectral tilt and band ratios. Any language,
    /// singing, and the fallback without the learned weights.
    Energy,
}

impl VisemeEngine {
    /// Every engine, default first.
    pub const ALL: [VisemeEngine; 2] = [VisemeEngine::Learned, VisemeEngine::Energy];

    /// The name used on the command line and in the APIs.
    pub fn name(self) -> &'static str {
        match self {
            VisemeEngine::Learned => "learned",
            VisemeEngine::Energy => "energy",
        }
    }

    /// Parses [`VisemeEngine::name`]; the error lists the valid names.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name.trim().to_ascii_lowercase())
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown viseme engine {name:?}; choose one of: learned, energy"
                ))
            })
    }

    /// 50 Hz viseme posteriors of `clip`.
    pub fn posteriors(self, clip: &AudioClip) -> Result<Vec<Posterior>> {
        match self {
            VisemeEngine::Learned => {
                super::recognizer::VisemeRecognizer::shared()?.posteriors(clip)
            }
            VisemeEngine::Energy => Ok(super::energy::viseme_posteriors(clip)),
        }
    }
}

/// Every control of the audio → motion stage.
#[derive(Debug, Clone, Copy)]
pub struct MotionOptions {
    /// Output frame rate (any rational rate).
    pub fps: Fps,
    /// Viseme engine.
    pub engine: VisemeEngine,
    /// Mouth: scale and lead (see [`CoarticulationOptions`]).
    pub mouth: CoarticulationOptions,
    /// Head motion: preset, scale (0 = still) and seed.
    pub head: HeadOptions,
    /// Blinks: rate per minute (0 = off) and seed.
    pub blink: BlinkOptions,
    /// Brow raises on pitch accents.
    pub brow: BrowOptions,
    /// Temporal decoding of the visemes.
    pub decode: DecodeOptions,
}

impl MotionOptions {
    /// Defaults at `fps`: learned engine, natural mouth, calm head, 17
    /// blinks a minute, seed 0.
    pub fn new(fps: Fps) -> Self {
        Self {
            fps,
            engine: VisemeEngine::Learned,
            mouth: CoarticulationOptions::default(),
            head: HeadOptions::default(),
            blink: BlinkOptions::default(),
            brow: BrowOptions::default(),
            decode: DecodeOptions::default(),
        }
    }

    /// Sets one seed for every random part (head, blinks, brows).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.head.seed = seed;
        self.blink.seed = seed.wrapping_add(1);
        self
    }
}

/// The stage's result: the motion plus the visemes behind it, for exports.
#[derive(Debug, Clone)]
pub struct Motion {
    /// Per-frame motion at the requested fps.
    pub track: MotionTrack,
    /// Viseme posteriors at [`VISEME_RATE`].
    pub posteriors: Vec<Posterior>,
    /// Decoded viseme segments.
    pub segments: Vec<VisemeSegment>,
    /// The engine that produced them.
    pub engine: VisemeEngine,
}

/// Audio → motion: `opts.fps.frame_count(...)` frames covering the clip.
pub fn audio_to_motion(clip: &AudioClip, opts: &MotionOptions) -> Result<Motion> {
    let posteriors = opts.engine.posteriors(clip)?;
    let segments = decode(&posteriors, &opts.decode);
    let prosody = prosody::analyze(clip);
    let frames = opts
        .fps
        .frame_count(clip.samples.len() as u64, clip.sample_rate) as usize;
    let track = assemble(&segments, &prosody, frames, opts);
    Ok(Motion {
        track,
        posteriors,
        segments,
        engine: opts.engine,
    })
}

/// Idle motion for `seconds` with no audio: closed mouth, calm breathing
/// head motion, blinks.
pub fn idle_motion(seconds: f64, opts: &MotionOptions) -> Result<MotionTrack> {
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= 24.0 * 3600.0) {
        return Err(Error::Input(format!(
            "idle length {seconds} s must be between 0 and 24 hours"
        )));
    }
    let frames = (seconds * opts.fps.as_f64()).round().max(1.0) as usize;
    Ok(assemble(&[], &Prosody::silent(seconds), frames, opts))
}

/// Combines mouth, head, blinks and brows into frames.
fn assemble(
    segments: &[VisemeSegment],
    prosody: &Prosody,
    frames: usize,
    opts: &MotionOptions,
) -> MotionTrack {
    let fps = opts.fps;
    let mouth = mouth_track(segments, fps.as_f64(), frames, &opts.mouth);
    let head = head_track(prosody, fps, frames, &opts.head);
    let blinks = blink_track(prosody, fps, frames, &opts.blink);
    let brows = brow_track(prosody, fps, frames, &opts.brow, opts.head.seed ^ 0xB60);
    let frames = (0..frames)
        .map(|i| {
            let mut expression = mouth[i];
            expression.blink_left = blinks[i];
            expression.blink_right = blinks[i];
            expression.brow_raise = brows[i];
            MotionFrame {
                expression,
                head: head[i],
                gaze: None,
            }
        })
        .collect();
    MotionTrack { fps, frames }
}

/// Seconds per viseme posterior frame.
pub const VISEME_FRAME_SECONDS: f64 = 1.0 / VISEME_RATE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::visemes::Viseme;

    fn speech() -> AudioClip {
        crate::audio::load(
            &crate::testdata::example("speech.wav"),
            &crate::audio::LoadOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn engine_names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!(VisemeEngine::parse("Energy").unwrap(), VisemeEngine::Energy);
        let e = VisemeEngine::parse("wav2lip").unwrap_err().to_string();
        assert!(e.contains("learned, energy"), "{e}");
    }

    #[test]
    fn speech_moves_mouth_head_and_eyes_at_any_fps() {
        let clip = speech();
        for (engine, fps) in [
            (VisemeEngine::Learned, Fps::new(25, 1).unwrap()),
            (VisemeEngine::Energy, Fps::new(30000, 1001).unwrap()),
        ] {
            let opts = MotionOptions {
                engine,
                ..MotionOptions::new(fps)
            };
            let m = audio_to_motion(&clip, &opts).unwrap();
            let n = fps.frame_count(clip.samples.len() as u64, clip.sample_rate) as usize;
            assert_eq!(m.track.frames.len(), n);
            let f = &m.track.frames;
            let open = f.iter().filter(|x| x.expression.jaw_open > 0.3).count();
            assert!(
                open > n / 10,
                "{engine:?}: mouth open on only {open} of {n} frames"
            );
            assert!(
                f.iter().any(|x| x.expression.blink_left > 0.8),
                "{engine:?}: no blink"
            );
            assert!(
                f.iter().any(|x| x.head.pitch.abs() > 0.005),
                "{engine:?}: still head"
            );
            assert!(
                m.segments.iter().any(|s| s.viseme == Viseme::PP),
                "{engine:?}: no PP"
            );
        }
    }

    #[test]
    fn still_mode_and_no_blinks_are_honoured() {
        let mut opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        opts.engine = VisemeEngine::Energy;
        opts.head.scale = 0.0;
        opts.blink.rate_per_minute = 0.0;
        let m = audio_to_motion(&speech(), &opts).unwrap();
        assert!(m.track.frames.iter().all(|f| f.head == Default::default()));
        assert!(m
            .track
            .frames
            .iter()
            .all(|f| f.expression.blink_left == 0.0));
    }

    #[test]
    fn idle_motion_keeps_the_mouth_closed_and_the_face_alive() {
        let opts = MotionOptions::new(Fps::new(25, 1).unwrap());
        let t = idle_motion(20.0, &opts).unwrap();
        assert_eq!(t.frames.len(), 500);
        assert!(t.frames.iter().all(|f| f.expression.jaw_open == 0.0));
        assert!(t.frames.iter().any(|f| f.expression.blink_left > 0.8));
        assert!(t.frames.iter().any(|f| f.head.yaw.abs() > 0.002));
        assert!(idle_motion(0.0, &opts).is_err());
    }

    #[test]
    fn the_track_survives_a_json_round_trip() {
        let opts = MotionOptions::new(Fps::new(24, 1).unwrap());
        let t = idle_motion(2.0, &opts).unwrap();
        let back = MotionTrack::from_json(&t.to_json()).unwrap();
        assert_eq!(back, t);
        assert!(MotionTrack::from_json("{\"format\": \"x\"}").is_err());
    }
}
