"""One contender's work, run by run.py in a fresh interpreter so its peak RSS is its own.

Usage: python3 workers.py NAME JSON_ARGS. Prints one JSON line: {"seconds": <time of the work
itself, imports excluded unless the contender's point is the import>, ...}.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any, Callable

WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def worker(name: str) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]]:
    def register(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
        WORKERS[name] = fn
        return fn
    return register


def _timed(fn: Callable[[], object]) -> dict[str, Any]:
    start = time.perf_counter()
    fn()
    return {"seconds": time.perf_counter() - start}


# ---- 1. one large file -------------------------------------------------------------------


@worker("remotezoo.download_file")
def rz_download(a: dict[str, Any]) -> dict[str, Any]:
    import remotezoo

    return _timed(lambda: remotezoo.download_file(a["url"], a["dest"], progress=lambda d, t: None))


@worker("requests.iter_content")
def requests_download(a: dict[str, Any]) -> dict[str, Any]:
    import requests

    def run() -> None:
        # FiftyOne's way (fiftyone.core.utils / eta's web.download_file): 1 MiB chunks.
        with requests.get(a["url"], stream=True, timeout=60) as r:
            r.raise_for_status()
            with open(a["dest"], "wb") as f:
                for chunk in r.iter_content(chunk_size=1024 * 1024):
                    f.write(chunk)

    return _timed(run)


@worker("huggingface_hub.http_get")
def hf_download(a: dict[str, Any]) -> dict[str, Any]:
    from huggingface_hub.file_download import http_get

    def run() -> None:
        with open(a["dest"], "wb") as f:
            http_get(a["url"], f)

    return _timed(run)


@worker("pooch.retrieve")
def pooch_download(a: dict[str, Any]) -> dict[str, Any]:
    import logging

    import pooch

    logging.getLogger("pooch").setLevel(logging.WARNING)
    return _timed(lambda: pooch.retrieve(a["url"], known_hash=None, fname=os.path.basename(a["dest"]),
                                         path=os.path.dirname(a["dest"])))


# ---- 2. register an archive source -------------------------------------------------------


@worker("remotezoo.register (stream)")
def rz_register(a: dict[str, Any]) -> dict[str, Any]:
    os.environ["REMOTEZOO_HOME"] = a["home"]
    import remotezoo

    return _timed(lambda: remotezoo.register_zoo_model_source(a["url"], progress=lambda d, t: None))


@worker("requests + tarfile")
def requests_tarfile(a: dict[str, Any]) -> dict[str, Any]:
    import tarfile

    import requests

    def run() -> None:
        archive = os.path.join(a["home"], "source.tar.gz")
        os.makedirs(a["home"], exist_ok=True)
        with requests.get(a["url"], stream=True, timeout=60) as r:
            r.raise_for_status()
            with open(archive, "wb") as f:
                for chunk in r.iter_content(chunk_size=1024 * 1024):
                    f.write(chunk)
        with tarfile.open(archive, "r:*") as tar:
            # filter= is from Python 3.11.4 (Debian 12 has 3.11.2)
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(os.path.join(a["home"], "out"), **safe)
        os.remove(archive)

    return _timed(run)


# ---- 3. list_zoo_models ------------------------------------------------------------------


def warm_listing(list_models: Callable[[], list[str]], calls: int) -> dict[str, Any]:
    """The median time of *calls* calls of *list_models* after a first one (not timed)."""
    first = len(list_models())
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        list_models()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times), "models": first}


@worker("remotezoo.list_zoo_models warm")
def rz_list_warm(a: dict[str, Any]) -> dict[str, Any]:
    os.environ["REMOTEZOO_HOME"] = a["home"]
    import remotezoo

    return warm_listing(remotezoo.list_zoo_models, a["calls"])


@worker("fiftyone.list_zoo_models warm")
def fo_list_warm(a: dict[str, Any]) -> dict[str, Any]:
    import fiftyone.zoo as foz

    return warm_listing(foz.list_zoo_models, a["calls"])


# ---- 4. load_zoo_model overhead ----------------------------------------------------------


@worker("remotezoo.load_zoo_model")
def rz_load(a: dict[str, Any]) -> dict[str, Any]:
    os.environ["REMOTEZOO_HOME"] = a["home"]
    import remotezoo

    name = a["model"]
    remotezoo.download_zoo_model(name)
    remotezoo.load_zoo_model(name, cache=False)  # first call imports the source's module
    # The plugin's own work, called directly through the module load_zoo_model imported.
    mod = sys.modules[type(remotezoo.load_zoo_model(name, cache=False)).__module__]
    path = remotezoo.find_zoo_model(name)
    result: dict[str, Any] = {}
    for label, fn in (
        ("plugin", lambda: mod.load_model(name, path)),
        ("nocache", lambda: remotezoo.load_zoo_model(name, cache=False)),
        ("cached", None),
    ):
        keep = remotezoo.load_zoo_model(name) if label == "cached" else None
        call = fn or (lambda: remotezoo.load_zoo_model(name))
        times = []
        for _ in range(a["calls"]):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        result[label] = statistics.median(times)
        del keep
    result["seconds"] = result["nocache"] - result["plugin"]
    return result


def main() -> None:
    name, args = sys.argv[1], json.loads(sys.argv[2])
    out = WORKERS[name](args)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
