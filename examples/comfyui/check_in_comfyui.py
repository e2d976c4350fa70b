"""Runs the example workflows in a real ComfyUI, headless on the CPU, and
checks what comes out. Downloads nothing.

    python examples/comfyui/check_in_comfyui.py /path/to/ComfyUI [--python /path/to/python]

``--python`` is the interpreter ComfyUI runs with (default: this one); it
needs ComfyUI's requirements and the ``voxportrait`` package installed.
The script makes a temporary folder with a ``custom_nodes`` link to this
repository, input/output/temp/user folders and an extra-model-paths YAML,
starts ``main.py --cpu`` on a free loopback port, and over the HTTP API:

* submits every ``*.api.json`` here whose node types all exist (the
  Animate workflows are reported as skipped until that node lands; the
  txt2img one also needs an SD1.5 checkpoint in ComfyUI's models folder);
* checks each MP4 (H.264 video and an AAC audio stream, via PyAV) and each
  motion JSON (loads with ``voxportrait.Motion.load``);
* checks that a node error reaches the error panel as a one-line message
  (silent audio) and that an interrupted Save Talking Video leaves no file.

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


def error_of(entry) -> str:
    for kind, data in entry["status"].get("messages", []):
        if kind == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message')}"
    return ""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("comfyui", type=Path, help="ComfyUI checkout (the folder with main.py)")
    p.add_argument("--python", default=sys.executable, help="Python to run ComfyUI with")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (outputs, server log)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per workflow")
    args = p.parse_args(argv)
    comfyui = args.comfyui.resolve()
    if not (comfyui / "main.py").is_file():
        p.error(f"{comfyui} has no main.py")

    work = Path(tempfile.mkdtemp(prefix="voxportrait-comfy-check-"))
    dirs = {k: work / k for k in ("custom_nodes", "input", "output", "temp", "user")}
    for d in dirs.values():
        d.mkdir()
    os.symlink(REPO, dirs["custom_nodes"] / "voxportrait")
    (work / "paths.yaml").write_text(f"voxportrait_check:\n  custom_nodes: {dirs['custom_nodes']}\n")
    shutil.copy(REPO / "examples" / "portrait.png", dirs["input"])
    shutil.copy(REPO / "examples" / "speech.wav", dirs["input"])
    shutil.copy(REPO / "tests" / "data" / "silence_1s.wav", dirs["input"])
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
        report("nodes load", len(ours) >= 7, f"{len(ours)} VoxPortrait nodes")

        for wf in sorted(HERE.glob("*.api.json")):
            graph = json.loads(wf.read_text())
            missing = sorted({n["class_type"] for n in graph.values()} - set(info))
            if missing:
                report(wf.name, None, f"skipped, needs {', '.join(missing)}")
                continue
            entry = api.wait(api.submit(graph), args.timeout)
            if entry["status"]["status_str"] != "success":
                report(wf.name, False, error_of(entry) or entry["status"])
                continue
            files = list(outputs_of(entry, dirs["output"]))
            problems, notes = [], []
            for f in files:
                if f.suffix == ".mp4":
                    pr = probe(f)
                    notes.append(f"{f.name} {pr['size'][0]}x{pr['size'][1]} {pr['frames']} frames "
                                 f"{pr['video']}/{pr['pix_fmt']} + {pr['audio']} {pr['audio_seconds']} s")
                    if pr["video"] != "h264" or pr["audio"] != "aac" or not pr["frames"]:
                        problems.append(f"{f.name}: {pr}")
                elif f.suffix == ".json":
                    import voxportrait

                    m = voxportrait.Motion.load(f)
                    notes.append(f"{f.name} {m.frames} frames at {m.fps} fps")
            if not files:
                problems.append("no output files")
            report(wf.name, not problems, "; ".join(problems or notes))

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

        # Interrupting a long save leaves no file.
        long = {"1": {"class_type": "LoadImage", "inputs": {"image": "portrait.png"}},
                "2": {"class_type": "ImageScale", "inputs": {"image": ["1", 0], "upscale_method": "bilinear",
                                                             "width": 256, "height": 256, "crop": "disabled"}},
                "3": {"class_type": "RepeatImageBatch", "inputs": {"image": ["2", 0], "amount": 3000}},
                "4": {"class_type": "VoxPortraitSaveTalkingVideo", "inputs": {
                    "images": ["3", 0], "fps": 25.0, "filename_prefix": "voxportrait/interrupted", "crf": 18}}}
        pid = api.submit(long)
        for _ in range(600):
            q = api.get("/queue")
            if any(item[1] == pid for item in q.get("queue_running", [])):
                break
            time.sleep(0.1)
        time.sleep(3.0)
        api.post("/interrupt", {})
        entry = api.wait(pid, args.timeout)
        kinds = [k for k, _ in entry["status"].get("messages", [])]
        left = [str(f.relative_to(dirs["output"])) for f in dirs["output"].rglob("*") if "interrupted" in f.name]
        report("interrupt", "execution_interrupted" in kinds and not left,
               f"status {entry['status']['status_str']}, messages {kinds}, files left {left}")
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
