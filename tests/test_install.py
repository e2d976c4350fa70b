"""install.py (the hosts' install hook) and the build identity.

The fresh-venv tests run install.py with a clean Python and pip's own
settings pointed at a local folder of wheels (``PIP_NO_INDEX``,
``PIP_FIND_LINKS``), so no index is asked; the wheels there are small
stand-ins whose ``voxportrait/_native`` carries a build id, as the real
compiled core does.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from helpers import ROOT

VENV_BIN = "Scripts" if os.name == "nt" else "bin"


def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


install = load("voxportrait_install_hook", ROOT / "install.py")
build = load("voxportrait_build_for_tests", ROOT / "python" / "voxportrait" / "_build.py")
VERSION = install.wanted_version()
BUILD_ID = build.source_build_id(str(ROOT))


def run_install(python=sys.executable, env=None, cwd=None):
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(python), str(ROOT / "install.py")], capture_output=True, text=True,
                          cwd=cwd, env=e, timeout=300)


# ------------------------------------------------------------------ build identity


def test_requirements_pin_exactly_this_version():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert [ln for ln in lines if ln and not ln.startswith("#")] == [f"voxportrait=={VERSION}"]


def test_installed_core_carries_the_build_id_python_computes():
    """build.rs and _build.py hash the same files the same way."""
    r = subprocess.run([sys.executable, "-c", "import voxportrait as v, voxportrait._native as n; "
                        "print(v.BUILD_ID, n.PY_SOURCES_ID)"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [BUILD_ID, build.python_sources_id(str(ROOT / "python" / "voxportrait"))]


def _mini_checkout(path):
    for rel in ("Cargo.toml", "Cargo.lock", "pyproject.toml"):
        shutil.copy(ROOT / rel, path / rel)
    shutil.copytree(ROOT / "rust" / "voxportrait-py", path / "rust" / "voxportrait-py",
                    ignore=shutil.ignore_patterns("target"))
    shutil.copytree(ROOT / "python" / "voxportrait", path / "python" / "voxportrait",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    return build.source_build_id(str(path))


def test_build_id_changes_with_sources_not_with_line_endings_or_caches(tmp_path):
    first = _mini_checkout(tmp_path)
    assert len(first) == 16 and build.source_build_id(str(tmp_path)) == first
    lib = tmp_path / "rust" / "voxportrait-py" / "src" / "lib.rs"
    (tmp_path / "python" / "voxportrait" / "__pycache__").mkdir()
    (tmp_path / "python" / "voxportrait" / "__pycache__" / "api.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "python" / "voxportrait" / "_native.abi3.so").write_bytes(b"x")
    assert build.source_build_id(str(tmp_path)) == first
    lib.write_bytes(lib.read_bytes().replace(b"\n", b"\r\n"))  # a Windows checkout
    assert build.source_build_id(str(tmp_path)) == first
    lib.write_bytes(lib.read_bytes() + b"// changed\n")
    assert build.source_build_id(str(tmp_path)) != first
    assert build.source_build_id(str(tmp_path / "elsewhere")) is None


def test_binding_refuses_a_core_from_another_build_than_the_node_code():
    r = subprocess.run([sys.executable, "-c", "import voxportrait"], capture_output=True, text=True,
                       env={**os.environ, build.EXPECT_ENV: "0123456789abcdef"})
    assert r.returncode != 0
    assert "BuildMismatchError" in r.stderr
    assert f"installed compiled core (build {BUILD_ID}) does not match" in r.stderr
    assert "(build 0123456789abcdef)" in r.stderr and "python install.py" in r.stderr


def test_binding_refuses_python_code_from_another_build(tmp_path):
    import voxportrait

    package = tmp_path / "voxportrait"
    shutil.copytree(os.path.dirname(voxportrait.__file__), package, ignore=shutil.ignore_patterns("__pycache__"))
    api = package / "api.py"
    api.write_text(api.read_text() + "\n# edited after the build\n")
    r = subprocess.run([sys.executable, "-c", "import voxportrait"], capture_output=True, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert r.returncode != 0
    assert f"does not match the Python code in {package}" in r.stderr
    ok = subprocess.run([sys.executable, "-c", "import voxportrait; print(voxportrait.__file__)"],
                        capture_output=True, text=True, cwd=tmp_path,
                        env={**os.environ, "PYTHONPATH": str(tmp_path), build.SKIP_CHECK_ENV: "1"})
    assert ok.returncode == 0 and str(package) in ok.stdout, ok.stderr


@pytest.mark.parametrize("loader", ["comfy", "webui"])
def test_host_code_asks_for_its_checkouts_build(loader):
    if loader == "comfy":
        code = (f"import importlib.util, sys, os\n"
                f"spec = importlib.util.spec_from_file_location('vp_pack', {str(ROOT / '__init__.py')!r}, "
                f"submodule_search_locations=[{str(ROOT)!r}])\n"
                f"m = importlib.util.module_from_spec(spec); sys.modules['vp_pack'] = m; spec.loader.exec_module(m)\n")
    else:
        code = (f"import importlib.util, os\n"
                f"spec = importlib.util.spec_from_file_location('vp_ext', {str(ROOT / 'extension' / 'webui.py')!r})\n"
                f"m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                f"class CB: pass\n"
                f"m.register(CB())\n")
    code += f"print(os.environ.get({build.EXPECT_ENV!r}))"
    env = {k: v for k, v in os.environ.items() if k != build.EXPECT_ENV}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == BUILD_ID


# ------------------------------------------------------------------ install.py in this Python


def test_install_skips_when_this_build_is_installed(tmp_path):
    r = run_install(env={"VOXPORTRAIT_INSTALL_DRY_RUN": "1"}, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == "", (r.stdout, r.stderr)


def test_install_plans_the_wheel_first_then_the_source_build(tmp_path):
    r = run_install(env={"VOXPORTRAIT_INSTALL_DRY_RUN": "1", "VOXPORTRAIT_FORCE_INSTALL": "1",
                         "INDEX_URL": "https://index.invalid/simple"}, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    download = next(i for i, ln in enumerate(lines) if "-m pip download" in ln)
    source = next(i for i, ln in enumerate(lines) if "-m pip install -v" in ln)
    assert download < source
    assert f"voxportrait=={VERSION} --only-binary :all: --no-deps --index-url https://index.invalid/simple" \
        in lines[download]
    assert lines[source].endswith(str(ROOT) + " --index-url https://index.invalid/simple")


def test_source_build_prints_progress_while_it_runs(monkeypatch, capsys):
    fake_pip = ("import time\n"
                "for i in range(6):\n"
                "    print(f'   Compiling crate{i} v1.0.{i}', flush=True); time.sleep(0.15)\n"
                "time.sleep(0.5)\n")
    monkeypatch.setattr(install, "pip_command", lambda *a: [sys.executable, "-c", fake_pip])
    monkeypatch.setattr(install, "PROGRESS_EVERY_S", 0.2)
    assert install.build_from_source("9.9.9", "/nowhere/cargo") == 0
    out = capsys.readouterr().out.splitlines()
    progress = [ln for ln in out if "building..." in ln]
    assert len(progress) >= 3, out
    assert any("6/~" in ln and "compiling crate5 v1.0.5" in ln for ln in progress), progress
    assert out[-1].startswith("VoxPortrait install: VoxPortrait 9.9.9 built and installed in 0m0")


def test_failed_source_build_shows_the_error_and_keeps_the_log(monkeypatch, capsys):
    fake_pip = "import sys; print('   Compiling a v1'); print('error: linker `cc` not found'); sys.exit(1)"
    monkeypatch.setattr(install, "pip_command", lambda *a: [sys.executable, "-c", fake_pip])
    assert install.build_from_source("9.9.9", "/nowhere/cargo") == 1
    out = capsys.readouterr().out
    assert "VoxPortrait install: error: linker `cc` not found" in out
    log = out.rsplit("the whole output is in ", 1)[1].strip()
    assert "error: linker `cc` not found" in open(log).read()
    os.unlink(log)


# ------------------------------------------------------------------ install.py in a fresh Python


def fake_wheel(folder, build_id, version=VERSION):
    """A wheel shaped like the real one, whose core is a module carrying ``build_id``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"voxportrait-{version}-py3-none-any.whl"
    info = f"voxportrait-{version}.dist-info"
    files = {
        "voxportrait/__init__.py": "from ._native import BUILD_ID, __version__\n",
        "voxportrait/_native.py": f"BUILD_ID = {build_id!r}\n__version__ = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: voxportrait\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
        z.writestr(f"{info}/RECORD", "".join(f"{n},,\n" for n in files) + f"{info}/RECORD,,\n")
    return folder


@pytest.fixture(scope="module")
def venv_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("venv") / "template"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


@pytest.fixture
def fresh(venv_template, tmp_path):
    """(python, env): a new venv without voxportrait, no index, no cargo."""
    venv = tmp_path / "venv"
    shutil.copytree(venv_template, venv, symlinks=True)
    python = venv / VENV_BIN / "python"
    no_cargo_bin = tmp_path / "bin"
    no_cargo_bin.mkdir()
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "index"), "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PATH": os.pathsep.join([str(venv / VENV_BIN), str(no_cargo_bin), "/usr/bin", "/bin"]),
           "HOME": str(tmp_path), "CARGO_HOME": str(tmp_path / "cargo")}
    (tmp_path / "index").mkdir()
    if shutil.which("cargo", path=env["PATH"]):
        pytest.skip("cargo is in /usr/bin here")
    return python, env, tmp_path


def installed_build_in(python):
    r = subprocess.run([str(python), "-c", "import voxportrait._native as n; print(n.BUILD_ID)"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def test_without_a_wheel_or_cargo_says_what_to_install(fresh):
    python, env, tmp = fresh
    r = run_install(python, env=env, cwd=tmp)
    assert r.returncode == 1
    assert f"no prebuilt wheel of voxportrait {VERSION} for Python" in r.stdout
    assert "needs Rust, which is not installed (no 'cargo' found)" in r.stdout
    assert "https://rustup.rs" in r.stdout
    assert "Traceback" not in r.stdout + r.stderr
    assert installed_build_in(python) is None


def test_a_wheel_of_this_build_installs_without_cargo_and_then_is_kept(fresh):
    python, env, tmp = fresh
    fake_wheel(tmp / "index", BUILD_ID)
    r = run_install(python, env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"installing the prebuilt wheel voxportrait-{VERSION}-py3-none-any.whl" in r.stdout
    assert installed_build_in(python) == BUILD_ID
    again = run_install(python, env=env, cwd=tmp)
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_a_wheel_of_other_sources_is_not_installed(fresh):
    python, env, tmp = fresh
    fake_wheel(tmp / "index", "feedfacefeedface")
    r = run_install(python, env=env, cwd=tmp)
    assert r.returncode == 1
    assert "built from the release's sources, and this checkout has changed since" in r.stdout
    assert "https://rustup.rs" in r.stdout
    assert installed_build_in(python) is None


def test_reinstalls_when_the_installed_build_id_differs(fresh):
    python, env, tmp = fresh
    old = fake_wheel(tmp / "old", "0000000000000000")
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(next(old.iterdir()))], check=True, env=env)
    assert installed_build_in(python) == "0000000000000000"
    fake_wheel(tmp / "index", BUILD_ID)
    r = run_install(python, env=env, cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"installed: voxportrait {VERSION}; this checkout: {VERSION} (build {BUILD_ID})" in r.stdout
    assert installed_build_in(python) == BUILD_ID
