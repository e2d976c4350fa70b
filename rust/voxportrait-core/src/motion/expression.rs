//! The expression basis: a small set of interpretable coefficients, each a
//! deterministic displacement field over the canonical 468-vertex face.

use serde::{Deserialize, Serialize};

use crate::face::canonical::CanonicalFace;

/// Expression coefficients of one frame. 0 is the source portrait's own
/// expression; each coefficient is about 0..1 (1 = the full, natural
/// extreme), and the basis stays well-behaved a little beyond.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Expression {
    /// Jaw opening: a rotation of the jaw, chin and lower lip about the
    /// jaw hinge (1 ≈ 22°, a wide "aa").
    pub jaw_open: f32,
    /// Lips pressed together (p, b, m): closes the lip opening whatever the
    /// jaw does.
    pub lip_close: f32,
    /// Lips rounded and pushed forward (oo, w).
    pub lip_pucker: f32,
    /// Lips spread sideways, corners back and up (ee, smile).
    pub lip_spread: f32,
    /// Upper lip raised, showing the upper teeth (sh, ch).
    pub upper_lip_raise: f32,
    /// Lower lip drawn up and in under the upper teeth (f, v).
    pub lower_lip_tuck: f32,
    /// Subject's left eye closing (1 = closed).
    pub blink_left: f32,
    /// Subject's right eye closing (1 = closed).
    pub blink_right: f32,
    /// Both brows raised (negative values lower them a little).
    pub brow_raise: f32,
}

impl Expression {
    /// Coefficient names in array order (the columns of the Python API's
    /// `[N, 9]` arrays).
    pub const NAMES: [&'static str; 9] = [
        "jaw_open",
        "lip_close",
        "lip_pucker",
        "lip_spread",
        "upper_lip_raise",
        "lower_lip_tuck",
        "blink_left",
        "blink_right",
        "brow_raise",
    ];

    /// The coefficients in [`Expression::NAMES`] order.
    pub fn to_array(&self) -> [f32; 9] {
        [
            self.jaw_open,
            self.lip_close,
            self.lip_pucker,
            self.lip_spread,
            self.upper_lip_raise,
            self.lower_lip_tuck,
            self.blink_left,
            self.blink_right,
            self.brow_raise,
        ]
    }

    /// Coefficients from an array in [`Expression::NAMES`] order.
    pub fn from_array(a: [f32; 9]) -> Self {
        Self {
            jaw_open: a[0],
            lip_close: a[1],
            lip_pucker: a[2],
            lip_spread: a[3],
            upper_lip_raise: a[4],
            lower_lip_tuck: a[5],
            blink_left: a[6],
            blink_right: a[7],
            brow_raise: a[8],
        }
    }

    /// True when every coefficient is zero (the source's own expression).
    pub fn is_neutral(&self) -> bool {
        *self == Expression::default()
    }
}

/// Jaw hinge (temporomandibular joint) in canonical cm: in front of the
/// ear points 234/454 at (±7.66, 0.67, −2.44), a little lower and deeper.
pub const JAW_HINGE: [f32; 3] = [0.0, 0.2, -3.0];

/// Distance from the upper lid to the lower edge of the brow, canonical cm
/// (1.5 on the canonical face): the skin a blink unfolds.
const LID_TO_BROW: f32 = 1.5;

/// Jaw rotation at `jaw_open = 1`, radians (22°, a wide "aa").
pub const JAW_MAX_ANGLE: f32 = 0.384;

/// Aperture of closed lips (inner-lip gap at the middle over the outer
/// eye-corner distance), the zero a portrait's own opening is measured
/// from. MediaPipe's FaceMesh reads 0.005–0.02 on real closed lips; the
/// canonical face's lips are parted (about 0.06), so a portrait whose lips
/// part as far (0.03–0.06: a common photo mouth) measured as closed against
/// it and never closed under speech.
pub const CLOSED_APERTURE: f32 = 0.015;

/// The expression basis over the canonical face: for each coefficient of
/// [`Expression`], a deterministic displacement of the 468 canonical
/// vertices (centimetres), built once from the mesh's named vertex groups.
///
/// Applied in this order by [`ExpressionBasis::apply`]:
/// 1. the linear fields (pucker, spread, upper-lip raise, lower-lip tuck,
///    brows), each `coefficient × field`;
/// 2. the jaw: vertices rotate about the hinge axis (x through
///    [`JAW_HINGE`]) by `jaw_open × JAW_MAX_ANGLE`, each by its jaw weight
///    (1 on the chin, the jaw line and the lower lip; 0 on the upper lip and
///    everything above the mouth; a smooth ramp over the cheeks), so the
///    chin swings down and back on an arc instead of stretching;
/// 3. lip closure: the remaining gap between the inner lips (after the
///    jaw, measured across the mouth at each vertex's x, so an oval
///    opening closes along its whole length without the lips crossing at
///    the sides) closes by `lip_close`, the lower lip travelling 70 % of
///    the way and the upper 30 %, with the surrounding skin following;
/// 4. blinks: each upper lid descends onto its lower lid (85 % of the
///    opening; the lower lid rises 15 %); the lid skin up to the brow
///    follows with a weight falling linearly from 1 at the lid to 0 at the
///    brow, so the lid unfolds rather than the lash line stretching.
#[derive(Debug, Clone)]
pub struct ExpressionBasis {
    jaw_weight: Vec<f32>,
    lower_lip: Vec<f32>,
    upper_lip: Vec<f32>,
    pucker: Vec<[f32; 3]>,
    spread: Vec<[f32; 3]>,
    upper_raise: Vec<[f32; 3]>,
    lower_tuck: Vec<[f32; 3]>,
    brow: Vec<[f32; 3]>,
    /// Per eye (subject's right, left): (vertex, weight, paired upper
    /// vertex, paired lower vertex) of every moving vertex.
    lids: [Vec<(usize, f32, usize, usize)>; 2],
    /// Inner-lip mid points (upper 13, lower 14) that measure the gap.
    lip_mid: (usize, usize),
    /// Mouth corners (subject's right, left).
    corners: (usize, usize),
    /// Inner lip outlines, corner to corner (both include the corners).
    inner_upper: Vec<usize>,
    inner_lower: Vec<usize>,
    /// The canonical face's mouth: its smile and width are the zero of
    /// [`MouthState`].
    canonical_mouth: MouthGeometry,
    /// Inner-lip gap of closed lips ([`CLOSED_APERTURE`] of the canonical
    /// eye-corner distance), the zero of [`MouthState`]'s openings: the
    /// canonical face's own lips are parted.
    closed_gap: f32,
    /// What one unit of `jaw_open` adds to the inner-lip gap (cm).
    gap_per_jaw: f32,
    /// What one unit of `lip_spread` adds to the corners' lift (cm).
    lift_per_spread: f32,
}

/// Samples of [`GapProfile`] across the mouth.
const GAP_SAMPLES: usize = 24;

/// The inner-lip gap tabulated across the mouth, corner to corner.
struct GapProfile {
    x0: f32,
    x1: f32,
    gap: [f32; GAP_SAMPLES],
}

impl GapProfile {
    /// The gap at canonical x (held at the corners' value beyond them).
    fn at(&self, x: f32) -> f32 {
        let f = ((x - self.x0) / (self.x1 - self.x0).max(1e-6)).clamp(0.0, 1.0)
            * (GAP_SAMPLES - 1) as f32;
        let i = (f as usize).min(GAP_SAMPLES - 2);
        let t = f - i as f32;
        self.gap[i] + (self.gap[i + 1] - self.gap[i]) * t
    }
}

/// The few distances of a mouth that [`MouthState`] compares (canonical cm).
#[derive(Debug, Clone, Copy)]
struct MouthGeometry {
    /// Inner-lip gap at the middle (13 over 14).
    gap: f32,
    /// Corner height above the upper inner lip's middle (negative: below).
    lift: f32,
    /// Corner-to-corner width.
    width: f32,
}

/// A face's own mouth measured on the expression basis: openings relative
/// to closed lips, width and smile relative to the canonical face's relaxed
/// mouth.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MouthState {
    /// `jaw_open` that opens the canonical mouth as far as this one (0 for
    /// a closed mouth).
    pub jaw_open: f32,
    /// Inner-lip gap at the middle, as a fraction of the mouth width.
    pub lip_opening: f32,
    /// Mouth width over the canonical face's (1 = as wide).
    pub spread: f32,
    /// `lip_spread` whose corner lift matches this mouth's with the jaw
    /// closed (0 = relaxed, about 1 = a broad smile, negative = corners down).
    pub smile: f32,
}

/// What the portrait's own mouth becomes at rest, the state speech moves
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestingMouth {
    /// Close any opening (lips together, teeth hidden) and keep the
    /// photo's smile.
    #[default]
    KeepSmile,
    /// Close any opening and relax a smile too.
    Neutral,
    /// The photo's mouth as it is (an open mouth stays open under speech).
    Photo,
}

impl RestingMouth {
    /// Every choice's name, in the order help texts list them.
    pub const NAMES: [&'static str; 3] = ["keep-smile", "neutral", "photo"];

    /// Parses `keep-smile`, `neutral` or `photo`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "keep-smile" | "smile" => Ok(Self::KeepSmile),
            "neutral" => Ok(Self::Neutral),
            "photo" | "as-photo" | "keep" => Ok(Self::Photo),
            other => Err(crate::Error::Input(format!(
                "unknown resting mouth {other:?}; use keep-smile, neutral or photo"
            ))),
        }
    }

    /// The name [`RestingMouth::parse`] reads.
    pub fn name(self) -> &'static str {
        match self {
            Self::KeepSmile => "keep-smile",
            Self::Neutral => "neutral",
            Self::Photo => "photo",
        }
    }

    /// The expression that takes a mouth measured as `own` to this resting
    /// state (zero for [`RestingMouth::Photo`] and for a closed, unsmiling
    /// mouth).
    pub fn expression(self, own: &MouthState) -> Expression {
        if self == Self::Photo {
            return Expression::default();
        }
        // Openings under about 1.5 % of the mouth width are lips that
        // touch; closing them would only move pixels about.
        let open = own.lip_opening > 0.015;
        Expression {
            jaw_open: if open { -own.jaw_open } else { 0.0 },
            lip_close: if open { 1.0 } else { 0.0 },
            lip_spread: if self == Self::Neutral && own.smile > 0.1 {
                -own.smile
            } else {
                0.0
            },
            ..Default::default()
        }
    }
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn dist(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Gaussian proximity (0..1) of `p` to the nearest of `points`.
fn near(p: [f32; 3], points: &[[f32; 3]], sigma: f32) -> f32 {
    let d = points.iter().map(|&q| dist(p, q)).fold(f32::MAX, f32::min);
    (-(d * d) / (2.0 * sigma * sigma)).exp()
}

impl ExpressionBasis {
    /// Builds the basis from the canonical face's geometry and groups.
    pub fn new(face: &CanonicalFace) -> Self {
        let v = &face.vertices;
        let g = &face.groups;
        let pts = |ids: &[usize]| ids.iter().map(|&i| v[i]).collect::<Vec<_>>();
        let (upper_inner, lower_inner) = (&g.lips_inner[..=10], &g.lips_inner[11..]);
        let (upper_outer, lower_outer) = (&g.lips_outer[..=10], &g.lips_outer[11..]);
        let upper_ring = pts(&[upper_inner, upper_outer].concat());
        let lower_ring = pts(&[lower_inner, lower_outer].concat());
        let lips = pts(&[&g.lips_inner[..], &g.lips_outer[..]].concat());
        let corners = pts(&[g.keypoints.mouth_right, g.keypoints.mouth_left]);
        let mouth_y = (v[g.keypoints.mouth_right][1] + v[g.keypoints.mouth_left][1]) / 2.0;
        let lip_mid = (g.keypoints.upper_lip_inner, g.keypoints.lower_lip_inner);
        let mouth_c = {
            let (a, b) = (v[lip_mid.0], v[lip_mid.1]);
            [
                (a[0] + b[0]) / 2.0,
                (a[1] + b[1]) / 2.0,
                (a[2] + b[2]) / 2.0,
            ]
        };

        let mut jaw_weight = Vec::with_capacity(v.len());
        let (mut lower_lip, mut upper_lip) = (Vec::new(), Vec::new());
        let (mut pucker, mut spread) = (Vec::new(), Vec::new());
        let (mut upper_raise, mut lower_tuck) = (Vec::new(), Vec::new());
        for &p in v {
            let up = near(p, &upper_ring, 0.45);
            let lo = near(p, &lower_ring, 0.45);
            let is_upper = up > lo;
            // Jaw: everything well below the mouth line; the lower lip fully,
            // the upper lip never.
            let below = smoothstep(mouth_y + 0.6, mouth_y - 1.4, p[1]);
            let w = if is_upper && up > 0.3 {
                0.0
            } else {
                below.max(if is_upper { 0.0 } else { lo })
            };
            jaw_weight.push(w);
            lower_lip.push(if is_upper { 0.0 } else { lo.max(0.6 * below) });
            upper_lip.push(if is_upper { up } else { 0.0 });
            let wl = near(p, &lips, 0.7);
            pucker.push([
                -0.3 * (p[0] - mouth_c[0]) * wl,
                -0.15 * (p[1] - mouth_c[1]) * wl,
                0.55 * wl,
            ]);
            let wc = near(p, &corners, 1.1);
            let side = p[0].signum();
            spread.push([
                0.45 * side * wc,
                0.18 * wc - 0.08 * (p[1] - mouth_c[1]) * wl,
                -0.2 * wc,
            ]);
            upper_raise.push(if is_upper {
                [0.0, 0.3 * up, 0.1 * up]
            } else {
                [0.0; 3]
            });
            let low = if is_upper { 0.0 } else { lo };
            lower_tuck.push([0.0, 0.3 * low, -0.35 * low]);
        }

        let brow_pts = pts(&[&g.right_brow[..], &g.left_brow[..]].concat());
        let lid_top = pts(&[&g.right_eye_upper[..], &g.left_eye_upper[..]].concat());
        let lid_y = lid_top.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
        let brow = v
            .iter()
            .map(|&p| {
                // Brows and forehead rise; the lid below stays.
                let w = near(p, &brow_pts, 1.2) * smoothstep(lid_y, lid_y + 1.2, p[1]);
                [0.0, 0.55 * w, 0.0]
            })
            .collect();

        let lids = [
            (&g.right_eye_upper, &g.right_eye_lower),
            (&g.left_eye_upper, &g.left_eye_lower),
        ]
        .map(|(upper, lower)| {
            let mut moving = Vec::new();
            let up_pts = pts(upper);
            for (i, &p) in v.iter().enumerate() {
                // Nearest upper-lid vertex and its paired lower-lid vertex.
                let (k, _) = up_pts
                    .iter()
                    .enumerate()
                    .map(|(k, &q)| (k, dist(p, q)))
                    .fold((0, f32::MAX), |a, b| if b.1 < a.1 { b } else { a });
                let on_lid = upper.contains(&i) || lower.contains(&i);
                let w = if on_lid {
                    1.0
                } else if p[1] > up_pts[k][1] {
                    // The skin between the lid and the brow unfolds: it
                    // follows fully at the lid and not at all at the brow,
                    // so the lid's descent is spread over the whole lid
                    // instead of stretching the lash line.
                    let rise = (1.0 - (p[1] - up_pts[k][1]) / LID_TO_BROW).max(0.0);
                    // Fading out beside the eye corners.
                    let side = (p[0] - up_pts[k][0]).abs() - 0.05;
                    rise * smoothstep(0.45, 0.0, side)
                } else {
                    0.0
                };
                if w > 0.01 {
                    moving.push((i, w, upper[k], lower[k]));
                }
            }
            moving
        });

        let corners = (g.keypoints.mouth_right, g.keypoints.mouth_left);
        let inner_upper = g.lips_inner[..=10].to_vec();
        let inner_lower: Vec<usize> = std::iter::once(g.lips_inner[10])
            .chain(g.lips_inner[11..].iter().copied())
            .chain(std::iter::once(g.lips_inner[0]))
            .collect();
        let mut basis = Self {
            inner_upper,
            inner_lower,
            jaw_weight,
            lower_lip,
            upper_lip,
            pucker,
            spread,
            upper_raise,
            lower_tuck,
            brow,
            lids,
            lip_mid,
            corners,
            canonical_mouth: MouthGeometry {
                gap: 0.0,
                lift: 0.0,
                width: 1.0,
            },
            gap_per_jaw: 1.0,
            lift_per_spread: 1.0,
            closed_gap: CLOSED_APERTURE
                * dist(
                    v[g.keypoints.right_eye_outer],
                    v[g.keypoints.left_eye_outer],
                ),
        };
        let rest = basis.geometry(v);
        // What one unit of an expression changes the mouth's geometry by.
        let unit = |e: Expression| {
            let g = basis.geometry(&basis.apply(v, &e));
            MouthGeometry {
                gap: (g.gap - rest.gap).max(1e-3),
                lift: (g.lift - rest.lift).max(1e-3),
                width: g.width,
            }
        };
        let gap_per_jaw = unit(Expression {
            jaw_open: 1.0,
            ..Default::default()
        })
        .gap;
        let lift_per_spread = unit(Expression {
            lip_spread: 1.0,
            ..Default::default()
        })
        .lift;
        basis.gap_per_jaw = gap_per_jaw;
        basis.lift_per_spread = lift_per_spread;
        basis.canonical_mouth = rest;
        basis
    }

    fn geometry(&self, v: &[[f32; 3]]) -> MouthGeometry {
        let (u, l) = self.lip_mid;
        let (a, b) = (v[self.corners.0], v[self.corners.1]);
        MouthGeometry {
            gap: v[u][1] - v[l][1],
            lift: 0.5 * (a[1] + b[1]) - v[u][1],
            width: ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt(),
        }
    }

    /// Closes `k` of the inner-lip gap of `v` at every x, the lower lip
    /// travelling 70 % of the way and the upper 30 %, with the skin that
    /// follows them. `signed`: lips that overlap are parted until they
    /// meet too (for the resting mouth, where a jaw closed by a measured
    /// amount may overshoot at the sides of an oval opening).
    fn close_lips(&self, v: &mut [[f32; 3]], k: f32, signed: bool) {
        let gap = self.gap_profile(v, signed);
        for ((p, &wl), &wu) in v.iter_mut().zip(&self.lower_lip).zip(&self.upper_lip) {
            p[1] += k * gap.at(p[0]) * (0.7 * wl - 0.3 * wu);
        }
    }

    /// `vertices` in the resting state `resting` takes a mouth measured as
    /// `own` to: the jaw closed by `jaw` (jaw units) with the lips then
    /// brought together along their whole length (when `own` is open), and
    /// the smile relaxed ([`RestingMouth::Neutral`]).
    pub fn rest(
        &self,
        vertices: &[[f32; 3]],
        resting: RestingMouth,
        own: &MouthState,
        jaw: f32,
    ) -> Vec<[f32; 3]> {
        let e = resting.expression(own);
        if e.is_neutral() {
            return vertices.to_vec();
        }
        let mut out = self.apply(
            vertices,
            &Expression {
                jaw_open: if e.lip_close > 0.0 {
                    -jaw.max(0.0)
                } else {
                    0.0
                },
                lip_close: 0.0,
                ..e
            },
        );
        if e.lip_close > 0.0 {
            // Twice: the second pass takes up what the skin's weights left.
            self.close_lips(&mut out, 1.0, true);
            self.close_lips(&mut out, 1.0, true);
        }
        out
    }

    /// The inner-lip gap of `v` across the mouth: how far the lower lip is
    /// below the upper one at each x (0 where they touch or overlap, unless
    /// `signed`).
    fn gap_profile(&self, v: &[[f32; 3]], signed: bool) -> GapProfile {
        let curve = |ids: &[usize], x: f32| {
            let mut best = (f32::MAX, 0.0f32);
            for w in ids.windows(2) {
                let (a, b) = (v[w[0]], v[w[1]]);
                let (lo, hi) = (a[0].min(b[0]), a[0].max(b[0]));
                if x >= lo && x <= hi {
                    let t = if hi > lo {
                        (x - a[0]) / (b[0] - a[0])
                    } else {
                        0.5
                    };
                    return a[1] + t * (b[1] - a[1]);
                }
                let d = (x - lo).abs().min((x - hi).abs());
                if d < best.0 {
                    best = (
                        d,
                        if (x - a[0]).abs() < (x - b[0]).abs() {
                            a[1]
                        } else {
                            b[1]
                        },
                    );
                }
            }
            best.1
        };
        let (x0, x1) = (v[self.corners.0][0], v[self.corners.1][0]);
        let (x0, x1) = (x0.min(x1), x0.max(x1));
        let mut gap = [0.0f32; GAP_SAMPLES];
        for (k, g) in gap.iter_mut().enumerate() {
            let x = x0 + (x1 - x0) * k as f32 / (GAP_SAMPLES - 1) as f32;
            let d = curve(&self.inner_upper, x) - curve(&self.inner_lower, x);
            *g = if signed { d } else { d.max(0.0) };
        }
        GapProfile { x0, x1, gap }
    }

    /// Measures the mouth of `vertices` (a subject's face in the canonical
    /// frame): its jaw opening, lip opening, width and smile.
    pub fn measure_mouth(&self, vertices: &[[f32; 3]]) -> MouthState {
        let c = self.canonical_mouth;
        let g = self.geometry(vertices);
        let opening = (g.gap - self.closed_gap).max(0.0);
        let jaw_open = opening / self.gap_per_jaw;
        // The smile is read with the jaw closed: opening it lowers the
        // corners, which would read as less of a smile.
        let closed = if jaw_open > 0.0 {
            self.geometry(&self.apply(
                vertices,
                &Expression {
                    jaw_open: -jaw_open,
                    ..Default::default()
                },
            ))
        } else {
            g
        };
        MouthState {
            jaw_open,
            lip_opening: opening / g.width.max(1e-3),
            spread: g.width / c.width.max(1e-3),
            smile: (closed.lift - c.lift) / self.lift_per_spread,
        }
    }

    /// Jaw weight of each vertex (0..1): how fully it follows the jaw.
    pub fn jaw_weights(&self) -> &[f32] {
        &self.jaw_weight
    }

    /// Displaces `vertices` (the canonical face, or a subject's face in the
    /// canonical frame) by `e`. See the type's documentation for the order.
    pub fn apply(&self, vertices: &[[f32; 3]], e: &Expression) -> Vec<[f32; 3]> {
        let mut out = vertices.to_vec();
        let linear = [
            (e.lip_pucker, &self.pucker),
            (e.lip_spread, &self.spread),
            (e.upper_lip_raise, &self.upper_raise),
            (e.lower_lip_tuck, &self.lower_tuck),
            (e.brow_raise, &self.brow),
        ];
        for (k, field) in linear {
            if k != 0.0 {
                for (p, d) in out.iter_mut().zip(field.iter()) {
                    for c in 0..3 {
                        p[c] += k * d[c];
                    }
                }
            }
        }
        if e.jaw_open != 0.0 {
            for (p, &w) in out.iter_mut().zip(&self.jaw_weight) {
                *p = rotate_about_hinge(*p, w * e.jaw_open * JAW_MAX_ANGLE);
            }
        }
        if e.lip_close != 0.0 {
            self.close_lips(&mut out, e.lip_close.clamp(0.0, 1.0), false);
        }
        for (closure, lid) in [
            (e.blink_right, &self.lids[0]),
            (e.blink_left, &self.lids[1]),
        ] {
            if closure == 0.0 {
                continue;
            }
            let snapshot = out.clone();
            let c = closure.clamp(0.0, 1.2);
            for &(i, w, up, lo) in lid {
                let gap = [
                    snapshot[lo][0] - snapshot[up][0],
                    snapshot[lo][1] - snapshot[up][1],
                    snapshot[lo][2] - snapshot[up][2],
                ];
                // Upper-lid vertices and the skin above travel down; lower-lid
                // vertices rise a little to meet them.
                let is_lower = lid.iter().any(|&(_, _, _, l)| l == i) && i != up;
                let k = if is_lower { -0.15 } else { 0.85 };
                for d in 0..3 {
                    out[i][d] += c * w * k * gap[d];
                }
            }
        }
        out
    }
}

/// Rotates `p` about the jaw hinge axis (x through [`JAW_HINGE`]) by
/// `angle` radians, opening the mouth for positive angles (chin down and
/// back).
pub fn rotate_about_hinge(p: [f32; 3], angle: f32) -> [f32; 3] {
    if angle == 0.0 {
        return p;
    }
    let (s, c) = angle.sin_cos();
    let (y, z) = (p[1] - JAW_HINGE[1], p[2] - JAW_HINGE[2]);
    [
        p[0],
        JAW_HINGE[1] + y * c - z * s,
        JAW_HINGE[2] + y * s + z * c,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::canonical::CanonicalFace;

    fn face() -> CanonicalFace {
        CanonicalFace::from_bytes(include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/canonical_face.safetensors"
        )))
        .unwrap()
    }

    #[test]
    fn neutral_expression_changes_nothing() {
        let f = face();
        let b = ExpressionBasis::new(&f);
        assert_eq!(b.apply(&f.vertices, &Expression::default()), f.vertices);
    }

    #[test]
    fn jaw_opening_is_a_rotation_about_the_hinge_not_a_stretch() {
        let f = face();
        let b = ExpressionBasis::new(&f);
        let open = b.apply(
            &f.vertices,
            &Expression {
                jaw_open: 1.0,
                ..Default::default()
            },
        );
        let chin = f.groups.keypoints.chin;
        // The chin keeps its distance to the hinge, moves down and back.
        let r0 = dist(f.vertices[chin], JAW_HINGE);
        let r1 = dist(open[chin], JAW_HINGE);
        assert!((r0 - r1).abs() < 1e-4, "{r0} vs {r1}");
        assert!(
            open[chin][1] < f.vertices[chin][1] - 2.0,
            "{:?}",
            open[chin]
        );
        assert!(open[chin][2] < f.vertices[chin][2]);
        // The upper lip and the eyes stay put; the inner lips part.
        let (u, l) = (
            f.groups.keypoints.upper_lip_inner,
            f.groups.keypoints.lower_lip_inner,
        );
        assert_eq!(open[u], f.vertices[u]);
        assert_eq!(open[159], f.vertices[159]);
        assert!(
            open[u][1] - open[l][1] > 1.5,
            "mouth opening {}",
            open[u][1] - open[l][1]
        );
    }

    #[test]
    fn lip_closure_closes_the_mouth_whatever_the_jaw_does() {
        let f = face();
        let b = ExpressionBasis::new(&f);
        let (u, l) = (
            f.groups.keypoints.upper_lip_inner,
            f.groups.keypoints.lower_lip_inner,
        );
        for jaw in [0.0, 0.3] {
            let e = Expression {
                jaw_open: jaw,
                lip_close: 1.0,
                ..Default::default()
            };
            let p = b.apply(&f.vertices, &e);
            assert!(
                (p[u][1] - p[l][1]).abs() < 0.02,
                "jaw {jaw}: gap {}",
                p[u][1] - p[l][1]
            );
        }
    }

    #[test]
    fn a_blink_brings_each_upper_lid_down_onto_its_lower_lid() {
        let f = face();
        let b = ExpressionBasis::new(&f);
        let e = Expression {
            blink_right: 1.0,
            ..Default::default()
        };
        let p = b.apply(&f.vertices, &e);
        // Right eye (159 over 145) shut; left eye (386 over 374) open.
        assert!(
            (p[159][1] - p[145][1]).abs() < 0.05,
            "{:?} {:?}",
            p[159],
            p[145]
        );
        assert!((p[386][1] - p[374][1] - (f.vertices[386][1] - f.vertices[374][1])).abs() < 1e-6);
        // The lid descends (it is not the eye squashed about its centre).
        assert!(f.vertices[159][1] - p[159][1] > 0.4);
        assert!(p[145][1] - f.vertices[145][1] < 0.15);
    }

    #[test]
    fn lip_fields_move_the_lips_the_named_way() {
        let f = face();
        let b = ExpressionBasis::new(&f);
        let k = f.groups.keypoints;
        let with = |e: Expression| b.apply(&f.vertices, &e);
        let pucker = with(Expression {
            lip_pucker: 1.0,
            ..Default::default()
        });
        let width = |p: &[[f32; 3]]| p[k.mouth_left][0] - p[k.mouth_right][0];
        assert!(width(&pucker) < 0.85 * width(&f.vertices));
        assert!(pucker[k.upper_lip_outer][2] > f.vertices[k.upper_lip_outer][2] + 0.3);
        let spread = with(Expression {
            lip_spread: 1.0,
            ..Default::default()
        });
        assert!(width(&spread) > width(&f.vertices) + 0.6);
        let raise = with(Expression {
            upper_lip_raise: 1.0,
            ..Default::default()
        });
        assert!(raise[k.upper_lip_outer][1] > f.vertices[k.upper_lip_outer][1] + 0.15);
        assert_eq!(raise[k.lower_lip_outer], f.vertices[k.lower_lip_outer]);
        let tuck = with(Expression {
            lower_lip_tuck: 1.0,
            ..Default::default()
        });
        assert!(tuck[k.lower_lip_outer][2] < f.vertices[k.lower_lip_outer][2] - 0.2);
        let brow = with(Expression {
            brow_raise: 1.0,
            ..Default::default()
        });
        assert!(brow[105][1] > f.vertices[105][1] + 0.4);
        assert_eq!(brow[k.chin], f.vertices[k.chin]);
    }
}
