#!/usr/bin/env bash
# Other platforms, from this x86-64 Linux machine (too slow for CI's 20-min
# budget on 2 cores, so run by hand; the README reports the last run):
#
#   windows  cargo check of the core and the binding for x86_64-pc-windows-gnu
#            (Debian's mingw-w64);
#   aarch64  the core's tests for aarch64-unknown-linux-gnu, linked with
#            Debian's gcc-aarch64-linux-gnu and run under qemu-aarch64
#            (qemu-user). There the AVX2/AVX-512 kernels are compiled out
#            and the portable ones run (fused multiply-adds, so bit-identical
#            to the SIMD kernels: test portable_and_simd_paths_agree_bit_for_bit
#            checks that on x86-64).
#
#   tools/check_platforms.sh                    # both
#   tools/check_platforms.sh windows
#   tools/check_platforms.sh aarch64 [FILTER]   # a test-name filter for a subset
#
# Installs the Debian packages and rustup targets it needs (as root with apt).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
filter="${2:-}"
need_deb() {
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}
# Runs a command into a log under target/, prints it without the
# per-crate lines, and returns the command's exit code.
run_logged() {
    local log="target/$1.log"; shift
    mkdir -p target
    set +e; "$@" >"$log" 2>&1; local rc=$?; set -e
    grep -Ev '^\s+(Compiling|Checking)' "$log" | tail -n 80
    return $rc
}
if [ "$what" = all ] || [ "$what" = windows ]; then
    need_deb mingw-w64
    rustup target add x86_64-pc-windows-gnu >/dev/null
    echo "== cargo check --target x86_64-pc-windows-gnu (core, binding)"
    start=$SECONDS
    # abi3 needs no Windows Python to compile against.
    PYO3_CROSS_PYTHON_VERSION=3.9 run_logged check-windows cargo check --release --target x86_64-pc-windows-gnu \
        -p voxportrait-core -p voxportrait-py --all-targets
    echo "   windows check ok in $((SECONDS - start)) s"
fi
if [ "$what" = all ] || [ "$what" = aarch64 ]; then
    need_deb gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
    rustup target add aarch64-unknown-linux-gnu >/dev/null
    echo "== cargo test --target aarch64-unknown-linux-gnu -p voxportrait-core ${filter:+(filter: $filter)} under qemu-aarch64"
    start=$SECONDS
    ffmpeg_exe=""
    if [ -x .venv/bin/python ]; then
        ffmpeg_exe="$(.venv/bin/python -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())' 2>/dev/null || true)"
    fi
    # Release, as tools/test.sh: the network parity tests are far too slow
    # unoptimised under emulation.
    # shellcheck disable=SC2086 # $filter: zero or one word
    VOXPORTRAIT_FFMPEG="$ffmpeg_exe" \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu" \
        run_logged test-aarch64 cargo test --release --target aarch64-unknown-linux-gnu -p voxportrait-core --lib -- $filter
    echo "   aarch64 tests ok in $((SECONDS - start)) s"
fi
