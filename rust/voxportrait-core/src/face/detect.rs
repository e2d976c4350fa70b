//! BlazeFace post-processing: SSD anchors, box and keypoint decoding, and
//! weighted non-maximum suppression, as MediaPipe's face detection graphs do
//! (`SsdAnchorsCalculator`, `TensorsToDetectionsCalculator`,
//! `NonMaxSuppressionCalculator` with the WEIGHTED algorithm).
//!
//! Everything here works in the detector's normalised input space (0..1 over
//! the square, letterboxed network input); [`Detection::unletterbox`] maps
//! results back to image pixels.

/// One SSD anchor: a centre in normalised input coordinates and a size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Anchor {
    /// Centre x, 0..1.
    pub x: f32,
    /// Centre y, 0..1.
    pub y: f32,
    /// Width (1.0 for MediaPipe's fixed-size face anchors).
    pub w: f32,
    /// Height (1.0 for MediaPipe's fixed-size face anchors).
    pub h: f32,
}

/// Which BlazeFace variant: the anchor layout and decoding constants differ.
/// The same type as the network's [`BlazeFaceVariant`], named for its role here.
pub use super::blazeface::BlazeFaceVariant as DetectorKind;

/// Post-processing constants of each detector variant.
impl DetectorKind {
    /// Default minimum score MediaPipe uses for this variant.
    pub fn default_min_score(self) -> f32 {
        match self {
            Self::ShortRange => 0.5,
            Self::FullRange => 0.6,
        }
    }

    /// The SSD anchors, in the order of the network's output rows.
    ///
    /// Short range: strides 8, 16, 16, 16 on a 128 input; layers sharing a
    /// stride are merged, 2 anchors per layer per cell (so 2 per cell at
    /// 16×16 and 6 per cell at 8×8). Full range: one stride-4 layer, one
    /// anchor per cell. Offsets 0.5, fixed anchor size.
    pub fn anchors(self) -> Vec<Anchor> {
        let (strides, per_layer): (&[usize], usize) = match self {
            Self::ShortRange => (&[8, 16, 16, 16], 2),
            Self::FullRange => (&[4], 1),
        };
        let size = self.input_size();
        let mut anchors = Vec::with_capacity(self.num_anchors());
        let mut layer = 0;
        while layer < strides.len() {
            let stride = strides[layer];
            let mut same = 0;
            while layer < strides.len() && strides[layer] == stride {
                same += 1;
                layer += 1;
            }
            let cells = size.div_ceil(stride);
            for y in 0..cells {
                for x in 0..cells {
                    for _ in 0..same * per_layer {
                        anchors.push(Anchor {
                            x: (x as f32 + 0.5) / cells as f32,
                            y: (y as f32 + 0.5) / cells as f32,
                            w: 1.0,
                            h: 1.0,
                        });
                    }
                }
            }
        }
        anchors
    }
}

/// Index of each keypoint in [`Detection::keypoints`]. "Right" and "left"
/// are the subject's: the right eye appears on the image's left.
pub mod keypoint {
    /// Subject's right eye.
    pub const RIGHT_EYE: usize = 0;
    /// Subject's left eye.
    pub const LEFT_EYE: usize = 1;
    /// Nose tip.
    pub const NOSE: usize = 2;
    /// Mouth centre.
    pub const MOUTH: usize = 3;
    /// Subject's right ear tragion.
    pub const RIGHT_EAR: usize = 4;
    /// Subject's left ear tragion.
    pub const LEFT_EAR: usize = 5;
}

/// A detected face: axis-aligned box, six keypoints and a score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    /// Box left, top, right, bottom.
    pub xmin: f32,
    /// See `xmin`.
    pub ymin: f32,
    /// See `xmin`.
    pub xmax: f32,
    /// See `xmin`.
    pub ymax: f32,
    /// Six keypoints (x, y), indexed by [`keypoint`].
    pub keypoints: [[f32; 2]; 6],
    /// Confidence, 0..1 (sigmoid of the classifier logit).
    pub score: f32,
}

impl Detection {
    /// Box width.
    pub fn width(&self) -> f32 {
        self.xmax - self.xmin
    }

    /// Box height.
    pub fn height(&self) -> f32 {
        self.ymax - self.ymin
    }

    /// Box area.
    pub fn area(&self) -> f32 {
        self.width().max(0.0) * self.height().max(0.0)
    }

    /// Intersection over union with another box.
    pub fn iou(&self, other: &Detection) -> f32 {
        let ix = (self.xmax.min(other.xmax) - self.xmin.max(other.xmin)).max(0.0);
        let iy = (self.ymax.min(other.ymax) - self.ymin.max(other.ymin)).max(0.0);
        let inter = ix * iy;
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// Applies `p -> p * scale + offset` to the box and keypoints.
    pub fn map(&self, scale: [f32; 2], offset: [f32; 2]) -> Detection {
        let mut d = *self;
        d.xmin = self.xmin * scale[0] + offset[0];
        d.xmax = self.xmax * scale[0] + offset[0];
        d.ymin = self.ymin * scale[1] + offset[1];
        d.ymax = self.ymax * scale[1] + offset[1];
        for (k, p) in d.keypoints.iter_mut().zip(self.keypoints.iter()) {
            *k = [p[0] * scale[0] + offset[0], p[1] * scale[1] + offset[1]];
        }
        d
    }

    /// Maps a detection from the normalised letterboxed square input back to
    /// pixels of a `width` × `height` image that was centred in the square.
    pub fn unletterbox(&self, width: u32, height: u32) -> Detection {
        let side = width.max(height) as f32;
        let pad = [(side - width as f32) / 2.0, (side - height as f32) / 2.0];
        self.map([side, side], [-pad[0], -pad[1]])
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Decodes raw network outputs into scored detections above `min_score`.
///
/// `regressors` holds 16 values per anchor (box centre offset, size, then 6
/// keypoint offsets, all in input pixels relative to the anchor centre);
/// `logits` one classifier value per anchor (clipped to ±100, then sigmoid).
/// Coordinates come out normalised to the square network input.
pub fn decode(
    kind: DetectorKind,
    anchors: &[Anchor],
    regressors: &[f32],
    logits: &[f32],
    min_score: f32,
) -> Vec<Detection> {
    let scale = kind.input_size() as f32;
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let score = sigmoid(logits[i].clamp(-100.0, 100.0));
        if score < min_score {
            continue;
        }
        let r = &regressors[i * 16..i * 16 + 16];
        let cx = r[0] / scale * a.w + a.x;
        let cy = r[1] / scale * a.h + a.y;
        let w = r[2] / scale * a.w;
        let h = r[3] / scale * a.h;
        if !(w > 0.0 && h > 0.0 && cx.is_finite() && cy.is_finite()) {
            continue;
        }
        let mut keypoints = [[0.0; 2]; 6];
        for (k, kp) in keypoints.iter_mut().enumerate() {
            *kp = [
                r[4 + 2 * k] / scale * a.w + a.x,
                r[5 + 2 * k] / scale * a.h + a.y,
            ];
        }
        out.push(Detection {
            xmin: cx - w / 2.0,
            ymin: cy - h / 2.0,
            xmax: cx + w / 2.0,
            ymax: cy + h / 2.0,
            keypoints,
            score,
        });
    }
    out
}

/// Weighted non-maximum suppression (MediaPipe's WEIGHTED algorithm): the
/// best remaining detection absorbs every other with IoU above
/// `min_suppression`, and the group's box and keypoints become the
/// score-weighted average. This is steadier from frame to frame than plain
/// NMS. Results are sorted by score, best first.
pub fn weighted_nms(mut detections: Vec<Detection>, min_suppression: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut out = Vec::new();
    while !detections.is_empty() {
        let best = detections[0];
        let (group, rest): (Vec<Detection>, Vec<Detection>) = detections
            .into_iter()
            .partition(|d| best.iou(d) > min_suppression || *d == best);
        detections = rest;
        let total: f32 = group.iter().map(|d| d.score).sum();
        let mut merged = best;
        if group.len() > 1 && total > 0.0 {
            let avg = |f: &dyn Fn(&Detection) -> f32| {
                group.iter().map(|d| f(d) * d.score).sum::<f32>() / total
            };
            merged.xmin = avg(&|d| d.xmin);
            merged.ymin = avg(&|d| d.ymin);
            merged.xmax = avg(&|d| d.xmax);
            merged.ymax = avg(&|d| d.ymax);
            for k in 0..6 {
                merged.keypoints[k] = [avg(&|d| d.keypoints[k][0]), avg(&|d| d.keypoints[k][1])];
            }
        }
        out.push(merged);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_layouts_match_mediapipe() {
        let short = DetectorKind::ShortRange.anchors();
        assert_eq!(short.len(), 896);
        // First layer: 16x16 cells, 2 anchors each, row-major.
        assert_eq!(
            short[0],
            Anchor {
                x: 0.5 / 16.0,
                y: 0.5 / 16.0,
                w: 1.0,
                h: 1.0
            }
        );
        assert_eq!(short[1], short[0]);
        assert_eq!(short[2].x, 1.5 / 16.0);
        // Second group: 8x8 cells, 6 anchors each.
        assert_eq!(
            short[512],
            Anchor {
                x: 0.5 / 8.0,
                y: 0.5 / 8.0,
                w: 1.0,
                h: 1.0
            }
        );
        assert_eq!(short[517], short[512]);
        assert_eq!(short[518].x, 1.5 / 8.0);
        let full = DetectorKind::FullRange.anchors();
        assert_eq!(full.len(), 2304);
        assert_eq!(full[48].y, 1.5 / 48.0);
    }

    #[test]
    fn decode_places_boxes_relative_to_anchors() {
        let kind = DetectorKind::ShortRange;
        let anchors = kind.anchors();
        let mut reg = vec![0.0f32; 896 * 16];
        let mut logits = vec![-10.0f32; 896];
        // Anchor 0 at (1/32, 1/32): shift by +64 px (half the input) and size 32 px.
        reg[0] = 64.0;
        reg[1] = 0.0;
        reg[2] = 32.0;
        reg[3] = 64.0;
        reg[4] = -12.8; // right eye x
        logits[0] = 3.0;
        let d = decode(kind, &anchors, &reg, &logits, 0.5);
        assert_eq!(d.len(), 1);
        let d = d[0];
        assert!((d.xmin - (0.03125 + 0.5 - 0.125)).abs() < 1e-6);
        assert!((d.height() - 0.5).abs() < 1e-6);
        assert!((d.keypoints[0][0] - (0.03125 - 0.1)).abs() < 1e-6);
        assert!((d.score - sigmoid(3.0)).abs() < 1e-6);
    }

    fn boxed(x: f32, y: f32, s: f32, score: f32) -> Detection {
        Detection {
            xmin: x,
            ymin: y,
            xmax: x + s,
            ymax: y + s,
            keypoints: [[x, y]; 6],
            score,
        }
    }

    #[test]
    fn weighted_nms_merges_overlaps_and_keeps_separate_faces() {
        let dets = vec![
            boxed(0.0, 0.0, 1.0, 0.9),
            boxed(0.1, 0.0, 1.0, 0.6),
            boxed(5.0, 5.0, 1.0, 0.8),
        ];
        let out = weighted_nms(dets, 0.3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].score, 0.9);
        assert!((out[0].xmin - 0.06 / 1.5).abs() < 1e-6, "{}", out[0].xmin);
        assert_eq!(out[1].xmin, 5.0);
    }

    #[test]
    fn unletterbox_maps_back_to_pixels() {
        // A 200x100 image sits in a 200x200 square with 50 px bars top and bottom.
        let d = boxed(0.25, 0.25, 0.5, 1.0).unletterbox(200, 100);
        assert_eq!((d.xmin, d.ymin, d.xmax, d.ymax), (50.0, 0.0, 150.0, 100.0));
    }
}
