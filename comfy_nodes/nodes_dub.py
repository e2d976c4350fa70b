"""Nodes for video frames: Dub Frames (lip-sync a video to new speech) and
Motion From Video (a video's face motion as MOTION, for reenactment).

Both take an IMAGE batch of video frames plus its frame rate, as
VHS_LoadVideo (fps from VHS_VideoInfo's ``loaded_fps``) or the core
LoadVideo -> GetVideoComponents give them. Frames are converted and
processed one at a time; numpy, torch and ``voxportrait`` are imported
inside the node functions only.
"""

from __future__ import annotations

from ._host import (CATEGORY, NodeError, Progress, audio_channels, audio_mono, batch_size, float_to_uint8_rgb,
                    fps_fraction, fps_text, from_numpy, image_item, log)
from .sockets import MOTION

#: What Dub Frames does when the speech and the video differ in length.
LENGTH_MODES = ("loop", "pingpong", "pad", "cut")
#: What Dub Frames re-renders, and the expression it neutralises the mouth to.
DUB_REGIONS = ("lower-face", "mouth")
MOUTH_TEMPLATES = ("neutral", "smile")


def _frames_input() -> tuple:
    return ("IMAGE", {"tooltip": "The video's frames as an IMAGE batch: from VHS_LoadVideo, or the core "
                                 "Load Video -> Get Video Components."})


def _video_fps_input() -> tuple:
    return ("FLOAT", {"default": 25.0, "min": 1.0, "max": 240.0, "step": 0.001,
                      "tooltip": "The frames' rate. Connect Get Video Components' fps (or VHS_VideoInfo's "
                                 "loaded_fps); 29.97, 23.976 and 59.94 are read as the NTSC rates."})


def _smoothing_input() -> tuple:
    return ("FLOAT", {"default": 1.5, "min": 0.05, "max": 30.0, "step": 0.05,
                      "tooltip": "Landmark smoothing: the filter's minimum cutoff in Hz. Lower is smoother "
                                 "(steadier, slower to follow), higher follows fast motion."})


def _face_index_input(tooltip: str = "Which face of the video to dub when it shows several, by size: "
                                     "0 = largest.") -> tuple:
    return ("INT", {"default": 0, "min": 0, "max": 99, "step": 1, "tooltip": tooltip})


def _frame_rgb(images, index: int):
    """Frame ``index`` of an IMAGE batch as uint8 RGB."""
    return float_to_uint8_rgb(image_item(images, index, "IMAGE"))


class VoxPortraitDubFrames:
    DESCRIPTION = ("Lip-sync dubbing: re-animates the mouth of a talking video (an IMAGE batch of frames) to "
                   "new speech. Head, eyes and background stay the original's; per frame the face is tracked "
                   "(with smoothing, re-detected on scene cuts), its own mouth motion neutralised and only the "
                   "lower face re-rendered and blended back. Frames without a face pass through with a "
                   "cross-fade. Outputs the frames, the new speech cut or padded to their length, and the fps "
                   "for Create Video / Video Combine. To drive a still portrait from a video instead, use "
                   "Motion From Video -> Render Motion.")
    CATEGORY = CATEGORY
    FUNCTION = "dub"
    RETURN_TYPES = ("IMAGE", "AUDIO", "FLOAT")
    RETURN_NAMES = ("images", "audio", "fps")
    OUTPUT_TOOLTIPS = ("The dubbed frames, the input's size (as many as the length mode gives).",
                       "The new speech, exactly as long as the frames (silence-padded or cut).",
                       "The frame rate (the fps input), to wire into Create Video or Video Combine.")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "images": _frames_input(),
            "audio": ("AUDIO", {"tooltip": "The new speech (LoadAudio, a TTS node); any rate, mono or stereo. "
                                           "A batch uses its first clip."}),
            "fps": _video_fps_input(),
            "lip_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 4.0, "step": 0.05,
                                       "tooltip": "How wide the new mouth moves (1 = natural, 0 = closed)."}),
            "length": (list(LENGTH_MODES), {
                "default": "loop",
                "tooltip": "When speech and video differ in length. loop: as long as the speech, the video "
                           "loops. pingpong: as long as the speech, the video plays forward then backward (no jump). "
                           "pad: as long as the speech, the last frame holds. cut: the shorter of "
                           "the two."}),
            "face_index": _face_index_input(),
            "smoothing": _smoothing_input(),
        }, "optional": {
            "region": (list(DUB_REGIONS), {"default": "lower-face",
                                          "tooltip": "lower-face: jaw, lips and chin move (default). mouth: only "
                                                     "the mouth region is re-rendered; the chin stays."}),
            "template": (list(MOUTH_TEMPLATES), {"default": "neutral",
                                                 "tooltip": "The expression the original mouth is neutralised to "
                                                            "under the speech: neutral, or a light smile."}),
        }}

    def dub(self, images, audio, fps=25.0, lip_strength=1.0, length="loop", face_index=0, smoothing=1.5,
            region="lower-face", template="neutral"):
        import numpy as np

        import voxportrait

        if length not in LENGTH_MODES:
            raise NodeError(f"unknown length {length!r}; choose loop, pingpong, pad or cut")
        if not 0.0 <= float(lip_strength) <= 4.0:
            raise NodeError(f"lip_strength must lie between 0 and 4, got {lip_strength}")
        n = batch_size(images)
        if n == 0:
            raise NodeError("the IMAGE batch is empty; give the video's frames")
        rate_fps = fps_fraction(fps)
        samples, rate = audio_mono(audio)
        speech_frames = voxportrait.frame_count(fps_text(fps), len(samples), rate)
        total = speech_frames if length != "cut" else min(speech_frames, n)
        if total < 1:
            raise NodeError("the AUDIO is too short for one video frame")
        progress = Progress(total + 1)
        progress.check()
        try:
            motion = voxportrait.audio_to_motion(
                samples, sample_rate=rate, fps=fps_text(fps), mouth_scale=float(lip_strength),
                head_scale=0.0, blink_rate=0.0, brow_scale=0.0)
            expr = np.asarray(motion.expression, dtype=np.float32)
        except voxportrait.InputError as e:
            if "silent" not in str(e):
                raise
            log.warning("VoxPortrait Dub Frames: the AUDIO is silent; the mouths are closed")
            expr = np.zeros((0, 9), dtype=np.float32)
        progress.step()

        first = _frame_rgb(images, 0)
        h, w = first.shape[:2]
        if h < 16 or w < 16:
            raise NodeError(f"the frames are {w}x{h} pixels; give frames at least 16x16")
        out = np.empty((total, h, w, 3), dtype=np.float32)
        if region not in DUB_REGIONS or template not in MOUTH_TEMPLATES:
            raise NodeError(f"region must be lower-face or mouth and template neutral or smile, "
                            f"got {region!r} and {template!r}")
        dubber = voxportrait.Dubber(rate_fps, face_index=int(face_index), smoothing=float(smoothing),
                                    region=region, template=template)
        closed = np.zeros(9, dtype=np.float32)
        for i in range(total):
            if i < n:
                j = i
            elif length == "loop":
                j = i % n
                if j == 0:
                    dubber.reset()  # the video starts over: a cut
            elif length == "pingpong":
                period = 2 * (n - 1)
                j = 0 if n == 1 else (i % period if i % period < n else period - i % period)
            else:
                j = n - 1
            frame = first if j == 0 else _frame_rgb(images, j)
            if frame.shape[:2] != (h, w):
                raise NodeError(f"frame {j} is {frame.shape[1]}x{frame.shape[0]} but frame 0 is {w}x{h}; "
                                "all frames must have one size")
            dubbed = dubber.process(frame, expr[i] if i < len(expr) else closed)
            out[i] = dubbed.astype(np.float32) * (1.0 / 255.0)
            progress.step()

        channels, arate = audio_channels(audio)
        want = int(round(total / float(rate_fps) * arate))
        track = np.zeros((channels.shape[0], want), dtype=np.float32)
        keep = min(want, channels.shape[1])
        track[:, :keep] = channels[:, :keep]
        new_audio = {"waveform": from_numpy(track[None]), "sample_rate": int(arate)}
        return (from_numpy(out), new_audio, float(fps))


class VoxPortraitMotionFromVideo:
    DESCRIPTION = ("Face motion of a video (an IMAGE batch of frames) as MOTION: per frame, expression "
                   "coefficients (jaw, lips, blinks, brows) fitted on VoxPortrait's face basis and the head "
                   "pose, smoothed. Reenactment: connect it to Render Motion (or Render To Video) with a "
                   "portrait, and the portrait moves like the video's face. With only pose and eyes it gives "
                   "an audio-driven animation a reference video's head motion and blinks (combine with "
                   "Motion Edit). Frames without a face repeat the last motion.")
    CATEGORY = CATEGORY
    FUNCTION = "fit"
    RETURN_TYPES = (MOTION,)
    RETURN_NAMES = ("motion",)
    OUTPUT_TOOLTIPS = ("The video's motion, one row per frame, at the given fps.",)

    @classmethod
    def INPUT_TYPES(cls):
        def part(what):
            return ("BOOLEAN", {"default": True, "tooltip": f"Transfer the {what} (off: kept neutral)."})

        return {"required": {
            "images": _frames_input(),
            "fps": _video_fps_input(),
            "relative": ("BOOLEAN", {"default": True,
                                     "tooltip": "On: motion relative to the video's first frame, so the "
                                                "driver's face shape does not leak into the portrait. Off: "
                                                "absolute expression and pose."}),
            "pose": part("head pose (turns, nods, tilts, shifts)"),
            "eyes": part("blinks"),
            "brows": part("brow raises"),
            "mouth": part("jaw and lips"),
            "smoothing": _smoothing_input(),
            "face_index": _face_index_input(
                "Which face of the driving video to follow when it shows several, by size: 0 = largest. "
                "(The portrait's face is picked by Render Motion / Render To Video's face_index.) An index "
                "past the video's faces is an error."),
        }}

    def fit(self, images, fps=25.0, relative=True, pose=True, eyes=True, brows=True, mouth=True, smoothing=1.5,
            face_index=0):
        import numpy as np

        import voxportrait

        parts = [name for name, on in (("pose", pose), ("eyes", eyes), ("brows", brows), ("mouth", mouth)) if on]
        n = batch_size(images)
        if n == 0:
            raise NodeError("the IMAGE batch is empty; give the video's frames")
        rate_fps = fps_fraction(fps)
        progress = Progress(n)
        progress.check()
        fitter = voxportrait.MotionFitter(rate_fps, relative=bool(relative), smoothing=float(smoothing),
                                          face_index=int(face_index), parts=parts)
        exprs = np.empty((n, 9), dtype=np.float32)
        heads = np.empty((n, 6), dtype=np.float32)
        for i in range(n):
            exprs[i], heads[i] = fitter.push(_frame_rgb(images, i))
            progress.step()
        try:
            fitter.check_found_face()
        except voxportrait.InputError as e:
            raise NodeError(str(e)) from None
        motion = voxportrait.Motion(fps=rate_fps, expression=exprs, head=heads,
                                    gaze=np.full((n, 2), np.nan, dtype=np.float32))
        return (motion,)


NODE_CLASS_MAPPINGS: dict = {
    "VoxPortraitDubFrames": VoxPortraitDubFrames,
    "VoxPortraitMotionFromVideo": VoxPortraitMotionFromVideo,
}
NODE_DISPLAY_NAME_MAPPINGS: dict = {
    "VoxPortraitDubFrames": "Dub Frames (VoxPortrait)",
    "VoxPortraitMotionFromVideo": "Motion From Video (VoxPortrait)",
}
