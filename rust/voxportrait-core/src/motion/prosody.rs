//! Prosody: how loud, whether speaking, at what pitch, and where the
//! stresses fall, on a fixed 100 Hz grid. The head, blink and brow
//! generators read it; nothing here depends on the video frame rate.
//!
//! The audio is first brought to [`ANALYSIS_RATE`] (8 kHz: pitch up to 500
//! Hz and the speech band that carries loudness both fit, and the pitch
//! tracker costs half what it would at 16 kHz). Per 10 ms frame:
//!
//! - the level in dBFS over a 30 ms window (after a DC-blocking high-pass);
//! - a 0..1 speech-activity curve: the level normalised between the clip's
//!   own noise floor and loud percentile, gated with hysteresis and a
//!   hangover (so closures inside words do not flicker), smoothed;
//! - F0 from YIN (de Cheveigné & Kawahara 2002), hand-written here with an
//!   FFT difference function (the `yin` function says why not a crate);
//! - prominence events: voiced syllable nuclei (intensity peaks) scored by
//!   loudness, contrast with their neighbours and local F0 rise.

use rayon::prelude::*;

use crate::audio::{self, AudioClip};

/// Frames per second of every [`Prosody`] curve.
pub const RATE: f64 = 100.0;

/// Sample rate the analysis runs at.
pub const ANALYSIS_RATE: u32 = 8_000;

/// Lowest F0 the pitch tracker reports, Hz.
pub const F0_MIN: f32 = 60.0;

/// Highest F0 the pitch tracker reports, Hz.
pub const F0_MAX: f32 = 500.0;

/// Level of a frame with no signal at all, dBFS.
pub const SILENT_DB: f32 = -120.0;

/// Analysis hop in samples at [`ANALYSIS_RATE`] (10 ms).
const HOP: usize = (ANALYSIS_RATE as usize) / 100;
/// Level window, samples (30 ms).
const LEVEL_WIN: usize = 240;
/// YIN integration window, samples (25 ms: longer than the 60 Hz period).
const YIN_WIN: usize = 200;
/// YIN absolute threshold on the normalised difference (paper: 0.1–0.15).
const YIN_THRESHOLD: f32 = 0.15;
/// Best normalised difference still called voiced when no dip is below
/// [`YIN_THRESHOLD`] (breathy or noisy voice).
const YIN_VOICING_MAX: f32 = 0.3;
/// Clips whose loud percentile is below this are silence, dBFS.
const QUIET_DB: f32 = -70.0;
/// Hysteresis thresholds on the 0..1 normalised level.
const GATE_ON: f32 = 0.42;
const GATE_OFF: f32 = 0.28;
/// Frames the gate stays open after the level drops (150 ms): bridges stop
/// closures and short gaps between words.
const HANGOVER: usize = 15;
/// Shortest active run kept, frames (clicks are not speech).
const MIN_RUN: usize = 6;
/// Voiced frames an active run needs to count as speech (noise is not).
const MIN_VOICED: usize = 5;
/// Events weaker than this are not reported as prominences.
const MIN_PROMINENCE: f32 = 0.3;

/// A stressed syllable or pitch accent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prominence {
    /// Time of the syllable nucleus (its intensity peak), seconds.
    pub time: f64,
    /// Overall prominence 0..1: loudness, contrast with the neighbouring
    /// syllables and pitch accent together.
    pub strength: f32,
    /// The pitch part alone 0..1: F0 rise into the syllable and height
    /// above the speaker's median (brow raises follow this).
    pub pitch_accent: f32,
}

/// Prosody of a clip on a fixed [`RATE`] grid; frame `i` is centred at
/// `(i + 0.5) / RATE` seconds. Plain data: build one by hand for tests or
/// hand-authored motion.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prosody {
    /// Level per frame, dBFS ([`SILENT_DB`] for digital silence).
    pub level_db: Vec<f32>,
    /// Speech activity per frame, 0 (pause) .. 1 (speaking).
    pub activity: Vec<f32>,
    /// Fundamental frequency per frame in Hz, `None` where unvoiced.
    pub f0: Vec<Option<f32>>,
    /// Stressed syllables, in time order.
    pub prominences: Vec<Prominence>,
}

impl Prosody {
    /// `seconds` of silence: no activity, no pitch, no stress (idle mode).
    pub fn silent(seconds: f64) -> Self {
        let n = (seconds.max(0.0) * RATE).round() as usize;
        Self {
            level_db: vec![SILENT_DB; n],
            activity: vec![0.0; n],
            f0: vec![None; n],
            prominences: Vec::new(),
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.activity.len()
    }

    /// True when there are no frames.
    pub fn is_empty(&self) -> bool {
        self.activity.is_empty()
    }

    /// Duration covered, seconds.
    pub fn duration_seconds(&self) -> f64 {
        self.len() as f64 / RATE
    }

    /// Speech activity at time `t` seconds, linearly interpolated; 0 before
    /// and after the clip.
    pub fn activity_at(&self, t: f64) -> f32 {
        interpolate(&self.activity, t, 0.0)
    }

    /// Level at time `t` seconds, linearly interpolated; [`SILENT_DB`]
    /// outside the clip.
    pub fn level_at(&self, t: f64) -> f32 {
        interpolate(&self.level_db, t, SILENT_DB)
    }

    /// F0 of the frame nearest to `t` seconds (`None` if unvoiced or outside).
    pub fn f0_at(&self, t: f64) -> Option<f32> {
        let i = (t * RATE).floor();
        if i < 0.0 {
            return None;
        }
        self.f0.get(i as usize).copied().flatten()
    }
}

/// Linear interpolation of a [`RATE`] curve at `t` seconds, `outside`
/// beyond its ends (the first and last half frame hold the end values).
fn interpolate(v: &[f32], t: f64, outside: f32) -> f32 {
    let end = v.len() as f64 / RATE;
    if v.is_empty() || !(0.0..=end).contains(&t) {
        return outside;
    }
    let p = (t * RATE - 0.5).clamp(0.0, (v.len() - 1) as f64);
    let i = p.floor() as usize;
    let f = (p - i as f64) as f32;
    let j = (i + 1).min(v.len() - 1);
    v[i] + f * (v[j] - v[i])
}

/// Analyses a clip at any sample rate (it is resampled to
/// [`ANALYSIS_RATE`] internally). Cost is linear in the length: about a
/// millisecond of compute per second of audio (see the ignored speed test).
pub fn analyze(clip: &AudioClip) -> Prosody {
    let x = match analysis_signal(clip) {
        Some(x) => x,
        None => return Prosody::silent(clip.duration_seconds()),
    };
    let n = (x.len() + HOP / 2) / HOP;
    let level_db = levels(&x, n);
    let Some(range) = LevelRange::of(&level_db) else {
        return Prosody {
            level_db,
            ..Prosody::silent(n as f64 / RATE)
        };
    };
    let norm: Vec<f32> = level_db.iter().map(|&d| range.normalise(d)).collect();
    let f0 = pitch_track(&x, &norm);
    let gate = speech_gate(&norm, &f0);
    let activity = smooth_gate(&gate);
    let prominences = prominences(&level_db, &f0, &gate, range.loud);
    Prosody {
        level_db,
        activity,
        f0,
        prominences,
    }
}

/// The clip at [`ANALYSIS_RATE`] with DC and rumble removed, or `None` when
/// it has no usable samples.
fn analysis_signal(clip: &AudioClip) -> Option<Vec<f32>> {
    if clip.samples.is_empty() || clip.sample_rate == 0 {
        return None;
    }
    let mut x = audio::resample(clip, ANALYSIS_RATE).ok()?.samples;
    // One-pole DC blocker (about 40 Hz corner): below any F0 we track.
    let r = 0.97f32;
    let (mut px, mut py) = (0.0f32, 0.0f32);
    for s in x.iter_mut() {
        let y = *s - px + r * py;
        px = *s;
        py = y;
        *s = y;
    }
    Some(x)
}

/// Level in dBFS of `n` frames, each a [`LEVEL_WIN`] window centred on the
/// frame centre.
fn levels(x: &[f32], n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let c = i * HOP + HOP / 2;
            let a = c.saturating_sub(LEVEL_WIN / 2);
            let b = (c + LEVEL_WIN / 2).min(x.len());
            if b <= a {
                return SILENT_DB;
            }
            let e = x[a..b]
                .iter()
                .map(|&s| (s as f64) * (s as f64))
                .sum::<f64>()
                / (b - a) as f64;
            ((10.0 * (e + 1e-12).log10()) as f32).max(SILENT_DB)
        })
        .collect()
}

/// The clip's own level scale: where its loud speech and its noise floor lie.
#[derive(Debug, Clone, Copy)]
struct LevelRange {
    /// 95th percentile of the frame levels, dBFS.
    loud: f32,
    /// Noise floor, dBFS: the 10th percentile, kept 12–45 dB below `loud`.
    floor: f32,
}

impl LevelRange {
    /// The range of a clip, `None` when even its loud part is near silence.
    fn of(level_db: &[f32]) -> Option<Self> {
        let mut sorted = level_db.to_vec();
        sorted.sort_unstable_by(|a, b| a.total_cmp(b));
        let pick = |q: usize| sorted[(sorted.len() - 1) * q / 100];
        let loud = *sorted.get((sorted.len().max(1) - 1) * 95 / 100)?;
        if loud < QUIET_DB {
            return None;
        }
        let floor = pick(10).clamp(loud - 45.0, loud - 12.0);
        Some(Self { loud, floor })
    }

    /// A level mapped to 0 (noise floor) .. 1 (loud speech).
    fn normalise(&self, db: f32) -> f32 {
        ((db - self.floor) / (self.loud - self.floor)).clamp(0.0, 1.0)
    }
}

/// F0 per frame; frames quieter than any speech are skipped (unvoiced).
/// Frames are independent, so they run on rayon's pool.
fn pitch_track(x: &[f32], norm: &[f32]) -> Vec<Option<f32>> {
    let lags = Lags::at(ANALYSIS_RATE);
    let plans = DifferencePlans::new();
    let raw: Vec<Option<f32>> = norm
        .par_iter()
        .enumerate()
        .with_min_len(256)
        .map_init(
            || (plans.scratch(), vec![0.0f32; lags.max + 2]),
            |(scratch, d), (i, &level)| {
                if level < GATE_OFF * 0.8 {
                    return None;
                }
                let start = (i * HOP + HOP / 2) as isize - (YIN_SPAN / 2) as isize;
                for (k, b) in scratch.window.iter_mut().enumerate() {
                    let j = start + k as isize;
                    *b = match (j >= 0, k < YIN_SPAN) {
                        (true, true) => x.get(j as usize).copied().unwrap_or(0.0),
                        _ => 0.0,
                    };
                }
                plans.difference(scratch, d);
                yin(d, ANALYSIS_RATE as f32, lags)
            },
        )
        .collect();
    clean_pitch(&raw)
}

/// The lag range searched, in samples: periods of [`F0_MAX`] to [`F0_MIN`].
#[derive(Debug, Clone, Copy)]
struct Lags {
    min: usize,
    max: usize,
}

impl Lags {
    fn at(rate: u32) -> Self {
        Self {
            min: (rate as f32 / F0_MAX).floor() as usize,
            max: (rate as f32 / F0_MIN).ceil() as usize,
        }
    }
}

/// Samples one YIN analysis needs: the window plus the longest lag and one
/// more for the parabola.
const YIN_SPAN: usize = YIN_WIN + (ANALYSIS_RATE as usize).div_ceil(F0_MIN as usize) + 2;
/// FFT length for the correlation: at least YIN_SPAN, so the lags read
/// never wrap around.
const YIN_FFT: usize = 512;

/// FFT plans for YIN's difference function, shared by all threads.
struct DifferencePlans {
    forward: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    inverse: std::sync::Arc<dyn realfft::ComplexToReal<f32>>,
}

/// Per-thread buffers of [`DifferencePlans::difference`]. `window` holds
/// the YIN_SPAN samples to analyse (zero beyond).
struct DifferenceScratch {
    window: Vec<f32>,
    head: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    head_spectrum: Vec<realfft::num_complex::Complex<f32>>,
    fft_scratch: Vec<realfft::num_complex::Complex<f32>>,
    correlation: Vec<f32>,
    energy: Vec<f64>,
}

impl DifferencePlans {
    fn new() -> Self {
        let mut planner = realfft::RealFftPlanner::<f32>::new();
        Self {
            forward: planner.plan_fft_forward(YIN_FFT),
            inverse: planner.plan_fft_inverse(YIN_FFT),
        }
    }

    fn scratch(&self) -> DifferenceScratch {
        let scratch_len = self
            .forward
            .get_scratch_len()
            .max(self.inverse.get_scratch_len());
        DifferenceScratch {
            window: vec![0.0; YIN_FFT],
            head: vec![0.0; YIN_FFT],
            spectrum: self.forward.make_output_vec(),
            head_spectrum: self.forward.make_output_vec(),
            fft_scratch: vec![Default::default(); scratch_len],
            correlation: vec![0.0; YIN_FFT],
            energy: vec![0.0; YIN_SPAN + 1],
        }
    }

    /// YIN step 2, the difference function d(τ) = Σ_{j<W} (x_j − x_{j+τ})²
    /// for τ = 0..d.len(), computed as E(0) + E(τ) − 2·r(τ) with the cross
    /// correlation r from FFTs: a fifth of the direct sum's cost.
    fn difference(&self, s: &mut DifferenceScratch, d: &mut [f32]) {
        let x = &s.window[..YIN_SPAN];
        let energy = &mut s.energy;
        for (k, &v) in x.iter().enumerate() {
            energy[k + 1] = energy[k] + (v as f64) * (v as f64);
        }
        s.head[..YIN_WIN].copy_from_slice(&x[..YIN_WIN]);
        s.head[YIN_WIN..].iter_mut().for_each(|v| *v = 0.0);
        let ok = self
            .forward
            .process_with_scratch(&mut s.head, &mut s.head_spectrum, &mut s.fft_scratch)
            .and_then(|_| {
                self.forward.process_with_scratch(
                    &mut s.window,
                    &mut s.spectrum,
                    &mut s.fft_scratch,
                )
            });
        debug_assert!(ok.is_ok());
        for (b, a) in s.spectrum.iter_mut().zip(&s.head_spectrum) {
            *b *= a.conj();
        }
        let last = s.spectrum.len() - 1;
        s.spectrum[0].im = 0.0;
        s.spectrum[last].im = 0.0;
        let ok = self.inverse.process_with_scratch(
            &mut s.spectrum,
            &mut s.correlation,
            &mut s.fft_scratch,
        );
        debug_assert!(ok.is_ok());
        let scale = 1.0 / YIN_FFT as f64;
        let energy = &s.energy;
        let win = |tau: usize| energy[tau + YIN_WIN] - energy[tau];
        for (tau, v) in d.iter_mut().enumerate() {
            let r = s.correlation[tau] as f64 * scale;
            *v = (win(0) + win(tau) - 2.0 * r).max(0.0) as f32;
        }
    }
}

/// YIN (de Cheveigné & Kawahara 2002) steps 3–5 on the difference
/// function `d` (τ = 0..=lags.max + 1): cumulative mean normalised
/// difference, absolute threshold, parabolic interpolation. Returns F0 in
/// Hz, or `None` when unvoiced.
///
/// Hand-written rather than the `pitch-detection` crate (0.3): that crate
/// plans a new FFT on every call, cannot restrict the lag range (we need
/// 60–500 Hz only), and has no fallback when no dip is under the
/// threshold.
fn yin(d: &mut [f32], rate: f32, lags: Lags) -> Option<f32> {
    let mut running = 0.0f32;
    d[0] = 1.0;
    for (tau, v) in d.iter_mut().enumerate().take(lags.max + 2).skip(1) {
        running += *v;
        *v = if running > 0.0 {
            *v * tau as f32 / running
        } else {
            1.0
        };
    }
    let tau = pick_lag(&d[..=lags.max], lags.min)?;
    let (a, b, c) = (d[tau - 1], d[tau], d[tau + 1]);
    let denom = a - 2.0 * b + c;
    let shift = if denom > 0.0 {
        (0.5 * (a - c) / denom).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let f0 = rate / (tau as f32 + shift);
    (F0_MIN * 0.97..=F0_MAX * 1.03).contains(&f0).then_some(f0)
}

/// YIN step 4: the first dip of `d` under the threshold from `tau_min` on,
/// followed down to its local minimum; else the global minimum if it is
/// still clearly periodic; else `None` (unvoiced).
fn pick_lag(d: &[f32], tau_min: usize) -> Option<usize> {
    let last = d.len() - 1;
    if let Some(mut tau) = (tau_min..=last).find(|&t| d[t] < YIN_THRESHOLD) {
        while tau < last && d[tau + 1] < d[tau] {
            tau += 1;
        }
        return Some(tau);
    }
    let best = (tau_min..=last).min_by(|&a, &b| d[a].total_cmp(&d[b]))?;
    (d[best] < YIN_VOICING_MAX).then_some(best)
}

/// Drops voiced runs shorter than 30 ms and replaces each voiced value by
/// the median of its voiced neighbours (±2 frames), which removes lone
/// octave jumps.
fn clean_pitch(raw: &[Option<f32>]) -> Vec<Option<f32>> {
    let mut kept = raw.to_vec();
    let mut i = 0;
    while i < raw.len() {
        if raw[i].is_none() {
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && raw[i].is_some() {
            i += 1;
        }
        if i - start < 3 {
            kept[start..i].iter_mut().for_each(|v| *v = None);
        }
    }
    (0..kept.len())
        .map(|i| {
            kept[i]?;
            let mut near: Vec<f32> = kept[i.saturating_sub(2)..(i + 3).min(kept.len())]
                .iter()
                .flatten()
                .copied()
                .collect();
            near.sort_unstable_by(|a, b| a.total_cmp(b));
            Some(near[near.len() / 2])
        })
        .collect()
}

/// Speaking or not per frame: hysteresis on the normalised level, a
/// hangover, and runs that are too short or never voiced removed.
fn speech_gate(norm: &[f32], f0: &[Option<f32>]) -> Vec<bool> {
    let mut gate = vec![false; norm.len()];
    let (mut on, mut since_loud) = (false, usize::MAX);
    for (g, &v) in gate.iter_mut().zip(norm) {
        if v >= GATE_ON {
            on = true;
        }
        if on && v >= GATE_OFF {
            since_loud = 0;
        } else {
            since_loud = since_loud.saturating_add(1);
        }
        if since_loud > HANGOVER {
            on = false;
        }
        *g = on;
    }
    let mut i = 0;
    while i < gate.len() {
        if !gate[i] {
            i += 1;
            continue;
        }
        let start = i;
        while i < gate.len() && gate[i] {
            i += 1;
        }
        let voiced = f0[start..i].iter().filter(|v| v.is_some()).count();
        if i - start < MIN_RUN || voiced < MIN_VOICED {
            gate[start..i].iter_mut().for_each(|g| *g = false);
        }
    }
    gate
}

/// The gate as a smooth 0..1 curve: rises in about 30 ms, falls in about
/// 100 ms.
fn smooth_gate(gate: &[bool]) -> Vec<f32> {
    let (up, down) = (1.0 - (-1.0f32 / 3.0).exp(), 1.0 - (-1.0f32 / 10.0).exp());
    let mut state = 0.0f32;
    gate.iter()
        .map(|&g| {
            let target = if g { 1.0 } else { 0.0 };
            let k = if target > state { up } else { down };
            state += k * (target - state);
            state
        })
        .collect()
}

/// Voiced syllable nuclei scored as prominences; the weak ones are dropped.
fn prominences(level_db: &[f32], f0: &[Option<f32>], gate: &[bool], loud: f32) -> Vec<Prominence> {
    let smooth = moving_average(level_db, 2);
    let peaks = nuclei(&smooth, f0, gate, loud);
    let median_st = median_semitones(f0);
    peaks
        .iter()
        .map(|&p| {
            let energy = ((smooth[p] - (loud - 15.0)) / 15.0).clamp(0.0, 1.0);
            // Peaks are in time order: only those within ±600 ms are read.
            let from = peaks.partition_point(|&q| q + 60 < p);
            let neighbours: Vec<f32> = peaks[from..]
                .iter()
                .take_while(|&&q| q <= p + 60)
                .filter(|&&q| q != p)
                .map(|&q| smooth[q])
                .collect();
            let contrast = if neighbours.is_empty() {
                0.5
            } else {
                let mean = neighbours.iter().sum::<f32>() / neighbours.len() as f32;
                (0.5 + (smooth[p] - mean) / 8.0).clamp(0.0, 1.0)
            };
            let accent = pitch_accent(f0, p, median_st);
            Prominence {
                time: (p as f64 + 0.5) / RATE,
                strength: (0.3 * energy + 0.3 * contrast + 0.4 * accent).clamp(0.0, 1.0),
                pitch_accent: accent,
            }
        })
        .filter(|p| p.strength >= MIN_PROMINENCE)
        .collect()
}

/// Centred moving average over `2 * half + 1` frames.
fn moving_average(v: &[f32], half: usize) -> Vec<f32> {
    (0..v.len())
        .map(|i| {
            let w = &v[i.saturating_sub(half)..(i + half + 1).min(v.len())];
            w.iter().sum::<f32>() / w.len() as f32
        })
        .collect()
}

/// Syllable nuclei: local intensity maxima that are voiced, inside speech,
/// within 20 dB of the loud level, and stand at least 2 dB above the dips
/// on both sides (searched up to 250 ms or a higher peak); at least 100 ms
/// apart.
fn nuclei(smooth: &[f32], f0: &[Option<f32>], gate: &[bool], loud: f32) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for p in 1..smooth.len().saturating_sub(1) {
        let v = smooth[p];
        if !(gate[p] && f0[p].is_some() && v > loud - 20.0)
            || v < smooth[p - 1]
            || v <= smooth[p + 1]
        {
            continue;
        }
        let dip = |range: &mut dyn Iterator<Item = usize>| {
            let mut lowest = v;
            for i in range {
                if smooth[i] > v {
                    break;
                }
                lowest = lowest.min(smooth[i]);
            }
            lowest
        };
        let left = dip(&mut (p.saturating_sub(25)..p).rev());
        let right = dip(&mut (p + 1..(p + 26).min(smooth.len())));
        if v - left.max(right) < 2.0 {
            continue;
        }
        match out.last() {
            Some(&q) if p - q < 10 => {
                if v > smooth[q] {
                    *out.last_mut().unwrap() = p;
                }
            }
            _ => out.push(p),
        }
    }
    out
}

/// Median voiced F0 of the clip in semitones re 1 Hz (0 if none).
fn median_semitones(f0: &[Option<f32>]) -> f32 {
    let mut st: Vec<f32> = f0.iter().flatten().map(|&f| semitones(f)).collect();
    if st.is_empty() {
        return 0.0;
    }
    st.sort_unstable_by(|a, b| a.total_cmp(b));
    st[st.len() / 2]
}

fn semitones(hz: f32) -> f32 {
    12.0 * hz.log2()
}

/// Pitch accent 0..1 at frame `p`: half from the F0 rise into it (over the
/// preceding 250 ms, 4 semitones = full), half from its height above the
/// speaker's median (4 semitones = full).
fn pitch_accent(f0: &[Option<f32>], p: usize, median_st: f32) -> f32 {
    let around: Vec<f32> = f0[p.saturating_sub(3)..(p + 4).min(f0.len())]
        .iter()
        .flatten()
        .map(|&f| semitones(f))
        .collect();
    if around.is_empty() {
        return 0.0;
    }
    let here = around.iter().copied().fold(f32::MIN, f32::max);
    let before = f0[p.saturating_sub(25)..=p]
        .iter()
        .flatten()
        .map(|&f| semitones(f))
        .fold(here, f32::min);
    let rise = ((here - before) / 4.0).clamp(0.0, 1.0);
    let height = ((here - median_st) / 4.0).clamp(0.0, 1.0);
    0.5 * rise + 0.5 * height
}

/// Speech-like prosody for tests: phrases of 1.5–4 s separated by 0.3–1.2 s
/// pauses, voiced at 120 Hz, with a prominence of random strength every
/// 0.3–0.7 s inside phrases.
#[cfg(test)]
pub(crate) fn speech_like(seconds: f64, seed: u64) -> Prosody {
    let mut rng = super::rng::SplitMix64(seed);
    let mut p = Prosody::silent(seconds);
    let n = p.len();
    let mut t = 0.5;
    while t < seconds {
        let end = (t + 1.5 + 2.5 * rng.unit()).min(seconds);
        let (a, b) = ((t * RATE) as usize, ((end * RATE) as usize).min(n));
        p.activity[a..b].iter_mut().for_each(|v| *v = 1.0);
        p.level_db[a..b].iter_mut().for_each(|v| *v = -20.0);
        p.f0[a..b].iter_mut().for_each(|v| *v = Some(120.0));
        let mut e = t + 0.2;
        while e < end - 0.1 {
            let strength = rng.unit() as f32;
            p.prominences.push(Prominence {
                time: e,
                strength,
                pitch_accent: strength * rng.unit() as f32,
            });
            e += 0.3 + 0.4 * rng.unit();
        }
        t = end + 0.3 + 0.9 * rng.unit();
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::LoadOptions;
    use crate::motion::rng::SplitMix64;
    use crate::testdata::{example, fixture};
    use std::f32::consts::TAU;

    /// A harmonic tone (five partials, falling 1/k) at `f0` Hz.
    fn harmonic(f0: f32, seconds: f32, rate: u32) -> Vec<f32> {
        (0..(seconds * rate as f32) as usize)
            .map(|i| {
                let t = i as f32 / rate as f32;
                (1..=5)
                    .map(|k| 0.3 / k as f32 * (TAU * f0 * k as f32 * t).sin())
                    .sum()
            })
            .collect()
    }

    fn speech() -> AudioClip {
        audio::load(&example("speech.wav"), &LoadOptions::default()).unwrap()
    }

    /// Median of the voiced F0 values, and the voiced fraction.
    fn f0_stats(p: &Prosody) -> (f32, f32) {
        let mut v: Vec<f32> = p.f0.iter().flatten().copied().collect();
        v.sort_unstable_by(|a, b| a.total_cmp(b));
        let frac = v.len() as f32 / p.f0.len() as f32;
        (v.get(v.len() / 2).copied().unwrap_or(0.0), frac)
    }

    #[test]
    fn yin_tracks_harmonic_tones_within_two_percent() {
        for (f0, rate) in [
            (150.0, 16_000),
            (220.0, 16_000),
            (150.0, 44_100),
            (220.0, 8_000),
        ] {
            let p = analyze(&AudioClip::new(harmonic(f0, 1.0, rate), rate));
            let inner = &p.f0[10..p.f0.len() - 10];
            assert!(
                inner.iter().all(|v| v.is_some()),
                "{f0} Hz at {rate}: unvoiced frames"
            );
            let worst = inner
                .iter()
                .flatten()
                .map(|&f| (f / f0 - 1.0).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 0.02,
                "{f0} Hz at {rate}: worst error {:.2} %",
                worst * 100.0
            );
        }
    }

    #[test]
    fn fft_difference_function_equals_the_direct_sum() {
        let mut rng = SplitMix64(3);
        let plans = DifferencePlans::new();
        let mut s = plans.scratch();
        for (k, v) in s.window.iter_mut().enumerate() {
            *v = if k < YIN_SPAN {
                (0.05 * k as f32).sin() * 0.5 + 0.1 * rng.normal() as f32
            } else {
                0.0
            };
        }
        let x = s.window[..YIN_SPAN].to_vec();
        let lags = Lags::at(ANALYSIS_RATE);
        let mut d = vec![0.0f32; lags.max + 2];
        plans.difference(&mut s, &mut d);
        for (tau, &got) in d.iter().enumerate() {
            let want: f32 = (0..YIN_WIN).map(|j| (x[j] - x[j + tau]).powi(2)).sum();
            assert!(
                (got - want).abs() <= 1e-3 * want.max(1.0),
                "tau {tau}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn silence_and_white_noise_are_unvoiced() {
        let silent = analyze(&AudioClip::new(vec![0.0; 16_000], 16_000));
        assert!(silent.f0.iter().all(|v| v.is_none()));
        assert!(silent.activity.iter().all(|&a| a == 0.0));
        let mut rng = SplitMix64(7);
        let noise: Vec<f32> = (0..32_000).map(|_| 0.2 * rng.normal() as f32).collect();
        let p = analyze(&AudioClip::new(noise, 16_000));
        let voiced = p.f0.iter().filter(|v| v.is_some()).count();
        assert!(
            voiced * 50 < p.f0.len(),
            "{voiced} of {} noise frames voiced",
            p.f0.len()
        );
        assert!(p.activity.iter().all(|&a| a < 0.05), "noise is not speech");
    }

    #[test]
    fn real_speech_has_a_plausible_pitch_and_activity() {
        let p = analyze(&speech());
        assert_eq!(p.len(), 784);
        let (median, voiced) = f0_stats(&p);
        // espeak's default voice speaks around 100-130 Hz.
        assert!((85.0..160.0).contains(&median), "median F0 {median}");
        assert!((0.3..0.8).contains(&voiced), "voiced fraction {voiced}");
        let active = p.activity.iter().filter(|&&a| a > 0.5).count() as f32 / p.len() as f32;
        assert!((0.5..0.99).contains(&active), "active fraction {active}");
        // The clip opens with 50 ms of silence and pauses at 3.47-3.81 s;
        // the 0.16 s gap at 5.92 s is inside a phrase (bridged by the hangover).
        assert!(p.activity[..3].iter().all(|&a| a < 0.1));
        let pause = (355..380).map(|i| p.activity[i]).fold(1.0f32, f32::min);
        assert!(pause < 0.4, "pause at 3.6 s: activity {pause}");
        assert!(p.activity[590..610].iter().all(|&a| a > 0.5));
    }

    #[test]
    fn activity_ignores_the_recording_level() {
        let clip = speech();
        let quiet = AudioClip::new(clip.samples.iter().map(|s| s * 0.01).collect(), 16_000);
        let (a, b) = (analyze(&clip), analyze(&quiet));
        let differ = a
            .activity
            .iter()
            .zip(&b.activity)
            .filter(|(x, y)| (*x - *y).abs() > 0.1)
            .count();
        assert!(differ <= 3, "{differ} frames differ at -40 dB");
        assert!((a.level_db[300] - b.level_db[300] - 40.0).abs() < 0.5);
    }

    #[test]
    fn activity_does_not_flicker_inside_speech() {
        let p = analyze(&speech());
        let gate: Vec<bool> = p.activity.iter().map(|&a| a > 0.5).collect();
        let edges = gate.windows(2).filter(|w| w[0] != w[1]).count();
        // 7.8 s of speech with a handful of phrase pauses: few transitions.
        assert!(edges <= 16, "{edges} on/off transitions");
    }

    #[test]
    fn any_sample_rate_gives_the_same_analysis() {
        let clip = audio::load(&fixture("speech_1s.wav"), &LoadOptions::default()).unwrap();
        let flac = audio::load(&fixture("speech_1s.flac"), &LoadOptions::default()).unwrap();
        let (a, b) = (analyze(&clip), analyze(&flac));
        assert_eq!(a.len(), 100);
        assert_eq!(b.len(), 100);
        let (fa, fb) = (f0_stats(&a).0, f0_stats(&b).0);
        assert!((fa / fb - 1.0).abs() < 0.02, "{fa} vs {fb}");
    }

    /// Eight 180 ms syllables at 120 Hz, 320 ms apart; the fifth is 6 dB
    /// louder and its pitch rises to 170 Hz.
    fn syllable_train(rate: u32) -> (AudioClip, f64) {
        let n = (3.0 * rate as f32) as usize;
        let mut phase = 0.0f32;
        let mut out = vec![0.0f32; n];
        for (i, s) in out.iter_mut().enumerate() {
            let t = i as f32 / rate as f32;
            let k = ((t - 0.2) / 0.32).floor();
            let u = (t - 0.2) - k * 0.32;
            let mut f = 120.0;
            let mut amp = 0.0;
            if (0.0..8.0).contains(&k) && u < 0.18 {
                amp = (std::f32::consts::PI * u / 0.18).sin().powi(2) * 0.15;
                if k == 4.0 {
                    amp *= 2.0;
                    f = 120.0 + 50.0 * (u / 0.09).min(1.0);
                }
            }
            phase += TAU * f / rate as f32;
            *s = amp * (phase.sin() + 0.5 * (2.0 * phase).sin() + 0.3 * (3.0 * phase).sin());
        }
        (AudioClip::new(out, rate), 0.2 + 4.0 * 0.32 + 0.09)
    }

    #[test]
    fn the_stressed_syllable_is_the_strongest_prominence() {
        let (clip, stressed) = syllable_train(16_000);
        let p = analyze(&clip);
        let top = p
            .prominences
            .iter()
            .max_by(|a, b| a.strength.total_cmp(&b.strength))
            .expect("some prominence");
        assert!(
            (top.time - stressed).abs() < 0.06,
            "top at {} s, want {stressed}",
            top.time
        );
        assert!(top.pitch_accent > 0.5, "accent {}", top.pitch_accent);
        let others = p
            .prominences
            .iter()
            .filter(|q| (q.time - stressed).abs() > 0.1);
        for q in others {
            assert!(q.strength < top.strength - 0.2, "{q:?} vs {top:?}");
        }
    }

    #[test]
    fn real_speech_has_a_few_prominences_per_second_inside_speech() {
        let p = analyze(&speech());
        let rate = p.prominences.len() as f64 / p.duration_seconds();
        assert!((0.7..4.0).contains(&rate), "{rate} prominences/s");
        for q in &p.prominences {
            assert!(p.activity_at(q.time) > 0.5, "{q:?} outside speech");
            assert!(p.f0_at(q.time).is_some() || p.f0_at(q.time + 0.02).is_some());
        }
    }

    #[test]
    fn silent_prosody_and_sampling() {
        let s = Prosody::silent(2.5);
        assert_eq!(s.len(), 250);
        assert_eq!(s.activity_at(1.0), 0.0);
        assert_eq!(s.f0_at(1.0), None);
        let p = Prosody {
            activity: vec![0.0, 1.0],
            level_db: vec![-60.0, -20.0],
            f0: vec![None, Some(100.0)],
            prominences: vec![],
        };
        assert!((p.activity_at(0.01) - 0.5).abs() < 1e-6);
        assert_eq!(p.activity_at(-0.1), 0.0);
        assert_eq!(p.activity_at(0.5), 0.0);
        assert_eq!(p.f0_at(0.015), Some(100.0));
        assert!(analyze(&AudioClip::new(vec![], 16_000)).is_empty());
    }

    /// Speed on an hour of 16 kHz audio (speech.wav tiled). Run with
    /// `cargo test --release -p voxportrait-core prosody -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn an_hour_of_audio_takes_seconds() {
        let clip = speech();
        let n = 3600 * 16_000;
        let long = AudioClip::new(
            clip.samples.iter().copied().cycle().take(n).collect(),
            16_000,
        );
        let t = std::time::Instant::now();
        let p = analyze(&long);
        let s = t.elapsed().as_secs_f64();
        println!(
            "1 h of 16 kHz audio: {s:.2} s ({:.0}x real time, {} threads), {} prominences",
            3600.0 / s,
            rayon::current_num_threads(),
            p.prominences.len()
        );
        assert!(s < 10.0);
    }
}
