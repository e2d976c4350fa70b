"""The mesh renderer through the Python API and the CLI, on the real example
photo and real speech: frames and masks as numpy, streaming to MP4 with
audio, every framing mode, the fallback for faceless portraits, and bad
input."""

from __future__ import annotations

import numpy as np
import pytest

import voxportrait
from helpers import DATA, PORTRAIT, SPEECH_1S, probe_mp4, run_cli

JAW = voxportrait.Motion.column("jaw_open")


@pytest.fixture(scope="module")
def motion():
    return voxportrait.audio_to_motion(SPEECH_1S, fps=25)


@pytest.fixture(scope="module")
def renderer():
    return voxportrait.Renderer(PORTRAIT, framing="resize", size=256)


def test_frames_and_masks_come_out_as_numpy(renderer, motion):
    frames, face, mouth = renderer.render(motion, 0, 5, masks=True)
    assert frames.shape == (5, 256, 256, 3) and frames.dtype == np.uint8
    assert face.shape == mouth.shape == (5, 256, 256) and face.dtype == np.uint8
    # The face mask covers the face, the mouth mask a small part of it.
    assert 0.1 < (face[0] > 127).mean() < 0.6
    assert 0 < (mouth[0] > 127).sum() < (face[0] > 127).sum() / 4
    assert renderer.kind == "mesh" and (renderer.width, renderer.height) == (256, 256)


def test_neutral_motion_gives_the_portrait_and_speech_moves_the_mouth(renderer, motion):
    from fractions import Fraction

    head = np.zeros((2, 6), np.float32)
    head[:, 5] = 1.0
    still = voxportrait.Motion(Fraction(25), np.zeros((2, 9), np.float32), head,
                               np.full((2, 2), np.nan, np.float32))
    base = renderer.render(still, 0, 1)[0]
    # Neutral motion with the photo's own resting mouth renders the framed
    # portrait itself: the full-size renderer gives the photo back byte for
    # byte.
    full = voxportrait.Renderer(PORTRAIT, framing="full", resting_mouth="photo")
    assert np.array_equal(full.render(still, 0, 1)[0], voxportrait.load_image(PORTRAIT))
    # Open-mouth frames differ from the closed one around the mouth only.
    k = int(np.argmax(motion.expression[:, JAW]))
    expr = np.zeros((1, 9), np.float32)
    expr[0, JAW] = motion.expression[k, JAW]
    mouth_only = voxportrait.Motion(Fraction(25), expr, head[:1], still.gaze[:1])
    open_frame = renderer.render(mouth_only, 0, 1)[0]
    diff = np.abs(open_frame.astype(int) - base.astype(int)).sum(axis=2)
    assert diff.max() > 60
    ys, xs = np.nonzero(diff > 30)
    assert 0.5 < ys.mean() / 256 < 0.8 and 0.35 < xs.mean() / 256 < 0.65  # around the mouth


def test_frames_stream_one_at_a_time_with_progress(renderer, motion):
    calls = []
    n = sum(1 for _ in renderer.frames(motion, chunk=4, progress=lambda d, t: calls.append((d, t))))
    assert n == motion.frames
    assert calls[-1] == (motion.frames, motion.frames)


def test_render_to_file_streams_an_mp4_with_the_audio(tmp_path, renderer, motion):
    out = tmp_path / "talk.mp4"
    n = renderer.render_to_file(motion, out, audio=SPEECH_1S)
    info = probe_mp4(out)
    assert n == motion.frames == info["frames"]
    assert (info["width"], info["height"]) == (256, 256)
    assert info["audio_codec"] == "aac"


def test_interrupting_render_to_file_leaves_nothing(tmp_path, renderer, motion):
    out = tmp_path / "talk.mp4"

    def stop(done, total):
        if done >= 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        renderer.render_to_file(motion, out, audio=SPEECH_1S, progress=stop)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("framing,size,shape", [
    ("crop", 256, (256, 256)),
    ("resize", 384, (384, 384)),
    ("full", 0, (512, 512)),
])
def test_every_framing_mode_renders_the_real_photo(framing, size, shape, motion):
    r = voxportrait.Renderer(PORTRAIT, framing=framing, size=size)
    frames = r.render(motion, 0, 2)
    assert frames.shape == (2, *shape, 3)
    # The rendered face is still a face.
    face = voxportrait.analyze_face(frames[1])
    assert face.landmarks.shape[0] >= 468


def test_float_images_from_hosts_are_accepted(motion):
    img = voxportrait.load_image(PORTRAIT).astype(np.float32) / 255.0
    r = voxportrait.Renderer(img, size=128)
    assert r.render(motion, 0, 1).shape == (1, 128, 128, 3)


def test_no_face_is_a_clear_error_and_mouth_position_falls_back():
    blank = np.full((200, 200, 3), 180, np.uint8)
    with pytest.raises(voxportrait.InputError, match="(?i)no face.*--mouth"):
        voxportrait.Renderer(blank)
    r = voxportrait.Renderer(blank, mouth_position=(0.5, 0.6), size=128)
    assert r.kind == "mouth-warp"


def test_odd_sized_full_frame_is_padded_to_even(tmp_path, motion):
    img = voxportrait.load_image(DATA / "face" / "small_face.png")
    odd = np.ascontiguousarray(img[: img.shape[0] - (1 - img.shape[0] % 2), : img.shape[1] - (1 - img.shape[1] % 2)])
    assert odd.shape[0] % 2 == 1 and odd.shape[1] % 2 == 1
    r = voxportrait.Renderer(odd, framing="full")
    assert (r.height, r.width) == (odd.shape[0] + 1, odd.shape[1] + 1)


def test_cli_framing_crop_writes_the_crop_size(tmp_path):
    out = tmp_path / "crop.mp4"
    p = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", out, "--framing", "crop", "--size", "256", "-q")
    assert p.returncode == 0, p.stderr
    info = probe_mp4(out)
    assert (info["width"], info["height"]) == (256, 256)


def test_frame_writer_streams_python_frames_through_the_core_encoder(tmp_path, renderer, motion):
    """Frames that pass through Python (refinement) are encoded as the renderer's own are."""
    from fractions import Fraction

    from voxportrait._video import FrameWriter

    frames = renderer.render(motion, 0, 10)
    samples, rate = voxportrait.load_audio(str(SPEECH_1S))
    out = tmp_path / "w.mp4"
    with FrameWriter(out, 256, 256, Fraction(25), audio=(samples[: rate * 10 // 25], rate)) as w:
        w.write(frames[:4])
        w.write(frames[4])
        w.write(frames[5:])
    info = probe_mp4(out)
    assert info["frames"] == 10 and info["audio_codec"] == "aac" and (info["width"], info["height"]) == (256, 256)
    with FrameWriter(tmp_path / "w.gif", 256, 256, Fraction(25), format="gif") as w:
        w.write(frames)
    assert (tmp_path / "w.gif").read_bytes()[:6] == b"GIF89a"
    # A failure (here a wrong frame size) or abort leaves no file behind.
    with pytest.raises(voxportrait.InputError, match=r"\(256, 256, 3\)"):
        with FrameWriter(tmp_path / "bad.mp4", 256, 256, Fraction(25)) as w:
            w.write(frames[:, :128])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.gif", "w.mp4"]
    with pytest.raises(voxportrait.OutputError):
        FrameWriter(tmp_path / "missing" / "x.mp4", 256, 256, Fraction(25))


def _aperture(frame: np.ndarray) -> float:
    lm = voxportrait.analyze_face(frame, iris=False).landmarks
    return float(np.linalg.norm(lm[13, :2] - lm[14, :2]) / np.linalg.norm(lm[33, :2] - lm[263, :2]))


def _still(n: int = 1) -> voxportrait.Motion:
    from fractions import Fraction

    head = np.zeros((n, 6), np.float32)
    head[:, 5] = 1.0
    return voxportrait.Motion(Fraction(25), np.zeros((n, 9), np.float32), head, np.full((n, 2), np.nan, np.float32))


def _portrait(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(DATA / "face" / name).convert("RGB"))


def test_a_bearded_photo_rests_with_closed_lips():
    rest = voxportrait.Renderer(_portrait("lincoln_gardner_1863.jpg")).render(_still())[0]
    assert _aperture(rest) <= 0.03, _aperture(rest)


def test_a_3d_renders_parted_lips_close_at_rest():
    """The 3D render's lips are parted (as MediaPipe's canonical face's
    are). By default they rest closed; resting_mouth="photo" keeps them
    parted. Its full lips meet in a seam that face analysis (ours, and
    MediaPipe's own FaceMesh alike: 0.043) reads as an aperture of about
    0.04, so the check is against the photo's own."""
    img = _portrait("render_3d_head.png")
    rest = voxportrait.Renderer(img).render(_still())[0]
    kept = voxportrait.Renderer(img, resting_mouth="photo").render(_still())[0]
    assert _aperture(kept) > 0.055, _aperture(kept)
    assert _aperture(rest) < 0.6 * _aperture(kept), (_aperture(rest), _aperture(kept))
