"""ComfyUI entry point: clone this repository into ``ComfyUI/custom_nodes/``.

ComfyUI imports this file as a package and reads ``NODE_CLASS_MAPPINGS`` and
``NODE_DISPLAY_NAME_MAPPINGS``. It imports nothing heavy: the node classes
live in ``comfy_nodes/`` and load the ``voxportrait`` package only when a
node runs. Outside ComfyUI (for example when pytest collects the repository)
this file is inert.
"""

try:
    from .comfy_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
except ImportError:  # imported as a plain module, not as a package
    NODE_CLASS_MAPPINGS = {}
    NODE_DISPLAY_NAME_MAPPINGS = {}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
