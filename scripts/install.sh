#!/usr/bin/env bash
# Install what remotezoo needs on a Debian/Ubuntu machine, then remotezoo itself (editable, with
# its test extra) — the first half of both README commands.
#
#   bash scripts/install.sh         # system libraries, Python headers, remotezoo
#   bash scripts/install.sh --ci    # also what .ci/run needs: clang with its fuzzer/sanitizer
#                                   # runtime, git, dpkg-dev
#
# The Python (scripts/lib.sh, rz_python): inside an active virtualenv, that one; else the
# project's .venv/, made from python3 (or $RZ_BASE_PYTHON) when absent and reused when present —
# Debian 12+ and Ubuntu 23.04+ refuse pip in their own Python (PEP 668). The headers installed are
# the ones of the interpreter the extensions are built for. The last line printed names the
# interpreter to use afterwards.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RZ_ROOT"

die() { echo "install.sh: $*" >&2; exit 1; }

CI_TOOLS=0
[ "${1:-}" = "--ci" ] && CI_TOOLS=1

PY=$(rz_python)
VENV=$RZ_ROOT/.venv
if [ -x "$PY" ]; then
    BASE=$PY
elif [ "$PY" = "$VENV/bin/python" ]; then
    BASE=${RZ_BASE_PYTHON:-python3}
else
    die "$PY not found (PYTHON or VIRTUAL_ENV names a Python that is not there)"
fi
command -v "$BASE" >/dev/null || { [ "$BASE" = python3 ] && rz_apt_install python3; } \
    || die "$BASE not found"

# What the interpreter lacks: its version, where it lives, whether its Python.h exists (a venv's
# include path is its base's), and whether it can make a venv (Debian keeps ensurepip apart).
read -r VERSION PREFIX HAS_HEADERS HAS_ENSUREPIP < <("$BASE" - <<'PY'
import importlib.util, os, sys, sysconfig
include = os.path.join(sysconfig.get_paths()["include"], "Python.h")
print("%d.%d" % sys.version_info[:2], sys.base_prefix, int(os.path.exists(include)),
      int(importlib.util.find_spec("ensurepip") is not None))
PY
)

# Build: compiler, C library headers, pkg-config and the -dev packages setup.py links.
APT_PACKAGES=(gcc libc6-dev pkg-config libcurl4-openssl-dev libarchive-dev libcjson-dev libssl-dev)
if [ "$HAS_HEADERS" = 0 ]; then
    [ "$PREFIX" = /usr ] || die "$BASE (in $PREFIX) has no Python.h and is not the system's Python;" \
        "install that Python's headers, or use the system's: RZ_BASE_PYTHON=/usr/bin/python3"
    APT_PACKAGES+=("python$VERSION-dev")
fi
if [ ! -x "$PY" ] && [ "$HAS_ENSUREPIP" = 0 ]; then
    [ "$PREFIX" = /usr ] || die "$BASE cannot create a virtualenv (no ensurepip)"
    APT_PACKAGES+=("python$VERSION-venv")
fi
# --ci: clang for the libFuzzer harnesses (scripts/fuzz.sh), git for scripts/sanitize.sh,
# dpkg-dev for the wheel's library sources (apt-get source, scripts/build_wheel_deps.sh); for the
# cluster tests nginx (the caching mirror), strace (the read-only cache's write count) and
# iproute2 (hosts in network namespaces).
[ "$CI_TOOLS" = 1 ] && APT_PACKAGES+=(clang git dpkg-dev nginx strace iproute2)
rz_apt_install "${APT_PACKAGES[@]}"

if [ "$CI_TOOLS" = 1 ]; then
    # Debian ships clang's fuzzer and sanitizer runtimes apart from clang (libclang-rt-N-dev since
    # LLVM 14; before, in libclang-common-N-dev): the one that matches the clang found, when a
    # fuzzer does not link yet.
    probe=$(mktemp -d)
    echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' >"$probe/f.c"
    if ! clang -fsanitize=fuzzer,address,undefined -o "$probe/f" "$probe/f.c" 2>/dev/null; then
        major=$(clang -dumpversion | cut -d. -f1)
        runtime="libclang-rt-$major-dev"
        apt-cache show "$runtime" >/dev/null 2>&1 || runtime="libclang-common-$major-dev"
        rz_apt_install "$runtime"
    fi
    rm -rf "$probe"
fi

if [ ! -x "$PY" ]; then
    echo "remotezoo: creating the virtualenv .venv/ with $BASE" >&2
    "$BASE" -m venv "$VENV"
fi
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -e '.[test]'
echo "remotezoo: installed; run it with $PY (e.g. $PY -m remotezoo.demo)"
