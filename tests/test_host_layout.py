"""The repository root works unchanged as a ComfyUI custom node and a WebUI
extension, and never shadows the package."""

from __future__ import annotations

import os
import subprocess
import sys

from helpers import ROOT


def run_python(code, cwd=None, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=e)


def test_nothing_at_the_root_shares_the_package_name():
    names = {n.lower() for n in os.listdir(ROOT)}
    assert not names & {"voxportrait", "voxportrait.py"}


def test_root_loads_as_a_comfyui_custom_node_without_heavy_imports(tmp_path):
    # ComfyUI imports the folder as a package by path.
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location(
    "voxportrait_pack", {str(ROOT / "__init__.py")!r},
    submodule_search_locations=[{str(ROOT)!r}])
mod = importlib.util.module_from_spec(spec)
sys.modules["voxportrait_pack"] = mod
spec.loader.exec_module(mod)
assert isinstance(mod.NODE_CLASS_MAPPINGS, dict)
assert isinstance(mod.NODE_DISPLAY_NAME_MAPPINGS, dict)
heavy = [m for m in ("torch", "numpy", "voxportrait", "voxportrait._native") if m in sys.modules]
assert not heavy, heavy
print("ok")
"""
    r = run_python(code, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_webui_extension_root_on_sys_path_does_not_shadow_the_package(tmp_path):
    # The WebUI puts every extension root on sys.path.
    r = run_python(
        "import voxportrait, os; print(os.path.dirname(voxportrait.__file__))",
        cwd=tmp_path, env={"PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr
    assert not r.stdout.strip().startswith(str(ROOT) + os.sep + "voxportrait")


def test_webui_scripts_loader_is_inert_outside_the_webui(tmp_path):
    r = run_python(f"import runpy; runpy.run_path({str(ROOT / 'scripts' / 'voxportrait_webui.py')!r})", cwd=tmp_path)
    assert r.returncode == 0, r.stderr


def test_webui_scripts_loader_registers_through_script_callbacks(tmp_path):
    fake = tmp_path / "modules"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "script_callbacks.py").write_text("")
    r = run_python(
        f"import runpy, sys; runpy.run_path({str(ROOT / 'scripts' / 'voxportrait_webui.py')!r}); "
        "print('voxportrait_webui_extension' in sys.modules)",
        cwd=tmp_path, env={"PYTHONPATH": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"
