"""Dubbing through the Python API and the ``voxportrait dub`` CLI, on a real
ffmpeg-encoded talking video rendered from the example photo: the output has
the new speech's length and soundtrack, the upper face is the original's,
frames without a face pass through, and bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import voxportrait
from helpers import PORTRAIT, SPEECH, SPEECH_1S, decode_frames, probe_mp4, run_cli


@pytest.fixture(scope="module")
def talking_video(tmp_path_factory):
    """A 1 s talking video of the example photo (still head), 256²."""
    out = tmp_path_factory.mktemp("dub") / "talk.mp4"
    voxportrait.animate(PORTRAIT, SPEECH_1S, out, size=256, head_scale=0.0)
    return out


def test_dub_follows_the_speech_length_and_keeps_the_upper_face(tmp_path, talking_video):
    out = tmp_path / "dubbed.mp4"
    report = voxportrait.dub(talking_video, SPEECH, out, length="loop")
    info = probe_mp4(out)
    assert report["frames"] == info["frames"] == 196  # 7.84 s at 25 fps
    assert info["audio_codec"] == "aac" and abs(info["audio_seconds"] - 7.84) < 0.1
    assert report["dubbed_frames"] >= 190
    src, dst = decode_frames(talking_video), decode_frames(out)
    # The eyes and everything above them are the original's (up to the codec).
    top = slice(0, 110)
    err = np.mean([(a[top].astype(float) - b[top].astype(float)) ** 2 for a, b in zip(src, dst)])
    assert 10 * np.log10(255 ** 2 / err) > 35
    # The mouth region did change.
    mouth = (slice(150, 200), slice(90, 170))
    diff = np.mean([np.abs(a[mouth].astype(int) - b[mouth].astype(int)).mean() for a, b in zip(src, dst)])
    assert diff > 2


def test_cut_stops_at_the_shorter(tmp_path, talking_video):
    out = tmp_path / "cut.mp4"
    report = voxportrait.dub(talking_video, SPEECH, out, length="cut")
    assert report["frames"] == 25 == probe_mp4(out)["frames"]


def test_frames_without_a_face_pass_through(tmp_path):
    """A video that is half blank frames, half face: blank frames come out
    as they went in, and the face frames are dubbed."""
    import subprocess

    ffmpeg = voxportrait.find_ffmpeg()
    face = voxportrait.load_image(PORTRAIT)[::2, ::2]
    blank = np.full_like(face, 128)
    frames = [blank] * 10 + [face] * 15
    src = tmp_path / "mixed.mp4"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                    "-s", "256x256", "-r", "25", "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    "-crf", "12", str(src)], input=b"".join(f.tobytes() for f in frames), check=True)
    out = tmp_path / "dubbed.mp4"
    report = voxportrait.dub(src, SPEECH_1S, out, length="cut")
    assert report["dubbed_frames"] <= 15 and report["dubbed_frames"] >= 10
    dst = decode_frames(out)
    assert np.abs(dst[3].astype(int) - 128).max() < 6


def test_cli_dub_and_its_errors(tmp_path, talking_video):
    out = tmp_path / "cli.mp4"
    p = run_cli("dub", talking_video, SPEECH_1S, "-o", out, "-q")
    assert p.returncode == 0, p.stderr
    assert probe_mp4(out)["frames"] == 25
    bad = run_cli("dub", SPEECH_1S, SPEECH_1S, "-o", tmp_path / "x.mp4")
    assert bad.returncode == 3 and "no video stream" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.mp4").exists()
    missing = run_cli("dub", tmp_path / "nope.mp4", SPEECH_1S, "-o", tmp_path / "y.mp4")
    assert missing.returncode == 3 and "not found" in missing.stderr
