"""setup.py's checks before compiling: pkg-config and every library present and new enough, all
that is wrong named in one message with the Debian packages to install. Run against a real
pkg-config that sees only the .pc files made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CURRENT = {"libcurl": "8.14.1", "libarchive": "3.7.4", "libcjson": "1.7.18", "libcrypto": "3.5.0"}


def build_ext(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """setup.py build_ext with the environment changed by env; nothing is written to the tree."""
    full = dict(os.environ, **env)
    full.pop("RZ_STATIC_DEPS", None)
    return run_build_ext(tmp_path, full)


def run_build_ext(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """setup.py build_ext with exactly env, building into tmp_path."""
    return subprocess.run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "build_ext",
            "--build-lib",
            str(tmp_path / "lib"),
            "--build-temp",
            str(tmp_path / "temp"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def pc_files(directory: Path, versions: dict[str, str]) -> Path:
    directory.mkdir(parents=True)
    for name, version in versions.items():
        (directory / f"{name}.pc").write_text(
            f"Name: {name}\nDescription: test\nVersion: {version}\nCflags:\nLibs:\n"
        )
    return directory


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("remotezoo: ")]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_no_pkg_config_names_it_and_every_library(tmp_path: Path) -> None:
    message = one_line_error(build_ext(tmp_path, PKG_CONFIG=str(tmp_path / "no-pkg-config")))
    assert "pkg-config not found" in message
    assert (
        "apt-get install pkg-config libcurl4-openssl-dev libarchive-dev libcjson-dev libssl-dev"
        in message
    )


def test_every_missing_library_is_named_at_once(tmp_path: Path) -> None:
    pcs = pc_files(tmp_path / "pc", {"libcjson": "1.7.18"})
    message = one_line_error(build_ext(tmp_path, PKG_CONFIG_LIBDIR=str(pcs), PKG_CONFIG_PATH=""))
    assert "libcurl not found; libarchive not found; libcrypto not found." in message
    assert "apt-get install libcurl4-openssl-dev libarchive-dev libssl-dev;" in message
    assert "libcjson" not in message and "newer release" not in message


@pytest.mark.parametrize(
    "name, old, floor",
    [
        ("libcurl", "7.74.0", "7.85.0"),
        ("libarchive", "3.3.2", "3.3.3"),
        ("libcjson", "1.7.12", "1.7.13"),
        ("libcrypto", "1.0.2", "1.1.0"),
    ],
)
def test_a_library_older_than_its_floor_is_named_with_it(
    tmp_path: Path, name: str, old: str, floor: str
) -> None:
    pcs = pc_files(tmp_path / "pc", dict(CURRENT, **{name: old}))
    message = one_line_error(build_ext(tmp_path, PKG_CONFIG_LIBDIR=str(pcs), PKG_CONFIG_PATH=""))
    assert f"cannot build: {name} {old} is older than {floor} (for " in message
    assert message.count("older than") == 1
    # its package is installed already: the way out is a newer system or the wheel
    assert "apt-get" not in message and "newer release" in message and "wheel" in message


def test_libcurl_of_debian_11_is_refused_before_compiling(tmp_path: Path) -> None:
    """Debian 11's libcurl 7.74 lacks CURLOPT_PROTOCOLS_STR: a message, not a compiler error."""
    pcs = pc_files(tmp_path / "pc", dict(CURRENT, libcurl="7.74.0"))
    proc = build_ext(tmp_path, PKG_CONFIG_LIBDIR=str(pcs), PKG_CONFIG_PATH="")
    assert "libcurl 7.74.0 is older than 7.85.0 (for CURLOPT_PROTOCOLS_STR)" in one_line_error(proc)
    assert "CURLOPT_PROTOCOLS_STR" not in proc.stdout and "error:" not in proc.stderr
    assert not (tmp_path / "temp").exists()  # nothing was compiled


def test_static_build_sees_only_its_prefix(tmp_path: Path) -> None:
    """RZ_STATIC_DEPS (the wheel): DIR's compiler, DIR's libraries and no library directory of
    the interpreter's, where the linker would meet the machine's libcurl and a newer glibc; only
    PyInit_* exported. DIR here has a compiler that records what it is asked."""
    prefix = tmp_path / "deps"
    pcs = pc_files(prefix / "lib" / "pkgconfig", CURRENT)
    for pc in pcs.iterdir():
        pc.write_text(pc.read_text().replace("Libs:\n", f"Libs: -L{prefix}/lib -l{pc.stem[3:]}\n"))
    (prefix / "bin").mkdir()
    calls = tmp_path / "calls.jsonl"
    cc = prefix / "bin" / "cc"
    cc.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "open(sys.argv[sys.argv.index('-o') + 1], 'w').close()\n"
    )
    cc.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("CC", "LDSHARED", "CFLAGS", "LDFLAGS")}
    proc = run_build_ext(tmp_path, dict(env, RZ_STATIC_DEPS=str(prefix)))
    assert proc.returncode == 0, proc.stderr
    argvs = [json.loads(line) for line in calls.read_text().splitlines()]
    links = [argv for argv in argvs if "-shared" in argv]
    assert len(links) == 3 and len(argvs) > 20  # every compile and the 3 links went to DIR's cc
    for argv in links:
        library_dirs = [a for a in argv if a.startswith("-L")]
        assert library_dirs and all(a == f"-L{prefix}/lib" for a in library_dirs), library_dirs
        assert any(a.startswith("-Wl,--version-script=") for a in argv)
    exports = (tmp_path / "temp" / "exports.map").read_text()
    assert exports == "{ global: PyInit_*; local: *; };\n"
    net = next(argv for argv in links if any("_net" in a for a in argv))
    assert {"-lcurl", "-larchive", "-lcjson", "-lcrypto"} <= set(net)
    digest = next(argv for argv in links if any("_digest" in a for a in argv))
    assert "-lcrypto" in digest and not {"-lcurl", "-larchive"} & set(digest)
