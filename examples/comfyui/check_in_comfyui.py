"""Runs the example workflows in a real ComfyUI, headless on the CPU, and
checks what comes out. Downloads nothing.

    python examples/comfyui/check_in_comfyui.py /path/to/ComfyUI [--python /path/to/python]
        [--checkpoint NAME_OR_FILE [--mouth-position X,Y] [--steps N] [--size PX] [--fps F]]

``--python`` is the interpreter ComfyUI runs with (default: this one); it
needs ComfyUI's requirements and the ``voxportrait`` package installed.
The script makes a temporary folder with a ``custom_nodes`` link to this
repository, input/output/temp/user folders and an extra-model-paths YAML,
starts ``main.py --cpu`` on a free loopback port, and over the HTTP API:

* checks that each UI workflow (``*.json``) sets the VoxPortrait nodes'
  widgets and links exactly as its ``*.api.json`` does, using the node
  definitions the server reports (widget order, ``control_after_generate``);
* submits every ``*.api.json`` here whose node types and model files all
  exist (``txt2img_to_talking_video`` is reported as skipped unless an SD1.5
  checkpoint such as ``v1-5-pruned-emaonly.safetensors`` is in ComfyUI's
  models folder: the script downloads nothing);
* with ``--checkpoint``, runs the workflows that load a checkpoint
  (``txt2img_to_talking_video``) with that SD1.5 checkpoint instead: a name
  ComfyUI lists, or a ``.safetensors`` file anywhere (its folder is added to
  the checkpoint paths). ``--steps`` and ``--size`` shorten such runs (KSampler
  steps; the empty latent's and Animate's size), and ``--mouth-position X,Y``
  sets Animate's ``mouth_position`` there, for a checkpoint that draws no
  face (a randomly initialised one, to check the wiring: Animate would
  otherwise stop with "no face found");
* checks each MP4 (H.264 video and an AAC audio stream as long as the video,
  via PyAV) and each motion JSON (loads with ``voxportrait.Motion.load``);
* checks that node errors reach the error panel as one-line messages
  (silent audio; a portrait without a face) and that Cancel during a long
  Save Talking Video and during a long streaming Render To Video leaves no
  file.

Nothing is written inside the ComfyUI folder; the temporary folder is
removed at the end unless ``--keep`` is given. Exit status 0 = all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Comfy:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.loads(r.read())

    def post(self, path, data):
        req = urllib.request.Request(self.base + path, data=json.dumps(data).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"POST {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}")
        return json.loads(body) if body else None

    def submit(self, graph) -> str:
        return self.post("/prompt", {"prompt": graph, "client_id": uuid.uuid4().hex})["prompt_id"]

    def wait(self, prompt_id, timeout=600.0):
        end = time.time() + timeout
        while time.time() < end:
            h = self.get(f"/history/{prompt_id}")
            if prompt_id in h and h[prompt_id].get("status", {}).get("completed") is not None:
                entry = h[prompt_id]
                if entry["status"].get("status_str") in ("success", "error"):
                    return entry
            time.sleep(0.5)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout:.0f} s")


def probe(path: Path) -> dict:
    import av

    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        frames = sum(1 for _ in c.decode(video=0))
        return {"video": v.codec_context.name, "pix_fmt": v.codec_context.pix_fmt, "frames": frames,
                "size": (v.codec_context.width, v.codec_context.height), "rate": float(v.average_rate),
                "audio": a.codec_context.name if a else None,
                "audio_seconds": float(a.duration * a.time_base) if a is not None and a.duration else None}


def outputs_of(entry, out_dir: Path):
    for node_out in entry.get("outputs", {}).values():
        for key in ("images", "gifs", "video", "motion_files"):
            for item in node_out.get(key, []) or []:
                if isinstance(item, dict) and item.get("type") == "output":
                    yield out_dir / item.get("subfolder", "") / item["filename"]


WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def options_of(spec):
    """The choices of a combo input spec (either form), or None."""
    kind = spec[0]
    if isinstance(kind, list):
        return kind
    if kind == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        return spec[1].get("options")
    return None


def missing_files(graph, info) -> list:
    """Combo values (model or input files) that this ComfyUI does not offer."""
    out = []
    for n in graph.values():
        inputs = info[n["class_type"]]["input"]
        for name, value in n["inputs"].items():
            spec = inputs.get("required", {}).get(name) or inputs.get("optional", {}).get(name)
            choices = options_of(spec) if spec else None
            if isinstance(value, str) and choices is not None and value not in choices:
                out.append(f"{n['class_type']}.{name} = {value}")
    return out


def ui_matches_api(ui, api, info) -> list:
    """Differences between a UI workflow and its API form, for the VoxPortrait
    nodes: widget values (in the server's widget order) and input links."""
    problems = []
    links = {l[0]: l for l in ui.get("links", [])}
    for node in ui["nodes"]:
        cls = node["type"]
        if not cls.startswith("VoxPortrait"):
            continue
        api_node = api.get(str(node["id"]))
        if api_node is None or api_node["class_type"] != cls:
            problems.append(f"node {node['id']} ({cls}) is not in the API workflow")
            continue
        spec, order = info[cls]["input"], info[cls].get("input_order", {})
        widgets = []
        for group in ("required", "optional"):
            for name in order.get(group, list(spec.get(group, {}))):
                s = spec[group][name]
                if isinstance(s[0], list) or s[0] in WIDGET_TYPES:
                    widgets.append(name)
                    if len(s) > 1 and isinstance(s[1], dict) and s[1].get("control_after_generate"):
                        widgets.append(None)  # the "fixed"/"randomize" value after a seed
        values = node.get("widgets_values", [])
        if len(values) != len(widgets):
            problems.append(f"{cls} {node['id']}: {len(values)} widget values for {len(widgets)} widgets")
            continue
        expected = {}
        for name, value in zip(widgets, values):
            if name is not None:
                expected[name] = value
        for slot in node.get("inputs", []):
            if slot.get("link") is not None:
                l = links[slot["link"]]
                expected[slot["name"]] = [str(l[1]), l[2]]
        if expected != api_node["inputs"]:
            diff = sorted(k for k in set(expected) | set(api_node["inputs"])
                          if expected.get(k) != api_node["inputs"].get(k))
            problems.append(f"{cls} {node['id']}: {', '.join(diff)} differ")
    return problems


def use_checkpoint(graph, args) -> list:
    """Applies ``--checkpoint`` and its companions to a graph that loads a
    checkpoint; returns what was changed (empty: the graph loads none)."""
    loaders = [n for n in graph.values() if n["class_type"] == "CheckpointLoaderSimple"]
    if not loaders or args.checkpoint is None:
        return []
    for n in loaders:
        n["inputs"]["ckpt_name"] = args.checkpoint_name
    changed = [f"checkpoint {args.checkpoint_name}"]
    for n in graph.values():
        cls, inputs = n["class_type"], n["inputs"]
        if cls == "KSampler" and args.steps is not None:
            inputs["steps"] = args.steps
        elif cls == "EmptyLatentImage" and args.size is not None:
            inputs["width"] = inputs["height"] = args.size
        elif cls == "VoxPortraitAnimate":
            if args.size is not None:
                inputs["size"] = args.size
            if args.mouth_position is not None:
                inputs["mouth_position"] = args.mouth_position
            if args.fps is not None:
                inputs["fps"] = args.fps
        elif cls == "VoxPortraitRefine":
            if args.steps is not None:
                inputs["steps"] = args.steps
            if args.size is not None:
                inputs["work_size"] = max(64, min(512, args.size // 64 * 64))
    if args.fps is not None:
        changed.append(f"{args.fps} fps")
    if args.steps is not None:
        changed.append(f"{args.steps} step{'' if args.steps == 1 else 's'}")
    if args.size is not None:
        changed.append(f"{args.size}x{args.size}")
    if args.mouth_position is not None:
        changed.append(f"mouth_position {args.mouth_position}")
    return changed


def error_of(entry) -> str:
    for kind, data in entry["status"].get("messages", []):
        if kind == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message')}"
    return ""


def interrupt_check(api, graph, out_dir: Path, tag: str, name: str, report, timeout: float) -> None:
    """Submits ``graph``, presses Cancel 3 s into its run, and checks that
    ComfyUI reports the interruption and no file named ``*tag*`` is left."""
    pid = api.submit(graph)
    for _ in range(600):
        q = api.get("/queue")
        if any(item[1] == pid for item in q.get("queue_running", [])):
            break
        time.sleep(0.1)
    time.sleep(3.0)
    api.post("/interrupt", {})
    entry = api.wait(pid, timeout)
    kinds = [k for k, _ in entry["status"].get("messages", [])]
    left = [str(f.relative_to(out_dir)) for f in out_dir.rglob("*") if tag in f.name]
    report(name, "execution_interrupted" in kinds and not left,
           f"status {entry['status']['status_str']}, messages {kinds}, files left {left}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("comfyui", type=Path, help="ComfyUI checkout (the folder with main.py)")
    p.add_argument("--python", default=sys.executable, help="Python to run ComfyUI with")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, server log)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per workflow")
    p.add_argument("--checkpoint", metavar="NAME_OR_FILE",
                   help="SD1.5 checkpoint for the workflows that load one: a name ComfyUI lists, or a file")
    p.add_argument("--mouth-position", metavar="X,Y",
                   help="with --checkpoint: Animate's mouth_position there (for a checkpoint that draws no face)")
    p.add_argument("--steps", type=int, help="with --checkpoint: KSampler steps there")
    p.add_argument("--size", type=int, help="with --checkpoint: empty latent and Animate size there (pixels), "
                                            "and Refine's work size (that, rounded down to 64, at most 512)")
    p.add_argument("--fps", type=float, help="with --checkpoint: Animate's frame rate there (fewer frames to refine)")
    args = p.parse_args(argv)
    comfyui = args.comfyui.resolve()
    if not (comfyui / "main.py").is_file():
        p.error(f"{comfyui} has no main.py")
    checkpoint_dir = None
    if args.checkpoint is None:
        if args.mouth_position is not None or args.steps is not None or args.size is not None or args.fps:
            p.error("--mouth-position, --steps, --size and --fps go with --checkpoint")
    elif args.steps is not None and args.steps < 1 or args.size is not None and (args.size < 64 or args.size % 8):
        p.error("--steps must be at least 1 and --size a multiple of 8, at least 64")
    elif Path(args.checkpoint).is_file():
        checkpoint_dir = Path(args.checkpoint).resolve().parent
        args.checkpoint_name = Path(args.checkpoint).name
    else:
        args.checkpoint_name = args.checkpoint

    work = Path(tempfile.mkdtemp(prefix="voxportrait-comfy-check-"))
    dirs = {k: work / k for k in ("custom_nodes", "input", "output", "temp", "user")}
    for d in dirs.values():
        d.mkdir()
    os.symlink(REPO, dirs["custom_nodes"] / "voxportrait")
    paths = f"voxportrait_check:\n  custom_nodes: {dirs['custom_nodes']}\n"
    if checkpoint_dir is not None:
        paths += f"  checkpoints: {json.dumps(str(checkpoint_dir))}\n"
    (work / "paths.yaml").write_text(paths)
    shutil.copy(REPO / "examples" / "portrait.png", dirs["input"])
    shutil.copy(REPO / "examples" / "speech.wav", dirs["input"])
    shutil.copy(REPO / "tests" / "data" / "silence_1s.wav", dirs["input"])
    # A short talking video for the dub/reenact workflow, rendered by the package itself.
    subprocess.run([args.python, "-m", "voxportrait", "animate", str(REPO / "examples" / "portrait.png"),
                    str(REPO / "tests" / "data" / "speech_1s.wav"), "-o", str(dirs["input"] / "talking.mp4"),
                    "--size", "256", "--fps", "25"], check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(work / "server.log", "w")
    server = subprocess.Popen(
        [args.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
         "--extra-model-paths-config", str(work / "paths.yaml"), "--input-directory", str(dirs["input"]),
         "--output-directory", str(dirs["output"]), "--temp-directory", str(dirs["temp"]),
         "--user-directory", str(dirs["user"]), "--database-url", "sqlite:///:memory:"],
        cwd=comfyui, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    api = Comfy(port)
    results = []

    def report(name, ok, detail):
        results.append(ok)
        print(f"{'PASS' if ok else ('SKIP' if ok is None else 'FAIL')}  {name}: {detail}", flush=True)

    try:
        for _ in range(600):
            if server.poll() is not None:
                raise RuntimeError(f"ComfyUI exited with {server.returncode}; see {work / 'server.log'}")
            try:
                info = api.get("/object_info")
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        else:
            raise RuntimeError("ComfyUI did not start in 300 s")
        version = api.get("/system_stats")["system"].get("comfyui_version", "?")
        ours = sorted(k for k in info if k.startswith("VoxPortrait"))
        print(f"ComfyUI {version} at {comfyui}; VoxPortrait nodes: {', '.join(ours)}", flush=True)
        report("nodes load", len(ours) >= 12, f"{len(ours)} VoxPortrait nodes")

        for wf in sorted(HERE.glob("*.api.json")):
            ui_path = wf.with_name(wf.name[:-len(".api.json")] + ".json")
            if ui_path.exists():
                problems = ui_matches_api(json.loads(ui_path.read_text()), json.loads(wf.read_text()), info)
                report(f"{ui_path.name} = {wf.name}", not problems, "; ".join(problems) or "same widgets and links")

        for wf in sorted(HERE.glob("*.api.json")):
            graph = json.loads(wf.read_text())
            changed = use_checkpoint(graph, args)
            name = f"{wf.name} ({', '.join(changed)})" if changed else wf.name
            missing = sorted({n["class_type"] for n in graph.values()} - set(info))
            if missing:
                report(name, None, f"skipped, needs {', '.join(missing)}")
                continue
            files_missing = missing_files(graph, info)
            if files_missing:
                # A checkpoint asked for by --checkpoint that ComfyUI does not list is a failure, not a skip.
                report(name, False if changed else None,
                       f"{'not run' if changed else 'skipped'}, needs files this ComfyUI lacks: "
                       f"{', '.join(files_missing)}")
                continue
            started = time.time()
            entry = api.wait(api.submit(graph), args.timeout)
            if entry["status"]["status_str"] != "success":
                report(name, False, error_of(entry) or entry["status"])
                continue
            files = list(outputs_of(entry, dirs["output"]))
            problems, notes = [], []
            for f in files:
                if f.suffix == ".mp4":
                    pr = probe(f)
                    video_seconds = pr["frames"] / pr["rate"] if pr["rate"] else 0.0
                    notes.append(f"{f.name} {pr['size'][0]}x{pr['size'][1]} {pr['frames']} frames "
                                 f"({video_seconds:.2f} s) {pr['video']}/{pr['pix_fmt']} + {pr['audio']} "
                                 f"{pr['audio_seconds']} s")
                    if pr["video"] != "h264" or pr["audio"] != "aac" or not pr["frames"]:
                        problems.append(f"{f.name}: {pr}")
                    elif abs((pr["audio_seconds"] or 0.0) - video_seconds) > 0.1:
                        problems.append(f"{f.name}: {pr['audio_seconds']} s of audio for {video_seconds:.2f} s "
                                        f"of video")
                elif f.suffix == ".json":
                    import voxportrait

                    m = voxportrait.Motion.load(f)
                    notes.append(f"{f.name} {m.frames} frames at {m.fps} fps")
            if not files:
                problems.append("no output files")
            notes.append(f"ran in {time.time() - started:.0f} s")
            report(name, not problems, "; ".join(problems or notes))

        # Load Motion lists what Save Motion wrote (marked [output]) and loads it.
        saved = sorted((dirs["output"] / "voxportrait").glob("edited_*.json"))
        if saved:
            choice = f"voxportrait/{saved[0].name} [output]"
            listed = choice in info["VoxPortraitLoadMotion"]["input"]["required"]["motion_file"][0] or \
                choice in api.get("/object_info/VoxPortraitLoadMotion")["VoxPortraitLoadMotion"]["input"][
                    "required"]["motion_file"][0]
            graph = {"1": {"class_type": "VoxPortraitLoadMotion", "inputs": {"motion_file": choice}},
                     "2": {"class_type": "VoxPortraitSaveMotion", "inputs": {
                         "motion": ["1", 0], "filename_prefix": "voxportrait/reloaded", "visemes": "none"}}}
            entry = api.wait(api.submit(graph), args.timeout)
            ok = entry["status"]["status_str"] == "success"
            report("load motion", ok and listed, f"listed {listed}, " + (error_of(entry) or "reloaded and saved"))

        # A node error reaches the error panel as one line.
        silent = {"1": {"class_type": "LoadAudio", "inputs": {"audio": "silence_1s.wav"}},
                  "2": {"class_type": "VoxPortraitAudioToMotion", "inputs": {
                      "audio": ["1", 0], "fps": 25.0, "engine": "learned", "mouth_scale": 1.0, "head_preset": "calm",
                      "head_scale": 1.0, "blink_rate": 17.0, "brow_scale": 1.0, "still": False, "seed": 0}},
                  "3": {"class_type": "VoxPortraitSaveMotion", "inputs": {
                      "motion": ["2", 0], "filename_prefix": "voxportrait/silent", "visemes": "none"}}}
        entry = api.wait(api.submit(silent), args.timeout)
        err = error_of(entry)
        report("error message", entry["status"]["status_str"] == "error" and "silent" in err and "\n" not in err.strip(),
               err or entry["status"])

        # No face: the renderer's one-line error names the node input to use instead.
        blank = {"1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 256, "batch_size": 1,
                                                               "color": 0x808080}},
                 "2": {"class_type": "VoxPortraitIdleMotion", "inputs": {
                     "seconds": 1.0, "fps": 25.0, "head_preset": "calm", "head_scale": 1.0, "blink_rate": 17.0,
                     "still": False, "seed": 0}},
                 "3": {"class_type": "VoxPortraitRenderToVideo", "inputs": {
                     "image": ["1", 0], "motion": ["2", 0], "framing": "resize", "size": 256, "face_index": 0,
                     "filename_prefix": "voxportrait/noface"}}}
        entry = api.wait(api.submit(blank), args.timeout)
        err = error_of(entry)
        left = [f.name for f in dirs["output"].rglob("*") if "noface" in f.name]
        report("no-face message", entry["status"]["status_str"] == "error" and "no face found" in err
               and "mouth_position" in err and "\n" not in err.strip() and not left, err or entry["status"])

        # Interrupting a long streaming render leaves no file (not even the partial one).
        stream = {"1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
                  "2": {"class_type": "VoxPortraitIdleMotion", "inputs": {
                      "seconds": 600.0, "fps": 25.0, "head_preset": "calm", "head_scale": 1.0, "blink_rate": 17.0,
                      "still": False, "seed": 0}},
                  "3": {"class_type": "VoxPortraitRenderToVideo", "inputs": {
                      "image": ["1", 0], "motion": ["2", 0], "framing": "resize", "size": 256, "face_index": 0,
                      "filename_prefix": "voxportrait/stream_interrupted"}}}
        interrupt_check(api, stream, dirs["output"], "stream_interrupted", "interrupt streaming render", report,
                        args.timeout)

        # Interrupting a long save leaves no file.
        long = {"1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
                "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                             "width": 256, "height": 256, "crop": "disabled"}},
                "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": 3000}},
                "4": {"class_type": "VoxPortraitSaveTalkingVideo", "inputs": {
                    "images": ["3", 0], "fps": 25.0, "filename_prefix": "voxportrait/interrupted", "crf": 18}}}
        interrupt_check(api, long, dirs["output"], "interrupted", "interrupt save", report, args.timeout)
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    failed = sum(1 for r in results if r is False)
    print(f"{sum(1 for r in results if r)} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
