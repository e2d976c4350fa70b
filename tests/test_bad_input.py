"""Bad input gets one clear line and a script-friendly exit code; never a
traceback, and never a partial output file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np
import pytest

from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, listing, run_cli

EXIT_USAGE, EXIT_INPUT, EXIT_OUTPUT, EXIT_ENCODER, EXIT_INTERRUPTED = 2, 3, 4, 5, 130


def assert_clean_failure(r, code, *words):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("voxportrait: error: ")
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize(
    "image, audio, words",
    [
        (DATA / "missing.png", SPEECH_1S, ["missing.png", "not found"]),
        (PORTRAIT, DATA / "missing.wav", ["missing.wav", "not found"]),
        (DATA / "not_image.png", SPEECH_1S, ["not_image.png", "not a recognised image"]),
        (SPEECH_1S, SPEECH_1S, ["not a recognised image"]),
        (PORTRAIT, DATA / "not_audio.wav", ["not_audio.wav", "not a recognised audio"]),
        (PORTRAIT, PORTRAIT, ["not a recognised audio"]),
        (DATA / "empty.wav", SPEECH_1S, ["empty (0 bytes)"]),
        (PORTRAIT, DATA / "empty.wav", ["empty.wav", "empty (0 bytes)"]),
        (PORTRAIT, DATA / "silence_1s.wav", ["silent", "--allow-silent"]),
        (DATA, SPEECH_1S, ["is a folder"]),
    ],
)
def test_unusable_inputs_exit_3_with_one_line(outdir, image, audio, words):
    r = run_cli("animate", image, audio, "-o", outdir / "x.mp4")
    assert_clean_failure(r, EXIT_INPUT, *words)
    assert listing(outdir) == []


def test_audio_over_the_limit_is_refused(outdir):
    r = run_cli("animate", PORTRAIT, SPEECH, "-o", outdir / "x.mp4", "--max-audio-seconds", "3")
    assert_clean_failure(r, EXIT_INPUT, "limit", "--max-audio-seconds")
    assert listing(outdir) == []


def test_audio_over_the_limit_is_refused_quickly(tmp_path, outdir):
    # An 11-minute WAV (8 kHz, silent apart from a tone) over a 10-minute
    # --max-audio-seconds is refused from its header, without decoding it.
    # (animate's default limit is 6 hours: its audio streams.)
    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        tone = (np.sin(np.arange(8000) / 8000 * 2 * np.pi * 200) * 8000).astype("<i2").tobytes()
        for _ in range(11 * 60):
            w.writeframes(tone)
    start = time.monotonic()
    r = run_cli("animate", PORTRAIT, long, "-o", outdir / "x.mp4", "--max-audio-seconds", "600")
    assert_clean_failure(r, EXIT_INPUT, "11 min 0 s", "10 min 0 s limit")
    assert time.monotonic() - start < 20


def test_silent_audio_renders_when_allowed(outdir):
    r = run_cli("animate", PORTRAIT, DATA / "silence_1s.wav", "-o", outdir / "idle.mp4", "--allow-silent", "-q")
    assert r.returncode == 0, r.stderr
    assert listing(outdir) == ["idle.mp4"]


@pytest.mark.parametrize(
    "target, words",
    [
        ("missing-dir/x.mp4", ["does not exist"]),
        ("file.txt/x.mp4", ["not a folder"]),
        ("/proc/voxportrait-test.mp4", ["cannot write"]),
        ("x.webp", ["WebP"]),
        ("x.txt", ["unknown output extension"]),
    ],
)
def test_unwritable_outputs_exit_4(outdir, target, words):
    (outdir / "file.txt").write_text("x")
    path = target if target.startswith("/") else outdir / target
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", path)
    assert_clean_failure(r, EXIT_OUTPUT, *words)
    assert listing(outdir) == ["file.txt"]


def test_missing_ffmpeg_exits_5_and_suggests_gif(outdir):
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", outdir / "x.mp4", "--ffmpeg", "/nonexistent/ffmpeg")
    assert_clean_failure(r, EXIT_ENCODER, "/nonexistent/ffmpeg", "GIF")
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", outdir / "x.mp4",
                env={"VOXPORTRAIT_FFMPEG": str(DATA / "not_audio.wav")})
    assert_clean_failure(r, EXIT_ENCODER, "VOXPORTRAIT_FFMPEG")
    assert listing(outdir) == []


@pytest.mark.parametrize(
    "args",
    [["--fps", "abc"], ["--fps", "0"], ["--size", "10"], ["--seed", "-1"], ["--mouth", "2,2"], ["--bogus"]],
)
def test_bad_options_exit_2(outdir, args):
    r = run_cli("animate", PORTRAIT, SPEECH_1S, "-o", outdir / "x.mp4", *args)
    assert r.returncode == EXIT_USAGE
    assert "Traceback" not in r.stderr
    assert listing(outdir) == []


def test_ctrl_c_stops_cleanly_without_partial_output(tmp_path, outdir):
    # 24 s of speech at 1024 px takes several seconds, so the interrupt lands mid-job.
    import voxportrait

    samples, rate = voxportrait.load_audio(SPEECH)
    long = tmp_path / "long.wav"
    with wave.open(str(long), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.tile(samples, 3) * 32767).astype("<i2").tobytes())
    proc = subprocess.Popen(
        [sys.executable, "-m", "voxportrait", "animate", str(PORTRAIT), str(long),
         "-o", str(outdir / "x.mp4"), "--size", "1024"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Wait until frames are being written (a hidden temp file appears).
    deadline = time.monotonic() + 60
    while not listing(outdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "interrupted" in err
    assert listing(outdir) == []
