"""MP4 writing for the nodes: frames piped one at a time into ffmpeg.

H.264 yuv420p + AAC, the settings of the core's own MP4 writer (libx264
"veryfast", CRF 18 by default, High profile, 160 kb/s AAC at 48 kHz,
``+faststart`` so browsers play it while it loads). No ComfyUI here: the
Save Talking Video node feeds it an IMAGE batch frame by frame (Render To
Video uses the core's own writer, ``Renderer.render_to_file``), and Animate
uses ``fit_audio`` for its AUDIO output.

The file is written under a hidden temporary name beside the target and
renamed only when ffmpeg succeeded; on an error, an interruption or Ctrl-C
the temporary file is deleted, so no half-written video is ever left.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import uuid
from fractions import Fraction

_ENCODERS: dict = {}


def h264_encoder(ffmpeg: str) -> str:
    """``libx264`` when the ffmpeg has it, else ``libopenh264`` (cached per binary)."""
    if ffmpeg not in _ENCODERS:
        out = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-encoders"], capture_output=True,
                             text=True, stdin=subprocess.DEVNULL).stdout
        names = {line.split()[1] for line in out.splitlines() if len(line.split()) > 1}
        _ENCODERS[ffmpeg] = next((e for e in ("libx264", "libopenh264") if e in names), "")
    if not _ENCODERS[ffmpeg]:
        raise RuntimeError(f"ffmpeg at {ffmpeg} has no H.264 encoder (libx264 or libopenh264)")
    return _ENCODERS[ffmpeg]


def fit_audio(samples, sample_rate: int, frames: int, fps: Fraction):
    """``samples`` (``[C,T]`` float32) trimmed or padded with silence to
    exactly ``frames / fps`` seconds."""
    import numpy as np

    want = int(Fraction(frames) * Fraction(sample_rate) / Fraction(fps) + Fraction(1, 2))
    c, t = samples.shape
    if t >= want:
        return np.ascontiguousarray(samples[:, :want], dtype=np.float32)
    out = np.zeros((c, want), dtype=np.float32)
    out[:, :t] = samples
    return out


def even_size(width: int, height: int):
    """The frame size H.264 4:2:0 gets: odd sides grow by one pixel."""
    return width + (width & 1), height + (height & 1)


class Mp4Writer:
    """Writes ``frames`` RGB frames of ``width`` x ``height`` at ``fps`` into
    ``path``, with ``audio`` (``(samples [C,T] float32, rate)``, trimmed or
    padded to the video) as AAC. Odd sizes are padded to even ones by
    repeating the last row/column.

    Use as a context manager: leaving it with an exception aborts (no file);
    leaving it normally finishes and renames. ``write`` takes one uint8
    ``[H,W,3]`` frame.
    """

    def __init__(self, path, width: int, height: int, fps: Fraction, frames: int, *, audio=None,
                 crf: int = 18, ffmpeg: str = None):
        import numpy as np

        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        if frames < 1:
            raise ValueError("a video needs at least one frame")
        self.path = os.fspath(path)
        self.width, self.height = int(width), int(height)
        self.out_width, self.out_height = even_size(self.width, self.height)
        self.fps = Fraction(fps)
        self.frames = int(frames)
        self.written = 0
        if ffmpeg is None:
            import voxportrait

            ffmpeg = voxportrait.find_ffmpeg()
        self.ffmpeg = ffmpeg
        encoder = h264_encoder(ffmpeg)
        folder = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        self.tmp = os.path.join(folder, f".{base}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
        self._audio_file = None
        self._proc = None
        self._stderr = tempfile.TemporaryFile()
        rate = f"{self.fps.numerator}/{self.fps.denominator}"
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{self.out_width}x{self.out_height}",
               "-framerate", rate, "-i", "pipe:0"]
        try:
            if audio is not None:
                samples, sample_rate = audio
                samples = np.asarray(samples, dtype=np.float32)
                if samples.ndim == 1:
                    samples = samples[None]
                if samples.shape[0] > 2:  # more than stereo: mono mix
                    samples = samples.mean(axis=0, keepdims=True)
                samples = fit_audio(np.nan_to_num(samples), int(sample_rate), self.frames, self.fps)
                fd, self._audio_file = tempfile.mkstemp(prefix="voxportrait-audio-", suffix=".f32")
                with os.fdopen(fd, "wb") as f:
                    f.write(np.ascontiguousarray(samples.T, dtype="<f4").tobytes())
                cmd += ["-f", "f32le", "-ar", str(int(sample_rate)), "-ac", str(samples.shape[0]),
                        "-i", self._audio_file]
            cmd += ["-map", "0:v:0", "-c:v", encoder, "-pix_fmt", "yuv420p"]
            if encoder == "libx264":
                cmd += ["-preset", "veryfast", "-crf", str(int(crf)), "-profile:v", "high"]
            cmd += ["-r", rate, "-fps_mode", "cfr"]
            if audio is not None:
                cmd += ["-map", "1:a:0", "-c:a", "aac", "-b:a", "160k", "-ar", "48000"]
            cmd += ["-movflags", "+faststart", "-f", "mp4", self.tmp]
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr)
        except BaseException:
            self.abort()
            raise

    def _log(self) -> str:
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return " | ".join(lines[-3:])

    def write(self, rgb) -> None:
        """One uint8 ``[H,W,3]`` frame."""
        import numpy as np

        a = np.asarray(rgb)
        if a.shape != (self.height, self.width, 3) or a.dtype != np.uint8:
            raise ValueError(f"frame {self.written} is {a.dtype} {list(a.shape)}, expected uint8 "
                             f"[{self.height}, {self.width}, 3]")
        if self.written >= self.frames:
            raise ValueError(f"more frames than the {self.frames} announced")
        if (self.out_width, self.out_height) != (self.width, self.height):
            a = np.pad(a, ((0, self.out_height - self.height), (0, self.out_width - self.width), (0, 0)),
                       mode="edge")
        try:
            self._proc.stdin.write(np.ascontiguousarray(a).tobytes())
        except (BrokenPipeError, OSError):
            self._proc.wait()
            raise RuntimeError(f"ffmpeg stopped while writing frame {self.written}: {self._log()}")
        self.written += 1

    def close(self) -> str:
        """Finishes the file and moves it to ``path``; returns ``path``."""
        if self.written != self.frames:
            raise ValueError(f"{self.written} frames written, {self.frames} announced")
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        code = self._proc.wait()
        if code != 0 or not os.path.exists(self.tmp):
            raise RuntimeError(f"ffmpeg failed (exit {code}): {self._log()}")
        os.replace(self.tmp, self.path)
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stops ffmpeg and deletes the temporary file."""
        p = self._proc
        if p is not None and p.poll() is None:
            try:
                p.stdin.close()
            except OSError:
                pass
            p.kill()
            p.wait()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._audio_file and os.path.exists(self._audio_file):
            os.unlink(self._audio_file)
        self._audio_file = None
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None:
            self.abort()
            return False
        try:
            self.close()
        except BaseException:
            self.abort()
            raise
        return False
