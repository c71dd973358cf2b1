"""benchmarks/relay.py, the emulated WAN's delaying relay: bytes arrive whole, in order, in both
directions, and never faster than its round trip, window and link rate allow (the bounds the WAN
benchmark's numbers rest on). Lower bounds only: a loaded machine may make it slower, not faster."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

RELAY = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "relay.py"
)
MiB = 1024 * 1024
PAYLOAD = bytes(range(256)) * (2 * MiB // 256)


def serve_unix(path: str) -> threading.Thread:
    """One connection: read a line, answer PAYLOAD followed by the line read, then close."""
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)

    def run() -> None:
        conn, _ = server.accept()
        with conn, server:
            line = b""
            while not line.endswith(b"\n"):
                line += conn.recv(1024)
            conn.sendall(PAYLOAD + line)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def relay(tmp_path: object) -> Iterator[object]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> tuple[int, threading.Thread]:
        sock = os.path.join(str(tmp_path), f"up{len(procs)}.sock")
        server = serve_unix(sock)
        proc = subprocess.Popen(
            [sys.executable, RELAY, "--upstream", sock, *args], stdout=subprocess.PIPE
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert line.startswith("port "), line
        return int(line.split()[1]), server

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def fetch(port: int) -> tuple[bytes, float]:
    """Send a line, half-close, read to EOF; the bytes and the seconds it took."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"hello relay\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks), time.monotonic() - start


def test_relay_passes_bytes_whole_and_holds_to_window_over_rtt(relay):
    # 2 MiB through a 256 KiB window at 100 ms: at least 8 windows, so at least 0.8 s (slow start
    # from 10 segments adds more), plus a round trip for the handshake and one for the request.
    port, server = relay("--rtt-ms", "100", "--window", str(256 * 1024))
    data, seconds = fetch(port)
    server.join(10)
    assert data == PAYLOAD + b"hello relay\n"
    assert seconds >= 0.8 + 0.2 - 0.05, seconds


def test_relay_paces_all_bytes_at_its_link_rate(relay):
    port, server = relay("--rtt-ms", "0", "--window", str(64 * MiB), "--rate", str(4 * MiB))
    data, seconds = fetch(port)
    server.join(10)
    assert data == PAYLOAD + b"hello relay\n"
    assert seconds >= 0.5 - 0.05, seconds  # 2 MiB at 4 MiB/s


def test_relay_without_delay_is_not_the_bottleneck(relay):
    # No delay and a large window: the relay only copies. A generous bound (a loaded CI machine):
    # 2 MiB well within 5 s, i.e. far from the window/RTT bounds the other tests check.
    port, server = relay("--rtt-ms", "0", "--window", str(64 * MiB))
    data, seconds = fetch(port)
    server.join(10)
    assert data == PAYLOAD + b"hello relay\n"
    assert seconds < 5, seconds
