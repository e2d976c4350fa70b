//! Regions of interest: rotated squares around a face, the affine crop that
//! turns one into a network input, and the mapping of network outputs back
//! to image pixels (MediaPipe's `DetectionsToRectsCalculator`,
//! `RectTransformationCalculator`, `ImageToTensorCalculator` and
//! `LandmarkProjectionCalculator`).
//!
//! Coordinates follow MediaPipe, so results match its pipeline to the
//! pixel: a point `(x, y)` is MediaPipe's normalised coordinate times the
//! image width and height, and pixel `(i, j)`'s centre lies at `(i, j)`
//! (OpenCV's convention, which MediaPipe's crops use).

use image::RgbImage;

use super::detect::{keypoint, Detection};

/// A rectangle in image pixels, rotated about its centre.
///
/// `rotation` is in radians, clockwise on screen (image y points down): the
/// rectangle's x axis points along `(cos r, sin r)` in image coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    /// Centre x, pixels.
    pub cx: f32,
    /// Centre y, pixels.
    pub cy: f32,
    /// Width along the rotated x axis, pixels.
    pub w: f32,
    /// Height along the rotated y axis, pixels.
    pub h: f32,
    /// Rotation, radians, clockwise on screen.
    pub rotation: f32,
}

/// Wraps an angle into [-π, π), as MediaPipe's `NormalizeRadians`.
pub fn normalize_radians(a: f32) -> f32 {
    let tau = std::f32::consts::TAU;
    a - tau * ((a + std::f32::consts::PI) / tau).floor()
}

/// Rotation that makes the line from `start` to `end` horizontal
/// (MediaPipe: `target_angle - atan2(-(y1 - y0), x1 - x0)` with target 0).
pub fn rotation_between(start: [f32; 2], end: [f32; 2]) -> f32 {
    normalize_radians(-(-(end[1] - start[1])).atan2(end[0] - start[0]))
}

impl RotatedRect {
    /// The face ROI from a detection in pixels: box centre, rotated so the
    /// eye line is horizontal, squared on the long side and scaled 1.5×.
    pub fn from_detection(d: &Detection) -> Self {
        let rotation = rotation_between(
            d.keypoints[keypoint::RIGHT_EYE],
            d.keypoints[keypoint::LEFT_EYE],
        );
        Self {
            cx: (d.xmin + d.xmax) / 2.0,
            cy: (d.ymin + d.ymax) / 2.0,
            w: d.width(),
            h: d.height(),
            rotation,
        }
        .square_long()
        .scaled(1.5)
    }

    /// The ROI for the next video frame from this frame's 468 landmarks
    /// (pixels): bounding box of all points, rotated by the eye corners
    /// 33 → 263, squared and scaled 1.5×, as MediaPipe's tracking does.
    pub fn from_landmarks(points: &[[f32; 3]]) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in points {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let (a, b) = (points[33], points[263]);
        Self {
            cx: (x0 + x1) / 2.0,
            cy: (y0 + y1) / 2.0,
            w: x1 - x0,
            h: y1 - y0,
            rotation: rotation_between([a[0], a[1]], [b[0], b[1]]),
        }
        .square_long()
        .scaled(1.5)
    }

    /// Both sides set to the longer one.
    pub fn square_long(self) -> Self {
        let s = self.w.max(self.h);
        Self { w: s, h: s, ..self }
    }

    /// Both sides multiplied by `k` about the centre.
    pub fn scaled(self, k: f32) -> Self {
        Self {
            w: self.w * k,
            h: self.h * k,
            ..self
        }
    }

    /// Image position of a point given in the rectangle's normalised frame
    /// (0..1 across, 0..1 down).
    pub fn to_image(&self, nx: f32, ny: f32) -> [f32; 2] {
        let (dx, dy) = ((nx - 0.5) * self.w, (ny - 0.5) * self.h);
        let (s, c) = self.rotation.sin_cos();
        [self.cx + c * dx - s * dy, self.cy + s * dx + c * dy]
    }

    /// Maps network landmarks (x, y, z in crop pixels of an `input`-sized
    /// square) to image pixels; z is scaled like x.
    pub fn project_landmarks(&self, raw: &[f32], input: usize) -> Vec<[f32; 3]> {
        let n = input as f32;
        raw.chunks_exact(3)
            .map(|p| {
                let [x, y] = self.to_image(p[0] / n, p[1] / n);
                [x, y, p[2] / n * self.w]
            })
            .collect()
    }
}

/// What a crop shows where the rectangle leaves the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Border {
    /// Black (MediaPipe's detector letterbox).
    Zero,
    /// The nearest edge pixel (MediaPipe's landmark crops).
    Replicate,
}

/// Crops `rect` out of `img` into a `size`×`size` CHW float tensor with
/// values mapped from 0..255 to `range`.
///
/// Exactly what MediaPipe's CPU `ImageToTensorCalculator` does (OpenCV
/// `warpPerspective` of the 8-bit image, `INTER_LINEAR`): output pixel
/// `(u, v)` is the bilinear sample at the rectangle point `(u / size,
/// v / size)`, so the rectangle's top-left corner lands on output pixel
/// `(0, 0)`; samples are rounded to 8 bits before the range mapping. There
/// is deliberately no anti-aliasing prefilter: the networks were made for
/// MediaPipe's point-sampled crops, and a smoothed input moves the landmarks
/// by up to ~1 % of the eye distance away from MediaPipe's results.
pub fn crop_to_chw(
    img: &RgbImage,
    rect: &RotatedRect,
    size: usize,
    range: (f32, f32),
    border: Border,
) -> Vec<f32> {
    let (lo, hi) = range;
    let k = (hi - lo) / 255.0;
    let plane = size * size;
    let mut out = vec![0.0f32; 3 * plane];
    // The crop is affine: image point = origin + u * du + v * dv. Computing
    // the steps once (not `to_image` with its sin/cos per pixel) and reading
    // interior pixels straight from the buffer makes a 192² crop ~0.3 ms.
    let origin = rect.to_image(0.0, 0.0);
    let n = size as f32;
    let step_u = rect.to_image(1.0 / n, 0.0);
    let step_v = rect.to_image(0.0, 1.0 / n);
    let du = [step_u[0] - origin[0], step_u[1] - origin[1]];
    let dv = [step_v[0] - origin[0], step_v[1] - origin[1]];
    let (r, rest) = out.split_at_mut(plane);
    let (g, b) = rest.split_at_mut(plane);
    for v in 0..size {
        let vf = v as f32;
        let row = v * size..(v + 1) * size;
        let (r, g, b) = (&mut r[row.clone()], &mut g[row.clone()], &mut b[row]);
        for u in 0..size {
            let uf = u as f32;
            let x = origin[0] + uf * du[0] + vf * dv[0];
            let y = origin[1] + uf * du[1] + vf * dv[1];
            let px = sample(img, x, y, border);
            // Samples are in 0..=255, where round() is floor(v + 0.5); the
            // cast avoids a libm call per channel on baseline x86-64.
            r[u] = lo + ((px[0] + 0.5) as u32) as f32 * k;
            g[u] = lo + ((px[1] + 0.5) as u32) as f32 * k;
            b[u] = lo + ((px[2] + 0.5) as u32) as f32 * k;
        }
    }
    out
}

/// [`crop_to_chw`] that stays free of aliasing when `rect` is much larger
/// than the `size`² input (a face in a very large photo).
///
/// Up to `max_ratio`× the input size this is exactly
/// [`crop_to_chw`], the point-sampled crop MediaPipe makes (its networks'
/// results are matched to the pixel there). Beyond it, the rectangle's
/// bounding box is first averaged down by an integer factor `f` (so the
/// rectangle is 1.5–3× the input) with an exact `f`×`f` block mean, and the
/// crop is sampled from that. Landmarks still map back
/// through `rect` to full-resolution pixels: only the samples change.
pub fn crop_to_chw_filtered(
    img: &RgbImage,
    rect: &RotatedRect,
    size: usize,
    range: (f32, f32),
    border: Border,
    max_ratio: f32,
) -> Vec<f32> {
    let ratio = rect.w.max(rect.h) / size as f32;
    if ratio <= max_ratio {
        return crop_to_chw(img, rect, size, range, border);
    }
    let f = (ratio / 1.5).floor().max(2.0) as u32;
    // Bounding box of the rotated rectangle, snapped to multiples of `f`.
    let corners = [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0)].map(|(u, v)| rect.to_image(u, v));
    let lo = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MAX, f32::min);
    let hi = |i: usize| corners.iter().map(|c| c[i]).fold(f32::MIN, f32::max);
    let (w, h) = img.dimensions();
    let snap_lo = |v: f32, max: u32| ((v.floor().max(0.0) as u32) / f * f).min(max);
    let (x0, y0) = (snap_lo(lo(0), w), snap_lo(lo(1), h));
    let (x1, y1) = (
        (hi(0).ceil().max(0.0) as u32 + 1).min(w),
        (hi(1).ceil().max(0.0) as u32 + 1).min(h),
    );
    let (bw, bh) = ((x1.saturating_sub(x0)) / f, (y1.saturating_sub(y0)) / f);
    if bw == 0 || bh == 0 {
        return crop_to_chw(img, rect, size, range, border);
    }
    let small = block_mean(img, x0, y0, bw, bh, f);
    // Pixel j of `small` averages pixels [jf, jf + f) of the region, so its
    // centre is at x0 + jf + (f - 1) / 2 in the full image.
    let fs = f as f32;
    let half = (fs - 1.0) / 2.0;
    let local = RotatedRect {
        cx: (rect.cx - x0 as f32 - half) / fs,
        cy: (rect.cy - y0 as f32 - half) / fs,
        w: rect.w / fs,
        h: rect.h / fs,
        rotation: rect.rotation,
    };
    crop_to_chw(&small, &local, size, range, border)
}

/// The `bw`×`bh` image whose pixel `(i, j)` is the mean of the `f`×`f`
/// block of `img` at `(x0 + i f, y0 + j f)`.
///
/// Hand-written: `image::imageops::thumbnail` handles fractional ratios and
/// costs about 6 ns per source pixel (35 ms for a 2400² photo); an exact
/// integer block mean is all this needs and is several times faster.
fn block_mean(img: &RgbImage, x0: u32, y0: u32, bw: u32, bh: u32, f: u32) -> RgbImage {
    let stride = img.width() as usize * 3;
    let raw = img.as_raw();
    let (bw, f_us) = (bw as usize, f as usize);
    let mut out = vec![0u8; bw * bh as usize * 3];
    let norm = f * f;
    let mut acc = vec![0u32; bw * 3];
    for (j, row_out) in out.chunks_exact_mut(bw * 3).enumerate() {
        acc.fill(0);
        for dy in 0..f_us {
            let y = y0 as usize + j * f_us + dy;
            let row = &raw[y * stride + x0 as usize * 3..][..bw * f_us * 3];
            for (i, block) in row.chunks_exact(f_us * 3).enumerate() {
                for px in block.chunks_exact(3) {
                    acc[i * 3] += px[0] as u32;
                    acc[i * 3 + 1] += px[1] as u32;
                    acc[i * 3 + 2] += px[2] as u32;
                }
            }
        }
        for (o, a) in row_out.iter_mut().zip(&acc) {
            *o = ((a + norm / 2) / norm) as u8;
        }
    }
    RgbImage::from_raw(bw as u32, bh, out).expect("buffer sized bw x bh x 3")
}

/// `x.floor() as i64` without the libm call baseline x86-64 makes for it.
#[inline(always)]
fn fast_floor(x: f32) -> i64 {
    let t = x as i64;
    if (t as f32) > x {
        t - 1
    } else {
        t
    }
}

/// Bilinear sample at a position in pixels (pixel centres at integers).
#[inline(always)]
fn sample(img: &RgbImage, x: f32, y: f32, border: Border) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (x0, y0) = (fast_floor(x), fast_floor(y));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let (a, b, c, d) = if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
        // Interior: all four neighbours straight from the buffer.
        let raw = img.as_raw();
        let i = (y0 * w + x0) as usize * 3;
        let j = i + w as usize * 3;
        let px = |k: usize| [raw[k] as f32, raw[k + 1] as f32, raw[k + 2] as f32];
        (px(i), px(i + 3), px(j), px(j + 3))
    } else {
        let fetch = |xi: i64, yi: i64| -> [f32; 3] {
            let inside = xi >= 0 && yi >= 0 && xi < w && yi < h;
            if !inside && border == Border::Zero {
                return [0.0; 3];
            }
            let p = img
                .get_pixel(xi.clamp(0, w - 1) as u32, yi.clamp(0, h - 1) as u32)
                .0;
            [p[0] as f32, p[1] as f32, p[2] as f32]
        };
        (
            fetch(x0, y0),
            fetch(x0 + 1, y0),
            fetch(x0, y0 + 1),
            fetch(x0 + 1, y0 + 1),
        )
    };
    let mut out = [0.0; 3];
    for i in 0..3 {
        let top = a[i] + (b[i] - a[i]) * tx;
        let bottom = c[i] + (d[i] - c[i]) * tx;
        out[i] = top + (bottom - top) * ty;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eye_line_tilt_gives_clockwise_rotation() {
        // Subject's left eye (image right) lower than the right eye: head
        // tilted clockwise on screen, positive rotation.
        let r = rotation_between([10.0, 10.0], [20.0, 20.0]);
        assert!((r - std::f32::consts::FRAC_PI_4).abs() < 1e-6);
        assert_eq!(rotation_between([0.0, 5.0], [10.0, 5.0]), 0.0);
        assert!(
            (normalize_radians(3.0 * std::f32::consts::PI) + std::f32::consts::PI).abs() < 1e-5
        );
        assert!((normalize_radians(0.5) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn large_rectangles_are_box_filtered_not_aliased() {
        // A one-pixel checkerboard averages to mid-grey; point sampling a
        // 10x reduction would return only black or only white.
        let img = RgbImage::from_fn(640, 640, |x, y| {
            image::Rgb([if (x + y) % 2 == 0 { 255 } else { 0 }; 3])
        });
        let rect = RotatedRect {
            cx: 320.0,
            cy: 320.0,
            w: 640.0,
            h: 640.0,
            rotation: 0.3,
        };
        let t = crop_to_chw_filtered(&img, &rect, 64, (0.0, 1.0), Border::Replicate, 3.0);
        let centre = t[32 * 64 + 32];
        assert!((centre - 0.5).abs() < 0.05, "{centre}");
        // A small rectangle is MediaPipe's exact point-sampled crop.
        let small = RotatedRect { w: 100.0, h: 100.0, ..rect };
        assert_eq!(
            crop_to_chw_filtered(&img, &small, 64, (0.0, 1.0), Border::Zero, 3.0),
            crop_to_chw(&img, &small, 64, (0.0, 1.0), Border::Zero)
        );
    }

    #[test]
    fn filtered_crop_keeps_the_geometry() {
        // A smooth ramp: the filtered and the point-sampled crop agree.
        let img = RgbImage::from_fn(1200, 900, |x, y| {
            image::Rgb([(x / 5) as u8, (y / 4) as u8, 100])
        });
        let rect = RotatedRect {
            cx: 610.0,
            cy: 430.0,
            w: 700.0,
            h: 700.0,
            rotation: -0.4,
        };
        let a = crop_to_chw_filtered(&img, &rect, 64, (0.0, 255.0), Border::Replicate, 3.0);
        let b = crop_to_chw(&img, &rect, 64, (0.0, 255.0), Border::Replicate);
        let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
        assert!(worst <= 2.0, "{worst}");
    }

    #[test]
    fn identity_crop_returns_the_pixels() {
        let img = RgbImage::from_fn(8, 8, |x, y| image::Rgb([(x * 30) as u8, (y * 30) as u8, 7]));
        let rect = RotatedRect {
            cx: 4.0,
            cy: 4.0,
            w: 8.0,
            h: 8.0,
            rotation: 0.0,
        };
        let t = crop_to_chw(&img, &rect, 8, (0.0, 255.0), Border::Zero);
        assert_eq!(t[3 * 8 + 5], 150.0); // R at (5, 3)
        assert_eq!(t[64 + 3 * 8 + 5], 90.0); // G at (5, 3)
        let t = crop_to_chw(&img, &rect, 8, (-1.0, 1.0), Border::Zero);
        assert!((t[128] - (-1.0 + 7.0 * 2.0 / 255.0)).abs() < 1e-6);
    }

    #[test]
    fn rotated_crop_and_projection_are_inverse() {
        let rect = RotatedRect {
            cx: 50.0,
            cy: 40.0,
            w: 30.0,
            h: 30.0,
            rotation: 0.5,
        };
        // A landmark at crop pixel (48, 144) of 192 maps into the image and
        // back through the rect's own frame.
        let p = rect.project_landmarks(&[48.0, 144.0, 19.2], 192)[0];
        let (s, c) = (-rect.rotation).sin_cos();
        let (dx, dy) = (p[0] - rect.cx, p[1] - rect.cy);
        let (ux, uy) = (c * dx - s * dy, s * dx + c * dy);
        assert!((ux / rect.w + 0.5 - 0.25).abs() < 1e-5);
        assert!((uy / rect.h + 0.5 - 0.75).abs() < 1e-5);
        assert!((p[2] - 3.0).abs() < 1e-5);
    }

    #[test]
    fn borders_zero_or_replicate() {
        let img = RgbImage::from_pixel(4, 4, image::Rgb([200, 200, 200]));
        let rect = RotatedRect {
            cx: 0.0,
            cy: 0.0,
            w: 4.0,
            h: 4.0,
            rotation: 0.0,
        };
        let z = crop_to_chw(&img, &rect, 4, (0.0, 1.0), Border::Zero);
        let r = crop_to_chw(&img, &rect, 4, (0.0, 1.0), Border::Replicate);
        assert_eq!(z[0], 0.0);
        assert!((r[0] - 200.0 / 255.0).abs() < 1e-6);
    }

    #[test]
    fn crops_sample_like_mediapipe() {
        // Output pixel u samples the rect's corner + u * (side / size), with
        // pixel centres at integers: a 2x-downscaling crop of a horizontal
        // ramp starting at x = 1 reads pixels 1, 3, 5, ... exactly.
        let img = RgbImage::from_fn(16, 4, |x, _| image::Rgb([(x * 10) as u8, 0, 0]));
        let rect = RotatedRect {
            cx: 9.0,
            cy: 2.0,
            w: 16.0,
            h: 16.0,
            rotation: 0.0,
        };
        let t = crop_to_chw(&img, &rect, 8, (0.0, 255.0), Border::Replicate);
        let row: Vec<f32> = (0..8).map(|u| t[4 * 8 + u]).collect();
        assert_eq!(row, [10.0, 30.0, 50.0, 70.0, 90.0, 110.0, 130.0, 150.0]);
        // Half-way between pixels the bilinear value is rounded to 8 bits.
        let img = RgbImage::from_fn(2, 1, |x, _| image::Rgb([(x * 3) as u8, 0, 0]));
        let rect = RotatedRect {
            cx: 1.0,
            cy: 0.5,
            w: 1.0,
            h: 1.0,
            rotation: 0.0,
        };
        let t = crop_to_chw(&img, &rect, 1, (0.0, 255.0), Border::Zero);
        assert_eq!(t[0], 2.0); // 1.5 rounds to 2
    }
}
