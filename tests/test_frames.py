"""Frame-level dubbing and motion fitting (``voxportrait.frames``) on frames
decoded from a real MP4 rendered here from the example portrait."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import voxportrait
from voxportrait import frames as vf
from helpers import PORTRAIT, SPEECH, SPEECH_1S


@pytest.fixture(scope="module")
def talking_frames(tmp_path_factory):
    """25 RGB frames (128x128) of the portrait speaking tests/data/speech_1s.wav."""
    av = pytest.importorskip("av")
    out = tmp_path_factory.mktemp("frames") / "talk.mp4"
    report = voxportrait.animate(PORTRAIT, SPEECH_1S, out, size=128, fps=25)
    assert report["frames"] == 25
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 25 and frames[0].shape == (128, 128, 3)
    return frames


@pytest.fixture(scope="module")
def new_speech():
    return voxportrait.audio_to_motion(SPEECH, fps=25, head_scale=0, blink_rate=0, brow_scale=0)


def test_exported_from_the_package():
    for name in ("Dubber", "MotionFitter", "dub_frames", "motion_from_frames"):
        assert name in voxportrait.__all__
        assert getattr(voxportrait, name) is getattr(vf, name)


def test_fps_pair():
    assert vf.fps_pair(25) == (25, 1)
    assert vf.fps_pair(29.97) == (30000, 1001)
    assert vf.fps_pair("30000/1001") == (30000, 1001)
    assert vf.fps_pair(Fraction(24000, 1001)) == (24000, 1001)
    assert vf.fps_pair((50, 2)) == (50, 2)
    with pytest.raises(voxportrait.InputError):
        vf.fps_pair(0)
    with pytest.raises(voxportrait.InputError):
        vf.fps_pair((25, 0))


def test_dub_frames_changes_only_the_lower_face(talking_frames, new_speech):
    calls = []
    gen = voxportrait.dub_frames(talking_frames, new_speech, 25, progress=lambda d, t: calls.append((d, t)))
    out = list(gen)
    assert len(out) == len(talking_frames)
    for o in out:
        assert o.shape == (128, 128, 3) and o.dtype == np.uint8
    assert calls[0] == (1, 25) and calls[-1] == (25, 25)
    src = np.stack(talking_frames).astype(np.float32)
    dub = np.stack(out).astype(np.float32)
    upper = np.abs(src[:, :64] - dub[:, :64])
    assert upper.mean() < 0.5, upper.mean()
    assert np.quantile(upper, 0.999) <= 8
    lower = np.abs(src[:, 64:] - dub[:, 64:]).mean(axis=(1, 2, 3))
    assert lower.max() > 1.0, "the mouth was not re-rendered"


def test_dubber_closed_mouth_and_float_frames(talking_frames):
    d = voxportrait.Dubber(25, smoothing=1.0)
    f8 = talking_frames[0]
    out = d.process(f8.astype(np.float32) / 255.0, np.zeros(9))  # floats 0..1 are accepted
    assert out.shape == f8.shape and out.dtype == np.uint8
    with pytest.raises(voxportrait.InputError):
        d.process(f8, np.zeros(5))
    with pytest.raises(voxportrait.InputError):
        d.process(np.zeros((4, 4, 2), np.uint8), np.zeros(9))
    with pytest.raises(voxportrait.InputError):
        voxportrait.Dubber(25, face_index=-1)


def test_frames_without_a_face_pass_through(talking_frames, new_speech):
    blank = np.full((128, 128, 3), 90, np.uint8)
    seq = list(talking_frames[:6]) + [blank] * 6 + list(talking_frames[6:12])
    out = list(voxportrait.dub_frames(seq, new_speech, 25))
    assert len(out) == len(seq)
    # After the fade-out, the faceless frames come back exactly.
    for o in out[10:12]:
        assert np.array_equal(o, blank)


def test_dub_frames_past_the_motion_end_closes_the_mouth(talking_frames):
    short = voxportrait.audio_to_motion(SPEECH_1S, fps=25, head_scale=0, blink_rate=0, brow_scale=0)
    short.expression = short.expression[:5]
    short.head, short.gaze = short.head[:5], short.gaze[:5]
    out = list(voxportrait.dub_frames(iter(talking_frames[:10]), short))  # an iterator: no length
    assert len(out) == 10


def test_motion_from_frames_is_finite_and_relative(talking_frames):
    calls = []
    m = voxportrait.motion_from_frames(talking_frames, 25, progress=lambda d, t: calls.append(d))
    assert isinstance(m, voxportrait.Motion)
    assert m.frames == 25 and m.fps == 25
    assert m.expression.shape == (25, 9) and m.head.shape == (25, 6) and m.gaze.shape == (25, 2)
    assert m.expression.dtype == np.float32 and m.head.dtype == np.float32
    assert np.isfinite(m.head).all() and np.isfinite(m.expression).all()
    assert np.isnan(m.gaze).all()
    # Relative: the first frame is the reference.
    assert np.allclose(m.head[0], [0, 0, 0, 0, 0, 1], atol=1e-4)
    assert np.abs(m.head[:, :3]).max() < 0.5  # radians: the rendered head sways gently
    assert calls == list(range(1, 26))
    # The JSON round trip works for the fitted motion.
    back = voxportrait.Motion.from_json(m.to_json())
    assert back.frames == 25


def test_motion_fitter_parts_and_no_face(talking_frames):
    f = voxportrait.MotionFitter(25, parts=("mouth",))
    blank = np.zeros((128, 128, 3), np.uint8)
    e, h = f.push(blank)
    assert not f.face_found and np.allclose(h, [0, 0, 0, 0, 0, 1]) and not e.any()
    for fr in talking_frames[:8]:
        e, h = f.push(fr)
    assert f.face_found
    assert np.array_equal(h, np.array([0, 0, 0, 0, 0, 1], np.float32))  # no pose
    assert e[6:].tolist() == [0.0, 0.0, 0.0]  # no blinks, no brows
    with pytest.raises(voxportrait.InputError, match="unknown parts"):
        voxportrait.MotionFitter(25, parts=("nose",))
    with pytest.raises(voxportrait.InputError, match="no face"):
        voxportrait.motion_from_frames([blank] * 3, 25)
    with pytest.raises(voxportrait.InputError, match="no frames"):
        voxportrait.motion_from_frames([], 25)
