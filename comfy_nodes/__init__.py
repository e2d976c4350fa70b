"""VoxPortrait's ComfyUI node pack (category ``VoxPortrait``).

The node classes arrive with the ComfyUI work item; until then the pack
registers no nodes, so a clone into ``custom_nodes/`` loads cleanly and shows
nothing. Node modules must keep imports of ``voxportrait``, torch and numpy
inside the functions that run a node, so that ComfyUI's start-up stays fast.
"""

#: Node type name -> class. Filled as nodes land.
NODE_CLASS_MAPPINGS: dict = {}

#: Node type name -> title shown in the UI.
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
