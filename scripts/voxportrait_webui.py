"""Stable Diffusion WebUI loader for the VoxPortrait extension.

The WebUI executes every ``scripts/*.py`` of an extension at start-up. This
file only loads ``extension/webui.py`` by path (under a private module name,
so it cannot clash with other extensions' ``extension`` folders) and lets it
register callbacks. Outside the WebUI it does nothing.
"""

import importlib.util
import os
import sys

_NAME = "voxportrait_webui_extension"


def _load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location(_NAME, os.path.join(root, "extension", "webui.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    spec.loader.exec_module(module)
    return module


try:
    from modules import script_callbacks  # only exists inside the WebUI
except ImportError:
    script_callbacks = None

if script_callbacks is not None:
    _load().register(script_callbacks)
