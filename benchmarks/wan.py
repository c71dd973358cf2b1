"""The emulated WAN of ``benchmarks/run.py --wan``: profiles, the network namespace and the relay.

A profile's network is a private network namespace (``ip netns add``, root) whose own loopback
carries the link-rate cap (``tc qdisc ... tbf``; this kernel has no netem), nginx inside it on a
Unix socket (its per-connection cap is nginx's ``limit_rate``), and benchmarks/relay.py in front of
nginx on the namespace's 127.0.0.1, adding the round-trip time and the per-stream window. Only the
relay-to-client leg crosses the shaped loopback, so each byte is counted against the link once.
Where namespaces are not allowed, everything runs on the plain loopback instead and the relay paces
the link itself (``--rate``); the harness says so. Everything made here is removed on exit, also
on Ctrl-C and on errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Iterator

HERE = os.path.dirname(os.path.abspath(__file__))
RELAY = os.path.join(HERE, "relay.py")
MiB = 1024 * 1024
NS_PREFIX = "rzwan"  # namespaces are named rzwan<pid of the harness>


@dataclass(frozen=True)
class Profile:
    name: str
    rtt_ms: float
    link_mbit: float  # tbf rate; 0: no cap
    window: int  # the relay's per-stream window cap, bytes
    conn_rate: str = ""  # nginx limit_rate per connection, e.g. "20m" (MiB/s); "": none
    max_conns: int = 0  # nginx limit_conn: connections the server allows at once (0: any)
    calibration: bool = False  # measures the relay itself: curl and aria2c only, no bars

    @property
    def link_bytes(self) -> float:
        """The link's capacity in bytes per second (0: none)."""
        return self.link_mbit * 1e6 / 8

    @property
    def conn_bytes(self) -> float:
        """nginx's cap of one connection in bytes per second (0: none)."""
        if not self.conn_rate:
            return 0.0
        units = {"k": 1024, "m": MiB, "g": 1024 * MiB}
        return float(self.conn_rate[:-1]) * units[self.conn_rate[-1]]

    def stream_bytes(self) -> float:
        """What one stream can carry: window / RTT, the connection cap and the link, whichever is least."""
        limits = [self.window / (self.rtt_ms / 1000)] if self.rtt_ms else []
        limits += [x for x in (self.conn_bytes, self.link_bytes) if x]
        return min(limits) if limits else float("inf")

    def describe(self) -> str:
        parts = [f"{self.rtt_ms:g} ms RTT", f"{self.link_mbit:g} Mbit/s link" if self.link_mbit else "no link cap",
                 f"{self.window // 1024} KiB window"]
        if self.conn_rate:
            parts.append(f"{self.conn_bytes / MiB:g} MiB/s per connection")
        if self.max_conns:
            parts.append(f"at most {self.max_conns} connections")
        return ", ".join(parts)


# One window for every profile: 1 MiB is what a Reno-style stream holds with about 3 losses per
# million packets (Mathis: window ≈ 1.22 · MSS / sqrt(p)), so one stream gets window / RTT, as
# long paths give in practice, while parallel streams can fill the link.
WINDOW = MiB
PROFILES = {p.name: p for p in (
    # The relay alone, no delay and no cap: its own ceiling on this machine.
    Profile("relay-ceiling", 0, 0, 64 * MiB, calibration=True),
    Profile("lan", 1, 1000, WINDOW),
    Profile("continental", 40, 1000, WINDOW),
    Profile("intercontinental", 150, 500, WINDOW),
    Profile("cdn", 20, 1000, WINDOW, conn_rate="20m"),
    # ... and a server that allows 4 connections at once (nginx answers 503 to more).
    Profile("cdn-4conn", 20, 1000, WINDOW, conn_rate="20m", max_conns=4),
)}
DEFAULT_PROFILES = ("relay-ceiling", "lan", "continental", "intercontinental", "cdn", "cdn-4conn")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Net:
    """Where a profile runs: the command prefix that enters it, and how the link is capped."""
    prefix: tuple[str, ...]  # ("ip", "netns", "exec", NAME) or () on the plain loopback
    shaped: bool  # tc caps the link (else the relay paces it)
    where: str  # one line for the log and the table


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


def remove_stale_namespaces() -> None:
    """Namespaces (and their processes) left by a harness that was killed with SIGKILL."""
    listing = _ip("netns", "list").stdout
    for name in re.findall(rf"^({NS_PREFIX}(\d+))\b", listing, re.M):
        ns, pid = name
        if os.path.exists(f"/proc/{pid}"):
            continue
        for left in _ip("netns", "pids", ns).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(left), signal.SIGKILL)
        _ip("netns", "del", ns)
        log(f"removed the stale namespace {ns}")


@contextlib.contextmanager
def network(profile: Profile) -> Iterator[Net]:
    """A private namespace with the profile's link cap on its loopback, removed on exit; or the
    plain loopback (the relay then paces the link) where namespaces are not allowed."""
    ns = f"{NS_PREFIX}{os.getpid()}"
    added = _ip("netns", "add", ns) if os.geteuid() == 0 else None
    if added is None or added.returncode != 0:
        why = "not root" if added is None else added.stderr.strip() or "ip netns add failed"
        log(f"WAN: no network namespace ({why}); FALLING BACK to the plain loopback, "
            "the relay paces the link itself")
        yield Net((), False, "plain loopback (no namespace): relay-paced link")
        return
    try:
        up = _ip("-n", ns, "link", "set", "lo", "up")
        if up.returncode != 0:
            raise RuntimeError(f"cannot bring up lo in {ns}: {up.stderr.strip()}")
        shaped = False
        if profile.link_mbit:
            tbf = subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", "lo", "root", "tbf",
                                  "rate", f"{profile.link_mbit:g}mbit", "burst", "1mb", "latency", "50ms"],
                                 capture_output=True, text=True)
            shaped = tbf.returncode == 0
            if not shaped:
                log(f"WAN: tc tbf failed ({tbf.stderr.strip()}); the relay paces the link itself")
        how = "tc tbf on its loopback" if shaped else ("relay-paced link" if profile.link_mbit else "no link cap")
        yield Net(("ip", "netns", "exec", ns), shaped, f"namespace {ns}, {how}")
    finally:
        # Processes started inside were stopped by their own context managers; any left over
        # (an error between two steps) are ours and go with the namespace.
        for left in _ip("netns", "pids", ns).stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(left), signal.SIGKILL)
        _ip("netns", "del", ns)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Relay:
    url: str  # its base URL
    pid: int  # for its CPU time
    lag: str = ""  # how late its deliveries were, filled in when it has stopped


@contextlib.contextmanager
def relay(net: Net, profile: Profile, upstream: str) -> Iterator[Relay]:
    """benchmarks/relay.py inside net, in front of nginx's Unix socket upstream; stopped on exit."""
    rate = profile.link_bytes if profile.link_mbit and not net.shaped else 0
    cmd = [*net.prefix, sys.executable, RELAY, "--upstream", upstream, "--rtt-ms", str(profile.rtt_ms),
           "--window", str(profile.window), "--rate", str(rate)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        prioritise(proc.pid)
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline().decode()
        if not line.startswith("port "):
            raise RuntimeError(f"the relay did not start: {proc.stderr.read().decode()[-1000:]}")
        handle = Relay(f"http://127.0.0.1:{int(line.split()[1])}", proc.pid)
        yield handle
        stop(proc)
        handle.lag = proc.stdout.read().decode().strip()
    finally:
        stop(proc)


def prioritise(pid: int) -> bool:
    """Give the session that pid leads (a process started with start_new_session) nice -10, as
    root: nginx and the relay are the network, and should not wait for a core behind the programs
    they serve or the machine's other work. Under the scheduler's autogroups a process's own nice
    only counts within its session, so it is the session's nice (/proc/PID/autogroup) that is set."""
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write("-10")
        return True
    except OSError:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, -10)
            return True
        except OSError as e:
            log(f"WAN: cannot raise the priority of process {pid} ({e.strerror}); its delays may run late")
            return False


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
