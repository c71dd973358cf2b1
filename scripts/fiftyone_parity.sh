#!/usr/bin/env bash
# Run the FiftyOne parity suite (tests/test_fiftyone_parity.py) against real FiftyOne: make a
# virtualenv with FiftyOne and this checkout of remotezoo, then run the suite in it. Both zoos
# register the same sources, served as archives on loopback; nothing leaves the machine but
# the pip installs. FiftyOne needs no database for its zoo functions.
#
# The venv ($FO_VENV, default .venv-fiftyone) is kept and reused: the first run installs
# FiftyOne (a few minutes), later runs only rebuild remotezoo. $FIFTYONE is the requirement
# to install (default "fiftyone"; e.g. FIFTYONE="fiftyone==1.22.1"), $PYTHON the interpreter
# the venv is made from.
#
# Usage: scripts/fiftyone_parity.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${FO_VENV:-.venv-fiftyone}
FIFTYONE=${FIFTYONE:-fiftyone}

if [ ! -x "$VENV/bin/python" ]; then
    echo "fiftyone_parity.sh: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "$FIFTYONE"
"$VENV/bin/python" -m pip install -q -e '.[test]'
# Fail here, not with a skipped suite, if FiftyOne cannot be imported.
"$VENV/bin/python" -c 'import fiftyone.zoo, remotezoo; print("fiftyone", fiftyone.__version__, "- remotezoo", remotezoo.__file__)'
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_fiftyone_parity.py "$@"
