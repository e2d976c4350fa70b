#!/usr/bin/env python3
"""Evaluate a viseme predictor on real recorded speech.

Ground truth: tools/eval/data/real_speech.json (pocketsphinx forced alignment
of hand-checked transcripts, 15 visemes at 50 Hz; see make_real_alignments.py
and README.md).  This set is for measuring only: never tune on it.

Predictors (--predictor):
  energy            built-in floor: a frame is "aa" when its energy is within
                    30 dB of the clip's loud frames (99th percentile), else sil.
  rhubarb           Rhubarb Lip Sync, phonetic recogniser (cached outputs in
                    data/rhubarb/, or the binary when given); shapes mapped back
                    to one representative viseme each (visemes.RHUBARB_TO_VISEME:
                    X sil, A PP, B nn, C E, D aa, E oh, F ou, G FF, H nn), so its
                    15-class score is a lower bound; the shape scores are fair.
  rhubarb-dialog    the same with Rhubarb's pocketsphinx recogniser given the
                    transcript (not independent of the ground truth's aligner).
  oracle            the ground truth itself (self-check: 100 % by construction;
                    its Rhubarb columns show the ceiling of agreement).
  MODULE:FUNCTION   any callable f(samples_16k: float32 ndarray) returning int
  FILE.py:FUNCTION  labels per 50 Hz frame [T] or posteriors/scores [T, 15]
                    (argmax is taken).  Frame i = [20i, 20i+20) ms.  A length
                    off by a few frames is cut or padded with sil (noted).

Metrics, per clip, per group (speaker/corpus) and pooled over all frames:
  acc        frame accuracy over the 15 visemes
  acc_tol1   a frame counts as right when the prediction equals the ground
             truth at i-1, i or i+1 (boundary tolerance of one frame)
  acc_speech accuracy on frames whose ground truth is not sil
  bal_acc    mean per-viseme recall over the visemes present
  pp_hit     bilabial closure hit rate: of the ground-truth PP segments
             (p b m, adjacent ones merged), the fraction where the
             prediction has PP somewhere in the segment's frames +-1 frame
  pp_prec / pp_rec / pp_f1   PP at frame level
  per-viseme recall/precision and the confusion matrix
  Rhubarb shapes: prediction and ground truth mapped to Rhubarb shapes
  (visemes.VISEME_TO_RHUBARB; Rhubarb's H counted as B) and compared with
  Rhubarb's own cues: shape_acc (prediction vs ground truth),
  agree_rh_phonetic / agree_rh_dialog (prediction vs Rhubarb), and
  rh_phonetic_vs_gt / rh_dialog_vs_gt (Rhubarb vs ground truth), so the
  agreement numbers can be read against how well Rhubarb itself does.

Usage:
  python tools/eval/eval_visemes.py --predictor energy
  python tools/eval/eval_visemes.py --predictor rhubarb --json /tmp/rh.json
  python tools/eval/eval_visemes.py --predictor mypkg.visemes:predict --json out.json
Options: --gt PATH, --clips id,..., --groups g,..., --rhubarb PATH (run the
binary for clips missing from the cache), --no-rhubarb (skip the Rhubarb
columns), --quiet (no per-clip lines).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import visemes as V  # noqa: E402
import rhubarb_cache as RC  # noqa: E402

GT = os.path.join(HERE, "data", "real_speech.json")
NV = len(V.VISEMES)
RH_MODES = ("phonetic", "dialog")
# Diagnostic: accuracy with the prediction shifted by these many frames
# (positive = prediction delayed, i.e. pred[i - lag] scored against gt[i]).
# A peak away from 0 means a timing offset in the predictor's pipeline.
LAGS = tuple(range(-4, 5))


# ---------------------------------------------------------------------------
# Predictors
# ---------------------------------------------------------------------------
ENERGY_RANGE_DB = 30.0


def energy_predictor(x: np.ndarray) -> np.ndarray:
    """Floor baseline: sil vs aa from frame energy (20 ms frames, 20 ms
    windows).  A frame is speech when its energy is within ENERGY_RANGE_DB of
    the clip's 99th-percentile frame energy.  Fixed rule, not fitted."""
    n = V.n_frames(len(x))
    hop = V.SAMPLES_PER_FRAME
    xp = np.pad(x.astype(np.float64), (0, n * hop + hop - len(x)))
    frames = xp[: n * hop].reshape(n, hop)
    db = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-10)
    ref = np.percentile(db, 99) if n else 0.0
    return np.where(db > ref - ENERGY_RANGE_DB, V.VISEME_INDEX["aa"], V.SIL).astype(np.int64)


class RhubarbSource:
    """Rhubarb cues for a clip: from the cache, else from the binary (if any)."""

    def __init__(self, exe: str | None, cache_dir: str = RC.CACHE, allow: bool = True):
        self.exe = exe
        self.cache_dir = cache_dir
        self.allow = allow
        self.notes: list[str] = []
        self.runtime: dict[str, list[float]] = {m: [] for m in RH_MODES}

    def cues(self, clip, mode: str, x: np.ndarray | None):
        if not self.allow:
            return None
        rec = RC.load_cached(clip["id"], mode, self.cache_dir)
        if rec is not None:
            if clip.get("source_sha256") and rec.get("source_sha256") not in (None, clip["source_sha256"]):
                self.notes.append(f"{clip['id']}: Rhubarb cache ({mode}) is for different audio; ignored")
            else:
                if rec.get("runtime_s") is not None:
                    self.runtime[mode].append(rec["runtime_s"] / max(clip["duration_s"], 1e-9))
                return rec["mouthCues"]
        if self.exe is None or x is None:
            self.notes.append(f"{clip['id']}: no Rhubarb {mode} output (no cache, no binary)")
            return None
        try:
            cues, dt, _ = RC.run_rhubarb(self.exe, x, clip["transcript"], mode)
        except Exception as e:  # noqa: BLE001 - a failing external tool is a note
            self.notes.append(f"{clip['id']}: Rhubarb {mode} failed: {e}")
            return None
        self.runtime[mode].append(dt / max(clip["duration_s"], 1e-9))
        return cues


def load_callable(spec: str):
    mod_name, _, fn_name = spec.rpartition(":")
    if not mod_name or not fn_name:
        raise SystemExit(f"--predictor {spec!r}: expected MODULE:FUNCTION or FILE.py:FUNCTION")
    if mod_name.endswith(".py") or os.path.sep in mod_name:
        path = os.path.abspath(mod_name)
        spec_ = importlib.util.spec_from_file_location(
            os.path.splitext(os.path.basename(path))[0], path)
        mod = importlib.util.module_from_spec(spec_)
        sys.path.insert(0, os.path.dirname(path))
        spec_.loader.exec_module(mod)
    else:
        sys.path.insert(0, os.getcwd())
        mod = importlib.import_module(mod_name)
    fn = getattr(mod, fn_name)
    if not callable(fn):
        raise SystemExit(f"{spec} is not callable")
    return fn


def to_labels(out, n: int, clip_id: str, notes: list[str]) -> np.ndarray:
    """Predictor output -> n int labels (argmax of [T, 15]; length fixed)."""
    a = np.asarray(out)
    if a.ndim == 2:
        if a.shape[1] != NV:
            raise ValueError(f"{clip_id}: posteriors must be [T, {NV}], got {a.shape}")
        a = a.argmax(axis=1)
    elif a.ndim != 1:
        raise ValueError(f"{clip_id}: predictor output must be [T] or [T, {NV}], got {a.shape}")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or a.max() >= NV):
        raise ValueError(f"{clip_id}: labels out of range 0..{NV - 1}")
    if len(a) != n:
        if abs(len(a) - n) > 2:
            notes.append(f"{clip_id}: predictor gave {len(a)} frames for {n}; cut/padded with sil")
        a = a[:n] if len(a) > n else np.concatenate([a, np.full(n - len(a), V.SIL)])
    return a


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------
def pp_segments(clip, n: int):
    """Ground-truth PP segments as frame ranges [a, b) (adjacent merged).

    From the phone-level viseme segments, so a PP shorter than a frame still
    counts; its frames are those overlapping it."""
    segs = []
    for t0, t1, v in clip["visemes"]:
        if v != "PP":
            continue
        a = int(np.floor(t0 * 1000 / V.FRAME_MS + 1e-9))
        b = int(np.ceil(t1 * 1000 / V.FRAME_MS - 1e-9))
        a, b = max(a, 0), min(max(b, a + 1), n)
        if b <= a:
            continue
        if segs and a <= segs[-1][1]:
            segs[-1][1] = max(segs[-1][1], b)
        else:
            segs.append([a, b])
    return segs


def tolerant_hits(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    ok = pred == gt
    ok[1:] |= pred[1:] == gt[:-1]
    ok[:-1] |= pred[:-1] == gt[1:]
    return ok


class Acc:
    """Accumulates counts for a set of clips."""

    def __init__(self):
        self.n = 0
        self.correct = 0
        self.correct_tol = 0
        self.n_speech = 0
        self.correct_speech = 0
        self.conf = np.zeros((NV, NV), dtype=np.int64)
        self.pp_segments = 0
        self.pp_hits = 0
        self.shape_n = 0
        self.shape_correct = 0
        self.shape_correct_tol = 0
        self.rh = {m: {"n": 0, "agree": 0, "rh_vs_gt": 0, "rh_vs_gt_tol": 0, "agree_tol": 0}
                   for m in RH_MODES}
        self.seconds = 0.0
        self.pred_seconds = 0.0
        self.lag_correct = np.zeros(len(LAGS), dtype=np.int64)
        self.lag_n = np.zeros(len(LAGS), dtype=np.int64)

    def add(self, other: "Acc"):
        for k, v in vars(other).items():
            if k in ("lag_correct", "lag_n"):
                setattr(self, k, getattr(self, k) + v)
            elif k == "rh":
                for m in RH_MODES:
                    for kk, vv in v[m].items():
                        self.rh[m][kk] += vv
            else:
                setattr(self, k, getattr(self, k) + v)

    def summary(self) -> dict:
        d = {}
        n = max(self.n, 1)
        d["frames"] = int(self.n)
        d["seconds"] = round(self.seconds, 2)
        d["acc"] = self.correct / n
        d["acc_tol1"] = self.correct_tol / n
        d["acc_speech"] = self.correct_speech / max(self.n_speech, 1)
        sup = self.conf.sum(axis=1)
        rec = np.where(sup > 0, np.diag(self.conf) / np.maximum(sup, 1), np.nan)
        d["bal_acc"] = float(np.nanmean(rec)) if np.any(sup > 0) else float("nan")
        d["pp_segments"] = int(self.pp_segments)
        d["pp_hit"] = self.pp_hits / self.pp_segments if self.pp_segments else float("nan")
        tp = self.conf[V.PP, V.PP]
        pred_pp = self.conf[:, V.PP].sum()
        gt_pp = self.conf[V.PP, :].sum()
        d["pp_prec"] = tp / pred_pp if pred_pp else float("nan")
        d["pp_rec"] = tp / gt_pp if gt_pp else float("nan")
        p, r = d["pp_prec"], d["pp_rec"]
        d["pp_f1"] = 2 * p * r / (p + r) if pred_pp and gt_pp and (p + r) > 0 else float("nan")
        d["shape_acc"] = self.shape_correct / max(self.shape_n, 1)
        d["shape_acc_tol1"] = self.shape_correct_tol / max(self.shape_n, 1)
        for m in RH_MODES:
            r_ = self.rh[m]
            if r_["n"]:
                d[f"agree_rh_{m}"] = r_["agree"] / r_["n"]
                d[f"agree_rh_{m}_tol1"] = r_["agree_tol"] / r_["n"]
                d[f"rh_{m}_vs_gt"] = r_["rh_vs_gt"] / r_["n"]
                d[f"rh_{m}_vs_gt_tol1"] = r_["rh_vs_gt_tol"] / r_["n"]
                d[f"rh_{m}_frames"] = int(r_["n"])
        if self.pred_seconds and self.seconds:
            d["predictor_x_realtime"] = self.seconds / self.pred_seconds
        if self.lag_n.sum():
            d["acc_by_lag"] = {str(l): round(float(c / max(n_, 1)), 4)
                               for l, c, n_ in zip(LAGS, self.lag_correct, self.lag_n)}
        def clean(v):
            if isinstance(v, (float, np.floating)):
                return None if np.isnan(v) else round(float(v), 4)
            return v
        return {k: clean(v) for k, v in d.items()}


def score_clip(clip, gt: np.ndarray, pred: np.ndarray, rh_shapes: dict) -> Acc:
    a = Acc()
    n = len(gt)
    a.n = n
    a.seconds = clip["duration_s"]
    a.correct = int((pred == gt).sum())
    a.correct_tol = int(tolerant_hits(pred, gt).sum())
    sp = gt != V.SIL
    a.n_speech = int(sp.sum())
    a.correct_speech = int((pred[sp] == gt[sp]).sum())
    np.add.at(a.conf, (gt, pred), 1)
    for k, lag in enumerate(LAGS):
        if lag >= 0:
            p_, g_ = pred[:n - lag], gt[lag:]
        else:
            p_, g_ = pred[-lag:], gt[:n + lag]
        a.lag_correct[k] = int((p_ == g_).sum())
        a.lag_n[k] = len(g_)
    for s, e in pp_segments(clip, n):
        a.pp_segments += 1
        if np.any(pred[max(s - 1, 0):min(e + 1, n)] == V.PP):
            a.pp_hits += 1
    gt_sh = V.visemes_to_shapes(gt)
    pr_sh = V.visemes_to_shapes(pred)
    a.shape_n = n
    a.shape_correct = int((gt_sh == pr_sh).sum())
    a.shape_correct_tol = int(tolerant_hits(pr_sh, gt_sh).sum())
    for m, rs in rh_shapes.items():
        if rs is None:
            continue
        r_ = a.rh[m]
        r_["n"] = n
        r_["agree"] = int((pr_sh == rs).sum())
        r_["agree_tol"] = int(tolerant_hits(pr_sh, rs).sum())
        r_["rh_vs_gt"] = int((rs == gt_sh).sum())
        r_["rh_vs_gt_tol"] = int(tolerant_hits(rs, gt_sh).sum())
    return a


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
def fmt(v, pct=True):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "  -  "
    return f"{100 * v:5.1f}" if pct else f"{v}"


def print_table(rows, have_rh, file=sys.stdout):
    cols = ["acc", "acc_tol1", "acc_speech", "bal_acc", "pp_hit", "pp_prec", "pp_rec",
            "shape_acc"]
    heads = ["acc", "acc±1", "speech", "bal", "PPhit", "PPprec", "PPrec", "shape"]
    for m in RH_MODES:
        if have_rh[m]:
            cols += [f"agree_rh_{m}", f"rh_{m}_vs_gt"]
            heads += ["~Rh" + m[:2], "Rh" + m[:2] + "/gt"]
    print(f"{'':36s} {'sec':>5s} " + " ".join(f"{h:>6s}" for h in heads), file=file)
    for name, s in rows:
        pp = f"{s['pp_segments']:3d}"
        cells = []
        for c in cols:
            cells.append(f"{fmt(s.get(c)):>6s}")
        print(f"{name[:36]:36s} {s['seconds']:5.1f} " + " ".join(cells) + f"  (PP segs {pp})",
              file=file)


def per_viseme(conf: np.ndarray) -> dict:
    out = {}
    sup = conf.sum(axis=1)
    pred_tot = conf.sum(axis=0)
    for i, v in enumerate(V.VISEMES):
        row = conf[i].copy()
        rec = row[i] / sup[i] if sup[i] else float("nan")
        prec = conf[i, i] / pred_tot[i] if pred_tot[i] else float("nan")
        row[i] = 0
        top = [(V.VISEMES[j], int(row[j])) for j in np.argsort(-row)[:3] if row[j] > 0]
        out[v] = {"support": int(sup[i]), "recall": None if np.isnan(rec) else round(float(rec), 4),
                  "precision": None if np.isnan(prec) else round(float(prec), 4),
                  "predicted": int(pred_tot[i]), "top_confusions": top}
    return out


def group_mean(summaries: list[dict]) -> dict:
    """Unweighted mean over groups (speakers/corpora) of each rate, so that
    the 58 s of one Asterisk voice does not dominate."""
    out = {}
    if not summaries:
        return out
    for k, v in summaries[0].items():
        if k in ("frames", "seconds", "pp_segments") or k.endswith("_frames") \
                or not isinstance(v, (float, int)) or k == "predictor_x_realtime":
            continue
        vals = [s.get(k) for s in summaries if s.get(k) is not None]
        if vals:
            out[k] = round(float(np.mean(vals)), 4)
    out["n_groups"] = len(summaries)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--predictor", default="energy")
    ap.add_argument("--gt", default=GT)
    ap.add_argument("--json", default=None, help="write the report as JSON here")
    ap.add_argument("--clips", default="")
    ap.add_argument("--groups", default="")
    ap.add_argument("--rhubarb", default=None,
                    help="rhubarb binary, used only for clips missing from the cache")
    ap.add_argument("--rhubarb-cache", default=RC.CACHE)
    ap.add_argument("--no-rhubarb", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    with open(args.gt) as f:
        gtdoc = json.load(f)
    clips = gtdoc["clips"]
    if args.clips:
        keep = set(args.clips.split(","))
        clips = [c for c in clips if c["id"] in keep]
    if args.groups:
        keep = set(args.groups.split(","))
        clips = [c for c in clips if c["group"] in keep]

    notes: list[str] = []
    exe = RC.find_rhubarb(args.rhubarb) if not args.no_rhubarb else None
    rh = RhubarbSource(exe, args.rhubarb_cache, allow=not args.no_rhubarb)

    pname = args.predictor
    oracle = pname == "oracle"
    if oracle:
        predict = None
    elif pname == "energy":
        predict = energy_predictor
    elif pname in ("rhubarb", "rhubarb-dialog"):
        mode = "phonetic" if pname == "rhubarb" else "dialog"
        table = {k: V.VISEME_INDEX[v] for k, v in V.RHUBARB_TO_VISEME.items()}
        predict = None  # handled per clip below
        # The predictor's own source of cues: cache first, then the binary
        # if one is found, even under --no-rhubarb (which only drops the
        # comparison columns).
        pred_src = RhubarbSource(exe if exe else RC.find_rhubarb(args.rhubarb),
                                 args.rhubarb_cache)

        def rhubarb_predict(clip, x, n, _mode=mode, _table=table):
            cues = pred_src.cues(clip, _mode, x)
            if cues is None:
                return None
            out = np.full(n, V.SIL, dtype=np.int64)
            centres = (np.arange(n) * V.FRAME_MS + V.FRAME_MS / 2) / 1000.0
            for c in cues:
                m = (centres >= c["start"] - 1e-9) & (centres < c["end"] - 1e-9)
                out[m] = _table[c["value"]]
            return out
    else:
        predict = load_callable(pname)

    per_clip = []
    total = Acc()
    groups: dict[str, Acc] = {}
    have_rh = {m: False for m in RH_MODES}
    for clip in clips:
        gt = np.asarray(clip["labels"], dtype=np.int64)
        n = len(gt)
        try:
            x = V.load_audio(clip["source"])
        except Exception as e:  # noqa: BLE001 - a missing package skips the clip
            notes.append(f"{clip['id']}: audio unavailable ({type(e).__name__}: {e}); skipped")
            continue
        if V.n_frames(len(x)) != n:
            notes.append(f"{clip['id']}: audio length differs from the ground truth "
                         f"({V.n_frames(len(x))} vs {n} frames); skipped")
            continue
        t0 = time.perf_counter()
        if oracle:
            pred = gt.copy()
        elif predict is None:
            pred = rhubarb_predict(clip, x, n)
            if pred is None:
                notes.append(f"{clip['id']}: no Rhubarb output; skipped")
                continue
        else:
            pred = to_labels(predict(x.astype(np.float32)), n, clip["id"], notes)
        dt = time.perf_counter() - t0
        rh_shapes = {}
        for m in RH_MODES:
            cues = rh.cues(clip, m, x)
            rh_shapes[m] = None if cues is None else V.shape_cues_to_frames(cues, n)
            have_rh[m] |= cues is not None
        a = score_clip(clip, gt, pred, rh_shapes)
        if predict is not None:
            a.pred_seconds = dt
        total.add(a)
        groups.setdefault(clip["group"], Acc()).add(a)
        s = a.summary()
        s["id"] = clip["id"]
        s["group"] = clip["group"]
        per_clip.append(s)

    for m in RH_MODES:
        if have_rh[m]:
            notes += [s_ for s_ in rh.notes if f" {m} " in s_ or "different audio" in s_]
        elif not args.no_rhubarb:
            notes.append(f"Rhubarb {m} columns skipped: no cached outputs "
                         f"({args.rhubarb_cache}) and no rhubarb binary")
    if not per_clip:
        notes.append("no clip could be scored")

    overall = total.summary()
    report = {
        "predictor": pname,
        "ground_truth": os.path.relpath(args.gt, os.getcwd()),
        "n_clips": len(per_clip),
        "total_seconds": overall["seconds"],
        "overall": overall,
        "groups": {g: acc.summary() for g, acc in sorted(groups.items())},
        "group_mean": group_mean([acc.summary() for acc in groups.values()]),
        "per_viseme": per_viseme(total.conf),
        "confusion": {"labels": V.VISEMES, "rows_gt_cols_pred": total.conf.tolist()},
        "clips": per_clip,
        "rhubarb_x_realtime": {m: round(1 / float(np.mean(v)), 3) for m, v in rh.runtime.items() if v},
        "notes": sorted(set(notes)),
        "definitions": {
            "frames": "50 Hz; frame i covers [20i,20i+20) ms, labelled by the phone at 20i+10 ms",
            "acc_tol1": "prediction equals ground truth at i-1, i or i+1",
            "acc_speech": "accuracy on frames whose ground truth is not sil",
            "bal_acc": "mean per-viseme recall over visemes present",
            "pp_hit": "fraction of ground-truth PP segments (adjacent merged) with a predicted PP "
                      "within the segment +-1 frame",
            "shape_acc": "prediction vs ground truth after mapping both to Rhubarb shapes",
            "agree_rh_MODE": "prediction (as shapes) vs Rhubarb MODE's shapes (H counted as B)",
            "rh_MODE_vs_gt": "Rhubarb MODE's shapes vs ground truth mapped to shapes",
            "viseme_to_rhubarb": V.VISEME_TO_RHUBARB,
        },
    }

    print(f"predictor: {pname}   ground truth: {report['ground_truth']}   "
          f"{len(per_clip)} clips, {overall['seconds']:.1f} s")
    if not args.quiet:
        print_table([(s["id"], s) for s in per_clip], have_rh)
        print()
    gm = dict(report["group_mean"], seconds=overall["seconds"],
              pp_segments=overall["pp_segments"])
    print_table([(f"group {g}", s) for g, s in report["groups"].items()]
                + [("MEAN OVER GROUPS", gm), ("OVERALL (pooled frames)", overall)], have_rh)
    print("\nper-viseme recall (support = ground-truth frames):")
    for v, d in report["per_viseme"].items():
        conf_s = ", ".join(f"{k} {c}" for k, c in d["top_confusions"])
        print(f"  {v:4s} support {d['support']:5d}  recall {fmt(d['recall'])}  "
              f"precision {fmt(d['precision'])}  (predicted {d['predicted']:5d})  "
              f"confused with: {conf_s}")
    print("\nsummary:")
    keys = ["acc", "acc_tol1", "acc_speech", "bal_acc", "pp_hit", "pp_prec", "pp_rec",
            "pp_f1", "shape_acc"]
    for m in RH_MODES:
        if have_rh[m]:
            keys += [f"agree_rh_{m}", f"rh_{m}_vs_gt"]
    for k in keys:
        print(f"  {k:22s} {fmt(overall.get(k))}")
    if "acc_by_lag" in overall:
        lags = overall["acc_by_lag"]
        print("  acc by lag (frames)    " + "  ".join(f"{k}:{100 * v:.1f}" for k, v in lags.items()))
    if "predictor_x_realtime" in overall:
        print(f"  predictor speed        {overall['predictor_x_realtime']:.0f}x real time")
    for m, r in report["rhubarb_x_realtime"].items():
        print(f"  rhubarb {m} speed  {r:.2f}x real time (as timed when cached)")
    if report["notes"]:
        print("\nnotes:")
        for s in report["notes"]:
            print("  - " + s)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
        print(f"\nwrote {args.json}")
    return report


if __name__ == "__main__":
    main()
