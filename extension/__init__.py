"""Stable Diffusion WebUI (A1111 and Forge) integration of VoxPortrait.

``scripts/voxportrait_webui.py`` at the repository root is the loader the
WebUI runs; it imports ``extension/webui.py`` by file path under a private
module name (every extension root is on ``sys.path``, so a plain
``import extension`` could pick up another extension's folder).
"""
