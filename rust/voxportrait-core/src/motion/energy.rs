//! The model-free viseme engine: audio → per-frame posteriors over the 15
//! visemes at 50 Hz, from energy, spectral tilt and formant-like band
//! ratios.
//!
//! It needs no weights, so it is the fallback when the learned engine's
//! model is absent, and because it reads only acoustics (loudness, where the
//! energy sits in the spectrum, voicing) and no language model, it works
//! the same for any language and for singing.
//!
//! # Pipeline
//!
//! 1. **Front end** ([`frame_features`]): the clip is resampled to 16 kHz;
//!    analysis frame `j` is a 25 ms periodic-Hann window centred on
//!    `10 j + 5` ms (zeros outside the clip), so output frame `i`
//!    (`[20 i, 20 i + 20)` ms) pools analysis frames `2 i` and `2 i + 1`.
//!    A 1024-point FFT gives band energies (80–300, 300–900, 900–2500,
//!    2500–4000, 4000–7800 Hz), the voicing (peak of the normalised
//!    autocorrelation at 2–20 ms lags, corrected for the window) and two
//!    formant proxies: the peaks of the cepstrally smoothed log spectrum in
//!    250–1000 Hz (F1 region: jaw opening) and 800–3000 Hz away from F1
//!    (F2 region: tongue front/back, lip rounding).
//! 2. **Clip normalisation** ([`ClipStats`]): levels are measured against
//!    the clip's loud end (95th percentile of frame energy), so a clip
//!    played 20 dB quieter gives the same visemes; the activity threshold
//!    is 40 dB below that, or 6 dB above the noise floor (10th percentile)
//!    when the recording is noisy. The formant proxies are shifted by a
//!    little (at most 0.15 octave) toward a reference speaker, so that
//!    children and deep voices meet the same prototypes.
//! 3. **Cues** ([`Cues`]): level re. the loud end, high-band tilt
//!    (frication), the 2.5–4 kHz vs 4–8 kHz balance (`sh` vs `s`), voicing,
//!    log F1 and F2, the nasal-murmur ratio (80–300 Hz vs 300–900 Hz) and
//!    the F1-band vs F2-band ratio.
//! 4. **Prototypes** ([`PROTOTYPES`]): each speech viseme is a hand-set
//!    prototype, a mean and a spread per cue, from phonetics (vowel
//!    formant charts, fricative spectra) checked against espeak-ng speech
//!    in many voices and languages; nothing is trained. A frame's score
//!    for a viseme is the Gaussian log-likelihood of its cues, and a
//!    softmax at temperature [`TEMPERATURE`] turns the scores into soft
//!    posteriors.
//! 5. **Silence and closures**: the activity (a sigmoid of level minus
//!    threshold) splits each frame between `sil` and speech. A short gap in
//!    activity inside speech (up to 60 ms fully, fading out at 150 ms) is a
//!    stop closure rather than a pause: its `sil` mass goes to PP, DD or kk
//!    by the spectrum of the burst that follows ([`BURST_PROTOTYPES`]:
//!    diffuse and low for p/b, high for t/d, compact mid for k/g), and the
//!    burst frames lean the same way. Bilabial closures therefore show up
//!    even when brief.
//! 6. **Smoothing and pooling**: a 30 ms moving average of the posteriors
//!    (the formant proxies are already median-filtered over 50 ms, so
//!    sustained vowels hold their colour without flicker), then pairs of
//!    analysis frames are averaged into 20 ms frames and renormalised.
//!
//! Speed: an hour of 16 kHz audio takes about 7 s on a busy two-core
//! machine (about 500× real time; 10 s at 44.1 kHz, resampling included);
//! see the `an_hour_of_audio_takes_seconds` test.

use std::borrow::Cow;
use std::sync::Arc;

use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::visemes::{Posterior, Viseme, NUM_VISEMES, VISEME_RATE};
use crate::audio::{resample, AudioClip};

/// Output frames per second: frame `i` covers `[20 i, 20 i + 20)` ms.
pub const FRAME_RATE: u32 = VISEME_RATE as u32;

/// Sample rate the engine analyses at; other rates are resampled first.
pub const ANALYSIS_RATE: u32 = 16_000;

/// Softmax temperature over the prototype log-likelihoods. Above 1 keeps
/// the runner-up visemes alive, which coarticulation downstream wants.
pub const TEMPERATURE: f32 = 2.0;

const SIL: usize = Viseme::Sil as usize;
const PP: usize = Viseme::PP as usize;
const DD: usize = Viseme::DD as usize;
const KK: usize = Viseme::Kk as usize;

/// Hop between analysis frames, samples at 16 kHz (10 ms).
const HOP: usize = 160;
/// Analysis window, samples (25 ms).
const WIN: usize = 400;
/// FFT size: at least twice the window so the autocorrelation does not wrap.
const NFFT: usize = 1024;
/// Width of one FFT bin, Hz.
const BIN_HZ: f32 = ANALYSIS_RATE as f32 / NFFT as f32;
/// Power floor before logarithms (mean-square, about −150 dBFS).
const POWER_EPS: f32 = 1e-15;
/// Shortest and longest autocorrelation lag for voicing (2 ms and 20 ms:
/// F0 from 50 Hz; higher voices still peak at twice their period).
const LAG_MIN: usize = 32;
const LAG_MAX: usize = 320;
/// Cepstral lifter: quefrencies below 1.5 ms describe the vocal-tract
/// envelope, above it the pitch harmonics.
const LIFTER: usize = 24;

/// Band edges in Hz: `[80, 300)` voicing bar / nasal murmur, `[300, 900)`
/// F1 region, `[900, 2500)` F2 region, `[2500, 4000)` `sh` region,
/// `[4000, 7800)` `s` region.
const BANDS: [(f32, f32); 5] = [
    (80.0, 300.0),
    (300.0, 900.0),
    (900.0, 2500.0),
    (2500.0, 4000.0),
    (4000.0, 7800.0),
];
/// Range of the total energy, Hz (leaves out rumble and the top edge).
const ENERGY_BAND: (f32, f32) = (100.0, 7800.0);

/// Acoustic measurements of one 10 ms analysis frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameFeatures {
    /// Mean-square power in 100–7800 Hz, dB re. full scale.
    pub energy_db: f32,
    /// Power in 80–300, 300–900, 900–2500, 2500–4000 and 4000–7800 Hz, dB.
    pub bands_db: [f32; 5],
    /// Peak normalised autocorrelation at 2–20 ms lags, 0–1 (1 = periodic).
    pub voicing: f32,
    /// First-formant proxy, Hz (envelope peak in 250–1000 Hz).
    pub f1_hz: f32,
    /// Second-formant proxy, Hz (envelope peak in 800–3000 Hz, 250 Hz or
    /// more from F1).
    pub f2_hz: f32,
}

/// Viseme posteriors for `clip`: one row per 20 ms frame,
/// `ceil(duration / 20 ms)` rows, each summing to 1, visemes in the order
/// of [`Viseme::ALL`]. Model-free; see the module docs for the rules.
pub fn viseme_posteriors(clip: &AudioClip) -> Vec<Posterior> {
    let frames = frame_count(clip.samples.len(), clip.sample_rate);
    if frames == 0 {
        return Vec::new();
    }
    let samples: Cow<'_, [f32]> = if clip.sample_rate == ANALYSIS_RATE {
        Cow::Borrowed(&clip.samples)
    } else {
        match resample(clip, ANALYSIS_RATE) {
            Ok(c) => Cow::Owned(c.samples),
            // Only a zero rate fails, and then there are no frames.
            Err(_) => return vec![silence(); frames],
        }
    };
    posteriors_from_features(&frame_features(&samples, 2 * frames))
}

/// Number of 20 ms frames [`viseme_posteriors`] gives for `n_samples` at
/// `sample_rate`: `ceil(n_samples / (sample_rate / 50))`.
pub fn frame_count(n_samples: usize, sample_rate: u32) -> usize {
    if sample_rate == 0 {
        return 0;
    }
    let num = n_samples as u64 * FRAME_RATE as u64;
    num.div_ceil(sample_rate as u64) as usize
}

/// Posterior of pure silence.
fn silence() -> Posterior {
    let mut p = [0.0; NUM_VISEMES];
    p[SIL] = 1.0;
    p
}

/// The 20 ms posteriors from `2 T` analysis frames (T output frames).
fn posteriors_from_features(features: &[FrameFeatures]) -> Vec<Posterior> {
    let stats = ClipStats::measure(features);
    let cues = Cues::all(features, &stats);
    let activity: Vec<f32> = features.iter().map(|f| stats.activity(f)).collect();
    let mut post: Vec<Posterior> = cues
        .iter()
        .zip(&activity)
        .map(|(c, &a)| frame_posteriors(c, a))
        .collect();
    assign_closures(&mut post, &activity, &cues);
    pool_pairs(&smooth3(&post))
}

// ---------------------------------------------------------------------------
// Front end
// ---------------------------------------------------------------------------

/// Measures `count` analysis frames of 16 kHz `samples` (frame `j` centred
/// on sample `160 j + 80`, zeros beyond the clip), in parallel.
pub fn frame_features(samples: &[f32], count: usize) -> Vec<FrameFeatures> {
    let analyser = Analyser::new();
    let mut out = vec![
        FrameFeatures {
            energy_db: 0.0,
            bands_db: [0.0; 5],
            voicing: 0.0,
            f1_hz: 0.0,
            f2_hz: 0.0,
        };
        count
    ];
    const CHUNK: usize = 512;
    out.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let mut work = analyser.workspace();
            for (k, slot) in chunk.iter_mut().enumerate() {
                *slot = analyser.frame(samples, c * CHUNK + k, &mut work);
            }
        });
    median_filter_formants(&mut out);
    out
}

/// FFT plans and tables shared by all frames.
struct Analyser {
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    window: Vec<f32>,
    /// Autocorrelation of the window, normalised to 1 at lag 0.
    window_acf: Vec<f32>,
    /// Scale from `|X|²` summed over a band to mean-square power.
    power_scale: f32,
}

/// Per-thread buffers.
struct Workspace {
    time: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    power: Vec<f32>,
    scratch_fwd: Vec<Complex<f32>>,
    scratch_inv: Vec<Complex<f32>>,
}

impl Analyser {
    fn new() -> Self {
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(NFFT);
        let inverse = planner.plan_fft_inverse(NFFT);
        let window: Vec<f32> = (0..WIN)
            .map(|n| 0.5 - 0.5 * (std::f32::consts::TAU * n as f32 / WIN as f32).cos())
            .collect();
        let window_acf: Vec<f32> = {
            let r0: f32 = window.iter().map(|w| w * w).sum();
            (0..=LAG_MAX)
                .map(|lag| {
                    window[lag..]
                        .iter()
                        .zip(&window)
                        .map(|(a, b)| a * b)
                        .sum::<f32>()
                        / r0
                })
                .collect()
        };
        let energy: f32 = window.iter().map(|w| w * w).sum();
        Self {
            forward,
            inverse,
            window,
            window_acf,
            power_scale: 2.0 / (NFFT as f32 * energy),
        }
    }

    fn workspace(&self) -> Workspace {
        Workspace {
            time: self.forward.make_input_vec(),
            spectrum: self.forward.make_output_vec(),
            power: vec![0.0; NFFT / 2 + 1],
            scratch_fwd: self.forward.make_scratch_vec(),
            scratch_inv: self.inverse.make_scratch_vec(),
        }
    }

    /// Features of analysis frame `j`.
    fn frame(&self, samples: &[f32], j: usize, w: &mut Workspace) -> FrameFeatures {
        self.windowed(samples, j, &mut w.time);
        self.fft(w);
        for (p, c) in w.power.iter_mut().zip(&w.spectrum) {
            *p = (c.re * c.re + c.im * c.im) * self.power_scale;
        }
        let energy = band_power(&w.power, ENERGY_BAND);
        let bands_db = BANDS.map(|b| to_db(band_power(&w.power, b)));
        if energy < POWER_EPS * 100.0 {
            // Digital silence: nothing to measure.
            return FrameFeatures {
                energy_db: to_db(energy),
                bands_db,
                voicing: 0.0,
                f1_hz: 250.0,
                f2_hz: 800.0,
            };
        }
        let voicing = self.voicing(w);
        let (f1_hz, f2_hz) = self.formants(w);
        FrameFeatures {
            energy_db: to_db(energy),
            bands_db,
            voicing,
            f1_hz,
            f2_hz,
        }
    }

    /// Copies the Hann-windowed frame `j` into `time` (zero-padded to NFFT).
    fn windowed(&self, samples: &[f32], j: usize, time: &mut [f32]) {
        time.fill(0.0);
        let start = (j * HOP + HOP / 2) as isize - (WIN / 2) as isize;
        for (n, (t, &w)) in time.iter_mut().zip(&self.window).enumerate() {
            let k = start + n as isize;
            if k >= 0 && (k as usize) < samples.len() {
                *t = samples[k as usize] * w;
            }
        }
    }

    fn fft(&self, w: &mut Workspace) {
        self.forward
            .process_with_scratch(&mut w.time, &mut w.spectrum, &mut w.scratch_fwd)
            .expect("FFT buffers have the planned sizes");
    }

    fn ifft(&self, w: &mut Workspace) {
        // realfft demands real DC and Nyquist bins; ours are by construction.
        w.spectrum[0].im = 0.0;
        w.spectrum[NFFT / 2].im = 0.0;
        self.inverse
            .process_with_scratch(&mut w.spectrum, &mut w.time, &mut w.scratch_inv)
            .expect("FFT buffers have the planned sizes");
    }

    /// Peak of the window-corrected normalised autocorrelation over
    /// [`LAG_MIN`]..=[`LAG_MAX`], clamped to 0–1.
    fn voicing(&self, w: &mut Workspace) -> f32 {
        for (c, &p) in w.spectrum.iter_mut().zip(&w.power) {
            *c = Complex::new(p, 0.0);
        }
        self.ifft(w);
        let r0 = w.time[0];
        if r0 <= 0.0 {
            return 0.0;
        }
        (LAG_MIN..=LAG_MAX)
            .map(|lag| w.time[lag] / r0 / self.window_acf[lag])
            .fold(0.0f32, f32::max)
            .clamp(0.0, 1.0)
    }

    /// F1 and F2 proxies from the cepstrally smoothed log spectrum.
    fn formants(&self, w: &mut Workspace) -> (f32, f32) {
        for (c, &p) in w.spectrum.iter_mut().zip(&w.power) {
            *c = Complex::new((p + POWER_EPS).ln(), 0.0);
        }
        self.ifft(w);
        // Lifter: keep quefrencies below LIFTER (and their mirror images).
        w.time[LIFTER..=NFFT - LIFTER].fill(0.0);
        self.fft(w);
        let envelope = &w.spectrum;
        let peak = |lo: f32, hi: f32, skip: &dyn Fn(f32) -> bool| {
            let (a, b) = band_bins((lo, hi));
            let mut best = (f32::NEG_INFINITY, lo);
            for (k, c) in envelope.iter().enumerate().take(b).skip(a) {
                let f = k as f32 * BIN_HZ;
                if !skip(f) && c.re > best.0 {
                    best = (c.re, f);
                }
            }
            best.1
        };
        let f1 = peak(250.0, 1000.0, &|_| false);
        let f2 = peak(800.0, 3000.0, &|f| (f - f1).abs() < 250.0);
        (f1, f2)
    }
}

/// FFT bins `a..b` whose centre frequency lies in `[lo, hi)`.
fn band_bins((lo, hi): (f32, f32)) -> (usize, usize) {
    ((lo / BIN_HZ).ceil() as usize, (hi / BIN_HZ).ceil() as usize)
}

/// Sum of `power` over the bins of a band.
fn band_power(power: &[f32], band: (f32, f32)) -> f32 {
    let (a, b) = band_bins(band);
    power[a..b.min(power.len())].iter().sum()
}

fn to_db(power: f32) -> f32 {
    10.0 * (power + POWER_EPS).log10()
}

/// Median of 5 analysis frames (50 ms) on the formant proxies: removes
/// single-frame octave slips so vowels hold their colour.
fn median_filter_formants(frames: &mut [FrameFeatures]) {
    let n = frames.len();
    if n < 3 {
        return;
    }
    let f1: Vec<f32> = frames.iter().map(|f| f.f1_hz).collect();
    let f2: Vec<f32> = frames.iter().map(|f| f.f2_hz).collect();
    let med5 = |v: &[f32], j: usize| {
        let mut w = [0.0f32; 5];
        for (o, slot) in w.iter_mut().enumerate() {
            *slot = v[(j + o).saturating_sub(2).min(n - 1)];
        }
        w.sort_by(f32::total_cmp);
        w[2]
    };
    for (j, f) in frames.iter_mut().enumerate() {
        f.f1_hz = med5(&f1, j);
        f.f2_hz = med5(&f2, j);
    }
}

// ---------------------------------------------------------------------------
// Clip normalisation and cues
// ---------------------------------------------------------------------------

/// Activity threshold below the clip's loud end, dB.
const ACTIVITY_RANGE_DB: f32 = 40.0;
/// Activity threshold above the noise floor, dB.
const FLOOR_MARGIN_DB: f32 = 6.0;
/// Below this level (dBFS mean square) nothing counts as sound.
const ABSOLUTE_FLOOR_DB: f32 = -110.0;
/// Width of the activity sigmoid, dB.
const ACTIVITY_WIDTH_DB: f32 = 3.0;
/// Reference speaker's F1 and F2 (log2 re. 500 Hz and 1500 Hz) over
/// vowel-like frames; clips are shifted toward it by at most
/// [`FORMANT_SHIFT_MAX`] octave.
const FORMANT_REFERENCE: [f32; 2] = [-0.3, -0.1];
const FORMANT_SHIFT_MAX: f32 = 0.15;
/// Vowel-like frames (10 ms each) at which a clip's own formant median gets
/// half the weight of the reference.
const FORMANT_SHIFT_HALF_FRAMES: f32 = 100.0;

/// Per-clip reference levels and formant shift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipStats {
    /// 95th percentile of frame energy, dB: the clip's loud end.
    pub loud_db: f32,
    /// Level where the activity is 0.5, dB.
    pub threshold_db: f32,
    /// Subtracted from log2 F1 and log2 F2 (octaves).
    pub formant_shift: [f32; 2],
}

impl ClipStats {
    /// Measures the levels and the formant shift of a clip's frames.
    pub fn measure(frames: &[FrameFeatures]) -> Self {
        let mut energy: Vec<f32> = frames.iter().map(|f| f.energy_db).collect();
        energy.sort_by(f32::total_cmp);
        let loud_db = percentile(&energy, 95.0);
        let floor_db = percentile(&energy, 10.0);
        let threshold_db = (loud_db - ACTIVITY_RANGE_DB)
            .max(floor_db + FLOOR_MARGIN_DB)
            .max(ABSOLUTE_FLOOR_DB);
        let mut stats = Self {
            loud_db,
            threshold_db,
            formant_shift: [0.0; 2],
        };
        stats.formant_shift = stats.measure_formant_shift(frames);
        stats
    }

    /// Activity of a frame, 0 (silence) to 1 (sound).
    pub fn activity(&self, f: &FrameFeatures) -> f32 {
        sigmoid((f.energy_db - self.threshold_db) / ACTIVITY_WIDTH_DB)
    }

    /// Shift of the clip's median vowel formants toward the reference,
    /// shrunk for clips with few vowels and clamped, so that a sung clip of
    /// one sustained vowel keeps its colour.
    fn measure_formant_shift(&self, frames: &[FrameFeatures]) -> [f32; 2] {
        let vowel_like: Vec<&FrameFeatures> = frames
            .iter()
            .filter(|f| {
                self.activity(f) > 0.5 && f.voicing > 0.7 && f.energy_db - self.loud_db > -12.0
            })
            .collect();
        if vowel_like.is_empty() {
            return [0.0; 2];
        }
        let n = vowel_like.len() as f32;
        let weight = n / (n + FORMANT_SHIFT_HALF_FRAMES);
        let shift = |hz: &dyn Fn(&FrameFeatures) -> f32, scale: f32, reference: f32| {
            let mut v: Vec<f32> = vowel_like.iter().map(|f| (hz(f) / scale).log2()).collect();
            v.sort_by(f32::total_cmp);
            (percentile(&v, 50.0) - reference).clamp(-FORMANT_SHIFT_MAX, FORMANT_SHIFT_MAX) * weight
        };
        [
            shift(&|f| f.f1_hz, 500.0, FORMANT_REFERENCE[0]),
            shift(&|f| f.f2_hz, 1500.0, FORMANT_REFERENCE[1]),
        ]
    }
}

/// Linear-interpolated percentile `p` (0–100) of sorted values (numpy's
/// default); 0 for an empty slice.
fn percentile(sorted: &[f32], p: f32) -> f32 {
    match sorted.len() {
        0 => 0.0,
        n => {
            let x = p / 100.0 * (n - 1) as f32;
            let i = x.floor() as usize;
            let j = (i + 1).min(n - 1);
            sorted[i] + (x - i as f32) * (sorted[j] - sorted[i])
        }
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Number of cues in [`Cues::values`].
const CUE_COUNT: usize = 8;

/// The cues a frame is scored on, all level-independent and clamped to a
/// plausible range (far outliers would otherwise favour the viseme with
/// the widest spread).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cues {
    /// `[level, hf, sh, voicing, f1, f2, murmur, f1_f2]`:
    /// - `level`: energy re. the clip's loud end, dB (vowels ≈ −4, weak
    ///   fricatives ≈ −20);
    /// - `hf`: 4–8 kHz band minus the stronger of the F1 and F2 bands, dB
    ///   (frication: `s` ≈ +6, vowels ≈ −30);
    /// - `sh`: 2.5–4 kHz minus 4–8 kHz, dB (`sh` ≈ 0, `s` ≈ −10);
    /// - `voicing`: 0–1;
    /// - `f1`, `f2`: log2 of F1 / 500 Hz and F2 / 1500 Hz after the clip's
    ///   formant shift (open `aa` has high F1; `ih` high F2; `oh`, `ou` low
    ///   F2);
    /// - `murmur`: 80–300 Hz minus 300–900 Hz, dB (nasals and closures
    ///   with voicing are strong low down);
    /// - `f1_f2`: 300–900 Hz minus 900–2500 Hz, dB.
    pub values: [f32; CUE_COUNT],
}

/// Index of each cue in [`Cues::values`].
const HF: usize = 1;
const SH: usize = 2;
const F1_F2: usize = 7;

/// Each cue is clamped to this range before scoring: far outside the
/// prototypes (a pure 4–8 kHz hiss has no F1 band at all, so its `hf` is
/// +100 dB) a Gaussian score would favour whichever viseme has the widest
/// spread instead of the one whose prototype points that way.
const CUE_RANGES: [(f32, f32); CUE_COUNT] = [
    (-50.0, 5.0),
    (-45.0, 20.0),
    (-20.0, 20.0),
    (0.0, 1.0),
    (-1.5, 1.5),
    (-1.5, 1.5),
    (-25.0, 25.0),
    (-20.0, 30.0),
];

impl Cues {
    /// Cues of one frame under a clip's statistics.
    pub fn of(f: &FrameFeatures, stats: &ClipStats) -> Self {
        let [b0, b1, b2, b3, b4] = f.bands_db;
        let values = [
            f.energy_db - stats.loud_db,
            b4 - b1.max(b2),
            b3 - b4,
            f.voicing,
            (f.f1_hz / 500.0).log2() - stats.formant_shift[0],
            (f.f2_hz / 1500.0).log2() - stats.formant_shift[1],
            b0 - b1,
            b1 - b2,
        ];
        Self {
            values: std::array::from_fn(|i| values[i].clamp(CUE_RANGES[i].0, CUE_RANGES[i].1)),
        }
    }

    fn all(frames: &[FrameFeatures], stats: &ClipStats) -> Vec<Self> {
        frames.iter().map(|f| Self::of(f, stats)).collect()
    }
}

// ---------------------------------------------------------------------------
// Prototypes and scoring
// ---------------------------------------------------------------------------

/// Hand-set prototype of each speech viseme (PP … ou, indices 1–14): a
/// `(mean, spread)` per cue in the order of [`Cues::values`]
/// (`level, hf, sh, voicing, f1, f2, murmur, f1_f2`).
///
/// Where they come from: vowel F1/F2 follow the classic formant charts
/// (open `aa` F1 ≈ 700 Hz F2 ≈ 1200; `E` 500/1700; `ih` 350/2200; `oh`
/// 500/900; `ou` 350/1000, on log scales re. 500 Hz and 1500 Hz); sibilants
/// are loud and high (`s` peaks above 4 kHz, `sh` at 2.5–4 kHz); `f`, `th`
/// are weak and flat; stops are weak and partly unvoiced; nasals are
/// voiced, a little weaker than vowels, strong below 300 Hz and weak in the
/// F2 band; `r` has a low F2. The sonorants (nn … ou) share one `hf` and
/// one `sh` prototype: those cues tell them from fricatives but vary more
/// with the microphone and channel than between vowels. The numbers were
/// rounded after checking them against the medians and spreads of each
/// class in espeak-ng speech (many voices, 17 languages), never against
/// real recordings.
#[rustfmt::skip]
pub const PROTOTYPES: [[(f32, f32); CUE_COUNT]; NUM_VISEMES - 1] = [
    // PP: closure and release, often voiced (b, m), weak highs.
    [(-14.0, 7.0), (-22.0, 14.0), (5.0, 10.0), (0.85, 0.35), (-0.6, 0.6), (-0.4, 0.4), (2.0, 9.0), (4.0, 6.0)],
    // FF: weak, flat frication.
    [(-20.0, 7.0), (-12.0, 14.0), (-1.0, 5.0), (0.8, 0.3), (-0.6, 0.6), (0.0, 0.5), (-2.0, 8.0), (5.0, 6.0)],
    // TH: weak, flat, often voiced (the, this).
    [(-17.0, 6.0), (-10.0, 13.0), (-1.0, 5.0), (0.75, 0.35), (-0.5, 0.6), (0.0, 0.5), (1.0, 8.0), (7.0, 7.0)],
    // DD: weak, bursts rich in highs.
    [(-20.0, 9.0), (-3.0, 16.0), (-2.0, 7.0), (0.45, 0.35), (-0.4, 0.7), (0.0, 0.6), (-3.0, 6.0), (2.0, 6.0)],
    // kk: weak, compact mid-frequency bursts.
    [(-19.0, 9.0), (-6.0, 12.0), (1.0, 5.0), (0.5, 0.3), (-0.4, 0.7), (0.25, 0.6), (-5.0, 6.0), (0.0, 7.0)],
    // CH: loud frication peaking at 2.5–4 kHz.
    [(-13.0, 6.0), (3.0, 12.0), (0.0, 4.0), (0.45, 0.28), (-0.5, 0.7), (0.8, 0.3), (-2.0, 9.0), (1.0, 10.0)],
    // SS: loud frication peaking above 4 kHz.
    [(-14.0, 5.0), (6.0, 14.0), (-10.0, 4.5), (0.5, 0.28), (-0.5, 0.9), (0.3, 0.6), (-2.0, 7.0), (2.0, 10.0)],
    // nn: voiced murmur, weak F2 band.
    [(-9.5, 4.0), (-29.0, 13.0), (11.0, 11.0), (0.97, 0.2), (-0.55, 0.4), (0.15, 0.4), (1.0, 7.0), (12.0, 6.0)],
    // RR: voiced, low F2.
    [(-8.0, 5.0), (-29.0, 13.0), (11.0, 11.0), (0.93, 0.25), (-0.3, 0.33), (-0.2, 0.26), (-6.0, 5.0), (6.0, 4.0)],
    // aa: loud, high F1.
    [(-3.5, 4.5), (-29.0, 13.0), (11.0, 11.0), (0.95, 0.22), (0.35, 0.44), (-0.3, 0.37), (-9.0, 4.5), (4.0, 6.0)],
    // E: mid F1, mid-high F2.
    [(-4.0, 4.0), (-29.0, 13.0), (11.0, 11.0), (0.95, 0.22), (-0.2, 0.22), (0.1, 0.3), (-8.0, 4.5), (6.0, 4.0)],
    // ih: low F1, high F2.
    [(-5.0, 4.5), (-29.0, 13.0), (11.0, 11.0), (0.95, 0.22), (-0.55, 0.34), (0.5, 0.28), (-3.0, 7.0), (7.5, 6.0)],
    // oh: mid F1, low F2.
    [(-3.0, 4.5), (-29.0, 13.0), (11.0, 11.0), (0.95, 0.22), (-0.1, 0.4), (-0.73, 0.33), (-8.0, 5.5), (10.0, 8.0)],
    // ou: low F1, low F2, weak F2 band.
    [(-6.0, 4.5), (-29.0, 13.0), (11.0, 11.0), (0.95, 0.22), (-0.42, 0.36), (-0.45, 0.5), (-2.5, 5.5), (12.0, 9.0)],
];

/// Posterior of one analysis frame: `sil` gets `1 − activity`, the speech
/// visemes share `activity` by the softmax of their prototype scores.
fn frame_posteriors(cues: &Cues, activity: f32) -> Posterior {
    let mut scores = [0.0f32; NUM_VISEMES - 1];
    for (s, proto) in scores.iter_mut().zip(&PROTOTYPES) {
        *s = log_likelihood(&cues.values, proto);
    }
    let speech = softmax(&scores, TEMPERATURE);
    let mut p = [0.0; NUM_VISEMES];
    p[SIL] = 1.0 - activity;
    for (dst, s) in p[1..].iter_mut().zip(speech) {
        *dst = activity * s;
    }
    p
}

/// Diagonal-Gaussian log-likelihood of `values` under `(mean, spread)`
/// pairs (constant terms dropped).
fn log_likelihood(values: &[f32], proto: &[(f32, f32)]) -> f32 {
    values
        .iter()
        .zip(proto)
        .map(|(&x, &(mu, sd))| {
            let z = (x - mu) / sd;
            -0.5 * z * z - sd.ln()
        })
        .sum()
}

/// Softmax of `scores / temperature`.
fn softmax<const N: usize>(scores: &[f32; N], temperature: f32) -> [f32; N] {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut out = scores.map(|s| ((s - max) / temperature).exp());
    let sum: f32 = out.iter().sum();
    out.iter_mut().for_each(|v| *v /= sum);
    out
}

// ---------------------------------------------------------------------------
// Closures
// ---------------------------------------------------------------------------

/// Gaps in activity up to this many analysis frames (60 ms) inside speech
/// are stop closures; longer ones fade to pauses at [`CLOSURE_MAX_FRAMES`].
const CLOSURE_FULL_FRAMES: usize = 6;
/// Gaps this long (150 ms) or longer are pauses.
const CLOSURE_MAX_FRAMES: usize = 15;
/// Frames after a gap whose spectrum tells which stop it was.
const BURST_FRAMES: usize = 3;
/// Frames after a gap that lean toward the stop (the release).
const RELEASE_FRAMES: usize = 2;
/// How far the release frames lean toward the stop (0–1).
const RELEASE_MIX: f32 = 0.5;

/// The stops a closure can belong to, and their burst prototypes over the
/// cues `(hf, sh, f1_f2)` averaged over the first three analysis frames
/// (30 ms) after the gap: bilabial releases are diffuse and low, alveolar ones
/// rich in highs above 4 kHz, velar ones compact in the mid range.
pub const BURST_PROTOTYPES: [(usize, [(f32, f32); 3]); 3] = [
    (PP, [(-15.0, 8.0), (3.0, 5.0), (3.5, 5.0)]),
    (DD, [(3.0, 8.0), (-6.0, 5.0), (3.0, 5.0)]),
    (KK, [(-5.0, 8.0), (0.0, 5.0), (-3.0, 5.0)]),
];

/// Moves the `sil` mass of short gaps inside speech to the stop whose
/// burst follows, and leans the release frames the same way.
fn assign_closures(post: &mut [Posterior], activity: &[f32], cues: &[Cues]) {
    for (start, end) in activity_gaps(activity) {
        let len = end - start;
        if start == 0 || end == activity.len() || len >= CLOSURE_MAX_FRAMES {
            continue;
        }
        let weight = if len <= CLOSURE_FULL_FRAMES {
            1.0
        } else {
            (CLOSURE_MAX_FRAMES - len) as f32 / (CLOSURE_MAX_FRAMES - CLOSURE_FULL_FRAMES) as f32
        };
        let stops = burst_posteriors(&cues[end..(end + BURST_FRAMES).min(cues.len())]);
        for p in &mut post[start..end] {
            let moved = p[SIL] * weight;
            p[SIL] -= moved;
            for ((idx, _), s) in BURST_PROTOTYPES.iter().zip(stops) {
                p[*idx] += moved * s;
            }
        }
        let release_end = (end + RELEASE_FRAMES).min(post.len());
        for p in &mut post[end..release_end] {
            let mix = RELEASE_MIX * weight;
            p.iter_mut().for_each(|v| *v *= 1.0 - mix);
            for ((idx, _), s) in BURST_PROTOTYPES.iter().zip(stops) {
                p[*idx] += mix * s;
            }
        }
    }
}

/// Runs `start..end` of analysis frames whose activity is at most 0.5.
fn activity_gaps(activity: &[f32]) -> Vec<(usize, usize)> {
    let mut gaps = Vec::new();
    let mut start = None;
    for (j, &a) in activity.iter().enumerate() {
        match (a <= 0.5, start) {
            (true, None) => start = Some(j),
            (false, Some(s)) => {
                gaps.push((s, j));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        gaps.push((s, activity.len()));
    }
    gaps
}

/// Which stop (PP, DD, kk) a burst's mean cues fit, as probabilities.
fn burst_posteriors(burst: &[Cues]) -> [f32; 3] {
    if burst.is_empty() {
        return [1.0 / 3.0; 3];
    }
    let mean = |i: usize| burst.iter().map(|c| c.values[i]).sum::<f32>() / burst.len() as f32;
    let x = [mean(HF), mean(SH), mean(F1_F2)];
    let scores = BURST_PROTOTYPES.map(|(_, proto)| {
        x.iter()
            .zip(&proto)
            .map(|(&v, &(mu, sd))| -0.5 * ((v - mu) / sd).powi(2))
            .sum::<f32>()
    });
    softmax(&scores, 1.0)
}

// ---------------------------------------------------------------------------
// Smoothing and pooling
// ---------------------------------------------------------------------------

/// Three-frame (30 ms) moving average, edges repeated.
fn smooth3(post: &[Posterior]) -> Vec<Posterior> {
    let n = post.len();
    (0..n)
        .map(|j| {
            let a = &post[j.saturating_sub(1)];
            let b = &post[j];
            let c = &post[(j + 1).min(n - 1)];
            std::array::from_fn(|v| (a[v] + b[v] + c[v]) / 3.0)
        })
        .collect()
}

/// Averages analysis frames `2 i` and `2 i + 1` into output frame `i` and
/// renormalises each row to sum 1.
fn pool_pairs(post: &[Posterior]) -> Vec<Posterior> {
    post.chunks(2)
        .map(|pair| {
            let mut p: Posterior = std::array::from_fn(|v| pair.iter().map(|q| q[v]).sum::<f32>());
            let sum: f32 = p.iter().sum();
            if sum > 0.0 {
                p.iter_mut().for_each(|v| *v /= sum);
                p
            } else {
                silence()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;
    use std::path::PathBuf;

    const RATE: u32 = 16_000;

    fn index(name: &str) -> usize {
        Viseme::ALL.iter().position(|v| v.name() == name).unwrap()
    }

    fn argmax(p: &Posterior) -> usize {
        (0..NUM_VISEMES).fold(0, |b, v| if p[v] > p[b] { v } else { b })
    }

    /// Fraction of `rows` whose most likely viseme is one of `names`.
    fn share_of(rows: &[Posterior], names: &[&str]) -> f32 {
        let ids: Vec<usize> = names.iter().map(|n| index(n)).collect();
        rows.iter().filter(|p| ids.contains(&argmax(p))).count() as f32 / rows.len() as f32
    }

    /// Output frames covering `[from, to)` seconds.
    fn span(rows: &[Posterior], from: f32, to: f32) -> &[Posterior] {
        &rows[(from * 50.0) as usize..((to * 50.0) as usize).min(rows.len())]
    }

    fn silence_of(seconds: f32) -> Vec<f32> {
        vec![0.0; (seconds * RATE as f32) as usize]
    }

    /// A vowel-like buzz: harmonics of `f0` (with 5.5 Hz vibrato of
    /// `vibrato` relative depth) through a cascade of formant resonances
    /// at `f1`, `f2` and fixed higher formants, with a glottal tilt.
    fn vowel(f0: f32, f1: f32, f2: f32, vibrato: f32, seconds: f32) -> Vec<f32> {
        let formants = [(f1, 80.0), (f2, 100.0), (2800.0, 150.0), (3500.0, 200.0)];
        let gain = |f: f32| -> f32 {
            let tilt = 100.0 / f.max(100.0);
            formants.iter().fold(tilt, |g, &(fc, bw)| {
                let x = f / fc;
                g / ((1.0 - x * x).powi(2) + (f * bw / (fc * fc)).powi(2)).sqrt()
            })
        };
        let n = (seconds * RATE as f32) as usize;
        let mut phase = 0.0f32;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f32 / RATE as f32;
            let f = f0 * (1.0 + vibrato * (TAU * 5.5 * t).sin());
            phase = (phase + f / RATE as f32).fract();
            let mut s = 0.0;
            let mut h = 1;
            while h as f32 * f < 5000.0 {
                s += gain(h as f32 * f) * (TAU * phase * h as f32).sin();
                h += 1;
            }
            out.push(s);
        }
        normalise(out, 0.3)
    }

    /// White noise band-passed to `[lo, hi)` Hz (FFT brick wall).
    fn band_noise(lo: f32, hi: f32, seconds: f32, peak: f32) -> Vec<f32> {
        let n = (seconds * RATE as f32) as usize;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut x: Vec<f32> = (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
            })
            .collect();
        let mut planner = RealFftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let mut spec = fwd.make_output_vec();
        fwd.process(&mut x, &mut spec).unwrap();
        for (k, c) in spec.iter_mut().enumerate() {
            let f = k as f32 * RATE as f32 / n as f32;
            if f < lo || f >= hi {
                *c = Complex::new(0.0, 0.0);
            }
        }
        inv.process(&mut spec, &mut x).unwrap();
        normalise(x, peak)
    }

    fn normalise(mut x: Vec<f32>, peak: f32) -> Vec<f32> {
        let m = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        x.iter_mut().for_each(|v| *v *= peak / m);
        x
    }

    fn clip_of(parts: &[Vec<f32>]) -> AudioClip {
        AudioClip::new(parts.concat(), RATE)
    }

    fn speech_example() -> AudioClip {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/speech.wav");
        crate::audio::load(&path, &Default::default()).expect("examples/speech.wav")
    }

    #[test]
    fn silence_gives_sil() {
        for clip in [
            clip_of(&[silence_of(1.0)]),
            AudioClip::new(vec![1e-9; 8000], RATE),
        ] {
            let rows = viseme_posteriors(&clip);
            assert!(rows.iter().all(|p| p[SIL] > 0.95), "{:?}", rows[0]);
        }
    }

    #[test]
    fn one_row_per_20_ms_and_rows_sum_to_one() {
        let speech = speech_example();
        for (len, rate) in [
            (1234usize, 16_000u32),
            (44_100, 44_100),
            (7_999, 8_000),
            (1, 16_000),
        ] {
            let samples: Vec<f32> = speech.samples.iter().copied().cycle().take(len).collect();
            let rows = viseme_posteriors(&AudioClip::new(samples, rate));
            let expected = (len as f64 / (rate as f64 / 50.0)).ceil() as usize;
            assert_eq!(rows.len(), expected, "{len} samples at {rate} Hz");
            for p in &rows {
                assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
                assert!(p.iter().all(|v| v.is_finite() && *v >= 0.0));
            }
        }
        assert!(viseme_posteriors(&AudioClip::new(Vec::new(), RATE)).is_empty());
        assert!(viseme_posteriors(&AudioClip::new(vec![0.1; 10], 0)).is_empty());
    }

    #[test]
    fn open_vowel_reads_open_and_close_front_vowel_reads_spread() {
        let open = vowel(120.0, 750.0, 1200.0, 0.0, 0.8);
        let spread = vowel(120.0, 300.0, 2300.0, 0.0, 0.8);
        let rows = viseme_posteriors(&clip_of(&[
            silence_of(0.3),
            open,
            silence_of(0.3),
            spread,
            silence_of(0.3),
        ]));
        let a = span(&rows, 0.4, 1.0);
        let i = span(&rows, 1.5, 2.1);
        assert!(
            share_of(a, &["aa"]) > 0.8,
            "aa: {:?}",
            a.iter().map(argmax).collect::<Vec<_>>()
        );
        assert!(
            share_of(i, &["ih"]) > 0.8,
            "ih: {:?}",
            i.iter().map(argmax).collect::<Vec<_>>()
        );
        let mean = |rows: &[Posterior], v: &str| {
            rows.iter().map(|p| p[index(v)]).sum::<f32>() / rows.len() as f32
        };
        assert!(mean(a, "aa") > 3.0 * mean(a, "ih"));
        assert!(mean(i, "ih") > 3.0 * mean(i, "aa"));
    }

    #[test]
    fn high_band_noise_bursts_read_as_sibilants() {
        // Alone, and between vowels at 12 dB below them, as in "asa".
        let burst = || band_noise(4000.0, 7990.0, 0.2, 0.3);
        let alone = clip_of(&[
            silence_of(0.3),
            burst(),
            silence_of(0.3),
            burst(),
            silence_of(0.3),
        ]);
        let rows = viseme_posteriors(&alone);
        for (from, to) in [(0.34, 0.46), (0.84, 0.96)] {
            let f = span(&rows, from, to);
            assert!(
                share_of(f, &["SS"]) > 0.9,
                "{:?}",
                f.iter().map(argmax).collect::<Vec<_>>()
            );
        }
        assert!(share_of(span(&rows, 0.55, 0.75), &["sil"]) > 0.9);
        let v = || vowel(150.0, 750.0, 1200.0, 0.0, 0.3);
        let asa = clip_of(&[
            silence_of(0.2),
            v(),
            band_noise(4000.0, 7990.0, 0.15, 0.075),
            v(),
            silence_of(0.2),
        ]);
        let rows = viseme_posteriors(&asa);
        let f = span(&rows, 0.53, 0.62);
        assert!(
            share_of(f, &["SS", "CH"]) > 0.9,
            "{:?}",
            f.iter().map(argmax).collect::<Vec<_>>()
        );
    }

    #[test]
    fn sustained_sung_vowel_stays_open_without_flicker() {
        // Two seconds of a sung "ah" at 330 Hz with vibrato.
        let rows = viseme_posteriors(&clip_of(&[
            silence_of(0.2),
            vowel(330.0, 800.0, 1200.0, 0.03, 2.0),
            silence_of(0.2),
        ]));
        let held = span(&rows, 0.3, 2.1);
        assert!(
            share_of(held, &["aa"]) > 0.9,
            "{:?}",
            held.iter().map(argmax).collect::<Vec<_>>()
        );
        let changes = held
            .windows(2)
            .filter(|w| argmax(&w[0]) != argmax(&w[1]))
            .count();
        assert!(changes <= 2, "{changes} changes");
    }

    #[test]
    fn real_speech_moves_in_words_rests_in_pauses_and_closes_for_bilabials() {
        let rows = viseme_posteriors(&speech_example());
        // Pauses of examples/speech.wav (espeak-ng phoneme events, seconds).
        for (from, to) in [
            (0.0, 0.1),
            (0.66, 0.78),
            (3.54, 3.8),
            (5.96, 6.08),
            (7.74, 7.84),
        ] {
            assert!(
                share_of(span(&rows, from, to), &["sil"]) > 0.8,
                "pause {from}-{to}"
            );
        }
        let words = [(0.2, 0.6), (0.85, 3.45), (3.85, 5.85), (6.12, 7.6)];
        for (from, to) in words {
            let f = span(&rows, from, to);
            let speech = 1.0 - share_of(f, &["sil"]);
            assert!(speech > 0.85, "speech {from}-{to}: {speech}");
        }
        // Starts of the bilabials (m p m b p m m m m m p), seconds.
        let bilabials = [
            0.95, 1.53, 2.06, 2.30, 2.88, 3.83, 3.99, 5.71, 6.285, 6.70, 7.33,
        ];
        let hits = bilabials
            .iter()
            .filter(|&&t| {
                span(&rows, t - 0.06, t + 0.08)
                    .iter()
                    .any(|p| argmax(p) == PP)
            })
            .count();
        assert!(hits >= 6, "{hits} of {} bilabials closed", bilabials.len());
    }

    #[test]
    fn level_does_not_change_the_posteriors() {
        let loud = speech_example();
        let quiet = AudioClip::new(
            loud.samples.iter().map(|s| s * 0.1).collect(),
            loud.sample_rate,
        );
        let (a, b) = (viseme_posteriors(&loud), viseme_posteriors(&quiet));
        let worst = a
            .iter()
            .zip(&b)
            .flat_map(|(p, q)| p.iter().zip(q).map(|(x, y)| (x - y).abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 0.02, "largest change {worst}");
    }

    #[test]
    fn other_sample_rates_give_the_same_visemes() {
        let clip = speech_example();
        let up = crate::audio::resample(&clip, 44_100).unwrap();
        let (a, b) = (viseme_posteriors(&clip), viseme_posteriors(&up));
        assert_eq!(a.len(), b.len());
        let same = a
            .iter()
            .zip(&b)
            .filter(|(p, q)| argmax(p) == argmax(q))
            .count();
        assert!(same as f32 > 0.9 * a.len() as f32, "{same} of {}", a.len());
    }

    /// Run with `cargo test --release -p voxportrait-core an_hour -- --ignored
    /// --nocapture`: prints the time for one hour of 16 kHz audio.
    #[test]
    #[ignore]
    fn an_hour_of_audio_takes_seconds() {
        let speech = speech_example();
        let hour: Vec<f32> = speech
            .samples
            .iter()
            .copied()
            .cycle()
            .take(3600 * RATE as usize)
            .collect();
        let clip = AudioClip::new(hour, RATE);
        let t = std::time::Instant::now();
        let rows = viseme_posteriors(&clip);
        let s = t.elapsed().as_secs_f64();
        println!(
            "1 h of 16 kHz audio: {s:.2} s ({:.0}x real time), {} frames",
            3600.0 / s,
            rows.len()
        );
        assert_eq!(rows.len(), 180_000);
        assert!(s < 30.0);
    }
}
