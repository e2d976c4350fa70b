#!/usr/bin/env python3
"""Build the real-speech viseme ground truth: tools/eval/data/real_speech.json.

Real recordings that Debian packages ship, with transcripts written for each
clip (see CLIPS below and the ``transcript_source`` of each), are force-
aligned with pocketsphinx 5.x (bundled en-us acoustic model and dictionary,
10 ms frames).  The phone alignment is mapped ARPAbet -> 15 visemes with the
table in ``visemes.py`` and sampled at 50 Hz (frame i labelled by the phone
covering 20 i + 10 ms).

Needs (dev only, not runtime dependencies of the project):
    pip install pocketsphinx            # 5.x, carries the en-us model
    apt-get install pocketsphinx-testdata alsa-utils asterisk-core-sounds-en-g722 ffmpeg

Usage:
    python tools/eval/make_real_alignments.py            # write the JSON
    python tools/eval/make_real_alignments.py --check    # also print ASR
        hypotheses and per-word alignment scores, and flag weak words
    python tools/eval/make_real_alignments.py --only goforward,numbers

Clips whose audio is missing are skipped with a note (the JSON then lists
fewer clips; run it where all the packages are installed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import visemes as V  # noqa: E402

OUT = os.path.join(HERE, "data", "real_speech.json")

PS = "/usr/share/pocketsphinx/test/data"
ALSA = "/usr/share/sounds/alsa"
AST = "/usr/share/asterisk/sounds/en_US_f_Allison"

LIC_PS = ("Debian pocketsphinx-testdata (CMU Sphinx test data, BSD-2-Clause "
          "per the package's copyright file)")
LIC_LIBRIVOX = ("LibriVox recording of Jane Austen, Sense and Sensibility, "
                "ch. 1: public domain; shipped in Debian pocketsphinx-testdata")
LIC_TIDIGITS = ("TIDIGITS-style utterance shipped in Debian pocketsphinx-testdata "
                "(package copyright: BSD-2-Clause); only derived labels are kept here")
LIC_ALSA = "Debian alsa-utils test sounds (package licence GPL-2); only derived labels are kept here"
LIC_AST = ("Asterisk core sounds, en_US voice of Allison Smith, CC-BY-SA-3.0 "
           "(Debian asterisk-core-sounds-en-g722); only derived labels are kept here")

# id, path, transcript, transcript_source, group (speaker/corpus), licence.
# Transcripts are lower case, dictionary words only.  "transcript_source"
# says how each one was established; every one was also checked against a
# free pocketsphinx recognition pass and the per-word alignment scores
# (run with --check).
CLIPS = [
    ("goforward", f"{PS}/goforward.raw", "go forward ten meters",
     "known (brief, goforward.gram); ASR agrees", "cmu-test", LIC_PS),
    ("numbers", f"{PS}/numbers.raw", "thirty three four six ninety two",
     "ASR with a number-word grammar; the open-vocabulary ASR's 'four or six' "
     "and 'forty six' align worse (total log score -390 and -429 vs -359)",
     "cmu-test", LIC_PS),
    ("something", f"{PS}/something.raw", "go somewhere and do something",
     "ASR, checked by alignment scores", "cmu-test", LIC_PS),
    ("tidigits_2934z", f"{PS}/tidigits/dhd.2934z.raw", "two nine three four zero",
     "TIDIGITS file name (2934z, z = zero) and ASR agree", "tidigits-dhd", LIC_TIDIGITS),
    ("cards_001", f"{PS}/cards/001.wav", "ten of clubs",
     "cards.transcription; ASR agrees", "cards", LIC_PS),
    ("cards_002", f"{PS}/cards/002.wav", "four queen of clubs",
     "cards.transcription; ASR agrees", "cards", LIC_PS),
    ("cards_003", f"{PS}/cards/003.wav", "seven of clubs",
     "cards.transcription; ASR agrees", "cards", LIC_PS),
    ("cards_004", f"{PS}/cards/004.wav", "five five",
     "cards.transcription; ASR agrees", "cards", LIC_PS),
    ("cards_005", f"{PS}/cards/005.wav",
     "eight of spades four of clubs seven of hearts",
     "cards.transcription; ASR agrees", "cards", LIC_PS),
    ("librivox_0870", f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
     "and mister john dashwood had then leisure to consider how much there "
     "might be prudently in his power to do for them",
     "Austen's text (ch. 1) = the test set's transcription file", "librivox", LIC_LIBRIVOX),
    ("librivox_0880", f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
     "he was not an ill disposed young man",
     "Austen's text = the transcription file", "librivox", LIC_LIBRIVOX),
    ("librivox_0890", f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
     "unless to be rather cold hearted and rather selfish is to be ill disposed",
     "Austen's text = the transcription file", "librivox", LIC_LIBRIVOX),
    ("librivox_0920", f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
     "had he married a more amiable woman he might have been made still more "
     "respectable than he was",
     "Austen's text; the transcription file's extra 'a' ('a more a amiable') "
     "aligns worse (-727 vs -710) and was dropped", "librivox", LIC_LIBRIVOX),
    ("librivox_0930", f"{PS}/librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
     "he might even have been made amiable himself",
     "Austen's text = the transcription file", "librivox", LIC_LIBRIVOX),
]
for _name, _text in [("Front_Center", "front center"), ("Front_Left", "front left"),
                     ("Front_Right", "front right"), ("Rear_Center", "rear center"),
                     ("Rear_Left", "rear left"), ("Rear_Right", "rear right"),
                     ("Side_Left", "side left"), ("Side_Right", "side right")]:
    CLIPS.append((f"alsa_{_name.lower()}", f"{ALSA}/{_name}.wav", _text,
                  "file name (alsa speaker-test channel prompts); 48 kHz resampled to 16 kHz",
                  "alsa", LIC_ALSA))
# Asterisk prompts: a fixed hand-picked set of 20 prompts of 2-5 s with
# varied phones.  Text from the package's core-sounds-en.txt, normalised
# (digits spelled out, punctuation dropped), checked with ASR.
for _name, _text in [
    ("agent-pass", "please enter your password followed by the pound key"),
    ("cannot-complete-as-dialed", "your call cannot be completed as dialed"),
    ("check-number-dial-again", "please check the number and dial again"),
    ("conf-kicked", "you have been kicked from this conference"),
    ("conf-roll-callcomplete", "playback of the list of people attending is complete"),
    ("confbridge-begin-glorious-a", "the conference will begin when our glorious leader arrives"),
    ("demo-echodone", "the echo test has been completed"),
    ("dir-nomore", "there are no more compatible entries in the directory"),
    ("feature-not-avail-line", "that feature is not available on this line"),
    ("privacy-prompt", "please enter your phone number starting with the area code"),
    ("simul-call-limit-reached", "simultaneous call limit reached"),
    ("something-terribly-wrong", "something is terribly wrong"),
    ("tt-monkeysintro", "they have been carried away by monkeys"),
    ("tt-weasels", "weasels have eaten our phone system"),
    ("vm-msgforwarded", "your message has been successfully forwarded"),
    ("vm-nobodyavail", "nobody is available to take your call at the moment"),
    ("vm-nonumber", "i'm afraid i don't know who sent this message"),
    ("vm-savefolder", "which folder should i save this message to"),
    ("vm-tohearenv", "press three to hear the message envelope"),
    ("vm-sorry", "i'm sorry i did not understand your response"),
]:
    _src = "core-sounds-en.txt (package docs), normalised; checked with ASR"
    if _name == "vm-savefolder":
        _src = ("core-sounds-en.txt says 'save the message to' but the recording "
                "says 'this message' (ASR hears 'this'; alignment log score -409 "
                "vs -573, 'the' scoring -7 per frame)")
    CLIPS.append((f"asterisk_{_name.replace('-', '_')}", f"{AST}/{_name}.g722", _text,
                  _src, "asterisk-allison", LIC_AST))

# Words whose mean per-frame acoustic log score falls below this are
# reported by --check as worth a second look (never changed automatically).
WEAK_WORD_SCORE = -2.5


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


# The second (state-level) alignment pass of pocketsphinx 5 can lose the
# path ("Alignment failed in frame N").  That happened here only with a
# reused decoder (see make_decoder); with a fresh decoder per clip all 42
# clips align with the default beams.  As a safety net, a failed pass is
# retried with other beam settings; the setting used is recorded per clip
# ("align_beams").
BEAM_SETTINGS = [
    {},
    dict(beam=1e-80, pbeam=1e-80, wbeam=1e-60),
    dict(beam=1e-60, pbeam=1e-60, wbeam=1e-50),
]


def make_decoder(beams: dict):
    """A fresh decoder for every alignment: a reused one carries state from
    earlier utterances and then fails on clips that align when fresh, which
    would make the ground truth depend on clip order."""
    from pocketsphinx import Decoder
    return Decoder(loglevel="ERROR", **beams)


def align_any(pcm: bytes, text: str):
    last = None
    for beams in BEAM_SETTINGS:
        try:
            words, phones = align(make_decoder(beams), pcm, text)
            return words, phones, beams
        except RuntimeError as e:
            last = e
    raise RuntimeError(f"alignment failed with every beam setting: {last}")


def recognise(decoder, pcm: bytes) -> str:
    """Free recognition with the default en-us language model (for --check)."""
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    h = decoder.hyp()
    return h.hypstr if h else ""


def align(decoder, pcm: bytes, text: str):
    """Two-pass pocketsphinx alignment -> (words, phones).

    words:  [(word, start_frame, n_frames, mean_log_score)]
    phones: [(phone, start_frame, n_frames, word)]
    Frames are 10 ms.  Raises RuntimeError when a pass fails.
    """
    decoder.set_align_text(text)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    if decoder.hyp() is None:
        raise RuntimeError(f"alignment failed for {text!r}")
    word_scores = {}
    for s in decoder.seg():
        n = s.end_frame - s.start_frame + 1
        word_scores[s.start_frame] = math.log(max(s.ascore, 1e-300)) / max(n, 1)
    decoder.set_alignment()
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    words, phones = [], []
    for w in decoder.get_alignment():
        words.append((w.name, int(w.start), int(w.duration), word_scores.get(w.start)))
        for p in w:
            phones.append((p.name, int(p.start), int(p.duration), w.name))
    return words, phones


def phones_to_viseme_segments(phones):
    """Phone frames (10 ms) -> [(start_s, end_s, viseme)], diphthongs halved,
    HH resolved from its context (visemes.resolve_context)."""
    per_phone = V.resolve_context([V.arpabet_visemes(p[0]) for p in phones])
    segs = []
    for k, (name, start, dur, _w) in enumerate(phones):
        vis = per_phone[k]
        if len(vis) == 1:
            segs.append((start / 100.0, (start + dur) / 100.0, vis[0]))
        else:
            first = (dur + 1) // 2
            segs.append((start / 100.0, (start + first) / 100.0, vis[0]))
            segs.append(((start + first) / 100.0, (start + dur) / 100.0, vis[1]))
    return segs


# Every clip is aligned with PAD_S of faint noise added at both ends: some
# prompts are trimmed right up to the speech, and the aligner expects
# (optional) silence around the utterance.  Times are shifted back and
# clipped to the clip afterwards.
PAD_S = 0.25
PAD_NOISE = 1e-4  # about -80 dBFS, fixed seed


def padded_pcm(x: np.ndarray) -> bytes:
    n = int(PAD_S * V.SAMPLE_RATE)
    rng = np.random.default_rng(0)
    pad = lambda: (rng.standard_normal(n) * PAD_NOISE).astype(np.float32)  # noqa: E731
    return V.to_int16_bytes(np.concatenate([pad(), x, pad()]))


def unpad(items, n10: int):
    """Shift (name, start, dur, extra) 10 ms items back by the pad, clip to
    [0, n10) frames, drop the empty ones."""
    off = int(round(PAD_S * 100))
    out = []
    for name, start, dur, extra in items:
        a = max(start - off, 0)
        b = min(start + dur - off, n10)
        if b > a:
            out.append((name, a, b - a, extra))
    return out


def build_clip(clip, check: bool):
    cid, path, text, tsrc, group, lic = clip
    x = V.load_audio(path)
    pcm = padded_pcm(x)
    words, phones, beams = align_any(pcm, text)
    n10 = int(math.ceil(len(x) / 160))
    words, phones = unpad(words, n10), unpad(phones, n10)
    vsegs = phones_to_viseme_segments(phones)
    n = V.n_frames(len(x))
    labels = V.segments_to_frames(vsegs, n)
    rec = {
        "id": cid,
        "source": path,
        "source_sha256": sha256_file(path),
        "group": group,
        "license": lic,
        "transcript": text,
        "transcript_source": tsrc,
        "n_samples_16k": int(len(x)),
        "duration_s": round(len(x) / V.SAMPLE_RATE, 3),
        "words": [[w, round(s / 100, 2), round((s + d) / 100, 2), None if sc is None else round(sc, 3)]
                  for (w, s, d, sc) in words],
        "phones": [[p, round(s / 100, 2), round((s + d) / 100, 2), w]
                   for (p, s, d, w) in phones],
        "visemes": [[round(a, 2), round(b, 2), v] for (a, b, v) in vsegs],
        "align_beams": beams or "default",
        "labels": [int(v) for v in labels],
    }
    if check:
        hyp = recognise(make_decoder({}), V.to_int16_bytes(x))
        rec["asr_hypothesis"] = hyp
        print(f"\n== {cid}  {len(x)/V.SAMPLE_RATE:.2f}s  [{group}]")
        print(f"   text: {text}")
        print(f"   asr : {hyp}")
        weak = [(w, s / 100, sc) for (w, s, d, sc) in words
                if not w.startswith("<") and sc is not None and sc < WEAK_WORD_SCORE]
        for w, t, sc in weak:
            print(f"   weak word {w!r} at {t:.2f}s: mean log score {sc:.2f}")
    return rec


def frame_energy_db(x: np.ndarray) -> np.ndarray:
    """Energy in dB per 10 ms frame (25 ms window centred on the frame)."""
    n10 = int(math.ceil(len(x) / 160))
    pad = np.pad(x, (120, 280))
    return np.array([10 * np.log10(np.mean(pad[i * 160: i * 160 + 400] ** 2) + 1e-10)
                     for i in range(n10)])


def sanity_check(clips) -> dict:
    """Do bilabial (P B M) segments line up with energy dips?

    For each phone segment: dip = mean energy of the 50 ms just outside the
    segment on both sides (where inside the clip) minus the minimum energy
    inside the segment.  A closure should show a clear dip (stops: silence
    during closure; m: nasal murmur, weaker than the vowels around it).
    Vowel segments serve as the control (they should show none).  Also
    reported: the same statistic with the PP segments shifted by +-50 ms,
    which should be smaller if the boundaries are right.
    """
    stats = {"P": [], "B": [], "M": [], "vowel": [], "PP_shift-50ms": [], "PP_shift+50ms": []}
    vowels = {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY",
              "OW", "OY", "UH", "UW"}
    for c in clips:
        x = V.load_audio(c["source"])
        e = frame_energy_db(x)
        n = len(e)

        def dip(a, b):
            a, b = max(a, 0), min(b, n)
            if b <= a:
                return None
            ctx = np.concatenate([e[max(a - 5, 0):a], e[b:min(b + 5, n)]])
            if len(ctx) == 0:
                return None
            return float(ctx.mean() - e[a:b].min())

        for ph, t0, t1, _w in c["phones"]:
            a, b = int(round(t0 * 100)), int(round(t1 * 100))
            key = ph if ph in ("P", "B", "M") else ("vowel" if ph in vowels else None)
            if key is None:
                continue
            d = dip(a, b)
            if d is not None:
                stats[key].append(d)
            if key in ("P", "B", "M"):
                for sh, k in ((-5, "PP_shift-50ms"), (5, "PP_shift+50ms")):
                    d = dip(a + sh, b + sh)
                    if d is not None:
                        stats[k].append(d)
    out = {}
    for k, v in stats.items():
        v = np.array(v)
        if len(v):
            out[k] = {"n": int(len(v)), "median_dip_db": round(float(np.median(v)), 1),
                      "frac_dip_over_6db": round(float(np.mean(v > 6)), 2)}
    return out


def dump(doc, path):
    """JSON with one clip field per line and label arrays kept on one line."""
    def enc(o):
        return json.dumps(o, ensure_ascii=False, separators=(",", ":"))
    lines = ["{"]
    head = {k: v for k, v in doc.items() if k != "clips"}
    for k, v in head.items():
        lines.append(f" {enc(k)}: {json.dumps(v, ensure_ascii=False)},")
    lines.append(' "clips": [')
    for ci, c in enumerate(doc["clips"]):
        lines.append("  {")
        items = list(c.items())
        for i, (k, v) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"   {enc(k)}: {enc(v)}{comma}")
        lines.append("  }" + ("," if ci < len(doc["clips"]) - 1 else ""))
    lines.append(" ]")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--check", action="store_true",
                    help="print ASR hypotheses and weak-word flags (slower)")
    ap.add_argument("--only", default="", help="comma-separated clip ids")
    args = ap.parse_args(argv)

    try:
        from importlib.metadata import version
        ps_version = version("pocketsphinx")
    except Exception:  # noqa: BLE001
        ps_version = "5.x"
    only = set(filter(None, args.only.split(",")))
    clips, skipped = [], []
    for clip in CLIPS:
        if only and clip[0] not in only:
            continue
        if not os.path.exists(clip[1]):
            skipped.append(clip[1])
            print(f"skip {clip[0]}: {clip[1]} not found", file=sys.stderr)
            continue
        clips.append(build_clip(clip, args.check))

    total = sum(c["duration_s"] for c in clips)
    doc = {
        "description": "Real-speech viseme ground truth: pocketsphinx forced "
                       "alignment of hand-checked transcripts, mapped ARPAbet -> "
                       "15 visemes (tools/eval/visemes.py), 50 Hz, frame i = phone "
                       "at 20i+10 ms. Built by tools/eval/make_real_alignments.py.",
        "aligner": f"pocketsphinx {ps_version} "
                   "(bundled en-us model and cmudict-en-us.dict), 10 ms frames, "
                   "two-pass phone alignment",
        "fps": V.FPS,
        "visemes": V.VISEMES,
        "arpabet_to_visemes": {k: list(v) for k, v in V.ARPABET_TO_VISEMES.items()},
        "total_duration_s": round(total, 2),
        "clips": clips,
    }
    if skipped:
        doc["skipped_missing_audio"] = skipped
    if args.check:
        doc["sanity_check_bilabial_dips"] = sanity_check(clips)
        print("\nbilabial energy-dip check (dip = context mean - segment min, dB):")
        for k, v in doc["sanity_check_bilabial_dips"].items():
            print(f"  {k:14s} n={v['n']:4d}  median dip {v['median_dip_db']:5.1f} dB  "
                  f"dip>6dB: {v['frac_dip_over_6db']:.2f}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    dump(doc, args.out)
    groups = sorted({c["group"] for c in clips})
    print(f"wrote {args.out}: {len(clips)} clips, {total:.1f} s, groups {groups}")


if __name__ == "__main__":
    main()
