"""Audio → motion through the Python API and the ``voxportrait motion`` CLI:
real speech gives visemes and mouth motion where the speech is, every
control works, JSON and viseme exports round-trip, bad input is a clear
error."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

import voxportrait
from helpers import DATA, SPEECH, SPEECH_1S, listing, run_cli

JAW = voxportrait.Motion.column("jaw_open")
BLINK = voxportrait.Motion.column("blink_left")


@pytest.fixture(scope="module")
def speech_motion():
    return voxportrait.audio_to_motion(SPEECH, fps=25)


@pytest.mark.parametrize("engine", voxportrait.ENGINES)
def test_real_speech_opens_the_mouth_in_speech_and_closes_it_in_pauses(engine):
    samples, rate = voxportrait.load_audio(SPEECH)
    m = voxportrait.audio_to_motion(samples, sample_rate=rate, fps=25, engine=engine)
    assert m.engine == engine
    assert m.frames == voxportrait.frame_count("25", len(samples), rate)
    # Loudness per video frame decides where speech is.
    hop = rate // 25
    level = np.array([np.sqrt(np.mean(samples[i * hop:(i + 1) * hop] ** 2) + 1e-12)
                      for i in range(m.frames)])
    loud = level > 0.1 * level.max()
    # Pauses: the inner part of quiet runs of at least 0.24 s (stop closures
    # inside words are quiet too, and the mouth rightly stays open there).
    quiet = np.zeros(m.frames, bool)
    q = level < 0.01 * level.max()
    start = None
    for i, flag in enumerate(list(q) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start >= 6:
                quiet[start + 2:i - 2] = True
            start = None
    assert quiet.sum() >= 3, "the example has pauses"
    jaw = m.expression[:, JAW]
    assert jaw[loud].mean() > 0.2, f"{engine}: mouth barely opens in speech"
    assert jaw[quiet].mean() < 0.5 * jaw[loud].mean(), f"{engine}: mouth open in pauses"
    names = {s[2] for s in m.segments}
    assert {"sil", "PP", "aa"} <= names or {"sil", "PP"} <= names, names
    assert m.posteriors.shape[1] == 15 and np.allclose(m.posteriors.sum(axis=1), 1, atol=1e-4)


def test_any_fps_and_the_same_seed_gives_the_same_motion():
    a = voxportrait.audio_to_motion(SPEECH_1S, fps="30000/1001", seed=3)
    b = voxportrait.audio_to_motion(SPEECH_1S, fps="30000/1001", seed=3)
    c = voxportrait.audio_to_motion(SPEECH_1S, fps="30000/1001", seed=4)
    assert a.fps == Fraction(30000, 1001)
    np.testing.assert_array_equal(a.head, b.head)
    assert not np.array_equal(a.head, c.head)


def test_controls_still_head_no_blinks_and_mouth_scale(speech_motion):
    m = voxportrait.audio_to_motion(SPEECH, fps=25, head_scale=0, blink_rate=0, mouth_scale=0.5,
                                    brow_scale=0)
    assert np.all(m.head[:, :5] == 0) and np.all(m.head[:, 5] == 1)
    assert np.all(m.expression[:, BLINK] == 0)
    assert np.all(m.expression[:, m.column("brow_raise")] == 0)
    np.testing.assert_allclose(m.expression[:, JAW], 0.5 * speech_motion.expression[:, JAW], atol=1e-5)
    assert speech_motion.expression[:, BLINK].max() > 0.8, "default motion should blink"
    lively = voxportrait.audio_to_motion(SPEECH, fps=25, head_preset="lively")
    assert np.abs(lively.head[:, 1]).max() > np.abs(speech_motion.head[:, 1]).max()


def test_json_round_trip_and_edits(tmp_path, speech_motion):
    path = tmp_path / "m.json"
    speech_motion.save(path)
    data = json.loads(path.read_text())
    assert data["format"] == "voxportrait.motion/1" and data["fps"] == {"num": 25, "den": 1}
    assert set(data["frames"][0]["expression"]) >= {"jaw_open", "blink_left", "brow_raise"}
    back = voxportrait.Motion.load(path)
    np.testing.assert_array_equal(back.expression, speech_motion.expression)
    np.testing.assert_array_equal(back.head, speech_motion.head)
    # Edit in numpy, write, read back.
    back.expression[:, JAW] *= 0
    again = voxportrait.Motion.from_json(back.to_json())
    assert again.expression[:, JAW].max() == 0


def test_rhubarb_and_ovr_exports(tmp_path, speech_motion):
    tsv = speech_motion.rhubarb_tsv().splitlines()
    times = [float(line.split("\t")[0]) for line in tsv]
    assert times == sorted(times) and times[0] == 0.0
    assert {line.split("\t")[1] for line in tsv} <= set("ABCDEFGHX")
    assert tsv[-1].endswith("X")
    speech_motion.save_visemes(tmp_path / "cues.json")
    cues = json.loads((tmp_path / "cues.json").read_text())
    assert cues["metadata"]["soundFile"].endswith("speech.wav")
    assert {c["value"] for c in cues["mouthCues"]} >= {"A", "X"}
    ovr = json.loads(speech_motion.ovr_json())
    assert len(ovr["frames"]) == speech_motion.frames and len(ovr["visemes"]) == 15


def test_idle_motion_has_a_closed_mouth_blinks_and_no_visemes():
    m = voxportrait.idle_motion(12, fps=30)
    assert m.frames == 360
    assert np.all(m.expression[:, JAW] == 0)
    assert m.expression[:, BLINK].max() > 0.8
    with pytest.raises(voxportrait.InputError, match="only for motion made from audio"):
        m.rhubarb_tsv()


@pytest.mark.parametrize("audio, words", [
    (DATA / "silence_1s.wav", "silent"),
    (DATA / "empty.wav", "empty"),
    (DATA / "not_audio.wav", "audio"),
    (DATA / "missing.wav", "not found|no such|does not exist"),
])
def test_unusable_audio_is_an_input_error(audio, words):
    with pytest.raises(voxportrait.InputError, match=words):
        voxportrait.audio_to_motion(audio)


def test_bad_options_are_input_errors():
    with pytest.raises(voxportrait.InputError, match="calm, lively"):
        voxportrait.audio_to_motion(SPEECH_1S, head_preset="jumpy")
    with pytest.raises(voxportrait.InputError, match="learned, energy"):
        voxportrait.audio_to_motion(SPEECH_1S, engine="wav2lip")
    with pytest.raises(voxportrait.InputError, match="sample_rate"):
        voxportrait.audio_to_motion(np.zeros(100, np.float32))
    with pytest.raises(voxportrait.InputError, match="motion"):
        voxportrait.Motion.from_json("[1, 2]")


def test_cli_writes_motion_and_visemes(tmp_path):
    out, cues, ovr = tmp_path / "m.json", tmp_path / "cues.tsv", tmp_path / "ovr.json"
    r = run_cli("motion", SPEECH_1S, "-o", out, "--visemes", cues, "--ovr", ovr, "--fps", "30",
                "--head-preset", "newsreader", "--still")
    assert r.returncode == 0, r.stderr
    assert listing(tmp_path) == ["cues.tsv", "m.json", "ovr.json"]
    m = voxportrait.Motion.load(out)
    assert m.fps == 30 and np.all(m.head[:, :5] == 0)
    assert cues.read_text().splitlines()[0].startswith("0.00\t")
    r = run_cli("motion", "--idle", "2", "-o", tmp_path / "idle.json")
    assert r.returncode == 0, r.stderr
    assert voxportrait.Motion.load(tmp_path / "idle.json").frames == 50


def test_cli_motion_errors_exit_with_one_line_and_write_nothing(tmp_path):
    r = run_cli("motion", DATA / "silence_1s.wav", "-o", tmp_path / "m.json")
    assert r.returncode == 3 and "silent" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("motion", SPEECH_1S, "-o", tmp_path / "missing" / "m.json")
    assert r.returncode == 4 and "does not exist" in r.stderr
    assert listing(tmp_path) == []
