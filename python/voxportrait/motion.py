"""Audio → motion: expression coefficients, head pose and gaze per video
frame, plus the visemes behind them (Rhubarb and OVR exports).

Numpy arrays in and out; the work runs in the Rust core with the GIL
released. The JSON layout (``voxportrait.motion/1``) is the MOTION data the
ComfyUI nodes chain and users edit.

>>> import voxportrait
>>> m = voxportrait.audio_to_motion("speech.wav", fps=30)     # doctest: +SKIP
>>> m.expression[:, m.column("jaw_open")].max()              # doctest: +SKIP
0.83
>>> m.save("motion.json"); m.save_visemes("mouth.tsv")        # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from typing import List, Optional, Tuple, Union

import numpy as np

from . import _native
from ._files import write_text_atomic

PathLike = Union[str, "os.PathLike[str]"]

#: Columns of :attr:`Motion.expression`, in order.
EXPRESSION_NAMES = ("jaw_open", "lip_close", "lip_pucker", "lip_spread", "upper_lip_raise",
                    "lower_lip_tuck", "blink_left", "blink_right", "brow_raise")
#: Columns of :attr:`Motion.head`: radians (yaw, pitch, roll), canonical cm
#: (tx, ty) and a size factor (scale, 1 = unchanged).
HEAD_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "scale")
#: The 15 visemes, in the column order of :attr:`Motion.posteriors`.
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")
#: Viseme engines: ``learned`` (Whisper tiny.en + trained head) and
#: ``energy`` (model-free: any language, singing).
ENGINES = ("learned", "energy")
#: Head-motion presets.
HEAD_PRESETS = ("calm", "lively", "newsreader", "singing")


@dataclass
class Motion:
    """Motion for a clip: one row per video frame.

    ``expression`` is ``[N, 9]`` (:data:`EXPRESSION_NAMES`), ``head`` is
    ``[N, 6]`` (:data:`HEAD_NAMES`, relative to the source portrait) and
    ``gaze`` is ``[N, 2]`` (iris offset in eye widths; NaN keeps the
    source's eyes). From audio, ``posteriors`` (``[T, 15]`` at 50 Hz),
    ``segments`` (start s, end s, viseme, confidence) and the exports are
    filled in too.
    """

    fps: Fraction
    expression: np.ndarray
    head: np.ndarray
    gaze: np.ndarray
    posteriors: Optional[np.ndarray] = None
    segments: List[Tuple[float, float, str, float]] = field(default_factory=list)
    engine: Optional[str] = None
    _exports: dict = field(default_factory=dict, repr=False)

    @property
    def frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / float(self.fps)

    @staticmethod
    def column(name: str) -> int:
        """Column of an expression coefficient, e.g. ``column("jaw_open")``."""
        return EXPRESSION_NAMES.index(name)

    def to_json(self) -> str:
        """The ``voxportrait.motion/1`` JSON text."""
        return _native.motion_to_json(
            (self.fps.numerator, self.fps.denominator),
            np.ascontiguousarray(self.expression, dtype=np.float32),
            np.ascontiguousarray(self.head, dtype=np.float32),
            np.ascontiguousarray(self.gaze, dtype=np.float32),
        )

    @classmethod
    def from_json(cls, text: str) -> "Motion":
        """Parses ``voxportrait.motion/1`` JSON (missing fields are neutral)."""
        return _motion(_native.motion_from_json(text))

    @classmethod
    def load(cls, path: PathLike) -> "Motion":
        """Reads a motion JSON file."""
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise _native.InputError(f"{path}: no such motion file")
        except (OSError, UnicodeDecodeError) as e:
            raise _native.InputError(f"{path}: cannot read it as a motion JSON file ({e})")
        return cls.from_json(text)

    def save(self, path: PathLike) -> None:
        """Writes the motion JSON atomically."""
        write_text_atomic(path, self.to_json())

    def _export(self, key: str) -> str:
        if key not in self._exports:
            raise _native.InputError("viseme exports exist only for motion made from audio")
        return self._exports[key]

    def rhubarb_tsv(self) -> str:
        """Mouth cues in Rhubarb Lip Sync's TSV format (shapes A-H, X)."""
        return self._export("rhubarb_tsv")

    def rhubarb_json(self) -> str:
        """Mouth cues in Rhubarb Lip Sync's JSON format."""
        return self._export("rhubarb_json")

    def ovr_json(self) -> str:
        """Per-frame weights of the 15 OVR visemes at the motion's fps."""
        return self._export("ovr_json")

    def save_visemes(self, path: PathLike, kind: Optional[str] = None) -> None:
        """Writes visemes: ``kind`` "rhubarb-tsv", "rhubarb-json" or "ovr";
        by default ``.tsv`` gives Rhubarb TSV and ``.json`` Rhubarb JSON."""
        if kind is None:
            kind = "rhubarb-tsv" if os.fspath(path).lower().endswith(".tsv") else "rhubarb-json"
        texts = {"rhubarb-tsv": self.rhubarb_tsv, "rhubarb-json": self.rhubarb_json,
                 "ovr": self.ovr_json}
        if kind not in texts:
            raise _native.InputError(f"unknown viseme format {kind!r}; choose rhubarb-tsv, "
                                     "rhubarb-json or ovr")
        write_text_atomic(path, texts[kind]())


def _motion(d: dict) -> Motion:
    num, den = d["fps"]
    return Motion(
        fps=Fraction(num, den),
        expression=d["expression"],
        head=d["head"],
        gaze=d["gaze"],
        posteriors=d.get("posteriors"),
        segments=list(d.get("segments", [])),
        engine=d.get("engine"),
        _exports={k: d[k] for k in ("rhubarb_tsv", "rhubarb_json", "ovr_json") if k in d},
    )


def _choice(value: str, choices, what: str) -> str:
    v = str(value).strip().lower()
    if v not in choices:
        raise _native.InputError(f"unknown {what} {value!r}; choose one of: {', '.join(choices)}")
    return v


def audio_to_motion(
    audio: Union[PathLike, np.ndarray],
    *,
    sample_rate: Optional[int] = None,
    fps: Union[str, float, int] = 25,
    engine: str = "learned",
    seed: int = 0,
    mouth_scale: float = 1.0,
    head_scale: float = 1.0,
    head_preset: str = "calm",
    blink_rate: float = 17.0,
    brow_scale: float = 1.0,
    max_audio_seconds: Optional[float] = None,
) -> Motion:
    """Motion for speech: a file path, or mono float32 samples with
    ``sample_rate``. ``head_scale=0`` is still mode, ``blink_rate=0`` turns
    blinks off, ``mouth_scale`` multiplies the mouth (0 keeps it closed).
    A file is decoded and analysed a minute at a time, so memory does not
    grow with its length beyond the motion itself (raise
    ``max_audio_seconds`` for audio over 10 minutes)."""
    kwargs = dict(
        fps=str(fps), engine=_choice(engine, ENGINES, "viseme engine"), seed=int(seed) % 2**64,
        mouth_scale=_scale(mouth_scale, "mouth_scale"), head_scale=_scale(head_scale, "head_scale"),
        head_preset=_choice(head_preset, HEAD_PRESETS, "head preset"),
        blink_rate=_rate(blink_rate), brow_scale=_scale(brow_scale, "brow_scale"),
    )
    if isinstance(audio, np.ndarray):
        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim == 2:  # (channels, samples) or (samples, channels): average to mono
            samples = samples.mean(axis=0 if samples.shape[0] < samples.shape[1] else 1)
        if samples.ndim != 1:
            raise _native.InputError(f"audio samples must be 1-D or 2-D, got shape {audio.shape}")
        if sample_rate is None:
            raise _native.InputError("sample_rate is required with a samples array")
        if not np.isfinite(samples).all():
            raise _native.InputError("audio samples contain NaN or infinity")
        return _motion(_native.audio_to_motion(np.ascontiguousarray(samples), sample_rate=int(sample_rate),
                                               **kwargs))
    if max_audio_seconds is not None:
        kwargs["max_audio_seconds"] = float(max_audio_seconds)
    return _motion(_native.audio_to_motion(os.fspath(audio), **kwargs))


def idle_motion(seconds: float, *, fps: Union[str, float, int] = 25, seed: int = 0,
                head_scale: float = 1.0, head_preset: str = "calm", blink_rate: float = 17.0) -> Motion:
    """Natural motion with no audio for ``seconds``: closed mouth, calm head,
    blinks."""
    return _motion(_native.idle_motion(
        float(seconds), fps=str(fps), seed=int(seed) % 2**64, head_scale=_scale(head_scale, "head_scale"),
        head_preset=_choice(head_preset, HEAD_PRESETS, "head preset"), blink_rate=_rate(blink_rate)))


def motion_from_video(video: PathLike, *, relative: bool = True, smoothing: float = 1.5,
                      face_index: int = 0, progress=None) -> Motion:
    """Motion of the face in a video: per frame, expression coefficients
    fitted on the basis (jaw, pucker, spread, blinks, brows) and head pose,
    relative to the video's first frame (``relative=False``: to the
    canonical face). Frames stream; only the motion is kept. Use it to drive
    a portrait (reenactment), or take its head pose and blinks for an
    audio-driven animation."""
    from .api import ffmpeg_candidates

    return _motion(_native.motion_from_video(
        os.fspath(video), relative=bool(relative), smoothing=float(smoothing),
        face_index=int(face_index), ffmpeg_candidates=ffmpeg_candidates(), progress=progress))


def _scale(v: float, name: str) -> float:
    v = float(v)
    if not 0.0 <= v <= 4.0:
        raise _native.InputError(f"{name} must lie between 0 and 4, got {v:g}")
    return v


def _rate(v: float) -> float:
    v = float(v)
    if not 0.0 <= v <= 120.0:
        raise _native.InputError(f"blink_rate must lie between 0 and 120 per minute, got {v:g}")
    return v
