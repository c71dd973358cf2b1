"""Parallel range downloads of rz_fetch_to_file (download_file) against loopback servers:
exact bytes, resume of a broken range, fallback to one connection, credentials after a
redirect, progress, cancellation and checksum errors."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from helpers.servers import (
    ByteRoute,
    LoopbackServer,
    assert_progress_exception_propagates,
    leftovers,
    wait_until,
)

import remotezoo

ROOT = Path(__file__).resolve().parent.parent

SIZE = 8 * 1024 * 1024 + 5  # not a multiple of the connection count
DATA = random.Random(99).randbytes(SIZE)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def parallel_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(1024 * 1024))
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "4")


def ranges(server: LoopbackServer, path: str) -> list[str]:
    return [r.headers["Range"] for r in server.requests_to(path) if r.headers.get("Range")]


def test_four_connections_exact_bytes(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    target = tmp_path / "m"
    remotezoo.download_file(http_server.url("/m"), target, sha256=sha(DATA))
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests].count(None) == 1  # connection #1
    chunk = -(-SIZE // 4)
    assert sorted(ranges(http_server, "/m")) == [
        f"bytes={chunk}-{2 * chunk - 1}",
        f"bytes={2 * chunk}-{3 * chunk - 1}",
        f"bytes={3 * chunk}-{SIZE - 1}",
    ]
    assert all(r.headers["If-Range"] == '"v1"' for r in requests if r.headers.get("Range"))


def test_last_modified_is_the_validator_without_etag(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/m", DATA, etag=None)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    with_range = [r for r in http_server.requests_to("/m") if r.headers.get("Range")]
    assert len(with_range) == 3
    assert all(r.headers["If-Range"] == route.last_modified for r in with_range)


def test_broken_range_resumes_from_its_last_byte(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, range_drop_after=300_000)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    starts = sorted(
        int(r.removeprefix("bytes=").partition("-")[0]) for r in ranges(http_server, "/m")
    )
    chunk = -(-SIZE // 4)
    assert len(starts) == 4
    resumed = [s for s in starts if s % chunk]
    assert len(resumed) == 1 and resumed[0] % chunk == 300_000
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")].count(None) == 1


def test_server_ignoring_ranges_falls_back_to_one_connection(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, ignore_range=True)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert leftovers(tmp_path) == []
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests].count(None) == 2  # and the restart


def test_replaced_file_falls_back_and_restarts(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA)
    new = DATA[::-1]
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 1:  # the old version, replaced on the server right after: If-Range fails
            old = ByteRoute(DATA)
            route.data, route.etag, route.last_modified = new, '"v2"', None
            request._serve_bytes(old)
            return
        request._serve_bytes(route)

    http_server.route("/m", handler)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(new))
    assert (tmp_path / "m").read_bytes() == new
    assert leftovers(tmp_path) == []
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")].count(None) == 2


def test_206_with_another_validator_falls_back(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA)

    def handler(request) -> None:
        if request.headers.get("Range"):  # a server that ignores If-Range, new ETag
            del request.headers["If-Range"]
            route.etag = '"v2"'
        request._serve_bytes(route)

    http_server.route("/m", handler)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests].count(None) == 2  # and the restart


def test_authorization_not_sent_to_second_host(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path
) -> None:
    http_server.redirect("/m", http_server2.url("/blob"))
    http_server2.serve_bytes("/blob", DATA)
    remotezoo.download_file(
        http_server.url("/m"),
        tmp_path / "m",
        sha256=sha(DATA),
        headers={"Authorization": "Bearer SECRET", "X-Trace": "1"},
    )
    assert (tmp_path / "m").read_bytes() == DATA
    assert http_server.requests_to("/m")[0].headers["Authorization"] == "Bearer SECRET"
    blob = http_server2.requests_to("/blob")
    assert len(ranges(http_server2, "/blob")) == 3  # the ranges go to the final URL
    assert len(http_server.requests_to("/m")) == 1
    assert all("Authorization" not in r.headers for r in blob)
    assert all(r.headers["X-Trace"] == "1" for r in blob)


def test_authorization_kept_on_the_same_origin(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    remotezoo.download_file(
        http_server.url("/m"), tmp_path / "m", headers={"Authorization": "Bearer SECRET"}
    )
    requests = http_server.requests_to("/m")
    assert len(requests) == 4
    assert all(r.headers["Authorization"] == "Bearer SECRET" for r in requests)


@pytest.mark.parametrize(
    "env", [{"REMOTEZOO_CONNECTIONS": "1"}, {"REMOTEZOO_PARALLEL_MIN_BYTES": str(SIZE + 1)}]
)
def test_one_connection_when_disabled_or_small(
    http_server: LoopbackServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    http_server.serve_bytes("/m", DATA)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert len(http_server.requests_to("/m")) == 1


def test_default_threshold_keeps_small_files_on_one_connection(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REMOTEZOO_PARALLEL_MIN_BYTES")
    http_server.serve_bytes("/m", DATA)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert len(http_server.requests_to("/m")) == 1


def test_no_validator_means_one_connection(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, etag=None, last_modified=None)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert len(http_server.requests_to("/m")) == 1


def test_progress_monotonic_and_final(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, trickle=(256 * 1024, 0.05))
    calls: list[tuple[int, object]] = []
    remotezoo.download_file(
        http_server.url("/m"),
        tmp_path / "m",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(ranges(http_server, "/m")) == 3
    dones = [done for done, _ in calls]
    assert len(calls) >= 2 and dones == sorted(dones)
    assert calls[-1] == (SIZE, SIZE)
    assert all(total == SIZE for _, total in calls)


def test_exception_in_progress_leaves_nothing(http_server: LoopbackServer, tmp_path: Path) -> None:
    assert_progress_exception_propagates(http_server, DATA, tmp_path)


def test_checksum_mismatch_leaves_nothing(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    target = tmp_path / "m"
    target.write_bytes(b"old")
    with pytest.raises(remotezoo.ChecksumError) as info:
        remotezoo.download_file(http_server.url("/m"), target, sha256="0" * 64)
    assert sha(DATA) in str(info.value)
    assert len(ranges(http_server, "/m")) == 3
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_range_503_is_retried(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA)
    state = {"failed": 0}
    lock = threading.Lock()

    def handler(request) -> None:
        with lock:
            fail = bool(request.headers.get("Range")) and state["failed"] < 2
            state["failed"] += fail
        if fail:
            request.respond(503, b"busy\n")
            return
        request._serve_bytes(route)

    http_server.route("/m", handler)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert len(ranges(http_server, "/m")) == 5
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")].count(None) == 1


def test_range_failing_for_good_is_an_error(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    route = http_server.serve_bytes("/m", DATA, trickle=(256 * 1024, 0.02))

    def handler(request) -> None:
        if request.headers.get("Range"):
            request.respond(503, b"busy\n")
            return
        request._serve_bytes(route)

    http_server.route("/m", handler)
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert info.value.http_status == 503
    assert os.listdir(tmp_path) == []


def test_first_connection_broken_resumes(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=500_000)  # the first request only
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    found = ranges(http_server, "/m")
    assert "bytes=500000-" in found and len(found) == 4


def test_ctrl_c_stops_parallel_download(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, trickle=(16 * 1024, 0.05))
    target = tmp_path / "m"
    code = textwrap.dedent(f"""
        import remotezoo
        try:
            remotezoo.download_file({http_server.url("/m")!r}, {str(target)!r})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_until(lambda: len(ranges(http_server, "/m")) == 3, timeout=30)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert "interrupted" in out and "KeyboardInterrupt" in err
    assert os.listdir(tmp_path) == []
