#!/usr/bin/env python3
"""The emulated WAN's delaying relay, started by ``benchmarks/run.py --wan``.

    python3 relay.py --upstream /path/http.sock --rtt-ms 40 --window 1048576 [--rate BYTES_PER_S]

Listens on 127.0.0.1 (an ephemeral port, printed as ``port N`` on stdout once it accepts) and joins
each accepted connection to a new connection to the upstream, nginx on a Unix socket, so that only
the relay-to-client leg crosses the loopback that tc shapes. Each direction of each connection is a
Pipe that behaves like one TCP stream on a long path:

- bytes read from one side are written to the other one one-way delay (RTT / 2) later;
- they count as in flight until their acknowledgement would be back, one more one-way delay after
  they were handed to the other side (later, if that side does not keep up), and the relay reads no
  more from a side while its in-flight bytes fill the congestion window;
- the window starts at 10 segments of 1448 bytes, Linux's initial window, and grows by every
  acknowledged byte (slow start) up to --window, so one stream settles at window / RTT;
- a connection's first bytes leave one round trip after the accept, as after a TCP handshake.

--rate paces all connections together at that many bytes per second: the link cap where tc cannot
shape the loopback. Memory is bounded by the windows: at most --window bytes held per direction.
Stops on SIGTERM or SIGINT, and then prints how late its
deliveries were (``lag ...``): what the delays really were beyond the ones asked for.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import collections
import signal
import sys
from typing import Optional

SEGMENT = 1448
INITIAL_WINDOW = 10 * SEGMENT
READ_MAX = 256 * 1024
# asyncio sleeps in whole milliseconds (epoll), so a timer fires up to 1 ms late: timers are set
# this much before the due time, and what is due within it goes out, so the lag averages about 0.
EARLY = 0.0005


class Link:
    """A shared serializer of all bytes at a fixed rate (no rate: no pacing)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.free_at = 0.0

    def leave(self, at: float, size: int) -> float:
        """When size bytes ready at time `at` have left the link."""
        if not self.rate:
            return at
        self.free_at = max(at, self.free_at) + size / self.rate
        return self.free_at


LATE = array.array("d")  # seconds each delivery came after its due time (negative: before)


def lag_report() -> str:
    if not LATE:
        return "lag: no deliveries"
    late = sorted(LATE)
    return (f"lag mean {1e3 * sum(late) / len(late):.2f} ms, 99th percentile "
            f"{1e3 * late[int(0.99 * (len(late) - 1))]:.2f} ms, max {1e3 * late[-1]:.1f} ms "
            f"over {len(late)} deliveries")


class Pipe:
    """One direction of one relayed connection: delay, window and slow start (see the module doc)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, window: int, link: Link,
                 not_before: float = 0.0) -> None:
        self.loop = loop
        self.delay = delay
        self.window = window
        self.link = link
        self.not_before = not_before  # the emulated handshake's end
        self.cwnd = min(INITIAL_WINDOW, window)
        self.inflight = 0
        self.queue: collections.deque[tuple[float, Optional[memoryview]]] = collections.deque()
        self.stalled = 0  # handed to a side whose write buffer is full: acknowledged once it drains
        self.src: Optional[Side] = None
        self.dst: Optional[Side] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.eof_in = False   # the source ended (EOF queued)
        self.eof_out = False  # ... and the EOF was passed on

    def room(self) -> int:
        return self.cwnd - self.inflight

    def push(self, data: Optional[memoryview]) -> None:
        """Bytes (or None: EOF) read from src, due at dst one delay later."""
        if data is None:
            if self.eof_in:
                return
            self.eof_in = True
        size = len(data) if data is not None else 0
        due = self.link.leave(max(self.loop.time(), self.not_before), size) + self.delay
        self.queue.append((due, data))
        self.inflight += size
        if self.src and self.inflight >= self.cwnd:
            self.src.pause()
        if self.timer is None:
            self.timer = self.loop.call_at(self.queue[0][0] - EARLY, self.flush)

    def flush(self) -> None:
        """Hand every due item to dst."""
        self.timer = None
        dst = self.dst
        if dst is None or dst.transport is None:
            return  # flushed again when dst connects
        if dst.transport.is_closing():
            self.queue.clear()
            return
        now = self.loop.time()
        if self.queue:
            LATE.append(now - self.queue[0][0])
        while self.queue and self.queue[0][0] <= now + EARLY:
            _, data = self.queue.popleft()
            if data is None:
                self.eof_out = True
                dst.write_eof()
                continue
            dst.transport.write(data)
            if dst.write_blocked:
                self.stalled += len(data)
            else:
                self.loop.call_at(now + self.delay - EARLY, self.ack, len(data))
        if self.queue:
            self.timer = self.loop.call_at(self.queue[0][0] - EARLY, self.flush)

    def drained(self) -> None:
        """dst's write buffer went below its low mark: what it held is on its way."""
        if self.stalled:
            self.loop.call_later(self.delay - EARLY, self.ack, self.stalled)
            self.stalled = 0

    def ack(self, size: int) -> None:
        self.inflight -= size
        self.cwnd = min(self.window, self.cwnd + size)
        if self.src and self.inflight < self.cwnd:
            self.src.resume()


class Side(asyncio.BufferedProtocol):
    """One socket of a relayed connection: reads into `out`, is written by `into`."""

    def __init__(self, out: Pipe, into: Pipe) -> None:
        self.out = out
        self.into = into
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()
        self.paused = False
        self.write_blocked = False
        self.partner: Optional[Side] = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=READ_MAX)
        self.out.src = self
        self.into.dst = self
        if self.out.inflight >= self.out.cwnd:
            self.pause()
        self.into.flush()

    def get_buffer(self, sizehint: int) -> bytearray:
        # Never read more than the window has room for: that is what bounds a stream's rate.
        self.buf = bytearray(max(1, min(READ_MAX, self.out.room())))
        return self.buf

    def buffer_updated(self, nbytes: int) -> None:
        self.out.push(memoryview(self.buf)[:nbytes])

    def eof_received(self) -> bool:
        self.out.push(None)
        return True  # keep the other direction open

    def pause_writing(self) -> None:
        self.write_blocked = True

    def resume_writing(self) -> None:
        self.write_blocked = False
        self.into.drained()

    def pause(self) -> None:
        if not self.paused and self.transport and not self.transport.is_closing():
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport and not self.transport.is_closing():
            self.paused = False
            self.transport.resume_reading()

    def write_eof(self) -> None:
        assert self.transport is not None
        if self.out.eof_out:  # both directions ended
            self.transport.close()
            if self.partner and self.partner.transport:
                self.partner.transport.close()
        elif self.transport.can_write_eof():
            self.transport.write_eof()

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if exc is None:
            self.out.push(None)
        elif self.partner and self.partner.transport:
            self.partner.transport.abort()  # a reset travels at once


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    delay = args.rtt_ms / 2000.0
    link = Link(args.rate)
    stop = loop.create_future()
    def finish() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, finish)

    tasks: set[asyncio.Task[None]] = set()

    def accept() -> Side:
        up = Pipe(loop, delay, args.window, link, not_before=loop.time() + 2 * delay)
        down = Pipe(loop, delay, args.window, link)
        client = Side(up, down)

        async def connect() -> None:
            try:
                _, server = await loop.create_unix_connection(lambda: Side(down, up), args.upstream)
            except OSError as e:
                print(f"relay: cannot reach {args.upstream}: {e}", file=sys.stderr, flush=True)
                if client.transport:
                    client.transport.abort()
                return
            server.partner, client.partner = client, server
            if (client.transport is None or client.transport.is_closing()) and server.transport:
                server.transport.abort()

        task = loop.create_task(connect())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return client

    server = await loop.create_server(accept, "127.0.0.1", 0, backlog=256)
    print(f"port {server.sockets[0].getsockname()[1]}", flush=True)
    await stop
    server.close()
    print(lag_report(), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", required=True, help="nginx's Unix socket")
    ap.add_argument("--rtt-ms", type=float, default=0.0)
    ap.add_argument("--window", type=int, default=1 << 20, help="per-stream window cap, bytes")
    ap.add_argument("--rate", type=float, default=0.0, help="pace all traffic at this many bytes/s (0: off)")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
