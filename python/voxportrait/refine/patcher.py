"""The UNet side shared by ComfyUI and Forge, whose models are ModelPatchers.

Hooks go on a ``clone()`` of the host's patcher, never on the patcher
itself, and the clone is dropped when the job ends, so nothing outlives the
job. Two hooks per attn1:

* an ``attn1_patch`` (a list every extension appends to) appends the bank's
  tokens to the key/value input, after whatever other patches did;
* an ``attn1`` replace computes the attention with the bank's per-source
  logit bias, but only on blocks no other extension has replaced: there the
  foreign replace runs on our extended keys/values, at weight 1.
"""

from __future__ import annotations

import contextlib

import torch

from .attention import FrameAttention, biased_attention
from .core import SDHost
from .sampling import sd15_sigmas


def layer_key(extra_options: dict):
    """(block name, block number, transformer index) — ComfyUI's replace key."""
    block = extra_options.get("block")
    if block is None:
        return ("?", 0, extra_options.get("block_index", 0))
    return (block[0], block[1], extra_options.get("block_index", 0))


def attn1_keys(diffusion_model) -> list:
    """Every transformer block's key in an openaimodel-style UNet (16 in SD1.5)."""
    keys = []
    groups = [("input", getattr(diffusion_model, "input_blocks", [])),
              ("middle", [getattr(diffusion_model, "middle_block", None)]),
              ("output", getattr(diffusion_model, "output_blocks", []))]
    for name, blocks in groups:
        for i, block in enumerate(blocks):
            if block is None:
                continue
            for mod in block.modules():
                tbs = getattr(mod, "transformer_blocks", None)
                if tbs is not None:
                    keys += [(name, i, j) for j in range(len(tbs))]
    return keys


def make_patches(bank: FrameAttention):
    """The (attn1_patch, attn1_replace) pair bound to ``bank``."""

    def attn1_patch(n, context, value, extra_options):
        key = layer_key(extra_options)
        base = n if context is None else context
        extra = bank.extra_tokens(key, n, base.shape[1])
        if not extra:
            return n, context, value
        val = base if value is None else value
        return n, torch.cat([base] + extra, dim=1), torch.cat([val] + extra, dim=1)

    def attn1_replace(q, k, v, extra_options):
        key = layer_key(extra_options)
        dtype = q.dtype
        if extra_options.get("attn_precision") == torch.float32 and dtype != torch.float32:
            q, k, v = q.float(), k.float(), v.float()  # models that need fp32 attention (SD2.x)
        bias = bank.bias(key, q.device, q.dtype)
        if bias is not None and bias.shape[0] != k.shape[1]:
            bias = None
        return biased_attention(q, k, v, extra_options["n_heads"], bias).to(dtype)

    return attn1_patch, attn1_replace


class PatcherUNet(SDHost):
    """Denoising through a ComfyUI/Forge ModelPatcher's ``model.apply_model``."""

    def __init__(self, patcher, load_models=None, device=None):
        self.patcher = patcher
        self._load = load_models
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self._active = None
        self._bank = None

    def _sampling(self):
        m = self.patcher.model
        return getattr(m, "model_sampling", None) or getattr(m, "predictor", None)

    def discrete_sigmas(self) -> torch.Tensor:
        s = getattr(self._sampling(), "sigmas", None)
        return s.detach().float().cpu() if s is not None else sd15_sigmas()

    @contextlib.contextmanager
    def patched(self, bank: FrameAttention):
        clone = self.patcher.clone()
        patch, replace = make_patches(bank)
        clone.set_model_patch(patch, "attn1_patch")
        taken = clone.model_options.get("transformer_options", {}).get("patches_replace", {}).get("attn1", {})
        for key in attn1_keys(clone.model.diffusion_model):
            if key not in taken and (key[0], key[1]) not in taken:
                clone.set_model_patch_replace(replace, "attn1", key[0], key[1], key[2])
        if self._load is not None:
            self._load(clone)
        self._active, self._bank = clone, bank
        try:
            yield clone
        finally:
            self._active, self._bank = None, None
            bank.mode = None

    def denoise(self, x, sigma, cond):
        patcher = self._active if self._active is not None else self.patcher
        topts = dict(patcher.model_options.get("transformer_options", {}))
        # What ComfyUI's sampler puts there too (foreign patches read them).
        topts["sigmas"] = sigma
        bank = self._bank
        two = bank is not None and bank.mode == "read" and bank.groups == 2
        topts["cond_or_uncond"] = [0, 1] if two else [0]
        sample_sigmas = getattr(bank, "sample_sigmas", None)
        topts["sample_sigmas"] = sample_sigmas if sample_sigmas is not None else sigma
        return patcher.model.apply_model(x, sigma, c_crossattn=cond, transformer_options=topts).float()
