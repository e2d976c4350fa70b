"""Extended self-attention: every attn1 layer also attends to the reference
portrait's tokens and to the first and previous frames' tokens.

This is the one place the method lives; the host adapters only decide where
to call it from (ComfyUI/Forge attn1 patches, A1111's transformer blocks).

* Reference attention (reference-only ControlNet, AnimateAnyone's
  ReferenceNet): a *write* pass runs the reference latent, noised to the
  current sigma, through the UNet and banks each layer's normalised hidden
  states (the input of attn1's K/V projections, so K/V follow exactly);
  the *read* pass appends them to every frame's attn1 context.
* Cross-frame attention (Text2Video-Zero): frame i also attends to frame 0
  of the job and to frame i-1, both at the same step. Within a batch those
  are rows of the same tensor; across batches the bank keeps, per layer and
  step, the first frame's tokens and the last frame's tokens.
* Weights: each extra token source gets an additive logit bias log(w), so
  w = 1 weighs a reference token like one of the frame's own and w = 0
  removes the source. The bias needs the projected q/k/v, so it is applied
  where the host lets us compute attention (``biased_attention``); where a
  foreign extension owns that hook, the sources are still attended with
  weight 1 through the context alone.
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F


class FrameAttention:
    """The per-job bank of reference and cross-frame tokens, keyed by layer.

    A layer key is any hashable naming one transformer block's attn1, the
    same in the write and read passes. The sampling loop sets ``mode``,
    ``step`` and ``groups`` (how many CFG halves the batch holds) around
    each UNet call; the adapters call ``context`` and ``segments``.
    """

    def __init__(self, reference_weight: float = 1.0, cross_frame_weight: float = 1.0):
        self.reference_weight = float(reference_weight)
        self.cross_frame_weight = float(cross_frame_weight)
        self.mode: str | None = None  # None (pass through) | "write" | "read"
        self.step = 0
        self.groups = 1
        #: The job's sigma schedule (hosts pass it on to foreign patches).
        self.sample_sigmas = None
        self.reference: dict = {}
        self.first: dict = {}
        self.previous: dict = {}
        self._last_of_batch: dict = {}
        #: attn1 calls seen per layer key in read passes (tests check coverage).
        self.calls: Counter = Counter()
        self._segments: dict = {}

    # -- the sampling loop's side ----------------------------------------------------------

    def end_batch(self) -> None:
        """Makes this batch's last frame the next batch's 'previous' frame."""
        self.previous.update(self._last_of_batch)
        self._last_of_batch = {}

    def clear(self) -> None:
        """Drops every banked tensor (end of job, or an error)."""
        self.reference.clear()
        self.first.clear()
        self.previous.clear()
        self._last_of_batch.clear()
        self._segments.clear()
        self.mode = None

    # -- the adapters' side ----------------------------------------------------------------

    def extra_tokens(self, key, n: torch.Tensor, base_tokens: int | None = None) -> list:
        """The token blocks to append to attn1's key/value input for ``n`` [B, N, C].

        Write pass: banks ``n`` as the reference tokens and returns []. Read
        pass: returns ``[reference, first frame, previous frame]`` (sources
        with weight 0 left out), each [B, N, C]. ``base_tokens`` is the length
        of the context they are appended to (N unless another patch grew it).
        """
        base = n.shape[1] if base_tokens is None else base_tokens
        if self.mode == "write":
            self.reference[key] = n[:1].detach()
            self._segments[key] = (base,)
            return []
        if self.mode != "read":
            self._segments[key] = (base,)
            return []
        self.calls[key] += 1
        b, tokens, ch = n.shape
        parts, weights = [], []
        ref = self.reference.get(key)
        if self.reference_weight > 0 and ref is not None and ref.shape[1:] == n.shape[1:]:
            parts.append(ref.to(n.dtype).expand(b, -1, -1))
            weights.append(self.reference_weight)
        if self.cross_frame_weight > 0 and b % self.groups == 0:
            frames = b // self.groups
            rows = n.detach().reshape(self.groups, frames, tokens, ch)
            sk = (key, self.step)
            first = self.first.get(sk)
            if first is None or first.shape != rows[:, :1].shape:
                first = rows[:, :1].clone()
                self.first[sk] = first
            prev = self.previous.get(sk)
            if prev is None or prev.shape != first.shape:
                prev = rows[:, :1]
            prev_rows = torch.cat([prev.to(n.dtype), rows[:, :-1]], dim=1)
            self._last_of_batch[sk] = rows[:, -1:].clone()
            parts.append(first.to(n.dtype).expand(-1, frames, -1, -1).reshape(b, tokens, ch))
            parts.append(prev_rows.reshape(b, tokens, ch))
            weights += [self.cross_frame_weight, self.cross_frame_weight]
        self._segments[key] = (base,) + tuple(zip([tokens] * len(parts), weights))
        return parts

    def context(self, key, n: torch.Tensor) -> torch.Tensor:
        """attn1's key/value input: ``n`` followed by ``extra_tokens``."""
        extra = self.extra_tokens(key, n)
        return torch.cat([n] + extra, dim=1) if extra else n

    def bias(self, key, device, dtype) -> torch.Tensor | None:
        """The additive logit bias [Nk] matching the last context built for ``key``."""
        segments = self._segments.get(key)
        if segments is None or len(segments) == 1 or all(w == 1.0 for _, w in segments[1:]):
            return None
        parts = [torch.zeros(segments[0], device=device, dtype=dtype)]
        parts += [torch.full((t,), math.log(w), device=device, dtype=dtype) for t, w in segments[1:]]
        return torch.cat(parts)


def biased_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                     bias: torch.Tensor | None) -> torch.Tensor:
    """Multi-head attention over projected q [B,Nq,H*D], k/v [B,Nk,H*D] with a
    per-key additive logit bias [Nk] (or None); returns [B,Nq,H*D]."""
    b, nq, inner = q.shape
    d = inner // heads
    q, k, v = (t.reshape(b, -1, heads, d).transpose(1, 2) for t in (q, k, v))
    mask = None if bias is None else bias.to(q.dtype).view(1, 1, 1, -1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return out.transpose(1, 2).reshape(b, nq, inner)
