//! The expression basis: a small set of interpretable coefficients, each a
//! deterministic displacement field over the canonical 468-vertex face.

use serde::{Deserialize, Serialize};

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
