"""Editing MOTION: pure functions on :class:`voxportrait.Motion`'s arrays.

No ComfyUI here (the Motion Edit node and the tests call these), and no
input is ever changed: ComfyUI caches node outputs, so every function
returns a new Motion with new arrays.

A Motion holds one row per video frame: ``expression`` ``[N, 9]``
(jaw_open, lip_close, lip_pucker, lip_spread, upper_lip_raise,
lower_lip_tuck, blink_left, blink_right, brow_raise), ``head`` ``[N, 6]``
(yaw, pitch, roll in radians; tx, ty in canonical cm; scale, 1 =
unchanged) and ``gaze`` ``[N, 2]`` (NaN keeps the portrait's own eyes).

Edits that keep the timing (scales, blinks, pose override) keep the viseme
data made from the audio (posteriors, segments, Rhubarb/OVR exports); edits
that change the timing (retime, concatenate, splice, trim) drop it, since it
no longer matches the frames.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

#: Expression columns of the mouth (what ``mouth_scale`` multiplies).
MOUTH = slice(0, 6)
LIP_CLOSE = 1
BLINKS = slice(6, 8)
BROW = 8
#: Head columns.
ROTATION = slice(0, 3)
TRANSLATION = slice(3, 5)
SCALE = 5


def _new(m, expression, head, gaze, *, fps=None, keep_audio_info: bool):
    """A new Motion of ``m``'s class with the given arrays."""
    cls = type(m)
    kwargs = dict(
        fps=Fraction(m.fps) if fps is None else Fraction(fps),
        expression=np.ascontiguousarray(expression, dtype=np.float32),
        head=np.ascontiguousarray(head, dtype=np.float32),
        gaze=np.ascontiguousarray(gaze, dtype=np.float32),
    )
    if keep_audio_info:
        kwargs.update(posteriors=m.posteriors, segments=list(m.segments), engine=m.engine,
                      _exports=dict(getattr(m, "_exports", {}) or {}))
    return cls(**kwargs)


def _check(m, what="motion"):
    n = m.expression.shape[0]
    if m.expression.ndim != 2 or m.expression.shape[1] != 9:
        raise ValueError(f"{what}: expression must be [frames, 9], got {list(m.expression.shape)}")
    if m.head.shape != (n, 6):
        raise ValueError(f"{what}: head must be [frames, 6], got {list(m.head.shape)}")
    if m.gaze.shape != (n, 2):
        raise ValueError(f"{what}: gaze must be [frames, 2], got {list(m.gaze.shape)}")


def copy(m):
    """A deep copy."""
    _check(m)
    return _new(m, m.expression.copy(), m.head.copy(), m.gaze.copy(), keep_audio_info=True)


def scale(m, *, mouth: float = 1.0, pose: float = 1.0, brows: float = 1.0):
    """Multiplies the mouth coefficients (lip closure capped at 1, as the core
    does), the head motion (rotation and translation; the size factor's
    change from 1) and the brow raises. 1 keeps, 0 removes."""
    _check(m)
    for name, v in (("mouth", mouth), ("pose", pose), ("brows", brows)):
        if not (0.0 <= float(v) <= 4.0):
            raise ValueError(f"{name} scale must lie between 0 and 4, got {v:g}")
    e = m.expression.astype(np.float32, copy=True)
    h = m.head.astype(np.float32, copy=True)
    e[:, MOUTH] *= np.float32(mouth)
    e[:, LIP_CLOSE] = np.minimum(e[:, LIP_CLOSE], 1.0)
    e[:, BROW] *= np.float32(brows)
    h[:, ROTATION] *= np.float32(pose)
    h[:, TRANSLATION] *= np.float32(pose)
    h[:, SCALE] = 1.0 + (h[:, SCALE] - 1.0) * np.float32(pose)
    return _new(m, e, h, m.gaze.copy(), keep_audio_info=True)


def set_blinks(m, on: bool):
    """``on=False`` opens both eyes on every frame; ``True`` returns a copy."""
    _check(m)
    e = m.expression.astype(np.float32, copy=True)
    if not on:
        e[:, BLINKS] = 0.0
    return _new(m, e, m.head.copy(), m.gaze.copy(), keep_audio_info=True)


def override_pose(m, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0, *, mode: str = "constant"):
    """Head pose in degrees. ``constant``: every frame at (yaw, pitch, roll),
    no translation, unchanged size (a still head at that angle). ``offset``:
    adds the angles to the motion's own. ``none``: a copy."""
    _check(m)
    h = m.head.astype(np.float32, copy=True)
    angles = np.radians(np.array([yaw, pitch, roll], dtype=np.float64)).astype(np.float32)
    if mode == "constant":
        h[:, ROTATION] = angles
        h[:, TRANSLATION] = 0.0
        h[:, SCALE] = 1.0
    elif mode == "offset":
        h[:, ROTATION] += angles
    elif mode != "none":
        raise ValueError(f"unknown pose override {mode!r}; choose none, constant or offset")
    return _new(m, m.expression.copy(), h, m.gaze.copy(), keep_audio_info=True)


def retime(m, fps):
    """The motion resampled to ``fps`` (same duration, linear interpolation;
    gaze takes the nearest frame so NaN "keep the eyes" stays exact)."""
    _check(m)
    fps = Fraction(fps)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if fps == Fraction(m.fps):
        return copy(m)
    n = m.frames
    new_n = max(1, int(math.floor(Fraction(n) * fps / Fraction(m.fps) + Fraction(1, 2)))) if n else 0
    if n == 0:
        return _new(m, m.expression[:0], m.head[:0], m.gaze[:0], fps=fps, keep_audio_info=False)
    # Frame i shows time i / fps; position in source frames.
    pos = np.arange(new_n, dtype=np.float64) * float(Fraction(m.fps) / fps)
    pos = np.clip(pos, 0.0, n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    w = (pos - lo)[:, None]

    def lerp(a):
        a = a.astype(np.float64)
        return (a[lo] * (1.0 - w) + a[hi] * w).astype(np.float32)

    nearest = np.clip(np.rint(pos).astype(np.int64), 0, n - 1)
    return _new(m, lerp(m.expression), lerp(m.head), m.gaze[nearest].copy(), fps=fps,
                keep_audio_info=False)


def _ease(k: int):
    """Weights 1 -> 0 over ``k`` frames (smoothstep), for seams."""
    if k <= 0:
        return np.zeros(0, dtype=np.float64)
    t = np.arange(1, k + 1, dtype=np.float64) / (k + 1)
    return 1.0 - t * t * (3.0 - 2.0 * t)


def _blend_seam(e, h, seam: int, k: int) -> None:
    """Removes the jump at row ``seam`` in place: the rows from ``seam`` on
    start at the previous row's value and ease into their own motion over
    ``k`` frames (the jump's offset decays), keeping their movement."""
    n = e.shape[0]
    if seam <= 0 or seam >= n or k <= 0:
        return
    k = min(k, n - seam)
    w = _ease(k)[:, None]
    for a in (e, h):
        # Continue the previous row's value: offset = prev - first of the new part.
        off = a[seam - 1].astype(np.float64) - a[seam].astype(np.float64)
        a[seam:seam + k] = (a[seam:seam + k] + w * off).astype(np.float32)
    e[seam:seam + k, 0:8] = np.maximum(e[seam:seam + k, 0:8], 0.0)  # mouth and blinks are >= 0


def _same_rate(base, other):
    """``other`` at ``base``'s frame rate."""
    _check(other, "other motion")
    return other if Fraction(other.fps) == Fraction(base.fps) else retime(other, base.fps)


def concatenate(a, b, *, crossfade: int = 0):
    """``a`` then ``b`` (``b`` retimed to ``a``'s fps when they differ).
    ``crossfade`` frames ease the seam so the head does not jump."""
    _check(a)
    b = _same_rate(a, b)
    e = np.concatenate([a.expression, b.expression]).astype(np.float32)
    h = np.concatenate([a.head, b.head]).astype(np.float32)
    g = np.concatenate([a.gaze, b.gaze]).astype(np.float32)
    _blend_seam(e, h, a.frames, int(crossfade))
    return _new(a, e, h, g, keep_audio_info=False)


def splice(a, b, start: int, end: int = -1, *, crossfade: int = 0):
    """Replaces frames ``start`` (inclusive) to ``end`` (exclusive) of ``a``
    with all of ``b``. ``end=-1`` replaces as many frames as ``b`` has (the
    length stays the same unless ``b`` runs past the end of ``a``).
    ``start`` past the end appends. ``crossfade`` eases both seams."""
    _check(a)
    b = _same_rate(a, b)
    n = a.frames
    start = int(start)
    if start < 0:
        raise ValueError(f"splice start must be 0 or more, got {start}")
    start = min(start, n)
    end = start + b.frames if int(end) < 0 else int(end)
    if end < start:
        raise ValueError(f"splice end ({end}) must not come before its start ({start})")
    end = min(end, n)
    e = np.concatenate([a.expression[:start], b.expression, a.expression[end:]]).astype(np.float32)
    h = np.concatenate([a.head[:start], b.head, a.head[end:]]).astype(np.float32)
    g = np.concatenate([a.gaze[:start], b.gaze, a.gaze[end:]]).astype(np.float32)
    _blend_seam(e, h, start, int(crossfade))
    _blend_seam(e, h, start + b.frames, int(crossfade))
    return _new(a, e, h, g, keep_audio_info=False)


def trim(m, start: int = 0, end: int = -1):
    """Frames ``start`` to ``end`` (exclusive; -1 = to the end)."""
    _check(m)
    n = m.frames
    start = max(0, min(int(start), n))
    end = n if int(end) < 0 else max(start, min(int(end), n))
    if start == 0 and end == n:
        return copy(m)
    return _new(m, m.expression[start:end].copy(), m.head[start:end].copy(), m.gaze[start:end].copy(),
                keep_audio_info=False)
