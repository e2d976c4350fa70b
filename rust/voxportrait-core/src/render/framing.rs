//! Framing: which part of the portrait becomes the video, at what size.
//!
//! The modes users know from SadTalker:
//! - [`Framing::Crop`]: a square face crop aligned on the eyes and mouth
//!   (the FFHQ alignment rule: eyes level, whole head with some hair and
//!   neck), resampled to `size`²;
//! - [`Framing::Resize`]: the whole portrait, its longer side scaled to
//!   `size`;
//! - [`Framing::Full`]: the whole portrait at its own resolution.
//!
//! Face analysis runs once, on the original image; its landmarks are mapped
//! into the framed image (and the head pose refitted), so a downscaled or
//! cropped frame keeps the full-resolution accuracy.

use image::RgbImage;

use crate::face::analyze::{EyeLandmarks, Face};
use crate::face::canonical::CanonicalFace;
use crate::face::pose::HeadPose;
use crate::face::roi::RotatedRect;
use crate::{Error, Result};

use super::raster::{sample, to_u8};

/// How the portrait is framed for the video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// An aligned square face crop, `size` pixels a side.
    Crop {
        /// Output side, pixels (even; 256, 512 and 1024 are the usual).
        size: u32,
    },
    /// The whole portrait with its longer side scaled to `size` (0 keeps it).
    Resize {
        /// Longer output side, pixels.
        size: u32,
    },
    /// The whole portrait at its own resolution (padded by one pixel row
    /// or column, repeating the edge, when a side is odd: H.264 needs even
    /// sides).
    Full,
}

impl Framing {
    /// Parses "crop", "resize" or "full" with the given size.
    pub fn parse(mode: &str, size: u32) -> Result<Self> {
        match mode.trim().to_ascii_lowercase().as_str() {
            "crop" => {
                if size < 64 || !size.is_multiple_of(2) {
                    return Err(Error::Input(format!(
                        "crop size {size} must be even and at least 64 (256, 512 or 1024 are usual)"
                    )));
                }
                Ok(Framing::Crop { size })
            }
            "resize" => Ok(Framing::Resize { size }),
            "full" => Ok(Framing::Full),
            other => Err(Error::Input(format!(
                "unknown framing {other:?}; use crop, resize or full"
            ))),
        }
    }

    /// The mode's name.
    pub fn name(&self) -> &'static str {
        match self {
            Framing::Crop { .. } => "crop",
            Framing::Resize { .. } => "resize",
            Framing::Full => "full",
        }
    }
}

/// A similarity map from original to framed pixels: `framed = s·R·p + t`,
/// with `R` a rotation by `angle` (radians, clockwise on screen).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameTransform {
    /// Scale, framed pixels per original pixel (x and y may differ
    /// slightly after rounding sizes to even numbers).
    pub scale: [f32; 2],
    /// Rotation, radians.
    pub angle: f32,
    /// Translation, framed pixels.
    pub offset: [f32; 2],
}

impl FrameTransform {
    /// Framed position of original point `p`.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let (s, c) = self.angle.sin_cos();
        let x = c * p[0] - s * p[1];
        let y = s * p[0] + c * p[1];
        [
            self.scale[0] * x + self.offset[0],
            self.scale[1] * y + self.offset[1],
        ]
    }

    /// Original position of framed point `q`.
    pub fn invert(&self, q: [f32; 2]) -> [f32; 2] {
        let x = (q[0] - self.offset[0]) / self.scale[0];
        let y = (q[1] - self.offset[1]) / self.scale[1];
        let (s, c) = self.angle.sin_cos();
        [c * x + s * y, -s * x + c * y]
    }
}

/// The framed portrait, its face in framed pixels, and the map between.
#[derive(Debug, Clone)]
pub struct Framed {
    /// The image to animate.
    pub image: RgbImage,
    /// The face, landmarks and pose in `image` pixels.
    pub face: Face,
    /// Original → framed pixels.
    pub transform: FrameTransform,
}

/// Frames `img` (whose analysed face is `face`) as `framing` says.
pub fn frame(
    img: &RgbImage,
    face: &Face,
    canonical: &CanonicalFace,
    framing: Framing,
) -> Result<Framed> {
    let (w, h) = img.dimensions();
    let (image, transform) = match framing {
        Framing::Full => {
            let (nw, nh) = (w + w % 2, h + h % 2);
            let image = if (nw, nh) == (w, h) {
                img.clone()
            } else {
                RgbImage::from_fn(nw, nh, |x, y| *img.get_pixel(x.min(w - 1), y.min(h - 1)))
            };
            (
                image,
                FrameTransform {
                    scale: [1.0, 1.0],
                    angle: 0.0,
                    offset: [0.0, 0.0],
                },
            )
        }
        Framing::Resize { size } => {
            let image = crate::portrait::fit_even(img, size);
            let (sx, sy) = (
                image.width() as f32 / w as f32,
                image.height() as f32 / h as f32,
            );
            // Pixel centres at integers: x' + 0.5 = (x + 0.5)·s.
            (
                image,
                FrameTransform {
                    scale: [sx, sy],
                    angle: 0.0,
                    offset: [0.5 * sx - 0.5, 0.5 * sy - 0.5],
                },
            )
        }
        Framing::Crop { size } => aligned_crop(img, face, size),
    };
    let face = map_face(face, &transform, canonical)?;
    Ok(Framed {
        image,
        face,
        transform,
    })
}

/// The FFHQ alignment crop (Karras et al. 2019): centre a little below the
/// eyes toward the mouth, side `max(2·eye distance, 1.8·eye-to-mouth)`·2,
/// rotated so the eyes are level.
fn aligned_crop(img: &RgbImage, face: &Face, size: u32) -> (RgbImage, FrameTransform) {
    let l = &face.landmarks;
    let mean = |ids: &[usize]| {
        let n = ids.len() as f32;
        ids.iter().fold([0.0f32; 2], |m, &i| {
            [m[0] + l[i][0] / n, m[1] + l[i][1] / n]
        })
    };
    // Eye centres from the lid corners; mouth corners 61/291.
    let eye_a = mean(&[33, 133]);
    let eye_b = mean(&[362, 263]);
    let mouth = mean(&[61, 291]);
    let eye_avg = [(eye_a[0] + eye_b[0]) / 2.0, (eye_a[1] + eye_b[1]) / 2.0];
    let e2e = [eye_b[0] - eye_a[0], eye_b[1] - eye_a[1]];
    let e2m = [mouth[0] - eye_avg[0], mouth[1] - eye_avg[1]];
    let norm = |v: [f32; 2]| (v[0] * v[0] + v[1] * v[1]).sqrt();
    // x = e2e - rot90(e2m): the crop's horizontal axis.
    let mut x = [e2e[0] + e2m[1], e2e[1] - e2m[0]];
    let nx = norm(x).max(1e-3);
    let half = (norm(e2e) * 2.0).max(norm(e2m) * 1.8);
    x = [x[0] / nx, x[1] / nx];
    let centre = [eye_avg[0] + 0.1 * e2m[0], eye_avg[1] + 0.1 * e2m[1]];
    let side = 2.0 * half;
    let n = size as f32;
    let k = n / side; // framed pixels per original pixel
    let angle = -x[1].atan2(x[0]); // rotate the crop axis onto +x
    let (s, c) = angle.sin_cos();
    let rc = [c * centre[0] - s * centre[1], s * centre[0] + c * centre[1]];
    let mid = (n - 1.0) / 2.0;
    let transform = FrameTransform {
        scale: [k, k],
        angle,
        offset: [mid - k * rc[0], mid - k * rc[1]],
    };
    // Shrinking by more than 1.5× would alias: sample a pre-shrunk copy.
    let (src, pre) = if k < 1.0 / 1.5 {
        let f = 1.0 / k;
        let (pw, ph) = (
            ((img.width() as f32 / f).round() as u32).max(1),
            ((img.height() as f32 / f).round() as u32).max(1),
        );
        let small = image::imageops::resize(img, pw, ph, image::imageops::FilterType::Triangle);
        let pre = [
            pw as f32 / img.width() as f32,
            ph as f32 / img.height() as f32,
        ];
        (std::borrow::Cow::Owned(small), pre)
    } else {
        (std::borrow::Cow::Borrowed(img), [1.0, 1.0])
    };
    let out = RgbImage::from_fn(size, size, |i, j| {
        let p = transform.invert([i as f32, j as f32]);
        let q = [(p[0] + 0.5) * pre[0] - 0.5, (p[1] + 0.5) * pre[1] - 0.5];
        image::Rgb(to_u8(sample(&src, q[0], q[1])))
    });
    (out, transform)
}

/// `face` with every position mapped by `t`, and its pose refitted.
fn map_face(face: &Face, t: &FrameTransform, canonical: &CanonicalFace) -> Result<Face> {
    let zs = (t.scale[0] * t.scale[1]).sqrt();
    let map3 = |p: &[f32; 3]| {
        let q = t.apply([p[0], p[1]]);
        [q[0], q[1], p[2] * zs]
    };
    let landmarks: Vec<[f32; 3]> = face.landmarks.iter().map(map3).collect();
    let map_rect = |r: &RotatedRect| {
        let c = t.apply([r.cx, r.cy]);
        RotatedRect {
            cx: c[0],
            cy: c[1],
            w: r.w * zs,
            h: r.h * zs,
            rotation: r.rotation + t.angle,
        }
    };
    let eyes = face.eyes.as_ref().map(|eyes| {
        eyes.clone().map(|e| EyeLandmarks {
            iris: e.iris.map(|p| map3(&p)),
            contour: e.contour.iter().map(map3).collect(),
            roi: map_rect(&e.roi),
        })
    });
    let mut detection = face.detection;
    let corners = [
        t.apply([detection.xmin, detection.ymin]),
        t.apply([detection.xmax, detection.ymin]),
        t.apply([detection.xmin, detection.ymax]),
        t.apply([detection.xmax, detection.ymax]),
    ];
    detection.xmin = corners.iter().map(|p| p[0]).fold(f32::MAX, f32::min);
    detection.xmax = corners.iter().map(|p| p[0]).fold(f32::MIN, f32::max);
    detection.ymin = corners.iter().map(|p| p[1]).fold(f32::MAX, f32::min);
    detection.ymax = corners.iter().map(|p| p[1]).fold(f32::MIN, f32::max);
    for k in detection.keypoints.iter_mut() {
        *k = t.apply(*k);
    }
    let n = crate::face::canonical::NUM_VERTICES.min(landmarks.len());
    let pose = HeadPose::fit(canonical, &landmarks[..n])?;
    Ok(Face {
        detection,
        roi: map_rect(&face.roi),
        landmarks,
        presence: face.presence,
        pose,
        eyes,
    })
}
