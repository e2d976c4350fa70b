//! The face rig: the control mesh the renderer warps, and where each of its
//! points goes for one frame of motion.
//!
//! Control points are the 468 FaceMesh vertices followed by three rings of
//! 36 points around the face oval (see [`RING_FACTORS`]): forehead, hair and
//! ears, then neck, then a still outer ring. Between the oval and the outer
//! ring the rings form strips of triangles, so the whole head moves as one
//! body and the motion falls off smoothly to zero; everything outside the
//! outer ring is the untouched source image.
//!
//! Per frame ([`FaceRig::targets`]):
//! 1. the subject's own face in the canonical frame (its landmarks mapped
//!    back through the source head pose) takes the expression
//!    ([`ExpressionBasis::apply`]);
//! 2. it is posed with the source pose composed with the motion's head
//!    change (rotation about the canonical origin inside the head, shift,
//!    scale) and projected (weak perspective, as the pose fit);
//! 3. ring points follow the head change and, near the jaw, the
//!    expression, each with its ring's weight;
//! 4. if any ring triangle would fold over, the ring motion is damped until
//!    none does.

use std::sync::{Arc, OnceLock};

use crate::face::analyze::Face;
use crate::face::canonical::{CanonicalFace, NUM_VERTICES};
use crate::face::pose::HeadPose;
use crate::motion::expression::{ExpressionBasis, MouthState, RestingMouth};
use crate::motion::{Expression, MotionFrame};
use crate::{Error, Result};

/// Rings around the face oval, as multiples of each oval point's distance
/// from the oval's centre (canonical frame): inner (forehead, hair, ears,
/// upper neck), middle, and the still outer boundary.
pub const RING_FACTORS: [f32; 3] = [1.25, 1.6, 2.2];

/// How much each ring follows the head change, above the face (hair) and
/// below it (neck, which joins the still shoulders).
const RING_HEAD_WEIGHT: [(f32, f32); 3] = [(1.0, 1.0), (0.6, 0.4), (0.0, 0.0)];

/// How much each ring follows the expression of its oval point (the jaw
/// stretching the skin of the neck).
const RING_EXPR_WEIGHT: [f32; 3] = [0.75, 0.35, 0.0];

/// How much of the jaw's measured opening the resting mouth takes back by
/// turning the jaw ([`FaceRig::set_resting_mouth`]).
const REST_JAW: f32 = 0.6;

/// What a triangle shows, which decides how its pixels are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriangleKind {
    /// Skin, hair or background: a piecewise-affine warp of the source.
    Surface,
    /// Inside the inner lips: the mouth interior.
    Mouth,
    /// Inside an eye opening: the eyeball, which moves with the head only,
    /// so blinks cover it instead of squashing it.
    Eye,
}

/// One triangle of the control mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigTriangle {
    /// Control point indices.
    pub v: [u32; 3],
    /// How its pixels are coloured.
    pub kind: TriangleKind,
    /// Part of the face proper (the 468-vertex mesh), not the rings.
    pub face: bool,
    /// Part of the lips and the mouth region (for the mouth mask).
    pub mouth_region: bool,
}

/// Control points of one frame.
#[derive(Debug, Clone)]
pub struct FrameGeometry {
    /// Target position of every control point: x, y in output pixels
    /// (pixel centres at integers, as the landmarks) and depth (smaller =
    /// nearer the camera).
    pub target: Vec<[f32; 3]>,
    /// Target positions with the head change only (no expression), for the
    /// eyeballs, which do not follow the lids.
    pub rigid: Vec<[f32; 2]>,
}

/// The control mesh of one portrait: built once, posed per frame.
#[derive(Debug, Clone)]
pub struct FaceRig {
    /// Source position of every control point (pixels).
    pub source: Vec<[f32; 2]>,
    /// Triangles over the control points, face and rings.
    pub triangles: Vec<RigTriangle>,
    /// Canonical-frame mesh groups and keypoints.
    pub canonical: Arc<CanonicalFace>,
    /// The source face's head pose.
    pub pose: HeadPose,
    /// Sign of [`signed_area2`] of every control triangle that faces the
    /// camera (all are wound alike in the canonical frame).
    pub front_sign: f32,
    /// The subject's 468 vertices in the canonical frame.
    subject: Vec<[f32; 3]>,
    /// The subject's vertices in its resting state ([`FaceRig::set_resting_mouth`]),
    /// which every frame's expression moves from.
    rest: Vec<[f32; 3]>,
    /// The subject's own mouth, measured on the expression basis.
    mouth: MouthState,
    /// Canonical-frame ring points (after the 468 vertices).
    rings: Vec<[f32; 3]>,
    /// Per ring point: (head weight, expression weight, oval vertex).
    ring_follow: Vec<(f32, f32, usize)>,
    basis: Arc<ExpressionBasis>,
}

/// The expression basis over the shipped canonical face, built once.
fn shared_basis(face: &CanonicalFace) -> Arc<ExpressionBasis> {
    static CELL: OnceLock<Arc<ExpressionBasis>> = OnceLock::new();
    CELL.get_or_init(|| Arc::new(ExpressionBasis::new(face)))
        .clone()
}

fn sub3(a: [f32; 3], b: [f32; 3]) -> [f32; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// Twice the signed area of a 2-D triangle (positive = counter-clockwise in
/// a y-up frame, i.e. clockwise in the image).
pub fn signed_area2(a: [f32; 2], b: [f32; 2], c: [f32; 2]) -> f32 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

impl FaceRig {
    /// Builds the rig for `face` (landmarks and pose in the image that will
    /// be rendered).
    pub fn new(face: &Face, canonical: &CanonicalFace) -> Result<Self> {
        let canonical = Arc::new(canonical.clone());
        if face.landmarks.len() < NUM_VERTICES {
            return Err(Error::Input(format!(
                "the renderer needs {NUM_VERTICES} face landmarks, got {}",
                face.landmarks.len()
            )));
        }
        let pose = face.pose.pose;
        if !(pose.scale.is_finite() && pose.scale > 0.0) {
            return Err(Error::Input("the face's head pose is degenerate".into()));
        }
        let subject: Vec<[f32; 3]> = face.landmarks[..NUM_VERTICES]
            .iter()
            .map(|&p| unproject(&pose, p))
            .collect();
        let g = &canonical.groups;
        let oval = &g.face_oval;
        let n = oval.len();
        let centre = {
            let mut c = [0.0f32; 3];
            for &i in oval {
                for k in 0..3 {
                    c[k] += subject[i][k] / n as f32;
                }
            }
            c
        };
        let mut rings = Vec::with_capacity(3 * n);
        let mut ring_follow = Vec::with_capacity(3 * n);
        for (r, &f) in RING_FACTORS.iter().enumerate() {
            for &i in oval {
                let d = sub3(subject[i], centre);
                let len = (d[0] * d[0] + d[1] * d[1]).sqrt().max(1e-3);
                // Canonical y is up: "down" is toward the neck.
                let down = smoothstep(0.3, 0.9, -d[1] / len);
                let (above, below) = RING_HEAD_WEIGHT[r];
                rings.push([centre[0] + f * d[0], centre[1] + f * d[1], subject[i][2]]);
                ring_follow.push((above + (below - above) * down, RING_EXPR_WEIGHT[r], i));
            }
        }
        let mut source: Vec<[f32; 2]> = face.landmarks[..NUM_VERTICES]
            .iter()
            .map(|p| [p[0], p[1]])
            .collect();
        source.extend(rings.iter().map(|&c| {
            let p = pose.project_point(c);
            [p[0], p[1]]
        }));
        let (triangles, front_sign) = build_triangles(&canonical, &subject, n);
        let basis = shared_basis(&canonical);
        Ok(Self {
            front_sign,
            source,
            triangles,
            mouth: basis.measure_mouth(&subject),
            basis,
            canonical,
            pose,
            rest: subject.clone(),
            subject,
            rings,
            ring_follow,
        })
    }

    /// The subject's own mouth as the portrait shows it.
    pub fn mouth_state(&self) -> MouthState {
        self.mouth
    }

    /// Sets the state every frame's expression moves from: the portrait's
    /// mouth closed (and its smile relaxed) or left as it is. `jaw_share`
    /// (0..1) is how much of the opening the jaw made; the lips close the
    /// rest (lips parted over closed teeth close without moving the chin).
    /// Returns the expression that took the portrait there.
    /// `lip_insets` (pixels, one per inner-lip ring vertex) is how far
    /// inside each inner-lip landmark the lip's own colour begins (at most 45 %
    /// of the local opening, so the lips never cross): a mouth
    /// that closes samples its lips from there.
    pub fn set_resting_mouth(
        &mut self,
        resting: RestingMouth,
        jaw_share: f32,
        lip_insets: &[f32],
    ) -> Expression {
        let e = resting.expression(&self.mouth);
        // The jaw takes back part of its share only: an opening is an oval,
        // and a jaw closed by the whole measured amount would push the lower
        // lip through the upper one at the sides; the lips close the rest.
        let jaw = REST_JAW * jaw_share.clamp(0.0, 1.0) * self.mouth.jaw_open;
        self.rest = self.basis.rest(&self.subject, resting, &self.mouth, jaw);
        let none = vec![0.0; lip_insets.len()];
        self.inset_inner_lips(if e.lip_close > 0.0 { lip_insets } else { &none });
        e
    }

    /// Moves the source positions of the inner lips `insets` pixels into
    /// the lips (at most 45 % of the local opening). The landmarks sit
    /// on or near the lips' inner edge, where the pixels are part lip and
    /// part teeth or dark interior: a mouth closed from an open photo would
    /// show them as a line where the lips meet. Sampled from inside, the
    /// lips meet in their own colour.
    fn inset_inner_lips(&mut self, insets: &[f32]) {
        // The ring as the landmarks put it (before any earlier inset).
        let inner: Vec<[f32; 2]> = self
            .canonical
            .groups
            .lips_inner
            .iter()
            .map(|&i| self.plain_source(i))
            .collect();
        let g = &self.canonical.groups;
        let n = g.lips_inner.len();
        let half = n / 2;
        // Per inner-lip vertex: its landmark, unit direction into the lip,
        // lip thickness, and the inset.
        let mut moves = Vec::with_capacity(n);
        for (k, &o) in g.lips_outer.iter().enumerate() {
            let p = inner[k];
            // The nearest point of the other lip: the local opening.
            let others = if k <= half { half + 1..n } else { 1..half };
            let opening = others
                .map(|j| {
                    let q = inner[j];
                    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2)).sqrt()
                })
                .fold(f32::MAX, f32::min);
            let q = self.source[o];
            let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
            let thick = (dx * dx + dy * dy).sqrt().max(1e-3);
            let d = insets
                .get(k)
                .copied()
                .unwrap_or(0.0)
                .min(0.45 * opening)
                .max(0.0);
            moves.push((p, [dx / thick, dy / thick], thick, d));
        }
        for (k, &i) in g.lips_inner.iter().enumerate() {
            let (p, dir, _, d) = moves[k];
            self.source[i] = [p[0] + d * dir[0], p[1] + d * dir[1]];
        }
        // The vertices inside the lips (FaceMesh has rings between the
        // inner and outer outlines) move with them, less toward the outer
        // edge, so the lip's texture is compressed, never folded.
        let outer: Vec<[f32; 2]> = g.lips_outer.iter().map(|&o| self.source[o]).collect();
        let ring: std::collections::HashSet<usize> =
            g.lips_inner.iter().chain(&g.lips_outer).copied().collect();
        for v in 0..NUM_VERTICES {
            let p = self.plain_source(v);
            if ring.contains(&v) || !inside_polygon(&outer, p) {
                continue;
            }
            let k = (0..n)
                .min_by(|&a, &b| {
                    let da = (moves[a].0[0] - p[0]).powi(2) + (moves[a].0[1] - p[1]).powi(2);
                    let db = (moves[b].0[0] - p[0]).powi(2) + (moves[b].0[1] - p[1]).powi(2);
                    da.total_cmp(&db)
                })
                .unwrap_or(0);
            let (q, dir, thick, d) = moves[k];
            let s = (((p[0] - q[0]) * dir[0] + (p[1] - q[1]) * dir[1]) / thick).clamp(0.0, 1.0);
            let m = d * (1.0 - s);
            self.source[v] = [p[0] + m * dir[0], p[1] + m * dir[1]];
        }
    }

    /// Source position of vertex `v` as the landmarks put it.
    fn plain_source(&self, v: usize) -> [f32; 2] {
        let p = self.pose.project_point(self.subject[v]);
        [p[0], p[1]]
    }

    /// Number of control points (468 + 3 rings).
    pub fn len(&self) -> usize {
        self.source.len()
    }

    /// Always false: a rig has its 468 vertices.
    pub fn is_empty(&self) -> bool {
        self.source.is_empty()
    }

    /// The source pose changed by the motion's head change.
    pub fn target_pose(&self, m: &MotionFrame) -> HeadPose {
        let h = &m.head;
        let delta = HeadPose::from_angles(h.yaw, h.pitch, h.roll, 1.0, [0.0; 3]).rotation;
        // R' = F·Hd·F·R, and `delta` is already F·Hd (see HeadPose::from_angles).
        let r = &self.pose.rotation;
        let fr = [r[0], r[1].map(|x| -x), r[2].map(|x| -x)];
        let mut rot = [[0.0f32; 3]; 3];
        for (i, row) in rot.iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                *x = (0..3).map(|k| delta[i][k] * fr[k][j]).sum();
            }
        }
        let s = self.pose.scale;
        let t = self.pose.translation;
        HeadPose {
            yaw: self.pose.yaw + h.yaw,
            pitch: self.pose.pitch + h.pitch,
            roll: self.pose.roll + h.roll,
            rotation: rot,
            translation: [t[0] + h.tx * s, t[1] + h.ty * s, t[2]],
            scale: s * if h.scale.is_finite() && h.scale > 0.0 {
                h.scale
            } else {
                1.0
            },
        }
    }

    /// Where every control point goes in frame `m`.
    pub fn targets(&self, m: &MotionFrame) -> FrameGeometry {
        let posed = self.target_pose(m);
        let expressed = if m.expression.is_neutral() {
            self.rest.clone()
        } else {
            self.basis.apply(&self.rest, &m.expression)
        };
        let mut target: Vec<[f32; 3]> = expressed.iter().map(|&c| posed.project_point(c)).collect();
        let mut rigid: Vec<[f32; 2]> = self
            .subject
            .iter()
            .map(|&c| {
                let p = posed.project_point(c);
                [p[0], p[1]]
            })
            .collect();
        // Ring points: head change and expression of their oval point, weighted.
        let head_moves: Vec<[f32; 3]> = self
            .rings
            .iter()
            .enumerate()
            .map(|(k, &c)| {
                let (wh, we, i) = self.ring_follow[k];
                let src = self.source[NUM_VERTICES + k];
                let p = posed.project_point(c);
                let e = sub3(target[i], posed.project_point(self.subject[i]));
                [
                    wh * (p[0] - src[0]) + we * e[0],
                    wh * (p[1] - src[1]) + we * e[1],
                    p[2],
                ]
            })
            .collect();
        let ring_tris: Vec<&RigTriangle> = self.triangles.iter().filter(|t| !t.face).collect();
        let mut damp = 1.0f32;
        for _ in 0..6 {
            target.truncate(NUM_VERTICES);
            for (k, d) in head_moves.iter().enumerate() {
                let s = self.source[NUM_VERTICES + k];
                target.push([s[0] + damp * d[0], s[1] + damp * d[1], d[2]]);
            }
            let folded = ring_tris.iter().any(|t| {
                let [a, b, c] = t.v.map(|i| i as usize);
                let src = signed_area2(self.source[a], self.source[b], self.source[c]);
                let dst = signed_area2(
                    [target[a][0], target[a][1]],
                    [target[b][0], target[b][1]],
                    [target[c][0], target[c][1]],
                );
                dst * src.signum() <= 0.05 * src.abs()
            });
            if !folded {
                break;
            }
            damp *= 0.5;
            if damp < 0.05 {
                damp = 0.0;
            }
        }
        rigid.extend(target[NUM_VERTICES..].iter().map(|p| [p[0], p[1]]));
        FrameGeometry { target, rigid }
    }
}

/// Even-odd point-in-polygon test.
fn inside_polygon(poly: &[[f32; 2]], p: [f32; 2]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[j]);
        if (a[1] > p[1]) != (b[1] > p[1])
            && p[0] < (b[0] - a[0]) * (p[1] - a[1]) / (b[1] - a[1]) + a[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// Maps an image-space landmark back into the canonical frame through `pose`.
fn unproject(pose: &HeadPose, p: [f32; 3]) -> [f32; 3] {
    let d = sub3(p, pose.translation);
    let r = &pose.rotation;
    // R is orthonormal: its inverse is its transpose.
    [0, 1, 2].map(|j| (r[0][j] * d[0] + r[1][j] * d[1] + r[2][j] * d[2]) / pose.scale)
}

/// Face triangles (with their kinds) followed by the ring strips.
fn build_triangles(
    face: &CanonicalFace,
    subject: &[[f32; 3]],
    n_oval: usize,
) -> (Vec<RigTriangle>, f32) {
    let tg = &face.triangle_groups;
    let g = &face.groups;
    let kind_of = |t: usize| {
        if tg.mouth_interior.contains(&t) {
            TriangleKind::Mouth
        } else if tg.right_eye_interior.contains(&t) || tg.left_eye_interior.contains(&t) {
            TriangleKind::Eye
        } else {
            TriangleKind::Surface
        }
    };
    // The mouth region: the lips and the skin within 1 cm of them.
    let lips: Vec<[f32; 3]> = g.lips_outer.iter().map(|&i| subject[i]).collect();
    let near_lips = |i: usize| {
        lips.iter()
            .map(|&q| {
                let d = sub3(subject[i], q);
                d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
            })
            .fold(f32::MAX, f32::min)
            < 1.0
    };
    let region: Vec<bool> = (0..NUM_VERTICES).map(near_lips).collect();
    let mut out: Vec<RigTriangle> = face
        .triangles
        .iter()
        .enumerate()
        .map(|(t, v)| RigTriangle {
            v: *v,
            kind: kind_of(t),
            face: true,
            mouth_region: v.iter().all(|&i| region[i as usize]),
        })
        .collect();
    // Strips oval → ring 1 → ring 2 → ring 3, oriented like the face mesh.
    let face_sign = {
        let src: Vec<[f32; 2]> = subject.iter().map(|p| [p[0], -p[1]]).collect();
        let s: f32 = face
            .triangles
            .iter()
            .map(|v| {
                let [a, b, c] = v.map(|i| src[i as usize]);
                signed_area2(a, b, c).signum()
            })
            .sum();
        s.signum()
    };
    let ring_index = |r: usize, i: usize| -> u32 {
        if r == 0 {
            g.face_oval[i] as u32
        } else {
            (NUM_VERTICES + (r - 1) * n_oval + i) as u32
        }
    };
    for r in 0..3 {
        for i in 0..n_oval {
            let j = (i + 1) % n_oval;
            let (a, b, c, d) = (
                ring_index(r, i),
                ring_index(r, j),
                ring_index(r + 1, j),
                ring_index(r + 1, i),
            );
            for v in [[a, b, c], [a, c, d]] {
                out.push(RigTriangle {
                    v,
                    kind: TriangleKind::Surface,
                    face: false,
                    mouth_region: false,
                });
            }
        }
    }
    // Give the strips the face mesh's winding (in the image's y-down frame
    // the canonical sign flips, hence the test against `face_sign` below is
    // done on canonical positions of the oval and rings).
    let canon = |i: u32| -> [f32; 2] {
        let i = i as usize;
        if i < NUM_VERTICES {
            [subject[i][0], -subject[i][1]]
        } else {
            // Ring points are scaled copies of oval points about the centre:
            // recompute them the same way as FaceRig::new.
            let k = i - NUM_VERTICES;
            let (r, o) = (k / n_oval, g.face_oval[k % n_oval]);
            let centre = oval_centre(subject, &g.face_oval);
            let f = RING_FACTORS[r];
            [
                centre[0] + f * (subject[o][0] - centre[0]),
                -(centre[1] + f * (subject[o][1] - centre[1])),
            ]
        }
    };
    for t in out.iter_mut().filter(|t| !t.face) {
        let [a, b, c] = t.v.map(canon);
        if signed_area2(a, b, c).signum() != face_sign {
            t.v.swap(1, 2);
        }
    }
    (out, face_sign)
}

fn oval_centre(subject: &[[f32; 3]], oval: &[usize]) -> [f32; 2] {
    let n = oval.len() as f32;
    let mut c = [0.0f32; 2];
    for &i in oval {
        c[0] += subject[i][0] / n;
        c[1] += subject[i][1] / n;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::face::analyze::{AnalyzeOptions, FaceAnalyzer};
    use crate::motion::{Expression, HeadMotion};
    use crate::testdata::example;

    pub(crate) fn example_face() -> (image::RgbImage, Face) {
        let img = crate::portrait::load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let face = FaceAnalyzer::shared()
            .unwrap()
            .analyze(&img, &AnalyzeOptions::default())
            .unwrap()
            .remove(0);
        (img, face)
    }

    fn rig() -> FaceRig {
        let (_, face) = example_face();
        FaceRig::new(&face, FaceAnalyzer::shared().unwrap().canonical()).unwrap()
    }

    #[test]
    fn neutral_motion_puts_every_point_at_its_source() {
        let rig = rig();
        let g = rig.targets(&MotionFrame::default());
        assert_eq!(g.target.len(), NUM_VERTICES + 3 * 36);
        for (t, s) in g.target.iter().zip(&rig.source) {
            assert!(
                (t[0] - s[0]).abs() < 1e-2 && (t[1] - s[1]).abs() < 1e-2,
                "{t:?} {s:?}"
            );
        }
    }

    #[test]
    fn no_triangle_folds_and_the_outer_ring_stays_put() {
        let rig = rig();
        let all_same_sign = |g: &FrameGeometry, face_only: bool| {
            rig.triangles
                .iter()
                .filter(|t| !face_only || t.face)
                .filter(|t| t.kind == TriangleKind::Surface)
                .all(|t| {
                    let [a, b, c] = t.v.map(|i| i as usize);
                    let s = signed_area2(rig.source[a], rig.source[b], rig.source[c]);
                    let p = |i: usize| [g.target[i][0], g.target[i][1]];
                    signed_area2(p(a), p(b), p(c)) * s > 0.0
                })
        };
        // The ring strips are oriented like the face.
        assert!(all_same_sign(&rig.targets(&MotionFrame::default()), false));
        // Face triangles may turn away with the head; ring triangles never fold.
        for m in [
            MotionFrame {
                expression: Expression {
                    jaw_open: 1.0,
                    ..Default::default()
                },
                head: HeadMotion {
                    yaw: 0.25,
                    pitch: -0.15,
                    roll: 0.2,
                    tx: 1.5,
                    ty: -1.0,
                    scale: 1.08,
                },
                gaze: None,
            },
            MotionFrame {
                head: HeadMotion {
                    pitch: 0.3,
                    ..Default::default()
                },
                ..Default::default()
            },
        ] {
            let g = rig.targets(&m);
            let rings_ok = rig.triangles.iter().filter(|t| !t.face).all(|t| {
                let [a, b, c] = t.v.map(|i| i as usize);
                let s = signed_area2(rig.source[a], rig.source[b], rig.source[c]);
                let p = |i: usize| [g.target[i][0], g.target[i][1]];
                signed_area2(p(a), p(b), p(c)) * s > 0.0
            });
            assert!(rings_ok, "{m:?}");
            for k in NUM_VERTICES + 72..rig.len() {
                assert_eq!([g.target[k][0], g.target[k][1]], rig.source[k]);
            }
        }
    }

    #[test]
    fn a_full_blink_brings_the_upper_lids_onto_the_lower_lids() {
        let rig = rig();
        let g = rig.targets(&MotionFrame {
            expression: Expression {
                blink_left: 1.0,
                blink_right: 1.0,
                ..Default::default()
            },
            ..Default::default()
        });
        let groups = &rig.canonical.groups;
        for (upper, lower) in [
            (&groups.right_eye_upper, &groups.right_eye_lower),
            (&groups.left_eye_upper, &groups.left_eye_lower),
        ] {
            let (u, l) = (upper[4], lower[4]);
            let open = (rig.source[l][1] - rig.source[u][1]).abs();
            let closed = (g.target[l][1] - g.target[u][1]).abs();
            assert!(closed < 0.05 * open, "{closed} of {open}");
        }
    }

    #[test]
    fn head_motion_moves_the_face_and_the_hair_ring_with_it() {
        let rig = rig();
        let m = MotionFrame {
            head: HeadMotion {
                tx: 1.0,
                ..Default::default()
            },
            ..Default::default()
        };
        let g = rig.targets(&m);
        let px = rig.pose.scale; // 1 cm in pixels
        let nose = rig.canonical.groups.keypoints.nose_tip;
        assert!((g.target[nose][0] - rig.source[nose][0] - px).abs() < 1e-2);
        // Ring 1 follows fully, ring 2 above the face a little more than half.
        let top = NUM_VERTICES; // above the forehead top (oval starts at 10)
        assert!((g.target[top][0] - rig.source[top][0] - px).abs() < 0.05 * px);
        let mid = NUM_VERTICES + 36;
        let moved = g.target[mid][0] - rig.source[mid][0];
        assert!(moved > 0.4 * px && moved < 0.7 * px, "{moved}");
    }
}
