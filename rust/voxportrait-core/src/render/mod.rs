//! Render stage: portrait + one frame of motion → one RGB frame.
//!
//! [`Renderer`] is the mesh-driven renderer. It warps the portrait over the
//! FaceMesh triangulation extended with rings around the head
//! ([`rig::FaceRig`]): each output triangle samples its source triangle
//! through an affine map (bilinear), so the jaw, lips, lids and brows move
//! as the expression basis says, and the whole head turns, nods and tilts
//! with the head pose while the motion fades to nothing at the outer ring.
//! Outside that ring every pixel is the source's, byte for byte, so a full
//! frame needs no paste-back and has no seam to hide. Inside the lips the
//! [`mouth`] module shows teeth, tongue and cavity; inside the eyes the
//! eyeball moves with the head only, so blinks close the lids over it.
//!
//! [`MouthWarpRenderer`] is the foundation's renderer, kept as the fallback
//! for portraits where no face can be found but the user gives the mouth
//! position: it only opens the mouth and sways the head.
//!
//! [`framing`] prepares the portrait: `crop`, `resize` or `full`.

pub mod framing;
pub mod mouth;
mod placeholder;
pub mod raster;
pub mod rig;

use image::RgbImage;
use rayon::prelude::*;

pub use framing::Framing;
pub use placeholder::MouthWarpRenderer;

use crate::face::analyze::Face;
use crate::face::canonical::CanonicalFace;
use crate::motion::expression::{MouthState, RestingMouth};
use crate::motion::MotionFrame;
use crate::Result;
use mouth::{MouthFrame, MouthLook};
use raster::{for_each_span, sample, sample_u8, to_u8, Affine};
use rig::{signed_area2, FaceRig, TriangleKind};

/// Rows per parallel band.
const BAND: usize = 16;

/// Eye closure from which the lash line of a closing eye is drawn.
const LASH_START: f32 = 0.4;

fn smooth(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Distance from `p` to the segment `a`–`b`.
fn segment_distance(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = (dx * dx + dy * dy).max(1e-9);
    let t = (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0);
    let (qx, qy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    (qx * qx + qy * qy).sqrt()
}

/// Mask values of one frame, one byte per pixel (0 = outside, 255 = inside),
/// feathered: where refinement may repaint.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameMasks {
    /// The face (the FaceMesh surface: brows to chin, cheek to cheek).
    pub face: Vec<u8>,
    /// The mouth region: lips, the skin within about 1 cm, and the interior.
    pub mouth: Vec<u8>,
}

/// One output triangle, ready to scan.
#[derive(Debug, Clone, Copy)]
struct Scan {
    corners: [[f32; 2]; 3],
    map: Affine,
    kind: TriangleKind,
    face: bool,
    mouth_region: bool,
    /// False for triangles that did not move (their pixels are the
    /// source's already); they still count for the masks.
    draw: bool,
    /// For eyeball triangles when the gaze changes: which eye's shift.
    gaze: Option<usize>,
    /// What its pixels are for the silhouette pass ([`Layer`]).
    layer: Layer,
}

/// What drew a pixel, for finding the head's silhouette
/// ([`soften_silhouette`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Layer {
    /// Not drawn: the source's pixel.
    Source = 0,
    /// A ring or a back-facing fill triangle (hair, ears, neck, background
    /// revealed by a turn).
    Around = 1,
    /// A front-facing triangle of the face's skin.
    Face = 2,
    /// Mouth or eye interior (with edges of their own).
    Interior = 3,
}

/// Luminance step across a face/surroundings boundary above which the
/// boundary is a silhouette to soften (texture continuing across a triangle
/// edge steps far less).
const SILHOUETTE_STEP: f32 = 20.0;

/// Gaze changes larger than this (eye widths) are clamped: further shifts
/// would pull the iris past the smallest corner ramp ([`GAZE_RAMP`]).
const GAZE_MAX: [f32; 2] = [0.25, 0.08];

/// Width of the ramp at each eye corner over which the gaze shift falls to
/// zero, in eye widths; at least [`GAZE_MAX`]`[0]` so the inverse map never
/// samples beyond a corner.
const GAZE_RAMP: f32 = 0.3;

/// Softens the head's silhouette where a turn made one: pixels on either
/// side of a boundary between face skin and what surrounds it (ring, fill
/// or untouched source), where the colour steps by more than
/// [`SILHOUETTE_STEP`], take the 3×3 average around them. The warp draws
/// triangles with exact pixel coverage, so a cheek that turns into the
/// silhouette would otherwise end in a hard, aliased edge against the
/// background, where the photo had a soft one.
fn soften_silhouette(
    out: &mut [u8],
    layers: &[u8],
    w: usize,
    h: usize,
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
) {
    let luma = |i: usize| {
        0.299 * out[3 * i] as f32 + 0.587 * out[3 * i + 1] as f32 + 0.114 * out[3 * i + 2] as f32
    };
    let face = Layer::Face as u8;
    let around = |l: u8| l == Layer::Source as u8 || l == Layer::Around as u8;
    let mut marked: Vec<usize> = Vec::new();
    for y in rows.start.max(1)..rows.end.min(h.saturating_sub(1)) {
        for x in cols.start.max(1)..cols.end.min(w.saturating_sub(1)) {
            let i = y * w + x;
            if layers[i] != face {
                continue;
            }
            for j in [i - 1, i + 1, i - w, i + w] {
                if around(layers[j]) && (luma(i) - luma(j)).abs() > SILHOUETTE_STEP {
                    marked.push(i);
                    marked.push(j);
                }
            }
        }
    }
    if marked.is_empty() {
        return;
    }
    marked.sort_unstable();
    marked.dedup();
    let smoothed: Vec<[u8; 3]> = marked
        .iter()
        .map(|&i| {
            let (x, y) = (i % w, i / w);
            let mut sum = [0u32; 3];
            let mut n = 0u32;
            for yy in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for xx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let k = 3 * (yy * w + xx);
                    for c in 0..3 {
                        sum[c] += out[k + c] as u32;
                    }
                    n += 1;
                }
            }
            sum.map(|v| ((v + n / 2) / n) as u8)
        })
        .collect();
    for (&i, c) in marked.iter().zip(&smoothed) {
        out[3 * i..3 * i + 3].copy_from_slice(c);
    }
}

/// One eye of the source portrait, for moving its iris: the eye line from
/// the image-left corner, in source pixels.
#[derive(Debug, Clone, Copy)]
struct EyeFrame {
    corner: [f32; 2],
    /// Unit vector along the eye line, towards the image right.
    axis: [f32; 2],
    /// Corner-to-corner width, pixels.
    width: f32,
    /// How far the upper and lower lid middles lie from the eye line
    /// (pixels, both positive).
    lids: [f32; 2],
}

impl EyeFrame {
    /// The eye whose lids are the source polylines `upper` and `lower`
    /// (corner to corner, image left to right, as the canonical groups run):
    /// the ends are the corners, the middles the lid middles.
    fn new(upper: &[[f32; 2]], lower: &[[f32; 2]]) -> Self {
        let (a, b) = (upper[0], upper[upper.len() - 1]);
        let (upper, lower) = (upper[upper.len() / 2], lower[lower.len() / 2]);
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let width = (dx * dx + dy * dy).sqrt().max(1e-3);
        let axis = [dx / width, dy / width];
        let across = |p: [f32; 2]| (-(p[0] - a[0]) * axis[1] + (p[1] - a[1]) * axis[0]).abs();
        Self {
            corner: a,
            axis,
            width,
            lids: [across(upper).max(0.5), across(lower).max(0.5)],
        }
    }

    fn centre(&self) -> [f32; 2] {
        [
            self.corner[0] + 0.5 * self.width * self.axis[0],
            self.corner[1] + 0.5 * self.width * self.axis[1],
        ]
    }

    /// A gaze change (eye widths, along and across the eye line) as a shift
    /// in source pixels.
    fn shift(&self, d: [f32; 2]) -> [f32; 2] {
        let (ax, ay) = (self.axis[0], self.axis[1]);
        [
            (d[0] * ax - d[1] * ay) * self.width,
            (d[0] * ay + d[1] * ax) * self.width,
        ]
    }

    /// How much of the shift a source point takes: 1 across the middle of
    /// the eye, easing to 0 at both corners, so the iris slides while the
    /// white folds into the corners and nothing is pulled in from the skin
    /// beyond them; and easing to 0 in the last third before the lid edge
    /// (a parabolic opening through the lid middles), so the lash line
    /// inside the opening stays where the lid is.
    fn weight(&self, sx: f32, sy: f32) -> f32 {
        let (px, py) = (sx - self.corner[0], sy - self.corner[1]);
        let u = (px * self.axis[0] + py * self.axis[1]) / self.width;
        let along = smooth(0.0, GAZE_RAMP, u) * smooth(0.0, GAZE_RAMP, 1.0 - u);
        let t = -px * self.axis[1] + py * self.axis[0];
        let edge = self.lids[usize::from(t > 0.0)] * (4.0 * u * (1.0 - u)).max(0.05);
        along * (1.0 - smooth(0.65, 1.0, t.abs() / edge))
    }
}

/// Everything one frame's scan needs.
struct FramePlan {
    scans: Vec<Scan>,
    /// Per band of [`BAND`] rows, the scans touching it, in drawing order.
    bands: Vec<Vec<u32>>,
    mouth: MouthFrame,
    /// Per closing eye: the target upper-lid polyline and how closed it is.
    lids: Vec<(Vec<[f32; 2]>, f32)>,
    /// Per eye (as [`Renderer::eyes`]): the iris shift in source pixels.
    gaze: [[f32; 2]; 2],
    /// No head change: nothing turns, so there is no new silhouette.
    head_still: bool,
}

/// The mesh-driven renderer of one portrait.
#[derive(Debug, Clone)]
pub struct Renderer {
    src: RgbImage,
    rig: FaceRig,
    look: MouthLook,
    /// Both eyes of the source, image-left first.
    eyes: [EyeFrame; 2],
    /// The source's gaze ([`Face::gaze`]; straight ahead when the face has
    /// no iris landmarks): [`MotionFrame::gaze`] moves the irises from here.
    source_gaze: [f32; 2],
    /// The resting mouth closes the photo's open mouth: closed lips get
    /// the seam the photo never showed.
    closes_mouth: bool,
}

impl Renderer {
    /// Prepares `portrait` (the output has its size) whose face is `face`
    /// (landmarks and pose in this image's pixels).
    pub fn new(portrait: RgbImage, face: &Face, canonical: &CanonicalFace) -> Result<Self> {
        let rig = FaceRig::new(face, canonical)?;
        let look = MouthLook::new(&portrait, &rig.canonical.groups, &rig.source);
        let groups = &rig.canonical.groups;
        let eyes = [
            (&groups.right_eye_upper, &groups.right_eye_lower),
            (&groups.left_eye_upper, &groups.left_eye_lower),
        ]
        .map(|(upper, lower)| {
            let line =
                |ids: &[usize]| -> Vec<[f32; 2]> { ids.iter().map(|&i| rig.source[i]).collect() };
            EyeFrame::new(&line(upper), &line(lower))
        });
        Ok(Self {
            src: portrait,
            rig,
            look,
            eyes,
            source_gaze: face.gaze().unwrap_or([0.0; 2]),
            closes_mouth: false,
        })
    }

    /// Sets the state speech moves the portrait's mouth from (see
    /// [`RestingMouth`]); a new renderer shows the photo's mouth as it is.
    pub fn with_resting_mouth(mut self, resting: RestingMouth) -> Self {
        let insets = mouth::lip_insets(&self.src, &self.rig.canonical.groups, &self.rig.source);
        let e = self
            .rig
            .set_resting_mouth(resting, self.look.jaw_share(), &insets);
        self.closes_mouth = e.lip_close > 0.0;
        self
    }

    /// The portrait's own mouth, measured on the expression basis.
    pub fn mouth_state(&self) -> MouthState {
        self.rig.mouth_state()
    }

    /// Output width in pixels.
    pub fn width(&self) -> u32 {
        self.src.width()
    }

    /// Output height in pixels.
    pub fn height(&self) -> u32 {
        self.src.height()
    }

    /// The source portrait.
    pub fn source(&self) -> &RgbImage {
        &self.src
    }

    /// The source portrait's gaze, where [`MotionFrame::gaze`] starts from.
    pub fn source_gaze(&self) -> [f32; 2] {
        self.source_gaze
    }

    /// The control mesh.
    pub fn rig(&self) -> &FaceRig {
        &self.rig
    }

    /// Renders one frame into a new image.
    pub fn render(&self, motion: &MotionFrame) -> RgbImage {
        let mut out = vec![0u8; (self.width() * self.height() * 3) as usize];
        self.render_into(motion, &mut out, None);
        RgbImage::from_raw(self.width(), self.height(), out).expect("buffer sized above")
    }

    /// Renders one frame into `out` (RGB24, row-major, `width*height*3`
    /// bytes), and its masks into `masks` when given.
    pub fn render_into(
        &self,
        motion: &MotionFrame,
        out: &mut [u8],
        masks: Option<&mut FrameMasks>,
    ) {
        let (w, h) = (self.width() as usize, self.height() as usize);
        assert_eq!(out.len(), w * h * 3, "output buffer size");
        let plan = self.plan(motion);
        out.copy_from_slice(self.src.as_raw());
        if plan.head_still {
            out.par_chunks_mut(BAND * w * 3)
                .enumerate()
                .for_each(|(b, rows)| self.scan_band(&plan, b, rows, None, w));
        } else {
            let mut layers = vec![Layer::Source as u8; w * h];
            out.par_chunks_mut(BAND * w * 3)
                .zip(layers.par_chunks_mut(BAND * w))
                .enumerate()
                .for_each(|(b, (rows, l))| self.scan_band(&plan, b, rows, Some(l), w));
            // Only around the face's own triangles.
            let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
            for s in plan.scans.iter().filter(|s| s.layer == Layer::Face) {
                for p in s.corners {
                    (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
                }
            }
            if x1 >= x0 && y1 >= y0 {
                let clamp = |v: f32, n: usize| (v.max(0.0) as usize).min(n);
                let rows = clamp(y0 - 2.0, h)..clamp(y1 + 3.0, h);
                let cols = clamp(x0 - 2.0, w)..clamp(x1 + 3.0, w);
                soften_silhouette(out, &layers, w, h, rows, cols);
            }
        }
        for (lid, closure) in &plan.lids {
            self.draw_lash_line(lid, *closure, out);
        }
        if self.closes_mouth {
            plan.mouth.draw_seam(out, w, h);
        }
        if let Some(m) = masks {
            self.masks_into(&plan, m);
        }
    }

    /// The triangles of one frame in drawing order, bucketed by band.
    fn plan(&self, motion: &MotionFrame) -> FramePlan {
        let g = self.rig.targets(motion);
        let src = &self.rig.source;
        let head_still = motion.head == crate::motion::HeadMotion::default();
        let gaze = self.gaze_shifts(motion);
        let moving_eyes = gaze != [[0.0; 2]; 2];
        let mut keyed: Vec<(f32, Scan)> = Vec::with_capacity(self.rig.triangles.len());
        for t in &self.rig.triangles {
            let [a, b, c] = t.v.map(|i| i as usize);
            let corners = [a, b, c].map(|i| [g.target[i][0], g.target[i][1]]);
            let from = [src[a], src[b], src[c]];
            // Back-facing triangles (turned away, or folded by the
            // expression) are drawn first, under everything else: where no
            // front-facing triangle covers them they fill the gap with the
            // nearby texture instead of leaving the source's stale pixels.
            // Triangles hidden in the source but facing the camera now are
            // drawn normally; their thin source strip stretches over the gap.
            let da = signed_area2(corners[0], corners[1], corners[2]);
            let back = da * self.rig.front_sign <= 0.0;
            // Without a head change (a dub, still mode) nothing turns away,
            // so the fill is not needed, and drawing it could cover still
            // triangles that are not redrawn.
            if back && (!t.face || t.kind != TriangleKind::Surface || head_still) {
                continue;
            }
            let map = match t.kind {
                TriangleKind::Eye => {
                    let rigid = [a, b, c].map(|i| g.rigid[i]);
                    Affine::between(rigid, from).or_else(|| Affine::between(corners, from))
                }
                _ => Affine::between(corners, from),
            };
            let Some(map) = map else { continue };
            // A triangle that did not move shows the source's own pixels,
            // which the frame already holds: nothing to draw (a dub moves
            // only the jaw; still mode only the face).
            let still = t.kind != TriangleKind::Mouth
                && [a, b, c].iter().all(|&i| {
                    (g.target[i][0] - src[i][0]).abs() < 1e-3
                        && (g.target[i][1] - src[i][1]).abs() < 1e-3
                });
            let draw = !(still && t.kind == TriangleKind::Surface);
            // Painter's order: rings first, then the mouth and eye
            // interiors (behind the lips and lids), then the face surface
            // from far to near (larger depth = farther).
            let depth = if !t.face || back {
                f32::INFINITY
            } else if t.kind != TriangleKind::Surface {
                f32::MAX
            } else {
                (g.target[a][2] + g.target[b][2] + g.target[c][2]) / 3.0
            };
            keyed.push((
                depth,
                Scan {
                    corners,
                    map,
                    kind: t.kind,
                    face: t.face,
                    mouth_region: t.mouth_region || t.kind == TriangleKind::Mouth,
                    draw: draw && !(back && still),
                    gaze: (t.kind == TriangleKind::Eye && moving_eyes)
                        .then(|| self.nearest_eye(from)),
                    layer: match t.kind {
                        TriangleKind::Mouth | TriangleKind::Eye => Layer::Interior,
                        TriangleKind::Surface if t.face && !back => Layer::Face,
                        TriangleKind::Surface => Layer::Around,
                    },
                },
            ));
        }
        keyed.sort_by(|x, y| y.0.total_cmp(&x.0));
        let scans: Vec<Scan> = keyed.into_iter().map(|(_, s)| s).collect();
        let n_bands = (self.height() as usize).div_ceil(BAND);
        let mut bands = vec![Vec::new(); n_bands];
        for (i, s) in scans.iter().enumerate().filter(|(_, s)| s.draw) {
            let ymin = s.corners.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
            let ymax = s.corners.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
            if !(ymin.is_finite() && ymax.is_finite()) || ymax < 0.0 {
                continue;
            }
            let b0 = (ymin.max(0.0) as usize) / BAND;
            let b1 = ((ymax.max(0.0) as usize) / BAND).min(n_bands - 1);
            for band in bands.iter_mut().take(b1 + 1).skip(b0) {
                band.push(i as u32);
            }
        }
        let mouth = MouthFrame::new(&self.rig.canonical.groups, |i| {
            [g.target[i][0], g.target[i][1]]
        });
        let groups = &self.rig.canonical.groups;
        let lids = [
            (&groups.right_eye_upper, motion.expression.blink_right),
            (&groups.left_eye_upper, motion.expression.blink_left),
        ]
        .into_iter()
        .filter(|(_, c)| *c > LASH_START)
        .map(|(ids, c)| {
            (
                ids.iter()
                    .map(|&i| [g.target[i][0], g.target[i][1]])
                    .collect(),
                c,
            )
        })
        .collect();
        FramePlan {
            scans,
            bands,
            mouth,
            lids,
            gaze,
            head_still,
        }
    }

    /// Per eye, the iris shift in source pixels for `motion`'s gaze (zero
    /// without a gaze, or when it is the source's own).
    fn gaze_shifts(&self, motion: &MotionFrame) -> [[f32; 2]; 2] {
        let Some(g) = motion.gaze.filter(|g| g.iter().all(|v| v.is_finite())) else {
            return [[0.0; 2]; 2];
        };
        let d = [0, 1].map(|k| (g[k] - self.source_gaze[k]).clamp(-GAZE_MAX[k], GAZE_MAX[k]));
        if d[0].abs() < 1e-4 && d[1].abs() < 1e-4 {
            return [[0.0; 2]; 2];
        }
        self.eyes.map(|e| e.shift(d))
    }

    /// Which eye a source triangle lies in.
    fn nearest_eye(&self, tri: [[f32; 2]; 3]) -> usize {
        let c = [
            (tri[0][0] + tri[1][0] + tri[2][0]) / 3.0,
            (tri[0][1] + tri[1][1] + tri[2][1]) / 3.0,
        ];
        let d2 = |e: &EyeFrame| {
            let m = e.centre();
            (m[0] - c[0]).powi(2) + (m[1] - c[1]).powi(2)
        };
        usize::from(d2(&self.eyes[1]) < d2(&self.eyes[0]))
    }

    /// Scans band `b` (its rows are `rows`, RGB24), recording in `layers`
    /// (one byte per pixel of the band) what drew each pixel.
    fn scan_band(
        &self,
        plan: &FramePlan,
        b: usize,
        rows: &mut [u8],
        mut layers: Option<&mut [u8]>,
        w: usize,
    ) {
        let y0 = (b * BAND) as i32;
        let n_rows = (rows.len() / (w * 3)) as i32;
        let (data, sw, sh) = (self.src.as_raw().as_slice(), w as i32, self.height() as i32);
        for &i in &plan.bands[b] {
            let s = &plan.scans[i as usize];
            let a = s.map.0;
            let mouth = s.kind == TriangleKind::Mouth;
            for_each_span(&s.corners, y0..y0 + n_rows, w as i32, |y, x0, x1| {
                if let Some(l) = layers.as_deref_mut() {
                    let r = (y - y0) as usize * w;
                    l[r + x0 as usize..r + x1 as usize].fill(s.layer as u8);
                }
                let row = &mut rows[(y - y0) as usize * w * 3..][..w * 3];
                let span = &mut row[x0 as usize * 3..x1 as usize * 3];
                if let Some(e) = s.gaze {
                    // The eyeball with the iris moved: each pixel samples
                    // the source shifted back by its share of the gaze.
                    let (eye, d) = (&self.eyes[e], plan.gaze[e]);
                    for (k, px) in span.chunks_exact_mut(3).enumerate() {
                        let (sx, sy) = s.map.apply((x0 + k as i32) as f32, y as f32);
                        let wgt = eye.weight(sx, sy);
                        px.copy_from_slice(&sample_u8(
                            data,
                            sw,
                            sh,
                            sx - d[0] * wgt,
                            sy - d[1] * wgt,
                        ));
                    }
                } else if mouth {
                    for (k, px) in span.chunks_exact_mut(3).enumerate() {
                        let x = (x0 + k as i32) as f32;
                        let (sx, sy) = s.map.apply(x, y as f32);
                        let c = sample(&self.src, sx, sy);
                        let c = self.look.shade(&self.src, &plan.mouth, x, y as f32, c);
                        px.copy_from_slice(&to_u8(c));
                    }
                } else {
                    // Stepping the affine map along the row.
                    let (mut sx, mut sy) = s.map.apply(x0 as f32, y as f32);
                    for px in span.chunks_exact_mut(3) {
                        px.copy_from_slice(&sample_u8(data, sw, sh, sx, sy));
                        sx += a[0];
                        sy += a[3];
                    }
                }
            });
        }
    }

    /// Darkens a closing eye's seam along the upper lid, so a closed eye
    /// shows its lash line as in life (the warp alone stretches the lashes
    /// thin). Strength rises with the closure.
    fn draw_lash_line(&self, lid: &[[f32; 2]], closure: f32, out: &mut [u8]) {
        let (w, h) = (self.width() as i32, self.height() as i32);
        let (a, b) = (lid[0], lid[lid.len() - 1]);
        let eye_w = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let r = (0.055 * eye_w).max(1.0);
        let k = 0.8 * smooth(LASH_START, 0.9, closure);
        let lash = self.look.lash;
        let x0 = (lid.iter().map(|p| p[0]).fold(f32::MAX, f32::min) - r)
            .floor()
            .max(0.0) as i32;
        let x1 = (lid.iter().map(|p| p[0]).fold(f32::MIN, f32::max) + r)
            .ceil()
            .min((w - 1) as f32) as i32;
        let y0 = (lid.iter().map(|p| p[1]).fold(f32::MAX, f32::min) - r)
            .floor()
            .max(0.0) as i32;
        let y1 = (lid.iter().map(|p| p[1]).fold(f32::MIN, f32::max) + r)
            .ceil()
            .min((h - 1) as f32) as i32;
        for y in y0..=y1 {
            for x in x0..=x1 {
                let p = [x as f32, y as f32];
                let d = lid
                    .windows(2)
                    .map(|s| segment_distance(p, s[0], s[1]))
                    .fold(f32::MAX, f32::min);
                // Thinner toward the corners.
                let t = ((p[0] - a[0]) / (b[0] - a[0]).abs().max(1e-3)).clamp(0.0, 1.0);
                let taper = 0.45 + 0.55 * (1.0 - (2.0 * t - 1.0).powi(2));
                let s = k * (1.0 - d / (r * taper)).clamp(0.0, 1.0);
                if s > 0.0 {
                    let i = (y * w + x) as usize * 3;
                    for c in 0..3 {
                        let v = out[i + c] as f32;
                        out[i + c] = (v + (lash[c] - v) * s + 0.5) as u8;
                    }
                }
            }
        }
    }

    /// Face and mouth masks of a planned frame, feathered.
    fn masks_into(&self, plan: &FramePlan, m: &mut FrameMasks) {
        let (w, h) = (self.width() as usize, self.height() as usize);
        m.face.clear();
        m.face.resize(w * h, 0);
        m.mouth.clear();
        m.mouth.resize(w * h, 0);
        for s in plan.scans.iter().filter(|s| s.face) {
            for_each_span(&s.corners, 0..h as i32, w as i32, |y, x0, x1| {
                let r = y as usize * w;
                m.face[r + x0 as usize..r + x1 as usize].fill(255);
                if s.mouth_region {
                    m.mouth[r + x0 as usize..r + x1 as usize].fill(255);
                }
            });
        }
        // Feather only around the face: the rest of the mask stays zero.
        let sigma = (w.max(h) as f32 / 256.0).max(1.0);
        let pad = (3.0 * sigma).ceil() as usize + 1;
        let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
        for s in plan.scans.iter().filter(|s| s.face) {
            for p in &s.corners {
                x0 = x0.min(p[0].max(0.0) as usize);
                y0 = y0.min(p[1].max(0.0) as usize);
                x1 = x1.max((p[0].max(0.0) as usize + 1).min(w));
                y1 = y1.max((p[1].max(0.0) as usize + 1).min(h));
            }
        }
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let (x0, y0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
        let (x1, y1) = ((x1 + pad).min(w), (y1 + pad).min(h));
        let (bw, bh) = (x1 - x0, y1 - y0);
        for mask in [&mut m.face, &mut m.mouth] {
            let mut part = Vec::with_capacity(bw * bh);
            for y in y0..y1 {
                part.extend_from_slice(&mask[y * w + x0..y * w + x1]);
            }
            let img = image::GrayImage::from_raw(bw as u32, bh as u32, part).expect("sized above");
            let blurred = image::imageops::fast_blur(&img, sigma).into_raw();
            for (y, row) in (y0..y1).zip(blurred.chunks_exact(bw)) {
                mask[y * w + x0..y * w + x1].copy_from_slice(row);
            }
        }
    }
}

#[cfg(test)]
mod tests;
