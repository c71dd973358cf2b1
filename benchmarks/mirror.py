"""Scenario 6 of run.py (``--mirror N``): N processes, each with its own REMOTEZOO_HOME (as N
nodes would have), register one archive source and load its one model at the same time,
through the nginx caching mirror of tests/helpers/cluster.py (the README's configuration) in
front of run.py's static nginx, with REMOTEZOO_URL_REWRITE sending every request there. Rows: the wall
time until all N have loaded the model, with a cold mirror, a warm one (new homes), and
without the mirror (each home from the origin, for comparison); the verdict counts what
reached the origin through the mirror (its MISS lines).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
from helpers.cluster import NginxMirror  # noqa: E402  (the documented configuration)

LOAD = """
import remotezoo as rz, sys
rz.load_zoo_model(sys.argv[1], model_name="bench/mirrored")
"""

INIT = b"def load_model(model_name, model_path, **kwargs):\n    return open(model_path, 'rb').read(1)\n"


def write_source(serve: str, base: str, model_file: str) -> str:
    """source-mirror.tar.gz in serve: one manager model at base/model_file. Returns its URL."""
    manifest = {"name": "bench/mirror", "models": [{
        "base_name": "bench/mirrored", "base_filename": model_file,
        "manager": {"type": "fiftyone.core.models.ModelManager", "config": {"url": f"{base}/{model_file}"}}}]}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (("zoo/manifest.json", json.dumps(manifest).encode()), ("zoo/__init__.py", INIT)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    Path(serve, "source-mirror.tar.gz").write_bytes(buf.getvalue())
    return f"{base}/source-mirror.tar.gz"


def run_n(n: int, spec: str, env: dict[str, str], out: str) -> float:
    """Start n loads at once, each in a fresh home; the wall time until the last is done."""
    homes = [tempfile.mkdtemp(prefix="home-", dir=out) for _ in range(n)]
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", LOAD, spec], env=dict(os.environ, **env, REMOTEZOO_HOME=h),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for h in homes]
    errors = [p.communicate()[1] for p in procs]
    seconds = time.perf_counter() - start
    failed = [e.decode(errors="replace")[-500:] for p, e in zip(procs, errors) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} loads through the mirror failed: {failed[0]}")
    return seconds


def scenario_mirror(base: str, serve: str, out: str, n: int, model_file: str, size: int, runs: int,
                    bench: Callable[..., Any], verdict: Callable[[bool, str], None], sample: Callable[..., Any]) -> None:
    """run.py's bench/verdict/Sample are passed in, so this file adds a scenario without
    touching the others."""
    name = f"6 mirror ×{n}"
    spec = write_source(serve, base, model_file)
    origin_misses = []
    for state in ("cold", "warm"):
        def one() -> Any:
            mirror = NginxMirror(Path(tempfile.mkdtemp(prefix="mirror-", dir=out)), {"origin": base + "/"})
            env = {"REMOTEZOO_URL_REWRITE": f"{base}/={mirror.url}/origin/", "REMOTEZOO_NO_PROGRESS": "1"}
            try:
                if state == "warm":
                    run_n(n, spec, env, out)  # fill it, untimed
                log = mirror.workdir / "access.log"
                before = len(log.read_text().splitlines()) if log.exists() else 0
                seconds = run_n(n, spec, env, out)
                lines = [line.split() for line in log.read_text().splitlines()[before:]]
                origin_misses.append((state, sum(1 for f in lines if f and f[0] == "MISS"), len(lines)))
                return sample(seconds, seconds, 0, {})
            finally:
                mirror.stop()
        bench(name, f"{n} homes load one {size >> 20} MiB model, {state} mirror", runs, one, n * size)

    def direct() -> Any:
        seconds = run_n(n, spec, {"REMOTEZOO_NO_PROGRESS": "1"}, out)
        return sample(seconds, seconds, 0, {})

    bench(name, f"{n} homes load one {size >> 20} MiB model, no mirror (all from the origin)", runs, direct, n * size)
    cold = [m for s, m, _ in origin_misses if s == "cold"]
    warm = [m for s, m, _ in origin_misses if s == "warm"]
    verdict(all(m == 2 for m in cold) and all(m == 0 for m in warm),
            f"mirror ×{n}: origin requests per run {cold} cold (bar: 2, the source and the model), "
            f"{warm} warm (bar: 0)")
