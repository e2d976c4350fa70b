"""Host install hook, run by the Stable Diffusion WebUI and ComfyUI-Manager.

It makes sure the ``voxportrait`` Python package (the Rust core plus its
Python API) is installed in the host's Python at this repository's version:
with the WebUI's ``launch.run_pip`` when that exists, and a plain
``python -m pip install`` otherwise (ComfyUI-Manager has no ``launch``).
It never touches the host's torch or gradio. Set
``VOXPORTRAIT_INSTALL_DRY_RUN=1`` to print the command instead of running it.
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.abspath(__file__))


def wanted_version() -> str:
    """Version of the package in this checkout (from rust workspace Cargo.toml)."""
    with open(os.path.join(ROOT, "Cargo.toml"), encoding="utf-8") as f:
        match = re.search(r'^version\s*=\s*"([^"]+)"', f.read(), re.M)
    return match.group(1) if match else ""


def installed_version():
    """Installed version of ``voxportrait``, or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # Python < 3.8
        return None
    try:
        return version("voxportrait")
    except PackageNotFoundError:
        return None


def main() -> int:
    want = wanted_version()
    have = installed_version()
    if have and have == want and not os.environ.get("VOXPORTRAIT_FORCE_INSTALL"):
        return 0
    args = ["install", ROOT]
    if os.environ.get("VOXPORTRAIT_INSTALL_DRY_RUN"):
        print("voxportrait install:", sys.executable, "-m", "pip", *args)
        return 0
    try:
        import launch  # Stable Diffusion WebUI
    except ImportError:
        launch = None
    if launch is not None and hasattr(launch, "run_pip"):
        launch.run_pip(f'install "{ROOT}"', f"VoxPortrait {want}")
        return 0
    return subprocess.call([sys.executable, "-m", "pip", *args])


if __name__ == "__main__":
    sys.exit(main())
