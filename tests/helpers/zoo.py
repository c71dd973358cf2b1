"""Helpers that write real sources (manifest.json + __init__.py + modules) for the tests."""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Optional

# A source whose download_model writes weights and whose load_model returns an object that
# uses them; every call is appended to <model dir>/../calls.log so tests can count them.
SIMPLE_INIT = """
import json, os

def _log(model_path, what):
    with open(os.environ["RZ_TEST_CALL_LOG"], "a") as f:
        f.write(json.dumps([what, os.getpid()]) + "\\n")

def download_model(model_name, model_path):
    _log(model_path, "download:" + model_name)
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    with open(model_path, "w") as f:
        json.dump({"name": model_name, "scale": 3}, f)

class Model:
    def __init__(self, name, path, kwargs):
        self.name, self.path, self.kwargs = name, path, kwargs
        with open(path) as f:
            self.scale = json.load(f)["scale"]

    def predict(self, x):
        return x * self.scale

def load_model(model_name, model_path, **kwargs):
    _log(model_path, "load:" + model_name)
    return Model(model_name, model_path, kwargs)
"""


def write_source(
    root: Path,
    models: list[dict[str, Any]],
    init: Optional[str] = SIMPLE_INIT,
    name: Optional[str] = None,
    files: Optional[dict[str, str]] = None,
) -> Path:
    """Write a source directory at root and return it."""
    root.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {"models": models}
    if name:
        manifest["name"] = name
    # Atomically, as editors save: readers in other threads never see a half-written file.
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(manifest, indent=2))
    os.replace(tmp, root / "manifest.json")
    if init is not None:
        (root / "__init__.py").write_text(textwrap.dedent(init))
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def model(base_name: str, version: Optional[str] = None, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "base_name": base_name,
        "base_filename": f"{base_name.split('/')[-1]}.json",
    }
    if version:
        entry["version"] = version
    entry.update(fields)
    return entry


def url_model(
    base_name: str, filename: str, url: str, sha256: Optional[str] = None
) -> dict[str, Any]:
    """A model whose file remotezoo fetches itself (manager "remotezoo.url"), no code run."""
    entry = model(
        base_name,
        base_filename=filename,
        manager={"type": "remotezoo.url", "config": {"url": url}},
        default_deployment_config_dict={"type": "x.Y", "config": {}},
    )
    if sha256:
        entry["sha256"] = sha256
    return entry


def calls(log: Path) -> list[str]:
    if not log.exists():
        return []
    return [json.loads(line)[0] for line in log.read_text().splitlines()]
