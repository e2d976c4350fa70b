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

# The browser tests drive the standalone app and the WebUI tab in headless
# Chromium: Debian's chromium and chromium-driver (no browser download).
# Installed here when this runs as root with apt (CI machines); elsewhere
# those tests skip unless the two packages are already there.
if ! command -v chromedriver >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== Installing Debian's chromium and chromium-driver for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
        || echo "   (could not install them: the browser tests will skip)"
fi

echo "== Rust core unit tests"
# Release profile, so the network parity tests run at real speed. It reuses
# every dependency maturin compiled for the wheel (candle, image, symphonia,
# serde...: the same features, so the same artifacts), and compiles only the
# core's own unit tests, about 2.5 min on 2 cores. That holds only while the
# core's dev-dependencies turn on no feature the wheel lacks: see the note in
# rust/voxportrait-core/Cargo.toml, and rust/voxportrait-xcheck for the
# cross-checks kept out of CI for that reason. The core's MP4 test uses the
# ffmpeg pip installed; the Python tests find it on their own, as users' runs
# do.
VOXPORTRAIT_FFMPEG="$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')" \
    cargo test --release --quiet -p voxportrait-core

echo "== Python tests"
.venv/bin/python -m pytest tests "$@"
