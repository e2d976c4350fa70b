#!/usr/bin/env bash
# Builds the abi3 manylinux2014 wheels (glibc >= 2.17, every CPython >= 3.9)
# for x86_64 and aarch64 with maturin, using zig (PyPI "ziglang") as the
# linker so that one Linux machine builds both; checks each with
# auditwheel; then installs the wheel for this machine's architecture into a
# fresh venv, with no cargo on PATH, and runs a real call (face analysis of
# examples/portrait.png) and checks its build id against this checkout.
#
#   tools/build_wheels.sh                 # both architectures
#   TARGETS=x86_64 tools/build_wheels.sh  # one
#
# Wheels go to wheelhouse/, the build tools to .tools/wheels (both ignored).
# About 10 minutes per architecture on 2 idle cores (release profile).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGETS="${TARGETS:-x86_64 aarch64}"
TOOLS=.tools/wheels
OUT=wheelhouse
if [ ! -x "$TOOLS/bin/maturin" ]; then
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet 'maturin>=1.7,<2' ziglang auditwheel
fi
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
build_id() { python3 -c 'import sys; sys.path.insert(0, "python/voxportrait"); import _build; print(_build.source_build_id("."))'; }
echo "== voxportrait $VERSION, build $(build_id)"
mkdir -p "$OUT"
for arch in $TARGETS; do
    target="$arch-unknown-linux-gnu"
    command -v rustup >/dev/null && rustup target add "$target" >/dev/null
    rm -f "$OUT"/voxportrait-"$VERSION"-*"$arch".whl
    echo "== building $target (manylinux2014, zig)"
    start=$SECONDS
    PATH="$PWD/$TOOLS/bin:$PATH" maturin build --release --zig --compatibility manylinux2014 \
        --target "$target" --out "$OUT" 2>&1 | grep -E '^(📦|🔗|🐍|⚠️|💻|error|warning: unused)|Built wheel|Finished' || true
    wheel="$(ls "$OUT"/voxportrait-"$VERSION"-cp39-abi3-*"$arch".whl)"
    echo "   $wheel: $(du -h "$wheel" | cut -f1), built in $((SECONDS - start)) s"
    echo "== auditwheel show"
    "$TOOLS/bin/auditwheel" show "$wheel" | tee "$OUT/auditwheel-$arch.txt"
    grep -q "manylinux_2_17_$arch" "$OUT/auditwheel-$arch.txt" || { echo "not manylinux_2_17_$arch"; exit 1; }
    # Computed after the build: cargo may have just updated Cargo.lock.
    BUILD_ID="$(build_id)"
    python3 - "$wheel" "$BUILD_ID" <<'PY' || exit 1
import re, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
core = [n for n in z.namelist() if re.match(r"voxportrait/_native[.]", n)]
ok = core and sys.argv[2].encode() in z.read(core[0])
print(f"   {core[0]} carries build id {sys.argv[2]}" if ok else f"wheel lacks build id {sys.argv[2]}")
sys.exit(0 if ok else 1)
PY
done
BUILD_ID="$(build_id)"

host="$(uname -m)"
case " $TARGETS " in
    *" $host "*) wheel="$(ls "$OUT"/voxportrait-"$VERSION"-cp39-abi3-*"$host".whl)" ;;
    *) echo "== no $host wheel built in this run: nothing to install here"; exit 0 ;;
esac
echo "== installing $wheel into a fresh venv, without cargo"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
start=$SECONDS
"$tmp/venv/bin/pip" install --quiet "$wheel"
echo "   installed with its dependencies in $((SECONDS - start)) s"
# Only the venv and the system's own folders: no ~/.cargo/bin, no rustup.
clean_path="$tmp/venv/bin:/usr/bin:/bin"
if PATH="$clean_path" command -v cargo >/dev/null; then echo "cargo is in /usr/bin: cannot show a cargo-free install"; exit 1; fi
cp examples/portrait.png "$tmp/"
(cd "$tmp" && env -i PATH="$clean_path" HOME="$tmp" "$tmp/venv/bin/python" - <<'PY'
import shutil, voxportrait
assert shutil.which("cargo") is None
print("imported voxportrait", voxportrait.__version__, "build", voxportrait.BUILD_ID, "from", voxportrait.__file__)
face = voxportrait.analyze_face("portrait.png")
print(f"analyze_face(portrait.png): box {[round(v) for v in face.box]}, score {face.score:.2f}, "
      f"{len(face.landmarks)} landmarks, yaw {face.pose.yaw_degrees:+.1f} deg")
PY
)
(cd "$tmp" && env -i PATH="$clean_path" HOME="$tmp" "$tmp/venv/bin/voxportrait" face portrait.png --json face.json && ls -l face.json)
installed="$(cd "$tmp" && env -i PATH="$clean_path" "$tmp/venv/bin/python" -c 'import voxportrait; print(voxportrait.BUILD_ID)')"
[ "$installed" = "$BUILD_ID" ] || { echo "installed build $installed != checkout $BUILD_ID"; exit 1; }
echo "== ok:"; for w in "$OUT"/*.whl; do echo "   $(basename "$w")"; done
