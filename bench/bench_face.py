#!/usr/bin/env python3
"""Face analysis speed: VoxPortrait's Rust pipeline against LiteRT running
the same MediaPipe tflite networks on the same inputs, in one run.

What is timed, per image (the images of ``tests/data/face/reference_landmarks.json``,
decoded once beforehand with ``voxportrait.load_image``, so decoding is
excluded on both sides):

* **ours**: ``voxportrait.analyze_face(rgb, iris=False)``: short-range detector on the
  letterboxed image (the full-range one too when it finds nothing), NMS,
  rotated ROI, one 468-point mesh pass, head-pose fit (MediaPipe's static
  image mode). Everything is inside the timed call: crops, decoding of the
  network outputs, the pose fit, the Python binding.
* **LiteRT**: ``ai_edge_litert.interpreter.Interpreter(model_path=...,
  num_threads=2)`` running the original ``face_detection_short_range.tflite``
  (and the dense ``face_detection_full_range.tflite`` when ours needed it) and
  ``face_landmark.tflite`` on the same image, the same way: the same
  detector invocations and one mesh invocation per image. Crops, anchor
  decoding, NMS and ROI are done here in numpy, exactly as MediaPipe does
  them (the landmarks are checked against ours, so both sides provably do
  the same work). Two LiteRT figures are printed:
    - **networks only**: ``set_tensor`` + ``invoke`` + ``get_tensor`` of each
      network: LiteRT's pure inference cost. The headline ratio
      ours / LiteRT uses this, so it is *conservative*: our time includes
      preprocessing, post-processing and the pose fit, LiteRT's does not.
    - **with numpy pre/post**: the whole LiteRT-side pipeline (numpy crops
      are slower than Rust ones, so this flatters us; shown for scale).
  Per-network LiteRT times are printed too. Per-network times of our candle
  networks come from the Rust test
  ``cargo test --release -p voxportrait-core face_forward_times -- --ignored --nocapture``,
  and per-stage times of ours (crops, networks, pose) on these images from
  ``analyze_stage_times`` (same command).

Medians over ``--rounds`` interleaved rounds (ours, then LiteRT, per image)
after a warm-up, so both sides see the same machine load. On a busy machine
use ``--rounds 50`` and run it several times: the ratio moves with the load
(LiteRT's two threads scale better than ours, so it is higher on a quiet
machine; see the README's face analysis section).

Environment: the project package plus ``ai-edge-litert`` (never a project
dependency). Without touching the project venv (the second line fetches the
npm package into /tmp)::

    .venv/bin/pip install --target /tmp/litert-site --no-deps ai-edge-litert==2.3.0
    (cd /tmp && npm pack @mediapipe/face_detection@0.4.1657300184)
    RAYON_NUM_THREADS=2 PYTHONPATH=/tmp/litert-site .venv/bin/python bench/bench_face.py \\
        --mediapipe /work/devenv/lib/python3.11/site-packages/mediapipe \\
        --npm-face-detection /tmp/mediapipe-face_detection-0.4.1657300184.tgz --rounds 50

``--mediapipe`` is the PyPI ``mediapipe==0.10.21`` wheel or its installed
package folder (``pip download --no-deps mediapipe==0.10.21``), for the
short-range detector and the mesh; ``--npm-face-detection`` is npm
``@mediapipe/face_detection@0.4.1657300184`` (``npm pack``), for the dense
full-range detector (optional: without it, images that need the full-range
fallback are left out of the comparison). The files are checked against the
sha256 sums ``tools/convert_mediapipe.py`` pins. When ai-edge-litert or the
models are missing the script says so and prints our times only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import voxportrait

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "face" / "reference_landmarks.json"


# --------------------------------------------------------------------------
# MediaPipe's pipeline in numpy around LiteRT


def _anchors(strides, per_cell, size):
    out = []
    i = 0
    while i < len(strides):
        stride, same = strides[i], 0
        while i < len(strides) and strides[i] == stride:
            same += 1
            i += 1
        cells = -(-size // stride)
        for y in range(cells):
            for x in range(cells):
                out.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * (same * per_cell))
    return np.asarray(out, np.float32)


DETECTORS = {
    # name: input size, anchors, default min score
    "short": (128, _anchors([8, 16, 16, 16], 2, 128), 0.5),
    "full": (192, _anchors([4], 1, 192), 0.6),
}


def crop(img: np.ndarray, cx, cy, w, h, rot, size, lo, hi, zero_border):
    """MediaPipe's ImageToTensor on the CPU (OpenCV warpPerspective of the
    8-bit image, INTER_LINEAR): output pixel (u, v) samples the rect point
    (u/size, v/size) from its top-left corner, pixel centres at integers,
    rounded to 8 bits, then mapped to [lo, hi]. NHWC float32."""
    H, W = img.shape[:2]
    t = np.arange(size, dtype=np.float32) / size - 0.5
    nx, ny = np.meshgrid(t * w, t * h)
    c, s = math.cos(rot), math.sin(rot)
    X = cx + c * nx - s * ny
    Y = cy + s * nx + c * ny
    x0 = np.floor(X).astype(np.int64)
    y0 = np.floor(Y).astype(np.int64)
    tx = (X - x0)[..., None]
    ty = (Y - y0)[..., None]

    def fetch(xi, yi):
        v = img[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)].astype(np.float32)
        if zero_border:
            v *= ((xi >= 0) & (yi >= 0) & (xi < W) & (yi < H))[..., None]
        return v

    a, b = fetch(x0, y0), fetch(x0 + 1, y0)
    cc, d = fetch(x0, y0 + 1), fetch(x0 + 1, y0 + 1)
    top = a + (b - a) * tx
    out = np.round(top + (cc + (d - cc) * tx - top) * ty)
    return (out * ((hi - lo) / 255.0) + lo)[None].astype(np.float32)


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def weighted_nms(dets, threshold=0.3):
    dets = sorted(dets, key=lambda d: -d[2])
    out = []
    while dets:
        best = dets[0]
        group = [d for d in dets if _iou(d[0], best[0]) > threshold]
        rest = [d for d in dets if _iou(d[0], best[0]) <= threshold]
        total = sum(d[2] for d in group)
        box = sum(d[0] * d[2] for d in group) / total
        kps = sum(d[1] * d[2] for d in group) / total
        out.append((box, kps, best[2]))
        if len(rest) == len(dets):
            break
        dets = rest
    return out


class LiteRtFace:
    """Detector + one mesh pass with LiteRT, MediaPipe's pre/post-processing
    in numpy. ``analyze`` returns the landmarks of the largest face and the
    time spent in each network (seconds)."""

    def __init__(self, model_paths: dict, threads: int):
        from ai_edge_litert.interpreter import Interpreter

        self.nets = {}
        for name, path in model_paths.items():
            it = Interpreter(model_path=str(path), num_threads=threads)
            it.allocate_tensors()
            inp = it.get_input_details()[0]["index"]
            outs = [d["index"] for d in it.get_output_details()]
            self.nets[name] = (it, inp, outs)

    def invoke(self, name, x, timings):
        it, inp, outs = self.nets[name]
        t = time.perf_counter()
        it.set_tensor(inp, x)
        it.invoke()
        result = [it.get_tensor(o) for o in outs]
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t
        return result

    def detect(self, img, kind, timings):
        size, anchors, min_score = DETECTORS[kind]
        H, W = img.shape[:2]
        side = max(W, H)
        x = crop(img, W / 2, H / 2, side, side, 0.0, size, -1.0, 1.0, True)
        reg, cls = self.invoke(kind, x, timings)
        reg, logits = reg[0], cls[0, :, 0]
        score = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100, 100)))
        dets = []
        for i in np.nonzero(score >= min_score)[0]:
            r, a = reg[i] / size, anchors[i]
            cx, cy = r[0] + a[0], r[1] + a[1]
            box = np.array([cx - r[2] / 2, cy - r[3] / 2, cx + r[2] / 2, cy + r[3] / 2])
            kps = r[4:16].reshape(6, 2) + a
            dets.append((box, kps, float(score[i])))
        corner = np.array([W / 2 - side / 2, H / 2 - side / 2])
        return [(box * side + np.tile(corner, 2), kps * side + corner, s)
                for box, kps, s in weighted_nms(dets)]

    def analyze(self, img):
        timings = {}
        t0 = time.perf_counter()
        dets = self.detect(img, "short", timings)
        if not dets and "full" in self.nets:
            dets = self.detect(img, "full", timings)
        if not dets:
            return None, timings, time.perf_counter() - t0
        box, kps, _ = max(dets, key=lambda d: (d[0][2] - d[0][0]) * (d[0][3] - d[0][1]))
        (rx, ry), (lx, ly) = kps[0], kps[1]
        angle = -math.atan2(-(ly - ry), lx - rx)
        rot = angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
        side = 1.5 * max(box[2] - box[0], box[3] - box[1])
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        x = crop(img, cx, cy, side, side, rot, 192, 0.0, 1.0, False)
        raw, _flag = self.invoke("mesh", x, timings)
        p = raw.reshape(-1, 3)[:, :2] / 192 - 0.5
        c, s = math.cos(rot), math.sin(rot)
        lm = np.stack([cx + (c * p[:, 0] - s * p[:, 1]) * side,
                       cy + (s * p[:, 0] + c * p[:, 1]) * side], axis=1)
        return lm, timings, time.perf_counter() - t0


# The tflite files, where they are and their sha256 (as tools/convert_mediapipe.py pins them).
MODELS = {
    "short": ("wheel", "mediapipe/modules/face_detection/face_detection_short_range.tflite",
              "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"),
    "mesh": ("wheel", "mediapipe/modules/face_landmark/face_landmark.tflite",
             "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"),
    "full": ("npm", "package/face_detection_full_range.tflite",
             "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"),
}


def _read(source: Path, member: str) -> bytes:
    """``member`` from a wheel / tarball, or from a folder holding it (the
    package folder itself, its parent, or the file name directly)."""
    import tarfile
    import zipfile

    if source.is_dir():
        parts = member.split("/")
        for k in range(len(parts)):
            candidate = source.joinpath(*parts[k:])
            if candidate.is_file():
                return candidate.read_bytes()
        raise FileNotFoundError(f"{member} not found under {source}")
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            return zf.read(member)
    with tarfile.open(source, "r:gz") as tf:
        return tf.extractfile(member).read()


def litert_models(args, folder: Path):
    """{network: tflite path} from the MediaPipe wheel / npm package, checked
    against the pinned sha256 sums; or None and the reason why not."""
    import hashlib

    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except ImportError:
        return None, "ai-edge-litert is not installed here (see this script's docstring)"
    if args.mediapipe is None:
        return None, "no --mediapipe wheel or package folder given (the tflite models)"
    paths = {}
    for name, (origin, member, sha256) in MODELS.items():
        source = args.mediapipe if origin == "wheel" else args.npm_face_detection
        if source is None:
            continue
        try:
            data = _read(source, member)
        except (OSError, KeyError) as e:
            return None, f"cannot read {member} from {source}: {e}"
        if hashlib.sha256(data).hexdigest() != sha256:
            return None, f"{member} in {source} does not match the pinned sha256 (another release?)"
        paths[name] = folder / Path(member).name
        paths[name].write_bytes(data)
    return paths, None


# --------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mediapipe", type=Path, help="mediapipe 0.10.21 wheel or package folder")
    parser.add_argument("--npm-face-detection", type=Path, help="npm @mediapipe/face_detection .tgz or folder")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2, help="LiteRT num_threads (default 2)")
    args = parser.parse_args()

    entries = json.loads(REFERENCE.read_text())["images"]
    images = [(Path(e["file"]).name, voxportrait.load_image(ROOT / e["file"])) for e in entries]
    print(f"voxportrait {voxportrait.__version__}, {os.cpu_count()} CPUs, "
          f"{len(images)} images, median of {args.rounds} rounds")

    with tempfile.TemporaryDirectory() as tmp:
        paths, why = litert_models(args, Path(tmp))
        litert = LiteRtFace(paths, args.threads) if paths else None
        if litert is None:
            print(f"LiteRT: not compared: {why}")
        else:
            import ai_edge_litert

            print(f"LiteRT: ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}, "
                  f"num_threads={args.threads}; networks: {', '.join(sorted(paths))}")

        # Which images both sides can run the same way (full-range needs the npm model).
        usable = []
        for name, rgb in images:
            face = voxportrait.analyze_face(rgb, iris=False)
            row = {"name": name, "rgb": rgb, "ours": [], "lt_total": [], "lt_nets": [], "per_net": {}}
            if litert is not None:
                lm, timings, _ = litert.analyze(rgb)
                if lm is None:
                    row["skip"] = "LiteRT side lacks the full-range model (--npm-face-detection)"
                else:
                    d = np.linalg.norm(lm - face.landmarks[:, :2], axis=1).mean()
                    row["agree"] = 100 * d / face.interocular
                    row["nets_used"] = "+".join(sorted(timings))
            usable.append(row)

        for _ in range(2):  # warm-up
            for row in usable:
                voxportrait.analyze_face(row["rgb"], iris=False)
                if litert is not None and "skip" not in row:
                    litert.analyze(row["rgb"])
        for _ in range(args.rounds):
            for row in usable:
                t = time.perf_counter()
                voxportrait.analyze_face(row["rgb"], iris=False)
                row["ours"].append(time.perf_counter() - t)
                if litert is not None and "skip" not in row:
                    _, timings, total = litert.analyze(row["rgb"])
                    row["lt_total"].append(total)
                    row["lt_nets"].append(sum(timings.values()))
                    for k, v in timings.items():
                        row["per_net"].setdefault(k, []).append(v)

    med = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
    print()
    if litert is None:
        print(f"{'image':22s} {'size':>10s} {'ours ms':>8s}")
        for row in usable:
            h, w = row["rgb"].shape[:2]
            print(f"{row['name']:22s} {w:>4d}x{h:<5d} {med(row['ours']):8.2f}")
        print(f"{'total':22s} {'':10s} {sum(med(r['ours']) for r in usable):8.2f}")
        return 0

    print(f"{'image':22s} {'size':>10s} {'ours ms':>8s} {'LiteRT nets':>11s} {'LiteRT+numpy':>12s} "
          f"{'ours/nets':>9s}  networks       landmarks ours vs LiteRT")
    sums = {"ours": 0.0, "nets": 0.0, "total": 0.0}
    per_net = {}
    for row in usable:
        h, w = row["rgb"].shape[:2]
        if "skip" in row:
            print(f"{row['name']:22s} {w:>4d}x{h:<5d} {med(row['ours']):8.2f}  (not compared: {row['skip']})")
            continue
        o, n, t = med(row["ours"]), med(row["lt_nets"]), med(row["lt_total"])
        sums["ours"] += o
        sums["nets"] += n
        sums["total"] += t
        for k, v in row["per_net"].items():
            per_net.setdefault(k, []).extend(v)
        print(f"{row['name']:22s} {w:>4d}x{h:<5d} {o:8.2f} {n:11.2f} {t:12.2f} {o / n:9.2f}  "
              f"{row['nets_used']:14s} {row['agree']:.3f} % of eye distance")
    print(f"{'total (compared)':22s} {'':10s} {sums['ours']:8.2f} {sums['nets']:11.2f} {sums['total']:12.2f} "
          f"{sums['ours'] / sums['nets']:9.2f}")
    print()
    print("LiteRT per network (median per invocation): " + ", ".join(
        f"{k} {med(v):.2f} ms" for k, v in sorted(per_net.items())))
    print(f"ratio ours / LiteRT: {sums['ours'] / sums['nets']:.2f} against LiteRT's networks only "
          f"(conservative), {sums['ours'] / sums['total']:.2f} against LiteRT with numpy pre/post-processing")
    return 0


if __name__ == "__main__":
    sys.exit(main())
