"""Predictor for eval_visemes.py: the model-free energy engine.

``voxportrait._native.viseme_posteriors_energy`` (Rust,
``core::motion::energy``) on 16 kHz mono float32, giving ``[T, 15]``
posteriors at 50 Hz (frame i = [20 i, 20 i + 20) ms).

    python tools/eval/eval_visemes.py \\
        --predictor tools/eval/predict_energy_engine.py:predict --json report.json

Needs the package built into the environment (``maturin develop --release``).
"""

from __future__ import annotations

import os
import sys

import numpy as np

SAMPLE_RATE = 16000


def _native():
    """The extension module, from the installed package or, for a dev
    interpreter without it, from the in-tree build (``python/voxportrait``)."""
    try:
        from voxportrait import _native as native
    except ImportError:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        sys.path.insert(0, os.path.join(root, "python"))
        from voxportrait import _native as native
    return native


def predict(samples: np.ndarray) -> np.ndarray:
    """[T, 15] float32 viseme posteriors of 16 kHz mono ``samples``."""
    x = np.ascontiguousarray(samples, dtype=np.float32)
    return _native().viseme_posteriors_energy(x, SAMPLE_RATE)
