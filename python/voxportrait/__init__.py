"""VoxPortrait: a portrait plus speech becomes a talking-head video.

The heavy lifting happens in a Rust core (``voxportrait._native``); this
package adds the command line (``voxportrait`` / ``python -m voxportrait``)
and a small Python API. Importing it does no work beyond loading the native
module: no models, no network.

>>> import voxportrait
>>> voxportrait.animate("portrait.png", "speech.wav", "out.mp4", fps=30)  # doctest: +SKIP
"""

from ._native import (
    CancelledError,
    EncoderError,
    InputError,
    InternalError,
    OutputError,
    VoxPortraitError,
    __version__,
    frame_count,
    load_audio,
    load_image,
    parse_fps,
    resample,
)
from .api import DEFAULT_MAX_AUDIO_SECONDS, STREAMING_MAX_AUDIO_SECONDS, animate, dub, find_ffmpeg, reenact
from .frames import Dubber, MotionFitter, dub_frames, motion_from_frames
from .face import Eye, Face, HeadPose, analyze_face, analyze_faces
from .motion import ENGINES, HEAD_PRESETS, Motion, audio_to_motion, idle_motion, motion_from_video
from .render import FRAMINGS, RESTING_MOUTHS, Renderer

__all__ = [
    "CancelledError",
    "DEFAULT_MAX_AUDIO_SECONDS",
    "STREAMING_MAX_AUDIO_SECONDS",
    "Dubber",
    "ENGINES",
    "FRAMINGS",
    "EncoderError",
    "Eye",
    "Face",
    "HEAD_PRESETS",
    "RESTING_MOUTHS",
    "HeadPose",
    "InputError",
    "InternalError",
    "Motion",
    "MotionFitter",
    "OutputError",
    "Renderer",
    "VoxPortraitError",
    "__version__",
    "analyze_face",
    "analyze_faces",
    "animate",
    "audio_to_motion",
    "dub",
    "dub_frames",
    "find_ffmpeg",
    "frame_count",
    "idle_motion",
    "load_audio",
    "load_image",
    "motion_from_frames",
    "motion_from_video",
    "parse_fps",
    "reenact",
    "resample",
]
