"""Renders a licence-clean "3D render" portrait (tests/data/face/render_3d_head.png):
MediaPipe's canonical face mesh (Apache-2.0, ``models/canonical_face.safetensors``)
shaded like a plain 3D render: per-vertex colours (skin, lips, brows), smooth
normals, one key light with a specular highlight, painted eyes, the canonical
face's own parted lips over a dark mouth interior, on a gradient backdrop.

Deterministic (no randomness). A small z-buffered rasteriser is written here
because the job is 898 triangles once, and no dependency the project already
has (numpy, Pillow) rasterises with depth; pulling in a 3D library for a
test fixture would cost more than these lines.

Run: ``.venv/bin/python tools/render_3d_head.py [OUT.png]``
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
W = H = 512
SCALE = 24.0  # pixels per canonical centimetre
SKIN = np.array([226, 178, 146.0])
LIP = np.array([168, 78, 76.0])
BROW = np.array([92, 64, 48.0])
LIGHT = np.array([-0.45, 0.5, 0.75]) / np.linalg.norm([-0.45, 0.5, 0.75])


def load_safetensors(path: Path) -> dict:
    """The tensors of a safetensors file as numpy arrays (F32/U32 only)."""
    b = path.read_bytes()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8 : 8 + n])
    out = {}
    for k, m in header.items():
        if k == "__metadata__":
            continue
        s, e = m["data_offsets"]
        dtype = {"F32": np.float32, "U32": np.uint32}[m["dtype"]]
        out[k] = np.frombuffer(b[8 + n + s : 8 + n + e], dtype=dtype).reshape(m["shape"])
    return out


def shade(normal: np.ndarray, colour: np.ndarray, gloss: float = 0.18) -> np.ndarray:
    """Ambient + Lambert + Blinn-Phong highlight (`gloss`), viewer along +z."""
    half = LIGHT + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    diffuse = max(0.0, float(normal @ LIGHT))
    spec = max(0.0, float(normal @ half)) ** 40
    return np.clip(colour * (0.32 + 0.78 * diffuse) + 255 * gloss * spec, 0, 255)


def render() -> Image.Image:
    d = load_safetensors(ROOT / "models" / "canonical_face.safetensors")
    v = d["vertices"].astype(np.float64)
    tris = d["triangles"].astype(int)
    groups = {k[6:]: x.astype(int) for k, x in d.items() if k.startswith("group.")}
    tgroups = {k[15:]: x.astype(int) for k, x in d.items() if k.startswith("triangle_group.")}

    normals = np.zeros_like(v)
    for a, b, c in tris:
        fn = np.cross(v[b] - v[a], v[c] - v[a])
        normals[[a, b, c]] += fn
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-9
    if normals[:, 2].mean() < 0:
        normals = -normals

    colours = np.tile(SKIN, (len(v), 1))
    lips = np.concatenate([groups["lips_outer"], groups["lips_inner"]])
    colours[lips] = LIP
    is_lip = np.zeros(len(v))
    is_lip[lips] = 1.0
    colours[np.concatenate([groups["left_brow"], groups["right_brow"]])] = BROW

    proj = np.stack([W / 2 + SCALE * v[:, 0], H / 2 + 10 - SCALE * v[:, 1], v[:, 2]], 1)
    eye_tris = {tuple(sorted(x)) for k in ("left_eye_interior", "right_eye_interior") for x in tris[tgroups[k]]}
    mouth_tris = {tuple(sorted(x)) for x in tris[tgroups["mouth_interior"]]}
    eye_centres = [
        proj[np.concatenate([groups[f"{side}_eye_upper"], groups[f"{side}_eye_lower"]]), :2].mean(0)
        for side in ("left", "right")
    ]

    y, _ = np.mgrid[0:H, 0:W]
    t = (y / H)[..., None]
    img = np.array([70, 90, 120.0]) * (1 - 0.4 * t) + np.array([30, 30, 40.0]) * 0.4 * t
    depth = np.full((H, W), -1e9)
    for tri in tris:
        a, b, c = proj[tri]
        x0, x1 = int(max(0, min(a[0], b[0], c[0]))), int(min(W - 1, max(a[0], b[0], c[0])) + 1)
        y0, y1 = int(max(0, min(a[1], b[1], c[1]))), int(min(H - 1, max(a[1], b[1], c[1])) + 1)
        den = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1])
        if x1 <= x0 or y1 <= y0 or abs(den) < 1e-9:
            continue
        X, Y = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        w0 = ((b[1] - c[1]) * (X - c[0]) + (c[0] - b[0]) * (Y - c[1])) / den
        w1 = ((c[1] - a[1]) * (X - c[0]) + (a[0] - c[0]) * (Y - c[1])) / den
        w2 = 1 - w0 - w1
        z = w0 * a[2] + w1 * b[2] + w2 * c[2]
        key = tuple(sorted(tri))
        for yi, xi in zip(*np.nonzero((w0 >= 0) & (w1 >= 0) & (w2 >= 0))):
            py, px = yi + y0, xi + x0
            if z[yi, xi] <= depth[py, px]:
                continue
            depth[py, px] = z[yi, xi]
            w = np.array([w0[yi, xi], w1[yi, xi], w2[yi, xi]])
            nrm = w @ normals[tri]
            nrm /= np.linalg.norm(nrm)
            if key in eye_tris:
                e = min(eye_centres, key=lambda q: (q[0] - px) ** 2 + (q[1] - py) ** 2)
                r = np.hypot(px - e[0], py - e[1])
                base = np.array([235, 232, 228.0]) if r > 7.5 else np.array([70, 110, 150.0]) if r > 3.2 else np.array([15, 15, 20.0])
                img[py, px] = 0.9 * shade(nrm, base) + (25.5 if r < 1.5 and px < e[0] else 0.0)
            elif key in mouth_tris:
                img[py, px] = (90, 35, 35)
            else:
                # Lips are matte (a glossy lower lip facing the light reads
                # as teeth).
                lipness = w @ is_lip[tri]
                img[py, px] = shade(nrm, w @ colours[tri], 0.18 * (1 - lipness))
    return Image.fromarray(img.astype(np.uint8)).filter(ImageFilter.SMOOTH)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "data" / "face" / "render_3d_head.png"
    render().save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
