//! Head pose: the similarity transform that places the canonical face on a
//! face's 468 landmarks, and its yaw/pitch/roll.
//!
//! The fit follows MediaPipe's face geometry pipeline: a weighted orthogonal
//! Procrustes problem (scale, rotation and translation; Umeyama 1991, solved
//! with Horn's 1987 unit-quaternion method) over the 33 expression-stable
//! landmarks of the [`CanonicalFace`] Procrustes basis, with MediaPipe's
//! weights, so talking and blinking barely move the pose. Unlike MediaPipe,
//! which first back-projects landmarks through a perspective camera, it works
//! directly on image-space landmarks, i.e. a weak-perspective (scaled
//! orthographic) model: no camera intrinsics are needed, and at portrait
//! distances the difference is small.
//!
//! # Frames and sign conventions
//!
//! - **Landmarks / image space**: x to the right and y *down*, both in pixels;
//!   z is MediaPipe's relative depth in the same scale as x, *smaller = closer
//!   to the camera* (the nose tip is the most negative). This frame is
//!   right-handed.
//! - **Canonical space**: centimetres, x to the image right, y *up*, z toward
//!   the viewer (see [`super::canonical`]).
//! - [`HeadPose::rotation`] `R` maps canonical to image space, so
//!   `image = scale · R · canonical + translation`. A frontal, upright face has
//!   `R = diag(1, -1, -1)`: the y and z flips between the two frames are a
//!   180° turn about x, a proper rotation, so no reflection is ever needed.
//! - **Angles** describe the head's own rotation `H = diag(1,-1,-1) · R` in the
//!   y-up camera frame (x image right, y up, z toward the viewer), composed as
//!   `H = Ry(yaw) · Rx(pitch) · Rz(roll)` with right-handed rotations, radians:
//!   - `yaw > 0`: the face turns toward the *image right* (the nose moves
//!     right; the subject looks to *their own left*).
//!   - `pitch > 0`: the head nods *down* (the nose moves toward the image
//!     bottom, chin toward the chest).
//!   - `roll > 0`: the head tilts *counter-clockwise as seen in the image*
//!     (the subject's left eye, on the image right, rises; the head leans
//!     toward the subject's right shoulder).
//!   - All zero: frontal and upright.
//!
//! # Why no linear-algebra crate
//!
//! The solve needs the dominant eigenvector of one symmetric 4×4 matrix. The
//! core's dependencies have no SVD or eigen solver (candle has neither), and a
//! cyclic Jacobi sweep is ~40 lines, exact to f64 precision and never fails to
//! converge on symmetric input, so it is written here rather than adding a
//! crate for it.

use super::canonical::{CanonicalFace, NUM_VERTICES};
use crate::{Error, Result};

/// A similarity transform from canonical space to image space, with its
/// rotation also given as yaw/pitch/roll (conventions in the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPose {
    /// Turn left/right, radians; positive = face turns toward the image right.
    pub yaw: f32,
    /// Nod, radians; positive = head nods down.
    pub pitch: f32,
    /// Tilt, radians; positive = counter-clockwise as seen in the image.
    pub roll: f32,
    /// Rotation from canonical to image space (row-major, `R[row][col]`);
    /// `diag(1, -1, -1)` for a frontal face.
    pub rotation: [[f32; 3]; 3],
    /// Image position (pixels; z in landmark depth units) of the canonical
    /// origin, a point inside the head about 7.5 cm behind the nose tip.
    pub translation: [f32; 3],
    /// Pixels per canonical centimetre.
    pub scale: f32,
}

/// The result of fitting the canonical face to landmarks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseFit {
    /// The fitted pose.
    pub pose: HeadPose,
    /// Root-mean-square 3-D distance, in pixels, between all 468 landmarks
    /// and the posed canonical vertices. It includes expression (an open
    /// mouth, closed eyes) and face-shape differences, so it measures how
    /// canonical the face looks as much as how well the pose fits.
    pub rms_px: f32,
    /// Weighted RMS distance, in pixels, over the Procrustes basis only (the
    /// quantity the fit minimises); large values mean unreliable landmarks.
    pub basis_rms_px: f32,
}

type Mat3 = [[f64; 3]; 3];

/// The fixed flip between the canonical (y-up) and image (y-down) frames.
const FLIP: [f64; 3] = [1.0, -1.0, -1.0];

impl HeadPose {
    /// Fits the canonical face to a face's 468 landmarks (image space, see the
    /// module docs) with MediaPipe's weighted Procrustes basis.
    ///
    /// Fails with [`Error::Input`] on a wrong landmark count, non-finite
    /// values, or landmarks too degenerate to define a pose (all equal,
    /// collinear).
    pub fn fit(face: &CanonicalFace, landmarks: &[[f32; 3]]) -> Result<PoseFit> {
        if landmarks.len() != NUM_VERTICES {
            return Err(Error::Input(format!(
                "head pose needs {NUM_VERTICES} face landmarks, got {}",
                landmarks.len()
            )));
        }
        check_finite(landmarks)?;
        let source = face.points(&face.procrustes_ids);
        let target: Vec<[f32; 3]> = face.procrustes_ids.iter().map(|&i| landmarks[i]).collect();
        let (pose, basis_rms_px) = Self::fit_points(&source, &target, &face.procrustes_weights)?;
        let posed = pose.project(&face.vertices);
        let sq: f64 = posed
            .iter()
            .zip(landmarks)
            .map(|(p, l)| {
                (0..3)
                    .map(|k| (p[k] as f64 - l[k] as f64).powi(2))
                    .sum::<f64>()
            })
            .sum();
        let rms_px = (sq / NUM_VERTICES as f64).sqrt() as f32;
        Ok(PoseFit {
            pose,
            rms_px,
            basis_rms_px,
        })
    }

    /// Weighted similarity fit (Umeyama): the scale `s`, rotation `R` and
    /// translation `t` minimising `Σ wᵢ |s·R·sourceᵢ + t − targetᵢ|²`, with `R`
    /// a proper rotation. Returns the pose and the weighted RMS residual
    /// (`sqrt(Σ wᵢ|rᵢ|² / Σ wᵢ)`, in target units).
    ///
    /// Exposed for fits over other point sets (e.g. all 468 vertices, or a
    /// subset visible in a crop).
    pub fn fit_points(
        source: &[[f32; 3]],
        target: &[[f32; 3]],
        weights: &[f32],
    ) -> Result<(HeadPose, f32)> {
        let n = source.len();
        if target.len() != n || weights.len() != n || n < 3 {
            return Err(Error::Input(format!(
                "pose fit needs at least 3 matching points and weights, got {n}, {} and {}",
                target.len(),
                weights.len()
            )));
        }
        check_finite(source)?;
        check_finite(target)?;
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::Input(
                "pose fit weights must be finite and non-negative".into(),
            ));
        }
        let wsum: f64 = weights.iter().map(|&w| w as f64).sum();
        if wsum <= 0.0 {
            return Err(Error::Input("pose fit weights are all zero".into()));
        }

        // Weighted centroids and the cross-covariance S = Σ w a bᵀ of the
        // centred point sets (a: source, b: target).
        let centroid = |pts: &[[f32; 3]]| {
            let mut c = [0.0f64; 3];
            for (p, &w) in pts.iter().zip(weights) {
                for k in 0..3 {
                    c[k] += w as f64 * p[k] as f64;
                }
            }
            c.map(|x| x / wsum)
        };
        let (ca, cb) = (centroid(source), centroid(target));
        let mut s = [[0.0f64; 3]; 3];
        let (mut var_a, mut var_b) = (0.0f64, 0.0f64);
        for ((a, b), &w) in source.iter().zip(target).zip(weights) {
            let w = w as f64;
            let a = [0, 1, 2].map(|k| a[k] as f64 - ca[k]);
            let b = [0, 1, 2].map(|k| b[k] as f64 - cb[k]);
            for i in 0..3 {
                for j in 0..3 {
                    s[i][j] += w * a[i] * b[j];
                }
            }
            var_a += w * dot(a, a);
            var_b += w * dot(b, b);
        }
        let degenerate = || {
            Error::Input(
                "face landmarks are degenerate (all at one point or on one line); \
                 cannot fit a head pose"
                    .into(),
            )
        };
        // (Written so that NaN also fails.)
        let spread = var_a > 0.0 && var_b > 1e-12 * (1.0 + dot(cb, cb));
        if !spread {
            return Err(degenerate());
        }

        // Horn: the rotation maximising Σ w bᵢ·(R aᵢ) is the unit quaternion
        // that is the dominant eigenvector of this symmetric 4×4 matrix, and
        // the maximum (the top eigenvalue) is Σ w bᵢ·(R aᵢ) itself.
        let [[sxx, sxy, sxz], [syx, syy, syz], [szx, szy, szz]] = s;
        let n4 = [
            [sxx + syy + szz, syz - szy, szx - sxz, sxy - syx],
            [syz - szy, sxx - syy - szz, sxy + syx, szx + sxz],
            [szx - sxz, sxy + syx, -sxx + syy - szz, syz + szy],
            [sxy - syx, szx + sxz, syz + szy, -sxx - syy + szz],
        ];
        let (vals, vecs) = jacobi_eigen4(n4);
        let mut order = [0usize, 1, 2, 3];
        order.sort_by(|&i, &j| vals[j].total_cmp(&vals[i]));
        let (top, second) = (vals[order[0]], vals[order[1]]);
        // With singular values d1 ≥ d2 ≥ d3 of S, the gap between the top two
        // eigenvalues is 2(d2 + d3) (or 2(d2 - d3) for a reflection-like S):
        // zero when the points are collinear and the roll about that line is
        // undetermined.
        let determined = top > 0.0 && top - second > 1e-9 * top;
        if !determined {
            return Err(degenerate());
        }
        let q = [0, 1, 2, 3].map(|k| vecs[k][order[0]]);
        let r = quat_to_mat(q);
        let scale = top / var_a;
        let ra = mat_vec(&r, ca);
        let t = [0, 1, 2].map(|k| cb[k] - scale * ra[k]);
        // Σ w|s R a − b|² = s²·var_a − 2s·top + var_b = var_b − top²/var_a.
        let resid = ((var_b - top * top / var_a).max(0.0) / wsum).sqrt();
        if !scale.is_finite() || scale <= 0.0 || !resid.is_finite() {
            return Err(degenerate());
        }
        Ok((Self::from_transform(r, t, scale), resid as f32))
    }

    /// The pose with the given angles (radians, conventions in the module
    /// docs), scale (pixels per centimetre) and translation (image position
    /// of the canonical origin). The motion stage builds poses this way.
    pub fn from_angles(yaw: f32, pitch: f32, roll: f32, scale: f32, translation: [f32; 3]) -> Self {
        let h = head_rotation(yaw as f64, pitch as f64, roll as f64);
        let r = flip_rows(h);
        HeadPose {
            yaw,
            pitch,
            roll,
            rotation: r.map(|row| row.map(|x| x as f32)),
            translation,
            scale,
        }
    }

    /// Builds the pose from a canonical→image rotation matrix (must be a
    /// proper rotation), translation and scale; derives the angles.
    fn from_transform(r: Mat3, t: [f64; 3], scale: f64) -> Self {
        let h = flip_rows(r); // FLIP is its own inverse
        let pitch = (-h[1][2]).clamp(-1.0, 1.0).asin();
        let (yaw, roll) = if h[1][2].abs() < 1.0 - 1e-9 {
            (h[0][2].atan2(h[2][2]), h[1][0].atan2(h[1][1]))
        } else {
            // Gimbal lock (pitch ±90°): only yaw ∓ roll is defined; it is
            // atan2(-H20, H00) for both signs, and goes into yaw.
            ((-h[2][0]).atan2(h[0][0]), 0.0)
        };
        HeadPose {
            yaw: yaw as f32,
            pitch: pitch as f32,
            roll: roll as f32,
            rotation: r.map(|row| row.map(|x| x as f32)),
            translation: t.map(|x| x as f32),
            scale: scale as f32,
        }
    }

    /// Applies the pose to one canonical point: `scale · R · p + translation`.
    pub fn project_point(&self, p: [f32; 3]) -> [f32; 3] {
        let r = &self.rotation;
        [0, 1, 2].map(|i| {
            self.scale * (r[i][0] * p[0] + r[i][1] * p[1] + r[i][2] * p[2]) + self.translation[i]
        })
    }

    /// Applies the pose to canonical points (e.g. [`CanonicalFace::vertices`]),
    /// giving image-space positions in the landmarks' frame: x, y in pixels,
    /// z depth with smaller = closer to the camera.
    pub fn project(&self, canonical_points: &[[f32; 3]]) -> Vec<[f32; 3]> {
        canonical_points
            .iter()
            .map(|&p| self.project_point(p))
            .collect()
    }
}

/// `H = Ry(yaw) · Rx(pitch) · Rz(roll)`, right-handed, in the y-up frame.
fn head_rotation(yaw: f64, pitch: f64, roll: f64) -> Mat3 {
    let (sa, ca) = yaw.sin_cos();
    let (sb, cb) = pitch.sin_cos();
    let (sc, cc) = roll.sin_cos();
    [
        [ca * cc + sa * sb * sc, -ca * sc + sa * sb * cc, sa * cb],
        [cb * sc, cb * cc, -sb],
        [-sa * cc + ca * sb * sc, sa * sc + ca * sb * cc, ca * cb],
    ]
}

/// `diag(1, -1, -1) · m`: converts between the y-up and the image frame.
fn flip_rows(m: Mat3) -> Mat3 {
    [0, 1, 2].map(|i| m[i].map(|x| FLIP[i] * x))
}

fn check_finite(points: &[[f32; 3]]) -> Result<()> {
    if points.iter().flatten().any(|x| !x.is_finite()) {
        return Err(Error::Input(
            "face landmarks contain NaN or infinite values; cannot fit a head pose".into(),
        ));
    }
    Ok(())
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn mat_vec(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [0, 1, 2].map(|i| dot(m[i], v))
}

/// Rotation matrix of the quaternion `(w, x, y, z)` (normalised here).
fn quat_to_mat(q: [f64; 4]) -> Mat3 {
    let n = (q.iter().map(|x| x * x).sum::<f64>()).sqrt();
    let [w, x, y, z] = q.map(|v| v / n);
    [
        [
            1.0 - 2.0 * (y * y + z * z),
            2.0 * (x * y - z * w),
            2.0 * (x * z + y * w),
        ],
        [
            2.0 * (x * y + z * w),
            1.0 - 2.0 * (x * x + z * z),
            2.0 * (y * z - x * w),
        ],
        [
            2.0 * (x * z - y * w),
            2.0 * (y * z + x * w),
            1.0 - 2.0 * (x * x + y * y),
        ],
    ]
}

/// Eigen-decomposition of a symmetric 4×4 matrix by cyclic Jacobi rotations.
/// Returns the eigenvalues and the eigenvectors as the columns of a matrix
/// (`vecs[row][k]` is component `row` of eigenvector `k`).
fn jacobi_eigen4(mut a: [[f64; 4]; 4]) -> ([f64; 4], [[f64; 4]; 4]) {
    let mut v = [[0.0; 4]; 4];
    for (i, row) in v.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    let norm: f64 = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..64 {
        let off: f64 = (0..4)
            .flat_map(|p| ((p + 1)..4).map(move |q| (p, q)))
            .map(|(p, q)| a[p][q] * a[p][q])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm || off == 0.0 {
            break;
        }
        for p in 0..3 {
            for q in (p + 1)..4 {
                if a[p][q] == 0.0 {
                    continue;
                }
                // Rotation angle that zeroes a[p][q] (Numerical Recipes §11.1).
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A ← Jᵀ A J: columns p, q, then rows p, q.
                for row in a.iter_mut() {
                    let (akp, akq) = (row[p], row[q]);
                    row[p] = c * akp - s * akq;
                    row[q] = s * akp + c * akq;
                }
                let (mut rp, mut rq) = (a[p], a[q]);
                for (apk, aqk) in rp.iter_mut().zip(rq.iter_mut()) {
                    let (x, y) = (*apk, *aqk);
                    *apk = c * x - s * y;
                    *aqk = s * x + c * y;
                }
                (a[p], a[q]) = (rp, rq);
                for row in v.iter_mut() {
                    let (vkp, vkq) = (row[p], row[q]);
                    row[p] = c * vkp - s * vkq;
                    row[q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ([a[0][0], a[1][1], a[2][2], a[3][3]], v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn face() -> Arc<CanonicalFace> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models");
        CanonicalFace::shared(&dir).expect("canonical face model loads")
    }

    /// Small deterministic PRNG (xorshift64*), uniform in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            x as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    fn deg(x: f32) -> f32 {
        x.to_degrees()
    }

    #[test]
    fn jacobi_solves_a_known_matrix() {
        // Diagonal in a rotated basis: eigenvalues 4, 3, -1, 0.5.
        let q = quat_to_mat([0.9, 0.1, -0.3, 0.2]);
        let mut a = [[0.0; 4]; 4];
        let d = [4.0, 3.0, -1.0];
        for i in 0..3 {
            for j in 0..3 {
                a[i][j] = (0..3).map(|k| q[i][k] * d[k] * q[j][k]).sum();
            }
        }
        a[3][3] = 0.5;
        let (vals, vecs) = jacobi_eigen4(a);
        let mut sorted = vals;
        sorted.sort_by(f64::total_cmp);
        for (got, want) in sorted.iter().zip([-1.0, 0.5, 3.0, 4.0]) {
            assert!((got - want).abs() < 1e-12, "{vals:?}");
        }
        // A v = λ v for every pair.
        for k in 0..4 {
            for i in 0..4 {
                let av: f64 = (0..4).map(|j| a[i][j] * vecs[j][k]).sum();
                assert!((av - vals[k] * vecs[i][k]).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn angles_round_trip_and_frontal_is_the_axis_flip() {
        let p = HeadPose::from_angles(0.0, 0.0, 0.0, 1.0, [0.0; 3]);
        assert_eq!(
            p.rotation,
            [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]
        );
        for &(y, pi, r) in &[
            (0.3f32, -0.2f32, 0.7f32),
            (-1.2, 0.6, -0.4),
            (2.5, 1.2, 3.0),
        ] {
            let a = HeadPose::from_angles(y, pi, r, 2.0, [1.0, 2.0, 3.0]);
            let m = a.rotation.map(|row| row.map(|x| x as f64));
            let b = HeadPose::from_transform(m, [1.0, 2.0, 3.0], 2.0);
            assert!((a.yaw - b.yaw).abs() < 1e-5 && (a.pitch - b.pitch).abs() < 1e-5);
            assert!((a.roll - b.roll).abs() < 1e-5, "{a:?} {b:?}");
        }
    }

    /// The documented signs, checked on the projected canonical face.
    #[test]
    fn sign_conventions_in_image_terms() {
        let f = face();
        let k = f.groups.keypoints;
        let at = |yaw: f32, pitch: f32, roll: f32| {
            HeadPose::from_angles(
                yaw.to_radians(),
                pitch.to_radians(),
                roll.to_radians(),
                10.0,
                [256.0, 256.0, 0.0],
            )
            .project(&f.vertices)
        };
        let front = at(0.0, 0.0, 0.0);
        // Frontal: subject's right eye on the image left, chin below the nose,
        // nose tip closest to the camera (smallest z).
        assert!(front[k.right_eye_outer][0] < front[k.left_eye_outer][0]);
        assert!(front[k.chin][1] > front[k.nose_tip][1]);
        let nearest = (0..NUM_VERTICES)
            .min_by(|&a, &b| front[a][2].total_cmp(&front[b][2]))
            .unwrap();
        assert!(f.groups.nose_bridge.contains(&nearest) || nearest == 4);
        // yaw > 0: nose moves toward the image right (relative to the head centre).
        let turned = at(20.0, 0.0, 0.0);
        assert!(turned[k.nose_tip][0] > front[k.nose_tip][0] + 10.0);
        // pitch > 0: nose moves toward the image bottom.
        let nod = at(0.0, 20.0, 0.0);
        assert!(nod[k.nose_tip][1] > front[k.nose_tip][1] + 10.0);
        // roll > 0: counter-clockwise in the image; the left eye (image right) rises.
        let tilt = at(0.0, 0.0, 20.0);
        assert!(tilt[k.left_eye_outer][1] < tilt[k.right_eye_outer][1] - 10.0);
    }

    #[test]
    fn synthetic_round_trip_recovers_pose() {
        let f = face();
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let angles = [-45.0f32, -30.0, -10.0, 0.0, 15.0, 45.0];
        let mut worst = 0.0f32;
        for &yaw in &angles {
            for &pitch in &angles {
                for &roll in &angles {
                    let scale = 8.0 + 12.0 * (rng.next() + 1.0); // 8..32 px/cm
                    let t = [
                        300.0 * rng.next() + 400.0,
                        300.0 * rng.next() + 300.0,
                        50.0 * rng.next(),
                    ];
                    let truth = HeadPose::from_angles(
                        yaw.to_radians(),
                        pitch.to_radians(),
                        roll.to_radians(),
                        scale,
                        t,
                    );
                    // 0.5 px uniform noise on every landmark (a face ~250-1000 px wide).
                    let lm: Vec<[f32; 3]> = truth
                        .project(&f.vertices)
                        .into_iter()
                        .map(|p| p.map(|x| x + 0.5 * rng.next()))
                        .collect();
                    let fit = HeadPose::fit(&f, &lm).expect("fit succeeds");
                    let p = fit.pose;
                    let err = [deg(p.yaw) - yaw, deg(p.pitch) - pitch, deg(p.roll) - roll]
                        .map(f32::abs)
                        .into_iter()
                        .fold(0.0, f32::max);
                    worst = worst.max(err);
                    assert!(err < 0.5, "yaw {yaw} pitch {pitch} roll {roll}: got {p:?}");
                    assert!(
                        (p.scale / scale - 1.0).abs() < 0.01,
                        "scale {} vs {scale}",
                        p.scale
                    );
                    for (got, want) in p.translation.iter().zip(t) {
                        assert!(
                            (got - want).abs() < 0.2 * scale,
                            "translation {got} vs {want}"
                        );
                    }
                    assert!(fit.rms_px < 0.7 && fit.basis_rms_px < 0.7, "{fit:?}");
                    // Rotation is orthonormal with det +1.
                    let r = p.rotation;
                    let det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
                        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
                        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
                    assert!((det - 1.0).abs() < 1e-4);
                }
            }
        }
        assert!(worst < 0.5, "worst angle error {worst}°");
    }

    #[test]
    fn project_matches_fit_and_expression_shows_in_rms() {
        let f = face();
        let truth = HeadPose::from_angles(0.2, -0.1, 0.05, 12.0, [320.0, 240.0, 10.0]);
        let mut lm = truth.project(&f.vertices);
        let exact = HeadPose::fit(&f, &lm).unwrap();
        assert!(
            exact.rms_px < 1e-3 && exact.basis_rms_px < 1e-3,
            "{exact:?}"
        );
        // Open the mouth: the lower lip and jaw (less the few jaw-corner points
        // in the Procrustes basis) move down 30 px. The pose stays put and the
        // all-landmark RMS shows the expression.
        let lower: Vec<usize> = f
            .groups
            .jaw
            .iter()
            .copied()
            .chain([14, 17, 87, 178, 317, 402])
            .collect();
        for i in lower.into_iter().filter(|i| !f.procrustes_ids.contains(i)) {
            lm[i][1] += 30.0;
        }
        let open = HeadPose::fit(&f, &lm).unwrap();
        assert!(
            (open.pose.yaw - truth.yaw).abs() < 1e-3
                && (open.pose.pitch - truth.pitch).abs() < 1e-3
        );
        assert!(open.basis_rms_px < 2.0 && open.rms_px > 5.0, "{open:?}");
    }

    #[test]
    fn degenerate_inputs_are_errors_not_panics() {
        let f = face();
        let good =
            HeadPose::from_angles(0.1, 0.1, 0.1, 10.0, [100.0, 100.0, 0.0]).project(&f.vertices);
        let is_input = |r: Result<PoseFit>| matches!(r, Err(Error::Input(_)));
        // NaN or infinity anywhere (in the basis or not).
        for (i, bad) in [
            (4usize, f32::NAN),
            (0, f32::INFINITY),
            (4, f32::NEG_INFINITY),
        ] {
            let mut lm = good.clone();
            lm[i][1] = bad;
            assert!(is_input(HeadPose::fit(&f, &lm)));
        }
        // All points equal, all zero.
        assert!(is_input(HeadPose::fit(
            &f,
            &vec![[5.0, 5.0, 5.0]; NUM_VERTICES]
        )));
        assert!(is_input(HeadPose::fit(&f, &vec![[0.0; 3]; NUM_VERTICES])));
        // Collinear landmarks.
        let line: Vec<[f32; 3]> = (0..NUM_VERTICES)
            .map(|i| [i as f32, 2.0 * i as f32, 0.0])
            .collect();
        assert!(is_input(HeadPose::fit(&f, &line)));
        // Wrong count, empty.
        assert!(is_input(HeadPose::fit(&f, &good[..100])));
        assert!(is_input(HeadPose::fit(&f, &[])));
        // Bad weights / mismatched lengths in the general fit.
        let src = f.points(&[1, 33, 263, 152]);
        let dst = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ];
        assert!(HeadPose::fit_points(&src, &dst, &[0.0; 4]).is_err());
        assert!(HeadPose::fit_points(&src, &dst, &[1.0, f32::NAN, 1.0, 1.0]).is_err());
        assert!(HeadPose::fit_points(&src, &dst, &[1.0, -1.0, 1.0, 1.0]).is_err());
        assert!(HeadPose::fit_points(&src, &dst[..3], &[1.0; 4]).is_err());
        // Flat (z = 0) but otherwise sound landmarks still fit.
        let flat: Vec<[f32; 3]> = good.iter().map(|p| [p[0], p[1], 0.0]).collect();
        assert!(HeadPose::fit(&f, &flat).is_ok());
    }

    /// MediaPipe 0.10.21's own face mesh on `examples/portrait.png` (and that
    /// image rotated 20° counter-clockwise, and mirrored): the 33 Procrustes
    /// basis landmarks, in `procrustes_ids` order, x/y in pixels, z = MediaPipe
    /// z × image width.
    const PORTRAIT: [[f32; 3]; 33] = [
        [252.5, 282.8, -64.4],
        [255.4, 230.3, -36.3],
        [259.4, 138.0, -30.3],
        [178.8, 217.2, 11.3],
        [155.6, 161.5, 29.7],
        [197.9, 140.2, -14.4],
        [164.6, 241.3, 14.3],
        [197.1, 246.1, -0.5],
        [222.9, 240.1, -7.1],
        [136.4, 221.0, 97.7],
        [213.1, 278.8, -10.9],
        [138.7, 294.0, 110.3],
        [226.4, 224.6, 2.0],
        [165.1, 363.4, 72.9],
        [149.4, 220.8, 36.7],
        [143.2, 283.5, 42.1],
        [228.7, 264.3, -31.0],
        [178.7, 282.4, -1.6],
        [337.8, 225.5, 8.9],
        [361.7, 171.6, 25.9],
        [320.9, 146.1, -16.7],
        [349.0, 250.8, 11.5],
        [315.3, 252.5, -2.3],
        [289.3, 244.2, -8.2],
        [377.8, 232.9, 93.3],
        [294.6, 282.6, -11.9],
        [370.3, 305.4, 106.6],
        [287.6, 228.1, 0.9],
        [338.0, 371.9, 70.2],
        [364.2, 232.3, 33.5],
        [365.9, 294.2, 38.9],
        [279.6, 266.7, -31.7],
        [329.8, 289.6, -3.7],
    ];
    const PORTRAIT_ROT20: [[f32; 3]; 33] = [
        [262.1, 283.3, -64.0],
        [247.1, 232.4, -35.0],
        [221.3, 146.2, -26.8],
        [170.1, 245.3, 11.8],
        [133.2, 201.9, 30.8],
        [165.3, 168.5, -11.8],
        [165.3, 273.4, 14.2],
        [196.8, 266.9, -0.2],
        [219.2, 252.5, -6.5],
        [134.9, 263.1, 96.5],
        [223.4, 292.9, -11.1],
        [160.4, 330.5, 107.5],
        [217.8, 236.8, 3.0],
        [206.9, 386.8, 69.3],
        [146.2, 259.4, 36.6],
        [161.5, 319.2, 40.7],
        [233.5, 273.6, -30.6],
        [193.8, 307.2, -2.1],
        [322.2, 199.1, 10.6],
        [328.0, 142.3, 29.1],
        [281.4, 132.8, -12.9],
        [340.3, 220.0, 12.8],
        [309.0, 232.8, -1.3],
        [282.5, 233.5, -7.1],
        [363.3, 193.2, 94.8],
        [302.2, 267.9, -11.3],
        [380.2, 263.5, 106.2],
        [276.1, 218.6, 2.5],
        [371.3, 336.2, 68.3],
        [349.0, 197.0, 35.1],
        [371.0, 254.9, 39.2],
        [282.3, 258.3, -30.8],
        [336.0, 262.9, -3.3],
    ];
    const PORTRAIT_MIRROR: [[f32; 3]; 33] = [
        [257.5, 281.0, -63.5],
        [254.6, 229.0, -35.8],
        [250.7, 136.6, -30.6],
        [175.5, 224.3, 9.1],
        [149.7, 171.4, 26.6],
        [189.6, 145.4, -16.3],
        [161.5, 250.5, 11.9],
        [195.1, 251.7, -1.8],
        [221.8, 243.1, -7.9],
        [134.7, 233.5, 94.1],
        [216.8, 282.5, -11.5],
        [143.0, 306.4, 107.5],
        [225.2, 227.2, 0.8],
        [176.5, 373.3, 71.1],
        [147.9, 232.5, 33.7],
        [147.6, 295.2, 39.4],
        [231.1, 265.8, -31.1],
        [183.3, 290.1, -2.9],
        [331.9, 216.6, 10.6],
        [353.7, 159.7, 27.5],
        [312.0, 138.4, -15.8],
        [345.7, 240.8, 13.6],
        [313.6, 246.2, -0.9],
        [288.4, 240.3, -7.4],
        [372.4, 219.9, 95.4],
        [297.9, 277.6, -10.9],
        [371.5, 293.2, 108.9],
        [285.3, 224.3, 1.5],
        [347.9, 362.7, 72.0],
        [360.5, 219.7, 35.8],
        [367.0, 282.5, 41.3],
        [281.8, 262.8, -30.7],
        [332.5, 281.3, -2.1],
    ];

    #[test]
    fn real_mediapipe_landmarks() {
        let f = face();
        assert_eq!(f.procrustes_ids.len(), PORTRAIT.len());
        let src = f.points(&f.procrustes_ids);
        let w = &f.procrustes_weights;
        let (p, rms) = HeadPose::fit_points(&src, &PORTRAIT, w).unwrap();
        let (r, rms_r) = HeadPose::fit_points(&src, &PORTRAIT_ROT20, w).unwrap();
        let (m, rms_m) = HeadPose::fit_points(&src, &PORTRAIT_MIRROR, w).unwrap();
        // A near-frontal passport-style portrait; the face is ~15 cm × 16 px/cm wide.
        for a in [p.yaw, p.pitch, p.roll] {
            assert!(deg(a).abs() < 12.0, "{p:?}");
        }
        assert!((12.0..20.0).contains(&p.scale), "{p:?}");
        // Residuals of ~9 px = 0.55 cm: this face's shape differs from the
        // canonical one (and the model is weak-perspective); under 0.8 cm.
        for (fit, e) in [(p, rms), (r, rms_r), (m, rms_m)] {
            assert!(e / fit.scale < 0.8, "{e} px at {} px/cm", fit.scale);
        }
        // Rotating the image 20° counter-clockwise turns the head 20° about the
        // camera axis: H_rot · H_origᵀ ≈ Rz(20°). (Roll grows by about 20°;
        // with the face's 8° pitch, yaw and pitch mix by a few degrees.)
        let h = |x: &HeadPose| flip_rows(x.rotation.map(|row| row.map(|v| v as f64)));
        let (hp, hr) = (h(&p), h(&r));
        let rel: Mat3 =
            [0, 1, 2].map(|i| [0, 1, 2].map(|j| (0..3).map(|k| hr[i][k] * hp[j][k]).sum()));
        let about_z = rel[1][0].atan2(rel[0][0]).to_degrees();
        assert!(
            (about_z - 20.0).abs() < 2.0 && rel[2][2] > 3f64.to_radians().cos(),
            "{rel:?}"
        );
        assert!((deg(r.roll - p.roll) - 20.0).abs() < 2.0, "{p:?} {r:?}");
        // Mirroring the image negates yaw and roll, keeps pitch.
        assert!((deg(m.yaw + p.yaw)).abs() < 2.0, "{p:?} {m:?}");
        assert!((deg(m.roll + p.roll)).abs() < 2.0, "{p:?} {m:?}");
        assert!((deg(m.pitch - p.pitch)).abs() < 2.0, "{p:?} {m:?}");
    }
}
