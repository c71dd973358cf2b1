"""Leaks: every public function called thousands of times (success and error paths) keeps
memory flat. Each check warms up, then measures two windows of many calls each and takes the
smaller growth (a leak grows in both; CPython's one-off table growth lands in one at most):

- RSS (from /proc/self/statm, which sees the C heap) grows less than 1.5 MiB over 5000-10000
  calls of the parsers (a 300-byte leak per call would show), 3-4 MiB over a few hundred
  downloads, extractions or registry round trips (about 10 KiB per call would show);
- tracemalloc's traced Python memory grows less than 256 KiB (512 KiB for the registry);
- ``gc.get_objects()`` does not grow, and ``sys.getrefcount`` of the objects passed in is the
  same before and after (a missing Py_DECREF on an argument shows up there).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tracemalloc
from pathlib import Path
from typing import Callable

from helpers.hostile_archives import HOSTILE, Entry, compress, file, tar_bytes, zip_bytes
from helpers.zoo import model, write_source

import remotezoo as rz
from remotezoo import _core

PAGE = os.sysconf("SC_PAGE_SIZE")
# Under scripts/sanitize.sh, ASan holds freed memory in quarantine (RSS grows by design): the
# RSS bound does not apply there; the Python-heap, object and refcount checks still do.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def raises(kind: type, fn: Callable, *args, **kwargs) -> None:
    """pytest.raises without its bookkeeping (it keeps tracebacks alive, which looks like a
    leak to tracemalloc)."""
    try:
        fn(*args, **kwargs)
    except kind:
        return
    raise AssertionError(f"{fn.__name__} did not raise {kind.__name__}")


def flat(
    fn: Callable[[int], object],
    calls: int,
    warmup: int = 200,
    rss_bound: int = 3 << 19,
    traced_bound: int = 256 << 10,
    args: tuple = (),
) -> None:
    """Call fn(i) warmup times, then twice calls times, asserting the bounds above for the
    smaller growth of the two windows: a leak grows in both, while CPython's own one-off
    growth (a cache or the interned strings' table doubling once) lands in one at most."""
    refs = [sys.getrefcount(a) for a in args]
    tracemalloc.start(int(os.environ.get("RZ_LEAK_DEBUG", "1")))
    for i in range(warmup):
        fn(i)
    gc.collect()
    objects = len(gc.get_objects())
    rss_growth, traced_growth = [], []
    for window in range(2):
        traced_before, rss_before = tracemalloc.get_traced_memory()[0], rss()
        for i in range(calls):
            fn(warmup + window * calls + i)
        gc.collect()
        rss_growth.append(rss() - rss_before)
        traced_growth.append(tracemalloc.get_traced_memory()[0] - traced_before)
    if os.environ.get("RZ_LEAK_DEBUG"):
        for stat in tracemalloc.take_snapshot().statistics("traceback")[:3]:
            print(stat, "\n".join(stat.traceback.format()[-6:]))
    tracemalloc.stop()
    assert UNDER_ASAN or min(rss_growth) < rss_bound, (
        f"RSS grew {rss_growth} bytes over 2 x {calls} calls"
    )
    assert min(traced_growth) < traced_bound, (
        f"Python heap grew {traced_growth} bytes over 2 x {calls} calls"
    )
    assert len(gc.get_objects()) - objects < 50, "objects accumulate"
    assert [sys.getrefcount(a) for a in args] == refs, "an argument's reference count changed"


MANIFEST = json.dumps(
    {
        "name": "acme/leak",
        "models": [
            {
                "base_name": f"m{i}.pt",
                "base_filename": f"m{i}.pt",
                "version": f"1.{i}",
                "tags": ["a", "b"],
                "size_bytes": 3_000_000_000,
                "requirements": {"packages": ["x|y"], "cpu": {"support": True}},
                "extra": {"nested": [1, 2, None]},
            }
            for i in range(20)
        ],
    }
)
BAD_MANIFESTS = [
    '{"models": [{"base_name": 3}]}',
    '{"models": [], "models": []}',
    "{not json",
    '{"models": [{"base_name": "a", "base_filename": "../x"}]}',
    b'{"models": [{"base_name": "\xff"}]}',
]


def test_parse_manifest_and_errors():
    text = MANIFEST

    def call(i: int) -> None:
        assert len(rz.parse_manifest(text, "src").models) == 20
        raises(
            rz.ManifestError,
            lambda: rz.parse_manifest(BAD_MANIFESTS[i % len(BAD_MANIFESTS)], "src"),
        )

    flat(call, 1000, args=(text,))


def test_compare_versions():
    a, b = "1.10.0a3", "1.9.99"

    def call(i: int) -> None:
        assert rz.compare_versions(a, b) == 1
        assert rz.compare_versions(None, "0.0.0") == 0
        raises(TypeError, lambda: rz.compare_versions(1, a))

    flat(call, 10000, args=(a, b))


def test_parse_source_spec_and_errors():
    good, bad = (
        "https://github.com/Voxel51/OpenAI-CLIP/tree/feat/x",
        "https://user:pw@example.com/x.zip",
    )

    def call(i: int) -> None:
        assert _core.parse_source_spec(good)["ref"] == "feat/x"
        raises(rz.SourceError, lambda: _core.parse_source_spec(bad))

    flat(call, 5000, args=(good, bad))


def test_download_file_and_errors(http_server, tmp_path, monkeypatch):
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "1")
    route = http_server.serve_bytes("/f", b"x" * 20000)
    http_server.route("/missing", lambda r: r.respond(404, b"no"))
    url, missing = http_server.url("/f"), http_server.url("/missing")
    target = str(tmp_path / "f")
    headers = {"X-Test": "1"}
    progress_calls = []

    def call(i: int) -> None:
        http_server.requests.clear()  # the server's own record of requests is not ours
        rz.download_file(
            url,
            target,
            sha256=route.sha256,
            headers=headers,
            progress=lambda d, t: progress_calls.append(1) if len(progress_calls) < 10 else None,
        )
        raises(rz.HTTPStatusError, lambda: rz.download_file(missing, target))
        raises(rz.ChecksumError, lambda: rz.download_file(url, target, sha256="0" * 64))

    flat(call, 300, warmup=100, rss_bound=3 << 20, args=(url, target, headers))
    assert os.listdir(tmp_path) == ["f"]


def test_extract_archive_and_errors(tmp_path):
    good = tmp_path / "good.tar.gz"
    good.write_bytes(
        compress(
            tar_bytes(
                [
                    Entry("top", "dir", mode=0o755),
                    file("top/a.txt", b"a" * 5000),
                    Entry("top/l", "symlink", target="a.txt", mode=0o777),
                ]
            ),
            "tar.gz",
        )
    )
    evil = tmp_path / "evil.zip"
    evil.write_bytes(zip_bytes(HOSTILE["symlink_absolute"].entries))
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    out = tmp_path / "out"
    out.mkdir()

    def call(i: int) -> None:
        dest = out / f"d{i}"
        rz.extract_archive(good, dest)
        assert (dest / "a.txt").stat().st_size == 5000
        for path in (dest / "a.txt", dest / "l"):
            path.unlink()
        dest.rmdir()
        raises(rz.UnsafeArchiveError, lambda: rz.extract_archive(evil, out / "x"))
        raises(rz.ArchiveError, lambda: rz.extract_archive(corrupt, out / "y"))

    flat(call, 500, warmup=100, rss_bound=3 << 20)
    assert os.listdir(out) == []


def test_registry_round_trips_on_local_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", os.devnull)
    src = write_source(
        tmp_path / "src", [model("leaky", "1.0", tags=["t"]), model("other")], name="acme/leaky"
    )
    spec = str(src)

    def call(i: int) -> None:
        rz.register_zoo_model_source(spec)
        assert rz.list_zoo_model_sources() == [f"file://{src}"]
        assert rz.list_zoo_models(tags="t") == ["leaky@1.0"]
        assert rz.get_zoo_model("leaky").version == "1.0"
        _, path = rz.download_zoo_model("leaky")
        assert rz.load_zoo_model("leaky", cache=False).predict(1) == 3
        assert rz.is_zoo_model_downloaded("leaky") and rz.list_downloaded_zoo_models()
        rz.delete_zoo_model("leaky")
        raises(rz.ModelNotFoundError, lambda: rz.get_zoo_model("nothing"))
        raises(
            rz.ModelNotFoundError, lambda: rz.load_zoo_model("leaky", download_if_necessary=False)
        )
        raises(rz.SourceError, lambda: rz.register_zoo_model_source(str(tmp_path / "missing")))
        if i % 10 == 9:
            rz.delete_zoo_model_source(spec)

    flat(call, 200, warmup=50, rss_bound=4 << 20, traced_bound=512 << 10, args=(spec,))
    assert not [p for p in Path(rz.home()).rglob("*") if ".tmp-" in p.name or ".rz-" in p.name]
