"""Self-checks of the evaluation harness (no audio, no pocketsphinx needed).

    python -m pytest tools/eval/test_eval_visemes.py
    python tools/eval/test_eval_visemes.py
"""

import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import visemes as V  # noqa: E402
import eval_visemes as E  # noqa: E402

CMU_PHONES = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW "
              "OY P R S SH T TH UH UW V W Y Z ZH").split()


def test_every_cmu_phone_maps():
    for p in CMU_PHONES:
        vis = V.arpabet_visemes(p)
        assert all(v in V.VISEME_INDEX or v == V.CONTEXT for v in vis), p
    for filler in ("SIL", "+NSN+", "+SPN+", "<sil>"):
        assert V.arpabet_visemes(filler) == ("sil",)


def test_every_viseme_has_a_shape_and_back():
    assert set(V.VISEME_TO_RHUBARB) == set(V.VISEMES)
    for shape, vis in V.RHUBARB_TO_VISEME.items():
        assert vis in V.VISEME_INDEX
        # the representative viseme maps back to the same shape (H is folded)
        assert V.VISEME_TO_RHUBARB[vis] == V.fold_rhubarb(shape)


def test_context_resolution():
    seq = [("sil",), (V.CONTEXT,), ("E",), ("nn",), (V.CONTEXT,), ("sil",), (V.CONTEXT,)]
    assert V.resolve_context(seq) == [("sil",), ("E",), ("E",), ("nn",), ("nn",),
                                      ("sil",), ("sil",)]
    assert V.resolve_context([("aa", "ih"), (V.CONTEXT,)]) == [("aa", "ih"), ("ih",)]


def test_frame_convention():
    assert V.n_frames(320) == 1          # centre at 10 ms is inside 20 ms
    assert V.n_frames(160) == 0          # centre at 10 ms is not inside 10 ms
    assert V.n_frames(161) == 1
    assert V.n_frames(16000) == 50
    lab = V.segments_to_frames([(0.0, 0.03, "PP"), (0.03, 0.07, "aa")], 4)
    # centres 10, 30, 50, 70 ms
    assert lab.tolist() == [V.PP, V.VISEME_INDEX["aa"], V.VISEME_INDEX["aa"], V.SIL]


def test_tolerance_and_pp_segments():
    gt = np.array([0, 1, 1, 10, 10, 0])
    pred = np.array([1, 1, 10, 10, 0, 0])
    assert (pred == gt).sum() == 3
    assert E.tolerant_hits(pred, gt).sum() == 6
    clip = {"visemes": [[0.0, 0.02, "sil"], [0.02, 0.03, "PP"], [0.03, 0.06, "PP"],
                        [0.06, 0.1, "aa"], [0.105, 0.11, "PP"]]}
    assert E.pp_segments(clip, 6) == [[1, 3], [5, 6]]


def test_posteriors_and_length_fix():
    notes = []
    post = np.zeros((5, 15))
    post[:, 10] = 1
    assert E.to_labels(post, 5, "x", notes).tolist() == [10] * 5
    assert E.to_labels(np.ones(7, int), 5, "x", notes).tolist() == [1] * 5
    assert E.to_labels(np.ones(4, int), 5, "x", notes).tolist() == [1, 1, 1, 1, 0]
    assert notes == []


def test_energy_predictor_floor():
    x = np.zeros(16000, np.float32)
    x[4000:12000] = 0.3 * np.sin(np.arange(8000) * 0.2)
    lab = E.energy_predictor(x)
    assert len(lab) == 50
    assert lab[20] == V.VISEME_INDEX["aa"] and lab[2] == V.SIL


def test_ground_truth_file_is_consistent():
    with open(os.path.join(HERE, "data", "real_speech.json")) as f:
        doc = json.load(f)
    assert doc["visemes"] == V.VISEMES
    total = 0.0
    for c in doc["clips"]:
        assert len(c["labels"]) == V.n_frames(c["n_samples_16k"])
        relabel = V.segments_to_frames(c["visemes"], len(c["labels"]))
        assert relabel.tolist() == c["labels"], c["id"]
        total += c["duration_s"]
    assert total >= 60.0


if __name__ == "__main__":
    for name, fn in list(globals().items()):
        if name.startswith("test_"):
            fn()
    print("all eval self-checks passed")
