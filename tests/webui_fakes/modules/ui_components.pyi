"""Fake of modules.ui_components.ToolButton (the WebUI's patched gradio takes tooltip=)."""

import gradio as gr

from gradio.events import Dependency

class ToolButton(gr.Button):
    def __init__(self, *args, **kwargs):
        self.webui_tooltip = kwargs.pop("tooltip", None)
        super().__init__(*args, **kwargs)