"""Reenactment through the Python API and the ``voxportrait reenact`` CLI:
a real ffmpeg-encoded talking video (rendered from the example photo with
known motion) drives a second portrait; the motion fitted from the video
follows the motion it was rendered with; bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import voxportrait
from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, probe_mp4, run_cli

JAW = voxportrait.Motion.column("jaw_open")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    """A 1 s talking video of the example photo with a lively head, 256²."""
    out = tmp_path_factory.mktemp("reenact") / "driver.mp4"
    voxportrait.animate(PORTRAIT, SPEECH_1S, out, size=256, head_preset="lively", seed=3)
    return out


def test_motion_from_video_follows_the_rendered_motion(driver):
    got = voxportrait.motion_from_video(driver)
    want = voxportrait.audio_to_motion(SPEECH_1S, fps=25, head_preset="lively", seed=3)
    assert got.frames == want.frames == 25
    yaw = np.corrcoef(got.head[:, 0], want.head[:, 0])[0, 1]
    assert yaw > 0.8, yaw
    assert np.isfinite(got.expression).all()


def test_reenact_drives_another_portrait_with_the_drivers_soundtrack(tmp_path, driver):
    out = tmp_path / "out.mp4"
    report = voxportrait.reenact(DATA / "face" / "grace_hopper.jpg", driver, out, size=256)
    info = probe_mp4(out)
    assert report["frames"] == info["frames"] == 25
    assert report["with_audio"] and info["audio_codec"] == "aac"


def test_cli_reenact_parts_and_errors(tmp_path, driver):
    out = tmp_path / "cli.mp4"
    p = run_cli("reenact", PORTRAIT, driver, "-o", out, "--parts", "pose,eyes", "--size", "128", "-q")
    assert p.returncode == 0, p.stderr
    assert probe_mp4(out)["frames"] == 25
    bad = run_cli("reenact", PORTRAIT, SPEECH, "-o", tmp_path / "x.mp4")
    assert bad.returncode == 3 and "no video stream" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.mp4").exists()
    parts = run_cli("reenact", PORTRAIT, driver, "-o", tmp_path / "y.mp4", "--parts", "nose")
    assert parts.returncode == 3 and "unknown parts" in parts.stderr
