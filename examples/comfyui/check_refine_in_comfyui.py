"""Runs the Refine node in-process against a real ComfyUI's own objects (its
ModelPatcher, VAE and UNet, from an SD1.5 checkpoint file) and checks the
method, not only the wiring. Downloads nothing; CPU is fine.

    python examples/comfyui/check_refine_in_comfyui.py /path/to/ComfyUI CHECKPOINT.safetensors
        [--size 256] [--frames 4] [--steps 4]

Checks, on frames rendered from the example portrait with its mouth masks:
every one of the UNet's attn1 layers is extended (reference + first and
previous frames), pixels outside the mask are unchanged and inside they
change, the loaded MODEL keeps no patch afterwards, the same seed gives the
same frames, and Cancel (ComfyUI's interrupt flag) stops the node without
leaving a patch. A randomly initialised checkpoint is enough for all of it.
Exit status 0 = all passed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("comfyui")
    p.add_argument("checkpoint")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=4)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args(argv)
    sys.path.insert(0, args.comfyui)
    sys.argv = [sys.argv[0], "--cpu"]
    import comfy.options

    comfy.options.enable_args_parsing()
    import comfy.model_management as mm
    import comfy.sd
    import numpy as np
    import torch

    import voxportrait
    from voxportrait.refine import core
    from voxportrait.refine.patcher import attn1_keys

    sys.path.insert(0, str(REPO))
    from comfy_nodes.nodes_refine import VoxPortraitRefine

    failures = []

    def check(ok, what):
        print(("PASS  " if ok else "FAIL  ") + what)
        if not ok:
            failures.append(what)

    t0 = time.time()
    model, clip, vae = comfy.sd.load_checkpoint_guess_config(
        args.checkpoint, output_vae=True, output_clip=True)[:3]
    print(f"loaded {Path(args.checkpoint).name} in {time.time() - t0:.0f} s: {type(model).__name__}, "
          f"{type(model.model).__name__}, {type(vae).__name__}")
    motion = voxportrait.audio_to_motion(str(REPO / "examples" / "speech.wav"), fps=25)
    rgb, _, mouth = voxportrait.Renderer(str(REPO / "examples" / "portrait.png"), size=args.size).render(
        motion, 20, 20 + args.frames, masks=True)
    frames = torch.from_numpy(rgb.astype(np.float32) / 255)
    mask = torch.from_numpy(mouth.astype(np.float32) / 255)
    reference = torch.from_numpy(voxportrait.load_image(str(REPO / "examples" / "portrait.png")).astype(np.float32)
                                 / 255)[None]
    before = repr(model.model_options)

    seen = {}
    real_refiner = core.Refiner

    class Spy(real_refiner):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            seen["bank"] = self.bank

        def refine(self, *a, **k):
            out = super().refine(*a, **k)
            seen["reference_layers"] = set(self.bank.reference)
            return out

    core.Refiner = Spy
    node = VoxPortraitRefine()
    kw = dict(strength=0.5, steps=args.steps, frames_per_batch=2, mask=mask, clip=clip, work_size=min(512, args.size))
    t0 = time.time()
    (a,) = node.refine(model, vae, frames, reference, **kw)
    dt = time.time() - t0
    keys = attn1_keys(model.model.diffusion_model)
    bank = seen["bank"]
    check(len(keys) == 16 and set(bank.calls) == set(keys),
          f"every attn1 layer extended: {len(set(bank.calls))} of {len(keys)} layers, "
          f"{sum(bank.calls.values())} calls")
    ref_layers = seen["reference_layers"]
    check(ref_layers == set(keys), f"reference tokens banked on {len(ref_layers)} layers")
    outside = mask == 0
    check(torch.equal(a[outside], frames[outside]), "pixels outside the mask unchanged")
    inside = (a[mask > 0.5] - frames[mask > 0.5]).abs().mean().item()
    check(inside > 1e-3, f"pixels inside the mask repainted (mean change {inside:.3f})")
    check(repr(model.model_options) == before, "the loaded MODEL keeps no patch after the run")
    (b,) = node.refine(model, vae, frames, reference, **kw)
    check(torch.equal(a, b), "same seed, same frames")
    mm.interrupt_current_processing(True)
    try:
        node.refine(model, vae, frames, reference, **kw)
        check(False, "cancel stops the node")
    except mm.InterruptProcessingException:
        check(repr(model.model_options) == before, "cancel stops the node and leaves no patch")
    finally:
        mm.interrupt_current_processing(False)
    core.Refiner = real_refiner
    n_active = max(1, round(args.steps * 0.5))
    print(f"{args.frames} frames {args.size}x{args.size}, {n_active} steps each: {dt:.1f} s "
          f"({args.frames / dt:.2f} frames/s on {mm.get_torch_device()})")
    print(f"{'all passed' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
