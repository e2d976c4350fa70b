"""Fake of modules.ui_components.ToolButton (the WebUI's patched gradio takes tooltip=)."""

import gradio as gr

from gradio.events import Dependency

class ToolButton(gr.Button):
    def __init__(self, *args, **kwargs):
        self.webui_tooltip = kwargs.pop("tooltip", None)
        super().__init__(*args, **kwargs)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component