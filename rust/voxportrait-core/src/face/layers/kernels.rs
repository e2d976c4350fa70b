//! CPU kernels on contiguous `f32` NCHW buffers, used by the layers in
//! [`super`] through candle custom ops.
//!
//! * [`depthwise_plane`]: one output plane of a 3×3 depthwise conv.
//! * [`gemm_epilogue`]: `act(W @ X + bias + skip)`, i.e. a 1×1 conv (or an
//!   im2col'd conv) with the bias, residual skip and activation fused into
//!   the store of each output tile.
//! * [`im2col_row`], [`upsample_add_plane`]: helpers.
//!
//! The code is plain Rust written so that LLVM vectorises it, compiled twice
//! on x86-64 (baseline and AVX2+FMA, picked at run time); the GEMM
//! micro-kernel uses AVX2/FMA intrinsics explicitly because its register
//! blocking is what makes it fast. On AVX-512 CPUs the GEMM tiles (8×48
//! register blocks, masked loads for partial tiles) and the depthwise taps
//! run 16 lanes wide (module `avx512`): they sum the same products in the
//! same order, so every network's output is bit-identical on both paths
//! (test `avx512_and_avx2_paths_agree_bit_for_bit`); GEMM throughput is
//! 1.5–1.9× the AVX2 kernel's, whole networks ~10 % faster.

use rayon::prelude::*;

/// Below this many multiply-adds a job runs on the calling thread: waking a
/// rayon worker costs several microseconds.
pub const PARALLEL_MIN_WORK: usize = 96 * 1024;

#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx2_fma() -> bool {
    #[cfg(test)]
    if tests_support::PORTABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Whether the portable kernels fuse their multiply-adds: on every target
/// but x86-64 (aarch64 always has FMA). Fused, they compute exactly what
/// the AVX2+FMA and AVX-512 kernels compute, bit for bit (test
/// `portable_and_simd_paths_agree_bit_for_bit`). x86-64's baseline has no
/// FMA (`mul_add` would be a libm call), so its rare CPUs without AVX2+FMA
/// run unfused kernels, equal to the others within rounding.
#[inline]
fn portable_fma() -> bool {
    #[cfg(test)]
    if tests_support::PORTABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return true;
    }
    !cfg!(target_arch = "x86_64")
}

/// `a * b + c`, fused when compiled with FMA.
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// `max(v, 0) + slope * min(v, 0)`: identity (slope 1), ReLU (0), PReLU.
#[inline(always)]
fn activate<const FMA: bool>(v: f32, slope: f32) -> f32 {
    madd::<FMA>(slope, v.min(0.0), v.max(0.0))
}

/// Declares `$name(args)`, which runs `$generic::<true>` compiled with
/// AVX2+FMA when the CPU has them, and otherwise the portable
/// `$generic::<true>` (fused, see [`portable_fma`]) or `$generic::<false>`.
macro_rules! simd_dispatch {
    ($(#[$m:meta])* $vis:vis fn $name:ident / $avx:ident = $generic:ident ( $($arg:ident : $ty:ty),* $(,)? )) => {
        $(#[$m])*
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                if has_avx2_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked above).
                    unsafe { $avx($($arg),*) };
                    return;
                }
            }
            if portable_fma() {
                $generic::<true>($($arg),*)
            } else {
                $generic::<false>($($arg),*)
            }
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx($($arg: $ty),*) {
            $generic::<true>($($arg),*)
        }
    };
}

/// A `Vec<f32>` of length `n` whose contents are about to be overwritten
/// completely; skips the zero fill (a measurable cost on these small,
/// memory-bound layers).
#[allow(clippy::uninit_vec)]
pub fn alloc_output(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    // SAFETY: f32 has no invalid bit patterns and every caller writes all
    // `n` elements before the buffer is read.
    unsafe { v.set_len(n) };
    v
}

/// Runs `f(plane_index, plane)` over the `plane`-sized chunks of `dst`, in
/// parallel when `work` (multiply-adds in total) pays for it.
pub fn for_each_plane<F>(dst: &mut [f32], plane: usize, work: usize, f: F)
where
    F: Fn(usize, &mut [f32]) + Send + Sync,
{
    if plane == 0 {
        return;
    }
    let planes = dst.len() / plane;
    if work >= PARALLEL_MIN_WORK && planes > 1 {
        let tasks = (work / (PARALLEL_MIN_WORK / 2)).clamp(2, 4 * rayon::current_num_threads());
        let per_task = planes.div_ceil(tasks);
        dst.par_chunks_mut(plane * per_task)
            .enumerate()
            .for_each(|(t, chunk)| {
                for (j, d) in chunk.chunks_mut(plane).enumerate() {
                    f(t * per_task + j, d)
                }
            });
    } else {
        dst.chunks_mut(plane).enumerate().for_each(|(i, d)| f(i, d));
    }
}

// ---------------------------------------------------------------------------
// Depthwise 3x3.

/// Geometry of one depthwise plane (TFLite SAME padding resolved).
#[derive(Clone, Copy, Debug)]
pub struct PlaneGeom {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Stride, both axes.
    pub stride: usize,
    /// Zero rows above the input.
    pub pad_top: usize,
    /// Zero columns left of the input.
    pub pad_left: usize,
}

simd_dispatch!(
    /// Output rows `rows` of one plane of a 3×3 depthwise conv, bias
    /// included, written to `dst` from its start. `k` is the row-major 3×3 kernel.
    pub fn depthwise_plane / depthwise_plane_avx2 = depthwise_plane_impl(
        src: &[f32], k: &[f32], bias: f32, g: PlaneGeom, rows: std::ops::Range<usize>, dst: &mut [f32],
    )
);

/// Input row `iy` (may be outside) → (row slice, weight multiplier). Rows
/// outside the image are zero padding: we return a valid row with a zero
/// multiplier instead, so the inner loops have no branches.
#[inline(always)]
fn tap_row(src: &[f32], w: usize, h: usize, iy: isize, fallback: usize) -> (&[f32], f32) {
    if iy >= 0 && (iy as usize) < h {
        (&src[iy as usize * w..(iy as usize + 1) * w], 1.0)
    } else {
        (&src[fallback * w..(fallback + 1) * w], 0.0)
    }
}

#[inline(always)]
fn depthwise_plane_impl<const FMA: bool>(
    src: &[f32],
    k: &[f32],
    bias: f32,
    g: PlaneGeom,
    rows: std::ops::Range<usize>,
    dst: &mut [f32],
) {
    let PlaneGeom {
        h,
        w,
        out_h,
        out_w,
        stride,
        pad_top,
        pad_left,
    } = g;
    let k: [f32; 9] = k[..9].try_into().unwrap();
    if stride == 1 && pad_top == 1 && pad_left == 1 && w >= 2 && out_w == w && out_h == h {
        let n = w - 2;
        for (oy, row) in rows.clone().zip(dst.chunks_exact_mut(w)) {
            let iy = oy as isize;
            let (s0, m0) = tap_row(src, w, h, iy - 1, oy);
            let (s1, _) = tap_row(src, w, h, iy, oy);
            let (s2, m2) = tap_row(src, w, h, iy + 1, oy);
            let (a0, a1, a2) = (k[0] * m0, k[1] * m0, k[2] * m0);
            let (b0, b1, b2) = (k[3], k[4], k[5]);
            let (c0, c1, c2) = (k[6] * m2, k[7] * m2, k[8] * m2);
            // Left edge: tap x-1 is padding.
            let mut v = bias;
            v = madd::<FMA>(a1, s0[0], madd::<FMA>(a2, s0[1], v));
            v = madd::<FMA>(b1, s1[0], madd::<FMA>(b2, s1[1], v));
            row[0] = madd::<FMA>(c1, s2[0], madd::<FMA>(c2, s2[1], v));
            // Interior: all nine taps in one pass.
            taps9::<FMA>(
                [
                    s0,
                    &s0[1..],
                    &s0[2..],
                    s1,
                    &s1[1..],
                    &s1[2..],
                    s2,
                    &s2[1..],
                    &s2[2..],
                ],
                [a0, a1, a2, b0, b1, b2, c0, c1, c2],
                bias,
                &mut row[1..n + 1],
            );
            // Right edge: tap x+1 is padding.
            let mut v = bias;
            v = madd::<FMA>(a0, s0[w - 2], madd::<FMA>(a1, s0[w - 1], v));
            v = madd::<FMA>(b0, s1[w - 2], madd::<FMA>(b1, s1[w - 1], v));
            row[w - 1] = madd::<FMA>(c0, s2[w - 2], madd::<FMA>(c1, s2[w - 1], v));
        }
    } else if stride == 2 && pad_top == 0 && pad_left == 0 && out_w >= 1 && w >= 2 {
        // Output x reads s[2x], s[2x+1], s[2x+2]: split each input row into
        // even and odd columns (zero past the end) so the loop is unit-stride.
        let mut buf = vec![0f32; 3 * (2 * out_w + 1)];
        for (oy, row) in rows.clone().zip(dst.chunks_exact_mut(out_w)) {
            let mut acc_rows: [(&[f32], f32); 3] = [(&[], 0.0); 3];
            for (ky, acc) in acc_rows.iter_mut().enumerate() {
                *acc = tap_row(src, w, h, (2 * oy + ky) as isize, 2 * oy);
            }
            let (even_odd, _) = buf.split_at_mut(3 * (2 * out_w + 1));
            for (ky, part) in even_odd.chunks_exact_mut(2 * out_w + 1).enumerate() {
                let s = acc_rows[ky].0;
                let (e, o) = part.split_at_mut(out_w + 1);
                for (j, pair) in s.chunks_exact(2).enumerate().take(out_w) {
                    e[j] = pair[0];
                    o[j] = pair[1];
                }
                if w % 2 == 1 && w / 2 < out_w {
                    e[w / 2] = s[w - 1];
                    o[w / 2] = 0.0;
                }
                e[out_w] = 0.0;
            }
            let mut kk = [0f32; 9];
            for ky in 0..3 {
                for kx in 0..3 {
                    kk[ky * 3 + kx] = k[ky * 3 + kx] * acc_rows[ky].1;
                }
            }
            let part = |ky: usize| {
                let p = &even_odd[ky * (2 * out_w + 1)..(ky + 1) * (2 * out_w + 1)];
                (&p[..out_w], &p[out_w + 1..2 * out_w + 1], &p[1..out_w + 1])
            };
            let (e0, o0, f0) = part(0);
            let (e1, o1, f1) = part(1);
            let (e2, o2, f2) = part(2);
            taps9::<FMA>(
                [e0, o0, f0, e1, o1, f1, e2, o2, f2],
                kk,
                bias,
                &mut row[..out_w],
            );
        }
    } else {
        // General case (odd sizes, tiny maps): per-tap bounds checks.
        for (oy, row) in rows.clone().zip(dst.chunks_exact_mut(out_w)) {
            for (x, o) in row.iter_mut().enumerate() {
                let mut v = bias;
                for ky in 0..3 {
                    let iy = (oy * stride + ky) as isize - pad_top as isize;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    for kx in 0..3 {
                        let ix = (x * stride + kx) as isize - pad_left as isize;
                        if ix >= 0 && (ix as usize) < w {
                            v = madd::<FMA>(k[ky * 3 + kx], src[iy as usize * w + ix as usize], v);
                        }
                    }
                }
                *o = v;
            }
        }
    }
}

/// `out[i] = bias + sum_t k[t] * src[t][i]` (taps summed in order).
#[inline(always)]
fn taps9<const FMA: bool>(src: [&[f32]; 9], k: [f32; 9], bias: f32, out: &mut [f32]) {
    let n = out.len();
    for s in &src {
        assert!(s.len() >= n);
    }
    #[cfg(target_arch = "x86_64")]
    {
        if FMA && n >= 16 && has_avx512() {
            // SAFETY: AVX-512F is available (checked); every source holds
            // at least n values (asserted).
            unsafe { avx512::taps9(src.map(|s| s.as_ptr()), k, bias, out.as_mut_ptr(), n) };
            return;
        }
        if FMA && n >= 8 && has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked; FMA = true also runs
            // in the portable path); every source holds at least n values
            // (asserted).
            unsafe { taps9_avx2(src.map(|s| s.as_ptr()), k, bias, out.as_mut_ptr(), n) };
            return;
        }
    }
    for (i, o) in out.iter_mut().enumerate() {
        let mut v = bias;
        for t in 0..9 {
            v = madd::<FMA>(k[t], src[t][i], v);
        }
        *o = v;
    }
}

/// Eight outputs at a time; the last vector overlaps the previous one
/// instead of leaving a scalar remainder (recomputing a few outputs is
/// cheaper than finishing them one by one).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn taps9_avx2(src: [*const f32; 9], k: [f32; 9], bias: f32, out: *mut f32, n: usize) {
    use std::arch::x86_64::*;
    let kv = k.map(|v| _mm256_set1_ps(v));
    let b = _mm256_set1_ps(bias);
    let mut i = 0;
    loop {
        let at = if i + 8 <= n { i } else { n - 8 };
        let mut acc = b;
        for t in 0..9 {
            acc = _mm256_fmadd_ps(kv[t], _mm256_loadu_ps(src[t].add(at)), acc);
        }
        _mm256_storeu_ps(out.add(at), acc);
        if i + 8 >= n {
            break;
        }
        i += 8;
    }
}

// ---------------------------------------------------------------------------
// GEMM with fused epilogue.

/// Rows of `W` per micro-kernel tile.
const MR: usize = 4;
/// Columns (pixels) per micro-kernel tile: three 8-lane vectors.
const NR: usize = 24;

/// A conv's weight matrix `[M, K]` prepared once for [`gemm_epilogue`].
#[derive(Debug, Clone)]
pub struct GemmWeights {
    /// Output channels.
    pub m: usize,
    /// Inner dimension (`in_channels * kh * kw`).
    pub k: usize,
    /// `[M][K]`, row-major (the matrix-vector path).
    rows: Vec<f32>,
    /// `[ceil(M/MR)][K][MR]`, zero-padded rows (the tiled path).
    packed: Vec<f32>,
}

impl GemmWeights {
    /// Packs a row-major `[m, k]` matrix.
    pub fn new(rows: Vec<f32>, m: usize, k: usize) -> Self {
        assert_eq!(rows.len(), m * k);
        let blocks = m.div_ceil(MR);
        let mut packed = vec![0f32; blocks * k * MR];
        for b in 0..blocks {
            for r in 0..MR {
                let row = b * MR + r;
                if row >= m {
                    continue;
                }
                for kk in 0..k {
                    packed[(b * k + kk) * MR + r] = rows[row * k + kk];
                }
            }
        }
        Self { m, k, rows, packed }
    }

    /// The row-major `[M, K]` matrix.
    pub fn rows(&self) -> &[f32] {
        &self.rows
    }
}

/// The residual added before the activation, per output channel `c`:
/// `data[c]` (a `[C_r, P_r]` map) for `c < channels`, zero beyond (channel
/// padding). With `pool_w > 0` the map is `2x` larger in both axes (width
/// `pool_w`) and is max-pooled 2×2/2 first.
#[derive(Clone, Copy)]
pub struct Skip<'a> {
    /// `[channels][plane]` values.
    pub data: &'a [f32],
    /// Channels present in `data`.
    pub channels: usize,
    /// Width of the (unpooled) skip map when pooling, else 0.
    pub pool_w: usize,
}

/// Per-output-channel epilogue parameters.
#[derive(Clone, Copy)]
pub struct EpilogueParams<'a> {
    /// Bias per output channel.
    pub bias: &'a [f32],
    /// Negative slope per output channel (1 = linear, 0 = ReLU).
    pub slopes: &'a [f32],
}

/// The output matrix of a GEMM, shared by tasks that write disjoint parts.
#[derive(Clone, Copy)]
struct OutPtr {
    ptr: *mut f32,
    len: usize,
}
// SAFETY: only used to hand disjoint output regions to rayon tasks (see
// `OutPtr::segment`); the buffer outlives the parallel loop.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// `dst[start..start + n]`.
    ///
    /// # Safety
    /// No other live reference may overlap this range: every task of
    /// [`gemm_epilogue`] owns a distinct set of (row block, column tile) cells.
    #[allow(clippy::mut_from_ref)]
    unsafe fn segment(&self, start: usize, n: usize) -> &mut [f32] {
        assert!(start + n <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(start), n)
    }
}

/// `dst[M, P] = act(W[M, K] @ x[K, P] + bias + skip)` for one image.
pub fn gemm_epilogue(
    w: &GemmWeights,
    x: &[f32],
    p: usize,
    ep: EpilogueParams,
    skip: Option<Skip>,
    dst: &mut [f32],
) {
    let (m, k) = (w.m, w.k);
    debug_assert_eq!(x.len(), k * p);
    debug_assert_eq!(dst.len(), m * p);
    let work = m * k * p;
    if p == 1 {
        // Matrix-vector product (the dense heads): vectorise along K.
        let rows_per_task = if work >= PARALLEL_MIN_WORK {
            m.div_ceil(4 * rayon::current_num_threads()).max(8)
        } else {
            m
        };
        let run = |(t, d): (usize, &mut [f32])| {
            for (j, o) in d.iter_mut().enumerate() {
                let row = t * rows_per_task + j;
                let v = dot(&w.rows[row * k..(row + 1) * k], x) + ep.bias[row];
                let s = match skip {
                    Some(s) if row < s.channels => skip_value(s, row, 0, 1),
                    _ => 0.0,
                };
                *o = activate::<false>(v + s, ep.slopes[row]);
            }
        };
        if rows_per_task >= m {
            run((0, dst));
        } else {
            dst.par_chunks_mut(rows_per_task).enumerate().for_each(run);
        }
        return;
    }
    let col_tiles = p.div_ceil(NR);
    let row_blocks = m.div_ceil(MR);
    let threads = rayon::current_num_threads();
    let (col_chunks, row_chunks) = if work < PARALLEL_MIN_WORK || threads == 1 {
        (1, 1)
    } else {
        let tasks = (work / (PARALLEL_MIN_WORK / 2)).clamp(2, 4 * threads);
        let cc = col_tiles.min(tasks);
        (cc, tasks.div_ceil(cc).min(row_blocks))
    };
    let out = OutPtr {
        ptr: dst.as_mut_ptr(),
        len: dst.len(),
    };
    let task = |t: usize| {
        let (ci, ri) = (t % col_chunks, t / col_chunks);
        let tiles = split(col_tiles, col_chunks, ci);
        let blocks = split(row_blocks, row_chunks, ri);
        let xc = XCols {
            data: x,
            stride: p,
            cols: p,
            col0: 0,
        };
        gemm_tiles(w, xc, p, ep, skip, out, TileRange { tiles, blocks });
    };
    if col_chunks * row_chunks == 1 {
        task(0);
    } else {
        (0..col_chunks * row_chunks).into_par_iter().for_each(task);
    }
}

/// Output pixels per band of the fused depthwise + pointwise kernel: the
/// band's depthwise output (`K` × band floats) stays in L2.
const BAND_PIXELS: usize = 192;

/// Whether [`dw_pw_epilogue`] pays off for an `out_h` × `out_w` output with
/// `k` → `m` channels: it parallelises over row bands only, so it needs a few
/// bands per thread, unless the layer is small enough for one thread anyway.
pub fn dw_pw_fusable(out_h: usize, out_w: usize, k: usize, m: usize) -> bool {
    let band_rows = BAND_PIXELS.div_ceil(out_w).max(1);
    out_h.div_ceil(band_rows) >= 2 * rayon::current_num_threads()
        || (m + 9) * k * out_h * out_w < PARALLEL_MIN_WORK
}

/// Fused depthwise 3×3 + pointwise GEMM + epilogue for one image:
/// `dst[M, P] = act(W @ dw(x) + bias + skip)`, computed band of output rows
/// by band so the depthwise result never leaves the cache.
///
/// `x` is `[K, h, w]`, `dw_w` `[K*9]`, `dw_b` `[K]`; `g` the depthwise geometry.
#[allow(clippy::too_many_arguments)]
pub fn dw_pw_epilogue(
    x: &[f32],
    dw_w: &[f32],
    dw_b: &[f32],
    g: PlaneGeom,
    w: &GemmWeights,
    ep: EpilogueParams,
    skip: Option<Skip>,
    dst: &mut [f32],
) {
    let k = w.k;
    let (oh, ow) = (g.out_h, g.out_w);
    let p = oh * ow;
    let plane = g.h * g.w;
    debug_assert_eq!(x.len(), k * plane);
    debug_assert_eq!(dst.len(), w.m * p);
    let band_rows = BAND_PIXELS.div_ceil(ow).max(1);
    let bands = oh.div_ceil(band_rows);
    let out = OutPtr {
        ptr: dst.as_mut_ptr(),
        len: dst.len(),
    };
    let band = |b: usize, buf: &mut Vec<f32>| {
        let y0 = b * band_rows;
        let y1 = (y0 + band_rows).min(oh);
        let cols = (y1 - y0) * ow;
        buf.resize(k * cols, 0.0);
        for (c, d) in buf.chunks_exact_mut(cols).enumerate() {
            depthwise_plane(
                &x[c * plane..(c + 1) * plane],
                &dw_w[c * 9..c * 9 + 9],
                dw_b[c],
                g,
                y0..y1,
                d,
            );
        }
        let xc = XCols {
            data: buf,
            stride: cols,
            cols,
            col0: y0 * ow,
        };
        let range = TileRange {
            tiles: 0..cols.div_ceil(NR),
            blocks: 0..w.m.div_ceil(MR),
        };
        // Each band owns output columns y0*ow..y1*ow of every row.
        gemm_tiles(w, xc, p, ep, skip, out, range);
    };
    let work = w.m * k * p + 9 * k * p;
    if work < PARALLEL_MIN_WORK || bands < 2 {
        let mut buf = Vec::new();
        (0..bands).for_each(|b| band(b, &mut buf));
    } else {
        (0..bands)
            .into_par_iter()
            .for_each_init(Vec::new, |buf, b| band(b, buf));
    }
}

/// The `i`-th of `parts` near-equal consecutive ranges of `0..n`.
fn split(n: usize, parts: usize, i: usize) -> std::ops::Range<usize> {
    let (q, r) = (n / parts, n % parts);
    let start = i * q + i.min(r);
    start..start + q + usize::from(i < r)
}

/// The column tiles `tiles` and row blocks `blocks` of one GEMM.
#[derive(Clone)]
struct TileRange {
    tiles: std::ops::Range<usize>,
    blocks: std::ops::Range<usize>,
}

/// Whether the CPU has AVX-512F (plus AVX2 and FMA, which every AVX-512
/// CPU has): the GEMM and depthwise kernels then use 16-lane vectors.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    #[cfg(test)]
    if tests_support::AVX512_OFF.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    std::is_x86_feature_detected!("avx512f") && has_avx2_fma()
}

/// Test switch: run the 8-lane kernels even on AVX-512 CPUs (the results
/// are the same; tests compare both paths and time them side by side).
#[cfg(test)]
pub mod tests_support {
    /// When set, [`super::has_avx512`] answers false.
    pub static AVX512_OFF: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);
    /// When set, no SIMD kernel runs: the portable ones, fused as on
    /// aarch64 (what an aarch64 build computes, on this machine).
    pub static PORTABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
}

/// The GEMM tiles of one task: 16-lane AVX-512 kernels where the CPU has
/// them, else the 8-lane AVX2 (or portable) ones. Both sum the same
/// products in the same order with FMA, so results are bit-identical.
#[allow(clippy::too_many_arguments)]
fn gemm_tiles(
    w: &GemmWeights,
    x: XCols,
    p: usize,
    ep: EpilogueParams,
    skip: Option<Skip>,
    dst: OutPtr,
    range: TileRange,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512() {
            // SAFETY: the CPU has AVX-512F, AVX2 and FMA (checked above).
            unsafe { avx512::gemm_tiles(w, x, p, ep, skip, dst, range) };
            return;
        }
    }
    gemm_tiles_256(w, x, p, ep, skip, dst, range)
}

simd_dispatch!(
    #[allow(clippy::too_many_arguments)]
    fn gemm_tiles_256 / gemm_tiles_avx2 = gemm_tiles_impl(
        w: &GemmWeights, x: XCols, p: usize, ep: EpilogueParams, skip: Option<Skip>, dst: OutPtr,
        range: TileRange,
    )
);

/// The right-hand side of a GEMM call: `data[kk * stride + j]` is row `kk`,
/// column `j` for `j < cols`; column `j` is output pixel `col0 + j`.
#[derive(Clone, Copy)]
struct XCols<'a> {
    data: &'a [f32],
    stride: usize,
    cols: usize,
    col0: usize,
}

#[inline(always)]
fn gemm_tiles_impl<const FMA: bool>(
    w: &GemmWeights,
    x: XCols,
    p: usize,
    ep: EpilogueParams,
    skip: Option<Skip>,
    dst: OutPtr,
    range: TileRange,
) {
    let k = w.k;
    let mut tail = Vec::new();
    let mut tile = [0f32; MR * NR];
    for t in range.tiles {
        let j0 = t * NR;
        let cols = NR.min(x.cols - j0);
        let p0 = x.col0 + j0; // output pixel of the tile's first column
                              // A partial column tile is copied into a zero-padded [K][NR] buffer.
        let (xs, x_stride) = if cols == NR {
            (&x.data[j0..], x.stride)
        } else {
            tail.clear();
            tail.resize(k * NR, 0.0);
            for kk in 0..k {
                let r = kk * x.stride + j0;
                tail[kk * NR..kk * NR + cols].copy_from_slice(&x.data[r..r + cols]);
            }
            (&tail[..], NR)
        };
        let nv = cols.div_ceil(8);
        for b in range.blocks.clone() {
            let wp = &w.packed[b * k * MR..(b + 1) * k * MR];
            micro_kernel::<FMA>(k, wp, xs, x_stride, nv, &mut tile);
            let rows = MR.min(w.m - b * MR);
            for r in 0..rows {
                let co = b * MR + r;
                // SAFETY: this task owns row `co`, columns p0..p0+cols.
                let out = unsafe { dst.segment(co * p + p0, cols) };
                let sk = skip.filter(|s| co < s.channels).map(|s| (s, co));
                finish_row::<FMA>(
                    &tile[r * NR..r * NR + cols],
                    out,
                    ep.bias[co],
                    ep.slopes[co],
                    sk,
                    p0,
                );
            }
        }
    }
}

/// Writes `act(acc + bias + skip)` for one row segment of a tile.
#[inline(always)]
fn finish_row<const FMA: bool>(
    acc: &[f32],
    out: &mut [f32],
    bias: f32,
    slope: f32,
    skip: Option<(Skip, usize)>,
    p0: usize,
) {
    match skip {
        None => {
            for (o, &a) in out.iter_mut().zip(acc) {
                *o = activate::<FMA>(a + bias, slope);
            }
        }
        Some((s, c)) if s.pool_w == 0 => {
            let plane = s.data.len() / s.channels;
            let r = &s.data[c * plane + p0..c * plane + p0 + out.len()];
            for ((o, &a), &rv) in out.iter_mut().zip(acc).zip(r) {
                *o = activate::<FMA>(a + bias + rv, slope);
            }
        }
        Some((s, c)) => {
            // 2x2/2 max-pool of the skip, walking output pixels row by row.
            let plane = s.data.len() / s.channels;
            let d = &s.data[c * plane..(c + 1) * plane];
            let (w, ow) = (s.pool_w, s.pool_w / 2);
            let (mut oy, mut ox) = (p0 / ow, p0 % ow);
            for (o, &a) in out.iter_mut().zip(acc) {
                let i = 2 * oy * w + 2 * ox;
                let m = d[i].max(d[i + 1]).max(d[i + w].max(d[i + w + 1]));
                *o = activate::<FMA>(a + bias + m, slope);
                ox += 1;
                if ox == ow {
                    ox = 0;
                    oy += 1;
                }
            }
        }
    }
}

/// The skip value of channel `c` at output pixel `pix` (output width `ow`).
#[inline(always)]
fn skip_value(s: Skip, c: usize, pix: usize, ow: usize) -> f32 {
    let plane = s.data.len() / s.channels;
    let d = &s.data[c * plane..(c + 1) * plane];
    if s.pool_w == 0 {
        return d[pix];
    }
    let (oy, ox) = (pix / ow, pix % ow);
    let w = s.pool_w;
    let i = 2 * oy * w + 2 * ox;
    d[i].max(d[i + 1]).max(d[i + w].max(d[i + w + 1]))
}

simd_dispatch!(
    fn dot_into / dot_into_avx2 = dot_impl(a: &[f32], b: &[f32], out: &mut f32)
);

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut out = 0.0;
    dot_into(a, b, &mut out);
    out
}

#[inline(always)]
fn dot_impl<const FMA: bool>(a: &[f32], b: &[f32], out: &mut f32) {
    // Eight partial sums so the loop vectorises (reassociation is explicit).
    let mut acc = [0f32; 8];
    let n = a.len().min(b.len());
    let (ac, bc) = (a[..n].chunks_exact(8), b[..n].chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..8 {
            acc[l] = madd::<FMA>(x[l], y[l], acc[l]);
        }
    }
    let mut s = acc.iter().sum::<f32>();
    for (x, y) in ar.iter().zip(br) {
        s = madd::<FMA>(*x, *y, s);
    }
    *out = s;
}

/// `tile[MR][NR] = packed_w[K][MR]^T @ x[K][..8*nv]` (`x` rows `x_stride` apart).
#[inline(always)]
fn micro_kernel<const FMA: bool>(
    k: usize,
    wp: &[f32],
    x: &[f32],
    x_stride: usize,
    nv: usize,
    tile: &mut [f32; MR * NR],
) {
    assert!(wp.len() >= k * MR);
    assert!(k == 0 || x.len() >= (k - 1) * x_stride + 8 * nv);
    #[cfg(target_arch = "x86_64")]
    {
        if FMA && has_avx2_fma() {
            // SAFETY: the CPU has AVX2 and FMA (checked; FMA = true also runs
            // in the portable path); the slice bounds needed by the kernel
            // are asserted above.
            unsafe {
                match nv {
                    3 => micro_kernel_avx2::<3>(k, wp.as_ptr(), x.as_ptr(), x_stride, tile),
                    2 => micro_kernel_avx2::<2>(k, wp.as_ptr(), x.as_ptr(), x_stride, tile),
                    _ => micro_kernel_avx2::<1>(k, wp.as_ptr(), x.as_ptr(), x_stride, tile),
                }
            }
            return;
        }
    }
    let cols = 8 * nv;
    tile.fill(0.0);
    for kk in 0..k {
        let xr = &x[kk * x_stride..kk * x_stride + cols];
        for r in 0..MR {
            let wv = wp[kk * MR + r];
            for (t, &xv) in tile[r * NR..r * NR + cols].iter_mut().zip(xr) {
                *t = madd::<FMA>(wv, xv, *t);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn micro_kernel_avx2<const NV: usize>(
    k: usize,
    wp: *const f32,
    x: *const f32,
    x_stride: usize,
    tile: &mut [f32; MR * NR],
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm256_setzero_ps(); NV]; MR];
    for kk in 0..k {
        let xr = x.add(kk * x_stride);
        // The K rows of x are K separate streams, more than the hardware
        // prefetcher tracks: fetch the next column tile's lines ourselves.
        // (wrapping_add: the hint may point past the buffer, which is fine
        // for a prefetch but not for `add`.)
        _mm_prefetch::<_MM_HINT_T0>(xr.wrapping_add(NR) as *const i8);
        _mm_prefetch::<_MM_HINT_T0>(xr.wrapping_add(NR + 16) as *const i8);
        let mut xv = [_mm256_setzero_ps(); NV];
        for (v, xv) in xv.iter_mut().enumerate() {
            *xv = _mm256_loadu_ps(xr.add(8 * v));
        }
        let w = wp.add(kk * MR);
        for (r, acc_r) in acc.iter_mut().enumerate() {
            let wv = _mm256_broadcast_ss(&*w.add(r));
            for (a, &xv) in acc_r.iter_mut().zip(&xv) {
                *a = _mm256_fmadd_ps(wv, xv, *a);
            }
        }
    }
    let t = tile.as_mut_ptr();
    for (r, acc) in acc.iter().enumerate() {
        for (v, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(t.add(r * NR + 8 * v), *a);
        }
    }
}

// ---------------------------------------------------------------------------
// AVX-512 variants (16 lanes): same products, same order, same results.

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{finish_row, EpilogueParams, GemmWeights, OutPtr, Skip, TileRange, XCols, MR, NR};
    use std::arch::x86_64::*;

    /// Columns of one AVX-512 tile: two of the AVX2 tiles (three vectors).
    const NR2: usize = 2 * NR;

    /// [`super::gemm_tiles_impl`] with 8×48 (or 4×48) register tiles: pairs
    /// of the task's 24-column tiles, pairs of its 4-row weight blocks.
    /// Partial tiles use masked loads instead of a zero-padded copy.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn gemm_tiles(
        w: &GemmWeights,
        x: XCols,
        p: usize,
        ep: EpilogueParams,
        skip: Option<Skip>,
        dst: OutPtr,
        range: TileRange,
    ) {
        let k = w.k;
        let mut tile = [0f32; 2 * MR * NR2];
        let mut t = range.tiles.start;
        while t < range.tiles.end {
            let j0 = t * NR;
            let span = if t + 1 < range.tiles.end { NR2 } else { NR };
            let cols = span.min(x.cols - j0);
            let p0 = x.col0 + j0; // output pixel of the tile's first column
            let nv = cols.div_ceil(16);
            let tail = cols - 16 * (nv - 1);
            let mask: __mmask16 = if tail == 16 {
                0xffff
            } else {
                (1u16 << tail) - 1
            };
            // Rows kk of x start at xs + kk * stride; only `cols` are read.
            let xs = x.data[j0..].as_ptr();
            assert!(k == 0 || x.data.len() >= j0 + (k - 1) * x.stride + cols);
            let mut b = range.blocks.start;
            while b < range.blocks.end {
                let pair = b + 1 < range.blocks.end;
                let wp = w.packed[b * k * MR..].as_ptr();
                let wp1 = if pair {
                    w.packed[(b + 1) * k * MR..].as_ptr()
                } else {
                    wp
                };
                let tp = tile.as_mut_ptr();
                match (pair, nv) {
                    (true, 3) => kernel::<8, 3>(k, wp, wp1, xs, x.stride, mask, tp),
                    (true, 2) => kernel::<8, 2>(k, wp, wp1, xs, x.stride, mask, tp),
                    (true, _) => kernel::<8, 1>(k, wp, wp1, xs, x.stride, mask, tp),
                    (false, 3) => kernel::<4, 3>(k, wp, wp1, xs, x.stride, mask, tp),
                    (false, 2) => kernel::<4, 2>(k, wp, wp1, xs, x.stride, mask, tp),
                    (false, _) => kernel::<4, 1>(k, wp, wp1, xs, x.stride, mask, tp),
                }
                let rows = (if pair { 2 * MR } else { MR }).min(w.m - b * MR);
                for r in 0..rows {
                    let co = b * MR + r;
                    // SAFETY: this task owns row `co`, columns p0..p0+cols.
                    let out = dst.segment(co * p + p0, cols);
                    let sk = skip.filter(|s| co < s.channels).map(|s| (s, co));
                    finish_row::<true>(
                        &tile[r * NR2..r * NR2 + cols],
                        out,
                        ep.bias[co],
                        ep.slopes[co],
                        sk,
                        p0,
                    );
                }
                b += if pair { 2 } else { 1 };
            }
            t += span / NR;
        }
    }

    /// `tile[R][NR2] = W[R rows][K] @ x[K][..16 NV]`: rows 0..4 from the
    /// packed block at `wp`, rows 4..8 (when `R == 8`) from `wp1`; the last
    /// vector of each x row is loaded under `mask`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn kernel<const R: usize, const NV: usize>(
        k: usize,
        wp: *const f32,
        wp1: *const f32,
        x: *const f32,
        x_stride: usize,
        mask: __mmask16,
        tile: *mut f32,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NV]; R];
        for kk in 0..k {
            let xr = x.add(kk * x_stride);
            _mm_prefetch::<_MM_HINT_T0>(xr.wrapping_add(NR2) as *const i8);
            _mm_prefetch::<_MM_HINT_T0>(xr.wrapping_add(NR2 + 16) as *const i8);
            let mut xv = [_mm512_setzero_ps(); NV];
            for (v, xv) in xv.iter_mut().enumerate() {
                *xv = if v + 1 == NV {
                    _mm512_maskz_loadu_ps(mask, xr.add(16 * v))
                } else {
                    _mm512_loadu_ps(xr.add(16 * v))
                };
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let wsrc = if r < MR {
                    wp.add(kk * MR + r)
                } else {
                    wp1.add(kk * MR + r - MR)
                };
                let wv = _mm512_set1_ps(*wsrc);
                for (a, &xv) in acc_r.iter_mut().zip(&xv) {
                    *a = _mm512_fmadd_ps(wv, xv, *a);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(tile.add(r * NR2 + 16 * v), *a);
            }
        }
    }

    /// [`super::taps9_avx2`] with 16 lanes (`n >= 16`).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn taps9(
        src: [*const f32; 9],
        k: [f32; 9],
        bias: f32,
        out: *mut f32,
        n: usize,
    ) {
        let kv = k.map(|v| _mm512_set1_ps(v));
        let b = _mm512_set1_ps(bias);
        let mut i = 0;
        loop {
            let at = if i + 16 <= n { i } else { n - 16 };
            let mut acc = b;
            for t in 0..9 {
                acc = _mm512_fmadd_ps(kv[t], _mm512_loadu_ps(src[t].add(at)), acc);
            }
            _mm512_storeu_ps(out.add(at), acc);
            if i + 16 >= n {
                break;
            }
            i += 16;
        }
    }
}

// ---------------------------------------------------------------------------
// im2col and resize.

/// One row `(c, ky, kx)` of an im2col matrix: `dst[oy*ow + ox] =
/// src[oy*stride + ky - pad_top][ox*stride + kx - pad_left]` (zero outside).
#[allow(clippy::too_many_arguments)]
pub fn im2col_row(
    src: &[f32],
    h: usize,
    w: usize,
    ky: usize,
    kx: usize,
    stride: usize,
    pad_top: usize,
    pad_left: usize,
    ow: usize,
    dst: &mut [f32],
) {
    // Output columns whose tap is inside the row: ox in [lo, hi).
    let first = |ox: usize| (ox * stride + kx) as isize - pad_left as isize;
    let lo = (0..ow).find(|&ox| first(ox) >= 0).unwrap_or(ow);
    let hi = (lo..ow).find(|&ox| first(ox) >= w as isize).unwrap_or(ow);
    for (oy, drow) in dst.chunks_exact_mut(ow).enumerate() {
        let iy = (oy * stride + ky) as isize - pad_top as isize;
        if iy < 0 || iy >= h as isize {
            drow.fill(0.0);
            continue;
        }
        let srow = &src[iy as usize * w..(iy as usize + 1) * w];
        drow[..lo].fill(0.0);
        drow[hi..].fill(0.0);
        if hi > lo {
            let start = first(lo) as usize;
            let seg = &mut drow[lo..hi];
            if stride == 1 {
                seg.copy_from_slice(&srow[start..start + seg.len()]);
            } else {
                for (v, &s) in seg.iter_mut().zip(srow[start..].iter().step_by(stride)) {
                    *v = s;
                }
            }
        }
    }
}

/// Per-axis taps of TFLite's half-pixel bilinear resize: `(lower, upper, frac)`.
pub fn resize_taps(input: usize, output: usize) -> Vec<(usize, usize, f32)> {
    let scale = input as f32 / output as f32;
    (0..output)
        .map(|o| {
            let src = (o as f32 + 0.5) * scale - 0.5;
            let fl = src.floor();
            let lo = (fl.max(0.0) as usize).min(input - 1);
            let hi = (src.ceil().max(0.0) as usize).min(input - 1);
            (lo, hi, src - fl)
        })
        .collect()
}

/// `dst += resize_bilinear(src)` for one plane (`ty`, `tx` from [`resize_taps`]).
pub fn upsample_add_plane(
    src: &[f32],
    iw: usize,
    ty: &[(usize, usize, f32)],
    tx: &[(usize, usize, f32)],
    dst: &mut [f32],
) {
    let w = tx.len();
    for (row, &(y0, y1, fy)) in dst.chunks_exact_mut(w).zip(ty) {
        let (r0, r1) = (&src[y0 * iw..(y0 + 1) * iw], &src[y1 * iw..(y1 + 1) * iw]);
        for (v, &(x0, x1, fx)) in row.iter_mut().zip(tx) {
            let top = r0[x0] + (r0[x1] - r0[x0]) * fx;
            let bot = r1[x0] + (r1[x1] - r1[x0]) * fx;
            *v += top + (bot - top) * fy;
        }
    }
}
