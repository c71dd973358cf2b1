# Shared by the scripts in scripts/ and .ci/run (sourced, not run): which Python remotezoo is
# installed for, and installing Debian packages that are missing.

RZ_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# A relative PYTHON=.venv/bin/python means from where the script was started (scripts change
# directory); -s keeps a virtualenv's python the venv's, not the interpreter it links to. A bare
# name (PYTHON=python3.11) is looked up in PATH; one not found stays as it is, for the caller's
# "not found".
case "${PYTHON:-}" in
    */*) PYTHON=$(realpath -s "$PYTHON") ;;
    ?*) PYTHON=$(command -v "$PYTHON" || printf '%s\n' "$PYTHON") ;;
esac

# The interpreter remotezoo is installed for and run with: $PYTHON when set, else the active
# virtualenv's, else the project's own .venv/ (scripts/install.sh creates it). Never a system
# Python: Debian's refuses pip (PEP 668), and one path works on every machine.
rz_python() {
    if [ -n "${PYTHON:-}" ]; then
        printf '%s\n' "$PYTHON"
    elif [ -n "${VIRTUAL_ENV:-}" ]; then
        printf '%s\n' "$VIRTUAL_ENV/bin/python"
    else
        printf '%s\n' "$RZ_ROOT/.venv/bin/python"
    fi
}

# apt-get install the packages of "$@" that are not installed yet (apt-get update first).
rz_apt_install() {
    local pkg missing=() sudo=""
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    command -v apt-get >/dev/null || {
        echo "remotezoo: not a Debian/Ubuntu system; install the equivalents of: ${missing[*]}" >&2
        return 1
    }
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "remotezoo: installing ${missing[*]} with apt-get" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}
