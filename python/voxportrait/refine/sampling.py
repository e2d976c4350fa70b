"""Noise schedules and samplers in k-diffusion form (x = x0 + sigma * eps).

Hand-written on purpose: the loop must interleave the reference write pass,
the latent-inpainting clamp and shared per-frame noise with every model
call, which no host sampler exposes in the same way on ComfyUI, Forge and
A1111, and the k-diffusion package is not a dependency we want to impose on
hosts. Each sampler is the textbook formulation (Karras et al. 2022; Lu et
al. 2022 for DPM-Solver++(2M)).
"""

from __future__ import annotations

from typing import Callable

import torch

#: (x, sigma) -> denoised x0 prediction, the one model call a step makes.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def sd15_sigmas() -> torch.Tensor:
    """SD1.5's 1000 discrete noise levels (scaled-linear betas 0.00085..0.012), ascending."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1.0 - betas, dim=0)
    return ((1 - alphas) / alphas).sqrt().float()


def schedule(discrete: torch.Tensor, steps: int, kind: str) -> torch.Tensor:
    """``steps + 1`` sigmas from high to 0 over a model's discrete levels."""
    discrete = discrete.detach().float().cpu()
    smin, smax = float(discrete[0]), float(discrete[-1])
    if kind == "karras":
        rho = 7.0
        ramp = torch.linspace(0, 1, steps)
        lo, hi = smin ** (1 / rho), smax ** (1 / rho)
        sig = (hi + ramp * (lo - hi)) ** rho
    elif kind == "normal":
        t = torch.linspace(len(discrete) - 1, 0, steps)
        log = discrete.log()
        low = t.floor().long()
        high = (low + 1).clamp(max=len(discrete) - 1)
        w = t - low
        sig = ((1 - w) * log[low] + w * log[high]).exp()
    else:
        raise ValueError(f"unknown scheduler {kind!r}")
    return torch.cat([sig, sig.new_zeros(1)])


def tail(sigmas: torch.Tensor, active: int) -> torch.Tensor:
    """The last ``active`` steps of a schedule (img2img strength)."""
    return sigmas[len(sigmas) - 1 - active:]


def step(kind: str, denoise: Denoiser, x: torch.Tensor, sigmas: torch.Tensor, i: int,
         state: dict, noise_for_step: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """One step from sigmas[i] to sigmas[i+1]; ``state`` carries multistep history."""
    s, s_next = sigmas[i], sigmas[i + 1]
    sig = s.expand(x.shape[0]).to(x.device)
    den = denoise(x, sig)
    if kind == "euler":
        return x + (x - den) / s * (s_next - s)
    if kind == "euler_ancestral":
        if s_next == 0:
            return den
        up = (s_next ** 2 * (s ** 2 - s_next ** 2) / s ** 2) ** 0.5
        down = (s_next ** 2 - up ** 2) ** 0.5
        x = x + (x - den) / s * (down - s)
        return x + noise_for_step(i) * up
    if kind == "heun":
        d = (x - den) / s
        x2 = x + d * (s_next - s)
        if s_next == 0:
            return x2
        den2 = denoise(x2, s_next.expand(x.shape[0]).to(x.device))
        d2 = (x2 - den2) / s_next
        return x + (d + d2) / 2 * (s_next - s)
    if kind == "dpmpp_2m":
        old = state.get("old_denoised")
        state["old_denoised"] = den
        if s_next == 0:
            return den
        t, t_next = -s.log(), -s_next.log()
        h = t_next - t
        if old is None or "h_last" not in state:
            d = den
        else:
            r = state["h_last"] / h
            d = (1 + 1 / (2 * r)) * den - (1 / (2 * r)) * old
        state["h_last"] = h
        return (s_next / s) * x - (-h).expm1() * d
    raise ValueError(f"unknown sampler {kind!r}")
