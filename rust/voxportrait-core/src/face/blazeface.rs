//! BlazeFace: MediaPipe's short-range (128×128) and full-range (192×192) face
//! detector networks, as candle modules.
//!
//! This is the network only: it maps a normalised image to MediaPipe's raw
//! SSD outputs, exactly as the original `.tflite` files do (checked against
//! LiteRT by the parity tests below). Anchor decoding, score thresholding and
//! non-maximum suppression are separate.
//!
//! # Input
//!
//! `[N, 3, H, W]` `f32`, RGB, **values in `[-1, 1]`** (`pixel / 127.5 - 1`),
//! `H = W = 128` (short range) or `192` (full range). MediaPipe's detection
//! graph letterboxes the image to that square (keeping the aspect ratio,
//! zero border) with `ImageToTensorCalculator { output_tensor_float_range
//! { min: -1 max: 1 } }`.
//!
//! # Output ([`BlazeFaceOutput`])
//!
//! * `regressors` `[N, A, 16]`: per anchor, box centre offset `dx, dy`, box
//!   size `w, h`, then 6 keypoints `(x, y)` (right eye, left eye, nose tip,
//!   mouth centre, right ear tragion, left ear tragion), all in input pixels;
//!   the centre and keypoints are relative to the anchor centre.
//! * `classifiers` `[N, A]`: raw face logits (MediaPipe applies a sigmoid,
//!   after clipping the logit to ±100).
//!
//! Anchor order is MediaPipe's `SsdAnchorsCalculator` order, which is what
//! the graph's `RESHAPE`s of the NHWC head outputs produce: feature maps
//! from fine to coarse, then rows, columns, anchors per cell.
//!
//! * short range: A = 896 = 16×16×2 (stride 8) + 8×8×6 (stride 16; MediaPipe
//!   lists strides 8, 16, 16, 16 with 2 anchors per layer, and layers of the
//!   same stride share one 8×8 map);
//! * full range: A = 2304 = 48×48×1 (stride 4).
//!
//! # Weights
//!
//! `models/face_detection_short_range.safetensors` and
//! `models/face_detection_full_range.safetensors`, written by
//! `tools/convert_mediapipe.py` (naming scheme in `models/face_networks.md`).

use super::layers::{
    add_upsampled, depthwise_pointwise, load_weights, Activation, Conv2d, DepthwiseConv2d, Padding,
};
use candle_core::{bail, Device, Result, Tensor};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// Which BlazeFace model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlazeFaceVariant {
    /// Short range ("front camera"): 128×128 input, 896 anchors, faces within
    /// about 2 m, i.e. filling a good part of the frame.
    ShortRange,
    /// Full range: 192×192 input, 2304 anchors, faces within about 5 m,
    /// smaller in the frame.
    FullRange,
}

impl BlazeFaceVariant {
    /// Side of the square input image in pixels (128 or 192).
    pub fn input_size(self) -> usize {
        match self {
            Self::ShortRange => 128,
            Self::FullRange => 192,
        }
    }

    /// Number of SSD anchors (rows of the outputs): 896 or 2304.
    pub fn num_anchors(self) -> usize {
        match self {
            Self::ShortRange => 896,
            Self::FullRange => 2304,
        }
    }

    /// File name of the converted weights inside the models directory.
    pub fn weights_file(self) -> &'static str {
        match self {
            Self::ShortRange => "face_detection_short_range.safetensors",
            Self::FullRange => "face_detection_full_range.safetensors",
        }
    }
}

/// Path of a variant's shipped weights inside `models_dir` (the repository's
/// `models/`, or wherever the package installs it).
pub fn weights_path(models_dir: &Path, variant: BlazeFaceVariant) -> PathBuf {
    models_dir.join(variant.weights_file())
}

/// Raw detector outputs, in MediaPipe's anchor order.
#[derive(Debug, Clone)]
pub struct BlazeFaceOutput {
    /// `[N, A, 16]`: box `(dx, dy, w, h)` then 6 keypoints `(x, y)`, input pixels.
    pub regressors: Tensor,
    /// `[N, A]`: face logits (apply a sigmoid for a score).
    pub classifiers: Tensor,
}

/// The short-range model's residual block (also FaceMesh's): depthwise 3×3
/// (stride 1 or 2) → pointwise 1×1, plus the skip path → activation.
///
/// The skip is the block input, max-pooled 2×2/2 when the block is strided
/// and zero-padded in channels when the block widens (TFLite `PAD`). Weights:
/// `dw.{weight,bias}`, `pw.{weight,bias}` and, for PReLU networks, `prelu`.
#[derive(Debug, Clone)]
pub struct BlazeBlock {
    dw: DepthwiseConv2d,
    pw: Conv2d,
    stride: usize,
}

impl BlazeBlock {
    /// Loads a block mapping `in_c` to `out_c` channels. `act` is the
    /// activation after the residual add (ReLU for BlazeFace, PReLU loaded
    /// from `prelu` for FaceMesh).
    pub fn load(
        vb: VarBuilder,
        in_c: usize,
        out_c: usize,
        stride: usize,
        act: Activation,
    ) -> Result<Self> {
        if out_c < in_c {
            bail!("a BlazeBlock cannot narrow {in_c} -> {out_c}");
        }
        Ok(Self {
            dw: DepthwiseConv2d::load(vb.pp("dw"), in_c, stride)?,
            pw: Conv2d::load(vb.pp("pw"), in_c, out_c, 1, 1, Padding::Same, act)?,
            stride,
        })
    }

    /// `[N, in_c, H, W]` → `[N, out_c, H/s, W/s]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        depthwise_pointwise(&self.dw, &self.pw, x, Some((x, self.stride == 2)))
    }
}

/// The full-range model's residual block: depthwise → pointwise (narrow) →
/// ReLU → depthwise → pointwise (widen), plus the skip → ReLU.
///
/// Weights `dw1`, `pw1`, `dw2`, `pw2` (each `.weight`, `.bias`). The first
/// depthwise conv carries the stride; the skip is as in [`BlazeBlock`].
#[derive(Debug, Clone)]
pub struct DoubleBlazeBlock {
    dw1: DepthwiseConv2d,
    pw1: Conv2d,
    dw2: DepthwiseConv2d,
    pw2: Conv2d,
    stride: usize,
}

impl DoubleBlazeBlock {
    /// Loads a block `in_c → mid_c → out_c`.
    pub fn load(
        vb: VarBuilder,
        in_c: usize,
        mid_c: usize,
        out_c: usize,
        stride: usize,
    ) -> Result<Self> {
        Ok(Self {
            dw1: DepthwiseConv2d::load(vb.pp("dw1"), in_c, stride)?,
            pw1: Conv2d::load(
                vb.pp("pw1"),
                in_c,
                mid_c,
                1,
                1,
                Padding::Same,
                Activation::Relu,
            )?,
            dw2: DepthwiseConv2d::load(vb.pp("dw2"), mid_c, 1)?,
            pw2: Conv2d::load(
                vb.pp("pw2"),
                mid_c,
                out_c,
                1,
                1,
                Padding::Same,
                Activation::Relu,
            )?,
            stride,
        })
    }

    /// `[N, in_c, H, W]` → `[N, out_c, H/s, W/s]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = depthwise_pointwise(&self.dw1, &self.pw1, x, None)?;
        depthwise_pointwise(&self.dw2, &self.pw2, &h, Some((x, self.stride == 2)))
    }
}

/// Blocks of the short-range backbone: `(in, out, stride)`.
const SHORT_BLOCKS: [(usize, usize, usize); 16] = [
    (24, 24, 1),
    (24, 28, 1),
    (28, 32, 2),
    (32, 36, 1),
    (36, 42, 1),
    (42, 48, 2),
    (48, 56, 1),
    (56, 64, 1),
    (64, 72, 1),
    (72, 80, 1),
    (80, 88, 1),
    (88, 96, 2),
    (96, 96, 1),
    (96, 96, 1),
    (96, 96, 1),
    (96, 96, 1),
];
/// Index of the short-range block whose 16×16 output feeds the fine heads.
const SHORT_FINE_BLOCK: usize = 10;

/// The short-range network: 5×5/2 stem, 16 [`BlazeBlock`]s, heads on the
/// 16×16 (2 anchors per cell) and 8×8 (6 anchors per cell) feature maps.
#[derive(Debug, Clone)]
pub struct BlazeFaceShort {
    stem: Conv2d,
    blocks: Vec<BlazeBlock>,
    /// classifier_16 and regressor_16 fused into one 34-channel conv.
    head16: Conv2d,
    /// classifier_8 and regressor_8 fused into one 102-channel conv.
    head8: Conv2d,
}

impl BlazeFaceShort {
    /// Loads `stem`, `blocks.0..15`, `heads.{classifier,regressor}_{16,8}`.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let stem = Conv2d::load(vb.pp("stem"), 3, 24, 5, 2, Padding::Same, Activation::Relu)?;
        let blocks = SHORT_BLOCKS
            .iter()
            .enumerate()
            .map(|(i, &(a, b, s))| {
                BlazeBlock::load(vb.pp(format!("blocks.{i}")), a, b, s, Activation::Relu)
            })
            .collect::<Result<Vec<_>>>()?;
        let head = |name: &str, in_c, out_c| {
            Conv2d::load(
                vb.pp(format!("heads.{name}")),
                in_c,
                out_c,
                1,
                1,
                Padding::Same,
                Activation::Linear,
            )
        };
        let head16 = Conv2d::concat_outputs(&[
            &head("classifier_16", 88, 2)?,
            &head("regressor_16", 88, 32)?,
        ])?;
        let head8 = Conv2d::concat_outputs(&[
            &head("classifier_8", 96, 6)?,
            &head("regressor_8", 96, 96)?,
        ])?;
        Ok(Self {
            stem,
            blocks,
            head16,
            head8,
        })
    }

    /// `[N, 3, 128, 128]` in `[-1, 1]` → raw outputs with 896 anchors.
    pub fn forward(&self, x: &Tensor) -> Result<BlazeFaceOutput> {
        let mut h = self.stem.forward(x)?;
        let mut fine = None;
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(&h)?;
            if i == SHORT_FINE_BLOCK {
                fine = Some(h.clone());
            }
        }
        let fine = fine.expect("the fine feature map is a backbone block");
        let (c16, r16) = split_head(&self.head16.forward(&fine)?, 2)?;
        let (c8, r8) = split_head(&self.head8.forward(&h)?, 6)?;
        Ok(BlazeFaceOutput {
            regressors: Tensor::cat(&[&r16, &r8], 1)?,
            classifiers: Tensor::cat(&[&c16, &c8], 1)?,
        })
    }
}

/// Splits a fused head output `[N, k + 16k, H, W]` (k classifier channels
/// first) into anchor-ordered `([N, H*W*k], [N, H*W*k, 16])`, the layout the
/// TFLite graph's NHWC `RESHAPE` gives.
fn split_head(y: &Tensor, anchors_per_cell: usize) -> Result<(Tensor, Tensor)> {
    let (n, c, h, w) = y.dims4()?;
    let k = anchors_per_cell;
    if c != 17 * k {
        bail!("head has {c} channels, expected {}", 17 * k);
    }
    let nhwc = y.permute((0, 2, 3, 1))?.contiguous()?; // [N, H, W, 17k]
    let cls = nhwc.narrow(3, 0, k)?.reshape((n, h * w * k))?;
    let reg = nhwc.narrow(3, k, 16 * k)?.reshape((n, h * w * k, 16))?;
    Ok((cls, reg))
}

/// Blocks of the full-range backbone: `(in, mid, out, stride)`.
const FULL_BLOCKS: [(usize, usize, usize, usize); 15] = [
    (32, 8, 32, 1),
    (32, 8, 32, 1),
    (32, 12, 48, 2),
    (48, 12, 48, 1),
    (48, 16, 64, 1),
    (64, 24, 96, 2),
    (96, 32, 128, 1),
    (128, 32, 128, 1),
    (128, 36, 144, 2),
    (144, 48, 192, 1),
    (192, 64, 256, 1),
    (256, 96, 384, 2),
    (384, 96, 384, 1),
    (384, 96, 384, 1),
    (384, 96, 384, 1),
];

/// Feature-pyramid stages of the full-range model, coarse to fine:
/// `(top in, lateral backbone block, lateral in, out, mid, blocks)`.
const FULL_FPN: [(usize, usize, usize, usize, usize, usize); 3] = [
    (384, 10, 256, 96, 48, 2),
    (96, 7, 128, 64, 32, 2),
    (64, 4, 64, 48, 24, 1),
];

/// One feature-pyramid stage of the full-range model:
/// `relu(lateral(x_fine)) + resize_bilinear(relu(top(x_coarse)))`, then
/// [`DoubleBlazeBlock`]s. Weights `top`, `lateral`, `blocks.<i>`.
#[derive(Debug, Clone)]
pub struct FpnStage {
    top: Conv2d,
    lateral: Conv2d,
    lateral_from: usize,
    blocks: Vec<DoubleBlazeBlock>,
}

impl FpnStage {
    /// `coarse` is the previous stage's output, `fine` the backbone feature map.
    pub fn forward(&self, coarse: &Tensor, fine: &Tensor) -> Result<Tensor> {
        let top = self.top.forward(coarse)?;
        let mut h = self.lateral.forward(fine)?;
        add_upsampled(&h, &top)?;
        for b in &self.blocks {
            h = b.forward(&h)?;
        }
        Ok(h)
    }
}

/// The full-range network: 3×3/2 stem, 15 [`DoubleBlazeBlock`]s down to
/// 6×6, a 3-stage feature pyramid back up to 48×48, and one anchor per cell.
#[derive(Debug, Clone)]
pub struct BlazeFaceFull {
    stem: Conv2d,
    blocks: Vec<DoubleBlazeBlock>,
    fpn: Vec<FpnStage>,
    /// classifier_48 and regressor_48 fused into one 17-channel conv.
    head: Conv2d,
}

impl BlazeFaceFull {
    /// Loads `stem`, `blocks.0..14`, `fpn.{0,1,2}`, `heads.{classifier,regressor}_48`.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let stem = Conv2d::load(vb.pp("stem"), 3, 32, 3, 2, Padding::Same, Activation::Relu)?;
        let blocks = FULL_BLOCKS
            .iter()
            .enumerate()
            .map(|(i, &(a, m, b, s))| {
                DoubleBlazeBlock::load(vb.pp(format!("blocks.{i}")), a, m, b, s)
            })
            .collect::<Result<Vec<_>>>()?;
        let fpn = FULL_FPN
            .iter()
            .enumerate()
            .map(|(j, &(top_in, lateral_from, lat_in, out, mid, n))| {
                let vb = vb.pp(format!("fpn.{j}"));
                Ok(FpnStage {
                    top: Conv2d::load(
                        vb.pp("top"),
                        top_in,
                        out,
                        1,
                        1,
                        Padding::Valid,
                        Activation::Relu,
                    )?,
                    lateral: Conv2d::load(
                        vb.pp("lateral"),
                        lat_in,
                        out,
                        1,
                        1,
                        Padding::Valid,
                        Activation::Relu,
                    )?,
                    lateral_from,
                    blocks: (0..n)
                        .map(|i| {
                            DoubleBlazeBlock::load(vb.pp(format!("blocks.{i}")), out, mid, out, 1)
                        })
                        .collect::<Result<Vec<_>>>()?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let head = |name: &str, out_c| {
            Conv2d::load(
                vb.pp(format!("heads.{name}")),
                48,
                out_c,
                1,
                1,
                Padding::Same,
                Activation::Linear,
            )
        };
        let head =
            Conv2d::concat_outputs(&[&head("classifier_48", 1)?, &head("regressor_48", 16)?])?;
        Ok(Self {
            stem,
            blocks,
            fpn,
            head,
        })
    }

    /// `[N, 3, 192, 192]` in `[-1, 1]` → raw outputs with 2304 anchors.
    pub fn forward(&self, x: &Tensor) -> Result<BlazeFaceOutput> {
        let mut h = self.stem.forward(x)?;
        let mut kept: Vec<Option<Tensor>> = vec![None; self.blocks.len()];
        for (i, b) in self.blocks.iter().enumerate() {
            h = b.forward(&h)?;
            if self.fpn.iter().any(|s| s.lateral_from == i) {
                kept[i] = Some(h.clone());
            }
        }
        for stage in &self.fpn {
            let fine = kept[stage.lateral_from].as_ref().expect("kept lateral map");
            h = stage.forward(&h, fine)?;
        }
        let (classifiers, regressors) = split_head(&self.head.forward(&h)?, 1)?;
        Ok(BlazeFaceOutput {
            regressors,
            classifiers,
        })
    }
}

/// A BlazeFace detector network of either variant.
#[derive(Debug, Clone)]
pub enum BlazeFace {
    /// The 128×128 short-range model.
    ShortRange(BlazeFaceShort),
    /// The 192×192 full-range model.
    FullRange(BlazeFaceFull),
}

impl BlazeFace {
    /// Builds the network from converted weights in `vb`.
    pub fn load(vb: VarBuilder, variant: BlazeFaceVariant) -> Result<Self> {
        Ok(match variant {
            BlazeFaceVariant::ShortRange => Self::ShortRange(BlazeFaceShort::load(vb)?),
            BlazeFaceVariant::FullRange => Self::FullRange(BlazeFaceFull::load(vb)?),
        })
    }

    /// Loads the shipped weights from `models_dir` (see [`weights_path`]).
    pub fn from_models_dir(
        models_dir: &Path,
        variant: BlazeFaceVariant,
        device: &Device,
    ) -> Result<Self> {
        Self::load(
            load_weights(&weights_path(models_dir, variant), device)?,
            variant,
        )
    }

    /// Which model this is.
    pub fn variant(&self) -> BlazeFaceVariant {
        match self {
            Self::ShortRange(_) => BlazeFaceVariant::ShortRange,
            Self::FullRange(_) => BlazeFaceVariant::FullRange,
        }
    }

    /// Runs the network on `[N, 3, S, S]` images in `[-1, 1]` (S = input size).
    pub fn forward(&self, x: &Tensor) -> Result<BlazeFaceOutput> {
        let s = self.variant().input_size();
        let (_, c, h, w) = x.dims4()?;
        if c != 3 || h != s || w != s {
            bail!(
                "BlazeFace {:?} expects [N, 3, {s}, {s}], got {:?}",
                self.variant(),
                x.dims()
            );
        }
        match self {
            Self::ShortRange(m) => m.forward(x),
            Self::FullRange(m) => m.forward(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::layers::test_support::{assert_close, load_fixture, models_dir};

    fn parity(variant: BlazeFaceVariant, fixture: &str) {
        let dev = Device::Cpu;
        let net = BlazeFace::from_models_dir(&models_dir(), variant, &dev).unwrap();
        let fx = load_fixture(fixture);
        let out = net.forward(&fx.input).unwrap();
        let a = variant.num_anchors();
        let n = fx.input.dim(0).unwrap();
        assert_eq!(out.regressors.dims(), &[n, a, 16]);
        assert_eq!(out.classifiers.dims(), &[n, a]);
        // Scores compared after the sigmoid, boxes in units of the input size.
        assert_close(
            "classifiers (sigmoid)",
            &candle_nn::ops::sigmoid(&out.classifiers).unwrap(),
            &candle_nn::ops::sigmoid(fx.get("classifiers")).unwrap(),
            1e-3,
        );
        let s = variant.input_size() as f64;
        let reg = match fx.tensors.get("regressor_anchors") {
            Some(idx) => out.regressors.index_select(idx, 1).unwrap(),
            None => out.regressors.clone(),
        };
        assert_close(
            "regressors / input size",
            &(reg / s).unwrap(),
            &(fx.get("regressors") / s).unwrap(),
            1e-3,
        );
    }

    #[test]
    fn short_range_matches_litert() {
        parity(
            BlazeFaceVariant::ShortRange,
            "face/face_detection_short_range_fixture.safetensors",
        );
    }

    #[test]
    fn full_range_matches_litert() {
        parity(
            BlazeFaceVariant::FullRange,
            "face/face_detection_full_range_fixture.safetensors",
        );
    }

    /// Per-layer times of the full-range network (profiling aid). Run with
    /// `cargo test --release -p voxportrait-core full_range_layer_times -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn full_range_layer_times() {
        let dev = Device::Cpu;
        let net = match BlazeFace::from_models_dir(&models_dir(), BlazeFaceVariant::FullRange, &dev)
            .unwrap()
        {
            BlazeFace::FullRange(n) => n,
            _ => unreachable!(),
        };
        let x = Tensor::rand(-1f32, 1f32, (1, 3, 192, 192), &dev).unwrap();
        let time = |what: &str, f: &dyn Fn() -> Tensor| {
            for _ in 0..10 {
                f();
            }
            let t = std::time::Instant::now();
            for _ in 0..100 {
                f();
            }
            println!("{what}: {:.1} us", t.elapsed().as_secs_f64() * 1e4);
            f()
        };
        let mut h = time("stem", &|| net.stem.forward(&x).unwrap());
        let mut kept = vec![];
        for (i, b) in net.blocks.iter().enumerate() {
            let hin = h.clone();
            let d1 = time(&format!("block {i} {:?} dw1", hin.dims()), &|| {
                b.dw1.forward(&hin).unwrap()
            });
            let p1 = time(&format!("block {i} pw1"), &|| b.pw1.forward(&d1).unwrap());
            let d2 = time(&format!("block {i} dw2"), &|| b.dw2.forward(&p1).unwrap());
            h = time(&format!("block {i} pw2+skip"), &|| {
                b.pw2.forward_residual(&d2, &hin, b.stride == 2).unwrap()
            });
            kept.push(h.clone());
        }
        for (j, s) in net.fpn.iter().enumerate() {
            let (hin, fine) = (h.clone(), kept[s.lateral_from].clone());
            h = time(&format!("fpn {j}"), &|| s.forward(&hin, &fine).unwrap());
        }
        time("head", &|| net.head.forward(&h).unwrap());
    }

    /// Per-layer times of the short-range network (profiling aid). Run with
    /// `RAYON_NUM_THREADS=2 cargo test --release -p voxportrait-core short_range_layer_times -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn short_range_layer_times() {
        let dev = Device::Cpu;
        let net =
            match BlazeFace::from_models_dir(&models_dir(), BlazeFaceVariant::ShortRange, &dev)
                .unwrap()
            {
                BlazeFace::ShortRange(n) => n,
                _ => unreachable!(),
            };
        let x = Tensor::rand(-1f32, 1f32, (1, 3, 128, 128), &dev).unwrap();
        let mut total = 0.0;
        let mut time = |what: &str, f: &dyn Fn() -> Tensor| {
            for _ in 0..10 {
                f();
            }
            let mut best = f64::MAX;
            for _ in 0..200 {
                let t = std::time::Instant::now();
                f();
                best = best.min(t.elapsed().as_secs_f64() * 1e6);
            }
            total += best;
            println!("{what}: {best:.1} us");
            f()
        };
        let mut h = time("stem", &|| net.stem.forward(&x).unwrap());
        let mut fine = None;
        for (i, b) in net.blocks.iter().enumerate() {
            let hin = h.clone();
            h = time(
                &format!("block {i} {:?} s{}", hin.dims(), b.stride),
                &|| b.forward(&hin).unwrap(),
            );
            if i == SHORT_FINE_BLOCK {
                fine = Some(h.clone());
            }
        }
        let fine = fine.unwrap();
        time("head16", &|| net.head16.forward(&fine).unwrap());
        time("head8", &|| net.head8.forward(&h).unwrap());
        println!("sum of layer minima: {total:.1} us");
    }

    #[test]
    fn rejects_wrong_input_size() {
        let dev = Device::Cpu;
        let net =
            BlazeFace::from_models_dir(&models_dir(), BlazeFaceVariant::ShortRange, &dev).unwrap();
        let x = Tensor::zeros((1, 3, 192, 192), candle_core::DType::F32, &dev).unwrap();
        assert!(net.forward(&x).is_err());
    }

    #[test]
    fn missing_weights_error_names_the_file() {
        let err = BlazeFace::from_models_dir(
            Path::new("/nonexistent"),
            BlazeFaceVariant::FullRange,
            &Device::Cpu,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("face_detection_full_range.safetensors"),
            "{err}"
        );
    }
}
