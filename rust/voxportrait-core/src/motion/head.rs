//! Procedural, audio-aware head motion (no learned model: no audio-to-pose
//! data can be had here).
//!
//! Everything is generated on the fixed [`prosody::RATE`] grid (100 Hz) and
//! only then sampled at the video frames, so a seed gives the same
//! continuous motion at any fps. Per axis the pose is the sum of:
//!
//! - a slow **drift** of the rest pose: seeded white noise through a
//!   2nd-order low-pass (~0.06–0.09 Hz); it never stops, so pauses and idle
//!   clips are alive, not frozen;
//! - **sway**: seeded white noise through a 2nd-order band-pass at the
//!   preset's tempo (0.2–0.6 Hz, energy in about 0.05–1.5 Hz), whose
//!   amplitude follows a slow envelope of the speech activity, so the head
//!   moves more while speaking and settles during pauses;
//! - a **phrase lean**: each phrase picks a small seeded lean (yaw, pitch,
//!   roll) that the head eases into and out of, back to rest in the pause;
//! - **nods** (pitch down and back, 250–500 ms) with small tilts and turns on
//!   prominence events, scaled by their strength, with a refractory time;
//! - **breathing**: a slow size and height oscillation.
//!
//! Angles are then soft-limited (tanh) inside ±12° yaw, ±10° pitch, ±8°
//! roll, and everything is multiplied by the pose scale.

use std::fmt;
use std::str::FromStr;

use super::prosody::{self, Prosody};
use super::rng::SplitMix64;
use super::HeadMotion;
use crate::error::Error;
use crate::video::Fps;

/// Grid step, seconds.
const DT: f64 = 1.0 / prosody::RATE;
/// Soft limits of yaw, pitch and roll at scale 1, degrees (just inside the
/// promised ±12°, ±10°, ±8°).
const LIMIT_DEG: [f32; 3] = [11.5, 9.5, 7.5];
/// Soft limit of the translations at scale 1, canonical cm.
const LIMIT_CM: f32 = 2.0;
/// Corner of the low-pass after the sway band-pass, Hz: a band-pass alone
/// falls only 6 dB an octave and would leave visible jitter.
const SWAY_CUTOFF: f64 = 1.5;
/// Sideways shift of the face per radian of roll, cm: the head tilts about
/// the neck, below the face.
const ROLL_TO_TX: f32 = -6.0;
/// Downward shift of the face per radian of pitch, cm (nodding about the neck).
const PITCH_TO_TY: f32 = 3.0;

/// A style of head motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeadPreset {
    /// Small, slow motion and occasional nods: the safe default.
    #[default]
    Calm,
    /// Bigger, quicker motion and frequent nods: animated conversation.
    Lively,
    /// Little turning, precise small nods on the stresses: reading to camera.
    Newsreader,
    /// Slow sways and large tilts that follow the phrases.
    Singing,
}

impl HeadPreset {
    /// Every preset, in the order the names are listed to users.
    pub const ALL: [HeadPreset; 4] = [
        HeadPreset::Calm,
        HeadPreset::Lively,
        HeadPreset::Newsreader,
        HeadPreset::Singing,
    ];

    /// The lowercase name used on the command line and in files.
    pub fn name(self) -> &'static str {
        match self {
            HeadPreset::Calm => "calm",
            HeadPreset::Lively => "lively",
            HeadPreset::Newsreader => "newsreader",
            HeadPreset::Singing => "singing",
        }
    }

    /// The numbers that make up the preset.
    fn params(self) -> Params {
        match self {
            HeadPreset::Calm => Params {
                sway_hz: 0.35,
                idle: [0.5, 0.35, 0.3, 0.08, 0.05],
                speech: [1.8, 1.1, 0.9, 0.25, 0.12],
                drift_hz: 0.07,
                drift: [1.2, 0.7, 0.5, 0.2, 0.1],
                lean: [1.2, 0.6, 0.8],
                lean_tau: 0.6,
                envelope: (0.4, 1.0),
                nod: Nods {
                    degrees: 1.6,
                    min_strength: 0.45,
                    probability: 0.6,
                    refractory: 1.5,
                    duration: (0.3, 0.4),
                    tilt: 0.3,
                    turn: 0.3,
                },
            },
            HeadPreset::Lively => Params {
                sway_hz: 0.6,
                idle: [0.8, 0.5, 0.4, 0.1, 0.06],
                speech: [3.2, 1.8, 1.6, 0.4, 0.2],
                drift_hz: 0.09,
                drift: [1.8, 0.9, 0.7, 0.3, 0.15],
                lean: [2.5, 1.0, 1.8],
                lean_tau: 0.4,
                envelope: (0.25, 0.8),
                nod: Nods {
                    degrees: 3.0,
                    min_strength: 0.3,
                    probability: 0.9,
                    refractory: 0.6,
                    duration: (0.25, 0.35),
                    tilt: 0.5,
                    turn: 0.5,
                },
            },
            HeadPreset::Newsreader => Params {
                sway_hz: 0.45,
                idle: [0.2, 0.25, 0.15, 0.04, 0.04],
                speech: [0.5, 0.8, 0.35, 0.08, 0.08],
                drift_hz: 0.06,
                drift: [0.4, 0.35, 0.25, 0.08, 0.06],
                lean: [0.3, 0.4, 0.2],
                lean_tau: 0.6,
                envelope: (0.3, 0.8),
                nod: Nods {
                    degrees: 1.4,
                    min_strength: 0.35,
                    probability: 0.85,
                    refractory: 0.9,
                    duration: (0.25, 0.3),
                    tilt: 0.1,
                    turn: 0.05,
                },
            },
            HeadPreset::Singing => Params {
                sway_hz: 0.22,
                idle: [0.7, 0.4, 0.8, 0.1, 0.05],
                speech: [2.2, 1.2, 2.6, 0.35, 0.15],
                drift_hz: 0.06,
                drift: [1.2, 0.6, 1.0, 0.2, 0.1],
                lean: [1.8, 1.0, 3.5],
                lean_tau: 0.9,
                envelope: (0.6, 1.5),
                nod: Nods {
                    degrees: 1.2,
                    min_strength: 0.55,
                    probability: 0.5,
                    refractory: 2.0,
                    duration: (0.35, 0.5),
                    tilt: 0.8,
                    turn: 0.3,
                },
            },
        }
    }
}

impl fmt::Display for HeadPreset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for HeadPreset {
    type Err = Error;

    /// Parses a preset name, ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Error> {
        let want = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|p| p.name() == want)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|p| p.name()).collect();
                Error::Input(format!(
                    "unknown head-motion preset {s:?}; use one of: {}",
                    names.join(", ")
                ))
            })
    }
}

/// Controls of [`head_track`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadOptions {
    /// Style of motion.
    pub preset: HeadPreset,
    /// Multiplies all motion (1 = the preset as designed, 0 = still head).
    pub scale: f32,
    /// Seed of the random parts; the same seed gives the same motion.
    pub seed: u64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        Self {
            preset: HeadPreset::Calm,
            scale: 1.0,
            seed: 0,
        }
    }
}

/// The numbers of a preset. Amplitude arrays are standard deviations for
/// yaw, pitch, roll (degrees), tx, ty (cm).
#[derive(Debug, Clone, Copy)]
struct Params {
    /// Centre frequency of the sway band-pass, Hz.
    sway_hz: f64,
    /// Sway amplitude in pauses and idle.
    idle: [f32; 5],
    /// Sway amplitude while speaking.
    speech: [f32; 5],
    /// Corner of the rest-pose drift low-pass, Hz.
    drift_hz: f64,
    /// Drift amplitude.
    drift: [f32; 5],
    /// Per-phrase lean amplitude, yaw, pitch, roll in degrees.
    lean: [f32; 3],
    /// Time constant of easing into and out of a lean, seconds.
    lean_tau: f64,
    /// Attack and release of the activity envelope, seconds.
    envelope: (f64, f64),
    /// Nods on prominences.
    nod: Nods,
}

/// How a preset nods.
#[derive(Debug, Clone, Copy)]
struct Nods {
    /// Nod depth for a full-strength prominence, degrees.
    degrees: f32,
    /// Weaker prominences get no nod.
    min_strength: f32,
    /// Chance that an eligible prominence gets a nod.
    probability: f32,
    /// Shortest time from one nod to the next, seconds.
    refractory: f64,
    /// Range of nod durations, seconds.
    duration: (f64, f64),
    /// Roll that goes with a nod, as a fraction of its depth.
    tilt: f32,
    /// Yaw that goes with a nod, as a fraction of its depth.
    turn: f32,
}

/// One nod gesture placed on the time line.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Nod {
    /// Start time, seconds (the deepest point is half a duration later).
    start: f64,
    /// Length, seconds.
    duration: f64,
    /// Depth, degrees (positive = down).
    pitch: f32,
    /// Accompanying roll and yaw at the deepest point, degrees.
    roll: f32,
    yaw: f32,
}

/// Head pose for `frames` video frames at `fps` (frame `i` at `i / fps`
/// seconds), driven by `prosody`. Deterministic for a seed; scale 0 gives
/// exactly `HeadMotion::default()` on every frame.
pub fn head_track(
    prosody: &Prosody,
    fps: Fps,
    frames: usize,
    opts: &HeadOptions,
) -> Vec<HeadMotion> {
    if opts.scale == 0.0 || frames == 0 {
        return vec![HeadMotion::default(); frames];
    }
    let seconds = (frames as f64 / fps.as_f64()).max(prosody.duration_seconds());
    let curves = pose_curves(prosody, seconds, opts);
    (0..frames)
        .map(|i| {
            let t = i as f64 / fps.as_f64();
            let at = |c: &[f32]| sample(c, t);
            let s = opts.scale;
            HeadMotion {
                yaw: s * at(&curves[0]).to_radians(),
                pitch: s * at(&curves[1]).to_radians(),
                roll: s * at(&curves[2]).to_radians(),
                tx: s * at(&curves[3]),
                ty: s * at(&curves[4]),
                scale: 1.0 + s * at(&curves[5]),
            }
        })
        .collect()
}

/// The pose on the 100 Hz grid at scale 1: yaw, pitch, roll (degrees), tx,
/// ty (cm) and the size change, covering `seconds` plus a margin.
fn pose_curves(prosody: &Prosody, seconds: f64, opts: &HeadOptions) -> [Vec<f32>; 6] {
    let p = opts.preset.params();
    let n = (seconds / DT).ceil() as usize + 2;
    let env = envelope(prosody, n, p.envelope);
    let lean = phrase_lean(prosody, n, &p, opts.seed);
    let mut axes: [Vec<f32>; 5] = std::array::from_fn(|a| {
        let drift = filtered_noise(
            stream(opts.seed, 10 + a as u64),
            &[Biquad::lowpass(p.drift_hz, std::f64::consts::FRAC_1_SQRT_2)],
            n,
        );
        let sway = filtered_noise(
            stream(opts.seed, 20 + a as u64),
            &[
                Biquad::bandpass(p.sway_hz, 0.8),
                Biquad::lowpass(SWAY_CUTOFF, std::f64::consts::FRAC_1_SQRT_2),
            ],
            n,
        );
        (0..n)
            .map(|k| {
                let amp = p.idle[a] + (p.speech[a] - p.idle[a]) * env[k];
                p.drift[a] * drift[k] + amp * sway[k] + lean.get(a).map_or(0.0, |l| l[k])
            })
            .collect()
    });
    for nod in nods(prosody, &p.nod, opts.seed) {
        add_nod(&mut axes, &nod);
    }
    let (breath_size, breath_ty) = breathing(n, opts.seed);
    for a in 0..3 {
        let limit = LIMIT_DEG[a];
        axes[a].iter_mut().for_each(|v| *v = soft_limit(*v, limit));
    }
    let [yaw, pitch, roll, mut tx, mut ty] = axes;
    for k in 0..n {
        tx[k] = soft_limit(tx[k] + ROLL_TO_TX * roll[k].to_radians(), LIMIT_CM);
        ty[k] = soft_limit(
            ty[k] + PITCH_TO_TY * pitch[k].to_radians() + breath_ty[k],
            LIMIT_CM,
        );
    }
    [yaw, pitch, roll, tx, ty, breath_size]
}

/// A random stream for one component of the motion, independent of the
/// others and of how long the clip is.
fn stream(seed: u64, component: u64) -> SplitMix64 {
    let mut rng = SplitMix64(seed ^ component.wrapping_mul(0xD1B5_4A32_D192_ED03));
    rng.next();
    rng
}

/// `L·tanh(x/L)`: linear for small motion, never beyond `limit`.
fn soft_limit(x: f32, limit: f32) -> f32 {
    limit * (x / limit).tanh()
}

/// A curve on the grid at `t` seconds, linearly interpolated (the curves
/// hold nothing above 2 Hz, so 100 Hz linear interpolation is exact to
/// well under 1 %).
fn sample(curve: &[f32], t: f64) -> f32 {
    let p = (t / DT).max(0.0);
    let k = (p.floor() as usize).min(curve.len() - 2);
    let f = (p - k as f64).min(1.0) as f32;
    curve[k] + f * (curve[k + 1] - curve[k])
}

/// Speech activity smoothed with separate attack and release times: how
/// much the head is "in speaking mode".
fn envelope(prosody: &Prosody, n: usize, (attack, release): (f64, f64)) -> Vec<f32> {
    let (up, down) = (
        (1.0 - (-DT / attack).exp()) as f32,
        (1.0 - (-DT / release).exp()) as f32,
    );
    let mut state = 0.0f32;
    (0..n)
        .map(|k| {
            let target = prosody.activity_at(k as f64 * DT);
            state += if target > state { up } else { down } * (target - state);
            state
        })
        .collect()
}

/// A second-order IIR section (RBJ cookbook), run in f64.
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    x: [f64; 2],
    y: [f64; 2],
}

impl Biquad {
    fn new(b: [f64; 3], a0: f64, a: [f64; 2]) -> Self {
        Self {
            b: b.map(|v| v / a0),
            a: a.map(|v| v / a0),
            x: [0.0; 2],
            y: [0.0; 2],
        }
    }

    /// Low-pass with corner `hz` on the grid.
    fn lowpass(hz: f64, q: f64) -> Self {
        let (w, alpha) = Self::angle(hz, q);
        let c = w.cos();
        Self::new(
            [(1.0 - c) / 2.0, 1.0 - c, (1.0 - c) / 2.0],
            1.0 + alpha,
            [-2.0 * c, 1.0 - alpha],
        )
    }

    /// Band-pass with unit gain at `hz` on the grid.
    fn bandpass(hz: f64, q: f64) -> Self {
        let (w, alpha) = Self::angle(hz, q);
        Self::new(
            [alpha, 0.0, -alpha],
            1.0 + alpha,
            [-2.0 * w.cos(), 1.0 - alpha],
        )
    }

    fn angle(hz: f64, q: f64) -> (f64, f64) {
        let w = std::f64::consts::TAU * hz * DT;
        (w, w.sin() / (2.0 * q))
    }

    fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.b[1] * self.x[0] + self.b[2] * self.x[1]
            - self.a[0] * self.y[0]
            - self.a[1] * self.y[1];
        self.x = [x, self.x[0]];
        self.y = [y, self.y[0]];
        y
    }
}

/// Runs `x` through a chain of sections.
fn run_chain(chain: &mut [Biquad], x: f64) -> f64 {
    chain.iter_mut().fold(x, |v, f| f.step(v))
}

/// Standard deviation of a chain's output for unit white noise in: the
/// root of its impulse response's energy, summed until the response has
/// died away (before it turns subnormal, which is very slow arithmetic).
fn noise_gain(chain: &[Biquad]) -> f64 {
    let mut c = chain.to_vec();
    let mut energy = run_chain(&mut c, 1.0).powi(2);
    for _ in 0..100_000 {
        energy += run_chain(&mut c, 0.0).powi(2);
        let state = c
            .iter()
            .flat_map(|f| f.y.iter().chain(&f.x))
            .fold(0.0f64, |m, v| m.max(v.abs()));
        if state < 1e-12 {
            break;
        }
    }
    energy.sqrt()
}

/// `n` grid samples of seeded white noise through `chain`, scaled to unit
/// standard deviation once settled. It starts from rest, so the head starts
/// at the source pose.
fn filtered_noise(mut rng: SplitMix64, chain: &[Biquad], n: usize) -> Vec<f32> {
    let gain = noise_gain(chain);
    let mut c = chain.to_vec();
    (0..n)
        .map(|_| (run_chain(&mut c, rng.normal()) / gain) as f32)
        .collect()
}

/// Yaw, pitch, roll lean per grid sample: each phrase (a run of activity
/// above 0.5) draws a lean the head eases into (two cascaded one-pole
/// filters, so velocity is continuous), and back to rest in the pauses.
fn phrase_lean(prosody: &Prosody, n: usize, p: &Params, seed: u64) -> [Vec<f32>; 3] {
    let mut rng = stream(seed, 30);
    let k = (1.0 - (-DT / p.lean_tau).exp()) as f32;
    let mut out: [Vec<f32>; 3] = std::array::from_fn(|_| Vec::with_capacity(n));
    let (mut target, mut stage1, mut stage2) = ([0.0f32; 3], [0.0f32; 3], [0.0f32; 3]);
    let mut speaking = false;
    for i in 0..n {
        let now = prosody.activity_at(i as f64 * DT) > 0.5;
        if now && !speaking {
            target = std::array::from_fn(|a| p.lean[a] * rng.normal() as f32);
        }
        speaking = now;
        for a in 0..3 {
            let goal = if speaking { target[a] } else { 0.0 };
            stage1[a] += k * (goal - stage1[a]);
            stage2[a] += k * (stage1[a] - stage2[a]);
            out[a].push(stage2[a]);
        }
    }
    out
}

/// Nods placed on the prominences: strong enough ones, at most one per
/// refractory time, each kept with the preset's probability, depth scaled
/// by strength, with a seeded tilt and turn.
fn nods(prosody: &Prosody, n: &Nods, seed: u64) -> Vec<Nod> {
    let mut rng = stream(seed, 40);
    let mut out: Vec<Nod> = Vec::new();
    for event in &prosody.prominences {
        // Draw for every event so one choice does not shift the others.
        let (keep, depth, length, tilt, turn) = (
            rng.unit() as f32,
            rng.unit() as f32,
            rng.unit(),
            rng.normal() as f32,
            rng.normal() as f32,
        );
        if event.strength < n.min_strength || keep >= n.probability {
            continue;
        }
        if out
            .last()
            .is_some_and(|last| event.time - (last.start + last.duration / 2.0) < n.refractory)
        {
            continue;
        }
        let duration = n.duration.0 + (n.duration.1 - n.duration.0) * length;
        let pitch = n.degrees * (0.5 + 0.5 * event.strength) * (0.8 + 0.4 * depth);
        out.push(Nod {
            start: event.time - duration / 2.0,
            duration,
            pitch,
            roll: n.tilt * pitch * tilt.clamp(-1.5, 1.5),
            yaw: n.turn * pitch * turn.clamp(-1.5, 1.5),
        });
    }
    out
}

/// Shape of a nod at `u` = time / duration: down and back as sin²(πu), then
/// a small rebound above rest that settles by u = 1.6.
fn nod_shape(u: f64) -> f32 {
    let pi = std::f64::consts::PI;
    let v = if (0.0..1.0).contains(&u) {
        (pi * u).sin().powi(2)
    } else if (1.0..1.6).contains(&u) {
        -0.2 * (pi * (u - 1.0) / 0.6).sin().powi(2)
    } else {
        0.0
    };
    v as f32
}

/// Adds one nod to the yaw, pitch and roll curves.
fn add_nod(axes: &mut [Vec<f32>; 5], nod: &Nod) {
    let n = axes[0].len();
    let first = (nod.start / DT).floor().max(0.0) as usize;
    let last = (((nod.start + 1.6 * nod.duration) / DT).ceil() as usize).min(n);
    if first >= last {
        return;
    }
    let shape: Vec<f32> = (first..last)
        .map(|k| nod_shape((k as f64 * DT - nod.start) / nod.duration))
        .collect();
    for (axis, amount) in [(0, nod.yaw), (1, nod.pitch), (2, nod.roll)] {
        for (v, s) in axes[axis][first..last].iter_mut().zip(&shape) {
            *v += amount * s;
        }
    }
}

/// Breathing on the grid: size change (about ±0.3 %) and vertical shift (cm)
/// at a seeded rate of 13–18 breaths a minute.
fn breathing(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = stream(seed, 50);
    let hz = (13.0 + 5.0 * rng.unit()) / 60.0;
    let phase = std::f64::consts::TAU * rng.unit();
    (0..n)
        .map(|k| {
            let s = (std::f64::consts::TAU * hz * k as f64 * DT + phase).sin() as f32;
            (0.003 * s, -0.04 * s)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::prosody::{speech_like as speechlike, Prominence};

    fn fps(n: u32) -> Fps {
        Fps::new(n, 1).unwrap()
    }

    fn degrees(track: &[HeadMotion], f: impl Fn(&HeadMotion) -> f32) -> Vec<f32> {
        track.iter().map(|h| f(h).to_degrees()).collect()
    }

    fn std(v: &[f32]) -> f32 {
        let m = v.iter().sum::<f32>() / v.len() as f32;
        (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32).sqrt()
    }

    /// Mean absolute frame-to-frame change, in degrees per second.
    fn speed(v: &[f32], fps: f32) -> f32 {
        v.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f32>() / (v.len() - 1) as f32 * fps
    }

    #[test]
    fn presets_parse_and_display_as_lowercase_names() {
        for p in HeadPreset::ALL {
            assert_eq!(p.to_string().parse::<HeadPreset>().unwrap(), p);
        }
        assert_eq!(
            " Lively ".parse::<HeadPreset>().unwrap(),
            HeadPreset::Lively
        );
        let e = "excited".parse::<HeadPreset>().unwrap_err().to_string();
        assert!(e.contains("\"excited\""), "{e}");
        assert!(e.contains("calm, lively, newsreader, singing"), "{e}");
    }

    #[test]
    fn same_continuous_motion_at_25_and_30_fps() {
        let p = speechlike(12.0, 1);
        let opts = HeadOptions {
            preset: HeadPreset::Lively,
            seed: 5,
            ..Default::default()
        };
        let a = head_track(&p, fps(25), 300, &opts);
        let b = head_track(&p, fps(30), 360, &opts);
        // Shared instants (every 0.2 s) agree exactly.
        for k in 0..60 {
            assert_eq!(a[5 * k], b[6 * k], "t = {} s", k as f32 * 0.2);
        }
        // Elsewhere the 30 fps samples lie on the 25 fps curve.
        for (j, h) in b.iter().enumerate().take(359) {
            let t = j as f64 / 30.0;
            let i = (t * 25.0).floor() as usize;
            let f = (t * 25.0 - i as f64) as f32;
            let y = a[i].yaw + f * (a[(i + 1).min(299)].yaw - a[i].yaw);
            assert!((h.yaw - y).abs() < 0.3f32.to_radians(), "frame {j}");
        }
    }

    #[test]
    fn motion_is_smooth_without_jitter() {
        let p = speechlike(30.0, 11);
        for preset in HeadPreset::ALL {
            let t = head_track(
                &p,
                fps(100),
                3000,
                &HeadOptions {
                    preset,
                    seed: 1,
                    scale: 1.0,
                },
            );
            for axis in [
                degrees(&t, |h| h.yaw),
                degrees(&t, |h| h.pitch),
                degrees(&t, |h| h.roll),
            ] {
                // What a 50 ms moving average removes: content above ~10 Hz
                // (white-noise jitter would leave ~1 deg; the curvature of
                // the deepest nods leaves ~0.15 deg).
                let rough = (2..axis.len() - 2)
                    .map(|i| (axis[i] - axis[i - 2..=i + 2].iter().sum::<f32>() / 5.0).abs())
                    .fold(0.0f32, f32::max);
                assert!(rough < 0.2, "{preset}: jitter {rough} deg");
            }
        }
    }

    #[test]
    fn seed_decides_the_motion() {
        let p = speechlike(10.0, 2);
        let opts = |seed| HeadOptions {
            seed,
            ..Default::default()
        };
        let a = head_track(&p, fps(25), 250, &opts(1));
        assert_eq!(a, head_track(&p, fps(25), 250, &opts(1)));
        let c = head_track(&p, fps(25), 250, &opts(2));
        let differ = a
            .iter()
            .zip(&c)
            .filter(|(x, y)| (x.yaw - y.yaw).abs() > 1e-3)
            .count();
        assert!(differ > 200, "{differ} frames differ");
    }

    #[test]
    fn scale_zero_is_exactly_still_and_scale_multiplies() {
        let p = speechlike(6.0, 3);
        let still = head_track(
            &p,
            fps(25),
            150,
            &HeadOptions {
                scale: 0.0,
                ..Default::default()
            },
        );
        assert!(still.iter().all(|h| *h == HeadMotion::default()));
        let one = head_track(&p, fps(25), 150, &HeadOptions::default());
        let half = head_track(
            &p,
            fps(25),
            150,
            &HeadOptions {
                scale: 0.5,
                ..Default::default()
            },
        );
        for (x, y) in one.iter().zip(&half) {
            assert!((0.5 * x.yaw - y.yaw).abs() < 1e-6);
            assert!((0.5 * x.ty - y.ty).abs() < 1e-6);
            assert!((0.5 * (x.scale - 1.0) - (y.scale - 1.0)).abs() < 1e-6);
        }
    }

    #[test]
    fn long_clips_stay_bounded_and_do_not_drift() {
        // 20 minutes of speech, each preset with its own seed.
        let p = speechlike(1200.0, 4);
        for (seed, preset) in HeadPreset::ALL.into_iter().enumerate() {
            let opts = HeadOptions {
                preset,
                seed: seed as u64,
                scale: 1.0,
            };
            let track = head_track(&p, fps(10), 12_000, &opts);
            let yaw = degrees(&track, |h| h.yaw);
            let pitch = degrees(&track, |h| h.pitch);
            let roll = degrees(&track, |h| h.roll);
            let max = |v: &[f32]| v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            assert!(max(&yaw) <= 12.0, "{preset} yaw {}", max(&yaw));
            assert!(max(&pitch) <= 10.0, "{preset} pitch {}", max(&pitch));
            assert!(max(&roll) <= 8.0, "{preset} roll {}", max(&roll));
            // The last five minutes are centred like the first.
            let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
            assert!(mean(&yaw[9000..]).abs() < 2.0, "{preset} yaw drifts");
            assert!(mean(&pitch[9000..]).abs() < 2.0, "{preset} pitch drifts");
            assert!(track.iter().all(|h| h.tx.abs() <= 2.0 && h.ty.abs() <= 2.0));
            assert!(track.iter().all(|h| (h.scale - 1.0).abs() < 0.01));
        }
    }

    #[test]
    fn head_moves_more_while_speaking_and_settles_in_pauses() {
        // 6 s speech, 6 s pause, 6 s speech.
        let mut p = speechlike(6.0, 5);
        p.activity.iter_mut().for_each(|a| *a = 1.0);
        let mut pause = Prosody::silent(6.0);
        let mut again = speechlike(6.0, 6);
        again.activity.iter_mut().for_each(|a| *a = 1.0);
        for q in &mut again.prominences {
            q.time += 12.0;
        }
        p.activity.append(&mut pause.activity);
        p.activity.append(&mut again.activity);
        p.level_db.append(&mut pause.level_db);
        p.level_db.append(&mut again.level_db);
        p.f0.append(&mut pause.f0);
        p.f0.append(&mut again.f0);
        p.prominences.extend(again.prominences);
        let (mut talk, mut rest) = (0.0, 0.0);
        for seed in 0..6 {
            let opts = HeadOptions {
                preset: HeadPreset::Lively,
                seed,
                scale: 1.0,
            };
            let track = head_track(&p, fps(25), 450, &opts);
            let yaw = degrees(&track, |h| h.yaw);
            let pitch = degrees(&track, |h| h.pitch);
            talk += speed(&yaw[50..150], 25.0) + speed(&pitch[50..150], 25.0);
            talk += speed(&yaw[350..450], 25.0) + speed(&pitch[350..450], 25.0);
            rest += 2.0 * (speed(&yaw[220..300], 25.0) + speed(&pitch[220..300], 25.0));
        }
        assert!(rest < 0.6 * talk, "pause {rest} vs speech {talk} deg/s");
        assert!(rest > 0.05 * talk, "frozen in the pause: {rest}");
    }

    #[test]
    fn presets_differ_as_described() {
        let p = speechlike(120.0, 7);
        let stats = |preset| {
            let (mut yaw, mut pitch, mut roll) = (0.0, 0.0, 0.0);
            for seed in 0..3 {
                let t = head_track(
                    &p,
                    fps(10),
                    1200,
                    &HeadOptions {
                        preset,
                        seed,
                        scale: 1.0,
                    },
                );
                yaw += std(&degrees(&t, |h| h.yaw));
                pitch += std(&degrees(&t, |h| h.pitch));
                roll += std(&degrees(&t, |h| h.roll));
            }
            (yaw / 3.0, pitch / 3.0, roll / 3.0)
        };
        let calm = stats(HeadPreset::Calm);
        let lively = stats(HeadPreset::Lively);
        let news = stats(HeadPreset::Newsreader);
        let sing = stats(HeadPreset::Singing);
        assert!(
            lively.0 > 1.4 * calm.0 && lively.1 > 1.2 * calm.1,
            "{lively:?} {calm:?}"
        );
        assert!(news.0 < 0.5 * calm.0, "newsreader yaw {news:?}");
        assert!(
            sing.2 > 1.5 * calm.2 && sing.2 > sing.1,
            "singing roll {sing:?}"
        );
        let count = |preset: HeadPreset| nods(&p, &preset.params().nod, 0).len();
        assert!(count(HeadPreset::Lively) > 2 * count(HeadPreset::Calm));
        assert!(count(HeadPreset::Singing) < count(HeadPreset::Calm));
    }

    #[test]
    fn nods_follow_prominences_with_a_refractory_time() {
        let p = speechlike(60.0, 8);
        for preset in HeadPreset::ALL {
            let rules = preset.params().nod;
            let list = nods(&p, &rules, 3);
            assert!(!list.is_empty(), "{preset}");
            for w in list.windows(2) {
                let gap = w[1].start + w[1].duration / 2.0 - (w[0].start + w[0].duration / 2.0);
                assert!(gap >= rules.refractory - 1e-9, "{preset}: {gap} s");
            }
            for nod in &list {
                let centre = nod.start + nod.duration / 2.0;
                let e = p
                    .prominences
                    .iter()
                    .find(|e| (e.time - centre).abs() < 1e-9)
                    .unwrap();
                assert!(e.strength >= rules.min_strength);
                assert!((0.25..=0.5).contains(&nod.duration));
            }
        }
        // A nod pitches the head down at the stressed syllable.
        let mut one = Prosody::silent(3.0);
        one.prominences.push(Prominence {
            time: 1.5,
            strength: 1.0,
            pitch_accent: 1.0,
        });
        let lively = HeadPreset::Lively.params().nod;
        let list = nods(
            &one,
            &Nods {
                probability: 1.0,
                ..lively
            },
            0,
        );
        let mut axes: [Vec<f32>; 5] = std::array::from_fn(|_| vec![0.0; 300]);
        add_nod(&mut axes, &list[0]);
        let deepest = (0..300)
            .max_by(|&a, &b| axes[1][a].total_cmp(&axes[1][b]))
            .unwrap();
        assert!(
            (deepest as f64 * DT - 1.5).abs() <= 0.02,
            "deepest at {deepest}"
        );
        assert!(axes[1][deepest] >= 0.5 * 3.0 * 0.8);
    }

    #[test]
    fn idle_motion_is_calm_but_alive() {
        let p = Prosody::silent(60.0);
        for preset in HeadPreset::ALL {
            let t = head_track(
                &p,
                fps(25),
                1500,
                &HeadOptions {
                    preset,
                    seed: 9,
                    scale: 1.0,
                },
            );
            let yaw = degrees(&t, |h| h.yaw);
            let pitch = degrees(&t, |h| h.pitch);
            let moving = speed(&yaw, 25.0) + speed(&pitch, 25.0);
            assert!(moving > 0.1, "{preset}: frozen ({moving} deg/s)");
            assert!(
                std(&yaw) < 2.5 && std(&pitch) < 2.0,
                "{preset}: too much for idle"
            );
            assert!(t.iter().any(|h| h.scale != 1.0), "{preset}: no breathing");
        }
    }

    #[test]
    fn the_track_starts_at_the_source_pose() {
        let p = speechlike(5.0, 10);
        let t = head_track(&p, fps(25), 125, &HeadOptions::default());
        assert!(t[0].yaw.abs() < 1e-3 && t[0].pitch.abs() < 1e-3);
        assert_eq!(head_track(&p, fps(25), 0, &HeadOptions::default()), vec![]);
    }
}
