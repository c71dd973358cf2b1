"""remotezoo.download_file against loopback servers: integrity, retries, resume, redirects,
credentials, progress, cancellation, timeouts, offline mode and memory use."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.servers import (
    LoopbackServer,
    Response,
    assert_progress_exception_propagates,
    leftovers,
    wait_until,
)

import remotezoo
import remotezoo._net

ROOT = Path(__file__).resolve().parent.parent
DATA = random.Random(1234).randbytes(3 * 1024 * 1024 + 17)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_plain_download_with_sha256(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/model.bin", DATA)
    target = tmp_path / "model.bin"
    result = remotezoo.download_file(
        http_server.url("/model.bin"), target, sha256=route.sha256.upper()
    )
    assert result == str(target)
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []
    assert len(http_server.requests_to("/model.bin")) == 1
    agent = http_server.requests[0].headers["User-Agent"]
    assert agent.startswith(f"remotezoo/{remotezoo.__version__} libcurl/")


def test_sha256_mismatch(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    wrong = "0" * 64
    with pytest.raises(remotezoo.ChecksumError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=wrong)
    assert wrong in str(info.value) and sha(DATA) in str(info.value)
    assert info.value.url == http_server.url("/m")
    assert os.listdir(tmp_path) == []


def test_malformed_sha256_is_rejected(http_server: LoopbackServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256="abc")
    assert http_server.requests == [] and os.listdir(tmp_path) == []


def test_404_is_http_status_error(http_server: LoopbackServer, tmp_path: Path) -> None:
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo.download_file(http_server.url("/missing?token=abc"), tmp_path / "m")
    assert info.value.http_status == 404
    assert info.value.url == http_server.url("/missing?token=REDACTED")
    assert "404" in str(info.value) and "abc" not in str(info.value)
    assert len(http_server.requests) == 1  # a 4xx is not retried
    assert os.listdir(tmp_path) == []


def test_503_twice_then_ok(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, fail_first=2)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert len(http_server.requests_to("/m")) == 3


def test_503_forever_keeps_final_status(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "3")
    http_server.serve_bytes("/m", DATA, fail_first=100)
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert info.value.http_status == 503
    assert len(http_server.requests_to("/m")) == 3
    assert os.listdir(tmp_path) == []


def test_429_with_retry_after(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, fail_first=1, fail_status=429, retry_after="1")
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert (tmp_path / "m").read_bytes() == DATA
    assert len(http_server.requests_to("/m")) == 2


def test_429_forever_is_rate_limit_error(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    http_server.serve_bytes("/m", DATA, fail_first=100, fail_status=429)
    with pytest.raises(remotezoo.RateLimitError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert isinstance(info.value, remotezoo.HTTPStatusError) and info.value.http_status == 429


def test_broken_transfer_resumes_with_range_and_if_range(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=1_000_000, drop_times=2)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    requests = http_server.requests_to("/m")
    assert [r.headers.get("Range") for r in requests] == [None, "bytes=1000000-", "bytes=2000000-"]
    assert [r.headers.get("If-Range") for r in requests] == [None, '"v1"', '"v1"']


def test_resume_with_last_modified_only(http_server: LoopbackServer, tmp_path: Path) -> None:
    route = http_server.serve_bytes("/m", DATA, drop_after=500_000, etag=None)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert http_server.requests_to("/m")[1].headers.get("If-Range") == route.last_modified


def test_200_to_range_request_restarts(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=1_500_000, ignore_range=True)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert http_server.requests_to("/m")[1].headers.get("Range") == "bytes=1500000-"


def test_without_validator_restarts_from_zero(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=1_500_000, etag=None, last_modified=None)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA
    assert [r.headers.get("Range") for r in http_server.requests_to("/m")] == [None, None]


def test_if_range_mismatch_gives_full_new_content(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/m", DATA)
    new = bytes(reversed(DATA))
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 1:
            route.drop_after, route.drop_times = 700_000, 1
        else:  # the file was replaced on the server: If-Range no longer matches
            route.data, route.etag, route.last_modified = new, '"v2"', None
        request._serve_bytes(route)

    http_server.route("/m", handler)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(new))
    assert (tmp_path / "m").read_bytes() == new
    assert http_server.requests_to("/m")[1].headers.get("If-Range") == '"v1"'


def test_content_length_longer_than_the_file_is_refused(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    # 1000 bytes more announced than sent, then a 416 that gives the real size: the server
    # contradicts itself, and a download is complete only with the length first announced.
    http_server.serve_bytes("/m", DATA, content_length=len(DATA) + 1000)
    with pytest.raises(remotezoo.DownloadError, match="changed size during the download"):
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert leftovers(tmp_path) == [] and not (tmp_path / "m").exists()


def test_authorization_not_sent_to_other_host(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path
) -> None:
    http_server.redirect("/m", http_server2.url("/blob"))
    http_server2.serve_bytes("/blob", DATA)
    remotezoo.download_file(
        http_server.url("/m"),
        tmp_path / "m",
        headers={"Authorization": "Bearer SECRET", "X-Trace": "1"},
    )
    assert (tmp_path / "m").read_bytes() == DATA
    assert http_server.requests_to("/m")[0].headers["Authorization"] == "Bearer SECRET"
    second = http_server2.requests_to("/blob")
    assert len(second) == 1
    assert "Authorization" not in second[0].headers
    assert second[0].headers["X-Trace"] == "1"


def test_authorization_not_sent_to_other_port(http_server: LoopbackServer, tmp_path: Path) -> None:
    other = LoopbackServer("127.0.0.1")
    try:
        http_server.redirect("/m", other.url("/blob"))
        other.serve_bytes("/blob", DATA)
        remotezoo.download_file(
            http_server.url("/m"), tmp_path / "m", headers={"authorization": "token SECRET"}
        )
        assert "Authorization" not in other.requests_to("/blob")[0].headers
    finally:
        other.close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_statuses_followed(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path, status: int
) -> None:
    http_server.redirect("/m", http_server2.url("/blob"), status)
    http_server2.serve_bytes("/blob", DATA)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m", sha256=sha(DATA))
    assert (tmp_path / "m").read_bytes() == DATA


def test_redirect_loop(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path
) -> None:
    http_server.redirect("/a", http_server2.url("/b"))
    http_server2.redirect("/b", http_server.url("/a"))
    with pytest.raises(remotezoo.DownloadError, match="redirect"):
        remotezoo.download_file(http_server.url("/a"), tmp_path / "m")
    assert os.listdir(tmp_path) == []


def test_too_many_redirects(http_server: LoopbackServer, tmp_path: Path) -> None:
    for i in range(12):
        http_server.redirect(f"/r{i}", http_server.url(f"/r{i + 1}"))
    http_server.serve_bytes("/r12", DATA)
    with pytest.raises(remotezoo.DownloadError, match="redirect"):
        remotezoo.download_file(http_server.url("/r0"), tmp_path / "m")
    assert len(http_server.requests_to("/r10")) == 1
    assert http_server.requests_to("/r11") == []  # stopped after 10 redirects
    http_server.serve_bytes("/r10", DATA)  # 10 redirects are fine
    remotezoo.download_file(http_server.url("/r0"), tmp_path / "m")
    assert (tmp_path / "m").read_bytes() == DATA


def test_redirect_to_file_scheme_refused(http_server: LoopbackServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("local secret")
    http_server.redirect("/m", secret.as_uri())
    with pytest.raises(remotezoo.DownloadError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert not isinstance(info.value, remotezoo.HTTPStatusError)
    assert sorted(os.listdir(tmp_path)) == ["secret.txt"]


def test_non_http_url_refused(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(b"x")
    with pytest.raises(remotezoo.DownloadError):
        remotezoo.download_file(source.as_uri(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_credentials_not_in_errors(http_server: LoopbackServer, tmp_path: Path) -> None:
    url = f"http://alice:hunter2@{http_server.host}:{http_server.port}/missing"
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo.download_file(url, tmp_path / "m")
    assert "hunter2" not in str(info.value) and "hunter2" not in info.value.url
    assert info.value.url == http_server.url("/missing")


def test_connection_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    server = LoopbackServer()
    url = server.url("/m")
    server.close()
    with pytest.raises(remotezoo.DownloadError) as info:
        remotezoo.download_file(url, tmp_path / "m")
    assert info.value.url == url and "onnect" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_progress_reports_increasing_done_and_final_total(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA, trickle=(256 * 1024, 0.1))
    calls: list[tuple[int, object]] = []
    remotezoo.download_file(
        http_server.url("/m"),
        tmp_path / "m",
        progress=lambda done, total: calls.append((done, total)),
    )
    assert len(calls) >= 2
    dones = [done for done, _ in calls]
    assert dones == sorted(dones)
    assert calls[-1] == (len(DATA), len(DATA))
    assert all(total in (None, len(DATA)) for _, total in calls)


def test_exception_in_progress_propagates(http_server: LoopbackServer, tmp_path: Path) -> None:
    assert_progress_exception_propagates(http_server, DATA, tmp_path)


def test_exception_in_final_progress_keeps_old_target(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    http_server.serve_bytes("/m", DATA)
    target = tmp_path / "m"
    target.write_bytes(b"old")

    def progress(done: int, total: object) -> None:
        if done == total:
            raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        remotezoo.download_file(http_server.url("/m"), target, progress=progress)
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_existing_target_intact_on_failure(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    target = tmp_path / "m"
    target.write_bytes(b"previous version")
    with pytest.raises(remotezoo.ChecksumError):
        remotezoo.download_file(http_server.url("/m"), target, sha256="1" * 64)
    assert target.read_bytes() == b"previous version"
    with pytest.raises(remotezoo.HTTPStatusError):
        remotezoo.download_file(http_server.url("/gone"), target)
    assert target.read_bytes() == b"previous version"
    assert leftovers(tmp_path) == []
    remotezoo.download_file(http_server.url("/m"), target)  # success replaces it
    assert target.read_bytes() == DATA


def test_error_page_never_becomes_a_file(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.route("/m", Response(500, b"<html>oops</html>" * 1000))
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert info.value.http_status == 500
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_os_error(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    with pytest.raises(OSError):
        remotezoo.download_file(http_server.url("/m"), tmp_path / "nodir" / "m")
    assert http_server.requests == []


def test_low_speed_timeout(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_LOW_SPEED_TIME", "1")
    monkeypatch.setenv("REMOTEZOO_MAX_ATTEMPTS", "2")
    http_server.serve_bytes("/m", DATA, trickle=(100, 0.5))
    with pytest.raises(remotezoo.DownloadError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert not isinstance(info.value, remotezoo.HTTPStatusError)
    assert len(http_server.requests_to("/m")) == 2
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("value", ["1", "yes"])
def test_offline_mode(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("REMOTEZOO_OFFLINE", value)
    with pytest.raises(remotezoo.OfflineError) as info:
        remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert isinstance(info.value, remotezoo.DownloadError)
    assert http_server.requests == [] and os.listdir(tmp_path) == []


def test_offline_zero_means_online(
    http_server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMOTEZOO_OFFLINE", "0")
    http_server.serve_bytes("/m", DATA)
    remotezoo.download_file(http_server.url("/m"), tmp_path / "m")
    assert (tmp_path / "m").read_bytes() == DATA


def test_bad_header_rejected(http_server: LoopbackServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        remotezoo.download_file(
            http_server.url("/m"), tmp_path / "m", headers={"X-Evil": "a\r\nHost: other"}
        )
    assert http_server.requests == [] and os.listdir(tmp_path) == []


def _child(code: str, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_stops_download(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA, trickle=(4096, 0.05))
    target = tmp_path / "m"
    child = _child(f"""
        import remotezoo
        try:
            remotezoo.download_file({http_server.url("/m")!r}, {str(target)!r})
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            raise
    """)
    assert wait_until(lambda: len(http_server.requests_to("/m")) > 0, timeout=30)
    assert wait_until(lambda: len(leftovers(tmp_path)) == 1, timeout=30)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert "interrupted" in out and "KeyboardInterrupt" in err
    assert child.returncode != 0
    assert os.listdir(tmp_path) == []


def test_100_mib_download_memory_stays_flat(http_server: LoopbackServer, tmp_path: Path) -> None:
    big = random.Random(7).randbytes(100 * 1024 * 1024)
    http_server.serve_bytes("/big", big)
    target = tmp_path / "big"
    child = _child(f"""
        import resource, remotezoo
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        remotezoo.download_file({http_server.url("/big")!r}, {str(target)!r}, sha256={sha(big)!r})
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)
    """)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err
    assert int(out.strip()) < 64  # MiB of peak RSS growth
    assert target.stat().st_size == len(big)
    assert leftovers(tmp_path) == []


# The C engine's other two readers, through remotezoo._net's thin test hooks.


def test_http_get_returns_any_status_and_wanted_headers(http_server: LoopbackServer) -> None:
    http_server.route(
        "/api",
        Response(403, b'{"message": "rate"}', {"X-RateLimit-Remaining": "0", "Retry-After": "7"}),
    )
    status, body, values = remotezoo._net.http_get(
        http_server.url("/api"),
        headers={"Accept": "application/json"},
        wanted=["x-ratelimit-remaining", "retry-after", "x-absent"],
    )
    assert (status, body) == (403, b'{"message": "rate"}')
    assert values == {"x-ratelimit-remaining": "0", "retry-after": "7", "x-absent": None}
    assert http_server.requests[0].headers["Accept"] == "application/json"
    assert len(http_server.requests) == 1


def test_http_get_retries_5xx_and_caps_body(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/api", b"x" * 5000, fail_first=2)
    status, body, _ = remotezoo._net.http_get(http_server.url("/api"))
    assert (status, body) == (200, b"x" * 5000)
    assert len(http_server.requests_to("/api")) == 3
    with pytest.raises(remotezoo.DownloadError, match="larger than 100 bytes"):
        remotezoo._net.http_get(http_server.url("/api"), max_bytes=100)


def test_stream_resumes_transparently(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/s", DATA, drop_after=1_234_567)
    status, body, reads = remotezoo._net.stream_get(http_server.url("/s"))
    assert status == 206 and body == DATA and reads > 1  # the status of the last answer
    assert http_server.requests_to("/s")[1].headers["Range"] == "bytes=1234567-"


def test_stream_skips_delivered_bytes_on_200_with_same_validator(
    http_server: LoopbackServer,
) -> None:
    http_server.serve_bytes("/s", DATA, drop_after=1_500_000, ignore_range=True)
    assert remotezoo._net.stream_get(http_server.url("/s"))[1] == DATA


def test_stream_fails_when_content_changes(http_server: LoopbackServer) -> None:
    route = http_server.serve_bytes("/s", DATA)
    state = {"n": 0}

    def handler(request) -> None:
        state["n"] += 1
        if state["n"] == 1:
            route.drop_after = 1_000_000
        else:
            route.data, route.etag = DATA[::-1], '"v2"'
        request._serve_bytes(route)

    http_server.route("/s", handler)
    with pytest.raises(remotezoo.DownloadError, match="changed"):
        remotezoo._net.stream_get(http_server.url("/s"))


def test_stream_without_validator_cannot_resume(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/s", DATA, drop_after=1_500_000, etag=None, last_modified=None)
    with pytest.raises(remotezoo.DownloadError, match="no ETag"):
        remotezoo._net.stream_get(http_server.url("/s"))


def test_stream_open_checks_status(http_server: LoopbackServer) -> None:
    with pytest.raises(remotezoo.HTTPStatusError) as info:
        remotezoo._net.stream_get(http_server.url("/none"))
    assert info.value.http_status == 404
