//! Whisper-style log-mel front end (80 Slaney mel bins, 25 ms window, 10 ms hop).
//!
//! This reproduces openai-whisper's `log_mel_spectrogram` for 16 kHz mono
//! `f32` audio:
//!
//! 1. frame `j` is the 400-sample (25 ms) stretch centred on sample `160 j`
//!    (`torch.stft(center=True)`), so frame `j` describes time `j × 10 ms`;
//!    before sample 0 the signal is reflected (`pad_mode="reflect"`: sample
//!    `-k` is sample `k`), after the last sample it is **silence**, because
//!    Whisper always zero-pads the audio (to 30 s, or by 30 s) before the STFT;
//! 2. a periodic Hann window and a 400-point real FFT (`realfft`) give the
//!    power spectrum `|X|²` of 201 bins;
//! 3. 80 triangular mel filters, Slaney mel scale with Slaney area
//!    normalisation, 0–8000 Hz: exactly librosa's
//!    `filters.mel(sr=16000, n_fft=400, n_mels=80)` (what Whisper's
//!    `mel_filters.npz` stores), computed here in `f64` and rounded as
//!    librosa rounds them;
//! 4. `log10(max(mel, 1e-10))`;
//! 5. per window ([`normalize`]): clamp to `max − 8` where `max` is the
//!    largest value in the window, then `(x + 4) / 4`.
//!
//! Steps 1–4 are local (frame `j` depends only on samples `160 j − 200 …
//! 160 j + 199`), so [`LogMel::frames`] computes any range of frames straight
//! from the clip's samples: a chunked consumer (the Whisper encoder runs on
//! 10 s windows) computes just the frames of each window and never holds the
//! spectrogram of a long clip. Only step 5 couples frames, and only within
//! one window, as in Whisper, where each 30 s input is normalised by its own
//! maximum. [`log_mel_spectrogram`] does all five steps for a whole clip.
//!
//! Checked against a numpy/librosa reproduction of Whisper's front end
//! (fixture `tests/data/whisper/mel_fixture.safetensors`, written by
//! `tools/make_mel_fixture.py`): see the tests below for the tolerance.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate the front end expects, Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// FFT size and window length, samples (25 ms).
pub const N_FFT: usize = 400;
/// Hop between frames, samples (10 ms).
pub const HOP: usize = 160;
/// Number of mel bins.
pub const N_MELS: usize = 80;
/// Number of power-spectrum bins, `N_FFT / 2 + 1`.
pub const N_BINS: usize = N_FFT / 2 + 1;
/// Mel frames per second of audio.
pub const FRAMES_PER_SECOND: usize = SAMPLE_RATE as usize / HOP;
/// Floor of the mel power before the logarithm.
pub const POWER_FLOOR: f32 = 1e-10;
/// Dynamic range kept by [`normalize`], in log10 units (80 dB).
pub const DYNAMIC_RANGE: f32 = 8.0;

/// Number of frames Whisper's `log_mel_spectrogram` gives for `n_samples`
/// samples: `n_samples / HOP` (the STFT's `1 + n / HOP` frames minus the last,
/// which Whisper drops).
pub fn frame_count(n_samples: usize) -> usize {
    n_samples / HOP
}

/// One triangular mel filter: weights for the power bins `start..start + weights.len()`.
#[derive(Debug, Clone, PartialEq)]
pub struct MelFilter {
    /// First power-spectrum bin with a non-zero weight.
    pub start: usize,
    /// Weights of bins `start`, `start + 1`, … (all non-zero).
    pub weights: Vec<f32>,
}

/// Slaney mel scale (librosa `hz_to_mel(htk=False)`): linear below 1 kHz,
/// logarithmic above.
fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let min_log_mel = 1000.0 / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= 1000.0 {
        min_log_mel + (hz / 1000.0).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// Inverse of [`hz_to_mel`] (librosa `mel_to_hz(htk=False)`).
fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    let min_log_mel = 1000.0 / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        1000.0 * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// The 80 Slaney-normalised mel filters over 0–8000 Hz, as librosa's
/// `filters.mel(sr=16000, n_fft=400, n_mels=80)` computes them (same `f64`
/// arithmetic, same rounding to `f32`), stored sparsely.
pub fn mel_filters() -> Vec<MelFilter> {
    let sr = SAMPLE_RATE as f64;
    // np.fft.rfftfreq(n_fft, 1 / sr)
    let val = 1.0 / (N_FFT as f64 * (1.0 / sr));
    let fft_freqs: Vec<f64> = (0..N_BINS).map(|k| k as f64 * val).collect();
    // librosa mel_frequencies(n_mels + 2, fmin=0, fmax=sr/2): np.linspace in mel.
    let n_points = N_MELS + 2;
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let step = (hi - lo) / (n_points - 1) as f64;
    let mel_f: Vec<f64> = (0..n_points)
        .map(|i| {
            if i == n_points - 1 {
                mel_to_hz(hi)
            } else {
                mel_to_hz(i as f64 * step + lo)
            }
        })
        .collect();
    (0..N_MELS)
        .map(|i| {
            let fdiff_lo = mel_f[i + 1] - mel_f[i];
            let fdiff_hi = mel_f[i + 2] - mel_f[i + 1];
            let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
            let row: Vec<f32> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = -(mel_f[i] - f) / fdiff_lo;
                    let upper = (mel_f[i + 2] - f) / fdiff_hi;
                    // librosa stores the triangle in its f32 array, then
                    // scales that array by the f64 norm.
                    let tri = lower.min(upper).max(0.0) as f32;
                    (tri as f64 * enorm) as f32
                })
                .collect();
            let start = row.iter().position(|&w| w != 0.0).unwrap_or(0);
            let end = row.iter().rposition(|&w| w != 0.0).map_or(start, |e| e + 1);
            MelFilter {
                start,
                weights: row[start..end].to_vec(),
            }
        })
        .collect()
}

/// Sample `k` of the signal the STFT sees: reflected before the start, the
/// clip itself, then silence.
#[inline]
fn padded_sample(samples: &[f32], k: isize) -> f32 {
    let n = samples.len() as isize;
    if k >= n {
        return 0.0;
    }
    if k >= 0 {
        return samples[k as usize];
    }
    // Reflect about sample 0 (without repeating it). Clips shorter than the
    // half window reflect back into the silence after their end.
    let r = -k;
    if r < n {
        samples[r as usize]
    } else {
        0.0
    }
}

/// The log-mel front end: FFT plan, window and filters, reusable across calls.
///
/// Cheap to clone (the FFT plan is shared); `LogMel` is `Send + Sync`, so one
/// instance can serve several threads.
#[derive(Clone)]
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_fft", &N_FFT)
            .field("hop", &HOP)
            .field("n_mels", &N_MELS)
            .finish()
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// Plans the FFT and builds the window and the mel filters.
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann (torch.hann_window(400), periodic=True), in f64.
        let window = (0..N_FFT)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        Self {
            fft,
            window,
            filters: mel_filters(),
        }
    }

    /// The mel filters in use.
    pub fn filters(&self) -> &[MelFilter] {
        &self.filters
    }

    /// Un-normalised log10 mel power of frames `first .. first + count` of
    /// `samples` (16 kHz mono), row-major `[count][N_MELS]` into `out`
    /// (resized to `count * N_MELS`).
    ///
    /// Frame `j` is centred on sample `160 j`; the signal is reflected before
    /// sample 0 and silent after the last sample (see the module docs), so
    /// frames past the end of the clip are the silence Whisper pads with and
    /// any range of frames can be computed without the rest of the clip's.
    /// Values are `log10(max(mel, 1e-10))`; apply [`normalize`] per window.
    pub fn frames(&self, samples: &[f32], first: usize, count: usize, out: &mut Vec<f32>) {
        out.clear();
        out.resize(count * N_MELS, 0.0);
        let mut input = self.fft.make_input_vec();
        let mut spectrum: Vec<Complex<f32>> = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; N_BINS];
        for (f, row) in out.chunks_exact_mut(N_MELS).enumerate() {
            let centre = ((first + f) * HOP) as isize;
            let begin = centre - (N_FFT / 2) as isize;
            if begin >= samples.len() as isize {
                // Pure padding: the mel power is 0, floored.
                row.fill(POWER_FLOOR.log10());
                continue;
            }
            if begin >= 0 && begin as usize + N_FFT <= samples.len() {
                let s = &samples[begin as usize..begin as usize + N_FFT];
                for ((x, &v), &w) in input.iter_mut().zip(s).zip(&self.window) {
                    *x = v * w;
                }
            } else {
                for (n, (x, &w)) in input.iter_mut().zip(&self.window).enumerate() {
                    *x = padded_sample(samples, begin + n as isize) * w;
                }
            }
            self.fft
                .process_with_scratch(&mut input, &mut spectrum, &mut scratch)
                .expect("FFT buffers have the planned sizes");
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (m, filt) in row.iter_mut().zip(&self.filters) {
                let bins = &power[filt.start..filt.start + filt.weights.len()];
                let e: f32 = bins.iter().zip(&filt.weights).map(|(p, w)| p * w).sum();
                *m = e.max(POWER_FLOOR).log10();
            }
        }
    }
}

/// Whisper's per-window normalisation, in place: clamp every value to at
/// least `max − 8` (the window's largest value minus 80 dB), then map
/// `x ↦ (x + 4) / 4`.
pub fn normalize(window: &mut [f32]) {
    let max = window.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let floor = max - DYNAMIC_RANGE;
    for v in window.iter_mut() {
        *v = (v.max(floor) + 4.0) / 4.0;
    }
}

/// Whisper's `log_mel_spectrogram` of a whole clip: [`frame_count`] frames
/// of [`N_MELS`] values, row-major `[frame][mel]`, normalised with the
/// clip's own maximum (one window).
///
/// `samples` must be 16 kHz mono (resample first, e.g. with
/// [`crate::audio::resample`]).
pub fn log_mel_spectrogram(samples: &[f32]) -> Vec<f32> {
    let mut out = Vec::new();
    LogMel::new().frames(samples, 0, frame_count(samples.len()), &mut out);
    normalize(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::fixture;
    use candle_core::{DType, Device};

    fn load_fixture() -> std::collections::HashMap<String, Vec<f32>> {
        let path = fixture("whisper/mel_fixture.safetensors");
        candle_core::safetensors::load(&path, &Device::Cpu)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .into_iter()
            .map(|(k, t)| {
                let v = t
                    .to_dtype(DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                (k, v)
            })
            .collect()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn filters_are_librosas_slaney_filters() {
        let fx = load_fixture();
        let want = &fx["filters"]; // [80, 201], librosa float32
        for (i, filt) in mel_filters().iter().enumerate() {
            let mut row = vec![0f32; N_BINS];
            row[filt.start..filt.start + filt.weights.len()].copy_from_slice(&filt.weights);
            let err = max_abs_diff(&row, &want[i * N_BINS..(i + 1) * N_BINS]);
            // Same f64 formulas, same rounding: equal up to libm's last bit.
            assert!(err <= 1e-8, "filter {i}: max diff {err}");
        }
    }

    #[test]
    fn matches_whisper_log_mel_on_real_speech() {
        let fx = load_fixture();
        let clip = crate::audio::load(&fixture("whisper/librivox_0880.flac"), &Default::default())
            .unwrap();
        assert_eq!(clip.sample_rate, SAMPLE_RATE);
        assert_eq!(clip.samples.len(), 47_840);
        assert_eq!(
            &clip.samples[..1000],
            &fx["audio_head"][..],
            "the decoded clip differs"
        );

        // Whisper's input: the clip padded with silence to 30 s, normalised
        // with the window's maximum; the fixture holds the speech part.
        let mut window = Vec::new();
        LogMel::new().frames(&clip.samples, 0, 3000, &mut window);
        normalize(&mut window);
        let want = &fx["whisper_mel_30s"];
        let err = max_abs_diff(&window[..want.len()], want);
        let mean = window[..want.len()]
            .iter()
            .zip(want.iter())
            .map(|(a, b)| (a - b).abs())
            .sum::<f32>()
            / want.len() as f32;
        eprintln!("log-mel vs reference: max {err:.2e} mean {mean:.2e}");
        // Brief asks for 1e-3; f32 FFT rounding gives ~1e-5, so hold it tighter.
        assert!(err <= 2e-4, "normalised log-mel max diff {err}");
        // The silent padding is the clamp floor.
        let pad = window[2990 * N_MELS];
        let max = window.iter().copied().fold(f32::MIN, f32::max);
        assert!(
            (pad - (max - 2.0)).abs() < 1e-6,
            "padding {pad} vs max {max}"
        );
    }

    #[test]
    fn frames_of_a_range_equal_the_whole_computation() {
        let clip = crate::audio::load(&fixture("whisper/librivox_0880.flac"), &Default::default())
            .unwrap();
        let mel = LogMel::new();
        let n = frame_count(clip.samples.len()) + 7;
        let mut all = Vec::new();
        mel.frames(&clip.samples, 0, n, &mut all);
        let mut part = Vec::new();
        mel.frames(&clip.samples, 37, 100, &mut part);
        assert_eq!(&all[37 * N_MELS..137 * N_MELS], &part[..]);
        // Past the end is silence.
        mel.frames(&clip.samples, n + 50, 2, &mut part);
        assert!(part.iter().all(|&v| v == -10.0));
    }

    #[test]
    fn a_tone_lands_in_its_mel_bin() {
        // 1 kHz sits at mel 15 on the Slaney scale: in filter 15 or so.
        let tone: Vec<f32> = (0..16_000)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 16_000.0).sin() * 0.5)
            .collect();
        let out = log_mel_spectrogram(&tone);
        assert_eq!(out.len(), 100 * N_MELS);
        let row = &out[50 * N_MELS..51 * N_MELS];
        let best = (0..N_MELS)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap();
        let centre_hz = mel_to_hz(hz_to_mel(8000.0) * (best + 1) as f64 / 81.0);
        assert!(
            (centre_hz - 1000.0).abs() < 60.0,
            "bin {best} at {centre_hz} Hz"
        );
        assert!(out.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn short_and_empty_clips_do_not_panic() {
        assert!(log_mel_spectrogram(&[]).is_empty());
        let mut out = Vec::new();
        LogMel::new().frames(&[0.5, -0.25, 0.1], 0, 2, &mut out);
        assert_eq!(out.len(), 2 * N_MELS);
        assert!(out.iter().all(|v| v.is_finite()));
    }
}
