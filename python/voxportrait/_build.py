"""Build identity: which sources a compiled ``voxportrait._native`` came from.

The version stays the same between releases, so a checkout also carries a
*build id*: a hash of every file that goes into the package (Rust sources,
``Cargo.lock``, the models compiled in, the Python package). The binding's
``build.rs`` computes the same hash (``rust/voxportrait-py/build.rs``; the
two are checked against each other by the tests) and stores it in the
native module as ``BUILD_ID``, and the Python package's own files as
``PY_SOURCES_ID``.

This file uses the standard library only and imports nothing from the
package: ``install.py`` loads it by path before anything is installed.
"""

from __future__ import annotations

import hashlib
import os

#: What the build id covers, relative to the repository root. Keep in step
#: with ``BUILD_INPUTS`` in ``rust/voxportrait-py/build.rs``.
BUILD_INPUTS = (
    "Cargo.toml",
    "Cargo.lock",
    "pyproject.toml",
    "models",
    "python/voxportrait",
    "rust/voxportrait-core",
    "rust/voxportrait-py",
)

#: Compiled or generated files that are never part of the sources.
_SKIP_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib", ".dll")

#: Set to 1 to load the package although its parts come from different
#: builds (for tools that only read ``BUILD_ID``, such as install.py).
SKIP_CHECK_ENV = "VOXPORTRAIT_SKIP_BUILD_CHECK"

#: Set by the ComfyUI pack and the WebUI extension to their checkout's build
#: id: importing the package then fails unless the core is that build.
EXPECT_ENV = "VOXPORTRAIT_EXPECT_BUILD"


class BuildMismatchError(ImportError):
    """The compiled core and the Python code come from different builds."""


def _files(base: str, rel: str):
    """Relative paths ('/'-separated) of the source files at ``base/rel``."""
    path = os.path.join(base, rel) if rel else base
    if os.path.isfile(path):
        yield rel
        return
    if not os.path.isdir(path):
        return
    for name in os.listdir(path):
        if name.startswith(".") or name in ("__pycache__", "target"):
            continue
        child = f"{rel}/{name}" if rel else name
        full = os.path.join(base, child)
        if os.path.isdir(full):
            yield from _files(base, child)
        elif os.path.isfile(full) and not name.endswith(_SKIP_SUFFIXES):
            yield child


def tree_id(base: str, inputs=("",)) -> str:
    """16 hex digits of SHA-256 over ``inputs`` under ``base``.

    Files are taken in byte order of their '/'-separated relative paths;
    each adds its path, a NUL, its length (8 bytes little-endian) and its
    bytes with CRLF read as LF (so a Windows checkout hashes the same).
    """
    digest = hashlib.sha256()
    paths = sorted({p for rel in inputs for p in _files(base, rel)}, key=lambda p: p.encode())
    for rel in paths:
        with open(os.path.join(base, rel), "rb") as f:
            data = f.read().replace(b"\r\n", b"\n")
        digest.update(rel.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
    return digest.hexdigest()[:16]


def is_checkout(root: str) -> bool:
    """Whether ``root`` holds the package's sources (a git checkout or sdist)."""
    return os.path.isfile(os.path.join(root, "rust", "voxportrait-py", "Cargo.toml"))


def source_build_id(root: str):
    """Build id of the sources under ``root``, or None where there are none."""
    return tree_id(root, BUILD_INPUTS) if is_checkout(root) else None


def python_sources_id(package_dir: str) -> str:
    """Id of the Python package's own files (the same in a checkout and installed)."""
    return tree_id(package_dir)


def expect_checkout_build(root: str) -> None:
    """Makes ``import voxportrait`` require the build of the checkout at ``root``."""
    build_id = source_build_id(root)
    if build_id:
        os.environ[EXPECT_ENV] = build_id


def mismatch_message(native_id: str, wanted_id: str, where: str) -> str:
    """The one message for code and compiled core from different builds."""
    return (
        f"VoxPortrait: the installed compiled core (build {native_id or 'unknown'}) does not match "
        f"{where} (build {wanted_id}). Reinstall it from this checkout: run "
        f"'python install.py' in the VoxPortrait folder with the host's Python (the WebUI "
        f"and ComfyUI-Manager do this on their next start), then restart the host."
    )
