"""``python -m remotezoo.demo``, the README's first command, must keep working."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_demo_tours_register_list_download_load_delete() -> None:
    home = Path(os.environ["REMOTEZOO_HOME"])
    proc = run("-m", "remotezoo.demo")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in (
        "register_zoo_model_source",
        "list_zoo_models",
        "download_zoo_model",
        "load_zoo_model",
        "delete_zoo_model",
        "delete_zoo_model_source",
    ):
        assert f"== {step}(" in out or f"; {step}(" in out, step
    assert "example/two-moons-classifier@1.0" in out and "example/two-moons-classifier@1.1" in out
    accuracies = [float(a) for a in re.findall(r"accuracy[^:]*: ([0-9.]+)%", out)]
    assert len(accuracies) == 2 and all(a >= 80.0 for a in accuracies), out
    assert "predict" in out and out.rstrip().endswith("Done.")
    assert "sources: [] downloaded: []" in out  # it cleaned up after itself
    assert "Traceback" not in proc.stderr
    assert list(home.iterdir()) == []  # the tour ran in its own temporary home


def test_demo_keep_uses_remotezoo_home_and_the_cli_sees_it() -> None:
    proc = run("-m", "remotezoo.demo", "--keep")
    assert proc.returncode == 0, proc.stderr
    listed = run("-m", "remotezoo", "models", "list-downloaded", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [m["name"] for m in json.loads(listed.stdout)]
    assert names == ["example/two-moons-classifier@1.0", "example/two-moons-classifier@1.1"]
    assert all(Path(m["model_path"]).is_file() for m in json.loads(listed.stdout))


def test_demo_help() -> None:
    proc = run("-m", "remotezoo.demo", "--help")
    assert proc.returncode == 0 and "--keep" in proc.stdout
