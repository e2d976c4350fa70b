"""The Python API: media loading with numpy out, errors as exceptions,
panics contained, GIL released, cancellation from the progress callback."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import voxportrait
from helpers import DATA, PORTRAIT, SPEECH, SPEECH_1S, listing


def test_load_audio_downmixes_and_resamples_every_format():
    ref, rate = voxportrait.load_audio(SPEECH_1S, sample_rate=16000)
    assert rate == 16000 and ref.dtype == np.float32 and ref.ndim == 1
    for name in ["speech_1s.mp3", "speech_1s.flac", "speech_1s.ogg", "speech_1s.m4a", "speech_1s_f32.wav"]:
        x, r = voxportrait.load_audio(DATA / name, sample_rate=16000)
        assert r == 16000
        assert abs(len(x) - len(ref)) < 0.08 * 16000, name
        n = min(len(x), len(ref))
        # Allow for codec delay: best correlation within +-50 ms.
        best = max(
            np.corrcoef(ref[max(0, -lag) : n - max(0, lag)], x[max(0, lag) : n - max(0, -lag)])[0, 1]
            for lag in range(-800, 801)
        )
        assert best > 0.9, (name, best)
    native, native_rate = voxportrait.load_audio(SPEECH_1S)
    assert native_rate == 44100 and len(native) == 44100


def test_resample_preserves_duration():
    x = np.sin(np.arange(48000) / 48000 * 2 * np.pi * 300).astype(np.float32)
    y = voxportrait.resample(x, 48000, 16000)
    assert len(y) == 16000
    assert abs(np.abs(y[1000:-1000]).max() - 1.0) < 0.02


def test_load_image_orientation_alpha_and_bit_depth():
    up = voxportrait.load_image(DATA / "portrait_rot90.jpg")
    assert up.shape == (192, 256, 3) and up.dtype == np.uint8
    rgba = voxportrait.load_image(DATA / "portrait_rgba.png", alpha="keep")
    assert rgba.shape == (256, 256, 4) and rgba[0, 0, 3] == 0
    green = voxportrait.load_image(DATA / "portrait_rgba.png", background=(0, 255, 0))
    assert tuple(green[0, 0]) == (0, 255, 0)
    gray = voxportrait.load_image(DATA / "portrait_gray16.png")
    assert gray.shape == (256, 256, 3)
    assert (gray[..., 0] == gray[..., 1]).all()
    with pytest.raises(voxportrait.InputError, match="alpha must be"):
        voxportrait.load_image(PORTRAIT, alpha="drop")


def test_errors_are_typed_exceptions():
    with pytest.raises(voxportrait.InputError, match="not found"):
        voxportrait.load_audio(DATA / "nope.wav")
    with pytest.raises(voxportrait.InputError):
        voxportrait.load_image(DATA / "not_image.png")
    assert issubclass(voxportrait.InputError, voxportrait.VoxPortraitError)
    assert issubclass(voxportrait.VoxPortraitError, Exception)


def test_rust_panic_becomes_internal_error_and_process_survives():
    from voxportrait import _native

    with pytest.raises(voxportrait.InternalError, match="deliberate test panic"):
        _native._panic_for_test()
    # The library still works afterwards.
    assert voxportrait.parse_fps("29.97") == (30000, 1001)


def test_a_poisoned_lock_is_an_internal_error_with_exit_code_1():
    """An internal failure (here a lock poisoned by an earlier panic, as in a
    Dubber, MotionFitter or FrameWriter) is InternalError, which the CLI and
    batch report as exit code 1, not as unusable input (3)."""
    from voxportrait import _native, cli

    with pytest.raises(voxportrait.InternalError, match="cannot be used after an earlier failure") as e:
        _native._poisoned_lock_for_test()
    assert not isinstance(e.value, voxportrait.InputError)
    assert cli._exit_code_of(e.value) == cli.EXIT_INTERNAL == 1
    assert voxportrait.parse_fps("25") == (25, 1)


def test_exception_in_progress_callback_cancels_and_cleans_up(outdir):
    seen = []

    def progress(done, total):
        seen.append(done)
        if done == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        voxportrait.animate(PORTRAIT, SPEECH, outdir / "x.mp4", size=128, progress=progress)
    assert seen == [1, 2, 3, 4, 5]
    assert listing(outdir) == []


def test_gil_is_released_while_rendering(outdir):
    done = threading.Event()
    report = {}

    def job():
        report.update(voxportrait.animate(PORTRAIT, SPEECH, outdir / "x.mp4", size=512))
        done.set()

    ticks = 0
    t = threading.Thread(target=job)
    start = time.monotonic()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.monotonic() - start
    assert report["frames"] == 196
    # With the GIL held, the main thread would barely run; released, it
    # ticks roughly once a millisecond.
    assert ticks > 0.3 * elapsed * 1000, (ticks, elapsed)


def test_report_describes_the_video(outdir):
    r = voxportrait.animate(PORTRAIT, SPEECH_1S, outdir / "x.gif", fps="15", size=96)
    assert r["format"] == "gif" and r["frames"] == 15 and r["fps"] == "15"
    assert (r["width"], r["height"]) == (96, 96) and r["engine"] == "learned"


def test_animate_streams_so_its_default_audio_limit_is_six_hours():
    import inspect

    assert voxportrait.STREAMING_MAX_AUDIO_SECONDS == 6 * 3600
    assert inspect.signature(voxportrait.animate).parameters["max_audio_seconds"].default == 6 * 3600
    # Loading audio whole and dub's new speech keep the in-memory limit.
    assert voxportrait.DEFAULT_MAX_AUDIO_SECONDS == 600
    assert inspect.signature(voxportrait.dub).parameters["max_audio_seconds"].default == 600
