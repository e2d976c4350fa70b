"""The nodes that render: Animate (all in one), Render Motion and Render To
Video (streaming straight into an MP4).

All three frame the portrait with ``voxportrait.Renderer`` (``resize``,
``crop`` or ``full``) and render a MOTION with it. Animate and Render Motion
return IMAGE frames, which ComfyUI keeps in memory as float32:

    frames x height x width x 3 x 4 bytes  (= N*H*W*12; plus N*H*W*4 for the MASK)

about 4.7 GB for 60 s at 25 fps and 512x512. Render To Video never holds the
frames: the renderer streams them to ffmpeg one chunk at a time, so it is the
node for long audio.

Numpy, torch and ``voxportrait`` are imported inside the node functions only.
"""

from __future__ import annotations

import os

from ._host import (CATEGORY, SEED_MAX, NodeError, Progress, audio_channels, audio_mono, batch_size,
                    check_interrupted, float_to_uint8_rgb, folder_paths, fps_text, from_numpy, image_item, log,
                    mask_item)
from .nodes_motion import ENGINES, HEAD_PRESETS
from .sockets import FACE, MOTION

#: Kept in step with ``voxportrait.FRAMINGS`` (a test checks).
FRAMINGS = ("resize", "crop", "full")
#: Which mask the MASK output carries.
MASK_OUTPUTS = ("mouth", "face", "none")
#: Frames rendered between two progress updates / interruption checks.
CHUNK = 8

MEMORY_NOTE = ("Memory: the frames stay in RAM as float32, frames x height x width x 12 bytes (60 s at 25 fps "
               "and 512x512 is about 4.7 GB, the MASK adds a third of that); for long audio use Render To "
               "Video, which streams to the MP4 and never holds the frames.")


# --- shared inputs ---------------------------------------------------------------------------


def _framing_inputs() -> dict:
    return {
        "framing": (list(FRAMINGS), {
            "default": "resize",
            "tooltip": "resize: the whole portrait, longer side = size. crop: a square crop around the face, "
                       "size x size. full: the portrait at its own resolution (size is ignored; odd sides "
                       "grow by one pixel)."}),
        "size": ("INT", {"default": 512, "min": 64, "max": 4096, "step": 8,
                         "tooltip": "Output size in pixels: the longer side for resize, the square's side for "
                                    "crop; ignored for full."}),
    }


def _mask_output_input() -> tuple:
    return (list(MASK_OUTPUTS), {
        "default": "mouth",
        "tooltip": "What the MASK output holds per frame (1 inside, feathered edge): mouth, face, or none "
                   "(renders about twice as fast; the MASK is then one empty mask)."})


def _face_index_input() -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": 99, "step": 1,
                    "tooltip": "Which face to animate when the portrait has several, by size: 0 = largest, "
                               "1 = second largest, ..."})


def _alpha_mask_input() -> tuple:
    return ("MASK", {"tooltip": "Transparency from LoadImage (1 = transparent): the portrait is put on white "
                                "there before rendering."})


def _mouth_position_input() -> tuple:
    return ("STRING", {"default": "",
                       "tooltip": "For a stylised portrait whose face is not found: the mouth centre as X,Y "
                                  "fractions of the width and height (e.g. 0.5,0.72) animates the mouth only. "
                                  "Empty = find the face."})


def _resting_mouth_input() -> tuple:
    from voxportrait.render import RESTING_MOUTHS

    return (list(RESTING_MOUTHS), {"default": "keep-smile",
                                   "tooltip": "The portrait's mouth at rest, where speech starts from: "
                                              "keep-smile closes an open mouth and keeps a smile, neutral "
                                              "also relaxes the smile, photo leaves the photo's mouth as it "
                                              "is."})


# --- helpers -----------------------------------------------------------------------------------


def parse_mouth_position(text):
    """``"0.5,0.72"`` -> (0.5, 0.72); empty -> None."""
    text = (text or "").strip()
    if not text:
        return None
    parts = text.replace(";", ",").split(",")
    try:
        x, y = (float(p) for p in parts)
    except ValueError:
        raise NodeError(f"mouth_position must be X,Y fractions of the width and height (e.g. 0.5,0.72), "
                        f"got {text!r}") from None
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise NodeError(f"mouth_position {text!r} lies outside the picture: X and Y are fractions from 0 to 1")
    return (x, y)


def portrait(image, mask=None, face=None, what="node"):
    """The portrait of an IMAGE as uint8 RGB, and the face index to render.

    With a FACE (from Face Analyze) the picture it was found in and its index
    are used, and the picture must have the size the face was found in.
    Without, the first picture of a batch (with a warning) and face 0.
    """
    n = batch_size(image)
    index = 0
    if face is not None:
        index = int(getattr(face, "image_index", 0))
        if index >= n:
            index = 0
    elif n > 1:
        log.warning("VoxPortrait %s: the IMAGE batch holds %d pictures; animating the first", what, n)
    pixels = image_item(image, index)
    height, width = pixels.shape[:2]
    if face is not None and (int(face.width), int(face.height)) != (width, height):
        raise NodeError(f"the FACE was found in a {face.width}x{face.height} picture but the IMAGE is "
                        f"{width}x{height}; analyse the same picture you render")
    rgb = float_to_uint8_rgb(pixels, mask_item(mask, index, height, width))
    return rgb, (int(face.index) if face is not None else 0)


def make_renderer(rgb, framing, size, face_index=0, mouth_position="", resting_mouth="keep-smile"):
    """``voxportrait.Renderer`` with node-worded errors (one line, no CLI flags)."""
    import voxportrait

    if framing not in FRAMINGS:
        raise NodeError(f"unknown framing {framing!r}; choose resize, crop or full")
    try:
        return voxportrait.Renderer(rgb, framing=framing, size=int(size), face_index=int(face_index),
                                    mouth_position=parse_mouth_position(mouth_position),
                                    resting_mouth=str(resting_mouth))
    except voxportrait.InputError as e:
        msg = " ".join(str(e).split())
        msg = msg.replace("(--mouth X,Y as fractions", "(the mouth_position input: X,Y as fractions")
        raise voxportrait.InputError(msg) from None


def fitted_audio(audio, frames: int, fps):
    """The first clip of an AUDIO (all channels) trimmed or padded with silence
    to ``frames / fps`` seconds: ``([C,T] float32, rate)``."""
    from .mp4 import fit_audio

    samples, rate = audio_channels(audio)
    if samples.size == 0:
        raise NodeError("the AUDIO is empty (no samples)")
    return fit_audio(samples, rate, int(frames), fps), rate


def render_frames(renderer, motion, mask_output="mouth", chunk: int = CHUNK):
    """All frames of ``motion`` as an IMAGE ``[N,H,W,3]`` float32 0..1 and a
    MASK ``[N,H,W]`` (``[1,H,W]`` zeros for ``mask_output="none"``), filled
    chunk by chunk with a progress update and an interruption check after
    each (the float arrays are allocated once, nothing else is kept)."""
    import numpy as np

    if mask_output not in MASK_OUTPUTS:
        raise NodeError(f"unknown mask_output {mask_output!r}; choose mouth, face or none")
    total = int(motion.frames)
    if total < 1:
        raise NodeError("the MOTION has no frames")
    h, w = int(renderer.height), int(renderer.width)
    progress = Progress(total)
    progress.check()
    want = mask_output != "none"
    frames = np.empty((total, h, w, 3), np.float32)
    masks = np.empty((total, h, w), np.float32) if want else np.zeros((1, h, w), np.float32)
    for start in range(0, total, chunk):
        stop = min(total, start + chunk)
        if want:
            rgb, face, mouth = renderer.render(motion, start, stop, masks=True)
            masks[start:stop] = (mouth if mask_output == "mouth" else face) / np.float32(255.0)
        else:
            rgb = renderer.render(motion, start, stop)
        frames[start:stop] = rgb / np.float32(255.0)
        progress.step(stop - start)
    return from_numpy(frames), from_numpy(masks)


# --- Animate -----------------------------------------------------------------------------------


class VoxPortraitAnimate:
    DESCRIPTION = ("All in one: a portrait (IMAGE) and speech (AUDIO, any rate and channels) become talking-head "
                   "video frames, ready for CreateVideo -> SaveVideo, VHS_VideoCombine or Save Talking Video. "
                   "Also outputs the audio trimmed or padded to the video's length, the frame rate, and a "
                   "mouth or face MASK per frame for refinement. A batch uses its first picture. "
                   + MEMORY_NOTE)
    CATEGORY = CATEGORY
    FUNCTION = "animate"
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT", "MASK")
    RETURN_NAMES = ("frames", "audio", "fps", "mask")
    OUTPUT_TOOLTIPS = (
        "The video frames, one picture per frame (round(duration x fps) frames).",
        "The input audio (first clip, all channels, its own sample rate) trimmed or padded with silence to "
        "exactly the video's length.",
        "The exact frame rate (29.97 -> 30000/1001 = 29.97003...); wire it into CreateVideo's fps.",
        "Per-frame mask of the mouth or the face (see mask_output), 1 inside.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        required = {
            "image": ("IMAGE", {"tooltip": "The portrait, e.g. from LoadImage or VAEDecode. A batch uses its "
                                           "first picture (with a warning)."}),
            "audio": ("AUDIO", {"tooltip": "The speech, e.g. from LoadAudio or a TTS node; any sample rate, "
                                           "mono or stereo. A batch uses its first clip."}),
            "fps": ("FLOAT", {"default": 25.0, "min": 1.0, "max": 240.0, "step": 0.001,
                              "tooltip": "Video frame rate; 29.97, 23.976 and 59.94 are read as the NTSC "
                                         "rates (30000/1001, ...)."}),
        }
        required.update(_framing_inputs())
        required.update({
            "expression_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                           "tooltip": "How wide the mouth moves (0 keeps it closed, "
                                                      "1 = natural)."}),
            "pose_preset": (list(HEAD_PRESETS), {"default": "calm",
                                                 "tooltip": "Style of head motion: calm, lively, newsreader "
                                                            "(small, steady) or singing (slower, larger "
                                                            "sways)."}),
            "pose_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                     "tooltip": "How much the head moves (0 = still, 1 = natural)."}),
            "blink_rate": ("FLOAT", {"default": 17.0, "min": 0.0, "max": 120.0, "step": 0.5,
                                     "tooltip": "Blinks per minute (0 = no blinks; people average about 17)."}),
            "still": ("BOOLEAN", {"default": False,
                                  "tooltip": "Keep the head still (same as pose_scale 0); the face still "
                                             "speaks and blinks."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True,
                             "tooltip": "Seed of the head motion and blinks: same seed, same motion."}),
            "face_index": _face_index_input(),
            "brow_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                     "tooltip": "Brow raises on pitch accents (0 = none, 1 = natural)."}),
            "engine": (list(ENGINES), {"default": "learned",
                                       "tooltip": "Viseme engine: learned (Whisper tiny.en features and a "
                                                  "trained head; best on English speech) or energy "
                                                  "(model-free; any language, singing)."}),
            "mask_output": _mask_output_input(),
        })
        return {
            "required": required,
            "optional": {"mask": _alpha_mask_input(), "mouth_position": _mouth_position_input(),
                         "resting_mouth": _resting_mouth_input()},
        }

    def animate(self, image, audio, fps=25.0, framing="resize", size=512, expression_scale=1.0,
                pose_preset="calm", pose_scale=1.0, blink_rate=17.0, still=False, seed=0, face_index=0,
                brow_scale=1.0, engine="learned", mask_output="mouth", mask=None, mouth_position="",
                resting_mouth="keep-smile"):
        import voxportrait

        rgb, _ = portrait(image, mask, what="Animate")
        renderer = make_renderer(rgb, framing, size, face_index, mouth_position, resting_mouth)
        samples, rate = audio_mono(audio)
        check_interrupted()
        motion = voxportrait.audio_to_motion(
            samples, sample_rate=rate, fps=fps_text(fps), engine=engine, seed=int(seed),
            mouth_scale=float(expression_scale), head_scale=0.0 if still else float(pose_scale),
            head_preset=pose_preset, blink_rate=float(blink_rate), brow_scale=float(brow_scale))
        frames, masks = render_frames(renderer, motion, mask_output)
        sound, sound_rate = fitted_audio(audio, motion.frames, motion.fps)
        out_audio = {"waveform": from_numpy(sound[None]), "sample_rate": int(sound_rate)}
        return (frames, out_audio, float(motion.fps), masks)


# --- Render Motion -----------------------------------------------------------------------------


class VoxPortraitRenderMotion:
    DESCRIPTION = ("Renders a MOTION (from Audio To Motion, Idle Motion, Motion Edit or Load Motion) on a "
                   "portrait: IMAGE frames, one per motion frame, and a mouth or face MASK per frame. Connect "
                   "Face Analyze's FACE to choose among several faces (it also picks the picture of a batch); "
                   "without it the largest face of the first picture is used. " + MEMORY_NOTE)
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "MASK")
    RETURN_NAMES = ("frames", "mask")
    OUTPUT_TOOLTIPS = (
        "The video frames, one picture per motion frame (at the motion's fps).",
        "Per-frame mask of the mouth or the face (see mask_output), 1 inside.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        required = {
            "image": ("IMAGE", {"tooltip": "The portrait. A batch uses its first picture, or the one the FACE "
                                           "was found in."}),
            "motion": (MOTION, {"tooltip": "The motion to render; one output frame per motion frame."}),
        }
        required.update(_framing_inputs())
        required["mask_output"] = _mask_output_input()
        return {
            "required": required,
            "optional": {
                "face": (FACE, {"tooltip": "The face to animate, from Face Analyze on this same picture (its "
                                           "face_index and image_index are used). Without it: the largest "
                                           "face."}),
                "mask": _alpha_mask_input(),
                "mouth_position": _mouth_position_input(),
                "resting_mouth": _resting_mouth_input(),
            },
        }

    def render(self, image, motion, framing="resize", size=512, mask_output="mouth", face=None, mask=None,
               mouth_position="", resting_mouth="keep-smile"):
        rgb, face_index = portrait(image, mask, face, what="Render Motion")
        renderer = make_renderer(rgb, framing, size, face_index, mouth_position, resting_mouth)
        return render_frames(renderer, motion, mask_output)


# --- Render To Video (streaming) ---------------------------------------------------------------


class VoxPortraitRenderToVideo:
    DESCRIPTION = ("Renders a MOTION on a portrait straight into an MP4 (H.264 + AAC) in ComfyUI's output "
                   "folder and shows it in the node, like Save Talking Video, but without ever holding the "
                   "frames: they stream from the renderer to ffmpeg, so memory stays flat for any length. Use "
                   "it for long audio. The audio is trimmed or padded to the motion's length (mixed to mono). "
                   "Cancel or an error leaves no file.")
    CATEGORY = CATEGORY
    FUNCTION = "render"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Full path of the saved MP4.",)

    @classmethod
    def INPUT_TYPES(cls):
        required = {
            "image": ("IMAGE", {"tooltip": "The portrait. A batch uses its first picture, or the one the FACE "
                                           "was found in."}),
            "motion": (MOTION, {"tooltip": "The motion to render (e.g. Audio To Motion of the same audio); it "
                                           "sets the video's length and frame rate."}),
        }
        required.update(_framing_inputs())
        required.update({
            "face_index": _face_index_input(),
            "filename_prefix": ("STRING", {"default": "voxportrait/talking",
                                           "tooltip": "File name prefix inside the output folder; may include "
                                                      "a subfolder. A counter is appended."}),
        })
        return {
            "required": required,
            "optional": {
                "audio": ("AUDIO", {"tooltip": "The soundtrack, any sample rate (mixed to mono); trimmed or "
                                               "padded with silence to the motion. Without it the MP4 is "
                                               "silent."}),
                "face": (FACE, {"tooltip": "The face to animate, from Face Analyze on this same picture; "
                                           "overrides face_index."}),
                "mask": _alpha_mask_input(),
                "mouth_position": _mouth_position_input(),
                "resting_mouth": _resting_mouth_input(),
            },
        }

    def render(self, image, motion, framing="resize", size=512, face_index=0,
               filename_prefix="voxportrait/talking", audio=None, face=None, mask=None, mouth_position="",
               resting_mouth="keep-smile"):
        rgb, index = portrait(image, mask, face, what="Render To Video")
        renderer = make_renderer(rgb, framing, size, index if face is not None else face_index, mouth_position,
                                 resting_mouth)
        total = int(motion.frames)
        if total < 1:
            raise NodeError("the MOTION has no frames")
        sound = None if audio is None else fitted_audio(audio, total, motion.fps)
        fp = folder_paths()
        folder, name, counter, subfolder, _ = fp.get_save_image_path(
            filename_prefix, fp.get_output_directory(), renderer.width, renderer.height)
        filename = f"{name}_{counter:05}_.mp4"
        path = os.path.join(folder, filename)
        progress = Progress(total)
        progress.check()
        done = [0]

        def on_progress(n, _total):
            # Called by the renderer after every frame; raising (Cancel) stops it and removes the file.
            progress.step(max(int(n) - done[0], 0))
            done[0] = int(n)

        renderer.render_to_file(motion, path, audio=sound, progress=on_progress)
        preview = {"filename": filename, "subfolder": subfolder, "type": "output"}
        return {"ui": {"images": [preview], "animated": (True,)}, "result": (path,)}


#: Type name -> class, and titles.
NODE_CLASS_MAPPINGS: dict = {
    "VoxPortraitAnimate": VoxPortraitAnimate,
    "VoxPortraitRenderMotion": VoxPortraitRenderMotion,
    "VoxPortraitRenderToVideo": VoxPortraitRenderToVideo,
}
NODE_DISPLAY_NAME_MAPPINGS: dict = {
    "VoxPortraitAnimate": "Animate (VoxPortrait)",
    "VoxPortraitRenderMotion": "Render Motion (VoxPortrait)",
    "VoxPortraitRenderToVideo": "Render To Video (VoxPortrait)",
}
