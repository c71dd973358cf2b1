"""Loopback HTTP servers with configurable routes and fault injection, and the small helpers
the network tests share (conftest.py makes the servers fixtures).

LoopbackServer API
------------------
``LoopbackServer(host, tls=ctx)``   the same over HTTPS (``ctx``: a server-side ``ssl.SSLContext``).
``server.url(path="/")``          absolute URL on this server, e.g. ``http://127.0.0.1:PORT/x``.
``server.host``, ``server.port``   where it listens.
``server.route(path, handler)``   *handler* is either a :class:`Response` (canned answer) or a
                                   callable ``handler(request)`` that answers itself, where
                                   *request* is the live ``BaseHTTPRequestHandler`` (``.path``,
                                   ``.headers``, ``.command``; helpers ``request.respond(status,
                                   body=b"", headers=None)``, ``request.send_body(...)``,
                                   ``request.query`` as a dict). Routes match the path without
                                   the query string; unknown paths answer 404.
``server.route_prefix(prefix, handler)``  a handler for every path under prefix.
``server.serve_bytes(path, data, **faults)`` -> :class:`ByteRoute`: serves *data* with
                                   Range/If-Range support, an ETag and Last-Modified; *faults*
                                   (also settable as attributes later) are listed on ByteRoute.
``server.redirect(path, location, status=302)``  canned redirect.
``server.requests``                every :class:`Recorded` request, in order (method, path,
                                   headers as a case-insensitive ``email.message.Message``).
``server.requests_to(path)``       those for one path (query ignored).

A fake GitHub (tests of the source layer) can be built from ``route()`` with callables that
answer JSON, plus ``serve_bytes`` for tarballs and ``redirect`` to a second server.
"""

from __future__ import annotations

import email.message
import hashlib
import http.server
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Union

import pytest


@dataclass
class Response:
    """A canned answer: status, body and extra headers (Content-Length is added)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: email.message.Message
    host: str
    client: tuple[str, int] = ("", 0)  # the client's (address, port): one per connection


@dataclass
class ByteRoute:
    """Serves ``data`` with Range support. Fault knobs (each counts down as it fires):

    - ``fail_first``: answer the first N requests with ``fail_status`` (503), with a
      ``Retry-After: retry_after`` header when that is set.
    - ``drop_after``/``drop_times``: for the first ``drop_times`` requests, send only
      ``drop_after`` body bytes (of the promised length) and close the connection.
    - ``ignore_range``: answer Range requests with 200 and the whole body.
    - ``content_length``: announce this Content-Length instead of the true one, then close
      after sending what there is (for the first ``wrong_length_times`` requests, default 1).
    - ``trickle``: ``(chunk_bytes, interval_s)``: send the body that slowly.
    - ``etag`` / ``last_modified``: validators (``None`` to send none).
    - ``range_drop_after``/``range_drop_times``: like ``drop_after``, but only for the first
      ``range_drop_times`` requests answered with 206 whose range starts after byte 0.

    Lying servers (tests of "complete only with the announced length"):

    - ``range_limit``: a 206 sends at most this many bytes (its Content-Range says so honestly).
    - ``partial_plain``: answer a request without Range as if it asked for ``bytes=0-`` (a 206).
    - ``ignore_if_range``: serve the range even when If-Range names another validator.
    - ``content_range``: the Content-Range of every 206, as a ``str.format`` of ``first``,
      ``last`` and ``size`` (the true ones; the body is unchanged); ``""`` sends none.

    Limits of a server or a path (tests of adaptive parallel downloads):

    - ``conn_rate``: send each answer's body at most this many bytes per second (a
      per-connection cap, like nginx's ``limit_rate``).
    - ``total_rate``: all answers together at most this many bytes per second (a full link).
    - ``max_conns``: answer ``refuse_status`` (503) to a request while this many are being
      answered (like nginx's ``limit_conn``), with ``Retry-After: refuse_after`` when set.
    - ``slow_range``: send the body of the first range request that starts after byte 0 at
      this many bytes per second (one slow connection).
    - Read back: ``peak`` (most answers at once), ``refused`` (requests refused),
      ``timeline`` (``(time.monotonic(), answers at once)`` at each change).

    Ranges: ``bytes=FIRST-`` and ``bytes=FIRST-LAST`` (one range; anything else gets a 200).
    """

    data: bytes
    etag: Optional[str] = '"v1"'
    last_modified: Optional[str] = "Wed, 21 Oct 2015 07:28:00 GMT"
    fail_first: int = 0
    fail_status: int = 503
    retry_after: Optional[str] = None
    drop_after: Optional[int] = None
    drop_times: int = 1
    ignore_range: bool = False
    content_length: Optional[int] = None
    wrong_length_times: int = 1
    trickle: Optional[tuple[int, float]] = None
    content_type: str = "application/octet-stream"
    range_drop_after: Optional[int] = None
    range_drop_times: int = 1
    range_limit: Optional[int] = None
    partial_plain: bool = False
    ignore_if_range: bool = False
    content_range: Optional[str] = None
    conn_rate: Optional[float] = None
    total_rate: Optional[float] = None
    max_conns: int = 0
    refuse_status: int = 503
    refuse_after: Optional[str] = None
    slow_range: Optional[float] = None
    peak: int = 0
    refused: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list)
    _active: int = 0
    _link_free_at: float = 0.0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


Handler = Union[Response, ByteRoute, Callable[["RequestHandler"], None]]


class RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

    def respond(
        self, status: int, body: bytes = b"", headers: Optional[dict[str, str]] = None
    ) -> None:
        """Send a complete answer with Content-Length."""
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_body(
        self,
        body: Union[bytes, memoryview],
        trickle: Optional[tuple[int, float]] = None,
        rate: Optional[float] = None,
        route: Optional[ByteRoute] = None,
    ) -> bool:
        """Write body bytes (slowly with *trickle*, at most *rate* bytes per second, and within
        *route*'s ``total_rate``); False if the client went away."""
        view = memoryview(body)
        paced = rate or (route is not None and route.total_rate)
        step = trickle[0] if trickle else (32 * 1024 if paced else 256 * 1024)
        started = time.monotonic()
        try:
            for start in range(0, len(view), step):
                if self.server.stopping.is_set():
                    return False
                chunk = view[start : start + step]
                due = started + (start + len(chunk)) / rate if rate else 0.0
                if route is not None and route.total_rate:
                    with self._knob_lock:
                        free_at = max(time.monotonic(), route._link_free_at)
                        route._link_free_at = free_at + len(chunk) / route.total_rate
                        due = max(due, route._link_free_at)
                if due and self.server.stopping.wait(max(0.0, due - time.monotonic())):
                    return False
                self.wfile.write(chunk)
                if trickle or paced:
                    self.wfile.flush()
                if trickle and self.server.stopping.wait(trickle[1]):
                    return False
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True

    def drop(self) -> None:
        """Close the connection abruptly (after flushing what was written)."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.server.owner._record(self, path)
        handler = self.server.owner._routes.get(path)
        if handler is None:
            handler = next(
                (h for prefix, h in self.server.owner._prefix_routes if path.startswith(prefix)),
                None,
            )
        if handler is None:
            self.respond(404, b"not found\n", {"Content-Type": "text/plain"})
        elif isinstance(handler, Response):
            self.respond(handler.status, handler.body, handler.headers)
        elif isinstance(handler, ByteRoute):
            self._serve_bytes(handler)
        else:
            handler(self)

    def _serve_bytes(self, route: ByteRoute) -> None:
        with self._knob_lock:  # requests arrive on parallel connections
            refuse = bool(route.max_conns) and route._active >= route.max_conns
            if refuse:
                route.refused += 1
            else:
                route._active += 1
                route.peak = max(route.peak, route._active)
                route.timeline.append((time.monotonic(), route._active))
        if refuse:
            headers = {"Retry-After": route.refuse_after} if route.refuse_after else {}
            self.respond(route.refuse_status, b"busy\n", headers)
            return
        try:
            self._serve_bytes_now(route)
        finally:
            with self._knob_lock:
                route._active -= 1
                route.timeline.append((time.monotonic(), route._active))

    def _serve_bytes_now(self, route: ByteRoute) -> None:
        if route.fail_first > 0:
            route.fail_first -= 1
            headers = {"Retry-After": route.retry_after} if route.retry_after else {}
            self.respond(route.fail_status, b"try later\n", headers)
            return
        data = route.data
        size = len(data)
        start, end, status = 0, size, 200
        range_header = self.headers.get("Range") or ("bytes=0-" if route.partial_plain else None)
        if_range = self.headers.get("If-Range")
        if range_header and not route.ignore_range:
            validator_ok = (
                if_range is None
                or route.ignore_if_range
                or if_range in (route.etag, route.last_modified)
            )
            spec = range_header.removeprefix("bytes=")
            first, _, last = spec.partition("-")
            if validator_ok and first.isdigit() and (not last or last.isdigit()):
                start = int(first)
                if start >= size or (last and int(last) < start):
                    self.respond(416, b"", {"Content-Range": f"bytes */{size}"})
                    return
                end = min(int(last) + 1, size) if last else size
                if route.range_limit is not None:
                    end = min(end, start + route.range_limit)
                status = 206
        self.send_response(status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Accept-Ranges", "bytes")
        if route.etag is not None:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None:
            self.send_header("Last-Modified", route.last_modified)
        if status == 206:
            content_range = f"bytes {start}-{end - 1}/{size}"
            if route.content_range is not None:
                content_range = route.content_range.format(first=start, last=end - 1, size=size)
            if content_range:
                self.send_header("Content-Range", content_range)
        body = memoryview(data)[start:end]
        length = len(body)
        if route.content_length is not None and route.wrong_length_times > 0:
            route.wrong_length_times -= 1
            length = route.content_length
            self.close_connection = True
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        if route.drop_after is not None and route.drop_times > 0:
            route.drop_times -= 1
            self.send_body(body[: route.drop_after])
            self.drop()
            return
        if (
            status == 206
            and start > 0
            and route.range_drop_after is not None
            and self._take_range_drop(route)
        ):
            self.send_body(body[: route.range_drop_after])
            self.drop()
            return
        if len(body) > length:
            body = body[:length]
        rate = route.conn_rate
        if status == 206 and start > 0 and route.slow_range is not None:
            with self._knob_lock:
                slow, route.slow_range = route.slow_range, None
            rate = slow if slow is not None else rate
        if self.send_body(body, route.trickle, rate, route) and length != len(body):
            self.drop()

    _knob_lock = threading.Lock()

    @classmethod
    def _take_range_drop(cls, route: ByteRoute) -> bool:
        with cls._knob_lock:  # ranges arrive on parallel connections
            if route.range_drop_times <= 0:
                return False
            route.range_drop_times -= 1
            return True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    owner: LoopbackServer
    stopping: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client hanging up is no news
            super().handle_error(request, client_address)


class LoopbackServer:
    """A threaded HTTP/1.1 server on a loopback address; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", tls: Optional[ssl.SSLContext] = None) -> None:
        """With *tls* (a server-side context), it speaks HTTPS; the handshake happens in each
        connection's own thread, at its first read."""
        self._routes: dict[str, Handler] = {}
        self._prefix_routes: list[tuple[str, Handler]] = []
        self._lock = threading.Lock()
        self.requests: list[Recorded] = []
        self._httpd = _Server((host, 0), RequestHandler)
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self.scheme = "https" if tls is not None else "http"
        self._httpd.owner = self
        self._httpd.stopping = threading.Event()
        self.host, self.port = self._httpd.server_address[:2]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> Handler:
        self._routes[path] = handler
        return handler

    def route_prefix(self, prefix: str, handler: Handler) -> Handler:
        """Answer every path starting with prefix (exact routes win; first prefix added wins)."""
        self._prefix_routes.append((prefix, handler))
        return handler

    def serve_bytes(self, path: str, data: bytes, **faults: object) -> ByteRoute:
        return self.route(path, ByteRoute(data, **faults))  # type: ignore[arg-type,return-value]

    def redirect(self, path: str, location: str, status: int = 302) -> Response:
        return self.route(path, Response(status, b"", {"Location": location}))  # type: ignore[return-value]

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, handler: RequestHandler, path: str) -> None:
        with self._lock:
            client = (str(handler.client_address[0]), int(handler.client_address[1]))
            self.requests.append(
                Recorded(handler.command, path, handler.headers, self.host, client)
            )

    def close(self) -> None:
        self._httpd.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def leftovers(root: Union[str, os.PathLike[str]]) -> list[str]:
    """Every temporary remotezoo left below *root* (should be none after a call): a download's
    ``.<name>.part-*`` file, an extraction's or registration's ``.tmp-*`` directory, and
    remotezoo's own ``.rz-*`` names in the models folders (downloads in progress, trash)."""
    return sorted(
        str(p)
        for p in Path(root).rglob("*")
        if any(t in p.name for t in (".part-", ".tmp-", ".rz-"))
    )


def assert_progress_exception_propagates(
    server: LoopbackServer, data: bytes, directory: Path
) -> None:
    """download_file of *data* with a progress callback that raises: the exception reaches the
    caller and nothing is left in *directory* (no target, no temp file)."""
    import remotezoo

    server.serve_bytes("/m", data, trickle=(64 * 1024, 0.05))

    class Stop(Exception):
        pass

    def progress(done: int, total: object) -> None:
        if done > 0:
            raise Stop(done)

    with pytest.raises(Stop):
        remotezoo.download_file(server.url("/m"), directory / "m", progress=progress)
    assert os.listdir(directory) == []


def interrupt_download(url: str, target: Path, ready: Callable[[], bool]) -> float:
    """download_file(url, target) in a child interpreter, Ctrl-C (SIGINT) once ready() holds:
    the child must stop with KeyboardInterrupt and leave nothing beside target. Returns the
    seconds from the signal to the child's exit."""
    code = (
        f"import remotezoo\n"
        f"try:\n"
        f"    remotezoo.download_file({url!r}, {str(target)!r})\n"
        f"except KeyboardInterrupt:\n"
        f"    print('interrupted', flush=True)\n"
        f"    raise\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    child = subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env, text=True, **pipes)
    try:
        assert wait_until(ready, timeout=30)
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert "interrupted" in out and "KeyboardInterrupt" in err
    assert os.listdir(target.parent) == []
    return took


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll *predicate* until true or *timeout* seconds pass; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
