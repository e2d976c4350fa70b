"""Host install hook, run by the Stable Diffusion WebUI and ComfyUI-Manager.

It makes sure the ``voxportrait`` Python package (the Rust core plus its
Python API) installed in the host's Python is this checkout's build:

1. nothing to do when the installed version and build id (see
   ``python/voxportrait/_build.py``) are this checkout's;
2. otherwise a prebuilt wheel of exactly this version, when the package
   index has one for this platform and it was built from these very
   sources (its core carries the build id);
3. otherwise a build from source, which needs Rust (cargo): its progress is
   printed as it goes, and without cargo a message says what to install.

It never touches the host's torch or gradio. Environment: ``INDEX_URL``
(the WebUI's) and pip's own ``PIP_*`` settings are honoured;
``VOXPORTRAIT_INSTALL_DRY_RUN=1`` prints the commands instead of running
them; ``VOXPORTRAIT_FORCE_INSTALL=1`` installs even when up to date;
``VOXPORTRAIT_NO_BINARY=1`` skips the prebuilt wheel.
"""

import importlib.util
import os
import platform
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

ROOT = os.path.dirname(os.path.abspath(__file__))
PREFIX = "VoxPortrait install:"
#: Seconds between progress lines during a source build.
PROGRESS_EVERY_S = 15.0


def wanted_version() -> str:
    """Version of the package in this checkout (from rust workspace Cargo.toml)."""
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        match = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    return match.group(1) if match else ""


def build_module():
    """``python/voxportrait/_build.py``, loaded by path (nothing installed needed)."""
    path = os.path.join(ROOT, "python", "voxportrait", "_build.py")
    spec = importlib.util.spec_from_file_location("_voxportrait_build_id", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def wanted_build():
    """Build id of this checkout's sources."""
    return build_module().source_build_id(ROOT)


def installed_version():
    """Installed version of ``voxportrait``, or None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("voxportrait")
    except PackageNotFoundError:
        return None


def installed_build():
    """Build id of the installed core ('' when it has none), read in a child
    process so that this one never loads (and on Windows locks) the library."""
    env = {**os.environ, build_module().SKIP_CHECK_ENV: "1"}
    code = "import voxportrait._native as n; print(getattr(n, 'BUILD_ID', ''))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tempfile.gettempdir())
    return r.stdout.strip() if r.returncode == 0 else ""


def pip_command(*args) -> list:
    """``python -m pip ARGS``, with the WebUI's ``INDEX_URL`` when set."""
    cmd = [sys.executable, "-m", "pip", *args]
    if os.environ.get("INDEX_URL") and args and args[0] in ("install", "download"):
        cmd += ["--index-url", os.environ["INDEX_URL"]]
    return cmd


def wheel_build_id_matches(wheel: str, build_id: str) -> bool:
    """Whether the wheel's compiled core carries ``build_id``."""
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if re.match(r"voxportrait/_native[.]", name):
                if build_id.encode() in z.read(name):
                    return True
    return False


def try_wheel(version: str, build_id, dry_run: bool, reinstall: bool) -> bool:
    """Installs a prebuilt wheel of exactly ``version`` built from these sources.

    Returns False when the index has none for this platform, or only one
    built from other sources (this checkout has changes since the release).
    """
    if dry_run:
        print(PREFIX, *pip_command("download", f"voxportrait=={version}", "--only-binary", ":all:", "--no-deps"))
        return False
    with tempfile.TemporaryDirectory(prefix="voxportrait-wheel-") as tmp:
        r = subprocess.run(
            pip_command("download", f"voxportrait=={version}", "--only-binary", ":all:", "--no-deps", "-d", tmp),
            capture_output=True, text=True,
        )
        wheels = [os.path.join(tmp, n) for n in os.listdir(tmp) if n.endswith(".whl")]
        if r.returncode != 0 or not wheels:
            print(PREFIX, f"no prebuilt wheel of voxportrait {version} for {platform_name()}; building from source.")
            return False
        if build_id and not wheel_build_id_matches(wheels[0], build_id):
            print(PREFIX, f"the prebuilt wheel of voxportrait {version} was built from the release's sources, and this "
                  f"checkout has changed since (build {build_id}); building from source.")
            return False
        print(PREFIX, f"installing the prebuilt wheel {os.path.basename(wheels[0])}", flush=True)
        extra = ["--force-reinstall", "--no-deps"] if reinstall else []
        return subprocess.call(pip_command("install", wheels[0], *extra)) == 0


def platform_name() -> str:
    """For example 'Python 3.11 on Linux x86_64'."""
    return f"Python {sys.version_info[0]}.{sys.version_info[1]} on {platform.system()} {platform.machine()}"


def find_cargo():
    """cargo on PATH, or in rustup's default place (often missing from a host's PATH)."""
    found = shutil.which("cargo")
    if found:
        return found
    home = os.environ.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    exe = os.path.join(home, "bin", "cargo.exe" if os.name == "nt" else "cargo")
    return exe if os.path.isfile(exe) else None


NO_CARGO = """{prefix} cannot install VoxPortrait {version}.
  No prebuilt wheel fits {platform}, so it has to be built from source,
  and that needs Rust, which is not installed (no 'cargo' found).
  Install Rust from https://rustup.rs (on Windows it also asks for the
  Visual Studio C++ Build Tools), then restart the host: it builds
  VoxPortrait on its next start (about 10 minutes on 2 cores)."""


def crate_count() -> int:
    """Packages in Cargo.lock: about how many crates a full build compiles."""
    try:
        with open(os.path.join(ROOT, "Cargo.lock"), encoding="utf-8") as f:
            return f.read().count("[[package]]")
    except OSError:
        return 0


class Progress:
    """Turns the build's output into a line every few crates or seconds."""

    def __init__(self, total: int, every_s: float = None, out=None):
        self.total, self.out = total, out or sys.stdout
        self.every_s = PROGRESS_EVERY_S if every_s is None else every_s
        self.start = self.last = time.monotonic()
        self.done = 0
        self.current = ""

    def feed(self, line: str) -> None:
        m = re.match(r"\s*Compiling (\S+ v\S+)", line)
        if m:
            self.done += 1
            self.current = m.group(1)
        elif re.match(r"\s*error(\[|:)", line):
            self.say(line.strip())
        if time.monotonic() - self.last >= self.every_s:
            self.report()

    def report(self) -> None:
        total = f"/~{self.total}" if self.total else ""
        now = f", compiling {self.current}" if self.current else ""
        self.say(f"building... {self.done}{total} crates, {self.elapsed()}{now}")

    def elapsed(self) -> str:
        s = int(time.monotonic() - self.start)
        return f"{s // 60}m{s % 60:02d}s"

    def say(self, text: str) -> None:
        self.last = time.monotonic()
        print(PREFIX, text, file=self.out, flush=True)


def build_from_source(version: str, cargo: str) -> int:
    """``pip install -v ROOT`` with its output condensed to progress lines."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(cargo) + os.pathsep + env.get("PATH", "")
    cmd = pip_command("install", "-v", ROOT)
    print(PREFIX, f"building VoxPortrait {version} from source with Rust; this takes about 10 minutes "
          "on 2 cores, progress follows.", flush=True)
    log = tempfile.NamedTemporaryFile("w", prefix="voxportrait-build-", suffix=".log", delete=False, encoding="utf-8")
    progress = Progress(crate_count())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            encoding="utf-8", errors="replace")
    lines: "queue.Queue[str | None]" = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout] + [lines.put(None)], daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=progress.every_s)
        except queue.Empty:  # a long crate: still say it is alive
            progress.report()
            continue
        if line is None:
            break
        log.write(line)
        progress.feed(line)
    rc = proc.wait()
    log.close()
    if rc != 0:
        with open(log.name, encoding="utf-8") as f:
            tail = f.readlines()[-30:]
        print("".join(tail), end="")
        print(PREFIX, f"the build failed (pip exit code {rc}); the whole output is in {log.name}")
        return 1
    os.unlink(log.name)
    print(PREFIX, f"VoxPortrait {version} built and installed in {progress.elapsed()}.", flush=True)
    return 0


def main() -> int:
    version, build_id = wanted_version(), wanted_build()
    have = installed_version()
    force = bool(os.environ.get("VOXPORTRAIT_FORCE_INSTALL"))
    dry_run = bool(os.environ.get("VOXPORTRAIT_INSTALL_DRY_RUN"))
    if have == version and not force and (not build_id or installed_build() == build_id):
        return 0
    if have:
        print(PREFIX, f"installed: voxportrait {have}; this checkout: {version} (build {build_id})", flush=True)
    if not os.environ.get("VOXPORTRAIT_NO_BINARY") and try_wheel(version, build_id, dry_run, reinstall=have == version):
        return 0
    if dry_run:
        print(PREFIX, *pip_command("install", "-v", ROOT))
        return 0
    cargo = find_cargo()
    if cargo is None:
        print(NO_CARGO.format(prefix=PREFIX, version=version, platform=platform_name()))
        return 1
    return build_from_source(version, cargo)


if __name__ == "__main__":
    sys.exit(main())
