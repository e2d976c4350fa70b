"""The web interface: the Stable Diffusion WebUI tab (through fakes of the
WebUI's ``modules.*`` in ``tests/webui_fakes/``), the standalone
``voxportrait ui`` app and the HTTP API ``POST /voxportrait/v1/animate``.

CI has no gradio: the registration, settings, queue, validation and job
tests run without it (the tab's jobs are plain Python), the API route tests
need FastAPI (which comes with gradio) and skip without it, and the Blocks
tests need gradio. Run them against a gradio by putting the package on the
path of a venv that has it, e.g.
``PYTHONPATH=python /path/to/gradio-venv/bin/python -m pytest tests/test_webui.py``.
The headless-Chromium test (``test_browser_*``) also needs selenium and
Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from helpers import DATA, PORTRAIT, ROOT, SPEECH_1S, expected_frames, probe_mp4, two_face_video, video_motion

FAKES = ROOT / "tests" / "webui_fakes"
TODAY = datetime.date.today().isoformat()


#: Packages of the fakes (the WebUI's, and Forge's and reForge's model backends).
FAKE_PACKAGES = ("modules", "backend", "ldm_patched")


def _drop_fake_modules():
    for name in [n for n in sys.modules if n.split(".")[0] in FAKE_PACKAGES]:
        del sys.modules[name]


@pytest.fixture
def webui(tmp_path):
    """The fakes under their real names, a WebUI data folder in tmp_path, and
    the extension loaded by path (as the root scripts/ loader does) and
    registered; everything is taken out again afterwards."""
    saved = {n: m for n, m in sys.modules.items() if n.split(".")[0] in FAKE_PACKAGES}
    _drop_fake_modules()
    sys.path.insert(0, str(FAKES))
    try:
        import modules.call_queue as call_queue
        import modules.infotext_utils as cp
        import modules.paths as paths
        import modules.script_callbacks as script_callbacks
        import modules.sd_models as sd_models
        import modules.shared as shared

        data = tmp_path / "webui"
        data.mkdir()
        paths.data_path = str(data)
        name = f"voxportrait_webui_under_test_{id(tmp_path)}"
        spec = importlib.util.spec_from_file_location(name, ROOT / "extension" / "webui.py")
        ext = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ext)
        registered = ext.register(script_callbacks)
        script_callbacks.ui_settings_callback()  # the WebUI runs it at start-up
        yield types.SimpleNamespace(ext=ext, shared=shared, callbacks=script_callbacks, call_queue=call_queue,
                                    cp=cp, paths=paths, data=data, registered=registered, sd_models=sd_models)
    finally:
        sys.path.remove(str(FAKES))
        _drop_fake_modules()
        sys.modules.update(saved)


#: Stands in for gradio where the job functions only build updates.
STUB_GR = types.SimpleNamespace(update=lambda **kw: dict(kw, __type__="update"))


def small(**extra):
    """Options that render fast on 2 cores."""
    from voxportrait import ui

    return ui.parse_options({"size": 128, "fps": 10, **extra})


# ------------------------------------------------------------------ registration and settings


def test_register_adds_settings_send_to_tab_and_api(webui):
    assert webui.registered == ["on_ui_settings", "on_after_component", "on_ui_tabs", "on_app_started"]
    cbs = webui.callbacks.callbacks
    assert [n for _, n in cbs["ui_tabs"]] == ["voxportrait.on_ui_tabs"]
    assert [n for _, n in cbs["app_started"]] == ["voxportrait.on_app_started"]
    assert len(cbs["ui_settings"]) == len(cbs["after_component"]) == 1


def test_register_works_with_a_webui_without_callback_names():
    calls = []
    old = types.SimpleNamespace(on_ui_tabs=lambda cb: calls.append(cb))  # no name= keyword (WebUI < 1.7)
    spec = importlib.util.spec_from_file_location("voxportrait_webui_old_host", ROOT / "extension" / "webui.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    assert ext.register(old) == ["on_ui_tabs"] and calls == [ext.on_ui_tabs]


def test_scripts_loader_registers_with_the_webui_and_imports_nothing_heavy(tmp_path):
    code = f"""
import runpy, sys
runpy.run_path({str(ROOT / 'scripts' / 'voxportrait_webui.py')!r})
from modules import script_callbacks as sc
print(sorted(k for k, v in sc.callbacks.items() if v))
heavy = [m for m in ("gradio", "fastapi", "numpy", "voxportrait", "voxportrait._native") if m in sys.modules]
print(heavy)
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(FAKES)})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines == ["['after_component', 'app_started', 'ui_settings', 'ui_tabs']", "[]"], r.stdout


def test_settings_are_registered_in_their_section_with_defaults(webui):
    opts, ext = webui.shared.opts, webui.ext
    for key, default in ((ext.OPT_OUTDIR, os.path.join("outputs", "voxportrait")), (ext.OPT_DATED, True),
                         (ext.OPT_UPLOAD_MB, 100)):
        info = opts.data_labels[key]
        assert info.section == ("voxportrait", "VoxPortrait")
        assert info.default == default and opts.data[key] == default and info.label


def test_outputs_go_under_outputs_voxportrait_date_and_follow_the_setting(webui, tmp_path):
    host = webui.ext.make_host()
    assert host.output_dir() == str(webui.data / "outputs" / "voxportrait" / TODAY)
    assert os.path.isdir(host.output_dir())
    elsewhere = tmp_path / "videos"
    webui.shared.opts.data[webui.ext.OPT_OUTDIR] = str(elsewhere)
    assert host.output_dir() == str(elsewhere / TODAY)
    webui.shared.opts.data[webui.ext.OPT_DATED] = False
    assert host.output_dir() == str(elsewhere)
    webui.shared.opts.data[webui.ext.OPT_OUTDIR] = "mine"  # relative: under the WebUI's folder
    assert host.output_dir() == str(webui.data / "mine")


def test_refinement_note_names_the_loaded_checkpoint(webui):
    host = webui.ext.make_host()
    # No checkpoint loaded yet: refinement stays available (the job loads it).
    assert host.can_refine() and "the one selected" in host.refinement_note()
    webui.shared.opts.data["sd_model_checkpoint"] = "chosen.safetensors [0123456789]"
    assert "chosen.safetensors [0123456789]" in host.refinement_note()
    webui.shared.sd_model = types.SimpleNamespace(
        apply_model=None, sd_checkpoint_info=types.SimpleNamespace(title="v1-5-pruned-emaonly.safetensors [6ce0161689]"))
    assert host.can_refine() and "v1-5-pruned-emaonly.safetensors [6ce0161689]" in host.refinement_note()
    webui.shared.sd_model = None
    assert webui.sd_models.load_calls == []  # the note loads nothing
    from voxportrait import ui

    assert not ui.Host().can_refine() and "standalone app" in ui.Host().refinement_note()


# ------------------------------------------------------------------ options


def test_options_are_checked_by_the_command_line_rules():
    from voxportrait import ui

    o = ui.parse_options({"size": 512.0, "face-index": 1.0, "fps": "30000/1001", "background": "#102030",
                          "still": True, "head_preset": "lively", "exports": ["Motion JSON", "ovr"],
                          "mouth": "0.5,0.7", "idle_seconds": 2})
    assert (o.size, o.face_index, o.fps, o.background, o.still) == (512, 1, "30000/1001", (16, 32, 48), True)
    assert (o.head_preset, o.exports, o.mouth, o.idle_seconds) == ("lively", ["motion", "ovr"], (0.5, 0.7), 2.0)
    assert ui.parse_options({"background": "rgba(255, 0, 0, 1)"}).background == (255, 0, 0)
    assert ui.parse_options({"size": "", "seed": None}).size == 512  # empty keeps the default
    assert 0 <= ui.parse_options({"seed": -1}).seed < 2**32
    cases = {
        "size": (10, "size must be 0 (keep) or between 64 and 4096 pixels"),
        "fps": ("fast", "invalid frame rate"),
        "framing": ("zoom", "invalid choice 'zoom' (choose from resize, crop, full)"),
        "mouth_scale": (9, "scales must lie between 0 and 4"),
        "blink_rate": (500, "blink rate must lie between 0 and 120"),
        "format": ("png", "format must be mp4 or gif here"),
        "still": ("maybe", "expected true or false"),
        "exports": (["motion", "video"], "unknown export 'video'"),
        "idle_seconds": (0, "idle length must lie between"),
        "face_index": (-1, "face index must be 0 or more"),
    }
    for name, (value, message) in cases.items():
        with pytest.raises(ui.ValidationError) as e:
            ui.parse_options({name: value})
        assert e.value.field == name and message in e.value.message, (name, e.value.message)
        assert e.value.status == 422
    with pytest.raises(ui.ValidationError, match="did you mean 'head_preset'"):
        ui.parse_options({"head_presett": "calm"})


def test_options_schema_lists_every_option():
    from voxportrait import ui

    schema = ui.options_schema()
    assert set(schema) == set(ui.option_names())
    assert schema["framing"]["choices"] == ["resize", "crop", "full"] and schema["format"]["choices"] == ["mp4", "gif"]
    assert schema["still"]["flag"] and schema["size"]["default"] == 512 and "random" in schema["seed"]["help"]


def test_every_tab_option_is_an_option():
    from voxportrait import ui

    assert set(ui.UI_OPTIONS) <= set(ui.option_names())
    # Everything the engine takes is in the tab, except the ffmpeg path (a server setting).
    from voxportrait.batch import OPTION_COLUMNS

    assert set(OPTION_COLUMNS) - set(ui.UI_OPTIONS) == set()


# ------------------------------------------------------------------ jobs


def test_job_writes_video_and_exports_that_agree(tmp_path):
    import voxportrait
    from voxportrait import ui

    state = ui.JobState()
    video = str(tmp_path / "talk.mp4")
    report = ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(seed=3), video, ui.Tracker(state))
    n = expected_frames(SPEECH_1S, 10)
    assert report["frames"] == n and (report["width"], report["height"]) == (128, 128)
    assert set(report["files"]) == {"video", "motion", "rhubarb_tsv", "rhubarb_json", "ovr"}
    info = probe_mp4(video)
    assert info["frames"] == n and info["audio_codec"] == "aac"
    motion = voxportrait.Motion.load(report["files"]["motion"])
    assert motion.frames == n
    assert json.loads(Path(report["files"]["ovr"]).read_text())
    assert Path(report["files"]["rhubarb_tsv"]).read_text().strip()
    assert state.sampling_step == state.sampling_steps == n


def test_job_renders_exactly_what_animate_renders(tmp_path):
    import voxportrait
    from voxportrait import ui

    ours, theirs = tmp_path / "ours.mp4", tmp_path / "theirs.mp4"
    ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(seed=5, head_preset="lively", exports=[]), str(ours))
    voxportrait.animate(PORTRAIT, SPEECH_1S, theirs, size=128, fps=10, seed=5, head_preset="lively")
    assert ours.read_bytes() == theirs.read_bytes()


def test_job_without_audio_makes_an_idle_clip(tmp_path):
    from voxportrait import ui

    report = ui.render_job(str(PORTRAIT), None, small(idle_seconds=1.5, format="gif"), str(tmp_path / "idle.gif"))
    assert report["frames"] == 15 and report["idle"] and "idle" in report["note"]
    assert set(report["files"]) == {"video", "motion"}  # no visemes without speech
    assert (tmp_path / "idle.gif").read_bytes()[:6] == b"GIF89a"


def test_silent_audio_is_refused_unless_allowed(tmp_path):
    import voxportrait
    from voxportrait import ui

    with pytest.raises(voxportrait.InputError, match="silent.*allow silent"):
        ui.render_job(str(PORTRAIT), str(DATA / "silence_1s.wav"), small(), str(tmp_path / "a.mp4"))
    assert os.listdir(tmp_path) == []
    report = ui.render_job(str(PORTRAIT), str(DATA / "silence_1s.wav"), small(allow_silent=True),
                           str(tmp_path / "b.mp4"))
    assert report["frames"] == 10 and probe_mp4(tmp_path / "b.mp4")["frames"] == 10


def test_interrupt_stops_the_job_and_leaves_no_file(tmp_path):
    from voxportrait import ui

    class State(ui.JobState):
        def __setattr__(self, key, value):
            super().__setattr__(key, value)
            if key == "sampling_step" and value == 3:
                super().__setattr__("interrupted", True)  # the Interrupt button, mid-render

    with pytest.raises(ui.Interrupted):
        ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(), str(tmp_path / "x.mp4"), ui.Tracker(State()))
    assert os.listdir(tmp_path) == []


def test_tab_generate_runs_in_the_webui_queue_with_progress_and_saves_by_date(webui):
    host = webui.ext.make_host()
    seen = {}

    def job(*args, progress=None):
        seen["locked"] = webui.call_queue.queue_lock.locked()
        return __import__("voxportrait.ui").ui._run_single(host, *args, progress, STUB_GR)

    job.__name__ = "voxportrait_generate"
    fn = host.wrap_event(job, extra_outputs=[None, None, None, ""])
    assert webui.call_queue.wrapped == ["voxportrait_generate"]  # through wrap_gradio_gpu_call
    values = {"size": 128, "fps": "10", "seed": 7, "exports": ["Motion JSON", "Rhubarb TSV"]}
    video, gif, files, cues, status = fn(str(PORTRAIT), str(SPEECH_1S), values)
    assert seen["locked"]
    folder = webui.data / "outputs" / "voxportrait" / TODAY
    assert video == str(folder / "00001-portrait.mp4") and gif["visible"] is False
    assert sorted(os.path.basename(f) for f in files) == ["00001-portrait.motion.json", "00001-portrait.mp4",
                                                         "00001-portrait.rhubarb.tsv"]
    assert cues.strip() and "seed 7" in status and "Time taken" in status
    state = webui.shared.state
    assert state.history[-2:] == [("begin", None), ("end", None)]
    assert state.sampling_step == state.sampling_steps == 10 and state.job_count == 0
    # The next job is numbered on; errors are shown in the status, not raised.
    *_, status = fn(str(PORTRAIT), str(SPEECH_1S), {"size": 10})
    assert "size must be 0 (keep)" in status and "class='error'" in status
    *_, status = fn(None, str(SPEECH_1S), {})
    assert "upload a portrait first" in status
    *_, status = fn(str(DATA / "not_image.png"), str(SPEECH_1S), {"size": 128})
    assert "class='error'" in status
    video, *_ = fn(str(PORTRAIT), str(SPEECH_1S), {"size": 128, "fps": "10", "format": "gif", "exports": []})
    assert video is None and sorted(os.listdir(folder))[-1] == "00002-portrait.gif"


def test_tab_interrupt_through_shared_state(webui):
    from voxportrait import ui

    host = webui.ext.make_host()
    state = webui.shared.state

    def progress_interrupts(fraction, desc=None):
        pass

    tracker = ui.Tracker(state, progress_interrupts)
    original = tracker.frames

    def frames(done, total):
        if done == 2:
            host.interrupt()  # what the tab's Interrupt button (and the WebUI's) do
        original(done, total)

    tracker.frames = frames
    out = webui.data / "x.mp4"
    with pytest.raises(ui.Interrupted):
        ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(), str(out), tracker)
    assert not out.exists() and state.interrupted


def test_unexpected_errors_become_the_webui_error_status(webui):
    host = webui.ext.make_host()

    def broken(*args, progress=None):
        raise RuntimeError("boom")

    fn = host.wrap_event(broken, extra_outputs=[None, None, None, ""])
    res = fn()
    assert res[:4] == (None, None, None, "") and "RuntimeError: boom" in res[4]


def test_standalone_host_wraps_events_the_same_way(tmp_path):
    from voxportrait import ui

    host = ui.Host(outputs=str(tmp_path / "out"))

    def job(x, progress=None):
        assert host.queue_lock.locked() and host.state.job == "job"
        return [x, "<p>ok</p>"]

    assert host.wrap_event(job, [None])(1)[0] == 1
    assert "Time taken" in host.wrap_event(job, [None])(1)[1]
    assert host.output_dir() == str(tmp_path / "out" / TODAY)


# ------------------------------------------------------------------ batch


def _batch_folder(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(PORTRAIT, folder / "anna.png")
    shutil.copy(SPEECH_1S, folder / "anna.wav")
    shutil.copy(DATA / "portrait_small.jpg", folder / "bob.jpg")
    shutil.copy(SPEECH_1S, folder / "bob.wav")
    shutil.copy(PORTRAIT, folder / "carl.png")  # no carl audio
    return folder


def test_batch_pairs_a_folder_by_name(tmp_path):
    from voxportrait import ui

    pairs = ui.batch_from_folder(str(_batch_folder(tmp_path)))
    assert [(os.path.basename(p["image"]), os.path.basename(p["audio"]) if p["audio"] else "") for p in pairs] == [
        ("anna.png", "anna.wav"), ("bob.jpg", "bob.wav"), ("carl.png", "")]
    one = tmp_path / "one"
    one.mkdir()
    for n in ("a.png", "b.png"):
        shutil.copy(PORTRAIT, one / n)
    shutil.copy(SPEECH_1S, one / "line.wav")
    assert [p["name"] for p in ui.batch_from_folder(str(one))] == ["a", "b"]  # one audio for every portrait
    with pytest.raises(ui.ValidationError, match="no such folder"):
        ui.batch_from_folder(str(tmp_path / "missing"))


def test_tab_batch_runs_valid_jobs_and_reports_the_others(webui, tmp_path):
    from voxportrait import ui

    host = webui.ext.make_host()
    folder = _batch_folder(tmp_path)
    video, files, table, status = ui._run_batch_ui(host, str(folder), None, "", None,
                                                   {"size": 128, "fps": "10", "exports": []}, None, STUB_GR)
    rows = table["value"]
    assert [r[1] for r in rows] == ["ok", "ok", "failed"] and "no audio" in rows[2][3]
    assert "2 of 3 jobs ok, 1 failed" in status
    batch_dir = Path(os.path.dirname(video))
    assert batch_dir.parent == webui.data / "outputs" / "voxportrait" / TODAY
    assert sorted(os.listdir(batch_dir)) == ["anna.mp4", "batch-report.json", "bob.mp4"]
    report = json.loads((batch_dir / "batch-report.json").read_text())
    assert report["format"] == "voxportrait.batch/1" and (report["ok"], report["failed"]) == (2, 1)
    assert probe_mp4(batch_dir / "bob.mp4")["frames"] == 10


def test_tab_batch_list_uses_the_manifest_rules(webui, tmp_path):
    from voxportrait import ui

    host = webui.ext.make_host()
    folder = _batch_folder(tmp_path)
    listing = "image,audio,output,head_preset,size\nanna.png,anna.wav,a.gif,lively,\nbob.jpg,bob.wav,,shaky,\n"
    _, files, table, status = ui._run_batch_ui(host, str(folder), None, listing, None,
                                               {"size": 128, "fps": "10", "exports": ["motion"]}, None, STUB_GR)
    rows = table["value"]
    assert rows[0][1] == "ok" and rows[0][3].endswith("a.gif")
    assert rows[1][1] == "failed" and "head_preset: invalid choice 'shaky'" in rows[1][3]
    assert sorted(os.path.basename(f) for f in files) == ["a.gif", "a.motion.json", "batch-report.json"]
    # A plain pairs list, without a header.
    _, files, table, _ = ui._run_batch_ui(host, str(folder), None, "anna.png, anna.wav, x.mp4", None,
                                          {"size": 128, "fps": "10", "exports": []}, None, STUB_GR)
    assert [r[1] for r in table["value"]] == ["ok"]
    _, _, table, status = ui._run_batch_ui(host, "", None, "", None, {}, None, STUB_GR)
    assert "give a folder, upload files, or list the jobs" in status


def test_batch_interrupt_stops_the_rest(tmp_path):
    from voxportrait import ui

    state = ui.JobState()
    tracker = ui.Tracker(state)
    original = tracker.frames

    def frames(done, total):
        if tracker.job == 1 and done == 2:
            state.interrupt()
        original(done, total)

    tracker.frames = frames
    folder = _batch_folder(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    records = [(i + 1, {"image": p["image"], "audio": p["audio"], "output": str(out / (p["name"] + ".mp4"))})
               for i, p in enumerate(ui.batch_from_folder(str(folder)))]
    result = ui.run_batch(records, str(folder), small(exports=[]), str(out), tracker)
    assert [j.status for j in result["jobs"]] == ["ok", "interrupted", "failed"]
    assert result["interrupted"] and sorted(os.listdir(out)) == ["anna.mp4", "batch-report.json"]


# ------------------------------------------------------------------ dub a video, drive from a video


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory):
    """A 1 s talking video (128 px, 10 fps, with sound), rendered from the portrait."""
    import voxportrait

    out = tmp_path_factory.mktemp("talk") / "talk.mp4"
    voxportrait.animate(PORTRAIT, SPEECH_1S, out, size=128, fps=10)
    return out


def test_dub_and_reenact_options_are_checked():
    from voxportrait import ui

    assert ui.parse_dub_options({}) == ui.DUB_DEFAULTS
    d = ui.parse_dub_options({"lip-strength": "2", "length": "PAD", "mix_original": 0.25, "face_index": 1.0,
                              "smoothing": "", "region": "Mouth", "template": "smile"})
    assert d == {"lip_strength": 2.0, "length": "pad", "mix_original": 0.25, "face_index": 1, "smoothing": 1.5,
                 "region": "mouth", "template": "smile"}
    for bad, field in (({"length": "bounce"}, "length"), ({"lip_strength": 5}, "lip_strength"),
                       ({"region": "eyes"}, "region"), ({"template": "frown"}, "template"),
                       ({"mix_original": -1}, "mix_original"), ({"face_index": 0.5}, "face_index"),
                       ({"smoothing": "fast"}, "smoothing"), ({"seed": 1}, "seed")):
        with pytest.raises(ui.ValidationError) as e:
            ui.parse_dub_options(bad)
        assert e.value.field == field, bad
    r = ui.parse_reenact_options({"parts": "mouth, pose", "relative": "false", "size": 256.0})
    assert r["parts"] == ["pose", "mouth"] and r["relative"] is False and r["size"] == 256
    assert ui.parse_reenact_options({})["parts"] == list(ui.PARTS)
    for bad, field in (({"parts": []}, "parts"), ({"parts": ["nose"]}, "parts"), ({"framing": "zoom"}, "framing"),
                       ({"size": 32}, "size"), ({"relative": "maybe"}, "relative")):
        with pytest.raises(ui.ValidationError) as e:
            ui.parse_reenact_options(bad)
        assert e.value.field == field, bad


def test_dub_job_writes_the_dubbed_video_with_progress(tmp_path, talking_video):
    from voxportrait import ui

    state = ui.JobState()
    seen = []

    class T(ui.Tracker):
        def frames(self, done, total):
            seen.append((done, total))
            super().frames(done, total)

    out = tmp_path / "dub.mp4"
    report = ui.dub_job(str(talking_video), str(SPEECH_1S), str(out), ui.parse_dub_options({"length": "cut"}),
                        T(state))
    assert report["video"] == str(out) and report["frames"] == 10 and report["dubbed_frames"] >= 8
    assert seen[-1] == (10, 10) and state.sampling_step == state.sampling_steps == 10
    info = probe_mp4(out)
    assert (info["width"], info["height"], info["frames"]) == (128, 128, 10) and info["audio_codec"] == "aac"
    assert "face dubbed in" in ui.video_summary(report)


def test_reenact_job_and_interrupt_leave_no_file(tmp_path, talking_video):
    from voxportrait import ui

    out = tmp_path / "drive.mp4"
    report = ui.reenact_job(str(PORTRAIT), str(talking_video), str(out),
                            ui.parse_reenact_options({"size": 128, "parts": ["pose", "eyes"]}))
    assert report["frames"] == 10 and report["with_audio"] and out.exists()
    assert "with the video's sound" in ui.video_summary(report)

    class State(ui.JobState):
        def __setattr__(self, key, value):
            super().__setattr__(key, value)
            if key == "sampling_step" and value == 3:
                super().__setattr__("interrupted", True)  # the Interrupt button, mid-job

    for job, args in ((ui.dub_job, (str(talking_video), str(SPEECH_1S))),
                      (ui.reenact_job, (str(PORTRAIT), str(talking_video)))):
        target = tmp_path / f"{job.__name__}.mp4"
        opts = ui.parse_dub_options({}) if job is ui.dub_job else ui.parse_reenact_options({"size": 128})
        with pytest.raises(ui.Interrupted):
            job(*args, str(target), opts, ui.Tracker(State()))
        assert not target.exists()
    with pytest.raises(ui.ValidationError, match="upload a driving video"):
        ui.reenact_job(str(PORTRAIT), None, str(tmp_path / "n.mp4"), ui.parse_reenact_options({}))


def test_drive_tab_routes_the_portrait_and_driving_face_indexes(tmp_path):
    """"Drive from a video" has both face indexes, each labelled for what it
    is: "Driving face index" picks the face of the video that is followed
    (the talking face moves the portrait's mouth, the silent one does not),
    "Portrait face index" the portrait's; each bad index says which."""
    from voxportrait import ui

    two = two_face_video(tmp_path / "two.mp4", talking=0)
    host = ui.Host(outputs=str(tmp_path / "outputs"))
    moved = {}
    for index in (0, 1):
        values = {"size": 128, "parts": ["mouth"], "driving_face_index": index}
        video, _, _, status = ui._run_reenact(host, str(PORTRAIT), str(two), values, None, STUB_GR)
        assert "voxportrait-ok" in status, status
        moved[index] = video_motion(video)
    assert moved[0] > 3 * moved[1], moved
    *_, status = ui._run_reenact(host, str(PORTRAIT), str(two), {"size": 128, "driving_face_index": 2}, None,
                                 STUB_GR)
    assert "driving face index 2 is out of range: at most 2 face(s)" in status and "class='error'" in status
    *_, status = ui._run_reenact(host, str(PORTRAIT), str(two), {"size": 128, "face_index": 1}, None, STUB_GR)
    assert "face_index 1 is out of range: 1 face(s)" in status and "class='error'" in status
    with pytest.raises(ui.ValidationError, match="driving face index must be a whole number") as e:
        ui.parse_reenact_options({"driving_face_index": 0.5})
    assert e.value.field == "driving_face_index"
    assert ui.parse_reenact_options({"driving-face-index": "1"})["driving_face_index"] == 1
    gr = pytest.importorskip("gradio")
    with gr.Blocks():
        w = ui._reenact_section(gr)["options"]
    assert (w["face_index"].label, w["driving_face_index"].label) == ("Portrait face index", "Driving face index")


def test_tab_dub_and_drive_run_in_the_webui_queue_and_save_by_date(webui, talking_video):
    from voxportrait import ui

    host = webui.ext.make_host()
    seen = {}

    def dub(*args, progress=None):
        seen["locked"] = webui.call_queue.queue_lock.locked()
        return ui._run_dub(host, *args, progress, STUB_GR)

    def drive(*args, progress=None):
        return ui._run_reenact(host, *args, progress, STUB_GR)

    dub.__name__, drive.__name__ = "voxportrait_dub", "voxportrait_reenact"
    dub_fn = host.wrap_event(dub, extra_outputs=[None, None, None])
    drive_fn = host.wrap_event(drive, extra_outputs=[None, None, None])
    assert webui.call_queue.wrapped == ["voxportrait_dub", "voxportrait_reenact"]
    folder = webui.data / "outputs" / "voxportrait" / TODAY
    video, gif, files, status = dub_fn(str(talking_video), str(SPEECH_1S), {"length": "cut"})
    assert seen["locked"]
    assert video == str(folder / "00001-talk-dub.mp4") and files == [video] and gif["visible"] is False
    assert "10 frames" in status and "voxportrait-ok" in status and "Time taken" in status
    state = webui.shared.state
    assert state.sampling_step == state.sampling_steps == 10 and state.job_count == 0
    video, _, _, status = drive_fn(str(PORTRAIT), str(talking_video), {"size": 128, "parts": ["mouth"]})
    assert video == str(folder / "00002-portrait-reenact.mp4") and "voxportrait-ok" in status
    # Errors are shown in the status, not raised.
    *_, status = dub_fn(None, str(SPEECH_1S), {})
    assert "upload a video to dub first" in status
    *_, status = dub_fn(str(talking_video), str(SPEECH_1S), {"length": "bounce"})
    assert "length must be one of" in status and "class='error'" in status
    *_, status = drive_fn(str(PORTRAIT), str(talking_video), {"parts": []})
    assert "choose at least one part" in status
    *_, status = drive_fn(str(PORTRAIT), str(DATA / "not_audio.wav"), {"size": 128})
    assert "class='error'" in status
    assert sorted(os.listdir(folder)) == ["00001-talk-dub.mp4", "00002-portrait-reenact.mp4"]


# ------------------------------------------------------------------ the HTTP API


def test_api_request_validation_without_fastapi():
    from voxportrait import ui

    image = PORTRAIT.read_bytes()
    b64 = base64.b64encode(image).decode()

    def check(fields, files=None, max_bytes=1 << 30):
        return ui.parse_api_request(fields, files or {}, max_bytes)

    req = check({"image": "data:image/png;base64," + b64, "size": "256", "response": "json"})
    assert req.image == ("image", image) and req.audio is None and req.options.size == 256
    assert req.response == "json" and req.save is False
    req = check({"framing": "crop"}, {"image": ("face.png", image), "audio": ("a.wav", b"RIFF")})
    assert req.audio == ("a.wav", b"RIFF") and req.options.framing == "crop"
    errors = [
        (({}, None), 400, "image", "a portrait is required"),
        (({"image": "***"}, None), 400, "image", "not valid base64"),
        (({"image": b64, "size": "7"}, None), 422, "size", "size must be 0 (keep)"),
        (({"image": b64, "sizee": "256"}, None), 422, "sizee", "did you mean 'size'"),
        (({"image": b64, "response": "xml"}, None), 422, "response", "response must be video"),
        (({"image": b64, "save": "perhaps"}, None), 422, "save", "expected true or false"),
        (({}, {"image": ("a.png", b"")}), 400, "image", "empty upload"),
        (({}, {"image": ("a.png", image), "mask": ("m.png", image)}), 400, "mask", "unexpected file field"),
        (({"image": b64}, {"image": ("a.png", image)}), 400, "image", "given twice"),
    ]
    for (fields, files), status, field, message in errors:
        with pytest.raises(ui.ValidationError) as e:
            check(fields, files)
        assert (e.value.status, e.value.field) == (status, field) and message in e.value.message, e.value
    with pytest.raises(ui.ValidationError) as e:
        check({"image": b64}, max_bytes=1000)
    assert e.value.status == 413 and "over the limit" in e.value.message


@pytest.fixture
def api(webui):
    """The WebUI's FastAPI app after on_app_started, with a TestClient."""
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    with TestClient(app) as client:
        yield types.SimpleNamespace(client=client, webui=webui)


def test_api_multipart_returns_the_video_through_the_queue(api):
    state = api.webui.shared.state
    with open(PORTRAIT, "rb") as image, open(SPEECH_1S, "rb") as audio:
        r = api.client.post("/voxportrait/v1/animate",
                            files={"image": ("portrait.png", image, "image/png"),
                                   "audio": ("speech.wav", audio, "audio/wav")},
                            data={"size": "128", "fps": "10", "seed": "4"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["x-voxportrait-frames"] == "10" and r.headers["x-voxportrait-seed"] == "4"
    path = api.webui.data / "api.mp4"
    path.write_bytes(r.content)
    info = probe_mp4(path)
    assert (info["frames"], info["width"], info["audio_codec"]) == (10, 128, "aac")
    assert state.history[-2:] == [("begin", "voxportrait-api"), ("end", "voxportrait-api")]
    assert not (api.webui.data / "outputs").exists()  # save not asked for


def test_api_json_base64_returns_json_with_motion_and_visemes_and_saves(api):
    body = {"image": base64.b64encode(PORTRAIT.read_bytes()).decode(),
            "audio": base64.b64encode(SPEECH_1S.read_bytes()).decode(),
            "size": 128, "fps": 10, "still": True, "response": "json", "save": True}
    r = api.client.post("/voxportrait/v1/animate", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["frames"] == 10 and out["mime"] == "video/mp4" and out["engine"] == "learned"
    assert base64.b64decode(out["video"])[4:8] == b"ftyp"
    assert json.loads(out["exports"]["motion"])["fps"] and out["exports"]["rhubarb_tsv"].strip()
    assert set(out["exports"]) == {"motion", "rhubarb_tsv", "rhubarb_json", "ovr"}
    saved = Path(out["saved"]["video"])
    assert saved.parent == api.webui.data / "outputs" / "voxportrait" / TODAY and saved.name == "00001-image.mp4"


def test_api_gif_and_idle_clip(api):
    with open(PORTRAIT, "rb") as image:
        r = api.client.post("/voxportrait/v1/animate", files={"image": ("face.png", image, "image/png")},
                            data={"size": "128", "fps": "10", "idle_seconds": "1", "format": "gif"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/gif" and r.content[:6] == b"GIF89a"
    assert 'filename="face.gif"' in r.headers["content-disposition"]


def test_api_errors_are_clear_4xx(api):
    client = api.client
    url = "/voxportrait/v1/animate"
    image = base64.b64encode(PORTRAIT.read_bytes()).decode()

    def check(r, status, message, field=None):
        assert r.status_code == status, (r.status_code, r.text)
        body = r.json()
        assert message in body["detail"] and body["field"] == field, body

    check(client.post(url, json={"audio": image}), 400, "a portrait is required", "image")
    check(client.post(url, json={"image": image, "framing": "zoom"}), 422, "invalid choice 'zoom'", "framing")
    check(client.post(url, json={"image": image, "fpss": 25}), 422, "did you mean 'fps'", "fpss")
    check(client.post(url, json=[1, 2]), 400, "must be an object")
    check(client.post(url, content=b"{nope", headers={"content-type": "application/json"}), 400, "not valid JSON")
    check(client.post(url, content=b"x", headers={"content-type": "text/plain"}), 415, "unsupported content type")
    with open(DATA / "not_image.png", "rb") as f:
        check(client.post(url, files={"image": ("bad.png", f, "image/png")}, data={"size": "128"}), 422, "image")
    with open(PORTRAIT, "rb") as f, open(DATA / "silence_1s.wav", "rb") as a:
        r = client.post(url, files={"image": ("p.png", f, "image/png"), "audio": ("s.wav", a, "audio/wav")})
    check(r, 422, "silent")
    assert "/tmp" not in r.json()["detail"]  # temporary paths are not shown
    api.webui.shared.opts.data[api.webui.ext.OPT_UPLOAD_MB] = 1
    big = base64.b64encode(os.urandom(1_200_000)).decode()
    check(client.post(url, json={"image": big}), 413, "over the limit", "image")


def test_api_interrupted_is_409_and_asks_the_webui_api_credentials(api, monkeypatch):
    from voxportrait import ui

    def interrupted(*args, **kwargs):
        raise ui.Interrupted()

    monkeypatch.setattr(ui, "render_job", interrupted)
    body = {"image": base64.b64encode(PORTRAIT.read_bytes()).decode()}
    r = api.client.post("/voxportrait/v1/animate", json=body)
    assert r.status_code == 409 and "interrupted" in r.json()["detail"]
    api.webui.shared.cmd_opts.api_auth = "ann:secret,bob:pw"
    for auth in (None, ("ann", "wrong"), ("eve", "secret")):
        r = api.client.post("/voxportrait/v1/animate", json=body, auth=auth)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Basic"
    assert api.client.get("/voxportrait/v1/options").status_code == 401
    assert api.client.get("/voxportrait/v1/options", auth=("bob", "pw")).status_code == 200
    assert api.client.post("/voxportrait/v1/animate", json=body, auth=("ann", "secret")).status_code == 409


def test_api_options_route(api):
    r = api.client.get("/voxportrait/v1/options")
    assert r.status_code == 200
    out = r.json()
    assert "head_preset" in out["options"] and out["formats"] == ["mp4", "gif"] and out["version"]


# ------------------------------------------------------------------ Gradio Blocks


def test_tab_builds_in_the_webui_with_send_to(webui):
    gr = pytest.importorskip("gradio")
    from voxportrait import ui

    # What the WebUI builds before the extension tabs: txt2img's gallery and
    # send-to buttons (its patched gradio calls after_component for each).
    with gr.Blocks():
        gallery = gr.Gallery(elem_id="txt2img_gallery")
        webui.callbacks.after_component_callback(gallery, elem_id="txt2img_gallery")
        with gr.Row():
            extras = gr.Button("📐", elem_id="txt2img_send_to_extras")
            webui.callbacks.after_component_callback(extras, elem_id="txt2img_send_to_extras")
    tabs = webui.callbacks.ui_tabs_callback()
    assert [(t, i) for _, t, i in tabs] == [("VoxPortrait", "voxportrait")]
    blocks = tabs[0][0]
    assert isinstance(blocks, gr.Blocks)
    parts = blocks.voxportrait
    assert webui.cp.paste_fields["voxportrait"]["init_img"] is parts["image"]
    (binding,) = webui.cp.registered_param_bindings
    assert binding.source_image_component is gallery and binding.tabname == "voxportrait"
    assert binding.paste_button.elem_id == "txt2img_send_to_voxportrait"
    assert webui.cp.connect_paste_params_buttons() == [(gallery, parts["image"], "switch_to_voxportrait")]
    assert "function switch_to_voxportrait" in (ROOT / "javascript" / "voxportrait.js").read_text()
    assert set(parts["options"]) == set(ui.UI_OPTIONS)
    assert webui.call_queue.wrapped == ["voxportrait_generate", "voxportrait_batch", "voxportrait_dub",
                                        "voxportrait_reenact"]
    assert set(parts["dub"]["options"]) == set(ui.DUB_OPTIONS)
    assert set(parts["reenact"]["options"]) == set(ui.REENACT_OPTIONS)
    with gr.Blocks():  # the WebUI renders each tab's Blocks inside its own
        blocks.render()


def test_tab_with_a_broken_package_shows_why(webui, monkeypatch):
    gr = pytest.importorskip("gradio")
    import voxportrait.ui

    monkeypatch.setattr(voxportrait.ui, "build_blocks", lambda host: (_ for _ in ()).throw(ImportError("no _native")))
    (blocks, title, elem_id), = webui.callbacks.ui_tabs_callback()
    assert isinstance(blocks, gr.Blocks) and elem_id == "voxportrait"


def test_standalone_blocks_have_every_option():
    gr = pytest.importorskip("gradio")
    from voxportrait import ui

    blocks = ui.build_blocks(ui.Host())
    parts = blocks.voxportrait
    assert set(parts["options"]) == set(ui.UI_OPTIONS)
    assert len(parts["audio"]) == (2 if ui.gradio_major(gr) < 4 else 1)  # 3.x: upload and record tabs
    ids = {getattr(b, "elem_id", None) for b in blocks.blocks.values()}
    for elem_id in ("voxportrait_image", "voxportrait_generate", "voxportrait_interrupt", "voxportrait_video",
                    "voxportrait_files", "voxportrait_refinement", "voxportrait_refine", "voxportrait_run_batch",
                    "voxportrait_batch_folder", "voxportrait_batch_manifest", "voxportrait_dub_tab",
                    "voxportrait_dub_video", "voxportrait_dub_run", "voxportrait_reenact_tab",
                    "voxportrait_reenact_image", "voxportrait_reenact_video", "voxportrait_reenact_parts",
                    "voxportrait_reenact_run"):
        assert elem_id in ids, elem_id
    assert set(parts["dub"]["options"]) == set(ui.DUB_OPTIONS)
    assert set(parts["reenact"]["options"]) == set(ui.REENACT_OPTIONS)
    assert len(parts["dub"]["audio"]) == (2 if ui.gradio_major(gr) < 4 else 1)


@pytest.fixture
def standalone(tmp_path):
    """The standalone app served on a free local port."""
    pytest.importorskip("gradio")
    from voxportrait import ui

    host = ui.Host(outputs=str(tmp_path / "outputs"))
    blocks, app, url = ui.launch(host, server_port=ui._free_port("127.0.0.1", 7870), block=False, quiet=True)
    try:
        yield types.SimpleNamespace(url=url.rstrip("/"), host=host, blocks=blocks)
    finally:
        blocks.close()


def test_standalone_app_serves_the_api(standalone, tmp_path):
    httpx = pytest.importorskip("httpx")
    with open(PORTRAIT, "rb") as image, open(SPEECH_1S, "rb") as audio:
        r = httpx.post(standalone.url + "/voxportrait/v1/animate", timeout=120,
                       files={"image": ("portrait.png", image, "image/png"),
                              "audio": ("speech.wav", audio, "audio/wav")},
                       data={"size": "128", "fps": "10"})
    assert r.status_code == 200, r.text
    (tmp_path / "api.mp4").write_bytes(r.content)
    assert probe_mp4(tmp_path / "api.mp4")["frames"] == 10
    r = httpx.post(standalone.url + "/voxportrait/v1/animate", json={"size": 128}, timeout=30)
    assert r.status_code == 400 and "a portrait is required" in r.json()["detail"]
    assert httpx.get(standalone.url + "/", timeout=30).status_code == 200


# ------------------------------------------------------------------ headless Chromium


def _chromium():
    for browser, driver in (("/usr/bin/chromium", "/usr/bin/chromedriver"),):
        if os.path.exists(browser) and os.path.exists(driver):
            return browser, driver
    return None


@contextlib.contextmanager
def _browser(url):
    """Headless Chromium (Debian's chromium and chromium-driver) on ``url``."""
    webdriver = pytest.importorskip("selenium.webdriver")
    if _chromium() is None:
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(url + "/")
        yield driver
    finally:
        driver.quit()


def _upload(driver, image, audio, size):
    """Puts the portrait and the speech into the tab and sets the size."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#voxportrait_image input[type=file]"))
    driver.find_element(By.CSS_SELECTOR, "#voxportrait_image input[type=file]").send_keys(str(image))
    driver.find_element(By.CSS_SELECTOR, "#voxportrait_audio input[type=file]").send_keys(str(audio))
    field = driver.find_element(By.CSS_SELECTOR, "#voxportrait_size input[type=number]")
    field.clear()
    field.send_keys(str(size))
    # Wait until both uploads are shown: 3.x shows an <audio>, 4.x and later a waveform.
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#voxportrait_image img"))
    wait.until(lambda d: d.execute_script(
        "return !!document.querySelector('#voxportrait_audio').querySelector("
        "'audio, [aria-label=\"Clear\"], #waveform, .waveform-container');"))


def test_browser_generate_plays_a_video(standalone, tmp_path):
    """Uploads the portrait and the speech, presses Generate, and waits for a
    playable video element with a non-zero duration; saves a screenshot
    (under $VOXPORTRAIT_TEST_ARTIFACTS, else the test's tmp folder)."""
    artefacts = Path(os.environ.get("VOXPORTRAIT_TEST_ARTIFACTS") or tmp_path)
    artefacts.mkdir(parents=True, exist_ok=True)
    shot = artefacts / "voxportrait-standalone.png"
    with _browser(standalone.url) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        _upload(driver, PORTRAIT, SPEECH_1S, 256)
        driver.find_element(By.CSS_SELECTOR, "#voxportrait_generate").click()
        duration = WebDriverWait(driver, 240).until(lambda d: d.execute_script(
            "const v = document.querySelector('#voxportrait_video video');"
            "return v && v.readyState >= 1 && v.duration > 0 ? v.duration : null;"))
        assert duration > 0.5
        status = driver.find_element(By.CSS_SELECTOR, "#voxportrait_status").text
        assert "25 frames 256×256" in status, status
        files = driver.find_element(By.CSS_SELECTOR, "#voxportrait_files").text.replace("\n", "")
        assert ".motion.json" in files and ".rhubarb.tsv" in files and ".ovr.json" in files, files
        driver.save_screenshot(str(shot))
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    (video,) = [f for f in os.listdir(standalone.host.output_dir()) if f.endswith(".mp4")]
    assert video.startswith("00001-")  # gradio 3.x hands over uploads under a temporary name


def test_browser_interrupt_stops_generate(standalone):
    """Interrupt during a long render stops it: the status says so and no
    video is left behind."""
    from helpers import SPEECH

    with _browser(standalone.url) as driver:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        _upload(driver, PORTRAIT, SPEECH, 1024)
        driver.find_element(By.CSS_SELECTOR, "#voxportrait_generate").click()
        state = standalone.host.state
        WebDriverWait(driver, 120, poll_frequency=0.05).until(lambda d: state.sampling_step > 0)
        driver.find_element(By.CSS_SELECTOR, "#voxportrait_interrupt").click()
        # (While it runs, gradio 4 and later show the progress over the status.)
        status = WebDriverWait(driver, 120).until(lambda d: (lambda t: t if "written" in t else None)(
            d.find_element(By.CSS_SELECTOR, "#voxportrait_status").text))
        assert "Interrupted; no output written" in status, status
        assert 0 < state.sampling_step < state.sampling_steps
    assert os.listdir(standalone.host.output_dir()) == []


def test_browser_webui_tab_generates_through_the_webui_queue(webui):
    """The tab as the WebUI shows it (its Blocks rendered in a tab of the
    WebUI's Blocks, jobs through the fake wrap_gradio_gpu_call and
    shared.state), driven in the browser."""
    video = _browser_tab_generate(webui, PORTRAIT)
    assert probe_mp4(webui.data / "outputs" / "voxportrait" / TODAY / video)["width"] == 128


def _browser_tab_generate(webui, image):
    """Uploads ``image`` and the speech in the tab rendered as the WebUI does,
    presses Generate, waits for the video; returns the saved video's name."""
    gr = pytest.importorskip("gradio")
    from voxportrait import ui

    (tab, title, tab_id), = webui.callbacks.ui_tabs_callback()
    with gr.Blocks(analytics_enabled=False) as demo:
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("txt2img", id="txt2img", elem_id="tab_txt2img"):
                gr.Markdown("stand-in")
            with gr.Tab(title, id=tab_id, elem_id=f"tab_{tab_id}"):
                tab.render()
    demo.queue(**({"concurrency_count": 64} if ui.gradio_major(gr) < 4 else {}))  # as A1111 and Forge do
    _, url, _ = demo.launch(prevent_thread_lock=True, quiet=True, server_port=ui._free_port("127.0.0.1", 7880))
    try:
        with _browser(url.rstrip("/")) as driver:
            from selenium.webdriver.common.by import By
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(driver, 60).until(lambda d: next(
                (b for b in d.find_elements(By.CSS_SELECTOR, "#tabs button") if b.text.strip() == "VoxPortrait"),
                None)).click()
            _upload(driver, image, SPEECH_1S, 128)
            driver.find_element(By.CSS_SELECTOR, "#voxportrait_generate").click()
            WebDriverWait(driver, 240).until(lambda d: d.execute_script(
                "const v = document.querySelector('#voxportrait_video video');"
                "return v && v.readyState >= 1 && v.duration > 0;"))
            status = driver.find_element(By.CSS_SELECTOR, "#voxportrait_status").text
            assert "128×128" in status and "Time taken" in status, status
    finally:
        demo.close()
    assert webui.shared.state.history[-2:] == [("begin", None), ("end", None)]
    (video,) = [f for f in os.listdir(webui.data / "outputs" / "voxportrait" / TODAY) if f.endswith(".mp4")]
    return video


def test_browser_forge_tab_generates_with_forge_save_pil_to_cache(forge, tmp_path):
    """Failure 1 in the browser: an upload through gradio's own event
    processing, with Forge's save_pil_to_cache (no name=) in place; the
    video is named after the uploaded file (gradio 3 sends no name)."""
    gr = pytest.importorskip("gradio")
    from PIL import Image

    from voxportrait import ui

    upload = tmp_path / "anna.png"
    Image.open(PORTRAIT).save(upload)
    video = _browser_tab_generate(forge.webui, upload)
    assert video == ("00001-anna.mp4" if ui.gradio_major(gr) >= 4 else "00001-portrait.mp4")
    assert not [f for f in os.listdir(ui.UPLOADS) if os.path.exists(os.path.join(ui.UPLOADS, f, "anna.png"))]


def test_browser_reforge_tab_generates_with_its_wrapped_image_constructor(reforge):
    """Failure 3 in the browser: with reForge's gr.Image.__init__ wrapper the
    portrait still arrives as a file (it arrived as an array, and failed)."""
    gr = pytest.importorskip("gradio")
    if int(gr.__version__.split(".")[0]) >= 4:
        pytest.skip("reForge runs gradio 3.41; gradio 4 and later build the page from the constructor's "
                    "signature, which such a wrapper hides from them")
    video = _browser_tab_generate(reforge.webui, PORTRAIT)
    assert video == "00001-portrait.mp4"


# ------------------------------------------------------------------ refinement (issue 7)


def test_refine_options_are_checked_and_reach_the_job():
    from voxportrait import ui

    o = ui.parse_options({"refine": "yes", "refine_strength": 0.25, "refine_steps": 12.0, "refine_sampler": "DPMPP_2M",
                          "refine_region": "face", "refine_prompt": " a photo "})
    assert o.refine is True and ui.refine_options(o).steps == 12 and ui.refine_options(o).sampler == "dpmpp_2m"
    assert ui.refine_options(o).region == "face" and o.refine_prompt == "a photo"
    for bad, field in [({"refine_sampler": "plms"}, "refine_sampler"), ({"refine_strength": 3}, "refine_strength"),
                       ({"refine": "maybe"}, "refine"), ({"refine_steps": 2.5}, "refine_steps"),
                       ({"refine_region": "hair"}, "refine_region")]:
        with pytest.raises(ui.ValidationError) as e:
            ui.parse_options(bad)
        assert e.value.field == field, (bad, e.value.field, e.value.message)
    assert set(ui.REFINE_OPTIONS) <= set(ui.option_names()) and set(ui.REFINE_OPTIONS) <= set(ui.UI_OPTIONS)


def test_refine_without_a_host_model_is_refused_before_any_work(tmp_path):
    from voxportrait import ui

    with pytest.raises(ui.ValidationError, match="needs a Stable Diffusion model") as e:
        ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(refine=True), str(tmp_path / "r.mp4"), host=ui.Host())
    assert e.value.field == "refine" and os.listdir(tmp_path) == []


def _decoded(path):
    import av
    import numpy as np

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def test_webui_job_refines_with_the_loaded_a1111_model_and_streams_the_video(webui, tmp_path):
    pytest.importorskip("torch")
    import numpy as np
    import sd_tiny

    from voxportrait import ui

    sd = sd_tiny.LatentDiffusion()
    webui.shared.sd_model = sd
    try:
        host = webui.ext.make_host()
        out = tmp_path / "out"
        out.mkdir()
        plain, refined = out / "plain.mp4", out / "refined.mp4"
        ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(seed=2, exports=[]), str(plain))
        opts = small(seed=2, exports=[], refine=True, refine_steps=4, refine_strength=0.5, refine_prompt="a photo")
        report = ui.render_job(str(PORTRAIT), str(SPEECH_1S), opts, str(refined), ui.Tracker(webui.shared.state),
                               host)
        n = expected_frames(SPEECH_1S, 10)
        info = probe_mp4(refined)
        assert report["frames"] == info["frames"] == n and info["audio_codec"] == "aac"
        assert sd.apply_calls > 0
        assert not [b for _, b in ui_blocks(sd) if "_forward" in b.__dict__]  # no hook left
        a, b = _decoded(plain).astype(int), _decoded(refined).astype(int)
        diff = np.abs(a - b).mean(axis=(0, 3))
        # The repaint stays around the mouth: the top third of the frame is untouched (up to the codec).
        assert diff[: diff.shape[0] // 3].mean() < 1.0 < diff.max()
        assert sorted(os.listdir(out)) == ["plain.mp4", "refined.mp4"]
    finally:
        webui.shared.sd_model = None


def ui_blocks(sd):
    return [(n, m) for n, m in sd.model.diffusion_model.named_modules() if type(m).__name__ == "BasicTransformerBlock"]


def test_webui_refine_interrupt_leaves_no_file_and_no_hook(webui, tmp_path):
    pytest.importorskip("torch")
    import sd_tiny

    from voxportrait import ui

    sd = sd_tiny.LatentDiffusion()
    webui.shared.sd_model = sd
    state = webui.shared.state
    real = sd.apply_model

    def apply_then_interrupt(*a, **k):
        if sd.apply_calls >= 3:
            state.interrupted = True  # the Interrupt button, in the middle of the UNet loop
        return real(*a, **k)

    sd.apply_model = apply_then_interrupt
    try:
        host = webui.ext.make_host()
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(ui.Interrupted):
            ui.render_job(str(PORTRAIT), str(SPEECH_1S), small(refine=True, refine_steps=4, refine_strength=0.5),
                          str(out / "x.mp4"), ui.Tracker(state), host)
        assert os.listdir(out) == []
        assert not [b for _, b in ui_blocks(sd) if "_forward" in b.__dict__]
    finally:
        state.interrupted = False
        webui.shared.sd_model = None


# ------------------------------------------------------------------ what real hosts do (issue 21)
#
# Run in real hosts, the tab failed where the fakes above had not followed
# the hosts: Forge's save_pil_to_cache without name= (gradio 4.40), Forge's
# placeholder model until its first generation, reForge's wrapped
# gr.Image.__init__ and its ldm_patched backend, and A1111 loading the
# checkpoint when shared.sd_model is read. The fakes under
# tests/webui_fakes/forge and tests/webui_fakes/reforge follow those hosts'
# code (Forge dfdcbab, reForge 3b56b268, A1111 dev 1937682a).


def _load_fake(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def forge(webui, monkeypatch):
    """``webui`` as Forge (lllyasviel main, dfdcbab): its sd_models (the
    FakeInitialModel placeholder, forge_model_reload), its ``backend``
    memory manager, and, where gradio is installed, its ui_tempdir override
    of gradio's save_pil_to_cache."""
    import modules

    sd_models = _load_fake("modules.sd_models", FAKES / "forge" / "sd_models.py")
    monkeypatch.setitem(sys.modules, "modules.sd_models", sd_models)
    monkeypatch.setattr(modules, "sd_models", sd_models, raising=False)
    monkeypatch.syspath_prepend(str(FAKES / "forge"))
    import backend.memory_management as mm

    ui_tempdir = None
    with contextlib.suppress(ImportError):
        import gradio.processing_utils

        if hasattr(gradio.processing_utils, "save_pil_to_cache"):  # gradio 4 and later, as Forge's 4.40
            ui_tempdir = _load_fake("modules.ui_tempdir", FAKES / "forge" / "ui_tempdir.py")
            ui_tempdir.install_ui_tempdir_override()  # as Forge does at start-up
    try:
        yield types.SimpleNamespace(webui=webui, sd_models=sd_models, memory_management=mm, ui_tempdir=ui_tempdir)
    finally:
        if ui_tempdir is not None:
            ui_tempdir.uninstall()


@pytest.fixture
def reforge(webui, monkeypatch):
    """``webui`` as reForge (Panchovix main, 3b56b268): A1111's sd_models, the
    ``ldm_patched`` memory manager (no Forge 2 ``backend``), and, where gradio
    is installed, its wrapper of gr.Image.__init__."""
    monkeypatch.setitem(sys.modules, "backend", None)  # reForge has no Forge 2 backend
    monkeypatch.syspath_prepend(str(FAKES / "reforge"))
    import ldm_patched.modules.model_management as mm

    extensons = None
    with contextlib.suppress(ImportError):
        import gradio  # noqa: F401

        extensons = _load_fake("modules.gradio_extensons", FAKES / "reforge" / "gradio_extensons.py")
        extensons.install()
    try:
        yield types.SimpleNamespace(webui=webui, memory_management=mm, model=_reforge_model)
    finally:
        if extensons is not None:
            extensons.uninstall()


def _reforge_model():
    """A reForge-shaped shared.sd_model (needs torch)."""
    return _load_fake("reforge_sd_model", FAKES / "reforge" / "sd_model.py").ReForgeModel()


def _event(blocks, name):
    """The Blocks' registered event function called ``name`` (gradio 3, 4 and 5)."""
    fns = blocks.fns.values() if isinstance(blocks.fns, dict) else blocks.fns
    (found,) = [f for f in fns if getattr(f.fn, "__name__", None) == name]
    return found


def _inputs_for(dependency, parts, **values):
    """The event's input values: the widgets' defaults, with ``values`` by
    component (``image``, ``audio``) or option name."""
    by_component = {id(parts["options"][n]): n for n in parts["options"]}
    out = []
    for c in dependency.inputs:
        name = by_component.get(id(c))
        if c is parts["image"]:
            out.append(values.get("image"))
        elif any(c is a for a in parts["audio"]):
            out.append(values.pop("audio", None))
        else:
            out.append(values.get(name, getattr(c, "value", None)))
    return out


def _upload_payload(image, path, name):
    """What gradio hands an Image component's preprocess for an upload of
    ``path`` called ``name``: FileData (4.x and later) or a data URL (3.x)."""
    data_model = getattr(image, "data_model", None)
    if data_model is not None:
        return data_model(path=str(path), orig_name=name)
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


def test_forge_portrait_upload_does_not_go_through_its_save_pil_to_cache(forge, tmp_path):
    """Failure 1: Forge's save_pil_to_cache takes no name=, which gradio 4's
    Image(type="filepath") passes; the tab's portrait inputs save the upload
    themselves, named after the uploaded file, and Generate runs."""
    gr = pytest.importorskip("gradio")
    from PIL import Image

    from voxportrait import ui

    upload = tmp_path / "anna.png"
    Image.open(PORTRAIT).save(upload)
    if ui.gradio_major(gr) >= 4:  # the host's failure, reproduced with the fake
        plain = gr.Image(type="filepath", image_mode="RGBA")
        with pytest.raises(TypeError, match="name"):
            plain.preprocess(_upload_payload(plain, upload, "anna.png"))
    (blocks, _, _), = forge.webui.callbacks.ui_tabs_callback()
    parts = blocks.voxportrait
    expected = "anna" if ui.gradio_major(gr) >= 4 else "portrait"  # gradio 3 sends no file name
    for image in (parts["image"], parts["reenact"]["image"]):
        path = image.preprocess(_upload_payload(image, upload, "anna.png"))
        with Image.open(path) as saved:
            assert os.path.basename(path) == expected + ".png" and saved.mode == "RGBA"
        ui.discard_upload(path)
        assert not os.path.exists(os.path.dirname(path))
    generate = _event(blocks, "voxportrait_generate")
    path = parts["image"].preprocess(_upload_payload(parts["image"], upload, "anna.png"))
    *_, status = generate.fn(*_inputs_for(generate, parts, image=path, audio=str(SPEECH_1S), size=128, fps="10",
                                          exports=[]))
    assert "voxportrait-ok" in status, status
    folder = forge.webui.data / "outputs" / "voxportrait" / TODAY
    assert os.listdir(folder) == [f"00001-{expected}.mp4"]
    assert not os.path.exists(path)  # the upload is removed after the job


def test_forge_refines_in_a_fresh_forge_loading_its_checkpoint_under_the_queue_lock(forge):
    """Failure 2: until its first generation Forge's shared.sd_model is a
    FakeInitialModel; a refining job calls forge_model_reload() under the
    queue lock, as Forge's processing.py does, and then refines."""
    pytest.importorskip("torch")
    import sd_tiny

    sd_models, shared = forge.sd_models, forge.webui.shared
    host = forge.webui.ext.make_host()
    sd_models.loader = lambda info: sd_tiny.ForgeEngine()
    sd_models.select(sd_models.CheckpointInfo("models/Stable-diffusion/tiny.safetensors"))
    host.refinement_note()
    assert type(shared.sd_model).__name__ == "FakeInitialModel" and sd_models.load_calls == []

    def job(*args, progress=None):
        return __import__("voxportrait.ui").ui._run_single(host, *args, progress, STUB_GR)

    job.__name__ = "voxportrait_generate"
    fn = host.wrap_event(job, extra_outputs=[None, None, None, ""])
    values = {"size": 128, "fps": "10", "exports": [], "refine": True, "refine_steps": 4, "refine_strength": 0.5}
    video, _, _, _, status = fn(str(PORTRAIT), str(SPEECH_1S), values)
    assert "voxportrait-ok" in status, status  # was "no Stable Diffusion checkpoint is loaded"
    assert probe_mp4(video)["frames"] == 10
    assert sd_models.load_calls == [True]  # loaded once, under the queue lock
    engine = shared.sd_model
    assert type(engine).__name__ == "ForgeEngine" and forge.memory_management.loaded
    assert all(p is not engine.forge_objects.unet for p in forge.memory_management.loaded)  # clones only
    assert "tiny.safetensors" in host.refinement_note()
    *_, status = fn(str(PORTRAIT), str(SPEECH_1S), values)
    assert "voxportrait-ok" in status and sd_models.load_calls == [True]  # already loaded
    # A Forge without any checkpoint: a clear message, not a crash.
    sd_models.select(None)
    *_, status = fn(str(PORTRAIT), str(SPEECH_1S), values)
    assert "could not load its Stable Diffusion checkpoint" in status and "You do not have any model" in status


def test_reforge_wrapped_image_constructor_gets_every_keyword(reforge, tmp_path):
    """Failure 3: reForge replaces gr.Image.__init__ with (self, *args,
    **kwargs); every keyword still reaches gradio (type, label, elem_id,
    visible), and a portrait arriving as an array is saved all the same."""
    gr = pytest.importorskip("gradio")
    import numpy as np

    from voxportrait import ui

    assert list(inspect_parameters(gr.Image.__init__)) == ["self", "args", "kwargs"]
    assert ui._accepted(gr.Image, {"type": "pil", "elem_id": "x"}) == {"type": "pil", "elem_id": "x"}
    (blocks, _, _), = reforge.webui.callbacks.ui_tabs_callback()
    parts = blocks.voxportrait
    image = parts["image"]
    assert (image.elem_id, image.label, image.type, image.image_mode) == ("voxportrait_image", "Portrait", "pil",
                                                                         "RGBA")
    by_id = {getattr(b, "elem_id", None): b for b in blocks.blocks.values()}
    assert by_id["voxportrait_gif"].visible is False and by_id["voxportrait_batch_table"].visible is False
    path = ui.save_upload(np.zeros((8, 8, 4), np.uint8), "anna")
    assert os.path.basename(path) == "anna.png"
    ui.discard_upload(path)


def inspect_parameters(fn):
    import inspect

    return inspect.signature(fn).parameters


def test_reforge_refines_through_ldm_patched_from_the_api(reforge):
    """Failure 4: reForge (and Forge 1) have ldm_patched, not Forge 2's
    backend; refinement uses ldm_patched's memory manager. The checkpoint
    loads on the job's first read of shared.sd_model, under the queue lock."""
    pytest.importorskip("torch")
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    webui = reforge.webui
    webui.sd_models.loader = lambda info: reforge.model()
    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    body = {"image": base64.b64encode(PORTRAIT.read_bytes()).decode(),
            "audio": base64.b64encode(SPEECH_1S.read_bytes()).decode(),
            "size": 128, "fps": 10, "refine": True, "refine_steps": 4, "refine_strength": 0.5}
    with TestClient(app) as client:
        r = client.post("/voxportrait/v1/animate", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["x-voxportrait-frames"] == "10"
    assert webui.sd_models.load_calls == [True]
    assert reforge.memory_management.loaded  # the UnetPatcher clone went through ldm_patched


def test_refine_on_an_unknown_forge_backend_is_a_clear_422(webui, monkeypatch):
    """Failure 4: with forge_objects but neither backend nor ldm_patched, the
    API says so (422, field refine) instead of a bare 500."""
    pytest.importorskip("torch")
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    monkeypatch.setitem(sys.modules, "backend", None)
    monkeypatch.setitem(sys.modules, "ldm_patched", None)
    webui.shared.sd_model = _reforge_model()
    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    body = {"image": base64.b64encode(PORTRAIT.read_bytes()).decode(), "size": 128, "refine": True}
    with TestClient(app) as client:
        r = client.post("/voxportrait/v1/animate", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "refine" and "does not support this WebUI's model backend" in r.json()["detail"]
        # Anything unexpected is a JSON answer that says what failed.
        from voxportrait import ui

        monkeypatch.setattr(ui, "render_job", lambda *a, **k: (_ for _ in ()).throw(KeyError("boom")))
        r = client.post("/voxportrait/v1/animate", json=body)
        assert r.status_code == 500 and r.json()["detail"] == "KeyError: 'boom'"


def test_a1111_tab_loads_no_checkpoint_and_refinement_survives_a_failed_load(webui):
    """Failure 5: in A1111 reading shared.sd_model loads the checkpoint, so
    building the tab must not read it (start-up waited for the load); and a
    failed load does not lock refinement: the next job loads again."""
    loads = webui.sd_models.load_calls
    gr = None
    with contextlib.suppress(ImportError):
        import gradio as gr
    if gr is not None:
        (blocks, _, _), = webui.callbacks.ui_tabs_callback()
        assert loads == []  # nothing loaded while the tab was built
        assert blocks.voxportrait["options"]["refine"].interactive is not False
    host = webui.ext.make_host()
    assert host.refinement_note() and host.checkpoint() is None and loads == []
    assert host.can_refine() and loads == []
    pytest.importorskip("torch")  # refinement itself
    values = {"size": 128, "fps": "10", "exports": [], "refine": True, "refine_steps": 4, "refine_strength": 0.5}

    def job(*args, progress=None):
        return __import__("voxportrait.ui").ui._run_single(host, *args, progress, STUB_GR)

    job.__name__ = "voxportrait_generate"
    fn = host.wrap_event(job, extra_outputs=[None, None, None, ""])
    *_, status = fn(str(PORTRAIT), str(SPEECH_1S), values)  # the WebUI has no checkpoint: the load fails
    assert "no Stable Diffusion checkpoint is loaded" in status and "checkpoint menu" in status
    assert loads == [True] and host.can_refine()
    import sd_tiny

    webui.sd_models.loader = lambda info: sd_tiny.LatentDiffusion()  # a checkpoint is added
    video, *_, status = fn(str(PORTRAIT), str(SPEECH_1S), values)
    assert "voxportrait-ok" in status, status
    assert loads == [True, True] and probe_mp4(video)["frames"] == 10


def test_upload_names_and_no_face_advice_for_the_tab_and_api(webui, tmp_path, talking_video):
    """Failure 6: Single-tab outputs are named after the upload (not gradio's
    temporary name); the no-face message says where the tab (or the API)
    sets the mouth position, not the command line's --mouth flag."""
    from helpers import write_png

    from voxportrait import ui

    assert ui.upload_name({"path": "/tmp/gradio/ab12/anna.png", "orig_name": "anna.png"}) == "anna"
    assert ui.upload_name(types.SimpleNamespace(path="/tmp/gradio/ab12/bob smith.jpg", orig_name=None)) == "bob_smith"
    assert ui.upload_name(types.SimpleNamespace(path="/tmp/tmpqouv27r4.png", orig_name=None)) == "portrait"
    assert ui.upload_name("data:image/png;base64,AAAA") == "portrait"  # gradio 3 sends no name
    assert ui.upload_name("/out/txt2img/00012-1234.png?1712345678.1") == "00012-1234"  # Forge's send-to
    assert ui.upload_name(None) == "portrait"
    host = webui.ext.make_host()
    gradient = tmp_path / "gradient.png"
    w, h = 160, 120
    write_png(gradient, [[c for x in range(w) for c in (x * 255 // w, y * 255 // h, 128)] for y in range(h)], w, h)
    *_, status = ui._run_single(host, str(gradient), str(SPEECH_1S), {"size": 128, "fps": "10"}, None, STUB_GR)
    assert "no face found" in status and "--mouth" not in status
    assert "Mouth position X,Y box under Video &gt; Advanced, as fractions" in status
    assert ui.without_cli_flags("(--mouth X,Y as fractions of the width and height)", "api") == \
        "(the mouth field: X,Y as fractions of the width and height)"
    # "Drive from a video" has no mouth-only mode: no advice to set one there.
    *_, status = ui._run_reenact(host, str(gradient), str(talking_video), {"size": 128}, None, STUB_GR)
    assert "no face found" in status and "--mouth" not in status and "driving a portrait needs a face" in status
    # With the position given in that box, it animates.
    *_, status = ui._run_single(host, str(gradient), str(SPEECH_1S), {"size": 128, "fps": "10", "mouth": "0.5,0.66",
                                                                       "exports": []}, None, STUB_GR)
    assert "voxportrait-ok" in status and os.listdir(host.output_dir()) == ["00001-gradient.mp4"]
    # The API names its own field.
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    app = FastAPI()
    webui.callbacks.app_started_callback(None, app)
    with TestClient(app) as client:
        r = client.post("/voxportrait/v1/animate", json={"image": base64.b64encode(gradient.read_bytes()).decode()})
    detail = r.json()["detail"]
    assert r.status_code == 422 and "(the mouth field: X,Y as fractions" in detail and "--mouth" not in detail
