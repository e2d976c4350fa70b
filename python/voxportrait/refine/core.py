"""The host-agnostic refinement loop: VAE-encode rendered frames, noise them
to ``strength``, denoise with the host's UNet under extended self-attention
(reference + cross-frame, see ``attention.py``) while keeping the latents
outside the mask pinned to the input at every step, decode, and composite
back inside an inward-feathered mask so nothing outside it changes.

A host is anything with the ``SDHost`` methods; ``comfy.py``, ``a1111.py``
and ``forge.py`` adapt the three hosts' already-loaded models to it.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from . import sampling
from .attention import FrameAttention
from .options import RefineError, RefineOptions


class SDHost:
    """What the loop needs from a host's loaded SD1.5 model (adapters subclass this)."""

    #: Where the UNet runs; latents and noise live here.
    device = torch.device("cpu")

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """[B,H,W,3] float 0..1 → model-space latents [B,4,H/8,W/8] (scale applied)."""
        raise NotImplementedError

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Model-space latents → [B,H,W,3] float 0..1."""
        raise NotImplementedError

    def discrete_sigmas(self) -> torch.Tensor:
        """The model's discrete noise levels, ascending (SD1.5's by default)."""
        return sampling.sd15_sigmas()

    def denoise(self, x: torch.Tensor, sigma: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """One UNet call: noisy latents at ``sigma`` [B] → the x0 prediction."""
        raise NotImplementedError

    def patched(self, bank: FrameAttention) -> contextlib.AbstractContextManager:
        """Installs the attn1 hooks for one job; removes them on exit, error or interrupt."""
        raise NotImplementedError

    def empty_cond(self) -> torch.Tensor:
        """Conditioning [1,77,C] for the empty prompt (the default)."""
        raise NotImplementedError

    def prompt_cond(self, text: str) -> torch.Tensor:
        """Conditioning for a prompt, where the host can encode text."""
        raise NotImplementedError("this host encodes no prompts; give conditioning tensors instead")

    def check_interrupt(self) -> None:
        """Raises the host's interruption exception when the user cancelled."""


# --- image helpers -------------------------------------------------------------------------


def _as_float_frames(frames) -> tuple[torch.Tensor, str]:
    """Frames as CPU float32 [B,H,W,3] in 0..1, plus how to convert back."""
    if isinstance(frames, np.ndarray):
        kind = "uint8" if frames.dtype == np.uint8 else "numpy"
        t = torch.from_numpy(np.ascontiguousarray(frames))
        t = t.float() / 255.0 if kind == "uint8" else t.float()
    elif isinstance(frames, torch.Tensor):
        kind = "torch"
        t = frames.detach().cpu().float()
    else:
        raise RefineError(f"frames must be a numpy array or torch tensor, got {type(frames).__name__}")
    if t.ndim == 3:
        t = t.unsqueeze(0)
    if t.ndim != 4 or t.shape[-1] not in (3, 4):
        raise RefineError(f"frames must be [B,H,W,3] (or RGBA), got shape {tuple(t.shape)}")
    return t[..., :3].clamp(0, 1).contiguous(), kind


def _back(t: torch.Tensor, kind: str):
    if kind == "uint8":
        return (t * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
    if kind == "numpy":
        return t.numpy()
    return t


def _as_masks(masks, n: int, h: int, w: int) -> torch.Tensor:
    m = torch.from_numpy(np.asarray(masks)) if not isinstance(masks, torch.Tensor) else masks.detach().cpu()
    was_uint8 = m.dtype == torch.uint8
    m = m.float()
    if was_uint8 or m.max() > 1.0:
        m = m / 255.0
    if m.ndim == 4:  # [B,H,W,1] or [B,1,H,W]
        m = m[..., 0] if m.shape[-1] == 1 else m[:, 0]
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if m.ndim != 3 or m.shape[1:] != (h, w):
        raise RefineError(f"mask shape {tuple(m.shape)} does not match the frames ({h}x{w})")
    if m.shape[0] == 1 and n > 1:
        m = m.expand(n, -1, -1)
    if m.shape[0] != n:
        raise RefineError(f"got {m.shape[0]} masks for {n} frames; give one per frame or a single one")
    return m.clamp(0, 1)


def feather_inward(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Erodes by ``radius`` then blurs by the same radius, so the feathered mask
    is 0 wherever the input mask is 0 (pixels outside stay byte-identical)."""
    if radius <= 0:
        return mask
    m = mask.unsqueeze(1)
    k = 2 * radius + 1
    eroded = -F.max_pool2d(-m, k, stride=1, padding=radius)
    blurred = F.avg_pool2d(F.pad(eroded, (radius,) * 4, mode="replicate"), k, stride=1)
    return torch.minimum(blurred, m).squeeze(1)


def _box(mask: torch.Tensor, h: int, w: int) -> tuple[int, int, int, int]:
    """A padded box (y0, y1, x0, x1) around every nonzero mask pixel."""
    ys = torch.nonzero(mask.amax(dim=(0, 2)) > 0).flatten()
    xs = torch.nonzero(mask.amax(dim=(0, 1)) > 0).flatten()
    y0, y1, x0, x1 = int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1
    pad = max(16, int(0.25 * max(y1 - y0, x1 - x0)))
    return max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)


def _work_shape(bh: int, bw: int, work_size: int) -> tuple[int, int]:
    s = work_size / max(bh, bw)
    # Multiples of 64 pixels: SD1.5 UNets downsample latents three times.
    return max(64, int(round(bh * s / 64)) * 64), max(64, int(round(bw * s / 64)) * 64)


def _center_crop(t: torch.Tensor, aspect: float) -> torch.Tensor:
    """The largest centred [B,h,w,C] crop with h / w = ``aspect``."""
    h, w = t.shape[1:3]
    if h / w > aspect:
        ch = max(1, round(w * aspect))
        y = (h - ch) // 2
        return t[:, y:y + ch]
    cw = max(1, round(h / aspect))
    x = (w - cw) // 2
    return t[:, :, x:x + cw]


def _resize(t: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """[B,H,W,C] resized (antialiased bicubic when shrinking)."""
    if tuple(t.shape[1:3]) == tuple(hw):
        return t
    x = t.permute(0, 3, 1, 2)
    x = F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=True)
    return x.clamp(0, 1).permute(0, 2, 3, 1)


def _same_length(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two text contexts [1,77k,C] repeated to a common token count (their least
    common multiple), as ComfyUI and A1111 do for prompts longer than 75 tokens."""
    import math

    la, lb = a.shape[1], b.shape[1]
    if la == lb:
        return a, b
    n = la * lb // math.gcd(la, lb)
    return a.repeat(1, n // la, 1), b.repeat(1, n // lb, 1)


# --- the refiner ---------------------------------------------------------------------------


class Refiner:
    """Refines a stream of rendered frames batch by batch with one reference.

    The attention bank lives as long as the Refiner, so cross-frame
    attention reaches across batches (a streaming job calls ``refine`` once
    per batch); the host's hooks are installed only inside each call.
    """

    def __init__(self, host: SDHost, reference, options: RefineOptions | None = None,
                 cond: torch.Tensor | None = None, uncond: torch.Tensor | None = None,
                 progress: Callable[[int], None] | None = None):
        self.host = host
        self.options = (options or RefineOptions()).validate()
        self.reference, _ = _as_float_frames(reference)
        self.reference = self.reference[:1]
        self.progress = progress
        self.bank = FrameAttention(self.options.reference_fidelity, self.options.cross_frame_weight)
        self._cond, self._uncond = cond, uncond
        self._box: tuple | None = None
        self._ref_latent: torch.Tensor | None = None
        self._ref_key = None

    # -- public ----------------------------------------------------------------------------

    def refine(self, frames, masks=None):
        """Refines one batch ([B,H,W,3] numpy uint8/float or torch float); same type back."""
        # Inference mode, as hosts run (Forge's first-stage methods return inference tensors).
        with torch.inference_mode():
            return self._refine(frames, masks)

    def _refine(self, frames, masks):
        opts = self.options
        x, kind = _as_float_frames(frames)
        n, h, w, _ = x.shape
        if opts.active_steps == 0:
            return _back(x, kind)
        if opts.region == "full":
            m = torch.ones(n, h, w)
        elif masks is None:
            raise RefineError(f"refine region '{opts.region}' needs the renderer's {opts.region} mask; "
                              "pass masks, or use region 'full'")
        else:
            m = _as_masks(masks, n, h, w)
        if not bool((m > 0).any()):
            return _back(x, kind)
        box = self._grow_box(m, h, w) if opts.crop_to_mask and opts.region != "full" else (0, h, 0, w)
        y0, y1, x0, x1 = box
        work_hw = _work_shape(y1 - y0, x1 - x0, opts.work_size)
        crop = _resize(x[:, y0:y1, x0:x1], work_hw)
        mcrop = m[:, y0:y1, x0:x1]
        lat_mask = F.interpolate(mcrop.unsqueeze(1), size=(work_hw[0] // 8, work_hw[1] // 8), mode="area")
        lat_mask = (F.max_pool2d(lat_mask, 3, stride=1, padding=1) > 0.01).float()
        ref_lat = self._reference_latent(box, (h, w), work_hw)
        out = self._sample(crop, lat_mask, ref_lat)
        out = _resize(out, (y1 - y0, x1 - x0))
        blend = feather_inward(m, opts.feather)[:, y0:y1, x0:x1].unsqueeze(-1)
        result = x.clone()
        region = result[:, y0:y1, x0:x1]
        # Where the blend is 0 the input is kept as is, even if the decode
        # gave NaN there (fp16 VAEs can): nothing outside the mask changes.
        mixed = region * (1 - blend) + out.nan_to_num(0.0) * blend
        result[:, y0:y1, x0:x1] = torch.where(blend > 0, mixed, region)
        return _back(result, kind)

    def close(self) -> None:
        """Frees the bank's tensors."""
        self.bank.clear()
        self._ref_latent = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals -------------------------------------------------------------------------

    def _grow_box(self, m, h, w):
        b = _box(m, h, w)
        if self._box is not None:
            o = self._box
            if o[0] <= b[0] and o[1] >= b[1] and o[2] <= b[2] and o[3] >= b[3]:
                return o
            b = (min(o[0], b[0]), max(o[1], b[1]), min(o[2], b[2]), max(o[3], b[3]))
        self._box = b
        return b

    def _reference_latent(self, box, frame_hw, work_hw):
        key = (box, work_hw)
        if self._ref_key == key and self._ref_latent is not None:
            return self._ref_latent
        ref = self.reference
        rh, rw = ref.shape[1:3]
        fh, fw = frame_hw
        if (rh, rw) != (fh, fw) and abs(rh / rw - fh / fw) < 0.02:
            ref = _resize(ref, (fh, fw))  # the portrait the frames were resized from
        if tuple(ref.shape[1:3]) == tuple(frame_hw):
            y0, y1, x0, x1 = box
            ref = ref[:, y0:y1, x0:x1]
        else:
            ref = _center_crop(ref, work_hw[0] / work_hw[1])  # keep its proportions
        ref = _resize(ref, work_hw)
        self._ref_latent = self.host.encode(ref).float().to(self.host.device)
        self._ref_key = key
        return self._ref_latent

    def _conds(self):
        if self._cond is None:
            self._cond = self.host.empty_cond()
        cond = self._cond.to(self.host.device)
        if self.options.cfg != 1.0 and self._uncond is None:
            self._uncond = self.host.empty_cond()
        return cond, (None if self.options.cfg == 1.0 else self._uncond.to(self.host.device))

    def _noise(self, shape, salt: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed((self.options.seed * 1_000_003 + salt) % 2**63)
        return torch.randn((1, *shape[1:]), generator=g)

    def _sample(self, crop: torch.Tensor, lat_mask: torch.Tensor, ref_lat: torch.Tensor) -> torch.Tensor:
        host, opts, bank = self.host, self.options, self.bank
        dev = host.device
        lat = host.encode(crop).float().to(dev)
        b = lat.shape[0]
        mask = lat_mask.to(dev)
        noise = self._noise(lat.shape).to(dev)
        sigmas = sampling.tail(sampling.schedule(host.discrete_sigmas(), opts.steps, opts.scheduler),
                               opts.active_steps).to(dev)
        cond, uncond = self._conds()
        bank.sample_sigmas = sigmas
        x = lat + noise * sigmas[0]
        calls = [0]

        def denoise(xb: torch.Tensor, sig: torch.Tensor) -> torch.Tensor:
            host.check_interrupt()
            s = sig[:1]
            bank.step = calls[0]
            calls[0] += 1
            if opts.reference_fidelity > 0:
                bank.mode = "write"
                host.denoise(ref_lat + noise * s.view(-1, 1, 1, 1), s, cond[:1])
            bank.mode = "read"
            if uncond is None:
                bank.groups = 1
                den = host.denoise(xb, sig, cond.expand(b, -1, -1))
            else:
                bank.groups = 2
                c_all, u_all = _same_length(cond, uncond)
                both = host.denoise(torch.cat([xb, xb]), torch.cat([sig, sig]),
                                    torch.cat([c_all.expand(b, -1, -1), u_all.expand(b, -1, -1)]))
                c, u = both.chunk(2)
                den = u + opts.cfg * (c - u)
            bank.mode = None
            # Latent inpainting: outside the mask the prediction is the input itself.
            return mask * den.float() + (1 - mask) * lat

        state: dict = {}
        try:
            with host.patched(bank):
                for i in range(len(sigmas) - 1):
                    x = sampling.step(opts.sampler, denoise, x, sigmas, i, state,
                                      lambda k: self._noise(lat.shape, 1 + k).to(dev))
                    x = mask * x + (1 - mask) * (lat + noise * sigmas[i + 1])
                    if self.progress is not None:
                        self.progress(1)
        finally:
            bank.mode = None
        bank.end_batch()
        x = mask * x + (1 - mask) * lat
        return host.decode(x).float().cpu()


def refine_frames(host: SDHost, frames, reference, masks=None, options: RefineOptions | None = None,
                  cond=None, uncond=None, progress: Callable[[int], None] | None = None):
    """Refines a whole batch of frames in chunks of ``frames_per_batch``; same type back."""
    opts = (options or RefineOptions()).validate()
    x, kind = _as_float_frames(frames)
    m = None if masks is None else _as_masks(masks, x.shape[0], x.shape[1], x.shape[2])
    out = []
    with Refiner(host, reference, opts, cond, uncond, progress) as r:
        if m is not None and opts.crop_to_mask and opts.region != "full" and bool((m > 0).any()):
            # One box for the whole job: every batch is refined at the same crop and scale.
            r._box = _box(m, x.shape[1], x.shape[2])
        for i in range(0, x.shape[0], opts.frames_per_batch):
            j = i + opts.frames_per_batch
            out.append(r.refine(x[i:j], None if m is None else m[i:j]))
    return _back(torch.cat(out), kind)
