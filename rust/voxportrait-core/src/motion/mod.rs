//! Motion stage: audio → per-frame motion parameters.
//!
//! The foundation ships one explicitly named, deliberately simple engine,
//! [`LoudnessEngine`]: the mouth opens with the loudness envelope of the
//! speech, and the head sways with seeded smooth noise. It is a placeholder
//! until the learned audio-to-motion stage (visemes, expressions, head pose,
//! blinks) lands; the renderer only consumes [`MotionTrack`].

pub mod whisper;

use crate::audio::AudioClip;
use crate::video::Fps;

/// Motion of one video frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MotionFrame {
    /// Mouth opening, 0 (closed) to about 1 (wide open).
    pub mouth_open: f32,
    /// Horizontal head shift, as a fraction of the face width.
    pub head_dx: f32,
    /// Vertical head shift, as a fraction of the face width.
    pub head_dy: f32,
    /// In-plane head rotation, radians (positive is clockwise on screen).
    pub head_roll: f32,
}

/// Motion for a whole clip: one [`MotionFrame`] per video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct MotionTrack {
    /// Frame rate the frames are sampled at.
    pub fps: Fps,
    /// One entry per output frame.
    pub frames: Vec<MotionFrame>,
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
                    mouth_open: mouth[i],
                    // A slight nod down with each loud syllable reads as emphasis.
                    head_dx: h * 0.012 * dx,
                    head_dy: h * (0.008 * dy + 0.006 * mouth[i]),
                    head_roll: h * 0.025 * roll,
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

/// SplitMix64: a tiny PRNG written out here (rather than `rand`) so a seed
/// gives the same motion forever, whatever a dependency's version does.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
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
                .map(|f| f.mouth_open)
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
