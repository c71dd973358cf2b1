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
import gzip
import io
import json
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
from typing import Any, Iterator, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
WORKERS = os.path.join(HERE, "workers.py")
MiB = 1024 * 1024
RATE = "20m"  # nginx limit_rate per connection for scenario 5 (20 MiB/s)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


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


def run_child(cmd: list[str], env: Optional[dict[str, str]] = None, json_out: bool = False) -> Sample:
    """Run cmd in a fresh process; wall time and the peak RSS of that process tree."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out, \
            tempfile.NamedTemporaryFile(mode="r") as peak:
        if GNU_TIME:
            cmd = [GNU_TIME, "-f", "%M", "-o", peak.name, *cmd]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env or child_env(), cwd=ROOT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
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


def run_worker(name: str, env: Optional[dict[str, str]] = None, **args: Any) -> Sample:
    return run_child([sys.executable, WORKERS, name, json.dumps(args)], env=env, json_out=True)


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


@contextlib.contextmanager
def nginx(root: str) -> Iterator[tuple[str, str]]:
    """Serve root on two loopback ports: full speed, and limit_rate RATE per connection.
    Yields the two base URLs; nginx is stopped on exit, also on Ctrl-C and exceptions."""
    binary = find_nginx()
    work = tempfile.mkdtemp(prefix="rz-nginx-")
    fast, slow = free_port(), free_port()
    temp_paths = "\n".join(f"    {kind}_temp_path {work}/{kind};"
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
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
    server {{ listen 127.0.0.1:{fast}; root {root}; }}
    server {{ listen 127.0.0.1:{slow}; root {root}; limit_rate {RATE}; }}
}}
"""
    conf_path = os.path.join(work, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    proc = subprocess.Popen([binary, "-p", work, "-c", conf_path, "-e", f"{work}/error.log"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx did not start: {proc.stderr.read().decode()[-1000:]}")
            try:
                socket.create_connection(("127.0.0.1", slow), timeout=0.2).close()
                socket.create_connection(("127.0.0.1", fast), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start listening within 10 s")
                time.sleep(0.05)
        log(f"nginx {binary} serving {root} on 127.0.0.1:{fast} (and :{slow} at {RATE}/s per connection)")
        yield f"http://127.0.0.1:{fast}", f"http://127.0.0.1:{slow}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


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
        return statistics.median(s.seconds for s in self.samples)

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


def bench(scenario: str, contender: str, runs: int, fn: Any, size: Optional[int] = None,
          before: Any = None) -> Row:
    samples = []
    for i in range(runs):
        if before:
            before()
        samples.append(fn())
        log(f"  {scenario} {contender} run {i + 1}/{runs}: {fmt_time(samples[-1].seconds)}, "
            f"peak {samples[-1].peak_kib / 1024:.1f} MiB")
    row = Row(scenario, contender, samples, size)
    ROWS.append(row)
    return row


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
    clean = lambda: remove(home)  # noqa: E731
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 run at smaller sizes")
    ap.add_argument("--runs", type=int, help="runs per contender (default 3, --quick 1)")
    ap.add_argument("--data-dir", help="keep generated data here and reuse it (default: a temp dir, removed)")
    ap.add_argument("--only", help="comma-separated scenario numbers, e.g. 1,3")
    ap.add_argument("--markdown", help="also write the table and verdicts to this file")
    ap.add_argument("--fiftyone-python", help="a Python with fiftyone installed (e.g. a venv: "
                    "python3 -m venv /tmp/fo && /tmp/fo/bin/pip install fiftyone) to compare list_zoo_models")
    args = ap.parse_args()
    runs = args.runs or (1 if args.quick else 3)
    only = {int(x) for x in args.only.split(",")} if args.only else {1, 2, 3, 4, 5}
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
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

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
        if 5 in only:
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
