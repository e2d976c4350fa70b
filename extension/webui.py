"""WebUI registration hooks for VoxPortrait.

``register(script_callbacks)`` is called by the root ``scripts/`` loader when
the WebUI imports it. The VoxPortrait tab (``on_ui_tabs``), its settings
(``on_ui_settings``) and HTTP API (``on_app_started``) are added by the WebUI
work item; today registration adds nothing, so installing the extension is
harmless.
"""

from __future__ import annotations

#: Callbacks registered so far, for tests and diagnostics.
REGISTERED: list = []


def register(script_callbacks) -> list:
    """Register VoxPortrait's WebUI callbacks; returns what was registered."""
    return list(REGISTERED)
