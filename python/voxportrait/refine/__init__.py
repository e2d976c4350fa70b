"""Refinement with the host's own Stable Diffusion 1.5 (UNet and VAE already loaded).

Importing this package needs no torch: ``RefineOptions`` and friends are
plain data. The torch parts (``Refiner``, ``refine_frames``, the host
adapters) load on first use, so importing VoxPortrait inside a host costs
nothing until a job asks for refinement.
"""

from .options import REGIONS, SAMPLERS, SCHEDULERS, RefineError, RefineInterrupted, RefineOptions

_LAZY = {
    "Refiner": "core", "refine_frames": "core", "SDHost": "core",
    "feather_inward": "core", "FrameAttention": "attention", "ComfyHost": "comfy",
    "A1111Host": "webui", "ForgeHost": "webui", "host_for_webui": "webui",
}

__all__ = ["REGIONS", "SAMPLERS", "SCHEDULERS", "RefineError", "RefineInterrupted", "RefineOptions", *_LAZY]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)
