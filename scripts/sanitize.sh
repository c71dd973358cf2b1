#!/usr/bin/env bash
# Run the whole test suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of
# remotezoo._core and remotezoo._net, and fail on any sanitizer report.
#
# The sanitized extension is built in a throw-away copy of the tree (never in place), so the
# normal build of the checkout is left untouched. The gcc sanitizer runtimes are preloaded into
# the (unsanitized) Python interpreter and every subprocess the tests start. Leak detection is
# off: CPython keeps memory alive at exit on purpose (tests/test_leaks.py covers our leaks).
# Every report goes to a log file as well as stderr, so a report in a subprocess whose failure
# a test expected is still caught.
#
# Usage: scripts/sanitize.sh [pytest args...]      (default: the whole suite)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$RZ_ROOT"
PYTHON=$(rz_python)
CC=${CC:-gcc}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rz-sanitize.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/tree" "$WORK/logs"

# The tracked files plus untracked, not ignored ones (work in progress), without build output.
git ls-files -z --cached --others --exclude-standard | \
    (cd "$RZ_ROOT" && xargs -0 cp --parents -t "$WORK/tree" 2>/dev/null || true)

cd "$WORK/tree"
RZ_SANITIZE=1 CC="$CC" "$PYTHON" setup.py -q build_ext --inplace >"$WORK/logs/build.log" 2>&1 || {
    cat "$WORK/logs/build.log"; echo "sanitize.sh: sanitized build failed" >&2; exit 1; }

ASAN_LIB=$("$CC" -print-file-name=libasan.so)
UBSAN_LIB=$("$CC" -print-file-name=libubsan.so)
[ -f "$ASAN_LIB" ] && [ -f "$UBSAN_LIB" ] || {
    echo "sanitize.sh: sanitizer runtimes not found; install gcc's libasan and libubsan" >&2; exit 1; }

status=0
env LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=0:halt_on_error=1:exitcode=86:log_path=$WORK/logs/asan:strict_string_checks=1:detect_stack_use_after_return=0:check_initialization_order=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$WORK/logs/ubsan" \
    PYTHONMALLOC=malloc PYTHONDONTWRITEBYTECODE=1 \
    "$PYTHON" -m pytest -q -p no:cacheprovider --capture=sys "$@" 2>&1 | tee "$WORK/logs/pytest.out" \
    || status=$?

# ASan reports land in log files (also from subprocesses whose output a test captured); UBSan
# writes to the process's stderr, which --capture=sys leaves on the terminal (and in the log).
reports=$(find "$WORK/logs" -name 'asan.*' -o -name 'ubsan.*' | sort)
if [ -n "$reports" ] || grep -qE 'runtime error:|ERROR: AddressSanitizer|SUMMARY: (Address|UndefinedBehavior)Sanitizer' \
        "$WORK/logs/pytest.out"; then
    for f in $reports; do echo "=== $f"; cat "$f"; done
    grep -E -A12 'runtime error:|ERROR: AddressSanitizer' "$WORK/logs/pytest.out" | head -80 || true
    echo "sanitize.sh: sanitizer reports above" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitize.sh: test suite failed under the sanitizers (exit $status)" >&2
    exit "$status"
fi
echo "sanitize.sh: no sanitizer reports"
