"""Model package requirements against the distributions really installed here (pytest,
hypothesis, setuptools, ...), a recording fake installer, and a real offline pip run."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
import types
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import remotezoo
from remotezoo import _requirements as rq
from remotezoo._requirements import Requirement, Specifier, Version

PYTEST = importlib.metadata.version("pytest")
HYPOTHESIS = importlib.metadata.version("hypothesis")
SETUPTOOLS = importlib.metadata.version("setuptools")
PYTEST_MAJOR = int(PYTEST.split(".")[0])
MISSING = "remotezoo-test-no-such-package"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (rq.DEVICE_ENV, rq.ERROR_LEVEL_ENV, rq.PIP_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(rq.DEVICE_ENV, "cpu")


def ensure(requirements, source_dir=None, **kwargs) -> bool:
    return rq.ensure_requirements("org/model@1.0", requirements, source_dir, **kwargs)


# ---------------------------------------------------------------------------------------------
# Checking installed distributions


def test_satisfied_by_real_versions() -> None:
    assert ensure(
        {
            "packages": [
                f"pytest=={PYTEST}",
                f"hypothesis>={HYPOTHESIS}",
                f"setuptools<={SETUPTOOLS}",
                "setuptools>1",
                f"pytest~={PYTEST_MAJOR}.0",
                f"pytest=={PYTEST_MAJOR}.*",
            ]
        }
    )


def test_none_and_empty_requirements_are_satisfied() -> None:
    assert ensure(None)
    assert ensure({})
    assert ensure({"packages": []})
    assert ensure({"packages": ""})


# Installed under one spelling (as their real namesakes py-cpuinfo, pure_eval and
# typing_extensions are), asked for under another.
ODDLY_NAMED = {"rz-py_cpuinfo": "9.0", "RZ.Pure_Eval": "0.2", "rz_typing.extensions": "4.1"}


def test_names_are_pep503_normalised(oddly_named: Path) -> None:
    assert ensure(
        {
            "packages": [
                "PyTest",
                "rz_py-cpuinfo",
                "RZ-Pure-Eval",
                "RZ.Typing-Extensions",
                "rz_typing_extensions>=4",
                "rz.py.cpuinfo==9.0",
            ]
        }
    )
    assert rq.installed_version("PYTEST") == PYTEST
    assert rq.installed_version("Rz-Pure.Eval") == "0.2"
    assert rq.installed_version("RZ__TYPING--EXTENSIONS") == "4.1"
    assert rq.installed_version(MISSING) is None


def test_missing_package_message() -> None:
    with pytest.raises(remotezoo.RequirementsError) as info:
        ensure({"packages": [MISSING]})
    message = str(info.value)
    assert message.startswith(
        f"The requested operation requires that '{MISSING}' is installed on your machine"
    )
    assert "remotezoo models requirements org/model@1.0 --install" in message
    assert info.value.model == "org/model@1.0"
    assert isinstance(info.value, remotezoo.RemoteZooError)


def test_version_mismatch_message() -> None:
    wanted = f"pytest>={PYTEST_MAJOR + 1}"
    with pytest.raises(remotezoo.RequirementsError) as info:
        ensure({"packages": [wanted]})
    assert str(info.value).startswith(
        f"The requested operation requires that '{wanted}' is installed on your machine, "
        f"but version {PYTEST} was found"
    )


def test_every_unmet_requirement_is_named_once() -> None:
    with pytest.raises(remotezoo.RequirementsError) as info:
        ensure({"packages": ["pytest", f"pytest<{PYTEST}", MISSING, f"hypothesis!={HYPOTHESIS}"]})
    message = str(info.value)
    assert f"'pytest<{PYTEST}'" in message and f"'{MISSING}'" in message
    assert f"'hypothesis!={HYPOTHESIS}'" in message
    assert "'pytest'" not in message
    assert "\n" not in message


def test_extras_and_url_requirements_check_the_distribution() -> None:
    assert ensure(
        {
            "packages": [
                f"pytest[testing]>={PYTEST}",
                "hypothesis [cli, numpy]",
                "setuptools @ https://example.invalid/setuptools.whl",
                "pytest[]",
            ]
        }
    )
    assert not ensure({"packages": [f"{MISSING} @ https://example.invalid/x.whl"]}, error_level=2)


def test_alternatives() -> None:
    assert ensure({"packages": [f"{MISSING}|pytest"]})
    assert ensure({"packages": [f"pytest>={PYTEST_MAJOR + 1}|hypothesis"]})
    with pytest.raises(remotezoo.RequirementsError) as info:
        ensure({"packages": [f"{MISSING}|pytest>={PYTEST_MAJOR + 1}"]})
    assert (
        f"requires that '{MISSING}|pytest>={PYTEST_MAJOR + 1}' is installed on your "
        f"machine, but only pytest {PYTEST} was found"
    ) in str(info.value)
    with pytest.raises(remotezoo.RequirementsError, match=f"'{MISSING}|{MISSING}-2' is installed"):
        ensure({"packages": [f"{MISSING}|{MISSING}-2"]})


def test_comma_separated_string() -> None:
    packages = f"pytest>=1,<{PYTEST_MAJOR + 1}, hypothesis , {MISSING}|setuptools"
    assert rq.requirements_summary({"packages": packages}) == [
        f"pytest>=1,<{PYTEST_MAJOR + 1}",
        "hypothesis",
        f"{MISSING}|setuptools",
    ]
    assert ensure({"packages": packages})
    assert not ensure({"packages": f"pytest, {MISSING}"}, error_level=2)


def test_markers_are_respected() -> None:
    requirements = {
        "packages": [
            f"{MISSING}; python_version < '3'",
            f"{MISSING}; extra == 'gpu'",
            f"pytest; python_version >= '3.{sys.version_info.minor}' and os_name == '{os.name}'",
            f"{MISSING}; sys_platform == 'no-such-platform' or (python_version ~= '2.7')",
        ]
    }
    assert rq.requirements_summary(requirements) == ["pytest"]
    assert ensure(requirements)
    assert not ensure({"packages": [f"{MISSING} ; python_version >= '3'"]}, error_level=2)


def test_evaluate_marker() -> None:
    env = {"python_version": "3.10", "sys_platform": "linux", "extra": ""}
    assert rq.evaluate_marker('python_version >= "3.9"', env)  # 3.10 > 3.9 as versions
    assert not rq.evaluate_marker('python_version < "3.9"', env)
    assert rq.evaluate_marker('"lin" in sys_platform', env)
    assert rq.evaluate_marker(
        "sys_platform == 'win32' or (python_version > '3' and sys_platform != 'darwin')", env
    )
    assert rq.evaluate_marker("'lin' not in sys_platform or extra == ''", env)
    for bad in (
        "python_version >=",
        "nonsense == '1'",
        "(python_version > '3'",
        "python_version > '3' and",
        "python_version ~= 'abc'",
    ):
        with pytest.raises(ValueError):
            rq.evaluate_marker(bad, env)


@pytest.mark.parametrize(
    "bad",
    [
        "torch>>1",
        "==1.0",
        "pkg[",
        "pkg @ ",
        "pkg; ",
        "pkg 1.0",
        "pkg>=1,",
        "pkg~=1",
        "pkg>=1.0.*",
        "pkg<1.0+local",
        "pkg>=one",
        "pkg; python_version >",
        "-r other.txt",
        "pkg[bad extra]",
    ],
)
def test_malformed_requirement_is_an_error(bad: str) -> None:
    with pytest.raises(remotezoo.RequirementsError, match="invalid requirement"):
        ensure({"packages": [bad]})
    with pytest.raises(ValueError):
        Requirement(bad)


def test_malformed_requirement_follows_error_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="remotezoo")
    assert not ensure({"packages": ["torch>>1", "pytest"]}, error_level=1)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "torch>>1" in warnings[0].getMessage()
    assert "Requirement satisfied: pytest" in caplog.text


@pytest.mark.parametrize(
    "requirements, field",
    [
        ("pytest", "must be an object"),
        ({"packages": 5}, "requirements.packages must be a list of strings or a string"),
        ({"packages": ["pytest", 3]}, "requirements.packages must be a list of strings"),
        ({"cpu": []}, "requirements.cpu of model 'org/model@1.0' must be an object"),
        ({"cpu": {"support": "yes"}}, "requirements.cpu.support of model"),
        (
            {"cpu": {"packages": {"a": 1}}},
            "requirements.cpu.packages.entrypoint_fcn must name a function",
        ),
        (
            {"packages": {"entrypoint_fcn": "x.y", "entrypoint_args": []}},
            "requirements.packages.entrypoint_args must be an object",
        ),
    ],
)
def test_wrong_types(requirements, field: str) -> None:
    with pytest.raises(remotezoo.RequirementsError, match=field.replace(".", r"\.")):
        ensure(requirements)


# ---------------------------------------------------------------------------------------------
# Requirements files


def test_requirements_file_relative_to_source_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "deps").mkdir()
    (tmp_path / "deps" / "requirements.txt").write_text(
        textwrap.dedent(f"""\
        \ufeff# model requirements
        pytest>={PYTEST_MAJOR}  # inline comment

        hypothesis \\
            >=1
        {MISSING}; python_version < "3"
        {MISSING}|setuptools
        """),
        encoding="utf-8",
    )
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # relative to the source dir, never the working directory
    requirements = {"packages": "deps/requirements.txt"}
    assert rq.requirements_summary(requirements, str(tmp_path)) == [
        f"pytest>={PYTEST_MAJOR}",
        "hypothesis >=1",
        f"{MISSING}|setuptools",
    ]
    assert ensure(requirements, str(tmp_path))
    absolute = {"packages": str(tmp_path / "deps" / "requirements.txt")}
    with pytest.raises(remotezoo.RequirementsError, match="outside the directory of"):
        ensure(absolute, str(tmp_path))  # a manifest names files relative to its source only


def test_requirements_file_unmet(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text(f"pytest\n{MISSING}>=2\n")
    with pytest.raises(remotezoo.RequirementsError, match=f"'{MISSING}>=2' is installed"):
        ensure({"packages": "requirements.txt"}, str(tmp_path))


@pytest.mark.parametrize(
    "line, option",
    [
        ("-r other.txt", "-r"),
        ("--requirement=other.txt", "--requirement=other.txt"),
        ("-e .", "-e"),
        ("--index-url https://example.invalid/simple", "--index-url"),
    ],
)
def test_requirements_file_refuses_pip_options(tmp_path: Path, line: str, option: str) -> None:
    (tmp_path / "requirements.txt").write_text(f"pytest\n\n{line}\n")
    with pytest.raises(remotezoo.RequirementsError) as info:
        ensure({"packages": "requirements.txt"}, str(tmp_path))
    assert (
        f"requirements file 'requirements.txt' line 3: pip option '{option}' is not "
        "supported" in str(info.value)
    )


def test_missing_requirements_file(tmp_path: Path) -> None:
    with pytest.raises(
        remotezoo.RequirementsError, match=r"requirements file 'requirements\.txt' not found in "
    ):
        ensure({"packages": "requirements.txt"}, str(tmp_path))
    with pytest.raises(remotezoo.RequirementsError, match="not found"):
        ensure(
            {"gpu": {"packages": "deps/gpu.txt"}, "cpu": {"packages": "deps/cpu.txt"}},
            str(tmp_path),
        )
    with pytest.raises(remotezoo.RequirementsError, match="only read from a registered source"):
        ensure({"packages": str(tmp_path / "nope.txt")})


def test_requirements_file_must_be_text(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"pytest\n\xff\xfe\n")
    with pytest.raises(remotezoo.RequirementsError, match="is not UTF-8"):
        ensure({"packages": "requirements.txt"}, str(tmp_path))


# ---------------------------------------------------------------------------------------------
# Devices


DEVICE_REQUIREMENTS = {
    "packages": ["pytest"],
    "cpu": {"support": True, "packages": [MISSING]},
    "gpu": {"packages": "hypothesis>=1, setuptools"},
}


def test_device_packages_are_added(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rq.DEVICE_ENV, "gpu")
    assert rq.requirements_summary(DEVICE_REQUIREMENTS) == ["pytest", "hypothesis>=1", "setuptools"]
    assert ensure(DEVICE_REQUIREMENTS)
    monkeypatch.setenv(rq.DEVICE_ENV, "CPU")
    assert rq.requirements_summary(DEVICE_REQUIREMENTS) == ["pytest", MISSING]
    with pytest.raises(remotezoo.RequirementsError, match=MISSING):
        ensure(DEVICE_REQUIREMENTS)


@pytest.mark.parametrize("device", ["cpu", "gpu"])
def test_unsupported_device(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    other = "gpu" if device == "cpu" else "cpu"
    requirements = {"packages": ["pytest"], device: {"support": False}, other: {"support": True}}
    monkeypatch.setenv(rq.DEVICE_ENV, device)
    with pytest.raises(
        remotezoo.RequirementsError,
        match=f"Model 'org/model@1.0' does not support {device.upper()}",
    ):
        ensure(requirements)
    assert not ensure(requirements, error_level=2)
    assert rq.requirements_summary(requirements) == ["pytest"]  # listing is not an error
    monkeypatch.setenv(rq.DEVICE_ENV, other)
    assert ensure(requirements)


def test_device_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rq.DEVICE_ENV, "tpu")
    with pytest.raises(ValueError, match="REMOTEZOO_DEVICE='tpu'"):
        rq.current_device()
    monkeypatch.delenv(rq.DEVICE_ENV)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert rq.current_device() == "cpu"
    assert "torch" not in sys.modules  # never imported just to look

    for available, expected in ((True, "gpu"), (False, "cpu")):
        torch = types.ModuleType("torch")
        torch.cuda = types.SimpleNamespace(is_available=lambda a=available: a)  # type: ignore
        monkeypatch.setitem(sys.modules, "torch", torch)
        assert rq.current_device() == expected

    def broken() -> bool:
        raise RuntimeError("CUDA driver is broken")

    torch.cuda = types.SimpleNamespace(is_available=broken)  # type: ignore[attr-defined]
    assert rq.current_device() == "cpu"
    monkeypatch.setenv(rq.DEVICE_ENV, "cpu")
    torch.cuda = types.SimpleNamespace(is_available=lambda: True)  # type: ignore[attr-defined]
    assert rq.current_device() == "cpu"  # the variable wins


# ---------------------------------------------------------------------------------------------
# Error levels


def test_error_level_1_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="remotezoo")
    assert ensure({"packages": ["pytest", MISSING]}, error_level=1) is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["remotezoo"]
    assert f"requires that '{MISSING}' is installed" in warnings[0].getMessage()


def test_error_level_2_ignores(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="remotezoo")
    assert ensure({"packages": [MISSING]}, error_level=2) is False
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_log_success(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="remotezoo")
    assert ensure({"packages": ["pytest", f"{MISSING}|hypothesis"]}) is True
    assert [r.getMessage() for r in caplog.records] == [
        "Requirement satisfied: pytest",
        f"Requirement satisfied: {MISSING}|hypothesis",
    ]
    caplog.clear()
    assert ensure({"packages": ["pytest"]}, log_success=False) is True
    assert caplog.records == []


def test_error_level_from_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(rq.ERROR_LEVEL_ENV, "1")
    assert ensure({"packages": [MISSING]}) is False
    assert f"'{MISSING}'" in caplog.text
    monkeypatch.setenv(rq.ERROR_LEVEL_ENV, "2")
    assert ensure({"packages": [MISSING]}) is False
    with pytest.raises(remotezoo.RequirementsError):
        ensure({"packages": [MISSING]}, error_level=0)  # an explicit level wins
    monkeypatch.setenv(rq.ERROR_LEVEL_ENV, " ")
    with pytest.raises(remotezoo.RequirementsError):
        ensure({"packages": [MISSING]})


@pytest.mark.parametrize("level", [3, -1, "1", 1.0, True])
def test_bad_error_level(level) -> None:
    with pytest.raises(ValueError, match="is not an error level"):
        ensure({"packages": ["pytest"]}, error_level=level)
    with pytest.raises(ValueError, match="is not an error level"):
        rq.install_requirements("m", {"packages": ["pytest"]}, None, error_level=level)


@pytest.mark.parametrize("raw", ["abc", "3", "1.5"])
def test_bad_error_level_in_environment(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv(rq.ERROR_LEVEL_ENV, raw)
    with pytest.raises(ValueError, match=rq.ERROR_LEVEL_ENV):
        ensure({"packages": ["pytest"]})


# ---------------------------------------------------------------------------------------------
# Installing: a recording fake installer


FAKE_PIP = """\
import json, os, sys
with open(sys.argv[1], "a", encoding="utf-8") as f:
    f.write(json.dumps(sys.argv[2:]) + "\\n")
code = int(os.environ.get("FAKE_PIP_EXIT", "0"))
if code:
    sys.stderr.write("Collecting things\\n\\nERROR: first\\nERROR: second\\nERROR: last words\\n")
sys.exit(code)
"""


@pytest.fixture
def fake_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_pip.py"
    script.write_text(FAKE_PIP)
    record = tmp_path / "calls.jsonl"
    monkeypatch.setenv(rq.PIP_ENV, json.dumps([sys.executable, str(script), str(record)]))
    return record


def calls(record: Path) -> list[list[str]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_installer_gets_exact_argv(
    fake_pip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "gpu.txt").write_text("cuda-thing>=12 ; python_version >= '3'\n")
    monkeypatch.setenv(rq.DEVICE_ENV, "gpu")
    rq.install_requirements(
        "org/model@1.0",
        {
            "packages": [
                f"{MISSING}-a|{MISSING}-b",
                "pytest|other",
                "torch >= 1.8, <3",
                "opencv-python-headless[extra]<5",
                f"{MISSING}; python_version < '3'",
                "pkg @ https://example.invalid/pkg.whl",
            ],
            "cpu": {"packages": ["cpu-only"]},
            "gpu": {"packages": "gpu.txt"},
        },
        str(tmp_path),
    )
    assert calls(fake_pip) == [
        [
            f"{MISSING}-a",
            "torch >= 1.8, <3",
            "opencv-python-headless[extra]<5",
            "pkg @ https://example.invalid/pkg.whl",
            "cuda-thing>=12",
        ]
    ]


def test_default_installer_is_this_python(monkeypatch: pytest.MonkeyPatch) -> None:
    assert rq.installer_command() == [sys.executable, "-m", "pip", "install"]
    for bad in ("pip install", "[]", '["pip", 3]', '{"a": 1}', '[""]'):
        monkeypatch.setenv(rq.PIP_ENV, bad)
        with pytest.raises(ValueError, match="REMOTEZOO_PIP must be a JSON list"):
            rq.installer_command()


def test_nothing_to_install_runs_nothing(fake_pip: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="remotezoo")
    rq.install_requirements("m", None, None)
    rq.install_requirements("m", {"packages": [f"{MISSING}|pytest"]}, None)
    assert calls(fake_pip) == []
    assert "Model 'm' has no requirements to install" in caplog.text


def test_installer_failure_per_error_level(
    fake_pip: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FAKE_PIP_EXIT", "3")
    with pytest.raises(remotezoo.RequirementsError) as info:
        rq.install_requirements("org/model@1.0", {"packages": ["x>=1"]}, None)
    assert str(info.value) == (
        "Installing the requirements of model 'org/model@1.0' (x>=1) failed: pip exited with "
        "code 3: ERROR: first | ERROR: second | ERROR: last words"
    )
    assert info.value.returncode == 3 and info.value.model == "org/model@1.0"
    assert rq.install_requirements("m", {"packages": ["x"]}, None, error_level=1) is None
    assert "pip exited with code 3" in caplog.text
    caplog.clear()
    rq.install_requirements("m", {"packages": ["x"]}, None, error_level=2)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(calls(fake_pip)) == 3


def test_installer_that_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rq.PIP_ENV, json.dumps([str(tmp_path / "no-such-installer")]))
    with pytest.raises(remotezoo.RequirementsError, match="Cannot run the installer"):
        rq.install_requirements("m", {"packages": ["x"]}, None)


def test_install_refuses_unsupported_device_and_bad_requirements(
    fake_pip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(rq.DEVICE_ENV, "gpu")
    with pytest.raises(remotezoo.RequirementsError, match="does not support GPU"):
        rq.install_requirements("m", {"packages": ["x"], "gpu": {"support": False}}, None)
    with pytest.raises(remotezoo.RequirementsError, match="invalid requirement"):
        rq.install_requirements("m", {"packages": ["x", "--index-url=http://evil"]}, None)
    assert calls(fake_pip) == []
    rq.install_requirements("m", {"packages": ["x", "y z"]}, None, error_level=2)
    assert calls(fake_pip) == [["x"]]


# ---------------------------------------------------------------------------------------------
# Installing: real pip, offline, a wheel built here


def build_wheel(directory: Path, name: str, version: str) -> Path:
    """A pure-Python wheel of distribution *name* with one module (its name made an identifier)."""
    stem = re.sub(r"[-_.]+", "_", name)  # the wheel file and .dist-info spelling
    dist_info = f"{stem}-{version}.dist-info"
    files = {
        f"{stem.lower()}/__init__.py": b"VALUE = 42\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: remotezoo-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def pip_offline(wheels: Path, target: Path) -> list[str]:
    """pip installing from *wheels* only, into *target*."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--find-links",
        str(wheels),
        "--target",
        str(target),
        "--no-cache-dir",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]


@pytest.fixture
def oddly_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """ODDLY_NAMED built here and installed by pip into a directory put first on sys.path."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    for name, version in ODDLY_NAMED.items():
        build_wheel(wheels, name, version)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    subprocess.run(pip_offline(wheels, target) + list(ODDLY_NAMED), check=True, timeout=120)
    monkeypatch.syspath_prepend(str(target))
    return target


@pytest.fixture
def offline_pip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "rztiny", "1.0")
    target = tmp_path / "target"
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv(rq.PIP_ENV, json.dumps(pip_offline(wheels, target)))
    return target


def test_real_pip_installs_local_wheel(offline_pip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    requirements = {"packages": ["RZTiny>=1.0,<2", f"{MISSING}|pytest"]}
    monkeypatch.syspath_prepend(str(offline_pip))
    assert ensure(requirements, error_level=2) is False
    rq.install_requirements("org/model@1.0", requirements, None)
    assert (offline_pip / "rztiny" / "__init__.py").read_text() == "VALUE = 42\n"
    assert (offline_pip / "rztiny-1.0.dist-info" / "METADATA").is_file()
    assert not (offline_pip / "pytest").exists()  # a satisfied alternative is not installed
    assert ensure(requirements) is True
    assert rq.installed_version("rztiny") == "1.0"


def test_real_pip_failure_keeps_target_clean(offline_pip: Path) -> None:
    with pytest.raises(remotezoo.RequirementsError) as info:
        rq.install_requirements("org/model@1.0", {"packages": ["rztiny>=2"]}, None)
    assert info.value.returncode == 1
    assert "pip exited with code 1" in str(info.value)
    assert "No matching distribution found for rztiny>=2" in str(info.value)
    assert not offline_pip.exists() or not any(offline_pip.iterdir())


# ---------------------------------------------------------------------------------------------
# Versions and specifiers


@pytest.mark.parametrize(
    "text, normal",
    [
        ("1.0", "1.0"),
        ("v1.0", "1.0"),
        ("1.0-Alpha.1", "1.0a1"),
        ("1.0beta", "1.0b0"),
        ("1.0c1", "1.0rc1"),
        ("1.0preview2", "1.0rc2"),
        ("1.0-1", "1.0.post1"),
        ("1.0.r2", "1.0.post2"),
        ("1.0-rev", "1.0.post0"),
        ("1.0-dev", "1.0.dev0"),
        ("1!2.0", "1!2.0"),
        ("0!1.0", "1.0"),
        ("1.0+Ubuntu-1", "1.0+ubuntu.1"),
        ("2.0.0rc1.post2.dev3", "2.0.0rc1.post2.dev3"),
        (" 01.002 ", "1.2"),
    ],
)
def test_version_normal_form(text: str, normal: str) -> None:
    assert str(Version(text)) == normal


@pytest.mark.parametrize("bad", ["", "abc", "1.0-", "1..0", "1.0+", "1.0+a..b", "1.0 2", "2004d"])
def test_invalid_versions(bad: str) -> None:
    with pytest.raises(ValueError):
        Version(bad)


def test_version_order() -> None:
    chain = [
        "0.9",
        "1.0.dev0",
        "1.0a1.dev1",
        "1.0a1",
        "1.0a2",
        "1.0b1",
        "1.0rc1",
        "1.0rc1.post1",
        "1.0",
        "1.0+abc",
        "1.0+5",
        "1.0.post1.dev0",
        "1.0.post1",
        "1.0.post1+local",
        "1.1.dev0",
        "1.1",
        "1.10",
        "2",
        "1!0.1",
    ]
    versions = [Version(v) for v in chain]
    assert all(a < b and b > a and a != b for a, b in zip(versions, versions[1:]))
    assert Version("1.0") == Version("1.0.0") == Version("v1") and Version("1.0") <= Version("1")
    assert hash(Version("1.0")) == hash(Version("1.0.0"))


SPEC_TABLE = [
    # (specifier, version, satisfied)
    ("==1.0", "1.0.0", True),
    ("==1.0", "1.0+local", True),
    ("==1.0+local", "1.0", False),
    ("==1.0+local", "1.0+local", True),
    ("==1.0", "1.0.post1", False),
    ("==1.0", "1.0rc1", False),
    ("!=1.0", "1.0.0", False),
    ("!=1.0", "1.1", True),
    ("==1.2.*", "1.2", True),
    ("==1.2.*", "1.2.9", True),
    ("==1.2.*", "1.2rc1", True),
    ("==1.2.*", "1.2.post1", True),
    ("==1.2.*", "1.3", False),
    ("==1.2.*", "1.20", False),
    ("==1.2.*", "1!1.2", False),
    ("!=1.2.*", "1.2.3", False),
    ("!=1.2.*", "1.3", True),
    ("==1.2.0.*", "1.2", True),
    (">=1.0", "1.0", True),
    (">=1.0", "1.0rc1", False),
    (">=1.0", "0.9", False),
    (">=1.0rc1", "1.0rc1", True),
    (">=1.0", "1.0+local", True),
    ("<=1.0", "1.0", True),
    ("<=1.0", "1.0+local", True),
    ("<=1.0", "1.0.post1", False),
    ("<2.0", "1.9", True),
    ("<2.0", "2.0", False),
    ("<2.0", "2.0rc1", False),
    ("<2.0", "2.0.dev1", False),
    ("<2.0rc2", "2.0rc1", True),
    ("<2.0", "1.9.post3", True),
    ("<2.0", "1.9.dev1", True),
    ("<1.0.post1", "1.0rc1", True),
    ("<1.0.post1", "1.0", True),
    ("<1.0.post1", "1.0.post1.dev0", False),
    (">1.0", "1.0.1", True),
    (">1.0", "1.0", False),
    (">1.0", "1.0.post1", False),
    (">1.0", "1.0+local", False),
    (">1.0.post1", "1.0.post2", True),
    (">1.0", "1.1a1", True),
    (">1.0", "1.0.post1+local", False),
    (">1.0rc1", "1.0.post1", True),
    (">1.0a1", "1.0a1+local", False),
    (">1.0a1", "1.0a2+local", True),
    ("~=2.2", "2.3", True),
    ("~=2.2", "2.2", True),
    ("~=2.2", "3.0", False),
    ("~=2.2", "2.1", False),
    ("~=2.2.1", "2.2.5", True),
    ("~=2.2.1", "2.3", False),
    ("~=2.2.post3", "2.2.post4", True),
    ("~=2.2.post3", "2.2", False),
    ("~=1!2.2", "2.3", False),
    ("===1.0", "1.0", True),
    ("===1.0", "1.0.0", False),
    ("===foobar", "FooBar", True),
    (">=1.0", "not-a-version", False),
    ("==1.0", "not-a-version", False),
    ("===not-a-version", "not-a-version", True),
]


@pytest.mark.parametrize("spec, version, satisfied", SPEC_TABLE)
def test_specifier_table(spec: str, version: str, satisfied: bool) -> None:
    assert Specifier(spec).contains(version) is satisfied


def test_requirement_parts() -> None:
    r = Requirement(" Foo.Bar [ a , b ] >=1.0, <2 ; python_version >= '3' ")
    assert (r.name, r.extras, r.text, r.marker) == (
        "Foo.Bar",
        ("a", "b"),
        "Foo.Bar [ a , b ] >=1.0, <2",
        "python_version >= '3'",
    )
    assert [str(s) for s in r.specifiers] == [">=1.0", "<2"]
    assert r.applies()
    assert [str(s) for s in Requirement("pkg (>=1, !=1.5)").specifiers] == [">=1", "!=1.5"]
    url = Requirement("pkg @ https://example.invalid/a;b.whl ; os_name == 'nt'")
    assert url.url == "https://example.invalid/a;b.whl" and url.marker == "os_name == 'nt'"
    assert rq.normalize_name("Foo__Bar.-baz") == "foo-bar-baz"


release = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=5)


def padded(a: list[int], n: int) -> tuple[int, ...]:
    return tuple(a + [0] * (n - len(a)))


@given(release, release)
def test_ordered_specifiers_agree_with_tuples(a: list[int], b: list[int]) -> None:
    n = max(len(a), len(b))
    ta, tb = padded(a, n), padded(b, n)
    va, vb = ".".join(map(str, a)), ".".join(map(str, b))
    assert Specifier(f">={vb}").contains(va) == (ta >= tb)
    assert Specifier(f"<{vb}").contains(va) == (ta < tb)
    assert Specifier(f"<={vb}").contains(va) == (ta <= tb)
    assert Specifier(f">{vb}").contains(va) == (ta > tb)
    assert Specifier(f"=={vb}").contains(va) == (ta == tb)
    assert Specifier(f"!={vb}").contains(va) == (ta != tb)
    assert Specifier(f"=={vb}.*").contains(va) == (padded(a, len(b))[: len(b)] == tuple(b))


@given(
    release,
    st.sampled_from(["", "a", "b", "rc"]),
    st.integers(0, 99),
    st.sampled_from([None, 0, 7]),
    st.sampled_from([None, 0, 3]),
    st.sampled_from([None, "ubuntu.1", "7"]),
    st.integers(0, 2),
)
def test_normal_form_round_trips(rel, pre, pre_n, post, dev, local, epoch) -> None:
    text = (f"{epoch}!" if epoch else "") + ".".join(map(str, rel))
    text += f"{pre}{pre_n}" if pre else ""
    text += f".post{post}" if post is not None else ""
    text += f".dev{dev}" if dev is not None else ""
    text += f"+{local}" if local else ""
    version = Version(text)
    assert str(version) == text
    assert Version(str(version)) == version
    assert Specifier(f"=={version.public}").contains(version)
