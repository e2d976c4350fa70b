"""Stable Diffusion WebUI adapters: A1111 (ldm ``LatentDiffusion``) and Forge,
reForge and Forge 1 (``forge_objects``). All take the model the WebUI already loaded
(``shared.sd_model``) and never load another copy."""

from __future__ import annotations

import contextlib
import importlib

import torch

from .attention import FrameAttention, biased_attention
from .core import SDHost
from .options import RefineError, RefineInterrupted
from .patcher import PatcherUNet


def _webui_device():
    """A1111's compute device (with --medvram/--lowvram the UNet's parameters
    may sit on the CPU until its hooks move them), or None outside the WebUI."""
    try:
        from modules import devices
    except ImportError:
        return None
    return getattr(devices, "device", None)


def _interrupt_check(state):
    def check():
        if state is not None and (getattr(state, "interrupted", False) or getattr(state, "stopping_generation", False)):
            raise RefineInterrupted("interrupted by the user")
    return check


class _FirstStage:
    """VAE and text conditioning through the WebUI model's first-stage methods."""

    sd_model = None

    def _vae_dtype(self):
        fsm = getattr(self.sd_model, "first_stage_model", None)
        if fsm is not None:
            for p in fsm.parameters():
                return p.dtype
        return torch.float32

    def encode(self, images):
        x = images[..., :3].permute(0, 3, 1, 2).to(self.device, self._vae_dtype()) * 2 - 1
        z = self.sd_model.encode_first_stage(x)
        if not isinstance(z, torch.Tensor):
            # ldm returns a posterior: take its mode (deterministic, unlike .sample()).
            z = z.mode() if hasattr(z, "mode") else z.sample()
            z = z * getattr(self.sd_model, "scale_factor", 0.18215)
        return z.float()

    def decode(self, latents):
        x = self.sd_model.decode_first_stage(latents.to(self.device, self._vae_dtype()))
        return ((x.float() + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)

    def empty_cond(self):
        return self.prompt_cond("")

    def prompt_cond(self, text: str):
        """The WebUI's own text conditioning for ``text`` (its CLIP, embeddings and emphasis)."""
        with torch.no_grad():
            c = self.sd_model.get_learned_conditioning([text])
        if not isinstance(c, torch.Tensor):
            raise RefineError("refinement needs an SD1.5-family checkpoint; the loaded one "
                              "(SDXL-style conditioning) is not supported")
        return c.float()


class A1111Host(_FirstStage, SDHost):
    """A1111's ``shared.sd_model`` (ldm LatentDiffusion) as an ``SDHost``.

    The hook swaps each ``BasicTransformerBlock``'s ``_forward`` on the
    instance, as sd-webui-controlnet's reference-only does, and puts back
    exactly what was there (another extension's hook included) on exit.
    """

    def __init__(self, sd_model, state=None):
        if not hasattr(sd_model, "apply_model") or not hasattr(sd_model, "model"):
            raise RefineError("no Stable Diffusion checkpoint is loaded in the WebUI; load an SD1.5 one")
        self.sd_model = sd_model
        self.unet = sd_model.model.diffusion_model
        self.device = _webui_device() or next(self.unet.parameters()).device
        self.check_interrupt = _interrupt_check(state)
        self.v_prediction = getattr(sd_model, "parameterization", "eps") == "v"
        self._sigmas = None

    def discrete_sigmas(self):
        if self._sigmas is None:
            a = self.sd_model.alphas_cumprod.detach().double().cpu()
            self._sigmas = ((1 - a) / a).sqrt().float()
        return self._sigmas

    def _t(self, sigma):
        log_sigmas = self.discrete_sigmas().log().to(sigma.device)
        ls = sigma.float().log()
        dists = ls[:, None] - log_sigmas[None, :]
        low = dists.ge(0).cumsum(dim=1).argmax(dim=1).clamp(max=len(log_sigmas) - 2)
        high = low + 1
        w = ((log_sigmas[low] - ls) / (log_sigmas[low] - log_sigmas[high])).clamp(0, 1)
        return (1 - w) * low + w * high

    def denoise(self, x, sigma, cond):
        dtype = next(self.unet.parameters()).dtype
        s = sigma.float().view(-1, 1, 1, 1)
        c_in = 1 / (s ** 2 + 1) ** 0.5
        out = self.sd_model.apply_model((x * c_in).to(dtype), self._t(sigma.float()), cond.to(self.device, dtype)).float()
        if self.v_prediction:
            return x * (1 / (s ** 2 + 1)) - out * s / (s ** 2 + 1) ** 0.5
        return x - out * s

    def blocks(self):
        """(name, block) for every transformer block with a self-attention."""
        return [(name, m) for name, m in self.unet.named_modules()
                if type(m).__name__ == "BasicTransformerBlock" and hasattr(m, "_forward") and hasattr(m, "attn1")]

    @contextlib.contextmanager
    def patched(self, bank: FrameAttention):
        saved = []
        try:
            for name, block in self.blocks():
                had = "_forward" in block.__dict__
                saved.append((block, had, block.__dict__.get("_forward")))
                block._forward = _hacked_forward(block, name, bank, block._forward)
            yield self
        finally:
            for block, had, old in reversed(saved):
                if had:
                    block._forward = old
                else:
                    block.__dict__.pop("_forward", None)
            bank.mode = None


def _hacked_forward(block, key, bank: FrameAttention, original):
    """ldm's BasicTransformerBlock._forward with the extended attn1."""

    def forward(x, context=None, *args, **kwargs):
        if bank.mode is None or getattr(block, "disable_self_attn", False):
            return original(x, context, *args, **kwargs)
        n = block.norm1(x)
        attn = block.attn1
        ctx = bank.context(key, n)
        out = biased_attention(attn.to_q(n), attn.to_k(ctx), attn.to_v(ctx), attn.heads,
                               bank.bias(key, n.device, n.dtype))
        x = attn.to_out(out) + x
        x = block.attn2(block.norm2(x), context=context) + x
        return block.ff(block.norm3(x)) + x

    return forward


class ForgeHost(_FirstStage, PatcherUNet):
    """``shared.sd_model.forge_objects`` (UnetPatcher + VAE) as an ``SDHost``: Forge 2
    (``backend``), reForge and Forge 1 (``ldm_patched``); both UnetPatchers are
    ComfyUI-style ModelPatchers."""

    def __init__(self, sd_model, state=None, memory_management=None):
        objs = getattr(sd_model, "forge_objects", None)
        if objs is None or getattr(objs, "unet", None) is None:
            raise RefineError("no Stable Diffusion checkpoint is loaded in Forge; load an SD1.5 one")
        mm = memory_management if memory_management is not None else forge_memory_management()
        PatcherUNet.__init__(self, objs.unet, load_models=mm.load_model_gpu, device=mm.get_torch_device())
        self.sd_model = sd_model
        self.check_interrupt = _interrupt_check(state)


def forge_memory_management():
    """The memory manager of a Forge-style WebUI: Forge 2's ``backend.memory_management``,
    else ``ldm_patched.modules.model_management`` (reForge and Forge 1, whose UnetPatcher
    is ldm_patched's ComfyUI-style ModelPatcher). Raises RefineError when neither exists."""
    missing = []
    for name in ("backend.memory_management", "ldm_patched.modules.model_management"):
        try:
            mm = importlib.import_module(name)
        except ImportError as e:
            missing.append(f"{name} ({e})")
            continue
        if hasattr(mm, "load_model_gpu") and hasattr(mm, "get_torch_device"):
            return mm
        missing.append(f"{name} (no load_model_gpu/get_torch_device)")
    raise RefineError("refinement does not support this WebUI's model backend: it has forge_objects but "
                      "neither Forge's nor reForge's memory manager: " + "; ".join(missing))


def host_for_webui(sd_model, state=None) -> SDHost:
    """The adapter for whichever WebUI loaded ``sd_model``: Forge 2, reForge or Forge 1
    (``forge_objects``), or A1111 (ldm ``LatentDiffusion``)."""
    if sd_model is None:
        raise RefineError("no Stable Diffusion checkpoint is loaded in the WebUI; choose an SD1.5 one in the "
                          "checkpoint menu at the top of the page")
    if getattr(sd_model, "forge_objects", None) is not None:
        return ForgeHost(sd_model, state)
    return A1111Host(sd_model, state)
