#!/usr/bin/env python3
"""remotezoo benchmarks, side by side with what users would pick instead.

    python3 benchmarks/run.py [--quick] [--runs N] [--data-dir DIR] [--only 1,2,...]

Serves generated data with a real nginx on loopback (its own temporary config), runs each
contender in a fresh subprocess (peak RSS is that process tree's own, from wait4), and prints
a table of medians, ratios and peak memory. Generated data lives in a temporary directory
that is removed at the end, unless --data-dir is given (then it is kept and reused).
Run from the repository root after ``python3 setup.py build_ext --inplace``.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import gzip
import io
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

import wan  # benchmarks/wan.py, the emulated WAN (this script's directory is on sys.path)
from wan import MiB, log

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKERS = os.path.join(HERE, "workers.py")
RATE = "20m"  # nginx limit_rate per connection for scenario 5 (20 MiB/s)


# Children run remotezoo as an installed package does: from cached bytecode (pip compiles it at
# install). Kept in a private directory so the checkout is left alone; with
# PYTHONDONTWRITEBYTECODE every child would compile the sources again and time that as import.
PYCACHE = os.path.join(tempfile.gettempdir(), "remotezoo-bench-pycache")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env.pop("REMOTEZOO_OFFLINE", None)
    env.update(extra)
    return env


# ---- measuring a child -------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float  # the contender's own time (in-process for Python, wall for CLIs)
    wall: float
    peak_kib: int  # ru_maxrss of the child and its waited-for descendants
    extra: dict[str, Any] = field(default_factory=dict)


# GNU time forks the command from its own small process and reports the wait4 ru_maxrss of the
# command's tree. Without it, wait4 on our own child also counts this (larger) process, since a
# vfork'ed child's pre-exec memory is that of its parent: peaks are then only upper bounds.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_child(cmd: list[str], env: Optional[dict[str, str]] = None, json_out: bool = False,
              prefix: Sequence[str] = ()) -> Sample:
    """Run cmd in a fresh process (after prefix, e.g. ``ip netns exec NS``); wall time and the
    peak RSS of that process tree. The child has its own session: on an error or Ctrl-C its whole
    process group is killed, not just GNU time."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out, \
            tempfile.NamedTemporaryFile(mode="r") as peak:
        cmd = [*prefix, *cmd]
        if GNU_TIME:
            cmd = [GNU_TIME, "-f", "%M", "-o", peak.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env or child_env(), cwd=ROOT,
                                start_new_session=True)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:4]} exited {proc.returncode}: {err.read().decode(errors='replace')[-2000:]}")
        peak_kib = int(peak.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
    data: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1]) if json_out else {}
    return Sample(data.pop("seconds", wall), wall, peak_kib, data)


def run_worker(name: str, env: Optional[dict[str, str]] = None, prefix: Sequence[str] = (), **args: Any) -> Sample:
    return run_child([sys.executable, WORKERS, name, json.dumps(args)], env=env, json_out=True, prefix=prefix)


# ---- nginx -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_nginx() -> str:
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    sys.exit("benchmarks: nginx is not installed; install it with: apt-get install nginx-light "
             "(any nginx build works)")


def listening(listen: str) -> bool:
    """Whether something accepts on an nginx listen address ("127.0.0.1:PORT" or "unix:PATH")."""
    family, where = ((socket.AF_UNIX, listen[5:]) if listen.startswith("unix:")
                     else (socket.AF_INET, (listen.rsplit(":", 1)[0], int(listen.rsplit(":", 1)[1]))))
    with socket.socket(family) as s:
        s.settimeout(0.2)
        try:
            s.connect(where)
            return True
        except OSError:
            return False


@contextlib.contextmanager
def nginx_server(root: str, servers: list[tuple[str, str]], prefix: Sequence[str] = (),
                 http_extra: str = "", priority: bool = False) -> Iterator[None]:
    """nginx with its own temp config serving root: one server per (listen, directives) pair,
    started after prefix (e.g. ``ip netns exec NS``), with a raised priority if asked
    (wan.prioritise), stopped on exit, also on Ctrl-C and errors."""
    binary = find_nginx()
    work = tempfile.mkdtemp(prefix="rz-nginx-")
    temp_paths = "\n".join(f"    {kind}_temp_path {work}/{kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    blocks = "\n".join(f"    server {{ listen {listen}; root {root}; {extra} }}" for listen, extra in servers)
    conf = f"""
daemon off;
master_process on;
worker_processes 1;
{'user root;' if os.geteuid() == 0 else ''}
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
{temp_paths}
    default_type application/octet-stream;
    types {{ }}
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 30;
{http_extra}
{blocks}
}}
"""
    conf_path = os.path.join(work, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen([*prefix, binary, "-p", work, "-c", conf_path, "-e", f"{work}/error.log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=priority)
    try:
        if priority:
            wan.prioritise(proc.pid)
        deadline = time.monotonic() + 10
        while not all(listening(listen) for listen, _ in servers):
            if proc.poll() is not None:
                raise RuntimeError(f"nginx did not start: {proc.stderr.read().decode()[-1000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start listening within 10 s")
            time.sleep(0.05)
        yield
    finally:
        wan.stop(proc)
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def nginx(root: str) -> Iterator[tuple[str, str]]:
    """Serve root on two loopback ports: full speed, and limit_rate RATE per connection.
    Yields the two base URLs."""
    fast, slow = free_port(), free_port()
    with nginx_server(root, [(f"127.0.0.1:{fast}", ""), (f"127.0.0.1:{slow}", f"limit_rate {RATE};")]):
        log(f"nginx serving {root} on 127.0.0.1:{fast} (and :{slow} at {RATE}/s per connection)")
        yield f"http://127.0.0.1:{fast}", f"http://127.0.0.1:{slow}"


# ---- data --------------------------------------------------------------------------------


def random_file(path: str, size: int) -> None:
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    log(f"generating {path} ({size // MiB} MiB of random bytes)")
    with open(path + ".tmp", "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MiB)
            f.write(os.urandom(n))
            left -= n
    os.replace(path + ".tmp", path)


SOURCE_INIT = '''
import os

def download_model(model_name, model_path):
    os.makedirs(os.path.dirname(model_path), exist_ok=True)
    with open(model_path, "w") as f:
        f.write(model_name)

class Model:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

def load_model(model_name, model_path, **kwargs):
    return Model(model_name)
'''


def source_tarball(path: str, files: int, unpacked: int) -> float:
    """A GitHub-style tarball: one top-level directory, manifest.json + __init__.py at its root
    and `files` data files of random-ish text (gzip ratio about 3x). Returns the ratio."""
    if os.path.exists(path):
        with open(path + ".ratio") as f:
            return float(f.read())
    log(f"generating {path} ({files} files, {unpacked // MiB} MiB unpacked)")
    rng = random.Random(1234)
    words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_0123456789") for _ in range(rng.randint(2, 9)))
             for _ in range(1024)]
    pool = " ".join(rng.choices(words, k=2 * MiB // 5)).encode()
    per_file = unpacked // files
    top = "someone-models-0123abc"
    manifest = {"name": "bench/tarball", "models": [
        {"base_name": f"bench-model-{i}", "base_filename": f"m{i}.bin", "version": "1.0", "tags": ["bench"]}
        for i in range(5)]}
    raw = 0
    with open(path + ".tmp", "wb") as out:
        with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6, mtime=0) as gz:
            with tarfile.open(fileobj=gz, mode="w|") as tar:
                def add(name: str, data: bytes) -> None:
                    nonlocal raw
                    info = tarfile.TarInfo(f"{top}/{name}")
                    info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
                    tar.addfile(info, io.BytesIO(data))
                    raw += len(data)
                add("manifest.json", json.dumps(manifest, indent=2).encode())
                add("__init__.py", SOURCE_INIT.encode())
                for i in range(files):
                    start = rng.randrange(len(pool) - per_file)
                    # A slice of word soup with some incompressible bytes mixed in.
                    data = pool[start:start + per_file * 15 // 16] + os.urandom(per_file // 16)
                    add(f"data/{i // 100:03d}/file{i:05d}.txt", data)
        ratio = raw / out.tell()
    os.replace(path + ".tmp", path)
    with open(path + ".ratio", "w") as f:
        f.write(f"{ratio:.2f}")
    return ratio


def local_sources(root: str, sources: int, models: int) -> list[str]:
    paths = []
    for s in range(sources):
        d = os.path.join(root, f"src{s:03d}")
        paths.append(d)
        if os.path.exists(os.path.join(d, "manifest.json")):
            continue
        os.makedirs(d, exist_ok=True)
        manifest = {"name": f"bench/src{s:03d}", "models": [
            {"base_name": f"bench/s{s:03d}-model-{m:02d}", "base_filename": f"m{m}.txt",
             "version": f"1.{m % 3}", "tags": ["bench", f"t{m % 5}"], "license": "MIT",
             "description": "A benchmark model " * 4, "size_bytes": 123456789}
            for m in range(models)]}
        with open(os.path.join(d, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=2)
        with open(os.path.join(d, "__init__.py"), "w") as f:
            f.write(SOURCE_INIT)
    return paths


# ---- the table ---------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    contender: str
    samples: list[Sample]
    size: Optional[int] = None  # bytes moved, for throughput
    unit: str = "s"

    @property
    def median(self) -> float:
        """Of the runs that did not fail (a failed run's seconds are NaN); NaN if all failed."""
        ok = [s.seconds for s in self.samples if not math.isnan(s.seconds)]
        return statistics.median(ok) if ok else math.nan

    @property
    def failures(self) -> list[str]:
        return [s.extra["error"] for s in self.samples if "error" in s.extra]

    @property
    def peak_mib(self) -> float:
        return max(s.peak_kib for s in self.samples) / 1024


ROWS: list[Row] = []
VERDICTS: list[str] = []


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def bench_interleaved(scenario: str, contenders: list[tuple[str, Callable[[], Sample]]], runs: int,
                      size: Optional[int] = None, before: Optional[Callable[[], None]] = None) -> list[Row]:
    """runs samples of each contender, taking turns (run 1 of each, then run 2, ...), so that a
    change in the machine's load falls on all of them alike. One Row per contender."""
    rows = [Row(scenario, label, [], size) for label, _ in contenders]
    for i in range(runs):
        for row, (label, fn) in zip(rows, contenders):
            if before:
                before()
            row.samples.append(fn())
            log(f"  {scenario} {label} run {i + 1}/{runs}: {fmt_time(row.samples[-1].seconds)}, "
                f"peak {row.samples[-1].peak_kib / 1024:.1f} MiB")
    ROWS.extend(rows)
    return rows


def bench(scenario: str, contender: str, runs: int, fn: Callable[[], Sample], size: Optional[int] = None,
          before: Optional[Callable[[], None]] = None) -> Row:
    return bench_interleaved(scenario, [(contender, fn)], runs, size, before)[0]


def verdict(ok: bool, text: str) -> None:
    VERDICTS.append(f"- {'PASS' if ok else 'MISS'}: {text}")
    log(VERDICTS[-1])


def table(reference: dict[str, Row]) -> str:
    lines = ["| scenario | contender | median | MiB/s | vs remotezoo (time) | peak RSS MiB |",
             "|---|---|---:|---:|---:|---:|"]
    for r in ROWS:
        ref = reference.get(r.scenario) if r.size else None  # ratios only among transfers
        ratio = f"{r.median / ref.median:.2f}×" if ref and ref.median > 0 else ""
        mibs = f"{r.size / MiB / r.median:.0f}" if r.size else ""
        peak = f"{r.peak_mib:.1f}" if r.samples[0].peak_kib else ""
        lines.append(f"| {r.scenario} | {r.contender} | {fmt_time(r.median)} | {mibs} | {ratio} | {peak} |")
    return "\n".join(lines)


# ---- scenarios ---------------------------------------------------------------------------


def remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def scenario_download(base: str, data: str, out: str, size: int, runs: int, ref: dict[str, Row]) -> None:
    name = "1 download"
    url = f"{base}/big.bin"
    dest = os.path.join(out, "big.bin")
    clean = lambda: remove(dest)  # noqa: E731
    log(f"scenario 1: download {size // MiB} MiB")
    rz = bench(name, "remotezoo.download_file", runs, lambda: run_worker("remotezoo.download_file", url=url, dest=dest), size, clean)
    ref[name] = rz
    curl = bench(name, "curl -o", runs, lambda: run_child(["curl", "-sS", "-o", dest, url]), size, clean)
    # remotezoo fsyncs before the rename (a model must survive a power cut whole); curl and the
    # Python contenders stop when the bytes reach the page cache. The durable rows add the fsync.
    curl_durable = bench(name, "curl -o, then sync FILE (durable)", runs,
                         lambda: run_child(["sh", "-c", f"curl -sS -o '{dest}' '{url}' && sync '{dest}'"]), size, clean)
    req = bench(name, "requests iter_content(1 MiB)", runs, lambda: run_worker("requests.iter_content", url=url, dest=dest), size, clean)
    for contender in ("huggingface_hub.http_get", "pooch.retrieve"):
        try:
            bench(name, contender, runs, lambda c=contender: run_worker(c, url=url, dest=dest), size, clean)
        except RuntimeError as e:
            log(f"  {contender} skipped: {str(e).splitlines()[-1]}")
    clean()
    verdict(curl.median / rz.median >= 0.95,
            f"download throughput {curl.median / rz.median:.2f}× curl's (bar ≥ 0.95×)")
    verdict(curl_durable.median / rz.median >= 0.95,
            f"download throughput {curl_durable.median / rz.median:.2f}× durable curl's (curl -o + sync; same guarantee)")
    verdict(req.median / rz.median >= 2, f"download {req.median / rz.median:.2f}× faster than requests (bar ≥ 2×)")
    verdict(rz.peak_mib < 64, f"download peak RSS {rz.peak_mib:.1f} MiB (bar < 64 MiB)")


def scenario_register(base: str, out: str, size: int, runs: int, ref: dict[str, Row]) -> None:
    name = "2 register tar.gz"
    url = f"{base}/source.tar.gz"
    home = os.path.join(out, "home2")
    trash = os.path.join(out, "home2-trash")
    os.makedirs(trash, exist_ok=True)

    def clean() -> None:
        # Each run writes a fresh tree; the trees are removed after the scenario, not between
        # runs. Creating 5,000 files right after removing 5,000 made ext4's inode allocator step
        # over every inode freed less than a minute before (recently_deleted, find_inode_bit):
        # 1-5 s of system time per run, the same for every contender, none of it a user's.
        if os.path.exists(home):
            os.rename(home, os.path.join(trash, str(len(os.listdir(trash)))))
    log("scenario 2: register a tar.gz source")
    rz = bench(name, "remotezoo.register_zoo_model_source", runs, lambda: run_worker("remotezoo.register (stream)", url=url, home=home), size, clean)
    ref[name] = rz
    rz_files = sum(len(f) for _, _, f in os.walk(os.path.join(home, "sources")))

    def pipe() -> Sample:
        os.makedirs(home)
        return run_child(["sh", "-c", f"curl -sS '{url}' | bsdtar -x -f - -C '{home}'"])
    if shutil.which("bsdtar"):
        bsd = bench(name, "curl | bsdtar -x", runs, pipe, size, clean)
        verdict(rz.median <= 1.1 * bsd.median,
                f"register {rz.median / bsd.median:.2f}× the time of curl | bsdtar (bar ≤ 1.1×)")
    else:
        log("  bsdtar not installed (apt-get install libarchive-tools): curl | bsdtar skipped")
    req = bench(name, "requests + tarfile.extractall", runs, lambda: run_worker("requests + tarfile", url=url, home=home), size, clean)
    clean()
    remove(trash)
    verdict(req.median / rz.median >= 3, f"register {req.median / rz.median:.2f}× faster than requests + tarfile (bar ≥ 3×)")
    log(f"  remotezoo kept {rz_files} files")


def fiftyone_list(python: str, paths: list[str], out: str, runs: int, calls: int, name: str) -> None:
    """FiftyOne's list_zoo_models over the same sources, laid out as its registration leaves
    them: each source copied under the model zoo dir with its URL written into manifest.json."""
    zoo = os.path.join(out, "fo-zoo")
    for i, path in enumerate(paths):
        dest = os.path.join(zoo, f"bench/src{i:03d}")
        shutil.copytree(path, dest)
        with open(os.path.join(dest, "manifest.json")) as f:
            manifest = json.load(f)
        manifest["url"] = f"https://example.invalid/src{i:03d}.tar.gz"
        with open(os.path.join(dest, "manifest.json"), "w") as f:
            json.dump(manifest, f)
    env = child_env(FIFTYONE_MODEL_ZOO_DIR=zoo, FIFTYONE_DO_NOT_TRACK="true",
                    FIFTYONE_DATABASE_ADMIN="false")
    cold_code = ("import time; t = time.perf_counter(); import fiftyone.zoo as foz; n = len(foz.list_zoo_models()); "
                 "t = time.perf_counter() - t; print('{\"seconds\": %f, \"models\": %d}' % (t, n))")
    try:
        bench(name, "fiftyone cold (import + 1 call)", runs,
              lambda: run_child([python, "-c", cold_code], env=env, json_out=True))
        bench(name, "fiftyone warm (per call)", runs, lambda: run_child(
            [python, WORKERS, "fiftyone.list_zoo_models warm", json.dumps({"calls": max(5, calls // 20)})],
            env=env, json_out=True))
    except RuntimeError as e:
        log(f"  fiftyone skipped: {str(e)[-300:]}")
    remove(zoo)


def scenario_list(data: str, out: str, n_sources: int, n_models: int, runs: int, calls: int, ref: dict[str, Row],
                  fiftyone_python: Optional[str] = None) -> None:
    name = "3 list_zoo_models"
    home = os.path.join(out, "home3")
    remove(home)
    paths = local_sources(os.path.join(data, "local-sources"), n_sources, n_models)
    log(f"scenario 3: list_zoo_models over {n_sources} sources × {n_models} models")
    setup = ("import os, sys; import remotezoo as rz\n"
             "for p in sys.argv[1:]: rz.register_zoo_model_source(p)\n")
    subprocess.run([sys.executable, "-c", setup, *paths], check=True, env=child_env(REMOTEZOO_HOME=home), cwd=ROOT)
    cold_code = ("import time; t = time.perf_counter(); import remotezoo; n = len(remotezoo.list_zoo_models()); "
                 "t = time.perf_counter() - t; print('{\"seconds\": %f, \"models\": %d}' % (t, n))")
    env = child_env(REMOTEZOO_HOME=home)
    cold = bench(name, f"remotezoo cold (import + 1 call, {n_sources * n_models} models)", runs,
                 lambda: run_child([sys.executable, "-c", cold_code], env=env, json_out=True))
    ref[name] = cold
    warm = bench(name, "remotezoo warm (per call)", runs, lambda: run_worker("remotezoo.list_zoo_models warm", home=home, calls=calls))
    models = warm.samples[0].extra.get("models")
    verdict(models == n_sources * n_models, f"list_zoo_models returned {models} models (want {n_sources * n_models})")
    if fiftyone_python:
        fiftyone_list(fiftyone_python, paths, out, runs, calls, name)
    verdict(cold.median < 0.020, f"list_zoo_models cold {fmt_time(cold.median)} (bar < 20 ms)")
    verdict(warm.median < 0.002, f"list_zoo_models warm {fmt_time(warm.median)} per call (bar < 2 ms)")
    remove(home)


def scenario_import_load(out: str, runs: int, calls: int, ref: dict[str, Row]) -> None:
    name = "4 import / load"
    log("scenario 4: import remotezoo, load_zoo_model overhead")
    reps = max(5, runs * 5)
    walls = {}
    run_child([sys.executable, "-c", "import remotezoo"])  # fills the bytecode cache
    for label, code in (("pass", "pass"), ("import", "import remotezoo")):
        samples = [run_child([sys.executable, "-c", code]) for _ in range(reps)]
        walls[label] = samples
    net = statistics.median(s.wall for s in walls["import"]) - statistics.median(s.wall for s in walls["pass"])
    row = Row(name, "import remotezoo (wall minus `python -c pass`)", [Sample(net, net, max(s.peak_kib for s in walls["import"]))])
    ROWS.append(row)
    ref[name] = row
    # -X importtime: cumulative microseconds of the remotezoo package itself.
    cumulative = []
    for _ in range(reps):
        err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import remotezoo"], env=child_env(),
                             cwd=ROOT, capture_output=True, text=True, check=True).stderr
        cumulative.append(next(int(l.split("|")[1]) for l in err.splitlines() if l.rstrip().endswith("| remotezoo")))
    it = statistics.median(cumulative) / 1e6
    ROWS.append(Row(name, "import remotezoo (-X importtime cumulative)", [Sample(it, it, 0)]))
    verdict(net < 0.030, f"import remotezoo {fmt_time(net)} wall, {fmt_time(it)} by -X importtime (bar < 30 ms)")

    home = os.path.join(out, "home4")
    remove(home)
    src = os.path.join(out, "trivial-source")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "manifest.json"), "w") as f:
        json.dump({"name": "bench/trivial", "models": [{"base_name": "trivial", "base_filename": "trivial.txt"}]}, f)
    with open(os.path.join(src, "__init__.py"), "w") as f:
        f.write(SOURCE_INIT)
    subprocess.run([sys.executable, "-c", f"import remotezoo; remotezoo.register_zoo_model_source({src!r})"],
                   check=True, env=child_env(REMOTEZOO_HOME=home), cwd=ROOT)
    samples = [run_worker("remotezoo.load_zoo_model", home=home, model="trivial", calls=calls) for _ in range(runs)]
    for label, key in (("load_zoo_model(cache=False) minus plugin's load_model", "seconds"),
                       ("load_zoo_model cache hit (per call)", "cached"),
                       ("plugin's own load_model (direct call)", "plugin")):
        ROWS.append(Row(name, label, [Sample(s.extra[key] if key != "seconds" else s.seconds, 0, s.peak_kib) for s in samples]))
    overhead = statistics.median(s.seconds for s in samples)
    hit = statistics.median(s.extra["cached"] for s in samples)
    verdict(overhead < 0.001, f"load_zoo_model overhead {fmt_time(overhead)} (bar < 1 ms); cache hit {fmt_time(hit)}")
    remove(home)
    remove(src)


def scenario_parallel(slow_base: str, out: str, size: int, runs: int, connections: int, ref: dict[str, Row]) -> None:
    name = f"5 ranges @{RATE}/conn"
    url = f"{slow_base}/mid.bin"
    dest = os.path.join(out, "mid.bin")
    clean = lambda: remove(dest)  # noqa: E731
    log(f"scenario 5: {size // MiB} MiB from a server limited to {RATE}B/s per connection")
    par_env = child_env(REMOTEZOO_CONNECTIONS=str(connections))
    rz = bench(name, f"remotezoo.download_file ({connections} connections)", runs,
               lambda: run_worker("remotezoo.download_file", env=par_env, url=url, dest=dest), size, clean)
    ref[name] = rz
    one_env = child_env(REMOTEZOO_CONNECTIONS="1")
    bench(name, "remotezoo.download_file (1 connection)", runs,
          lambda: run_worker("remotezoo.download_file", env=one_env, url=url, dest=dest), size, clean)
    one = bench(name, "curl -o (1 connection)", runs, lambda: run_child(["curl", "-sS", "-o", dest, url]), size, clean)

    def ranges() -> Sample:
        # curl -Z with one range per connection, then the parts joined: the reference for what
        # a parallel range download gains.
        step = size // connections
        cmd = ["curl", "-sS", "-Z", "--parallel-max", str(connections)]
        parts = []
        for i in range(connections):
            last = size - 1 if i == connections - 1 else (i + 1) * step - 1
            parts.append(f"{dest}.part{i}")
            cmd += (["--next"] if i else []) + ["-r", f"{i * step}-{last}", "-o", parts[-1], url]
        script = " ".join(f"'{c}'" for c in cmd) + f" && cat {' '.join(parts)} > '{dest}' && rm -f {' '.join(parts)}"
        return run_child(["sh", "-c", script])
    par = bench(name, f"curl -Z, {connections} ranges + cat", runs, ranges, size, clean)
    got = os.path.exists(dest)
    clean()
    log(f"  parallel ranges gain over one stream: {one.median / par.median:.2f}× (file complete: {got or 'checked per run'})")
    verdict(rz.median <= par.median * 1.1,
            f"remotezoo with {connections} connections {fmt_time(rz.median)} vs curl -Z {fmt_time(par.median)} "
            f"(bar ≤ 1.1×), {one.median / rz.median:.2f}× faster than one connection")


# ---- the emulated WAN (--wan) ------------------------------------------------------------

CURL = "curl -o (1 stream)"
ARIA2 = "aria2c -x16 -s16"
RZ = "remotezoo.download_file"


@dataclass
class WanResult:
    profile: wan.Profile
    where: str
    rows: list[Row]
    load: str  # /proc/loadavg before → after
    lag: str  # the relay's report of its late deliveries


WAN_RESULTS: list[WanResult] = []


def wan_contenders(profile: wan.Profile, url: str, dest: str, sock: str,
                   prefix: Sequence[str]) -> list[tuple[str, Callable[[], Sample]]]:
    """The peers, each run in a fresh process inside the profile's network. The calibration
    profile's peers write to /dev/null: they measure the relay, not the disk."""
    def env(**extra: str) -> dict[str, str]:
        e = child_env(**extra)
        for knob in ("REMOTEZOO_CONNECTIONS", "REMOTEZOO_PARALLEL_MIN_BYTES"):
            if knob not in extra:
                e.pop(knob, None)  # remotezoo as installed: no tuning
        return e

    def worker(name: str, **extra: str) -> Callable[[], Sample]:
        return lambda: run_worker(name, env=env(**extra), prefix=prefix, url=url, dest=dest)

    def curl(*args: str) -> Callable[[], Sample]:
        return lambda: run_child(["curl", "-sS", *args], prefix=prefix)

    if profile.calibration:
        return [(f"{CURL}, to /dev/null", curl("-o", "/dev/null", url)),
                ("curl -o /dev/null, nginx's socket itself (no relay)",
                 curl("--unix-socket", sock, "-o", "/dev/null", f"http://wan{url[url.index('/', 8):]}"))]
    aria2 = ["aria2c", "-x16", "-s16", "-q", "-d", os.path.dirname(dest), "-o", os.path.basename(dest), url]
    return [
        (CURL, curl("-o", dest, url)),
        (ARIA2, lambda: run_child(aria2, prefix=prefix)),
        ("requests iter_content(1 MiB)", worker("requests.iter_content")),
        ("huggingface_hub.http_get", worker("huggingface_hub.http_get")),
        (RZ, worker("remotezoo.download_file")),
    ]


def wan_nginx(profile: wan.Profile, serve: str, sock: str, net: wan.Net) -> contextlib.AbstractContextManager[None]:
    """nginx for a profile, inside its network, on the Unix socket sock: limit_rate for the
    per-connection cap, limit_conn (503 beyond it) for the server's connections."""
    directives = (f"limit_rate {profile.conn_rate};" if profile.conn_rate else "") + \
        (f" limit_conn conns {profile.max_conns};" if profile.max_conns else "")
    # One key for every request (nginx does not count requests whose key is empty, as
    # $server_name and $binary_remote_addr are here), so limit_conn caps the server's connections.
    http_extra = ("    map $scheme $rz_everyone { default everyone; }\n"
                  "    limit_conn_zone $rz_everyone zone=conns:1m;") if profile.max_conns else ""
    return nginx_server(serve, [(f"unix:{sock}", directives)], net.prefix, http_extra, priority=True)


def scenario_wan(profile: wan.Profile, serve: str, out: str, size: int, runs: int) -> None:
    name = f"wan {profile.name}"
    served = os.path.join(serve, "big.bin")
    dest = os.path.join(out, "wan.bin")

    def clean() -> None:
        remove(dest)
        remove(dest + ".aria2")

    load = wan.loadavg()
    log(f"WAN profile {profile.name}: {profile.describe()}; one stream can carry "
        f"{profile.stream_bytes() / MiB:.1f} MiB/s; load {load}")
    sockdir = tempfile.mkdtemp(prefix="rz-wan-")  # short: a Unix socket path has 108 bytes
    sock = os.path.join(sockdir, "http.sock")
    try:
        with wan.network(profile) as net, \
                wan_nginx(profile, serve, sock, net), \
                wan.relay(net, profile, sock) as relay:
            log(f"  {net.where}; nginx on {sock}, the relay at {relay.url}")
            compared: set[str] = set()

            def checked(label: str, fn: Callable[[], Sample]) -> Callable[[], Sample]:
                """fn, plus the relay's CPU share while it ran and a check of the file
                (its size each run, its bytes the first time)."""
                def run() -> Sample:
                    cpu = wan.cpu_seconds(relay.pid)
                    try:
                        sample = fn()
                    except RuntimeError as e:  # a peer that gives up is a result, not the end of the run
                        reason = str(e).strip().splitlines()[-1]
                        log(f"  {label} FAILED: {reason}")
                        return Sample(math.nan, math.nan, 0, {"error": reason, "relay_cpu": math.nan})
                    sample.extra["relay_cpu"] = (wan.cpu_seconds(relay.pid) - cpu) / sample.wall
                    if profile.calibration:
                        return sample  # written to /dev/null
                    if os.path.getsize(dest) != size or \
                            (label not in compared and not filecmp.cmp(dest, served, shallow=False)):
                        raise RuntimeError(f"{label} over {profile.name}: the file differs from the served one")
                    compared.add(label)
                    return sample
                return run

            contenders = [(label, checked(label, fn))
                          for label, fn in wan_contenders(profile, f"{relay.url}/big.bin", dest, sock, net.prefix)]
            rows = bench_interleaved(name, contenders, runs, size, clean)
        WAN_RESULTS.append(WanResult(profile, net.where, rows, f"{load} → {wan.loadavg()}", relay.lag))
    finally:
        clean()
        shutil.rmtree(sockdir, ignore_errors=True)
    log(wan_table(WAN_RESULTS[-1:]))  # each profile's table as soon as it is done
    wan_verdicts(WAN_RESULTS[-1])


def wan_verdicts(res: WanResult) -> None:
    """The issue's bars for remotezoo (as installed) on one profile."""
    p = res.profile
    by = {r.contender: r for r in res.rows}
    if p.calibration or RZ not in by:
        return
    rz, aria2, curl = by[RZ], by[ARIA2], by[CURL]
    if rz.failures:
        verdict(False, f"{p.name}: remotezoo failed {len(rz.failures)} of {len(rz.samples)} runs: {rz.failures[0]}")
        if math.isnan(rz.median):
            return
    rate = rz.size / rz.median
    if p.conn_bytes:
        allowed = p.conn_bytes * p.max_conns if p.max_conns else float("inf")
        target = min(p.link_bytes, allowed)
        what = (f"min(link, {p.conn_bytes / MiB:g} MiB/s × {p.max_conns or 'any number of'} connections) "
                f"= {target / MiB:.0f} MiB/s")
    else:
        target, what = p.link_bytes, f"the link ({p.link_bytes / MiB:.0f} MiB/s)"
    verdict(rate >= 0.9 * target,
            f"{p.name}: remotezoo {rate / MiB:.0f} MiB/s = {100 * rate / target:.0f} % of {what} (bar ≥ 90 %)")
    verdict(aria2.median / rz.median >= 1.0,
            f"{p.name}: remotezoo {aria2.median / rz.median:.2f}× aria2c -x16 (bar ≥ 1.0×)")
    one = curl.size / curl.median
    beyond = f"; one curl stream already carries {100 * one / target:.0f} % of it, so 3× is beyond the link" \
        if 3 * one > target else ""
    verdict(curl.median / rz.median >= 3,
            f"{p.name}: remotezoo {curl.median / rz.median:.2f}× one curl stream (bar ≥ 3×){beyond}")


def wan_table(results: list[WanResult]) -> str:
    """One table per profile: throughput, its share of the link, ratios to aria2c and curl
    (throughput ratios: above 1 is faster), peak RSS, the relay's CPU while each peer ran."""
    out = []
    for res in results:
        p = res.profile
        by = {r.contender: r for r in res.rows}
        out.append(f"**{p.name}**: {p.describe()}; one stream ≤ {p.stream_bytes() / MiB:.1f} MiB/s "
                   f"({res.where}; load {res.load}; relay {res.lag})\n")
        out.append("| peer | median | MiB/s | % of link | × aria2c | × curl | peak RSS MiB | relay CPU |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in res.rows:
            label = r.contender
            if r.failures:
                label += f" (failed {len(r.failures)} of {len(r.samples)} runs: {r.failures[0]})"
            if math.isnan(r.median):
                out.append(f"| {label} | failed |  |  |  |  |  |  |")
                continue
            rate = r.size / r.median
            link = f"{100 * rate / p.link_bytes:.0f} %" if p.link_bytes else ""
            ratios = [f"{by[k].median / r.median:.2f}×" if k in by and not math.isnan(by[k].median) else ""
                      for k in (ARIA2, CURL)]
            cpu = statistics.median(s.extra["relay_cpu"] for s in r.samples if "error" not in s.extra)
            out.append(f"| {label} | {fmt_time(r.median)} | {rate / MiB:.1f} | {link} | {ratios[0]} | "
                       f"{ratios[1]} | {r.peak_mib:.1f} | {100 * cpu:.0f} % |")
        out.append("")
    return "\n".join(out)


def main_wan(args: argparse.Namespace, runs: int) -> None:
    names = args.wan_profiles.split(",") if args.wan_profiles else list(wan.DEFAULT_PROFILES)
    unknown = [n for n in names if n not in wan.PROFILES]
    if unknown:
        sys.exit(f"benchmarks: unknown WAN profile(s) {', '.join(unknown)}; known: {', '.join(wan.PROFILES)}")
    for tool, package in (("curl", "curl"), ("aria2c", "aria2"), ("ip", "iproute2"), ("tc", "iproute2")):
        if not shutil.which(tool):
            sys.exit(f"benchmarks: {tool} is not installed; install it with: apt-get install {package}")
    find_nginx()
    size = 128 * MiB if args.quick else 1024 * MiB
    data = args.data_dir or tempfile.mkdtemp(prefix="rz-bench-data-")
    os.makedirs(data, exist_ok=True)
    serve = os.path.join(data, "www")
    out = tempfile.mkdtemp(prefix="rz-bench-out-", dir=args.wan_dest or data)
    started = time.monotonic()
    try:
        wan.remove_stale_namespaces()
        os.makedirs(serve, exist_ok=True)
        random_file(os.path.join(serve, "big.bin"), size)
        for name in names:
            scenario_wan(wan.PROFILES[name], serve, out, size, runs)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if not args.data_dir:
            shutil.rmtree(data, ignore_errors=True)
    text = (f"{size // MiB} MiB file, {runs} run(s) per peer, medians; written to {os.path.dirname(out)}\n\n"
            + wan_table(WAN_RESULTS) + "\n" + "\n".join(VERDICTS) + "\n")
    print(text)
    print(f"(total {time.monotonic() - started:.0f} s)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run at smaller sizes")
    ap.add_argument("--runs", type=int, help="runs per contender (default 3, --quick 1)")
    ap.add_argument("--data-dir", help="keep generated data here and reuse it (default: a temp dir, removed)")
    ap.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,3")
    ap.add_argument("--markdown", help="also write the table and verdicts to this file")
    ap.add_argument("--wan", action="store_true", help="the emulated WAN instead: peers on each network profile "
                    "(root, for a network namespace; see benchmarks/README.md)")
    ap.add_argument("--wan-dest", help="where the WAN peers write (default: beside the generated data); "
                    "e.g. /dev/shm to take the disk out of the numbers")
    ap.add_argument("--wan-profiles", help=f"comma-separated, of: {', '.join(wan.PROFILES)} "
                    f"(default: {','.join(wan.DEFAULT_PROFILES)})")
    ap.add_argument("--mirror", type=int, metavar="N", help="also scenario 6: N processes load one model "
                    "through an nginx caching mirror (benchmarks/mirror.py); --only 6 runs it with N=8")
    ap.add_argument("--fiftyone-python", help="a Python with fiftyone installed (e.g. a venv: "
                    "python3 -m venv /tmp/fo && /tmp/fo/bin/pip install fiftyone) to compare list_zoo_models")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if args.wan:
        main_wan(args, runs)
        return
    only = {int(x) for x in args.only.split(",")} if args.only else {1, 2, 3, 4, 5}
    mirror_n = args.mirror or (8 if 6 in only else 0)
    big = 128 * MiB if args.quick else 1024 * MiB
    mid = 64 * MiB if args.quick else 256 * MiB
    tar_files, tar_bytes = (500, 20 * MiB) if args.quick else (5000, 200 * MiB)
    connections = 4
    if not os.path.exists(os.path.join(ROOT, "remotezoo")):
        sys.exit("benchmarks: run from a remotezoo checkout")
    for tool in ("curl",):
        if not shutil.which(tool):
            sys.exit(f"benchmarks: {tool} is not installed; install it with: apt-get install {tool}")
    find_nginx()

    data = args.data_dir or tempfile.mkdtemp(prefix="rz-bench-data-")
    os.makedirs(data, exist_ok=True)
    serve = os.path.join(data, "www")
    out = tempfile.mkdtemp(prefix="rz-bench-out-", dir=data)
    ref: dict[str, Row] = {}
    started = time.monotonic()
    try:
        os.makedirs(serve, exist_ok=True)
        if 1 in only:
            random_file(os.path.join(serve, "big.bin"), big)
        if 5 in only or mirror_n:
            random_file(os.path.join(serve, "mid.bin"), mid)
        ratio = source_tarball(os.path.join(serve, "source.tar.gz"), tar_files, tar_bytes) if 2 in only else 0
        with nginx(serve) as (base, slow_base):
            if 1 in only:
                scenario_download(base, data, out, big, runs, ref)
            if 2 in only:
                log(f"  tarball gzip ratio {ratio:.2f}")
                scenario_register(base, out, os.path.getsize(os.path.join(serve, "source.tar.gz")), runs, ref)
            if 5 in only:
                scenario_parallel(slow_base, out, mid, runs, connections, ref)
            if mirror_n:
                from mirror import scenario_mirror  # benchmarks/mirror.py

                scenario_mirror(base, serve, out, mirror_n, "mid.bin", mid, runs, bench, verdict, Sample)
        if 3 in only:
            scenario_list(data, out, 20 if args.quick else 200, 50, runs, 50 if args.quick else 200, ref,
                          args.fiftyone_python)
        if 4 in only:
            scenario_import_load(out, runs, 200 if args.quick else 2000, ref)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        if not args.data_dir:
            shutil.rmtree(data, ignore_errors=True)
    text = table(ref) + "\n\n" + "\n".join(VERDICTS) + "\n"
    print(text)
    print(f"({runs} run(s) per contender, medians; total {time.monotonic() - started:.0f} s)")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
