"""Adaptive parallel downloads (csrc/fetch_parallel.c) over loopback servers that behave like the
networks they stand for: a per-connection rate cap (a CDN), a link that all connections share, a
server that allows only so many connections at once (503 beyond), a 429 storm, one slow
connection. What is checked is what the scheme promises: it grows while more connections carry
more, shrinks when they do not or when the server refuses, never fails because the server
refused an extra connection, re-uses connections, leaves no straggler, and stops on Ctrl-C."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.servers import ByteRoute, LoopbackServer, interrupt_download, leftovers

import remotezoo

MiB = 1024 * 1024
DATA = random.Random(18).randbytes(16 * MiB + 7)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(autouse=True)
def adaptive(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ranges start at once from 8 MiB (8 x the minimum), as they do from 64 MiB by default.
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(MiB))
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "16")


def download(server: LoopbackServer, tmp_path: Path, data: bytes = DATA) -> float:
    """download_file of /m into tmp_path, checked against data; returns the seconds it took."""
    target = tmp_path / "m"
    started = time.monotonic()
    remotezoo.download_file(server.url("/m"), target, sha256=sha(data))
    took = time.monotonic() - started
    assert target.read_bytes() == data
    assert leftovers(tmp_path) == []
    return took


def asked(server: LoopbackServer) -> list[tuple[int, int]]:
    """The (first, last) byte of every range request for /m."""
    found = []
    for r in server.requests_to("/m"):
        if r.headers.get("Range"):
            first, _, last = r.headers["Range"].removeprefix("bytes=").partition("-")
            found.append((int(first), int(last) if last else len(DATA) - 1))
    return found


def at_once_after(route: ByteRoute, since: float) -> int:
    """The most answers the server was sending at once after time since."""
    before = [n for t, n in route.timeline if t < since]
    return max([before[-1] if before else 0] + [n for t, n in route.timeline if t >= since])


def test_server_allowing_three_connections(http_server: LoopbackServer, tmp_path: Path) -> None:
    # 16 allowed by us, 3 by the server: the 503s mean "no more", never a failed download.
    route = http_server.serve_bytes("/m", DATA, conn_rate=3 * MiB, max_conns=3)
    download(http_server, tmp_path)
    assert route.peak == 3  # it used what the server allows, never more
    assert 1 <= route.refused <= 10  # it asked for more, and took no for an answer
    # and kept what it was given: ranges answered beside the first connection (how fast that is
    # is benchmarks/wan.py's to measure, not a timed assertion on a shared machine)
    assert len(asked(http_server)) - route.refused >= 2


def test_refused_with_retry_after_waits_before_asking_again(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/m", DATA, conn_rate=4 * MiB, max_conns=2, refuse_after="30")
    download(http_server, tmp_path)
    assert route.peak == 2
    # The first growth asks for several at once; after that no probe within the 30 s asked for.
    assert route.refused <= 4


def test_grows_beyond_four_when_each_connection_is_capped(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REMOTEZOO_CONNECTIONS")  # as installed
    route = http_server.serve_bytes("/m", DATA, conn_rate=2 * MiB)
    download(http_server, tmp_path)
    assert route.peak > 4  # grew past the 4 it starts with: more than 4 answers sent at once


def test_does_not_keep_connections_that_add_nothing(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # One link of 6 MiB/s shared by all: a second step finds no gain, and the count comes back
    # down to about the 4 that carried the same.
    route = http_server.serve_bytes("/m", DATA, total_rate=6 * MiB)
    started = time.monotonic()
    download(http_server, tmp_path)
    # One doubling to find out, no more (+1: a connection we closed, which the server counts
    # until its next write fails).
    assert route.peak <= 9
    assert at_once_after(route, started + 1.5) <= 6


def test_small_file_stays_on_one_connection(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Below 8 x the minimum, ranges start only if one connection is slow; this one is fast.
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(4 * MiB))
    http_server.serve_bytes("/m", DATA)
    download(http_server, tmp_path)
    assert len(http_server.requests_to("/m")) == 1


def test_small_file_on_a_slow_connection_gets_ranges(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(4 * MiB))
    route = http_server.serve_bytes("/m", DATA, conn_rate=4 * MiB)
    download(http_server, tmp_path)
    assert route.peak >= 2 and asked(http_server)  # a second connection sent beside the first


def test_429_storm_shrinks_to_the_connections_that_work(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    state = {"refused": 0}

    def handler(request) -> None:
        if request.headers.get("Range"):  # every range refused: only connection #1 gets through
            state["refused"] += 1
            request.respond(429, b"slow down\n", {"Retry-After": "1"})
            return
        request._serve_bytes(route)

    http_server.route("/m", handler)
    download(http_server, tmp_path)
    # The 3 ranges it starts with are refused at once; then one probe per hold (1 s, 2 s).
    assert 3 <= state["refused"] <= 6
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")].count(None) == 1


def test_connections_are_reused(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    download(http_server, tmp_path)
    per_connection: dict[tuple, int] = {}
    for r in http_server.requests_to("/m"):
        per_connection[r.client] = per_connection.get(r.client, 0) + 1
    assert max(per_connection.values()) >= 2  # a range asked for on a finished connection
    assert len(per_connection) < len(http_server.requests_to("/m"))


def test_one_slow_connection_is_no_straggler(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "4")
    http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB, slow_range=64 * 1024)
    took = download(http_server, tmp_path)
    # The slow one's range (over 1 MiB: 16 s at its rate) was taken over by the fast ones: a
    # request starts inside another's range, and it did not wait for the slow one (a bound
    # well below the 16 s, for a loaded machine).
    assert took < 12
    ranges = asked(http_server)
    assert any(a < b <= z for a, z in ranges for b, _ in ranges)


def test_ctrl_c_stops_promptly(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA, conn_rate=256 * 1024)
    assert interrupt_download(http_server.url("/m"), tmp_path / "m", lambda: route.peak >= 4) < 3


# ---- exact bytes, whatever a server does to one range among many ------------------------------
#
# The ranges above are asked for on kept-alive connections, stolen and split: each answer is
# still held to the rule of one stream (same size and validator, the bytes asked for, its
# Content-Length that of its range). The misbehaviour comes on a later range, after others were
# accepted and written.

NEW = DATA[::-1]
NTH = 6  # the range request that misbehaves


def on_nth_range(server: LoopbackServer, route: ByteRoute, act, after=None) -> dict:
    """Serve /m from route; act(request, route) runs before the NTH range request is served,
    after(request) once it was."""
    state = {"ranges": 0}
    lock = threading.Lock()

    def handler(request) -> None:
        nth = False
        if request.headers.get("Range"):
            with lock:
                state["ranges"] += 1
                nth = state["ranges"] == NTH
            if nth:
                act(request, route)
        request._serve_bytes(route)
        if nth and after:
            after(request)

    server.route("/m", handler)
    return state


def plain_gets(server: LoopbackServer) -> int:
    return [r.headers.get("Range") for r in server.requests_to("/m")].count(None)


def replace_file(request, route: ByteRoute) -> None:
    route.data, route.etag, route.last_modified = NEW, '"v2"', None


def replace_file_ignoring_if_range(request, route: ByteRoute) -> None:
    replace_file(request, route)
    route.ignore_if_range = True  # 206s of the new file, with its new ETag


@pytest.mark.parametrize("act", [replace_file, replace_file_ignoring_if_range])
def test_file_replaced_between_ranges_starts_over(
    http_server: LoopbackServer, tmp_path: Path, act
) -> None:
    # Honouring If-Range, the server answers 200 (the whole new file) to a range; ignoring it,
    # a 206 with another ETag. Either way no byte of the old version stays: one connection
    # starts over and gets the new file.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    state = on_nth_range(http_server, route, act)
    download(http_server, tmp_path, NEW)
    assert state["ranges"] >= NTH
    assert plain_gets(http_server) == 2  # connection #1 and the fresh start


def test_file_replaced_with_the_same_etag_is_a_checksum_error(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # A server that changes the bytes and keeps the ETag and size: no header can tell; the
    # sha256 does, and nothing is left behind.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    state = on_nth_range(http_server, route, lambda request, route: setattr(route, "data", NEW))
    with pytest.raises(remotezoo.ChecksumError):
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert state["ranges"] >= NTH
    assert list(tmp_path.iterdir()) == []


def test_range_answered_200_with_the_whole_file_starts_over(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # A later range answered with the whole body (a server or proxy that dropped the Range):
    # not one byte of it is written at the range's offset.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    state = on_nth_range(
        http_server,
        route,
        lambda request, route: request.headers.replace_header("Range", "bytes=x"),
    )  # unparsable: the loopback server answers 200 with all of it
    download(http_server, tmp_path)
    assert state["ranges"] >= NTH
    assert plain_gets(http_server) == 2


def test_one_short_206_is_completed(http_server: LoopbackServer, tmp_path: Path) -> None:
    # One range answered with an honest but shorter 206 (1000 bytes): the rest of that range
    # is asked for again from the byte after, on the same connection or another.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)
    cut: dict[str, int] = {}

    def shorten(request, route: ByteRoute) -> None:
        first = int(request.headers["Range"].removeprefix("bytes=").partition("-")[0])
        cut["first"] = first
        request.headers.replace_header("Range", f"bytes={first}-{first + 999}")

    on_nth_range(http_server, route, shorten)
    download(http_server, tmp_path)
    assert any(first == cut["first"] + 1000 for first, _ in asked(http_server))
    assert plain_gets(http_server) == 1


def test_one_206_whose_length_is_not_its_range_starts_over(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # Content-Range says one size, Content-Length another: the answer is not taken at all.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)

    def lie(request, route: ByteRoute) -> None:
        route.content_length, route.wrong_length_times = 1000, 1

    state = on_nth_range(http_server, route, lie)
    download(http_server, tmp_path)
    assert state["ranges"] >= NTH
    assert plain_gets(http_server) == 2


def test_bytes_after_a_206_never_reach_the_file(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # A 206 followed by more bytes than its Content-Length on a kept-alive connection: they
    # are not the start of the next answer on that connection, nor a part of any range.
    route = http_server.serve_bytes("/m", DATA, conn_rate=8 * MiB)

    def excess(request) -> None:
        request.wfile.write(b"HTTP/1.1 206 Partial Content\r\n" + DATA[:4096])
        request.wfile.flush()

    state = on_nth_range(http_server, route, lambda request, route: None, excess)
    download(http_server, tmp_path)
    assert state["ranges"] >= NTH


def test_ranges_short_every_time_are_an_error_when_attempts_run_out(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("REMOTEZOO_RETRY_BASE_MS", "10")
    http_server.serve_bytes("/m", DATA, conn_rate=2 * MiB, range_limit=1000)
    with pytest.raises(
        remotezoo.DownloadError,
        match=r"its answers to a range ended at byte \d+, "
        r"short of \d+ \(after retries\)",
    ):
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_memory_stays_flat_on_sixteen_connections(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # 64 MiB over up to 16 capped connections, in a child (the server's memory is ours): the
    # download's peak RSS grows by its buffers, not by the file.
    big = random.Random(64).randbytes(64 * MiB)
    route = http_server.serve_bytes("/big", big, conn_rate=3 * MiB)
    target = tmp_path / "big"
    code = (
        f"import resource, remotezoo\n"
        f"before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        f"remotezoo.download_file({http_server.url('/big')!r}, {str(target)!r}, "
        f"sha256={sha(big)!r})\n"
        f"print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert route.peak >= 12  # it did grow to (nearly) all 16
    assert int(done.stdout.strip()) < 40  # MiB of peak RSS growth, for a 64 MiB file
    assert target.stat().st_size == len(big)
    assert leftovers(tmp_path) == []
