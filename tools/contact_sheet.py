"""Renders the renderer's contact sheet (docs/render_contact_sheet.jpg) from
real inputs: the example photo driven by the example speech, controlled
expressions and head poses, and a second, closed-mouth photo (Grace Hopper,
public domain) whose mouth interior must be painted.

Run: ``.venv/bin/python tools/contact_sheet.py [OUT.jpg]``
"""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

import voxportrait

ROOT = Path(__file__).resolve().parent.parent
TILE = 256


def motion_of(rows):
    """A Motion from (expression dict, head dict) rows."""
    n = len(rows)
    e = np.zeros((n, 9), np.float32)
    h = np.zeros((n, 6), np.float32)
    h[:, 5] = 1.0
    for i, (ex, hd) in enumerate(rows):
        for k, v in ex.items():
            e[i, voxportrait.Motion.column(k)] = v
        for k, v in hd.items():
            h[i, ("yaw", "pitch", "roll", "tx", "ty", "scale").index(k)] = v
    return voxportrait.Motion(Fraction(25), e, h, np.full((n, 2), np.nan, np.float32))


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "render_contact_sheet.jpg"
    tiles = []
    # Row 1: the README demo, real speech, at its widest mouth frames.
    speech = voxportrait.audio_to_motion(ROOT / "examples" / "speech.wav", fps=25)
    r = voxportrait.Renderer(ROOT / "examples" / "portrait.png", framing="crop", size=TILE)
    jaw = speech.expression[:, voxportrait.Motion.column("jaw_open")]
    picks = sorted(np.argsort(jaw)[::-1][:40:8])
    tiles.append([r.render(speech, int(k), int(k) + 1)[0] for k in picks])
    # Row 2: controlled shapes, gaze and poses on the same photo.
    controlled = motion_of([
        ({}, {}),  # looking aside: the gaze is set below
        ({"lip_pucker": 1.0, "jaw_open": 0.25}, {}),
        ({"lip_close": 1.0}, {}),
        ({"blink_left": 1.0, "blink_right": 1.0}, {}),
        ({"jaw_open": 0.4}, {"yaw": 0.2, "pitch": 0.08, "roll": 0.1}),
    ])
    g0 = voxportrait.analyze_face(ROOT / "examples" / "portrait.png").gaze
    controlled.gaze[0] = (g0[0] + 0.14, g0[1])
    tiles.append(list(r.render(controlled, 0, 5)))
    # Row 3: a closed-mouth photo: painted teeth, tongue and cavity.
    hopper = voxportrait.Renderer(ROOT / "tests" / "data" / "face" / "grace_hopper.jpg",
                                  framing="crop", size=TILE)
    opening = motion_of([
        ({}, {}),
        ({"jaw_open": 0.3}, {}),
        ({"jaw_open": 0.6}, {}),
        ({"jaw_open": 0.5, "lip_spread": 0.8}, {}),
        ({"jaw_open": 0.9}, {"yaw": -0.12}),
    ])
    tiles.append(list(hopper.render(opening, 0, 5)))
    sheet = np.concatenate([np.concatenate(row, axis=1) for row in tiles], axis=0)
    out.parent.mkdir(parents=True, exist_ok=True)
    h, w = sheet.shape[:2]
    subprocess.run(
        [voxportrait.find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-i", "-", "-q:v", "3", str(out)],
        input=np.ascontiguousarray(sheet).tobytes(), check=True,
    )
    print(out)


if __name__ == "__main__":
    main()
