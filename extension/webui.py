"""VoxPortrait in the Stable Diffusion WebUI (A1111 on gradio 3.41, Forge on 4.40).

``register(script_callbacks)`` is called by the root ``scripts/`` loader when
the WebUI loads the extension. It registers:

- ``on_ui_settings``: the output folder (``outputs/voxportrait`` under the
  WebUI's folder, a subfolder per day), dated folders on/off, the API's
  upload limit;
- ``on_after_component``: a "Send to VoxPortrait" button beside txt2img's and
  img2img's send-to buttons;
- ``on_ui_tabs``: the VoxPortrait tab, the Blocks of :mod:`voxportrait.ui`
  (the same as ``voxportrait ui``), run through :class:`WebUIHost`: jobs go
  through ``call_queue.wrap_gradio_gpu_call`` (the WebUI's queue lock),
  progress goes to ``shared.state`` and its Interrupt stops them; the
  portrait input is registered as paste field of the send-to buttons;
- ``on_app_started``: the HTTP API ``POST /voxportrait/v1/animate`` (and
  ``GET /voxportrait/v1/options``) on the WebUI's FastAPI app, in the same
  queue, asking for the ``--api-auth`` credentials when the WebUI has them.

Importing this file imports neither gradio nor voxportrait: the callbacks
do, when the WebUI calls them.
"""

from __future__ import annotations

import os
import sys
import traceback

TAB_ID = "voxportrait"
TITLE = "VoxPortrait"
SECTION = ("voxportrait", "VoxPortrait")
#: Settings, with their defaults.
OPT_OUTDIR = "voxportrait_outdir"
OPT_DATED = "voxportrait_dated_folders"
OPT_UPLOAD_MB = "voxportrait_api_max_upload_mb"
DEFAULT_OUTDIR = os.path.join("outputs", "voxportrait")
DEFAULT_UPLOAD_MB = 100
#: The WebUI galleries that get a "Send to VoxPortrait" button, by tab; the
#: button goes after the tab's "send to extras" button.
SEND_FROM = ("txt2img", "img2img")

#: Callbacks registered so far, for tests and diagnostics.
REGISTERED: list = []
#: Components seen while the WebUI builds its tabs (reset per UI build).
_seen: dict = {"galleries": {}, "buttons": {}}
_host = None


def _expect_checkout_build() -> None:
    """Makes ``import voxportrait`` refuse a core from another build than this checkout."""
    import importlib.util

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "python", "voxportrait", "_build.py")
    if os.path.isfile(path) and not os.environ.get("VOXPORTRAIT_EXPECT_BUILD"):  # once per process
        spec = importlib.util.spec_from_file_location("_voxportrait_build_id", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.expect_checkout_build(root)


def register(script_callbacks) -> list:
    """Registers VoxPortrait's WebUI callbacks; returns their names."""
    _expect_checkout_build()
    REGISTERED.clear()
    for name, callback in (
        ("on_ui_settings", on_ui_settings),
        ("on_after_component", on_after_component),
        ("on_ui_tabs", on_ui_tabs),
        ("on_app_started", on_app_started),
    ):
        add = getattr(script_callbacks, name, None)
        if add is None:  # an old WebUI, or a stand-in without it
            continue
        try:
            add(callback, name=f"voxportrait.{callback.__name__}")
        except TypeError:  # WebUI before 1.7: no name argument
            add(callback)
        REGISTERED.append(name)
    return list(REGISTERED)


def _warn(what: str) -> None:
    print(f"VoxPortrait: {what}", file=sys.stderr)
    traceback.print_exc()


# ------------------------------------------------------------------ settings


def on_ui_settings() -> None:
    from modules import shared

    def option(default, label, info=None):
        o = shared.OptionInfo(default, label, section=SECTION)
        if info and hasattr(o, "info"):
            o = o.info(info)
        return o

    shared.opts.add_option(OPT_OUTDIR, option(
        DEFAULT_OUTDIR, "Output folder for VoxPortrait videos, motion and visemes",
        "relative to the WebUI folder; a subfolder per day is made in it"))
    shared.opts.add_option(OPT_DATED, option(True, "Save into a subfolder per day (YYYY-MM-DD)"))
    shared.opts.add_option(OPT_UPLOAD_MB, option(
        DEFAULT_UPLOAD_MB, "Largest upload the VoxPortrait HTTP API accepts (MB)"))


def _opt(name: str, default):
    from modules import shared

    value = getattr(shared.opts, "data", {}).get(name) if hasattr(shared.opts, "data") else None
    if value is None:
        value = getattr(shared.opts, name, None)
    return default if value is None or value == "" else value


def data_path() -> str:
    """The WebUI's data folder (``--data-dir``, else its install folder)."""
    try:
        from modules import paths

        for name in ("data_path", "script_path"):
            if getattr(paths, name, None):
                return getattr(paths, name)
    except ImportError:
        pass
    return os.getcwd()


# ------------------------------------------------------------------ the host


def make_host():
    """The :class:`voxportrait.ui.Host` of the WebUI (one per process)."""
    global _host
    if _host is not None:
        return _host
    from voxportrait.ui import Host

    class WebUIHost(Host):
        name = "webui"
        use_gradio_progress = False  # progress is shared.state's (a --no-gradio-queue WebUI has no Gradio queue)

        def __init__(self):
            super().__init__()
            from modules import shared

            self.state = shared.state
            self.image = None

        @property
        def queue_lock(self):
            from modules import call_queue

            return call_queue.queue_lock

        @queue_lock.setter
        def queue_lock(self, value):  # Host.__init__ sets its own; the WebUI's is used
            pass

        def output_root(self) -> str:
            folder = os.path.expanduser(str(_opt(OPT_OUTDIR, DEFAULT_OUTDIR)))
            return os.path.abspath(folder if os.path.isabs(folder) else os.path.join(data_path(), folder))

        def dated_folders(self) -> bool:
            return bool(_opt(OPT_DATED, True))

        def max_upload_bytes(self) -> int:
            try:
                mb = float(_opt(OPT_UPLOAD_MB, DEFAULT_UPLOAD_MB))
            except (TypeError, ValueError):
                mb = DEFAULT_UPLOAD_MB
            return int(max(mb, 1) * 1024 * 1024)

        def wrap_event(self, fn, extra_outputs):
            from modules import call_queue

            return call_queue.wrap_gradio_gpu_call(fn, extra_outputs=list(extra_outputs))

        def interrupt(self) -> None:
            self.state.interrupt()

        def skip(self) -> None:
            if hasattr(self.state, "skip"):
                self.state.skip()
            else:
                self.state.skipped = True

        def checkpoint(self):
            return checkpoint_name()

        def can_refine(self) -> bool:
            # Every WebUI can: its checkpoint is looked up (and loaded if need be)
            # when a job refines, never while the tab is built (see model_for_job).
            return True

        def refine_host(self):
            """The checkpoint's UNet and VAE (Forge's, reForge's or Forge 1's
            forge_objects, or A1111's ldm model); called inside a job, under the queue lock."""
            from modules import shared

            from voxportrait.refine import host_for_webui

            return host_for_webui(model_for_job(), shared.state)

        def api_credentials(self):
            return api_credentials()

        def image_component_created(self, image) -> None:
            self.image = image

    _host = WebUIHost()
    return _host


def _is_model(model) -> bool:
    """A real checkpoint, not Forge's FakeInitialModel placeholder."""
    return model is not None and (getattr(model, "forge_objects", None) is not None
                                  or hasattr(model, "apply_model"))


def loaded_model():
    """The checkpoint the WebUI has loaded, or None, without loading one: in
    A1111 and reForge reading ``shared.sd_model`` loads the checkpoint there
    and then (which held up start-up when the tab was built), and Forge keeps
    a placeholder there until its first generation."""
    try:
        from modules import sd_models
    except ImportError:
        sd_models = None
    data = getattr(sd_models, "model_data", None)
    if data is not None:
        model = getattr(data, "sd_model", None)
    else:  # a WebUI before 1.6: a plain attribute
        try:
            from modules import shared
        except ImportError:
            return None
        model = getattr(shared, "sd_model", None)
    return model if _is_model(model) else None


def model_for_job():
    """The checkpoint a refining job uses, loaded now if it is not yet, as
    the WebUI's own generation does; call it under the queue lock. Forge 2
    loads with ``sd_models.forge_model_reload()`` (its processing.py does
    that before every generation: it also applies a checkpoint change made
    in the menu); A1111 and reForge load on reading ``shared.sd_model``."""
    from modules import sd_models, shared

    from voxportrait.refine.options import RefineError

    reload = getattr(sd_models, "forge_model_reload", None)
    try:
        if callable(reload):
            result = reload()
            model = result[0] if isinstance(result, tuple) else result
        else:
            model = shared.sd_model
    except Exception as e:
        raise RefineError(f"the WebUI could not load its Stable Diffusion checkpoint: {type(e).__name__}: {e}")
    return model if _is_model(model) else None


def checkpoint_name():
    """The loaded checkpoint's title (A1111 and Forge keep its info on the
    model), else the checkpoint setting (the one selected, loaded when a job
    needs it), else None. Loads nothing."""
    try:
        from modules import shared
    except ImportError:
        return None
    model = loaded_model()
    info = getattr(model, "sd_checkpoint_info", None) if model is not None else None
    for attr in ("title", "name_for_extra", "name", "filename"):
        value = getattr(info, attr, None)
        if value:
            return str(value)
    value = getattr(getattr(shared, "opts", None), "data", {}).get("sd_model_checkpoint") \
        if hasattr(getattr(shared, "opts", None), "data") else None
    return str(value) if value else None


def api_credentials() -> dict:
    """The WebUI's ``--api-auth user:password,...`` (its API asks for them;
    so does VoxPortrait's)."""
    try:
        from modules import shared
    except ImportError:
        return {}
    text = getattr(getattr(shared, "cmd_opts", None), "api_auth", None)
    pairs = (item.strip().partition(":") for item in str(text or "").split(","))
    return {user: password for user, _, password in pairs if user}


# ------------------------------------------------------------------ send to


def _copypaste():
    """The WebUI's paste-params module (``infotext_utils`` since 1.8, with
    ``generation_parameters_copypaste`` its old name)."""
    try:
        from modules import infotext_utils as cp
    except ImportError:
        from modules import generation_parameters_copypaste as cp
    return cp


def on_after_component(component, **kwargs) -> None:
    """Remembers the txt2img/img2img galleries and adds a "Send to
    VoxPortrait" button after each of their "send to extras" buttons."""
    elem_id = kwargs.get("elem_id") or getattr(component, "elem_id", None)
    if not elem_id:
        return
    for tab in SEND_FROM:
        if elem_id == f"{tab}_gallery":
            _seen["galleries"][tab] = component
        elif elem_id == f"{tab}_send_to_extras":
            try:
                _seen["buttons"][tab] = _send_button(tab)
            except Exception:
                _warn(f"could not add the send-to button to {tab}")


def _send_button(tab: str):
    try:
        from modules.ui_components import ToolButton

        return ToolButton("🗣️", elem_id=f"{tab}_send_to_{TAB_ID}", tooltip="Send image to the VoxPortrait tab.")
    except ImportError:
        import gradio as gr

        return gr.Button("Send to VoxPortrait", elem_id=f"{tab}_send_to_{TAB_ID}")


def _connect_send_to(image) -> list:
    """Registers the portrait input as the paste field of the send-to buttons
    (the WebUI connects them after every tab is built; its
    ``switch_to_voxportrait`` JavaScript, in ``javascript/``, opens the tab)."""
    cp = _copypaste()
    cp.add_paste_fields(TAB_ID, image, None)
    connected = []
    for tab, button in _seen["buttons"].items():
        gallery = _seen["galleries"].get(tab)
        if gallery is None:
            continue
        cp.register_paste_params_button(cp.ParamBinding(paste_button=button, tabname=TAB_ID,
                                                        source_image_component=gallery))
        connected.append(tab)
    return connected


# ------------------------------------------------------------------ the tab and the API


def on_ui_tabs():
    try:
        from voxportrait.ui import build_blocks

        host = make_host()
        blocks = build_blocks(host)
    except Exception as e:  # the package is missing or broken: say so in the tab
        _warn("the tab could not be built")
        return [(_error_tab(e), TITLE, TAB_ID)]
    try:
        _connect_send_to(host.image)
    except Exception:
        _warn("send-to buttons not connected")
    finally:
        _seen["galleries"].clear()
        _seen["buttons"].clear()
    return [(blocks, TITLE, TAB_ID)]


def _error_tab(error: BaseException):
    import html

    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as blocks:
        gr.HTML(f"<div class='error'><p>VoxPortrait could not start: {html.escape(f'{type(error).__name__}: {error}')}"
                "</p><p>Restart the WebUI so that the extension's install.py installs the voxportrait package "
                "(it needs a Rust toolchain to build), or install it into the WebUI's Python yourself: "
                "<code>pip install /path/to/this/extension</code>.</p></div>")
    return blocks


def on_app_started(demo, app) -> None:
    try:
        from voxportrait.ui import add_api_routes

        add_api_routes(app, make_host())
    except Exception:
        _warn("the HTTP API /voxportrait/v1 was not added")
