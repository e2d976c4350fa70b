"""What the nodes need from the host, in one place.

ComfyUI's own modules (``comfy.utils``, ``comfy.model_management``,
``folder_paths``) are imported when a node runs, never at import time, so
that this package loads anywhere (tests use small fakes of them). Tensors
are converted with duck typing: anything with ``.cpu().numpy()`` (torch) or
anything ``numpy.asarray`` takes. Outputs are torch tensors when torch is
importable (always inside ComfyUI) and numpy arrays otherwise.
"""

from __future__ import annotations

import logging

log = logging.getLogger("voxportrait.comfy")

#: Category of every node of the pack.
CATEGORY = "VoxPortrait"

#: Largest seed ComfyUI's INT widget carries (and the core's motion seed).
SEED_MAX = 0xFFFFFFFFFFFFFFFF


class NodeError(ValueError):
    """A one-line message for ComfyUI's error panel (bad input or settings)."""


# --- progress and interruption -------------------------------------------------------------


class Progress:
    """``comfy.utils.ProgressBar`` plus the interruption check.

    ``step()`` first raises ComfyUI's interruption exception when the user
    pressed Cancel, then advances the bar by one.
    """

    def __init__(self, total: int):
        import comfy.model_management
        import comfy.utils

        self._mm = comfy.model_management
        self.total = max(int(total), 1)
        self.bar = comfy.utils.ProgressBar(self.total)

    def check(self) -> None:
        """Raises when the user interrupted the run (Cancel in the UI)."""
        self._mm.throw_exception_if_processing_interrupted()

    def step(self, n: int = 1) -> None:
        self.check()
        self.bar.update(n)


def check_interrupted() -> None:
    """Raises ComfyUI's interruption exception when the user pressed Cancel."""
    import comfy.model_management

    comfy.model_management.throw_exception_if_processing_interrupted()


# --- folders -------------------------------------------------------------------------------


def folder_paths():
    import folder_paths as fp

    return fp


# --- tensors -------------------------------------------------------------------------------


def to_numpy(x, dtype=None):
    """A host tensor (torch, or anything array-like) as a numpy array on the CPU."""
    import numpy as np

    if hasattr(x, "detach"):
        x = x.detach()
    if hasattr(x, "cpu"):
        x = x.cpu()
    if hasattr(x, "is_floating_point") and hasattr(x, "float") and x.is_floating_point():
        x = x.float()  # bfloat16 / float16 have no (or a lossy) numpy view
    if hasattr(x, "numpy"):
        x = x.numpy()
    a = np.asarray(x)
    return a if dtype is None else a.astype(dtype, copy=False)


def from_numpy(a):
    """A numpy array as the host's tensor type (torch when importable)."""
    import numpy as np

    a = np.ascontiguousarray(a)
    try:
        import torch
    except ImportError:
        return a
    return torch.from_numpy(a)


def batch_size(image) -> int:
    return int(image.shape[0]) if len(image.shape) == 4 else 1


def image_item(image, index: int, what: str = "IMAGE"):
    """One picture of an IMAGE batch (``[B,H,W,C]`` float 0..1) as numpy float32 ``[H,W,C]``."""
    shape = tuple(image.shape)
    if len(shape) == 3:  # a single picture without batch dimension
        if index != 0:
            raise NodeError(f"{what} holds one picture; image_index must be 0, got {index}")
        a = to_numpy(image, "float32")
    elif len(shape) == 4:
        if shape[0] == 0:
            raise NodeError(f"the {what} batch is empty")
        if not 0 <= index < shape[0]:
            raise NodeError(f"image_index {index} is out of range: the {what} batch has {shape[0]} "
                            f"picture(s), numbered 0-{shape[0] - 1}")
        a = to_numpy(image[index], "float32")
    else:
        raise NodeError(f"{what} must be [batch, height, width, channels], got shape {list(shape)}")
    if a.shape[0] < 1 or a.shape[1] < 1:
        raise NodeError(f"{what} is empty ({a.shape[1]}x{a.shape[0]} pixels)")
    return a


def float_to_uint8_rgb(a, mask=None):
    """``[H,W,C]`` float 0..1 (C = 1, 3 or 4) as uint8 RGB ``[H,W,3]``.

    ``mask`` (``[H,W]``, 1 = transparent, as ComfyUI's LoadImage gives it)
    composites the picture over white; so does a 4th (alpha) channel.
    """
    import numpy as np

    a = np.nan_to_num(np.asarray(a, dtype=np.float32), nan=0.0)
    c = a.shape[2] if a.ndim == 3 else 1
    if a.ndim == 2:
        a = a[..., None]
    if c == 1:
        rgb = np.repeat(a, 3, axis=2)
    elif c >= 3:
        rgb = a[..., :3]
    else:
        raise NodeError(f"IMAGE must have 1, 3 or 4 channels, got {c}")
    alpha = None
    if c == 4:
        alpha = np.clip(a[..., 3], 0.0, 1.0)
    if mask is not None:
        m = np.asarray(mask, dtype=np.float32)
        if m.shape != rgb.shape[:2]:
            raise NodeError(f"the mask is {m.shape[1]}x{m.shape[0]} but the image is "
                            f"{rgb.shape[1]}x{rgb.shape[0]}; give a mask of the same size")
        a_m = 1.0 - np.clip(m, 0.0, 1.0)
        alpha = a_m if alpha is None else alpha * a_m
    if alpha is not None:
        rgb = rgb * alpha[..., None] + (1.0 - alpha[..., None])
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def uint8_to_image(rgb):
    """uint8 ``[H,W,3]`` (or ``[B,H,W,3]``) as an IMAGE tensor ``[B,H,W,3]`` float32 0..1."""
    import numpy as np

    a = np.asarray(rgb)
    if a.ndim == 3:
        a = a[None]
    return from_numpy(a.astype(np.float32) / 255.0)


def mask_item(mask, index: int, height: int, width: int):
    """One mask of a MASK batch (``[B,H,W]`` or ``[H,W]``) as numpy, or None when the
    mask is ComfyUI's 64x64 "no alpha" placeholder and the image is another size."""
    if mask is None:
        return None
    m = to_numpy(mask, "float32")
    if m.ndim == 3:
        m = m[min(index, m.shape[0] - 1)]
    if m.ndim != 2:
        raise NodeError(f"MASK must be [batch, height, width], got shape {list(m.shape)}")
    if m.shape == (64, 64) and (height, width) != (64, 64) and not m.any():
        return None  # LoadImage's placeholder for pictures without alpha
    return m


# --- audio ---------------------------------------------------------------------------------


def audio_mono(audio, what: str = "AUDIO"):
    """ComfyUI AUDIO (``{"waveform": [B,C,T], "sample_rate": int}``) as mono
    float32 samples and the rate; the first batch item, with a warning when
    there are more."""
    import numpy as np

    if not isinstance(audio, dict) or "waveform" not in audio or "sample_rate" not in audio:
        raise NodeError(f"{what} must be ComfyUI audio: a dict with 'waveform' and 'sample_rate'")
    rate = int(audio["sample_rate"])
    if rate <= 0:
        raise NodeError(f"{what} has an invalid sample rate {rate}")
    w = to_numpy(audio["waveform"], "float32")
    if w.ndim == 1:
        w = w[None, None]
    elif w.ndim == 2:
        w = w[None]
    if w.ndim != 3:
        raise NodeError(f"{what} waveform must be [batch, channels, samples], got shape {list(w.shape)}")
    if w.shape[0] == 0 or w.shape[1] == 0 or w.shape[2] == 0:
        raise NodeError(f"the {what} is empty (no samples); give at least a fraction of a second of speech")
    if w.shape[0] > 1:
        log.warning("VoxPortrait: the %s batch holds %d clips; using the first", what, w.shape[0])
    mono = w[0].mean(axis=0) if w.shape[1] > 1 else w[0, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.isfinite(mono).all():
        raise NodeError(f"the {what} contains NaN or infinite samples")
    return mono, rate


def audio_channels(audio):
    """First clip of an AUDIO as numpy float32 ``[C,T]`` and its rate."""
    w = to_numpy(audio["waveform"], "float32")
    if w.ndim == 1:
        w = w[None, None]
    elif w.ndim == 2:
        w = w[None]
    if w.shape[0] > 1:
        log.warning("VoxPortrait: the AUDIO batch holds %d clips; using the first", w.shape[0])
    return w[0], int(audio["sample_rate"])


# --- frame rate and sizes ------------------------------------------------------------------


def fps_text(fps) -> str:
    """A FLOAT widget's frame rate as the text the core parses ("29.97" -> 30000/1001)."""
    f = float(fps)
    if not (f > 0.0) or f > 1000.0:
        raise NodeError(f"fps must lie between 0 and 1000, got {fps}")
    text = f"{f:.6f}".rstrip("0").rstrip(".")
    return text


def fps_fraction(fps):
    """The exact frame rate as a Fraction (29.97 -> 30000/1001, as the core reads it)."""
    from fractions import Fraction

    import voxportrait

    num, den = voxportrait.parse_fps(fps_text(fps))
    return Fraction(num, den)


def require_multiple_of(width: int, height: int, multiple: int = 8, why: str = "refinement") -> None:
    """Raises a one-line error unless both sides divide by ``multiple``.

    For the nodes that hand frames to a latent (VAE) stage, which works on
    8-pixel blocks: the renderer nodes call it when refinement is on.
    """
    if width % multiple or height % multiple:
        def up(v):
            return (v + multiple - 1) // multiple * multiple

        raise NodeError(f"{why} needs a size divisible by {multiple}, got {width}x{height}; "
                        f"use {up(width)}x{up(height)} (or crop/resize the image first)")
