"""A tiny, randomly initialised SD1.5-shaped UNet and KL-VAE-shaped autoencoder,
built in-process (no registry package ships SD weights), and fakes of the
three hosts' model objects wrapped around them.

The UNet has SD1.5's topology: channel multipliers (1, 2, 4, 4), two
residual blocks per level, one transformer block (self-attention attn1,
cross-attention attn2 over a 768-wide text context, feed-forward) at the
first three levels, in the middle, and in the nine matching decoder blocks:
16 attn1 layers, named as ComfyUI names them. Only the widths are small.

``BasicTransformerBlock`` runs ComfyUI's patch protocol when ``forward`` gets
``transformer_options`` (copied from comfy/ldm/modules/attention.py, v0.8.0:
attn1_patch list, then an attn1 replace keyed (block, number, index)), and
ldm's ``forward → self._forward(x, context)`` otherwise, which is what A1111
and sd-webui-controlnet hook.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONTEXT_DIM = 768
SCALE = 0.18215


def init_weights(module: nn.Module, seed: int, std: float = 0.05) -> nn.Module:
    """Explicit seeded init: norms 1/0, everything else N(0, std), biases 0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.fill_(1.0 if name.endswith("weight") else 0.0)
            elif name.endswith("bias"):
                p.zero_()
            else:
                p.copy_(torch.randn(p.shape, generator=g) * std)
    return module


class CrossAttention(nn.Module):
    def __init__(self, dim, context_dim=None, heads=2):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_v = nn.Linear(context_dim or dim, dim, bias=False)
        self.to_out = nn.Sequential(nn.Linear(dim, dim), nn.Dropout(0.0))

    def forward(self, x, context=None, value=None, **_):
        context = x if context is None else context
        value = context if value is None else value
        q, k, v = self.to_q(x), self.to_k(context), self.to_v(value)
        b, n, d = q.shape
        h = self.heads
        q, k, v = (t.reshape(b, -1, h, d // h).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        return self.to_out(out)


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads=2):
        super().__init__()
        self.attn1 = CrossAttention(dim, heads=heads)
        self.attn2 = CrossAttention(dim, CONTEXT_DIM, heads=heads)
        self.ff = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.n_heads, self.d_head = heads, dim // heads
        self.disable_self_attn = False

    def forward(self, x, context=None, transformer_options=None):
        if transformer_options is None:
            return self._forward(x, context)  # ldm: checkpoint(self._forward, (x, context), ...)
        return self._comfy_forward(x, context, transformer_options)

    def _forward(self, x, context=None):
        x = self.attn1(self.norm1(x)) + x
        x = self.attn2(self.norm2(x), context=context) + x
        return self.ff(self.norm3(x)) + x

    def _comfy_forward(self, x, context, transformer_options):
        patches = transformer_options.get("patches", {})
        replace = transformer_options.get("patches_replace", {}).get("attn1", {})
        extra = {k: v for k, v in transformer_options.items() if k not in ("patches", "patches_replace")}
        extra["n_heads"], extra["dim_head"] = self.n_heads, self.d_head
        block = transformer_options.get("block")
        n = self.norm1(x)
        ctx = val = None
        if "attn1_patch" in patches:
            ctx = val = n
            for p in patches["attn1_patch"]:
                n, ctx, val = p(n, ctx, val, extra)
        key = None if block is None else (block[0], block[1], transformer_options.get("block_index", 0))
        if key not in replace:
            key = block
        if key in replace:
            if ctx is None:
                ctx = val = n
            q, k, v = self.attn1.to_q(n), self.attn1.to_k(ctx), self.attn1.to_v(val)
            n = self.attn1.to_out(replace[key](q, k, v, extra))
        else:
            n = self.attn1(n, context=ctx, value=val)
        x = n + x
        x = self.attn2(self.norm2(x), context=context) + x
        return self.ff(self.norm3(x)) + x


class SpatialTransformer(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.norm = nn.GroupNorm(8, ch)
        self.proj_in = nn.Conv2d(ch, ch, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(ch)])
        self.proj_out = nn.Conv2d(ch, ch, 1)

    def forward(self, x, context, transformer_options):
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)
        for i, blk in enumerate(self.transformer_blocks):
            if transformer_options is not None:
                transformer_options["block_index"] = i
            t = blk(t, context, transformer_options)
        return self.proj_out(t.transpose(1, 2).reshape(b, c, h, w)) + x


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb):
        super().__init__()
        self.in_layers = nn.Sequential(nn.GroupNorm(8, cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(temb, cout))
        self.out_layers = nn.Sequential(nn.GroupNorm(8, cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x, emb):
        h = self.in_layers(x) + self.emb_layers(emb)[:, :, None, None]
        return self.skip(x) + self.out_layers(h)


class Seq(nn.ModuleList):
    """TimestepEmbedSequential."""

    def forward(self, x, emb, context, topts):
        for layer in self:
            if isinstance(layer, ResBlock):
                x = layer(x, emb)
            elif isinstance(layer, SpatialTransformer):
                x = layer(x, context, topts)
            else:
                x = layer(x)
        return x


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class TinyUNet(nn.Module):
    """SD1.5's UNet topology at width ``ch`` (SD1.5: 320)."""

    def __init__(self, ch=16, seed=0):
        super().__init__()
        mult, attn_levels = (1, 2, 4, 4), (0, 1, 2)
        self.model_channels = ch
        self.context_dim = CONTEXT_DIM
        temb = ch * 4
        self.time_embed = nn.Sequential(nn.Linear(ch, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.input_blocks = nn.ModuleList([Seq([nn.Conv2d(4, ch, 3, padding=1)])])
        chans, cur = [ch], ch
        for lvl, m in enumerate(mult):
            for _ in range(2):
                layers = [ResBlock(cur, ch * m, temb)]
                cur = ch * m
                if lvl in attn_levels:
                    layers.append(SpatialTransformer(cur))
                self.input_blocks.append(Seq(layers))
                chans.append(cur)
            if lvl != len(mult) - 1:
                self.input_blocks.append(Seq([nn.Conv2d(cur, cur, 3, stride=2, padding=1)]))
                chans.append(cur)
        self.middle_block = Seq([ResBlock(cur, cur, temb), SpatialTransformer(cur), ResBlock(cur, cur, temb)])
        self.output_blocks = nn.ModuleList()
        for lvl, m in list(enumerate(mult))[::-1]:
            for i in range(3):
                layers = [ResBlock(cur + chans.pop(), ch * m, temb)]
                cur = ch * m
                if lvl in attn_levels:
                    layers.append(SpatialTransformer(cur))
                if lvl and i == 2:
                    layers.append(Upsample(cur))
                self.output_blocks.append(Seq(layers))
        self.out = nn.Sequential(nn.GroupNorm(8, cur), nn.SiLU(), nn.Conv2d(cur, 4, 3, padding=1))
        init_weights(self, seed)

    @property
    def dtype(self):
        return torch.float32

    def forward(self, x, timesteps, context=None, transformer_options=None, **_):
        half = self.model_channels // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32) / half)
        args = timesteps.float()[:, None] * freqs[None]
        emb = self.time_embed(torch.cat([torch.cos(args), torch.sin(args)], dim=-1))
        topts = None if transformer_options is None else dict(transformer_options)
        hs, h = [], x
        for i, blk in enumerate(self.input_blocks):
            if topts is not None:
                topts["block"] = ("input", i)
            h = blk(h, emb, context, topts)
            hs.append(h)
        if topts is not None:
            topts["block"] = ("middle", 0)
        h = self.middle_block(h, emb, context, topts)
        for i, blk in enumerate(self.output_blocks):
            if topts is not None:
                topts["block"] = ("output", i)
            h = blk(torch.cat([h, hs.pop()], dim=1), emb, context, topts)
        return self.out(h)


class TinyVAE(nn.Module):
    """KL-VAE-shaped: RGB in -1..1 ↔ 4-channel latents at 1/8 size."""

    def __init__(self, ch=16, seed=1):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, ch, 3, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(ch, ch, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(ch, 8, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(4, ch, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(ch, ch, 3, padding=1), nn.SiLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(ch, 3, 3, padding=1))
        init_weights(self, seed, std=0.1)

    def encode_moments(self, x):
        return self.encoder(x).chunk(2, dim=1)

    def decode(self, z):
        return torch.tanh(self.decoder(z))


def discrete_sigmas():
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    a = torch.cumprod(1 - betas, 0)
    return a.float(), ((1 - a) / a).sqrt().float()


def sigma_to_t(sigma, sigmas):
    ls = sigmas.log()
    d = sigma.float().log()[:, None] - ls[None]
    low = d.ge(0).cumsum(1).argmax(1).clamp(max=len(ls) - 2)
    w = ((ls[low] - sigma.float().log()) / (ls[low] - ls[low + 1])).clamp(0, 1)
    return (1 - w) * low + w * (low + 1)


# --- ComfyUI-shaped objects ---------------------------------------------------------------


class ModelSampling:
    def __init__(self):
        _, self.sigmas = discrete_sigmas()

    def calculate_input(self, sigma, x):
        return x / (sigma.view(-1, 1, 1, 1) ** 2 + 1) ** 0.5

    def calculate_denoised(self, sigma, out, x):
        return x - out * sigma.view(-1, 1, 1, 1)

    def timestep(self, sigma):
        return sigma_to_t(sigma, self.sigmas)


class ComfyBaseModel(nn.Module):
    """comfy.model_base.BaseModel's apply_model contract around TinyUNet."""

    adm_channels = 0

    def __init__(self, unet):
        super().__init__()
        self.diffusion_model = unet
        self.model_sampling = ModelSampling()
        self.calls = 0

    def apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kw):
        self.calls += 1
        xc = self.model_sampling.calculate_input(t, x)
        out = self.diffusion_model(xc, self.model_sampling.timestep(t), context=c_crossattn,
                                   transformer_options=transformer_options)
        return self.model_sampling.calculate_denoised(t, out.float(), x)

    def process_latent_in(self, z):
        return z * SCALE

    def process_latent_out(self, z):
        return z / SCALE


class ModelPatcher:
    """comfy.model_patcher.ModelPatcher's patch bookkeeping (v0.8.0 semantics)."""

    def __init__(self, model):
        self.model = model
        self.model_options = {"transformer_options": {}}

    def clone(self):
        n = ModelPatcher(self.model)
        n.model_options = copy.deepcopy(self.model_options)
        return n

    def set_model_patch(self, patch, name):
        to = self.model_options["transformer_options"]
        to.setdefault("patches", {}).setdefault(name, []).append(patch)

    def set_model_attn1_patch(self, patch):
        self.set_model_patch(patch, "attn1_patch")

    def set_model_patch_replace(self, patch, name, block_name, number, transformer_index=None):
        to = self.model_options["transformer_options"]
        block = (block_name, number) if transformer_index is None else (block_name, number, transformer_index)
        to.setdefault("patches_replace", {}).setdefault(name, {})[block] = patch


class ComfyVAE:
    """comfy.sd.VAE: encode [B,H,W,C] 0..1 → unscaled latents; decode → [B,H,W,C]."""

    def __init__(self, vae):
        self.vae = vae

    def encode(self, pixels):
        mean, _ = self.vae.encode_moments(pixels[..., :3].permute(0, 3, 1, 2) * 2 - 1)
        return mean

    def decode(self, z):
        return ((self.vae.decode(z) + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1)


class Clip:
    def tokenize(self, text):
        return [text]

    def encode_from_tokens(self, tokens):
        g = torch.Generator().manual_seed(len(tokens[0]) + 7)
        return torch.randn(1, 77, CONTEXT_DIM, generator=g) * 0.5


def comfy_objects(seed=0):
    """(MODEL, VAE, CLIP) as ComfyUI hands them to a node."""
    return ModelPatcher(ComfyBaseModel(TinyUNet(seed=seed))), ComfyVAE(TinyVAE(seed=seed + 1)), Clip()


# --- A1111-shaped objects ----------------------------------------------------------------


class Posterior:
    def __init__(self, mean, logvar):
        self.mean, self.std = mean, torch.exp(0.5 * logvar.clamp(-30, 20))

    def mode(self):
        return self.mean

    def sample(self):
        return self.mean + self.std * torch.randn_like(self.mean)


class DiffusionWrapper(nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.diffusion_model = unet


class LatentDiffusion(nn.Module):
    """ldm's LatentDiffusion surface A1111 exposes as ``shared.sd_model``."""

    parameterization = "eps"
    scale_factor = SCALE

    def __init__(self, seed=0):
        super().__init__()
        self.model = DiffusionWrapper(TinyUNet(seed=seed))
        self.first_stage_model = TinyVAE(seed=seed + 1)
        acp, _ = discrete_sigmas()
        self.register_buffer("alphas_cumprod", acp)
        self.apply_calls = 0

    def apply_model(self, x_noisy, t, cond):
        self.apply_calls += 1
        return self.model.diffusion_model(x_noisy, t, context=cond)  # ldm: no transformer_options

    def encode_first_stage(self, x):
        return Posterior(*self.first_stage_model.encode_moments(x))

    def get_first_stage_encoding(self, posterior):
        return posterior.sample() * self.scale_factor

    def decode_first_stage(self, z):
        return self.first_stage_model.decode(z / self.scale_factor)

    def get_learned_conditioning(self, prompts):
        return Clip().encode_from_tokens([prompts[0]]).expand(len(prompts), -1, -1)


# --- Forge-shaped objects ----------------------------------------------------------------


class ForgeVAE:
    class _FSM:
        def process_in(self, z):
            return z * SCALE

        def process_out(self, z):
            return z / SCALE

    def __init__(self, vae):
        self.inner = ComfyVAE(vae)
        self.first_stage_model = self._FSM()

    def encode(self, x):
        return self.inner.encode(x)

    def decode(self, z):
        return self.inner.decode(z)


class KModel(nn.Module):
    """Forge's backend.modules.k_model.KModel: the sampling object is ``predictor``."""

    def __init__(self, unet):
        super().__init__()
        self.diffusion_model = unet
        self.predictor = ModelSampling()

    def apply_model(self, x, t, c_concat=None, c_crossattn=None, control=None, transformer_options={}, **kw):
        xc = self.predictor.calculate_input(t, x)
        out = self.diffusion_model(xc, self.predictor.timestep(t), context=c_crossattn,
                                   transformer_options=transformer_options)
        return self.predictor.calculate_denoised(t, out.float(), x)


class ForgeObjects:
    def __init__(self, unet, vae, clip):
        self.unet, self.vae, self.clip, self.clipvision = unet, vae, clip, None


class ForgeEngine:
    """backend.diffusion_engine.sd15.StableDiffusion, the object Forge puts in ``shared.sd_model``."""

    first_stage_model = None

    def __init__(self, seed=0):
        self.forge_objects = ForgeObjects(ModelPatcher(KModel(TinyUNet(seed=seed))),
                                          ForgeVAE(TinyVAE(seed=seed + 1)), Clip())

    def encode_first_stage(self, x):
        z = self.forge_objects.vae.encode(x.movedim(1, -1) * 0.5 + 0.5)
        return self.forge_objects.vae.first_stage_model.process_in(z).to(x)

    def decode_first_stage(self, z):
        z = self.forge_objects.vae.first_stage_model.process_out(z)
        return (self.forge_objects.vae.decode(z).movedim(-1, 1) * 2.0 - 1.0).to(z)

    def get_learned_conditioning(self, prompts):
        return Clip().encode_from_tokens([prompts[0]])


class ForgeMemoryManagement:
    """backend.memory_management's two calls the adapter makes."""

    def __init__(self):
        self.loaded = []

    def load_model_gpu(self, patcher):
        self.loaded.append(patcher)

    def get_torch_device(self):
        return torch.device("cpu")
