"""A download is complete only when it holds exactly the length the server announced: lying
servers (short 206 answers, unsolicited 206, wrong Content-Range, a size or validator that
changes between attempts) against every reader of the engine -- download_file, parallel
ranges, the pull stream that source registration extracts from, and http_get."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from helpers.hostile_archives import file as archive_file
from helpers.hostile_archives import tar_bytes
from helpers.servers import LoopbackServer, leftovers

import remotezoo
import remotezoo._net

DATA = random.Random(99).randbytes(1024)
BIG = random.Random(7).randbytes(256 * 1024 + 5)


def download(server: LoopbackServer, tmp_path: Path, path: str = "/m") -> bytes:
    target = tmp_path / "out"
    remotezoo.download_file(server.url(path), target)
    return target.read_bytes()


def assert_refused(server: LoopbackServer, tmp_path: Path, match: str, path: str = "/m") -> None:
    with pytest.raises(remotezoo.DownloadError, match=match):
        remotezoo.download_file(server.url(path), tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


# ---- download_file -----------------------------------------------------------------------------


def test_short_206_to_a_plain_get_is_never_accepted(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # The case: GET answered with 206 "bytes 0-99/1024" and 100 bytes. It is resumed
    # from byte 100 (the answer had a validator), and each answer covers 100 bytes more: five
    # attempts end at byte 500 -- an error, never a 500-byte file.
    http_server.serve_bytes("/m", DATA, partial_plain=True, range_limit=100)
    assert_refused(http_server, tmp_path, r"ended at byte 500 of 1024")
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")] == [
        None,
        "bytes=100-",
        "bytes=200-",
        "bytes=300-",
        "bytes=400-",
    ]


def test_unsolicited_206_is_used_correctly(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, partial_plain=True, range_limit=600)
    assert download(http_server, tmp_path) == DATA
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests] == [None, "bytes=600-"]
    assert requests[1].headers.get("If-Range") == '"v1"'


def test_unsolicited_short_206_without_validator_starts_over(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes(
        "/m", DATA, partial_plain=True, range_limit=100, etag=None, last_modified=None
    )
    assert_refused(http_server, tmp_path, r"ended at byte 100 of 1024")
    assert all(r.headers.get("Range") is None for r in http_server.requests_to("/m"))


def test_short_206_to_a_resume_is_never_accepted(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # The second case: a break at 500, then "bytes 500-599/1024" -- not a 600-byte file.
    http_server.serve_bytes("/m", DATA, drop_after=500, range_limit=100)
    assert_refused(http_server, tmp_path, r"ended at byte 900 of 1024")


def test_short_206_answers_are_resumed_until_complete(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "20")
    http_server.serve_bytes("/m", DATA, drop_after=500, range_limit=100)
    assert download(http_server, tmp_path) == DATA
    assert len(http_server.requests_to("/m")) == 7  # 500, then 100 at a time, then the last 24


@pytest.mark.parametrize(
    "content_range, match",
    [
        ("", "without a usable Content-Range"),
        ("bytes */{size}", "without a usable Content-Range"),
        ("bytes 0-{last}/{size}", "sent bytes from 0 when asked for bytes from 500"),
        (
            "bytes {first}-{last}/2048",
            r"changed size during the download \(1024 bytes, then 2048\)",
        ),
        ("bytes {first}-1000/{size}", "sent a range of 501 bytes with a Content-Length of 524"),
        (
            "bytes {first}-{last}/*",
            None,
        ),  # an unknown complete-length continuing a known size: fine
    ],
)
def test_resumed_206_must_say_what_it_sends(
    http_server: LoopbackServer, tmp_path: Path, content_range: str, match: str
) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=500, content_range=content_range)
    if match is None:
        assert download(http_server, tmp_path) == DATA
    else:
        assert_refused(http_server, tmp_path, match)


def test_unsolicited_206_without_a_size_is_refused(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, partial_plain=True, content_range="bytes {first}-{last}/*")
    assert_refused(http_server, tmp_path, r"without saying its size")


def test_changed_etag_on_a_resume_is_refused(http_server: LoopbackServer, tmp_path: Path) -> None:
    # The server ignores If-Range and answers the resume with a range of a new version.
    route = http_server.serve_bytes("/m", DATA, drop_after=500, ignore_if_range=True)
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 2:
            route.data, route.etag = DATA[::-1], '"v2"'
        request._serve_bytes(route)

    http_server.route("/m", handler)
    assert_refused(http_server, tmp_path, "changed during the download")


def test_200_to_a_resume_with_another_length_starts_over(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # download_file restarts on a 200 and keeps exactly the new answer's announced length.
    route = http_server.serve_bytes("/m", DATA, drop_after=500, ignore_range=True)
    longer = DATA + b"more"
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 2:
            route.data = longer
        request._serve_bytes(route)

    http_server.route("/m", handler)
    assert download(http_server, tmp_path) == longer


def test_body_longer_than_its_range_is_refused(http_server: LoopbackServer, tmp_path: Path) -> None:
    def handler(request) -> None:  # a 206 for bytes 0-99 without Content-Length, then 1024 bytes
        request.send_response(206)
        request.send_header("Content-Range", "bytes 0-99/1024")
        request.send_header("Connection", "close")
        request.end_headers()
        request.wfile.write(DATA)
        request.close_connection = True

    http_server.route("/m", handler)
    assert_refused(http_server, tmp_path, "sent more bytes than it announced")


# ---- parallel ranges -----------------------------------------------------------------------------


@pytest.fixture
def parallel(monkeypatch: pytest.MonkeyPatch) -> None:
    # Ranges from the start: the file is at least 8 x the minimum.
    monkeypatch.setenv("REMOTEZOO_PARALLEL_MIN_BYTES", str(16 * 1024))
    monkeypatch.setenv("REMOTEZOO_CONNECTIONS", "4")
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "20")


def test_parallel_short_ranges_are_completed(
    http_server: LoopbackServer, tmp_path: Path, parallel: None
) -> None:
    http_server.serve_bytes("/m", BIG, range_limit=20_000)
    assert download(http_server, tmp_path) == BIG
    assert sum(1 for r in http_server.requests_to("/m") if r.headers.get("Range")) > 3


@pytest.mark.parametrize(
    "content_range",
    ["bytes {first}-{last}/999999", "bytes 0-{last}/{size}", "", "bytes {first}-{size}/{size}x"],
)
def test_parallel_lying_ranges_fall_back_to_one_connection(
    http_server: LoopbackServer, tmp_path: Path, parallel: None, content_range: str
) -> None:
    http_server.serve_bytes("/m", BIG, content_range=content_range)
    assert download(http_server, tmp_path) == BIG
    requests = http_server.requests_to("/m")
    ranged = [i for i, r in enumerate(requests) if r.headers.get("Range")]
    plain = [i for i, r in enumerate(requests) if not r.headers.get("Range")]
    assert ranged  # a range was asked for, and refused
    # The first request, then one fresh start after a refused range. (Ranges sent before the
    # refusal may reach the server's threads after the fresh start: arrival order is no proof.)
    assert len(plain) == 2 and plain[0] < ranged[0] < plain[1], requests


# ---- the pull stream and http_get ------------------------------------------------------------------


def test_stream_refuses_a_short_206(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/s", DATA, partial_plain=True, range_limit=100)
    with pytest.raises(remotezoo.DownloadError, match="ended at byte 500 of 1024"):
        remotezoo._net.stream_get(http_server.url("/s"))


def test_stream_completes_an_unsolicited_206(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/s", DATA, partial_plain=True, range_limit=700)
    assert remotezoo._net.stream_get(http_server.url("/s"))[1] == DATA


def test_stream_refuses_a_200_of_another_length_to_a_resume(http_server: LoopbackServer) -> None:
    # Same validator, another length: what was already handed to the extractor cannot be
    # taken back, so the stream fails rather than mixing two versions.
    route = http_server.serve_bytes("/s", DATA, drop_after=500, ignore_range=True)
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 2:
            route.data = DATA + b"more"
        request._serve_bytes(route)

    http_server.route("/s", handler)
    with pytest.raises(remotezoo.DownloadError, match="changed during the download"):
        remotezoo._net.stream_get(http_server.url("/s"))


def test_http_get_refuses_a_short_206(http_server: LoopbackServer) -> None:
    http_server.serve_bytes(
        "/api", DATA, partial_plain=True, range_limit=100, etag=None, last_modified=None
    )
    with pytest.raises(remotezoo.DownloadError, match="ended at byte 100 of 1024"):
        remotezoo._net.http_get(http_server.url("/api"))


# ---- through registration and the manager ------------------------------------------------------


def source_tar() -> bytes:
    manifest = {"name": "acme/cut", "models": [{"base_name": "cut", "base_filename": "cut.bin"}]}
    return tar_bytes(
        [
            archive_file("top/manifest.json", json.dumps(manifest).encode()),
            archive_file("top/__init__.py", b"def download_model(n, p):\n    pass\n"),
            archive_file("top/extra.bin", random.Random(3).randbytes(20_000)),
        ]
    )


@pytest.mark.parametrize("suffix", [".tar", ".zip"])
def test_registration_refuses_a_short_206(http_server: LoopbackServer, suffix: str) -> None:
    import io
    import zipfile

    if suffix == ".tar":
        body = source_tar()
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("top/manifest.json", json.dumps({"name": "acme/cut", "models": []}))
            z.writestr("top/extra.bin", random.Random(3).randbytes(20_000))
        body = buf.getvalue()
    http_server.serve_bytes("/src" + suffix, body, partial_plain=True, range_limit=2048)
    with pytest.raises(remotezoo.RemoteZooError):
        remotezoo.register_zoo_model_source(http_server.url("/src" + suffix))
    assert remotezoo.list_zoo_model_sources() == []
