"""The include rules of csrc/ (csrc/README.md), as scripts/include_graph.py checks them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "include_graph.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_the_tree_has_no_circle_and_no_arrow_up() -> None:
    proc = run()
    assert proc.returncode == 0, proc.stderr
    assert "no circle, no arrow up" in proc.stdout
    # the picture: _core's glue reaches the engine, never _net's glue
    assert any(
        line.startswith("py/core/py_models") and "core/model" in line
        for line in proc.stdout.splitlines()
    )


def test_a_circle_an_arrow_up_a_stray_declaration_and_a_stale_citation_are_refused(
    tmp_path: Path,
) -> None:
    csrc = tmp_path / "csrc"
    shutil.copytree(ROOT / "csrc", csrc)
    with open(csrc / "util" / "hash.c", "a") as f:
        f.write('#include "core/index.h"\n')
    with open(csrc / "core" / "home.h", "a") as f:
        f.write('#include "core/registry.h"\n')
    with open(csrc / "net" / "fetch.c", "a") as f:
        f.write('#include "core/spec.h" /* as fetch_gone.c did */\n')
    with open(csrc / "util" / "clock.h", "a") as f:
        f.write("int rz_clock_elsewhere(void);\n")
    proc = run("--quiet", "--csrc", str(csrc))
    assert proc.returncode == 1
    assert "util/hash.c: an arrow up or across the layers: includes core/index.h" in proc.stderr
    assert "net/fetch.c: an arrow up or across the layers: includes core/spec.h" in proc.stderr
    assert "a circle: core/home -> core/registry" in proc.stderr
    assert "declares rz_clock_elsewhere" in proc.stderr
    assert "cites fetch_gone.c" in proc.stderr
