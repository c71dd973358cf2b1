"""A read-only cache: a home filled once and mounted read-only (a real read-only bind mount)
or marked with REMOTEZOO_READ_ONLY=1 serves listings, lookups and loads of downloaded models
without a single write (counted with strace, and by comparing the tree and its mtimes), and
what would write says the cache is read-only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cluster import need_root, need_tool
from helpers.hostile_archives import compress, tar_bytes
from helpers.hostile_archives import file as tar_file
from helpers.servers import wait_until

import remotezoo as rz

ROOT = Path(__file__).resolve().parents[1]

INIT = """
import json, os
from .helpers import scale

def download_model(model_name, model_path):
    with open(model_path, "w") as f:
        json.dump({"name": model_name}, f)

def load_model(model_name, model_path, **kwargs):
    with open(model_path, "rb") as f:
        return [model_name, len(f.read()), scale()]
"""

WEIGHTS = b"w" * 4096

READER = """
import errno, json, remotezoo as rz
from remotezoo import _home
out = {"read_only": _home.read_only()}
out["sources"] = rz.list_zoo_model_sources()
out["models"] = rz.list_zoo_models()
out["get"] = rz.get_zoo_model("acme/own").name
out["find"] = rz.find_zoo_model("acme/fetched")
out["downloaded"] = sorted(rz.list_downloaded_zoo_models())
out["is"] = [rz.is_zoo_model_downloaded(n) for n in ("acme/own", "acme/fetched", "acme/later")]
out["load"] = [rz.load_zoo_model("acme/own"), rz.load_zoo_model("acme/fetched", cache=False)]
out["download_done"] = rz.download_zoo_model("acme/own")[1]
writes = {
    "download": lambda: rz.download_zoo_model("acme/later"),
    "load_not_downloaded": lambda: rz.load_zoo_model("acme/later"),
    "delete_model": lambda: rz.delete_zoo_model("acme/own"),
    "register": lambda: rz.register_zoo_model_source(SPEC, overwrite=True),
    "delete_source": lambda: rz.delete_zoo_model_source(SPEC),
}
for name, call in writes.items():
    try:
        call()
        out[name] = "no error"
    except OSError as exc:
        out[name] = [exc.errno == errno.EROFS, str(exc)]
print(json.dumps(out))
"""


def tar_gz(files: dict[str, bytes]) -> bytes:
    return compress(tar_bytes(tar_file(name, data) for name, data in files.items()), "tar.gz")


@pytest.fixture
def filled_home(http_server) -> str:
    """A home with an archive source (its code imports a module of its own), two downloaded
    models (one by its download_model, one a manager download) and one not downloaded."""
    weights = http_server.serve_bytes("/w.bin", WEIGHTS)
    manifest = {
        "name": "acme/ro",
        "models": [
            {"base_name": "acme/own", "base_filename": "own.json"},
            {
                "base_name": "acme/fetched",
                "base_filename": "fetched.bin",
                "sha256": weights.sha256,
                "manager": {
                    "type": "fiftyone.core.models.ModelManager",
                    "config": {"url": http_server.url("/w.bin")},
                },
            },
            {"base_name": "acme/later", "base_filename": "later.json"},
        ],
    }
    http_server.serve_bytes(
        "/zoo.tar.gz",
        tar_gz(
            {
                "zoo/manifest.json": json.dumps(manifest).encode(),
                "zoo/__init__.py": INIT.encode(),
                "zoo/helpers.py": b"def scale():\n    return 3\n",
            }
        ),
    )
    spec = http_server.url("/zoo.tar.gz")
    rz.register_zoo_model_source(spec)
    rz.download_zoo_model("acme/own")
    rz.download_zoo_model("acme/fetched")
    return spec


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under root with its type, size and mtime (ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (
                st.st_mode,
                st.st_size,
                st.st_mtime_ns,
            )
    return out


WRITE_CALLS = (
    "open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,rmdir,link,linkat,"
    "symlink,symlinkat,truncate,utimensat,chmod,fchmodat,setxattr,lsetxattr"
)
WRITE_OPEN = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")


def writes_under(log: Path, root: str) -> list[str]:
    """The system calls in an strace log that would write under root (tried, failed or not)."""
    found = []
    for line in log.read_text().splitlines():
        if root not in line:
            continue
        call = re.search(r"\b(\w+)\(", line)
        if not call:
            continue
        name = call.group(1)
        if name in ("open", "openat") and not WRITE_OPEN.search(line):
            continue
        found.append(line)
    return found


def python_env(**extra: str) -> dict[str, str]:
    """os.environ with extra, and Python free to write bytecode (as a user's Python is), so
    that a write of __pycache__ into the cache would show."""
    env = dict(os.environ, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_traced(code: str, home: str, tmp_path: Path, env: dict[str, str]) -> tuple[dict, list[str]]:
    """python -c code with REMOTEZOO_HOME=home under strace: what it printed (JSON), and the
    system calls that would have written under home."""
    strace = need_tool("strace")
    log = tmp_path / f"strace-{len(list(tmp_path.glob('strace-*')))}.log"
    traced = [strace, "-f", "-qq", "-e", f"trace={WRITE_CALLS}", "-o", str(log)]
    proc = subprocess.run(
        [*traced, sys.executable, "-c", code],
        env=python_env(REMOTEZOO_HOME=home, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout), writes_under(log, home)


def run_reader(home: str, spec: str, tmp_path: Path, env: dict[str, str]) -> tuple[dict, list[str]]:
    return run_traced(READER.replace("SPEC", repr(spec)), home, tmp_path, env)


def check_reader(out: dict, spec: str, home: str) -> None:
    assert out["read_only"] is True
    assert out["sources"] == [spec]
    assert out["models"] == ["acme/fetched", "acme/later", "acme/own"]
    assert out["get"] == "acme/own"
    assert out["find"] == os.path.join(home, "models", "acme", "ro", "fetched.bin")
    assert out["downloaded"] == ["acme/fetched", "acme/own"]
    assert out["is"] == [True, True, False]
    assert out["load"] == [
        ["acme/own", len(json.dumps({"name": "acme/own"})), 3],
        ["acme/fetched", len(WEIGHTS), 3],
    ]
    assert out["download_done"] == os.path.join(home, "models", "acme", "ro", "own.json")
    for name in ("download", "load_not_downloaded", "delete_model", "register", "delete_source"):
        is_erofs, message = out[name]
        assert is_erofs and "read-only" in message, (name, message)


@pytest.fixture
def read_only_mount(tmp_path, isolated_home) -> Iterator[Path]:
    """A read-only bind mount of the test's home."""
    need_root()
    mnt = tmp_path / "ro"
    mnt.mkdir()
    subprocess.run(["mount", "--bind", isolated_home, str(mnt)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], check=True)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_read_only_mount_serves_listings_and_loads_without_a_write(
    filled_home, read_only_mount, tmp_path, isolated_home
):
    before = snapshot(Path(isolated_home))
    out, writes = run_reader(str(read_only_mount), filled_home, tmp_path, {})
    check_reader(out, filled_home, str(read_only_mount))
    assert writes == []  # not even tried (a read-only mount would have refused them)
    assert snapshot(Path(isolated_home)) == before
    assert not any(p.name == "__pycache__" for p in Path(isolated_home).rglob("*"))


def test_remotezoo_read_only_makes_a_writable_home_read_only(filled_home, tmp_path, isolated_home):
    before = snapshot(Path(isolated_home))
    out, writes = run_reader(isolated_home, filled_home, tmp_path, {"REMOTEZOO_READ_ONLY": "1"})
    check_reader(out, filled_home, isolated_home)
    assert writes == []
    assert snapshot(Path(isolated_home)) == before


def test_a_home_this_user_may_not_write_is_read_only(filled_home, tmp_path, isolated_home):
    """No write permission (a cache owned by a service account) reads as read-only too."""
    need_root()
    os.chmod(isolated_home, 0o555)
    try:
        # Imported as root, then uid and gid 65534: the checkout or venv may be where that user
        # cannot read (/root). os._exit: no exit handlers, as LeakSanitizer's (under
        # scripts/sanitize.sh) cannot attach to a process that changed its uid.
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import os; from remotezoo import _core, _home; os.setgroups([]); "
                "os.setgid(65534); os.setuid(65534); print(_home.read_only(), flush=True); "
                "os._exit(0)",
            ],
            env=dict(os.environ, REMOTEZOO_HOME=isolated_home),
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        os.chmod(isolated_home, 0o755)
    assert proc.stdout.strip() == "True", proc.stderr
    assert rz._home.read_only() is False  # root may write it


def test_sources_code_writes_no_bytecode_into_a_writable_cache(filled_home, isolated_home):
    proc = subprocess.run(
        [sys.executable, "-c", "import remotezoo as rz; print(rz.load_zoo_model('acme/own')[2])"],
        env=python_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.strip() == "3", proc.stderr
    assert not any(p.name == "__pycache__" for p in Path(isolated_home).rglob("*"))


HALF_READER = """
import errno, json, remotezoo as rz
out = {"downloaded": sorted(rz.list_downloaded_zoo_models()),
       "is": [rz.is_zoo_model_downloaded(n) for n in ("acme/full", "acme/half")],
       "load": rz.load_zoo_model("acme/full", cache=False)}
try:
    rz.find_zoo_model("acme/half")
    out["find"] = "found"
except rz.ModelNotFoundError as exc:
    out["find"] = str(exc)
try:
    rz.load_zoo_model("acme/half")
    out["load_half"] = "no error"
except OSError as exc:
    out["load_half"] = [exc.errno == errno.EROFS, str(exc)]
print(json.dumps(out))
"""


def test_a_read_only_cache_with_a_half_written_model_serves_the_complete_one(
    http_server, read_only_mount, tmp_path, isolated_home
):
    """A download killed while the cache was filled (with marker locks, so its markers stay
    too): on the read-only mount the half-written model is not downloaded, loading it says the
    cache is read-only, the complete model loads, and what the killed one left stays as it was
    (no sweep, no takeover, no write)."""
    full = http_server.serve_bytes("/full.bin", WEIGHTS)
    half = http_server.serve_bytes("/half.bin", WEIGHTS * 64, trickle=(4096, 0.05))
    models = [
        {
            "base_name": f"acme/{name}",
            "base_filename": f"{name}.bin",
            "sha256": route.sha256,
            "manager": {
                "type": "fiftyone.core.models.ModelManager",
                "config": {"url": http_server.url(f"/{name}.bin")},
            },
        }
        for name, route in (("full", full), ("half", half))
    ]
    http_server.serve_bytes(
        "/zoo.tar.gz",
        tar_gz(
            {
                "zoo/manifest.json": json.dumps({"name": "acme/half", "models": models}).encode(),
                "zoo/__init__.py": b"def load_model(model_name, model_path, **kwargs):\n    return len(open(model_path, 'rb').read())\n",
            }
        ),
    )
    rz.register_zoo_model_source(http_server.url("/zoo.tar.gz"))
    rz.download_zoo_model("acme/full")
    killed = subprocess.Popen(
        [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('acme/half')"],
        env=dict(os.environ, REMOTEZOO_LOCK="files"),
        cwd=ROOT,
    )
    try:
        assert wait_until(
            lambda: any(p.stat().st_size > 0 for p in Path(isolated_home).rglob("*.part-*")), 30
        )
    finally:
        killed.kill()
        killed.wait(timeout=30)
    left = sorted(
        str(p.relative_to(isolated_home))
        for p in Path(isolated_home).rglob("*")
        if ".part-" in p.name or p.name.endswith(".held")
    )
    assert any(".part-" in p for p in left) and any(p.endswith(".held") for p in left), left
    before = snapshot(Path(isolated_home))

    out, writes = run_traced(HALF_READER, str(read_only_mount), tmp_path, {})
    assert out["downloaded"] == ["acme/full"] and out["is"] == [True, False]
    assert out["load"] == len(WEIGHTS)
    assert "not downloaded" in out["find"]
    is_erofs, message = out["load_half"]
    assert is_erofs and "read-only" in message, message
    assert writes == []
    assert snapshot(Path(isolated_home)) == before
