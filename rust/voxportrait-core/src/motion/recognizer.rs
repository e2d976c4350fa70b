//! The learned viseme recogniser: Whisper tiny.en encoder features (50 Hz)
//! → a small trained head → posteriors over the 15 visemes.
//!
//! The head is trained by `tools/train_visemes.py` on synthetic speech with
//! exact phoneme timings (see `models/viseme_head.md`) and is stored as
//! `models/viseme_head.safetensors`:
//!
//! - `mean`, `std` `[D]`: feature standardisation;
//! - `hidden.weight` `[H, D·(2c+1)]`, `hidden.bias` `[H]` (optional): a
//!   ReLU layer over the standardised features of frames `t−c..=t+c`;
//! - `out.weight` `[15, H or D·(2c+1)]`, `out.bias` `[15]`: logits;
//! - metadata `context` = `c` (frames on each side, default 0).
//!
//! Small enough to run as plain loops: the encoder dominates the cost.

use safetensors::{Dtype, SafeTensors};

use super::visemes::{Posterior, NUM_VISEMES};
use super::whisper::{Features, WhisperEncoder, FEATURE_DIM};
use crate::audio::AudioClip;
use crate::error::{Error, Result};

/// A dense layer, row-major `[out][in]`.
#[derive(Debug, Clone)]
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn forward(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend(
            self.weight
                .chunks_exact(self.inputs)
                .zip(&self.bias)
                .map(|(row, b)| b + row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>()),
        );
    }
}

/// The trained head on top of the encoder.
#[derive(Debug, Clone)]
pub struct VisemeHead {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    hidden: Option<Dense>,
    out: Dense,
    context: usize,
}

fn head_error(e: impl std::fmt::Display) -> Error {
    Error::Input(format!("cannot load the viseme head (a broken install?): {e}"))
}

fn tensor(st: &SafeTensors, name: &str, len: Option<usize>) -> Result<Vec<f32>> {
    let t = st.tensor(name).map_err(head_error)?;
    if t.dtype() != Dtype::F32 {
        return Err(head_error(format!("{name} must be f32")));
    }
    let v: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    match len {
        Some(n) if v.len() != n => Err(head_error(format!(
            "{name} has {} values, expected {n}",
            v.len()
        ))),
        _ => Ok(v),
    }
}

impl VisemeHead {
    /// Loads a head from safetensors bytes (layout in the module docs).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(head_error)?;
        let context: usize = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("context"))
            .map(|c| c.parse().map_err(head_error))
            .transpose()?
            .unwrap_or(0);
        let st = SafeTensors::deserialize(bytes).map_err(head_error)?;
        let mean = tensor(&st, "mean", Some(FEATURE_DIM))?;
        let inv_std = tensor(&st, "std", Some(FEATURE_DIM))?
            .into_iter()
            .map(|s| 1.0 / s.max(1e-6))
            .collect();
        let width = FEATURE_DIM * (2 * context + 1);
        let hidden = if st.names().contains(&"hidden.weight") {
            let bias = tensor(&st, "hidden.bias", None)?;
            let weight = tensor(&st, "hidden.weight", Some(bias.len() * width))?;
            Some(Dense {
                weight,
                bias,
                inputs: width,
            })
        } else {
            None
        };
        let inputs = hidden.as_ref().map_or(width, |h| h.bias.len());
        let out = Dense {
            weight: tensor(&st, "out.weight", Some(NUM_VISEMES * inputs))?,
            bias: tensor(&st, "out.bias", Some(NUM_VISEMES))?,
            inputs,
        };
        Ok(Self {
            mean,
            inv_std,
            hidden,
            out,
            context,
        })
    }

    /// Posteriors for every feature frame.
    pub fn posteriors(&self, features: &Features) -> Vec<Posterior> {
        let n = features.frames;
        let std_rows: Vec<f32> = (0..n)
            .flat_map(|i| {
                features
                    .row(i)
                    .iter()
                    .zip(&self.mean)
                    .zip(&self.inv_std)
                    .map(|((x, m), s)| (x - m) * s)
            })
            .collect();
        let c = self.context as isize;
        let mut input = Vec::with_capacity(FEATURE_DIM * (2 * self.context + 1));
        let (mut h, mut logits) = (Vec::new(), Vec::new());
        (0..n)
            .map(|i| {
                input.clear();
                for d in -c..=c {
                    // Edges repeat the first/last frame.
                    let j = (i as isize + d).clamp(0, n as isize - 1) as usize;
                    input.extend_from_slice(&std_rows[j * FEATURE_DIM..(j + 1) * FEATURE_DIM]);
                }
                match &self.hidden {
                    Some(layer) => {
                        layer.forward(&input, &mut h);
                        h.iter_mut().for_each(|v| *v = v.max(0.0));
                        self.out.forward(&h, &mut logits);
                    }
                    None => self.out.forward(&input, &mut logits),
                }
                softmax(&logits)
            })
            .collect()
    }
}

fn softmax(logits: &[f32]) -> Posterior {
    let max = logits.iter().copied().fold(f32::MIN, f32::max);
    let mut p = [0.0f32; NUM_VISEMES];
    let mut sum = 0.0;
    for (o, &l) in p.iter_mut().zip(logits) {
        *o = (l - max).exp();
        sum += *o;
    }
    p.iter_mut().for_each(|v| *v /= sum);
    p
}

/// The shipped head, compiled into the library.
fn embedded_head() -> &'static [u8] {
    include_bytes!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/viseme_head.safetensors"
    ))
}

/// Encoder plus head, ready to recognise visemes.
#[derive(Debug, Clone)]
pub struct VisemeRecognizer {
    encoder: &'static WhisperEncoder,
    head: VisemeHead,
}

impl VisemeRecognizer {
    /// The shipped recogniser (process-wide encoder, embedded head).
    pub fn shared() -> Result<&'static VisemeRecognizer> {
        static CELL: std::sync::OnceLock<std::result::Result<VisemeRecognizer, String>> =
            std::sync::OnceLock::new();
        CELL.get_or_init(|| {
            Ok(VisemeRecognizer {
                encoder: WhisperEncoder::shared().map_err(|e| e.to_string())?,
                head: VisemeHead::from_bytes(embedded_head()).map_err(|e| e.to_string())?,
            })
        })
        .as_ref()
        .map_err(|e| Error::Input(e.clone()))
    }

    /// 50 Hz viseme posteriors for a clip at any sample rate.
    pub fn posteriors(&self, clip: &AudioClip) -> Result<Vec<Posterior>> {
        let clip16 = if clip.sample_rate == super::whisper::SAMPLE_RATE {
            std::borrow::Cow::Borrowed(clip)
        } else {
            std::borrow::Cow::Owned(crate::audio::resample(clip, super::whisper::SAMPLE_RATE)?)
        };
        let features = self.encoder.features(&clip16.samples)?;
        Ok(self.head.posteriors(&features))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::visemes::Viseme;
    use std::collections::HashMap;

    /// A head that reads viseme `k` off feature channel `k`.
    fn channel_head(context: usize) -> Vec<u8> {
        let width = FEATURE_DIM * (2 * context + 1);
        let mut w = vec![0f32; NUM_VISEMES * width];
        for k in 0..NUM_VISEMES {
            w[k * width + context * FEATURE_DIM + k] = 10.0;
        }
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("mean", vec![FEATURE_DIM], bytes(&vec![0.0; FEATURE_DIM])),
            ("std", vec![FEATURE_DIM], bytes(&vec![1.0; FEATURE_DIM])),
            ("out.weight", vec![NUM_VISEMES, width], bytes(&w)),
            ("out.bias", vec![NUM_VISEMES], bytes(&[0.0; NUM_VISEMES])),
        ];
        let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                (*n, safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d).unwrap())
            })
            .collect();
        let meta = HashMap::from([("context".to_string(), context.to_string())]);
        safetensors::serialize(views, Some(meta)).unwrap()
    }

    #[test]
    fn head_reads_features_into_posteriors() {
        let head = VisemeHead::from_bytes(&channel_head(1)).unwrap();
        let mut data = vec![0f32; 3 * FEATURE_DIM];
        data[Viseme::Aa.index()] = 1.0;
        data[FEATURE_DIM + Viseme::PP.index()] = 1.0;
        data[2 * FEATURE_DIM + Viseme::Ou.index()] = 1.0;
        let post = head.posteriors(&Features { frames: 3, data });
        let best: Vec<usize> = post
            .iter()
            .map(|p| (0..NUM_VISEMES).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap())
            .collect();
        assert_eq!(best, [Viseme::Aa.index(), Viseme::PP.index(), Viseme::Ou.index()]);
        assert!(post.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    }

    #[test]
    fn a_damaged_head_is_a_clear_error() {
        let e = VisemeHead::from_bytes(b"not a safetensors file").unwrap_err();
        assert!(e.to_string().contains("viseme head"), "{e}");
    }

    #[test]
    fn the_shipped_recogniser_hears_speech_and_silence() {
        let clip = crate::audio::load(
            &crate::testdata::example("speech.wav"),
            &crate::audio::LoadOptions::default(),
        )
        .unwrap();
        let post = VisemeRecognizer::shared().unwrap().posteriors(&clip).unwrap();
        assert_eq!(post.len(), super::super::whisper::feature_count(clip.samples.len()));
        let sil = post.iter().filter(|p| p[0] > 0.5).count() as f32 / post.len() as f32;
        assert!(sil > 0.05 && sil < 0.6, "silence share {sil}");
    }
}
