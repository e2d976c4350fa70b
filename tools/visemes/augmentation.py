"""Augmentation for the synthetic viseme corpus (``espeak_corpus.py``).

Each augmented copy runs a random subset of a recording chain: speed
(tape-style resampling), pitch (sox, timing kept), a synthetic room
(reverb), additive noise (white, pink or babble), EQ (shelves and peaks, or
a telephone band), gain, and a lossy codec round trip through ffmpeg (mp3,
opus, aac). Only the speed change moves label times; it rescales the
viseme segments. Everything draws from the caller's numpy Generator, and
sox and ffmpeg are deterministic, so a seed reproduces the copy.
"""

import math
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from scipy import signal

import phonemes

SAMPLE_RATE = 16000
FRAME_SAMPLES = 320  # 20 ms
FRAME_MS = 1000.0 * FRAME_SAMPLES / SAMPLE_RATE


def fit_to_frames(audio, segments):
    """Pad with silence to whole 20 ms frames; segments tile that length."""
    n_frames = max(1, math.ceil(len(audio) / FRAME_SAMPLES))
    audio = np.pad(audio, (0, n_frames * FRAME_SAMPLES - len(audio)))
    end_ms = n_frames * FRAME_MS
    fitted = [(a, min(b, end_ms), v) for a, b, v in segments if a < end_ms and b > a]
    last_end = fitted[-1][1]
    if last_end < end_ms:
        fitted.append((last_end, end_ms, 0))
    return audio, fitted, n_frames


def speed_perturb(x, segments, rng):
    """Resample like a faster or slower tape: time and pitch scale together."""
    factor = rng.uniform(0.85, 1.15)
    up, down = 1000, int(round(1000 * factor))
    g = math.gcd(up, down)
    scale = up / down  # output duration / input duration, exactly
    y = signal.resample_poly(x, up // g, down // g)
    return y, [(a * scale, b * scale, v) for a, b, v in segments], {"factor": down / up}


def _envelope(x):
    return np.convolve(np.abs(x), np.ones(160) / 160, mode="same")


def align_to(y, reference, max_lag=1600):
    """Shift ``y`` so its envelope lines up with ``reference``'s; same length."""
    n = min(len(y), len(reference))
    corr = signal.correlate(_envelope(y[:n]), _envelope(reference[:n]), mode="full", method="fft")
    lags = np.arange(-n + 1, n)
    keep = np.abs(lags) <= max_lag
    lag = int(lags[keep][np.argmax(corr[keep])])
    y = np.roll(np.pad(y, (0, max(0, len(reference) - len(y))))[:len(reference)], -lag)
    if lag > 0:
        y[-lag:] = 0
    elif lag < 0:
        y[:-lag] = 0
    return y, lag


def _sox(x, effect):
    out = subprocess.run(["sox", "-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1", "-",
                          "-t", "f32", "-"] + effect,
                         input=x.astype(np.float32).tobytes(), capture_output=True, check=True)
    return np.frombuffer(out.stdout, np.float32).astype(np.float64)


def pitch_shift(x, rng):
    """sox ``pitch`` (WSOLA): same timing, re-aligned (sox delays 5-15 ms)."""
    cents = int(rng.uniform(-400, 400))
    y, lag = align_to(_sox(x, ["pitch", str(cents)]), x)
    return y, {"cents": cents, "lag_samples": lag}


def room_impulse_response(rng):
    """Synthetic RIR: direct path at t=0, early reflections, decaying tail."""
    rt60 = rng.uniform(0.1, 0.9)
    n = int(min(1.2 * rt60, 1.0) * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.908 * t / rt60)  # -60 dB at rt60
    tail[: int(rng.uniform(0.005, 0.02) * SAMPLE_RATE)] = 0.0  # pre-delay
    damping = rng.uniform(0.0, 0.7)  # one-pole low-pass: air absorption
    tail = signal.lfilter([1 - damping], [1, -damping], tail)
    early = np.zeros(n)
    for _ in range(int(rng.integers(3, 10))):
        k = int(rng.uniform(0.001, 0.04) * SAMPLE_RATE)
        early[k] += rng.choice((-1, 1)) * rng.uniform(0.1, 0.7) * math.exp(-6.908 * k / SAMPLE_RATE / rt60)
    drr_db = rng.uniform(-4, 12)  # direct-to-reverberant energy ratio
    reverb = early + tail
    reverb *= math.sqrt(1.0 / (np.sum(reverb ** 2) * 10 ** (drr_db / 10)))
    reverb[0] += 1.0
    return reverb, {"rt60_s": round(rt60, 3), "drr_db": round(drr_db, 1)}


def add_reverb(x, rng):
    rir, params = room_impulse_response(rng)
    return signal.fftconvolve(x, rir)[: len(x)], params


def _biquad(kind, f0, gain_db, q):
    """RBJ audio-EQ-cookbook biquad as one sos row."""
    a_lin = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / SAMPLE_RATE
    cw, alpha = math.cos(w0), math.sin(w0) / (2 * q)
    if kind == "peak":
        b = [1 + alpha * a_lin, -2 * cw, 1 - alpha * a_lin]
        a = [1 + alpha / a_lin, -2 * cw, 1 - alpha / a_lin]
    else:
        sign = 1 if kind == "lowshelf" else -1
        sq = 2 * math.sqrt(a_lin) * alpha
        b = [a_lin * ((a_lin + 1) - sign * (a_lin - 1) * cw + sq),
             sign * 2 * a_lin * ((a_lin - 1) - sign * (a_lin + 1) * cw),
             a_lin * ((a_lin + 1) - sign * (a_lin - 1) * cw - sq)]
        a = [(a_lin + 1) + sign * (a_lin - 1) * cw + sq,
             -sign * 2 * ((a_lin - 1) + sign * (a_lin + 1) * cw),
             (a_lin + 1) + sign * (a_lin - 1) * cw - sq]
    return np.concatenate([b, a]) / a[0]


def random_eq(x, rng):
    """Telephone band-limiting (30%) or random shelves and peaks."""
    if rng.random() < 0.3:
        lo, hi = rng.uniform(200, 400), rng.uniform(2800, 3800)
        sos = signal.butter(4, [lo, hi], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        return signal.sosfilt(sos, x), {"kind": "phone", "band_hz": [int(lo), int(hi)]}
    rows = [("lowshelf", rng.uniform(80, 400), rng.uniform(-10, 10), 0.7),
            ("highshelf", rng.uniform(2000, 7000), rng.uniform(-12, 8), 0.7)]
    rows += [("peak", math.exp(rng.uniform(math.log(200), math.log(6000))),
              rng.uniform(-12, 12), rng.uniform(0.5, 4)) for _ in range(int(rng.integers(1, 4)))]
    sos = np.stack([_biquad(*row) for row in rows])
    return signal.sosfilt(sos, x), {"kind": "parametric",
                                    "filters": [[k, int(f), round(g, 1), round(q, 2)] for k, f, g, q in rows]}


def pink_noise(n, rng):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum))
    spectrum[1:] /= np.sqrt(f[1:])
    spectrum[0] = 0
    return np.fft.irfft(spectrum, n)


def add_noise(x, speech_mask, rng, babble):
    """White, pink or babble noise at SNR 5-30 dB over the speech frames."""
    kind = rng.choice(("white", "pink", "babble"), p=(0.3, 0.3, 0.4))
    snr_db = rng.uniform(5, 30)
    noise = {"white": lambda: rng.standard_normal(len(x)),
             "pink": lambda: pink_noise(len(x), rng),
             "babble": lambda: babble(len(x), rng)}[kind]()
    speech_power = np.mean(x[speech_mask] ** 2) if speech_mask.any() else np.mean(x ** 2)
    noise *= math.sqrt(speech_power / (np.mean(noise ** 2) + 1e-12) / 10 ** (snr_db / 10))
    return x + noise, {"kind": str(kind), "snr_db": round(snr_db, 1)}


def lossy_codec(x, rng):
    """Encode and decode with ffmpeg: mp3, opus or aac at low bit rates."""
    codec = rng.choice(("mp3", "opus", "aac"))
    kbps = int({"mp3": rng.uniform(32, 96), "opus": rng.uniform(12, 32), "aac": rng.uniform(32, 64)}[codec])
    encoder, ext = {"mp3": ("libmp3lame", "mp3"), "opus": ("libopus", "ogg"), "aac": ("aac", "m4a")}[codec]
    with tempfile.TemporaryDirectory() as tmp:
        raw, coded = Path(tmp, "in.f32"), Path(tmp, f"coded.{ext}")
        x.astype(np.float32).tofile(raw)
        ff = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1"]
        subprocess.run(ff + ["-f", "f32le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", str(raw),
                             "-c:a", encoder, "-b:a", f"{kbps}k", str(coded)], check=True)
        decoded = subprocess.run(ff + ["-i", str(coded), "-f", "f32le", "-ar", str(SAMPLE_RATE),
                                       "-ac", "1", "pipe:1"], check=True, capture_output=True).stdout
    # ffmpeg trims the codecs' delays itself (lag 0); align_to is a safeguard.
    y, lag = align_to(np.frombuffer(decoded, np.float32).astype(np.float64), x, max_lag=800)
    return y, {"kind": str(codec), "kbps": kbps, "lag_samples": lag}


# Probability of each augmentation in an augmented copy (at least one applies).
AUGMENT_P = {"speed": 0.5, "pitch": 0.3, "reverb": 0.5, "noise": 0.7, "eq": 0.5, "codec": 0.3}


def augment(x, segments, rng, babble):
    """One augmented copy: speed, pitch, reverb, noise, EQ, gain, codec.

    The order follows a recording chain (the source, then the room, the
    microphone and channel, then compression). Only speed changes timing;
    it rescales the segments. Returns audio (whole frames), segments and
    ``{effect: its parameters}`` for the effects applied.
    """
    chosen = {k: rng.random() < p for k, p in AUGMENT_P.items()}
    if not any(chosen.values()):
        chosen["noise"] = True
    params = {}
    if chosen["speed"]:
        x, segments, params["speed"] = speed_perturb(x, segments, rng)
    x, segments, n_frames = fit_to_frames(x, segments)
    if chosen["pitch"]:
        x, params["pitch"] = pitch_shift(x, rng)
    if chosen["reverb"]:
        x, params["reverb"] = add_reverb(x, rng)
    if chosen["noise"]:
        hard, _ = phonemes.frame_labels(segments, n_frames, FRAME_MS)
        x, params["noise"] = add_noise(x, np.repeat(hard != 0, FRAME_SAMPLES), rng, babble)
    if chosen["eq"]:
        x, params["eq"] = random_eq(x, rng)
    peak_db = rng.uniform(-25, -1)
    x = x * (10 ** (peak_db / 20) / (np.max(np.abs(x)) + 1e-9))
    params["gain"] = {"peak_dbfs": round(peak_db, 1)}
    if chosen["codec"]:
        x, params["codec"] = lossy_codec(x, rng)
    return np.clip(x, -1, 1), segments, params
