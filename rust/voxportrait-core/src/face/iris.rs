//! MediaPipe's iris landmark network (`iris_landmark.tflite`) as a candle
//! module: 71 eye-contour/brow points and 5 iris points from an eye crop.
//!
//! # Input
//!
//! `[N, 3, 64, 64]` `f32`, RGB, **values in `[0, 1]`** (`pixel / 255`;
//! MediaPipe's `TfLiteConverterCalculator { zero_center: false }`): a crop
//! around one eye. The model is trained on *left* eyes: MediaPipe flips
//! right-eye crops horizontally before the network and flips the outputs back.
//!
//! # Output ([`IrisOutput`])
//!
//! * `contours` `[N, 213]`: 71 × `(x, y, z)` eye contour and brow points;
//! * `iris` `[N, 15]`: 5 × `(x, y, z)`, iris centre then 4 points on its rim.
//!
//! `x`, `y` in input pixels (0..64; divide by 64 to normalise), `z` in the
//! same scale.
//!
//! # Architecture
//!
//! 3×3/2 conv + PReLU stem (64 channels at 32×32), 10 [`IrisBlock`]s down to
//! 8×8, then two branches of 8 blocks each down to 2×2 and a 2×2 VALID conv.
//! Weights `models/iris_landmark.safetensors`, names in `models/face_networks.md`.

use super::layers::{
    depthwise_pointwise, load_weights, Activation, Conv2d, DepthwiseConv2d, Padding,
};
use candle_core::{bail, Device, Result, Tensor};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// Side of the square eye crop in pixels.
pub const INPUT_SIZE: usize = 64;
/// File name of the converted weights inside the models directory.
pub const WEIGHTS_FILE: &str = "iris_landmark.safetensors";

/// Path of the shipped weights inside `models_dir`.
pub fn weights_path(models_dir: &Path) -> PathBuf {
    models_dir.join(WEIGHTS_FILE)
}

/// The iris network's residual block: a "reduce" conv (1×1, or 2×2 stride 2
/// in strided blocks) + PReLU → depthwise 3×3 → pointwise 1×1, plus the skip
/// (identity, or 2×2/2 max-pool; zero channel padding when widening) → PReLU.
///
/// Weights: `reduce.{weight,bias,prelu}`, `dw.{weight,bias}`,
/// `pw.{weight,bias}`, `prelu`.
#[derive(Debug, Clone)]
pub struct IrisBlock {
    reduce: Conv2d,
    dw: DepthwiseConv2d,
    pw: Conv2d,
    stride: usize,
}

impl IrisBlock {
    /// Loads a block `in_c → mid_c → out_c` with `stride` 1 or 2.
    pub fn load(
        vb: VarBuilder,
        in_c: usize,
        mid_c: usize,
        out_c: usize,
        stride: usize,
    ) -> Result<Self> {
        let r = vb.pp("reduce");
        let k = stride; // 1x1 or 2x2/2
        let reduce = Conv2d::load(
            r.clone(),
            in_c,
            mid_c,
            k,
            stride,
            Padding::Valid,
            Activation::load_prelu(&r, mid_c)?,
        )?;
        Ok(Self {
            reduce,
            dw: DepthwiseConv2d::load(vb.pp("dw"), mid_c, 1)?,
            pw: Conv2d::load(
                vb.pp("pw"),
                mid_c,
                out_c,
                1,
                1,
                Padding::Same,
                Activation::load_prelu(&vb, out_c)?,
            )?,
            stride,
        })
    }

    /// `[N, in_c, H, W]` → `[N, out_c, H/s, W/s]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.reduce.forward(x)?;
        depthwise_pointwise(&self.dw, &self.pw, &h, Some((x, self.stride == 2)))
    }
}

/// Trunk blocks `(in, mid, out, stride)`.
const TRUNK: [(usize, usize, usize, usize); 10] = [
    (64, 32, 64, 1),
    (64, 32, 64, 1),
    (64, 32, 64, 1),
    (64, 32, 64, 1),
    (64, 64, 128, 2),
    (128, 64, 128, 1),
    (128, 64, 128, 1),
    (128, 64, 128, 1),
    (128, 64, 128, 1),
    (128, 64, 128, 2),
];

/// Strides of each branch's 8 blocks (all `128 → 64 → 128`).
const BRANCH_STRIDES: [usize; 8] = [1, 1, 2, 1, 1, 2, 1, 1];

/// Raw iris network outputs.
#[derive(Debug, Clone)]
pub struct IrisOutput {
    /// `[N, 213]`: 71 × `(x, y, z)` eye contour and brow points, input pixels.
    pub contours: Tensor,
    /// `[N, 15]`: 5 × `(x, y, z)` iris points, input pixels.
    pub iris: Tensor,
}

/// One output branch: 8 [`IrisBlock`]s (8×8 → 2×2) and a 2×2 VALID head.
#[derive(Debug, Clone)]
pub struct IrisBranch {
    blocks: Vec<IrisBlock>,
    head: Conv2d,
}

impl IrisBranch {
    fn load(vb: VarBuilder, out: usize) -> Result<Self> {
        let blocks = BRANCH_STRIDES
            .iter()
            .enumerate()
            .map(|(i, &s)| IrisBlock::load(vb.pp(format!("blocks.{i}")), 128, 64, 128, s))
            .collect::<Result<Vec<_>>>()?;
        let head = Conv2d::load(
            vb.pp("head"),
            128,
            out,
            2,
            1,
            Padding::Valid,
            Activation::Linear,
        )?;
        Ok(Self { blocks, head })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for b in &self.blocks {
            h = b.forward(&h)?;
        }
        self.head.forward(&h)?.flatten_from(1)
    }
}

/// The iris + eye contour landmark network.
#[derive(Debug, Clone)]
pub struct IrisNet {
    stem: Conv2d,
    blocks: Vec<IrisBlock>,
    contours: IrisBranch,
    iris: IrisBranch,
}

impl IrisNet {
    /// Builds the network from converted weights: `stem`, `blocks.0..9`,
    /// `contours.*`, `iris.*`.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let s = vb.pp("stem");
        let stem = Conv2d::load(
            s.clone(),
            3,
            64,
            3,
            2,
            Padding::Same,
            Activation::load_prelu(&s, 64)?,
        )?;
        let blocks = TRUNK
            .iter()
            .enumerate()
            .map(|(i, &(a, m, b, st))| IrisBlock::load(vb.pp(format!("blocks.{i}")), a, m, b, st))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            stem,
            blocks,
            contours: IrisBranch::load(vb.pp("contours"), 213)?,
            iris: IrisBranch::load(vb.pp("iris"), 15)?,
        })
    }

    /// Loads the shipped weights from `models_dir` (see [`weights_path`]).
    pub fn from_models_dir(models_dir: &Path, device: &Device) -> Result<Self> {
        Self::load(load_weights(&weights_path(models_dir), device)?)
    }

    /// Runs the network on `[N, 3, 64, 64]` eye crops in `[0, 1]`.
    pub fn forward(&self, x: &Tensor) -> Result<IrisOutput> {
        let (_, c, h, w) = x.dims4()?;
        if c != 3 || h != INPUT_SIZE || w != INPUT_SIZE {
            bail!(
                "the iris network expects [N, 3, 64, 64], got {:?}",
                x.dims()
            );
        }
        let mut t = self.stem.forward(x)?;
        for b in &self.blocks {
            t = b.forward(&t)?;
        }
        // Two equal, independent branches on maps of 8x8 and smaller: run
        // them on two threads rather than splitting each tiny layer.
        let (contours, iris) = rayon::join(|| self.contours.forward(&t), || self.iris.forward(&t));
        Ok(IrisOutput {
            contours: contours?,
            iris: iris?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::layers::test_support::{assert_close, load_fixture, models_dir};

    #[test]
    fn matches_litert() {
        let dev = Device::Cpu;
        let net = IrisNet::from_models_dir(&models_dir(), &dev).unwrap();
        let fx = load_fixture("face/iris_landmark_fixture.safetensors");
        let out = net.forward(&fx.input).unwrap();
        let n = fx.input.dim(0).unwrap();
        assert_eq!(out.contours.dims(), &[n, 213]);
        assert_eq!(out.iris.dims(), &[n, 15]);
        let s = INPUT_SIZE as f64;
        assert_close(
            "contours / 64",
            &(out.contours / s).unwrap(),
            &(fx.get("contours") / s).unwrap(),
            1e-3,
        );
        assert_close(
            "iris / 64",
            &(out.iris / s).unwrap(),
            &(fx.get("iris") / s).unwrap(),
            1e-3,
        );
    }
}
