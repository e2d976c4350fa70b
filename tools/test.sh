#!/usr/bin/env bash
# Sets up a fresh checkout and runs the whole test suite:
#   1. a virtual environment in .venv with the package and its test extras
#      (pip builds the Rust extension with maturin; the imageio-ffmpeg
#      dependency brings an ffmpeg, so no system package is needed);
#   2. the Rust core's unit tests, pointed at that ffmpeg;
#   3. the Python end-to-end tests.
# Needs only a Rust toolchain and Python >= 3.9 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet '.[test]'

echo "== Rust core unit tests"
# Release profile, so the network parity tests run at real speed. (It does
# not yet reuse the dependencies maturin compiled for the wheel: candle is
# rebuilt once more, ~7 min on 2 cores; see the notes on why.) The core's MP4 test uses the ffmpeg
# pip installed; the Python tests find it on their own, as users' runs do.
VOXPORTRAIT_FFMPEG="$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" \
    cargo test --release --quiet -p voxportrait-core

echo "== Python tests"
.venv/bin/python -m pytest tests "$@"
