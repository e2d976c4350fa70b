"""Fake of the part of reForge's modules/gradio_extensons.py (3b56b268) that
broke the tab: it replaces ``gr.components.Image.__init__`` with a wrapper
``Image_init_extension(self, *args, **kwargs)``, so the signature of
``gr.Image`` names none of its real keyword arguments.
"""

import gradio as gr

_originals = {}


def Image_init_extension(self, *args, **kwargs):
    """Extended initialization for Image components"""
    res = original_Image_init(self, *args, **kwargs)
    # (reForge gives the inpaint mask component, elem_id img2maskimg, its own
    # upload handler and preprocess here.)
    return res


def install():
    global original_Image_init
    original_Image_init = _originals.setdefault("Image.__init__", gr.components.Image.__init__)
    gr.components.Image.__init__ = Image_init_extension


def uninstall():
    """For the tests: gradio's own constructor back."""
    if "Image.__init__" in _originals:
        gr.components.Image.__init__ = _originals.pop("Image.__init__")
