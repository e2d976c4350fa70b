//! Cross-checks of `voxportrait-core` against reference implementations that
//! are too heavy to compile in CI.
//!
//! Kept out of the core's dev-dependencies on purpose: candle-transformers
//! takes minutes to compile on 2 cores, and as a dev-dependency it changed
//! the features `cargo test -p voxportrait-core` resolves, so the tests could
//! not reuse the dependencies maturin had compiled for the wheel.
//!
//! - `tests/whisper_parity.rs`: the core's Whisper encoder
//!   ([`voxportrait_core::motion::whisper::WhisperEncoder`]) gives the same
//!   features as candle-transformers' Whisper up to its tanh GELU.
//! - `bench/whisper_reference.rs` (repository root): both encoders' speed on
//!   the same windows.
//!
//! Run with `cargo test --release -p voxportrait-xcheck -- --nocapture` and
//! `cargo bench -p voxportrait-xcheck --bench whisper_reference`.

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::whisper as cw;
use voxportrait_core::audio::mel::N_MELS;
use voxportrait_core::motion::whisper::{FEATURE_DIM, MAX_WINDOW, WEIGHTS_FILE};

pub use candle_transformers::models::whisper::model::AudioEncoder;

/// Attention heads of tiny.en's encoder.
pub const HEADS: usize = 6;
/// Transformer layers of tiny.en's encoder.
pub const LAYERS: usize = 4;

/// A file of the repository, from its root.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

/// candle-transformers' Whisper encoder with the shipped weights
/// (`models/whisper_tiny_en_encoder.safetensors`, the file the core compiles
/// in), run in `f32` on the CPU.
///
/// candle-transformers builds the encoder only inside a full model, so it is
/// given an empty decoder (no layers, one-token tables of zeros).
pub fn candle_transformers_encoder() -> candle_core::Result<AudioEncoder> {
    let device = Device::Cpu;
    let bytes = std::fs::read(repo(&format!("models/{WEIGHTS_FILE}")))?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &device)?;
    for (name, shape) in [
        ("model.decoder.embed_tokens.weight", &[1, FEATURE_DIM][..]),
        (
            "model.decoder.embed_positions.weight",
            &[1, FEATURE_DIM][..],
        ),
        ("model.decoder.layer_norm.weight", &[FEATURE_DIM][..]),
        ("model.decoder.layer_norm.bias", &[FEATURE_DIM][..]),
    ] {
        tensors.insert(name.into(), Tensor::zeros(shape, DType::F32, &device)?);
    }
    let config = cw::Config {
        num_mel_bins: N_MELS,
        max_source_positions: MAX_WINDOW,
        d_model: FEATURE_DIM,
        encoder_attention_heads: HEADS,
        encoder_layers: LAYERS,
        vocab_size: 1,
        max_target_positions: 1,
        decoder_attention_heads: HEADS,
        decoder_layers: 0,
        suppress_tokens: Vec::new(),
    };
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, &device);
    Ok(cw::model::Whisper::load(&vb, config)?.encoder)
}

/// Runs candle-transformers' encoder on one normalised log-mel window in the
/// layout [`WhisperEncoder::encode_mel`] takes with a batch of 1: row-major
/// `[2 frames][N_MELS]`, as `LogMel::frames` writes it and `mel::normalize`
/// leaves it. Returns `[frames][FEATURE_DIM]`, like `encode_mel`.
///
/// [`WhisperEncoder::encode_mel`]: voxportrait_core::motion::whisper::WhisperEncoder::encode_mel
pub fn encode_mel(
    encoder: &mut AudioEncoder,
    mel: Vec<f32>,
    frames: usize,
) -> candle_core::Result<Vec<f32>> {
    // [time][mel] -> [1][mel][time], the layout its first convolution reads.
    let x = Tensor::from_vec(mel, (1, 2 * frames, N_MELS), &Device::Cpu)?
        .transpose(1, 2)?
        .contiguous()?;
    encoder
        .forward(&x, true)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1()
}
