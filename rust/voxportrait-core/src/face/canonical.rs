//! The canonical face model: MediaPipe's neutral 468-vertex face mesh.
//!
//! Every 468-point face mesh the face analysis produces is a posed, expressive
//! copy of this one model, vertex for vertex. The renderer poses it with
//! [`super::pose::HeadPose`], the pose fit aligns it to detected landmarks, and
//! the motion stage addresses mouth, eyes and jaw through the named
//! [`FaceGroups`] instead of bare index numbers.
//!
//! The data comes from `models/canonical_face.safetensors`, converted from npm
//! `@mediapipe/face_mesh` (Apache-2.0) by `tools/extract_canonical_face.py`;
//! `models/canonical_face.md` documents every tensor.
//!
//! # Coordinate frame and left/right
//!
//! Canonical vertices are in centimetres, in a right-handed frame looking at
//! the face from the front: **x** toward the image right, **y** up, **z**
//! toward the viewer (the nose tip has the largest z). "Left" and "right" in
//! every name are the *subject's* (MediaPipe's convention): the subject's right
//! eye (vertices 33/133) has negative x and appears on the *image's left* in an
//! unmirrored photo.
//!
//! Triangles wind counter-clockwise as the face is seen from the front
//! (positive signed area in this y-up frame). Posed into y-down pixel
//! coordinates by a frontal [`super::pose::HeadPose`], the same visual winding
//! gives a *negative* shoelace/edge-function area, and a back-facing triangle
//! a positive one. The mesh is a single disk: it covers the eye and mouth
//! openings (see [`TriangleGroups`]) and its only boundary is the face oval.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use safetensors::{Dtype, SafeTensors};

use crate::{Error, Result};

/// File name of the canonical face model inside the models directory.
pub const FILE_NAME: &str = "canonical_face.safetensors";
/// Number of vertices of the canonical mesh (and landmarks of the face mesh).
pub const NUM_VERTICES: usize = 468;
/// Number of triangles of the canonical mesh.
pub const NUM_TRIANGLES: usize = 898;
/// Number of landmarks of the refined face mesh (468 mesh points + 2 × 5 iris
/// points); the only indices of [`FaceGroups`] that can reach past
/// [`NUM_VERTICES`] are the iris groups.
pub const NUM_REFINED_LANDMARKS: usize = 478;

/// Key-point names in the order of the `group.keypoints` tensor; the file's
/// `keypoint_names` metadata must match this list.
const KEYPOINT_NAMES: [&str; 12] = [
    "nose_tip",
    "chin",
    "mouth_right",
    "mouth_left",
    "right_eye_outer",
    "right_eye_inner",
    "left_eye_inner",
    "left_eye_outer",
    "upper_lip_inner",
    "lower_lip_inner",
    "upper_lip_outer",
    "lower_lip_outer",
];

/// The canonical face: geometry, topology, Procrustes basis and named groups.
///
/// Loaded once per process (see [`CanonicalFace::shared`]); it is small
/// (about 24 KB) and immutable.
#[derive(Debug, Clone, PartialEq)]
pub struct CanonicalFace {
    /// 468 vertex positions in centimetres (x image-right, y up, z toward
    /// the viewer; see the module docs).
    pub vertices: Vec<[f32; 3]>,
    /// 468 texture coordinates (u to the right, v *down*, both in 0..1) of
    /// MediaPipe's face texture layout.
    pub uv: Vec<[f32; 2]>,
    /// 898 triangles as vertex indices, counter-clockwise as seen from the
    /// front (see the module docs for what that means in pixel coordinates).
    pub triangles: Vec<[u32; 3]>,
    /// Vertex indices of MediaPipe's Procrustes landmark basis (33 rigid,
    /// expression-stable points: forehead, nose, eye corners, cheekbones).
    pub procrustes_ids: Vec<usize>,
    /// Weights of [`Self::procrustes_ids`], as MediaPipe uses them to fit the
    /// model to landmarks (they sum to 1.055; the nose, eye corners and jaw
    /// corners weigh most).
    pub procrustes_weights: Vec<f32>,
    /// Named, ordered vertex groups (lips, eyes, brows, oval, jaw, nose...).
    pub groups: FaceGroups,
    /// Named triangle groups (the faces that fill the mouth and eye openings).
    pub triangle_groups: TriangleGroups,
}

/// Ordered vertex-index lists of the facial features.
///
/// Orderings, for an upright frontal face:
/// - **rings** (closed outlines; the first vertex is not repeated) start at
///   their leftmost vertex in the image (the face oval at its top) and run
///   over the top first, i.e. clockwise as seen in the image;
/// - **polylines** (eyelids, jaw) run from image left to image right;
/// - the nose bridge runs from between the eyes down to the tip.
///
/// "Left"/"right" are the subject's: `left_*` features are on the image's
/// right (positive canonical x). All indices are canonical vertex indices
/// (< 468) except the iris groups.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceGroups {
    /// Outer lip outline (vermilion border), ring of 20 starting at the
    /// subject's right mouth corner 61: upper lip 61→291, then lower lip back.
    pub lips_outer: Vec<usize>,
    /// Inner lip outline (where the lips meet; the mouth opening), ring of 20
    /// starting at the inner corner 78: upper lip 78→308, then lower lip back.
    pub lips_inner: Vec<usize>,
    /// Subject's right eye, upper lid, 9 vertices from the outer corner 33 to
    /// the inner corner 133 (image left to right).
    pub right_eye_upper: Vec<usize>,
    /// Subject's right eye, lower lid, 9 vertices from 33 to 133.
    pub right_eye_lower: Vec<usize>,
    /// Subject's left eye, upper lid, 9 vertices from the inner corner 362 to
    /// the outer corner 263 (image left to right).
    pub left_eye_upper: Vec<usize>,
    /// Subject's left eye, lower lid, 9 vertices from 362 to 263.
    pub left_eye_lower: Vec<usize>,
    /// Subject's right eyebrow outline, ring of 10: the upper edge from image
    /// left to right (5), then the lower edge back (5).
    pub right_brow: Vec<usize>,
    /// Subject's left eyebrow outline, ring of 10, same layout as `right_brow`.
    pub left_brow: Vec<usize>,
    /// Face outline, ring of 36 from the forehead top 10, clockwise in the
    /// image (toward the image right first), through the chin 152. It is also
    /// the mesh's only boundary.
    pub face_oval: Vec<usize>,
    /// Jaw line, the lower part of the oval from the subject's right ear point
    /// 234 (image left) via the chin 152 to the left ear point 454: 21 vertices.
    pub jaw: Vec<usize>,
    /// Nose bridge, 7 midline vertices from between the eyes (168) down to the
    /// nose tip (1).
    pub nose_bridge: Vec<usize>,
    /// Nose outline (alae and base), ring of 16 from its leftmost vertex,
    /// over the tip region (4) and back along the base (2).
    pub nose_outline: Vec<usize>,
    /// Subject's right iris in the 478-point *refined* landmark numbering
    /// (face mesh with iris refinement): centre 468, then the ring 469..472.
    /// Not vertices of the canonical mesh.
    pub right_iris: [usize; 5],
    /// Subject's left iris, refined numbering: centre 473, then ring 474..477.
    pub left_iris: [usize; 5],
    /// Single named landmarks.
    pub keypoints: KeyPoints,
}

/// Single landmarks used as anchors (vertex indices, subject's left/right).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPoints {
    /// Nose tip (1), just below the most protruding point 4.
    pub nose_tip: usize,
    /// Chin, lowest midline point of the face oval (152).
    pub chin: usize,
    /// Subject's right mouth corner (61, image left).
    pub mouth_right: usize,
    /// Subject's left mouth corner (291, image right).
    pub mouth_left: usize,
    /// Subject's right eye, outer corner (33, image left).
    pub right_eye_outer: usize,
    /// Subject's right eye, inner corner (133).
    pub right_eye_inner: usize,
    /// Subject's left eye, inner corner (362).
    pub left_eye_inner: usize,
    /// Subject's left eye, outer corner (263, image right).
    pub left_eye_outer: usize,
    /// Upper lip midpoint on the inner outline (13); with `lower_lip_inner`
    /// it measures how far the mouth is open.
    pub upper_lip_inner: usize,
    /// Lower lip midpoint on the inner outline (14).
    pub lower_lip_inner: usize,
    /// Upper lip midpoint on the outer outline (0).
    pub upper_lip_outer: usize,
    /// Lower lip midpoint on the outer outline (17).
    pub lower_lip_outer: usize,
}

/// Triangle-index lists (into [`CanonicalFace::triangles`]) of the faces that
/// close the mesh's openings. The canonical mesh is one disk, so a renderer
/// that shows an open mouth or draws eyes separately skips these.
#[derive(Debug, Clone, PartialEq)]
pub struct TriangleGroups {
    /// The 18 triangles spanning the inner lip ring (the mouth opening).
    pub mouth_interior: Vec<usize>,
    /// The 14 triangles spanning the subject's right eye opening.
    pub right_eye_interior: Vec<usize>,
    /// The 14 triangles spanning the subject's left eye opening.
    pub left_eye_interior: Vec<usize>,
}

impl CanonicalFace {
    /// Loads `models_dir/canonical_face.safetensors`.
    ///
    /// A missing or damaged file is an [`Error::Input`] naming the file and
    /// how to restore it.
    pub fn load(models_dir: &Path) -> Result<Self> {
        let path = models_dir.join(FILE_NAME);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::input(
                &path,
                format!(
                    "cannot read the canonical face model ({e}); reinstall VoxPortrait \
                     or regenerate it with tools/extract_canonical_face.py"
                ),
            )
        })?;
        Self::parse(&bytes).map_err(|msg| {
            Error::input(
                &path,
                format!(
                    "damaged canonical face model ({msg}); reinstall VoxPortrait \
                     or regenerate it with tools/extract_canonical_face.py"
                ),
            )
        })
    }

    /// The process-wide instance for `models_dir`, loaded on first use.
    ///
    /// Every stage that needs the model (pose fit, renderer, motion) shares
    /// one copy instead of re-reading the file per job; failures are not
    /// cached, so a fixed installation works on the next call.
    pub fn shared(models_dir: &Path) -> Result<Arc<Self>> {
        static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<CanonicalFace>>>> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(face) = cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(models_dir)
        {
            return Ok(face.clone());
        }
        let face = Arc::new(Self::load(models_dir)?);
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(models_dir.to_path_buf(), face.clone());
        Ok(face)
    }

    /// Parses and validates the safetensors bytes of the model (layout in
    /// `models/canonical_face.md`), e.g. from an embedded copy.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes).map_err(|msg| Error::internal("damaged canonical face model", msg))
    }

    /// [`Self::from_bytes`] with a bare description of what is wrong, for the
    /// callers to wrap with the file's name.
    fn parse(bytes: &[u8]) -> std::result::Result<Self, String> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not safetensors: {e}"))?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let names = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("keypoint_names"))
            .ok_or("no keypoint_names metadata")?;
        if names.split(',').ne(KEYPOINT_NAMES.iter().copied()) {
            return Err(format!("unexpected keypoint_names {names:?}"));
        }

        let vertices = rows::<3, _>(&f32s(&st, "vertices", Some(NUM_VERTICES * 3))?);
        let uv = rows::<2, _>(&f32s(&st, "uv", Some(NUM_VERTICES * 2))?);
        let tri = u32s(&st, "triangles", Some(NUM_TRIANGLES * 3), NUM_VERTICES)?;
        let triangles = rows::<3, _>(&tri);
        let procrustes_ids = indices(&st, "procrustes_ids", None, NUM_VERTICES)?;
        let procrustes_weights = f32s(&st, "procrustes_weights", Some(procrustes_ids.len()))?;
        if procrustes_ids.is_empty()
            || procrustes_weights
                .iter()
                .any(|w| !w.is_finite() || *w < 0.0)
        {
            return Err("invalid Procrustes basis".into());
        }
        if vertices
            .iter()
            .flatten()
            .chain(uv.iter().flatten())
            .any(|x| !x.is_finite())
        {
            return Err("non-finite vertex data".into());
        }

        let g = |name: &str| indices(&st, &format!("group.{name}"), None, NUM_VERTICES);
        let iris = |name: &str| -> std::result::Result<[usize; 5], String> {
            let v = indices(
                &st,
                &format!("group.{name}"),
                Some(5),
                NUM_REFINED_LANDMARKS,
            )?;
            Ok([v[0], v[1], v[2], v[3], v[4]])
        };
        let k = indices(
            &st,
            "group.keypoints",
            Some(KEYPOINT_NAMES.len()),
            NUM_VERTICES,
        )?;
        let groups = FaceGroups {
            lips_outer: g("lips_outer")?,
            lips_inner: g("lips_inner")?,
            right_eye_upper: g("right_eye_upper")?,
            right_eye_lower: g("right_eye_lower")?,
            left_eye_upper: g("left_eye_upper")?,
            left_eye_lower: g("left_eye_lower")?,
            right_brow: g("right_brow")?,
            left_brow: g("left_brow")?,
            face_oval: g("face_oval")?,
            jaw: g("jaw")?,
            nose_bridge: g("nose_bridge")?,
            nose_outline: g("nose_outline")?,
            right_iris: iris("right_iris")?,
            left_iris: iris("left_iris")?,
            keypoints: KeyPoints {
                nose_tip: k[0],
                chin: k[1],
                mouth_right: k[2],
                mouth_left: k[3],
                right_eye_outer: k[4],
                right_eye_inner: k[5],
                left_eye_inner: k[6],
                left_eye_outer: k[7],
                upper_lip_inner: k[8],
                lower_lip_inner: k[9],
                upper_lip_outer: k[10],
                lower_lip_outer: k[11],
            },
        };
        let tg = |name: &str| indices(&st, &format!("triangle_group.{name}"), None, NUM_TRIANGLES);
        let triangle_groups = TriangleGroups {
            mouth_interior: tg("mouth_interior")?,
            right_eye_interior: tg("right_eye_interior")?,
            left_eye_interior: tg("left_eye_interior")?,
        };
        Ok(Self {
            vertices,
            uv,
            triangles,
            procrustes_ids,
            procrustes_weights,
            groups,
            triangle_groups,
        })
    }

    /// The canonical positions of the vertices `ids` (e.g. a group), in order.
    pub fn points(&self, ids: &[usize]) -> Vec<[f32; 3]> {
        ids.iter().map(|&i| self.vertices[i]).collect()
    }
}

/// A little-endian F32 tensor, flattened; `len` checks the element count.
fn f32s(st: &SafeTensors, name: &str, len: Option<usize>) -> std::result::Result<Vec<f32>, String> {
    let bytes = tensor(st, name, Dtype::F32, len)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// A little-endian U32 tensor, flattened, with every value checked `< bound`.
fn u32s(
    st: &SafeTensors,
    name: &str,
    len: Option<usize>,
    bound: usize,
) -> std::result::Result<Vec<u32>, String> {
    let bytes = tensor(st, name, Dtype::U32, len)?;
    let v: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if let Some(bad) = v.iter().find(|&&i| i as usize >= bound) {
        return Err(format!("{name}: index {bad} out of range (< {bound})"));
    }
    Ok(v)
}

/// A U32 index tensor as `usize`s, checked `< bound`.
fn indices(
    st: &SafeTensors,
    name: &str,
    len: Option<usize>,
    bound: usize,
) -> std::result::Result<Vec<usize>, String> {
    Ok(u32s(st, name, len, bound)?
        .into_iter()
        .map(|i| i as usize)
        .collect())
}

/// Raw bytes of tensor `name`, checked for dtype and (optionally) element count.
fn tensor<'a>(
    st: &SafeTensors<'a>,
    name: &str,
    dtype: Dtype,
    len: Option<usize>,
) -> std::result::Result<&'a [u8], String> {
    let t = st
        .tensor(name)
        .map_err(|_| format!("tensor {name} missing"))?;
    if t.dtype() != dtype {
        return Err(format!(
            "tensor {name} is {:?}, expected {dtype:?}",
            t.dtype()
        ));
    }
    let n: usize = t.shape().iter().product();
    if len.is_some_and(|l| l != n) || n == 0 {
        return Err(format!("tensor {name} has shape {:?}", t.shape()));
    }
    Ok(t.data())
}

/// Groups a flat list into fixed-size rows.
fn rows<const N: usize, T: Copy + Default>(flat: &[T]) -> Vec<[T; N]> {
    flat.chunks_exact(N)
        .map(|c| {
            let mut r = [T::default(); N];
            r.copy_from_slice(c);
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    fn models_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models")
    }

    fn face() -> Arc<CanonicalFace> {
        CanonicalFace::shared(&models_dir()).expect("canonical face model loads")
    }

    /// Undirected mesh edges.
    fn edges(face: &CanonicalFace) -> HashSet<(usize, usize)> {
        let mut e = HashSet::new();
        for t in &face.triangles {
            for k in 0..3 {
                let (a, b) = (t[k] as usize, t[(k + 1) % 3] as usize);
                e.insert((a.min(b), a.max(b)));
            }
        }
        e
    }

    fn mean(face: &CanonicalFace, ids: &[usize], axis: usize) -> f32 {
        ids.iter().map(|&i| face.vertices[i][axis]).sum::<f32>() / ids.len() as f32
    }

    /// Point-in-polygon (even-odd) in the canonical x-y plane.
    fn inside(face: &CanonicalFace, ring: &[usize], p: [f32; 3]) -> bool {
        let mut c = false;
        for k in 0..ring.len() {
            let a = face.vertices[ring[k]];
            let b = face.vertices[ring[(k + 1) % ring.len()]];
            if (a[1] > p[1]) != (b[1] > p[1])
                && p[0] < a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0])
            {
                c = !c;
            }
        }
        c
    }

    /// Signed (shoelace) area of a ring in the canonical x-y plane: positive
    /// when it runs counter-clockwise as seen from the front.
    fn area(face: &CanonicalFace, ring: &[usize]) -> f32 {
        let mut s = 0.0;
        for k in 0..ring.len() {
            let a = face.vertices[ring[k]];
            let b = face.vertices[ring[(k + 1) % ring.len()]];
            s += a[0] * b[1] - b[0] * a[1];
        }
        0.5 * s
    }

    #[test]
    fn sizes_and_index_ranges() {
        let f = face();
        assert_eq!(f.vertices.len(), NUM_VERTICES);
        assert_eq!(f.uv.len(), NUM_VERTICES);
        assert_eq!(f.triangles.len(), NUM_TRIANGLES);
        assert!(f
            .triangles
            .iter()
            .flatten()
            .all(|&i| (i as usize) < NUM_VERTICES));
        assert!(f
            .triangles
            .iter()
            .all(|t| t[0] != t[1] && t[1] != t[2] && t[0] != t[2]));
        assert_eq!(f.procrustes_ids.len(), 33);
        assert_eq!(f.procrustes_weights.len(), 33);
        let wsum: f32 = f.procrustes_weights.iter().sum();
        assert!((0.9..1.1).contains(&wsum), "weights sum {wsum}");
        // Every vertex is used by some triangle; uv in the unit square.
        let used: HashSet<u32> = f.triangles.iter().flatten().copied().collect();
        assert_eq!(used.len(), NUM_VERTICES);
        assert!(f.uv.iter().flatten().all(|&u| (0.0..=1.0).contains(&u)));
        // Metric size: about 15.5 cm ear to ear, 17.7 cm forehead to chin.
        let k = f.groups.keypoints;
        let (l, r) = (f.vertices[454], f.vertices[234]);
        assert!((l[0] - r[0] - 15.3).abs() < 0.5);
        assert!(f.vertices[k.nose_tip][2] > 7.0);
    }

    #[test]
    fn triangles_are_consistently_oriented() {
        let f = face();
        // A consistently oriented manifold uses each directed edge once.
        let mut directed: HashMap<(usize, usize), usize> = HashMap::new();
        for t in &f.triangles {
            for k in 0..3 {
                *directed
                    .entry((t[k] as usize, t[(k + 1) % 3] as usize))
                    .or_default() += 1;
            }
        }
        assert!(
            directed.values().all(|&n| n == 1),
            "a directed edge repeats"
        );
        // Boundary edges (no reverse twin) are exactly the face oval's edges.
        let boundary: HashSet<(usize, usize)> = directed
            .keys()
            .filter(|(a, b)| !directed.contains_key(&(*b, *a)))
            .map(|&(a, b)| (a.min(b), a.max(b)))
            .collect();
        let oval = &f.groups.face_oval;
        let oval_edges: HashSet<(usize, usize)> = (0..oval.len())
            .map(|k| {
                let (a, b) = (oval[k], oval[(k + 1) % oval.len()]);
                (a.min(b), a.max(b))
            })
            .collect();
        assert_eq!(boundary, oval_edges);
        // Euler characteristic of a disk: V - E + F = 1.
        let e = edges(&f).len() as i64;
        assert_eq!(NUM_VERTICES as i64 - e + NUM_TRIANGLES as i64, 1);
        // Front-facing: counter-clockwise seen from +z for almost all faces
        // (the few others lie on the sides of the head, near the ears).
        let front = f
            .triangles
            .iter()
            .filter(|t| {
                let [a, b, c] = t.map(|i| f.vertices[i as usize]);
                (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]) > 0.0
            })
            .count();
        assert!(front >= NUM_TRIANGLES * 98 / 100, "{front} front-facing");
    }

    #[test]
    fn groups_are_sane() {
        let f = face();
        let g = &f.groups;
        let k = g.keypoints;
        let mesh_edges = edges(&f);
        let chain_ok = |ids: &[usize], closed: bool| {
            let n = ids.len();
            let links = if closed { n } else { n - 1 };
            (0..links).all(|i| {
                let (a, b) = (ids[i], ids[(i + 1) % n]);
                mesh_edges.contains(&(a.min(b), a.max(b)))
            }) && ids.iter().collect::<HashSet<_>>().len() == n
        };
        // Sizes, and every group walks along mesh edges without repeats.
        for (ring, n) in [
            (&g.lips_outer, 20),
            (&g.lips_inner, 20),
            (&g.right_brow, 10),
            (&g.left_brow, 10),
            (&g.face_oval, 36),
            (&g.nose_outline, 16),
        ] {
            assert_eq!(ring.len(), n);
            assert!(chain_ok(ring, true), "{ring:?}");
            // Clockwise as seen (left, top, right): negative area in the y-up frame.
            assert!(area(&f, ring) < 0.0, "{ring:?} runs the wrong way");
        }
        for (line, n) in [
            (&g.right_eye_upper, 9),
            (&g.right_eye_lower, 9),
            (&g.left_eye_upper, 9),
            (&g.left_eye_lower, 9),
            (&g.jaw, 21),
            (&g.nose_bridge, 7),
        ] {
            assert_eq!(line.len(), n);
            assert!(chain_ok(line, false), "{line:?}");
        }
        // Polylines run image left to right; the bridge runs down to the tip.
        for line in [
            &g.right_eye_upper,
            &g.right_eye_lower,
            &g.left_eye_upper,
            &g.left_eye_lower,
            &g.jaw,
        ] {
            assert!(f.vertices[line[0]][0] < f.vertices[*line.last().unwrap()][0]);
        }
        assert_eq!(*g.nose_bridge.last().unwrap(), k.nose_tip);
        assert!(g
            .nose_bridge
            .windows(2)
            .all(|w| f.vertices[w[0]][1] > f.vertices[w[1]][1]));

        // Lips: the inner ring lies inside the outer ring; the mouth corners
        // start the outer ring; the lip midpoints sit on the right rings.
        for &i in &g.lips_inner {
            assert!(
                inside(&f, &g.lips_outer, f.vertices[i]),
                "inner lip {i} outside"
            );
        }
        assert_eq!(g.lips_outer[0], k.mouth_right);
        assert!(g.lips_outer.contains(&k.mouth_left));
        assert!(
            g.lips_outer.contains(&k.upper_lip_outer) && g.lips_outer.contains(&k.lower_lip_outer)
        );
        assert!(
            g.lips_inner.contains(&k.upper_lip_inner) && g.lips_inner.contains(&k.lower_lip_inner)
        );
        assert!(f.vertices[k.upper_lip_inner][1] > f.vertices[k.lower_lip_inner][1]);

        // Eyes: the subject's left eye is on the subject's left (+x, image
        // right); upper lids above lower lids; lids share their corners.
        for (up, low, outer, inner, sign) in [
            (
                &g.right_eye_upper,
                &g.right_eye_lower,
                k.right_eye_outer,
                k.right_eye_inner,
                -1.0,
            ),
            (
                &g.left_eye_upper,
                &g.left_eye_lower,
                k.left_eye_outer,
                k.left_eye_inner,
                1.0,
            ),
        ] {
            assert!(mean(&f, up, 0) * sign > 2.0 && mean(&f, low, 0) * sign > 2.0);
            assert!(mean(&f, up, 1) > mean(&f, low, 1));
            assert_eq!((up[0], *up.last().unwrap()), (low[0], *low.last().unwrap()));
            assert!(up.contains(&outer) && up.contains(&inner));
            assert!(f.vertices[outer][0].abs() > f.vertices[inner][0].abs());
        }
        assert!(f.vertices[k.mouth_left][0] > 0.0 && f.vertices[k.mouth_right][0] < 0.0);
        assert!(mean(&f, &g.left_brow, 0) > 2.0 && mean(&f, &g.right_brow, 0) < -2.0);
        assert!(mean(&f, &g.left_brow, 1) > mean(&f, &g.left_eye_upper, 1));
        // Irises: refined numbering, centres 468 (right) and 473 (left).
        assert_eq!(g.right_iris, [468, 469, 470, 471, 472]);
        assert_eq!(g.left_iris, [473, 474, 475, 476, 477]);

        // Oval starts at the forehead top and holds the chin; the jaw is the
        // oval's lower arc (ear to ear via the chin) and lies below the nose.
        assert_eq!(g.face_oval[0], 10);
        assert!(g.face_oval.contains(&k.chin));
        assert!(g.jaw.contains(&k.chin) && g.jaw.iter().all(|i| g.face_oval.contains(i)));
        assert!(g
            .jaw
            .iter()
            .all(|&i| f.vertices[i][1] < f.vertices[k.nose_tip][1] + 2.0));
        assert_eq!(k.chin, g.face_oval[g.face_oval.len() / 2]);
        let lowest =
            (0..NUM_VERTICES).min_by(|&a, &b| f.vertices[a][1].total_cmp(&f.vertices[b][1]));
        assert_eq!(lowest, Some(k.chin));

        // Triangle groups close the openings: their vertices lie on the rings.
        let tg = &f.triangle_groups;
        assert_eq!(
            (
                tg.mouth_interior.len(),
                tg.right_eye_interior.len(),
                tg.left_eye_interior.len()
            ),
            (18, 14, 14)
        );
        let on = |tris: &[usize], ring: &[usize]| {
            tris.iter()
                .all(|&t| f.triangles[t].iter().all(|&v| ring.contains(&(v as usize))))
        };
        assert!(on(&tg.mouth_interior, &g.lips_inner));
        assert!(on(
            &tg.right_eye_interior,
            &[g.right_eye_upper.clone(), g.right_eye_lower.clone()].concat()
        ));
        assert!(on(
            &tg.left_eye_interior,
            &[g.left_eye_upper.clone(), g.left_eye_lower.clone()].concat()
        ));
    }

    #[test]
    fn missing_or_damaged_file_is_an_input_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = CanonicalFace::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Input(_)), "{err}");
        assert!(err.to_string().contains(FILE_NAME));
        std::fs::write(dir.path().join(FILE_NAME), b"not a model").unwrap();
        let err = CanonicalFace::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        assert!(CanonicalFace::shared(dir.path()).is_err());
    }

    /// Damaged embedded bytes (the copy compiled into the library) are a
    /// broken build, not the user's input.
    #[test]
    fn damaged_embedded_bytes_are_an_internal_error() {
        let err = CanonicalFace::from_bytes(b"not a model").unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err:?}");
        assert!(
            err.to_string().contains("damaged canonical face model"),
            "{err}"
        );
    }
}
