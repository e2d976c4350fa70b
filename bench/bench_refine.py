"""Benchmark of the SD1.5 refinement (issue 7): temporal flicker with and
without cross-frame attention, and throughput.

CPU mode (default) uses the tiny, randomly initialised SD1.5-shaped UNet and
VAE of the tests (``tests/sd_tiny.py``, behind the ComfyUI adapter) on real
frames: the example portrait rendered with the example speech, refined
inside the renderer's face mask. It prints

* flicker: the mean absolute difference of consecutive frames inside the
  face mask, for the unrefined render and for refinement with the
  cross-frame weight at 0 and at 1 (reference attention on in both), as
  ratios to the unrefined render's;
* throughput: refined frames per second, and the ratio to plain img2img
  (the same loop with reference and cross-frame attention off) run in the
  same process: the cost of the extended attention.

GPU mode (``--diffusers-sd15``) builds a full-size SD1.5 UNet and VAE with
diffusers from their published configs, randomly initialised (no weights
exist offline), in fp16, and times refinement of 512² frames through a
small diffusers adapter that exists **only in this bench** (``DiffusersHost``
below: attn1 processors that call the package's attention bank, and the
package's refine loop and samplers). None of the shipped host adapters
(ComfyUI/Forge, A1111) runs in this mode, so their own patching cost is not
in its figure. This measures real SD1.5 cost; the pictures are noise.

Run: ``.venv/bin/python bench/bench_refine.py [--frames 16] [--size 256]``
     ``python3 bench/bench_refine.py --diffusers-sd15 [--frames 16]`` (GPU)
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def flicker(frames: np.ndarray, mask: np.ndarray) -> float:
    """Mean |f[t] - f[t-1]| over pixels inside the mask in both frames (0..255 scale)."""
    f = frames.astype(np.float32)
    inside = (mask[1:] > 127) & (mask[:-1] > 127)
    d = np.abs(f[1:] - f[:-1]).mean(axis=-1)
    return float(d[inside].mean())


def timed(fn, repeats=1):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def cpu(args):
    import importlib.util

    import torch

    import voxportrait
    from voxportrait.refine import RefineOptions
    from voxportrait.refine.core import refine_frames

    for name, rel in (("comfy", "comfy/__init__.py"), ("comfy.model_management", "comfy/model_management.py")):
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "comfy_fakes" / rel)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    import sd_tiny
    from voxportrait.refine.comfy import ComfyHost

    motion = voxportrait.audio_to_motion(str(ROOT / "examples" / "speech.wav"), fps=25)
    rgb, face, _ = voxportrait.Renderer(str(ROOT / "examples" / "portrait.png"), size=args.size).render(
        motion, 25, 25 + args.frames, masks=True)
    model, vae, clip = sd_tiny.comfy_objects()
    host = ComfyHost(model, vae, clip)
    base = dict(strength=args.strength, steps=args.steps, region="face", frames_per_batch=args.batch,
                work_size=args.size, seed=1)
    runs = {}
    for label, kw in [("img2img (no extended attention)", dict(reference_fidelity=0, cross_frame_weight=0)),
                      ("reference, no cross-frame", dict(reference_fidelity=1, cross_frame_weight=0)),
                      ("reference + cross-frame", dict(reference_fidelity=1, cross_frame_weight=1))]:
        opts = RefineOptions(**base, **kw)
        out, sec = timed(lambda: refine_frames(host, rgb, rgb[0], face, opts), args.repeats)
        runs[label] = (out, sec)
    f0 = flicker(rgb, face)
    print(f"{args.frames} frames {args.size}x{args.size}, tiny SD1.5-shaped model on CPU "
          f"({torch.get_num_threads()} threads), strength {args.strength}, "
          f"{RefineOptions(**base).active_steps} steps, face mask")
    print(f"  flicker inside the face mask, unrefined render: {f0:.3f} (0..255)")
    plain, ref_sec = runs["img2img (no extended attention)"]
    inside = face > 127
    for label, (out, sec) in runs.items():
        f = flicker(out, face)
        moved = np.abs(out.astype(np.float32) - plain.astype(np.float32)).mean(axis=-1)[inside].mean()
        print(f"  {label:34s} flicker {f:7.4f} = {f / f0:5.3f}x unrefined   "
              f"{args.frames / sec:6.2f} frames/s = {ref_sec / sec:4.2f}x plain img2img speed   "
              f"(differs from plain img2img by {moved:.3f} inside the mask)")


def gpu(args):
    import torch

    sys.path.insert(0, str(ROOT / "python" / "voxportrait"))
    import refine  # the package's refine/ only, without the native module
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from PIL import Image
    from refine.attention import biased_attention
    from refine.core import SDHost, refine_frames
    from refine.options import RefineOptions

    dev, dtype = torch.device("cuda"), torch.float16
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
        block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, attention_head_dim=8,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3).to(dev, dtype).eval()
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, sample_size=512,
        block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4).to(dev, dtype).eval()
    print(f"UNet {sum(p.numel() for p in unet.parameters()) / 1e6:.0f} M params, "
          f"VAE {sum(p.numel() for p in vae.parameters()) / 1e6:.0f} M params, {torch.cuda.get_device_name()}")

    class BankProcessor:
        def __init__(self, bank, key):
            self.bank, self.key = bank, key

        def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, **kw):
            n = hidden_states
            ctx = self.bank.context(self.key, n)
            out = biased_attention(attn.to_q(n), attn.to_k(ctx), attn.to_v(ctx), attn.heads,
                                   self.bank.bias(self.key, n.device, n.dtype))
            return attn.to_out[1](attn.to_out[0](out))

    class DiffusersHost(SDHost):
        device = dev
        acp = torch.cumprod(1 - torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2, 0)
        log_sigmas = ((1 - acp) / acp).sqrt().log().float().to(dev)

        def encode(self, images):
            x = images.to(dev, dtype).permute(0, 3, 1, 2) * 2 - 1
            return vae.encode(x).latent_dist.mode().float() * 0.18215

        def decode(self, z):
            x = vae.decode((z / 0.18215).to(dtype)).sample.float()
            return ((x + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

        def denoise(self, x, sigma, cond):
            s = sigma.float().view(-1, 1, 1, 1)
            d = sigma.float().log()[:, None] - self.log_sigmas[None]
            t = d.abs().argmin(dim=1)
            eps = unet((x / (s ** 2 + 1) ** 0.5).to(dtype), t, encoder_hidden_states=cond.to(dtype)).sample
            return x - eps.float() * s

        @contextlib.contextmanager
        def patched(self, bank):
            saved = dict(unet.attn_processors)
            unet.set_attn_processor({k: BankProcessor(bank, k) if ".attn1." in k else v for k, v in saved.items()})
            try:
                yield
            finally:
                unet.set_attn_processor(saved)

        def empty_cond(self):
            return torch.zeros(1, 77, 768)

    img = np.asarray(Image.open(ROOT / "examples" / "portrait.png").convert("RGB").resize((args.size, args.size)))
    frames = np.stack([np.roll(img, shift=(i % 5) - 2, axis=1) for i in range(args.frames)])
    host = DiffusersHost()
    base = dict(strength=args.strength, steps=args.steps, region="full", frames_per_batch=args.batch,
                work_size=args.size, seed=1)
    with torch.inference_mode():
        refine_frames(host, frames[:args.batch], frames[0], None, RefineOptions(**base))  # warm-up
        results = {}
        for label, kw in [("img2img (no extended attention)", dict(reference_fidelity=0, cross_frame_weight=0)),
                          ("reference + cross-frame", dict(reference_fidelity=1, cross_frame_weight=1))]:
            def job():
                out = refine_frames(host, frames, frames[0], None, RefineOptions(**base, **kw))
                torch.cuda.synchronize()
                return out
            _, sec = timed(job, args.repeats)
            results[label] = sec
    ref = results["img2img (no extended attention)"]
    steps = RefineOptions(**base).active_steps
    for label, sec in results.items():
        print(f"  {label:34s} {args.frames / sec:7.2f} frames/s ({args.size}², {steps} steps, "
              f"batch {args.batch}, fp16, bench-only diffusers adapter) = {ref / sec:4.2f}x plain img2img speed")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=None, help="frame size (CPU default 256, GPU default 512)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--strength", type=float, default=0.3)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--diffusers-sd15", action="store_true", help="full-size random SD1.5 on the GPU")
    args = p.parse_args()
    if args.diffusers_sd15:
        args.size = args.size or 512
        gpu(args)
    else:
        args.size = args.size or 256
        cpu(args)


if __name__ == "__main__":
    main()
