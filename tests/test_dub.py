"""Dubbing through the Python API and the ``voxportrait dub`` CLI, on a real
ffmpeg-encoded talking video rendered from the example photo: the output has
the new speech's length and soundtrack, the upper face is the original's,
frames without a face pass through, and bad input is a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import voxportrait
from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, decode_frames, probe_mp4, run_cli


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


@pytest.fixture(scope="module")
def moving_video(tmp_path_factory):
    """A 1 s talking video with a lively head (every frame's upper face differs), 256²."""
    out = tmp_path_factory.mktemp("dub_moving") / "moving.mp4"
    voxportrait.animate(PORTRAIT, SPEECH_1S, out, size=256, head_preset="lively", head_scale=2.0, seed=4)
    return out


def test_pingpong_plays_the_video_forward_then_backward(tmp_path, moving_video):
    out = tmp_path / "pingpong.mp4"
    report = voxportrait.dub(moving_video, SPEECH, out, length="pingpong")
    assert report["frames"] == probe_mp4(out)["frames"] == 196
    src, dst = decode_frames(moving_video), decode_frames(out)
    n = len(src)
    top = slice(0, 100)

    def source_of(frame):  # the source frame whose upper face this output frame shows
        errs = [np.mean((frame[top].astype(float) - s[top].astype(float)) ** 2) for s in src]
        return int(np.argmin(errs))

    period = 2 * (n - 1)
    for i in (n - 2, n, n + 5, period - 1, period + 3, 3 * n):
        k = i % period
        want = k if k < n else period - k
        assert source_of(dst[i]) == want, (i, want)


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


def test_variable_frame_rate_video_is_dubbed_at_its_average_rate(tmp_path, talking_video):
    """A VFR file (half at 25 fps, half at 12.5, as phones record) comes out
    constant-rate, as long as the speech, with every frame dubbed."""
    import subprocess

    ffmpeg = voxportrait.find_ffmpeg()
    vfr = tmp_path / "vfr.mp4"
    subprocess.run([ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-i", str(talking_video), "-filter_complex",
                    "[0:v]split[a][b];[a]trim=0:0.5,setpts=PTS-STARTPTS[x];"
                    "[b]trim=0.5:1,setpts=PTS-STARTPTS,fps=12.5[y];[x][y]concat=n=2:v=1[v]",
                    "-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-crf", "14", str(vfr)], check=True)
    out = tmp_path / "dubbed.mp4"
    report = voxportrait.dub(vfr, SPEECH, out)
    info = probe_mp4(out)
    num, den = voxportrait.parse_fps(report["fps"])
    fps = num / den
    assert 10 <= fps <= 30
    assert info["frames"] == report["frames"] == round(7.84 * fps)
    assert abs(info["frames"] / info["rate"] - 7.84) < 0.1 and abs(info["audio_seconds"] - 7.84) < 0.1
    assert report["dubbed_frames"] >= 0.9 * report["frames"]


def test_two_faces_dub_the_chosen_one_only(tmp_path):
    """A video of two faces: face_index picks whose mouth is re-animated; the
    other face stays the original's."""
    src = tmp_path / "two.mp4"
    voxportrait.animate(DATA / "face" / "two_faces.jpg", SPEECH_1S, src, size=384, head_scale=0.0,
                        mouth_scale=0.0, blink_rate=0.0)
    faces = voxportrait.analyze_faces(decode_frames(src)[0])
    assert len(faces) == 2
    for index in (0, 1):
        out = tmp_path / f"dub{index}.mp4"
        voxportrait.dub(src, SPEECH_1S, out, face_index=index)
        a, b = decode_frames(src), decode_frames(out)
        diff = np.mean([np.abs(x.astype(int) - y.astype(int)) for x, y in zip(a, b)], axis=(0, 3))
        changed = [diff[_mouth_box(f)].mean() for f in faces]
        assert changed[index] > 2 * changed[1 - index] and changed[index] > 1.0, (index, changed)


def _mouth_box(face):
    pts = np.asarray(face.landmarks)[[13, 14, 61, 291]]
    (x0, y0), (x1, y1) = pts[:, :2].min(0), pts[:, :2].max(0)
    pad = 8
    return slice(int(y0) - pad, int(y1) + pad), slice(int(x0) - pad, int(x1) + pad)


def test_mouth_only_region_keeps_the_chin_and_smile_template_spreads_the_lips(tmp_path, talking_video):
    src = decode_frames(talking_video)
    face = voxportrait.analyze_face(src[0])
    lm = np.asarray(face.landmarks)
    chin = (slice(int(lm[152, 1]) - 6, int(lm[152, 1]) + 2), slice(int(lm[152, 0]) - 12, int(lm[152, 0]) + 12))

    def run(**kw):
        out = tmp_path / f"{'-'.join(kw.values())}.mp4"
        voxportrait.dub(talking_video, SPEECH, out, length="cut", **kw)
        return decode_frames(out)

    def chin_change(frames):
        return np.mean([np.abs(a[chin].astype(int) - b[chin].astype(int)).mean() for a, b in zip(src, frames)])

    lower, mouth = run(region="lower-face"), run(region="mouth")
    # The lower-face dub moves the chin with the jaw; mouth-only leaves it as it was.
    print("chin change: lower-face", chin_change(lower), "mouth", chin_change(mouth))
    assert chin_change(mouth) < 0.5 * chin_change(lower), (chin_change(mouth), chin_change(lower))

    def width(frames):  # mouth corner distance over the interocular distance, mean over frames
        w = []
        for f in frames[::4]:
            m = voxportrait.analyze_face(f)
            p = np.asarray(m.landmarks)
            w.append(np.linalg.norm(p[61, :2] - p[291, :2]) / np.linalg.norm(p[33, :2] - p[263, :2]))
        return float(np.mean(w))

    smile = run(template="smile")
    print("mouth width: neutral", width(lower), "smile", width(smile))
    assert width(smile) > width(lower) + 0.01, (width(smile), width(lower))


def test_videos_without_an_audio_stream(tmp_path, talking_video):
    """A silent video (no audio stream at all): dubbing gives it the new speech
    (mixing has nothing to mix), and reenactment from it writes a video with
    no soundtrack."""
    import subprocess

    mute = tmp_path / "mute.mp4"
    subprocess.run([voxportrait.find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(talking_video),
                    "-an", "-c:v", "copy", str(mute)], check=True)
    assert probe_mp4(mute)["audio_codec"] is None
    out = tmp_path / "dubbed.mp4"
    report = voxportrait.dub(mute, SPEECH_1S, out, mix_original=0.5)
    info = probe_mp4(out)
    assert report["frames"] == info["frames"] == 25 and info["audio_codec"] == "aac"
    assert abs(info["audio_seconds"] - 1.0) < 0.1
    driven = tmp_path / "driven.mp4"
    r = voxportrait.reenact(PORTRAIT, mute, driven, size=128)
    assert not r["with_audio"] and probe_mp4(driven)["audio_codec"] is None and r["frames"] == 25


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
