"""Fake of Forge's modules/ui_tempdir.py (dfdcbab), the part that breaks
``gr.Image(type="filepath")`` on gradio 4.40: at start-up Forge replaces
gradio's ``processing_utils.save_pil_to_cache(img, cache_dir, name, format)``
with its own ``save_pil_to_file``, which takes no ``name``, while gradio's
Image.preprocess passes ``name=`` (so every upload fails with a TypeError).
"""

import os
import tempfile

import gradio.processing_utils

_originals = {}


def save_pil_to_file(pil_image, cache_dir=None, format="png"):
    already_saved_as = getattr(pil_image, 'already_saved_as', None)
    if already_saved_as and os.path.isfile(already_saved_as):
        return f'{already_saved_as}?{os.path.getmtime(already_saved_as)}'

    dir = cache_dir or tempfile.gettempdir()
    os.makedirs(dir, exist_ok=True)
    file_obj = tempfile.NamedTemporaryFile(delete=False, suffix=".png", dir=dir)
    pil_image.save(file_obj)
    return file_obj.name


def install_ui_tempdir_override():
    _originals.setdefault("save_pil_to_cache", gradio.processing_utils.save_pil_to_cache)
    gradio.processing_utils.save_pil_to_cache = save_pil_to_file


def uninstall():
    """For the tests: gradio's own function back."""
    if "save_pil_to_cache" in _originals:
        gradio.processing_utils.save_pil_to_cache = _originals.pop("save_pil_to_cache")
