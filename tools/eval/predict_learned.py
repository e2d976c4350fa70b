"""Predictor for eval_visemes.py: the learned viseme recogniser.

Whisper tiny.en features from the shipped Rust encoder
(``voxportrait._native.whisper_features``) and the trained head
``models/viseme_head.safetensors`` applied in numpy exactly as
``rust/voxportrait-core/src/motion/recognizer.rs`` does (standardise with
``1 / max(std, 1e-6)``, frames t−c … t+c with the edges repeated, optional
ReLU layer, softmax).

* ``predict``: ``[T, 15]`` posteriors; the evaluator takes the argmax per
  frame (the head alone, no temporal decoding).
* ``predict_decoded``: labels after the product's temporal decoding, a port
  of ``motion::visemes::decode`` with its defaults (Viterbi with switch cost
  2.0, runs shorter than 3 frames merged into a neighbour except PP). The
  defaults are the Rust ones, not tuned here.

    .venv/bin/python tools/eval/eval_visemes.py \\
        --predictor tools/eval/predict_learned.py:predict --json report.json

``VOXPORTRAIT_VISEME_HEAD`` overrides the head file. Needs the project venv
(voxportrait built, numpy, scipy for the evaluator).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

HEAD = Path(__file__).resolve().parents[2] / "models" / "viseme_head.safetensors"


def load_head(path=None):
    """``(tensors, metadata)`` of a safetensors file (f32 only), numpy only."""
    data = Path(path or os.environ.get("VOXPORTRAIT_VISEME_HEAD") or HEAD).read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {}) or {}
    body = data[8 + n:]
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise ValueError(f"{name}: {t['dtype']}, expected F32")
        a, b = t["data_offsets"]
        tensors[name] = np.frombuffer(body[a:b], "<f4").reshape(t["shape"])
    return tensors, meta


def head_posteriors(features, tensors, context):
    """Posteriors ``[T, 15]`` of the head for features ``[T, 384]``."""
    z = (features - tensors["mean"]) * (1.0 / np.maximum(tensors["std"], 1e-6))
    n = len(z)
    idx = np.clip(np.arange(n)[:, None] + np.arange(-context, context + 1)[None, :], 0, n - 1)
    x = z[idx].reshape(n, -1)
    if "hidden.weight" in tensors:
        x = np.maximum(x @ tensors["hidden.weight"].T + tensors["hidden.bias"], 0.0)
    logits = x @ tensors["out.weight"].T + tensors["out.bias"]
    e = np.exp(logits - logits.max(1, keepdims=True))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


_HEAD = None


def predict(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono float32 → ``[T, 15]`` viseme posteriors at 50 Hz."""
    global _HEAD
    import voxportrait._native as native
    if _HEAD is None:
        _HEAD = load_head()
    tensors, meta = _HEAD
    feats = native.whisper_features(np.ascontiguousarray(samples, dtype=np.float32), 16000)
    return head_posteriors(feats, tensors, int(meta.get("context", 0)))


def viterbi(post, switch_cost=2.0):
    """``motion::visemes::viterbi``: best path under a uniform switch cost."""
    n, nv = post.shape
    if n == 0:
        return np.zeros(0, np.int64)
    logp = np.log(np.maximum(post, 1e-6)).astype(np.float32)
    score = logp[0].copy()
    back = np.zeros((n, nv), np.int64)
    ar = np.arange(nv)
    for t in range(1, n):
        best_v = int(np.argmax(score))  # first maximum, as the Rust fold
        best = score[best_v]
        stay = score >= best - np.float32(switch_cost)
        back[t] = np.where(stay, ar, best_v)
        score = np.where(stay, score, best - np.float32(switch_cost)) + logp[t]
    path = np.zeros(n, np.int64)
    v = int(np.argmax(score))
    for t in range(n - 1, -1, -1):
        path[t] = v
        v = back[t, v]
    return path


def merge_short_runs(path, post, min_frames=3, pp=1):
    """``motion::visemes::merge_short_runs`` on a label path."""
    runs = []
    for i, v in enumerate(path):
        if runs and runs[-1][2] == v:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1, int(v)])
    while True:
        short = next((i for i, r in enumerate(runs)
                      if r[1] - r[0] < min_frames and r[2] != pp and len(runs) > 1), None)
        if short is None:
            break
        s, e, _ = runs[short]
        left = runs[short - 1][2] if short > 0 else None
        right = runs[short + 1][2] if short + 1 < len(runs) else None
        if left is not None and right is not None:
            into_left = post[s:e, left].sum() >= post[s:e, right].sum()
        else:
            into_left = left is not None
        if into_left:
            runs[short - 1][1] = e
        else:
            runs[short + 1][0] = s
        del runs[short]
        j = 1
        while j < len(runs):
            if runs[j][2] == runs[j - 1][2]:
                runs[j - 1][1] = runs[j][1]
                del runs[j]
            else:
                j += 1
    out = np.zeros(len(path), np.int64)
    for s, e, v in runs:
        out[s:e] = v
    return out


def decode_labels(post, switch_cost=2.0, min_frames=3):
    """Per-frame labels after the product's decoding (Rust defaults)."""
    return merge_short_runs(viterbi(post, switch_cost), post, min_frames)


def predict_decoded(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono float32 → ``[T]`` labels after temporal decoding."""
    return decode_labels(predict(samples))
