"""Parallel range downloads of rz_fetch_to_file (download_file) against loopback servers:
exact bytes, resume of a broken range, fallback to one connection, credentials after a
redirect, progress, cancellation and checksum errors. (How many connections, and when:
tests/test_download_adaptive.py.)"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path
from typing import Callable

import pytest
from helpers.servers import (
    ByteRoute,
    LoopbackServer,
    assert_progress_exception_propagates,
    interrupt_download,
    leftovers,
)

import remotezoo

SIZE = 8 * 1024 * 1024 + 5  # not a multiple of the connection count
DATA = random.Random(99).randbytes(SIZE)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def parallel_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # At most 4 connections, all from the start (the file is at least 8 x the minimum).
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(1024 * 1024))
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "4")


def ranges(server: LoopbackServer, path: str) -> list[str]:
    return [r.headers["Range"] for r in server.requests_to(path) if r.headers.get("Range")]


def spans(server: LoopbackServer, path: str) -> list[tuple[int, int]]:
    """[first, last + 1) of every range request, sorted."""
    found = []
    for value in ranges(server, path):
        first, _, last = value.removeprefix("bytes=").partition("-")
        found.append((int(first), int(last) + 1 if last else SIZE))
    return sorted(found)


def test_ranges_cover_the_file_exactly(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA)
    target = tmp_path / "m"
    remotezoo.download_file(http_server.url("/m"), target, sha256=sha(DATA))
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests].count(None) == 1  # connection #1
    asked = spans(http_server, "/m")
    assert len(asked) >= 3 and route.peak <= 4
    # Connection #1 keeps the front; the ranges follow it, each where the one before ends.
    assert asked[-1][1] == SIZE and all(a[1] == b[0] for a, b in zip(asked, asked[1:]))
    assert all(r.headers["If-Range"] == '"v1"' for r in requests if r.headers.get("Range"))


def test_last_modified_is_the_validator_without_etag(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/m", DATA, etag=None)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    with_range = [r for r in http_server.requests_to("/m") if r.headers.get("Range")]
    assert len(with_range) >= 3
    assert all(r.headers["If-Range"] == route.last_modified for r in with_range)


def test_broken_range_resumes_from_its_last_byte(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, range_drop_after=300_000)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    starts = [a for a, _ in spans(http_server, "/m")]
    resumed = [a for a in starts if a - 300_000 in starts]
    assert len(resumed) == 1  # the one range cut was asked for again from its last byte
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
    assert len(ranges(http_server2, "/blob")) >= 3  # the ranges go to the final URL
    assert len(http_server.requests_to("/m")) == 1
    assert all("Authorization" not in r.headers for r in blob)
    assert all(r.headers["X-Trace"] == "1" for r in blob)


def test_authorization_kept_on_the_same_origin(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    remotezoo.download_file(
        http_server.url("/m"), tmp_path / "m", headers={"Authorization": "Bearer SECRET"}
    )
    requests = http_server.requests_to("/m")
    assert len(requests) >= 4
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
    assert len(ranges(http_server, "/m")) >= 3
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
    assert len(ranges(http_server, "/m")) >= 3
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def refuse_ranges(
    server: LoopbackServer, route: ByteRoute, refuse: Callable[[int, int], bool]
) -> dict[str, int]:
    """Serve /m from route, but answer 503 to a range request when refuse(served, refused)
    holds (counts of the range requests so far); returns those counts."""
    state = {"served": 0, "refused": 0}
    lock = threading.Lock()

    def handler(request) -> None:
        if request.headers.get("Range"):
            with lock:
                no = refuse(state["served"], state["refused"])
                state["refused" if no else "served"] += 1
            if no:
                request.respond(503, b"busy\n")
                return
        request._serve_bytes(route)

    server.route("/m", handler)
    return state


def test_range_503_means_no_more_connections(http_server: LoopbackServer, tmp_path: Path) -> None:
    # Two of the first three ranges refused: the file is done by the connections that work,
    # and the refused bytes are taken by them (not retried by a connection of their own).
    route = http_server.serve_bytes("/m", DATA, trickle=(256 * 1024, 0.01))
    state = refuse_ranges(http_server, route, lambda served, refused: refused < 2)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert state["refused"] == 2
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")].count(None) == 1


def test_ranges_refused_for_good_leave_one_connection(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every range refused (a server that allows one connection): connection #1 does it all.
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    route = http_server.serve_bytes("/m", DATA, trickle=(256 * 1024, 0.02))
    state = refuse_ranges(http_server, route, lambda served, refused: True)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert 3 <= state["refused"] <= 5  # the first 3, then one probe per hold (1 s, then 2 s)
    assert len(http_server.requests_to("/m")) == state["refused"] + 1


def test_range_refused_on_the_last_connection_is_an_error(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first 3 ranges are served, then every range is refused: once no other connection is
    # receiving, a refusal is retried like one stream's (backoff, attempts), then reported.
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "3")
    route = http_server.serve_bytes("/m", DATA, trickle=(128 * 1024, 0.01))
    refuse_ranges(http_server, route, lambda served, refused: served >= 3)
    with pytest.raises(remotezoo.HTTPStatusError, match="after retries") as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert info.value.http_status == 503
    assert os.listdir(tmp_path) == []


def test_first_connection_broken_resumes(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=500_000)  # the first request only
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    found = ranges(http_server, "/m")
    assert "bytes=500000-" in found and len(found) >= 4


def test_ctrl_c_stops_parallel_download(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, trickle=(16 * 1024, 0.05))
    interrupt_download(
        http_server.url("/m"), tmp_path / "m", lambda: len(ranges(http_server, "/m")) >= 3
    )
