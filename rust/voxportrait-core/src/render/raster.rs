//! Triangle scan conversion and sampling for the mesh warp.
//!
//! Written here rather than taken from a crate: the warp needs, per output
//! triangle, the exact set of pixel centres it owns (shared edges split
//! without gaps or double cover, so the warp has no cracks), visited row by
//! row inside horizontal bands that run on separate threads, with an affine
//! source position stepped along each span. General 2-D rasterisers
//! (tiny-skia, raqote) draw colours, not per-pixel inverse maps.

use image::RgbImage;

/// An affine map from output pixel (x, y) to a source position:
/// `sx = a[0]·x + a[1]·y + a[2]`, `sy = a[3]·x + a[4]·y + a[5]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [f32; 6]);

impl Affine {
    /// The identity map.
    pub const IDENTITY: Affine = Affine([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]);

    /// The map taking the corners `dst` to `src`; `None` when `dst` is
    /// degenerate (zero area).
    pub fn between(dst: [[f32; 2]; 3], src: [[f32; 2]; 3]) -> Option<Self> {
        // Solve in f64 around the first corner: the corners are hundreds of
        // pixels from the origin and nearly collinear ones are common.
        let [d0, d1, d2] = dst.map(|p| [p[0] as f64, p[1] as f64]);
        let [s0, s1, s2] = src.map(|p| [p[0] as f64, p[1] as f64]);
        let (e1, e2) = (
            [d1[0] - d0[0], d1[1] - d0[1]],
            [d2[0] - d0[0], d2[1] - d0[1]],
        );
        let det = e1[0] * e2[1] - e1[1] * e2[0];
        if det.abs() < 1e-9 {
            return None;
        }
        let inv = [e2[1] / det, -e2[0] / det, -e1[1] / det, e1[0] / det];
        let mut a = [0.0f32; 6];
        for k in 0..2 {
            let (f1, f2) = (s1[k] - s0[k], s2[k] - s0[k]);
            // [f1 f2] · inverse([e1 e2]) gives the linear part.
            let gx = f1 * inv[0] + f2 * inv[2];
            let gy = f1 * inv[1] + f2 * inv[3];
            a[3 * k] = gx as f32;
            a[3 * k + 1] = gy as f32;
            a[3 * k + 2] = (s0[k] - gx * d0[0] - gy * d0[1]) as f32;
        }
        Some(Affine(a))
    }

    /// Source position of output point (x, y).
    #[inline]
    pub fn apply(&self, x: f32, y: f32) -> (f32, f32) {
        let a = &self.0;
        (a[0] * x + a[1] * y + a[2], a[3] * x + a[4] * y + a[5])
    }
}

/// Calls `span(y, x0, x1)` for every row `y` in `rows` whose pixel centres
/// `x0..x1` (clipped to `0..width`) lie inside the triangle `t`.
///
/// Coverage is half-open (a centre exactly on a left or top edge belongs to
/// the triangle, one on a right or bottom edge does not), and each edge's
/// crossing is computed from its endpoints in a fixed order, so triangles
/// sharing an edge split its pixels exactly.
pub fn for_each_span(
    t: &[[f32; 2]; 3],
    rows: std::ops::Range<i32>,
    width: i32,
    mut span: impl FnMut(i32, i32, i32),
) {
    let ymin = t.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
    let ymax = t.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
    if !(ymin.is_finite() && ymax.is_finite()) {
        return;
    }
    let y0 = (ymin.ceil() as i32).max(rows.start);
    let y1 = ((ymax.ceil() as i32).min(rows.end)).max(y0);
    // Edges with endpoints ordered by (y, x): identical for both triangles
    // that share the edge.
    let edges = [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])].map(|(a, b)| {
        if (a[1], a[0]) <= (b[1], b[0]) {
            (a, b)
        } else {
            (b, a)
        }
    });
    for y in y0..y1 {
        let yf = y as f32;
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        let mut hits = 0;
        for &(a, b) in &edges {
            if a[1] <= yf && yf < b[1] {
                let x = a[0] + (yf - a[1]) * (b[0] - a[0]) / (b[1] - a[1]);
                lo = lo.min(x);
                hi = hi.max(x);
                hits += 1;
            }
        }
        if hits < 2 {
            continue;
        }
        let x0 = (lo.ceil() as i32).max(0);
        let x1 = (hi.ceil() as i32).min(width);
        if x0 < x1 {
            span(y, x0, x1);
        }
    }
}

/// Bilinear sample of `src` at (x, y), pixel centres at integer positions
/// (the landmarks' convention), clamped to the border. Written without
/// `floor` calls, which compile to library calls on baseline x86-64.
#[inline]
pub fn sample(src: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = (src.width() as i32, src.height() as i32);
    let fx = x.clamp(0.0, (w - 1) as f32);
    let fy = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (fx as i32, fy as i32); // truncation == floor for fx, fy >= 0
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let data = src.as_raw();
    let stride = w as usize * 3;
    let (i00, i10) = (
        y0 as usize * stride + x0 as usize * 3,
        y0 as usize * stride + x1 as usize * 3,
    );
    let (i01, i11) = (
        y1 as usize * stride + x0 as usize * 3,
        y1 as usize * stride + x1 as usize * 3,
    );
    let mut out = [0f32; 3];
    for c in 0..3 {
        let top = data[i00 + c] as f32 + (data[i10 + c] as f32 - data[i00 + c] as f32) * tx;
        let bottom = data[i01 + c] as f32 + (data[i11 + c] as f32 - data[i01 + c] as f32) * tx;
        out[c] = top + (bottom - top) * ty;
    }
    out
}

/// Bilinear sample into bytes with 8-bit fixed-point weights: the same
/// convention and clamping as [`sample`], about twice as fast (no float
/// conversions per channel). Positions are rounded to 1/256 pixel, so a
/// position within 1/512 of a pixel centre returns that pixel exactly.
#[inline(always)]
pub fn sample_u8(data: &[u8], w: i32, h: i32, x: f32, y: f32) -> [u8; 3] {
    let fx = (x.clamp(0.0, (w - 1) as f32) * 256.0 + 0.5) as i32;
    let fy = (y.clamp(0.0, (h - 1) as f32) * 256.0 + 0.5) as i32;
    let (x0, y0) = (fx >> 8, fy >> 8);
    let (tx, ty) = ((fx & 255) as u32, (fy & 255) as u32);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let stride = w as usize * 3;
    let (r0, r1) = (y0 as usize * stride, y1 as usize * stride);
    let (c0, c1) = (x0 as usize * 3, x1 as usize * 3);
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = data[r0 + c0 + c] as u32 * (256 - tx) + data[r0 + c1 + c] as u32 * tx;
        let bottom = data[r1 + c0 + c] as u32 * (256 - tx) + data[r1 + c1 + c] as u32 * tx;
        out[c] = ((top * (256 - ty) + bottom * ty + 32768) >> 16) as u8;
    }
    out
}

/// Rounds a colour to bytes.
#[inline]
pub fn to_u8(c: [f32; 3]) -> [u8; 3] {
    c.map(|v| (v + 0.5).clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_maps_corners_to_corners() {
        let dst = [[10.0, 10.0], [200.0, 30.0], [40.0, 180.0]];
        let src = [[12.0, 9.0], [190.0, 35.0], [45.0, 170.0]];
        let a = Affine::between(dst, src).unwrap();
        for (d, s) in dst.iter().zip(&src) {
            let (x, y) = a.apply(d[0], d[1]);
            assert!((x - s[0]).abs() < 1e-3 && (y - s[1]).abs() < 1e-3);
        }
        assert!(Affine::between([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], src).is_none());
    }

    #[test]
    fn triangles_sharing_edges_cover_every_pixel_once() {
        // A fan of triangles around an interior point tiles the square
        // [0, 40)² exactly: every centre once, none twice.
        let (w, h) = (40, 40);
        let c = [17.3, 21.7];
        let ring = [
            [0.0, 0.0],
            [23.5, 0.0],
            [40.0, 0.0],
            [40.0, 19.2],
            [40.0, 40.0],
            [11.1, 40.0],
            [0.0, 40.0],
            [0.0, 13.3],
        ];
        let mut count = vec![0u8; w * h];
        for i in 0..ring.len() {
            let t = [c, ring[i], ring[(i + 1) % ring.len()]];
            for_each_span(&t, 0..h as i32, w as i32, |y, x0, x1| {
                for x in x0..x1 {
                    count[y as usize * w + x as usize] += 1;
                }
            });
        }
        assert!(count.iter().all(|&n| n == 1), "gaps or overlaps");
    }

    #[test]
    fn sampling_at_pixel_centres_is_exact() {
        let img = RgbImage::from_fn(7, 5, |x, y| image::Rgb([(x * 30) as u8, (y * 50) as u8, 7]));
        for y in 0..5 {
            for x in 0..7 {
                assert_eq!(
                    to_u8(sample(&img, x as f32, y as f32)),
                    img.get_pixel(x, y).0
                );
            }
        }
        let mid = sample(&img, 0.5, 0.0);
        assert!((mid[0] - 15.0).abs() < 1e-4);
        // The fixed-point sampler agrees within one level, and is exact at
        // (and within 1/512 px of) pixel centres.
        let data = img.as_raw();
        for y in 0..5 {
            for x in 0..7 {
                let want = img.get_pixel(x, y).0;
                assert_eq!(
                    sample_u8(data, 7, 5, x as f32 + 0.0015, y as f32 - 0.0015),
                    want
                );
            }
        }
        for k in 0..50 {
            let (x, y) = (k as f32 * 0.131, k as f32 * 0.077);
            let a = to_u8(sample(&img, x, y));
            let b = sample_u8(data, 7, 5, x, y);
            for c in 0..3 {
                assert!((a[c] as i32 - b[c] as i32).abs() <= 1, "{a:?} {b:?}");
            }
        }
    }
}
