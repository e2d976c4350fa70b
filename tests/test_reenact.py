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


def test_animate_takes_pose_and_blinks_from_a_reference_video(tmp_path, driver):
    """SadTalker's ref_pose / ref_eyeblink: the driver's head motion on another
    portrait while the mouth follows new audio; a shorter reference ping-pongs."""
    out = tmp_path / "ref.mp4"
    report = voxportrait.animate(DATA / "face" / "grace_hopper.jpg", SPEECH, out, size=256, head_scale=0.0,
                                 reference_video=driver)
    assert report["frames"] == probe_mp4(out)["frames"] == 196
    got = voxportrait.motion_from_video(out)
    ref = voxportrait.motion_from_video(driver)
    n = ref.frames
    period = 2 * (n - 1)
    idx = [k if k < n else period - k for k in (i % period for i in range(got.frames))]
    yaw = np.corrcoef(got.head[:, 0], ref.head[idx, 0])[0, 1]
    assert yaw > 0.8, yaw  # the reference's head motion, although head_scale is 0
    # The mouth follows the new speech, not the driver's.
    speech = voxportrait.audio_to_motion(SPEECH, fps=25)
    assert np.corrcoef(got.expression[:, JAW], speech.expression[:, JAW])[0, 1] > 0.6
    # Blinks only: the head stays still.
    still = tmp_path / "still.mp4"
    voxportrait.animate(PORTRAIT, SPEECH_1S, still, size=256, head_scale=0.0, reference_video=driver,
                        reference_parts=["blinks"])
    assert np.abs(voxportrait.motion_from_video(still).head[:, 0]).max() < 2.0


def test_cli_ref_video_and_its_errors(tmp_path, driver):
    out = tmp_path / "cli_ref.mp4"
    p = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", out, "--size", "128", "--ref-video", driver,
                "--ref-parts", "pose", "-q")
    assert p.returncode == 0, p.stderr
    assert probe_mp4(out)["frames"] == 25
    bad = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", tmp_path / "x.mp4", "--ref-video", SPEECH)
    assert bad.returncode == 3 and "reference" in bad.stderr.lower() and "Traceback" not in bad.stderr
    assert not (tmp_path / "x.mp4").exists()
    parts = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", tmp_path / "y.mp4", "--ref-video", driver,
                    "--ref-parts", "nose")
    assert parts.returncode == 2 and "pose, blinks" in parts.stderr
