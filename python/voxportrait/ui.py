"""The VoxPortrait web interface, one implementation for every host.

``voxportrait ui`` serves it as a plain Gradio app; the Stable Diffusion
WebUI extension (``extension/webui.py``, A1111 and Forge) builds the very same
Blocks as its tab, with a :class:`Host` that routes jobs through the WebUI's
queue, ``shared.state`` progress, Interrupt button and settings.

Most of this module needs no Gradio and is tested without it: option
validation (the command line's own rules, through the batch manifest's
converter), the job runner (single jobs and batches, via
:mod:`voxportrait.batch`), dated output folders, and the HTTP API
``POST /voxportrait/v1/animate`` (FastAPI, imported only when the routes are
added). Gradio is imported only by :func:`build_blocks` and :func:`main`,
and the small helpers in the "Gradio compatibility" section hide the
differences between gradio 3.41 (A1111), 4.x (Forge) and newer.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import datetime
import functools
import html
import inspect
import json
import os
import random
import re
import shutil
import tempfile
import threading
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

TAB_TITLE = "VoxPortrait"
TAB_ID = "voxportrait"
API_PREFIX = "/voxportrait/v1"

#: Exports written beside the video, by name: (label, file suffix).
EXPORTS: Dict[str, Tuple[str, str]] = {
    "motion": ("Motion JSON", ".motion.json"),
    "rhubarb_tsv": ("Rhubarb TSV", ".rhubarb.tsv"),
    "rhubarb_json": ("Rhubarb JSON", ".rhubarb.json"),
    "ovr": ("OVR visemes JSON", ".ovr.json"),
}
#: Video formats the interface and the API produce (PNG frame folders are
#: the command line's).
FORMATS = ("mp4", "gif")
#: Options beyond the ``animate`` command's: the clip length without audio,
#: and which exports to write.
#: Refinement options (tab, API and batch rows): option name → RefineOptions field.
REFINE_FIELDS = {
    "refine_strength": "strength", "refine_steps": "steps", "refine_sampler": "sampler",
    "refine_scheduler": "scheduler", "refine_cfg": "cfg", "refine_reference": "reference_fidelity",
    "refine_cross_frame": "cross_frame_weight", "refine_region": "region", "refine_seed": "seed",
    "refine_frames_per_batch": "frames_per_batch",
}
REFINE_OPTIONS = ("refine", *REFINE_FIELDS, "refine_prompt", "refine_negative")
EXTRA_OPTIONS = ("idle_seconds", "exports", *REFINE_OPTIONS)
DEFAULT_IDLE_SECONDS = 5.0
FPS_CHOICES = ("24", "25", "29.97", "30", "50", "60")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac")
DEFAULT_MAX_UPLOAD_MB = 100


# ---------------------------------------------------------------- options


class ValidationError(ValueError):
    """A value that cannot be used, with the option it belongs to.

    ``status`` is the HTTP status the API answers with: 400 for a request
    that is malformed or lacks an input, 413 too large, 415 wrong content
    type, 422 a value out of range or an input the engine refuses.
    """

    def __init__(self, message: str, field: Optional[str] = None, status: int = 422):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Interrupted(Exception):
    """The user pressed Interrupt; the job in progress left no file."""


class Skipped(Exception):
    """The user pressed Skip during a batch; the current job is dropped."""


@functools.lru_cache(maxsize=1)
def _animate_actions() -> Dict[str, argparse.Action]:
    """The ``animate`` command's options by destination (the source of every
    rule, default and message)."""
    from .batch import OPTION_COLUMNS
    from .cli import _subparser, build_parser

    parser = _subparser(build_parser(), "animate")
    return {a.dest: a for a in parser._actions if a.dest in OPTION_COLUMNS}


def option_names() -> Tuple[str, ...]:
    """Every option a tab, an API request or a batch row may set."""
    from .batch import OPTION_COLUMNS

    return tuple(OPTION_COLUMNS) + EXTRA_OPTIONS


def default_options() -> argparse.Namespace:
    """The defaults of every option (the command line's, plus the extras)."""
    ns = argparse.Namespace(**{dest: a.default for dest, a in _animate_actions().items()})
    ns.ffmpeg = None
    ns.output = None
    ns.idle_seconds = DEFAULT_IDLE_SECONDS
    ns.exports = list(EXPORTS)
    from .refine.options import RefineOptions

    base = RefineOptions()
    ns.refine = False
    for name, field in REFINE_FIELDS.items():
        setattr(ns, name, getattr(base, field))
    ns.refine_prompt = ""
    ns.refine_negative = ""
    return ns


def refine_options(opts: argparse.Namespace):
    """The job's :class:`voxportrait.refine.RefineOptions` (checked), from its options."""
    from .refine.options import RefineError, RefineOptions

    try:
        return RefineOptions(**{field: getattr(opts, name) for name, field in REFINE_FIELDS.items()}).validate()
    except RefineError as e:
        option = {f: n for n, f in REFINE_FIELDS.items()}.get(e.field, "refine")
        raise ValidationError(str(e), option)


def _refine_value(name: str, value):
    """One refinement option converted from a form, JSON or CSV value."""
    text = str(value).strip()
    try:
        if name == "refine":
            if isinstance(value, bool):
                return value
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if name in ("refine_steps", "refine_seed", "refine_frames_per_batch"):
            f = float(value)
            if not f.is_integer():
                raise ValueError
            return int(f)
        if name in ("refine_sampler", "refine_scheduler", "refine_region", "refine_prompt", "refine_negative"):
            return text if name in ("refine_prompt", "refine_negative") else text.lower()
        return float(value)
    except (TypeError, ValueError):
        kind = {"refine": "true or false"}.get(name, "a number")
        raise ValidationError(f"expected {kind}, got {value!r}", name)


def _normalise_name(key) -> str:
    return str(key).strip().lower().replace("-", "_")


def _unknown(key) -> ValidationError:
    import difflib

    guess = difflib.get_close_matches(_normalise_name(key), option_names(), n=1)
    hint = f"; did you mean {guess[0]!r}?" if guess else f" (options: {', '.join(option_names())})"
    return ValidationError(f"unknown option {str(key)!r}{hint}", str(key))


def _colour_text(value) -> str:
    """``#rrggbb``, ``rrggbb``, ``rgb(r, g, b)``/``rgba(...)`` (as some
    colour pickers give) or ``[r, g, b]`` as ``rrggbb``."""
    if isinstance(value, (list, tuple)) and len(value) == 3:
        values = value
    else:
        m = re.fullmatch(r"\s*rgba?\(([^)]*)\)\s*", str(value))
        if not m:
            return str(value)
        values = [v.strip() for v in m.group(1).split(",")][:3]
    try:
        rgb = [int(round(float(v))) for v in values]
    except ValueError:
        return str(value)
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        return str(value)
    return "".join(f"{c:02x}" for c in rgb)


def parse_options(values: Mapping, base: Optional[argparse.Namespace] = None) -> argparse.Namespace:
    """Checks ``values`` (option name → value, as a form, JSON or a widget
    gives them) exactly as the command line checks its options, and returns
    the complete options: ``base`` (or the defaults) updated with them.

    Empty values (None, "") keep the default. ``seed`` -1 picks a random
    seed. Raises :class:`ValidationError` naming the option.
    """
    from .batch import _convert

    actions = _animate_actions()
    opts = argparse.Namespace(**vars(base if base is not None else default_options()))
    seen = set()
    for key, value in values.items():
        name = _normalise_name(key)
        if name not in actions and name not in EXTRA_OPTIONS:
            raise _unknown(key)
        if name in seen:
            raise ValidationError("given twice", name)
        seen.add(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if name == "exports":
            setattr(opts, name, _parse_exports(value))
            continue
        if name in REFINE_OPTIONS:
            setattr(opts, name, _refine_value(name, value))
            continue
        if name == "idle_seconds":
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                raise ValidationError(f"expected seconds, got {value!r}", name)
            if not 0.04 <= seconds <= 600:
                raise ValidationError("idle length must lie between 0.04 and 600 seconds", name)
            opts.idle_seconds = seconds
            continue
        if isinstance(value, float) and value.is_integer() and name in ("size", "face_index", "seed"):
            value = int(value)
        if name == "seed" and str(value).strip() == "-1":
            opts.seed = random.randrange(2**32)
            continue
        if name == "background":
            value = _colour_text(value)
        try:
            converted = _convert(actions[name], value)
        except ValueError as e:
            raise ValidationError(str(e), name)
        if name == "format" and converted not in FORMATS:
            raise ValidationError(f"format must be {' or '.join(FORMATS)} here (PNG frame folders: use "
                                  "the command line)", name)
        if name == "face_index" and converted < 0:
            raise ValidationError("face index must be 0 or more", name)
        setattr(opts, name, converted)
    if seen & set(REFINE_OPTIONS):
        refine_options(opts)
    return opts


def _parse_exports(value) -> List[str]:
    if isinstance(value, str):
        items = [v for v in re.split(r"[\s,]+", value.strip()) if v]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValidationError(f"expected a list of exports, got {value!r}", "exports")
    by_label = {label.lower(): key for key, (label, _) in EXPORTS.items()}
    out = []
    for item in items:
        key = by_label.get(str(item).strip().lower(), _normalise_name(item))
        if key in ("none", ""):
            continue
        if key not in EXPORTS:
            raise ValidationError(f"unknown export {item!r} (choose from {', '.join(EXPORTS)})", "exports")
        if key not in out:
            out.append(key)
    return out


def options_schema() -> dict:
    """Every option with its default, type, choices and help, for
    ``GET /voxportrait/v1/options`` and the README."""
    out = {}
    defaults = default_options()
    for name, action in _animate_actions().items():
        default = getattr(defaults, name)
        choices = list(action.choices) if action.choices else None
        if name == "format":
            choices = list(FORMATS)
        if isinstance(default, tuple):
            default = list(default)
        out[name] = {"default": default, "help": action.help or "", "choices": choices,
                     "flag": action.nargs == 0}
    out["idle_seconds"] = {"default": DEFAULT_IDLE_SECONDS, "choices": None, "flag": False,
                           "help": "length of the idle clip made when no audio is given (seconds)"}
    out["exports"] = {"default": list(EXPORTS), "choices": list(EXPORTS), "flag": False,
                      "help": "files written beside the video: " + ", ".join(
                          f"{k} ({v[0]})" for k, v in EXPORTS.items())}
    out["seed"]["help"] += "; -1 picks a random seed"
    from .refine.options import REGIONS, SAMPLERS, SCHEDULERS

    helps = {
        "refine": ("refine the frames with the host's loaded Stable Diffusion 1.5 (WebUI only)", None, True),
        "refine_strength": ("denoising strength, 0..1 (0 = no change)", None, False),
        "refine_steps": ("schedule length; round(steps x strength) steps run", None, False),
        "refine_sampler": ("sampler", list(SAMPLERS), False),
        "refine_scheduler": ("noise schedule", list(SCHEDULERS), False),
        "refine_cfg": ("classifier-free guidance scale (1 = none, one UNet pass)", None, False),
        "refine_reference": ("weight of the portrait's tokens in self-attention (0 = off)", None, False),
        "refine_cross_frame": ("weight of the first and previous frames' tokens (0 = off)", None, False),
        "refine_region": ("what is repainted", list(REGIONS), False),
        "refine_seed": ("refinement noise seed (shared by every frame)", None, False),
        "refine_frames_per_batch": ("frames per UNet batch", None, False),
        "refine_prompt": ("optional prompt (default: empty)", None, False),
        "refine_negative": ("optional negative prompt (with cfg > 1)", None, False),
    }
    for name, (text, choices, flag) in helps.items():
        out[name] = {"default": getattr(defaults, name), "help": text, "choices": choices, "flag": flag}
    return out


# ---------------------------------------------------------------- hosts


class JobState:
    """The standalone app's job state, with the fields and methods of the
    WebUI's ``shared.state`` that the runner uses."""

    def __init__(self):
        self.interrupted = False
        self.skipped = False
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.sampling_step = 0
        self.sampling_steps = 0
        self.textinfo = None
        self.time_start = None

    def begin(self, job: str = "(unknown)") -> None:
        self.interrupted = self.skipped = False
        self.job = job
        self.job_no = self.sampling_step = self.sampling_steps = 0
        self.job_count = -1
        self.textinfo = None
        self.time_start = time.time()

    def end(self) -> None:
        self.job = ""
        self.job_count = 0

    def interrupt(self) -> None:
        self.interrupted = True

    def skip(self) -> None:
        self.skipped = True


class Host:
    """Where the interface runs: the standalone app, or (subclassed in
    ``extension/webui.py``) the Stable Diffusion WebUI.

    A host decides where results are saved, how a job is queued and tracked
    (``state`` has the WebUI's ``shared.state`` fields), how Gradio events
    are wrapped (``wrap_event`` returns a callable whose last output is the
    status HTML, like the WebUI's ``wrap_gradio_gpu_call``), and what the
    refinement group says about the loaded checkpoint.
    """

    name = "standalone"
    #: Show Gradio's own progress bar (the WebUI tracks ``shared.state`` instead).
    use_gradio_progress = True

    def __init__(self, outputs: str = os.path.join("outputs", "voxportrait"), dated: bool = True,
                 max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB):
        self.state = JobState()
        self.queue_lock = threading.Lock()
        self._outputs = outputs
        self._dated = dated
        self._max_upload_mb = max_upload_mb

    # where results go
    def output_root(self) -> str:
        return os.path.abspath(os.path.expanduser(self._outputs))

    def dated_folders(self) -> bool:
        return self._dated

    def max_upload_bytes(self) -> int:
        return int(float(self._max_upload_mb) * 1024 * 1024)

    def output_dir(self) -> str:
        """Today's output folder (``<root>/<YYYY-MM-DD>``), created."""
        return dated_output_dir(self.output_root(), self.dated_folders())

    def allowed_paths(self) -> List[str]:
        return [self.output_root()]

    # jobs
    @contextlib.contextmanager
    def job(self, title: str):
        """Runs one job exclusively (the API's path into the queue)."""
        with self.queue_lock:
            self.state.begin(job=title)
            try:
                yield self.state
            finally:
                self.state.end()

    def wrap_event(self, fn: Callable, extra_outputs: list) -> Callable:
        """Queues a Gradio event's function and turns an unexpected error into
        an error status (the last output), as the WebUI's wrapper does."""

        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            started = time.perf_counter()
            with self.job(fn.__name__):
                try:
                    res = list(fn(*args, **kwargs))
                except Exception as e:  # shown in the status, not as a traceback page
                    res = list(extra_outputs) + [error_html(f"{type(e).__name__}: {e}")]
            res[-1] += f"<p class='voxportrait-time'>Time taken: {time.perf_counter() - started:.1f} s</p>"
            return tuple(res)

        return wrapped

    def interrupt(self) -> None:
        self.state.interrupt()

    def skip(self) -> None:
        self.state.skip()

    def api_credentials(self) -> Dict[str, str]:
        """HTTP basic credentials (user → password) the API asks for; none
        by default (the WebUI's ``--api-auth``)."""
        return {}

    # the refinement group (building the tab must load no model: these three
    # answer without one; refine_host, called inside a job, loads it)
    def checkpoint(self) -> Optional[str]:
        """The host's Stable Diffusion checkpoint (loaded, else selected), or None."""
        return None

    def refine_host(self):
        """The :class:`voxportrait.refine.SDHost` for the loaded model, or None
        (the standalone app has no Stable Diffusion model to refine with)."""
        return None

    def can_refine(self) -> bool:
        """Whether the host has Stable Diffusion models to refine with (the
        refinement checkbox is locked otherwise); whether one loads is known
        only when a job asks :meth:`refine_host`."""
        return False

    def refinement_note(self) -> str:
        ckpt = self.checkpoint()
        if self.can_refine():
            return (f"Refines the rendered mouth (or face) with the WebUI's checkpoint: **{ckpt or 'the one selected'}** "
                    "(its own UNet and VAE, no second copy; loaded when you generate if it is not yet), "
                    "attending to the portrait and to neighbouring frames so identity holds and frames do not "
                    "flicker. SD1.5-family checkpoints only.")
        return ("**Refinement needs a Stable Diffusion host**: use this tab inside the A1111 or Forge WebUI (it "
                "uses the checkpoint loaded there) or the ComfyUI Refine node. The standalone app has no "
                "Stable Diffusion model and cannot refine yet.")

    # hooks
    def image_component_created(self, image) -> None:
        """Called with the portrait input (the WebUI registers it for send-to)."""

    def blocks_created(self, blocks) -> None:
        """Called with the finished Blocks."""


def error_html(message: str) -> str:
    return f"<div class='error'>{html.escape(message)}</div>"


def dated_output_dir(root: str, dated: bool = True, today: Optional[datetime.date] = None) -> str:
    folder = os.path.join(root, (today or datetime.date.today()).isoformat()) if dated else root
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        from . import OutputError

        raise OutputError(f"{folder}: cannot create the output folder: {e}")
    return folder


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(name: str, fallback: str = "portrait") -> str:
    stem = _SAFE.sub("_", os.path.splitext(os.path.basename(str(name or "")))[0]).strip("._")
    return stem[:60] or fallback


def next_stem(folder: str, name: str) -> str:
    """``NNNNN-name``, one past the highest number in ``folder`` (the WebUI's
    numbering of saved images)."""
    numbers = [int(m.group(1)) for f in os.listdir(folder) if (m := re.match(r"(\d{5})-", f))]
    return f"{max(numbers, default=0) + 1:05d}-{safe_stem(name)}"


# ---------------------------------------------------------------- jobs


class Tracker:
    """Reports a job's progress to the host's state (and to Gradio's
    progress bar when given), and raises :class:`Interrupted` or
    :class:`Skipped` at the next frame after the user asks."""

    def __init__(self, state, gr_progress=None, jobs: int = 1):
        self.state = state
        self.gr_progress = gr_progress
        self.jobs = max(1, jobs)
        self.job = 0
        self._last = 0.0
        state.job_count = self.jobs
        state.job_no = 0

    def next_job(self, index: int, text: str) -> None:
        self.job = index
        self.state.job_no = index
        self.state.sampling_step = 0
        self.state.sampling_steps = 0
        self.stage(text)

    def stage(self, text: str) -> None:
        self.state.textinfo = text
        self._gradio(0.0, text, force=True)
        self.check()

    def frames(self, done: int, total: int) -> None:
        self.state.sampling_steps = total
        self.state.sampling_step = done
        self._gradio(done / max(total, 1), f"frame {done}/{total}", force=done >= total)
        self.check()

    def _gradio(self, fraction: float, text: str, force: bool = False) -> None:
        if self.gr_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.2:
            return
        self._last = now
        overall = (self.job + fraction) / self.jobs
        prefix = f"job {self.job + 1}/{self.jobs}: " if self.jobs > 1 else ""
        try:
            self.gr_progress(min(overall, 1.0), desc=prefix + text)
        except Exception:  # progress display is best effort
            self.gr_progress = None

    def check(self) -> None:
        if getattr(self.state, "interrupted", False):
            raise Interrupted()
        if getattr(self.state, "skipped", False):
            self.state.skipped = False
            raise Skipped()


def render_job(image: str, audio: Optional[str], opts: argparse.Namespace, video: str,
               tracker: Optional[Tracker] = None, host: Optional["Host"] = None) -> dict:
    """Renders one job: ``image`` with ``audio`` (or, without audio, an idle
    clip of ``opts.idle_seconds``) into ``video``, plus the exports in
    ``opts.exports`` beside it (``<video stem><suffix>``, see :data:`EXPORTS`).

    The motion is computed once, rendered, and the same motion is exported,
    so the files always agree. Returns a report dict (``video``, ``files``
    by kind, ``frames``, ``width``, ``height``, ``fps``, ``seconds``,
    ``seed``, ``renderer``, ``engine``, ``idle``, ``note``). An interrupted
    or failed job leaves no file. With ``opts.refine`` the frames pass
    through the ``host``'s Stable Diffusion refinement on their way to the
    encoder (see :func:`refine_to_file`).
    """
    import voxportrait as vp

    from ._files import write_text_atomic
    from .cli import _motion_kwargs

    tracker = tracker or Tracker(JobState())
    fmt = opts.format or ("gif" if video.lower().endswith(".gif") else "mp4")
    if fmt not in FORMATS:
        raise ValidationError(f"format must be {' or '.join(FORMATS)}", "format")
    sd_host = None
    if getattr(opts, "refine", False):
        refine_options(opts)
        from .refine.options import RefineError

        try:
            sd_host = host.refine_host() if host is not None else None
        except (RefineError, ImportError) as e:  # ImportError: a module the host should have is missing
            raise ValidationError(str(e) if isinstance(e, RefineError) else
                                  f"refinement cannot run in this host: {type(e).__name__}: {e}", "refine")
        if sd_host is None:
            raise ValidationError("refinement needs a Stable Diffusion model loaded by a host (the WebUI tab or "
                                  "the ComfyUI Refine node); turn refinement off here", "refine")
    tracker.stage("reading the portrait")
    portrait = vp.load_image(image, background=tuple(opts.background))
    tracker.stage("finding the face")
    renderer = vp.Renderer(portrait, framing=opts.framing, size=opts.size, face_index=opts.face_index,
                           mouth_position=opts.mouth, resting_mouth=opts.resting_mouth)
    motion_kw = _motion_kwargs(opts)
    note = ""
    sound = None
    if audio:
        tracker.stage("analysing the speech")
        samples, rate = vp.load_audio(audio, max_seconds=opts.max_audio_seconds)
        sound = (samples, rate)
        try:
            motion = vp.audio_to_motion(samples, sample_rate=rate, fps=opts.fps, seed=opts.seed, **motion_kw)
        except vp.InputError as e:
            if "silent" not in str(e):
                raise
            if not opts.allow_silent:
                raise vp.InputError(f"{os.path.basename(audio)}: the audio is silent (peak below -60 dBFS), so "
                                    "there is nothing to lip-sync; check the recording, or allow silent "
                                    "audio for an idle face")
            frames = vp.frame_count(str(opts.fps), len(samples), rate)
            motion = _idle(vp, max(len(samples) / rate, 1e-3), opts, frames)
            note = "silent audio: idle face"
        seconds = len(samples) / rate
    else:
        tracker.stage("making idle motion")
        motion = _idle(vp, opts.idle_seconds, opts)
        seconds = motion.duration
        note = f"no audio: {seconds:g} s idle clip"
    tracker.stage("rendering" if sd_host is None else "rendering and refining")
    written: List[str] = []
    try:
        if sd_host is None:
            frames = renderer.render_to_file(motion, video, audio=sound, format=fmt, ffmpeg=opts.ffmpeg,
                                             progress=tracker.frames)
        else:
            frames = refine_to_file(renderer, motion, video, sd_host, opts, audio=sound, format=fmt,
                                    tracker=tracker)
        written.append(video)
        files = {"video": video}
        stem = os.path.splitext(video)[0]
        texts = {"motion": motion.to_json}
        if motion.engine is not None:  # viseme exports exist only for motion from speech
            texts.update(rhubarb_tsv=motion.rhubarb_tsv, rhubarb_json=motion.rhubarb_json, ovr=motion.ovr_json)
        for kind in opts.exports:
            if kind in texts:
                path = stem + EXPORTS[kind][1]
                write_text_atomic(path, texts[kind]())
                written.append(path)
                files[kind] = path
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.unlink(path)
        raise
    skipped = [k for k in opts.exports if k not in files]
    if skipped and motion.engine is None:
        note = (note + "; " if note else "") + "no visemes without speech"
    return {
        "video": video, "files": files, "format": fmt, "frames": int(frames),
        "width": renderer.width, "height": renderer.height, "fps": str(opts.fps),
        "seconds": round(float(seconds), 3), "seed": int(opts.seed), "renderer": renderer.kind,
        "engine": motion.engine, "idle": motion.engine is None, "note": note,
    }


def refine_to_file(renderer, motion, video: str, sd_host, opts: argparse.Namespace, *, audio=None,
                   format: str = "mp4", tracker: Optional[Tracker] = None) -> int:
    """Renders ``motion`` batch by batch, refines each batch with ``sd_host``
    inside the renderer's mouth or face masks, and streams it to ``video``.

    Memory holds one batch of frames. The reference portrait is the first
    rendered frame (the portrait in the frames' own framing). Returns the
    frame count; an interrupted or failed job leaves no file.
    """
    from fractions import Fraction

    import numpy as np

    import voxportrait as vp

    from ._video import FrameWriter
    from .refine.core import Refiner
    from .refine.options import RefineInterrupted

    tracker = tracker or Tracker(JobState())
    ropts = refine_options(opts)
    total = int(np.asarray(motion.expression).shape[0])
    num, den = vp.parse_fps(str(opts.fps))
    cond = sd_host.prompt_cond(opts.refine_prompt) if getattr(opts, "refine_prompt", "") else None
    uncond = sd_host.prompt_cond(opts.refine_negative) if getattr(opts, "refine_negative", "") else None
    batch = ropts.frames_per_batch
    writer = FrameWriter(video, renderer.width, renderer.height, Fraction(num, den), audio=audio,
                         format=format, ffmpeg=opts.ffmpeg)
    refiner = None
    try:
        for start in range(0, total, batch):
            stop = min(total, start + batch)
            rgb, face, mouth = renderer.render(motion, start, stop, masks=True)
            if refiner is None:
                refiner = Refiner(sd_host, rgb[0], ropts, cond, uncond)
            writer.write(refiner.refine(rgb, face if ropts.region == "face" else mouth))
            tracker.frames(stop, total)
        writer.close()
    except RefineInterrupted:
        writer.abort()
        raise Interrupted()
    except BaseException:
        writer.abort()
        raise
    finally:
        if refiner is not None:
            refiner.close()  # frees the bank's (GPU) tensors, on errors too
    return total


def _idle(vp, seconds: float, opts, frames: Optional[int] = None):
    import numpy as np

    kw = dict(fps=opts.fps, seed=opts.seed, head_scale=0.0 if opts.still else opts.head_scale,
              head_preset=opts.head_preset, blink_rate=opts.blink_rate)
    m = vp.idle_motion(seconds, **kw)
    if frames is not None and frames != m.frames:
        def fit(a):
            a = np.asarray(a)[:frames]
            if len(a) < frames:
                a = np.concatenate([a, np.repeat(a[-1:], frames - len(a), axis=0)])
            return a

        m.expression, m.head, m.gaze = fit(m.expression), fit(m.head), fit(m.gaze)
    return m


def summary_text(report: dict, folder: Optional[str] = None) -> str:
    r = report
    line = (f"{os.path.basename(r['video'])}: {r['frames']} frames {r['width']}×{r['height']} at {r['fps']} fps "
            f"({r['seconds']:.2f} s), seed {r['seed']}")
    if r.get("note"):
        line += f" ({r['note']})"
    if folder:
        line += f"; saved in {folder}"
    return line


# ---------------------------------------------------------------- batch


def _pair_by_name(images: Sequence[str], audios: Sequence[str], where: str) -> List[dict]:
    """Jobs pairing images and audio with the same name; one audio file goes
    with every image, and one image with every audio file."""
    if not images:
        raise ValidationError(f"no portraits ({', '.join(IMAGE_SUFFIXES)}) in {where}", "batch")
    if not audios:
        raise ValidationError(f"no audio ({', '.join(AUDIO_SUFFIXES)}) in {where}", "batch")
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    if len(audios) == 1 or len(images) == 1:
        pairs = [(i, a) for i in images for a in audios]
    else:
        by_stem = {stem(a).lower(): a for a in audios}
        pairs = [(i, by_stem[stem(i).lower()]) for i in images if stem(i).lower() in by_stem]
        unmatched = [os.path.basename(i) for i in images if stem(i).lower() not in by_stem]
        if not pairs:
            raise ValidationError(f"no portrait in {where} has an audio file of the same name (e.g. anna.png "
                                  "with anna.wav); or give one audio file for all portraits", "batch")
        if unmatched:
            pairs += [(i, None) for i in images if stem(i).lower() not in by_stem]
    jobs = []
    for image, audio in pairs:
        name = stem(image) if audio is None or stem(image) == stem(audio) or len(audios) == 1 \
            else f"{stem(image)}-{stem(audio)}"
        jobs.append({"image": image, "audio": audio or "", "name": safe_stem(name)})
    return jobs


def batch_from_folder(folder: str) -> List[dict]:
    folder = os.path.expanduser(folder.strip())
    if not os.path.isdir(folder):
        raise ValidationError(f"{folder}: no such folder", "batch_folder")
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    images = [f for f in files if f.lower().endswith(IMAGE_SUFFIXES)]
    audios = [f for f in files if f.lower().endswith(AUDIO_SUFFIXES)]
    return _pair_by_name(images, audios, folder)


def batch_from_files(paths: Sequence[str]) -> List[dict]:
    images = [p for p in paths if p.lower().endswith(IMAGE_SUFFIXES)]
    audios = [p for p in paths if p.lower().endswith(AUDIO_SUFFIXES)]
    others = [os.path.basename(p) for p in paths if p not in images and p not in audios]
    if others:
        raise ValidationError(f"neither a portrait nor audio: {', '.join(others[:3])}", "batch_files")
    return _pair_by_name(images, audios, "the uploaded files")


def batch_from_list(text: str, manifest: Optional[str] = None) -> Tuple[str, List[Tuple[int, object]]]:
    """Records of a pasted list (``image, audio[, output]`` per line, or a CSV
    with a header naming any option columns) or of a manifest file (CSV or
    JSONL), read by the command line's batch reader."""
    from .batch import ManifestError, read_manifest

    with tempfile.TemporaryDirectory(prefix="voxportrait-list-") as tmp:
        if manifest:
            path = manifest
        else:
            lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            if not lines:
                raise ValidationError("the list of jobs is empty", "batch_list")
            if lines[0].lstrip().startswith("{"):
                path = os.path.join(tmp, "jobs.jsonl")
            else:
                path = os.path.join(tmp, "jobs.csv")
                if "image" not in [c.strip().lower() for c in lines[0].split(",")]:
                    lines.insert(0, "image,audio,output")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        try:
            return path, read_manifest(path)
        except ManifestError as e:
            raise ValidationError(str(e).replace(path, "the list") if not manifest else str(e), "batch_list")


def run_batch(records: List[Tuple[int, object]], base: str, opts: argparse.Namespace, out_dir: str,
              tracker: Tracker, label: str = "batch", host: Optional["Host"] = None) -> dict:
    """Checks every record with the command line's batch planner
    (:func:`voxportrait.batch.plan_jobs`: per-row options over ``opts``,
    relative paths against ``base``, outputs in ``out_dir`` unless a row
    names one), then renders the valid jobs one after another. A job that
    fails does not stop the others; Interrupt stops the batch, Skip drops
    the current job. Writes ``batch-report.json`` (the CLI's report format)
    in ``out_dir`` and returns ``{"jobs", "report", "interrupted", ...}``.
    """
    from . import VoxPortraitError
    from .batch import _report_json, plan_jobs
    from .cli import _exit_code_of

    args = argparse.Namespace(**vars(opts))
    args.output = out_dir
    jobs = plan_jobs(os.path.join(base, label), records, _animate_actions(), args)
    for job in jobs:
        fmt = job.options.get("format", opts.format)
        if fmt not in (None,) + FORMATS:
            job.invalid(f"format must be {' or '.join(FORMATS)} here")
            job.status = "failed"
    tracker.jobs = max(1, len(jobs))
    tracker.state.job_count = tracker.jobs
    started = time.monotonic()
    interrupted = False
    for i, job in enumerate(jobs):
        if job.errors:
            continue
        merged = argparse.Namespace(**vars(opts))
        vars(merged).update(job.options)
        t0 = time.monotonic()
        try:
            tracker.next_job(i, f"job {job.number}/{len(jobs)}: {os.path.basename(job.image)}")
            job.report = render_job(job.image, job.audio, merged, job.output, tracker, host)
            job.status = "ok"
        except Interrupted:
            interrupted = True
            job.status = "interrupted"
            job.errors.append("interrupted; no output written")
            break
        except Skipped:
            job.status = "failed"
            job.errors.append("skipped")
        except (VoxPortraitError, ValidationError, OSError) as e:
            job.status = "failed"
            job.error_code = _exit_code_of(e)
            job.errors.append(" ".join(str(e).split()))
        finally:
            job.seconds = time.monotonic() - t0
    for job in jobs:
        if job.status == "pending":
            job.status = "not run"
    elapsed = time.monotonic() - started
    report_path = os.path.join(out_dir, "batch-report.json")
    text = _report_json(label, jobs, elapsed, interrupted)
    with open(report_path, "w", encoding="utf-8") as f:
        f.write(text)
    return {"jobs": jobs, "report": report_path, "interrupted": interrupted, "seconds": elapsed,
            "ok": sum(j.status == "ok" for j in jobs), "failed": sum(j.status == "failed" for j in jobs)}


# ---------------------------------------------------------------- dub and reenact

#: What the dub does when the new speech and the video differ in length.
LENGTH_MODES = ("loop", "pingpong", "pad", "cut")
#: Parts of a driving video's motion that reenactment can transfer.
PARTS = ("pose", "eyes", "brows", "mouth")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")
DUB_DEFAULTS = {"lip_strength": 1.0, "length": "loop", "mix_original": 0.0, "face_index": 0, "smoothing": 1.5,
                "region": "lower-face", "template": "neutral"}
DUB_REGIONS = ("lower-face", "mouth")
MOUTH_TEMPLATES = ("neutral", "smile")
#: ``face_index`` is the portrait's face, ``driving_face_index`` the video's.
REENACT_DEFAULTS = {"framing": "resize", "size": 512, "face_index": 0, "driving_face_index": 0, "relative": True,
                    "parts": list(PARTS), "smoothing": 1.5}


def _number(values: Mapping, name: str, default, lo: float, hi: float, what: str, integer: bool = False):
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {value!r}", name)
    if integer:
        if not v.is_integer():
            raise ValidationError(f"{what} must be a whole number, got {value!r}", name)
        v = int(v)
    if not lo <= v <= hi:
        raise ValidationError(f"{what} must lie between {lo:g} and {hi:g}, got {value!r}", name)
    return v


def _choice(values: Mapping, name: str, default: str, choices: Sequence[str], what: str) -> str:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    v = str(value).strip().lower()
    if v not in choices:
        raise ValidationError(f"{what} must be one of {', '.join(choices)}, got {value!r}", name)
    return v


def _flag(values: Mapping, name: str, default: bool) -> bool:
    value = values.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValidationError(f"expected true or false, got {value!r}", name)
    return bool(value)


def _check_keys(values: Mapping, known: Mapping) -> None:
    for key in values:
        if _normalise_name(key) not in known:
            raise ValidationError(f"unknown option {key!r}; choose from {', '.join(sorted(known))}", str(key))


def parse_dub_options(values: Mapping) -> dict:
    """Checks the "Dub a video" options (as :func:`voxportrait.dub` takes
    them); empty values keep the defaults. Raises :class:`ValidationError`."""
    values = {_normalise_name(k): v for k, v in values.items()}
    _check_keys(values, DUB_DEFAULTS)
    d = DUB_DEFAULTS
    return {
        "lip_strength": _number(values, "lip_strength", d["lip_strength"], 0.0, 4.0, "lip strength"),
        "length": _choice(values, "length", d["length"], LENGTH_MODES, "length"),
        "mix_original": _number(values, "mix_original", d["mix_original"], 0.0, 1.0, "original audio level"),
        "face_index": _number(values, "face_index", d["face_index"], 0, 99, "face index", integer=True),
        "smoothing": _number(values, "smoothing", d["smoothing"], 0.05, 30.0, "smoothing"),
        "region": _choice(values, "region", d["region"], DUB_REGIONS, "region"),
        "template": _choice(values, "template", d["template"], MOUTH_TEMPLATES, "template"),
    }


def parse_reenact_options(values: Mapping) -> dict:
    """Checks the "Drive from a video" options (as :func:`voxportrait.reenact`
    takes them); empty values keep the defaults. ``parts`` is a list or a
    comma-separated text and must name at least one part."""
    from .render import FRAMINGS

    values = {_normalise_name(k): v for k, v in values.items()}
    _check_keys(values, REENACT_DEFAULTS)
    d = REENACT_DEFAULTS
    size = _number(values, "size", d["size"], 0, 4096, "size", integer=True)
    if 0 < size < 64:
        raise ValidationError("size must be 0 (keep the portrait's) or at least 64 pixels", "size")
    parts = values.get("parts")
    if parts is None:
        parts = list(d["parts"])
    elif isinstance(parts, str):
        parts = [p for p in re.split(r"[,+\s]+", parts) if p]
    parts = [str(p).strip().lower() for p in parts]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValidationError(f"unknown parts {', '.join(unknown)}; choose from {', '.join(PARTS)}", "parts")
    if not parts:
        raise ValidationError("choose at least one part to transfer (pose, eyes, brows, mouth)", "parts")
    return {
        "framing": _choice(values, "framing", d["framing"], FRAMINGS, "framing"),
        "size": size,
        "face_index": _number(values, "face_index", d["face_index"], 0, 99, "portrait face index", integer=True),
        "driving_face_index": _number(values, "driving_face_index", d["driving_face_index"], 0, 99,
                                      "driving face index", integer=True),
        "relative": _flag(values, "relative", d["relative"]),
        "parts": [p for p in PARTS if p in parts],
        "smoothing": _number(values, "smoothing", d["smoothing"], 0.05, 30.0, "smoothing"),
    }


def _require(path: Optional[str], what: str, field: str) -> str:
    if not path:
        raise ValidationError(f"upload {what} first", field)
    if not os.path.isfile(path):
        raise ValidationError(f"{what} {path!r} does not exist", field)
    return path


def dub_job(video: str, audio: str, output: str, opts: Mapping, tracker: Optional[Tracker] = None) -> dict:
    """Dubs ``video`` with the speech in ``audio`` into ``output`` (MP4) with
    the checked options ``opts`` (:func:`parse_dub_options`); progress and
    Interrupt go through ``tracker``. An interrupted or failed job leaves no
    file. Returns :func:`voxportrait.dub`'s report plus ``video`` and
    ``seconds``."""
    import voxportrait as vp

    tracker = tracker or Tracker(JobState())
    _require(video, "a video to dub", "video")
    _require(audio, "the new speech", "audio")
    tracker.stage("dubbing")
    report = dict(vp.dub(video, audio, output, progress=tracker.frames, **dict(opts)))
    report["video"] = output
    rate = report.get("fps_value")
    report["seconds"] = round(report["frames"] / float(rate), 3) if rate else None
    return report


def reenact_job(image: str, video: str, output: str, opts: Mapping, tracker: Optional[Tracker] = None) -> dict:
    """Drives the portrait ``image`` with the face motion of ``video`` into
    ``output`` (MP4, with the video's sound when it has some), options from
    :func:`parse_reenact_options`. Returns :func:`voxportrait.reenact`'s
    report plus ``video``."""
    import voxportrait as vp

    tracker = tracker or Tracker(JobState())
    _require(image, "a portrait", "image")
    _require(video, "a driving video", "video")
    tracker.stage("following the driving video")
    report = dict(vp.reenact(image, video, output, progress=tracker.frames, **dict(opts)))
    report["video"] = output
    return report


def video_summary(report: dict, folder: Optional[str] = None) -> str:
    r = report
    line = f"{os.path.basename(r['video'])}: {r['frames']} frames {r['width']}×{r['height']} at {r['fps']} fps"
    if "dubbed_frames" in r:
        line += f", face dubbed in {r['dubbed_frames']}"
    if "with_audio" in r:
        line += ", with the video's sound" if r["with_audio"] else ", silent (the video has no sound)"
    if folder:
        line += f"; saved in {folder}"
    return line


def _output_for(host: Host, source: str, tag: str) -> Tuple[str, str]:
    folder = host.output_dir()
    name = f"{os.path.splitext(os.path.basename(source))[0]}-{tag}"
    return folder, os.path.join(folder, next_stem(folder, name) + ".mp4")


def _run_dub(host: Host, video: Optional[str], audio: Optional[str], values: dict, progress, gr):
    """The "Dub a video" button: [video, gif, downloads, status]."""
    import voxportrait as vp

    keep = [None, update(gr), None]
    try:
        _require(video, "a video to dub", "video")
        _require(audio, "the new speech", "audio")
        opts = parse_dub_options(values)
        folder, out = _output_for(host, video, "dub")
        report = dub_job(video, audio, out, opts, Tracker(host.state, progress))
    except (ValidationError, Interrupted, Skipped, vp.VoxPortraitError) as e:
        return keep + [_error_status(e)]
    shown = _displayable(host, out)
    return [shown, update(gr, value=None, visible=False), [shown],
            f"<div class='voxportrait-ok'>{html.escape(video_summary(report, folder))}</div>"]


def _run_reenact(host: Host, image: Optional[str], video: Optional[str], values: dict, progress, gr):
    """The "Drive from a video" button: [video, gif, downloads, status]."""
    import voxportrait as vp

    keep = [None, update(gr), None]
    try:
        _require(image, "a portrait", "image")
        _require(video, "a driving video", "video")
        opts = parse_reenact_options(values)
        folder, out = _output_for(host, image, "reenact")
        report = reenact_job(image, video, out, opts, Tracker(host.state, progress))
    except (ValidationError, Interrupted, Skipped, vp.VoxPortraitError) as e:
        return keep + [_error_status(e, "drive")]
    shown = _displayable(host, out)
    return [shown, update(gr, value=None, visible=False), [shown],
            f"<div class='voxportrait-ok'>{html.escape(video_summary(report, folder))}</div>"]


# ---------------------------------------------------------------- the HTTP API


def _sniff_suffix(data: bytes, kind: str) -> str:
    if kind == "image":
        if data.startswith(b"\x89PNG"):
            return ".png"
        if data.startswith(b"\xff\xd8"):
            return ".jpg"
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return ".webp"
        return ".png"
    if data[:4] == b"RIFF":
        return ".wav"
    if data.startswith(b"fLaC"):
        return ".flac"
    if data.startswith(b"OggS"):
        return ".ogg"
    if data[4:8] == b"ftyp":
        return ".m4a"
    if data.startswith(b"ID3") or data[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return ".mp3"
    return ".wav"


class ApiRequest:
    """A checked API request: the uploads and the options."""

    def __init__(self, image: Tuple[str, bytes], audio: Optional[Tuple[str, bytes]], opts: argparse.Namespace,
                 response: str, save: bool):
        self.image = image
        self.audio = audio
        self.options = opts
        self.response = response
        self.save = save


def _decode_base64(text, field: str) -> bytes:
    if not isinstance(text, str):
        raise ValidationError("expected base64 text (or a data: URL)", field, 400)
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("not valid base64", field, 400)


def parse_api_request(fields: Mapping, files: Mapping[str, Tuple[str, bytes]], max_bytes: int) -> ApiRequest:
    """Checks an API request: ``files`` holds uploads by field name
    (``(filename, bytes)``: multipart files, or base64 fields of a JSON body
    already decoded); ``fields`` the other values. Plain Python, so it is
    tested without FastAPI."""
    fields = dict(fields)
    uploads = dict(files)
    response = str(fields.pop("response", "video") or "video").strip().lower()
    if response not in ("video", "json"):
        raise ValidationError("response must be video (the file itself) or json (base64 video, motion, "
                              "visemes and the report)", "response")
    save_value = fields.pop("save", False)
    try:
        from .batch import _flag

        save = _flag(save_value) if save_value not in (None, "") else False
    except ValueError as e:
        raise ValidationError(str(e), "save")
    for name in ("image", "audio"):
        if name in fields:
            value = fields.pop(name)
            if value not in (None, ""):
                if name in uploads:
                    raise ValidationError("given twice", name, 400)
                uploads[name] = (str(fields.pop(name + "_name", "") or name), _decode_base64(value, name))
        fields.pop(name + "_name", None)
    unexpected = [k for k in uploads if k not in ("image", "audio")]
    if unexpected:
        raise ValidationError(f"unexpected file field {unexpected[0]!r}; upload image and audio", unexpected[0], 400)
    if "image" not in uploads:
        raise ValidationError("a portrait is required: an 'image' file (multipart) or base64 text (JSON)",
                              "image", 400)
    for name, (_, data) in uploads.items():
        if not data:
            raise ValidationError("empty upload", name, 400)
        if len(data) > max_bytes:
            raise ValidationError(f"upload of {len(data) / 2**20:.1f} MB is over the limit of "
                                  f"{max_bytes / 2**20:.0f} MB", name, 413)
    opts = parse_options(fields)
    return ApiRequest(uploads["image"], uploads.get("audio"), opts, response, save)


def run_api_request(req: ApiRequest, host: Host) -> dict:
    """Runs a checked request in the host's queue; returns the JSON-able
    result (``video_bytes`` holds the video itself). Engine refusals become
    :class:`ValidationError` (422), with temporary paths left out."""
    import voxportrait as vp

    with tempfile.TemporaryDirectory(prefix="voxportrait-api-") as tmp:
        paths = {}
        for kind, upload in (("image", req.image), ("audio", req.audio)):
            if upload is None:
                continue
            name, data = upload
            suffix = os.path.splitext(name)[1].lower()
            if suffix not in (IMAGE_SUFFIXES if kind == "image" else AUDIO_SUFFIXES):
                suffix = _sniff_suffix(data, kind)
            paths[kind] = os.path.join(tmp, kind + suffix)
            with open(paths[kind], "wb") as f:
                f.write(data)
        image_name = safe_stem(req.image[0], "portrait")
        if req.save:
            folder = host.output_dir()
            video = os.path.join(folder, next_stem(folder, image_name) + "." + (req.options.format or "mp4"))
        else:
            video = os.path.join(tmp, image_name + "." + (req.options.format or "mp4"))
        with host.job("voxportrait-api") as state:
            tracker = Tracker(state)
            try:
                report = render_job(paths["image"], paths.get("audio"), req.options, video, tracker, host)
            except vp.InputError as e:
                message = without_cli_flags(str(e), "api")
                for kind, path in paths.items():
                    message = message.replace(path, kind)
                raise ValidationError(message, None, 422)
        result = {k: v for k, v in report.items() if k not in ("files", "video")}
        result["filename"] = os.path.basename(video)
        result["saved"] = report["files"] if req.save else None
        with open(video, "rb") as f:
            result["video_bytes"] = f.read()
        result["exports"] = {}
        for kind, path in report["files"].items():
            if kind != "video":
                with open(path, encoding="utf-8") as f:
                    result["exports"][kind] = f.read()
    return result


async def _read_request(request, max_bytes: int) -> Tuple[dict, dict]:
    """Fields and uploads of a multipart form or a JSON body."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > 2 * max_bytes + (1 << 20):
        raise ValidationError(f"request of {int(length) / 2**20:.1f} MB is over the limit", None, 413)
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        try:
            body = json.loads(await request.body())
        except ValueError as e:
            raise ValidationError(f"the body is not valid JSON: {e}", None, 400)
        if not isinstance(body, dict):
            raise ValidationError("the JSON body must be an object: {\"image\": base64, \"audio\": base64, "
                                  "options...}", None, 400)
        for name in ("image", "audio"):
            if isinstance(body.get(name), str) and len(body[name]) > max_bytes * 4 // 3 + 1024:
                raise ValidationError(f"upload over the limit of {max_bytes / 2**20:.0f} MB", name, 413)
        return body, {}
    if ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            form = await request.form()
        except Exception as e:  # malformed multipart
            raise ValidationError(f"cannot read the form: {e}", None, 400)
        fields, files = {}, {}
        for key, value in form.multi_items():
            if hasattr(value, "read"):  # an upload
                if key in files:
                    raise ValidationError("given twice", key, 400)
                files[key] = (value.filename or key, await value.read())
            else:
                if key in fields:
                    raise ValidationError("given twice", key, 400)
                fields[key] = value
        return fields, files
    raise ValidationError(f"unsupported content type {ctype or '(none)'!r}: send multipart/form-data or "
                          "application/json", None, 415)


def add_api_routes(app, host: Host, prefix: str = API_PREFIX) -> list:
    """Adds ``POST {prefix}/animate`` and ``GET {prefix}/options`` to a
    FastAPI ``app`` (the WebUI's, from ``on_app_started``, or the standalone
    app's). Returns the paths added."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    import voxportrait as vp

    def error(status: int, message: str, field: Optional[str] = None):
        return JSONResponse({"detail": message, "field": field}, status_code=status)

    def authorised(request) -> bool:
        credentials = host.api_credentials()
        if not credentials:
            return True
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            return False
        import hmac

        return scheme.lower() == "basic" and user in credentials and hmac.compare_digest(
            password.encode(), credentials[user].encode())

    async def animate(request: Request):
        if not authorised(request):
            return JSONResponse({"detail": "Incorrect username or password", "field": None}, status_code=401,
                                headers={"WWW-Authenticate": "Basic"})
        try:
            fields, files = await _read_request(request, host.max_upload_bytes())
            req = parse_api_request(fields, files, host.max_upload_bytes())
            result = await run_in_threadpool(run_api_request, req, host)
        except ValidationError as e:
            return error(e.status, e.message, e.field)
        except Interrupted:
            return error(409, "interrupted (Interrupt was pressed); no output written")
        except vp.VoxPortraitError as e:
            return error(500, f"{type(e).__name__}: {' '.join(str(e).split())}")
        except Exception as e:  # a JSON answer saying what failed, not a bare 500; the traceback goes to the log
            import traceback

            traceback.print_exc()
            return error(500, f"{type(e).__name__}: {' '.join(str(e).split())}")
        video = result.pop("video_bytes")
        mime = "image/gif" if result["format"] == "gif" else "video/mp4"
        if req.response == "json":
            result["video"] = base64.b64encode(video).decode("ascii")
            result["mime"] = mime
            return JSONResponse(result)
        headers = {
            "Content-Disposition": f'attachment; filename="{result["filename"]}"',
            "X-VoxPortrait-Frames": str(result["frames"]),
            "X-VoxPortrait-Size": f"{result['width']}x{result['height']}",
            "X-VoxPortrait-Fps": result["fps"],
            "X-VoxPortrait-Seed": str(result["seed"]),
        }
        return Response(content=video, media_type=mime, headers=headers)

    async def options(request: Request):
        if not authorised(request):
            return JSONResponse({"detail": "Incorrect username or password", "field": None}, status_code=401,
                                headers={"WWW-Authenticate": "Basic"})
        return JSONResponse({"options": options_schema(), "exports": {k: v[0] for k, v in EXPORTS.items()},
                             "formats": list(FORMATS), "version": vp.__version__})

    # This module postpones annotations; FastAPI needs the class itself.
    animate.__annotations__["request"] = options.__annotations__["request"] = Request
    app.add_api_route(prefix + "/animate", animate, methods=["POST"], summary="Animate a portrait with speech",
                      description="multipart/form-data (image, audio files and option fields) or JSON "
                                  "(base64 image and audio, options); returns the video, or JSON with "
                                  "response=json.")
    app.add_api_route(prefix + "/options", options, methods=["GET"], summary="VoxPortrait options")
    return [prefix + "/animate", prefix + "/options"]


# ---------------------------------------------------------------- Gradio compatibility


def gradio_major(gr) -> int:
    try:
        return int(str(gr.__version__).split(".")[0])
    except ValueError:
        return 4


def _accepted(cls, kwargs: dict) -> dict:
    """``kwargs`` less those the constructor does not name: gradio 4.x
    refuses unknown keyword arguments. A constructor that takes ``**kwargs``
    gets every one: gradio 3.x's own (which only warns about unknown ones),
    and a host's wrapper such as reForge's ``gr.Image.__init__(self, *args,
    **kwargs)``, whose signature names none of the real ones."""
    target = cls.__init__ if isinstance(cls, type) else cls
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def make(gr, name: str, *args, **kwargs):
    """``gr.<name>(*args, **kwargs)`` with the keyword arguments this gradio
    takes."""
    cls = getattr(gr, name)
    return cls(*args, **_accepted(cls, kwargs))


def image_input(gr, **kwargs):
    """A portrait input returning a file path: upload or paste (``source=``
    in 3.x, ``sources=`` in 4.x); RGBA so transparency reaches the renderer.

    Gradio hands the image over as a PIL image (``type="pil"``) and this
    component's own ``preprocess`` saves it (:func:`save_upload`) under the
    uploaded file's name where gradio knows it (4.x and later), so outputs
    are named after the portrait. Not ``type="filepath"``: gradio 4 then
    calls ``processing_utils.save_pil_to_cache(..., name=...)``, which Forge
    replaces with a function that takes no ``name`` (a TypeError on every
    upload), and gradio 3 saves under a temporary name."""
    if gradio_major(gr) >= 4:
        kwargs["sources"] = ["upload", "clipboard"]
    else:
        kwargs["source"] = "upload"
    image = make(gr, "Image", type="pil", image_mode="RGBA", **kwargs)
    gradio_preprocess = image.preprocess

    def preprocess(payload):
        return save_upload(gradio_preprocess(payload), upload_name(payload))

    preprocess.__doc__ = gradio_preprocess.__doc__
    image.preprocess = preprocess  # on this component only (gradio calls block.preprocess)
    return image


#: Where :func:`save_upload` puts portraits, a folder per upload (removed after the job).
UPLOADS = os.path.join(tempfile.gettempdir(), "voxportrait-uploads")
_TEMP_NAME = re.compile(r"(tmp[a-z0-9_]{6,}|image|blob|clipboard)", re.IGNORECASE)


def upload_name(payload) -> str:
    """The uploaded file's name, where gradio passes it (4.x and later:
    ``orig_name``, else the cached file's name); "portrait" for gradio 3.x's
    data URLs and for temporary names."""
    if isinstance(payload, dict):
        names = [payload.get("orig_name"), payload.get("path"), payload.get("name")]
    elif isinstance(payload, str):
        names = [] if payload.startswith("data:") else [payload]
    else:
        names = [getattr(payload, "orig_name", None), getattr(payload, "path", None)]
    for name in names:
        if isinstance(name, str) and name.strip():
            stem = os.path.splitext(os.path.basename(name.split("?")[0]))[0]
            if stem and not _TEMP_NAME.fullmatch(stem):
                return safe_stem(stem)
    return "portrait"


def save_upload(value, name: str = "portrait") -> Optional[str]:
    """A PNG of an uploaded image (PIL, or an array where a host changed the
    component's type) as ``<UPLOADS>/<random>/<name>.png``; a path is
    returned as it is."""
    if value is None or isinstance(value, (str, os.PathLike)):
        return value if value is None else os.fspath(value)
    from PIL import Image

    image = value if isinstance(value, Image.Image) else Image.fromarray(__import__("numpy").asarray(value))
    os.makedirs(UPLOADS, exist_ok=True)
    folder = tempfile.mkdtemp(dir=UPLOADS)
    path = os.path.join(folder, safe_stem(name) + ".png")
    image.save(path)
    return path


def discard_upload(path: Optional[str]) -> None:
    """Removes a :func:`save_upload` file and its folder (other paths are left alone)."""
    if not path:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.dirname(folder) == os.path.abspath(UPLOADS):
        shutil.rmtree(folder, ignore_errors=True)


def audio_inputs(gr, **kwargs) -> list:
    """Audio inputs returning file paths: one component with upload and
    microphone in 4.x; in 3.x (one source per component) an Upload and a
    Record tab, where whichever changed last is used."""
    if gradio_major(gr) >= 4:
        return [make(gr, "Audio", sources=["upload", "microphone"], type="filepath", **kwargs)]
    label = kwargs.pop("label", "Speech")
    elem_id = kwargs.pop("elem_id", None)
    with gr.Tabs():
        with gr.Tab("Upload audio"):
            upload = make(gr, "Audio", source="upload", type="filepath", label=label, elem_id=elem_id, **kwargs)
        with gr.Tab("Record"):
            record = make(gr, "Audio", source="microphone", type="filepath", label=label + " (record)",
                          elem_id=elem_id and elem_id + "_record", **kwargs)
    # Keep one: a new upload clears the recording and the other way round.
    if hasattr(upload, "upload"):
        upload.upload(lambda: None, None, [record], queue=False)
    if hasattr(record, "stop_recording"):
        record.stop_recording(lambda: None, None, [upload], queue=False)
    return [upload, record]


def files_input(gr, **kwargs):
    """Several uploaded files (``type="file"`` in 3.x, ``"filepath"`` in 4.x)."""
    ftype = "filepath" if gradio_major(gr) >= 4 else "file"
    return make(gr, "File", file_count="multiple", type=ftype, **kwargs)


def file_input(gr, **kwargs):
    ftype = "filepath" if gradio_major(gr) >= 4 else "file"
    return make(gr, "File", file_count="single", type=ftype, **kwargs)


def path_of(value) -> Optional[str]:
    """A file path from what an upload component gives: a path, a temp file
    (3.x ``type="file"``), or a dict with ``name``/``path``."""
    if value is None or value == "":
        return None
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, dict):
        return value.get("path") or value.get("name")
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], int):  # (rate, samples)
        return None
    return getattr(value, "name", None)


def on(component, event: str, fn, inputs, outputs, js: Optional[str] = None, **kwargs):
    """``component.<event>(...)`` with ``js`` passed as ``_js`` (3.x) or ``js`` (4.x)."""
    method = getattr(component, event)
    if js is not None:
        params = inspect.signature(method).parameters
        kwargs["js" if "js" in params else "_js"] = js
    params = inspect.signature(method).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in params or "kwargs" in params}
    return method(fn, inputs, outputs, **kwargs)


def update(gr, **kwargs):
    return gr.update(**kwargs)


def _with_progress(gr, host: Host, impl: Callable, n_inputs: int) -> Callable:
    """``impl(*inputs, progress=...)`` as a Gradio function of ``n_inputs``
    inputs; with Gradio's progress bar when the host shows it (its
    parameter is declared through ``__signature__``, so Gradio fills it)."""
    if host.use_gradio_progress and hasattr(gr, "Progress"):
        def fn(*args):
            progress = args[n_inputs] if len(args) > n_inputs else None
            return impl(*args[:n_inputs], progress=progress)

        params = [inspect.Parameter(f"input_{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(n_inputs)]
        params.append(inspect.Parameter("progress", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=gr.Progress()))
        fn.__signature__ = inspect.Signature(params)
    else:
        def fn(*args):
            return impl(*args[:n_inputs], progress=None)
    fn.__name__ = impl.__name__
    fn.__doc__ = impl.__doc__
    return fn


def _displayable(host: Host, path: Optional[str]) -> Optional[str]:
    """A path Gradio will serve: gradio 4 serves only files under the working
    folder, the temp folder or the allowed paths; others are copied to a
    temporary folder."""
    if not path:
        return path
    real = os.path.realpath(path)
    roots = [os.getcwd(), tempfile.gettempdir()] + list(host.allowed_paths())
    if any(real == os.path.realpath(r) or real.startswith(os.path.realpath(r) + os.sep) for r in roots):
        return os.path.abspath(path)
    folder = tempfile.mkdtemp(prefix="voxportrait-view-")
    return shutil.copy(path, os.path.join(folder, os.path.basename(path)))


# ---------------------------------------------------------------- the Blocks


#: The option widgets in input order (names are :func:`option_names`).
UI_OPTIONS = ("engine", "head_preset", "mouth_scale", "resting_mouth", "brow_scale", "head_scale", "still", "blink_rate", "seed",
              "idle_seconds", "fps", "framing", "size", "face_index", "format", "background", "mouth",
              "allow_silent", "max_audio_seconds", "exports", *REFINE_OPTIONS)


def _refine_widgets(gr, host: "Host") -> Dict[str, object]:
    """The refinement group's widgets by option name (off and locked where the host cannot refine)."""
    from .refine.options import REGIONS, SAMPLERS, SCHEDULERS

    d = default_options()
    on = host.can_refine()
    w: Dict[str, object] = {}
    with gr.Row():
        w["refine"] = make(gr, "Checkbox", value=False, interactive=on, label="Refine frames with Stable Diffusion",
                           elem_id="voxportrait_refine")
        w["refine_region"] = make(gr, "Radio", choices=list(REGIONS), value=d.refine_region, label="Repaint",
                                  info="mouth: fastest, keeps the most; face: skin and eyes too",
                                  elem_id="voxportrait_refine_region")
    with gr.Row():
        w["refine_strength"] = make(gr, "Slider", minimum=0, maximum=1, step=0.05, value=d.refine_strength,
                                    label="Denoising strength", info="0.2-0.4 repaints detail, keeps the motion",
                                    elem_id="voxportrait_refine_strength")
        w["refine_steps"] = make(gr, "Slider", minimum=1, maximum=100, step=1, value=d.refine_steps,
                                 label="Steps", info="schedule length; steps x strength run",
                                 elem_id="voxportrait_refine_steps")
    with gr.Row():
        w["refine_sampler"] = make(gr, "Dropdown", choices=list(SAMPLERS), value=d.refine_sampler, label="Sampler",
                                   elem_id="voxportrait_refine_sampler")
        w["refine_scheduler"] = make(gr, "Dropdown", choices=list(SCHEDULERS), value=d.refine_scheduler,
                                     label="Schedule", elem_id="voxportrait_refine_scheduler")
        w["refine_cfg"] = make(gr, "Slider", minimum=0, maximum=15, step=0.5, value=d.refine_cfg, label="CFG scale",
                               info="1 = no guidance (fastest); raise it with a prompt",
                               elem_id="voxportrait_refine_cfg")
    with gr.Row():
        w["refine_reference"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d.refine_reference,
                                     label="Reference fidelity", info="attention to the portrait (identity)",
                                     elem_id="voxportrait_refine_reference")
        w["refine_cross_frame"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d.refine_cross_frame,
                                       label="Cross-frame weight", info="attention to the first and previous "
                                       "frames (less flicker)", elem_id="voxportrait_refine_cross_frame")
    with gr.Row():
        w["refine_seed"] = make(gr, "Number", value=d.refine_seed, precision=0, label="Refine seed",
                                info="the noise, shared by every frame", elem_id="voxportrait_refine_seed")
        w["refine_frames_per_batch"] = make(gr, "Slider", minimum=1, maximum=16, step=1,
                                            value=d.refine_frames_per_batch, label="Frames per batch",
                                            info="GPU memory vs speed", elem_id="voxportrait_refine_batch")
    w["refine_prompt"] = make(gr, "Textbox", value="", lines=1, label="Prompt (optional)",
                              placeholder="empty: no prompt", elem_id="voxportrait_refine_prompt")
    w["refine_negative"] = make(gr, "Textbox", value="", lines=1, label="Negative prompt (optional, with CFG > 1)",
                                elem_id="voxportrait_refine_negative")
    return w


def _option_widgets(gr) -> Dict[str, object]:
    """Builds the option widgets (in the current layout context) by name."""
    from . import DEFAULT_MAX_AUDIO_SECONDS
    from .motion import ENGINES, HEAD_PRESETS
    from .render import RESTING_MOUTHS

    d = default_options()
    w: Dict[str, object] = {}
    with make(gr, "Accordion", label="Motion", open=True, elem_id="voxportrait_motion"):
        with gr.Row():
            w["engine"] = make(gr, "Radio", choices=list(ENGINES), value=d.engine, label="Viseme engine",
                               info="learned: best on speech; energy: any language, singing",
                               elem_id="voxportrait_engine")
            w["head_preset"] = make(gr, "Dropdown", choices=list(HEAD_PRESETS), value=d.head_preset,
                                    label="Head pose preset", elem_id="voxportrait_head_preset")
        with gr.Row():
            w["mouth_scale"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d.mouth_scale,
                                    label="Expression: mouth", info="how wide the mouth opens",
                                    elem_id="voxportrait_mouth_scale")
            w["brow_scale"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d.brow_scale,
                                   label="Expression: brows", info="brow raises on pitch accents",
                                   elem_id="voxportrait_brow_scale")
        with gr.Row():
            w["resting_mouth"] = make(gr, "Radio", choices=list(RESTING_MOUTHS), value=d.resting_mouth,
                                      label="Resting mouth",
                                      info="keep-smile: close an open mouth, keep a smile; neutral: also "
                                           "relax the smile; photo: the photo's mouth as it is",
                                      elem_id="voxportrait_resting_mouth")
        with gr.Row():
            w["head_scale"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d.head_scale,
                                   label="Head motion scale", info="0 keeps the head still",
                                   elem_id="voxportrait_head_scale")
            w["still"] = make(gr, "Checkbox", value=False, label="Still (no head motion)",
                              elem_id="voxportrait_still")
        with gr.Row():
            w["blink_rate"] = make(gr, "Slider", minimum=0, maximum=120, step=1, value=d.blink_rate,
                                   label="Blinks per minute", info="0 for none", elem_id="voxportrait_blink_rate")
            w["seed"] = make(gr, "Number", value=d.seed, precision=0, label="Seed",
                             info="same seed, same head motion; -1 for a random one", elem_id="voxportrait_seed")
            w["idle_seconds"] = make(gr, "Slider", minimum=0.5, maximum=60, step=0.5, value=DEFAULT_IDLE_SECONDS,
                                     label="Idle length (s)", info="without audio: an idle clip this long",
                                     elem_id="voxportrait_idle_seconds")
    with make(gr, "Accordion", label="Video", open=True, elem_id="voxportrait_video_options"):
        with gr.Row():
            w["fps"] = make(gr, "Dropdown", choices=list(FPS_CHOICES), value=str(d.fps), allow_custom_value=True,
                            label="Frame rate", info="any rate: 24, 29.97, 30000/1001...", elem_id="voxportrait_fps")
            w["framing"] = make(gr, "Radio", choices=["resize", "crop", "full"], value=d.framing, label="Framing",
                                info="resize: whole portrait; crop: aligned face; full: own resolution",
                                elem_id="voxportrait_framing")
        with gr.Row():
            w["size"] = make(gr, "Slider", minimum=0, maximum=2048, step=64, value=d.size, label="Size (px)",
                             info="longer side (crop: the square's side); 0 keeps the portrait's",
                             elem_id="voxportrait_size")
            w["face_index"] = make(gr, "Number", value=d.face_index, precision=0, minimum=0, label="Face index",
                                   info="several faces: 0 is the largest", elem_id="voxportrait_face_index")
        with gr.Row():
            w["format"] = make(gr, "Radio", choices=list(FORMATS), value="mp4", label="Format",
                               info="MP4 with sound, or a silent GIF", elem_id="voxportrait_format")
            w["background"] = make(gr, "ColorPicker", value="#ffffff", label="Background",
                                   info="behind transparent portraits", elem_id="voxportrait_background")
        with make(gr, "Accordion", label="Advanced", open=False, elem_id="voxportrait_advanced"):
            w["mouth"] = make(gr, "Textbox", value="", label="Mouth position X,Y",
                              placeholder="e.g. 0.5,0.68; empty: find the face",
                              info="fractions of width and height; for stylised faces the detector misses "
                                   "(mouth-only animation)", elem_id="voxportrait_mouth")
            with gr.Row():
                w["allow_silent"] = make(gr, "Checkbox", value=False, label="Allow silent audio (idle face)",
                                         elem_id="voxportrait_allow_silent")
                w["max_audio_seconds"] = make(gr, "Number", value=DEFAULT_MAX_AUDIO_SECONDS,
                                              label="Longest audio (s)", elem_id="voxportrait_max_audio_seconds")
            w["exports"] = make(gr, "CheckboxGroup", choices=[v[0] for v in EXPORTS.values()],
                                value=[v[0] for v in EXPORTS.values()], label="Also write",
                                elem_id="voxportrait_exports")
    return w


#: The "Dub a video" and "Drive from a video" widgets, in input order.
DUB_OPTIONS = ("lip_strength", "length", "mix_original", "face_index", "smoothing", "region", "template")
REENACT_OPTIONS = ("framing", "size", "face_index", "driving_face_index", "relative", "parts", "smoothing")


def video_input(gr, **kwargs):
    """A video upload returning a file path (``source=`` in 3.x, ``sources=`` in 4.x)."""
    if gradio_major(gr) >= 4:
        kwargs["sources"] = ["upload"]
    else:
        kwargs["source"] = "upload"
    return make(gr, "Video", **kwargs)


def _smoothing_widget(gr, elem_id: str):
    return make(gr, "Slider", minimum=0.1, maximum=10, step=0.1, value=DUB_DEFAULTS["smoothing"],
                label="Smoothing (Hz)", info="landmark filter cutoff: lower is steadier, higher follows fast motion",
                elem_id=elem_id)


def _dub_section(gr) -> dict:
    """The "Dub a video" section: a talking video and new speech in, the same
    video with the mouth re-animated out."""
    d = DUB_DEFAULTS
    make(gr, "Markdown", "Lip-sync a talking video to new speech: the head, eyes and background stay the "
                         "video's; only the mouth and the skin around it are re-rendered. Its options are "
                         "these (the Motion and Video options below are for Single and Batch).")
    video = video_input(gr, label="Video to dub", elem_id="voxportrait_dub_video", height=260)
    audio = audio_inputs(gr, label="New speech", elem_id="voxportrait_dub_audio")
    w: Dict[str, object] = {}
    with gr.Row():
        w["lip_strength"] = make(gr, "Slider", minimum=0, maximum=4, step=0.05, value=d["lip_strength"],
                                 label="Lip strength", info="how wide the new mouth moves",
                                 elem_id="voxportrait_dub_lip_strength")
        w["length"] = make(gr, "Radio", choices=list(LENGTH_MODES), value=d["length"], label="Length",
                           info="loop, ping-pong or pad the video to the speech, or cut to the shorter",
                           elem_id="voxportrait_dub_length")
    with gr.Row():
        w["mix_original"] = make(gr, "Slider", minimum=0, maximum=1, step=0.05, value=d["mix_original"],
                                 label="Original audio level", info="0 replaces the soundtrack",
                                 elem_id="voxportrait_dub_mix_original")
        w["face_index"] = make(gr, "Number", value=d["face_index"], precision=0, minimum=0, label="Face index",
                               info="several faces: 0 is the largest", elem_id="voxportrait_dub_face_index")
    w["smoothing"] = _smoothing_widget(gr, "voxportrait_dub_smoothing")
    with gr.Row():
        w["region"] = make(gr, "Radio", choices=list(DUB_REGIONS), value=d["region"], label="Re-render",
                           info="lower face: jaw, lips and chin; mouth: the mouth only (the chin stays)",
                           elem_id="voxportrait_dub_region")
        w["template"] = make(gr, "Radio", choices=list(MOUTH_TEMPLATES), value=d["template"],
                             label="Mouth template", info="the expression under the new speech",
                             elem_id="voxportrait_dub_template")
    button = make(gr, "Button", "Dub", variant="primary", elem_id="voxportrait_dub_run")
    return {"video": video, "audio": audio, "options": w, "button": button}


def _reenact_section(gr) -> dict:
    """The "Drive from a video" section: a portrait moved by a video's face."""
    from .render import FRAMINGS

    d = REENACT_DEFAULTS
    make(gr, "Markdown", "Reenactment: the portrait moves like the face in the driving video (its sound is "
                         "kept). Its options are these (the Motion and Video options below are for Single and "
                         "Batch).")
    image = image_input(gr, label="Portrait", elem_id="voxportrait_reenact_image", height=260)
    video = video_input(gr, label="Driving video", elem_id="voxportrait_reenact_video", height=260)
    w: Dict[str, object] = {}
    with gr.Row():
        w["framing"] = make(gr, "Radio", choices=list(FRAMINGS), value=d["framing"], label="Framing",
                            info="resize: whole portrait; crop: aligned face; full: own resolution",
                            elem_id="voxportrait_reenact_framing")
        w["size"] = make(gr, "Slider", minimum=0, maximum=2048, step=64, value=d["size"], label="Size (px)",
                         info="longer side (crop: the square's side); 0 keeps the portrait's",
                         elem_id="voxportrait_reenact_size")
    with gr.Row():
        w["relative"] = make(gr, "Checkbox", value=d["relative"], label="Relative motion",
                             info="relative to the video's first frame, so the driver's face shape does not leak",
                             elem_id="voxportrait_reenact_relative")
        w["parts"] = make(gr, "CheckboxGroup", choices=list(PARTS), value=list(d["parts"]), label="Transfer",
                          info="pose and eyes only: a reference video's head motion and blinks",
                          elem_id="voxportrait_reenact_parts")
    with gr.Row():
        w["face_index"] = make(gr, "Number", value=d["face_index"], precision=0, minimum=0,
                               label="Portrait face index", info="several faces in the portrait: 0 is the largest",
                               elem_id="voxportrait_reenact_face_index")
        w["driving_face_index"] = make(gr, "Number", value=d["driving_face_index"], precision=0, minimum=0,
                                       label="Driving face index",
                                       info="several faces in the driving video: 0 is the largest",
                                       elem_id="voxportrait_reenact_driving_face_index")
        w["smoothing"] = _smoothing_widget(gr, "voxportrait_reenact_smoothing")
    button = make(gr, "Button", "Drive", variant="primary", elem_id="voxportrait_reenact_run")
    return {"image": image, "video": video, "options": w, "button": button}


def _values(names: Sequence[str], values: Sequence) -> dict:
    out = dict(zip(names, values))
    if "fps" in out and out["fps"] is not None:
        out["fps"] = str(out["fps"])
    return out


def build_blocks(host: Optional[Host] = None):
    """The VoxPortrait Blocks: a single job (portrait + speech, or an idle
    clip) and a batch mode, every option, the refinement group, and the
    outputs (video, downloads of the video, motion JSON and visemes)."""
    import gradio as gr

    host = host or Host()
    n_audio = 2 if gradio_major(gr) < 4 else 1
    with make(gr, "Blocks", analytics_enabled=False, title=TAB_TITLE) as blocks:
        with make(gr, "Row", equal_height=False):
            with make(gr, "Column", scale=1, variant="panel"):
                with gr.Tabs(elem_id="voxportrait_mode"):
                    with make(gr, "Tab", "Single", id="voxportrait_single_tab", elem_id="voxportrait_single_tab"):
                        image = image_input(gr, label="Portrait", elem_id="voxportrait_image", height=320)
                        audios = audio_inputs(gr, label="Speech", elem_id="voxportrait_audio")
                        make(gr, "Markdown", "No audio? Generate makes an idle clip of the idle length below.")
                    with make(gr, "Tab", "Batch", id="voxportrait_batch_tab", elem_id="voxportrait_batch_tab"):
                        make(gr, "Markdown",
                             "Portraits and audio are paired by name (`anna.png` + `anna.wav`); one audio file "
                             "goes with every portrait. Or list jobs: `image, audio[, output]` per line, or a "
                             "CSV/JSONL manifest whose columns may set any option (as `voxportrait animate "
                             "--batch`). Relative paths resolve against the folder.")
                        batch_folder = make(gr, "Textbox", label="Folder on the server", lines=1,
                                            placeholder="/path/to/folder", elem_id="voxportrait_batch_folder")
                        batch_files = files_input(gr, label="Or upload portraits and audio",
                                                  elem_id="voxportrait_batch_files")
                        batch_list = make(gr, "Textbox", label="Or a list of jobs", lines=4,
                                          placeholder="anna.png, anna.wav\nbob.jpg, hello.mp3, bob-hello.mp4",
                                          elem_id="voxportrait_batch_list")
                        batch_manifest = file_input(gr, label="Or a manifest (.csv, .jsonl)",
                                                    file_types=[".csv", ".jsonl", ".ndjson"],
                                                    elem_id="voxportrait_batch_manifest")
                        run_batch_button = make(gr, "Button", "Run batch", variant="primary",
                                                elem_id="voxportrait_run_batch")
                    with make(gr, "Tab", "Dub a video", id="voxportrait_dub_tab", elem_id="voxportrait_dub_tab"):
                        dub = _dub_section(gr)
                    with make(gr, "Tab", "Drive from a video", id="voxportrait_reenact_tab",
                              elem_id="voxportrait_reenact_tab"):
                        reenact = _reenact_section(gr)
                widgets = _option_widgets(gr)
                with make(gr, "Accordion", label="Stable Diffusion refinement", open=False,
                          elem_id="voxportrait_refinement"):
                    refine_note = make(gr, "Markdown", host.refinement_note(), elem_id="voxportrait_refine_note")
                    widgets.update(_refine_widgets(gr, host))
                    with gr.Row():
                        refresh = make(gr, "Button", "Refresh checkpoint", elem_id="voxportrait_refresh_checkpoint")
            with make(gr, "Column", scale=1):
                with gr.Row():
                    generate = make(gr, "Button", "Generate", variant="primary", elem_id="voxportrait_generate")
                    interrupt = make(gr, "Button", "Interrupt", elem_id="voxportrait_interrupt")
                    skip = make(gr, "Button", "Skip", elem_id="voxportrait_skip")
                video = make(gr, "Video", label="Video", interactive=False, elem_id="voxportrait_video", height=420)
                gif = make(gr, "Image", label="GIF", interactive=False, visible=False, elem_id="voxportrait_gif")
                downloads = make(gr, "File", label="Downloads: video, motion JSON, visemes", file_count="multiple",
                                 interactive=False, elem_id="voxportrait_files")
                cues = make(gr, "Textbox", label="Mouth cues (Rhubarb TSV)", lines=6, max_lines=12,
                            interactive=False, elem_id="voxportrait_cues")
                table = make(gr, "Dataframe", headers=["job", "status", "seconds", "output / error"],
                             interactive=False, visible=False, wrap=True, elem_id="voxportrait_batch_table")
                status = make(gr, "HTML", "", elem_id="voxportrait_status")

        host.image_component_created(image)
        option_names_ = list(UI_OPTIONS)
        single_inputs = [image, *audios] + [widgets[n] for n in option_names_]
        single_outputs = [video, gif, downloads, cues, status]

        def generate_fn(image_value, *rest, progress=None):
            audio_value = next((p for p in map(path_of, rest[:n_audio]) if p), None)
            values = _values(option_names_, rest[n_audio:])
            try:
                return _run_single(host, path_of(image_value), audio_value, values, progress, gr)
            finally:
                discard_upload(path_of(image_value))

        generate_fn.__name__ = "voxportrait_generate"
        on(generate, "click",
           host.wrap_event(_with_progress(gr, host, generate_fn, len(single_inputs)),
                           extra_outputs=[None, update(gr), None, "", ]),
           single_inputs, single_outputs)

        batch_inputs = [batch_folder, batch_files, batch_list, batch_manifest] + [widgets[n] for n in option_names_]
        batch_outputs = [video, downloads, table, status]

        def batch_fn(folder, files, listing, manifest, *rest, progress=None):
            values = _values(option_names_, rest)
            return _run_batch_ui(host, folder, files, listing, manifest, values, progress, gr)

        batch_fn.__name__ = "voxportrait_batch"
        on(run_batch_button, "click",
           host.wrap_event(_with_progress(gr, host, batch_fn, len(batch_inputs)),
                           extra_outputs=[None, None, update(gr)]),
           batch_inputs, batch_outputs)

        video_outputs = [video, gif, downloads, status]
        dub_inputs = [dub["video"], *dub["audio"]] + [dub["options"][n] for n in DUB_OPTIONS]
        n_dub_audio = len(dub["audio"])

        def dub_fn(video_value, *rest, progress=None):
            audio_value = next((p for p in map(path_of, rest[:n_dub_audio]) if p), None)
            values = dict(zip(DUB_OPTIONS, rest[n_dub_audio:]))
            return _run_dub(host, path_of(video_value), audio_value, values, progress, gr)

        dub_fn.__name__ = "voxportrait_dub"
        on(dub["button"], "click",
           host.wrap_event(_with_progress(gr, host, dub_fn, len(dub_inputs)), extra_outputs=[None, update(gr), None]),
           dub_inputs, video_outputs)

        reenact_inputs = [reenact["image"], reenact["video"]] + [reenact["options"][n] for n in REENACT_OPTIONS]

        def reenact_fn(image_value, video_value, *rest, progress=None):
            values = dict(zip(REENACT_OPTIONS, rest))
            try:
                return _run_reenact(host, path_of(image_value), path_of(video_value), values, progress, gr)
            finally:
                discard_upload(path_of(image_value))

        reenact_fn.__name__ = "voxportrait_reenact"
        on(reenact["button"], "click",
           host.wrap_event(_with_progress(gr, host, reenact_fn, len(reenact_inputs)),
                           extra_outputs=[None, update(gr), None]),
           reenact_inputs, video_outputs)
        on(interrupt, "click", lambda: host.interrupt(), None, None, queue=False)
        on(skip, "click", lambda: host.skip(), None, None, queue=False)
        on(refresh, "click", lambda: host.refinement_note(), None, [refine_note], queue=False)
    blocks.voxportrait = {"image": image, "audio": audios, "generate": generate, "video": video,
                          "options": widgets, "status": status, "downloads": downloads, "dub": dub,
                          "reenact": reenact}
    host.blocks_created(blocks)
    return blocks


_CLI_MOUTH = re.compile(r"--mouth X,Y( as)?")
#: Where each front end sets the mouth position the engine's no-face message asks for.
MOUTH_SETTING = {
    "tab": "the Mouth position X,Y box under Video > Advanced",
    "api": "the mouth field: X,Y",
}


_DRIVE_ADVICE = re.compile(r";[^;]*--mouth X,Y.*$", re.DOTALL)


def without_cli_flags(message: str, where: str = "tab") -> str:
    """The engine's message with its command-line advice (``--mouth X,Y``)
    put the way this front end (``tab``, ``api``) sets it; ``drive`` (the
    "Drive from a video" tab, which has no mouth-only mode) drops it."""
    if where == "drive":
        return _DRIVE_ADVICE.sub("; driving a portrait needs a face that is found in it (for a stylised face, the "
                                 "Single tab animates the mouth alone: set its Mouth position X,Y)", message)
    setting = MOUTH_SETTING[where]
    joint = ", as" if where == "tab" else " as"
    return _CLI_MOUTH.sub(lambda m: setting + (joint if m.group(1) else ""), message)


def _error_status(e: BaseException, where: str = "tab") -> str:
    if isinstance(e, (Interrupted, Skipped)):
        what = "Interrupted" if isinstance(e, Interrupted) else "Skipped"
        return f"<div class='voxportrait-interrupted'>{what}; no output written.</div>"
    return error_html(without_cli_flags(str(e), where))


def _run_single(host: Host, image: Optional[str], audio: Optional[str], values: dict, progress, gr):
    import voxportrait as vp

    keep = [None, update(gr), None, ""]
    try:
        if not image:
            raise ValidationError("upload a portrait first (or send one here from txt2img/img2img)", "image")
        opts = parse_options(values)
        folder = host.output_dir()
        video = os.path.join(folder, next_stem(folder, os.path.basename(image)) + "." + (opts.format or "mp4"))
        report = render_job(image, audio, opts, video, Tracker(host.state, progress), host)
    except (ValidationError, Interrupted, Skipped, vp.VoxPortraitError) as e:
        return keep + [_error_status(e)]
    files = report["files"]
    shown = _displayable(host, files["video"])
    cues = ""
    if "rhubarb_tsv" in files:
        with open(files["rhubarb_tsv"], encoding="utf-8") as f:
            cues = f.read()
    is_gif = report["format"] == "gif"
    downloads = [_displayable(host, p) for p in files.values()]
    message = html.escape(summary_text(report, folder))
    return [None if is_gif else shown, update(gr, value=shown if is_gif else None, visible=is_gif),
            downloads, cues, f"<div class='voxportrait-ok'>{message}</div>"]


def _run_batch_ui(host: Host, folder, files, listing, manifest, values: dict, progress, gr):
    import voxportrait as vp

    try:
        opts = parse_options(values)
        folder = (folder or "").strip()
        uploads = [p for p in map(path_of, files or []) if p]
        manifest_path = path_of(manifest)
        base = os.path.expanduser(folder) if folder else os.getcwd()
        if manifest_path or (listing or "").strip():
            _, records = batch_from_list(listing or "", manifest_path)
        else:
            if uploads:
                pairs = batch_from_files(uploads)
            elif folder:
                pairs = batch_from_folder(folder)
            else:
                raise ValidationError("give a folder, upload files, or list the jobs", "batch")
            records = [(i + 1, {"image": p["image"], "audio": p["audio"],
                                "output": p["name"] + "." + (opts.format or "mp4")})
                       for i, p in enumerate(pairs)]
        out_dir = os.path.join(host.output_dir(), "batch-" + datetime.datetime.now().strftime("%H%M%S"))
        os.makedirs(out_dir, exist_ok=True)
        # Rows without a folder in their output name write into the batch folder.
        records = [(line, _into(out_dir, r)) for line, r in records]
        result = run_batch(records, base, opts, out_dir, Tracker(host.state, progress), host=host)
    except (ValidationError, vp.VoxPortraitError, OSError) as e:
        return [None, None, update(gr, visible=False), _error_status(e)]
    rows, outputs = [], []
    for j in result["jobs"]:
        rows.append([j.number, j.status, "-" if j.seconds is None else round(j.seconds, 1),
                     (j.output if j.status == "ok" else without_cli_flags(j.error or "")) or "-"])
        if j.status == "ok" and j.report:
            outputs += list(j.report["files"].values())
    first_video = next((j.report["video"] for j in result["jobs"] if j.status == "ok" and j.report
                        and j.report["format"] == "mp4"), None)
    text = (f"{result['ok']} of {len(result['jobs'])} jobs ok, {result['failed']} failed"
            + (", interrupted" if result["interrupted"] else "") + f"; saved in {out_dir}")
    cls = "voxportrait-ok" if result["ok"] == len(result["jobs"]) else "error"
    return [_displayable(host, first_video), [_displayable(host, p) for p in outputs + [result["report"]]],
            update(gr, value=rows, visible=True), f"<div class='{cls}'>{html.escape(text)}</div>"]


def _into(out_dir: str, record):
    if isinstance(record, dict):
        out = record.get("output")
        if isinstance(out, str) and out.strip() and not os.path.dirname(out.strip()):
            record = dict(record, output=os.path.join(out_dir, out.strip()))
    return record


# ---------------------------------------------------------------- standalone


def add_parser(sub, formatter_class=None, epilog: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``voxportrait ui`` command's options (called by the CLI)."""
    p = sub.add_parser(
        "ui", help="the web interface (a Gradio app; needs pip install 'voxportrait[ui]')",
        description="Serve VoxPortrait's web interface, the same one as the Stable Diffusion WebUI tab, as a "
                    "plain Gradio app, with the HTTP API POST /voxportrait/v1/animate beside it. Results are "
                    "saved under OUTPUTS/<date>/.",
        epilog=epilog, formatter_class=formatter_class or argparse.HelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface "
                                                        "(default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; the next free one if taken)")
    p.add_argument("--outputs", default=os.path.join("outputs", "voxportrait"), metavar="DIR",
                   help="folder for results, a subfolder per day (default outputs/voxportrait)")
    p.add_argument("--share", action="store_true", help="also make a public Gradio share link")
    p.add_argument("--inbrowser", action="store_true", help="open the page in the browser")
    return p


def launch(host: Host, server_name: str = "127.0.0.1", server_port: Optional[int] = None, share: bool = False,
           inbrowser: bool = False, block: bool = True, quiet: bool = False):
    """Builds the Blocks, serves them with the API routes, and (``block``)
    waits; returns ``(blocks, app, local_url)``."""
    import gradio as gr

    blocks = build_blocks(host)
    # One job at a time (the host's lock serialises them anyway): gradio 3.x
    # counts workers, 4.x limits each event (and refuses concurrency_count).
    limit = {"concurrency_count": 1} if gradio_major(gr) < 4 else {"default_concurrency_limit": 1}
    blocks.queue(**_accepted(gr.Blocks.queue, limit))
    app, local_url, _ = blocks.launch(**_accepted(gr.Blocks.launch, dict(
        server_name=server_name, server_port=server_port, share=share, inbrowser=inbrowser,
        prevent_thread_lock=True, allowed_paths=host.allowed_paths(), quiet=quiet, show_api=False)))
    add_api_routes(app, host)  # as the WebUI's on_app_started does, after launch
    if not quiet:
        print(f"VoxPortrait: HTTP API at {local_url.rstrip('/')}{API_PREFIX}/animate; results in "
              f"{host.output_root()}", flush=True)
    if block:
        try:
            blocks.block_thread()
        except KeyboardInterrupt:
            pass
        finally:
            blocks.close()
    return blocks, app, local_url


def _free_port(host: str, start: int) -> int:
    import socket

    for port in range(start, start + 100):
        with socket.socket() as s:
            try:
                s.bind((host, port))
                return port
            except OSError:
                continue
    return start


def main(args) -> int:
    """``voxportrait ui``; returns the exit code."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        import sys

        print("voxportrait: error: voxportrait ui needs gradio, which is not installed here: "
              "pip install 'voxportrait[ui]' (or pip install gradio)", file=sys.stderr)
        return 2
    host = Host(outputs=args.outputs)
    launch(host, server_name=args.host, server_port=_free_port(args.host, args.port), share=args.share,
           inbrowser=args.inbrowser)
    return 0
