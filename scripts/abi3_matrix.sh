#!/usr/bin/env bash
# Build remotezoo's abi3 wheel once, with the Python running this script, and run the fast test
# suite against that same wheel in a fresh virtualenv of each CPython given (default: the
# pyenv interpreters 3.9, 3.10, 3.12 and 3.13). Prints one line per interpreter:
#   <python> <version> <pytest's summary line>
# and fails if any run fails.
#
# The tests run from a copy of the tree whose remotezoo/ is a link to the installed wheel's
# package, so the test process and every subprocess it starts (they import remotezoo from the
# tree's root) use the wheel's files, never a build of the checkout.
#
# Usage: scripts/abi3_matrix.sh [python...]    (e.g. ~/.pyenv/versions/3.9.18/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
WORK=${RZ_MATRIX_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/rz-abi3.XXXXXX")}
mkdir -p "$WORK"

if [ $# -eq 0 ]; then
    for v in 3.9 3.10 3.12 3.13; do
        p=$(ls -d "$HOME"/.pyenv/versions/"$v".*/bin/python3 2>/dev/null | tail -1)
        [ -n "$p" ] && set -- "$@" "$p"
    done
fi

"$PYTHON" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 || {
    cat "$WORK/build.log"; echo "abi3_matrix.sh: the wheel did not build" >&2; exit 1; }
WHEEL=$(ls "$WORK"/dist/remotezoo-*-abi3-*.whl)
echo "wheel: $(basename "$WHEEL")"

status=0
for py in "$@"; do
    version=$("$py" -c 'import platform; print(platform.python_version())')
    env="$WORK/venv-$version"
    tree="$WORK/tree-$version"
    rm -rf "$env" "$tree"
    "$py" -m venv "$env"
    "$env/bin/python" -m pip install -q "$WHEEL" pytest hypothesis zstandard py-cpuinfo pure-eval \
        >"$WORK/install-$version.log" 2>&1 || { cat "$WORK/install-$version.log"; status=1; continue; }
    mkdir -p "$tree"
    git ls-files -z --cached --others --exclude-standard | \
        xargs -0 cp --parents -t "$tree" 2>/dev/null || true
    site=$(cd "$WORK" && "$env/bin/python" -c \
               'import remotezoo, os; print(os.path.dirname(remotezoo.__file__))')
    rm -rf "$tree/remotezoo"
    ln -s "$site" "$tree/remotezoo"
    summary=$(cd "$tree" && PATH="$env/bin:$PATH" "$env/bin/python" -m pytest -q -m "not slow" \
                  -p no:cacheprovider 2>&1 | tee "$WORK/pytest-$version.log" | tail -1) || status=1
    echo "$py $version $summary"
    grep -q " failed\| error" <<<"$summary" && status=1
done
exit $status
