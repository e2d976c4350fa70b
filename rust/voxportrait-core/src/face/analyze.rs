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
use super::pose::{HeadPose, PoseFit};
use super::roi::{crop_to_chw, Border, RotatedRect};
use crate::error::{Error, Result};

/// Minimum face-presence probability for a mesh to count as a face.
pub const MIN_PRESENCE: f32 = 0.5;

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
        "canonical_face.safetensors" => model_bytes!("canonical_face.safetensors"),
        _ => return None,
    })
}

fn model_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Input(format!(
        "cannot load the {what} model (a broken install?): {e}"
    ))
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
}

impl Face {
    /// Distance between the outer eye corners (33, 263), pixels: the scale
    /// landmark errors are measured against.
    pub fn interocular(&self) -> f32 {
        let (a, b) = (self.landmarks[33], self.landmarks[263]);
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
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
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            face_index: Some(0),
            min_score: None,
        }
    }
}

/// The loaded face networks plus the canonical face, ready to analyse.
pub struct FaceAnalyzer {
    device: Device,
    short: BlazeFace,
    full: BlazeFace,
    mesh: FaceMeshNet,
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
        let canonical =
            CanonicalFace::from_bytes(embedded("canonical_face.safetensors").expect("embedded"))?;
        Ok(Self {
            device,
            short,
            full,
            mesh,
            canonical,
        })
    }

    /// A process-wide analyzer, loaded on first use.
    pub fn shared() -> Result<&'static FaceAnalyzer> {
        static CELL: std::sync::OnceLock<std::result::Result<FaceAnalyzer, String>> =
            std::sync::OnceLock::new();
        CELL.get_or_init(|| FaceAnalyzer::new().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Input(e.clone()))
    }

    /// The canonical face model (topology, vertex groups).
    pub fn canonical(&self) -> &CanonicalFace {
        &self.canonical
    }

    fn run_detector(
        &self,
        img: &RgbImage,
        kind: DetectorKind,
        min_score: Option<f32>,
    ) -> Result<Vec<Detection>> {
        let size = kind.input_size();
        let (w, h) = img.dimensions();
        let side = w.max(h) as f32;
        let square = RotatedRect {
            cx: w as f32 / 2.0,
            cy: h as f32 / 2.0,
            w: side,
            h: side,
            rotation: 0.0,
        };
        let input = crop_to_chw(img, &square, size, (-1.0, 1.0), Border::Zero);
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
    pub fn detect(&self, img: &RgbImage, min_score: Option<f32>) -> Result<Vec<Detection>> {
        let mut faces = self.run_detector(img, DetectorKind::ShortRange, min_score)?;
        if faces.is_empty() {
            faces = self.run_detector(img, DetectorKind::FullRange, min_score)?;
        }
        faces.sort_by(|a, b| b.area().total_cmp(&a.area()));
        Ok(faces)
    }

    /// Runs the mesh network in `roi`; returns landmarks in pixels and the
    /// presence probability.
    pub fn mesh(&self, img: &RgbImage, roi: &RotatedRect) -> Result<(Vec<[f32; 3]>, f32)> {
        let input = crop_to_chw(img, roi, MESH_INPUT, (0.0, 1.0), Border::Replicate);
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

    /// Mesh in the detection's ROI, then the head pose: MediaPipe's static
    /// image mode, one mesh pass (see the module documentation).
    fn face_from_roi(
        &self,
        img: &RgbImage,
        detection: Detection,
        roi: RotatedRect,
    ) -> Result<Face> {
        let (landmarks, presence) = self.mesh(img, &roi)?;
        let pose = HeadPose::fit(&self.canonical, &landmarks)?;
        Ok(Face {
            detection,
            roi,
            landmarks,
            presence,
            pose,
        })
    }

    /// Analyses a still image: every face, or the one `opts.face_index` picks.
    ///
    /// Errors when no face is found, naming the image size and what was tried.
    pub fn analyze(&self, img: &RgbImage, opts: &AnalyzeOptions) -> Result<Vec<Face>> {
        let detections = self.detect(img, opts.min_score)?;
        let (w, h) = img.dimensions();
        if detections.is_empty() {
            return Err(Error::Input(format!(
                "no face found in the {w}x{h} image (tried the short- and full-range face \
                 detectors); use a photo where one face is clearly visible, roughly upright \
                 (within ±45°) and at least ~40 px wide"
            )));
        }
        let picked: Vec<Detection> = match opts.face_index {
            Some(i) if i >= detections.len() => {
                return Err(Error::Input(format!(
                    "face_index {i} is out of range: {} face(s) found (0 = largest)",
                    detections.len()
                )))
            }
            Some(i) => vec![detections[i]],
            None => detections,
        };
        picked
            .into_iter()
            .map(|d| self.face_from_roi(img, d, RotatedRect::from_detection(&d)))
            .collect()
    }
}

/// Follows one face through video frames: the ROI comes from the previous
/// frame's landmarks, and the detector runs only at the start and whenever
/// the mesh loses the face.
pub struct FaceTracker<'a> {
    analyzer: &'a FaceAnalyzer,
    roi: Option<RotatedRect>,
    /// Which detected face to lock onto when (re)detecting (0 = largest).
    pub face_index: usize,
    /// How many times the detector has run.
    pub detector_runs: usize,
}

impl<'a> FaceTracker<'a> {
    /// A tracker that will lock onto the `face_index`-th largest face.
    pub fn new(analyzer: &'a FaceAnalyzer, face_index: usize) -> Self {
        Self {
            analyzer,
            roi: None,
            face_index,
            detector_runs: 0,
        }
    }

    /// Forgets the current face (e.g. at a scene cut), forcing detection.
    pub fn reset(&mut self) {
        self.roi = None;
    }

    /// Landmarks for the next frame, or `None` when no face is visible.
    pub fn next_frame(&mut self, img: &RgbImage) -> Result<Option<Face>> {
        if let Some(roi) = self.roi {
            let (landmarks, presence) = self.analyzer.mesh(img, &roi)?;
            if presence >= MIN_PRESENCE {
                self.roi = Some(RotatedRect::from_landmarks(&landmarks));
                let pose = HeadPose::fit(&self.analyzer.canonical, &landmarks)?;
                let detection = Detection {
                    score: presence,
                    ..box_of(&landmarks)
                };
                return Ok(Some(Face {
                    detection,
                    roi,
                    landmarks,
                    presence,
                    pose,
                }));
            }
            self.roi = None;
        }
        self.detector_runs += 1;
        let detections = self.analyzer.detect(img, None)?;
        let Some(d) = detections
            .get(self.face_index.min(detections.len().saturating_sub(1)))
            .copied()
        else {
            return Ok(None);
        };
        let face = self
            .analyzer
            .face_from_roi(img, d, RotatedRect::from_detection(&d))?;
        if face.presence < MIN_PRESENCE {
            return Ok(None);
        }
        self.roi = Some(RotatedRect::from_landmarks(&face.landmarks));
        Ok(Some(face))
    }
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
    Error::Input(format!(
        "face analysis failed inside the network runtime: {e}"
    ))
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
            min_score: None,
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
