//! Convolution layers shared by the MediaPipe face networks ([`super::blazeface`],
//! [`super::face_mesh`], [`super::iris`]), with TFLite's exact semantics and
//! CPU kernels fast enough to compete with LiteRT/XNNPACK.
//!
//! Tensors are candle NCHW `f32` on the CPU. Weights come from the safetensors
//! files written by `tools/convert_mediapipe.py` (layouts already converted:
//! conv OIHW, depthwise `[C,1,3,3]`, PReLU alpha `[C]`).
//!
//! # Semantics reproduced from TFLite
//!
//! * **SAME padding** follows TensorFlow: the total padding of an axis is
//!   `max((out-1)*stride + k - in, 0)` with `out = ceil(in/stride)`, and the
//!   *smaller half goes before*. With stride 2 on an even size that means
//!   no padding on the top/left and one zero row/column on the bottom/right
//!   (PyTorch-style symmetric padding would shift every output by a pixel).
//!   Our kernels take `pad_before` explicitly and treat everything outside
//!   the input as zero, which is the same as padding explicitly and
//!   convolving with padding 0.
//! * **PReLU** is `x` for `x >= 0` and `alpha[c] * x` otherwise (alpha per channel).
//! * **Residual skips** are identity, a 2×2/2 max-pool (strided blocks) and/or
//!   zero channel padding at the end (widening blocks), added *after* the
//!   pointwise conv's bias and *before* the block's activation.
//! * **RESIZE_BILINEAR** in the full-range detector has `align_corners=false,
//!   half_pixel_centers=true`: source coordinate `(dst + 0.5) * in/out - 0.5`,
//!   lower index clamped at 0 and upper at `in-1`. This equals PyTorch's (and
//!   candle's `upsample_bilinear2d(.., align_corners=false)`) rule; we use our
//!   own fused "upsample and add" kernel instead.
//!
//! # Why custom kernels (and what candle does)
//!
//! candle 0.11's CPU `conv2d` with `groups == channels` (a depthwise conv)
//! splits the input and the kernel into one chunk *per channel*, runs a full
//! single-channel conv2d on each (an NCHW→NHWC copy, im2col tiles and a
//! 1×9 by 9×N gemm each) and concatenates the results: hundreds of tiny ops
//! per layer, measured ~60-90× slower than the direct kernel here on a
//! 32×96×96 map (27-30 ms vs 0.3-0.5 ms; ignored test
//! `depthwise_speed_vs_candle_grouped_conv`). Its general conv2d re-packs the
//! kernel and converts the input to NHWC on every call, and its `matmul`
//! asks `num_cpus::get_physical()` for the thread count on every call, which
//! re-reads `/proc/cpuinfo` (tens of µs each, ~35 calls per forward). So the
//! layers here keep candle tensors at their boundaries but compute with
//! their own kernels (`layers/kernels.rs`), through candle custom ops:
//!
//! * depthwise 3×3: a direct kernel over contiguous NCHW planes (all nine
//!   taps in one pass per output row, stride 2 via even/odd column split),
//!   bias fused;
//! * every regular conv is one GEMM `W[O, I*kh*kw] @ cols` with a 4×24
//!   AVX2/FMA register-blocked micro-kernel; `cols` is the input itself (1×1
//!   convs, dense heads) or an im2col matrix (stems, 2×2/2 convs). Weights
//!   are packed once at load time;
//! * bias, residual skip (incl. max-pool and channel padding) and activation
//!   are applied to each GEMM tile before it is stored;
//! * depthwise + pointwise pairs (every block) run fused on large maps, band
//!   of output rows by band ([`depthwise_pointwise`]), so the depthwise output
//!   never goes to memory.
//!
//! Work is split over rayon's pool (bands, or column/row tiles) only when a
//! layer is big enough to pay for waking a thread. The hot loops are compiled
//! twice on x86-64 (baseline and AVX2+FMA, chosen at run time, so the crate
//! needs no `target-cpu` flag; the GEMM and depthwise kernels also have
//! AVX-512 variants with bit-identical results); other architectures use the
//! portable path.

use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, DType, Device, InplaceOp2, Layout, Result, Shape,
    Tensor,
};
use candle_nn::VarBuilder;
use std::path::Path;

mod kernels;

use kernels::{alloc_output, for_each_plane, EpilogueParams, GemmWeights, PlaneGeom, Skip};

/// Loads one of the converted weight files (see `tools/convert_mediapipe.py`)
/// into a [`VarBuilder`] holding `f32` tensors on `device`.
///
/// The error names the missing file and the converter, because a missing
/// weight file is the one failure a user can fix.
pub fn load_weights(path: &Path, device: &Device) -> Result<VarBuilder<'static>> {
    if !path.is_file() {
        bail!(
            "face model weights not found at {} (they ship in the repository's models/ \
             directory; regenerate with tools/convert_mediapipe.py)",
            path.display()
        );
    }
    let tensors = candle_core::safetensors::load(path, device)?;
    Ok(VarBuilder::from_tensors(tensors, DType::F32, device))
}

/// TFLite padding mode of a convolution or pooling layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// Output size `ceil(in / stride)`; zeros around the input, the smaller
    /// half of the total before (top/left), the larger after (bottom/right).
    Same,
    /// No padding: output size `(in - k) / stride + 1`.
    Valid,
}

impl Padding {
    /// Returns `(output size, padding before)` for one axis.
    pub fn resolve(self, input: usize, kernel: usize, stride: usize) -> Result<(usize, usize)> {
        match self {
            Padding::Valid => {
                if input < kernel {
                    bail!("VALID conv: input {input} smaller than kernel {kernel}");
                }
                Ok(((input - kernel) / stride + 1, 0))
            }
            Padding::Same => {
                let out = input.div_ceil(stride);
                let total = ((out - 1) * stride + kernel).saturating_sub(input);
                Ok((out, total / 2))
            }
        }
    }
}

/// The activation applied after a conv (or after a block's residual add).
///
/// All three are evaluated as `max(v, 0) + slope * min(v, 0)`, which is exact
/// for each and vectorises without branches.
#[derive(Debug, Clone, PartialEq)]
pub enum Activation {
    /// No activation (slope 1).
    Linear,
    /// `max(v, 0)` (slope 0).
    Relu,
    /// Parametric ReLU with one negative slope per channel.
    Prelu(Vec<f32>),
}

impl Activation {
    /// Loads a per-channel PReLU slope vector named `prelu` under `vb`.
    pub fn load_prelu(vb: &VarBuilder, channels: usize) -> Result<Self> {
        Ok(Activation::Prelu(
            vb.get(channels, "prelu")?.to_vec1::<f32>()?,
        ))
    }

    /// The negative slope of every channel.
    fn slopes(&self, channels: usize) -> Vec<f32> {
        match self {
            Activation::Linear => vec![1.0; channels],
            Activation::Relu => vec![0.0; channels],
            Activation::Prelu(a) => a.clone(),
        }
    }
}

/// A regular (dense) TFLite `CONV_2D` with bias and a fused activation.
///
/// Runs as one GEMM `W[O, I*kh*kw] @ cols[I*kh*kw, Ho*Wo]` whose tiles are
/// finished (bias, optional residual, activation) while still in registers
/// and L1. `cols` is the input itself for 1×1 stride-1 convs and for "dense"
/// convs whose VALID kernel covers the whole input (the landmark heads), and
/// an im2col matrix (TFLite SAME padding, asymmetric) otherwise.
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: GemmWeights,
    bias: Vec<f32>,
    act: Activation,
    slopes: Vec<f32>,
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
}

impl Conv2d {
    /// Loads `weight` `[out, in, k, k]` and `bias` `[out]` from `vb`.
    ///
    /// `act` is applied after the bias (and after the residual skip in
    /// [`Conv2d::forward_residual`]).
    pub fn load(
        vb: VarBuilder,
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: Padding,
        act: Activation,
    ) -> Result<Self> {
        let w = vb.get((out_channels, in_channels, kernel, kernel), "weight")?;
        let k = in_channels * kernel * kernel;
        let weight = GemmWeights::new(w.flatten_all()?.to_vec1::<f32>()?, out_channels, k);
        let bias = vb.get(out_channels, "bias")?.to_vec1::<f32>()?;
        if let Activation::Prelu(a) = &act {
            if a.len() != out_channels {
                bail!("PReLU has {} slopes for {out_channels} channels", a.len());
            }
        }
        Ok(Self {
            weight,
            bias,
            slopes: act.slopes(out_channels),
            act,
            in_channels,
            out_channels,
            kernel,
            stride,
            padding,
        })
    }

    /// Number of output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Concatenates the output channels of convs that read the same input
    /// (same kernel, stride, padding, linear activation), so one GEMM computes
    /// them all. Used for the detector heads (classifier + regressor).
    pub fn concat_outputs(convs: &[&Conv2d]) -> Result<Self> {
        let first = convs[0];
        for c in convs {
            if c.in_channels != first.in_channels
                || c.kernel != first.kernel
                || c.stride != first.stride
                || c.padding != first.padding
                || c.act != Activation::Linear
            {
                bail!("concat_outputs: incompatible convs");
            }
        }
        let out_channels = convs.iter().map(|c| c.out_channels).sum();
        let rows = convs
            .iter()
            .flat_map(|c| c.weight.rows().iter().copied())
            .collect();
        Ok(Self {
            weight: GemmWeights::new(rows, out_channels, first.weight.k),
            bias: convs.iter().flat_map(|c| c.bias.iter().copied()).collect(),
            act: Activation::Linear,
            slopes: vec![1.0; out_channels],
            in_channels: first.in_channels,
            out_channels,
            kernel: first.kernel,
            stride: first.stride,
            padding: first.padding,
        })
    }

    /// The GEMM's right-hand side `[N, I*k*k, Ho*Wo]` and the output size.
    fn columns(&self, x: &Tensor) -> Result<(Tensor, usize, usize)> {
        let (n, c, h, w) = x.dims4()?;
        if c != self.in_channels {
            bail!("conv expects {} input channels, got {c}", self.in_channels);
        }
        let k = self.kernel;
        let (ho, pt) = self.padding.resolve(h, k, self.stride)?;
        let (wo, pl) = self.padding.resolve(w, k, self.stride)?;
        let x = x.contiguous()?;
        let cols = if k == 1 && self.stride == 1 {
            x.reshape((n, c, h * w))?
        } else if self.padding == Padding::Valid && k == h && k == w {
            // The kernel covers the whole map: the conv is a dot product with
            // the flattened (c, y, x) input, exactly OIHW's flattening order.
            x.reshape((n, c * h * w, 1))?
        } else {
            x.apply_op1_no_bwd(&Im2Col {
                kernel: k,
                stride: self.stride,
                pad_top: pt,
                pad_left: pl,
                out_h: ho,
                out_w: wo,
            })?
        };
        Ok((cols, ho, wo))
    }

    /// `act(conv(x) + bias)`, `x` `[N, I, H, W]` → `[N, O, Ho, Wo]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (cols, ho, wo) = self.columns(x)?;
        let n = cols.dim(0)?;
        cols.apply_op1_no_bwd(&ConvOp {
            conv: self,
            pool: false,
        })?
        .reshape((n, self.out_channels, ho, wo))
    }

    /// `act(conv(x) + bias + skip(residual))`: the end of a residual block.
    ///
    /// `residual` is the block input `[N, Cr, Hr, Wr]` with `Cr <= O`; its
    /// channels beyond `Cr` count as zero (TFLite's channel `PAD`). With
    /// `pool` it is first max-pooled 2×2/2 (the skip of a strided block), so
    /// `Hr = 2*Ho`; otherwise `Hr = Ho`.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor, pool: bool) -> Result<Tensor> {
        let (cols, ho, wo) = self.columns(x)?;
        let n = cols.dim(0)?;
        let (rn, rc, rh, rw) = residual.dims4()?;
        let f = if pool { 2 } else { 1 };
        if rn != n || rc > self.out_channels || rh != ho * f || rw != wo * f {
            bail!(
                "residual {:?} does not fit conv output {:?} (pool {pool})",
                residual.dims(),
                (n, self.out_channels, ho, wo)
            );
        }
        cols.apply_op2_no_bwd(&residual.contiguous()?, &ConvOp { conv: self, pool })?
            .reshape((n, self.out_channels, ho, wo))
    }
}

/// A TFLite `DEPTHWISE_CONV_2D`, 3×3, depth multiplier 1, SAME padding, bias
/// fused, no activation (none of these networks has one there).
#[derive(Debug, Clone)]
pub struct DepthwiseConv2d {
    weight: Vec<f32>,
    bias: Vec<f32>,
    channels: usize,
    stride: usize,
}

impl DepthwiseConv2d {
    /// Loads `weight` `[C, 1, 3, 3]` and `bias` `[C]` from `vb`.
    pub fn load(vb: VarBuilder, channels: usize, stride: usize) -> Result<Self> {
        let weight = vb
            .get((channels, 1, 3, 3), "weight")?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let bias = vb.get(channels, "bias")?.to_vec1::<f32>()?;
        if stride != 1 && stride != 2 {
            bail!("depthwise stride {stride} is not supported");
        }
        Ok(Self {
            weight,
            bias,
            channels,
            stride,
        })
    }

    /// `[N, C, H, W]` → `[N, C, ceil(H/s), ceil(W/s)]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (_, c, _, _) = x.dims4()?;
        if c != self.channels {
            bail!("depthwise conv expects {} channels, got {c}", self.channels);
        }
        depthwise3x3(x, &self.weight, &self.bias, self.stride)
    }
}

/// A 3×3 depthwise conv with TFLite SAME padding: `x` `[N, C, H, W]`,
/// `weight` `[C*9]` (row-major 3×3 per channel), `bias` `[C]`.
pub fn depthwise3x3(x: &Tensor, weight: &[f32], bias: &[f32], stride: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&DepthwiseOp {
        weight,
        bias,
        stride,
    })
}

/// Adds `upsample(coarse)` into `fine` in place, where the upsampling is
/// TFLite's `RESIZE_BILINEAR(align_corners=false, half_pixel_centers=true)`
/// to `fine`'s spatial size. This is the full-range detector's feature
/// pyramid merge `lateral + resize(top)`.
pub fn add_upsampled(fine: &Tensor, coarse: &Tensor) -> Result<()> {
    let (n, c, _, _) = fine.dims4()?;
    let (cn, cc, _, _) = coarse.dims4()?;
    if n != cn || c != cc || !fine.is_contiguous() {
        bail!("add_upsampled: {:?} vs {:?}", fine.dims(), coarse.dims());
    }
    fine.inplace_op2(&coarse.contiguous()?, &UpsampleAdd)
}

/// `pw(dw(x))`, optionally `+ skip(residual)`, with the pointwise conv's
/// activation: the body of every residual block in these networks.
///
/// On large maps the two convs run fused, band of output rows by band, so
/// the depthwise output stays in cache instead of making a round trip
/// through memory; small maps (too few bands to keep the threads busy) run
/// the two layers one after the other. Results are the same either way.
pub fn depthwise_pointwise(
    dw: &DepthwiseConv2d,
    pw: &Conv2d,
    x: &Tensor,
    residual: Option<(&Tensor, bool)>,
) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (oh, _) = Padding::Same.resolve(h, 3, dw.stride)?;
    let (ow, _) = Padding::Same.resolve(w, 3, dw.stride)?;
    let pointwise = pw.kernel == 1 && pw.stride == 1 && pw.in_channels == c;
    if c != dw.channels || !pointwise || !kernels::dw_pw_fusable(oh, ow, c, pw.out_channels) {
        let h = dw.forward(x)?;
        return match residual {
            Some((r, pool)) => pw.forward_residual(&h, r, pool),
            None => pw.forward(&h),
        };
    }
    let op = DwPwOp {
        dw,
        pw,
        pool: false,
    };
    let y = match residual {
        Some((r, pool)) => {
            let (rn, rc, rh, rw) = r.dims4()?;
            let f = if pool { 2 } else { 1 };
            if rn != n || rc > pw.out_channels || rh != oh * f || rw != ow * f {
                bail!(
                    "residual {:?} does not fit output {:?}",
                    r.dims(),
                    (n, pw.out_channels, oh, ow)
                );
            }
            x.contiguous()?
                .apply_op2_no_bwd(&r.contiguous()?, &DwPwOp { pool, ..op })?
        }
        None => x.contiguous()?.apply_op1_no_bwd(&op)?,
    };
    y.reshape((n, pw.out_channels, oh, ow))
}

// ---------------------------------------------------------------------------
// candle custom ops wrapping the kernels.

fn contiguous_f32<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => bail!("{what}: expected f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

fn contiguous_f32_mut<'a>(s: &'a mut CpuStorage, l: &Layout, what: &str) -> Result<&'a mut [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_mut_slice(),
        _ => bail!("{what}: expected f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&mut data[a..b]),
        None => bail!("{what}: expected a contiguous tensor"),
    }
}

struct DepthwiseOp<'a> {
    weight: &'a [f32],
    bias: &'a [f32],
    stride: usize,
}

impl CustomOp1 for DepthwiseOp<'_> {
    fn name(&self) -> &'static str {
        "tflite-depthwise3x3"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(s, l, self.name())?;
        let (n, c, h, w) = l.shape().dims4()?;
        if self.weight.len() != c * 9 || self.bias.len() != c {
            bail!("depthwise weights do not match {c} channels");
        }
        let (out_h, pad_top) = Padding::Same.resolve(h, 3, self.stride)?;
        let (out_w, pad_left) = Padding::Same.resolve(w, 3, self.stride)?;
        let g = PlaneGeom {
            h,
            w,
            out_h,
            out_w,
            stride: self.stride,
            pad_top,
            pad_left,
        };
        let mut dst = alloc_output(n * c * out_h * out_w);
        for_each_plane(
            &mut dst,
            out_h * out_w,
            n * c * out_h * out_w * 9,
            |i, d| {
                let ch = i % c;
                kernels::depthwise_plane(
                    &src[i * h * w..(i + 1) * h * w],
                    &self.weight[ch * 9..ch * 9 + 9],
                    self.bias[ch],
                    g,
                    0..out_h,
                    d,
                );
            },
        );
        Ok((CpuStorage::F32(dst), Shape::from((n, c, out_h, out_w))))
    }
}

/// im2col for a `k`×`k` conv with explicit (TFLite) padding: `[N, C, H, W]` →
/// `[N, C*k*k, Ho*Wo]`, rows ordered `(c, ky, kx)` like a flattened OIHW
/// kernel, out-of-image taps zero.
struct Im2Col {
    kernel: usize,
    stride: usize,
    pad_top: usize,
    pad_left: usize,
    out_h: usize,
    out_w: usize,
}

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "tflite-im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = contiguous_f32(s, l, self.name())?;
        let (n, c, h, w) = l.shape().dims4()?;
        let k = self.kernel;
        let (oh, ow) = (self.out_h, self.out_w);
        let mut dst = alloc_output(n * c * k * k * oh * ow);
        for_each_plane(&mut dst, oh * ow, n * c * k * k * oh * ow, |row, d| {
            let (kx, ky, plane) = (row % k, (row / k) % k, row / (k * k));
            kernels::im2col_row(
                &src[plane * h * w..(plane + 1) * h * w],
                h,
                w,
                ky,
                kx,
                self.stride,
                self.pad_top,
                self.pad_left,
                ow,
                d,
            );
        });
        Ok((CpuStorage::F32(dst), Shape::from((n, c * k * k, oh * ow))))
    }
}

/// `act(W @ cols + bias [+ skip])` over a batch of column matrices.
struct ConvOp<'a> {
    conv: &'a Conv2d,
    pool: bool,
}

impl ConvOp<'_> {
    fn run(
        &self,
        cols: &[f32],
        cl: &Layout,
        skip: Option<(&[f32], &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, k, p) = cl.shape().dims3()?;
        let w = &self.conv.weight;
        if k != w.k {
            bail!("conv: {k} input rows for a {} wide weight matrix", w.k);
        }
        let m = w.m;
        let mut dst = alloc_output(n * m * p);
        let ep = EpilogueParams {
            bias: &self.conv.bias,
            slopes: &self.conv.slopes,
        };
        for b in 0..n {
            let skip = match skip {
                Some((r, rl)) => {
                    let (_, rc, rh, rw) = rl.shape().dims4()?;
                    let plane = rc * rh * rw;
                    Some(Skip {
                        data: &r[b * plane..(b + 1) * plane],
                        channels: rc,
                        pool_w: if self.pool { rw } else { 0 },
                    })
                }
                None => None,
            };
            kernels::gemm_epilogue(
                w,
                &cols[b * k * p..(b + 1) * k * p],
                p,
                ep,
                skip,
                &mut dst[b * m * p..(b + 1) * m * p],
            );
        }
        Ok((CpuStorage::F32(dst), Shape::from((n, m, p))))
    }
}

impl CustomOp1 for ConvOp<'_> {
    fn name(&self) -> &'static str {
        "tflite-conv"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(contiguous_f32(s, l, "tflite-conv")?, l, None)
    }
}

impl CustomOp2 for ConvOp<'_> {
    fn name(&self) -> &'static str {
        "tflite-conv-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let r = contiguous_f32(s2, l2, "tflite-conv-residual")?;
        self.run(
            contiguous_f32(s1, l1, "tflite-conv-residual")?,
            l1,
            Some((r, l2)),
        )
    }
}

/// The fused [`depthwise_pointwise`] op: input `[N, K, H, W]` (+ residual).
struct DwPwOp<'a> {
    dw: &'a DepthwiseConv2d,
    pw: &'a Conv2d,
    pool: bool,
}

impl DwPwOp<'_> {
    fn run(
        &self,
        x: &[f32],
        xl: &Layout,
        skip: Option<(&[f32], &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, k, h, w) = xl.shape().dims4()?;
        let (out_h, pad_top) = Padding::Same.resolve(h, 3, self.dw.stride)?;
        let (out_w, pad_left) = Padding::Same.resolve(w, 3, self.dw.stride)?;
        let g = PlaneGeom {
            h,
            w,
            out_h,
            out_w,
            stride: self.dw.stride,
            pad_top,
            pad_left,
        };
        let m = self.pw.out_channels;
        let p = out_h * out_w;
        let mut dst = alloc_output(n * m * p);
        let ep = EpilogueParams {
            bias: &self.pw.bias,
            slopes: &self.pw.slopes,
        };
        for b in 0..n {
            let skip = match skip {
                Some((r, rl)) => {
                    let (_, rc, rh, rw) = rl.shape().dims4()?;
                    let plane = rc * rh * rw;
                    Some(Skip {
                        data: &r[b * plane..(b + 1) * plane],
                        channels: rc,
                        pool_w: if self.pool { rw } else { 0 },
                    })
                }
                None => None,
            };
            kernels::dw_pw_epilogue(
                &x[b * k * h * w..(b + 1) * k * h * w],
                &self.dw.weight,
                &self.dw.bias,
                g,
                &self.pw.weight,
                ep,
                skip,
                &mut dst[b * m * p..(b + 1) * m * p],
            );
        }
        Ok((CpuStorage::F32(dst), Shape::from((n, m, p))))
    }
}

impl CustomOp1 for DwPwOp<'_> {
    fn name(&self) -> &'static str {
        "tflite-depthwise-pointwise"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        self.run(contiguous_f32(s, l, "tflite-depthwise-pointwise")?, l, None)
    }
}

impl CustomOp2 for DwPwOp<'_> {
    fn name(&self) -> &'static str {
        "tflite-depthwise-pointwise-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let r = contiguous_f32(s2, l2, "tflite-depthwise-pointwise-residual")?;
        self.run(
            contiguous_f32(s1, l1, "tflite-depthwise-pointwise-residual")?,
            l1,
            Some((r, l2)),
        )
    }
}

struct UpsampleAdd;

impl InplaceOp2 for UpsampleAdd {
    fn name(&self) -> &'static str {
        "tflite-resize-bilinear-add"
    }

    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<()> {
        let (_, _, h, w) = l1.shape().dims4()?;
        let (_, _, ih, iw) = l2.shape().dims4()?;
        let src = contiguous_f32(s2, l2, self.name())?;
        let dst = contiguous_f32_mut(s1, l1, self.name())?;
        let ty = kernels::resize_taps(ih, h);
        let tx = kernels::resize_taps(iw, w);
        let work = dst.len() * 4;
        for_each_plane(dst, h * w, work, |i, d| {
            kernels::upsample_add_plane(&src[i * ih * iw..(i + 1) * ih * iw], iw, &ty, &tx, d)
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive NCHW reference conv with TFLite SAME/VALID padding.
    #[allow(clippy::too_many_arguments)]
    fn reference_conv(
        x: &[f32],
        (n, c, h, w): (usize, usize, usize, usize),
        wt: &[f32],
        o: usize,
        k: usize,
        stride: usize,
        padding: Padding,
        groups_depthwise: bool,
    ) -> (Vec<f32>, usize, usize) {
        let (ho, pt) = padding.resolve(h, k, stride).unwrap();
        let (wo, pl) = padding.resolve(w, k, stride).unwrap();
        let mut out = vec![0f32; n * o * ho * wo];
        for b in 0..n {
            for oc in 0..o {
                for oy in 0..ho {
                    for ox in 0..wo {
                        let mut acc = 0f32;
                        let ics: Vec<usize> = if groups_depthwise {
                            vec![oc]
                        } else {
                            (0..c).collect()
                        };
                        for ic in ics {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = (oy * stride + ky) as isize - pt as isize;
                                    let ix = (ox * stride + kx) as isize - pl as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                        continue;
                                    }
                                    let xv = x[((b * c + ic) * h + iy as usize) * w + ix as usize];
                                    let wv = if groups_depthwise {
                                        wt[oc * k * k + ky * k + kx]
                                    } else {
                                        wt[((oc * c + ic) * k + ky) * k + kx]
                                    };
                                    acc += xv * wv;
                                }
                            }
                        }
                        out[((b * o + oc) * ho + oy) * wo + ox] = acc;
                    }
                }
            }
        }
        (out, ho, wo)
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(12345);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn same_padding_is_asymmetric_like_tensorflow() {
        assert_eq!(Padding::Same.resolve(128, 5, 2).unwrap(), (64, 1)); // total 3: 1 before, 2 after
        assert_eq!(Padding::Same.resolve(192, 3, 2).unwrap(), (96, 0)); // total 1: after only
        assert_eq!(Padding::Same.resolve(64, 3, 1).unwrap(), (64, 1));
        assert_eq!(Padding::Same.resolve(7, 3, 2).unwrap(), (4, 1));
        assert_eq!(Padding::Valid.resolve(3, 3, 3).unwrap(), (1, 0));
    }

    #[test]
    fn depthwise_matches_reference_for_all_paths() {
        let dev = Device::Cpu;
        for &(h, w, stride) in &[
            (9, 9, 1),
            (20, 19, 1),
            (18, 18, 2),
            (24, 34, 2),
            (8, 8, 2),
            (7, 5, 2),
            (2, 2, 1),
            (6, 6, 2),
            (1, 1, 1),
            (3, 3, 1),
        ] {
            let (n, c) = (2, 3);
            let x = pseudo(n * c * h * w, (h * 31 + w) as u32);
            let wt = pseudo(c * 9, 7);
            let bias = vec![0.0; c];
            let xt = Tensor::from_vec(x.clone(), (n, c, h, w), &dev).unwrap();
            let got = depthwise3x3(&xt, &wt, &bias, stride).unwrap();
            let (want, ho, wo) =
                reference_conv(&x, (n, c, h, w), &wt, c, 3, stride, Padding::Same, true);
            assert_eq!(got.dims(), &[n, c, ho, wo]);
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(max_diff(&got, &want) < 1e-5, "{h}x{w}/{stride}");
        }
    }

    #[test]
    fn conv_im2col_and_residual_epilogue_match_reference() {
        let dev = Device::Cpu;
        let (n, c, h, w, o) = (2, 3, 9, 8, 4);
        let x = pseudo(n * c * h * w, 3);
        for &(k, stride, padding) in &[
            (3, 2, Padding::Same),
            (5, 2, Padding::Same),
            (2, 2, Padding::Valid),
            (1, 1, Padding::Same),
        ] {
            let wt = pseudo(o * c * k * k, 11);
            let bias = pseudo(o, 5);
            let mut map = std::collections::HashMap::new();
            map.insert(
                "weight".to_string(),
                Tensor::from_vec(wt.clone(), (o, c, k, k), &dev).unwrap(),
            );
            map.insert(
                "bias".to_string(),
                Tensor::from_vec(bias.clone(), o, &dev).unwrap(),
            );
            let vb = VarBuilder::from_tensors(map, DType::F32, &dev);
            let slopes = vec![0.25, 0.5, 0.0, 1.0];
            let conv = Conv2d::load(
                vb,
                c,
                o,
                k,
                stride,
                padding,
                Activation::Prelu(slopes.clone()),
            )
            .unwrap();
            let xt = Tensor::from_vec(x.clone(), (n, c, h, w), &dev).unwrap();
            let got = conv.forward(&xt).unwrap();
            let (mut want, ho, wo) =
                reference_conv(&x, (n, c, h, w), &wt, o, k, stride, padding, false);
            for (i, v) in want.iter_mut().enumerate() {
                let ch = (i / (ho * wo)) % o;
                *v += bias[ch];
                if *v < 0.0 {
                    *v *= slopes[ch];
                }
            }
            assert_eq!(got.dims(), &[n, o, ho, wo]);
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert!(max_diff(&got, &want) < 1e-4, "k{k} s{stride}");
        }
        // Residual with max-pool and channel padding: 1x1 conv on a 4x4 map,
        // skip = maxpool(8x8 input with 2 channels) padded to 4 channels.
        let wt = pseudo(o * c, 2);
        let mut map = std::collections::HashMap::new();
        map.insert(
            "weight".to_string(),
            Tensor::from_vec(wt.clone(), (o, c, 1, 1), &dev).unwrap(),
        );
        map.insert(
            "bias".to_string(),
            Tensor::zeros(o, DType::F32, &dev).unwrap(),
        );
        let conv = Conv2d::load(
            VarBuilder::from_tensors(map, DType::F32, &dev),
            c,
            o,
            1,
            1,
            Padding::Same,
            Activation::Relu,
        )
        .unwrap();
        let xin = pseudo(c * 16, 9);
        let skip = pseudo(2 * 64, 4);
        let got = conv
            .forward_residual(
                &Tensor::from_vec(xin.clone(), (1, c, 4, 4), &dev).unwrap(),
                &Tensor::from_vec(skip.clone(), (1, 2, 8, 8), &dev).unwrap(),
                true,
            )
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for oc in 0..o {
            for p in 0..16 {
                let mut v: f32 = (0..c).map(|ic| wt[oc * c + ic] * xin[ic * 16 + p]).sum();
                if oc < 2 {
                    let (oy, ox) = (p / 4, p % 4);
                    let s = &skip[oc * 64..];
                    let m = [
                        s[2 * oy * 8 + 2 * ox],
                        s[2 * oy * 8 + 2 * ox + 1],
                        s[(2 * oy + 1) * 8 + 2 * ox],
                        s[(2 * oy + 1) * 8 + 2 * ox + 1],
                    ]
                    .into_iter()
                    .fold(f32::MIN, f32::max);
                    v += m;
                }
                assert!((got[oc * 16 + p] - v.max(0.0)).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn fused_depthwise_pointwise_equals_separate_layers() {
        let dev = Device::Cpu;
        let vb_of = |pairs: Vec<(&str, Tensor)>| {
            let map = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            VarBuilder::from_tensors(map, DType::F32, &dev)
        };
        // 2 images, 6 -> 10 channels, 96x36 map: several bands, a partial
        // GEMM tile per band, strided (max-pool skip) and plain variants.
        let (n, c, o, h, w) = (2, 6, 10, 96, 36);
        for &stride in &[1usize, 2] {
            let dw = DepthwiseConv2d::load(
                vb_of(vec![
                    (
                        "weight",
                        Tensor::from_vec(pseudo(c * 9, 1), (c, 1, 3, 3), &dev).unwrap(),
                    ),
                    ("bias", Tensor::from_vec(pseudo(c, 2), c, &dev).unwrap()),
                ]),
                c,
                stride,
            )
            .unwrap();
            let pw = Conv2d::load(
                vb_of(vec![
                    (
                        "weight",
                        Tensor::from_vec(pseudo(o * c, 3), (o, c, 1, 1), &dev).unwrap(),
                    ),
                    ("bias", Tensor::from_vec(pseudo(o, 4), o, &dev).unwrap()),
                ]),
                c,
                o,
                1,
                1,
                Padding::Same,
                Activation::Prelu(pseudo(o, 5)),
            )
            .unwrap();
            let x = Tensor::from_vec(pseudo(n * c * h * w, 6), (n, c, h, w), &dev).unwrap();
            let (oh, ow) = (h.div_ceil(stride), w.div_ceil(stride));
            assert!(
                kernels::dw_pw_fusable(oh, ow, c, o),
                "the test must exercise the fused path"
            );
            for residual in [None, Some((&x, stride == 2))] {
                let fused = depthwise_pointwise(&dw, &pw, &x, residual).unwrap();
                let mid = dw.forward(&x).unwrap();
                let separate = match residual {
                    Some((r, pool)) => pw.forward_residual(&mid, r, pool).unwrap(),
                    None => pw.forward(&mid).unwrap(),
                };
                let d = (fused - separate)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(d < 1e-5, "stride {stride}: {d}");
            }
        }
    }

    #[test]
    fn upsample_add_matches_half_pixel_bilinear() {
        let dev = Device::Cpu;
        let coarse = pseudo(2 * 9, 1);
        let fine = Tensor::zeros((1, 2, 6, 6), DType::F32, &dev).unwrap();
        let ct = Tensor::from_vec(coarse.clone(), (1, 2, 3, 3), &dev).unwrap();
        add_upsampled(&fine, &ct).unwrap();
        // candle's upsample_bilinear2d(align_corners=false) is the same rule.
        let want = ct.upsample_bilinear2d(6, 6, false).unwrap();
        let d = (fine - want)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-6, "{d}");
    }

    /// The AVX-512 kernels sum the same products in the same order as the
    /// AVX2 ones: every network gives bit-identical outputs on both paths.
    #[test]
    fn avx512_and_avx2_paths_agree_bit_for_bit() {
        use super::super::blazeface::{BlazeFace, BlazeFaceVariant};
        use super::super::{face_mesh::FaceMeshNet, iris::IrisNet};
        use std::sync::atomic::Ordering;
        #[cfg(target_arch = "x86_64")]
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        let dev = Device::Cpu;
        let dir = test_support::models_dir();
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        let both = |f: &dyn Fn() -> Vec<u32>| {
            kernels::tests_support::AVX512_OFF.store(true, Ordering::Relaxed);
            let narrow = f();
            kernels::tests_support::AVX512_OFF.store(false, Ordering::Relaxed);
            let wide = f();
            narrow == wide
        };
        let input = |n: usize, s: usize| {
            Tensor::from_vec(pseudo(n * 3 * s * s, 7), (n, 3, s, s), &dev).unwrap()
        };
        for variant in [BlazeFaceVariant::ShortRange, BlazeFaceVariant::FullRange] {
            let net = BlazeFace::from_models_dir(&dir, variant, &dev).unwrap();
            let x = input(2, variant.input_size());
            assert!(
                both(&|| {
                    let o = net.forward(&x).unwrap();
                    [bits(&o.regressors), bits(&o.classifiers)].concat()
                }),
                "{variant:?}"
            );
        }
        let mesh = FaceMeshNet::from_models_dir(&dir, &dev).unwrap();
        let x = input(1, 192);
        assert!(
            both(&|| {
                let o = mesh.forward(&x).unwrap();
                [bits(&o.landmarks), bits(&o.face_flag)].concat()
            }),
            "mesh"
        );
        let iris = IrisNet::from_models_dir(&dir, &dev).unwrap();
        let x = input(2, 64);
        assert!(
            both(&|| {
                let o = iris.forward(&x).unwrap();
                [bits(&o.iris), bits(&o.contours)].concat()
            }),
            "iris"
        );
    }

    /// The portable kernels, fused as every non-x86 build runs them (aarch64),
    /// give bit-identical outputs to the SIMD kernels this CPU picks (AVX2+FMA
    /// or AVX-512) for every network. On a machine without those the test
    /// compares the portable path with itself, and the reference tests above
    /// check it.
    #[test]
    fn portable_and_simd_paths_agree_bit_for_bit() {
        use super::super::blazeface::{BlazeFace, BlazeFaceVariant};
        use super::super::{face_mesh::FaceMeshNet, iris::IrisNet};
        use std::sync::atomic::Ordering;
        let dev = Device::Cpu;
        let dir = test_support::models_dir();
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        let both = |f: &dyn Fn() -> Vec<u32>| {
            kernels::tests_support::PORTABLE.store(true, Ordering::Relaxed);
            let portable = f();
            kernels::tests_support::PORTABLE.store(false, Ordering::Relaxed);
            let simd = f();
            portable == simd
        };
        let input = |n: usize, s: usize| {
            Tensor::from_vec(pseudo(n * 3 * s * s, 11), (n, 3, s, s), &dev).unwrap()
        };
        for variant in [BlazeFaceVariant::ShortRange, BlazeFaceVariant::FullRange] {
            let net = BlazeFace::from_models_dir(&dir, variant, &dev).unwrap();
            let x = input(2, variant.input_size());
            assert!(
                both(&|| {
                    let o = net.forward(&x).unwrap();
                    [bits(&o.regressors), bits(&o.classifiers)].concat()
                }),
                "{variant:?}"
            );
        }
        let mesh = FaceMeshNet::from_models_dir(&dir, &dev).unwrap();
        let x = input(1, 192);
        assert!(
            both(&|| {
                let o = mesh.forward(&x).unwrap();
                [bits(&o.landmarks), bits(&o.face_flag)].concat()
            }),
            "mesh"
        );
        let iris = IrisNet::from_models_dir(&dir, &dev).unwrap();
        let x = input(2, 64);
        assert!(
            both(&|| {
                let o = iris.forward(&x).unwrap();
                [bits(&o.iris), bits(&o.contours)].concat()
            }),
            "iris"
        );
    }

    /// Forward times with the AVX-512 kernels against the AVX2 ones,
    /// interleaved in one process (robust to machine load). Run with
    /// `RAYON_NUM_THREADS=2 cargo test --release -p voxportrait-core avx512_speedup -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn avx512_speedup() {
        use super::super::blazeface::{BlazeFace, BlazeFaceVariant};
        use super::super::face_mesh::FaceMeshNet;
        use std::sync::atomic::Ordering;
        let dev = Device::Cpu;
        let dir = test_support::models_dir();
        let short = BlazeFace::from_models_dir(&dir, BlazeFaceVariant::ShortRange, &dev).unwrap();
        let full = BlazeFace::from_models_dir(&dir, BlazeFaceVariant::FullRange, &dev).unwrap();
        let mesh = FaceMeshNet::from_models_dir(&dir, &dev).unwrap();
        let x128 = Tensor::from_vec(pseudo(3 * 128 * 128, 5), (1, 3, 128, 128), &dev).unwrap();
        let x192 = Tensor::from_vec(pseudo(3 * 192 * 192, 5), (1, 3, 192, 192), &dev).unwrap();
        let nets: [(&str, &dyn Fn()); 3] = [
            ("short", &|| drop(short.forward(&x128).unwrap())),
            ("full", &|| drop(full.forward(&x192).unwrap())),
            ("mesh", &|| drop(mesh.forward(&x192).unwrap())),
        ];
        for (name, f) in nets {
            let mut t = [Vec::new(), Vec::new()];
            for i in 0..400 {
                let off = i % 2 == 0;
                kernels::tests_support::AVX512_OFF.store(off, Ordering::Relaxed);
                let s = std::time::Instant::now();
                f();
                if i >= 40 {
                    t[usize::from(off)].push(s.elapsed().as_secs_f64() * 1e3);
                }
            }
            for v in &mut t {
                v.sort_by(|a, b| a.partial_cmp(b).unwrap());
            }
            let med = |v: &Vec<f64>| v[v.len() / 2];
            println!(
                "{name}: avx512 median {:.3} ms (min {:.3}), avx2 median {:.3} ms (min {:.3}), ratio {:.2}",
                med(&t[0]), t[0][0], med(&t[1]), t[1][0], med(&t[1]) / med(&t[0])
            );
        }
        kernels::tests_support::AVX512_OFF.store(false, Ordering::Relaxed);
    }

    /// Median single-image forward time of each network, for comparison with
    /// LiteRT (`num_threads=2`). Run with
    /// `cargo test --release -p voxportrait-core face_forward_times -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn face_forward_times() {
        use super::super::blazeface::{BlazeFace, BlazeFaceVariant};
        use super::super::{face_mesh::FaceMeshNet, iris::IrisNet};
        let dev = Device::Cpu;
        let dir = test_support::models_dir();
        // CPU time of all threads of this process (ns), from /proc: robust to
        // other processes competing for the cores, unlike wall time.
        let cpu_ns = || -> u64 {
            std::fs::read_dir("/proc/self/task")
                .map(|d| {
                    d.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("schedstat")).ok())
                        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                        .sum()
                })
                .unwrap_or(0)
        };
        let time = |name: &str, size: usize, f: &dyn Fn(&Tensor)| {
            let x = Tensor::from_vec(pseudo(3 * size * size, 5), (1, 3, size, size), &dev).unwrap();
            for _ in 0..20 {
                f(&x);
            }
            let runs = 200;
            let c0 = cpu_ns();
            let mut ts: Vec<f64> = (0..runs)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f(&x);
                    t.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            let cpu = (cpu_ns() - c0) as f64 / 1e6 / runs as f64;
            ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{name}: wall median {:.3} ms, min {:.3} ms; cpu {cpu:.3} ms/forward ({} rayon threads)",
                ts[ts.len() / 2],
                ts[0],
                rayon::current_num_threads()
            );
        };
        let short = BlazeFace::from_models_dir(&dir, BlazeFaceVariant::ShortRange, &dev).unwrap();
        time("blazeface short range 128", 128, &|x| {
            drop(short.forward(x).unwrap())
        });
        let full = BlazeFace::from_models_dir(&dir, BlazeFaceVariant::FullRange, &dev).unwrap();
        time("blazeface full range 192", 192, &|x| {
            drop(full.forward(x).unwrap())
        });
        let mesh = FaceMeshNet::from_models_dir(&dir, &dev).unwrap();
        time("face mesh 192", 192, &|x| drop(mesh.forward(x).unwrap()));
        let iris = IrisNet::from_models_dir(&dir, &dev).unwrap();
        time("iris 64", 64, &|x| drop(iris.forward(x).unwrap()));
    }

    /// GEMM kernel throughput on the networks' typical shapes (profiling aid):
    /// `cargo test --release -p voxportrait-core gemm_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn gemm_throughput() {
        for &(m, k, p) in &[
            (16, 16, 9216),
            (32, 8, 9216),
            (8, 32, 9216),
            (64, 32, 1024),
            (128, 64, 256),
            (128, 128, 144),
            (384, 96, 36),
            (96, 384, 36),
        ] {
            let w = GemmWeights::new(pseudo(m * k, 1), m, k);
            let x = pseudo(k * p, 2);
            let bias = vec![0.1; m];
            let slopes = vec![0.0; m];
            let mut dst = vec![0f32; m * p];
            let ep = EpilogueParams {
                bias: &bias,
                slopes: &slopes,
            };
            let run = |dst: &mut [f32]| kernels::gemm_epilogue(&w, &x, p, ep, None, dst);
            for _ in 0..10 {
                run(&mut dst);
            }
            let mut best = f64::MAX;
            for _ in 0..200 {
                let t = std::time::Instant::now();
                run(&mut dst);
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!(
                "gemm M={m} K={k} P={p}: best {:.1} us, {:.1} GMAC/s",
                best * 1e6,
                (m * k * p) as f64 / best / 1e9
            );
        }
    }

    /// Prints how candle's grouped conv2d compares with [`depthwise3x3`].
    /// Run with `cargo test --release -p voxportrait-core depthwise_speed -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn depthwise_speed_vs_candle_grouped_conv() {
        let dev = Device::Cpu;
        let (c, h) = (32, 96);
        let x = Tensor::from_vec(pseudo(c * h * h, 1), (1, c, h, h), &dev).unwrap();
        let wt = pseudo(c * 9, 2);
        let bias = vec![0.0; c];
        let k = Tensor::from_vec(wt.clone(), (c, 1, 3, 3), &dev).unwrap();
        let time = |f: &dyn Fn() -> Tensor| {
            f();
            let t = std::time::Instant::now();
            for _ in 0..20 {
                f();
            }
            t.elapsed().as_secs_f64() / 20.0 * 1e3
        };
        let ours = time(&|| depthwise3x3(&x, &wt, &bias, 1).unwrap());
        let candle = time(&|| x.conv2d(&k, 1, 1, 1, c).unwrap());
        let a = depthwise3x3(&x, &wt, &bias, 1).unwrap();
        let b = x.conv2d(&k, 1, 1, 1, c).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        println!("depthwise 3x3 {c}x{h}x{h}: ours {ours:.3} ms, candle conv2d(groups={c}) {candle:.3} ms, max diff {d:e}");
    }
}

/// Helpers for the parity tests of the face networks.
#[cfg(test)]
pub(crate) mod test_support {
    use candle_core::{DType, Device, Tensor};
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// The repository's `models/` directory.
    pub fn models_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
    }

    /// A fixture written by `tools/make_face_fixtures.py`.
    pub struct Fixture {
        /// The network input, `input_u8 * input_scale + input_offset` in f32
        /// (exactly what the fixture script fed to LiteRT).
        pub input: Tensor,
        /// Every tensor of the file (expected outputs, `input_u8`, ...).
        pub tensors: HashMap<String, Tensor>,
    }

    impl Fixture {
        /// A tensor of the fixture, by name.
        pub fn get(&self, name: &str) -> &Tensor {
            self.tensors
                .get(name)
                .unwrap_or_else(|| panic!("fixture has no tensor {name}"))
        }
    }

    /// Loads `tests/data/<name>` and rebuilds the f32 input.
    pub fn load_fixture(name: &str) -> Fixture {
        let path = crate::testdata::fixture(name);
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let scalar = |n: &str| tensors[n].flatten_all().unwrap().to_vec1::<f32>().unwrap()[0];
        let (scale, offset) = (scalar("input_scale"), scalar("input_offset"));
        let u8s = &tensors["input_u8"];
        assert_eq!(u8s.dtype(), DType::U8);
        let values: Vec<f32> = u8s
            .flatten_all()
            .unwrap()
            .to_vec1::<u8>()
            .unwrap()
            .into_iter()
            .map(|v| v as f32 * scale + offset)
            .collect();
        let input = Tensor::from_vec(values, u8s.shape(), &Device::Cpu).unwrap();
        Fixture { input, tensors }
    }

    /// Asserts `max |a - b| <= tol` and prints the difference (shown with
    /// `--nocapture`, used for the parity numbers in models/face_networks.md).
    pub fn assert_close(what: &str, a: &Tensor, b: &Tensor, tol: f64) {
        assert_eq!(a.dims(), b.dims(), "{what}: shapes differ");
        let d = (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        println!("parity {what}: max abs diff {d:.3e} (tolerance {tol:e})");
        assert!(d <= tol, "{what}: max abs diff {d} > {tol}");
    }
}
