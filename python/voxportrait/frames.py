"""Frame-level dubbing and motion fitting, for hosts that hold frames.

:func:`voxportrait.dub` and :func:`voxportrait.motion_from_video` read files
through ffmpeg. Hosts that already hold decoded frames (ComfyUI's IMAGE
batches, a PyAV or OpenCV loop, a camera) use these instead: feed frames in
order, one ``(H, W, 3)`` uint8 RGB array at a time; tracking and temporal
smoothing carry from one call to the next.

>>> import voxportrait
>>> m = voxportrait.audio_to_motion("speech.wav", fps=25, head_scale=0,
...                                 blink_rate=0, brow_scale=0)      # doctest: +SKIP
>>> out = list(voxportrait.dub_frames(frames, m))                   # doctest: +SKIP
>>> driver = voxportrait.motion_from_frames(frames, fps=25)          # doctest: +SKIP
"""

from __future__ import annotations

from fractions import Fraction
from typing import Callable, Iterable, Iterator, Optional, Sequence, Tuple, Union

import numpy as np

from . import _native
from .motion import Motion

FpsLike = Union[str, float, int, Fraction, Tuple[int, int]]
Progress = Optional[Callable[[int, int], None]]

#: Parts of a driver's motion that :class:`MotionFitter` can transfer.
PARTS = ("pose", "eyes", "brows", "mouth")

_BLINKS = (6, 7)
_BROW = 8


def fps_pair(fps: FpsLike) -> Tuple[int, int]:
    """A frame rate as the exact ``(num, den)`` pair the core uses
    (``29.97`` -> ``(30000, 1001)``)."""
    if isinstance(fps, Fraction):
        pair = (fps.numerator, fps.denominator)
    elif isinstance(fps, tuple):
        if len(fps) != 2:
            raise _native.InputError(f"fps as a tuple must be (num, den), got {fps!r}")
        pair = (int(fps[0]), int(fps[1]))
    else:
        if isinstance(fps, float):
            text = f"{fps:.6f}".rstrip("0").rstrip(".")
        else:
            text = str(fps)
        return tuple(_native.parse_fps(text))
    if pair[0] <= 0 or pair[1] <= 0:
        raise _native.InputError(f"fps must be positive, got {pair[0]}/{pair[1]}")
    return pair


def _frame_u8(frame) -> np.ndarray:
    """An RGB frame as contiguous uint8 ``(H, W, 3)``; floats are read as 0..1."""
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4) or a.shape[0] == 0 or a.shape[1] == 0:
        raise _native.InputError(f"a frame must be an (H, W, 3) RGB array, got shape {tuple(a.shape)}")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[..., :3]
    if a.dtype != np.uint8:
        if a.dtype.kind == "f":
            a = np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) * 255.0 + 0.5
        a = np.clip(a, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


class Dubber:
    """Dubs frames one at a time: tracks the face (re-detecting on scene
    cuts), neutralises the frame's own mouth and re-renders the lower face
    with the given expression. Frames without a face pass through unchanged
    (with a short cross-fade when the face comes and goes).

    ``fps`` is the frames' rate (it sets the landmark filter's time step);
    ``smoothing`` is that filter's minimum cutoff in Hz (lower is smoother).
    ``region`` and ``template`` are :func:`voxportrait.dub`'s.
    """

    def __init__(self, fps: FpsLike = 25, *, face_index: int = 0, smoothing: float = 1.5,
                 region: str = "lower-face", template: str = "neutral"):
        self.fps = fps_pair(fps)
        self.face_index = int(face_index)
        self.smoothing = float(smoothing)
        self.region, self.template = str(region), str(template)
        if self.face_index < 0:
            raise _native.InputError(f"face_index must be 0 or more, got {self.face_index}")
        self.reset()

    def reset(self) -> None:
        """Forgets the tracked face (call it when the frames start over)."""
        self._native = _native.Dubber(self.fps, self.face_index, self.smoothing, self.region, self.template)

    def process(self, frame, expression: Sequence[float]) -> np.ndarray:
        """Dubs one frame to the 9 expression coefficients ``expression``
        (a row of :attr:`Motion.expression`; only the mouth is used) and
        returns the new ``(H, W, 3)`` uint8 frame, the same size."""
        img = _frame_u8(frame)
        e = np.ascontiguousarray(np.asarray(expression, dtype=np.float32).reshape(-1))
        if e.shape[0] != 9:
            raise _native.InputError(f"expression must have 9 coefficients, got {e.shape[0]}")
        if not np.isfinite(e).all():
            raise _native.InputError("expression contains NaN or infinity")
        out = np.asarray(self._native.process(img, e))
        h, w = img.shape[:2]
        if out.shape[:2] != (h, w):  # the renderer rounds odd sides up
            fixed = img.copy()
            hh, ww = min(h, out.shape[0]), min(w, out.shape[1])
            fixed[:hh, :ww] = out[:hh, :ww]
            out = fixed
        return out


class MotionFitter:
    """Fits motion to a face video one frame at a time (reenactment):
    expression coefficients on the basis and head pose, relative to the first
    frame with a face (``relative=False``: to the canonical face). A frame
    without a face repeats the last motion (neutral before the first face).

    ``face_index`` picks the face of the video to follow (0 = the largest);
    frames with fewer faces count as frames without a face. ``parts`` picks
    what to keep: "pose", "eyes" (blinks), "brows", "mouth"; the others are
    neutral.
    """

    def __init__(self, fps: FpsLike = 25, *, relative: bool = True, smoothing: float = 1.5,
                 face_index: int = 0, parts: Sequence[str] = PARTS):
        self.fps = fps_pair(fps)
        if int(face_index) < 0:
            raise _native.InputError(f"face_index must be 0 or more, got {face_index}")
        self.parts = _parts(parts)
        self._native = _native.MotionFitter(self.fps, bool(relative), float(smoothing), int(face_index))
        self.face_found = False

    def push(self, frame) -> Tuple[np.ndarray, np.ndarray]:
        """Motion of the next frame: ``(expression [9], head [6])`` float32,
        columns as in :class:`Motion`."""
        e, h, found = self._native.push(_frame_u8(frame))
        self.face_found = bool(found)
        e = np.asarray(e, dtype=np.float32)
        h = np.asarray(h, dtype=np.float32)
        if "pose" not in self.parts:
            h = np.array([0, 0, 0, 0, 0, 1], dtype=np.float32)
        keep = np.zeros(9, dtype=bool)
        if "mouth" in self.parts:
            keep[:6] = True
        if "eyes" in self.parts:
            keep[list(_BLINKS)] = True
        if "brows" in self.parts:
            keep[_BROW] = True
        return np.where(keep, e, 0.0).astype(np.float32), h

    def check_found_face(self) -> None:
        """Raises :class:`InputError` unless a frame pushed so far showed the
        chosen face, saying whether no frame showed a face or fewer faces
        than ``face_index`` asks for."""
        self._native.check_found_face()


def _parts(parts: Sequence[str]) -> frozenset:
    if isinstance(parts, str):
        parts = [p for p in parts.replace("+", ",").split(",")]
    chosen = frozenset(str(p).strip().lower() for p in parts if str(p).strip())
    unknown = chosen - set(PARTS)
    if unknown:
        raise _native.InputError(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    return chosen


def _total(frames) -> int:
    try:
        return len(frames)
    except TypeError:
        return 0


def dub_frames(frames: Iterable, motion: Motion, fps: Optional[FpsLike] = None, progress: Progress = None,
               *, face_index: int = 0, smoothing: float = 1.5, region: str = "lower-face",
               template: str = "neutral") -> Iterator[np.ndarray]:
    """Yields ``frames`` dubbed to ``motion``'s mouth, one output frame per
    input frame (a generator: frames are read and produced one at a time).

    ``motion`` is usually ``audio_to_motion(speech, fps=fps, head_scale=0,
    blink_rate=0, brow_scale=0)``; frame ``i`` takes its row ``i`` (frames
    past its end get a closed mouth). ``fps`` defaults to ``motion.fps``.
    ``progress(done, total)`` is called after each frame (total = 0 when
    ``frames`` has no length); an exception raised in it stops the loop.
    """
    dubber = Dubber(motion.fps if fps is None else fps, face_index=face_index, smoothing=smoothing,
                    region=region, template=template)
    expr = np.asarray(motion.expression, dtype=np.float32)
    closed = np.zeros(9, dtype=np.float32)
    total = _total(frames)
    for i, frame in enumerate(frames):
        yield dubber.process(frame, expr[i] if i < len(expr) else closed)
        if progress is not None:
            progress(i + 1, max(total, i + 1) if total else 0)


def motion_from_frames(frames: Iterable, fps: FpsLike = 25, *, relative: bool = True,
                       parts: Sequence[str] = PARTS, smoothing: float = 1.5, face_index: int = 0,
                       progress: Progress = None) -> Motion:
    """Motion of the face in a sequence of frames, one row per frame (see
    :class:`MotionFitter`); drive a portrait with it (reenactment) through
    :class:`Renderer`. Raises :class:`InputError` when there are no frames or
    no frame shows a face."""
    fitter = MotionFitter(fps, relative=relative, smoothing=smoothing, face_index=face_index, parts=parts)
    total = _total(frames)
    exprs, heads = [], []
    for i, frame in enumerate(frames):
        e, h = fitter.push(frame)
        exprs.append(e)
        heads.append(h)
        if progress is not None:
            progress(i + 1, max(total, i + 1) if total else 0)
    if not exprs:
        raise _native.InputError("no frames to fit motion to")
    fitter.check_found_face()
    n = len(exprs)
    num, den = fitter.fps
    return Motion(fps=Fraction(num, den), expression=np.stack(exprs).astype(np.float32),
                  head=np.stack(heads).astype(np.float32),
                  gaze=np.full((n, 2), np.nan, dtype=np.float32))
