"""Atomic text output shared by the JSON writers: a temporary file beside
the target, renamed over it only when complete, so a failed or interrupted
write never leaves a half-written file."""

from __future__ import annotations

import os
import uuid

from . import _native


def write_text_atomic(path, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically; raises
    :class:`OutputError` naming the folder when it cannot."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise _native.OutputError(f"{path}: output folder {folder} does not exist; create it first")
    tmp = os.path.join(folder, f".voxportrait-{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
    try:
        # Mode 0666 minus the umask, like any new file (mkstemp would make it private).
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except OSError as e:
        raise _native.OutputError(f"{path}: cannot write in {folder}: {e}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise _native.OutputError(f"{path}: cannot write it: {e}")
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
