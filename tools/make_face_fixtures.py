#!/usr/bin/env python3
"""Parity fixtures for the candle ports of MediaPipe's face networks.

Runs the *original* ``.tflite`` files in the reference runtime (LiteRT,
PyPI ``ai-edge-litert``) on small real inputs and writes, per network,
``tests/data/face/<net>_fixture.safetensors`` holding the input and LiteRT's
raw outputs. The Rust tests next to ``rust/voxportrait-core/src/face/*.rs``
run the converted weights on the same input and compare.

Inputs (three per network, batched in that order):

0. ``examples/portrait.png`` (public-domain NASA portrait);
1. ``tests/data/portrait_small.jpg`` (the same portrait, downscaled JPEG,
   framed differently);
2. ``skimage/data/camera.png`` from the PyPI ``scikit-image`` wheel (CC0, by
   Lav Varshney): a different person, grayscale, semi-profile, small in the
   frame.

Each is cropped (boxes in ``CROPS``; a face crop for FaceMesh, an eye crop
for the iris model, the right eye mirrored as MediaPipe does; the whole
frame or a loose head crop for the detectors) and resized with Pillow's
bilinear filter to the model's input size.

Fixture contents:

* ``input_u8`` uint8 ``[N, 3, S, S]`` (NCHW RGB) and the scalars
  ``input_scale``, ``input_offset`` (f32): the network input is
  ``input_u8 * input_scale + input_offset`` computed in f32 (``1/127.5, -1``
  for the detectors, ``1/255, 0`` for the landmark models). Storing the bytes
  instead of floats keeps each fixture < 400 KB; both sides compute the same
  f32 values bit for bit.
* the raw outputs, f32: detectors ``classifiers`` ``[N, A]`` (logits) and
  ``regressors`` ``[N, A, 16]`` (for the full-range model only the anchors
  listed in ``regressor_anchors``, uint32: the 32 best-scoring anchors of
  each image plus every 24th anchor, to stay under the size limit);
  FaceMesh ``landmarks`` ``[N, 1404]`` and ``face_flag`` ``[N]`` (logit);
  iris ``contours`` ``[N, 213]`` and ``iris`` ``[N, 15]``.

Licence: the fixtures derive from public-domain / CC0 images and from the
Apache-2.0 MediaPipe models; they are distributed under this repository's
licence (Apache-2.0).

Usage (dev environment, see ``tools/convert_mediapipe.py``)::

    /work/devenv/bin/pip install mediapipe==0.10.21 ai-edge-litert tflite \\
        flatbuffers numpy pillow scikit-image==0.26.0
    /work/devenv/bin/python tools/make_face_fixtures.py \\
        /work/devenv/lib/python3.11/site-packages/mediapipe \\
        --npm-face-detection mediapipe-face_detection-0.4.1657300184.tgz
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_mediapipe import SOURCES, read_source, write_safetensors  # noqa: E402

REPO = Path(__file__).resolve().parent.parent

# sha256 of skimage/data/camera.png in scikit-image 0.26.0.
CAMERA_SHA256 = "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"

# (left, top, right, bottom) boxes in source pixels, and whether to mirror.
CROPS = OrderedDict(
    [
        (
            "face_detection_short_range",
            [((0, 0, 512, 512), False), ((24, 40, 240, 256), False), ((90, 20, 350, 280), False)],
        ),
        (
            "face_detection_full_range",
            [((0, 0, 512, 512), False), ((0, 0, 256, 256), False), ((0, 0, 512, 512), False)],
        ),
        (
            "face_landmark",
            [((65, 90, 445, 470), False), ((40, 50, 220, 230), False), ((145, 73, 295, 223), False)],
        ),
        (
            # Eye crops. MediaPipe's iris model sees left eyes: the subject's
            # right eye (image left) is mirrored, as IrisLandmarkCpu does.
            "iris_landmark",
            [((152, 170, 242, 260), True), ((135, 89, 179, 133), False), ((207, 125, 247, 165), False)],
        ),
    ]
)

NORMALISATION = {
    "face_detection_short_range": (np.float32(1 / 127.5), np.float32(-1.0)),
    "face_detection_full_range": (np.float32(1 / 127.5), np.float32(-1.0)),
    "face_landmark": (np.float32(1 / 255), np.float32(0.0)),
    "iris_landmark": (np.float32(1 / 255), np.float32(0.0)),
}


def load_images(skimage_data: Path):
    cam = skimage_data / "camera.png"
    if hashlib.sha256(cam.read_bytes()).hexdigest() != CAMERA_SHA256:
        raise SystemExit(f"{cam}: not the scikit-image 0.26.0 camera.png")
    return [
        ("examples/portrait.png", Image.open(REPO / "examples/portrait.png").convert("RGB")),
        ("tests/data/portrait_small.jpg", Image.open(REPO / "tests/data/portrait_small.jpg").convert("RGB")),
        ("scikit-image 0.26.0:skimage/data/camera.png", Image.open(cam).convert("RGB")),
    ]


def make_inputs(net: str, images, size: int):
    batch = []
    for (name, img), (box, mirror) in zip(images, CROPS[net]):
        crop = img.crop(box).resize((size, size), Image.BILINEAR)
        if mirror:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        batch.append(np.asarray(crop, dtype=np.uint8).transpose(2, 0, 1))  # HWC -> CHW
    return np.stack(batch)


def run_litert(model_bytes: bytes, x_nchw: np.ndarray):
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
        f.write(model_bytes)
        f.flush()
        it = Interpreter(model_path=f.name, num_threads=1)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        outs = it.get_output_details()
        results = [[] for _ in outs]
        for x in x_nchw:
            it.set_tensor(inp["index"], x.transpose(1, 2, 0)[None])  # NCHW -> NHWC
            it.invoke()
            for k, o in enumerate(outs):
                results[k].append(it.get_tensor(o["index"])[0].copy())
        return {o["name"]: np.stack(r) for o, r in zip(outs, results)}


def bench_litert(args, threads: int, runs: int = 200):
    """Prints the median / min wall time of one LiteRT forward per network."""
    import time

    from ai_edge_litert.interpreter import Interpreter

    for net, spec in SOURCES.items():
        model = read_source(spec, args.mediapipe, args.npm_face_detection)
        with tempfile.NamedTemporaryFile(suffix=".tflite") as f:
            f.write(model)
            f.flush()
            it = Interpreter(model_path=f.name, num_threads=threads)
            it.allocate_tensors()
            inp = it.get_input_details()[0]
            it.set_tensor(inp["index"], np.random.default_rng(0).random(inp["shape"], dtype=np.float32))
            for _ in range(20):
                it.invoke()
            ts = []
            for _ in range(runs):
                t = time.perf_counter()
                it.invoke()
                ts.append((time.perf_counter() - t) * 1e3)
        print(f"LiteRT {net} ({threads} threads): median {np.median(ts):.3f} ms, min {min(ts):.3f} ms")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mediapipe", type=Path, help="mediapipe-0.10.21 wheel or installed package dir")
    ap.add_argument("--npm-face-detection", type=Path, required=True,
                    help="@mediapipe/face_detection@0.4.1657300184 .tgz or extracted dir")
    ap.add_argument("--out", type=Path, default=REPO / "tests/data/face")
    ap.add_argument("--bench-litert", type=int, metavar="THREADS", default=None,
                    help="only time LiteRT's single-image forward per network with THREADS threads "
                         "(compare: cargo test --release -p voxportrait-core face_forward_times "
                         "-- --ignored --nocapture)")
    args = ap.parse_args(argv)
    if args.bench_litert:
        return bench_litert(args, args.bench_litert)

    import skimage

    images = load_images(Path(skimage.__file__).parent / "data")
    args.out.mkdir(parents=True, exist_ok=True)
    import ai_edge_litert

    for net, spec in SOURCES.items():
        model = read_source(spec, args.mediapipe, args.npm_face_detection)
        if hashlib.sha256(model).hexdigest() != spec["sha256"]:
            raise SystemExit(f"{net}: unexpected tflite file")
        size = spec["input_size"]
        x_u8 = make_inputs(net, images, size)
        scale, offset = NORMALISATION[net]
        x = x_u8.astype(np.float32) * scale + offset  # f32 ops, as the Rust test does
        raw = run_litert(model, x)
        t = {"input_u8": x_u8, "input_scale": np.array([scale], np.float32),
             "input_offset": np.array([offset], np.float32)}
        if net.startswith("face_detection"):
            reg = next(v for v in raw.values() if v.shape[-1] == 16)
            cls = next(v for v in raw.values() if v.shape[-1] == 1)[..., 0]
            t["classifiers"] = cls
            if net == "face_detection_full_range":
                best = np.argsort(-cls, axis=1, kind="stable")[:, :32].ravel()
                idx = np.unique(np.concatenate([best, np.arange(0, cls.shape[1], 24)])).astype(np.uint32)
                t["regressor_anchors"] = idx
                t["regressors"] = reg[:, idx]
            else:
                t["regressors"] = reg
            summary = "max sigmoid score per image " + ", ".join(f"{v:.3f}" for v in 1 / (1 + np.exp(-cls.max(1))))
        elif net == "face_landmark":
            t["landmarks"] = next(v for v in raw.values() if v.size // len(v) == 1404).reshape(len(x), 1404)
            t["face_flag"] = next(v for v in raw.values() if v.size // len(v) == 1).reshape(len(x))
            summary = "face flag logits " + ", ".join(f"{v:.2f}" for v in t["face_flag"])
        else:
            t["contours"] = raw["output_eyes_contours_and_brows"].reshape(len(x), 213)
            t["iris"] = raw["output_iris"].reshape(len(x), 15)
            summary = "iris centres " + ", ".join(f"({v[0]:.1f},{v[1]:.1f})" for v in t["iris"])
        meta = {
            "generator": "tools/make_face_fixtures.py",
            "model": spec["path"],
            "model_sha256": spec["sha256"],
            "runtime": f"ai-edge-litert {getattr(ai_edge_litert, '__version__', '?')}",
            "images": " | ".join(n for n, _ in images),
            "crops": repr(CROPS[net]),
            "input": f"input_u8 * input_scale + input_offset, NCHW RGB, {size}x{size}",
        }
        path = args.out / f"{net}_fixture.safetensors"
        write_safetensors(path, t, meta)
        print(f"{path}: {path.stat().st_size} bytes; {summary}")


if __name__ == "__main__":
    sys.exit(main())
