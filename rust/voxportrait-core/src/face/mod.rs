//! Face stage: where the face and mouth are in the portrait.
//!
//! MediaPipe-compatible face analysis in candle: the BlazeFace detectors
//! ([`detect`], [`blazeface`]), the 468-point mesh ([`face_mesh`]) and the
//! iris network ([`iris`]) on their shared layers ([`layers`]), tied
//! together with crops ([`roi`]), head pose ([`pose`]) and tracking by
//! [`analyze`]. [`FaceAnchor`] is the mouth position and face size alone,
//! given by the caller (`--mouth`) for portraits no detector finds, which the
//! mouth-warp fallback renderer consumes.

// Submodules (one line each; keep this list sorted).
pub mod analyze;
pub mod blazeface;
pub mod canonical;
pub mod detect;
pub mod face_mesh;
pub mod iris;
pub mod layers;
pub mod overlay;
pub mod pose;
pub mod roi;
// @submodules

/// Default mouth centre as a fraction of width and height, measured on the
/// bundled example portrait (a centred head-and-shoulders crop).
pub const DEFAULT_MOUTH_FRACTION: (f32, f32) = (0.495, 0.655);

/// Where the mouth is and how big the face is, in output pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceAnchor {
    /// Mouth centre x, in pixels.
    pub mouth_x: f32,
    /// Mouth centre y, in pixels.
    pub mouth_y: f32,
    /// Approximate face width (cheek to cheek), in pixels.
    pub face_width: f32,
}

impl FaceAnchor {
    /// Places the mouth at a fraction `(fx, fy)` of a `width` × `height` image,
    /// assuming the face spans about 40% of the shorter side.
    pub fn from_fraction(width: u32, height: u32, fraction: (f32, f32)) -> Self {
        let (fx, fy) = (fraction.0.clamp(0.0, 1.0), fraction.1.clamp(0.0, 1.0));
        Self {
            mouth_x: fx * width as f32,
            mouth_y: fy * height as f32,
            face_width: 0.4 * width.min(height) as f32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_maps_to_pixels_and_clamps() {
        let a = FaceAnchor::from_fraction(200, 100, (0.5, 0.6));
        assert!((a.mouth_x - 100.0).abs() < 1e-4 && (a.mouth_y - 60.0).abs() < 1e-4);
        assert!((a.face_width - 40.0).abs() < 1e-4);
        let b = FaceAnchor::from_fraction(200, 100, (1.5, -1.0));
        assert_eq!((b.mouth_x, b.mouth_y), (200.0, 0.0));
    }
}
