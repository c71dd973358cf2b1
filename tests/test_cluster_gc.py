"""`cache gc` on a home whose lock calls fail (the LD_PRELOAD shim of tests/nolock_shim.c):
under the marker-file mechanism a live holder's files are in use and kept, what killed
processes left (their markers name dead pids) is garbage and goes; a read-only home refuses
gc --apply in the C core itself.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.cluster import build_shim, need_tool, run, shim_env, spawn
from helpers.servers import wait_until
from helpers.zoo import model, write_source

import remotezoo as rz
from remotezoo import _core

ROOT = Path(__file__).resolve().parents[1]

# download_model holds while the gate file exists.
HOLD_INIT = """
import os, time
def download_model(model_name, model_path):
    gate = os.environ.get("RZ_TEST_HOLD")
    if gate:
        open(gate, "w").close()
        while os.path.exists(gate):
            time.sleep(0.02)
    open(model_path, "w").write("x")
def load_model(model_name, model_path, **kwargs):
    return open(model_path).read()
"""

MARKERS = (".held", ".shared-", ".takeover", ".stale-")


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("gcc")
    return build_shim(tmp_path_factory.mktemp("shim"))


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant_marker(path: Path, pid: int) -> Path:
    """A marker as lock.c writes it, of a process of this host."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    pidns = os.stat("/proc/self/ns/pid").st_ino
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"remotezoo lock\nhost {socket.gethostname()}\npid {pid}\nboot {boot}\npidns {pidns}\n"
    )
    return path


def markers(where: Path) -> set[Path]:
    return {p for p in where.rglob("*") if any(m in p.name for m in MARKERS)}


def gc(env: dict[str, str], *args: str) -> dict[Path, dict[str, str]]:
    done = run([sys.executable, "-m", "remotezoo", "cache", "gc", "--json", *args], env, ROOT)
    assert done.returncode == 0, done.stderr
    return {Path(g["path"]): g for g in json.loads(done.stdout)}


def test_gc_under_marker_files_keeps_a_live_holders_files(shim, tmp_path):
    env = shim_env(shim, no_flock=True, no_fcntl=True)
    src = write_source(tmp_path / "src", [model("m")], init=HOLD_INIT, name="acme/hold")
    rz.register_zoo_model_source(str(src))
    home = Path(rz.home())
    locks = home / "locks"
    folder = home / "models" / "acme" / "hold"

    # A live download in a process of the marker-file mechanism: its model and folder locks
    # are markers in locks/, its directory holds "<dir>/.rz-lock.held".
    gate = tmp_path / "gate"
    holder = spawn(
        [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('m')"],
        dict(env, RZ_TEST_HOLD=str(gate)),
        ROOT,
    )
    assert wait_until(gate.exists, 60), holder.stderr and holder.stderr.read()
    (live,) = [p for p in folder.iterdir() if p.name.startswith(".rz-")]
    live_markers = markers(home)
    assert live / ".rz-lock.held" in live_markers
    assert any(p.parent == locks and p.name.endswith(".held") for p in live_markers)

    # What killed processes of the same mechanism left: their markers name dead pids.
    pid = dead_pid()
    dead_download = folder / ".rz-0badf00d-Xy12Z3"
    plant_marker(dead_download / ".rz-lock.held", pid)
    (dead_download / "m").write_text("half")
    dead_lock = plant_marker(locks / "model-0123456789abcdef.lock.held", pid)
    dead_reader = plant_marker(locks / "folder-0123456789abcdef.lock.shared-00112233445566ff", pid)
    # A plain lock file is no one's lock under marker files (the markers beside it are).
    plain_lock = locks / "model-fedcba9876543210.lock"
    plain_lock.write_text("")
    garbage = {dead_download, dead_lock, dead_reader, plain_lock}

    found = gc(env)
    assert {p for p, g in found.items() if g["state"] == "garbage"} == garbage, found
    assert found[live]["state"] == "in use"
    assert all(
        g["state"] == "in use" for p, g in found.items() if p.parent == locks and p not in garbage
    )
    assert markers(home) >= live_markers

    found = gc(env, "--apply")
    assert {p for p, g in found.items() if g["state"] == "removed"} == garbage, found
    assert not any(p.exists() for p in garbage)
    assert live.is_dir() and all(p.exists() for p in live_markers)

    # The holder finishes as if nothing happened, and leaves no marker behind.
    gate.unlink()
    out, err = holder.communicate(timeout=60)
    assert holder.returncode == 0, err
    assert Path(rz.find_zoo_model("m")).read_text() == "x"
    assert markers(home) == set()
    assert [g for g in gc(env).values() if g["state"] != "in use"] == []


def test_gc_apply_on_a_read_only_home_refuses_in_the_core(shim, tmp_path, monkeypatch):
    src = write_source(tmp_path / "src", [model("m")], init=HOLD_INIT, name="acme/hold")
    rz.register_zoo_model_source(str(src))
    home = Path(rz.home())
    trash = home / "models" / ".rz-del-k1LLeD"
    (trash / "0").mkdir(parents=True)
    monkeypatch.setenv("REMOTEZOO_READ_ONLY", "1")
    before = sorted(str(p) for p in home.rglob("*"))
    with pytest.raises(OSError) as caught:
        _core.cache_gc(str(home), True)  # under the Python face's own check
    assert caught.value.errno == errno.EROFS and "read-only" in str(caught.value)
    found = {Path(g["path"]): g["state"] for g in _core.cache_gc(str(home), False)}
    assert found == {trash: "garbage"}
    assert sorted(str(p) for p in home.rglob("*")) == before
