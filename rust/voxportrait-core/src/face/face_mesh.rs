//! FaceMesh: MediaPipe's 468-point face landmark network
//! (`face_landmark.tflite`, the non-attention model) as a candle module.
//!
//! # Input
//!
//! `[N, 3, 192, 192]` `f32`, RGB, **values in `[0, 1]`** (`pixel / 255`): a
//! face crop. MediaPipe crops a square 1.5× the detection box, rotated so the
//! eyes are level (or, on video, the ROI derived from the previous frame's
//! landmarks), and converts it with `output_tensor_float_range { min: 0 max: 1 }`.
//!
//! # Output ([`FaceMeshOutput`])
//!
//! * `landmarks` `[N, 1404]`: 468 × `(x, y, z)`. `x`, `y` are in input pixels
//!   (0..192; divide by 192 for MediaPipe's normalised coordinates); `z` is
//!   depth relative to the face centre in the same pixel scale (MediaPipe
//!   divides it by 192 too), smaller = closer to the camera.
//! * `face_flag` `[N]`: raw logit that the crop contains a face (MediaPipe's
//!   current graphs apply a sigmoid and threshold it).
//!
//! # Architecture
//!
//! 3×3/2 conv + PReLU stem, 14 [`BlazeBlock`]s with PReLU (96×96 → 6×6), then
//! two branches from the 6×6 map, each strided to 3×3 with BlazeBlocks, a 1×1
//! projection to 32 channels (+PReLU), one more block and a 3×3 VALID conv
//! covering the whole map. Weights `models/face_landmark.safetensors`, names in
//! `models/face_networks.md`.

use super::blazeface::BlazeBlock;
use super::layers::{load_weights, Activation, Conv2d, Padding};
use candle_core::{bail, Device, Result, Tensor};
use candle_nn::VarBuilder;
use std::path::{Path, PathBuf};

/// Side of the square input crop in pixels.
pub const INPUT_SIZE: usize = 192;
/// Number of landmarks (each `x, y, z`).
pub const NUM_LANDMARKS: usize = 468;
/// File name of the converted weights inside the models directory.
pub const WEIGHTS_FILE: &str = "face_landmark.safetensors";

/// Path of the shipped weights inside `models_dir`.
pub fn weights_path(models_dir: &Path) -> PathBuf {
    models_dir.join(WEIGHTS_FILE)
}

/// Trunk blocks `(in, out, stride)`.
const TRUNK: [(usize, usize, usize); 14] = [
    (16, 16, 1),
    (16, 16, 1),
    (16, 32, 2),
    (32, 32, 1),
    (32, 32, 1),
    (32, 64, 2),
    (64, 64, 1),
    (64, 64, 1),
    (64, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
    (128, 128, 2),
    (128, 128, 1),
    (128, 128, 1),
];

/// Raw FaceMesh outputs.
#[derive(Debug, Clone)]
pub struct FaceMeshOutput {
    /// `[N, 1404]`: 468 × `(x, y, z)` in input pixels.
    pub landmarks: Tensor,
    /// `[N]`: face-presence logit.
    pub face_flag: Tensor,
}

/// One output branch: 128-channel blocks (the first strided), a 1×1
/// projection to 32 channels with PReLU, 32-channel blocks, and the head.
///
/// Weights under `<branch>.`: `blocks.<i>` numbered through the whole branch
/// (projection excluded), `proj`, `head`.
#[derive(Debug, Clone)]
pub struct MeshBranch {
    wide: Vec<BlazeBlock>,
    proj: Conv2d,
    narrow: Vec<BlazeBlock>,
    head: Conv2d,
}

impl MeshBranch {
    fn load(vb: VarBuilder, n_wide: usize, n_narrow: usize, out: usize) -> Result<Self> {
        let block = |i: usize, c: usize, stride: usize| {
            let b = vb.pp(format!("blocks.{i}"));
            BlazeBlock::load(b.clone(), c, c, stride, Activation::load_prelu(&b, c)?)
        };
        let wide = (0..n_wide)
            .map(|i| block(i, 128, if i == 0 { 2 } else { 1 }))
            .collect::<Result<Vec<_>>>()?;
        let p = vb.pp("proj");
        let proj = Conv2d::load(
            p.clone(),
            128,
            32,
            1,
            1,
            Padding::Valid,
            Activation::load_prelu(&p, 32)?,
        )?;
        let narrow = (n_wide..n_wide + n_narrow)
            .map(|i| block(i, 32, 1))
            .collect::<Result<Vec<_>>>()?;
        let head = Conv2d::load(
            vb.pp("head"),
            32,
            out,
            3,
            3,
            Padding::Valid,
            Activation::Linear,
        )?;
        Ok(Self {
            wide,
            proj,
            narrow,
            head,
        })
    }

    /// `[N, 128, 6, 6]` → `[N, out]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for b in &self.wide {
            h = b.forward(&h)?;
        }
        h = self.proj.forward(&h)?;
        for b in &self.narrow {
            h = b.forward(&h)?;
        }
        self.head.forward(&h)?.flatten_from(1)
    }
}

/// The FaceMesh landmark network.
#[derive(Debug, Clone)]
pub struct FaceMeshNet {
    stem: Conv2d,
    blocks: Vec<BlazeBlock>,
    landmarks: MeshBranch,
    face_flag: MeshBranch,
}

impl FaceMeshNet {
    /// Builds the network from converted weights: `stem`, `blocks.0..13`,
    /// `landmarks.*`, `face_flag.*`.
    pub fn load(vb: VarBuilder) -> Result<Self> {
        let s = vb.pp("stem");
        let stem = Conv2d::load(
            s.clone(),
            3,
            16,
            3,
            2,
            Padding::Same,
            Activation::load_prelu(&s, 16)?,
        )?;
        let blocks = TRUNK
            .iter()
            .enumerate()
            .map(|(i, &(a, b, st))| {
                let v = vb.pp(format!("blocks.{i}"));
                BlazeBlock::load(v.clone(), a, b, st, Activation::load_prelu(&v, b)?)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            stem,
            blocks,
            landmarks: MeshBranch::load(vb.pp("landmarks"), 3, 1, 3 * NUM_LANDMARKS)?,
            face_flag: MeshBranch::load(vb.pp("face_flag"), 1, 1, 1)?,
        })
    }

    /// Loads the shipped weights from `models_dir` (see [`weights_path`]).
    pub fn from_models_dir(models_dir: &Path, device: &Device) -> Result<Self> {
        Self::load(load_weights(&weights_path(models_dir), device)?)
    }

    /// Runs the network on `[N, 3, 192, 192]` crops in `[0, 1]`.
    pub fn forward(&self, x: &Tensor) -> Result<FaceMeshOutput> {
        let (_, c, h, w) = x.dims4()?;
        if c != 3 || h != INPUT_SIZE || w != INPUT_SIZE {
            bail!("FaceMesh expects [N, 3, 192, 192], got {:?}", x.dims());
        }
        let mut t = self.stem.forward(x)?;
        for b in &self.blocks {
            t = b.forward(&t)?;
        }
        // The two branches are independent and small (6x6 → 3x3 maps, too
        // small to parallelise inside a layer): run them side by side.
        let (landmarks, flag) =
            rayon::join(|| self.landmarks.forward(&t), || self.face_flag.forward(&t));
        Ok(FaceMeshOutput {
            landmarks: landmarks?,
            face_flag: flag?.flatten_all()?,
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
        let net = FaceMeshNet::from_models_dir(&models_dir(), &dev).unwrap();
        let fx = load_fixture("face/face_landmark_fixture.safetensors");
        let out = net.forward(&fx.input).unwrap();
        let n = fx.input.dim(0).unwrap();
        assert_eq!(out.landmarks.dims(), &[n, 1404]);
        assert_eq!(out.face_flag.dims(), &[n]);
        let s = INPUT_SIZE as f64;
        assert_close(
            "landmarks / 192",
            &(out.landmarks / s).unwrap(),
            &(fx.get("landmarks") / s).unwrap(),
            1e-3,
        );
        // The flag is compared raw (a logit; its sigmoid is even closer).
        assert_close(
            "face_flag (logit)",
            &out.face_flag,
            fx.get("face_flag"),
            1e-3,
        );
    }
}
