"""The ``voxportrait`` command line.

Errors are printed as one line, ``voxportrait: error: ...``, never as a
traceback (set ``VOXPORTRAIT_DEBUG=1`` to see one), and the exit code says
what went wrong so scripts can react.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

# Exit codes, documented in --help.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_OUTPUT = 4
EXIT_ENCODER = 5
EXIT_INTERRUPTED = 130

EPILOG = """\
exit codes:
  0    success
  1    internal error (a bug: please report it with the message)
  2    bad command line (unknown option, value out of range)
  3    unusable input: missing, empty, not an image/audio file, silent, too long
  4    output cannot be written: missing folder, not writable, disk full
  5    no working ffmpeg for MP4 output, or ffmpeg failed
  130  interrupted (Ctrl-C); no partial output is left behind

environment:
  VOXPORTRAIT_FFMPEG   ffmpeg binary to use (else the one pip installed with
                       imageio-ffmpeg, else ffmpeg on PATH)
  VOXPORTRAIT_DEBUG=1  show Python tracebacks for errors
"""

ANIMATE_DESCRIPTION = """\
Turn a portrait and a speech recording into a talking-head video.

The portrait can be PNG, JPEG or WebP (any size; EXIF rotation is applied,
transparency is filled with --background). The speech can be WAV, MP3, FLAC,
OGG/Vorbis or M4A/AAC at any sample rate. The video has exactly
round(audio duration x fps) frames, with the speech as its soundtrack.

The output type follows the file name:
  OUT.mp4   H.264 + AAC MP4 that plays in browsers and VLC (needs ffmpeg;
            pip installs one with the imageio-ffmpeg package)
  OUT.gif   animated GIF, no sound, no ffmpeg needed
  FOLDER    numbered PNG frames plus audio.wav, no ffmpeg needed
            (use --format png, or a name without extension)

Motion engine: "loudness", the current placeholder. The mouth opens with the
loudness of the speech around a mouth position (--mouth), and the head sways
gently (--seed). Landmark-driven face analysis, learned visemes and a
mesh-driven renderer replace it in coming releases.

examples:
  voxportrait animate portrait.png speech.wav -o talk.mp4
  voxportrait animate face.jpg line.mp3 -o talk.mp4 --fps 29.97 --size 768
  voxportrait animate face.webp line.flac -o talk.gif --fps 15 --size 256
  voxportrait animate face.png line.wav -o frames --format png
"""


def _fraction_pair(text: str):
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected X,Y fractions such as 0.5,0.66, got {text!r}")
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise argparse.ArgumentTypeError("mouth position fractions must lie between 0 and 1")
    return (x, y)


def _ranged(convert, lo, hi, expected, rule, allow=()):
    """An argparse type: ``convert(text)`` that must lie in ``[lo, hi]``
    (or be one of ``allow``), with messages naming what was expected."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        if value not in allow and not lo <= value <= hi:
            raise argparse.ArgumentTypeError(rule)
        return value

    return parse


_size = _ranged(int, 64, 4096, "a whole number of pixels",
                "size must be 0 (keep) or between 64 and 4096 pixels", allow=(0,))
_scale = _ranged(float, 0.0, 4.0, "a number", "scales must lie between 0 and 4")
_positive_seconds = _ranged(float, 1e-3, float("inf"), "seconds", "must be positive")
_seed = _ranged(int, 0, 2**64 - 1, "a whole number", "seed must be between 0 and 2^64-1")


def _fps(text: str) -> str:
    from . import _native

    try:
        _native.parse_fps(text)
    except _native.InputError as e:
        raise argparse.ArgumentTypeError(str(e))
    return text


def _colour(text: str):
    t = text.strip().lstrip("#")
    if len(t) == 6:
        try:
            return tuple(int(t[i : i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"expected a hex colour such as ffffff, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from . import __version__
    from .api import DEFAULT_MAX_AUDIO_SECONDS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="voxportrait",
        description="VoxPortrait: a portrait plus speech becomes a talking-head video.",
        epilog=EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="version", version=f"voxportrait {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    a = sub.add_parser(
        "animate",
        help="portrait + speech -> talking-head video",
        description=ANIMATE_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    a.add_argument("image", metavar="IMAGE", help="portrait: PNG, JPEG or WebP")
    a.add_argument("audio", metavar="AUDIO", help="speech: WAV, MP3, FLAC, OGG or M4A")
    a.add_argument(
        "-o", "--output", metavar="OUT",
        help="output .mp4, .gif or folder (default: IMAGE-NAME.mp4 in the current folder)",
    )
    a.add_argument("--fps", type=_fps, default="25",
                   help="frame rate: any value, e.g. 24, 25, 29.97, 30000/1001, 60 (default 25)")
    a.add_argument("--size", type=_size, default=512,
                   help="longer side of the video in pixels, 64-4096; 0 keeps the portrait's size (default 512)")
    a.add_argument("--seed", type=_seed, default=0,
                   help="seed of the random head motion; same seed, same video (default 0)")
    a.add_argument("--format", choices=["mp4", "gif", "png"],
                   help="output type, overriding the guess from the file name")
    a.add_argument("--mouth-scale", type=_scale, default=1.0, metavar="S",
                   help="how wide the mouth opens, 0-4 (default 1)")
    a.add_argument("--head-scale", type=_scale, default=1.0, metavar="S",
                   help="how much the head moves, 0-4; 0 keeps it still (default 1)")
    a.add_argument("--mouth", type=_fraction_pair, metavar="X,Y",
                   help="mouth centre as fractions of width and height (default 0.495,0.655, "
                        "right for centred head-and-shoulders portraits)")
    a.add_argument("--background", type=_colour, default=(255, 255, 255), metavar="RRGGBB",
                   help="colour behind transparent portraits (default ffffff)")
    a.add_argument("--max-audio-seconds", type=_positive_seconds, default=DEFAULT_MAX_AUDIO_SECONDS,
                   metavar="SECONDS",
                   help=f"refuse longer audio (default {DEFAULT_MAX_AUDIO_SECONDS:g} s); the audio is "
                        "held in memory while frames stream to the file")
    a.add_argument("--allow-silent", action="store_true",
                   help="render silent audio as an idle face instead of refusing it")
    a.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary to use for MP4 output")
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    f = sub.add_parser(
        "face",
        help="find faces: 468-point mesh, head pose, optional JSON and overlay",
        description=FACE_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    f.add_argument("image", metavar="IMAGE", help="photo: PNG, JPEG or WebP")
    f.add_argument("--json", metavar="OUT.json", help="write every result (landmarks, box, pose) as JSON")
    f.add_argument("--overlay", metavar="OUT.png",
                   help="write the image with the mesh, detection box, ROI and pose axes drawn on it")
    which = f.add_mutually_exclusive_group()
    which.add_argument("--face-index", type=_ranged(int, 0, 10_000, "a whole number", "must be 0 or more"),
                       default=0, metavar="N", help="which face when there are several, largest first (default 0)")
    which.add_argument("--all", action="store_true", help="analyse every face")
    f.add_argument("--min-score", type=_ranged(float, 0.01, 0.99, "a number", "must lie between 0.01 and 0.99"),
                   metavar="S", help="detector confidence threshold (default 0.5 short range, 0.6 full range)")

    sub.add_parser("info", help="show version, engine and the ffmpeg that would be used",
                   description="Show version, engine and the ffmpeg that would be used.",
                   epilog=EPILOG, formatter_class=fmt)
    return parser


FACE_DESCRIPTION = """\
Find faces in a photo with the MediaPipe-compatible face detector and
468-point face mesh (run in the Rust core, weights built in), and fit the
head pose (yaw, pitch, roll, translation, scale) to the canonical face.

Prints one line per face. --json writes all numbers (landmarks in image
pixels, iris landmarks and gaze), --overlay draws the mesh, irises,
detection box, crop region and pose axes
(x red, y green, z blue) on the photo.

examples:
  voxportrait face portrait.jpg --overlay mesh.png
  voxportrait face group.jpg --all --json faces.json
"""


def _fail(code: int, message: str) -> int:
    print(f"voxportrait: error: {message}", file=sys.stderr)
    return code


def _run_animate(args) -> int:
    from tqdm import tqdm

    from .api import animate

    output = args.output or os.path.splitext(os.path.basename(args.image))[0] + ".mp4"
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if args.quiet:
            return
        if bar is None:
            bar = tqdm(total=total, unit="frame", desc="animate", file=sys.stderr,
                       dynamic_ncols=True, leave=False)
        bar.update(done - bar.n)

    try:
        report = animate(
            args.image, args.audio, output,
            fps=args.fps, size=args.size, seed=args.seed, format=args.format,
            mouth_scale=args.mouth_scale, head_scale=args.head_scale,
            mouth_position=args.mouth, max_audio_seconds=args.max_audio_seconds,
            allow_silent=args.allow_silent, background=args.background,
            ffmpeg=args.ffmpeg, progress=progress,
        )
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(
            f"voxportrait: wrote {report['frames']} frames {report['width']}x{report['height']} "
            f"at {report['fps']} fps ({report['audio_seconds']:.2f} s, {report['format']})",
            file=sys.stderr,
        )
    print(report["output"])
    return EXIT_OK


def _run_face(args) -> int:
    from . import face as face_api
    from . import load_image

    image = load_image(args.image)
    if args.all:
        faces = face_api.analyze_faces(image, min_score=args.min_score, overlay=args.overlay)
    else:
        faces = [face_api.analyze_face(image, args.face_index, min_score=args.min_score, overlay=args.overlay)]
    if args.json:
        face_api.write_json(faces, args.json, (image.shape[1], image.shape[0]))
    for i, f in enumerate(faces):
        x0, y0, x1, y1 = f.box
        p = f.pose
        print(f"face {i if args.all else args.face_index}: box {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} "
              f"score {f.score:.2f} presence {f.presence:.2f} | yaw {p.yaw_degrees:+.1f} "
              f"pitch {p.pitch_degrees:+.1f} roll {p.roll_degrees:+.1f} deg | "
              f"eyes {f.interocular:.0f} px apart"
              + ("" if f.gaze is None else f" | gaze {f.gaze[0]:+.2f},{f.gaze[1]:+.2f}"))
    return EXIT_OK


def _run_info() -> int:
    from . import __version__
    from .api import ENGINE, find_ffmpeg

    print(f"voxportrait {__version__}")
    print(f"motion engine: {ENGINE} (placeholder)")
    try:
        print(f"ffmpeg: {find_ffmpeg()}")
    except Exception as e:  # report, do not fail: GIF/PNG output still works
        print(f"ffmpeg: none ({e})")
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``voxportrait`` console script."""
    from . import _native

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    codes = [
        (_native.InputError, EXIT_INPUT),
        (_native.OutputError, EXIT_OUTPUT),
        (_native.EncoderError, EXIT_ENCODER),
        (_native.CancelledError, EXIT_INTERRUPTED),
    ]
    try:
        if args.command == "animate":
            return _run_animate(args)
        if args.command == "face":
            return _run_face(args)
        return _run_info()
    except KeyboardInterrupt:
        print("voxportrait: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _native.VoxPortraitError as e:
        if os.environ.get("VOXPORTRAIT_DEBUG"):
            raise
        code = next((c for cls, c in codes if isinstance(e, cls)), EXIT_INTERNAL)
        return _fail(code, str(e))
    except Exception as e:  # last resort: one line, not a traceback
        if os.environ.get("VOXPORTRAIT_DEBUG"):
            raise
        return _fail(EXIT_INTERNAL, f"unexpected {type(e).__name__}: {e} "
                                    "(a bug; rerun with VOXPORTRAIT_DEBUG=1 and report it)")
