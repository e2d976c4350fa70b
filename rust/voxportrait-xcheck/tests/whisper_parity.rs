//! The core's Whisper encoder against candle-transformers' Whisper.

use voxportrait_core::audio::mel::{self, LogMel};
use voxportrait_core::audio::{load, LoadOptions};
use voxportrait_core::motion::whisper::{WhisperEncoder, FEATURE_DIM};
use voxportrait_xcheck::{candle_transformers_encoder, encode_mel, repo};

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
fn agrees_with_candle_transformers_whisper_up_to_its_tanh_gelu() {
    let ours_encoder = WhisperEncoder::new().expect("embedded encoder loads");
    let mut theirs_encoder = candle_transformers_encoder().unwrap();
    let clip = load(
        &repo("tests/data/whisper/librivox_0880.flac"),
        &LoadOptions::default(),
    )
    .unwrap()
    .samples;
    // One 10 s window (500 features, 1000 mel frames) from the clip's start.
    let frames = 500;
    let mut mel_in = Vec::new();
    LogMel::new().frames(&clip, 0, 2 * frames, &mut mel_in);
    mel::normalize(&mut mel_in);
    let ours = ours_encoder.encode_mel(&mel_in, 1, frames).unwrap();
    let theirs = encode_mel(&mut theirs_encoder, mel_in, frames).unwrap();
    assert_eq!(ours.len(), frames * FEATURE_DIM);
    let (max, mean) = diff(&ours, &theirs);
    eprintln!("vs candle-transformers (tanh GELU): max {max:.2e} mean {mean:.2e}");
    // The fixture measured tanh vs erf GELU at max 1.9e-2, mean 1.9e-3.
    assert!(max < 0.05 && mean < 4e-3, "{max} / {mean}");
}
