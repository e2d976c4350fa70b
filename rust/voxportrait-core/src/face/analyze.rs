//! The face-analysis pipeline: detector → rotated ROI → 468-point mesh →
//! head pose, for still images and for video frames (tracking).
//!
//! It follows MediaPipe's face landmark graph (`FaceLandmarkFrontCpu`) so
//! results match the reference pipeline to a small fraction of a pixel: the
//! detector sees the whole image letterboxed into its square input, the
//! mesh sees a 1.5× square around the detected face rotated so the eyes are
//! level, cropped exactly as MediaPipe crops (see [`crop_to_chw`]). A still
//! image gets one mesh pass in the detection's ROI, as MediaPipe's static
//! image mode does (a second pass in the ROI the first mesh implies moves
//! the landmarks by 0.5–2 % of the eye distance away from MediaPipe's
//! results). On video the next ROI comes from the previous frame's
//! landmarks, with the detector run again only when tracking is lost.
//!
//! The converted weights are compiled into the library (about 5 MB), so
//! analysis works offline from any install with nothing to find on disk.

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use image::RgbImage;

use super::blazeface::{BlazeFace, BlazeFaceVariant};
use super::canonical::CanonicalFace;
use super::detect::{decode, weighted_nms, Detection, DetectorKind};
use super::face_mesh::{FaceMeshNet, INPUT_SIZE as MESH_INPUT};
use super::iris::{IrisNet, INPUT_SIZE as IRIS_INPUT};
use super::pose::{HeadPose, PoseFit};
use super::roi::{crop_to_chw_filtered, view, Border, RgbView, RotatedRect};
use crate::error::{Error, Result};

/// Minimum face-presence probability for a mesh to count as a face.
pub const MIN_PRESENCE: f32 = 0.5;

/// The detector sees a box-filtered copy of images more than this many
/// times its input size (over 1024 px for the short-range detector); below
/// it, MediaPipe's exact point-sampled letterbox (see
/// [`crop_to_chw_filtered`]).
const DETECT_PREFILTER: f32 = 8.0;

/// Mesh and iris crops of regions more than this many times the network
/// input come from a box-filtered copy of the full-resolution image (a face
/// over ~580 px); smaller ones are MediaPipe's exact crops.
const LANDMARK_PREFILTER: f32 = 3.0;

/// IoU threshold of MediaPipe's weighted non-maximum suppression.
const NMS_IOU: f32 = 0.3;

macro_rules! model_bytes {
    ($file:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/", $file))
    };
}

/// Weights compiled into the library, by file name under `models/`.
fn embedded(file: &str) -> Option<&'static [u8]> {
    Some(match file {
        "face_detection_short_range.safetensors" => {
            model_bytes!("face_detection_short_range.safetensors")
        }
        "face_detection_full_range.safetensors" => {
            model_bytes!("face_detection_full_range.safetensors")
        }
        "face_landmark.safetensors" => model_bytes!("face_landmark.safetensors"),
        "iris_landmark.safetensors" => model_bytes!("iris_landmark.safetensors"),
        "canonical_face.safetensors" => model_bytes!("canonical_face.safetensors"),
        _ => return None,
    })
}

fn model_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("cannot load the {what} model"), e)
}

fn var_builder(file: &str, device: &Device) -> Result<VarBuilder<'static>> {
    let bytes = embedded(file).ok_or_else(|| model_error(file, "not embedded"))?;
    let tensors =
        candle_core::safetensors::load_buffer(bytes, device).map_err(|e| model_error(file, e))?;
    Ok(VarBuilder::from_tensors(
        tensors,
        candle_core::DType::F32,
        device,
    ))
}

/// One analysed face.
#[derive(Debug, Clone)]
pub struct Face {
    /// The detection it came from (pixels), or the tracked ROI's box on video.
    pub detection: Detection,
    /// The rotated square the mesh was computed in (pixels): the
    /// detection's ROI on a still image, the previous frame's on video.
    pub roi: RotatedRect,
    /// 468 landmarks: x, y in pixels, z in pixels relative to the face centre
    /// (smaller is closer to the camera).
    pub landmarks: Vec<[f32; 3]>,
    /// Face-presence probability from the mesh network, 0..1.
    pub presence: f32,
    /// Head pose fitted to the landmarks, with its residual.
    pub pose: PoseFit,
    /// Iris and eye-contour landmarks, `[image-left eye, image-right eye]`
    /// (the eyes with mesh corners 33/133 and 362/263), when requested.
    pub eyes: Option<[EyeLandmarks; 2]>,
}

/// Landmarks of one eye from MediaPipe's iris network, in image pixels.
#[derive(Debug, Clone)]
pub struct EyeLandmarks {
    /// Iris centre, then 4 points on the iris rim (x, y, z).
    pub iris: [[f32; 3]; 5],
    /// 71 eye-contour and brow points (x, y, z); the first 16 outline the
    /// eye opening, as in MediaPipe's `iris_landmark` model card.
    pub contour: Vec<[f32; 3]>,
    /// The rotated square the network saw.
    pub roi: RotatedRect,
}

impl EyeLandmarks {
    /// Iris radius in pixels: mean distance from the centre to the rim points.
    pub fn iris_radius(&self) -> f32 {
        let c = self.iris[0];
        self.iris[1..]
            .iter()
            .map(|p| ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt())
            .sum::<f32>()
            / 4.0
    }
}

impl Face {
    /// Distance between the outer eye corners (33, 263), pixels: the scale
    /// landmark errors are measured against.
    pub fn interocular(&self) -> f32 {
        let (a, b) = (self.landmarks[33], self.landmarks[263]);
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    /// Gaze as the iris centre's offset from the eye centre, averaged over
    /// both eyes: `[x, y]` in units of the eye width (corner to corner),
    /// along the eye line (x, towards the image right) and across it (y,
    /// down). About ±0.15 at the extremes; 0 looks straight along the
    /// head's direction. `None` without iris landmarks.
    pub fn gaze(&self) -> Option<[f32; 2]> {
        let eyes = self.eyes.as_ref()?;
        let mut sum = [0.0f32; 2];
        for (eye, (a, b)) in eyes.iter().zip(EYE_CORNERS) {
            let (p, q) = (self.landmarks[a], self.landmarks[b]);
            let (ux, uy) = (q[0] - p[0], q[1] - p[1]);
            let width = (ux * ux + uy * uy).sqrt().max(1e-3);
            let (ux, uy) = (ux / width, uy / width);
            // Eye centre: midway between the corners.
            let (dx, dy) = (
                eye.iris[0][0] - (p[0] + q[0]) / 2.0,
                eye.iris[0][1] - (p[1] + q[1]) / 2.0,
            );
            sum[0] += (dx * ux + dy * uy) / width;
            sum[1] += (-dx * uy + dy * ux) / width;
        }
        Some([sum[0] / 2.0, sum[1] / 2.0])
    }
}

/// Mesh eye corners the iris ROIs are built on, left to right in the
/// image: `(33, 133)` for the image-left eye, `(362, 263)` for the other.
const EYE_CORNERS: [(usize, usize); 2] = [(33, 133), (362, 263)];

/// MediaPipe's iris ROI: a square 2.3× the eye-corner span, rotated so the
/// corners are level (`IrisLandmarkLandmarksToRoi`: the axis-aligned box of
/// the two corners, squared on its long side, then scaled).
fn eye_roi(a: [f32; 3], b: [f32; 3]) -> RotatedRect {
    RotatedRect {
        cx: (a[0] + b[0]) / 2.0,
        cy: (a[1] + b[1]) / 2.0,
        w: (a[0] - b[0]).abs(),
        h: (a[1] - b[1]).abs(),
        rotation: super::roi::rotation_between([a[0], a[1]], [b[0], b[1]]),
    }
    .square_long()
    .scaled(2.3)
}

/// Mirrors a CHW crop left to right, in place.
fn flip_chw(data: &mut [f32], size: usize) {
    for row in data.chunks_exact_mut(size) {
        row.reverse();
    }
}

/// Options for [`FaceAnalyzer::analyze`].
#[derive(Debug, Clone, Copy)]
pub struct AnalyzeOptions {
    /// Which face to return when several are found, in order of box area
    /// (0 = largest). `None` returns all of them.
    pub face_index: Option<usize>,
    /// Minimum detector score (`None`: MediaPipe's default per detector).
    pub min_score: Option<f32>,
    /// Also run the iris network on both eyes (gaze); about 2 ms per face.
    pub iris: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            face_index: Some(0),
            min_score: None,
            iris: true,
        }
    }
}

/// The loaded face networks plus the canonical face, ready to analyse.
pub struct FaceAnalyzer {
    device: Device,
    short: BlazeFace,
    full: BlazeFace,
    mesh: FaceMeshNet,
    iris: IrisNet,
    canonical: CanonicalFace,
}

impl FaceAnalyzer {
    /// Loads the embedded networks on the CPU.
    pub fn new() -> Result<Self> {
        let device = Device::Cpu;
        let short = BlazeFace::load(
            var_builder("face_detection_short_range.safetensors", &device)?,
            BlazeFaceVariant::ShortRange,
        )
        .map_err(|e| model_error("face detector", e))?;
        let full = BlazeFace::load(
            var_builder("face_detection_full_range.safetensors", &device)?,
            BlazeFaceVariant::FullRange,
        )
        .map_err(|e| model_error("full-range face detector", e))?;
        let mesh = FaceMeshNet::load(var_builder("face_landmark.safetensors", &device)?)
            .map_err(|e| model_error("face mesh", e))?;
        let iris = IrisNet::load(var_builder("iris_landmark.safetensors", &device)?)
            .map_err(|e| model_error("iris", e))?;
        let canonical =
            CanonicalFace::from_bytes(embedded("canonical_face.safetensors").expect("embedded"))?;
        Ok(Self {
            device,
            short,
            full,
            mesh,
            iris,
            canonical,
        })
    }

    /// A process-wide analyzer, loaded on first use.
    pub fn shared() -> Result<&'static FaceAnalyzer> {
        static CELL: std::sync::OnceLock<std::result::Result<FaceAnalyzer, String>> =
            std::sync::OnceLock::new();
        CELL.get_or_init(|| FaceAnalyzer::new().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Internal(e.clone()))
    }

    /// The canonical face model (topology, vertex groups).
    pub fn canonical(&self) -> &CanonicalFace {
        &self.canonical
    }

    fn run_detector(
        &self,
        img: &impl RgbPixels,
        kind: DetectorKind,
        min_score: Option<f32>,
    ) -> Result<Vec<Detection>> {
        let size = kind.input_size();
        let (w, h) = img.rgb_view().dimensions();
        let side = w.max(h) as f32;
        let square = RotatedRect {
            cx: w as f32 / 2.0,
            cy: h as f32 / 2.0,
            w: side,
            h: side,
            rotation: 0.0,
        };
        let input = crop_to_chw_filtered(
            &img.rgb_view(),
            &square,
            size,
            (-1.0, 1.0),
            Border::Zero,
            DETECT_PREFILTER,
        );
        let x = Tensor::from_vec(input, (1, 3, size, size), &self.device).map_err(internal)?;
        let net = match kind {
            DetectorKind::ShortRange => &self.short,
            DetectorKind::FullRange => &self.full,
        };
        let out = net.forward(&x).map_err(internal)?;
        let regressors: Vec<f32> = out
            .regressors
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(internal)?;
        let logits: Vec<f32> = out
            .classifiers
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(internal)?;
        let found = decode(
            kind,
            &kind.anchors(),
            &regressors,
            &logits,
            min_score.unwrap_or(kind.default_min_score()),
        );
        Ok(weighted_nms(found, NMS_IOU)
            .into_iter()
            .map(|d| d.unletterbox(w, h))
            .collect())
    }

    /// Detects every face, largest box first, in image pixels.
    ///
    /// The short-range detector runs first; when it finds nothing, the
    /// full-range detector (trained for small and distant faces) runs. Both
    /// sample the full-resolution image directly (only 128² or 192² points,
    /// whatever its size), as MediaPipe does.
    pub fn detect(&self, img: &impl RgbPixels, min_score: Option<f32>) -> Result<Vec<Detection>> {
        let mut faces = self.run_detector(img, DetectorKind::ShortRange, min_score)?;
        if faces.is_empty() {
            faces = self.run_detector(img, DetectorKind::FullRange, min_score)?;
        }
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(faces)
    }

    /// Runs the mesh network in `roi`; returns landmarks in pixels and the
    /// presence probability.
    pub fn mesh(&self, img: &impl RgbPixels, roi: &RotatedRect) -> Result<(Vec<[f32; 3]>, f32)> {
        let input = crop_to_chw_filtered(
            &img.rgb_view(),
            roi,
            MESH_INPUT,
            (0.0, 1.0),
            Border::Replicate,
            LANDMARK_PREFILTER,
        );
        let x = Tensor::from_vec(input, (1, 3, MESH_INPUT, MESH_INPUT), &self.device)
            .map_err(internal)?;
        let out = self.mesh.forward(&x).map_err(internal)?;
        let raw: Vec<f32> = out
            .landmarks
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(internal)?;
        let flag: Vec<f32> = out
            .face_flag
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .map_err(internal)?;
        let presence = 1.0 / (1.0 + (-flag[0]).exp());
        Ok((roi.project_landmarks(&raw, MESH_INPUT), presence))
    }

    /// Iris and eye-contour landmarks of both eyes, from the mesh's eye
    /// corners (MediaPipe's `IrisLandmarkLeftAndRightCpu`). The network is
    /// trained on image-left eyes, so the other eye's crop is mirrored
    /// before it and its points are mirrored back. Both eyes run as one
    /// batch of two.
    pub fn eyes(&self, img: &impl RgbPixels, landmarks: &[[f32; 3]]) -> Result<[EyeLandmarks; 2]> {
        let rois = EYE_CORNERS.map(|(a, b)| eye_roi(landmarks[a], landmarks[b]));
        let n = IRIS_INPUT;
        let mut input = Vec::with_capacity(2 * 3 * n * n);
        for (i, roi) in rois.iter().enumerate() {
            let mut crop = crop_to_chw_filtered(
                &img.rgb_view(),
                roi,
                n,
                (0.0, 1.0),
                Border::Replicate,
                LANDMARK_PREFILTER,
            );
            if i == 1 {
                flip_chw(&mut crop, n);
            }
            input.extend_from_slice(&crop);
        }
        let x = Tensor::from_vec(input, (2, 3, n, n), &self.device).map_err(internal)?;
        let out = self.iris.forward(&x).map_err(internal)?;
        let iris: Vec<Vec<f32>> = out.iris.to_vec2().map_err(internal)?;
        let contours: Vec<Vec<f32>> = out.contours.to_vec2().map_err(internal)?;
        let eye = |i: usize| {
            let unflip = |raw: &[f32]| -> Vec<f32> {
                let mut raw = raw.to_vec();
                if i == 1 {
                    raw.chunks_exact_mut(3).for_each(|p| p[0] = n as f32 - p[0]);
                }
                raw
            };
            let pts = rois[i].project_landmarks(&unflip(&iris[i]), n);
            EyeLandmarks {
                iris: [pts[0], pts[1], pts[2], pts[3], pts[4]],
                contour: rois[i].project_landmarks(&unflip(&contours[i]), n),
                roi: rois[i],
            }
        };
        Ok([eye(0), eye(1)])
    }

    /// Mesh in the detection's ROI, then the head pose: MediaPipe's static
    /// image mode, one mesh pass (see the module documentation).
    fn face_from_roi(
        &self,
        img: &impl RgbPixels,
        detection: Detection,
        roi: RotatedRect,
        iris: bool,
    ) -> Result<Face> {
        let (landmarks, presence) = self.mesh(img, &roi)?;
        self.face_from_landmarks(img, detection, roi, landmarks, presence, iris)
    }

    /// Completes a face from its mesh: head pose, and the eyes on request
    /// (skipped when the mesh says there is no face).
    fn face_from_landmarks(
        &self,
        img: &impl RgbPixels,
        detection: Detection,
        roi: RotatedRect,
        landmarks: Vec<[f32; 3]>,
        presence: f32,
        iris: bool,
    ) -> Result<Face> {
        let pose = HeadPose::fit(&self.canonical, &landmarks)?;
        let eyes = if iris && presence >= MIN_PRESENCE {
            Some(self.eyes(img, &landmarks)?)
        } else {
            None
        };
        Ok(Face {
            detection,
            roi,
            landmarks,
            presence,
            pose,
            eyes,
        })
    }

    /// Analyses a still image: every face, or the one `opts.face_index` picks.
    ///
    /// Errors when no face is found, naming the image size and what was tried.
    pub fn analyze(&self, img: &impl RgbPixels, opts: &AnalyzeOptions) -> Result<Vec<Face>> {
        on_pool(|| self.analyze_here(img, opts))
    }

    fn analyze_here(&self, img: &impl RgbPixels, opts: &AnalyzeOptions) -> Result<Vec<Face>> {
        let detections = self.detect(img, opts.min_score)?;
        let (w, h) = img.rgb_view().dimensions();
        if detections.is_empty() {
            return Err(Error::Input(format!(
                "no face found in the {w}x{h} image (tried the short- and full-range face \
                 detectors); use a photo where one face is clearly visible, roughly upright \
                 (within ±45°) and at least ~40 px wide"
            )));
        }
        // Like MediaPipe, a detection whose mesh says "no face" is dropped;
        // `face_index` counts the faces that remain.
        let wanted = opts.face_index.map_or(usize::MAX, |i| i + 1);
        let mut faces = Vec::new();
        for d in &detections {
            if faces.len() >= wanted {
                break;
            }
            let face = self.face_from_roi(img, *d, RotatedRect::from_detection(d), false)?;
            if face.presence >= MIN_PRESENCE {
                faces.push(face);
            }
        }
        if faces.is_empty() {
            return Err(Error::Input(format!(
                "no face found in the {w}x{h} image: the detector proposed {} region(s) but the \
                 face mesh rejected them (face presence < {MIN_PRESENCE}); use a photo where \
                 one face is clearly visible and not heavily occluded",
                detections.len()
            )));
        }
        let mut picked = match opts.face_index {
            Some(i) if i >= faces.len() => {
                return Err(Error::Input(format!(
                    "face_index {i} is out of range: {} face(s) found (0 = largest)",
                    faces.len()
                )))
            }
            Some(i) => vec![faces.swap_remove(i)],
            None => faces,
        };
        if opts.iris {
            for f in &mut picked {
                f.eyes = Some(self.eyes(img, &f.landmarks)?);
            }
        }
        Ok(picked)
    }
}

/// Follows one face through video frames: the ROI comes from the previous
/// frame's landmarks, and the detector runs only at the start and whenever
/// the mesh loses the face.
pub struct FaceTracker<'a> {
    analyzer: &'a FaceAnalyzer,
    roi: Option<RotatedRect>,
    /// Which detected face to lock onto when (re)detecting (0 = largest).
    /// A frame with fewer faces has no face for this tracker: it never
    /// falls back to another face.
    pub face_index: usize,
    /// How many times the detector has run.
    pub detector_runs: usize,
    /// The most faces one detector run has found so far (to tell "no face"
    /// from "fewer faces than `face_index` asks for").
    pub most_faces: usize,
    /// Whether to add iris landmarks to every tracked face.
    pub iris: bool,
}

impl<'a> FaceTracker<'a> {
    /// A tracker that will lock onto the `face_index`-th largest face.
    pub fn new(analyzer: &'a FaceAnalyzer, face_index: usize) -> Self {
        Self {
            analyzer,
            roi: None,
            face_index,
            detector_runs: 0,
            most_faces: 0,
            iris: true,
        }
    }

    /// Forgets the current face (e.g. at a scene cut), forcing detection.
    pub fn reset(&mut self) {
        self.roi = None;
    }

    /// Landmarks for the next frame, or `None` when no face is visible.
    pub fn next_frame(&mut self, img: &impl RgbPixels) -> Result<Option<Face>> {
        on_pool(|| self.next_frame_here(img))
    }

    fn next_frame_here(&mut self, img: &impl RgbPixels) -> Result<Option<Face>> {
        if let Some(roi) = self.roi {
            let (landmarks, presence) = self.analyzer.mesh(img, &roi)?;
            if presence >= MIN_PRESENCE {
                let next = RotatedRect::from_landmarks(&landmarks);
                if !roi_holds(&roi, &next) {
                    self.roi = Some(next);
                }
                let detection = Detection {
                    score: presence,
                    ..box_of(&landmarks)
                };
                return self
                    .analyzer
                    .face_from_landmarks(img, detection, roi, landmarks, presence, self.iris)
                    .map(Some);
            }
            self.roi = None;
        }
        self.detector_runs += 1;
        let detections = self.analyzer.detect(img, None)?;
        self.most_faces = self.most_faces.max(detections.len());
        let Some(d) = detections.get(self.face_index).copied() else {
            return Ok(None);
        };
        let face =
            self.analyzer
                .face_from_roi(img, d, RotatedRect::from_detection(&d), self.iris)?;
        if face.presence < MIN_PRESENCE {
            return Ok(None);
        }
        self.roi = Some(RotatedRect::from_landmarks(&face.landmarks));
        Ok(Some(face))
    }
}

/// An RGB8 image face analysis reads in place: an owned [`RgbImage`], or an
/// [`RgbView`] borrowed from another buffer (the Python binding's numpy
/// arrays), so a large photo is never copied.
pub trait RgbPixels: Sync {
    /// The pixels as a borrowed view.
    fn rgb_view(&self) -> RgbView<'_>;
}

impl RgbPixels for RgbImage {
    fn rgb_view(&self) -> RgbView<'_> {
        view(self)
    }
}

impl RgbPixels for RgbView<'_> {
    fn rgb_view(&self) -> RgbView<'_> {
        self.clone()
    }
}

/// Runs `f` on a thread of rayon's pool (at once when already on one). The
/// networks' layers fan out to the pool one after another; called from a
/// thread outside it, every layer would block that thread and wake it again
/// (two context switches per layer, about a millisecond per forward pass
/// on 2 cores), while on a pool thread the layer's first part runs at once
/// and the other thread steals the rest.
fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        f()
    } else {
        rayon::scope(|_| f())
    }
}

/// Whether the tracking ROI `roi` still frames the face whose landmarks
/// give `next`: it moved by under 2 % of its size, changed size by under
/// 3 % and turned by under 2° (looser thresholds cut jitter further but cost
/// mouth accuracy when the mouth moves a lot: see the reenact and dub
/// tests). Keeping it then (hysteresis, as MediaPipe's
/// `RoiTrackingCalculator` does for hands and pose) stops the crop from
/// following every small landmark change; otherwise a still face whose
/// mouth moves (the ROI box includes the chin) would be re-cropped every
/// frame, and the mesh network's response to the new crop shows as jitter
/// all over the face.
fn roi_holds(roi: &RotatedRect, next: &RotatedRect) -> bool {
    let size = roi.w.max(roi.h).max(1.0);
    let moved = ((next.cx - roi.cx).powi(2) + (next.cy - roi.cy).powi(2)).sqrt() / size;
    let scaled = (next.w.max(next.h) / size - 1.0).abs();
    let turned = crate::face::roi::normalize_radians(next.rotation - roi.rotation).abs();
    moved < 0.02 && scaled < 0.03 && turned < 2f32.to_radians()
}

/// Axis-aligned box around landmarks, as a keypoint-less detection.
fn box_of(points: &[[f32; 3]]) -> Detection {
    let mut d = Detection {
        xmin: f32::MAX,
        ymin: f32::MAX,
        xmax: f32::MIN,
        ymax: f32::MIN,
        keypoints: [[0.0; 2]; 6],
        score: 1.0,
    };
    for p in points {
        d.xmin = d.xmin.min(p[0]);
        d.ymin = d.ymin.min(p[1]);
        d.xmax = d.xmax.max(p[0]);
        d.ymax = d.ymax.max(p[1]);
    }
    d
}

fn internal(e: candle_core::Error) -> Error {
    Error::internal("face analysis failed inside the network runtime", e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portrait::load_rgb;
    use crate::testdata::{example, fixture};

    #[test]
    fn finds_the_example_face_with_the_mouth_where_it_is() {
        let img = load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let a = FaceAnalyzer::shared().unwrap();
        let faces = a.analyze(&img, &AnalyzeOptions::default()).unwrap();
        assert_eq!(faces.len(), 1);
        let f = &faces[0];
        assert!(f.presence > 0.9, "presence {}", f.presence);
        // Upper and lower inner-lip midpoints (13, 14) straddle the measured mouth centre.
        let mouth = [
            (f.landmarks[13][0] + f.landmarks[14][0]) / 2.0,
            (f.landmarks[13][1] + f.landmarks[14][1]) / 2.0,
        ];
        assert!(
            (mouth[0] - 0.495 * 512.0).abs() < 12.0 && (mouth[1] - 0.655 * 512.0).abs() < 15.0,
            "{mouth:?}"
        );
        assert!(
            f.interocular() > 100.0 && f.interocular() < 250.0,
            "{}",
            f.interocular()
        );
        assert!(
            f.pose.pose.yaw.abs() < 0.2 && f.pose.pose.roll.abs() < 0.2,
            "{:?}",
            f.pose.pose
        );
    }

    /// Mesh points of each eye's outline, in the order of the iris
    /// network's first 16 contour points (MediaPipe's
    /// `UpdateFaceLandmarksCalculator` table).
    const EYE_OUTLINES: [[usize; 16]; 2] = [
        [
            33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173,
        ],
        [
            263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398,
        ],
    ];

    #[test]
    fn irises_sit_in_both_eyes_and_the_mirrored_eye_comes_back_unmirrored() {
        let img = load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let f = FaceAnalyzer::shared()
            .unwrap()
            .analyze(&img, &AnalyzeOptions::default())
            .unwrap()
            .remove(0);
        let eyes = f.eyes.as_ref().expect("iris landmarks");
        for (eye, outline) in eyes.iter().zip(EYE_OUTLINES) {
            let width = {
                let (a, b) = (f.landmarks[outline[0]], f.landmarks[outline[8]]);
                ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
            };
            // The iris net's eye outline lands on the mesh's, point for point:
            // a wrongly mirrored eye would swap its corners (error ~ width).
            let err = outline
                .iter()
                .zip(&eye.contour)
                .map(|(&m, c)| {
                    let p = f.landmarks[m];
                    ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sqrt()
                })
                .sum::<f32>()
                / 16.0;
            assert!(
                err < 0.08 * width,
                "outline error {err} px, eye width {width}"
            );
            // The iris centre is inside the eye, its radius plausible.
            let (a, b) = (f.landmarks[outline[0]], f.landmarks[outline[8]]);
            let c = eye.iris[0];
            assert!(c[0] > a[0].min(b[0]) && c[0] < a[0].max(b[0]), "{c:?}");
            let r = eye.iris_radius();
            assert!(
                r > 0.12 * width && r < 0.4 * width,
                "radius {r}, width {width}"
            );
        }
        // She looks at the camera.
        let g = f.gaze().unwrap();
        assert!(g[0].abs() < 0.08 && g[1].abs() < 0.08, "{g:?}");
    }

    #[test]
    fn a_very_large_image_gives_the_same_landmarks_scaled() {
        let img = load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let big = image::imageops::resize(&img, 2560, 2560, image::imageops::FilterType::Triangle);
        let a = FaceAnalyzer::shared().unwrap();
        let opts = AnalyzeOptions::default();
        let small = a.analyze(&img, &opts).unwrap().remove(0);
        let large = a.analyze(&big, &opts).unwrap().remove(0);
        let k = 2560.0 / 512.0;
        let mean = small
            .landmarks
            .iter()
            .zip(&large.landmarks)
            // Pixel centres: x_big = k * (x + 0.5) - 0.5.
            .map(|(p, q)| {
                let (x, y) = (k * (p[0] + 0.5) - 0.5, k * (p[1] + 0.5) - 0.5);
                ((x - q[0]).powi(2) + (y - q[1]).powi(2)).sqrt()
            })
            .sum::<f32>()
            / 468.0;
        assert!(
            mean < 0.015 * large.interocular(),
            "mean {mean} px, interocular {}",
            large.interocular()
        );
    }

    #[test]
    fn no_face_is_a_clear_error() {
        let img = RgbImage::from_pixel(300, 200, image::Rgb([120, 130, 140]));
        let e = FaceAnalyzer::shared()
            .unwrap()
            .analyze(&img, &AnalyzeOptions::default())
            .unwrap_err();
        assert!(
            e.to_string().contains("no face found in the 300x200 image"),
            "{e}"
        );
    }

    #[test]
    fn face_index_out_of_range_is_reported() {
        let img = load_rgb(&fixture("portrait_small.jpg"), [255; 3]).unwrap();
        let opts = AnalyzeOptions {
            face_index: Some(3),
            ..Default::default()
        };
        let e = FaceAnalyzer::shared()
            .unwrap()
            .analyze(&img, &opts)
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("face_index 3 is out of range: 1 face"),
            "{e}"
        );
    }

    #[test]
    fn tracking_reuses_the_roi_and_detects_only_once() {
        let img = load_rgb(&example("portrait.png"), [255; 3]).unwrap();
        let a = FaceAnalyzer::shared().unwrap();
        let mut t = FaceTracker::new(a, 0);
        let mut prev: Option<Vec<[f32; 3]>> = None;
        for shift in 0..4 {
            // Slide the image a few pixels per frame, like a moving head.
            let frame = image::imageops::crop_imm(&img, 0, 0, 512 - 3 * shift, 512).to_image();
            let f = t.next_frame(&frame).unwrap().expect("face tracked");
            if let Some(p) = &prev {
                let d = (f.landmarks[1][0] - p[1][0]).abs();
                assert!(d < 6.0, "nose moved {d} px");
            }
            prev = Some(f.landmarks);
        }
        assert_eq!(t.detector_runs, 1);
        let blank = RgbImage::from_pixel(512, 512, image::Rgb([0, 0, 0]));
        assert!(t.next_frame(&blank).unwrap().is_none());
    }
}

/// Per-stage times of [`FaceAnalyzer::analyze`] on the benchmark images
/// (profiling aid for `bench/bench_face.py`). Run with
/// `RAYON_NUM_THREADS=2 cargo test --release -p voxportrait-core analyze_stage_times -- --ignored --nocapture`.
#[cfg(test)]
mod stage_times {
    use super::*;
    use crate::portrait::load_rgb;
    use crate::testdata::fixture;

    fn min_ms(runs: usize, f: &mut dyn FnMut()) -> f64 {
        f();
        (0..runs)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::MAX, f64::min)
    }

    #[test]
    #[ignore]
    /// Whole-analysis time with the work started from the calling thread
    /// (every layer hands off to the pool and back) and from a pool thread
    /// ([`on_pool`]), interleaved: the latter was 10–13 % faster at the
    /// median on 2 threads when written.
    fn analyze_on_the_pool_or_off_it() {
        let a = FaceAnalyzer::shared().unwrap();
        let img = load_rgb(&crate::testdata::example("portrait.png"), [255; 3]).unwrap();
        let opts = AnalyzeOptions {
            iris: false,
            ..Default::default()
        };
        for _ in 0..20 {
            a.analyze(&img, &opts).unwrap();
        }
        let (mut t1, mut t2) = (Vec::new(), Vec::new());
        for _ in 0..400 {
            let s = std::time::Instant::now();
            a.analyze_here(&img, &opts).unwrap();
            t1.push(s.elapsed().as_secs_f64() * 1e3);
            let s = std::time::Instant::now();
            on_pool(|| a.analyze_here(&img, &opts)).unwrap();
            t2.push(s.elapsed().as_secs_f64() * 1e3);
        }
        for (name, t) in [("caller thread", &mut t1), ("on pool", &mut t2)] {
            t.sort_by(|a, b| a.total_cmp(b));
            println!(
                "{name}: median {:.3} ms, min {:.3}, p25 {:.3} p75 {:.3}",
                t[200], t[0], t[100], t[300]
            );
        }
    }

    #[test]
    #[ignore]
    fn analyze_stage_times() {
        let a = FaceAnalyzer::shared().unwrap();
        let files = [
            "portrait.png",
            "portrait_small.jpg",
            "face/rot_ccw30.jpg",
            "face/rot_cw40.jpg",
            "face/small_face.png",
            "face/border_cut.jpg",
            "face/two_faces.jpg",
            "face/large.webp",
            "face/portrait_gray16.png",
            "face/portrait_rgba.png",
        ];
        let opts = AnalyzeOptions {
            iris: false,
            ..Default::default()
        };
        let runs = 30;
        println!("image: total | det crop, det net+decode | mesh crop, mesh net | pose (min of {runs} runs, ms)");
        for file in files {
            let path = if file == "portrait.png" {
                crate::testdata::example(file)
            } else {
                fixture(file)
            };
            let img = load_rgb(&path, [255; 3]).unwrap();
            let (w, h) = img.dimensions();
            let total = min_ms(runs, &mut || drop(a.analyze(&img, &opts).unwrap()));
            let face = a.analyze(&img, &opts).unwrap().remove(0);
            let kind = if a
                .run_detector(&img, DetectorKind::ShortRange, None)
                .unwrap()
                .is_empty()
            {
                DetectorKind::FullRange
            } else {
                DetectorKind::ShortRange
            };
            let size = kind.input_size();
            let side = w.max(h) as f32;
            let square = RotatedRect {
                cx: w as f32 / 2.0,
                cy: h as f32 / 2.0,
                w: side,
                h: side,
                rotation: 0.0,
            };
            let det_crop = min_ms(runs, &mut || {
                drop(crop_to_chw_filtered(
                    &view(&img),
                    &square,
                    size,
                    (-1.0, 1.0),
                    Border::Zero,
                    DETECT_PREFILTER,
                ))
            });
            let det_all = min_ms(runs, &mut || drop(a.detect(&img, None).unwrap()));
            let roi = face.roi;
            let mesh_crop = min_ms(runs, &mut || {
                drop(crop_to_chw_filtered(
                    &view(&img),
                    &roi,
                    MESH_INPUT,
                    (0.0, 1.0),
                    Border::Replicate,
                    LANDMARK_PREFILTER,
                ))
            });
            let mesh_all = min_ms(runs, &mut || drop(a.mesh(&img, &roi).unwrap()));
            let pose = min_ms(runs, &mut || {
                let _ = HeadPose::fit(&a.canonical, &face.landmarks).unwrap();
            });
            println!(
                "{file} {w}x{h} ({kind:?}, roi {:.0}px): {total:.2} | {det_crop:.2}, {:.2} | {mesh_crop:.2}, {:.2} | {pose:.2}",
                roi.w,
                det_all - det_crop,
                mesh_all - mesh_crop
            );
        }
    }
}
