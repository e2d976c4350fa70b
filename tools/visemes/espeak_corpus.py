#!/usr/bin/env python3
"""Synthetic training data for the learned viseme recogniser (issue 4).

What: 16 kHz speech from libespeak-ng in many voices, variants, languages,
rates and pitches, with viseme labels at 50 Hz derived from espeak-ng's own
phoneme events (so the timings are exact, not aligned after the fact), plus
augmented copies (noise, reverb, EQ, speed, pitch, lossy codecs).

Why: no labelled viseme data exists offline. A small head on Whisper tiny.en
features, trained on this, is the project's learned viseme engine. Some
speaker configurations, including a variant and a language never used for
training, go only to a ``heldout`` split for measuring generalisation.

Usage::

    python tools/visemes/espeak_corpus.py --out /work/data/visemes --minutes 40 --seed 0

Augmentation lives in ``augmentation.py``, the phoneme -> viseme table in
``phonemes.py``, the texts in ``texts.py``; ``check_timing.py`` checks the
label timings. Output in ``--out`` (formats in ``docs/visemes.md``): ``train-NNN.npz`` and
``heldout-NNN.npz`` shards, ``utterances.jsonl`` (one line per stored
utterance) and ``manifest.json`` (configuration, speakers and their split,
totals). The output depends only on the arguments (not on ``--jobs``).

Dev-only: needs libespeak-ng, sox and ffmpeg on the machine, plus numpy and
scipy. Nothing in the shipped product uses this.
"""

import argparse
import collections
import ctypes
import json
import math
import os
import pickle
import shutil
import sys
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from scipy import signal

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phonemes  # noqa: E402
import texts  # noqa: E402
from augmentation import (AUGMENT_P, FRAME_MS, FRAME_SAMPLES, SAMPLE_RATE,  # noqa: E402
                          augment, fit_to_frames)

# --- libespeak-ng binding (speak_lib.h, espeak-ng 1.51) --------------------

AUDIO_OUTPUT_SYNCHRONOUS = 2
ESPEAK_INITIALIZE_PHONEME_EVENTS = 0x0001
ESPEAK_INITIALIZE_PHONEME_IPA = 0x0002
ESPEAK_CHARS_UTF8 = 1
EVENT_LIST_TERMINATED = 0
EVENT_PHONEME = 7
PARAM_RATE, PARAM_PITCH, PARAM_RANGE, PARAM_WORDGAP = 1, 3, 4, 7


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                ("string", ctypes.c_char * 8)]


class EspeakEvent(ctypes.Structure):
    """``espeak_EVENT``: 40 bytes on x86-64 (the pointer is 8-aligned)."""
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                                   ctypes.c_int, ctypes.POINTER(EspeakEvent))


def _load_library(library):
    lib = ctypes.CDLL(library)
    lib.espeak_ng_InitializePath.argtypes = [ctypes.c_char_p]
    lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
    lib.espeak_Info.restype = ctypes.c_char_p
    return lib


def system_data_dir(library="libespeak-ng.so.1"):
    """The installed ``espeak-ng-data`` directory, as the library finds it."""
    lib = _load_library(library)
    lib.espeak_ng_InitializePath(None)
    path = ctypes.c_char_p()
    lib.espeak_Info(ctypes.byref(path))
    return Path(path.value.decode())


def make_dry_data_dir(source, dest):
    """Copy ``espeak-ng-data`` to ``dest``, with the echo taken out of the
    voice variants (``echo`` lines in ``voices/!v``).

    espeak-ng fills the pause before a stop (its closure) with exact zeros,
    which is how ``attach_closures`` finds it; a variant's echo would fill
    it with a faint copy of earlier speech. The echo is at most -14 dB and
    mostly -28 dB, and the augmentation adds real reverberation anyway.
    """
    shutil.copytree(source, dest)
    for variant in Path(dest, "voices", "!v").iterdir():
        lines = variant.read_text(encoding="latin-1").splitlines(keepends=True)
        variant.write_text("".join(l for l in lines if not l.lstrip().startswith("echo")),
                           encoding="latin-1")
    return Path(dest)


class Espeak:
    """libespeak-ng in synchronous mode, reporting phoneme events.

    espeak-ng keeps state between syntheses (1.51's noise source is libc
    ``rand()``, and the same text comes out a few samples different on a
    second call), and ``espeak_Terminate`` followed by a new
    ``espeak_Initialize`` hangs. So the library is initialised once and
    every batch of syntheses runs in a forked child (``synthesize``): each
    starts from the same pristine state, which makes the corpus
    reproducible.
    """

    def __init__(self, data_dir=None, ipa=False, library="libespeak-ng.so.1"):
        """``ipa``: phoneme events carry IPA instead of mnemonics (for checks)."""
        lib = _load_library(library)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib = lib
        path = str(data_dir).encode() if data_dir else None
        options = ESPEAK_INITIALIZE_PHONEME_EVENTS | (ESPEAK_INITIALIZE_PHONEME_IPA if ipa else 0)
        self.sample_rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, path, options)
        if self.sample_rate <= 0:
            raise RuntimeError("espeak_Initialize failed")
        data_path = ctypes.c_char_p()
        self.version = lib.espeak_Info(ctypes.byref(data_path)).decode()
        self.data_dir = Path(data_path.value.decode())
        self.phoneme_types = phonemes.phontab_inventory(self.data_dir)
        self._callback = _SYNTH_CALLBACK(self._on_synth)  # keep a reference
        lib.espeak_SetSynthCallback(self._callback)
        self._chunks, self._events = [], []

    def _on_synth(self, wav, n_samples, events):
        i = 0
        while events[i].type != EVENT_LIST_TERMINATED:
            if events[i].type == EVENT_PHONEME:
                name = events[i].id.string.split(b"\0")[0].decode("utf-8", "replace")
                self._events.append((events[i].audio_position, name))
            i += 1
        if wav and n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        return 0

    def _synth_one(self, text, voice, rate, pitch, pitch_range, word_gap):
        """int16 audio and ``[(ms, mnemonic)]`` for one text (child only)."""
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"unknown espeak-ng voice {voice}")
        for param, value in ((PARAM_RATE, rate), (PARAM_PITCH, pitch),
                             (PARAM_RANGE, pitch_range), (PARAM_WORDGAP, word_gap)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode() + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, 1, 0, ESPEAK_CHARS_UTF8, None, None) != 0:
            raise RuntimeError(f"espeak_Synth failed on {text!r}")
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio, self._events

    def synthesize(self, requests):
        """Run ``[(text, voice, rate, pitch, range, word_gap), ...]`` in a
        forked child; returns ``[(int16 audio, events), ...]``."""
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: synthesise, send the results, never return
            status = 1
            try:
                os.close(read_fd)
                try:
                    result = ("ok", [self._synth_one(*r) for r in requests])
                except Exception as exc:  # report it to the parent
                    result = ("error", repr(exc))
                with os.fdopen(write_fd, "wb") as pipe:
                    pickle.dump(result, pipe)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            kind, payload = pickle.load(pipe)
        os.waitpid(pid, 0)
        if kind != "ok":
            raise RuntimeError(payload)
        return payload


# --- speaker configurations ------------------------------------------------

ENGLISH_VOICES = ("en-us", "en-gb-x-rp", "en", "en-029", "en-gb-scotland",
                  "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc")
TRAIN_LANGUAGES = ("de", "fr", "es", "it", "pt-br", "nl", "pl", "ru", "fi", "id")
# Variants that sound like a person (not robots, whispers or effects).
TRAIN_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m8", "f1", "f2", "f3", "f5",
    "klatt", "klatt2", "klatt3", "klatt5", "klatt6", "adam", "Alex", "Alicia",
    "Andrea", "Andy", "aunty", "belinda", "benjamin", "boris", "caleb", "david",
    "Denis", "Diogo", "ed", "edward", "Gene", "grandma", "grandpa", "gustave",
    "Henrique", "Hugo", "iven", "Jacky", "john", "Lee", "linda", "Marco",
    "Mario", "max", "Michael", "michel", "Mike", "miguel", "norbert", "pablo",
    "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph",
    "travis", "victor", "zac",
)
# Never used for training: 4 unseen variants, 1 unseen language (sv).
HELDOUT_SPEAKERS = (("en-us", "klatt4"), ("en-gb-x-rp", "f4"),
                    ("en-gb-scotland", "m7"), ("en-029", "Annie"),
                    ("de", "f4"), ("sv", "m3"))
ENGLISH_SHARE = 0.7  # of training utterances; the rest spread over TRAIN_LANGUAGES
RATE_WPM = (110, 260)
PITCH = (20, 85)
PITCH_RANGE = (20, 90)


def speaker_configs(seed):
    """Deterministic list of speaker configurations, each with its split."""
    rng = np.random.default_rng([seed, 1])
    configs = []

    def add(voice, variant, split):
        configs.append({
            "id": f"{split}{len(configs):03d}", "split": split, "voice": voice,
            "variant": variant, "table": phonemes.VOICE_TABLES[voice],
            "pitch": int(rng.integers(PITCH[0], PITCH[1] + 1)),
            "range": int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
        })

    for voices, n_variants in ((ENGLISH_VOICES, 5), (TRAIN_LANGUAGES, 2)):
        for voice in voices:
            add(voice, None, "train")
            for i in rng.choice(len(TRAIN_VARIANTS), n_variants, replace=False):
                add(voice, TRAIN_VARIANTS[i], "train")
    for voice, variant in HELDOUT_SPEAKERS:
        add(voice, variant, "heldout")
    return configs


def check_speakers(configs, data_dir):
    """Fail early on a missing variant (espeak-ng would silently use none),
    and check that held-out has an unseen variant and an unseen language."""
    for c in configs:
        if c["variant"] and not Path(data_dir, "voices", "!v", c["variant"]).is_file():
            raise SystemExit(f"espeak-ng variant {c['variant']} not installed")
    train = {c["variant"] for c in configs if c["split"] == "train"}
    train_langs = {c["voice"] for c in configs if c["split"] == "train"}
    held = [c for c in configs if c["split"] == "heldout"]
    assert any(c["variant"] not in train for c in held)
    assert any(c["voice"] not in train_langs for c in held)


def voice_name(config):
    return config["voice"] + (f"+{config['variant']}" if config["variant"] else "")


# --- one utterance: synthesis and labels -----------------------------------

def pick_speaker(configs, split, rng):
    """Training: 70% English speakers, the rest over the other languages."""
    pool = [c for c in configs if c["split"] == split]
    if split == "train":
        english = rng.random() < ENGLISH_SHARE
        pool = [c for c in pool if (c["voice"] in ENGLISH_VOICES) == english]
    return pool[int(rng.integers(len(pool)))]


def phrase_text(config, rng):
    lang = config["voice"]
    return (texts.english_phrase(rng) if lang in ENGLISH_VOICES
            else texts.foreign_phrase(lang, rng))


def utterance_plan(config, rng):
    """Phrases, pauses (ms) and speaking parameters for one utterance."""
    n = int(rng.integers(1, 4))
    return {
        "phrases": [phrase_text(config, rng) for _ in range(n)],
        # leading silence, the pauses between phrases, trailing silence
        "pauses_ms": [int(rng.uniform(50, 600))]
        + [int(math.exp(rng.uniform(math.log(40), math.log(1500)))) for _ in range(n - 1)]
        + [int(rng.uniform(150, 800))],
        "rate": int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)),
        "word_gap": int(rng.integers(1, 6)) if rng.random() < 0.1 else 0,
    }


def is_pause(name, table):
    return phonemes.lookup(name, table) == ("sil",)


def attach_closures(audio, events, sample_rate, table, min_ms=2.0, reach_ms=5.0):
    """Give the silent gap before a phoneme to that phoneme.

    espeak-ng emits a phoneme's "prepause" (the 25-60 ms closure of a stop,
    shorter gaps before some fricatives, nasals and liquids) as exact zeros
    *before* it reports the phoneme, so the raw events put a closure into
    the previous phoneme. The mouth is already in the stop's shape then
    (closed lips for p, b), so the last run of at least ``min_ms`` of zeros
    in the previous phoneme moves the event back to the run's start, if the
    run ends less than ``reach_ms`` before the event (a stop's burst can
    start a little early, with scattered zero samples). The same rule gives
    the silent end of a phrase's last sound to the pause after it. Gaps
    after pauses stay silence; a previous phoneme that is silent from its
    start keeps its time.
    """
    silent = (audio == 0).astype(np.int8)
    per_ms = sample_rate / 1000
    out = list(events)
    for i in range(1, len(events)):
        (prev_ms, prev_name), (ms, name) = out[i - 1], events[i]
        if is_pause(prev_name, table) or name.startswith("("):
            continue
        lo, event = int(prev_ms * per_ms), int(round(ms * per_ms))
        edges = np.diff(np.concatenate([[0], silent[lo:event + int(per_ms) + 1], [0]]))
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long = ends - starts >= min_ms * per_ms
        if not long.any():
            continue
        start, end = lo + starts[long][-1], lo + ends[long][-1]
        if lo < start < event and end >= event - reach_ms * per_ms:
            out[i] = (start / per_ms, name)
    return out


# espeak-ng's shortest vowel start: one cycle at 70 Hz (DoSpect2's length_min).
VOWEL_START_MS = 1000 / 70


def advance_vowel_starts(events, types):
    """Move a vowel that follows a liquid or nasal back by its start.

    For such vowels espeak-ng reports the event only after synthesising the
    vowel's start (the formant transition out of the consonant, at least
    ``VOWEL_START_MS``), so the raw event is late by that much. It moves
    back by ``VOWEL_START_MS``, at most half the consonant.
    """
    out = list(events)
    for i in range(1, len(events)):
        (prev_ms, prev_name), (ms, name) = events[i - 1], events[i]
        if types.get(name) == 2 and types.get(prev_name) in (3, 8):  # vowel after liquid/nasal
            out[i] = (max(ms - VOWEL_START_MS, (prev_ms + ms) / 2), name)
    return out


def phrase_events(espeak, audio, events, table):
    """Raw events of one synthesis -> corrected events tiling its audio from 0."""
    dur_ms = 1000 * len(audio) / espeak.sample_rate
    events = [(min(t, dur_ms), name) for t, name in events]
    if not events or events[0][0] > 0:  # audio before the first phoneme
        events.insert(0, (0, "_"))
    events = attach_closures(audio, events, espeak.sample_rate, table)
    return advance_vowel_starts(events, espeak.phoneme_types[table])


def synthesize_plan(espeak, config, plan):
    """Audio at espeak's rate, phoneme-level viseme segments, unknown counts."""
    sr = espeak.sample_rate
    requests = [(text, voice_name(config), plan["rate"], config["pitch"],
                 config["range"], plan["word_gap"]) for text in plan["phrases"]]
    pieces, segments, unknown = [], [], collections.Counter()
    t_samples = 0

    def add_silence(ms):
        nonlocal t_samples
        n = int(round(ms * sr / 1000))
        pieces.append(np.zeros(n, np.int16))
        segments.append((1000 * t_samples / sr, 1000 * (t_samples + n) / sr, 0))
        t_samples += n

    add_silence(plan["pauses_ms"][0])
    for (audio, events), pause in zip(espeak.synthesize(requests), plan["pauses_ms"][1:]):
        start_ms, dur_ms = 1000 * t_samples / sr, 1000 * len(audio) / sr
        events = phrase_events(espeak, audio, events, config["table"])
        phrase_segments, phrase_unknown = phonemes.viseme_segments(events, dur_ms, config["table"])
        segments += [(start_ms + a, start_ms + b, v) for a, b, v in phrase_segments]
        unknown += phrase_unknown
        pieces.append(audio)
        t_samples += len(audio)
        add_silence(pause)
    return np.concatenate(pieces), segments, unknown


CLEAN_GAIN = 0.5  # -6 dB: espeak-ng peaks near full scale, resampling overshoots


def to_16k(audio_int16, rate):
    """espeak-ng's int16 at ``rate`` -> float64 at 16 kHz, scaled by CLEAN_GAIN."""
    g = math.gcd(SAMPLE_RATE, rate)
    return signal.resample_poly(audio_int16.astype(np.float64) * (CLEAN_GAIN / 32768.0),
                                SAMPLE_RATE // g, rate // g)


# --- worker ---------------------------------------------------------------

# Set in the main process before the worker pool forks, so every worker
# inherits the initialised (never used) espeak-ng.
_WORKER = {}


def _babble(split, n, rng):
    """3-6 other speakers of the same split talking at once."""
    espeak, configs = _WORKER["espeak"], _WORKER["configs"]
    talkers = [pick_speaker(configs, split, rng) for _ in range(int(rng.integers(3, 7)))]
    requests = [(" ".join(phrase_text(c, rng) for _ in range(3)), voice_name(c),
                 int(rng.integers(*RATE_WPM)), c["pitch"], c["range"], 0) for c in talkers]
    mix = np.zeros(n)
    for audio, _ in espeak.synthesize(requests):
        voice = to_16k(audio, espeak.sample_rate)
        voice = np.tile(voice, math.ceil(n / max(len(voice), 1)) + 1)
        start = int(rng.integers(0, len(voice) - n + 1))
        mix += voice[start:start + n] / (np.std(voice) + 1e-9)
    return mix


def _record(uid, source, audio, segments, meta, aug):
    hard, soft = phonemes.frame_labels(segments, len(audio) // FRAME_SAMPLES, FRAME_MS)
    return {"id": uid, "source": source, "audio": audio.astype(np.float32), "labels": hard,
            "soft_labels": soft, "segments": np.array(segments, np.float32).reshape(-1, 3),
            "meta": {**meta, "augment": aug}}


def make_utterance(task):
    """One planned utterance -> its clean copy and one augmented copy."""
    seed, split, index = task
    espeak, configs = _WORKER["espeak"], _WORKER["configs"]
    rng = np.random.default_rng([seed, {"train": 2, "heldout": 3}[split], index])
    config = pick_speaker(configs, split, rng)
    plan = utterance_plan(config, rng)
    audio, segments, unknown = synthesize_plan(espeak, config, plan)
    if unknown:
        return {"unknown": unknown, "records": [], "clean_s": 0.0}
    x, segments, _ = fit_to_frames(to_16k(audio, espeak.sample_rate), segments)
    uid = f"{split}-{index:06d}"
    meta = {"split": split, "speaker": config["id"], "voice": config["voice"],
            "variant": config["variant"], "table": config["table"], "pitch": config["pitch"],
            "range": config["range"], **plan}
    clean = _record(uid, uid, x, segments, meta, None)
    y, aug_segments, params = augment(x, segments, rng, lambda n, r: _babble(split, n, r))
    augmented = _record(uid + "a", uid, y, aug_segments, meta, params)
    return {"unknown": unknown, "records": [clean, augmented], "clean_s": len(x) / SAMPLE_RATE}


# --- output ---------------------------------------------------------------

class ShardWriter:
    """Packs records into ``{split}-NNN.npz`` shards of about ``minutes``."""

    def __init__(self, out_dir, split, minutes, index_file):
        self.out_dir, self.split = out_dir, split
        self.max_samples = int(minutes * 60 * SAMPLE_RATE)
        self.index_file = index_file
        self.records, self.samples, self.shards = [], 0, []

    def add(self, record):
        self.records.append(record)
        self.samples += len(record["audio"])
        if self.samples >= self.max_samples:
            self.flush()

    def flush(self):
        if not self.records:
            return
        name = f"{self.split}-{len(self.shards):03d}.npz"
        recs = self.records

        def offsets(key):
            return np.concatenate([[0], np.cumsum([len(r[key]) for r in recs])]).astype(np.int64)

        np.savez(self.out_dir / name,
                 ids=np.array([r["id"] for r in recs]),
                 audio=np.concatenate([r["audio"] for r in recs]), audio_offsets=offsets("audio"),
                 labels=np.concatenate([r["labels"] for r in recs]),
                 soft_labels=np.concatenate([r["soft_labels"] for r in recs]),
                 frame_offsets=offsets("labels"),
                 segments=np.concatenate([r["segments"] for r in recs]),
                 segment_offsets=offsets("segments"))
        for i, r in enumerate(recs):
            line = {"id": r["id"], "source": r["source"], "shard": name, "index": i,
                    "seconds": len(r["audio"]) / SAMPLE_RATE, "frames": len(r["labels"]), **r["meta"]}
            self.index_file.write(json.dumps(line, ensure_ascii=False) + "\n")
        self.shards.append(name)
        self.records, self.samples = [], 0


def generate_split(pool, args, split, target_minutes, writer, totals):
    """Make utterances in index order until the clean audio reaches the target."""
    clean_s, index, batch = 0.0, 0, 8 * args.jobs
    while clean_s < target_minutes * 60:
        tasks = [(args.seed, split, i) for i in range(index, index + batch)]
        index += batch
        for result in pool.imap(make_utterance, tasks):
            if clean_s >= target_minutes * 60:
                break
            if result["unknown"]:
                totals["rejected_utterances"] += 1
                totals["unknown_phonemes"].update(f"{t}:{m}" for (t, m) in result["unknown"].elements())
                continue
            clean_s += result["clean_s"]
            for r in result["records"]:
                kind = "clean" if r["meta"]["augment"] is None else "augmented"
                totals["seconds"][split][kind] += len(r["audio"]) / SAMPLE_RATE
                totals["frames"][split] += np.bincount(r["labels"], minlength=len(phonemes.VISEMES))
                for effect, p in (r["meta"]["augment"] or {}).items():
                    totals["augmentations"][effect + (f":{p['kind']}" if "kind" in p else "")] += 1
                writer.add(r)
    writer.flush()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("/work/data/visemes"))
    ap.add_argument("--minutes", type=float, default=40.0,
                    help="clean training minutes; an augmented copy of each doubles it")
    ap.add_argument("--heldout-minutes", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (output does not depend on it)")
    ap.add_argument("--shard-minutes", type=float, default=20.0)
    args = ap.parse_args(argv)

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        espeak = Espeak(make_dry_data_dir(system_data_dir(), Path(tmp, "espeak-ng-data")))
        manifest = generate(args, espeak)
    print(json.dumps({"minutes": manifest["minutes"], "unknown_phonemes": manifest["unknown_phonemes"],
                      "rejected_utterances": manifest["rejected_utterances"]}, indent=1))
    print(f"wall time {time.time() - t0:.0f} s")


def generate(args, espeak):
    """Write the shards, utterances.jsonl and manifest.json; return the manifest."""
    configs = speaker_configs(args.seed)
    check_speakers(configs, espeak.data_dir)
    missing = {t: m for t, m in phonemes.unmapped(espeak.data_dir).items() if m}
    if missing:
        raise SystemExit(f"phoneme table incomplete for this espeak-ng: {missing}")
    args.out.mkdir(parents=True, exist_ok=True)
    for old in [*args.out.glob("*-[0-9][0-9][0-9].npz"), *args.out.glob("manifest.json")]:
        old.unlink()  # the manifest is written last: no manifest = no complete corpus
    totals = {"seconds": {s: collections.Counter() for s in ("train", "heldout")},
              "frames": {s: np.zeros(len(phonemes.VISEMES), np.int64) for s in ("train", "heldout")},
              "augmentations": collections.Counter(), "unknown_phonemes": collections.Counter(),
              "rejected_utterances": 0}
    shards = {}
    _WORKER.update(espeak=espeak, configs=configs)
    pool = get_context("fork").Pool(args.jobs)
    with open(args.out / "utterances.jsonl", "w", encoding="utf-8") as index_file:
        for split, minutes in (("train", args.minutes), ("heldout", args.heldout_minutes)):
            writer = ShardWriter(args.out, split, args.shard_minutes, index_file)
            generate_split(pool, args, split, minutes, writer, totals)
            shards[split] = writer.shards
    pool.close()  # not terminate(): a worker killed mid-fork would orphan its child
    pool.join()
    manifest = build_manifest(args, espeak, configs, totals, shards)
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def build_manifest(args, espeak, configs, totals, shards):
    frames = {s: dict(zip(phonemes.VISEMES, totals["frames"][s].tolist())) for s in totals["frames"]}
    return {
        "generator": "tools/visemes/espeak_corpus.py",
        "args": {"minutes": args.minutes, "heldout_minutes": args.heldout_minutes,
                 "seed": args.seed, "shard_minutes": args.shard_minutes},
        "espeak_ng": espeak.version,
        "sample_rate": SAMPLE_RATE, "frame_ms": FRAME_MS, "visemes": list(phonemes.VISEMES),
        "label_rule": "frame i covers [20i, 20i+20) ms; labels = viseme at 20i+10 ms; "
                      "soft_labels = overlap fraction of each viseme",
        "shards": shards,
        "minutes": {s: {k: round(v / 60, 2) for k, v in totals["seconds"][s].items()}
                    for s in totals["seconds"]},
        "viseme_frames": frames,
        "unknown_phonemes": dict(totals["unknown_phonemes"]),
        "rejected_utterances": totals["rejected_utterances"],
        "augmentation_counts": dict(sorted(totals["augmentations"].items())),
        "augment_probabilities": AUGMENT_P,
        "train_variants": sorted({c["variant"] for c in configs if c["split"] == "train"} - {None}),
        "heldout_only": {
            "variants": sorted({c["variant"] for c in configs if c["split"] == "heldout"}
                               - {c["variant"] for c in configs if c["split"] == "train"}),
            "languages": sorted({c["voice"] for c in configs if c["split"] == "heldout"}
                                - {c["voice"] for c in configs if c["split"] == "train"}),
        },
        "speakers": configs,
    }


if __name__ == "__main__":
    main()
