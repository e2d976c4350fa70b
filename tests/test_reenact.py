"""Reenactment through the Python API and the ``voxportrait reenact`` CLI:
a real ffmpeg-encoded talking video (rendered from the example photo with
known motion) drives a second portrait; the motion fitted from the video
follows the motion it was rendered with; bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import voxportrait
from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, jaw_spread, probe_mp4, run_cli, two_face_video, video_motion

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


@pytest.fixture(scope="module")
def two_faces(tmp_path_factory):
    """A driving video with two faces where only the larger one (0) talks."""
    return two_face_video(tmp_path_factory.mktemp("reenact_two") / "two.mp4", talking=0)


def test_driving_face_index_picks_the_face_of_the_video_that_is_followed(tmp_path, two_faces):
    """driving_face_index picks the video's face (the talking one moves the
    portrait's mouth, the silent one hardly does); face_index stays the portrait's."""
    spread = [jaw_spread(voxportrait.motion_from_video(two_faces, face_index=i)) for i in (0, 1)]
    assert spread[0] > 0.01 and spread[0] > 5 * spread[1], spread
    moved = {}
    for index in (0, 1):
        out = tmp_path / f"driven{index}.mp4"
        report = voxportrait.reenact(PORTRAIT, two_faces, out, size=256, driving_face_index=index,
                                     parts=["mouth"])
        assert report["frames"] == 25 and (report["width"], report["height"]) == (256, 256)
        moved[index] = video_motion(out)
    assert moved[0] > 3 * moved[1], moved
    # The portrait has one face: face_index 1 is about the portrait.
    with pytest.raises(voxportrait.InputError, match="face_index 1 is out of range: 1 face"):
        voxportrait.reenact(PORTRAIT, two_faces, tmp_path / "p.mp4", size=128, face_index=1)
    # The video has two: driving_face_index 2 names the driving video.
    with pytest.raises(voxportrait.InputError,
                       match="driving face index 2 is out of range: at most 2 face.s. were found in a frame "
                             "of the driving video"):
        voxportrait.reenact(PORTRAIT, two_faces, tmp_path / "d.mp4", size=128, driving_face_index=2)
    with pytest.raises(voxportrait.InputError, match="driving_face_index must be 0 or more"):
        voxportrait.reenact(PORTRAIT, two_faces, tmp_path / "n.mp4", driving_face_index=-1)
    assert not any((tmp_path / n).exists() for n in ("p.mp4", "d.mp4", "n.mp4"))


def test_cli_reenact_driving_face_index(tmp_path, two_faces):
    out = tmp_path / "cli_two.mp4"
    p = run_cli("reenact", PORTRAIT, two_faces, "-o", out, "--size", "128", "--face-index", "0",
                "--driving-face-index", "1", "-q")
    assert p.returncode == 0, p.stderr
    assert probe_mp4(out)["frames"] == 25
    bad = run_cli("reenact", PORTRAIT, two_faces, "-o", tmp_path / "x.mp4", "--driving-face-index", "3")
    assert bad.returncode == 3 and "Traceback" not in bad.stderr
    assert "driving face index 3 is out of range: at most 2 face(s)" in bad.stderr, bad.stderr
    assert not (tmp_path / "x.mp4").exists()
    neg = run_cli("reenact", PORTRAIT, two_faces, "-o", tmp_path / "y.mp4", "--driving-face-index", "-1")
    assert neg.returncode == 2 and "a face index must be 0 or more" in neg.stderr
    help_text = run_cli("reenact", "--help").stdout
    assert "--driving-face-index" in help_text and "face of the driving VIDEO" in " ".join(help_text.split())
    assert "face of the portrait IMAGE" in " ".join(help_text.split())


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
