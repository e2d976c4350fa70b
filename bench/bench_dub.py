"""End-to-end benchmark of ``voxportrait dub``: speed with decoding and
encoding included, and peak memory against the video's length.

A talking video is rendered from the example photo (still head, 512²), then
looped by ffmpeg (stream copy) to a short and an 8x longer video; each is
dubbed with the example speech tiled to the same length, in a fresh process
whose peak RSS is read. Memory must not grow with length (frames stream).

Prints seconds of video per second of wall time (with decode and encode),
the ratio against ffmpeg alone re-encoding the same video in the same run
(the decode + encode floor), and the two peak memories.

Run: ``.venv/bin/python bench/bench_dub.py [--seconds 8]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "examples" / "portrait.png"
SPEECH = ROOT / "examples" / "speech.wav"


def tiled_speech(seconds: float, path: Path) -> Path:
    with wave.open(str(SPEECH), "rb") as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    n = int(seconds * params.framerate) * params.sampwidth * params.nchannels
    data = (frames * (int(n // len(frames)) + 1))[:n]
    with wave.open(str(path), "wb") as dst:
        dst.setparams(params)
        dst.writeframes(data)
    return path


def looped_video(src: Path, seconds: float, path: Path, ffmpeg: str) -> Path:
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(src),
                    "-t", str(seconds), "-c", "copy", str(path)], check=True)
    return path


def child_dub(video: Path, audio: Path, out: Path) -> tuple:
    code = (
        "import resource, time, voxportrait\n"
        "t = time.perf_counter()\n"
        f"voxportrait.dub({str(video)!r}, {str(audio)!r}, {str(out)!r}, length='cut')\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    wall, rss = map(float, r.stdout.strip().splitlines()[-1].split())
    return wall, rss


def main() -> None:
    import voxportrait

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    ffmpeg = voxportrait.find_ffmpeg()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        base = d / "base.mp4"
        voxportrait.animate(PORTRAIT, SPEECH, base, size=512, head_scale=0.0)
        short = looped_video(base, args.seconds, d / "short.mp4", ffmpeg)
        long = looped_video(base, 8 * args.seconds, d / "long.mp4", ffmpeg)
        wall, rss_short = child_dub(short, tiled_speech(args.seconds, d / "s.wav"), d / "o1.mp4")
        _, rss_long = child_dub(long, tiled_speech(8 * args.seconds, d / "l.wav"), d / "o2.mp4")
        t = time.perf_counter()
        subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(short), "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", str(d / "ref.mp4")], check=True)
        reference = time.perf_counter() - t
    print(f"dub 512x512, {args.seconds:g} s of video at 25 fps, decode and encode included:")
    print(f"  {wall:.2f} s wall -> {args.seconds / wall:.2f} s of video per s; "
          f"ffmpeg decode+encode alone {reference:.2f} s (ratio {wall / reference:.1f}x)")
    print(f"  peak memory (fresh process): {rss_short:.0f} MB for {args.seconds:g} s, "
          f"{rss_long:.0f} MB for {8 * args.seconds:g} s")


if __name__ == "__main__":
    main()
