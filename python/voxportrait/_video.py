"""Encoding frames that Python produces (refined frames) with the core's own
sinks: the same H.264 + AAC MP4 (or GIF, or PNG folder) as every other
output, frames streamed as they come, the file written under a temporary
name and moved into place only when complete."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Optional, Tuple

import numpy as np

from . import _native


class FrameWriter:
    """Streams uint8 RGB frames [n, H, W, 3] into ``path``; a context manager
    that aborts (removing the partial file) on an exception."""

    def __init__(self, path, width: int, height: int, fps: Fraction, *,
                 audio: Optional[Tuple[np.ndarray, int]] = None, format: str = "mp4", ffmpeg=None):
        from .api import ffmpeg_candidates
        from .render import _audio_arg

        fps = Fraction(fps)
        samples, rate = _audio_arg(audio)
        self.path = os.fspath(path)
        self._native = _native.FrameWriter(
            self.path, int(width), int(height), (fps.numerator, fps.denominator), format, audio=samples,
            sample_rate=rate, ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg),
            ffmpeg_candidates=ffmpeg_candidates())

    def write(self, frames: np.ndarray) -> None:
        self._native.write(np.ascontiguousarray(frames, dtype=np.uint8))

    def close(self) -> None:
        self._native.close()

    def abort(self) -> None:
        self._native.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
