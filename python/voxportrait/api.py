"""The Python API over the native core: one call per job.

Everything heavy runs in Rust with the GIL released; these wrappers only
fill in defaults that need Python (such as the ffmpeg that the
``imageio-ffmpeg`` package installs).
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence, Tuple, Union

from . import _native

PathLike = Union[str, "os.PathLike[str]"]

#: Longest audio accepted unless ``max_audio_seconds`` says otherwise.
DEFAULT_MAX_AUDIO_SECONDS: float = _native.DEFAULT_MAX_AUDIO_SECONDS

#: Longest audio ``animate`` accepts unless ``max_audio_seconds`` says
#: otherwise (6 hours): its audio streams, so memory does not grow with the
#: length; the limit only stops a wrong file from running for hours.
STREAMING_MAX_AUDIO_SECONDS: float = _native.STREAMING_MAX_AUDIO_SECONDS


def ffmpeg_candidates() -> list:
    """ffmpeg binaries to try after ``$VOXPORTRAIT_FFMPEG``: the one bundled
    with the ``imageio-ffmpeg`` package, when it is installed."""
    try:
        import imageio_ffmpeg  # small, pure Python; imported only when needed
    except ImportError:
        return []
    try:
        return [imageio_ffmpeg.get_ffmpeg_exe()]
    except Exception:  # its own lookup failed; PATH is still tried
        return []


def find_ffmpeg(explicit: Optional[PathLike] = None) -> str:
    """Path of a working ffmpeg with an H.264 encoder.

    Order: ``explicit``, ``$VOXPORTRAIT_FFMPEG``, imageio-ffmpeg's binary,
    then ``ffmpeg`` on PATH. Raises :class:`EncoderError` when none works.
    """
    return os.fspath(_native.find_ffmpeg(explicit, ffmpeg_candidates()))


def animate(
    image: PathLike,
    audio: PathLike,
    output: PathLike,
    *,
    fps: Union[str, float, int] = 25,
    size: int = 512,
    framing: str = "resize",
    face_index: int = 0,
    seed: int = 0,
    format: Optional[str] = None,
    engine: str = "learned",
    mouth_scale: float = 1.0,
    head_scale: float = 1.0,
    head_preset: str = "calm",
    blink_rate: float = 17.0,
    brow_scale: float = 1.0,
    mouth_position: Optional[Tuple[float, float]] = None,
    resting_mouth: str = "keep-smile",
    max_audio_seconds: float = STREAMING_MAX_AUDIO_SECONDS,
    allow_silent: bool = False,
    background: Sequence[int] = (255, 255, 255),
    ffmpeg: Optional[PathLike] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    reference_video: Optional[PathLike] = None,
    reference_parts: Sequence[str] = ("pose", "blinks"),
) -> dict:
    """Animate ``image`` with the speech in ``audio`` and write ``output``.

    ``output`` ending in ``.mp4`` gives H.264 + AAC (needs ffmpeg), ``.gif``
    an animated GIF, and a name without extension a folder of PNG frames plus
    ``audio.wav``; ``format`` ("mp4", "gif", "png") overrides the guess.
    ``fps`` is any rate, including "29.97" or "30000/1001". ``size`` is the
    longer output side in pixels (0 keeps the portrait's size). ``framing`` is
    "resize" (the whole portrait scaled to ``size``), "crop" (an aligned face
    crop ``size`` pixels a side) or "full" (the portrait at its own
    resolution); ``face_index`` picks among several faces (0 = largest).
    ``engine`` picks the viseme engine ("learned" or "energy"), ``head_preset``
    the style of head motion ("calm", "lively", "newsreader", "singing");
    ``head_scale=0`` is still mode and ``blink_rate=0`` turns blinks off.
    ``mouth_position`` (fractions of width and height) skips face analysis
    and gives a mouth-only animation, for portraits whose face is not found.
    ``resting_mouth`` is the portrait's mouth at rest, where speech starts
    from: "keep-smile" (default) closes an open mouth and keeps a smile,
    "neutral" also relaxes the smile, "photo" leaves the photo's mouth as is.
    ``progress(done, total)`` is called after each frame; an exception raised
    in it (or Ctrl-C) stops the job and leaves no partial file.
    ``reference_video`` lends the animation a real video's head motion
    (``"pose"``, relative to its first frame) and/or ``"blinks"`` (SadTalker's
    ref_pose / ref_eyeblink) while the mouth follows the audio; a shorter
    video plays forward and backward.

    Returns a report dict (output, format, frames, width, height, fps, ...).
    Raises :class:`InputError`, :class:`OutputError` or :class:`EncoderError`
    with a one-line message that says what to do.
    """
    bg = tuple(int(c) for c in background)
    if len(bg) != 3 or not all(0 <= c <= 255 for c in bg):
        raise _native.InputError("background must be three integers 0-255")
    parts = {str(p).strip().lower() for p in reference_parts}
    if reference_video is not None and (not parts or parts - {"pose", "blinks"}):
        raise _native.InputError("reference_parts must be pose, blinks or both, got "
                                 f"{', '.join(sorted(parts)) or 'nothing'}")
    return _native.animate(
        os.fspath(image),
        os.fspath(audio),
        os.fspath(output),
        fps=str(fps),
        size=int(size),
        framing=str(framing),
        face_index=int(face_index),
        seed=int(seed) % 2**64,
        format=format,
        engine=str(engine),
        mouth_scale=float(mouth_scale),
        head_scale=float(head_scale),
        head_preset=str(head_preset),
        blink_rate=float(blink_rate),
        brow_scale=float(brow_scale),
        mouth_position=None if mouth_position is None else tuple(map(float, mouth_position)),
        resting_mouth=str(resting_mouth),
        max_audio_seconds=float(max_audio_seconds),
        allow_silent=bool(allow_silent),
        background=bg,
        ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg),
        ffmpeg_candidates=ffmpeg_candidates(),
        progress=progress,
        reference_video=None if reference_video is None else os.fspath(reference_video),
        reference_pose="pose" in parts,
        reference_blinks="blinks" in parts,
    )


def dub(
    video: PathLike,
    audio: PathLike,
    output: PathLike,
    *,
    lip_strength: float = 1.0,
    length: str = "loop",
    mix_original: float = 0.0,
    face_index: int = 0,
    smoothing: float = 1.5,
    max_audio_seconds: float = DEFAULT_MAX_AUDIO_SECONDS,
    ffmpeg: Optional[PathLike] = None,
    progress: Optional[Callable[[int, int], None]] = None,
    region: str = "lower-face",
    template: str = "neutral",
) -> dict:
    """Re-animate the mouth of ``video`` to the speech in ``audio`` and write
    ``output`` (MP4). Head, eyes and background stay the original's; only
    the jaw, lips and the skin around them are re-rendered, frame by frame,
    streaming (memory does not grow with the video's length).

    ``length`` handles a length mismatch: "loop" (default; the video loops
    under longer speech), "pingpong" (forward, then backward, so no jump at
    the seam; decoded frames wait in a temporary file, not in memory), "pad"
    (the last frame holds) or "cut" (the shorter of the two).
    ``mix_original`` keeps the original soundtrack under the new speech at
    that level (0 replaces it). ``smoothing`` is the landmark filter's
    minimum cutoff in Hz (lower is smoother). ``region`` "lower-face"
    (default: jaw, lips, chin) or "mouth" (only the mouth region, feathered;
    the chin stays). ``template`` is the expression the original mouth is
    neutralised to under the speech: "neutral" or "smile". Frames where the
    face is lost pass through unchanged, with a short cross-fade.
    """
    return _native.dub(
        os.fspath(video), os.fspath(audio), os.fspath(output),
        lip_strength=float(lip_strength), length=str(length), mix_original=float(mix_original),
        face_index=int(face_index), smoothing=float(smoothing),
        max_audio_seconds=float(max_audio_seconds),
        ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg),
        ffmpeg_candidates=ffmpeg_candidates(), progress=progress,
        region=str(region), template=str(template),
    )


def reenact(
    image: PathLike,
    video: PathLike,
    output: PathLike,
    *,
    framing: str = "resize",
    size: int = 512,
    face_index: int = 0,
    driving_face_index: int = 0,
    relative: bool = True,
    parts: Sequence[str] = ("pose", "eyes", "brows", "mouth"),
    smoothing: float = 1.5,
    ffmpeg: Optional[PathLike] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> dict:
    """Drive the portrait ``image`` with the face motion of ``video`` and
    write ``output`` (MP4, with the video's soundtrack when it has one).

    ``face_index`` picks the portrait's face that moves, ``driving_face_index``
    the face of the video it follows (0 = the largest of each). ``relative``
    (default) transfers motion relative to the video's first frame, so the
    driver's face shape does not leak into the portrait; ``parts`` picks what
    to transfer (pose, eyes, brows, mouth).
    """
    for name, value in (("face_index", face_index), ("driving_face_index", driving_face_index)):
        if int(value) < 0:
            raise _native.InputError(f"{name} must be 0 or more (0 = the largest face), got {value}")
    chosen = {str(p).strip().lower() for p in parts}
    unknown = chosen - {"pose", "eyes", "brows", "mouth"}
    if unknown:
        raise _native.InputError(f"unknown parts {sorted(unknown)}; choose from pose, eyes, brows, mouth")
    return _native.reenact(
        os.fspath(image), os.fspath(video), os.fspath(output), framing=str(framing), size=int(size),
        face_index=int(face_index), driving_face_index=int(driving_face_index), relative=bool(relative),
        pose="pose" in chosen, eyes="eyes" in chosen,
        brows="brows" in chosen, mouth="mouth" in chosen, smoothing=float(smoothing),
        ffmpeg=None if ffmpeg is None else os.fspath(ffmpeg), ffmpeg_candidates=ffmpeg_candidates(),
        progress=progress,
    )
