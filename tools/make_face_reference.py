#!/usr/bin/env python3
"""Reference face landmarks from MediaPipe's own pipeline, on real test images.

What
----
Writes a set of small test images under ``tests/data/face/`` (portrait
variants: rotated, small in a large frame, cut by the image border, two
different people, very large, 16-bit grey, RGBA) and runs the *reference*
pipeline on them: MediaPipe 0.10.21's own Python FaceMesh solution,

    mediapipe.solutions.face_mesh.FaceMesh(static_image_mode=True,
        max_num_faces=5, refine_landmarks=False)

which executes the original ``.tflite`` detector and mesh models in
MediaPipe's own graph and runtime (short-range BlazeFace on the letterboxed
image, weighted NMS, a 1.5x square ROI rotated by the eye line, one
FaceMesh pass, 0.5 face-presence threshold). Where it finds no face (the
short-range detector misses small faces), the same MediaPipe graph is run
with its ``FaceDetectionFullRange`` subgraph and the dense full-range model
that VoxPortrait's fallback uses (``--npm-face-detection``). The 468
landmarks of every face go to ``tests/data/face/reference_landmarks.json``::

    {"reference": {...}, "coordinates": "...",
     "images": [{"file": "tests/data/face/rot_ccw30.jpg",  # from the repo root
                 "width": 700, "height": 700,
                 "what": "one-line description",
                 "pipeline": "face_mesh",  # or "full_range"
                 "faces": [[[x_px, y_px], ... 468 pairs], ...]}, ...]}

Coordinates are MediaPipe's normalised landmarks times the image width and
height (x_px = x * width, y_px = y * height), rounded to 1/1000 px. Faces are
in MediaPipe's output order (detection score); an image where it finds no
face has ``"faces": []``.

Why
---
``tests/test_face_analysis.py`` runs ``voxportrait.analyze_faces`` (the
candle port in the Rust core) on the same files and requires every matched
face to lie within 1 % of the reference inter-ocular distance (landmarks 33
and 263), on average over the 468 points: end-to-end parity with the
reference pipeline, not only per-network parity (which
``tools/make_face_fixtures.py`` covers). MediaPipe and LiteRT are developer
tools only; the test needs just the committed JSON.

The reference sees exactly the pixels ``voxportrait.load_image`` returns:
files are decoded with Pillow, RGBA is composited over white as the Rust
loader does (``(c*a + 255*(255-a) + 127) // 255``), 16-bit grey becomes
8-bit with ``(v + 128) // 257`` (the ``image`` crate's rounding), and grey is
replicated to RGB. (JPEG decoders may differ by a level here and there; that
is part of the end-to-end comparison.)

Images (written by this script, deterministic: no randomness; same Pillow /
libjpeg / zlib versions give the same bytes; see tests/data/README.md):

* ``examples/portrait.png`` and ``tests/data/portrait_small.jpg`` (existing).
* ``rot_ccw30.jpg`` / ``rot_cw40.jpg``: the portrait rotated by +30 degrees
  (counter-clockwise) and -40 degrees (clockwise) about its centre, canvas
  expanded so nothing is cut, the new corners filled by replicating the
  edge pixels (the portrait is padded with ``np.pad(mode="edge")`` first).
* ``small_face.png``: the portrait shrunk to 128x128 (25 %) and pasted at
  (420, 60) into a 640x480 plain background.
* ``border_cut.jpg``: columns 183..511 of the portrait: about 20 % of the
  face width (landmark extent x 134..381) is outside the left edge.
* ``two_faces.jpg``: the portrait (440 px) and Grace Hopper (a smaller head,
  from matplotlib's ``grace_hopper.jpg``) side by side on a plain
  background.
* ``large.webp``: the portrait upscaled to 2400x2400 (bicubic), lossy WebP
  q80 (a JPEG of it stays above 150 KB even at q45).
* ``portrait_gray16.png``: 16-bit greyscale (Rec. 709 luma x 257, blurred
  with sigma 0.8 px so the low byte carries information, quantised to 11
  bits), 384x384.
* ``portrait_rgba.png``: 8-bit RGBA, 288x288, soft elliptical alpha (opaque
  over the head, fading to 0 at the corners) with green under the
  transparent pixels.

Sources and licences: ``examples/portrait.png`` is a crop of scikit-image's
``astronaut.png`` (NASA portrait of Eileen Collins, public domain);
``grace_hopper.jpg`` ships in the PyPI ``matplotlib`` wheel
(``mpl-data/sample_data``): the official U.S. Navy portrait of Commodore
Grace M. Hopper (1984, by James S. Davis), a U.S. government work in the
public domain. The derived images and the JSON are distributed under this
repository's licence (Apache-2.0).

Usage (developer environment with mediapipe; never a project dependency;
``npm pack @mediapipe/face_detection@0.4.1657300184`` gives the tarball)::

    /work/devenv/bin/pip install mediapipe==0.10.21 pillow numpy matplotlib tflite flatbuffers
    /work/devenv/bin/python tools/make_face_reference.py \
        --npm-face-detection mediapipe-face_detection-0.4.1657300184.tgz   # images + JSON
    /work/devenv/bin/python tools/make_face_reference.py --images-only
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "face"
PORTRAIT = ROOT / "examples" / "portrait.png"
PORTRAIT_SMALL = ROOT / "tests" / "data" / "portrait_small.jpg"
REFERENCE_JSON = OUT / "reference_landmarks.json"

# sha256 of mpl-data/sample_data/grace_hopper.jpg in matplotlib 3.x wheels.
GRACE_HOPPER_SHA256 = "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"

JPEG_QUALITY = 85
WEBP_QUALITY = 80

# Face extent in examples/portrait.png (MediaPipe landmarks): x 134..381.
# Cutting at 134 + 0.2 * 247 = 183 puts ~20 % of the face outside the left edge.
BORDER_CUT_X = 183

RGBA_SIZE = 288


def grace_hopper_path() -> Path:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != GRACE_HOPPER_SHA256:
        sys.exit(f"{path}: unexpected sha256 {digest} (expected {GRACE_HOPPER_SHA256})")
    return path


def rotated(img: Image.Image, degrees: float) -> Image.Image:
    """Rotates counter-clockwise by ``degrees`` about the centre onto a canvas
    large enough for the whole picture; corners replicate the edge pixels."""
    a = np.asarray(img)
    w, h = img.size
    rad = np.deg2rad(abs(degrees))
    out_w = int(np.ceil(w * np.cos(rad) + h * np.sin(rad)))
    out_h = int(np.ceil(w * np.sin(rad) + h * np.cos(rad)))
    pad = max(out_w, out_h)  # generous: every output corner maps inside
    padded = Image.fromarray(np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="edge"))
    turned = padded.rotate(degrees, resample=Image.Resampling.BICUBIC)
    cx, cy = padded.size[0] / 2, padded.size[1] / 2
    left, top = int(round(cx - out_w / 2)), int(round(cy - out_h / 2))
    return turned.crop((left, top, left + out_w, top + out_h))


def gaussian_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur (radius 3 sigma, edges replicated), float64."""
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a, r, mode="edge")
    rows = sum(k[i] * p[:, i:i + a.shape[1]] for i in range(2 * r + 1))
    return sum(k[i] * rows[i:i + a.shape[0], :] for i in range(2 * r + 1))


def make_images() -> list:
    """Writes the generated images; returns [(path, description)] for all
    reference images, the existing ones included."""
    OUT.mkdir(parents=True, exist_ok=True)
    portrait = Image.open(PORTRAIT).convert("RGB")
    images = [
        (PORTRAIT, "the example portrait, 512x512 RGB PNG"),
        (PORTRAIT_SMALL, "the portrait downscaled to 256x256, JPEG"),
    ]

    def save(img: Image.Image, name: str, what: str) -> None:
        path = OUT / name
        if name.endswith(".jpg"):
            img.save(path, quality=JPEG_QUALITY)
        elif name.endswith(".webp"):
            img.save(path, quality=WEBP_QUALITY, method=6)
        else:
            img.save(path, optimize=True)
        images.append((path, what))

    save(rotated(portrait, 30), "rot_ccw30.jpg", "portrait rotated 30 deg counter-clockwise, edge-padded")
    save(rotated(portrait, -40), "rot_cw40.jpg", "portrait rotated 40 deg clockwise, edge-padded")

    # Small face: 25 % of the portrait, off-centre on a plain background in
    # the portrait's own background colour (median of its top row).
    bg = tuple(int(v) for v in np.median(np.asarray(portrait)[0], axis=0))
    canvas = Image.new("RGB", (640, 480), bg)
    canvas.paste(portrait.resize((128, 128), Image.Resampling.LANCZOS), (420, 60))
    save(canvas, "small_face.png", "portrait at 25 % (128 px) pasted at (420, 60) into a plain 640x480 frame")

    save(portrait.crop((BORDER_CUT_X, 0, 512, 512)), "border_cut.jpg",
         "portrait columns 183..511: ~20 % of the face is outside the left edge")

    hopper = Image.open(grace_hopper_path()).convert("RGB")  # 512x600
    canvas = Image.new("RGB", (800, 480), (96, 110, 128))
    canvas.paste(portrait.resize((440, 440), Image.Resampling.LANCZOS), (10, 20))
    head = hopper.crop((90, 0, 450, 420)).resize((240, 280), Image.Resampling.LANCZOS)
    canvas.paste(head, (530, 150))
    save(canvas, "two_faces.jpg",
         "two people: the portrait (face ~210 px) and Grace Hopper (face ~135 px)")

    # WebP: a 2400x2400 JPEG of this picture stays above 150 KB even at q45.
    save(portrait.resize((2400, 2400), Image.Resampling.BICUBIC), "large.webp",
         "portrait upscaled to 2400x2400 (bicubic), lossy WebP")

    g = portrait.resize((384, 384), Image.Resampling.LANCZOS)
    rgb = np.asarray(g).astype(np.float64)
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    blurred = gaussian_blur(luma, 0.8)
    g16 = (np.clip(np.round(blurred * 257 / 32), 0, 2047) * 32).astype(np.uint16)
    save(Image.fromarray(g16), "portrait_gray16.png",
         "16-bit greyscale PNG, 384x384, 11 significant bits")

    n = RGBA_SIZE
    rgba_src = np.asarray(portrait.resize((n, n), Image.Resampling.LANCZOS))
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) + 0.5
    r = np.sqrt(((xx - 0.5 * n) / (0.425 * n)) ** 2 + ((yy - 0.5125 * n) / (0.4875 * n)) ** 2)
    alpha = np.clip((1.25 - r) / 0.25, 0, 1)  # opaque inside r 1, transparent beyond r 1.25
    rgba = np.zeros((n, n, 4), np.uint8)
    rgba[..., :3] = np.where(alpha[..., None] > 0, rgba_src, np.array([0, 160, 0], np.uint8))
    rgba[..., 3] = np.round(alpha * 255).astype(np.uint8)
    save(Image.fromarray(rgba, "RGBA"), "portrait_rgba.png",
         f"8-bit RGBA PNG, {n}x{n}, soft elliptical alpha, green under transparent pixels")
    return images


def load_as_voxportrait(path: Path) -> np.ndarray:
    """The uint8 RGB pixels ``voxportrait.load_image`` gives for ``path``."""
    img = Image.open(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        v = np.asarray(img).astype(np.uint32)
        g = ((v + 128) // 257).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        a = np.asarray(img.convert("RGBA")).astype(np.uint32)
        al = a[..., 3:4]
        return ((a[..., :3] * al + 255 * (255 - al) + 127) // 255).astype(np.uint8)
    return np.asarray(img.convert("RGB"))


# MediaPipe's face landmark graph with the full-range detector in place of
# the short-range one (FaceLandmarkFrontCpu less its video-tracking loop).
FULL_RANGE_GRAPH = r"""
input_stream: "image"
output_stream: "multi_face_landmarks"
input_side_packet: "with_attention"
node {
  calculator: "FaceDetectionFullRange"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:all_face_detections"
  node_options {
    [type.googleapis.com/mediapipe.FaceDetectionOptions] {
      model_path: "MODEL_PATH"
      delegate { xnnpack {} }
    }
  }
}
node {
  calculator: "ClipDetectionVectorSizeCalculator"
  input_stream: "all_face_detections"
  output_stream: "face_detections"
  options { [mediapipe.ClipVectorSizeCalculatorOptions.ext] { max_vec_size: 5 } }
}
node { calculator: "ImagePropertiesCalculator" input_stream: "IMAGE:image" output_stream: "SIZE:image_size" }
node {
  calculator: "BeginLoopDetectionCalculator"
  input_stream: "ITERABLE:face_detections"
  input_stream: "CLONE:0:image"
  input_stream: "CLONE:1:image_size"
  output_stream: "ITEM:face_detection"
  output_stream: "CLONE:0:loop_image"
  output_stream: "CLONE:1:loop_image_size"
  output_stream: "BATCH_END:loop_end"
}
node {
  calculator: "FaceDetectionFrontDetectionToRoi"
  input_stream: "DETECTION:face_detection"
  input_stream: "IMAGE_SIZE:loop_image_size"
  output_stream: "ROI:face_rect"
}
node {
  calculator: "FaceLandmarkCpu"
  input_stream: "IMAGE:loop_image"
  input_stream: "ROI:face_rect"
  output_stream: "LANDMARKS:face_landmarks"
  input_side_packet: "WITH_ATTENTION:with_attention"
}
node {
  calculator: "EndLoopNormalizedLandmarkListVectorCalculator"
  input_stream: "ITEM:face_landmarks"
  input_stream: "BATCH_END:loop_end"
  output_stream: "ITERABLE:multi_face_landmarks"
}
"""


def full_range_solution(npm: Path, workdir: Path):
    """MediaPipe's own graph runtime with the full-range detector: the dense
    ``face_detection_full_range.tflite`` from npm ``@mediapipe/face_detection``
    (the file VoxPortrait converts; the 0.10.21 wheel has only the different,
    sparse model), then MediaPipe's detection-to-ROI and FaceLandmarkCpu
    subgraphs with ``face_landmark.tflite``."""
    from google.protobuf import text_format
    from mediapipe.calculators.core import clip_vector_size_calculator_pb2  # noqa: F401 (registers the extension)
    from mediapipe.framework import calculator_pb2
    from mediapipe.modules.face_detection import face_detection_pb2  # noqa: F401
    from mediapipe.python.solution_base import SolutionBase

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from convert_mediapipe import SOURCES, read_source

    spec = dict(SOURCES)["face_detection_full_range"]
    data = read_source(spec, Path("."), npm)
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec["sha256"]:
        sys.exit(f"{npm}: full-range model sha256 {digest}, expected {spec['sha256']}")
    model = workdir / "face_detection_full_range.tflite"
    model.write_bytes(data)
    graph = text_format.Parse(FULL_RANGE_GRAPH.replace("MODEL_PATH", str(model)),
                              calculator_pb2.CalculatorGraphConfig())
    return SolutionBase(graph_config=graph, side_inputs={"with_attention": False},
                        outputs=["multi_face_landmarks"])


def landmark_lists(result, w: int, h: int) -> list:
    return [[[round(p.x * w, 3), round(p.y * h, 3)] for p in lm.landmark]
            for lm in (result.multi_face_landmarks or [])]


def run_reference(images: list, npm) -> dict:
    import tempfile

    import mediapipe as mp

    entries = []
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=5,
                                         refine_landmarks=False) as mesh, \
            tempfile.TemporaryDirectory() as tmp:
        full = None
        for path, what in images:
            rgb = load_as_voxportrait(path)
            h, w = rgb.shape[:2]
            faces = landmark_lists(mesh.process(rgb), w, h)
            pipeline = "face_mesh"
            if not faces:
                if npm is None:
                    print(f"warning: {path.name}: FaceMesh finds no face; pass --npm-face-detection "
                          "for the full-range reference", file=sys.stderr)
                else:
                    full = full or full_range_solution(npm, Path(tmp))
                    faces = landmark_lists(full.process({"image": rgb}), w, h)
                    pipeline = "full_range"
            rel = path.relative_to(ROOT).as_posix()
            print(f"{rel}: {w}x{h}, {len(faces)} face(s) ({pipeline})")
            entries.append({"file": rel, "width": w, "height": h, "what": what,
                            "pipeline": pipeline, "faces": faces})
        if full is not None:
            full.close()
    return {
        "reference": {
            "face_mesh": f"mediapipe {mp.__version__} solutions.face_mesh.FaceMesh(static_image_mode=True, "
                         "max_num_faces=5, refine_landmarks=False)",
            "full_range": f"mediapipe {mp.__version__} graph: FaceDetectionFullRange (dense "
                          "face_detection_full_range.tflite, npm @mediapipe/face_detection "
                          "0.4.1657300184) -> FaceDetectionFrontDetectionToRoi -> FaceLandmarkCpu; "
                          "used where FaceMesh (short-range detector only) finds no face",
        },
        "coordinates": "image pixels: MediaPipe's normalised landmark x * width, y * height",
        "generator": "tools/make_face_reference.py",
        "images": entries,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images-only", action="store_true", help="write the images, skip MediaPipe")
    parser.add_argument("--npm-face-detection", type=Path, metavar="TGZ_OR_DIR",
                        help="npm @mediapipe/face_detection 0.4.1657300184 (.tgz or extracted dir): "
                             "the dense full-range model for images FaceMesh finds no face in")
    args = parser.parse_args()
    images = make_images()
    for path, _ in images:
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")
    if args.images_only:
        return 0
    data = run_reference(images, args.npm_face_detection)
    REFERENCE_JSON.write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {REFERENCE_JSON.relative_to(ROOT)} ({REFERENCE_JSON.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
