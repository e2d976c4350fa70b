"""MOTION nodes: Audio To Motion, Idle Motion, Motion Edit, Load Motion, Save Motion."""

from __future__ import annotations

import hashlib
import os

from ._host import (CATEGORY, SEED_MAX, NodeError, Progress, audio_mono, fps_text, folder_paths, log)
from .sockets import MOTION

#: Kept in step with ``voxportrait.ENGINES`` / ``HEAD_PRESETS`` (a test checks);
#: written out so that listing the nodes does not import the package.
ENGINES = ("learned", "energy")
HEAD_PRESETS = ("calm", "lively", "newsreader", "singing")
VISEME_EXPORTS = ("none", "rhubarb-tsv", "rhubarb-json", "ovr")
MOTION_SUBFOLDER = "voxportrait"


def _fps_input(default=25.0):
    return ("FLOAT", {"default": default, "min": 1.0, "max": 240.0, "step": 0.001,
                      "tooltip": "Video frame rate: one motion row per frame. 29.97, 23.976 and 59.94 "
                                 "are read as the NTSC rates (30000/1001, ...)."})


def _head_inputs() -> dict:
    return {
        "head_preset": (list(HEAD_PRESETS), {"default": "calm",
                                             "tooltip": "Style of head motion: calm, lively, newsreader "
                                                        "(small, steady) or singing (slower, larger sways)."}),
        "head_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                 "tooltip": "How much the head moves (0 = still, 1 = natural)."}),
        "blink_rate": ("FLOAT", {"default": 17.0, "min": 0.0, "max": 120.0, "step": 0.5,
                                 "tooltip": "Blinks per minute (0 = no blinks; people average about 17)."}),
    }


def _still_seed_inputs() -> dict:
    return {
        "still": ("BOOLEAN", {"default": False,
                              "tooltip": "Keep the head still (same as head_scale 0); the face still "
                                         "speaks and blinks."}),
        "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True,
                         "tooltip": "Seed of the head motion and blinks: same seed, same motion."}),
    }


class VoxPortraitAudioToMotion:
    DESCRIPTION = ("Turns speech into MOTION: per video frame, the mouth shapes (visemes with "
                   "coarticulation), blinks, brow raises on pitch accents and natural head motion. Takes "
                   "AUDIO at any sample rate and channel count (mixed to mono). Runs on the CPU; the "
                   "models are built in and loaded once per process.")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("Motion for the clip, one row per video frame (round(duration x fps) frames).",)

    @classmethod
    def INPUT_TYPES(cls):
        required = {
            "audio": ("AUDIO", {"tooltip": "The speech, e.g. from LoadAudio or a TTS node; any sample "
                                           "rate, mono or stereo. A batch uses its first clip."}),
            "fps": _fps_input(),
            "engine": (list(ENGINES), {"default": "learned",
                                       "tooltip": "Viseme engine: learned (Whisper tiny.en features and a "
                                                  "trained head; best on English speech) or energy "
                                                  "(model-free; any language, singing)."}),
            "mouth_scale": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                      "tooltip": "How wide the mouth moves (0 keeps it closed, 1 = natural)."}),
        }
        required.update(_head_inputs())
        required["brow_scale"] = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                            "tooltip": "Brow raises on pitch accents (0 = none, 1 = natural)."})
        required.update(_still_seed_inputs())
        return {"required": required}

    def run(self, audio, fps=25.0, engine="learned", mouth_scale=1.0, head_preset="calm", head_scale=1.0,
            blink_rate=17.0, brow_scale=1.0, still=False, seed=0):
        import voxportrait

        progress = Progress(1)
        samples, rate = audio_mono(audio)
        progress.check()
        motion = voxportrait.audio_to_motion(
            samples, sample_rate=rate, fps=fps_text(fps), engine=engine, seed=int(seed),
            mouth_scale=float(mouth_scale), head_scale=0.0 if still else float(head_scale),
            head_preset=head_preset, blink_rate=float(blink_rate), brow_scale=float(brow_scale))
        progress.step()
        return (motion,)


class VoxPortraitIdleMotion:
    DESCRIPTION = ("Natural MOTION with no speech: closed mouth, calm head motion and blinks, for a given "
                   "length. Use it for listening pauses, or splice it into speech motion with Motion Edit.")
    CATEGORY = CATEGORY
    FUNCTION = "run"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("Idle motion, one row per video frame.",)

    @classmethod
    def INPUT_TYPES(cls):
        required = {
            "seconds": ("FLOAT", {"default": 5.0, "min": 0.04, "max": 3600.0, "step": 0.1,
                                  "tooltip": "Length of the motion in seconds."}),
            "fps": _fps_input(),
        }
        required.update(_head_inputs())
        required.update(_still_seed_inputs())
        return {"required": required}

    def run(self, seconds=5.0, fps=25.0, head_preset="calm", head_scale=1.0, blink_rate=17.0, still=False,
            seed=0):
        import voxportrait

        if not float(seconds) > 0:
            raise NodeError(f"seconds must be positive, got {seconds}")
        progress = Progress(1)
        progress.check()
        motion = voxportrait.idle_motion(float(seconds), fps=fps_text(fps), seed=int(seed),
                                         head_scale=0.0 if still else float(head_scale),
                                         head_preset=head_preset, blink_rate=float(blink_rate))
        progress.step()
        return (motion,)


class VoxPortraitMotionEdit:
    DESCRIPTION = ("Edits MOTION. First combines it with an optional other motion (concatenate, or splice "
                   "it over a frame range, easing the seams), then scales the mouth, head motion and brow "
                   "raises, overrides or offsets the head pose, and turns blinks off. The input is never "
                   "changed.")
    CATEGORY = CATEGORY
    FUNCTION = "edit"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The edited motion (at the input motion's frame rate).",)

    @classmethod
    def INPUT_TYPES(cls):
        def scale(tip):
            return ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05, "tooltip": tip})

        def angle(tip):
            return ("FLOAT", {"default": 0.0, "min": -90.0, "max": 90.0, "step": 0.5, "tooltip": tip})

        return {
            "required": {
                "motion": (MOTION, {"tooltip": "The motion to edit."}),
                "mouth_scale": scale("Multiplies the mouth shapes (0 = closed mouth, 1 = unchanged)."),
                "pose_scale": scale("Multiplies the head motion: turns, nods, tilts, shifts and size "
                                    "changes (0 = still head, 1 = unchanged)."),
                "brow_scale": scale("Multiplies the brow raises (0 = none, 1 = unchanged)."),
                "blinks": (["keep", "off"], {"default": "keep",
                                             "tooltip": "off opens both eyes on every frame."}),
                "pose_override": (["none", "constant", "offset"], {
                    "default": "none",
                    "tooltip": "none: keep the head motion. constant: hold the head still at yaw/pitch/roll. "
                               "offset: add yaw/pitch/roll to the head motion."}),
                "yaw": angle("Degrees, for pose_override; > 0 turns the face toward the image right."),
                "pitch": angle("Degrees, for pose_override; > 0 nods down."),
                "roll": angle("Degrees, for pose_override; > 0 tilts counter-clockwise in the image."),
                "combine": (["none", "concatenate", "splice"], {
                    "default": "none",
                    "tooltip": "With other_motion: concatenate appends it; splice replaces frames "
                               "splice_start to splice_end with it. Done before the edits above."}),
                "splice_start": ("INT", {"default": 0, "min": 0, "max": 10_000_000, "step": 1,
                                         "tooltip": "First frame replaced by splice (0 = the first frame)."}),
                "splice_end": ("INT", {"default": -1, "min": -1, "max": 10_000_000, "step": 1,
                                       "tooltip": "Frame after the last one replaced by splice; -1 replaces "
                                                  "as many frames as other_motion has."}),
                "crossfade": ("INT", {"default": 4, "min": 0, "max": 250, "step": 1,
                                      "tooltip": "Frames over which each seam of concatenate/splice eases, "
                                                 "so the head and mouth do not jump (0 = hard cut)."}),
            },
            "optional": {
                "other_motion": (MOTION, {"tooltip": "Motion for combine (e.g. Idle Motion or another "
                                                     "clip's); retimed to this motion's fps if needed."}),
            },
        }

    def edit(self, motion, mouth_scale=1.0, pose_scale=1.0, brow_scale=1.0, blinks="keep",
             pose_override="none", yaw=0.0, pitch=0.0, roll=0.0, combine="none", splice_start=0,
             splice_end=-1, crossfade=4, other_motion=None):
        from . import motion_edit as me

        progress = Progress(4)
        m = motion
        try:
            if combine != "none":
                if other_motion is None:
                    raise NodeError(f"combine is {combine!r} but no other_motion is connected")
                if combine == "concatenate":
                    m = me.concatenate(m, other_motion, crossfade=int(crossfade))
                elif combine == "splice":
                    m = me.splice(m, other_motion, int(splice_start), int(splice_end), crossfade=int(crossfade))
                else:
                    raise NodeError(f"unknown combine {combine!r}; choose none, concatenate or splice")
            elif other_motion is not None:
                log.warning("VoxPortrait Motion Edit: other_motion is connected but combine is 'none'; "
                            "it is ignored")
            progress.step()
            m = me.scale(m, mouth=float(mouth_scale), pose=float(pose_scale), brows=float(brow_scale))
            progress.step()
            m = me.override_pose(m, float(yaw), float(pitch), float(roll), mode=pose_override)
            progress.step()
            m = me.set_blinks(m, blinks != "off")
            progress.step()
        except NodeError:
            raise
        except ValueError as e:
            raise NodeError(str(e)) from None
        return (m,)


def _is_motion_name(f: str) -> bool:
    low = f.lower()
    return low.endswith(".json") and not f.startswith(".") and not low.endswith((".rhubarb.json", ".ovr.json"))


def _motion_files() -> list:
    """Motion JSON files ComfyUI can load: the input folder (and its
    subfolders), then those this pack saved in the output folder, marked
    ``[output]`` as ComfyUI's annotated paths are."""
    fp = folder_paths()
    found, saved = [], []
    root = fp.get_input_directory()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        rel = os.path.relpath(folder, root)
        for f in files:
            if _is_motion_name(f):
                found.append(f if rel == "." else os.path.join(rel, f).replace(os.sep, "/"))
    out = os.path.join(fp.get_output_directory(), MOTION_SUBFOLDER)
    if os.path.isdir(out):
        for f in sorted(os.listdir(out)):
            if _is_motion_name(f):
                saved.append(f"{MOTION_SUBFOLDER}/{f} [output]")
    return sorted(found) + saved


class VoxPortraitLoadMotion:
    DESCRIPTION = ("Loads MOTION from a voxportrait.motion/1 JSON file in ComfyUI's input folder (or one "
                   "Save Motion wrote to output/voxportrait, listed with [output]). The CLI writes the same "
                   "files: voxportrait motion speech.wav -o motion.json.")
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The motion in the file.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"motion_file": (_motion_files(), {
            "tooltip": "Motion JSON file: put it in ComfyUI's input folder (refresh the page to list "
                       "new files)."})}}

    def load(self, motion_file):
        import voxportrait

        path = folder_paths().get_annotated_filepath(motion_file)
        Progress(1).check()
        return (voxportrait.Motion.load(path),)

    @classmethod
    def IS_CHANGED(cls, motion_file):
        path = folder_paths().get_annotated_filepath(motion_file)
        try:
            with open(path, "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        except OSError:
            return ""

    @classmethod
    def VALIDATE_INPUTS(cls, motion_file):
        if not folder_paths().exists_annotated_filepath(motion_file):
            return f"Invalid motion file: {motion_file}"
        return True


class VoxPortraitSaveMotion:
    DESCRIPTION = ("Saves MOTION as voxportrait.motion/1 JSON in ComfyUI's output folder (numbered, never "
                   "overwriting), optionally with the mouth cues as Rhubarb Lip Sync TSV/JSON or OVR viseme "
                   "weights for Blender, Live2D and VTuber tools.")
    CATEGORY = CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Full path of the saved motion JSON.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "motion": (MOTION, {"tooltip": "The motion to save."}),
            "filename_prefix": ("STRING", {"default": "voxportrait/motion",
                                           "tooltip": "File name prefix inside the output folder; may "
                                                      "include a subfolder. A counter is appended."}),
            "visemes": (list(VISEME_EXPORTS), {
                "default": "none",
                "tooltip": "Also save the mouth cues beside the JSON (motion made from audio only, before "
                           "any concatenate/splice): Rhubarb TSV or JSON, or OVR per-frame weights."}),
        }}

    def save(self, motion, filename_prefix="voxportrait/motion", visemes="none"):
        fp = folder_paths()
        output_dir = fp.get_output_directory()
        folder, name, counter, subfolder, _ = fp.get_save_image_path(filename_prefix, output_dir)
        base = f"{name}_{counter:05}_"
        path = os.path.join(folder, base + ".json")
        Progress(1).check()
        extra = None
        if visemes != "none":
            if not getattr(motion, "_exports", None):
                raise NodeError("viseme exports exist only for motion made from audio (and not after "
                                "concatenate or splice); set visemes to none")
            ext = {"rhubarb-tsv": ".tsv", "rhubarb-json": ".rhubarb.json", "ovr": ".ovr.json"}[visemes]
            extra = os.path.join(folder, base + ext)
        motion.save(path)
        files = [{"filename": os.path.basename(path), "subfolder": subfolder, "type": "output"}]
        if extra:
            motion.save_visemes(extra, visemes)
            files.append({"filename": os.path.basename(extra), "subfolder": subfolder, "type": "output"})
        summary = f"{motion.frames} frames at {motion.fps} fps ({motion.duration:.2f} s) -> {path}"
        return {"ui": {"text": [summary], "motion_files": files}, "result": (path,)}
