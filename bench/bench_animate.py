"""End-to-end benchmark of ``voxportrait animate`` on the bundled example.

Two ways in, each best of ``--repeat``:
- **CLI**: the ``voxportrait animate`` command, run as a fresh process
  (``python -m voxportrait animate IMAGE AUDIO -o OUT.mp4 -q``), so its wall
  time includes starting Python, importing the package and loading the
  models, as a user's command pays;
- **Python API**: ``voxportrait.animate()`` called in this process (after
  a first call has loaded the models, as a long-running host would).

Prints, for both, seconds of video produced per second of wall time
(higher is better) and the ratio to a reference: ffmpeg alone encoding the
same number of unchanged frames with the same settings, i.e. the cost of the
video stage alone (absolute times on shared machines are noisy; the ratio is
what to compare across runs). Then peak memory: the CLI process (the largest
process of its tree, ffmpeg included), and, with ``--memory``, a fresh
process for a clip 8x longer, to show that memory does not grow with length
(frames stream).

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
    """The Python API in this process: (wall seconds, report)."""
    import voxportrait

    start = time.perf_counter()
    report = voxportrait.animate(PORTRAIT, audio, os.path.join(out_dir, "bench.mp4"), size=size)
    return time.perf_counter() - start, report


def time_cli(audio: Path, size: int, out_dir: str) -> tuple:
    """The ``voxportrait animate`` command in a fresh process: (wall seconds,
    peak RSS in MB of the largest process of its tree)."""
    out = os.path.join(out_dir, "cli.mp4")
    cmd = [sys.executable, "-m", "voxportrait", "animate", str(PORTRAIT), str(audio), "-o", out,
           "--size", str(size), "-q"]
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # the rusage covers its waited-for children (ffmpeg)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise SystemExit(f"the CLI failed ({proc.returncode}): {err.read().decode(errors='replace')}")
    return wall, usage.ru_maxrss / 1024


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
        cli_runs = [time_cli(clip, args.size, d) for _ in range(args.repeat)]
        cli_wall, cli_rss = min(r[0] for r in cli_runs), max(r[1] for r in cli_runs)
        time_animate(clip, args.size, d)  # loads the models once, as a host process has
        runs = [time_animate(clip, args.size, d) for _ in range(args.repeat)]
        wall, report = min(runs, key=lambda r: r[0])
        reference = min(time_reference_encode(report, d) for _ in range(args.repeat))
        video = report["frames"] / report["fps_value"]
        result = {
            "video_seconds": video,
            "frames": report["frames"],
            "size": f"{report['width']}x{report['height']}",
            "cli_wall_seconds": cli_wall,
            "cli_video_seconds_per_wall_second": video / cli_wall,
            "cli_ratio_to_reference_encode": cli_wall / reference,
            "cli_peak_rss_mb": cli_rss,
            "api_wall_seconds": wall,
            "api_video_seconds_per_wall_second": video / wall,
            "api_frames_per_second": report["frames"] / wall,
            "api_ratio_to_reference_encode": wall / reference,
            "reference_encode_seconds": reference,
            "api_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if args.memory:
            long = tiled_speech(8, Path(d) / "long.wav")
            result["peak_rss_mb_8s_clip"] = child_peak_rss_mb(SPEECH, args.size)
            result["peak_rss_mb_63s_clip"] = child_peak_rss_mb(long, args.size)

    if args.json:
        print(json.dumps(result))
        return
    print(f"demo: {result['frames']} frames {result['size']}, {result['video_seconds']:.2f} s of video; "
          f"best of {args.repeat}")
    print(f"  CLI (voxportrait animate, fresh process): {cli_wall:.2f} s wall -> "
          f"{result['cli_video_seconds_per_wall_second']:.2f} s of video per s; "
          f"{result['cli_ratio_to_reference_encode']:.2f}x the reference")
    print(f"  Python API (voxportrait.animate, models loaded): {wall:.2f} s wall -> "
          f"{result['api_video_seconds_per_wall_second']:.2f} s of video per s "
          f"({result['api_frames_per_second']:.1f} frames/s); {result['api_ratio_to_reference_encode']:.2f}x "
          f"the reference")
    print(f"  reference (ffmpeg encoding the same frames alone): {reference:.2f} s")
    print(f"  peak memory: {result['cli_peak_rss_mb']:.0f} MB (CLI process tree, largest process), "
          f"{result['api_peak_rss_mb']:.0f} MB (this process, API runs)")
    if args.memory:
        print(f"  peak memory, fresh process: {result['peak_rss_mb_8s_clip']:.0f} MB for 7.8 s, "
              f"{result['peak_rss_mb_63s_clip']:.0f} MB for 63 s of speech")


if __name__ == "__main__":
    main()
