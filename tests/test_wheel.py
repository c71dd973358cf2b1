"""scripts/build_wheel.sh: the manylinux wheel — libcurl, libarchive, OpenSSL and cJSON linked
in statically for glibc 2.17 — installed and tested in a fresh virtualenv of another Python; and
the sdist, built and installed in a fresh virtualenv.

Slow (the wheel: about 2 minutes once its libraries are cached, 20-40 more the first time on 2
cores; the sdist: about 40 s); deselect with ``-m "not slow"``.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import re
import subprocess
import sys
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ("zlib", "bzip2", "xz", "zstd", "openssl", "curl", "libarchive", "cjson", "zig")
# Tests that import remotezoo only as an installed package would (no child started in the
# source tree): run against the wheel, they cover both extensions, TLS, and every archive format.
WHEEL_TESTS = ("test_ca_bundle.py", "test_extract.py", "test_sources.py", "test_manifest.py")


def limited_api() -> Optional[str]:
    """setup.py's LIMITED_API: the oldest CPython of an abi3 wheel, or None."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "LIMITED_API":
            return ast.literal_eval(node.value) if node.value else None
    raise AssertionError("setup.py has no LIMITED_API")


class Python(NamedTuple):
    path: str
    version: tuple[int, int]
    base_prefix: str


def pythons_here() -> list[Python]:
    """The CPythons on this machine that can make a virtualenv: pyenv's, the system's, PATH's."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    paths = set(glob.glob(f"{root}/versions/*/bin/python3"))
    for directory in ["/usr/bin", "/usr/local/bin"] + os.environ.get("PATH", "").split(os.pathsep):
        paths |= {
            p
            for p in glob.glob(f"{directory}/python3.[0-9]*")
            if re.fullmatch(r"python3\.\d+", Path(p).name)
        }
    found = {}
    for path in sorted(paths):
        proc = subprocess.run(
            [
                path,
                "-c",
                "import ensurepip, json, platform, sys; print(json.dumps(["
                "platform.python_implementation(), sys.version_info[:2], sys.base_prefix]))",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode == 0:
            impl, version, base = json.loads(proc.stdout)
            if impl == "CPython":
                found.setdefault(
                    os.path.realpath(base), Python(path, tuple(version), os.path.realpath(base))
                )
    return sorted(found.values(), key=lambda p: (p.version, p.path))


def runs_wheel(python: Python, tags: tuple[str, str]) -> bool:
    interpreter, abi = tags
    oldest = (int(interpreter[2]), int(interpreter[3:]))
    return python.version >= oldest if abi == "abi3" else python.version == oldest


@pytest.mark.slow
def test_build_wheel_script(tmp_path: Path) -> None:
    env = dict(
        os.environ,
        OUT_DIR=str(tmp_path / "wheelhouse"),
        TMPDIR=str(tmp_path),
        PYTHON=sys.executable,
    )
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build_wheel.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheel = Path(proc.stdout.strip().splitlines()[-1])
    assert wheel.parent == tmp_path / "wheelhouse" and wheel.is_file()
    name, version, interpreter, abi, platforms = wheel.name[: -len(".whl")].split("-")
    assert (name, version) == ("remotezoo", "0.1.0")
    assert set(platforms.split(".")) == {"manylinux_2_17_x86_64", "manylinux2014_x86_64"}
    if limited_api():  # promised by setup.py: one wheel for every CPython from that version on
        assert (interpreter, abi) == ("cp" + limited_api().replace(".", ""), "abi3"), wheel.name  # type: ignore[union-attr]
    else:
        assert interpreter == abi == f"cp{sys.version_info[0]}{sys.version_info[1]}", wheel.name
    assert wheel.stat().st_size < 5 * 1024 * 1024

    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read("remotezoo-0.1.0.dist-info/METADATA").decode()
        objects = {n: zf.read(n) for n in names if n.endswith(".so")}
    assert not [n for n in names if ".libs/" in n]  # nothing grafted: every library is linked in
    assert sorted(n.split("/")[1].split(".")[0] for n in objects) == ["_core", "_digest", "_net"]
    for so in objects.values():
        assert b".debug_info" not in so and b".symtab" not in so  # stripped
        for symbol in (
            b"curl_easy_init",
            b"archive_read_new",
            b"EVP_DigestInit_ex",
            b"cJSON_Parse",
        ):
            assert symbol + b"\0" not in so, symbol  # linked in, not exported
    for shipped in (
        "remotezoo/py.typed",
        "remotezoo/_core.pyi",
        "remotezoo/_digest.pyi",
        "remotezoo/_net.pyi",
        "remotezoo/example/manifest.json",
        "remotezoo/example/__init__.py",
        "remotezoo-0.1.0.dist-info/licenses/LICENSE",
        "remotezoo-0.1.0.dist-info/licenses/vendor/wheel-deps.txt",
    ):
        assert shipped in names
    for lib in BUNDLED:
        licenses = [
            n for n in names if n.startswith(f"remotezoo-0.1.0.dist-info/licenses/vendor/{lib}/")
        ]
        assert licenses, lib
        for path in licenses:
            assert f"License-File: {path.split('/licenses/', 1)[1]}" in metadata
    assert "Requires-Dist: tqdm" in metadata and "License-Expression: Apache-2.0" in metadata

    show = subprocess.run(
        [sys.executable, "-m", "auditwheel", "show", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert show.returncode == 0, show.stderr
    text = " ".join(show.stdout.split())
    assert 'is consistent with the following platform tag: "manylinux_2_17_x86_64"' in text, (
        show.stdout
    )
    glibc = [tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+\.\d+)", show.stdout)]
    assert glibc and max(glibc) <= (2, 17), show.stdout

    out = proc.stdout
    assert "self-contained: no libcurl" in out
    assert re.search(
        r"remotezoo 0\.1\.0 \(libcurl 8\.\d+\.\d+, libarchive libarchive 3\.\d+\.\d+, cjson 1\.7\.\d+",
        out,
    )
    assert "accuracy on fresh two-moons points" in out and "Done." in out  # the demo in the venv
    assert list(tmp_path.glob("remotezoo-wheel.*")) == []  # its scratch directory is gone

    # The same file in a fresh virtualenv of another Python, with remotezoo's tests run against it.
    # A cp3X wheel runs only on other builds of the builder's version (here: Debian's beside pyenv's);
    # an abi3 one on every newer CPython too. A machine with no other Python tests the builder's.
    here = os.path.realpath(sys.base_prefix)
    others = [
        p for p in pythons_here() if runs_wheel(p, (interpreter, abi)) and p.base_prefix != here
    ]
    chosen = list(dict.fromkeys(others[:1] + others[-2:]))  # the oldest and the two newest
    if not chosen:
        warnings.warn(
            f"no other Python here can run {wheel.name}: tested with the one that built it",
            stacklevel=2,
        )
        chosen = [Python(sys.executable, sys.version_info[:2], here)]
    for python in chosen:
        venv = tmp_path / f"venv-{python.version[0]}.{python.version[1]}"
        _run(tmp_path, python.path, "-m", "venv", str(venv))
        _run(
            tmp_path,
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            f"{wheel}[test]",
        )
        where = _run(
            tmp_path,
            str(venv / "bin" / "python"),
            "-I",
            "-c",
            "import remotezoo; print(remotezoo.__file__)",
        )
        assert where.stdout.startswith(str(venv)), where.stdout
        tests = _run(
            tmp_path,
            str(venv / "bin" / "python"),
            "-I",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-m",
            "not slow",
            "--rootdir",
            str(ROOT),
            *(str(ROOT / "tests" / t) for t in WHEEL_TESTS),
        )
        assert " passed" in tests.stdout and "failed" not in tests.stdout, (
            python,
            tests.stdout[-2000:],
        )


def _run(cwd: Path, *argv: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, (argv, proc.stdout[-3000:] + proc.stderr[-3000:])
    return proc


@pytest.mark.slow
def test_sdist_builds_and_installs_in_a_fresh_venv(tmp_path: Path) -> None:
    # From tmp_path, not the repository: its build/ directory must not pass for the build package.
    _run(
        tmp_path,
        sys.executable,
        "-m",
        "build",
        "--sdist",
        "--outdir",
        str(tmp_path / "dist"),
        str(ROOT),
    )
    (sdist,) = (tmp_path / "dist").glob("remotezoo-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {name.partition("/")[2] for name in tar.getnames()}
        pkg_info = tar.extractfile(f"{sdist.name[: -len('.tar.gz')]}/PKG-INFO").read().decode()  # type: ignore[union-attr]
    assert {str(p.relative_to(ROOT)) for p in (ROOT / "csrc").rglob("*.[ch]")} <= names
    assert {"LICENSE", "setup.py", "pyproject.toml", "remotezoo/example/manifest.json"} <= names
    assert not [n for n in names if n.startswith("tests/")]  # not shipped: they need the repository
    assert "License-Expression: Apache-2.0" in pkg_info and "License-File: LICENSE" in pkg_info

    _run(tmp_path, sys.executable, "-m", "venv", str(tmp_path / "venv"))
    python = str(tmp_path / "venv" / "bin" / "python")
    _run(tmp_path, python, "-m", "pip", "install", "--quiet", str(sdist))
    where = _run(
        tmp_path,
        python,
        "-c",
        "import remotezoo, remotezoo._core, remotezoo._net; print(remotezoo.__file__)",
    )
    assert str(tmp_path / "venv") in where.stdout
    assert (
        "remotezoo 0."
        in _run(tmp_path, str(tmp_path / "venv" / "bin" / "remotezoo"), "--version").stdout
    )


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
        "remotezoo._digest",
    )
    assert stubtest.returncode == 0, stubtest.stdout + stubtest.stderr
    mypy = _run_tool(cache, "mypy", "remotezoo")
    assert mypy.returncode == 0, mypy.stdout + mypy.stderr


@pytest.mark.parametrize("module", ["_core", "_net", "_digest"])
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
        (
            rz._core.download_model,
            "download_model(home, name, source, overwrite, progress, trust=None",
        ),
    ):
        assert needle in pydoc.render_doc(obj, renderer=pydoc.plaintext), obj
    for name in rz.__all__:
        obj = getattr(rz, name)
        if callable(obj):
            assert (obj.__doc__ or "").strip(), f"remotezoo.{name} has no docstring"
