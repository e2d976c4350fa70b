//! The fallback renderer for portraits without a detectable face.
//!
//! [`MouthWarpRenderer`] is the foundation's renderer, named for what it
//! does: a smooth inverse warp that sways the head region and pulls the jaw
//! down around a mouth position the user gives, filling the opening with a
//! shaded mouth interior. With a face, [`super::Renderer`] does far more.

use image::RgbImage;
use rayon::prelude::*;

use crate::face::FaceAnchor;
use crate::motion::MotionFrame;

/// Warps a portrait around its mouth anchor, one frame at a time.
#[derive(Debug, Clone)]
pub struct MouthWarpRenderer {
    src: RgbImage,
    anchor: FaceAnchor,
}

impl MouthWarpRenderer {
    /// Prepares a renderer for `portrait` (the output has its size).
    pub fn new(portrait: RgbImage, anchor: FaceAnchor) -> Self {
        Self {
            src: portrait,
            anchor,
        }
    }

    /// Output width in pixels.
    pub fn width(&self) -> u32 {
        self.src.width()
    }

    /// Output height in pixels.
    pub fn height(&self) -> u32 {
        self.src.height()
    }

    /// Renders one frame into a new image.
    pub fn render(&self, motion: &MotionFrame) -> RgbImage {
        let mut out = vec![0u8; (self.width() * self.height() * 3) as usize];
        self.render_into(motion, &mut out);
        RgbImage::from_raw(self.width(), self.height(), out).expect("buffer sized above")
    }

    /// Renders one frame into `out` (RGB24, row-major, `width*height*3` bytes).
    ///
    /// The smooth part of the warp (head sway, jaw drop) is evaluated on a
    /// coarse grid and interpolated per pixel; only a band around the lips,
    /// where the opening has sharp edges, is evaluated exactly per pixel.
    pub fn render_into(&self, motion: &MotionFrame, out: &mut [u8]) {
        let (w, h) = (self.width() as usize, self.height() as usize);
        assert_eq!(out.len(), w * h * 3, "output buffer size");
        let warp = Warp::new(&self.anchor, motion);
        let grid = InverseGrid::new(&warp, w, h);
        let band = warp.exact_band(GRID_STEP as f32);
        out.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
            let yc = y as f32 + 0.5;
            let in_band_row = yc >= band.1 && yc <= band.3;
            for x in 0..w {
                let xc = x as f32 + 0.5;
                let px = if in_band_row && xc >= band.0 && xc <= band.2 {
                    warp.shade(&self.src, xc, yc)
                } else {
                    let (sx, sy) = grid.at(x, y);
                    sample_bilinear(&self.src, sx, sy)
                };
                row[x * 3..x * 3 + 3].copy_from_slice(&px);
            }
        });
    }
}

/// Spacing of the coarse inverse-map grid, pixels.
const GRID_STEP: usize = 8;

/// Source positions of the smooth warp at every `GRID_STEP`-th pixel centre.
struct InverseGrid {
    cols: usize,
    pos: Vec<(f32, f32)>,
}

impl InverseGrid {
    fn new(warp: &Warp, w: usize, h: usize) -> Self {
        let cols = w / GRID_STEP + 2;
        let rows = h / GRID_STEP + 2;
        let pos = (0..rows * cols)
            .map(|i| {
                let (gx, gy) = (i % cols, i / cols);
                warp.smooth_source((gx * GRID_STEP) as f32 + 0.5, (gy * GRID_STEP) as f32 + 0.5)
            })
            .collect();
        Self { cols, pos }
    }

    /// Bilinearly interpolated source position of pixel (x, y).
    #[inline]
    fn at(&self, x: usize, y: usize) -> (f32, f32) {
        let (gx, gy) = (x / GRID_STEP, y / GRID_STEP);
        let tx = (x % GRID_STEP) as f32 / GRID_STEP as f32;
        let ty = (y % GRID_STEP) as f32 / GRID_STEP as f32;
        let i = gy * self.cols + gx;
        let (a, b, c, d) = (
            self.pos[i],
            self.pos[i + 1],
            self.pos[i + self.cols],
            self.pos[i + self.cols + 1],
        );
        let lerp = |p: f32, q: f32, t: f32| p + (q - p) * t;
        (
            lerp(lerp(a.0, b.0, tx), lerp(c.0, d.0, tx), ty),
            lerp(lerp(a.1, b.1, tx), lerp(c.1, d.1, tx), ty),
        )
    }
}

/// The per-frame warp field, precomputed from anchor and motion.
struct Warp {
    mx: f32,
    my: f32,
    fw: f32,
    /// Half-width of the mouth opening.
    mouth_half: f32,
    /// Jaw drop at the mouth centre, pixels.
    gap: f32,
    head_cx: f32,
    head_cy: f32,
    head_dx: f32,
    head_dy: f32,
    cos_r: f32,
    sin_r: f32,
}

/// Cubic smoothstep from 0 at `e0` to 1 at `e1`.
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

impl Warp {
    fn new(a: &FaceAnchor, m: &MotionFrame) -> Self {
        let fw = a.face_width.max(4.0);
        Self {
            mx: a.mouth_x,
            my: a.mouth_y,
            fw,
            mouth_half: 0.25 * fw,
            gap: m.expression.jaw_open.max(0.0) * 0.09 * fw,
            head_cx: a.mouth_x,
            head_cy: a.mouth_y - 0.45 * fw,
            // Canonical centimetres → pixels: the face is about 15 cm wide.
            head_dx: m.head.tx / 15.0 * fw,
            head_dy: m.head.ty / 15.0 * fw,
            // HeadMotion's roll is counter-clockwise; this warp's clockwise.
            cos_r: m.head.roll.cos(),
            sin_r: -m.head.roll.sin(),
        }
    }

    /// Output-space rectangle (x0, y0, x1, y1) around the lips that must be
    /// shaded exactly: the opening plus `margin` on every side, so no grid
    /// cell that straddles the lip lines is interpolated.
    fn exact_band(&self, margin: f32) -> (f32, f32, f32, f32) {
        let sway = self.head_dx.abs() + self.head_dy.abs() + self.fw * self.sin_r.abs();
        let m = margin + sway + 2.0;
        (
            self.mx - self.mouth_half - m,
            self.my - 0.2 * self.gap - m,
            self.mx + self.mouth_half + m,
            self.my + self.gap + m,
        )
    }

    /// Lip-opening profile across the mouth (lens) and jaw-drop profile.
    #[inline]
    fn profiles(&self, u: f32) -> (f32, f32) {
        let lens = (1.0 - u * u).max(0.0).sqrt() * (1.0 - smoothstep(0.8, 1.0, u.abs()));
        let jaw = 1.0 - smoothstep(0.6, 1.8, u.abs());
        (lens, jaw)
    }

    /// Source position of output point (x, y) for the smooth part of the
    /// warp; points above the mouth line use the upper-lip branch, points
    /// below it the jaw branch.
    fn smooth_source(&self, x: f32, y: f32) -> (f32, f32) {
        let (x, y) = self.unsway(x, y);
        let u = (x - self.mx) / self.mouth_half;
        let (lens, jaw) = self.profiles(u);
        let down = self.gap * lens;
        let v = y - self.my;
        if v >= 0.0 {
            // Just under the lower lip the drop follows the lens, further down
            // the jaw profile; far down it fades out towards the neck.
            let blend = smoothstep(0.0, 0.2 * self.fw, v - down);
            let drop = self.gap * (lens + (jaw - lens) * blend);
            let fade = 1.0 - smoothstep(0.55 * self.fw, 0.95 * self.fw, v);
            (x, y - drop * fade)
        } else {
            let fade = 1.0 - smoothstep(0.08 * self.fw, 0.3 * self.fw, -v);
            (x, y + 0.2 * down * fade)
        }
    }

    /// Exact colour of output pixel centre (x, y), mouth interior included.
    fn shade(&self, src: &RgbImage, x: f32, y: f32) -> [u8; 3] {
        let (ux, uy) = self.unsway(x, y);
        let u = (ux - self.mx) / self.mouth_half;
        let (lens, _) = self.profiles(u);
        let down = self.gap * lens;
        let up = 0.2 * down;
        let v = uy - self.my;
        if v >= down || v <= -up {
            let (sx, sy) = self.smooth_source(x, y);
            sample_bilinear(src, sx, sy)
        } else {
            self.interior(src, ux, u, v, up, down)
        }
    }

    /// Mouth interior between the parted lips: a dark cavity with a hint of
    /// upper teeth, anti-aliased against the lips.
    fn interior(&self, src: &RgbImage, x: f32, u: f32, v: f32, up: f32, down: f32) -> [u8; 3] {
        let lip = sample_bilinear(src, x, self.my);
        let height = (up + down).max(1e-3);
        let depth = (v + up) / height; // 0 at the upper lip, 1 at the lower lip
                                       // Soft 1.5 px edge against the lips.
        let edge = ((v + up).min(down - v) / 1.5).clamp(0.0, 1.0);
        // Darkest in the middle of the opening, like a cavity seen from outside.
        let shade = 1.0 - 0.6 * (1.0 - (2.0 * depth - 1.0).abs()) * (1.0 - u.abs()).max(0.0);
        let cavity = [95.0 * shade, 40.0 * shade, 42.0 * shade];
        let teeth = if depth < 0.28 && height > 3.0 {
            1.0 - smoothstep(0.18, 0.28, depth)
        } else {
            0.0
        };
        let mut px = [0u8; 3];
        for c in 0..3 {
            let inner = cavity[c] * (1.0 - teeth) + [225.0, 218.0, 205.0][c] * teeth * 0.85;
            px[c] = (lip[c] as f32 * (1.0 - edge) + inner * edge + 0.5).clamp(0.0, 255.0) as u8;
        }
        px
    }

    /// Undoes the head sway: rotation and shift inside the head region,
    /// blending smoothly to a still background.
    fn unsway(&self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.head_cx, y - self.head_cy);
        let r = ((dx / (1.1 * self.fw)).powi(2) + (dy / (1.5 * self.fw)).powi(2)).sqrt();
        let s = 1.0 - smoothstep(0.75, 1.35, r);
        if s <= 0.0 {
            return (x, y);
        }
        let (c, sn) = (1.0 + (self.cos_r - 1.0) * s, -self.sin_r * s);
        let rx = c * dx - sn * dy;
        let ry = sn * dx + c * dy;
        (
            self.head_cx + rx - self.head_dx * s,
            self.head_cy + ry - self.head_dy * s,
        )
    }
}

/// Bilinear sample at a continuous position (pixel centres at +0.5), clamped
/// to the border. Written without `floor`/`round` calls, which compile to
/// library calls on baseline x86-64 and dominated the frame time.
#[inline]
fn sample_bilinear(src: &RgbImage, x: f32, y: f32) -> [u8; 3] {
    let (w, h) = (src.width() as i32, src.height() as i32);
    let fx = (x - 0.5).clamp(0.0, (w - 1) as f32);
    let fy = (y - 0.5).clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (fx as i32, fy as i32); // truncation == floor for fx, fy >= 0
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let data = src.as_raw();
    let stride = w as usize * 3;
    let at = |x: i32, y: i32| y as usize * stride + x as usize * 3;
    let (i00, i10, i01, i11) = (at(x0, y0), at(x1, y0), at(x0, y1), at(x1, y1));
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = data[i00 + c] as f32 + (data[i10 + c] as f32 - data[i00 + c] as f32) * tx;
        let bottom = data[i01 + c] as f32 + (data[i11 + c] as f32 - data[i01 + c] as f32) * tx;
        out[c] = (top + (bottom - top) * ty + 0.5) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 128])
        })
    }

    fn diff(a: &RgbImage, b: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
        let mut d = 0u64;
        for y in y0..y1 {
            for x in x0..x1 {
                for c in 0..3 {
                    d += (a.get_pixel(x, y)[c] as i64 - b.get_pixel(x, y)[c] as i64).unsigned_abs();
                }
            }
        }
        d as f64 / ((x1 - x0) * (y1 - y0) * 3) as f64
    }

    #[test]
    fn neutral_motion_reproduces_the_portrait() {
        let img = gradient(128, 96);
        let r =
            MouthWarpRenderer::new(img.clone(), FaceAnchor::from_fraction(128, 96, (0.5, 0.66)));
        assert_eq!(r.render(&MotionFrame::default()), img);
    }

    #[test]
    fn open_mouth_changes_the_mouth_and_leaves_the_background() {
        let img = gradient(256, 256);
        let anchor = FaceAnchor::from_fraction(256, 256, (0.5, 0.66));
        let r = MouthWarpRenderer::new(img.clone(), anchor);
        let open = r.render(&MotionFrame {
            expression: crate::motion::Expression {
                jaw_open: 1.0,
                ..Default::default()
            },
            head: crate::motion::HeadMotion {
                tx: 0.3,
                ..Default::default()
            },
            gaze: None,
        });
        let (mx, my) = (anchor.mouth_x as u32, anchor.mouth_y as u32);
        // The opening is dark.
        let p = open.get_pixel(mx, my + 3).0;
        assert!(
            p.iter().map(|&c| c as u32).sum::<u32>() < 250,
            "interior {p:?}"
        );
        assert!(diff(&open, &img, mx - 10, my - 2, mx + 10, my + 8) > 20.0);
        // Corners of the frame stay put.
        assert_eq!(diff(&open, &img, 0, 0, 16, 16), 0.0);
        assert_eq!(diff(&open, &img, 240, 0, 256, 16), 0.0);
    }
}
