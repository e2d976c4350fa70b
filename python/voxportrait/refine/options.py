"""Refinement options: plain data, importable without torch."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

#: Samplers the refinement loop implements (k-diffusion formulations).
SAMPLERS = ("euler", "euler_ancestral", "heun", "dpmpp_2m")
#: Sigma schedules over the host model's own discrete noise levels.
SCHEDULERS = ("karras", "normal")
#: What is repainted: the renderer's mouth mask, its face mask, or the whole frame.
REGIONS = ("mouth", "face", "full")


class RefineError(ValueError):
    """A refinement setting or input that cannot work, with what to do instead.

    ``field`` names the :class:`RefineOptions` field at fault, when one is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class RefineOptions:
    """How the host's SD1.5 UNet repaints rendered frames.

    ``strength`` is the img2img denoise: 0 returns the frames untouched, 1
    repaints from pure noise. ``steps`` is the length of the full schedule;
    ``round(steps * strength)`` of them run (A1111's img2img convention).
    ``reference_fidelity`` and ``cross_frame_weight`` scale how much every
    self-attention layer attends to the reference portrait's tokens and to
    the first and previous frames' tokens (0 turns that source off, 1 weighs
    a token as much as the frame's own, more leans harder on it).
    """

    strength: float = 0.3
    steps: int = 20
    sampler: str = "euler"
    scheduler: str = "karras"
    cfg: float = 1.0
    reference_fidelity: float = 1.0
    cross_frame_weight: float = 1.0
    region: str = "mouth"
    seed: int = 0
    frames_per_batch: int = 4
    #: Inward feather of the composite mask, in pixels at the frame's size.
    feather: int = 8
    #: Refine only a box around the mask (stable across a batch), not the whole frame.
    crop_to_mask: bool = True
    #: The refined region is scaled so its longer side is this many pixels
    #: (SD1.5 works best near 512), then scaled back.
    work_size: int = 512

    def validate(self) -> "RefineOptions":
        """Returns self, or raises RefineError naming the bad setting."""
        def bad(field, msg):
            raise RefineError(msg, field)

        if not (isinstance(self.strength, (int, float)) and math.isfinite(self.strength) and 0.0 <= self.strength <= 1.0):
            bad("strength", f"refine strength must be between 0 and 1, got {self.strength!r}")
        if not (isinstance(self.steps, int) and 1 <= self.steps <= 200):
            bad("steps", f"refine steps must be an integer from 1 to 200, got {self.steps!r}")
        if self.sampler not in SAMPLERS:
            bad("sampler", f"unknown refine sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        if self.scheduler not in SCHEDULERS:
            bad("scheduler", f"unknown refine scheduler {self.scheduler!r}; choose one of {', '.join(SCHEDULERS)}")
        if self.region not in REGIONS:
            bad("region", f"unknown refine region {self.region!r}; choose one of {', '.join(REGIONS)}")
        for name in ("cfg", "reference_fidelity", "cross_frame_weight"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and 0.0 <= v <= 30.0):
                bad(name, f"refine {name.replace('_', ' ')} must be between 0 and 30, got {v!r}")
        if not (isinstance(self.frames_per_batch, int) and 1 <= self.frames_per_batch <= 64):
            bad("frames_per_batch", f"refine frames per batch must be from 1 to 64, got {self.frames_per_batch!r}")
        if not (isinstance(self.feather, int) and 0 <= self.feather <= 128):
            bad("feather", f"refine feather must be from 0 to 128 pixels, got {self.feather!r}")
        if not (isinstance(self.work_size, int) and 64 <= self.work_size <= 2048):
            bad("work_size", f"refine work size must be from 64 to 2048 pixels, got {self.work_size!r}")
        if not (isinstance(self.seed, int) and 0 <= self.seed < 2**64):
            bad("seed", f"refine seed must be a non-negative 64-bit integer, got {self.seed!r}")
        return self

    @property
    def active_steps(self) -> int:
        """How many sampler steps actually run (0 when strength is 0)."""
        if self.strength <= 0.0:
            return 0
        return max(1, int(round(self.steps * self.strength)))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RefineOptions":
        """Builds options from a dict, refusing unknown keys (typos)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RefineError(f"unknown refine option(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**d).validate()


class RefineInterrupted(RuntimeError):
    """The user pressed Interrupt/Cancel during refinement (WebUI hosts)."""
