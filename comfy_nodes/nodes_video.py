"""Save Talking Video: IMAGE frames + AUDIO -> MP4 in ComfyUI's output folder."""

from __future__ import annotations

import os

from ._host import (CATEGORY, NodeError, Progress, audio_channels, float_to_uint8_rgb, fps_fraction, folder_paths,
                    to_numpy)


def write_talking_video(path, frames, count: int, width: int, height: int, fps, *, audio=None, crf: int = 18,
                        progress=None, ffmpeg=None) -> str:
    """Writes ``count`` uint8 ``[height, width, 3]`` frames from the iterable
    ``frames`` into an H.264 + AAC MP4 at ``path``, one frame at a time;
    ``audio`` (``(samples [C,T], rate)``) is trimmed or padded to the video.
    ``progress`` (a :class:`_host.Progress`) is checked for interruption and
    advanced once per frame. Nothing is left at ``path`` (or beside it) when
    this raises. (Rendering straight to a file, without an IMAGE batch, is
    Render To Video in ``nodes_render``: ``Renderer.render_to_file``.)
    """
    from .mp4 import Mp4Writer

    written = 0
    with Mp4Writer(path, width, height, fps, count, audio=audio, crf=crf, ffmpeg=ffmpeg) as writer:
        for frame in frames:
            if progress is not None:
                progress.check()
            writer.write(frame)
            written += 1
            if progress is not None:
                progress.step()
        if written != count:
            raise NodeError(f"got {written} frames, expected {count}")
    return path


def _batch_frames(images, count: int):
    """uint8 RGB frames of an IMAGE batch, converted one at a time."""
    for i in range(count):
        yield float_to_uint8_rgb(to_numpy(images[i], "float32"))


class VoxPortraitSaveTalkingVideo:
    DESCRIPTION = ("Saves IMAGE frames with their AUDIO as an MP4 (H.264 + AAC, plays in browsers) in "
                   "ComfyUI's output folder and shows it in the node. The audio is trimmed or padded with "
                   "silence to the video's length; odd frame sizes grow by one pixel. Frames are piped to "
                   "ffmpeg one at a time; an interrupted or failed save leaves no file.")
    CATEGORY = CATEGORY
    FUNCTION = "save"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Full path of the saved MP4.",)

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "images": ("IMAGE", {"tooltip": "The video frames: one picture per frame of the batch."}),
                "fps": ("FLOAT", {"default": 25.0, "min": 1.0, "max": 240.0, "step": 0.001,
                                  "tooltip": "Frame rate; 29.97, 23.976 and 59.94 are the NTSC rates "
                                             "(30000/1001, ...). Use the motion's fps."}),
                "filename_prefix": ("STRING", {"default": "voxportrait/talking",
                                               "tooltip": "File name prefix inside the output folder; may "
                                                          "include a subfolder. A counter is appended."}),
                "crf": ("INT", {"default": 18, "min": 0, "max": 51, "step": 1,
                                "tooltip": "H.264 quality: lower is better and larger (18 is visually "
                                           "lossless, 23 is libx264's default)."}),
            },
            "optional": {
                "audio": ("AUDIO", {"tooltip": "The soundtrack, any sample rate; trimmed or padded with "
                                               "silence to the video. Without it the MP4 is silent."}),
            },
        }

    def save(self, images, fps=25.0, filename_prefix="voxportrait/talking", crf=18, audio=None):
        shape = tuple(images.shape)
        if len(shape) != 4:
            raise NodeError(f"images must be an IMAGE batch [frames, height, width, channels], got shape "
                            f"{list(shape)}")
        count, height, width = int(shape[0]), int(shape[1]), int(shape[2])
        if count == 0 or height == 0 or width == 0:
            raise NodeError(f"the IMAGE batch is empty ({count} frames of {width}x{height})")
        rate = fps_fraction(fps)
        sound = None
        if audio is not None:
            samples, sample_rate = audio_channels(audio)
            if samples.size == 0:
                raise NodeError("the AUDIO is empty (no samples); disconnect it for a silent video")
            sound = (samples, sample_rate)
        fp = folder_paths()
        folder, name, counter, subfolder, _ = fp.get_save_image_path(
            filename_prefix, fp.get_output_directory(), width, height)
        filename = f"{name}_{counter:05}_.mp4"
        path = os.path.join(folder, filename)
        progress = Progress(count)
        progress.check()
        write_talking_video(path, _batch_frames(images, count), count, width, height, rate, audio=sound,
                            crf=int(crf), progress=progress)
        preview = {"filename": filename, "subfolder": subfolder, "type": "output"}
        # The same ui payload as core SaveVideo (comfy_api ui.PreviewVideo): the frontend shows an
        # "animated" output with a video file name as a video player.
        return {"ui": {"images": [preview], "animated": (True,)}, "result": (path,)}
