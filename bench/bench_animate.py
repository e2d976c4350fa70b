"""End-to-end benchmark of ``voxportrait animate`` on the bundled example.

Prints:
- seconds of video produced per second of wall time (higher is better);
- the ratio of that run's time to a reference run in the same process:
  ffmpeg encoding the same number of unchanged frames with the same
  settings, i.e. the cost of the video stage alone (absolute times on shared
  machines are noisy; the ratio is what to compare across runs);
- peak memory of the job, and, with ``--memory``, peak memory for a clip 8x
  longer, to show that memory does not grow with length (frames stream).

Run: ``.venv/bin/python bench/bench_animate.py [--repeat 3] [--size 512] [--memory]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORTRAIT = ROOT / "examples" / "portrait.png"
SPEECH = ROOT / "examples" / "speech.wav"


def time_animate(audio: Path, size: int, out_dir: str) -> tuple:
    import voxportrait

    start = time.perf_counter()
    report = voxportrait.animate(PORTRAIT, audio, os.path.join(out_dir, "bench.mp4"), size=size)
    return time.perf_counter() - start, report


def time_reference_encode(report: dict, out_dir: str) -> float:
    """ffmpeg alone: the same frame count, size, rate and audio, still frames."""
    import voxportrait

    ffmpeg = voxportrait.find_ffmpeg()
    w, h, fps, n = report["width"], report["height"], report["fps"], report["frames"]
    cmd = [
        ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=gray:s={w}x{h}:r={fps}", "-i", str(SPEECH),
        "-frames:v", str(n), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast",
        "-crf", "18", "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart",
        os.path.join(out_dir, "reference.mp4"),
    ]
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


def tiled_speech(times: int, path: Path, seconds: float = 0.0) -> Path:
    """The example speech repeated ``times`` times (cut to ``seconds`` when
    given), as WAV."""
    with wave.open(str(SPEECH), "rb") as src:
        params, frames = src.getparams(), src.readframes(src.getnframes())
    data = frames * times
    if seconds:
        data = data[: int(seconds * params.framerate) * params.sampwidth * params.nchannels]
    with wave.open(str(path), "wb") as dst:
        dst.setparams(params)
        dst.writeframes(data)
    return path


def child_peak_rss_mb(audio: Path, size: int) -> float:
    """Runs one animate job in a fresh process and returns its peak RSS."""
    code = (
        "import resource, sys, tempfile, voxportrait\n"
        "d = tempfile.mkdtemp()\n"
        f"voxportrait.animate({str(PORTRAIT)!r}, {str(audio)!r}, d + '/m.mp4', size={size})\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=10.0,
                    help="length of the speech clip (the example speech, tiled; default 10, as the issue's target)")
    ap.add_argument("--memory", action="store_true", help="also compare peak memory for a clip 8x longer")
    ap.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as d:
        clip = tiled_speech(int(args.seconds // 7.8) + 1, Path(d) / "clip.wav", args.seconds)
        runs = [time_animate(clip, args.size, d) for _ in range(args.repeat)]
        wall, report = min(runs, key=lambda r: r[0])
        reference = min(time_reference_encode(report, d) for _ in range(args.repeat))
        result = {
            "video_seconds": report["frames"] / report["fps_value"],
            "frames": report["frames"],
            "size": f"{report['width']}x{report['height']}",
            "wall_seconds": wall,
            "video_seconds_per_wall_second": report["frames"] / report["fps_value"] / wall,
            "frames_per_second": report["frames"] / wall,
            "reference_encode_seconds": reference,
            "ratio_to_reference_encode": wall / reference,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "peak_ffmpeg_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        }
        if args.memory:
            long = tiled_speech(8, Path(d) / "long.wav")
            result["peak_rss_mb_8s_clip"] = child_peak_rss_mb(SPEECH, args.size)
            result["peak_rss_mb_63s_clip"] = child_peak_rss_mb(long, args.size)

    if args.json:
        print(json.dumps(result))
        return
    print(f"demo: {result['frames']} frames {result['size']}, {result['video_seconds']:.2f} s of video")
    print(f"  best of {args.repeat}: {wall:.2f} s wall -> {result['video_seconds_per_wall_second']:.2f} "
          f"s of video per s ({result['frames_per_second']:.1f} frames/s)")
    print(f"  reference (ffmpeg encoding the same frames alone): {reference:.2f} s; "
          f"ratio {result['ratio_to_reference_encode']:.2f}x")
    print(f"  peak memory: {result['peak_rss_mb']:.0f} MB (this process), "
          f"{result['peak_ffmpeg_rss_mb']:.0f} MB (ffmpeg)")
    if args.memory:
        print(f"  peak memory, fresh process: {result['peak_rss_mb_8s_clip']:.0f} MB for 7.8 s, "
              f"{result['peak_rss_mb_63s_clip']:.0f} MB for 63 s of speech")


if __name__ == "__main__":
    main()
