"""One home shared by many hosts: the lock fallbacks (POSIX record locks, then O_EXCL marker
files with a heartbeat and stale takeover) when the lock calls fail, tested through an
LD_PRELOAD shim on the real binary (tests/nolock_shim.c), with "hosts" made of network and UTS
namespaces (`ip netns`, `unshare --uts`) sharing one REMOTEZOO_HOME.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cluster import build_shim, need_root, need_tool, run, shim_env, spawn
from helpers.servers import wait_until
from helpers.zoo import model, write_source

import remotezoo as rz

ROOT = Path(__file__).resolve().parents[1]

# download_model logs "in"/"out" around a short sleep, and holds while a gate file exists.
MUTEX_INIT = """
import os, socket, time
def download_model(model_name, model_path):
    log = os.environ["RZ_TEST_MUTEX"]
    with open(log, "a") as f:
        f.write("in %s:%d\\n" % (socket.gethostname(), os.getpid()))
    gate = os.environ.get("RZ_TEST_HOLD")
    if gate:
        open(gate, "w").close()
        while os.path.exists(gate):
            time.sleep(0.02)
    time.sleep(0.05)
    with open(log, "a") as f:
        f.write("out %s:%d\\n" % (socket.gethostname(), os.getpid()))
    open(model_path, "w").write("x")
def load_model(model_name, model_path, **kwargs):
    return open(model_path).read()
"""

CLIENT = """
import remotezoo as rz
rz.download_zoo_model('m')
print(rz.load_zoo_model('m'))
"""

MODES = {
    "no-flock": {"no_flock": True, "no_fcntl": False},
    "no-flock-no-fcntl": {"no_flock": True, "no_fcntl": True},
}


@pytest.fixture(scope="session")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tool("gcc")
    return build_shim(tmp_path_factory.mktemp("shim"))


@pytest.fixture
def mutex_source(tmp_path, monkeypatch) -> Path:
    log = tmp_path / "mutex.log"
    monkeypatch.setenv("RZ_TEST_MUTEX", str(log))
    src = write_source(tmp_path / "src", [model("m")], init=MUTEX_INIT, name="acme/mutex")
    rz.register_zoo_model_source(str(src))
    return log


def events(log: Path) -> list[tuple[str, str]]:
    words = log.read_text().split() if log.exists() else []
    return list(zip(words[::2], words[1::2]))


def model_files() -> list[str]:
    models = Path(rz.home()) / "models"
    return sorted(p.name for p in models.rglob("*")) if models.exists() else []


def home_files() -> list[str]:
    root = Path(rz.home())
    return sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".held" in p.name
        or ".shared-" in p.name
        or p.name.endswith(".takeover")
        or ".stale-" in p.name
        or p.name == ".rz-lock"
    )


@pytest.mark.parametrize("mode", MODES)
def test_processes_without_flock_download_a_model_once(shim, mutex_source, mode):
    env = shim_env(shim, **MODES[mode])
    procs = [spawn([sys.executable, "-c", CLIENT], env, ROOT) for _ in range(6)]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.strip() == "x", err
    assert [e[0] for e in events(mutex_source)] == ["in", "out"]
    assert home_files() == [] and list((Path(rz.home()) / "locks").iterdir()) == []


LOADER = """
import remotezoo as rz
for _ in range(20):
    assert rz.load_zoo_model('m') == 'x'
"""


@pytest.mark.parametrize("mode", ["flock", "no-flock"])
def test_readers_releasing_together_leave_no_lock_file(shim, mutex_source, mode):
    """Many processes load the model at once: each holds the model's and its folder's lock files
    shared and removes them when it is the last holder. Two readers releasing together must not
    each see the other and both keep the file, as a POSIX upgrade in place lets them (the shim
    holds a failed write lock attempt for 30 ms, which makes that overlap the rule)."""
    rz.download_zoo_model("m")
    env = dict(shim_env(shim, **MODES[mode]), RZ_SHIM_FAILED_WRLCK_MS="30") if mode in MODES else {}
    procs = [spawn([sys.executable, "-c", LOADER], env, ROOT) for _ in range(6)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert home_files() == [] and list((Path(rz.home()) / "locks").iterdir()) == []


HOLDING_LOAD = MUTEX_INIT.replace(
    "    return open(model_path).read()",
    """    gate = os.environ["RZ_TEST_LOAD_GATE"]
    open(gate, "w").close()
    while os.path.exists(gate):
        time.sleep(0.02)
    return open(model_path).read()""",
)


def test_a_delete_that_gives_up_waiting_for_a_load_leaves_the_models_for_later(tmp_path):
    """A delete waits for the loads of its source's models (they hold the folder's lock) up to
    REMOTEZOO_LOCK_TIMEOUT, then unregisters and leaves the folder to a later sweep: the wait's
    error is one nobody reads (the sweep is best effort), and giving up must not crash."""
    src = write_source(tmp_path / "src", [model("m")], init=HOLDING_LOAD, name="acme/held")
    rz.register_zoo_model_source(str(src))
    gate = tmp_path / "gate"
    env = {"RZ_TEST_MUTEX": str(tmp_path / "log"), "RZ_TEST_LOAD_GATE": str(gate)}
    loader = spawn([sys.executable, "-c", CLIENT], env, ROOT)  # downloads, loads, holds
    try:
        assert wait_until(gate.exists, 60), loader.communicate()
        deleter = run(
            [
                sys.executable,
                "-c",
                f"import remotezoo as rz; rz.delete_zoo_model_source({str(src)!r})",
            ],
            dict(env, REMOTEZOO_LOCK_TIMEOUT="1"),
            ROOT,
        )
        assert deleter.returncode == 0, deleter.stderr
        assert rz.list_zoo_model_sources() == []
        assert model_files() != []  # left for a later sweep
    finally:
        gate.unlink(missing_ok=True)
        loader.communicate(timeout=60)
    # the next call that changes the home sweeps what the delete left
    rz.register_zoo_model_source(str(write_source(tmp_path / "other", [model("o")], name="b/o")))
    assert model_files() == []


def test_the_fallback_is_chosen_by_the_lock_calls_that_fail(shim, mutex_source, tmp_path):
    """The mechanism a process ends up with, seen in what it leaves while it holds a lock."""
    gate = tmp_path / "gate"
    seen = {}
    for mode, settings in MODES.items():
        proc = spawn(
            [
                sys.executable,
                "-c",
                "import remotezoo as rz; rz.download_zoo_model('m', overwrite=True)",
            ],
            dict(shim_env(shim, **settings), RZ_TEST_HOLD=str(gate)),
            ROOT,
        )
        assert wait_until(gate.exists, 30), proc.communicate()
        seen[mode] = home_files()
        gate.unlink()
        assert proc.wait(timeout=60) == 0, proc.communicate()
    # POSIX locks: plain lock files, no markers (a directory's, such as the download's own
    # directory, is "<dir>/.rz-lock"); marker files: while download_model runs, the model's lock
    # is held exclusive ("X.held") and its folder's shared ("X.shared-<token>").
    posix = seen["no-flock"]
    assert [p for p in posix if Path(p).name != ".rz-lock"] == [], posix
    assert any(Path(p).parent.name.startswith(".rz-") for p in posix), posix
    files = seen["no-flock-no-fcntl"]
    assert [p for p in files if p.startswith("locks/model-")][0].endswith(".lock.held"), files
    assert ".lock.shared-" in [p for p in files if p.startswith("locks/folder-")][0], files


def test_a_wait_for_a_marker_names_the_host_and_pid_that_hold_it(shim, mutex_source, tmp_path):
    gate = tmp_path / "gate"
    env = shim_env(shim, no_flock=True, no_fcntl=True)
    holder = spawn(
        [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('m')"],
        dict(env, RZ_TEST_HOLD=str(gate)),
        ROOT,
    )
    try:
        assert wait_until(gate.exists, 30), holder.communicate()
        waiter = run(
            [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('m')"],
            dict(env, REMOTEZOO_LOCK_TIMEOUT="1"),
            ROOT,
            timeout=60,
        )
        assert waiter.returncode != 0
        assert "TimeoutError" in waiter.stderr and f"pid {holder.pid}" in waiter.stderr, (
            waiter.stderr
        )
        assert f"host {os.uname().nodename}" in waiter.stderr, waiter.stderr
    finally:
        gate.unlink(missing_ok=True)
        holder.communicate(timeout=60)


def test_a_killed_holder_on_this_host_is_taken_over_at_once(shim, mutex_source, tmp_path):
    """Same host, same boot, same pid namespace: a marker whose process is gone is stale now,
    not after REMOTEZOO_LOCK_STALE."""
    gate = tmp_path / "gate"
    env = dict(shim_env(shim, no_flock=True, no_fcntl=True), REMOTEZOO_LOCK_STALE="600")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import remotezoo as rz; rz.download_zoo_model('m')"],
        env=dict(os.environ, **env, RZ_TEST_HOLD=str(gate)),
        cwd=ROOT,
    )
    assert wait_until(gate.exists, 30)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    gate.unlink()
    start = time.monotonic()
    done = run([sys.executable, "-c", CLIENT], env, ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "x", done.stderr
    assert time.monotonic() - start < 20
    assert home_files() == []


def test_a_holder_that_stalled_past_the_stale_time_leaves_the_new_holders_marker(
    shim, mutex_source, tmp_path
):
    """A live holder stopped (SIGSTOP: its heartbeat too) past REMOTEZOO_LOCK_STALE loses its
    lock to another process; when it resumes and releases, it removes its own marker only,
    never the new holder's, which would let a third process in beside the new holder. (Its own
    work may fail: the new holder removes what it finds of a holder it took over from.)"""
    stale = 2
    env = dict(shim_env(shim, no_flock=True, no_fcntl=True), REMOTEZOO_LOCK_STALE=str(stale))
    code = "import remotezoo as rz; rz.download_zoo_model('m')"
    gate1, gate2 = tmp_path / "gate1", tmp_path / "gate2"
    first = spawn([sys.executable, "-c", code], dict(env, RZ_TEST_HOLD=str(gate1)), ROOT)
    second = None
    try:
        assert wait_until(gate1.exists, 30), first.communicate()
        first.send_signal(signal.SIGSTOP)
        time.sleep(stale + 1)
        second = spawn([sys.executable, "-c", code], dict(env, RZ_TEST_HOLD=str(gate2)), ROOT)
        assert wait_until(gate2.exists, 30), second.communicate()
        first.send_signal(signal.SIGCONT)
        gate1.unlink()
        first.wait(timeout=60)  # it may fail: the new holder swept its work area as abandoned
        held = [
            Path(rz.home()) / p
            for p in home_files()
            if p.startswith("locks/model-") and p.endswith(".held")
        ]
        assert held and f"pid {second.pid}\n" in held[0].read_text(), home_files()
    finally:
        first.send_signal(signal.SIGCONT)
        gate1.unlink(missing_ok=True)
        gate2.unlink(missing_ok=True)
        first.communicate(timeout=60)
        if second:
            assert second.wait(timeout=60) == 0, second.communicate()
    assert [e[0] for e in events(mutex_source)] == [
        "in",
        "in",
        "out",
        "out",
    ]  # the stalled one, then the new
    assert home_files() == []
    assert rz.load_zoo_model("m") == "x"


# ---- hosts: network and UTS namespaces sharing one home --------------------------------------------

STALE = 3  # REMOTEZOO_LOCK_STALE of the host tests, seconds


@pytest.fixture
def hosts(tmp_path) -> Iterator[list[str]]:
    """Four network namespaces; run_on(host, ...) starts a process there with its own hostname."""
    need_root()
    need_tool("ip")
    need_tool("unshare")
    names = [f"rz{os.getpid()}h{i}" for i in range(4)]
    made = []
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
            made.append(name)
        yield names
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_on(host: str, code: str, env: dict[str, str]) -> subprocess.Popen:
    """python -c code in network namespace host, in a UTS namespace whose hostname is host.
    Every step execs, so the Popen's pid is Python's."""
    script = f'hostname {host} && exec "$0" -c "$1"'
    return spawn(
        ["ip", "netns", "exec", host, "unshare", "--uts", "sh", "-c", script, sys.executable, code],
        env,
        ROOT,
    )


def test_hosts_sharing_a_home_download_once(shim, hosts, mutex_source):
    env = dict(shim_env(shim, no_flock=True, no_fcntl=True), REMOTEZOO_LOCK_STALE=str(STALE))
    procs = [run_on(host, CLIENT, env) for host in hosts for _ in range(3)]
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0 and out.strip() == "x", err
    got = events(mutex_source)
    assert [e[0] for e in got] == ["in", "out"] and got[0][1].split(":")[0] in hosts
    assert home_files() == []


def test_a_holder_killed_on_one_host_is_taken_over_within_the_stale_time(
    shim, hosts, mutex_source, tmp_path
):
    gate = tmp_path / "gate"
    env = dict(shim_env(shim, no_flock=True, no_fcntl=True), REMOTEZOO_LOCK_STALE=str(STALE))
    holder = run_on(
        hosts[0],
        "import remotezoo as rz; rz.download_zoo_model('m')",
        dict(env, RZ_TEST_HOLD=str(gate)),
    )
    assert wait_until(gate.exists, 30), holder.communicate()
    time.sleep(STALE + 1)  # the heartbeat keeps a live holder's markers fresh past the stale time
    held = [Path(rz.home()) / p for p in home_files() if p.endswith(".held")]
    assert held and all(f"host {hosts[0]}\npid {holder.pid}\n" in p.read_text() for p in held)
    waiter = run_on(
        hosts[1],
        "import remotezoo as rz; rz.download_zoo_model('m')",
        dict(env, REMOTEZOO_LOCK_TIMEOUT="1"),
    )
    _, err = waiter.communicate(timeout=60)
    assert waiter.returncode != 0 and f"host {hosts[0]} pid {holder.pid}" in err, (
        err
    )  # alive: waited, named
    holder.send_signal(signal.SIGKILL)
    holder.communicate(timeout=30)
    gate.unlink()
    killed = time.monotonic()
    taker = run_on(hosts[2], CLIENT, env)
    out, err = taker.communicate(timeout=120)
    took = time.monotonic() - killed
    assert taker.returncode == 0 and out.strip() == "x", err
    # another host cannot ask the kernel whether the pid lives: the markers go stale after
    # REMOTEZOO_LOCK_STALE seconds without a touch, and are taken over then
    assert took < STALE + 5, took
    assert [e[0] for e in events(mutex_source)] == [
        "in",
        "in",
        "out",
    ]  # the killed one never got out
    assert home_files() == []


# ---- the concurrency suites, with the lock calls taken away --------------------------------------

SUITES = ["tests/test_generations.py", "tests/test_registry_integrity.py", "tests/test_faults.py"]


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_concurrency_suites_pass_without_the_lock_calls(shim, mode):
    load_seconds = os.environ.get("REMOTEZOO_LOAD_SECONDS", "4")
    env = dict(shim_env(shim, **MODES[mode]), REMOTEZOO_LOAD_SECONDS=load_seconds)
    pytest_args = ["-q", "-p", "no:cacheprovider", "-m", "not slow", *SUITES]
    proc = run([sys.executable, "-m", "pytest", *pytest_args], env, ROOT, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
