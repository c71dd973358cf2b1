"""scripts/build_wheel.sh: a manylinux wheel with libcurl, libarchive, libcjson and libcrypto
bundled, installed in a fresh virtualenv where the demo and the CLI run.

Slow (about 40 s on 2 cores: a full compile, auditwheel, a virtualenv); deselect with
``-m "not slow"``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_build_wheel_script(tmp_path: Path) -> None:
    env = dict(os.environ, OUT_DIR=str(tmp_path / "wheelhouse"), TMPDIR=str(tmp_path))
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_wheel.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = Path(proc.stdout.strip().splitlines()[-1])
    assert wheel.parent == tmp_path / "wheelhouse" and wheel.is_file()
    assert "-manylinux_" in wheel.name and wheel.name.startswith("remotezoo-")

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    libs = [Path(n).name for n in names if n.startswith("remotezoo.libs/")]
    for lib in ("libcurl", "libarchive", "libcjson", "libcrypto"):
        assert any(name.startswith(lib + "-") for name in libs), (lib, libs)
    for ext in ("_core", "_net"):
        assert any(n.startswith(f"remotezoo/{ext}.") and n.endswith(".so") for n in names), ext
    for shipped in (
        "remotezoo/py.typed",
        "remotezoo/_core.pyi",
        "remotezoo/_net.pyi",
        "remotezoo/example/manifest.json",
        "remotezoo/example/__init__.py",
    ):
        assert shipped in names
    assert "Requires-Dist: tqdm" in metadata

    out = proc.stdout
    assert "bundled: " in out and "remotezoo.libs" not in out.splitlines()[0]
    assert out.count("remotezoo 0.") >= 1 and "libcurl" in out  # remotezoo --version in the venv
    assert "accuracy on fresh two-moons points" in out and "Done." in out  # the demo in the venv
    assert list(tmp_path.glob("remotezoo-wheel.*")) == []  # its scratch directory is gone


# ---- the shipped types and docs -------------------------------------------------------------


def _run_tool(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MYPY_CACHE_DIR=str(cache))
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.slow
def test_stubs_match_the_extension_and_mypy_passes(tmp_path: Path) -> None:
    cache = tmp_path / "mypy-cache"
    stubtest = _run_tool(
        cache,
        "mypy.stubtest",
        "--mypy-config-file",
        "pyproject.toml",
        "remotezoo._core",
        "remotezoo._net",
    )
    assert stubtest.returncode == 0, stubtest.stdout + stubtest.stderr
    mypy = _run_tool(cache, "mypy", "remotezoo")
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


@pytest.mark.parametrize("module", ["_core", "_net"])
def test_every_extension_function_and_exception_has_a_stub(module: str) -> None:
    import importlib

    ext = importlib.import_module(f"remotezoo.{module}")
    stub = (ROOT / "remotezoo" / f"{module}.pyi").read_text()
    public = [n for n in dir(ext) if not n.startswith("__")]
    assert public
    for name in public:
        obj = getattr(ext, name)
        kind = "class" if isinstance(obj, type) else "def" if callable(obj) else None
        assert (f"\n{kind} {name}(" if kind else f"\n{name}: ") in stub, name


def test_help_renders_docstrings() -> None:
    import pydoc

    import remotezoo as rz

    for obj, needle in (
        (rz.download_file, "progress"),
        (rz.load_zoo_model, "load_model"),
        (rz.register_zoo_model_source, "overwrite"),
        (rz.RemoteZooError, "Base class"),
        (rz._core.download_model, "download_model(home, name, source, overwrite, progress)"),
    ):
        assert needle in pydoc.render_doc(obj, renderer=pydoc.plaintext), obj
    for name in rz.__all__:
        obj = getattr(rz, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"remotezoo.{name} has no docstring"
