#!/usr/bin/env python3
"""Checks the phoneme timings behind the viseme corpus (``espeak_corpus.py``).

Two independent checks, printed as a report:

1. **Energy.** espeak-ng writes pauses as exact zeros, so every
   pause -> speech boundary in the labels should sit where the sound starts,
   and every speech -> pause boundary where it stops. For utterances made by
   the corpus pipeline itself (same voices, rates, 16 kHz resampling), this
   measures label boundary minus energy boundary (sound above -50 dBFS in
   1 ms windows).
2. **Forced alignment.** pocketsphinx (PyPI ``pocketsphinx``, US English
   acoustic model) aligns the same audio to its transcript. Phones of both
   are reduced to broad classes (vowel, stop, fricative, nasal, liquid),
   the two sequences are aligned by edit distance, and for each matched
   phone the onset difference (espeak - pocketsphinx) is reported per class,
   raw and as the corpus uses them (``phrase_events``: closures and vowel
   starts corrected). Frame agreement of the visemes
   (pocketsphinx phones mapped by ``ARPABET``) is reported too.

Usage: ``python tools/visemes/check_timing.py [--utterances 60]``.
Dev-only (needs pocketsphinx in the environment).
"""

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import espeak_corpus as ec  # noqa: E402
import phonemes  # noqa: E402
import texts  # noqa: E402

# CMU/ARPAbet phones (pocketsphinx) -> Oculus visemes, like the espeak table.
ARPABET = {
    "AA": ("aa",), "AE": ("aa",), "AH": ("aa",), "AO": ("oh",), "AW": ("aa", "ou"),
    "AY": ("aa", "ih"), "EH": ("E",), "ER": ("RR",), "EY": ("E", "ih"), "IH": ("ih",),
    "IY": ("ih",), "OW": ("oh", "ou"), "OY": ("oh", "ih"), "UH": ("ou",), "UW": ("ou",),
    "B": ("PP",), "P": ("PP",), "M": ("PP",), "F": ("FF",), "V": ("FF",),
    "TH": ("TH",), "DH": ("TH",), "T": ("DD",), "D": ("DD",), "K": ("kk",), "G": ("kk",),
    "CH": ("CH",), "JH": ("CH",), "SH": ("CH",), "ZH": ("CH",), "S": ("SS",), "Z": ("SS",),
    "N": ("nn",), "L": ("nn",), "NG": ("nn",), "R": ("RR",), "W": ("ou",), "Y": ("ih",),
    "HH": (phonemes.CONTEXT,), "SIL": ("sil",),
}
ARPABET_CLASS = {**{p: "vowel" for p in ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY",
                                         "IH", "IY", "OW", "OY", "UH", "UW")},
                 **{p: "stop" for p in ("B", "P", "T", "D", "K", "G", "CH", "JH")},
                 **{p: "fricative" for p in ("F", "V", "TH", "DH", "S", "Z", "SH", "ZH", "HH")},
                 **{p: "nasal" for p in ("M", "N", "NG")},
                 **{p: "liquid" for p in ("L", "R", "W", "Y")}, "SIL": "pause"}
# espeak-ng phoneme types (phontab) -> the same classes.
ESPEAK_CLASS = {0: "pause", 2: "vowel", 3: "liquid", 4: "stop", 5: "stop",
                6: "fricative", 7: "fricative", 8: "nasal"}
PS_VOICES = ("en-us", "en-us+m3", "en-us+f2", "en-us+klatt", "en-us+Andy", "en-us-nyc")


def energy_boundaries(x, threshold_db=-50.0):
    """Onsets and offsets (ms) of sound in 1 ms windows of 16 kHz audio."""
    win = ec.SAMPLE_RATE // 1000
    rms = np.sqrt(np.mean(x[: len(x) // win * win].reshape(-1, win) ** 2, axis=1))
    loud = np.concatenate([[False], rms > 10 ** (threshold_db / 20), [False]])
    edges = np.flatnonzero(np.diff(loud.astype(int)))
    return edges[0::2].astype(float), edges[1::2].astype(float)


def energy_check(espeak, configs, n, seed):
    """Label pause<->speech boundaries minus the nearest energy boundary (ms)."""
    rng = np.random.default_rng([seed, 7])
    diffs = {"onset": [], "offset": []}
    for _ in range(n):
        config = configs[int(rng.integers(len(configs)))]
        audio, segments, _ = ec.synthesize_plan(espeak, config, ec.utterance_plan(config, rng))
        x = ec.to_16k(audio, espeak.sample_rate)
        onsets, offsets = energy_boundaries(x)
        segments = [s for s in segments if s[1] - s[0] >= 1.0]  # drop 0 ms "_|" pauses
        for (_, b, v), (_, _, w) in zip(segments, segments[1:]):
            if (v == 0) != (w == 0):
                kind, edges = ("onset", onsets) if v == 0 else ("offset", offsets)
                if len(edges):
                    diffs[kind].append(b - edges[np.argmin(np.abs(edges - b))])
    return {k: np.array(v) for k, v in diffs.items()}


def align_pocketsphinx(x, transcript, pad_ms=300):
    """Phones ``[(start_ms, end_ms, ARPAbet)]`` from pocketsphinx forced alignment."""
    from pocketsphinx import Decoder
    pad = np.zeros(pad_ms * ec.SAMPLE_RATE // 1000)
    y = np.concatenate([pad, x, pad])
    y = y + np.random.default_rng(0).standard_normal(len(y)) * 1e-4  # no digital silence
    pcm = (np.clip(y, -1, 1) * 32767).astype(np.int16).tobytes()
    decoder = Decoder(samprate=ec.SAMPLE_RATE, loglevel="ERROR")
    decoder.set_align_text(transcript)
    for second_pass in (False, True):
        if second_pass:
            decoder.set_alignment()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
    return [(10 * p.start - pad_ms, 10 * (p.start + p.duration) - pad_ms, p.name)
            for word in decoder.get_alignment() for p in word]


def match_onsets(ours, theirs):
    """Edit-distance alignment of two ``[(onset_ms, class)]`` sequences;
    returns ``[(class, our_onset - their_onset)]`` for matched phones."""
    n, m = len(ours), len(theirs)
    cost = np.zeros((n + 1, m + 1))
    cost[:, 0], cost[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = 0 if ours[i - 1][1] == theirs[j - 1][1] else 1
            cost[i, j] = min(cost[i - 1, j - 1] + sub, cost[i - 1, j] + 1, cost[i, j - 1] + 1)
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        sub = 0 if ours[i - 1][1] == theirs[j - 1][1] else 1
        if cost[i, j] == cost[i - 1, j - 1] + sub:
            if sub == 0 and ours[i - 1][1] != "pause":
                pairs.append((ours[i - 1][1], ours[i - 1][0] - theirs[j - 1][0]))
            i, j = i - 1, j - 1
        elif cost[i, j] == cost[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs


def viseme_frames(phones, n_frames):
    """Hard 50 Hz labels from ``[(start_ms, end_ms, ARPAbet)]``."""
    segments = [(0.0, phones[0][0], 0)] if phones[0][0] > 0 else []
    for i, (a, b, name) in enumerate(phones):
        parts = ARPABET[name]
        if parts == (phonemes.CONTEXT,):
            following = [ARPABET[p][0] for _, _, p in phones[i + 1:i + 2]] or ["sil"]
            parts = (following[0] if following[0] != phonemes.CONTEXT else "sil",)
        edges = np.linspace(a, b, len(parts) + 1)
        segments += [(e0, e1, phonemes.VISEME_INDEX[p]) for e0, e1, p in zip(edges, edges[1:], parts)]
    end = n_frames * ec.FRAME_MS
    segments = [(a, min(b, end), v) for a, b, v in segments if a < end]
    if segments[-1][1] < end:
        segments.append((segments[-1][1], end, 0))
    return phonemes.frame_labels(segments, n_frames, ec.FRAME_MS)[0]


def alignment_check(espeak, n, seed):
    """Onset differences per class (raw and corrected events) and frame agreement."""
    from pocketsphinx import Decoder
    lookup = Decoder(loglevel="ERROR")
    rng = np.random.default_rng([seed, 8])
    sentences = [s for s in texts.ENGLISH_SENTENCES
                 if all(lookup.lookup_word(w) for w in _words(s))]
    result = {"raw": [], "corrected": [], "agree": [], "agree_raw": [], "failed": 0}
    for k in range(n):
        voice = PS_VOICES[k % len(PS_VOICES)]
        table = phonemes.VOICE_TABLES[voice.split("+")[0]]
        text = sentences[int(rng.integers(len(sentences)))]
        (audio, raw), = espeak.synthesize([(text, voice, int(rng.integers(130, 220)), 50, 50, 0)])
        x = ec.to_16k(audio, espeak.sample_rate)
        try:
            theirs = align_pocketsphinx(x, " ".join(_words(text)))
        except RuntimeError:  # pocketsphinx found no alignment
            result["failed"] += 1
            continue
        their_onsets = [(a, ARPABET_CLASS[p]) for a, _, p in theirs]
        dur_ms = 1000 * len(audio) / espeak.sample_rate
        n_frames = int(dur_ms // ec.FRAME_MS)
        reference = viseme_frames(theirs, n_frames)
        for kind, events in (("raw", [(0, "_")] + [(t, p) for t, p in raw if t > 0]),
                             ("corrected", ec.phrase_events(espeak, audio, raw, table))):
            ours = [(t, ESPEAK_CLASS[espeak.phoneme_types[table][p]]) for t, p in events
                    if p in espeak.phoneme_types[table]]
            result[kind] += match_onsets(ours, their_onsets)
            segments, _ = phonemes.viseme_segments(events, dur_ms, table)
            segments = [(a, min(b, n_frames * ec.FRAME_MS), v) for a, b, v in segments
                        if a < n_frames * ec.FRAME_MS]
            labels = phonemes.frame_labels(segments, n_frames, ec.FRAME_MS)[0]
            result["agree" if kind == "corrected" else "agree_raw"].append(np.mean(labels == reference))
    return result


def _words(sentence):
    return [w for w in re.sub(r"[^a-z' ]", " ", sentence.lower()).split() if w.strip("'")]


def _stats(values):
    v = np.asarray(values, float)
    if len(v) == 0:
        return "n=0"
    p10, p50, p90 = np.percentile(v, [10, 50, 90])
    return (f"n={len(v):4d} median {p50:+6.1f}  p10 {p10:+6.1f}  p90 {p90:+6.1f}  "
            f"|d|<=20ms {np.mean(np.abs(v) <= 20):.0%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--utterances", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        espeak = ec.Espeak(ec.make_dry_data_dir(ec.system_data_dir(), Path(tmp, "espeak-ng-data")))
        configs = ec.speaker_configs(args.seed)
        energy = energy_check(espeak, configs, args.utterances, args.seed)
        print("1. Energy: label boundary - energy boundary (ms), all corpus voices")
        for kind, values in energy.items():
            print(f"   pause->speech {kind:6s}: {_stats(values)}")
        aligned = alignment_check(espeak, args.utterances, args.seed)
    print("2. pocketsphinx forced alignment, US English voices: espeak onset - pocketsphinx onset (ms)")
    for kind in ("raw", "corrected"):
        print(f"   {kind} events" + (" (phrase_events)" if kind == "corrected" else ""))
        pairs = aligned[kind]
        for cls in ("vowel", "stop", "fricative", "nasal", "liquid"):
            print(f"     {cls:9s}: {_stats([d for c, d in pairs if c == cls])}")
        print(f"     {'all':9s}: {_stats([d for _, d in pairs])}")
    print(f"   viseme frame agreement with pocketsphinx: raw {np.mean(aligned['agree_raw']):.1%}, "
          f"corrected {np.mean(aligned['agree']):.1%} ({len(aligned['agree'])} utterances, "
          f"{aligned['failed']} not aligned by pocketsphinx)")


if __name__ == "__main__":
    main()
