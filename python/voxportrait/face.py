"""Face analysis: MediaPipe-compatible detector, 468-point mesh, head pose.

Numpy in, dataclasses of numpy arrays out. The networks run in the Rust
core (candle, weights compiled in), with the GIL released.

>>> import voxportrait
>>> face = voxportrait.analyze_face("portrait.png")        # doctest: +SKIP
>>> face.landmarks.shape, face.pose.yaw_degrees           # doctest: +SKIP
((468, 3), -1.2)
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple, Union

import numpy as np

from . import _native
from ._files import write_text_atomic

ImageLike = Union[str, "os.PathLike[str]", np.ndarray]


@dataclass
class HeadPose:
    """Head pose fitted to the landmarks (weighted Procrustes on the
    canonical face): image = scale * rotation @ canonical + translation.

    Angles in radians: yaw > 0 turns the face toward the image right,
    pitch > 0 nods down, roll > 0 tilts counter-clockwise in the image.
    """

    yaw: float
    pitch: float
    roll: float
    rotation: np.ndarray
    translation: np.ndarray
    scale: float
    rms_px: float

    @property
    def yaw_degrees(self) -> float:
        return math.degrees(self.yaw)

    @property
    def pitch_degrees(self) -> float:
        return math.degrees(self.pitch)

    @property
    def roll_degrees(self) -> float:
        return math.degrees(self.roll)


@dataclass
class Eye:
    """Iris and eye-contour landmarks of one eye (MediaPipe's iris network),
    image pixels."""

    iris: np.ndarray  # (5, 3): iris centre, then 4 rim points
    contour: np.ndarray  # (71, 3): eye outline (first 16) and brow points
    radius: float  # iris radius, pixels


@dataclass
class Face:
    """One analysed face. Coordinates are image pixels; landmark z is in
    pixels relative to the face centre (smaller is nearer the camera)."""

    landmarks: np.ndarray  # (468, 3) float32
    box: Tuple[float, float, float, float]  # xmin, ymin, xmax, ymax
    keypoints: np.ndarray  # (6, 2): right eye, left eye, nose, mouth, right ear, left ear
    score: float
    presence: float
    roi: Tuple[float, float, float, float, float]  # cx, cy, w, h, rotation (rad, clockwise)
    pose: HeadPose
    interocular: float = field(default=0.0)
    #: ``[image-left eye, image-right eye]`` (mesh corners 33/133, 362/263),
    #: or ``None`` when analysed with ``iris=False``.
    eyes: Optional[List[Eye]] = None
    #: Iris offset from the eye centre in eye widths, ``(along the eye line,
    #: across it)``, averaged over both eyes; ``None`` without irises.
    gaze: Optional[Tuple[float, float]] = None

    def to_dict(self) -> dict:
        """Plain JSON-ready data."""
        p = self.pose
        return {
            "box": list(self.box),
            "score": self.score,
            "presence": self.presence,
            "keypoints": self.keypoints.tolist(),
            "roi": {"cx": self.roi[0], "cy": self.roi[1], "width": self.roi[2], "height": self.roi[3],
                    "rotation": self.roi[4]},
            "pose": {"yaw": p.yaw, "pitch": p.pitch, "roll": p.roll,
                     "yaw_degrees": p.yaw_degrees, "pitch_degrees": p.pitch_degrees,
                     "roll_degrees": p.roll_degrees, "rotation": p.rotation.tolist(),
                     "translation": p.translation.tolist(), "scale": p.scale, "rms_px": p.rms_px},
            "interocular": self.interocular,
            "landmarks": self.landmarks.tolist(),
            "eyes": None if self.eyes is None else [
                {"iris": e.iris.tolist(), "contour": e.contour.tolist(), "radius": e.radius}
                for e in self.eyes],
            "gaze": None if self.gaze is None else list(self.gaze),
        }


def _face(d: dict) -> Face:
    p = d["pose"]
    return Face(
        landmarks=np.asarray(d["landmarks"], dtype=np.float32),
        box=tuple(d["box"]),
        keypoints=np.asarray(d["keypoints"], dtype=np.float32),
        score=float(d["score"]),
        presence=float(d["presence"]),
        roi=tuple(d["roi"]),
        pose=HeadPose(p["yaw"], p["pitch"], p["roll"], np.asarray(p["rotation"], dtype=np.float32),
                      np.asarray(p["translation"], dtype=np.float32), p["scale"], p["rms_px"]),
        interocular=float(d["interocular"]),
        eyes=[Eye(np.asarray(e["iris"], dtype=np.float32), np.asarray(e["contour"], dtype=np.float32),
                  float(e["radius"])) for e in d["eyes"]] if "eyes" in d else None,
        gaze=tuple(d["gaze"]) if "gaze" in d else None,
    )


def _image_arg(image: ImageLike):
    if isinstance(image, np.ndarray):
        return np.ascontiguousarray(image)
    return os.fspath(image)


def analyze_faces(image: ImageLike, *, min_score: Optional[float] = None,
                  overlay: Optional[Union[str, "os.PathLike[str]"]] = None,
                  iris: bool = True) -> List[Face]:
    """Every face in ``image`` (path, or uint8 array HxW, HxWx3 or HxWx4),
    largest first. Raises :class:`InputError` when there is none. ``iris``
    adds both eyes' iris landmarks and the gaze (about 2 ms per face)."""
    faces = _native.analyze_face(_image_arg(image), None, min_score,
                                 None if overlay is None else os.fspath(overlay), bool(iris))
    return [_face(d) for d in faces]


def analyze_face(image: ImageLike, face_index: int = 0, *, min_score: Optional[float] = None,
                 overlay: Optional[Union[str, "os.PathLike[str]"]] = None, iris: bool = True) -> Face:
    """One face: the largest by default, or the ``face_index``-th largest."""
    if face_index < 0:
        raise _native.InputError("face_index must be 0 or more (0 = largest face)")
    faces = _native.analyze_face(_image_arg(image), int(face_index), min_score,
                                 None if overlay is None else os.fspath(overlay), bool(iris))
    return _face(faces[0])


def write_json(faces: List[Face], path, image_size: Tuple[int, int]) -> None:
    """Writes faces as JSON atomically (temporary file, then rename)."""
    data = {"image": {"width": image_size[0], "height": image_size[1]},
            "faces": [f.to_dict() for f in faces]}
    write_text_atomic(path, json.dumps(data))
