#!/usr/bin/env bash
# Install what remotezoo needs on a Debian machine (system libraries with apt, then the package
# itself in editable mode with its test extras) — the first half of both README commands.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
# Build: compiler, pkg-config and the -dev packages setup.py links. Tests: zstd (tar.zst
# archives), curl (the CLI some tests compare with); nginx (the caching mirror), strace (the
# read-only cache's write count) and iproute2 (hosts in network namespaces) for the cluster
# tests.
APT_PACKAGES=(gcc pkg-config libcurl4-openssl-dev libarchive-dev libcjson-dev libssl-dev zstd
              nginx strace iproute2)
# --ci: also clang, for the libFuzzer harnesses (scripts/fuzz.sh).
[ "${1:-}" = "--ci" ] && APT_PACKAGES+=(clang)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "remotezoo: installing ${missing[*]} with apt-get" >&2
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

"$PYTHON" -m pip install --quiet --upgrade pip
"$PYTHON" -m pip install --quiet -e '.[test]'
