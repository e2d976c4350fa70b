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
//! The head runs as candle matrix products over blocks of frames: as
//! per-frame loops it cost more than the encoder (about 0.5 M multiply-adds
//! per 20 ms frame, scalar), as matrix products it is a few percent of it.

use candle_core::{Device, Module, Tensor};
use candle_nn::Linear;
use safetensors::{Dtype, SafeTensors};

use super::visemes::{Posterior, NUM_VISEMES};
use super::whisper::{ChunkOptions, Features, WhisperEncoder, FEATURE_DIM};
use crate::audio::AudioClip;
use crate::error::{Error, Result};

/// Frames per block of the head's matrix products: bounds the stacked-context
/// input (`BLOCK × D·(2c+1)` floats, 3.9 MB for c = 2) for any clip length.
const BLOCK: usize = 512;

/// A dense layer from `[out][in]` row-major weights.
fn dense(weight: Vec<f32>, bias: Vec<f32>, inputs: usize) -> Result<Linear> {
    let outputs = bias.len();
    let weight = Tensor::from_vec(weight, (outputs, inputs), &Device::Cpu).map_err(head_error)?;
    let bias = Tensor::from_vec(bias, outputs, &Device::Cpu).map_err(head_error)?;
    Ok(Linear::new(weight, Some(bias)))
}

fn run_error(e: impl std::fmt::Display) -> Error {
    Error::internal("the viseme head failed", e)
}

/// The trained head on top of the encoder.
#[derive(Debug, Clone)]
pub struct VisemeHead {
    mean: Vec<f32>,
    inv_std: Vec<f32>,
    hidden: Option<Linear>,
    out: Linear,
    context: usize,
}

fn head_error(e: impl std::fmt::Display) -> Error {
    Error::internal("cannot load the viseme head", e)
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
        let (hidden, inputs) = if st.names().contains(&"hidden.weight") {
            let bias = tensor(&st, "hidden.bias", None)?;
            let units = bias.len();
            let weight = tensor(&st, "hidden.weight", Some(units * width))?;
            (Some(dense(weight, bias, width)?), units)
        } else {
            (None, width)
        };
        let out = dense(
            tensor(&st, "out.weight", Some(NUM_VISEMES * inputs))?,
            tensor(&st, "out.bias", Some(NUM_VISEMES))?,
            inputs,
        )?;
        Ok(Self {
            mean,
            inv_std,
            hidden,
            out,
            context,
        })
    }

    /// Posteriors for every feature frame, computed block by block.
    pub fn posteriors(&self, features: &Features) -> Result<Vec<Posterior>> {
        let mut stream = HeadStream::new(self);
        stream.push(&features.data)?;
        stream.finish()
    }

    /// Posteriors of the frames `lo..hi` of `rows`, standardised feature
    /// rows of which row 0 is frame `base` and the last is the clip's last
    /// available frame (context beyond either end repeats the end frame).
    fn block(&self, rows: &[f32], base: usize, lo: usize, hi: usize) -> Result<Vec<Posterior>> {
        let c = self.context as isize;
        let width = FEATURE_DIM * (2 * self.context + 1);
        let last = (rows.len() / FEATURE_DIM) as isize - 1;
        let mut input = Vec::with_capacity((hi - lo) * width);
        for i in lo..hi {
            for d in -c..=c {
                // Relative to `base`; below 0 only when `base` is frame 0.
                let j = ((i - base) as isize + d).clamp(0, last) as usize;
                input.extend_from_slice(&rows[j * FEATURE_DIM..(j + 1) * FEATURE_DIM]);
            }
        }
        let x = Tensor::from_vec(input, (hi - lo, width), &Device::Cpu).map_err(run_error)?;
        let h = match &self.hidden {
            Some(layer) => layer.forward(&x).and_then(|h| h.relu()),
            None => Ok(x),
        };
        let logits = h
            .and_then(|h| self.out.forward(&h))
            .and_then(|l| l.flatten_all())
            .and_then(|l| l.to_vec1::<f32>())
            .map_err(run_error)?;
        Ok(logits.chunks_exact(NUM_VISEMES).map(softmax).collect())
    }
}

/// The head run over feature rows as the encoder hands them out (in order),
/// holding only a block of rows plus the context: the whole-clip feature
/// matrix (1.5 KB per 20 ms) is never built.
pub struct HeadStream<'a> {
    head: &'a VisemeHead,
    /// Standardised rows; row 0 is frame `base`.
    rows: Vec<f32>,
    base: usize,
    /// First frame without a posterior yet.
    next: usize,
    posteriors: Vec<Posterior>,
}

impl<'a> HeadStream<'a> {
    /// An empty stream for `head`.
    pub fn new(head: &'a VisemeHead) -> Self {
        Self {
            head,
            rows: Vec::new(),
            base: 0,
            next: 0,
            posteriors: Vec::new(),
        }
    }

    /// Frames pushed so far.
    fn available(&self) -> usize {
        self.base + self.rows.len() / FEATURE_DIM
    }

    /// Appends feature rows (`[n][FEATURE_DIM]`, the frames after those
    /// pushed so far) and runs every full block whose context has arrived.
    pub fn push(&mut self, features: &[f32]) -> Result<()> {
        let head = self.head;
        for row in features.chunks_exact(FEATURE_DIM) {
            self.rows.extend(
                row.iter()
                    .zip(&head.mean)
                    .zip(&head.inv_std)
                    .map(|((x, m), s)| (x - m) * s),
            );
        }
        while self.next + BLOCK + head.context <= self.available() {
            let p = head.block(&self.rows, self.base, self.next, self.next + BLOCK)?;
            self.posteriors.extend(p);
            self.next += BLOCK;
            // Keep the context the next block looks back at.
            let keep_from = self.next.saturating_sub(head.context).max(self.base);
            self.rows.drain(..(keep_from - self.base) * FEATURE_DIM);
            self.base = keep_from;
        }
        Ok(())
    }

    /// Runs the remaining frames (the clip has ended) and returns every
    /// posterior, one per frame pushed.
    pub fn finish(mut self) -> Result<Vec<Posterior>> {
        let available = self.available();
        if self.next < available {
            let p = self
                .head
                .block(&self.rows, self.base, self.next, available)?;
            self.posteriors.extend(p);
        }
        Ok(self.posteriors)
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
        .map_err(|e| Error::Internal(e.clone()))
    }

    /// 50 Hz viseme posteriors for a clip at any sample rate.
    pub fn posteriors(&self, clip: &AudioClip) -> Result<Vec<Posterior>> {
        let clip16 = if clip.sample_rate == super::whisper::SAMPLE_RATE {
            std::borrow::Cow::Borrowed(clip)
        } else {
            std::borrow::Cow::Owned(crate::audio::resample(clip, super::whisper::SAMPLE_RATE)?)
        };
        // Features go to the head window by window; the whole-clip feature
        // matrix is never held.
        let mut head = HeadStream::new(&self.head);
        let mut failed = None;
        self.encoder
            .for_each_window(&clip16.samples, &ChunkOptions::default(), |_, rows| {
                if failed.is_none() {
                    failed = head.push(rows).err();
                }
            })?;
        match failed {
            Some(e) => Err(e),
            None => head.finish(),
        }
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
                (
                    *n,
                    safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
                )
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
        let post = head.posteriors(&Features { frames: 3, data }).unwrap();
        let best: Vec<usize> = post
            .iter()
            .map(|p| {
                (0..NUM_VISEMES)
                    .max_by(|&a, &b| p[a].total_cmp(&p[b]))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            best,
            [Viseme::Aa.index(), Viseme::PP.index(), Viseme::Ou.index()]
        );
        assert!(post
            .iter()
            .all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    }

    /// A head with a random hidden layer (`units` ReLU units, context 2).
    fn random_head(units: usize, seed: u64) -> (Vec<u8>, Vec<f32>, Vec<f32>) {
        let width = FEATURE_DIM * 5;
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        };
        let hw: Vec<f32> = (0..units * width).map(|_| next()).collect();
        let hb: Vec<f32> = (0..units).map(|_| next()).collect();
        let ow: Vec<f32> = (0..NUM_VISEMES * units).map(|_| next()).collect();
        let ob: Vec<f32> = (0..NUM_VISEMES).map(|_| next()).collect();
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let tensors: Vec<(&str, Vec<usize>, Vec<u8>)> = vec![
            ("mean", vec![FEATURE_DIM], bytes(&vec![0.1; FEATURE_DIM])),
            ("std", vec![FEATURE_DIM], bytes(&vec![2.0; FEATURE_DIM])),
            ("hidden.weight", vec![units, width], bytes(&hw)),
            ("hidden.bias", vec![units], bytes(&hb)),
            ("out.weight", vec![NUM_VISEMES, units], bytes(&ow)),
            ("out.bias", vec![NUM_VISEMES], bytes(&ob)),
        ];
        let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, s, d)| {
                (
                    *n,
                    safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), d).unwrap(),
                )
            })
            .collect();
        let meta = HashMap::from([("context".to_string(), "2".to_string())]);
        let st = safetensors::serialize(views, Some(meta)).unwrap();
        let mut w = hw;
        w.extend(&hb);
        let mut o = ow;
        o.extend(&ob);
        (st, w, o)
    }

    #[test]
    fn blocked_matrix_products_match_per_frame_loops_across_block_seams() {
        let units = 32;
        let (bytes, hidden, out) = random_head(units, 7);
        let head = VisemeHead::from_bytes(&bytes).unwrap();
        // 2.3 blocks of frames, so two block seams and a partial last block.
        let n = 2 * BLOCK + 150;
        let data: Vec<f32> = (0..n * FEATURE_DIM)
            .map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
            .collect();
        let features = Features { frames: n, data };
        let got = head.posteriors(&features).unwrap();
        assert_eq!(got.len(), n);
        // Pushed in uneven pieces (as the encoder's windows arrive): the same.
        let mut stream = HeadStream::new(&head);
        for piece in features.data.chunks(FEATURE_DIM * 217) {
            stream.push(piece).unwrap();
        }
        assert_eq!(stream.finish().unwrap(), got);
        // The straightforward reference: one frame at a time.
        let width = FEATURE_DIM * 5;
        for i in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, n - 1] {
            let mut x = Vec::with_capacity(width);
            for d in -2isize..=2 {
                let j = (i as isize + d).clamp(0, n as isize - 1) as usize;
                x.extend(features.row(j).iter().map(|v| (v - 0.1) / 2.0));
            }
            let h: Vec<f32> = (0..units)
                .map(|u| {
                    let row = &hidden[u * width..(u + 1) * width];
                    let v = hidden[units * width + u]
                        + row.iter().zip(&x).map(|(w, v)| w * v).sum::<f32>();
                    v.max(0.0)
                })
                .collect();
            let logits: Vec<f32> = (0..NUM_VISEMES)
                .map(|k| {
                    out[NUM_VISEMES * units + k]
                        + out[k * units..(k + 1) * units]
                            .iter()
                            .zip(&h)
                            .map(|(w, v)| w * v)
                            .sum::<f32>()
                })
                .collect();
            let want = softmax(&logits);
            for (a, b) in got[i].iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "frame {i}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn a_damaged_head_is_a_clear_error() {
        let e = VisemeHead::from_bytes(b"not a safetensors file").unwrap_err();
        assert!(e.to_string().contains("viseme head"), "{e}");
        // The head is embedded in the library: a broken build, not bad input.
        assert!(matches!(e, Error::Internal(_)), "{e:?}");
    }

    #[test]
    fn the_shipped_recogniser_hears_speech_and_silence() {
        let clip = crate::audio::load(
            &crate::testdata::example("speech.wav"),
            &crate::audio::LoadOptions::default(),
        )
        .unwrap();
        let post = VisemeRecognizer::shared()
            .unwrap()
            .posteriors(&clip)
            .unwrap();
        assert_eq!(
            post.len(),
            super::super::whisper::feature_count(clip.samples.len())
        );
        let sil = post.iter().filter(|p| p[0] > 0.5).count() as f32 / post.len() as f32;
        assert!(sil > 0.05 && sil < 0.6, "silence share {sil}");
    }
}
