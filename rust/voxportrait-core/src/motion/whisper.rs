//! Whisper tiny.en audio encoder (candle), chunked for long audio.
//!
//! [`WhisperEncoder`] turns 16 kHz mono speech into one 384-dimensional
//! feature vector per 20 ms: the last-layer output of OpenAI's Whisper
//! tiny.en encoder, run with candle on the CPU in `f32`. The learned viseme
//! head reads these features.
//!
//! # Weights
//!
//! `models/whisper_tiny_en_encoder.safetensors` (7.6 M parameters, fp16 as
//! published, upcast to `f32` on load; MIT, see `models/whisper_encoder.md`),
//! written by `tools/convert_whisper.py` under the Hugging Face names that
//! candle-transformers' Whisper loads (`model.encoder.*`). It is compiled
//! into the library, like the face networks. The positional table is not
//! stored: it is Whisper's fixed sinusoids, computed on load.
//!
//! The forward pass is written out here ([`Encoder`]) with candle's matmul,
//! convolution and layer norm, plus two element-wise kernels (exact GELU and
//! a scaled softmax) that vectorise. `candle_transformers::models::whisper`
//! has the same structure but uses the tanh approximation of GELU, and its
//! scalar GELU and softmax took about half of the encoder's time on 2 cores;
//! the `voxportrait-xcheck` crate (`rust/voxportrait-xcheck`, not built in
//! CI) checks that both give the same features up to that GELU difference
//! and compares their speed (`bench/whisper_reference.rs`).
//!
//! # Alignment
//!
//! Mel frame `j` is centred on sample `160 j` (10 ms hop, see
//! [`crate::audio::mel`]). The encoder's two convolutions (kernel 3, the
//! second with stride 2) make feature `i` from mel frames `2i − 2 … 2i + 2`,
//! whose samples are `320 i − 520 … 320 i + 519`: **feature `i` is centred on
//! `t = 20 i ms`** (sample `320 i`), not on `20 i + 10 ms`. Self-attention
//! then mixes in the whole window. A clip of `n` samples gets
//! [`feature_count`]`(n) = ceil(n / 320)` features, those centred inside the
//! clip. [`feature_time`] gives the centre of a feature in seconds.
//!
//! # Chunking
//!
//! Whisper's encoder attends over its whole input, so its cost grows with the
//! square of the length and it accepts at most 30 s. Long audio is cut into
//! windows of [`ChunkOptions::window`] features (default 500 = 10 s; the
//! positional table is sliced to the window's length) that overlap by
//! `2 × context` features (default context 100 = 2 s). Window `k` starts at
//! feature `k × (window − 2 × context)`; each feature is taken from the
//! window where it sits in the central part, and across the middle of each
//! overlap the output fades linearly from one window to the next over
//! [`ChunkOptions::crossfade`] features (default 100 = 2 s), so every
//! feature has at least 1 s of real context on both sides (except at the
//! clip's ends) and there is no step at the seams.
//!
//! Each window's mel input is computed from the samples it covers and
//! normalised by its own maximum, as Whisper normalises each 30 s input; past
//! the end of the clip the window is filled with the silence Whisper pads with
//! (zero samples, not zero mel values). Memory is bounded by one batch of
//! windows whatever the clip's length;
//! [`WhisperEncoder::for_each_window`] hands the features out window by
//! window for consumers that do not keep them all.
//!
//! Whisper's features depend on where a frame sits in the encoder's window,
//! not only on the audio around it: the same speech 6 s later in a window
//! gives features with a cosine similarity of only about 0.75 to the first,
//! 12 s later about 0.4 (measured in
//! `chunked_features_match_one_window_and_hide_their_seams`). Features are
//! therefore only comparable between runs that use the same [`ChunkOptions`];
//! a model trained on them must be fed by the same chunking (the Python
//! binding `_native.whisper_features` uses the default, as does the motion
//! stage).
//!
//! # Accuracy
//!
//! Checked against CTranslate2, the runtime the weights were published for,
//! and against a float64 numpy forward pass of the same maths (fixture
//! `tests/data/whisper/encoder_fixture.safetensors`, written by
//! `tools/make_mel_fixture.py`); the remaining difference from CTranslate2
//! comes from its fp16-rounded positional table. The numbers are in the
//! tests and in `models/whisper_encoder.md`.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Module, Shape, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, LayerNorm, Linear, VarBuilder};
use rayon::prelude::*;

use crate::audio::mel::{self, LogMel, N_MELS};
use crate::error::{Error, Result};

/// File name of the converted encoder under `models/`.
pub const WEIGHTS_FILE: &str = "whisper_tiny_en_encoder.safetensors";
/// Sample rate the encoder expects, Hz.
pub const SAMPLE_RATE: u32 = mel::SAMPLE_RATE;
/// Dimension of one feature vector.
pub const FEATURE_DIM: usize = 384;
/// Feature vectors per second of audio.
pub const FEATURES_PER_SECOND: usize = 50;
/// Samples per feature vector at 16 kHz (20 ms).
pub const SAMPLES_PER_FEATURE: usize = 320;
/// Longest window the encoder accepts, in features (30 s).
pub const MAX_WINDOW: usize = 1500;

/// Number of features for a clip of `n_samples` (16 kHz): those whose centre
/// ([`feature_time`]) lies inside the clip, `ceil(n_samples / 320)`.
pub fn feature_count(n_samples: usize) -> usize {
    n_samples.div_ceil(SAMPLES_PER_FEATURE)
}

/// Centre of feature `i` in seconds from the start of the clip: `0.02 × i`.
pub fn feature_time(i: usize) -> f64 {
    i as f64 / FEATURES_PER_SECOND as f64
}

/// How a clip is cut into encoder windows (in features; 50 per second).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Window length in features, 2 ..= [`MAX_WINDOW`] (default 500 = 10 s).
    pub window: usize,
    /// Features of overlap on each side of a window's kept centre (default
    /// 100 = 2 s); `2 × context < window`. Consecutive windows overlap by
    /// `2 × context` features.
    pub context: usize,
    /// Features over which one window's output fades into the next's
    /// (default 100 = 2 s; at most `2 × context`; 0 cuts hard), centred on
    /// the middle of the overlap. Every feature in the fade still has at
    /// least `context − crossfade / 2` features of context in both windows.
    pub crossfade: usize,
    /// Windows encoded together in one batch (default 1). Larger batches run
    /// the windows through one forward pass; see `bench/motion.rs`.
    pub batch: usize,
    /// Encode batches on several threads (rayon) instead of one after
    /// another (default). On 2 cores this is about 1.2× faster than letting
    /// the matmuls alone use both threads (`bench/motion.rs`), because each
    /// window's small matmuls then run without thread hand-offs; it holds one
    /// batch per thread.
    pub parallel: bool,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        Self {
            window: 500,
            context: 100,
            crossfade: 100,
            batch: 1,
            parallel: true,
        }
    }
}

/// One encoder window of a [`ChunkOptions::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Window {
    /// First feature the window covers (it covers `window` features).
    start: usize,
    /// Features it contributes; consecutive `keep` ranges overlap by the
    /// crossfade length.
    keep: std::ops::Range<usize>,
}

impl ChunkOptions {
    /// One window covering a clip of up to 30 s, with no chunking.
    pub fn single_window() -> Self {
        Self {
            window: MAX_WINDOW,
            context: 0,
            crossfade: 0,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<()> {
        if self.window < 2
            || self.window > MAX_WINDOW
            || 2 * self.context >= self.window
            || self.crossfade > 2 * self.context
        {
            return Err(Error::Input(format!(
                "invalid Whisper window: {} features with {} of context and a {}-feature crossfade \
                 (need 2 <= window <= {MAX_WINDOW}, 2 x context < window, crossfade <= 2 x context)",
                self.window, self.context, self.crossfade
            )));
        }
        if self.batch == 0 {
            return Err(Error::Input("Whisper batch size must be at least 1".into()));
        }
        Ok(())
    }

    /// Features advanced from one window to the next.
    fn hop(&self) -> usize {
        self.window - 2 * self.context
    }

    /// The windows for `total` features. Window `k` starts at `k × hop`;
    /// the hand-over from window `k − 1` to `k` is centred on feature
    /// `k × hop + context`.
    fn plan(&self, total: usize) -> Vec<Window> {
        if total == 0 {
            return Vec::new();
        }
        let hop = self.hop();
        let count = 1 + total.saturating_sub(self.window).div_ceil(hop);
        // First feature of the fade into window k (k >= 1).
        let fade_start = |k: usize| k * hop + self.context - self.crossfade / 2;
        (0..count)
            .map(|k| Window {
                start: k * hop,
                keep: if k == 0 { 0 } else { fade_start(k) }..if k + 1 == count {
                    total
                } else {
                    fade_start(k + 1) + self.crossfade
                },
            })
            .collect()
    }
}

/// Encoder features of a clip: `frames` rows of [`FEATURE_DIM`] values.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// Number of feature vectors (rows).
    pub frames: usize,
    /// Row-major `[frames][FEATURE_DIM]`; row `i` is centred on [`feature_time`]`(i)`.
    pub data: Vec<f32>,
}

impl Features {
    /// Feature vector `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * FEATURE_DIM..(i + 1) * FEATURE_DIM]
    }
}

fn model_error(e: impl std::fmt::Display) -> Error {
    Error::internal("cannot load the Whisper encoder model", e)
}

fn run_error(e: impl std::fmt::Display) -> Error {
    Error::internal("the Whisper encoder failed", e)
}

/// The converted encoder weights compiled into the library.
fn embedded_weights() -> &'static [u8] {
    include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/whisper_tiny_en_encoder.safetensors"
    ))
}

/// Number of attention heads of tiny.en's encoder.
const HEADS: usize = 6;
/// Number of transformer layers of tiny.en's encoder.
const LAYERS: usize = 4;

/// Whisper's sinusoidal positional table, `[length][channels]`: sines of
/// `t / 10000^(i / (channels/2 - 1))` in the first half of the channels,
/// cosines in the second (openai/whisper `sinusoids`), computed in `f64`.
fn sinusoids(length: usize, channels: usize) -> Vec<f32> {
    let half = channels / 2;
    let inc = 10000f64.ln() / (half - 1) as f64;
    let mut out = vec![0f32; length * channels];
    for (t, row) in out.chunks_exact_mut(channels).enumerate() {
        for i in 0..half {
            let a = t as f64 * (-inc * i as f64).exp();
            row[i] = a.sin() as f32;
            row[half + i] = a.cos() as f32;
        }
    }
    out
}

/// One pre-norm transformer layer (self-attention then MLP).
#[derive(Debug, Clone)]
struct EncoderLayer {
    attn_ln: LayerNorm,
    /// Query, key and value projections fused into one `[1152, 384]` product
    /// (the key has no bias: zeros in the fused bias).
    qkv: Linear,
    out: Linear,
    mlp_ln: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

fn layer_norm(vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    Ok(LayerNorm::new(
        vb.get(FEATURE_DIM, "weight")?,
        vb.get(FEATURE_DIM, "bias")?,
        1e-5,
    ))
}

fn linear(vb: VarBuilder, out: usize, inp: usize) -> candle_core::Result<Linear> {
    Ok(Linear::new(
        vb.get((out, inp), "weight")?,
        Some(vb.get(out, "bias")?),
    ))
}

impl EncoderLayer {
    fn load(vb: VarBuilder) -> candle_core::Result<Self> {
        let d = FEATURE_DIM;
        let a = vb.pp("self_attn");
        let weight = Tensor::cat(
            &[
                a.get((d, d), "q_proj.weight")?,
                a.get((d, d), "k_proj.weight")?,
                a.get((d, d), "v_proj.weight")?,
            ],
            0,
        )?;
        let bias = Tensor::cat(
            &[
                a.get(d, "q_proj.bias")?,
                Tensor::zeros(d, DType::F32, vb.device())?,
                a.get(d, "v_proj.bias")?,
            ],
            0,
        )?;
        Ok(Self {
            attn_ln: layer_norm(vb.pp("self_attn_layer_norm"))?,
            qkv: Linear::new(weight, Some(bias)),
            out: linear(a.pp("out_proj"), d, d)?,
            mlp_ln: layer_norm(vb.pp("final_layer_norm"))?,
            fc1: linear(vb.pp("fc1"), 4 * d, d)?,
            fc2: linear(vb.pp("fc2"), d, 4 * d)?,
        })
    }

    /// `x`: `[batch, time, 384]`, contiguous.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let dh = d / HEADS;
        let qkv = self.qkv.forward(&self.attn_ln.forward(x)?)?;
        // [b, t, 3, heads, dh] -> three [b, heads, t, dh]
        let qkv = qkv.reshape((b, t, 3, HEADS, dh))?;
        let head = |i: usize| {
            qkv.narrow(2, i, 1)?
                .squeeze(2)?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (head(0)?, head(1)?, head(2)?);
        let scores = q.matmul(&k.t()?)?;
        let weights = scores.apply_op1_no_bwd(&ScaledSoftmax {
            scale: 1.0 / (dh as f32).sqrt(),
        })?;
        let attn = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b, t, d))?;
        let x = (x + self.out.forward(&attn)?)?;
        let h = self.fc1.forward(&self.mlp_ln.forward(&x)?)?;
        let h = self.fc2.forward(&h.apply_op1_no_bwd(&Gelu)?)?;
        x + h
    }
}

/// Whisper's audio encoder: two GELU convolutions (the second with stride 2),
/// sinusoidal positions, four pre-norm transformer layers, a final layer norm.
///
/// Written out here with candle operations rather than taken from
/// `candle_transformers::models::whisper`, for two reasons measured by the
/// `voxportrait-xcheck` crate's test and bench: candle-transformers uses the
/// tanh approximation of GELU where Whisper uses the exact (erf) one, and its
/// element-wise GELU and softmax are scalar loops that took about half of the
/// encoder's time on 2 cores. The weights and the maths are otherwise the
/// same (`rust/voxportrait-xcheck` runs both).
#[derive(Debug, Clone)]
struct Encoder {
    conv1: Conv1d,
    conv2: Conv1d,
    /// `[MAX_WINDOW, 384]`.
    positions: Tensor,
    layers: Vec<EncoderLayer>,
    ln_post: LayerNorm,
}

impl Encoder {
    fn load(vb: VarBuilder) -> candle_core::Result<Self> {
        let conv = |name: &str, inp: usize, stride: usize| -> candle_core::Result<Conv1d> {
            let vb = vb.pp(name);
            Ok(Conv1d::new(
                vb.get((FEATURE_DIM, inp, 3), "weight")?,
                Some(vb.get(FEATURE_DIM, "bias")?),
                Conv1dConfig {
                    padding: 1,
                    stride,
                    ..Default::default()
                },
            ))
        };
        Ok(Self {
            conv1: conv("conv1", N_MELS, 1)?,
            conv2: conv("conv2", FEATURE_DIM, 2)?,
            positions: Tensor::from_vec(
                sinusoids(MAX_WINDOW, FEATURE_DIM),
                (MAX_WINDOW, FEATURE_DIM),
                vb.device(),
            )?,
            layers: (0..LAYERS)
                .map(|i| EncoderLayer::load(vb.pp(format!("layers.{i}"))))
                .collect::<candle_core::Result<_>>()?,
            ln_post: layer_norm(vb.pp("layer_norm"))?,
        })
    }

    /// `mel`: `[batch, 80, 2 t]` -> `[batch, t, 384]`.
    fn forward(&self, mel: &Tensor) -> candle_core::Result<Tensor> {
        let x = self.conv1.forward(mel)?.apply_op1_no_bwd(&Gelu)?;
        let x = self.conv2.forward(&x)?.apply_op1_no_bwd(&Gelu)?;
        let x = x.transpose(1, 2)?.contiguous()?;
        let t = x.dim(1)?;
        let mut x = x.broadcast_add(&self.positions.narrow(0, 0, t)?)?;
        for layer in &self.layers {
            x = layer.forward(&x)?;
        }
        self.ln_post.forward(&x)
    }
}

/// Calls `$f(args)` through a copy compiled for AVX2 + FMA when the CPU has
/// them (about twice as fast for these element-wise loops), else the
/// baseline x86-64 (SSE2) copy.
macro_rules! simd_dispatch {
    ($f:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(f: impl FnOnce()) {
                f()
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                unsafe { avx2(|| $f($($arg),*)) }
            } else {
                $f($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $f($($arg),*)
        }
    }};
}

/// `out[i] = GELU(src[i])`.
#[inline(always)]
fn gelu_into(out: &mut [f32], src: &[f32]) {
    for (o, &x) in out.iter_mut().zip(src) {
        *o = 0.5 * x * (1.0 + erf_fast(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Row-wise `softmax(scale × x)` over rows of `dim` values.
#[inline(always)]
fn softmax_rows(out: &mut [f32], src: &[f32], dim: usize, scale: f32) {
    const LANES: usize = 16;
    for (o, x) in out.chunks_exact_mut(dim).zip(src.chunks_exact(dim)) {
        // Separate simple loops, with lane-wise partial max and sum, so that
        // each one vectorises.
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let mut chunks = x.chunks_exact(LANES);
        for c in &mut chunks {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = if v > *m { v } else { *m };
            }
        }
        let max = chunks
            .remainder()
            .iter()
            .chain(&lanes)
            .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m });
        let shift = max * scale;
        for (o, &v) in o.iter_mut().zip(x) {
            *o = exp_nonpositive(v * scale - shift);
        }
        let mut partial = [0f32; LANES];
        let mut chunks = o.chunks_exact(LANES);
        for c in &mut chunks {
            for (p, &v) in partial.iter_mut().zip(c) {
                *p += v;
            }
        }
        let sum = partial.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
        let inv = 1.0 / sum;
        o.iter_mut().for_each(|v| *v *= inv);
    }
}

/// Contiguous `f32` data of a CPU tensor, or an error naming `op`.
fn f32_slice<'a>(op: &str, s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("{op} needs a contiguous f32 tensor"),
    }
}

/// Exact GELU, `x Φ(x) = x (1 + erf(x / √2)) / 2`, with a branch-free
/// rational erf that the compiler vectorises (|error| < 1e-6).
struct Gelu;

/// erf(x) for f32: the odd/even rational approximation Eigen and XLA use,
/// on x clamped to [-4, 4] (beyond which erf is ±1 in f32); |error| < 5e-7.
#[inline(always)]
fn erf_fast(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
    x * p / q
}

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = f32_slice(self.name(), s, l)?;
        let mut out = vec![0f32; src.len()];
        // Large chunks on the rayon pool (the matmuls use it too).
        out.par_chunks_mut(1 << 16)
            .zip(src.par_chunks(1 << 16))
            .for_each(|(o, x)| simd_dispatch!(gelu_into(o, x)));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// `softmax(scale × x)` over the last dimension, with a vectorisable exp.
struct ScaledSoftmax {
    scale: f32,
}

/// e^x for x <= 0 (softmax arguments), relative error < 2e-7: 2^n × p(r)
/// with n = round(x log2 e) by the 1.5 × 2^23 trick and a degree-6
/// polynomial for e^r on |r| <= ln2 / 2; branch-free so it vectorises.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0; // 1.5 × 2^23
    let x = x.max(-87.0);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // n as an integer, read from t's mantissa (a float-to-int `as` would
    // saturate and vectorise badly).
    let ni = (t.to_bits() as i32).wrapping_sub(SHIFT.to_bits() as i32);
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    p = p * r * r + r + 1.0;
    f32::from_bits(((ni + 127) << 23) as u32) * p
}

impl CustomOp1 for ScaledSoftmax {
    fn name(&self) -> &'static str {
        "scaled-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let src = f32_slice(self.name(), s, l)?;
        let dim = l.dims().last().copied().unwrap_or(1).max(1);
        let mut out = vec![0f32; src.len()];
        let rows = (1usize << 16).div_ceil(dim).max(1) * dim;
        out.par_chunks_mut(rows)
            .zip(src.par_chunks(rows))
            .for_each(|(o, x)| simd_dispatch!(softmax_rows(o, x, dim, self.scale)));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

/// The Whisper tiny.en audio encoder plus its log-mel front end.
///
/// Cheap to clone (weights are shared); every method takes `&self`, so one
/// encoder can serve several threads.
#[derive(Debug, Clone)]
pub struct WhisperEncoder {
    encoder: Encoder,
    mel: LogMel,
    device: Device,
}

impl WhisperEncoder {
    /// Loads the encoder compiled into the library.
    pub fn new() -> Result<Self> {
        Self::from_bytes(embedded_weights())
    }

    /// A process-wide encoder, loaded on first use.
    pub fn shared() -> Result<&'static WhisperEncoder> {
        static CELL: std::sync::OnceLock<std::result::Result<WhisperEncoder, String>> =
            std::sync::OnceLock::new();
        CELL.get_or_init(|| WhisperEncoder::new().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Internal(e.clone()))
    }

    /// Loads an encoder from safetensors bytes with `tools/convert_whisper.py`'s
    /// names (`model.encoder.*`); fp16 or f32 weights, run in f32.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load_buffer(bytes, &device).map_err(model_error)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let encoder = Encoder::load(vb.pp("model.encoder")).map_err(model_error)?;
        Ok(Self {
            encoder,
            mel: LogMel::new(),
            device,
        })
    }

    /// Runs the encoder on normalised log-mel windows.
    ///
    /// `mel` holds `batch` windows of `2 × frames` mel frames each,
    /// row-major `[batch][2 frames][N_MELS]` (as [`LogMel::frames`] writes
    /// them, normalised with [`mel::normalize`]); returns
    /// `[batch][frames][FEATURE_DIM]`.
    pub fn encode_mel(&self, mel: &[f32], batch: usize, frames: usize) -> Result<Vec<f32>> {
        let n_mel = 2 * frames;
        if frames == 0 || frames > MAX_WINDOW || batch == 0 || mel.len() != batch * n_mel * N_MELS {
            return Err(Error::Input(format!(
                "Whisper input must be {batch} x {n_mel} x {N_MELS} mel values with 1 <= frames <= {MAX_WINDOW}, got {}",
                mel.len()
            )));
        }
        // [batch][time][mel] -> [batch][mel][time], the layout conv1d reads.
        let mut chw = vec![0f32; mel.len()];
        for b in 0..batch {
            let src = &mel[b * n_mel * N_MELS..(b + 1) * n_mel * N_MELS];
            let dst = &mut chw[b * n_mel * N_MELS..(b + 1) * n_mel * N_MELS];
            for (t, row) in src.chunks_exact(N_MELS).enumerate() {
                for (m, &v) in row.iter().enumerate() {
                    dst[m * n_mel + t] = v;
                }
            }
        }
        let x = Tensor::from_vec(chw, (batch, N_MELS, n_mel), &self.device).map_err(run_error)?;
        let y = self.encoder.forward(&x).map_err(run_error)?;
        y.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(run_error)
    }

    /// Features of a whole clip (16 kHz mono), chunked with the default
    /// [`ChunkOptions`] (10 s windows, 2 s of context on each side).
    pub fn features(&self, samples: &[f32]) -> Result<Features> {
        self.features_with(samples, &ChunkOptions::default())
    }

    /// Features of a whole clip (16 kHz mono) with the given chunking.
    pub fn features_with(&self, samples: &[f32], opts: &ChunkOptions) -> Result<Features> {
        let frames = feature_count(samples.len());
        let mut data = vec![0f32; frames * FEATURE_DIM];
        self.for_each_window(samples, opts, |first, rows| {
            data[first * FEATURE_DIM..first * FEATURE_DIM + rows.len()].copy_from_slice(rows);
        })?;
        Ok(Features { frames, data })
    }

    /// Encodes a clip window by window and hands the features to
    /// `sink(first_feature, rows)` in order, each feature exactly once;
    /// `rows` is row-major `[n][FEATURE_DIM]` for features
    /// `first_feature .. first_feature + n`. Only one batch of windows (one
    /// per thread when parallel) is held at a time.
    pub fn for_each_window(
        &self,
        samples: &[f32],
        opts: &ChunkOptions,
        mut sink: impl FnMut(usize, &[f32]),
    ) -> Result<()> {
        opts.validate()?;
        let plan = opts.plan(feature_count(samples.len()));
        let last = plan.len().saturating_sub(1);
        let groups: Vec<&[Window]> = plan.chunks(opts.batch).collect();
        let run = |group: &[Window]| -> Result<Vec<f32>> {
            let mut mel = Vec::with_capacity(group.len() * 2 * opts.window * N_MELS);
            let mut window = Vec::new();
            for w in group {
                self.mel
                    .frames(samples, 2 * w.start, 2 * opts.window, &mut window);
                mel::normalize(&mut window);
                mel.extend_from_slice(&window);
            }
            self.encode_mel(&mel, group.len(), opts.window)
        };
        // The previous window's features in the fade into the next window.
        let fade = opts.crossfade;
        let mut pending: Vec<f32> = Vec::new();
        let mut index = 0usize;
        let mut emit = |group: &[Window], out: &[f32]| {
            for (b, w) in group.iter().enumerate() {
                let base = b * opts.window * FEATURE_DIM;
                let rows = &out[base + (w.keep.start - w.start) * FEATURE_DIM
                    ..base + (w.keep.end - w.start) * FEATURE_DIM];
                let mut rows = rows.to_vec();
                if index > 0 && fade > 0 {
                    // Linear fade from the previous window to this one.
                    for (j, (r, p)) in rows[..fade * FEATURE_DIM]
                        .chunks_exact_mut(FEATURE_DIM)
                        .zip(pending.chunks_exact(FEATURE_DIM))
                        .enumerate()
                    {
                        let a = (j as f32 + 0.5) / fade as f32;
                        for (x, &y) in r.iter_mut().zip(p) {
                            *x = a * *x + (1.0 - a) * y;
                        }
                    }
                }
                let mut n = rows.len() / FEATURE_DIM;
                if index < last {
                    n -= fade;
                    pending.clear();
                    pending.extend_from_slice(&rows[n * FEATURE_DIM..]);
                }
                sink(w.keep.start, &rows[..n * FEATURE_DIM]);
                index += 1;
            }
        };
        if opts.parallel {
            // Bounded memory: encode as many batches at once as there are
            // threads, then hand them out in order.
            let threads = rayon::current_num_threads().max(1);
            for wave in groups.chunks(threads) {
                let outs: Vec<Result<Vec<f32>>> = wave.par_iter().map(|g| run(g)).collect();
                for (g, out) in wave.iter().zip(outs) {
                    emit(g, &out?);
                }
            }
        } else {
            for g in &groups {
                let out = run(g)?;
                emit(g, &out);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{load, load_resampled, LoadOptions};
    use crate::testdata::{example, fixture};
    use std::collections::HashMap;

    fn encoder() -> WhisperEncoder {
        WhisperEncoder::new().expect("embedded encoder loads")
    }

    /// Weights that do not load are a broken build (the encoder is embedded
    /// in the library), so an internal error, not unusable input.
    #[test]
    fn damaged_weights_are_an_internal_error() {
        let e = WhisperEncoder::from_bytes(b"not a safetensors file").unwrap_err();
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
        assert!(e.to_string().contains("Whisper encoder model"), "{e}");
    }

    fn fixture_tensors() -> HashMap<String, Tensor> {
        candle_core::safetensors::load(fixture("whisper/encoder_fixture.safetensors"), &Device::Cpu)
            .unwrap()
    }

    fn f32s(t: &Tensor) -> Vec<f32> {
        t.to_dtype(DType::F32)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    fn clip() -> Vec<f32> {
        load(
            &fixture("whisper/librivox_0880.flac"),
            &LoadOptions::default(),
        )
        .unwrap()
        .samples
    }

    /// (max, mean) absolute difference.
    fn diff(a: &[f32], b: &[f32]) -> (f32, f32) {
        assert_eq!(a.len(), b.len());
        let mut max = 0f32;
        let mut sum = 0f64;
        for (x, y) in a.iter().zip(b) {
            let d = (x - y).abs();
            max = max.max(d);
            sum += d as f64;
        }
        (max, (sum / a.len().max(1) as f64) as f32)
    }

    #[test]
    fn matches_the_reference_runtime_on_30s_and_10s_windows() {
        let fx = fixture_tensors();
        let enc = encoder();
        let samples = clip();
        for (tag, frames) in [("30s", 1500usize), ("10s", 500)] {
            let mut mel_in = Vec::new();
            enc.mel.frames(&samples, 0, 2 * frames, &mut mel_in);
            mel::normalize(&mut mel_in);
            let out = enc.encode_mel(&mel_in, 1, frames).unwrap();
            assert_eq!(out.len(), frames * FEATURE_DIM);
            let idx: Vec<u32> = fx[&format!("frames_{tag}")].to_vec1().unwrap();
            let ours: Vec<f32> = idx
                .iter()
                .flat_map(|&i| {
                    out[i as usize * FEATURE_DIM..(i as usize + 1) * FEATURE_DIM].to_vec()
                })
                .collect();
            let norms: Vec<f32> = out
                .chunks_exact(FEATURE_DIM)
                .map(|r| r.iter().map(|v| v * v).sum::<f32>().sqrt())
                .collect();
            // The same maths in float64 numpy: only f32 rounding (the input
            // mel itself differs from numpy's by ~1e-6).
            let (rmax, rmean) = diff(&ours, &f32s(&fx[&format!("ref_{tag}_frames")]));
            let (nmax, _) = diff(&norms, &f32s(&fx[&format!("ref_{tag}_norm")]));
            // CTranslate2 (erf GELU, fp16 positional table).
            let (cmax, cmean) = diff(&ours, &f32s(&fx[&format!("ct2_{tag}_frames")]));
            let (cnmax, cnmean) = diff(&norms, &f32s(&fx[&format!("ct2_{tag}_norm")]));
            eprintln!(
                "[{tag}] vs numpy (same maths, f64): max {rmax:.2e} mean {rmean:.2e}, norms max {nmax:.2e}; \
                 vs CTranslate2: max {cmax:.2e} mean {cmean:.2e}, norms max {cnmax:.2e} mean {cnmean:.2e}"
            );
            assert!(
                rmax < 1e-3 && rmean < 1e-4,
                "[{tag}] vs numpy: {rmax} / {rmean}"
            );
            assert!(nmax < 2e-3, "[{tag}] frame norms vs numpy: {nmax}");
            // CTranslate2 rounds the positional table to fp16: ~2e-4 on average.
            assert!(
                cmax < 0.01 && cmean < 1e-3,
                "[{tag}] vs CTranslate2: {cmax} / {cmean}"
            );
            assert!(cnmax < 0.1, "[{tag}] frame norms vs CTranslate2: {cnmax}");
        }
    }

    #[test]
    fn fp16_storage_gives_the_same_features_as_fp32() {
        // The published weights are fp16; storing them widened to f32 would
        // double the file for bit-identical features (the upcast is exact).
        let tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load_buffer(embedded_weights(), &Device::Cpu)
                .unwrap()
                .into_iter()
                .map(|(k, t)| {
                    assert_eq!(t.dtype(), DType::F16, "{k}");
                    (k, t.to_dtype(DType::F32).unwrap())
                })
                .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f32.safetensors");
        candle_core::safetensors::save(&tensors, &path).unwrap();
        let wide = WhisperEncoder::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
        let samples = &clip()[..32_000];
        assert_eq!(
            encoder().features(samples).unwrap(),
            wide.features(samples).unwrap()
        );
    }

    #[test]
    fn the_elementwise_kernels_are_accurate() {
        let d = Device::Cpu;
        // GELU against candle's own exact GELU (gelu_erf).
        let xs: Vec<f32> = (0..200_001).map(|i| -10.0 + i as f32 * 1e-4).collect();
        let x = Tensor::new(xs.as_slice(), &d).unwrap();
        let ours = f32s(&x.apply_op1_no_bwd(&Gelu).unwrap());
        let want = f32s(&x.gelu_erf().unwrap());
        let (max, _) = diff(&ours, &want);
        assert!(max < 2e-6, "gelu max error {max}");
        // exp on softmax arguments.
        let worst = (0..=870_000)
            .map(|i| -(i as f32) * 1e-4)
            .map(|x| ((exp_nonpositive(x) as f64 - (x as f64).exp()) / (x as f64).exp()).abs())
            .fold(0f64, f64::max);
        assert!(worst < 5e-7, "exp relative error {worst}");
        // Softmax against candle-nn's.
        let s = Tensor::randn(0f32, 4.0, (2, 6, 37, 53), &d).unwrap();
        let ours = f32s(&s.apply_op1_no_bwd(&ScaledSoftmax { scale: 0.125 }).unwrap());
        let want = f32s(&candle_nn::ops::softmax_last_dim(&(&s * 0.125).unwrap()).unwrap());
        let (max, _) = diff(&ours, &want);
        assert!(max < 1e-6, "softmax max error {max}");
    }

    /// About 29.5 s of speech from the committed clips, at several levels.
    fn long_clip() -> Vec<f32> {
        let speech = load_resampled(&example("speech.wav"), 16_000, &LoadOptions::default())
            .unwrap()
            .samples;
        let real = clip();
        let mut out = Vec::new();
        for (part, gain) in [
            (&speech, 1.0f32),
            (&real, 1.0),
            (&speech, 0.5),
            (&real, 1.6),
            (&speech, 0.8),
        ] {
            out.extend(part.iter().map(|s| s * gain));
        }
        out
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (na * nb)
    }

    /// Euclidean distance between consecutive features `i - 1` and `i`.
    fn step(f: &Features, i: usize) -> f32 {
        f.row(i)
            .iter()
            .zip(f.row(i - 1))
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    #[test]
    fn chunked_features_match_one_window_and_hide_their_seams() {
        let enc = encoder();
        let samples = long_clip();
        let n = feature_count(samples.len());
        assert!(n > 1400 && n <= MAX_WINDOW, "{n} features");
        let whole = enc
            .features_with(&samples, &ChunkOptions::single_window())
            .unwrap();
        let opts = ChunkOptions::default();
        let chunked = enc.features_with(&samples, &opts).unwrap();
        let hard = enc
            .features_with(
                &samples,
                &ChunkOptions {
                    crossfade: 0,
                    ..opts
                },
            )
            .unwrap();
        assert_eq!((whole.frames, chunked.frames, hard.frames), (n, n, n));
        let plan = opts.plan(n);
        let compare = |r: std::ops::Range<usize>| {
            let (max, mean) = diff(
                &chunked.data[r.start * FEATURE_DIM..r.end * FEATURE_DIM],
                &whole.data[r.start * FEATURE_DIM..r.end * FEATURE_DIM],
            );
            let min_cos = r
                .map(|i| cosine(chunked.row(i), whole.row(i)))
                .fold(1.0f32, f32::min);
            (max, mean, min_cos)
        };
        // Window 0 before its fade: the same positions in both encoders, so
        // only the context differs (10 s against 30 s).
        let (max0, mean0, cos0) = compare(opts.context..plan[1].keep.start);
        // The whole interior: later windows put the same audio at other
        // positions (Whisper's features carry their position in the window).
        let (max, mean, min_cos) = compare(opts.context..n - opts.context);
        // Seams: steps between consecutive features inside the fades,
        // against the steps elsewhere. Without a fade each seam is one
        // jump of the size of the two windows' disagreement.
        let fades: Vec<std::ops::Range<usize>> = plan[1..]
            .iter()
            .map(|w| w.keep.start..w.keep.start + opts.crossfade + 1)
            .collect();
        let in_fade = |i: usize| fades.iter().any(|f| f.contains(&i));
        let stats = |f: &Features, fade: bool| {
            let mut v: Vec<f32> = (1..n)
                .filter(|&i| in_fade(i) == fade)
                .map(|i| step(f, i))
                .collect();
            v.sort_by(|a, b| a.total_cmp(b));
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (mean, v[v.len() * 95 / 100], v[v.len() - 1])
        };
        let (nat_mean, nat_p95, nat_max) = stats(&chunked, false);
        let (fade_mean, fade_p95, fade_max) = stats(&chunked, true);
        let (whole_mean, _, _) = stats(&whole, true);
        let hard_seams: Vec<f32> = plan[1..]
            .iter()
            .map(|w| step(&hard, w.start + opts.context))
            .collect();
        eprintln!(
            "chunked (10 s windows, 2 s context, 2 s fade) vs one 30 s window: \
             window 0 (same positions) max {max0:.3} mean {mean0:.4} min cosine {cos0:.3}; \
             whole interior max {max:.2} mean {mean:.3} min cosine {min_cos:.3}. \
             Steps between consecutive features outside the fades: mean {nat_mean:.2} p95 {nat_p95:.2} max {nat_max:.2}; \
             inside: mean {fade_mean:.2} p95 {fade_p95:.2} max {fade_max:.2} (single window there: mean {whole_mean:.2}); \
             hard cuts would step {hard_seams:.2?}"
        );
        assert!(
            cos0 > 0.8 && mean0 < 0.3,
            "window 0: cosine {cos0}, mean {mean0}"
        );
        assert!(
            min_cos > -0.5 && mean < 0.6,
            "interior: cosine {min_cos}, mean {mean}"
        );
        // The fades change features no faster than speech does elsewhere.
        assert!(
            fade_mean < 1.1 * nat_mean,
            "fade steps {fade_mean} vs {nat_mean}"
        );
        assert!(fade_max <= nat_max, "fade step {fade_max} > {nat_max}");
    }

    #[test]
    fn windows_cover_every_feature_and_overlap_by_the_fade() {
        for opts in [
            ChunkOptions::default(),
            ChunkOptions {
                crossfade: 0,
                ..Default::default()
            },
            ChunkOptions {
                window: 300,
                context: 50,
                crossfade: 37,
                ..Default::default()
            },
        ] {
            for total in [0, 1, 250, 499, 500, 501, 799, 800, 801, 5000, 5003] {
                let plan = opts.plan(total);
                let mut next = 0;
                for (k, w) in plan.iter().enumerate() {
                    let overlap = if k == 0 { 0 } else { opts.crossfade };
                    assert_eq!(w.keep.start + overlap, next, "{opts:?} {total}");
                    assert!(w.keep.start >= w.start && w.keep.end <= w.start + opts.window);
                    assert!(w.keep.end >= w.keep.start + overlap);
                    next = w.keep.end;
                }
                assert_eq!(next, total, "{total}");
            }
        }
        let opts = ChunkOptions::default();
        assert_eq!(opts.plan(500).len(), 1);
        assert_eq!(opts.plan(501).len(), 2);
        for bad in [
            ChunkOptions {
                context: 250,
                ..opts
            },
            ChunkOptions {
                crossfade: 201,
                ..opts
            },
            ChunkOptions {
                window: 1501,
                ..opts
            },
            ChunkOptions { batch: 0, ..opts },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn feature_count_and_alignment() {
        assert_eq!(feature_count(0), 0);
        assert_eq!(feature_count(1), 1);
        assert_eq!(feature_count(320), 1);
        assert_eq!(feature_count(321), 2);
        assert_eq!(feature_count(16_000), 50);
        assert!((feature_time(50) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn short_clips_pad_the_window_with_silence() {
        let enc = encoder();
        let samples = clip();
        // A 1 s excerpt's features equal those of the same excerpt followed
        // by 1 s of digital silence: padding is silence.
        let part = &samples[..16_000];
        let mut padded = part.to_vec();
        padded.extend(std::iter::repeat_n(0.0, 16_000));
        let a = enc.features(part).unwrap();
        let b = enc.features(&padded).unwrap();
        assert_eq!((a.frames, b.frames), (50, 100));
        let (max, _) = diff(&a.data, &b.data[..50 * FEATURE_DIM]);
        assert!(max < 1e-4, "{max}");
        // Empty and tiny clips.
        assert_eq!(enc.features(&[]).unwrap().frames, 0);
        let tiny = enc.features(&[0.1, -0.1, 0.2]).unwrap();
        assert_eq!(tiny.frames, 1);
        assert!(tiny.data.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn batched_and_parallel_windows_give_the_same_features() {
        let enc = encoder();
        let samples = long_clip();
        let base = enc.features(&samples).unwrap();
        for opts in [
            ChunkOptions {
                batch: 3,
                ..Default::default()
            },
            ChunkOptions {
                parallel: true,
                ..Default::default()
            },
        ] {
            let other = enc.features_with(&samples, &opts).unwrap();
            let (max, _) = diff(&base.data, &other.data);
            assert!(max < 1e-3, "{opts:?}: {max}");
        }
    }
}
