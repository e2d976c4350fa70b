"""Refine: repaints the mouth (or face) of rendered frames with the MODEL and
VAE the workflow already loaded, under reference and cross-frame attention.

The method lives in ``voxportrait.refine`` (host-agnostic); this node only
turns sockets into its inputs. Hooks go on a clone of the MODEL and are gone
when the node returns, fails or is cancelled.
"""

from __future__ import annotations

from ._host import CATEGORY, NodeError, Progress, batch_size

#: voxportrait.refine's SAMPLERS and SCHEDULERS, repeated so importing the pack stays light (a test checks).
SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m")
SCHEDULERS = ("karras", "normal")


class VoxPortraitRefine:
    DESCRIPTION = ("Refines rendered talking-head frames with your SD1.5 checkpoint (the MODEL and VAE already "
                   "loaded; no second copy): img2img at a low strength inside the MASK (Animate's mouth or "
                   "face mask), where every self-attention layer also looks at the reference portrait and at "
                   "the first and previous frames, so identity holds and frames do not flicker. Pixels "
                   "outside the mask are returned unchanged. Without a MASK the whole frame is refined.")
    CATEGORY = CATEGORY
    FUNCTION = "refine"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("frames",)
    OUTPUT_TOOLTIPS = ("The refined frames, same size and count as the input.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "An SD1.5-family model (from Load Checkpoint)."}),
                "vae": ("VAE", {"tooltip": "The checkpoint's VAE."}),
                "frames": ("IMAGE", {"tooltip": "Rendered frames (Animate / Render Motion)."}),
                "reference": ("IMAGE", {"tooltip": "The portrait the frames were rendered from (its first "
                                                   "picture is used): identity and texture source."}),
                "strength": ("FLOAT", {"default": 0.3, "min": 0.0, "max": 1.0, "step": 0.01,
                                       "tooltip": "Denoise strength: 0 returns the frames, 0.2-0.4 repaints "
                                                  "detail and keeps the motion, higher drifts."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 200,
                                  "tooltip": "Schedule length; round(steps x strength) steps run."}),
                "sampler": (list(SAMPLERS), {"default": "euler", "tooltip": "The sampler (k-diffusion formulations)."}),
                "scheduler": (list(SCHEDULERS), {"default": "karras",
                                                 "tooltip": "Noise schedule over the model's own sigmas."}),
                "cfg": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 30.0, "step": 0.1,
                                  "tooltip": "Classifier-free guidance. 1 = one UNet pass per step (fast); "
                                             "raise it only with a positive prompt."}),
                "reference_fidelity": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.05,
                                                 "tooltip": "Weight of the reference portrait's tokens in "
                                                            "self-attention (0 = off)."}),
                "cross_frame_weight": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.05,
                                                 "tooltip": "Weight of the first and previous frames' tokens "
                                                            "(0 = off; higher = steadier, less detail)."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF, "control_after_generate": True,
                                 "tooltip": "The noise, shared by every frame."}),
                "frames_per_batch": ("INT", {"default": 4, "min": 1, "max": 64,
                                             "tooltip": "Frames per UNet batch (memory vs speed)."}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "Where to repaint (Animate's mask output). None = whole frame."}),
                "positive": ("CONDITIONING", {"tooltip": "Optional prompt; default the empty prompt."}),
                "negative": ("CONDITIONING", {"tooltip": "Optional negative prompt (used when cfg > 1)."}),
                "clip": ("CLIP", {"tooltip": "Optional: encodes the empty prompt when no positive is given "
                                             "(otherwise a zero context is used)."}),
                "feather": ("INT", {"default": 8, "min": 0, "max": 128,
                                    "tooltip": "Inward feather of the composite mask, in pixels."}),
                "work_size": ("INT", {"default": 512, "min": 64, "max": 2048, "step": 64,
                                      "tooltip": "The masked box is refined at this size (longer side)."}),
            },
        }

    def refine(self, model, vae, frames, reference, strength=0.3, steps=20, sampler="euler", scheduler="karras",
               cfg=1.0, reference_fidelity=1.0, cross_frame_weight=1.0, seed=0, frames_per_batch=4,
               mask=None, positive=None, negative=None, clip=None, feather=8, work_size=512):
        from voxportrait.refine import RefineError, RefineOptions

        try:
            opts = RefineOptions(strength=float(strength), steps=int(steps), sampler=sampler, scheduler=scheduler,
                                 cfg=float(cfg), reference_fidelity=float(reference_fidelity),
                                 cross_frame_weight=float(cross_frame_weight), seed=int(seed),
                                 frames_per_batch=int(frames_per_batch), feather=int(feather),
                                 work_size=int(work_size), region="full" if mask is None else "mouth").validate()
        except RefineError as e:
            raise NodeError(str(e)) from None
        n = batch_size(frames)
        if n == 0:
            raise NodeError("the frames IMAGE batch is empty")
        if batch_size(reference) == 0:
            raise NodeError("the reference IMAGE is empty; connect the portrait the frames came from")
        if opts.active_steps == 0:
            return (frames,)
        from voxportrait.refine.comfy import ComfyHost, conditioning_tensor
        from voxportrait.refine.core import refine_frames

        batches = -(-n // opts.frames_per_batch)
        progress = Progress(batches * opts.active_steps)
        progress.check()
        try:
            host = ComfyHost(model, vae, clip)
            out = refine_frames(host, frames, reference[:1], mask, opts, cond=conditioning_tensor(positive),
                                uncond=conditioning_tensor(negative), progress=progress.step)
        except RefineError as e:
            raise NodeError(str(e)) from None
        return (out,)


NODE_CLASS_MAPPINGS = {"VoxPortraitRefine": VoxPortraitRefine}
NODE_DISPLAY_NAME_MAPPINGS = {"VoxPortraitRefine": "Refine With SD1.5 (VoxPortrait)"}
