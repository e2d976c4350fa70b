"""Shared helpers for the Python tests: paths, running the CLI, probing MP4s."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = ROOT / "tests" / "data"
PORTRAIT = EXAMPLES / "portrait.png"
SPEECH = EXAMPLES / "speech.wav"
SPEECH_1S = DATA / "speech_1s.wav"


def run_cli(*args, env=None, timeout=300):
    """Runs ``python -m voxportrait ARGS`` and returns the CompletedProcess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "voxportrait", *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def two_face_video(path, talking: int = 0):
    """A 1 s video (25 fps, 384x230, with sound) of ``tests/data/face/two_faces.jpg``
    where only face ``talking`` (0 = the larger) speaks: head, blinks and
    brows still. Drives reenactment tests of the driving face index."""
    import voxportrait

    voxportrait.animate(DATA / "face" / "two_faces.jpg", SPEECH_1S, path, size=384, face_index=talking,
                        head_scale=0.0, blink_rate=0.0, brow_scale=0.0)
    return path


def jaw_spread(motion) -> float:
    """Standard deviation of a motion's jaw opening: how much its mouth moves."""
    import numpy as np

    import voxportrait

    return float(np.std(np.asarray(motion.expression)[:, voxportrait.Motion.column("jaw_open")]))


def video_motion(path) -> float:
    """How much a video moves: the per-pixel standard deviation over its
    frames (0..255 scale), averaged over the picture."""
    import numpy as np

    return float(np.stack(decode_frames(path)).astype(np.float32).std(axis=0).mean())


def audio_seconds(path) -> float:
    import voxportrait

    samples, rate = voxportrait.load_audio(path)
    return len(samples) / rate


def probe_mp4(path):
    """Facts about an MP4, read with PyAV (libavformat, like ffprobe)."""
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        info = {
            "video_codec": v.codec_context.name,
            "pix_fmt": v.codec_context.pix_fmt,
            "profile": v.codec_context.profile,
            "width": v.codec_context.width,
            "height": v.codec_context.height,
            "rate": v.average_rate,
            "audio_codec": a.codec_context.name if a else None,
            "audio_seconds": float(a.duration * a.time_base) if a and a.duration else None,
        }
        info["frames"] = sum(1 for _ in c.decode(video=0))
    info["video_seconds"] = info["frames"] / float(info["rate"])
    data = Path(path).read_bytes()
    info["faststart"] = 0 <= data.find(b"moov") < data.find(b"mdat")
    return info


def decode_frames(path):
    """All video frames of a file as uint8 RGB numpy arrays."""
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def write_png(path, rgb_rows, width, height):
    """Minimal RGB PNG writer (tests need odd sizes without Pillow)."""
    raw = b"".join(b"\x00" + bytes(row) for row in rgb_rows)

    def chunk(tag, body):
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    png = b"\x89PNG\r\n\x1a\n"
    png += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw))
    png += chunk(b"IEND", b"")
    Path(path).write_bytes(png)


def listing(folder) -> list:
    """Every entry of a folder, hidden temporaries included."""
    return sorted(os.listdir(folder))


def expected_frames(audio_path, fps) -> int:
    """round(duration x fps), halves rounded up, computed exactly as the core does."""
    import math
    from fractions import Fraction

    import voxportrait

    samples, rate = voxportrait.load_audio(audio_path)
    return math.floor(Fraction(len(samples), rate) * Fraction(fps) + Fraction(1, 2))
