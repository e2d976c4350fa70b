"""Renders the mouth contact sheet (docs/mouth_contact_sheet.png): each
portrait's mouth at 100 % crop (no resampling), at rest and closed, half
open, wide open and rounded, with the default resting mouth (an open photo
mouth closes; a smile is kept).

The portraits are licence-clean: the public-domain example photo (NASA's
portrait of Eileen Collins, a smile showing teeth), Grace Hopper (public
domain, closed mouth) and Alexander Gardner's 1863 portrait of Abraham
Lincoln (public domain, a full beard), a 3D render of MediaPipe's
canonical face mesh (Apache-2.0; ``tools/render_3d_head.py``, parted
lips), and variants made from the photos here: opened by the
renderer itself (open-mouthed portraits), grayscale, a sepia "painting"
(smoothed and posterised), a cel-shaded "anime" style, side-lit, small in a
large frame, and rotated.

Run: ``.venv/bin/python tools/mouth_contact_sheet.py [OUT.png]``
"""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageOps

import voxportrait

ROOT = Path(__file__).resolve().parent.parent
SIZE = 512
TILE = (176, 120)
LABEL = 150
SHAPES = (
    ("rest (closed)", {}),
    ("half open", {"jaw_open": 0.35}),
    ("wide open", {"jaw_open": 0.8}),
    ("rounded", {"jaw_open": 0.25, "lip_pucker": 0.9}),
)


def motion_of(rows):
    """A Motion from expression dicts, still head."""
    n = len(rows)
    e = np.zeros((n, 9), np.float32)
    h = np.zeros((n, 6), np.float32)
    h[:, 5] = 1.0
    for i, ex in enumerate(rows):
        for k, v in ex.items():
            e[i, voxportrait.Motion.column(k)] = v
    return voxportrait.Motion(Fraction(25), e, h, np.full((n, 2), np.nan, np.float32))


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def opened(img: np.ndarray, jaw: float) -> np.ndarray:
    """The portrait with its mouth opened by the renderer (photo resting
    mouth): a licence-clean open-mouthed portrait."""
    r = voxportrait.Renderer(img, framing="full", resting_mouth="photo")
    return r.render(motion_of([{"jaw_open": jaw}]))[0]


def painting(img: np.ndarray) -> np.ndarray:
    im = Image.fromarray(img).filter(ImageFilter.ModeFilter(5)).filter(ImageFilter.SMOOTH_MORE)
    g = ImageOps.grayscale(im)
    sepia = ImageOps.colorize(g, (40, 26, 12), (238, 214, 170))
    return np.asarray(ImageOps.posterize(sepia, 5))


def anime(img: np.ndarray) -> np.ndarray:
    im = Image.fromarray(img).filter(ImageFilter.ModeFilter(5))
    flat = ImageOps.posterize(im, 4).filter(ImageFilter.SMOOTH)
    edges = ImageOps.grayscale(im).filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v > 40 else 0)
    out = np.asarray(flat).astype(np.float32)
    out[np.asarray(edges) > 0] *= 0.6
    return out.astype(np.uint8)


def side_lit(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    ramp = np.linspace(1.25, 0.35, w, dtype=np.float32)[None, :, None]
    return np.clip(img.astype(np.float32) * ramp, 0, 255).astype(np.uint8)


def small(img: np.ndarray) -> np.ndarray:
    canvas = Image.new("RGB", (900, 900), (96, 110, 128))
    canvas.paste(Image.fromarray(img).resize((200, 200), Image.LANCZOS), (380, 300))
    return np.asarray(canvas)


def portraits() -> list:
    astro = rgb(ROOT / "examples" / "portrait.png")
    hopper = rgb(ROOT / "tests" / "data" / "face" / "grace_hopper.jpg")
    lincoln = rgb(ROOT / "tests" / "data" / "face" / "lincoln_gardner_1863.jpg")
    gray = np.repeat(np.asarray(ImageOps.grayscale(Image.fromarray(astro)))[..., None], 3, axis=2)
    return [
        ("smile, teeth", astro),
        ("closed", hopper),
        ("bearded", lincoln),
        ("bearded, open\n(rendered)", opened(lincoln, 0.6)),
        ("open (rendered)", opened(astro, 0.7)),
        ("open, closed-mouth\nphoto (rendered)", opened(hopper, 0.8)),
        ("grayscale", gray),
        ("grayscale, open", opened(gray, 0.6)),
        ("sepia painting", painting(hopper)),
        ("cel-shaded", anime(astro)),
        ("3D render, open", rgb(ROOT / "tests" / "data" / "face" / "render_3d_head.png")),
        ("side-lit", side_lit(hopper)),
        ("side-lit, open", opened(side_lit(astro), 0.6)),
        ("small face", small(hopper)),
        ("rotated 40 deg", rgb(ROOT / "tests" / "data" / "face" / "rot_cw40.jpg")),
    ]


def mouth_tiles(img: np.ndarray) -> list:
    r = voxportrait.Renderer(img, framing="resize", size=SIZE)
    frames = r.render(motion_of([e for _, e in SHAPES]))
    face = voxportrait.analyze_face(r.render(motion_of([{}]))[0], iris=False)
    lm = face.landmarks
    cx, cy = (lm[61, 0] + lm[291, 0]) / 2, (lm[13, 1] + lm[14, 1]) / 2 + 4
    x0, y0 = int(round(cx - TILE[0] / 2)), int(round(cy - TILE[1] / 2))
    out = []
    for f in frames:
        pad = np.pad(f, ((TILE[1], TILE[1]), (TILE[0], TILE[0]), (0, 0)), mode="edge")
        out.append(pad[y0 + TILE[1]:y0 + 2 * TILE[1], x0 + TILE[0]:x0 + 2 * TILE[0]])
    return out


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "mouth_contact_sheet.png"
    rows = portraits()
    gap = 4
    head = 22
    W = LABEL + len(SHAPES) * (TILE[0] + gap)
    H = head + len(rows) * (TILE[1] + gap)
    sheet = Image.new("RGB", (W, H), (250, 250, 250))
    d = ImageDraw.Draw(sheet)
    for j, (name, _) in enumerate(SHAPES):
        d.text((LABEL + j * (TILE[0] + gap) + 6, 5), name, fill=(0, 0, 0))
    for i, (name, img) in enumerate(rows):
        y = head + i * (TILE[1] + gap)
        d.text((6, y + TILE[1] // 2 - 12), name, fill=(0, 0, 0))
        for j, tile in enumerate(mouth_tiles(img)):
            sheet.paste(Image.fromarray(tile), (LABEL + j * (TILE[0] + gap), y))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    print(out)


if __name__ == "__main__":
    main()
