"""ComfyUI adapter: a MODEL (ModelPatcher) and VAE the user already loaded."""

from __future__ import annotations

import torch

from .options import RefineError
from .patcher import PatcherUNet


class ComfyHost(PatcherUNet):
    """ComfyUI's loaded SD1.5 model as an ``SDHost``.

    ``clip``, when given, encodes the empty prompt for the default
    conditioning; without it (and without CONDITIONING inputs) the default
    is a zero context, which the reference attention makes up for.
    """

    def __init__(self, model, vae, clip=None):
        import comfy.model_management as mm

        base = getattr(model, "model", None)
        if base is None or not hasattr(base, "apply_model"):
            raise RefineError("the MODEL input is not a loaded diffusion model (ModelPatcher)")
        if getattr(base, "adm_channels", 0):
            raise RefineError("refinement needs an SD1.5-family model; this MODEL needs extra "
                              "conditioning (SDXL-style); load an SD1.5 checkpoint")
        super().__init__(model, load_models=lambda p: mm.load_models_gpu([p]), device=mm.get_torch_device())
        self._mm = mm
        self.vae = vae
        self.clip = clip

    def encode(self, images):
        lat = self.vae.encode(images[..., :3])
        return self.patcher.model.process_latent_in(lat.float()).to(self.device)

    def decode(self, latents):
        lat = self.patcher.model.process_latent_out(latents.float())
        return self.vae.decode(lat).float().clamp(0, 1)[..., :3]

    def empty_cond(self):
        if self.clip is not None:
            tokens = self.clip.tokenize("")
            return self.clip.encode_from_tokens(tokens).float()
        return torch.zeros(1, 77, self._context_dim())

    def _context_dim(self) -> int:
        """The text context width the UNet expects (768 for SD1.x, 1024 for SD2.x)."""
        cfg = getattr(getattr(self.patcher.model, "model_config", None), "unet_config", None) or {}
        dim = cfg.get("context_dim") or getattr(self.patcher.model.diffusion_model, "context_dim", None)
        return int(dim or 768)

    def check_interrupt(self):
        self._mm.throw_exception_if_processing_interrupted()


def conditioning_tensor(conditioning):
    """ComfyUI CONDITIONING ([[tensor, dict], ...]) → its first context tensor, or None."""
    if not conditioning:
        return None
    try:
        t = conditioning[0][0]
    except (TypeError, IndexError, KeyError):
        raise RefineError("the conditioning input is not ComfyUI CONDITIONING") from None
    return t.float()
