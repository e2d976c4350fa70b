"""Face Analyze: IMAGE -> FACE + an overlay IMAGE."""

from __future__ import annotations

import os
import tempfile

from ._host import (CATEGORY, NodeError, Progress, batch_size, float_to_uint8_rgb, image_item, log,
                    mask_item, uint8_to_image)
from .sockets import FACE, VoxFace

#: Colour of the frame drawn around the chosen face when there are several.
HIGHLIGHT = (255, 214, 0)


def draw_box(rgb, box, colour=HIGHLIGHT, thickness: int = 0):
    """Draws a rectangle outline on a uint8 ``[H,W,3]`` array in place."""
    h, w = rgb.shape[:2]
    t = thickness or max(2, round(min(h, w) / 200))
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, x1 = max(0, min(x0, w - 1)), max(0, min(x1, w - 1))
    y0, y1 = max(0, min(y0, h - 1)), max(0, min(y1, h - 1))
    if x1 <= x0 or y1 <= y0:
        return rgb
    rgb[y0:y0 + t, x0:x1 + 1] = colour
    rgb[max(y1 - t + 1, 0):y1 + 1, x0:x1 + 1] = colour
    rgb[y0:y1 + 1, x0:x0 + t] = colour
    rgb[y0:y1 + 1, max(x1 - t + 1, 0):x1 + 1] = colour
    return rgb


class VoxPortraitFaceAnalyze:
    DESCRIPTION = ("Finds faces in a picture (MediaPipe-compatible detector, 468-point face mesh, irises, "
                   "head pose; runs on the CPU, no model download) and outputs the chosen face for the "
                   "VoxPortrait render nodes, plus the picture with the mesh, boxes and pose axes drawn on "
                   "it. With several faces, the chosen one is framed in yellow.")
    CATEGORY = CATEGORY
    FUNCTION = "analyze"
    RETURN_TYPES = (FACE, "IMAGE")
    RETURN_NAMES = ("face", "overlay")
    OUTPUT_TOOLTIPS = (
        "The chosen face: mesh, box, head pose and gaze, with the image size it was found in.",
        "The picture with the mesh, irises, detection box, crop region and pose axes drawn on it.",
    )

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "The portrait. A batch uses the picture at image_index "
                                               "(the first by default)."}),
                "face_index": ("INT", {"default": -1, "min": -1, "max": 99, "step": 1,
                                       "tooltip": "Which face when there are several, by size: 0 = largest, "
                                                  "1 = second largest, ...; -1 = the largest."}),
                "image_index": ("INT", {"default": 0, "min": 0, "max": 4095, "step": 1,
                                        "tooltip": "Which picture of an IMAGE batch to analyse (0 = first)."}),
                "min_score": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 0.99, "step": 0.01,
                                        "tooltip": "Detector confidence threshold; 0 uses the detector's own "
                                                   "(0.5 short range, 0.6 full range). Lower it for hard "
                                                   "faces, raise it to skip doubtful ones."}),
            },
            "optional": {
                "mask": ("MASK", {"tooltip": "Transparency from LoadImage (1 = transparent): the picture "
                                             "is put on white there before analysis."}),
            },
        }

    def analyze(self, image, face_index=-1, image_index=0, min_score=0.0, mask=None):
        import voxportrait

        n = batch_size(image)
        if n > 1 and image_index == 0:
            log.warning("VoxPortrait Face Analyze: the IMAGE batch holds %d pictures; analysing the first "
                        "(set image_index to choose another)", n)
        progress = Progress(2)
        progress.check()
        pixels = image_item(image, int(image_index))
        height, width = pixels.shape[:2]
        rgb = float_to_uint8_rgb(pixels, mask_item(mask, int(image_index), height, width))
        score = float(min_score) if min_score and min_score > 0 else None
        with tempfile.TemporaryDirectory(prefix="voxportrait-face-") as folder:
            overlay_path = os.path.join(folder, "overlay.png")
            faces = voxportrait.analyze_faces(rgb, min_score=score, overlay=overlay_path)
            progress.step()
            overlay = voxportrait.load_image(overlay_path)
        index = 0 if face_index < 0 else int(face_index)
        if index >= len(faces):
            raise NodeError(f"face_index {index} is out of range: found {len(faces)} face(s) in the "
                            f"{width}x{height} picture (0 = largest; -1 picks the largest)")
        if len(faces) > 1:
            draw_box(overlay, faces[index].box)
        progress.step()
        chosen = VoxFace(face=faces[index], width=width, height=height, index=index, count=len(faces),
                         image_index=int(image_index))
        return (chosen, uint8_to_image(overlay))
