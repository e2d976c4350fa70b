"""The ComfyUI node pack, run through small fakes of ComfyUI's modules.

ComfyUI is not a registry package, so CI has neither it nor torch: the
``comfy_host`` fixture puts the fakes in ``tests/comfy_fakes/`` into
``sys.modules`` for one test (and takes them out again), and host tensors
are numpy arrays or the minimal :class:`FakeTensor` below (``.cpu().numpy()``
like torch). Every node class is exercised: shapes, dtypes, value ranges,
progress reports and interruption.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
import os
import subprocess
import sys
import wave
from fractions import Fraction

import numpy as np
import pytest

from helpers import DATA, EXAMPLES, PORTRAIT, ROOT, SPEECH, SPEECH_1S, jaw_spread, probe_mp4

FAKES = ROOT / "tests" / "comfy_fakes"


def _load_pack():
    """Loads ``comfy_nodes`` by path as a package, the way ComfyUI loads the repository."""
    name = "voxportrait_comfy_nodes_under_test"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "comfy_nodes" / "__init__.py",
                                                  submodule_search_locations=[str(ROOT / "comfy_nodes")])
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


pack = _load_pack()
NODES = pack.NODE_CLASS_MAPPINGS
me = importlib.import_module(pack.__name__ + ".motion_edit")
host = importlib.import_module(pack.__name__ + "._host")
mp4 = importlib.import_module(pack.__name__ + ".mp4")


class FakeTensor:
    """The part of ``torch.Tensor`` the nodes use: shape, indexing, ``.cpu().numpy()``."""

    def __init__(self, a):
        self._a = np.asarray(a)

    @property
    def shape(self):
        return self._a.shape

    def __getitem__(self, i):
        return FakeTensor(self._a[i])

    def __len__(self):
        return len(self._a)

    def detach(self):
        return self

    def cpu(self):
        return self

    def is_floating_point(self):
        return self._a.dtype.kind == "f"

    def float(self):
        return FakeTensor(self._a.astype(np.float32))

    def numpy(self):
        return self._a


class Host:
    """What a test sees of the fake host."""

    def __init__(self, root):
        self.input = root / "input"
        self.output = root / "output"
        self.temp = root / "temp"
        for d in (self.input, self.output, self.temp):
            d.mkdir()
        self.utils = sys.modules["comfy.utils"]
        self.mm = sys.modules["comfy.model_management"]
        self.folder_paths = sys.modules["folder_paths"]

    @property
    def bars(self):
        return self.utils.BARS

    def files(self, folder=None):
        """Every file under the output folder (hidden ones included), relative."""
        root = folder or self.output
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


@pytest.fixture
def comfy_host(tmp_path, monkeypatch):
    """The fakes as ``comfy``, ``comfy.utils``, ``comfy.model_management`` and
    ``folder_paths`` in ``sys.modules``, for this test only."""
    mods = {}
    for name, rel in (("comfy", "comfy/__init__.py"), ("comfy.utils", "comfy/utils.py"),
                      ("comfy.model_management", "comfy/model_management.py"),
                      ("folder_paths", "folder_paths.py")):
        spec = importlib.util.spec_from_file_location(
            name, FAKES / rel, submodule_search_locations=[str(FAKES / "comfy")] if name == "comfy" else None)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mods[name] = mod
    mods["comfy"].utils = mods["comfy.utils"]
    mods["comfy"].model_management = mods["comfy.model_management"]
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    h = Host(tmp_path)
    fp = mods["folder_paths"]
    fp.base.update(input=str(h.input), output=str(h.output), temp=str(h.temp))
    yield h


# --- inputs ------------------------------------------------------------------------------------


def is_f32(x) -> bool:
    """float32, as a numpy array or (when torch is installed, as in ComfyUI) a torch tensor."""
    return str(x.dtype) in ("float32", "torch.float32")


def image_batch(path=PORTRAIT, n=1):
    import voxportrait

    rgb = voxportrait.load_image(str(path))
    a = rgb.astype(np.float32)[None] / 255.0
    return np.repeat(a, n, axis=0) if n > 1 else a


def wav_audio(path):
    """A PCM WAV as ComfyUI AUDIO: waveform [1, C, T] float32, like LoadAudio."""
    with wave.open(str(path)) as w:
        c, rate, n = w.getnchannels(), w.getframerate(), w.getnframes()
        assert w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.float32) / 32768.0
    return {"waveform": data.reshape(n, c).T[None].copy(), "sample_rate": rate}


def node(name):
    return NODES[name]()


# --- the V1 node contract ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NODES))
def test_every_node_follows_the_v1_contract(name, comfy_host):
    cls = NODES[name]
    assert cls.CATEGORY == "VoxPortrait"
    assert isinstance(cls.DESCRIPTION, str) and len(cls.DESCRIPTION) > 40
    assert callable(getattr(cls, cls.FUNCTION))
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional", "hidden"}
    for group in ("required", "optional"):
        for inp, desc in spec.get(group, {}).items():
            assert len(desc) == 2 and desc[1].get("tooltip"), f"{name}.{inp} has no tooltip"
            kind = desc[0]
            if kind in ("INT", "FLOAT"):
                opts = desc[1]
                assert opts["min"] <= opts["default"] <= opts["max"], (name, inp)
            elif isinstance(kind, list) and kind:
                assert desc[1].get("default", kind[0]) in kind, (name, inp)
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES) == len(cls.OUTPUT_TOOLTIPS)
    assert all(cls.OUTPUT_TOOLTIPS)
    assert name in pack.NODE_DISPLAY_NAME_MAPPINGS
    # The function takes exactly the declared inputs.
    import inspect

    params = set(inspect.signature(getattr(cls, cls.FUNCTION)).parameters) - {"self"}
    assert params == set(spec.get("required", {})) | set(spec.get("optional", {})), name


def test_combo_lists_match_the_package():
    import voxportrait

    nm = sys.modules[pack.__name__ + ".nodes_motion"]
    assert nm.ENGINES == tuple(voxportrait.ENGINES)
    assert nm.HEAD_PRESETS == tuple(voxportrait.HEAD_PRESETS)


def test_the_renderer_nodes_are_registered():
    import voxportrait

    assert {"VoxPortraitAnimate", "VoxPortraitRenderMotion", "VoxPortraitRenderToVideo"} <= set(NODES)
    nr = sys.modules[pack.__name__ + ".nodes_render"]
    assert nr.FRAMINGS == tuple(voxportrait.FRAMINGS)
    # The example workflows' widget order: the planned inputs first, the later ones appended.
    order = list(NODES["VoxPortraitAnimate"].INPUT_TYPES()["required"])
    assert order[:11] == ["image", "audio", "fps", "framing", "size", "expression_scale", "pose_preset",
                          "pose_scale", "blink_rate", "still", "seed"]


def test_importing_the_pack_imports_nothing_heavy(tmp_path):
    code = f"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("p", {str(ROOT / 'comfy_nodes' / '__init__.py')!r},
    submodule_search_locations=[{str(ROOT / 'comfy_nodes')!r}])
m = importlib.util.module_from_spec(spec); sys.modules["p"] = m; spec.loader.exec_module(m)
assert len(m.NODE_CLASS_MAPPINGS) == 13, m.NODE_CLASS_MAPPINGS
heavy = [x for x in ("torch", "numpy", "voxportrait", "comfy", "folder_paths") if x in sys.modules]
assert not heavy, heavy
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# --- host helpers ------------------------------------------------------------------------------


def test_tensor_conversion_accepts_torch_like_and_numpy():
    a = np.random.default_rng(0).random((2, 5, 7, 3), dtype=np.float32)
    assert np.array_equal(host.to_numpy(FakeTensor(a)), a)
    assert np.array_equal(host.to_numpy(a), a)
    out = host.uint8_to_image(np.full((4, 6, 3), 255, np.uint8))
    assert out.shape == (1, 4, 6, 3) and is_f32(out) and float(out.max()) == 1.0


def test_float_to_uint8_handles_gray_alpha_and_mask():
    gray = np.full((4, 4, 1), 0.5, np.float32)
    assert host.float_to_uint8_rgb(gray).shape == (4, 4, 3)
    rgba = np.zeros((4, 4, 4), np.float32)  # black, fully transparent -> white
    assert (host.float_to_uint8_rgb(rgba) == 255).all()
    mask = np.ones((4, 4), np.float32)  # LoadImage's mask: 1 = transparent
    assert (host.float_to_uint8_rgb(np.zeros((4, 4, 3), np.float32), mask) == 255).all()
    assert (host.float_to_uint8_rgb(np.full((2, 2, 3), 7.0, np.float32)) == 255).all()  # clipped
    with pytest.raises(host.NodeError, match="mask is 3x3"):
        host.float_to_uint8_rgb(np.zeros((4, 4, 3), np.float32), np.zeros((3, 3), np.float32))


def test_fps_text_reads_ntsc_rates_like_the_core():
    assert host.fps_text(25.0) == "25"
    assert host.fps_fraction(29.97) == Fraction(30000, 1001)
    assert host.fps_fraction(23.976) == Fraction(24000, 1001)
    assert host.fps_fraction(12.5) == Fraction(25, 2)
    with pytest.raises(host.NodeError):
        host.fps_text(0)


def test_size_check_for_refinement_names_the_next_good_size():
    host.require_multiple_of(512, 768, 8)
    with pytest.raises(host.NodeError, match=r"divisible by 8, got 513x767; use 520x768"):
        host.require_multiple_of(513, 767, 8)


def test_audio_mono_downmixes_and_rejects_empty():
    w = np.stack([np.full(100, 0.2, np.float32), np.full(100, 0.4, np.float32)])[None]
    mono, rate = host.audio_mono({"waveform": FakeTensor(w), "sample_rate": 22050})
    assert rate == 22050 and mono.shape == (100,) and is_f32(mono)
    assert np.allclose(mono, 0.3)
    for bad in (np.zeros((1, 1, 0), np.float32), np.zeros((0, 1, 10), np.float32)):
        with pytest.raises(host.NodeError, match="empty"):
            host.audio_mono({"waveform": bad, "sample_rate": 16000})
    with pytest.raises(host.NodeError, match="sample_rate"):
        host.audio_mono({"waveform": w})


# --- Face Analyze ------------------------------------------------------------------------------


def test_face_analyze_returns_a_face_and_an_overlay(comfy_host):
    img = image_batch()
    face, overlay = node("VoxPortraitFaceAnalyze").analyze(FakeTensor(img), -1, 0, 0.0)
    assert (face.width, face.height, face.index, face.count, face.image_index) == (512, 512, 0, 1, 0)
    assert face.face.landmarks.shape == (468, 3)
    x0, y0, x1, y1 = face.face.box
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512
    assert overlay.shape == (1, 512, 512, 3) and is_f32(overlay)
    assert 0.0 <= overlay.min() and overlay.max() <= 1.0
    assert np.abs(overlay - img).mean() > 1e-3  # something was drawn
    bar = comfy_host.bars[-1]
    assert bar.total == 2 and bar.current == 2
    assert "face 1 of 1" in repr(face)


def test_face_analyze_picks_among_several_faces(comfy_host):
    img = image_batch(DATA / "face" / "two_faces.jpg")
    n = node("VoxPortraitFaceAnalyze")
    largest, ov0 = n.analyze(img, -1, 0, 0.0)
    second, ov1 = n.analyze(img, 1, 0, 0.0)
    assert largest.count == second.count == 2
    assert (largest.index, second.index) == (0, 1)

    def area(f):
        x0, y0, x1, y1 = f.face.box
        return (x1 - x0) * (y1 - y0)

    assert area(largest) > area(second)
    assert not np.array_equal(ov0, ov1)  # the highlight frame moved
    with pytest.raises(host.NodeError, match="face_index 2 is out of range: found 2 face"):
        n.analyze(img, 2, 0, 0.0)


def test_face_analyze_batch_uses_image_index_and_mask(comfy_host):
    batch = np.concatenate([np.zeros((1, 512, 512, 3), np.float32), image_batch()])
    n = node("VoxPortraitFaceAnalyze")
    face, overlay = n.analyze(batch, 0, 1, 0.0)
    assert face.image_index == 1 and overlay.shape == (1, 512, 512, 3)
    with pytest.raises(host.NodeError, match="image_index 2 is out of range"):
        n.analyze(batch, 0, 2, 0.0)
    # ComfyUI's 64x64 "no alpha" placeholder mask is ignored; a real one is applied.
    n.analyze(image_batch(), 0, 0, 0.0, mask=np.zeros((1, 64, 64), np.float32))
    import voxportrait

    with pytest.raises(voxportrait.InputError, match="no face"):
        n.analyze(image_batch(), 0, 0, 0.0, mask=np.ones((1, 512, 512), np.float32))


def test_face_analyze_no_face_is_a_one_line_error(comfy_host):
    import voxportrait

    with pytest.raises(voxportrait.InputError) as e:
        node("VoxPortraitFaceAnalyze").analyze(np.full((1, 96, 128, 3), 0.5, np.float32), -1, 0, 0.0)
    assert "no face found" in str(e.value) and "\n" not in str(e.value)


def test_face_analyze_stops_when_interrupted(comfy_host):
    comfy_host.mm.interrupt_current_processing()
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        node("VoxPortraitFaceAnalyze").analyze(image_batch(), -1, 0, 0.0)


# --- Audio To Motion / Idle Motion -------------------------------------------------------------


def test_audio_to_motion_takes_stereo_44k_audio(comfy_host):
    audio = wav_audio(SPEECH_1S)
    assert audio["waveform"].shape == (1, 2, 44100) and audio["sample_rate"] == 44100
    (m,) = node("VoxPortraitAudioToMotion").run(audio, 25.0, "learned", 1.0, "calm", 1.0, 17.0, 1.0, False, 0)
    assert m.frames == 25 and m.fps == 25
    assert m.expression.shape == (25, 9) and m.head.shape == (25, 6) and m.gaze.shape == (25, 2)
    assert is_f32(m.expression)
    assert m.expression[:, 0].max() > 0.1  # the jaw opens on speech
    assert comfy_host.bars[-1].total == 1 and comfy_host.bars[-1].current == 1


def test_audio_to_motion_at_any_rate_and_channel_count(comfy_host):
    import voxportrait

    samples, rate = voxportrait.load_audio(str(SPEECH))
    assert rate == 16000
    n = node("VoxPortraitAudioToMotion")
    args = (29.97, "energy", 1.0, "calm", 1.0, 17.0, 1.0, False, 3)
    (m16,) = n.run({"waveform": FakeTensor(samples[None, None]), "sample_rate": 16000}, *args)
    up = voxportrait.resample(samples, 16000, 48000)
    (m48,) = n.run({"waveform": np.stack([up, up])[None], "sample_rate": 48000}, *args)
    expected = math.floor(Fraction(len(samples), 16000) * Fraction(30000, 1001) + Fraction(1, 2))
    assert m16.frames == m48.frames == expected and m16.fps == Fraction(30000, 1001)
    # Same speech at another rate: the same motion, up to a rare discrete viseme flip.
    assert np.abs(m16.expression - m48.expression).mean() < 0.02
    assert np.corrcoef(m16.expression[:, 0], m48.expression[:, 0])[0, 1] > 0.95


def test_audio_to_motion_options(comfy_host):
    audio = wav_audio(SPEECH_1S)
    n = node("VoxPortraitAudioToMotion")
    (still,) = n.run(audio, 25.0, "learned", 0.0, "lively", 1.0, 0.0, 0.0, True, 0)
    assert np.allclose(still.head[:, :5], 0.0, atol=1e-6) and np.allclose(still.head[:, 5], 1.0, atol=1e-6)
    assert np.allclose(still.expression[:, :6], 0.0)  # mouth_scale 0: mouth closed
    assert np.allclose(still.expression[:, 6:8], 0.0)  # blink_rate 0


def test_audio_to_motion_errors(comfy_host):
    import voxportrait

    n = node("VoxPortraitAudioToMotion")
    args = (25.0, "learned", 1.0, "calm", 1.0, 17.0, 1.0, False, 0)
    with pytest.raises(host.NodeError, match="empty"):
        n.run({"waveform": np.zeros((1, 2, 0), np.float32), "sample_rate": 44100}, *args)
    with pytest.raises(voxportrait.InputError, match="silent"):
        n.run({"waveform": np.zeros((1, 1, 16000), np.float32), "sample_rate": 16000}, *args)
    comfy_host.mm.interrupt_current_processing()
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        n.run(wav_audio(SPEECH_1S), *args)


def test_idle_motion(comfy_host):
    n = node("VoxPortraitIdleMotion")
    (m,) = n.run(2.0, 30.0, "calm", 1.0, 17.0, False, 1)
    assert m.frames == 60 and m.fps == 30
    assert np.allclose(m.expression[:, :6], 0.0)  # closed mouth
    assert np.ptp(m.head[:, 0]) > 0  # the head moves
    (still,) = n.run(1.0, 25.0, "calm", 1.0, 0.0, True, 1)
    assert still.frames == 25 and np.allclose(still.head[:, :3], 0.0) and np.allclose(still.expression, 0.0)
    (again,) = n.run(2.0, 30.0, "calm", 1.0, 17.0, False, 1)
    assert np.array_equal(again.head, m.head)  # same seed, same motion


# --- motion_edit (pure numpy) ------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech_motion():
    import voxportrait

    return voxportrait.audio_to_motion(str(SPEECH), fps=25, seed=5)


@pytest.fixture(scope="module")
def idle():
    import voxportrait

    return voxportrait.idle_motion(1.0, fps=25, seed=2)


def frozen(m):
    return m.expression.copy(), m.head.copy(), m.gaze.copy()


def unchanged(m, saved):
    return all(np.array_equal(a, b, equal_nan=True) for a, b in zip((m.expression, m.head, m.gaze), saved))


def test_scale_multiplies_mouth_pose_and_brows(speech_motion):
    saved = frozen(speech_motion)
    m = me.scale(speech_motion, mouth=0.5, pose=2.0, brows=0.0)
    assert unchanged(speech_motion, saved)
    src = speech_motion
    assert np.allclose(m.expression[:, 0], src.expression[:, 0] * 0.5)
    assert np.allclose(m.expression[:, 1], np.minimum(src.expression[:, 1] * 0.5, 1.0))
    assert np.allclose(m.expression[:, 6:8], src.expression[:, 6:8])  # blinks untouched
    assert np.allclose(m.expression[:, 8], 0.0)
    assert np.allclose(m.head[:, :5], src.head[:, :5] * 2.0)
    assert np.allclose(m.head[:, 5] - 1.0, (src.head[:, 5] - 1.0) * 2.0, atol=1e-6)
    assert m.rhubarb_tsv() == src.rhubarb_tsv()  # timing kept: exports kept
    still = me.scale(src, pose=0.0)
    assert np.allclose(still.head[:, :5], 0.0) and np.allclose(still.head[:, 5], 1.0)
    assert np.allclose(me.scale(src, mouth=4.0).expression[:, 1].max(), 1.0)
    with pytest.raises(ValueError):
        me.scale(src, mouth=5.0)


def test_blinks_off_and_pose_override(speech_motion):
    src = speech_motion
    assert src.expression[:, 6].max() > 0.5
    off = me.set_blinks(src, False)
    assert np.allclose(off.expression[:, 6:8], 0.0)
    assert np.array_equal(off.expression[:, :6], src.expression[:, :6])
    const = me.override_pose(src, 10.0, -5.0, 2.0, mode="constant")
    assert np.allclose(const.head[:, :3], np.radians([10.0, -5.0, 2.0]), atol=1e-6)
    assert np.allclose(const.head[:, 3:5], 0.0) and np.allclose(const.head[:, 5], 1.0)
    off = me.override_pose(src, 10.0, 0.0, 0.0, mode="offset")
    assert np.allclose(off.head[:, 0], src.head[:, 0] + np.radians(10.0), atol=1e-6)
    assert np.array_equal(off.head[:, 1:], src.head[:, 1:])
    assert np.array_equal(me.override_pose(src, 10, 10, 10, mode="none").head, src.head)
    with pytest.raises(ValueError):
        me.override_pose(src, mode="sideways")


def test_retime_keeps_duration(speech_motion):
    m = me.retime(speech_motion, 50)
    assert m.fps == 50 and abs(m.frames - 2 * speech_motion.frames) <= 1
    assert np.allclose(m.expression[::2][:10], speech_motion.expression[:10], atol=1e-6)
    ntsc = me.retime(speech_motion, Fraction(30000, 1001))
    assert abs(ntsc.duration - speech_motion.duration) < 1.0 / 25
    assert ntsc.posteriors is None and not ntsc.segments  # timing changed: audio data dropped


def test_concatenate_and_crossfade(speech_motion, idle):
    saved = frozen(speech_motion)
    hard = me.concatenate(speech_motion, idle)
    assert unchanged(speech_motion, saved)
    n = speech_motion.frames
    assert hard.frames == n + idle.frames and hard.fps == 25
    assert np.array_equal(hard.head[n:], idle.head)
    soft = me.concatenate(speech_motion, idle, crossfade=6)
    jump_hard = np.abs(hard.head[n] - hard.head[n - 1]).max()
    jump_soft = np.abs(soft.head[n] - soft.head[n - 1]).max()
    assert jump_soft < jump_hard or jump_hard < 1e-6
    assert np.array_equal(soft.head[n + 6:], idle.head[6:])  # eased only over the crossfade
    assert not soft._exports
    idle30 = me.retime(idle, 30)
    mixed = me.concatenate(speech_motion, idle30)  # other fps: retimed to the first
    assert mixed.fps == 25 and mixed.frames == n + 25


def test_splice_replaces_a_range(speech_motion, idle):
    n, k = speech_motion.frames, idle.frames
    same_len = me.splice(speech_motion, idle, 50)
    assert same_len.frames == n
    assert np.array_equal(same_len.expression[50:50 + k], idle.expression)
    assert np.array_equal(same_len.expression[:50], speech_motion.expression[:50])
    assert np.array_equal(same_len.expression[50 + k:], speech_motion.expression[50 + k:])
    shorter = me.splice(speech_motion, idle, 10, 110)
    assert shorter.frames == n - 100 + k
    appended = me.splice(speech_motion, idle, n + 1000)
    assert appended.frames == n + k
    tail = me.splice(speech_motion, idle, n - 5)  # runs past the end: grows
    assert tail.frames == n - 5 + k
    eased = me.splice(speech_motion, idle, 50, crossfade=4)
    assert np.array_equal(eased.expression[50 + 4:50 + k], idle.expression[4:])
    with pytest.raises(ValueError):
        me.splice(speech_motion, idle, 20, 10)
    with pytest.raises(ValueError):
        me.splice(speech_motion, idle, -1)


def test_trim_and_json_round_trip(speech_motion, tmp_path):
    import voxportrait

    t = me.trim(speech_motion, 10, 60)
    assert t.frames == 50
    path = tmp_path / "m.json"
    me.set_blinks(t, False).save(path)
    back = voxportrait.Motion.load(path)
    assert back.frames == 50 and np.allclose(back.expression[:, 6:8], 0.0)


# --- Motion Edit node --------------------------------------------------------------------------


def edit_args(**kw):
    args = dict(mouth_scale=1.0, pose_scale=1.0, brow_scale=1.0, blinks="keep", pose_override="none", yaw=0.0,
                pitch=0.0, roll=0.0, combine="none", splice_start=0, splice_end=-1, crossfade=4)
    args.update(kw)
    return args


def test_motion_edit_node(comfy_host, speech_motion, idle):
    n = node("VoxPortraitMotionEdit")
    saved = frozen(speech_motion)
    (m,) = n.edit(speech_motion, **edit_args(mouth_scale=2.0, blinks="off", pose_override="constant", yaw=15.0,
                                             combine="concatenate", crossfade=0), other_motion=idle)
    assert unchanged(speech_motion, saved)
    assert m.frames == speech_motion.frames + idle.frames
    assert np.allclose(m.expression[:, 6:8], 0.0)
    assert np.allclose(m.head[:, 0], math.radians(15.0), atol=1e-6)
    assert np.allclose(m.expression[:speech_motion.frames, 0], speech_motion.expression[:, 0] * 2.0)
    bar = comfy_host.bars[-1]
    assert bar.total == 4 and bar.updates == [1, 2, 3, 4]
    (same,) = n.edit(speech_motion, **edit_args())
    assert unchanged(same, saved)
    (sp,) = n.edit(speech_motion, **edit_args(combine="splice", splice_start=30), other_motion=idle)
    assert sp.frames == speech_motion.frames


def test_motion_edit_errors_and_interruption(comfy_host, speech_motion, idle):
    n = node("VoxPortraitMotionEdit")
    with pytest.raises(host.NodeError, match="no other_motion"):
        n.edit(speech_motion, **edit_args(combine="splice"))
    with pytest.raises(host.NodeError, match="must not come before"):
        n.edit(speech_motion, **edit_args(combine="splice", splice_start=20, splice_end=10), other_motion=idle)
    comfy_host.mm.interrupt_after(2)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        n.edit(speech_motion, **edit_args())


# --- Save Motion / Load Motion -----------------------------------------------------------------


def test_save_and_load_motion(comfy_host, speech_motion):
    save = node("VoxPortraitSaveMotion")
    r1 = save.save(speech_motion, "voxportrait/motion", "rhubarb-tsv")
    r2 = save.save(speech_motion, "voxportrait/motion", "none")
    p1, p2 = r1["result"][0], r2["result"][0]
    assert p1.endswith(os.path.join("voxportrait", "motion_00001_.json"))
    assert p2.endswith(os.path.join("voxportrait", "motion_00002_.json"))
    assert comfy_host.files() == ["voxportrait/motion_00001_.json", "voxportrait/motion_00001_.tsv",
                                  "voxportrait/motion_00002_.json"]
    assert r1["ui"]["motion_files"][0] == {"filename": "motion_00001_.json", "subfolder": "voxportrait",
                                           "type": "output"}
    assert "frames at 25 fps" in r1["ui"]["text"][0]
    tsv = (comfy_host.output / "voxportrait" / "motion_00001_.tsv").read_text()
    assert tsv.strip() and tsv == speech_motion.rhubarb_tsv()

    # Load: input-folder files and saved ones, marked [output].
    (comfy_host.input / "mine.json").write_text(speech_motion.to_json())
    (comfy_host.input / "notes.txt").write_text("x")
    load = NODES["VoxPortraitLoadMotion"]
    choices = load.INPUT_TYPES()["required"]["motion_file"][0]
    assert choices == ["mine.json", "voxportrait/motion_00001_.json [output]",
                       "voxportrait/motion_00002_.json [output]"]
    for choice in (choices[0], choices[1]):
        assert load.VALIDATE_INPUTS(choice) is True
        (m,) = load().load(choice)
        assert m.frames == speech_motion.frames and m.fps == speech_motion.fps
        assert np.allclose(m.expression, speech_motion.expression, atol=1e-6)
        assert np.allclose(m.head, speech_motion.head, atol=1e-6)
    assert load.IS_CHANGED("mine.json") == load.IS_CHANGED("mine.json")
    assert load.VALIDATE_INPUTS("gone.json") == "Invalid motion file: gone.json"


def test_save_motion_errors(comfy_host, speech_motion, idle):
    save = node("VoxPortraitSaveMotion")
    with pytest.raises(host.NodeError, match="viseme exports exist only"):
        save.save(me.concatenate(speech_motion, idle), "voxportrait/motion", "ovr")
    with pytest.raises(Exception, match="outside the output folder"):
        save.save(idle, "../escape", "none")
    assert comfy_host.files() == []


def test_load_motion_rejects_a_bad_file(comfy_host):
    import voxportrait

    (comfy_host.input / "bad.json").write_text("{not json")
    with pytest.raises(voxportrait.InputError):
        node("VoxPortraitLoadMotion").load("bad.json")


# --- Save Talking Video ------------------------------------------------------------------------


def frames_batch(n, width, height):
    """n frames of the portrait, resized by sampling, with a moving bar so frames differ."""
    import voxportrait

    src = voxportrait.load_image(str(PORTRAIT)).astype(np.float32) / 255.0
    ys = (np.arange(height) * src.shape[0] / height).astype(int)
    xs = (np.arange(width) * src.shape[1] / width).astype(int)
    base = src[ys][:, xs]
    out = np.repeat(base[None], n, axis=0)
    for i in range(n):
        out[i, :, (i * 3) % width] = 1.0
    return out


def test_save_talking_video_writes_mp4_with_audio(comfy_host):
    images = frames_batch(25, 65, 47)  # odd sides
    audio = wav_audio(SPEECH_1S)  # 1 s, 44.1 kHz stereo
    r = node("VoxPortraitSaveTalkingVideo").save(FakeTensor(images), 25.0, "voxportrait/talking", 23,
                                                 audio={"waveform": FakeTensor(audio["waveform"]),
                                                        "sample_rate": 44100})
    assert r["ui"] == {"images": [{"filename": "talking_00001_.mp4", "subfolder": "voxportrait",
                                   "type": "output"}], "animated": (True,)}
    path = r["result"][0]
    assert comfy_host.files() == ["voxportrait/talking_00001_.mp4"]
    info = probe_mp4(path)
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (66, 48)
    assert info["frames"] == 25 and info["rate"] == 25
    assert info["audio_codec"] == "aac" and abs(info["audio_seconds"] - 1.0) < 0.05
    assert info["faststart"]
    bar = comfy_host.bars[-1]
    assert bar.total == 25 and bar.current == 25
    from helpers import decode_frames

    first = decode_frames(path)[0]
    assert np.abs(first[:47, :65].astype(float) - images[0] * 255).mean() < 12


@pytest.mark.parametrize("seconds", [0.4, 3.0])
def test_save_talking_video_fits_audio_to_the_video(comfy_host, seconds):
    rate = 16000
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    r = node("VoxPortraitSaveTalkingVideo").save(frames_batch(30, 64, 48), 29.97, "clip", 18,
                                                 audio={"waveform": tone[None, None], "sample_rate": rate})
    info = probe_mp4(r["result"][0])
    assert info["frames"] == 30 and info["rate"] == Fraction(30000, 1001)
    assert abs(info["audio_seconds"] - 30 * 1001 / 30000) < 0.05


def test_save_talking_video_without_audio_and_counter(comfy_host):
    n = node("VoxPortraitSaveTalkingVideo")
    n.save(frames_batch(3, 32, 32), 12.0, "silent", 30)
    r = n.save(frames_batch(3, 32, 32), 12.0, "silent", 30)
    assert r["ui"]["images"][0]["filename"] == "silent_00002_.mp4" and r["ui"]["images"][0]["subfolder"] == ""
    info = probe_mp4(r["result"][0])
    assert info["audio_codec"] is None and info["frames"] == 3


def test_save_talking_video_errors_leave_no_file(comfy_host):
    n = node("VoxPortraitSaveTalkingVideo")
    with pytest.raises(host.NodeError, match="AUDIO is empty"):
        n.save(frames_batch(3, 32, 32), 25.0, "v", 18, audio={"waveform": np.zeros((1, 1, 0), np.float32),
                                                              "sample_rate": 16000})
    with pytest.raises(host.NodeError, match="empty"):
        n.save(np.zeros((0, 32, 32, 3), np.float32), 25.0, "v", 18)
    with pytest.raises(host.NodeError, match="IMAGE batch"):
        n.save(np.zeros((32, 32, 3), np.float32), 25.0, "v", 18)
    assert comfy_host.files() == []


def test_save_talking_video_interrupted_midway_leaves_no_file(comfy_host):
    comfy_host.mm.interrupt_after(12)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        node("VoxPortraitSaveTalkingVideo").save(frames_batch(40, 64, 64), 25.0, "voxportrait/cut", 18,
                                                 audio=wav_audio(SPEECH_1S))
    assert 0 < comfy_host.bars[-1].current < 40
    assert comfy_host.files() == []  # no .part file either


def test_mp4_writer_rejects_wrong_frames_and_cleans_up(tmp_path):
    path = tmp_path / "x.mp4"
    with pytest.raises(ValueError, match="expected uint8"):
        with mp4.Mp4Writer(path, 16, 16, Fraction(25), 2) as w:
            w.write(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="1 frames written, 2 announced"):
        with mp4.Mp4Writer(path, 16, 16, Fraction(25), 2) as w:
            w.write(np.zeros((16, 16, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_fit_audio_and_even_size():
    s = np.ones((2, 1000), np.float32)
    assert mp4.fit_audio(s, 1000, 10, Fraction(25)).shape == (2, 400)
    long = mp4.fit_audio(s, 1000, 50, Fraction(25))
    assert long.shape == (2, 2000) and long[:, 1000:].max() == 0.0
    assert mp4.even_size(65, 47) == (66, 48) and mp4.even_size(64, 48) == (64, 48)


# --- Animate / Render Motion / Render To Video --------------------------------------------------


def animate_args(**kw):
    args = dict(fps=25.0, framing="resize", size=128, expression_scale=1.0, pose_preset="calm", pose_scale=1.0,
                blink_rate=17.0, still=False, seed=0, face_index=0, brow_scale=1.0, engine="learned",
                mask_output="mouth")
    args.update(kw)
    return args


def speech_clip(seconds, rate=16000):
    """The start of the example speech ("Hello, ..."), ``seconds`` long, as mono AUDIO."""
    import voxportrait

    samples, sr = voxportrait.load_audio(str(SPEECH))
    assert sr == rate
    return {"waveform": samples[1600:1600 + int(round(seconds * rate))][None, None].copy(), "sample_rate": rate}


def test_animate_outputs_frames_audio_fps_and_mask(comfy_host):
    audio = wav_audio(SPEECH_1S)  # 1 s, 44.1 kHz stereo
    frames, out_audio, fps, mask = node("VoxPortraitAnimate").animate(
        FakeTensor(image_batch()), {"waveform": FakeTensor(audio["waveform"]), "sample_rate": 44100},
        **animate_args())
    assert frames.shape == (25, 128, 128, 3) and is_f32(frames) and is_f32(mask)
    frames, mask = host.to_numpy(frames), host.to_numpy(mask)
    assert 0.0 <= frames.min() and frames.max() <= 1.0 and frames.std() > 0.05
    assert np.abs(np.diff(frames, axis=0)).max() > 0.1  # it moves
    assert mask.shape == (25, 128, 128)
    assert mask.min() == 0.0 and mask.max() == 1.0
    assert 0 < (mask > 0.5).mean() < 0.1  # the mouth: a small part of the picture
    assert fps == 25.0 and isinstance(fps, float)
    w = out_audio["waveform"]
    assert out_audio["sample_rate"] == 44100 and w.shape == (1, 2, 44100) and is_f32(w)
    assert np.array_equal(w[0], audio["waveform"][0])  # both channels kept, same rate
    bar = comfy_host.bars[-1]
    assert bar.total == 25 and bar.updates == [8, 16, 24, 25]  # one update per chunk of 8 frames


@pytest.mark.parametrize("seconds,fps", [(0.43, 25.0), (0.41, 25.0), (0.45, 29.97)])
def test_animate_audio_is_trimmed_or_padded_to_the_video(comfy_host, seconds, fps):
    audio = speech_clip(seconds)
    frames, out_audio, out_fps, _ = node("VoxPortraitAnimate").animate(
        image_batch(), audio, **animate_args(fps=fps, size=64, engine="energy", mask_output="none"))
    rate = Fraction(30000, 1001) if fps == 29.97 else Fraction(25)
    n = frames.shape[0]
    assert n == math.floor(Fraction(round(seconds * 16000), 16000) * rate + Fraction(1, 2))
    assert out_fps == float(rate)
    t = out_audio["waveform"].shape[2]
    assert t == math.floor(Fraction(n) * 16000 / rate + Fraction(1, 2))  # exactly frames / fps
    assert abs(t / 16000 - n / out_fps) < 1.0 / 16000
    src = audio["waveform"][0, 0]
    k = min(t, src.size)
    assert np.array_equal(out_audio["waveform"][0, 0, :k], src[:k])
    assert not out_audio["waveform"][0, 0, k:].any()  # padding is silence


def test_animate_mask_choices_and_options(comfy_host):
    n = node("VoxPortraitAnimate")
    audio = wav_audio(SPEECH_1S)
    _, _, _, mouth = n.animate(image_batch(), audio, **animate_args(engine="energy"))
    frames, _, _, face = n.animate(image_batch(), audio, **animate_args(engine="energy", mask_output="face"))
    assert face.shape == mouth.shape
    assert (face > 0.5).sum() > 4 * (mouth > 0.5).sum() > 0
    same, _, _, none = n.animate(image_batch(), audio, **animate_args(engine="energy", mask_output="none"))
    assert none.shape == (1, 128, 128) and not none.any()
    assert np.array_equal(same, frames)  # the mask choice does not change the frames
    crop, _, _, _ = n.animate(image_batch(), audio, **animate_args(engine="energy", framing="crop", size=96,
                                                                  mask_output="none"))
    assert crop.shape == (25, 96, 96, 3)
    # Still with a closed mouth and no blinks: every frame is the framed portrait.
    quiet, _, _, _ = n.animate(image_batch(), audio, **animate_args(engine="energy", still=True,
                                                                   expression_scale=0.0, blink_rate=0.0,
                                                                   brow_scale=0.0, mask_output="none"))
    assert np.abs(quiet - quiet[:1]).max() < 1e-6


def test_animate_uses_the_alpha_mask(comfy_host):
    import voxportrait

    rgba = voxportrait.load_image(str(DATA / "face" / "portrait_rgba.png"))
    if rgba.shape[2] != 4:
        import av

        with av.open(str(DATA / "face" / "portrait_rgba.png")) as c:
            rgba = next(c.decode(video=0)).to_ndarray(format="rgba")
    image = rgba[None, ..., :3].astype(np.float32) / 255.0
    alpha_mask = 1.0 - rgba[None, ..., 3].astype(np.float32) / 255.0  # LoadImage's MASK
    args = animate_args(engine="energy", framing="full", mask_output="none")
    plain, _, _, _ = node("VoxPortraitAnimate").animate(image, speech_clip(0.2), **args)
    white, _, _, _ = node("VoxPortraitAnimate").animate(image, speech_clip(0.2), mask=alpha_mask, **args)
    assert plain.shape == white.shape == (5, 288, 288, 3)
    assert np.allclose(plain[0, 0, 0], [0.0, 160 / 255, 0.0], atol=0.02)  # green under the transparency
    assert np.allclose(white[0, 0, 0], 1.0, atol=0.02)  # put on white


def test_animate_batch_uses_the_first_picture_with_a_warning(comfy_host, caplog):
    batch = np.concatenate([image_batch(), np.full((1, 512, 512, 3), 0.5, np.float32)])
    with caplog.at_level("WARNING", logger="voxportrait.comfy"):
        frames, _, _, _ = node("VoxPortraitAnimate").animate(
            batch, speech_clip(0.2), **animate_args(engine="energy", mask_output="none"))
    assert frames.shape == (5, 128, 128, 3)
    assert "holds 2 pictures; animating the first" in caplog.text


def test_animate_no_face_is_a_one_line_error_and_mouth_position_falls_back(comfy_host):
    import voxportrait

    blank = np.full((1, 160, 200, 3), 0.6, np.float32)
    n = node("VoxPortraitAnimate")
    with pytest.raises(voxportrait.InputError) as e:
        n.animate(blank, speech_clip(0.2), **animate_args())
    msg = str(e.value)
    assert "no face found in the 200x160 image" in msg and "mouth_position" in msg
    assert "--mouth" not in msg and "\n" not in msg
    assert comfy_host.bars == [] or comfy_host.bars[-1].current == 0  # failed before any work
    frames, _, _, mask = n.animate(blank, speech_clip(0.2), mouth_position="0.5, 0.7", **animate_args())
    assert frames.shape == (5, 102, 128, 3) and mask.shape == (5, 102, 128)  # longer side = size
    for bad, match in (("0.5", "X,Y fractions"), ("1.5,0.5", "outside the picture")):
        with pytest.raises(host.NodeError, match=match):
            n.animate(blank, speech_clip(0.2), mouth_position=bad, **animate_args())
    with pytest.raises(host.NodeError, match="AUDIO is empty"):
        n.animate(image_batch(), {"waveform": np.zeros((1, 1, 0), np.float32), "sample_rate": 16000},
                  **animate_args())


def test_animate_stops_between_chunks_when_interrupted(comfy_host):
    # Checks: before the motion, before the first chunk, then after each chunk.
    comfy_host.mm.interrupt_after(3)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        node("VoxPortraitAnimate").animate(image_batch(), wav_audio(SPEECH_1S), **animate_args(engine="energy"))
    bar = comfy_host.bars[-1]
    assert bar.total == 25 and bar.current == 8


@pytest.fixture(scope="module")
def short_idle():
    import voxportrait

    return voxportrait.idle_motion(0.4, fps=25, seed=3)


def test_render_motion_frames_and_masks(comfy_host, short_idle, speech_motion):
    n = node("VoxPortraitRenderMotion")
    frames, mask = n.render(FakeTensor(image_batch()), short_idle, "crop", 96, "face")
    assert frames.shape == (10, 96, 96, 3) and is_f32(frames) and is_f32(mask)
    frames, mask = host.to_numpy(frames), host.to_numpy(mask)
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    assert mask.shape == (10, 96, 96) and 0.1 < (mask > 0.5).mean() < 0.9
    assert comfy_host.bars[-1].total == 10 and comfy_host.bars[-1].updates == [8, 10]
    # Speech motion from a MOTION socket renders one frame per motion frame.
    part = me.trim(speech_motion, 0, 20)
    talk, mouth = n.render(image_batch(), part, "resize", 64, "mouth")
    assert talk.shape == (20, 64, 64, 3) and mouth.shape == (20, 64, 64)
    assert 0 < (host.to_numpy(mouth) > 0.5).mean() < 0.1


def test_render_motion_uses_the_face_from_face_analyze(comfy_host, short_idle):
    img = image_batch(DATA / "face" / "two_faces.jpg")
    analyze, render = node("VoxPortraitFaceAnalyze"), node("VoxPortraitRenderMotion")
    first, _ = analyze.analyze(img, 0, 0, 0.0)
    second, _ = analyze.analyze(img, 1, 0, 0.0)
    a, _ = render.render(img, short_idle, "crop", 96, "none", face=first)
    b, _ = render.render(img, short_idle, "crop", 96, "none", face=second)
    default, _ = render.render(img, short_idle, "crop", 96, "none")
    assert np.array_equal(a, default)  # no FACE: the largest
    assert np.abs(a - b).mean() > 0.05  # the crop is around another face

    # The FACE's picture of a batch is rendered; a FACE from another picture size is refused.
    batch = np.concatenate([np.full((1, 512, 512, 3), 0.5, np.float32), image_batch()])
    face, _ = analyze.analyze(batch, 0, 1, 0.0)
    frames, _ = render.render(batch, short_idle, "resize", 64, "none", face=face)
    assert frames.shape == (10, 64, 64, 3)
    with pytest.raises(host.NodeError, match="FACE was found in a 512x512 picture but the IMAGE is"):
        render.render(image_batch(DATA / "face" / "two_faces.jpg"), short_idle, "resize", 64, "none", face=face)


def test_render_motion_errors_and_interruption(comfy_host, short_idle):
    import voxportrait

    n = node("VoxPortraitRenderMotion")
    with pytest.raises(voxportrait.InputError, match="no face found"):
        n.render(np.zeros((1, 64, 64, 3), np.float32), short_idle, "resize", 64, "mouth")
    with pytest.raises(host.NodeError, match="unknown framing"):
        n.render(image_batch(), short_idle, "stretch", 64, "mouth")
    comfy_host.mm.interrupt_after(2)  # the check before the first chunk and after it pass
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        n.render(image_batch(), short_idle, "resize", 64, "mouth")
    assert comfy_host.bars[-1].current == 8


def test_render_to_video_streams_an_mp4_with_audio(comfy_host):
    import voxportrait

    motion = voxportrait.idle_motion(2.0, fps=25, seed=1)
    audio = wav_audio(SPEECH_1S)  # 1 s: padded with silence to the 2 s motion
    r = node("VoxPortraitRenderToVideo").render(
        FakeTensor(image_batch()), motion, "resize", 128, 0, "voxportrait/streamed",
        audio={"waveform": FakeTensor(audio["waveform"]), "sample_rate": 44100})
    assert r["ui"] == {"images": [{"filename": "streamed_00001_.mp4", "subfolder": "voxportrait",
                                   "type": "output"}], "animated": (True,)}
    path = r["result"][0]
    assert comfy_host.files() == ["voxportrait/streamed_00001_.mp4"]  # no temporary file left either
    info = probe_mp4(path)
    assert info["video_codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert (info["width"], info["height"]) == (128, 128) and info["frames"] == 50 and info["rate"] == 25
    assert info["audio_codec"] == "aac" and abs(info["audio_seconds"] - 2.0) < 0.05
    bar = comfy_host.bars[-1]
    assert bar.total == 50 and bar.current == 50 and len(bar.updates) == 50  # one update per frame


def test_render_to_video_trims_audio_and_takes_a_face(comfy_host, short_idle):
    img = image_batch(DATA / "face" / "two_faces.jpg")
    face, _ = node("VoxPortraitFaceAnalyze").analyze(img, 1, 0, 0.0)
    n = node("VoxPortraitRenderToVideo")
    r = n.render(img, short_idle, "crop", 96, 0, "trimmed", audio=wav_audio(SPEECH_1S), face=face)
    info = probe_mp4(r["result"][0])
    assert info["frames"] == 10 and (info["width"], info["height"]) == (96, 96)
    assert abs(info["audio_seconds"] - 0.4) < 0.05  # 1 s of audio trimmed to the 0.4 s motion
    silent = n.render(img, short_idle, "crop", 96, 1, "trimmed")
    assert silent["ui"]["images"][0]["filename"] == "trimmed_00002_.mp4"
    assert probe_mp4(silent["result"][0])["audio_codec"] is None
    from helpers import decode_frames

    # face_index 1 without a FACE picks the same face as the FACE with index 1.
    a, b = decode_frames(r["result"][0])[0], decode_frames(silent["result"][0])[0]
    assert np.abs(a.astype(float) - b).mean() < 3


def test_render_to_video_interrupted_or_failing_leaves_no_file(comfy_host):
    import voxportrait

    motion = voxportrait.idle_motion(2.0, fps=25, seed=1)
    n = node("VoxPortraitRenderToVideo")
    comfy_host.mm.interrupt_after(12)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):  # ComfyUI's own exception, as is
        n.render(image_batch(), motion, "resize", 128, 0, "voxportrait/cut", audio=wav_audio(SPEECH_1S))
    assert 0 < comfy_host.bars[-1].current < 50
    assert comfy_host.files() == []
    with pytest.raises(voxportrait.InputError, match="no face found"):
        n.render(np.full((1, 96, 96, 3), 0.5, np.float32), motion, "resize", 128, 0, "voxportrait/none")
    with pytest.raises(host.NodeError, match="AUDIO is empty"):
        n.render(image_batch(), motion, "resize", 128, 0, "voxportrait/empty",
                 audio={"waveform": np.zeros((1, 2, 0), np.float32), "sample_rate": 16000})
    assert comfy_host.files() == []


# --- video frames: Dub Frames and Motion From Video -----------------------------------------------


@pytest.fixture(scope="module")
def talking_batch():
    """A talking video as an IMAGE batch (1 s at 25 fps, 128x128), rendered from the portrait."""
    import voxportrait

    r = voxportrait.Renderer(str(PORTRAIT), framing="resize", size=128)
    m = voxportrait.audio_to_motion(SPEECH_1S, fps=25, engine="energy", seed=1)
    frames = np.stack([np.asarray(f) for f in r.frames(m)]).astype(np.float32) / 255.0
    assert frames.shape == (25, 128, 128, 3)
    return frames


def dub_args(**kw):
    args = dict(fps=25.0, lip_strength=1.0, length="loop", face_index=0, smoothing=1.5)
    args.update(kw)
    return args


def test_the_video_frame_nodes_are_registered():
    assert {"VoxPortraitDubFrames", "VoxPortraitMotionFromVideo"} <= set(NODES)
    nd = sys.modules[pack.__name__ + ".nodes_dub"]
    assert list(nd.VoxPortraitDubFrames.INPUT_TYPES()["required"])[:3] == ["images", "audio", "fps"]
    assert "Render Motion" in nd.VoxPortraitMotionFromVideo.DESCRIPTION  # reenactment is explained
    assert "Motion From Video" in nd.VoxPortraitDubFrames.DESCRIPTION


def test_dub_frames_outputs_frames_audio_and_fps(comfy_host, talking_batch):
    speech = wav_audio(SPEECH)  # about 7.8 s of other speech
    frames, audio, fps = node("VoxPortraitDubFrames").dub(FakeTensor(talking_batch), speech,
                                                           **dub_args(length="cut"))
    assert frames.shape == (25, 128, 128, 3) and is_f32(frames)
    assert 0.0 <= float(frames.min()) and float(frames.max()) <= 1.0
    assert fps == 25.0
    w = host.to_numpy(audio["waveform"])
    assert audio["sample_rate"] == speech["sample_rate"]
    assert w.shape == (1, speech["waveform"].shape[1], speech["sample_rate"])  # exactly 1 s: cut
    assert np.array_equal(w[0], speech["waveform"][0][:, :speech["sample_rate"]])
    f = host.to_numpy(frames)
    upper = np.abs(f[:, :64] - talking_batch[:, :64]).mean()
    lower = np.abs(f[:, 64:] - talking_batch[:, 64:]).mean(axis=(1, 2, 3))
    assert upper < 0.003 and lower.max() > 0.004
    bar = comfy_host.bars[-1]
    assert bar.total == 26 and bar.current == 26 and len(bar.updates) == 26  # motion + one per frame


@pytest.mark.parametrize("length, frames_out", [("loop", 50), ("pingpong", 50), ("pad", 50), ("cut", 25)])
def test_dub_frames_length_modes(comfy_host, talking_batch, length, frames_out):
    two_s = wav_audio(SPEECH)
    n = int(two_s["sample_rate"] * 2)
    two_s = {"waveform": two_s["waveform"][:, :, :n].copy(), "sample_rate": two_s["sample_rate"]}
    frames, audio, _ = node("VoxPortraitDubFrames").dub(talking_batch, two_s, **dub_args(length=length))
    assert frames.shape[0] == frames_out
    assert host.to_numpy(audio["waveform"]).shape[-1] == round(frames_out / 25 * two_s["sample_rate"])
    f = host.to_numpy(frames)
    if length == "pad":  # the last frame holds: the upper face stays that of frame 24
        assert np.abs(f[40, :60] - talking_batch[24, :60]).mean() < 0.003
    if length == "loop":  # frame 30 is frame 5 again
        assert np.abs(f[30, :60] - talking_batch[5, :60]).mean() < 0.003
    if length == "pingpong":  # back through the video: frame 30 shows frame 18, frame 49 frame 1
        assert np.abs(f[30, :60] - talking_batch[18, :60]).mean() < 0.003
        assert np.abs(f[49, :60] - talking_batch[1, :60]).mean() < 0.003


def test_dub_frames_pads_short_speech_with_silence(comfy_host, talking_batch):
    half = wav_audio(SPEECH_1S)
    rate = half["sample_rate"]
    half = {"waveform": half["waveform"][:, :, : rate // 2].copy(), "sample_rate": rate}
    frames, audio, _ = node("VoxPortraitDubFrames").dub(talking_batch, half, **dub_args(length="cut"))
    assert frames.shape[0] == 12 or frames.shape[0] == 13
    assert host.to_numpy(audio["waveform"]).shape[-1] == round(frames.shape[0] / 25 * rate)


def test_dub_frames_without_a_face_pass_through(comfy_host, talking_batch):
    blank = np.full((12, 128, 128, 3), 0.35, np.float32)
    batch = np.concatenate([talking_batch[:6], blank, talking_batch[6:12]])
    frames, _, _ = node("VoxPortraitDubFrames").dub(batch, wav_audio(SPEECH), **dub_args(length="cut"))
    f = host.to_numpy(frames)
    assert f.shape == batch.shape
    assert np.abs(f[12:18] - batch[12:18]).max() < 1 / 255 + 1e-6  # past the cross-fade: unchanged
    # Silent speech closes the mouths and does not fail.
    frames, audio, _ = node("VoxPortraitDubFrames").dub(blank, wav_audio(DATA / "silence_1s.wav"),
                                                        **dub_args(length="cut"))
    assert np.abs(host.to_numpy(frames) - blank).max() < 1 / 255 + 1e-6


def test_dub_frames_errors_and_interruption(comfy_host, talking_batch):
    n = node("VoxPortraitDubFrames")
    with pytest.raises(host.NodeError, match="unknown length"):
        n.dub(talking_batch, wav_audio(SPEECH_1S), **dub_args(length="bounce"))
    with pytest.raises(host.NodeError, match="fps must lie"):
        n.dub(talking_batch, wav_audio(SPEECH_1S), **dub_args(fps=0.0))
    with pytest.raises(host.NodeError, match="empty"):
        n.dub(talking_batch, {"waveform": np.zeros((1, 1, 0), np.float32), "sample_rate": 16000}, **dub_args())
    with pytest.raises(host.NodeError, match="at least 16x16"):
        n.dub(np.zeros((2, 8, 8, 3), np.float32), wav_audio(SPEECH_1S), **dub_args())
    comfy_host.mm.interrupt_after(5)  # before the motion, after it, then after frames 1-3
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        n.dub(talking_batch, wav_audio(SPEECH_1S), **dub_args())
    assert comfy_host.bars[-1].current == 4


def test_motion_from_video_gives_motion_for_render_motion(comfy_host, talking_batch):
    import voxportrait

    mfv = node("VoxPortraitMotionFromVideo")
    (motion,) = mfv.fit(FakeTensor(talking_batch), 25.0, True, True, True, True, True, 1.5, 0)
    assert isinstance(motion, voxportrait.Motion)
    assert motion.frames == 25 and motion.fps == 25
    assert motion.expression.shape == (25, 9) and motion.head.shape == (25, 6)
    assert np.isfinite(motion.expression).all() and np.isfinite(motion.head).all()
    assert np.allclose(motion.head[0], [0, 0, 0, 0, 0, 1], atol=1e-4)
    bar = comfy_host.bars[-1]
    assert bar.total == 25 and bar.current == 25 and len(bar.updates) == 25
    # NTSC rates are exact.
    (ntsc,) = mfv.fit(talking_batch[:3], 29.97, True, True, True, True, True, 1.5, 0)
    assert ntsc.fps == Fraction(30000, 1001)
    # Parts: pose and eyes only (a reference video's head motion and blinks).
    (pe,) = mfv.fit(talking_batch, 25.0, True, True, True, False, False, 1.5, 0)
    assert not pe.expression[:, :6].any() and not pe.expression[:, 8].any()
    assert np.array_equal(pe.head, motion.head)
    (still,) = mfv.fit(talking_batch, 25.0, True, False, True, True, True, 1.5, 0)
    assert np.array_equal(still.head, np.tile(np.array([0, 0, 0, 0, 0, 1], np.float32), (25, 1)))
    # Reenactment: the motion renders a portrait through Render Motion.
    frames, _ = node("VoxPortraitRenderMotion").render(image_batch(), motion, "resize", 64, "none")
    assert frames.shape == (25, 64, 64, 3)


def test_motion_from_video_face_index_picks_the_driving_videos_face(comfy_host):
    """Frames of the two-face photo where only the larger face talks: the node's
    face_index picks the face of the video that is followed; one past the
    last face is a clear NodeError naming the driving face index."""
    import voxportrait

    r = voxportrait.Renderer(str(DATA / "face" / "two_faces.jpg"), framing="resize", size=384, face_index=0)
    m = voxportrait.audio_to_motion(SPEECH_1S, fps=25, engine="energy", seed=1, head_scale=0.0, blink_rate=0.0,
                                    brow_scale=0.0)
    frames = np.stack([np.asarray(f) for f in r.frames(m)]).astype(np.float32) / 255.0
    mfv = node("VoxPortraitMotionFromVideo")
    spread = [jaw_spread(mfv.fit(frames, 25.0, True, True, True, True, True, 1.5, i)[0]) for i in (0, 1)]
    assert spread[0] > 0.01 and spread[0] > 5 * spread[1], spread
    with pytest.raises(host.NodeError, match="driving face index 2 is out of range: at most 2 face"):
        mfv.fit(frames[:3], 25.0, True, True, True, True, True, 1.5, 2)
    tip = type(mfv).INPUT_TYPES()["required"]["face_index"][1]["tooltip"]
    assert "face of the driving video" in tip


def test_motion_from_video_no_face_frames_and_errors(comfy_host, talking_batch):
    mfv = node("VoxPortraitMotionFromVideo")
    blank = np.zeros((4, 128, 128, 3), np.float32)
    (m,) = mfv.fit(np.concatenate([talking_batch[:5], blank]), 25.0, True, True, True, True, True, 1.5, 0)
    assert m.frames == 9 and np.array_equal(m.expression[5], m.expression[8])  # the last motion repeats
    with pytest.raises(host.NodeError, match="no face found in any frame"):
        mfv.fit(blank, 25.0, True, True, True, True, True, 1.5, 0)
    comfy_host.mm.interrupt_after(3)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        mfv.fit(talking_batch, 25.0, True, True, True, True, True, 1.5, 0)
    assert comfy_host.bars[-1].current == 2


def test_dub_workflow_matches_the_nodes_and_its_api_form(comfy_host):
    import json

    spec = importlib.util.spec_from_file_location("check_in_comfyui", EXAMPLES / "comfyui" / "check_in_comfyui.py")
    check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check)
    info = {}
    for name, cls in NODES.items():
        types_ = cls.INPUT_TYPES()
        info[name] = {"input": types_, "input_order": {g: list(v) for g, v in types_.items()}}
    base = EXAMPLES / "comfyui" / "dub_and_reenact_video"
    api = json.loads(base.with_suffix(".api.json").read_text())
    ui = json.loads(base.with_suffix(".json").read_text())
    assert check.ui_matches_api(ui, api, info) == []
    for node_id, n in api.items():
        if n["class_type"].startswith("VoxPortrait"):
            spec_ = info[n["class_type"]]["input"]
            declared = set(spec_["required"]) | set(spec_.get("optional", {}))
            assert set(spec_["required"]) <= set(n["inputs"]) <= declared, node_id
    assert {n["class_type"] for n in api.values()} >= {"LoadVideo", "GetVideoComponents", "VoxPortraitDubFrames",
                                                        "VoxPortraitMotionFromVideo", "VoxPortraitRenderMotion"}


def test_fakes_are_gone_after_the_tests_that_used_them():
    # Runs last in this file: the comfy_host fixture took its fakes out again.
    assert "folder_paths" not in sys.modules
    assert "comfy.utils" not in sys.modules and "comfy" not in sys.modules


# --- Refine (the host's SD1.5) -----------------------------------------------------------------


def _rendered_frames_and_mouth_mask(n=4, size=128):
    import torch

    import voxportrait

    motion = voxportrait.audio_to_motion(str(SPEECH), fps=25)
    # The photo's own resting mouth: the same input frames as when this test was written.
    frames, _, mouth = voxportrait.Renderer(str(PORTRAIT), size=size, resting_mouth="photo").render(
        motion, 10, 10 + n, masks=True)
    return torch.from_numpy(frames.astype(np.float32) / 255.0), torch.from_numpy(mouth.astype(np.float32) / 255.0)


def test_refine_node_repaints_inside_the_mask_with_a_clone_of_the_model(comfy_host):
    torch = pytest.importorskip("torch")
    import sd_tiny

    model, vae, clip = sd_tiny.comfy_objects()
    frames, mask = _rendered_frames_and_mouth_mask()
    node = NODES["VoxPortraitRefine"]()
    (out,) = node.refine(model, vae, frames, frames[:1], strength=0.5, steps=6, frames_per_batch=2, mask=mask,
                         clip=clip, work_size=128)
    assert out.shape == frames.shape and out.dtype == torch.float32
    assert torch.equal(out[mask == 0], frames[mask == 0])
    assert (out[mask > 0.5] - frames[mask > 0.5]).abs().mean() > 1e-3
    assert model.model_options == {"transformer_options": {}}  # hooks went on a clone
    assert comfy_host.bars[-1].current == comfy_host.bars[-1].total == 2 * 3
    # strength 0 hands the frames back untouched, without a UNet call
    calls = model.model.calls
    (same,) = node.refine(model, vae, frames, frames[:1], strength=0.0, mask=mask)
    assert same is frames and model.model.calls == calls


def test_refine_node_lists_the_cores_samplers_and_schedulers():
    import voxportrait.refine as vr

    nrf = importlib.import_module(pack.__name__ + ".nodes_refine")
    assert nrf.SAMPLERS == vr.SAMPLERS and nrf.SCHEDULERS == vr.SCHEDULERS


def test_refine_node_cancel_and_bad_settings(comfy_host):
    pytest.importorskip("torch")
    import sd_tiny

    model, vae, _ = sd_tiny.comfy_objects()
    frames, mask = _rendered_frames_and_mouth_mask(3)
    node = NODES["VoxPortraitRefine"]()
    comfy_host.mm.interrupt_after(3)
    with pytest.raises(comfy_host.mm.InterruptProcessingException):
        node.refine(model, vae, frames, frames[:1], strength=0.5, steps=6, mask=mask, work_size=128)
    assert model.model_options == {"transformer_options": {}}
    with pytest.raises(host.NodeError, match="strength"):
        node.refine(model, vae, frames, frames[:1], strength=2.0, mask=mask)
    with pytest.raises(host.NodeError, match="masks for 3 frames"):
        node.refine(model, vae, frames, frames[:1], mask=mask[:2].clone())
    with pytest.raises(host.NodeError, match="does not match the frames"):
        node.refine(model, vae, frames, frames[:1], mask=mask[:, :64])
