"""The pack's own socket types.

``FACE`` carries :class:`VoxFace`; ``MOTION`` carries a
:class:`voxportrait.Motion` as it is (arrays per video frame, JSON through
``Motion.to_json``). Both are plain Python objects that ComfyUI passes
between nodes and caches; nodes never change one they received.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Tuple

FACE = "FACE"
MOTION = "MOTION"


@dataclass(frozen=True)
class VoxFace:
    """One analysed face and where it came from.

    ``face`` is a :class:`voxportrait.Face` (468-point mesh, box, head pose,
    irises and gaze, in pixels of the analysed image); ``width`` and
    ``height`` are that image's size, ``index`` the face's rank among the
    ``count`` faces found (0 = largest) and ``image_index`` the picture of
    the IMAGE batch it was found in.
    """

    face: Any
    width: int
    height: int
    index: int = 0
    count: int = 1
    image_index: int = 0

    @property
    def size(self) -> Tuple[int, int]:
        return (self.width, self.height)

    def __repr__(self) -> str:
        x0, y0, x1, y1 = self.face.box
        return (f"VoxFace(face {self.index + 1} of {self.count}, box {x0:.0f},{y0:.0f}-{x1:.0f},{y1:.0f} "
                f"in {self.width}x{self.height}, image {self.image_index})")
