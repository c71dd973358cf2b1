#!/usr/bin/env bash
# The shipped wheel — the manylinux abi3 one scripts/build_wheel.sh makes, or the one given — in
# a fresh virtualenv of each CPython it can run, with its test extra and nothing else, and the
# fast test suite run against it there. Prints one line per interpreter:
#   <python> <version> <pytest's summary line>
# and fails if any run fails.
#
# The tests run from a copy of the tree whose remotezoo/ is a link to the installed wheel's
# package, so the test process and every subprocess it starts (they import remotezoo from the
# tree's root) use the wheel's files, never a build of the checkout.
#
#   bash scripts/abi3_matrix.sh                          # build_wheel.sh's wheel, every pyenv
#                                                        # CPython from the wheel's floor on
#   bash scripts/abi3_matrix.sh dist/remotezoo-*.whl     # that wheel
#   bash scripts/abi3_matrix.sh [WHEEL] python...        # those interpreters
#
# RZ_MATRIX_WORK: where the venvs, tree copies and logs go (default: a new directory in $TMPDIR,
# kept, its path printed).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RZ_ROOT"

say() { printf 'abi3_matrix: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

WORK=${RZ_MATRIX_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rz-abi3.XXXXXX")}
mkdir -p "$WORK"
say "work directory $WORK"

WHEEL=""
case "${1:-}" in
    *.whl) WHEEL=$(realpath "$1"); shift ;;
esac
if [ -z "$WHEEL" ]; then
    WHEEL=$(OUT_DIR="$WORK/wheelhouse" bash scripts/build_wheel.sh | tail -n 1)
fi
[ -f "$WHEEL" ] || die "no wheel at $WHEEL"
# remotezoo-0.1.0-cp39-abi3-manylinux_...: the oldest CPython that runs it.
IFS=- read -r _ _ interpreter abi _ <<<"$(basename "$WHEEL" .whl)"
[ "$abi" = abi3 ] || die "$(basename "$WHEEL") is not an abi3 wheel"
floor=${interpreter#cp3}
say "wheel $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB), for CPython 3.$floor and later"

if [ $# -eq 0 ]; then
    for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.*/bin/python3; do
        [ -x "$p" ] || continue
        minor=$("$p" -c 'import sys; print(sys.version_info[1])' 2>/dev/null) || continue
        [ "$minor" -ge "$floor" ] && set -- "$@" "$p"
    done
    [ $# -gt 0 ] || die "no pyenv CPython 3.$floor or later; name the interpreters"
fi

status=0
for py in "$@"; do
    version=$("$py" -c 'import platform; print(platform.python_version())')
    env="$WORK/venv-$version"
    tree="$WORK/tree-$version"
    rm -rf "$env" "$tree"
    "$py" -m venv "$env"
    # Only what the project declares: the wheel and its test extra.
    "$env/bin/python" -m pip install -q "$WHEEL[test]" >"$WORK/install-$version.log" 2>&1 || {
        tail -n 20 "$WORK/install-$version.log"
        echo "$py $version install FAILED"
        status=1
        continue
    }
    mkdir -p "$tree"
    git ls-files -z --cached --others --exclude-standard \
        | xargs -0 cp --parents -t "$tree" 2>/dev/null || true
    site=$(cd "$WORK" && "$env/bin/python" -I -c \
               'import remotezoo, os; print(os.path.dirname(remotezoo.__file__))')
    rm -rf "$tree/remotezoo"
    ln -s "$site" "$tree/remotezoo"
    rc=0
    (cd "$tree" && PATH="$env/bin:$PATH" "$env/bin/python" -m pytest -q -m "not slow" \
         -p no:cacheprovider) >"$WORK/pytest-$version.log" 2>&1 || rc=$?
    echo "$py $version $(tail -n 1 "$WORK/pytest-$version.log")"
    [ "$rc" -eq 0 ] || status=1
done
exit $status
