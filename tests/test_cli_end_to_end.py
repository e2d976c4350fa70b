"""The CLI turns the real example portrait and speech into real videos."""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np
import pytest

import voxportrait

from helpers import (
    DATA,
    PORTRAIT,
    SPEECH,
    SPEECH_1S,
    audio_seconds,
    decode_frames,
    expected_frames,
    listing,
    probe_mp4,
    run_cli,
    write_png,
)


def test_demo_mp4_has_h264_video_and_aac_audio_matching_the_speech(outdir):
    out = outdir / "demo.mp4"
    r = run_cli("animate", PORTRAIT, SPEECH, "-o", out, "--fps", "25")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(out)
    info = probe_mp4(out)
    seconds = audio_seconds(SPEECH)
    assert info["video_codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["audio_codec"] == "aac"
    assert info["faststart"], "moov atom must precede mdat for browser streaming"
    assert (info["width"], info["height"]) == (512, 512)
    assert info["rate"] == 25
    assert info["frames"] == expected_frames(SPEECH, 25)
    assert abs(info["video_seconds"] - seconds) <= 1 / 25
    assert abs(info["audio_seconds"] - seconds) <= 1 / 25
    assert listing(outdir) == ["demo.mp4"]
    assert out.stat().st_mode & 0o044 == 0o044, "output must not stay a private temp file"


@pytest.mark.parametrize("fps", ["24", "29.97", "30000/1001", "60", "12.5"])
def test_any_frame_rate_gives_exact_frame_count(outdir, fps):
    out = outdir / "clip.mp4"
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", out, "--fps", fps, "--size", "128", "-q")
    assert r.returncode == 0, r.stderr
    info = probe_mp4(out)
    rate = Fraction(30000, 1001) if fps in ("29.97", "30000/1001") else Fraction(fps)
    seconds = audio_seconds(SPEECH_1S)
    assert info["rate"] == rate
    assert info["frames"] == expected_frames(SPEECH_1S, rate)
    assert abs(info["video_seconds"] - seconds) <= 1 / float(rate)
    assert abs(info["audio_seconds"] - seconds) <= 1 / float(rate)


def test_mouth_moves_with_speech_and_background_stays(outdir):
    out = outdir / "demo.mp4"
    # The photo's own mouth at rest (parted lips over teeth, as the photo
    # shows), so the first frame is the photo's mouth.
    r = run_cli("animate", PORTRAIT, SPEECH, "-o", out, "--head-scale", "0", "--resting-mouth", "photo", "-q")
    assert r.returncode == 0, r.stderr
    frames = np.stack(decode_frames(out)).astype(np.float32)
    h, w = frames.shape[1:3]
    mouth = frames[:, int(0.62 * h) : int(0.72 * h), int(0.4 * w) : int(0.6 * w)].mean(axis=(1, 2, 3))
    corner = frames[:, : int(0.1 * h), : int(0.1 * w)].mean(axis=(1, 2, 3))
    # Mouth brightness varies over time (opening shows the dark cavity)...
    assert mouth.max() - mouth.min() > 8.0
    # ...the first frame (0.15 s of leading silence) shows a nearly closed
    # mouth (among the brightest third)...
    assert mouth[0] > mouth.min() + 0.6 * (mouth.max() - mouth.min())
    # ...and the background corner barely changes (only codec noise).
    assert corner.max() - corner.min() < 1.5


def _teeth_pixels(frame: np.ndarray) -> int:
    """Bright, unsaturated pixels in the example's mouth box."""
    h, w = frame.shape[:2]
    box = frame[int(0.6 * h) : int(0.7 * h), int(0.38 * w) : int(0.62 * w)].astype(np.int32)
    luma = box @ np.array([299, 587, 114]) // 1000
    chroma = box.max(axis=2) - box.min(axis=2)
    return int(((luma > 200) & (chroma < 45)).sum())


def test_the_default_resting_mouth_closes_the_photos_parted_lips(outdir):
    """The example smiles with its teeth showing. By default speech starts
    from closed lips: the first frame (leading silence) hides the teeth;
    with --resting-mouth photo it shows them as the photo does."""
    firsts = {}
    for resting in ("keep-smile", "photo"):
        out = outdir / f"rest-{resting}.mp4"
        r = run_cli("animate", PORTRAIT, SPEECH, "-o", out, "--still", "--resting-mouth", resting, "-q")
        assert r.returncode == 0, r.stderr
        firsts[resting] = decode_frames(out)[0]
    shown, hidden = _teeth_pixels(firsts["photo"]), _teeth_pixels(firsts["keep-smile"])
    assert shown > 100, shown
    assert hidden < 0.2 * shown, (hidden, shown)


def test_an_unknown_resting_mouth_is_a_clear_error(tmp_path):
    r = run_cli("animate", PORTRAIT, SPEECH, "-o", tmp_path / "x.mp4", "--resting-mouth", "grin")
    assert r.returncode == 2 and "keep-smile" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(voxportrait.InputError, match="keep-smile, neutral or photo"):
        voxportrait.Renderer(PORTRAIT, resting_mouth="grin")
    assert not (tmp_path / "x.mp4").exists()


def test_size_zero_keeps_an_odd_sized_portrait_rounded_to_even(tmp_path, outdir):
    img = tmp_path / "odd.png"
    w, h = 301, 203
    rows = [[c for x in range(w) for c in (x * 255 // w, y * 255 // h, 128)] for y in range(h)]
    write_png(img, rows, w, h)
    out = outdir / "odd.mp4"
    # A gradient has no face: without --mouth that is a clear error...
    r = run_cli("animate", img, SPEECH_1S, "-o", out, "--size", "0", "-q")
    assert r.returncode == 3 and "no face found" in r.stderr and "--mouth" in r.stderr, r.stderr
    assert not out.exists()
    # ...and with the mouth given, it animates.
    r = run_cli("animate", img, SPEECH_1S, "-o", out, "--size", "0", "-q", "--mouth", "0.5,0.66")
    assert r.returncode == 0, r.stderr
    info = probe_mp4(out)
    assert (info["width"], info["height"]) == (302, 204)


def test_gif_and_png_sequence_need_no_ffmpeg(outdir):
    env = {"VOXPORTRAIT_FFMPEG": "", "PATH": "/nonexistent"}
    gif = outdir / "talk.gif"
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", gif, "--size", "96", "--fps", "10", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert gif.read_bytes()[:6] == b"GIF89a"
    frames = outdir / "frames"
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", frames, "--format", "png", "--size", "96", "-q", env=env)
    assert r.returncode == 0, r.stderr
    names = listing(frames)
    assert "audio.wav" in names
    assert len([n for n in names if n.endswith(".png")]) == expected_frames(SPEECH_1S, 25)


def test_every_audio_format_animates(outdir):
    for name in ["speech_1s.mp3", "speech_1s.flac", "speech_1s.ogg", "speech_1s.m4a", "speech_1s_f32.wav"]:
        out = outdir / (name.replace(".", "_") + ".mp4")
        r = run_cli("animate", DATA / "portrait_small.jpg", DATA / name, "-o", out, "--size", "128", "-q")
        assert r.returncode == 0, (name, r.stderr)
        assert probe_mp4(out)["frames"] == expected_frames(DATA / name, 25)


def test_rgba_webp_and_16bit_portraits_animate(outdir):
    for name in ["portrait_rgba.png", "portrait.webp", "portrait_gray16.png", "portrait_rot90.jpg"]:
        out = outdir / (name.replace(".", "_") + ".mp4")
        r = run_cli("animate", DATA / name, SPEECH_1S, "-o", out, "--size", "128", "-q")
        assert r.returncode == 0, (name, r.stderr)
    info = probe_mp4(outdir / "portrait_rot90_jpg.mp4")
    assert (info["width"], info["height"]) == (128, 96)  # EXIF-upright: wider than tall


def test_same_seed_same_video_other_seed_other_motion(outdir):
    outs = []
    for i, seed in enumerate([7, 7, 8]):
        out = outdir / f"s{i}.mp4"
        r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", out, "--seed", seed, "--size", "128", "-q")
        assert r.returncode == 0, r.stderr
        outs.append(np.stack(decode_frames(out)).astype(np.int16))
    assert np.abs(outs[0] - outs[1]).max() == 0
    assert np.abs(outs[0] - outs[2]).max() > 0


def test_help_reads_like_a_manual():
    r = run_cli("animate", "--help")
    assert r.returncode == 0
    for words in ["exit codes", "examples:", "--fps", "--size", "--seed", "29.97", "ffmpeg", "--framing", "--batch"]:
        assert words in r.stdout, words
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("voxportrait ")


def test_info_reports_engine_and_ffmpeg():
    r = run_cli("info")
    assert r.returncode == 0
    assert "viseme engines: learned (default), energy" in r.stdout
    assert "ffmpeg: /" in r.stdout
    if not os.environ.get("VOXPORTRAIT_FFMPEG"):
        assert "imageio_ffmpeg" in r.stdout  # pip alone brings the ffmpeg
