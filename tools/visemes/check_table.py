#!/usr/bin/env python3
"""Cross-checks the phoneme -> viseme table (``phonemes.py``) against IPA.

libespeak-ng can name phoneme events by IPA instead of by mnemonic. This
synthesises the corpus texts in every phoneme table's voice once each way
(two fresh processes, since espeak-ng cannot be re-initialised), pairs the
events one to one, and maps each IPA name to visemes with a small
independent symbol table (``IPA``). It prints each mnemonic whose table entry
starts or ends on a different viseme than its IPA suggests, and each
mnemonic the table does not map. The symbol table follows the same
conventions (taps are RR; t/d before a postalveolar, an affricate, is CH),
and the few differences left are deliberate (``docs/visemes.md``), so the
output is for review, not a pass/fail test.

Usage: ``python tools/visemes/check_table.py``.
"""

import collections
import multiprocessing
import sys
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import espeak_corpus as ec  # noqa: E402
import phonemes  # noqa: E402
import texts  # noqa: E402

# IPA base symbols (diacritics and length marks are ignored) -> viseme.
IPA = {}
for _viseme, _symbols in {
        "PP": "pbmβ", "FF": "fvʋɱ", "TH": "θð", "DD": "tdʈɖ", "kk": "kgɡcɟqxɣχç",
        "CH": "ʃʒɕʑʂʐɧ", "SS": "sz", "nn": "nlɲŋɭʎɫɳ", "RR": "rɾɹʀʁɚɝ",
        "aa": "aɑæɐʌ", "E": "eɛəɜ", "ih": "iɪjɨᵻʝ", "oh": "oɔøœɵɒ", "ou": "uʊwyʏʉɥ"}.items():
    IPA.update(dict.fromkeys(_symbols, _viseme))


def ipa_visemes(ipa):
    """Visemes of an IPA string's base symbols; repeats and affricates merged."""
    seq = [IPA[c] for c in unicodedata.normalize("NFD", ipa) if c in IPA]
    merged = []
    for v in seq:
        if merged and (merged[-1] == v or (merged[-1] == "DD" and v == "CH")):
            merged.pop()
        merged.append(v)
    return merged


def voice_texts(voice, rng):
    lang = voice if voice in texts.FOREIGN_SENTENCES else None
    if lang:
        return list(texts.FOREIGN_SENTENCES[lang])
    return (list(texts.ENGLISH_SENTENCES) + [texts.random_english_sentence(rng) for _ in range(80)]
            + [texts.random_number_phrase(rng) for _ in range(40)])


def collect(ipa):
    """{voice: [[(ms, name), ...] per text]}, names as mnemonics or IPA."""
    with tempfile.TemporaryDirectory() as tmp:
        espeak = ec.Espeak(ec.make_dry_data_dir(ec.system_data_dir(), Path(tmp, "espeak-ng-data")), ipa=ipa)
        rng = np.random.default_rng(0)
        out = {}
        for voice in phonemes.VOICE_TABLES:
            requests = [(t, voice, 175, 50, 50, 0) for t in voice_texts(voice, rng)]
            out[voice] = [events for _, events in espeak.synthesize(requests)]
        return out


def main():
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        by_mnemonic, by_ipa = pool.map(collect, [False, True], chunksize=1)
    problems = 0
    for voice, table in phonemes.VOICE_TABLES.items():
        names = collections.defaultdict(collections.Counter)
        for ours, theirs in zip(by_mnemonic[voice], by_ipa[voice]):
            if [t for t, _ in ours] == [t for t, _ in theirs]:
                for (_, mnemonic), (_, ipa) in zip(ours, theirs):
                    names[mnemonic][ipa] += 1
        for mnemonic, ipas in sorted(names.items()):
            if mnemonic.startswith("("):
                continue  # language switch marker
            ipa = ipas.most_common(1)[0][0]
            mine, ref = phonemes.lookup(mnemonic, table), ipa_visemes(ipa)
            if mine is None or (ref and mine != (phonemes.CONTEXT,) and (mine[0], mine[-1]) != (ref[0], ref[-1])):
                problems += 1
                shown = "+".join(mine) if mine else "UNMAPPED"
                print(f"{table:10s} {mnemonic:5s} IPA {ipa:6s} -> {'+'.join(ref):10s} table: {shown}")
    print(f"{problems} mnemonics to review")


if __name__ == "__main__":
    main()
