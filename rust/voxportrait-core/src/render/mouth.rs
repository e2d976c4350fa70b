//! The mouth interior: what shows between the parted lips.
//!
//! Pixels inside the target inner-lip outline are placed in mouth
//! coordinates: `u` across the mouth (0 at the subject's right inner corner,
//! 1 at the left), and their distance below the upper inner lip (`dv`) and
//! above the lower one (`db`). Then:
//! - if the source mouth is open, its real pixels are reused: the top part
//!   of the opening is read at the same distance below the *source* upper
//!   lip (upper teeth move with the upper lip), the bottom part at the same
//!   distance above the source lower lip (lower teeth move with the jaw);
//! - whatever the source cannot supply (a closed source mouth, or an
//!   opening wider than the source's) is painted: upper teeth hanging from
//!   the upper lip along the dental arch, lower teeth along the lower lip
//!   when the jaw is well open, a tongue at the bottom, and a cavity that
//!   darkens toward the back, all coloured from the source's lips, skin and
//!   (when visible) teeth;
//! - a one-pixel ramp along the lips anti-aliases the edge.

use image::RgbImage;

use super::raster::sample;
use crate::face::canonical::FaceGroups;

/// How much the seam of closed lips darkens them at its middle.
const SEAM: f32 = 0.3;

/// Samples per mouth-outline table.
const TABLE: usize = 64;

/// Upper teeth height at the mouth centre, as a fraction of mouth width.
const UPPER_TEETH: f32 = 0.105;
/// Lower teeth height at the mouth centre, as a fraction of mouth width.
const LOWER_TEETH: f32 = 0.07;
/// Tooth boundaries from the centre outward, as fractions of mouth width
/// (central incisors, laterals, canines, premolars).
const TOOTH_EDGES: [f32; 5] = [0.0, 0.115, 0.205, 0.285, 0.35];

/// A mouth outline in its own frame: the inner corners, the axis between
/// them, and the upper and lower inner lips tabulated across the mouth.
#[derive(Debug, Clone)]
pub struct MouthFrame {
    origin: [f32; 2],
    ex: [f32; 2],
    ey: [f32; 2],
    /// Corner-to-corner width, pixels.
    pub width: f32,
    upper: [f32; TABLE],
    lower: [f32; TABLE],
}

impl MouthFrame {
    /// The frame of the inner lip outline `points` (image positions of all
    /// control points), using the canonical groups' inner lip ring.
    pub fn new(groups: &FaceGroups, points: impl Fn(usize) -> [f32; 2]) -> Self {
        let ring = &groups.lips_inner;
        let (left, right) = (points(ring[0]), points(ring[10]));
        let d = [right[0] - left[0], right[1] - left[1]];
        let width = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-3);
        let ex = [d[0] / width, d[1] / width];
        let ey = [-ex[1], ex[0]]; // image y-down: ey points below the mouth
        let local = |p: [f32; 2]| {
            let q = [p[0] - left[0], p[1] - left[1]];
            [
                (q[0] * ex[0] + q[1] * ex[1]) / width,
                q[0] * ey[0] + q[1] * ey[1],
            ]
        };
        let upper_pts: Vec<[f32; 2]> = ring[..=10].iter().map(|&i| local(points(i))).collect();
        let mut lower_pts: Vec<[f32; 2]> = std::iter::once(ring[10])
            .chain(ring[11..].iter().copied())
            .chain(std::iter::once(ring[0]))
            .map(|i| local(points(i)))
            .collect();
        lower_pts.reverse();
        Self {
            origin: left,
            ex,
            ey,
            width,
            upper: tabulate(&upper_pts),
            lower: tabulate(&lower_pts),
        }
    }

    /// Mouth coordinates of image point (x, y): `(u, dv, db)`.
    #[inline]
    fn locate(&self, x: f32, y: f32) -> (f32, f32, f32) {
        let q = [x - self.origin[0], y - self.origin[1]];
        let u = ((q[0] * self.ex[0] + q[1] * self.ex[1]) / self.width).clamp(0.0, 1.0);
        let v = q[0] * self.ey[0] + q[1] * self.ey[1];
        let (up, lo) = (lookup(&self.upper, u), lookup(&self.lower, u));
        (u, v - up, lo - v)
    }

    /// Image position at mouth coordinate `u`, `v` pixels below the axis.
    #[inline]
    fn at(&self, u: f32, v: f32) -> (f32, f32) {
        let s = u * self.width;
        (
            self.origin[0] + s * self.ex[0] + v * self.ey[0],
            self.origin[1] + s * self.ex[1] + v * self.ey[1],
        )
    }

    /// Opening height (lower minus upper lip) at `u`, pixels.
    #[inline]
    fn opening(&self, u: f32) -> f32 {
        lookup(&self.lower, u) - lookup(&self.upper, u)
    }

    /// Darkens the line where closed lips meet, as in life (a soft crease
    /// in the lips' own colour, strongest in the middle, fading toward the
    /// corners and as the lips part). Where the lips are open the interior
    /// has its own edge.
    pub fn draw_seam(&self, out: &mut [u8], w: usize, h: usize) {
        let sigma = (0.012 * self.width).max(0.7);
        let reach = 2.5 * sigma;
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for k in 0..TABLE {
            let u = k as f32 / (TABLE - 1) as f32;
            for v in [self.upper[k], self.lower[k]] {
                let (x, y) = self.at(u, v);
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            }
        }
        let clamp = |v: f32, n: usize| (v.max(0.0) as usize).min(n);
        let (cx0, cx1) = (clamp(x0 - reach, w), clamp(x1 + reach + 1.0, w));
        let (cy0, cy1) = (clamp(y0 - reach, h), clamp(y1 + reach + 1.0, h));
        for y in cy0..cy1 {
            for x in cx0..cx1 {
                let (px, py) = (x as f32, y as f32);
                let q = [px - self.origin[0], py - self.origin[1]];
                let u = (q[0] * self.ex[0] + q[1] * self.ex[1]) / self.width;
                if !(0.0..=1.0).contains(&u) {
                    continue;
                }
                let v = q[0] * self.ey[0] + q[1] * self.ey[1];
                let (up, lo) = (lookup(&self.upper, u), lookup(&self.lower, u));
                let gap = lo - up;
                let closed = 1.0 - smoothstep(0.5, 2.5, gap);
                if closed <= 0.0 {
                    continue;
                }
                let d = (v - 0.5 * (up + lo)).abs();
                if d > reach {
                    continue;
                }
                let c = 2.0 * u - 1.0;
                let taper = (1.0 - c * c).max(0.0).sqrt();
                let k = SEAM * closed * taper * (-(d * d) / (2.0 * sigma * sigma)).exp();
                let i = 3 * (y * w + x);
                for px in &mut out[i..i + 3] {
                    *px = (*px as f32 * (1.0 - k) + 0.5) as u8;
                }
            }
        }
    }

    /// Largest opening across the mouth, pixels.
    pub fn max_opening(&self) -> f32 {
        self.upper
            .iter()
            .zip(&self.lower)
            .map(|(u, l)| l - u)
            .fold(0.0, f32::max)
    }
}

/// Piecewise-linear y(u) through `pts` (u, y), sampled at TABLE points.
fn tabulate(pts: &[[f32; 2]]) -> [f32; TABLE] {
    let mut sorted = pts.to_vec();
    sorted.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let mut out = [0.0; TABLE];
    for (k, o) in out.iter_mut().enumerate() {
        let u = k as f32 / (TABLE - 1) as f32;
        let j = sorted.partition_point(|p| p[0] < u);
        *o = if j == 0 {
            sorted[0][1]
        } else if j == sorted.len() {
            sorted[j - 1][1]
        } else {
            let (a, b) = (sorted[j - 1], sorted[j]);
            let t = if b[0] > a[0] {
                (u - a[0]) / (b[0] - a[0])
            } else {
                0.0
            };
            a[1] + t * (b[1] - a[1])
        };
    }
    out
}

#[inline]
fn lookup(table: &[f32; TABLE], u: f32) -> f32 {
    let f = u.clamp(0.0, 1.0) * (TABLE - 1) as f32;
    let i = (f as usize).min(TABLE - 2);
    let t = f - i as f32;
    table[i] + (table[i + 1] - table[i]) * t
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// A colour of luminance `lum` whose chroma is `reference`'s times
/// `gain` (a gray reference gives a gray colour).
fn tint(lum: f32, reference: [f32; 3], gain: f32) -> [f32; 3] {
    let l = luma(reference).max(1.0);
    reference.map(|c| (lum * (1.0 + gain * (c / l - 1.0))).clamp(0.0, 255.0))
}

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// How far (pixels) inside each inner-lip landmark of `points` the lip's
/// own colour begins, one value per vertex of the inner lip ring (0 at the
/// corners). FaceMesh puts the inner lip a few pixels off the true edge
/// now and then, over teeth or the dark interior; a mouth closed from an
/// open photo would show those pixels as a line of teeth or a dark seam
/// where the lips meet. Walking from the landmark toward the middle of the
/// lip until the colour is the lip's finds where the lip really starts.
pub fn lip_insets(src: &RgbImage, groups: &FaceGroups, points: &[[f32; 2]]) -> Vec<f32> {
    let n = groups.lips_inner.len();
    groups
        .lips_inner
        .iter()
        .zip(&groups.lips_outer)
        .enumerate()
        .map(|(k, (&i, &o))| {
            let (p, q) = (points[i], points[o]);
            let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
            let thick = (dx * dx + dy * dy).sqrt();
            if k == 0 || k == n / 2 || thick < 2.0 {
                return 0.0;
            }
            let at = |t: f32| sample(src, p[0] + t * dx / thick, p[1] + t * dy / thick);
            // The lip's colour near its outer edge, where nothing else shows.
            let lip = mix(at(0.7 * thick), at(0.85 * thick), 0.5);
            let far = |c: [f32; 3]| {
                ((c[0] - lip[0]).powi(2) + (c[1] - lip[1]).powi(2) + (c[2] - lip[2]).powi(2)).sqrt()
            };
            let tol = (0.2 * far(at(0.0))).clamp(14.0, 32.0);
            let limit = 0.65 * thick;
            let mut t = 0.0;
            // Two pixels of lip in a row: an edge between teeth and cavity
            // can blend to a lip-like colour for a single sample.
            let lip_at =
                |t: f32| far(at(t)) <= tol && far(at(t + 1.0)) <= tol && far(at(t + 2.0)) <= tol;
            while t < limit && !lip_at(t) {
                t += 0.5;
            }
            // One more pixel so the edge's blend is left behind too.
            (t + 1.0).min(limit)
        })
        .collect()
}

/// Colours and the source mouth, measured once per portrait.
#[derive(Debug, Clone)]
pub struct MouthLook {
    /// The source's own mouth outline.
    pub source: MouthFrame,
    /// How much of the interior the source's real pixels supply (0 for a
    /// closed source mouth, 1 for one open by a few pixels or more).
    real: f32,
    /// Mean luminance of the source's open interior over its skin's (0
    /// for a closed mouth): bright when teeth fill it, dark for a cavity.
    interior_light: f32,
    teeth: [f32; 3],
    /// Mean colour of the lips.
    lip: [f32; 3],
    cavity: [f32; 3],
    tongue: [f32; 3],
    /// Colour of the upper lash line (the darkest pixels along the upper
    /// lids), for closed eyes.
    pub lash: [f32; 3],
}

impl MouthLook {
    /// Measures the source mouth: its outline, lip and skin colours, and
    /// the colour of its teeth when they show.
    pub fn new(src: &RgbImage, groups: &FaceGroups, source_points: &[[f32; 2]]) -> Self {
        let frame = MouthFrame::new(groups, |i| source_points[i]);
        // Lip colour: between the inner and outer outlines.
        let mut lip = [0.0f32; 3];
        for (&a, &b) in groups.lips_inner.iter().zip(&groups.lips_outer) {
            let (p, q) = (source_points[a], source_points[b]);
            let c = sample(src, 0.5 * (p[0] + q[0]), 0.5 * (p[1] + q[1]));
            for k in 0..3 {
                lip[k] += c[k] / groups.lips_inner.len() as f32;
            }
        }
        // Skin brightness around the mouth and cheeks sets the light level.
        let skin: f32 = groups
            .lips_outer
            .iter()
            .map(|&i| {
                let p = source_points[i];
                let c = [
                    p[0] + 0.6 * (p[0] - frame.origin[0] - 0.5 * frame.width * frame.ex[0]),
                    p[1] + 0.6 * (p[1] - frame.origin[1] - 0.5 * frame.width * frame.ex[1]),
                ];
                luma(sample(src, c[0], c[1]))
            })
            .sum::<f32>()
            / groups.lips_outer.len() as f32;
        let light = (skin / 175.0).clamp(0.45, 1.1);
        let opening = frame.max_opening();
        let real = smoothstep(0.025, 0.07, opening / frame.width);
        // Teeth colour: the brightest third of the source interior when it
        // is open, else a plain enamel tone at the portrait's light level.
        // Painted colours take their hue from the portrait's own lips, so a
        // grayscale photo stays gray and a sepia painting sepia.
        let mut teeth = tint(229.0 * light, lip, 0.12);
        let mut interior_light = 0.0;
        if real > 0.0 {
            let mut px = Vec::new();
            for i in 0..24 {
                let u = 0.2 + 0.6 * i as f32 / 23.0;
                let h = frame.opening(u);
                for j in 1..6 {
                    let v = lookup(&frame.upper, u) + h * j as f32 / 6.0;
                    let (x, y) = frame.at(u, v);
                    px.push(sample(src, x, y));
                }
            }
            interior_light =
                px.iter().map(|c| luma(*c)).sum::<f32>() / px.len() as f32 / skin.max(1.0);
            px.sort_by(|a, b| luma(*b).total_cmp(&luma(*a)));
            let top = &px[..px.len() / 3];
            let mean = top
                .iter()
                .fold([0.0f32; 3], |m, c| [m[0] + c[0], m[1] + c[1], m[2] + c[2]]);
            let found = mean.map(|x| x / top.len() as f32);
            if luma(found) > 0.55 * luma(teeth) {
                teeth = found;
            }
        }
        let lash = groups
            .right_eye_upper
            .iter()
            .chain(&groups.left_eye_upper)
            .map(|&i| {
                let p = source_points[i];
                // Just above the lid margin, where the lashes are.
                sample(src, p[0], p[1] - 0.5)
            })
            .min_by(|a, b| luma(*a).total_cmp(&luma(*b)))
            .unwrap_or([40.0, 30.0, 25.0]);
        Self {
            source: frame,
            lash,
            real,
            interior_light,
            teeth,
            lip,
            cavity: tint(0.28 * luma(lip), lip, 1.6),
            tongue: tint(0.55 * luma(lip), lip, 1.4),
        }
    }

    /// How much of the source's mouth opening the jaw made, judged by what
    /// shows between the lips: teeth (bright: lips parted over closed
    /// teeth, as in a smile) or a dark cavity (an open jaw).
    pub fn jaw_share(&self) -> f32 {
        1.0 - 0.8 * smoothstep(0.45, 0.8, self.interior_light)
    }

    /// Colour of interior pixel (x, y) of a frame whose mouth is `target`;
    /// `warped` is the plain warp's colour there, used along the lip edge.
    #[inline]
    pub fn shade(
        &self,
        src: &RgbImage,
        target: &MouthFrame,
        x: f32,
        y: f32,
        warped: [f32; 3],
    ) -> [f32; 3] {
        let (u, dv, db) = target.locate(x, y);
        let edge = (dv.min(db) + 0.5).clamp(0.0, 1.0);
        if edge <= 0.0 {
            return warped;
        }
        // Lips that (nearly) touch where the photo's were apart show lip, a
        // little shadowed, not a sliver of interior (at the corners of a
        // closing mouth). Where the photo's own lips are as close, its own
        // pixels stay.
        let closing = self.source.opening(u) * target.width / self.source.width > dv + db + 1.0;
        let open = if closing {
            smoothstep(0.5, 2.5, dv + db)
        } else {
            1.0
        };
        if open <= 0.0 {
            return mix(warped, self.lip.map(|c| c * 0.85), edge);
        }
        let painted = self.paint(target, u, dv, db);
        let inner = if self.real > 0.0 {
            let k = self.source.width / target.width;
            let hs = self.source.opening(u);
            let (sdv, sdb) = (dv * k, db * k);
            let real = if sdv <= 0.6 * hs {
                Some(self.source.at(u, lookup(&self.source.upper, u) + sdv))
            } else if sdb <= 0.4 * hs {
                Some(self.source.at(u, lookup(&self.source.lower, u) - sdb))
            } else {
                None
            };
            match real {
                Some((sx, sy)) => mix(painted, sample(src, sx, sy), self.real),
                None => painted,
            }
        } else {
            painted
        };
        let inner = mix(self.lip.map(|c| c * 0.85), inner, open);
        mix(warped, inner, edge)
    }

    /// The painted interior at mouth coordinates (u, dv, db).
    fn paint(&self, m: &MouthFrame, u: f32, dv: f32, db: f32) -> [f32; 3] {
        let w = m.width;
        let h = (dv + db).max(1e-3);
        // Dental arch: teeth show less toward the corners, and darker.
        let c = 2.0 * u - 1.0;
        let arch = (1.0 - (c / 0.92).powi(2)).max(0.0).sqrt();
        let corner_shade = 0.55 + 0.45 * arch;
        let upper = UPPER_TEETH * w * arch;
        let lower = LOWER_TEETH * w * arch * smoothstep(0.08, 0.25, h / w);
        // Thin dark gaps between teeth.
        let off = (c.abs() * 0.5) * w; // pixels from the mouth centre
        let gap = TOOTH_EDGES
            .iter()
            .map(|&e| (1.0 - ((off - e * w).abs() / 0.8)).max(0.0))
            .fold(0.0f32, f32::max);
        let tooth = |base: [f32; 3], depth: f32| {
            let k = corner_shade * (1.0 - 0.28 * gap) * depth;
            base.map(|x| x * k)
        };
        // Cavity: darkest at the back (middle of the opening).
        let depth = (dv.min(db) / (0.5 * h)).clamp(0.0, 1.0);
        // ... and in the shadow of the upper lip.
        let under_upper = 0.6 + 0.4 * smoothstep(0.0, 0.3 * h, dv);
        let mut col = self
            .cavity
            .map(|x| x * (1.8 - 1.1 * depth) * corner_shade * under_upper);
        // Tongue at the bottom, behind the lower teeth.
        if h > 0.06 * w {
            let tu = c / 0.55;
            let tv = (db - lower) / (0.3 * h).max(1.0);
            let r = tu * tu + tv * tv;
            let k = smoothstep(1.0, 0.7, r) * smoothstep(0.1, 0.22, h / w);
            // Lit at the tip, darker toward the back of the mouth.
            let shade = 0.6 + 0.4 * (1.0 - tv.clamp(0.0, 1.0));
            col = mix(col, self.tongue.map(|x| x * shade * corner_shade), k);
        }
        let lower_k = smoothstep(lower + 0.5, lower - 0.5, db) * (lower > 0.5) as u8 as f32;
        col = mix(col, tooth(self.teeth, 0.86), lower_k);
        // Upper teeth in front of everything, shadowed under the lip.
        let upper_k = smoothstep(upper + 0.5, upper - 0.5, dv);
        let under_lip = 0.6 + 0.4 * smoothstep(0.0, 0.45 * upper.max(1.0), dv);
        mix(col, tooth(self.teeth, under_lip), upper_k)
    }
}

#[inline]
fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_interpolate_and_clamp() {
        let t = tabulate(&[[0.0, 0.0], [0.5, -4.0], [1.0, 0.0]]);
        assert!((lookup(&t, 0.25) + 2.0).abs() < 0.1);
        assert!((lookup(&t, 0.5) + 4.0).abs() < 0.1);
        assert_eq!(lookup(&t, 2.0), t[TABLE - 1]);
    }
}
