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

Motion: visemes from the speech (--engine learned: Whisper tiny.en features
and a trained head; --engine energy: model-free, for any language and
singing) drive the mouth with coarticulation; the head moves with the
speech's stresses and pauses (--head-preset, --head-scale, --still), the eyes
blink (--blink-rate) and the brows rise on pitch accents (--brow-scale).
Rendering: face analysis finds the 468-point face mesh; a mesh-driven warp
moves jaw, lips, lids, brows and the whole head, paints the mouth interior
(reusing real teeth when the portrait shows them) and leaves everything
outside the head region untouched. --framing picks the output: resize (the
whole portrait scaled to --size), crop (an aligned face crop, --size a side)
or full (the whole portrait at its own resolution). For a stylised portrait
whose face is not found, --mouth X,Y gives a mouth-only animation.

Batch: --batch JOBS.csv|JOBS.jsonl runs many jobs unattended (columns image,
audio, output, plus any option by its long name, e.g. fps, framing,
head_preset) and prints a summary of successes and failures.
Relative paths resolve against the manifest's folder; a job without output
writes IMAGE-NAME.mp4 beside the manifest, or in the folder -o names. Options
on the command line are defaults that a job's columns override. Every job is
checked first; invalid ones are reported as failed and the rest still run.
stdout lists the outputs written; the exit code is 0 when all jobs succeeded,
3 when any failed, 130 on Ctrl-C (--batch-report FILE.json saves the summary).

examples:
  voxportrait animate portrait.png speech.wav -o talk.mp4
  voxportrait animate face.jpg line.mp3 -o talk.mp4 --fps 29.97 --size 768
  voxportrait animate face.webp line.flac -o talk.gif --fps 15 --size 256
  voxportrait animate group.jpg line.wav -o talk.mp4 --framing full --face-index 1
  voxportrait animate photo.jpg line.wav -o talk.mp4 --framing crop --size 512
  voxportrait animate face.png line.wav -o frames --format png
  voxportrait animate --batch jobs.csv -o renders --size 256 --batch-report report.json
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
_face_index = _ranged(int, 0, 10_000, "a whole number", "a face index must be 0 or more (0 = the largest face)")


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


def _motion_arguments(p) -> None:
    """Motion controls shared by ``animate`` and ``motion``."""
    from .motion import ENGINES, HEAD_PRESETS

    p.add_argument("--engine", choices=ENGINES, default="learned",
                   help="viseme engine: learned (Whisper + trained head, best on speech) or energy "
                        "(model-free, any language, singing) (default learned)")
    p.add_argument("--mouth-scale", type=_scale, default=1.0, metavar="S",
                   help="how wide the mouth opens, 0-4 (default 1)")
    p.add_argument("--head-scale", type=_scale, default=1.0, metavar="S",
                   help="how much the head moves, 0-4; 0 keeps it still (default 1)")
    p.add_argument("--head-preset", choices=HEAD_PRESETS, default="calm",
                   help="style of head motion (default calm)")
    p.add_argument("--still", action="store_true", help="keep the head still (same as --head-scale 0)")
    p.add_argument("--blink-rate", type=_ranged(float, 0, 120, "a number", "blink rate must lie between 0 and 120"),
                   default=17.0, metavar="PER_MIN", help="blinks per minute, 0 for none (default 17)")
    p.add_argument("--brow-scale", type=_scale, default=1.0, metavar="S",
                   help="brow raises on pitch accents, 0-4 (default 1)")


def _motion_kwargs(args) -> dict:
    return dict(engine=args.engine, mouth_scale=args.mouth_scale,
                head_scale=0.0 if args.still else args.head_scale, head_preset=args.head_preset,
                blink_rate=args.blink_rate, brow_scale=args.brow_scale)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    from . import __version__
    from .api import DEFAULT_MAX_AUDIO_SECONDS, STREAMING_MAX_AUDIO_SECONDS
    from .render import RESTING_MOUTHS

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
        usage="%(prog)s IMAGE AUDIO [-o OUT] [options]\n"
              "       %(prog)s --batch JOBS.csv|JOBS.jsonl [-o DIR] [--batch-report FILE.json] [options]",
        description=ANIMATE_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    a.add_argument("image", metavar="IMAGE", nargs="?", help="portrait: PNG, JPEG or WebP (not with --batch)")
    a.add_argument("audio", metavar="AUDIO", nargs="?", help="speech: WAV, MP3, FLAC, OGG or M4A (not with --batch)")
    a.add_argument(
        "-o", "--output", metavar="OUT",
        help="output .mp4, .gif or folder (default: IMAGE-NAME.mp4 in the current folder); "
             "with --batch, the folder for jobs without an output column",
    )
    a.add_argument("--batch", metavar="JOBS.csv|JOBS.jsonl",
                   help="run every job of a CSV or JSONL manifest instead of IMAGE AUDIO")
    a.add_argument("--batch-report", metavar="FILE.json",
                   help="with --batch, also write the summary (status, seconds, output or error per job) as JSON")
    a.add_argument("--fps", type=_fps, default="25",
                   help="frame rate: any value, e.g. 24, 25, 29.97, 30000/1001, 60 (default 25)")
    a.add_argument("--size", type=_size, default=512,
                   help="longer side of the video in pixels, 64-4096; 0 keeps the portrait's size (default 512); "
                        "with --framing crop, the side of the square crop")
    a.add_argument("--framing", choices=["resize", "crop", "full"], default="resize",
                   help="resize: the whole portrait scaled to --size; crop: an aligned face crop "
                        "--size a side (256, 512, 1024); full: the whole portrait at its own "
                        "resolution (default resize)")
    a.add_argument("--face-index", type=int, default=0, metavar="N",
                   help="which face to animate when there are several, 0 = the largest (default 0)")
    a.add_argument("--seed", type=_seed, default=0,
                   help="seed of the random head motion; same seed, same video (default 0)")
    a.add_argument("--format", choices=["mp4", "gif", "png"],
                   help="output type, overriding the guess from the file name")
    _motion_arguments(a)
    a.add_argument("--mouth", type=_fraction_pair, metavar="X,Y",
                   help="mouth centre as fractions of width and height (default: found by "
                        "face analysis)")
    a.add_argument("--resting-mouth", choices=RESTING_MOUTHS, default="keep-smile",
                   help="the portrait's mouth at rest, where speech starts from: keep-smile closes "
                        "an open mouth and keeps a smile, neutral also relaxes the smile, photo "
                        "leaves the photo's mouth as it is (default keep-smile)")
    a.add_argument("--background", type=_colour, default=(255, 255, 255), metavar="RRGGBB",
                   help="colour behind transparent portraits (default ffffff)")
    a.add_argument("--ref-video", metavar="VIDEO",
                   help="a talking video whose head motion and blinks replace the generated ones "
                        "(SadTalker's ref_pose / ref_eyeblink); the mouth still follows the audio")
    a.add_argument("--ref-parts", type=_ref_parts, default=("pose", "blinks"), metavar="PARTS",
                   help="what --ref-video lends: pose, blinks, or pose,blinks (default)")
    a.add_argument("--max-audio-seconds", type=_positive_seconds, default=STREAMING_MAX_AUDIO_SECONDS,
                   metavar="SECONDS",
                   help=f"refuse longer audio (default {STREAMING_MAX_AUDIO_SECONDS:g} s, 6 hours). "
                        "Memory does not grow with the length: the audio is analysed a minute at a "
                        "time, the soundtrack is copied to the encoder through a temporary WAV on "
                        "disk (about 5.3 MB per minute at 44.1 kHz) and frames stream to the file; "
                        "the limit only stops a wrong file from running for hours")
    a.add_argument("--allow-silent", action="store_true",
                   help="render silent audio as an idle face instead of refusing it")
    a.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary to use for MP4 output")
    a.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar or summary (with --batch: only errors and a one-line count)")

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

    m = sub.add_parser(
        "motion",
        help="speech -> motion JSON (expressions, head pose) and viseme exports",
        description=MOTION_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    src = m.add_mutually_exclusive_group(required=True)
    src.add_argument("audio", metavar="AUDIO", nargs="?", help="speech: WAV, MP3, FLAC, OGG or M4A")
    src.add_argument("--idle", type=_positive_seconds, metavar="SECONDS",
                     help="no audio: natural idle motion for this long")
    m.add_argument("-o", "--output", metavar="OUT.json", required=True, help="motion JSON to write")
    m.add_argument("--visemes", metavar="OUT.tsv|OUT.json",
                   help="also write Rhubarb-compatible mouth cues (TSV or JSON by extension)")
    m.add_argument("--ovr", metavar="OUT.json", help="also write OVR per-frame viseme weights")
    m.add_argument("--fps", type=_fps, default="25", help="frame rate of the motion (default 25)")
    m.add_argument("--seed", type=_seed, default=0, help="seed of head motion and blinks (default 0)")
    _motion_arguments(m)
    m.add_argument("--max-audio-seconds", type=_positive_seconds, default=DEFAULT_MAX_AUDIO_SECONDS,
                   metavar="SECONDS", help=f"refuse longer audio (default {DEFAULT_MAX_AUDIO_SECONDS:g} s)")

    d = sub.add_parser(
        "dub",
        help="re-animate the mouth of a video to new speech (lip-sync dubbing)",
        description=DUB_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    d.add_argument("video", metavar="VIDEO", help="talking video: MP4, MOV, MKV or WebM (any frame rate)")
    d.add_argument("audio", metavar="AUDIO", help="new speech: WAV, MP3, FLAC, OGG or M4A")
    d.add_argument("-o", "--output", metavar="OUT.mp4", required=True, help="MP4 to write")
    d.add_argument("--length", choices=["loop", "pingpong", "pad", "cut"], default="loop",
                   help="when speech and video differ in length: loop the video (default), play it "
                        "forward and backward (pingpong: no jump at the seam; decoded frames wait in a "
                        "temporary file, W x H x 3 bytes each), hold its last frame (pad), or stop at "
                        "the shorter (cut)")
    d.add_argument("--lip-strength", type=_scale, default=1.0, metavar="S",
                   help="how wide the new mouth opens, 0-4 (default 1)")
    d.add_argument("--mix-original", type=_ranged(float, 0.0, 1.0, "a number", "must lie between 0 and 1"),
                   default=0.0, metavar="LEVEL",
                   help="keep the original soundtrack under the new speech at this level, 0-1 "
                        "(default 0: replaced)")
    d.add_argument("--face-index", type=int, default=0, metavar="N",
                   help="which face to dub when there are several, 0 = the largest (default 0)")
    d.add_argument("--smoothing", type=_ranged(float, 0.05, 20.0, "Hz", "must lie between 0.05 and 20"),
                   default=1.5, metavar="HZ",
                   help="landmark smoothing cutoff in Hz; lower is steadier (default 1.5)")
    d.add_argument("--region", choices=["lower-face", "mouth"], default="lower-face",
                   help="what is re-rendered: the lower face (jaw, lips, chin; default) or only the mouth "
                        "(the chin stays the original's)")
    d.add_argument("--template", choices=["neutral", "smile"], default="neutral",
                   help="the expression the original mouth is neutralised to under the speech (default neutral)")
    d.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary to use")
    d.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    r = sub.add_parser(
        "reenact",
        help="drive a portrait with the face motion of a video",
        description=REENACT_DESCRIPTION,
        epilog=EPILOG,
        formatter_class=fmt,
    )
    r.add_argument("image", metavar="IMAGE", help="portrait: PNG, JPEG or WebP")
    r.add_argument("video", metavar="VIDEO", help="driving video with a face: MP4, MOV, MKV or WebM")
    r.add_argument("-o", "--output", metavar="OUT.mp4", required=True, help="MP4 to write")
    r.add_argument("--size", type=_size, default=512, help="output size as for animate (default 512)")
    r.add_argument("--framing", choices=["resize", "crop", "full"], default="resize",
                   help="framing of the portrait, as for animate (default resize)")
    r.add_argument("--face-index", type=_face_index, default=0, metavar="N",
                   help="which face of the portrait IMAGE moves, 0 = the largest (default 0)")
    r.add_argument("--driving-face-index", type=_face_index, default=0, metavar="N",
                   help="which face of the driving VIDEO it follows, 0 = the largest (default 0)")
    r.add_argument("--absolute", action="store_true",
                   help="transfer absolute motion (default: relative to the video's first frame)")
    r.add_argument("--parts", default="pose,eyes,brows,mouth", metavar="LIST",
                   help="what to transfer, comma-separated from pose, eyes, brows, mouth (default all)")
    r.add_argument("--smoothing", type=_ranged(float, 0.05, 20.0, "Hz", "must lie between 0.05 and 20"),
                   default=1.5, metavar="HZ", help="landmark smoothing cutoff in Hz (default 1.5)")
    r.add_argument("--ffmpeg", metavar="PATH", help="ffmpeg binary to use")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")

    sub.add_parser("info", help="show version, engine and the ffmpeg that would be used",
                   description="Show version, engine and the ffmpeg that would be used.",
                   epilog=EPILOG, formatter_class=fmt)

    from .ui import add_parser as add_ui_parser  # no gradio import until it runs

    add_ui_parser(sub, fmt, EPILOG)
    return parser


DUB_DESCRIPTION = """\
Lip-sync an existing talking video to new speech (dubbing, translation).
The face is tracked frame by frame (landmarks smoothed so nothing jitters);
the original mouth movement is measured and replaced by the new speech's;
only the jaw, lips and the skin around them are re-rendered, so the head,
eyes and background stay the original's. Frames are decoded, changed and
encoded one at a time: any length, flat memory. Frames without a face pass
through with a short cross-fade; scene cuts re-detect the face. The output
has the new speech as its soundtrack (--mix-original keeps the old one under
it). Needs ffmpeg (pip installs one with imageio-ffmpeg).

examples:
  voxportrait dub interview.mp4 french.wav -o interview_fr.mp4
  voxportrait dub clip.mov line.mp3 -o out.mp4 --length cut --mix-original 0.2
"""


REENACT_DESCRIPTION = """\
Drive a portrait with the face motion of a video (reenactment). The video's
face is tracked frame by frame; head pose and expression (jaw, pucker,
spread, blinks, brows) are fitted on VoxPortrait's expression basis, relative
to the video's first frame by default, and render the portrait. The output
has the video's frame rate and soundtrack. Frames stream; only the motion is
kept.

examples:
  voxportrait reenact portrait.png driver.mp4 -o out.mp4
  voxportrait reenact art.png clip.mov -o out.mp4 --parts pose,eyes --framing crop
  voxportrait reenact group.jpg panel.mp4 -o out.mp4 --face-index 1 --driving-face-index 2
"""


MOTION_DESCRIPTION = """\
Turn speech into motion: per video frame, expression coefficients (jaw open,
lip closure, pucker, spread, upper-lip raise, lower-lip tuck, blinks, brow
raise), head pose (yaw, pitch, roll, translation, scale) and gaze, as
voxportrait.motion/1 JSON for the renderer, ComfyUI or your own tools.
--visemes writes the mouth shapes as Rhubarb Lip Sync cues (A-H, X; .tsv or
.json) for Blender, Live2D and VTuber tools; --ovr writes per-frame weights
of the 15 OVR visemes.

examples:
  voxportrait motion speech.wav -o motion.json --visemes mouth.tsv
  voxportrait motion song.flac -o motion.json --engine energy --head-preset singing
  voxportrait motion --idle 10 -o idle.json --fps 30
"""


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


def _ref_parts(text: str) -> tuple:
    parts = tuple(p.strip().lower() for p in str(text).split(",") if p.strip())
    if not parts or set(parts) - {"pose", "blinks"}:
        raise argparse.ArgumentTypeError(f"expected pose, blinks or pose,blinks, got {text!r}")
    return parts


def _animate_kwargs(args) -> dict:
    """Keyword arguments of :func:`voxportrait.api.animate` from parsed options
    (shared by the single job and ``--batch``)."""
    return dict(
        fps=args.fps, size=args.size, framing=args.framing, face_index=args.face_index,
        seed=args.seed, format=args.format,
        **_motion_kwargs(args), mouth_position=args.mouth,
        resting_mouth=getattr(args, "resting_mouth", "keep-smile"),
        max_audio_seconds=args.max_audio_seconds,
        allow_silent=args.allow_silent, background=args.background, ffmpeg=args.ffmpeg,
        reference_video=getattr(args, "ref_video", None),
        reference_parts=getattr(args, "ref_parts", ("pose", "blinks")),
    )


def _exit_code_of(e: BaseException) -> int:
    """The exit code that an exception raised by a job stands for."""
    from . import _native

    codes = [
        (_native.InputError, EXIT_INPUT),
        (_native.OutputError, EXIT_OUTPUT),
        (_native.EncoderError, EXIT_ENCODER),
        (_native.CancelledError, EXIT_INTERRUPTED),
    ]
    return next((c for cls, c in codes if isinstance(e, cls)), EXIT_INTERNAL)


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _check_animate_args(args, animate_parser: argparse.ArgumentParser) -> None:
    """IMAGE AUDIO or --batch, not both (argparse exits 2 with usage)."""
    if args.batch is not None:
        if args.image is not None or args.audio is not None:
            animate_parser.error("--batch runs the jobs of its manifest; do not give IMAGE or AUDIO with it")
    else:
        if args.image is None or args.audio is None:
            animate_parser.error("the following arguments are required: IMAGE, AUDIO (or --batch JOBS.csv)")
        if args.batch_report is not None:
            animate_parser.error("--batch-report needs --batch")


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
        report = animate(args.image, args.audio, output, **_animate_kwargs(args), progress=progress)
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


class _Bar:
    """A tqdm bar created on the first progress call (so a failing job
    shows none), or nothing at all with --quiet."""

    def __init__(self, quiet: bool, desc: str, unit: str):
        self.quiet, self.desc, self.unit, self.bar = quiet, desc, unit, None

    def __call__(self, done: int, total: int) -> None:
        if self.quiet:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit=self.unit, desc=self.desc, file=sys.stderr,
                            dynamic_ncols=True, leave=False)
        self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress_bar(quiet: bool, desc: str, unit: str):
    """A progress callback for a job, and the object to close after it."""
    bar = _Bar(quiet, desc, unit)
    return bar, bar


def _run_dub(args) -> int:
    from .api import dub

    progress, bar = _progress_bar(args.quiet, "dub", "frame")
    try:
        report = dub(args.video, args.audio, args.output, lip_strength=args.lip_strength,
                     length=args.length, mix_original=args.mix_original, face_index=args.face_index,
                     smoothing=args.smoothing, ffmpeg=args.ffmpeg, progress=progress,
                     region=args.region, template=args.template)
    finally:
        bar.close()
    if not args.quiet:
        print(
            f"voxportrait: wrote {report['frames']} frames {report['width']}x{report['height']} "
            f"at {report['fps']} fps; mouth re-animated in {report['dubbed_frames']}",
            file=sys.stderr,
        )
    print(args.output)
    return EXIT_OK


def _run_reenact(args) -> int:
    from .api import reenact

    progress, bar = _progress_bar(args.quiet, "reenact", "step")
    try:
        report = reenact(args.image, args.video, args.output, framing=args.framing, size=args.size,
                         face_index=args.face_index, driving_face_index=args.driving_face_index,
                         relative=not args.absolute,
                         parts=[p for p in args.parts.split(",") if p.strip()], smoothing=args.smoothing,
                         ffmpeg=args.ffmpeg, progress=progress)
    finally:
        bar.close()
    if not args.quiet:
        sound = "with the video's soundtrack" if report["with_audio"] else "no soundtrack"
        print(f"voxportrait: wrote {report['frames']} frames {report['width']}x{report['height']} "
              f"at {report['fps']} fps, {sound}", file=sys.stderr)
    print(args.output)
    return EXIT_OK


def _run_motion(args) -> int:
    from . import motion as motion_api

    if args.idle is not None:
        if args.visemes or args.ovr:
            return _fail(EXIT_USAGE, "--visemes and --ovr need audio, not --idle")
        kw = _motion_kwargs(args)
        m = motion_api.idle_motion(args.idle, fps=args.fps, seed=args.seed, head_scale=kw["head_scale"],
                                   head_preset=kw["head_preset"], blink_rate=kw["blink_rate"])
    else:
        m = motion_api.audio_to_motion(args.audio, fps=args.fps, seed=args.seed,
                                       max_audio_seconds=args.max_audio_seconds, **_motion_kwargs(args))
    # Validate every output folder before writing any file.
    for path in filter(None, [args.output, args.visemes, args.ovr]):
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            return _fail(EXIT_OUTPUT, f"{path}: output folder {folder} does not exist; create it first")
    m.save(args.output)
    if args.visemes:
        m.save_visemes(args.visemes)
    if args.ovr:
        m.save_visemes(args.ovr, "ovr")
    engine = f", {m.engine} engine, {len(m.segments)} viseme segments" if m.engine else ""
    print(f"voxportrait: {m.frames} frames at {m.fps} fps ({m.duration:.2f} s{engine})", file=sys.stderr)
    print(args.output)
    return EXIT_OK


def _run_info() -> int:
    from . import __version__
    from .api import find_ffmpeg

    print(f"voxportrait {__version__}")
    print("viseme engines: learned (default), energy; renderer: mesh (mouth-warp fallback with --mouth)")
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
    if args.command == "ui":
        from .ui import main as ui_main  # says what to install when gradio is missing

        return ui_main(args)
    if args.command == "animate":
        _check_animate_args(args, _subparser(parser, "animate"))
    try:
        if args.command == "animate" and args.batch is not None:
            from .batch import run_batch

            return run_batch(args, _subparser(parser, "animate"))
        if args.command == "animate":
            return _run_animate(args)
        if args.command == "face":
            return _run_face(args)
        if args.command == "motion":
            return _run_motion(args)
        if args.command == "dub":
            return _run_dub(args)
        if args.command == "reenact":
            return _run_reenact(args)
        return _run_info()
    except KeyboardInterrupt:
        print("voxportrait: interrupted; no output written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _native.VoxPortraitError as e:
        if os.environ.get("VOXPORTRAIT_DEBUG"):
            raise
        return _fail(_exit_code_of(e), str(e))
    except Exception as e:  # last resort: one line, not a traceback
        if os.environ.get("VOXPORTRAIT_DEBUG"):
            raise
        return _fail(EXIT_INTERNAL, f"unexpected {type(e).__name__}: {e} "
                                    "(a bug; rerun with VOXPORTRAIT_DEBUG=1 and report it)")
