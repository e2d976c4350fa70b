"""Fake of modules.script_callbacks: registration and the runners the WebUI calls."""

callbacks = {"ui_tabs": [], "ui_settings": [], "app_started": [], "after_component": []}


def clear_callbacks():
    for v in callbacks.values():
        v.clear()


def _add(kind, callback, name):
    callbacks[kind].append((callback, name))


def on_ui_tabs(callback, *, name=None):
    _add("ui_tabs", callback, name)


def on_ui_settings(callback, *, name=None):
    _add("ui_settings", callback, name)


def on_app_started(callback, *, name=None):
    _add("app_started", callback, name)


def on_after_component(callback, *, name=None):
    _add("after_component", callback, name)


def ui_tabs_callback():
    res = []
    for c, _ in callbacks["ui_tabs"]:
        res += c() or []
    return res


def ui_settings_callback():
    for c, _ in callbacks["ui_settings"]:
        c()


def app_started_callback(demo, app):
    for c, _ in callbacks["app_started"]:
        c(demo, app)


def after_component_callback(component, **kwargs):
    for c, _ in callbacks["after_component"]:
        c(component, **kwargs)
