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

fn luma(c: [f32; 3]) -> f32 {
    0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
}

/// Colours and the source mouth, measured once per portrait.
#[derive(Debug, Clone)]
pub struct MouthLook {
    /// The source's own mouth outline.
    pub source: MouthFrame,
    /// How much of the interior the source's real pixels supply (0 for a
    /// closed source mouth, 1 for one open by a few pixels or more).
    real: f32,
    teeth: [f32; 3],
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
        let mut teeth = [236.0 * light, 230.0 * light, 214.0 * light];
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
            teeth,
            cavity: [lip[0] * 0.42, lip[1] * 0.2, lip[2] * 0.2],
            tongue: [lip[0] * 0.72, lip[1] * 0.4, lip[2] * 0.42],
        }
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
        let mut col = self
            .cavity
            .map(|x| x * (1.15 - 0.45 * depth) * corner_shade);
        // Tongue at the bottom, behind the lower teeth.
        if h > 0.06 * w {
            let tu = c / 0.55;
            let tv = (db - lower) / (0.3 * h).max(1.0);
            let r = tu * tu + tv * tv;
            let k = smoothstep(1.0, 0.7, r) * smoothstep(0.06, 0.16, h / w);
            // Lit at the tip, darker toward the back of the mouth.
            let shade = 0.6 + 0.4 * (1.0 - tv.clamp(0.0, 1.0));
            col = mix(col, self.tongue.map(|x| x * shade * corner_shade), k);
        }
        let lower_k = smoothstep(lower + 0.5, lower - 0.5, db) * (lower > 0.5) as u8 as f32;
        col = mix(col, tooth(self.teeth, 0.86), lower_k);
        // Upper teeth in front of everything, shadowed under the lip.
        let upper_k = smoothstep(upper + 0.5, upper - 0.5, dv);
        let under_lip = 0.72 + 0.28 * smoothstep(0.0, 0.3 * upper.max(1.0), dv);
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
