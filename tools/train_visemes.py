#!/usr/bin/env python3
"""Train the learned viseme head (issue 4): Whisper tiny.en features → 15 visemes.

What: a small head (softmax regression, or one hidden ReLU layer) over the
standardised Whisper tiny.en encoder features of frames t−c … t+c, trained on
the synthetic espeak-ng corpus of ``tools/visemes/espeak_corpus.py``
(``docs/visemes.md``), written as ``models/viseme_head.safetensors`` in the
layout ``rust/voxportrait-core/src/motion/recognizer.rs`` reads.

Why: the features come from exactly the inference code
(``voxportrait._native.whisper_features``: the Rust encoder, 10 s windows),
so the head sees at training time what it sees in the product.

Splits:
  * train   the corpus's ``train`` shards minus the dev speakers;
  * dev     a few ``train`` speaker configurations (``--dev-speakers``,
            drawn by ``--dev-seed``, English and other languages in the
            corpus's 70/30 proportion), clean and augmented copies: the only
            data used for choosing the configuration and the epoch;
  * heldout the corpus's ``heldout`` split (voices, variants and a language
            never in training): reported only, never used for any choice.
  The real-speech set (``tools/eval``) is not touched here.

Everything is numpy (float32, minibatch Adam); all randomness comes from
``--seed`` (initialisation, shuffling, dropout). numpy's BLAS threads do not
change the result for a fixed thread count; the script pins OpenBLAS/MKL to
``--threads`` (default 2) so a rerun reproduces the file byte for byte.

Usage (the committed head: 4–7 min of training on 2 shared cores once the
features are cached; extracting them for the 96 min corpus took another
~10 min on a loaded machine)::

    .venv/bin/python tools/train_visemes.py --data /work/data/visemes \\
        --cache /work/data/visemes_features --seed 0 \\
        --out models/viseme_head.safetensors --report /work/data/visemes_features/report.json

    # the configuration sweep on the dev set (prints a table, writes nothing
    # but --sweep-report; ~25 min for all of CONFIGS):
    .venv/bin/python tools/train_visemes.py --sweep --seed 0

Output: per-epoch dev accuracy; dev and heldout frame accuracy, speech-only
and balanced accuracy, per-viseme recall/precision, PP recall/precision and
PP hit rate, clean/augmented and per-speaker accuracy, the same after the
product's temporal decoding; the file's size and sha256. ``--report`` keeps
them all as JSON.

Dev-only: needs the project venv (numpy, voxportrait built with
``maturin develop --release``) and the corpus; nothing here ships.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path


def _pin_threads(argv):
    """Pin BLAS threads before numpy loads (reproducibility)."""
    n = "2"
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif a.startswith("--threads="):
            n = a.split("=", 1)[1]
    for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ[var] = n


_pin_threads(sys.argv)

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools" / "eval"))
from predict_learned import decode_labels, head_posteriors, load_head  # noqa: E402
VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
           "aa", "E", "ih", "oh", "ou")
NV = len(VISEMES)
PP = VISEMES.index("PP")
FEATURE_DIM = 384
ENCODER_WEIGHTS = REPO / "models" / "whisper_tiny_en_encoder.safetensors"

# Candidate configurations tried on the dev set (``--sweep``). ``hidden`` 0
# is softmax regression; ``context`` c frames each side; ``targets``
# "hard" (one-hot at the frame centre) or "soft" (the corpus's overlap
# fractions); ``smooth`` label smoothing; ``class_weight`` exponent a of the
# per-class loss weight (frequency^-a, 0 = none); ``dropout`` on the hidden
# layer.
CONFIGS = {
    "lin-c0":          dict(hidden=0, context=0, targets="hard", smooth=0.0, class_weight=0.0, dropout=0.0, epochs=8, lr=2e-3),
    "lin-c2":          dict(hidden=0, context=2, targets="hard", smooth=0.0, class_weight=0.0, dropout=0.0, epochs=8, lr=2e-3),
    "lin-c2-soft":     dict(hidden=0, context=2, targets="soft", smooth=0.05, class_weight=0.0, dropout=0.0, epochs=8, lr=2e-3),
    "lin-c2-cw":       dict(hidden=0, context=2, targets="soft", smooth=0.05, class_weight=0.5, dropout=0.0, epochs=8, lr=2e-3),
    "lin-c4-soft":     dict(hidden=0, context=4, targets="soft", smooth=0.05, class_weight=0.0, dropout=0.0, epochs=8, lr=2e-3),
    "mlp256-c2":       dict(hidden=256, context=2, targets="hard", smooth=0.0, class_weight=0.0, dropout=0.0, epochs=4, lr=1e-3),
    "mlp256-c2-soft":  dict(hidden=256, context=2, targets="soft", smooth=0.05, class_weight=0.0, dropout=0.5, epochs=4, lr=1e-3),
    "mlp256-c2-cw":    dict(hidden=256, context=2, targets="soft", smooth=0.05, class_weight=0.5, dropout=0.5, epochs=4, lr=1e-3),
    # The dev-set winner above, trained longer (dev acc 81.9 % → 82.3 %).
    "mlp256-c2-cw-e8": dict(hidden=256, context=2, targets="soft", smooth=0.05, class_weight=0.5, dropout=0.5, epochs=8, lr=1e-3),
}
DEFAULT_CONFIG = "mlp256-c2-cw-e8"
COMMON = dict(batch=512, weight_decay=1e-4)


def log(*a):
    print(*a, flush=True)


# --- corpus and features ----------------------------------------------------

def sha256_file(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def load_corpus(data_dir, cache_dir, refresh=False):
    """Features, labels and per-utterance metadata for every shard.

    Features come from ``voxportrait._native.whisper_features`` on each
    utterance alone (as at inference) and are cached per shard in
    ``cache_dir``, keyed by the shard's and the encoder weights' sha256 and
    the voxportrait version.
    """
    data_dir, cache_dir = Path(data_dir), Path(cache_dir)
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.exists():
        sys.exit(f"{manifest_path} missing: the corpus is not complete")
    manifest = json.loads(manifest_path.read_text())
    if tuple(manifest["visemes"]) != VISEMES:
        sys.exit("viseme order of the corpus differs from this script's")
    utts = {}
    with open(data_dir / "utterances.jsonl") as f:
        for line in f:
            u = json.loads(line)
            utts[u["id"]] = u
    import voxportrait._native as native
    enc_sha = sha256_file(ENCODER_WEIGHTS)
    cache_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for split in ("train", "heldout"):
        feats, labels, soft, meta = [], [], [], []
        for shard in manifest["shards"][split]:
            shard_path = data_dir / shard
            key = {"shard_sha256": sha256_file(shard_path), "encoder_sha256": enc_sha,
                   "voxportrait": native.__version__, "fn": "whisper_features(samples, 16000)"}
            cache_path = cache_dir / (Path(shard).stem + ".features.npz")
            z = np.load(shard_path)
            f_off = z["frame_offsets"]
            cached = None
            if cache_path.exists() and not refresh:
                c = np.load(cache_path)
                if json.loads(str(c["key"])) == key:
                    cached = c["features"]
            if cached is None:
                t0 = time.time()
                a_off, audio = z["audio_offsets"], z["audio"]
                cached = np.empty((int(f_off[-1]), FEATURE_DIM), np.float32)
                for k in range(len(z["ids"])):
                    x = native.whisper_features(np.ascontiguousarray(audio[a_off[k]:a_off[k + 1]]), 16000)
                    n = f_off[k + 1] - f_off[k]
                    if x.shape != (n, FEATURE_DIM):
                        sys.exit(f"{z['ids'][k]}: features {x.shape}, labels {n}")
                    cached[f_off[k]:f_off[k + 1]] = x
                np.savez(cache_path, features=cached, key=json.dumps(key, sort_keys=True))
                secs = (a_off[-1]) / 16000
                log(f"  features {shard}: {secs / 60:.1f} min of audio in {time.time() - t0:.0f} s")
            feats.append(cached)
            labels.append(z["labels"].astype(np.int64))
            soft.append(z["soft_labels"])
            for k, uid in enumerate(z["ids"]):
                m = dict(utts[str(uid)])
                m["n"] = int(f_off[k + 1] - f_off[k])
                meta.append(m)
        out[split] = dict(x=np.concatenate(feats), y=np.concatenate(labels),
                          soft=np.concatenate(soft), meta=meta)
        assert len(out[split]["x"]) == sum(m["n"] for m in meta)
    return manifest, out


def utterance_starts(meta):
    n = np.array([m["n"] for m in meta], np.int64)
    starts = np.concatenate([[0], np.cumsum(n)])
    return starts


def neighbours(meta, context):
    """``[N, 2c+1]`` frame indices t−c … t+c within each utterance (edges
    repeat the first/last frame, as the Rust head does)."""
    starts = utterance_starts(meta)
    N = int(starts[-1])
    utt = np.repeat(np.arange(len(meta)), np.diff(starts))
    lo, hi = starts[utt], starts[utt + 1] - 1
    t = np.arange(N)
    return np.stack([np.clip(t + d, lo, hi) for d in range(-context, context + 1)], 1)


def pick_dev_speakers(manifest, n, seed):
    """``n`` train speaker configurations, English and others at 70/30."""
    train = [s for s in manifest["speakers"] if s["split"] == "train"]
    en = sorted(s["id"] for s in train if s["table"].startswith("en"))
    other = sorted(s["id"] for s in train if not s["table"].startswith("en"))
    rng = np.random.default_rng([seed, 7])
    n_en = int(round(0.7 * n))
    return sorted(rng.choice(en, n_en, replace=False).tolist()
                  + rng.choice(other, n - n_en, replace=False).tolist())


def subset(split, mask):
    idx_utt = np.flatnonzero(mask)
    starts = utterance_starts(split["meta"])
    frames = np.concatenate([np.arange(starts[k], starts[k + 1]) for k in idx_utt])
    return dict(x=split["x"][frames], y=split["y"][frames], soft=split["soft"][frames],
                meta=[split["meta"][k] for k in idx_utt])


# --- the head -----------------------------------------------------------------

class Head:
    """mean/std standardisation, optional ReLU layer, softmax output."""

    def __init__(self, context, hidden, mean, std, rng):
        self.context, self.hidden = context, hidden
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        width = FEATURE_DIM * (2 * context + 1)
        self.p = {}
        if hidden:
            self.p["hidden.weight"] = (rng.standard_normal((hidden, width)) * np.sqrt(2.0 / width)).astype(np.float32)
            self.p["hidden.bias"] = np.zeros(hidden, np.float32)
            self.p["out.weight"] = (rng.standard_normal((NV, hidden)) * np.sqrt(1.0 / hidden)).astype(np.float32)
        else:
            self.p["out.weight"] = np.zeros((NV, width), np.float32)
        self.p["out.bias"] = np.zeros(NV, np.float32)

    def standardise(self, x):
        return ((x - self.mean) * (1.0 / np.maximum(self.std, 1e-6))).astype(np.float32)

    def logits(self, z, nbr, idx, dropout=0.0, rng=None):
        """z: standardised features [N, D]; returns logits and a cache."""
        X = z[nbr[idx]].reshape(len(idx), -1)
        if self.hidden:
            h = X @ self.p["hidden.weight"].T + self.p["hidden.bias"]
            np.maximum(h, 0, out=h)
            mask = None
            if dropout > 0 and rng is not None:
                mask = (rng.random(h.shape, dtype=np.float32) >= dropout).astype(np.float32) / (1 - dropout)
                h *= mask
            return h @ self.p["out.weight"].T + self.p["out.bias"], (X, h, mask)
        return X @ self.p["out.weight"].T + self.p["out.bias"], (X, None, None)

    def grads(self, cache, dlogits):
        X, h, mask = cache
        g = {"out.bias": dlogits.sum(0)}
        if self.hidden:
            g["out.weight"] = dlogits.T @ h
            dh = dlogits @ self.p["out.weight"]
            dh *= (h > 0)
            if mask is not None:
                dh *= mask
            g["hidden.weight"] = dh.T @ X
            g["hidden.bias"] = dh.sum(0)
        else:
            g["out.weight"] = dlogits.T @ X
        return g

    def posteriors(self, z, nbr, chunk=8192):
        out = np.empty((len(z), NV), np.float32)
        for s in range(0, len(z), chunk):
            idx = np.arange(s, min(s + chunk, len(z)))
            lg, _ = self.logits(z, nbr, idx)
            out[s:s + len(idx)] = softmax(lg)
        return out

    def tensors(self):
        t = {"mean": self.mean, "std": self.std}
        t.update(self.p)
        return t


def softmax(lg):
    e = np.exp(lg - lg.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def train_head(cfg, train, dev, seed, verbose=True):
    """Adam with cosine decay; returns the head at the dev-best epoch and the
    per-epoch dev accuracies."""
    rng = np.random.default_rng(seed)
    mean = train["x"].mean(0, dtype=np.float64)
    std = train["x"].std(0, dtype=np.float64)
    head = Head(cfg["context"], cfg["hidden"], mean, std, rng)
    z_tr, z_dev = head.standardise(train["x"]), head.standardise(dev["x"])
    nbr_tr, nbr_dev = neighbours(train["meta"], cfg["context"]), neighbours(dev["meta"], cfg["context"])

    if cfg["targets"] == "soft":
        target = train["soft"].astype(np.float32)
    else:
        target = np.eye(NV, dtype=np.float32)[train["y"]]
    if cfg["smooth"]:
        target = (1 - cfg["smooth"]) * target + cfg["smooth"] / NV
    counts = np.bincount(train["y"], minlength=NV).astype(np.float64)
    cw = (counts / counts.mean()) ** -cfg["class_weight"] if cfg["class_weight"] else np.ones(NV)
    sample_w = (train["soft"] @ cw.astype(np.float32)).astype(np.float32)
    sample_w /= sample_w.mean()

    m = {k: np.zeros_like(v) for k, v in head.p.items()}
    v = {k: np.zeros_like(v) for k, v in head.p.items()}
    b1, b2, eps = 0.9, 0.999, 1e-8
    N, B = len(z_tr), COMMON["batch"]
    steps_per_epoch = N // B
    total = steps_per_epoch * cfg["epochs"]
    step = 0
    best = (-1.0, None, 0)
    history = []
    for epoch in range(cfg["epochs"]):
        t0 = time.time()
        perm = rng.permutation(N)
        loss_sum = 0.0
        for s in range(steps_per_epoch):
            idx = np.sort(perm[s * B:(s + 1) * B])
            lg, cache = head.logits(z_tr, nbr_tr, idx, cfg["dropout"], rng)
            p = softmax(lg)
            w = sample_w[idx][:, None]
            T = target[idx]
            loss_sum += float(-(w * T * np.log(p + 1e-12)).sum() / B)
            g = head.grads(cache, (w * (p - T) / B).astype(np.float32))
            step += 1
            lr = cfg["lr"] * 0.5 * (1 + np.cos(np.pi * (step - 1) / total))
            for k in head.p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]
                v[k] = b2 * v[k] + (1 - b2) * g[k] * g[k]
                upd = (m[k] / (1 - b1 ** step)) / (np.sqrt(v[k] / (1 - b2 ** step)) + eps)
                if k.endswith("weight"):
                    upd = upd + COMMON["weight_decay"] * head.p[k]
                head.p[k] = (head.p[k] - np.float32(lr) * upd).astype(np.float32)
        post = head.posteriors(z_dev, nbr_dev)
        acc = float((post.argmax(1) == dev["y"]).mean())
        history.append(dict(epoch=epoch + 1, loss=loss_sum / steps_per_epoch, dev_acc=acc))
        if verbose:
            log(f"    epoch {epoch + 1:2d}  loss {loss_sum / steps_per_epoch:.4f}  dev acc {100 * acc:.2f}%  ({time.time() - t0:.0f} s)")
        if acc > best[0]:
            best = (acc, {k: x.copy() for k, x in head.p.items()}, epoch + 1)
    head.p = best[1]
    return head, history, best[2]


# --- metrics ----------------------------------------------------------------

def pp_hits(y, pred, meta):
    """Bilabial closure hit rate: ground-truth PP runs (per utterance) with a
    predicted PP within the run ±1 frame."""
    starts = utterance_starts(meta)
    hits = total = 0
    for k in range(len(meta)):
        yy, pp = y[starts[k]:starts[k + 1]], pred[starts[k]:starts[k + 1]]
        isp = np.concatenate([[0], (yy == PP).astype(np.int8), [0]])
        d = np.diff(isp)
        for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)):
            total += 1
            hits += bool((pp[max(a - 1, 0):b + 1] == PP).any())
    return hits / max(total, 1), total


def metrics(y, post, meta):
    pred = post.argmax(1)
    r = {"frames": int(len(y)), "seconds": round(len(y) / 50, 1), "acc": float((pred == y).mean())}
    speech = y != 0
    r["acc_speech"] = float((pred[speech] == y[speech]).mean())
    rec = {}
    prec = {}
    for k, name in enumerate(VISEMES):
        if (y == k).any():
            rec[name] = float((pred[y == k] == k).mean())
        if (pred == k).any():
            prec[name] = float((y[pred == k] == k).mean())
    r["recall"], r["precision"] = rec, prec
    r["bal_acc"] = float(np.mean(list(rec.values())))
    r["pp_recall"], r["pp_precision"] = rec.get("PP", 0.0), prec.get("PP", 0.0)
    r["pp_hit"], r["pp_segments"] = pp_hits(y, pred, meta)
    conf = np.zeros((NV, NV), np.int64)
    np.add.at(conf, (y, pred), 1)
    r["confusion"] = conf.tolist()
    return r


def breakdown(y, post, meta, key):
    starts = utterance_starts(meta)
    pred = post.argmax(1)
    groups = {}
    for k, m in enumerate(meta):
        g = key(m)
        c = groups.setdefault(g, [0, 0])
        sl = slice(starts[k], starts[k + 1])
        c[0] += int((pred[sl] == y[sl]).sum())
        c[1] += int(starts[k + 1] - starts[k])
    return {g: round(c[0] / c[1], 4) for g, c in sorted(groups.items())}


def fmt_metrics(name, r):
    lines = [f"{name}: {r['seconds']:.0f} s, acc {100 * r['acc']:.1f}%, speech-only {100 * r['acc_speech']:.1f}%, "
             f"balanced {100 * r['bal_acc']:.1f}%, PP recall {100 * r['pp_recall']:.1f}% "
             f"precision {100 * r['pp_precision']:.1f}%, PP hit {100 * r['pp_hit']:.1f}% of {r['pp_segments']}"]
    lines.append("  recall:    " + " ".join(f"{v}:{100 * r['recall'].get(v, float('nan')):.0f}" for v in VISEMES))
    lines.append("  precision: " + " ".join(f"{v}:{100 * r['precision'].get(v, float('nan')):.0f}" for v in VISEMES))
    return "\n".join(lines)


# --- safetensors ------------------------------------------------------------

def write_safetensors(path, tensors, metadata):
    """Deterministic safetensors: keys sorted, data in key order, header
    padded with spaces to 8 bytes, f32 little endian."""
    header = {"__metadata__": {k: str(v) for k, v in sorted(metadata.items())}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# --- main -------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/data/visemes", help="corpus directory (espeak_corpus.py --out)")
    ap.add_argument("--cache", default="/work/data/visemes_features", help="feature cache directory")
    ap.add_argument("--out", default=str(REPO / "models" / "viseme_head.safetensors"))
    ap.add_argument("--report", help="write every metric as JSON here")
    ap.add_argument("--config", default=DEFAULT_CONFIG, choices=sorted(CONFIGS))
    ap.add_argument("--epochs", type=int, help="override the configuration's epochs")
    ap.add_argument("--seed", type=int, default=0, help="initialisation, shuffling, dropout")
    ap.add_argument("--dev-speakers", type=int, default=8)
    ap.add_argument("--dev-seed", type=int, default=0, help="which train speakers form the dev set")
    ap.add_argument("--sweep", action="store_true", help="train every configuration, report dev accuracy, write no model")
    ap.add_argument("--sweep-configs", help="comma-separated subset for --sweep")
    ap.add_argument("--sweep-report", help="JSON of the sweep")
    ap.add_argument("--threads", type=int, default=2, help="BLAS threads (fixed for reproducibility)")
    ap.add_argument("--refresh-features", action="store_true")
    args = ap.parse_args()

    t_start = time.time()
    log("loading corpus and features ...")
    manifest, data = load_corpus(args.data, args.cache, args.refresh_features)
    log(f"  features ready in {time.time() - t_start:.0f} s")
    dev_spk = pick_dev_speakers(manifest, args.dev_speakers, args.dev_seed)
    is_dev = np.array([m["speaker"] in dev_spk for m in data["train"]["meta"]])
    train, dev = subset(data["train"], ~is_dev), subset(data["train"], is_dev)
    held = data["heldout"]
    spk = {s["id"]: s for s in manifest["speakers"]}
    dev_names = ", ".join("%s=%s+%s" % (s, spk[s]["voice"], spk[s]["variant"]) for s in dev_spk)
    log(f"  train {len(train['y']) / 3000:.1f} min ({len(train['meta'])} utterances), "
        f"dev {len(dev['y']) / 3000:.1f} min ({dev_names}), heldout {len(held['y']) / 3000:.1f} min")

    if args.sweep:
        names = args.sweep_configs.split(",") if args.sweep_configs else list(CONFIGS)
        rows = []
        for name in names:
            cfg = dict(CONFIGS[name])
            if args.epochs:
                cfg["epochs"] = args.epochs
            log(f"[{name}] {cfg}")
            t0 = time.time()
            head, hist, best_epoch = train_head(cfg, train, dev, args.seed)
            z = head.standardise(dev["x"])
            r = metrics(dev["y"], head.posteriors(z, neighbours(dev["meta"], cfg["context"])), dev["meta"])
            rows.append(dict(config=name, **cfg, best_epoch=best_epoch, dev_acc=r["acc"], dev_bal_acc=r["bal_acc"],
                             dev_pp_recall=r["pp_recall"], dev_pp_precision=r["pp_precision"],
                             history=hist, seconds=round(time.time() - t0)))
            log(f"  -> dev acc {100 * r['acc']:.2f}% (epoch {best_epoch}), balanced {100 * r['bal_acc']:.1f}%, "
                f"PP rec/prec {100 * r['pp_recall']:.0f}/{100 * r['pp_precision']:.0f}, {time.time() - t0:.0f} s")
        log("\nconfig              dev acc  bal acc  PP rec  PP prec  epoch")
        for r in sorted(rows, key=lambda r: -r["dev_acc"]):
            log(f"{r['config']:18s}  {100 * r['dev_acc']:6.2f}  {100 * r['dev_bal_acc']:7.2f}  "
                f"{100 * r['dev_pp_recall']:6.1f}  {100 * r['dev_pp_precision']:7.1f}  {r['best_epoch']:5d}")
        if args.sweep_report:
            Path(args.sweep_report).write_text(json.dumps(dict(seed=args.seed, dev_speakers=dev_spk, rows=rows), indent=1))
        return

    cfg = dict(CONFIGS[args.config])
    if args.epochs:
        cfg["epochs"] = args.epochs
    log(f"training {args.config} {cfg} seed {args.seed}")
    t0 = time.time()
    head, hist, best_epoch = train_head(cfg, train, dev, args.seed)
    t_train = time.time() - t0
    log(f"  trained in {t_train:.0f} s; dev-best epoch {best_epoch}")

    report = dict(config=args.config, settings=dict(cfg, **COMMON), seed=args.seed, dev_seed=args.dev_seed,
                  dev_speakers=dev_spk, best_epoch=best_epoch, history=hist,
                  sizes=dict(train_frames=len(train["y"]), dev_frames=len(dev["y"]), heldout_frames=len(held["y"])))
    for name, split in (("dev", dev), ("heldout", held)):
        post = head.posteriors(head.standardise(split["x"]), neighbours(split["meta"], cfg["context"]))
        r = metrics(split["y"], post, split["meta"])
        r["by_copy"] = breakdown(split["y"], post, split["meta"], lambda m: "augmented" if m["augment"] else "clean")
        r["by_speaker"] = breakdown(split["y"], post, split["meta"],
                                    lambda m: f"{m['voice']}+{m['variant']}" if m["variant"] else m["voice"])
        log(fmt_metrics(name, r))
        log(f"  clean/augmented: {r['by_copy']}")
        log(f"  by speaker: {r['by_speaker']}")
        # The product's temporal decoding (Rust defaults), for reference.
        starts = utterance_starts(split["meta"])
        dec = np.concatenate([decode_labels(post[starts[k]:starts[k + 1]]) for k in range(len(split["meta"]))])
        rd = metrics(split["y"], np.eye(NV, dtype=np.float32)[dec], split["meta"])
        rd.pop("confusion")
        r["decoded"] = rd
        log(fmt_metrics(name + " (decoded)", rd).split("\n")[0])
        report[name] = r

    tensors = head.tensors()
    meta = {"context": cfg["context"], "visemes": " ".join(VISEMES), "trainer": "tools/train_visemes.py",
            "config": args.config, "seed": args.seed, "features": "whisper tiny.en encoder, last layer, 50 Hz"}
    write_safetensors(args.out, tensors, meta)
    # Self-check: the written file, read back as the eval predictor (and the
    # Rust loader) reads it, gives the same posteriors.
    tensors_back, meta_back = load_head(args.out)
    starts = utterance_starts(held["meta"])
    k = slice(starts[0], starts[1])
    again = head_posteriors(held["x"][k], tensors_back, int(meta_back["context"]))
    direct = head.posteriors(head.standardise(held["x"][k]), neighbours(held["meta"][:1], cfg["context"]))
    diff = float(np.abs(again - direct).max())
    log(f"  file read back: max posterior difference {diff:.2e}")
    assert diff < 1e-4, diff
    size = os.path.getsize(args.out)
    report["file"] = dict(path=str(args.out), bytes=size, sha256=sha256_file(args.out))
    log(f"wrote {args.out}: {size} bytes, sha256 {report['file']['sha256']}")
    report["wall_seconds"] = round(time.time() - t_start)
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1))
    log(f"total {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
