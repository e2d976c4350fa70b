"""Motion → frames: the mesh-driven renderer of one portrait.

A :class:`Renderer` analyses the portrait's face once and frames it
(``resize``, ``crop`` or ``full``); then it renders any :class:`~voxportrait.Motion`
either as numpy frames (for hosts that want frames, such as ComfyUI IMAGE
batches) or straight into a video file, streaming (for any length).

>>> import voxportrait
>>> r = voxportrait.Renderer("portrait.png", framing="crop", size=512)   # doctest: +SKIP
>>> m = voxportrait.audio_to_motion("speech.wav", fps=25)                # doctest: +SKIP
>>> for frame in r.frames(m): ...                                        # doctest: +SKIP
>>> r.render_to_file(m, "talk.mp4", audio="speech.wav")                  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Optional, Tuple, Union

import numpy as np

from . import _native
from .api import ffmpeg_candidates

PathLike = Union[str, "os.PathLike[str]"]

#: Framing modes.
FRAMINGS = ("resize", "crop", "full")

#: The portrait's mouth at rest, where speech starts from: ``keep-smile``
#: closes an open mouth and keeps a smile (the default), ``neutral`` also
#: relaxes the smile, ``photo`` leaves the photo's mouth as it is.
RESTING_MOUTHS = ("keep-smile", "neutral", "photo")


class Renderer:
    """The renderer of one portrait (a path or an ``(H, W[, 3|4])`` uint8
    array; alpha is composited on white).

    ``framing`` is ``"resize"`` (the whole portrait, longer side ``size``),
    ``"crop"`` (an aligned square face crop, ``size`` a side) or ``"full"``
    (the portrait at its own resolution). ``face_index`` picks among several
    faces (0 = the largest). ``mouth_position`` (fractions of width and
    height) skips face analysis and uses the mouth-only fallback renderer,
    for portraits whose face cannot be found. ``resting_mouth`` (one of
    :data:`RESTING_MOUTHS`) is the state the motion moves the portrait's
    mouth from.

    Raises :class:`voxportrait.InputError` when there is no face.
    """

    def __init__(self, image, *, framing: str = "resize", size: int = 512, face_index: int = 0,
                 mouth_position: Optional[Tuple[float, float]] = None,
                 resting_mouth: str = "keep-smile"):
        if not isinstance(image, np.ndarray):
            image = os.fspath(image)
        else:
            image = _as_uint8_image(image)
        self._native = _native.Renderer(
            image, framing=str(framing), size=int(size), face_index=int(face_index),
            mouth_position=None if mouth_position is None else tuple(map(float, mouth_position)),
            resting_mouth=str(resting_mouth),
        )

    @property
    def width(self) -> int:
        return self._native.width

    @property
    def height(self) -> int:
        return self._native.height

    @property
    def kind(self) -> str:
        """``"mesh"``, or ``"mouth-warp"`` for the fallback."""
        return self._native.kind

    def render(self, motion, start: int = 0, stop: Optional[int] = None, *, masks: bool = False):
        """Frames ``start..stop`` as a ``[n, H, W, 3]`` uint8 array; with
        ``masks=True`` returns ``(frames, face_masks, mouth_masks)``, the
        masks ``[n, H, W]`` uint8 (255 inside, feathered)."""
        frames, m = self._native.render(*_arrays(motion), start=int(start),
                                        stop=None if stop is None else int(stop), masks=bool(masks))
        return (frames, m[0], m[1]) if masks else frames

    def frames(self, motion, *, masks: bool = False, chunk: int = 8,
               progress: Optional[Callable[[int, int], None]] = None) -> Iterator:
        """Yields frames one at a time (``[H, W, 3]`` uint8; with ``masks``,
        ``(frame, face_mask, mouth_mask)``), rendering ``chunk`` at a time.
        Memory stays flat: nothing is kept between chunks."""
        total = int(np.asarray(motion.expression).shape[0])
        for start in range(0, total, max(1, int(chunk))):
            stop = min(total, start + max(1, int(chunk)))
            out = self.render(motion, start, stop, masks=masks)
            for k in range(stop - start):
                yield (out[0][k], out[1][k], out[2][k]) if masks else out[k]
            if progress is not None:
                progress(stop, total)

    def render_to_file(self, motion, output: PathLike, *, audio=None, format: Optional[str] = None,
                       ffmpeg: Optional[PathLike] = None,
                       progress: Optional[Callable[[int, int], None]] = None) -> int:
        """Renders all of ``motion`` straight into ``output`` (``.mp4`` with
        ffmpeg, ``.gif``, or a folder of PNG frames), frames streaming to the
        encoder. ``audio`` is a path, or ``(samples, sample_rate)`` with mono
        float samples (multi-channel ``[C, T]`` is mixed down). Returns the
        number of frames. A failed or interrupted run leaves no file."""
        fmt = format or _format_for(output)
        samples, rate = _audio_arg(audio)
        return self._native.render_to_file(
            os.fspath(output), _fps(motion), *_arrays(motion), fmt, audio=samples, sample_rate=rate,
            ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg),
            ffmpeg_candidates=ffmpeg_candidates(), progress=progress,
        )


def _as_uint8_image(a: np.ndarray) -> np.ndarray:
    """uint8 HxW[xC] from uint8, or float in 0..1 (as hosts hand images)."""
    if a.dtype != np.uint8:
        a = np.clip(np.asarray(a, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _arrays(motion):
    e = np.ascontiguousarray(motion.expression, dtype=np.float32)
    h = np.ascontiguousarray(motion.head, dtype=np.float32)
    g = getattr(motion, "gaze", None)
    g = np.full((e.shape[0], 2), np.nan, np.float32) if g is None else np.ascontiguousarray(g, np.float32)
    return e, h, g


def _fps(motion) -> Tuple[int, int]:
    from fractions import Fraction

    f = Fraction(motion.fps).limit_denominator(1001 * 1000)
    return f.numerator, f.denominator


def _format_for(output: PathLike) -> str:
    ext = os.path.splitext(os.fspath(output))[1].lower()
    return {".mp4": "mp4", ".gif": "gif", "": "png"}.get(ext, "mp4" if ext == ".m4v" else ext.lstrip("."))


def _audio_arg(audio):
    if audio is None:
        return None, 0
    if isinstance(audio, (str, os.PathLike)):
        samples, rate = _native.load_audio(os.fspath(audio))
        return np.ascontiguousarray(samples, np.float32), int(rate)
    samples, rate = audio
    a = np.asarray(samples, dtype=np.float32)
    if a.ndim == 2:
        a = a.mean(axis=0)
    return np.ascontiguousarray(a.reshape(-1)), int(rate)
