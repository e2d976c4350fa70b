"""Shared definitions for the real-speech viseme evaluation.

Everything that maps one label set onto another lives here, in one place:

* ``VISEMES``: the 15 Oculus/Meta visemes in index order.
* ``ARPABET_TO_VISEMES``: CMU ARPAbet phone (as used by the pocketsphinx
  en-us model, no stress marks) -> one viseme, or two for diphthongs (the
  phone's duration is split into two halves, first half gets the extra
  10 ms frame when odd).
* ``VISEME_TO_RHUBARB``: viseme -> Rhubarb Lip Sync mouth shape (A-H, X).
* ``RHUBARB_TO_VISEME``: Rhubarb shape -> one representative viseme, used
  only to give Rhubarb a 15-class score (see the comment there).

and the audio loader used by both the ground-truth builder and the
evaluator (16 kHz mono float32 in [-1, 1]).

Frames: the evaluation runs at 50 Hz.  Frame ``i`` covers
``[20 i, 20 i + 20)`` ms and carries the label of the phone that covers its
centre, ``20 i + 10`` ms.  A clip of ``n`` samples at 16 kHz has
``n_frames(n)`` frames: every frame whose centre lies inside the audio.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from math import gcd

import numpy as np

SAMPLE_RATE = 16000
FRAME_MS = 20
FPS = 1000 // FRAME_MS  # 50
SAMPLES_PER_FRAME = SAMPLE_RATE * FRAME_MS // 1000  # 320

VISEMES = ["sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
           "aa", "E", "ih", "oh", "ou"]
VISEME_INDEX = {v: i for i, v in enumerate(VISEMES)}
PP = VISEME_INDEX["PP"]
SIL = VISEME_INDEX["sil"]

# ---------------------------------------------------------------------------
# ARPAbet (pocketsphinx en-us phone set, 39 phones + SIL + fillers) -> viseme.
#
# Consonants follow the Oculus reference (PP p b m; FF f v; TH th dh; DD t d;
# kk k g; CH ch jh sh zh; SS s z; nn n l; RR r).  Where the reference leaves
# a choice open, this table makes the same choice as the espeak-ng training
# table (tools/visemes/phonemes.py), so that the ground truth and the
# training labels use one definition:
#   NG -> nn   (espeak "N" -> nn).
#   HH -> the viseme of the next speech phone, or of the previous one when a
#         pause follows (espeak "h" -> ctx).  h has no articulation of its
#         own.  Resolved in ``resolve_context``; "HH" maps to "<ctx>".
#   AH -> E    pocketsphinx's phone set has no stress, so AH is both the
#         schwa (espeak "@" -> E) and the strut vowel (espeak "V" -> aa);
#         unstressed schwa is by far the more frequent, so AH -> E.  Strut
#         tokens ("cup", "love") are therefore labelled E here, aa in training.
#   W  -> ou   rounded, protruded lips.
#   Y  -> ih   spread, nearly closed (the palatal glide is a short i).
#   ER -> RR   the r-coloured vowel has the r lip shape (espeak en-us "3").
# Vowels: AA AE -> aa (open jaw), EH -> E, IH IY -> ih, AO -> oh,
#   UH UW -> ou.
# Diphthongs are split into two halves:
#   AY -> aa ih, AW -> aa ou, EY -> E ih, OW -> oh ou, OY -> oh ih.
# SIL and every filler/noise phone (+NSN+, +SPN+, +BREATH+, ...) -> sil.
# ---------------------------------------------------------------------------
ARPABET_TO_VISEMES: dict[str, tuple[str, ...]] = {
    # silence
    "SIL": ("sil",),
    # bilabials
    "P": ("PP",), "B": ("PP",), "M": ("PP",),
    # labiodentals
    "F": ("FF",), "V": ("FF",),
    # dentals
    "TH": ("TH",), "DH": ("TH",),
    # alveolar stops
    "T": ("DD",), "D": ("DD",),
    # velars
    "K": ("kk",), "G": ("kk",),
    # post-alveolars
    "CH": ("CH",), "JH": ("CH",), "SH": ("CH",), "ZH": ("CH",),
    # sibilants
    "S": ("SS",), "Z": ("SS",),
    # alveolar nasal / lateral
    "N": ("nn",), "L": ("nn",), "NG": ("nn",),
    # rhotics
    "R": ("RR",), "ER": ("RR",),
    # glides
    "W": ("ou",), "Y": ("ih",),
    # h: takes the next speech phone's viseme (the previous one before a pause)
    "HH": ("<ctx>",),
    # monophthongs
    "AA": ("aa",), "AE": ("aa",),
    "EH": ("E",), "AH": ("E",),
    "IH": ("ih",), "IY": ("ih",),
    "AO": ("oh",),
    "UH": ("ou",), "UW": ("ou",),
    # diphthongs (two halves)
    "AY": ("aa", "ih"), "AW": ("aa", "ou"), "EY": ("E", "ih"),
    "OW": ("oh", "ou"), "OY": ("oh", "ih"),
}


CONTEXT = "<ctx>"


def resolve_context(per_phone: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Replace each ``<ctx>`` entry by the first viseme of the next speech
    phone, or, when silence or the end follows, the last viseme of the
    previous speech phone (sil if there is none)."""
    out = list(per_phone)
    for k, vis in enumerate(per_phone):
        if vis != (CONTEXT,):
            continue
        nxt = per_phone[k + 1] if k + 1 < len(per_phone) else ("sil",)
        if nxt not in ((CONTEXT,), ("sil",)):
            out[k] = (nxt[0],)
            continue
        prev = [p for p in out[:k] if p != (CONTEXT,)]
        out[k] = (prev[-1][-1],) if prev and prev[-1] != ("sil",) else ("sil",)
    return out


def arpabet_visemes(phone: str) -> tuple[str, ...]:
    """Visemes for one pocketsphinx phone; fillers like ``+NSN+`` are sil."""
    p = phone.upper()
    if p.startswith("+") or p.startswith("<") or p in ("SIL", "SP", ""):
        return ("sil",)
    p = p.rstrip("012")  # tolerate stress marks
    if p not in ARPABET_TO_VISEMES:
        raise KeyError(f"no viseme for phone {phone!r}")
    return ARPABET_TO_VISEMES[p]


# ---------------------------------------------------------------------------
# Viseme -> Rhubarb shape.  Rhubarb's shapes: A closed (P B M), B slightly
# open/clenched (most consonants, EE), C open (EH, AE), D wide open (AA),
# E slightly rounded (AO, ER), F puckered (UW, OW, W), G f/v, H long L,
# X idle/rest.  Rhubarb's H (the "L" shape) is counted as B when comparing,
# because our nn (n, l) maps to B.
# ---------------------------------------------------------------------------
VISEME_TO_RHUBARB = {
    "sil": "X", "PP": "A", "FF": "G", "TH": "B", "DD": "B", "kk": "B",
    "CH": "B", "SS": "B", "nn": "B", "RR": "E", "aa": "D", "E": "C",
    "ih": "B", "oh": "E", "ou": "F",
}
RHUBARB_SHAPES = ["X", "A", "B", "C", "D", "E", "F", "G"]  # H folded into B
RHUBARB_FOLD = {"H": "B"}

# Rhubarb shape -> one representative viseme, only so that Rhubarb can be
# scored on the 15-class task.  Chosen a priori, not from the test data:
# each shape goes to the viseme whose phones it is drawn for; B (which
# covers TH DD kk CH SS nn ih) goes to nn (n and l are the most frequent
# English consonants among B's members), and H (Rhubarb's "L" shape) to nn
# as well.  The 15-class Rhubarb score is therefore a lower bound of what
# a B-aware scorer would give; the shape-level comparison is the fair one.
RHUBARB_TO_VISEME = {
    "X": "sil", "A": "PP", "B": "nn", "C": "E", "D": "aa", "E": "oh",
    "F": "ou", "G": "FF", "H": "nn",
}


def fold_rhubarb(shape: str) -> str:
    return RHUBARB_FOLD.get(shape, shape)


def visemes_to_shapes(labels: np.ndarray) -> np.ndarray:
    """int viseme labels -> array of Rhubarb shape letters (H never occurs)."""
    table = np.array([VISEME_TO_RHUBARB[v] for v in VISEMES])
    return table[np.asarray(labels, dtype=int)]


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------
def n_frames(n_samples: int) -> int:
    """Number of 50 Hz frames whose centre (20 i + 10 ms) is inside the clip."""
    half = SAMPLES_PER_FRAME // 2
    if n_samples <= half:
        return 0
    return (n_samples - half - 1) // SAMPLES_PER_FRAME + 1


def segments_to_frames(segments, n: int) -> np.ndarray:
    """[(start_s, end_s, viseme_name), ...] -> n int labels (centre rule).

    Frames not covered by any segment are sil.
    """
    out = np.full(n, SIL, dtype=np.int64)
    centres = (np.arange(n) * FRAME_MS + FRAME_MS / 2) / 1000.0
    for start, end, vis in segments:
        m = (centres >= start - 1e-9) & (centres < end - 1e-9)
        out[m] = VISEME_INDEX[vis] if isinstance(vis, str) else int(vis)
    return out


def shape_cues_to_frames(cues, n: int) -> np.ndarray:
    """Rhubarb mouthCues [{start,end,value}] -> n shape letters (H folded)."""
    out = np.full(n, "X", dtype="<U1")
    centres = (np.arange(n) * FRAME_MS + FRAME_MS / 2) / 1000.0
    for c in cues:
        m = (centres >= c["start"] - 1e-9) & (centres < c["end"] - 1e-9)
        out[m] = fold_rhubarb(c["value"])
    return out


# ---------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------
def _resample(x: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return x
    from scipy.signal import resample_poly
    g = gcd(sr, SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, sr // g).astype(np.float32)


def _ffmpeg_decode(path: str, fmt: str | None) -> np.ndarray:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise FileNotFoundError(f"ffmpeg is needed to decode {path}")
    cmd = [exe, "-v", "error"]
    if fmt:
        cmd += ["-f", fmt]
    cmd += ["-i", path, "-ac", "1", "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def load_audio(path: str) -> np.ndarray:
    """Load a clip as 16 kHz mono float32 in [-1, 1].

    ``.raw`` files are headerless 16 kHz s16le (the pocketsphinx test data);
    ``.wav`` is read with scipy and resampled with a polyphase filter;
    ``.g722`` (Asterisk prompts, 16 kHz wideband) is decoded with ffmpeg.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".raw":
        x = np.fromfile(path, dtype="<i2").astype(np.float32) / 32768.0
        return x
    if ext == ".g722":
        return _ffmpeg_decode(path, "g722")
    if ext == ".wav":
        from scipy.io import wavfile
        sr, x = wavfile.read(path)
        if x.ndim > 1:
            x = x.mean(axis=1)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        elif x.dtype == np.int32:
            x = x.astype(np.float32) / 2147483648.0
        elif x.dtype == np.uint8:
            x = (x.astype(np.float32) - 128.0) / 128.0
        else:
            x = x.astype(np.float32)
        return _resample(x, int(sr))
    return _ffmpeg_decode(path, None)


def to_int16_bytes(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 32767 / 32768) * 32768.0).round().astype("<i2").tobytes()


def write_wav16(path: str, x: np.ndarray) -> None:
    from scipy.io import wavfile
    wavfile.write(path, SAMPLE_RATE,
                  (np.clip(x, -1.0, 32767 / 32768) * 32768.0).round().astype(np.int16))
