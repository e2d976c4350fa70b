"""espeak-ng phoneme mnemonics -> the 15 Oculus visemes, and frame labels.

libespeak-ng reports each phoneme it speaks as a mnemonic (Kirshenbaum-like
ASCII, up to 8 bytes: ``t``, ``aI``, ``S;``, ``A~``) and the time it starts.
This module turns those events into viseme segments and then into 50 Hz frame
labels for training a viseme recogniser. The table is written per espeak-ng
phoneme table (``en-us``, ``de``, ...), because a mnemonic can sound
different in different languages (``3`` is a plain schwa in British English,
an r-coloured schwa in American English and [ɐ] in German; ``y`` is [y] in
French but [ɨ] in Polish). ``check_table.py`` compares each entry with the
IPA name espeak-ng gives the same event; ``docs/visemes.md`` explains the
choices.

Table format (``_parse``): one line per viseme, ``VISEME: mnemonic ...``.
A key ``A+B`` splits the phoneme's duration equally into A then B (for
diphthongs and some affricates). The key ``ctx`` marks phonemes with no
mouth shape of their own ([h], glottal stops, language-switch markers): they
take the viseme of the next speech phoneme, or of the previous one before a
pause. An unknown mnemonic is never guessed: ``viseme_segments`` counts it
and the caller rejects the utterance.

Run ``python tools/visemes/phonemes.py`` to list every phoneme of the used
espeak-ng tables (read from the installed ``phontab``) that the table does
not map.
"""

import collections
import struct
import sys
from pathlib import Path

import numpy as np

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR",
           "aa", "E", "ih", "oh", "ou")
VISEME_INDEX = {name: i for i, name in enumerate(VISEMES)}
CONTEXT = "ctx"

# Phonemes shared by all languages: espeak-ng's base tables (base1, base2)
# and the consonants most languages reuse.
_COMMON = """
sil: _ _: _:: _::: _! _| _;_ _^_ _X1 || ! - : 1 #X1
ctx: h ? G
PP: p b m m- p; b; m; B p2 pF
FF: f v v# f; v;
TH: T D
DD: t d t[ d[ t# d# t2 t3 t; d; t. d.
kk: k g c J q k~ g~ x X Q Q^ Q" Q~ C g# k; g;
CH: tS dZ tS; dZ; tS~ dZ~ S Z S; Z; s. z. S~ sx
SS: s z s2 ss s; z; s# z# z/2 z2 z3
DD+SS: ts dz ts2
nn: n n. n^ n_ n# n2 n; n- N N- l l/ l/2 l/3 l^ l. L L/ l# l2 l; l: l-
RR: r r/ r/2 r2 R R2 R3 R4 r" * ** r. r- r: R^ R^/ *;
ou: w w2 w/ w# u u: u- u# u" u~ u1 U y y: y- yU
ih: j ; j/ j. J^ i i: i/ i# i2 I I: I# I2 I^ I3 I2# i~
E: e e: e/ e- e~ E E: E2 E3 E# E% E- E~ e# e@ @ @- @2 @5 @# 3 3: W2
aa: a a: a/ a- a2 aa a# a#2 A A: A~ A# & &/ &~ &# V V#
oh: o o: o/ o~ O O: O2 O~ 0 0# 02 Y Y: W W~ 8 O@ o@
aa+ih: aI aI2 &i ai
aa+ou: aU au &y VU &U~
E+ih: eI EI ei
E+ou: eU EU eu ey @U
oh+ih: OI oI OY oi Yi oI~
oh+ou: oU oU# ou Wy Yy
ih+E: i@ i@3 ie
ih+ou: iU iu iy ju
ou+E: U@
ou+ih: uI ui yi
ou+oh: uo yY
ou+aa: UR
ih+aa: iR ja ja#
E+nn: @L
aa+ih+E: aI@ aI3
aa+ou+E: aU@
"""

# Per-table differences, from the IPA espeak-ng reports for each mnemonic.
_TABLES = {
    # British English (espeak-ng "en"): GOAT starts with a schwa [əʊ].
    "en": """
E+ou: oU
aa: A@
ih+RR: IR
aa+RR: VR
""",
    "en-rp": """
E+ou: oU
oh: U@
""",
    # Northern (Lancaster) and West Midlands: STRUT is [ʊ], FACE [eː]; GOAT
    # is [oː] in Lancaster and [ʌʊ] in the West Midlands, which also has [ɔɪ]
    # for PRICE and [ei], [əu] for FLEECE and GOOSE.
    "en-n": """
ou: V
oh: oU
E: eI
""",
    "en-wm": """
ou: V
aa+ou: oU
oh+ih: aI
E: eI
E+ih: i:
E+ou: u:
""",
    # Scottish: [ʉ] vowels, [oː] and [eː] monophthongs, happY is [e],
    # rhotic diphthongs.
    "en-sc": """
oh: oU
E: eI e@ 3: i
ih: i@3
E+RR: IR
aa+RR: VR
ou+RR: U@
""",
    # Caribbean: GOAT [oʊ], centring diphthongs.
    "en-wi": """
oh+ou: oU
aa+E: A@
oh+E: O@ o@
""",
    # American: GOAT [oʊ]; LOT is [ɑː]; rhotic vowels carry the r's lip
    # rounding (NURSE is r-coloured, though espeak-ng names it [ɜː]).
    "en-us": """
oh+ou: oU
RR: 3 3:
aa: 0
aa+RR: A@
oh+RR: O@ o@
E+RR: e@
ih+RR: i@3
ou+RR: U@
aa+ih+RR: aI3
""",
    # New York: GOAT [oʊ], non-rhotic, NURSE [əɪ], BATH [ɛə].
    "en-us-nyc": """
oh+ou: oU
E: aa
E+ih: 3:
""",
    # German: "-er" and vocalised r are [ɐ]; "eu" [ɔø] stays rounded.
    "de": """
aa: 3
oh: OY
""",
    # French: "j." is [ɥ], a rounded glide.
    "fr": """
ou: j.
""",
    "es": "",
    "it": "",
    # Brazilian Portuguese: "y" is an old name for unstressed [ɪ].
    "pt": """
ih: y
""",
    "nl": "",
    # Polish: "y" is [ɨ]; soft consonants are alveolo-palatal.
    "pl": """
ih: y
CH: ts; dz;
""",
    # Russian: "y" is [ɨ], "Y" an old name for [ɨ] too; "z;" is [ʑ].
    "ru": """
ih: y Y
CH: z;
""",
    "fi": "",
    "id": "",
    "sv": "",
}

# Each table falls back to its parent, then to _COMMON.
PARENT = {"en-rp": "en", "en-n": "en", "en-wm": "en", "en-sc": "en",
          "en-wi": "en", "en-us": "en", "en-us-nyc": "en"}

# espeak-ng voice (language) name -> its phoneme table.
VOICE_TABLES = {
    "en": "en", "en-us": "en-us", "en-gb-x-rp": "en-rp",
    "en-gb-scotland": "en-sc", "en-gb-x-gbclan": "en-n",
    "en-gb-x-gbcwmd": "en-wm", "en-029": "en-wi", "en-us-nyc": "en-us-nyc",
    "de": "de", "fr": "fr", "es": "es", "it": "it", "pt-br": "pt", "nl": "nl",
    "pl": "pl", "ru": "ru", "fi": "fi", "id": "id", "sv": "sv",
}


def _parse(text):
    """``"VISEME: m1 m2"`` lines -> {mnemonic: tuple of viseme names}."""
    table = {}
    for line in text.strip().splitlines():
        key, names = line.split(":", 1)
        parts = (CONTEXT,) if key == CONTEXT else tuple(key.split("+"))
        assert all(p == CONTEXT or p in VISEME_INDEX for p in parts), line
        for name in names.split():
            assert name not in table, f"{name} listed twice"
            table[name] = parts
    return table


COMMON = _parse(_COMMON)
TABLES = {name: _parse(text) for name, text in _TABLES.items()}


def lookup(mnemonic, table):
    """Viseme names for ``mnemonic`` in espeak-ng table ``table``, or None."""
    while table is not None:
        parts = TABLES[table].get(mnemonic)
        if parts is not None:
            return parts
        table = PARENT.get(table)
    return COMMON.get(mnemonic)


def _switch_table(mnemonic):
    """The table named by a language-switch event such as ``(en)``."""
    code = mnemonic[1:-1]
    return code if code in TABLES else VOICE_TABLES.get(code)


def viseme_segments(events, end_ms, table):
    """Phoneme events -> viseme segments.

    ``events``: ``[(start_ms, mnemonic), ...]`` in time order, the last phoneme
    ending at ``end_ms``. Returns ``(segments, unknown)``: segments
    ``[(start_ms, end_ms, viseme_index), ...]`` tiling ``[events[0][0],
    end_ms)``, and a Counter of ``(table, mnemonic)`` that the table does
    not map (when it is non-empty the segments are not trustworthy).
    """
    unknown = collections.Counter()
    phones = []  # (start, end, parts)
    for i, (start, name) in enumerate(events):
        end = events[i + 1][0] if i + 1 < len(events) else end_ms
        if name.startswith("(") and name.endswith(")"):
            table = _switch_table(name) or table
            parts = (CONTEXT,)
        else:
            parts = lookup(name, table)
            if parts is None:
                unknown[(table, name)] += 1
                parts = ("sil",)
        phones.append((start, end, parts))
    segments = []
    for i, (start, end, parts) in enumerate(phones):
        if parts == (CONTEXT,):
            parts = (_context_viseme(phones, i),)
        edges = np.linspace(start, end, len(parts) + 1)
        segments += [(float(a), float(b), VISEME_INDEX[p])
                     for a, b, p in zip(edges[:-1], edges[1:], parts)]
    return segments, unknown


def _context_viseme(phones, i):
    """Viseme for a ``ctx`` phoneme: the next speech sound's, else the last."""
    for _, _, parts in phones[i + 1:]:
        if parts == ("sil",):
            break
        if parts != (CONTEXT,):
            return parts[0]
    for _, _, parts in reversed(phones[:i]):
        if parts == ("sil",):
            break
        if parts != (CONTEXT,):
            return parts[-1]
    return "sil"


def frame_labels(segments, n_frames, hop_ms=20.0):
    """Hard and soft labels for frames ``[hop*i, hop*(i+1))`` ms.

    ``segments`` must tile ``[0, n_frames * hop_ms)``. Hard label: the viseme
    covering the frame centre (uint8 ``[n_frames]``). Soft label: the
    fraction of the frame each viseme covers (float32 ``[n_frames, 15]``,
    rows sum to 1).
    """
    hard = np.zeros(n_frames, np.uint8)
    soft = np.zeros((n_frames, len(VISEMES)), np.float64)
    starts = np.arange(n_frames) * hop_ms
    centres = starts + hop_ms / 2
    for a, b, v in segments:
        hard[(centres >= a) & (centres < b)] = v
        overlap = np.minimum(starts + hop_ms, b) - np.maximum(starts, a)
        soft[:, v] += np.clip(overlap, 0.0, None) / hop_ms
    assert np.allclose(soft.sum(1), 1.0, atol=1e-6), "segments do not tile"
    return hard, soft.astype(np.float32)


def phontab_inventory(data_dir):
    """{table name: {mnemonic: phoneme type}}, own and inherited, from ``phontab``.

    Layout (espeak-ng ``LoadPhData``): a byte count of tables, 3 pad bytes;
    per table: n_phonemes (u8), includes (u8, 1-based index of the parent
    table, 0 = none), 2 pad bytes, a 32-byte name, then n_phonemes 16-byte
    ``PHONEME_TAB`` entries (``mnemonic`` u32, up to 4 chars, first char
    in the low byte; ``phflags`` u32; ``program`` u16; ``code``, ``type``
    and 4 more u8). A table's entry overrides its parent's of the same name.
    Stress marks (type 1), virtual phonemes (9, only referred to by other
    phonemes' rules), deleted and invalid ones (14, 15) and unprintable
    internal names never reach phoneme events, so they are left out. Types
    kept: 0 pause, 2 vowel, 3 liquid, 4 stop, 5 voiced stop, 6 fricative,
    7 voiced fricative, 8 nasal.
    """
    data = Path(data_dir, "phontab").read_bytes()
    pos, own, parents, names = 4, {}, {}, []
    for _ in range(data[0]):
        count, include = data[pos], data[pos + 1]
        name = data[pos + 4:pos + 36].split(b"\0")[0].decode()
        pos += 36
        types = {}
        for _ in range(count):
            mnemonic, _, _, _, ptype = struct.unpack_from("<IIHBB", data, pos)
            pos += 16
            types[mnemonic.to_bytes(4, "little").rstrip(b"\0").decode("latin-1")] = ptype
        own[name] = types
        parents[name] = names[include - 1] if include else None
        names.append(name)

    def merged(name):
        return {**(merged(parents[name]) if parents[name] else {}), **own[name]}
    return {name: {m: t for m, t in merged(name).items()
                   if t not in (1, 9, 14, 15) and m.isprintable() and m}
            for name in names}


def unmapped(data_dir):
    """{table: sorted mnemonics with no viseme} for every table in TABLES."""
    inventory = phontab_inventory(data_dir)
    return {table: sorted(m for m in inventory[table] if lookup(m, table) is None)
            for table in TABLES}


if __name__ == "__main__":
    default = "/usr/lib/x86_64-linux-gnu/espeak-ng-data"
    missing = unmapped(sys.argv[1] if len(sys.argv) > 1 else default)
    for table, names in missing.items():
        print(f"{table:10s} {len(names):3d} unmapped: {' '.join(names)}")
    sys.exit(1 if any(missing.values()) else 0)
