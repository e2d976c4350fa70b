"""VoxPortrait's ComfyUI node pack (category ``VoxPortrait``).

Node modules import only the standard library at import time; numpy,
torch and ``voxportrait`` are imported inside the functions that run a
node, so ComfyUI's start-up stays fast. The nodes that render (Animate,
Render Motion, Render To Video) live in ``nodes_render.py``; the video-frame nodes (Dub
Frames, Motion From Video) in ``nodes_dub.py``; Refine (the host's SD1.5) in
``nodes_refine.py``.
"""


def _expect_checkout_build() -> None:
    """Makes ``import voxportrait`` refuse a core from another build than this checkout."""
    import importlib.util
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "python", "voxportrait", "_build.py")
    if os.path.isfile(path) and not os.environ.get("VOXPORTRAIT_EXPECT_BUILD"):  # once per process
        spec = importlib.util.spec_from_file_location("_voxportrait_build_id", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.expect_checkout_build(root)


_expect_checkout_build()

from . import nodes_dub, nodes_refine, nodes_render
from .nodes_face import VoxPortraitFaceAnalyze
from .nodes_motion import (VoxPortraitAudioToMotion, VoxPortraitIdleMotion, VoxPortraitLoadMotion,
                           VoxPortraitMotionEdit, VoxPortraitSaveMotion)
from .nodes_video import VoxPortraitSaveTalkingVideo

#: Node type name -> class.
NODE_CLASS_MAPPINGS: dict = {
    "VoxPortraitFaceAnalyze": VoxPortraitFaceAnalyze,
    "VoxPortraitAudioToMotion": VoxPortraitAudioToMotion,
    "VoxPortraitIdleMotion": VoxPortraitIdleMotion,
    "VoxPortraitMotionEdit": VoxPortraitMotionEdit,
    "VoxPortraitLoadMotion": VoxPortraitLoadMotion,
    "VoxPortraitSaveMotion": VoxPortraitSaveMotion,
    "VoxPortraitSaveTalkingVideo": VoxPortraitSaveTalkingVideo,
}
NODE_CLASS_MAPPINGS.update(nodes_render.NODE_CLASS_MAPPINGS)
NODE_CLASS_MAPPINGS.update(nodes_dub.NODE_CLASS_MAPPINGS)
NODE_CLASS_MAPPINGS.update(nodes_refine.NODE_CLASS_MAPPINGS)

#: Node type name -> title shown in the UI.
NODE_DISPLAY_NAME_MAPPINGS: dict = {
    "VoxPortraitFaceAnalyze": "Face Analyze (VoxPortrait)",
    "VoxPortraitAudioToMotion": "Audio To Motion (VoxPortrait)",
    "VoxPortraitIdleMotion": "Idle Motion (VoxPortrait)",
    "VoxPortraitMotionEdit": "Motion Edit (VoxPortrait)",
    "VoxPortraitLoadMotion": "Load Motion (VoxPortrait)",
    "VoxPortraitSaveMotion": "Save Motion (VoxPortrait)",
    "VoxPortraitSaveTalkingVideo": "Save Talking Video (VoxPortrait)",
}
NODE_DISPLAY_NAME_MAPPINGS.update(nodes_render.NODE_DISPLAY_NAME_MAPPINGS)
NODE_DISPLAY_NAME_MAPPINGS.update(nodes_dub.NODE_DISPLAY_NAME_MAPPINGS)
NODE_DISPLAY_NAME_MAPPINGS.update(nodes_refine.NODE_DISPLAY_NAME_MAPPINGS)

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
