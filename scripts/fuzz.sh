#!/usr/bin/env bash
# Build the libFuzzer harnesses of fuzz/ from the plain-C folders of csrc/ (no Python) with
# clang -fsanitize=fuzzer,address,undefined, and run each for a bounded time on a copy of its
# seed corpus (fuzz/corpus/<target>/). Fails if any target crashes, leaks or trips a
# sanitizer; the crashing input is kept in fuzz/artifacts/ (add it to the seed corpus as a
# regression once fixed: tests/test_security.py replays every corpus file).
#
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target...]
# Targets: manifest spec version extract. Needs clang (apt-get install clang) and the -dev
# packages setup.py names.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(manifest spec version extract)
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz.sh: clang not found; apt-get install clang" >&2; exit 1; }

OUT=${RZ_FUZZ_OUT:-build/fuzz}
mkdir -p "$OUT" fuzz/artifacts
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Icsrc
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        $(pkg-config --cflags libcurl libarchive libcjson libcrypto))
LIBS=($(pkg-config --libs libcurl libarchive libcjson libcrypto))

# The engine folder each harness links, with csrc/util/ (the link units of csrc/README.md).
declare -A UNIT=([manifest]=core [spec]=core [version]=core [extract]=net)

status=0
for t in "${TARGETS[@]}"; do
    [ -n "${UNIT[$t]:-}" ] || { echo "fuzz.sh: unknown target $t" >&2; exit 2; }
    "$CLANG" "${CFLAGS[@]}" -o "$OUT/fuzz_$t" "fuzz/fuzz_$t.c" csrc/util/*.c csrc/"${UNIT[$t]}"/*.c \
        "${LIBS[@]}"
    corpus="$OUT/corpus_$t"
    mkdir -p "$corpus"
    cp -n fuzz/corpus/"$t"/* "$corpus"/ 2>/dev/null || true
    dict=()
    [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
    echo "== fuzz_$t for ${SECONDS_PER}s"
    if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
         ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
         "$OUT/fuzz_$t" "${dict[@]}" -max_total_time="$SECONDS_PER" -max_len=65536 \
            -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
            -artifact_prefix="fuzz/artifacts/${t}-" "$corpus" fuzz/corpus/"$t" \
            >"$OUT/fuzz_$t.log" 2>&1; then
        tail -60 "$OUT/fuzz_$t.log"
        echo "fuzz.sh: fuzz_$t FAILED (input in fuzz/artifacts/)" >&2
        status=1
    fi
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
        "$OUT/fuzz_$t.log" | sed "s/^/  $t: /" || true
done
exit $status
