"""Helpers for the cluster tests: a real nginx caching proxy in front of loopback origins, an
LD_PRELOAD library that takes the lock calls away, "hosts" in network namespaces, read-only
bind mounts.

``nginx_mirror_conf`` writes the nginx configuration that the README's "Running on a cluster"
section documents; ``NginxMirror`` runs nginx (Debian's package) with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Optional

SHIM_SOURCE = Path(__file__).resolve().parents[1] / "nolock_shim.c"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def need_tool(name: str) -> str:
    """The path of a system tool the test needs; missing is a skip on a developer's machine and
    a failure in CI (which installs it: scripts/install.sh)."""
    import pytest

    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; scripts/install.sh --ci installs it")
    pytest.skip(f"{name} is not installed (apt-get install {name})")
    raise AssertionError  # unreachable


def need_root() -> None:
    import pytest

    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("this test needs root (mounts, network namespaces)")
        pytest.skip("needs root (mounts, network namespaces)")


# ---- nginx ------------------------------------------------------------------------------------


def nginx_mirror_conf(
    workdir: Path, listen: str, upstreams: dict[str, str], extra: Optional[dict[str, str]] = None
) -> str:
    """An nginx pull-through cache: each ``/<name>/`` location proxies to ``upstreams[name]``
    (an origin URL ending in ``/``) and caches what it answers, redirects included.

    - ``proxy_cache_lock on``: of the requests for one URL that miss, one goes to the origin
      and the others wait for it and are answered from the cache;
    - the cache key is method, origin, path and query, plus ``Accept`` (the GitHub API answers
      one URL with JSON or a bare sha by Accept); nothing else of the request (User-Agent,
      Range, Authorization) is in it, and ``Range``/``If-Range`` are not sent upstream while
      caching, so every client shares the one full copy and gets its ranges from it;
    - the origin's ``Cache-Control``, ``Expires``, ``Vary`` and ``Set-Cookie`` are ignored:
      what is cached and for how long is this file's choice (``proxy_cache_valid``);
    - redirects (301, 302, 307, 308) are cached like answers; remotezoo rewrites their
      targets with its own rules, so the download host's answer is cached here too;
    - ``/codeload/`` keys on the path only: GitHub's download URLs carry a signed, changing
      query (``?token=...``) for the same bytes;
    - the access log says per request whether it was a HIT, a MISS (fetched from the origin)
      or served after waiting for another request's fetch (HIT too, or UPDATING/STALE).

    *extra*: more directives for a location, by name (``proxy_redirect`` for clients that
    cannot rewrite redirect targets themselves).
    """
    temp = workdir / "temp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    locations = []
    for name, origin in upstreams.items():
        key = (
            '"$proxy_host$uri"' if name == "codeload" else '"$proxy_host$request_uri $http_accept"'
        )
        locations.append(
            textwrap.indent(
                textwrap.dedent(f"""\
            location /{name}/ {{
                proxy_pass {origin};
                proxy_cache_key {key};
                {(extra or {}).get(name, "")}
            }}
            """),
                "        ",
            )
        )
    return textwrap.dedent("""\
        user root;
        worker_processes 1;
        daemon off;
        pid {work}/nginx.pid;
        error_log {work}/error.log warn;
        events {{ worker_connections 512; }}
        http {{
            log_format mirror '$upstream_cache_status $status $request_method $uri';
            access_log {work}/access.log mirror;
            client_body_temp_path {temp}/body;
            proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi;
            uwsgi_temp_path {temp}/uwsgi;
            scgi_temp_path {temp}/scgi;
            proxy_cache_path {work}/cache levels=1:2 keys_zone=remotezoo:10m max_size=10g
                             inactive=30d use_temp_path=off;
            server {{
                listen {listen};
                proxy_cache remotezoo;
                proxy_cache_lock on;
                proxy_cache_lock_timeout 10m;
                proxy_cache_lock_age 10m;
                proxy_cache_valid 200 206 301 302 307 308 10m;
                proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;
                proxy_ignore_headers Cache-Control Expires Vary Set-Cookie X-Accel-Expires;
                proxy_hide_header Set-Cookie;
                proxy_set_header Authorization "";
                proxy_set_header Cookie "";
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_read_timeout 10m;
                add_header X-Cache $upstream_cache_status always;
        {locations}
            }}
        }}
        """).format(work=workdir, temp=temp, listen=listen, locations="\n".join(locations))


class NginxMirror:
    """nginx running ``nginx_mirror_conf`` in the foreground; stop() ends it."""

    def __init__(
        self,
        workdir: Path,
        upstreams: dict[str, str],
        host: str = "127.0.0.1",
        extra: Optional[dict[str, str]] = None,
    ) -> None:
        self.binary = need_tool("nginx")
        self.workdir = workdir
        self.port = free_port(host)
        self.url = f"http://{host}:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_mirror_conf(workdir, f"{host}:{self.port}", upstreams, extra))
        check = subprocess.run(
            [self.binary, "-t", "-q", "-c", str(conf), "-p", str(workdir)],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        self.proc = subprocess.Popen(
            [self.binary, "-c", str(conf), "-p", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((host, self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"nginx did not start: {self.error_log()}")

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then exit
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


# ---- the lock shim ----------------------------------------------------------------------------


def build_shim(outdir: Path) -> Path:
    """Compile tests/nolock_shim.c into outdir; returns the .so."""
    out = outdir / "nolock_shim.so"
    if not out.exists():
        cc = os.environ.get("CC", "gcc")
        subprocess.run(
            [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM_SOURCE), "-ldl"], check=True
        )
    return out


def shim_env(shim: Path, no_flock: bool = True, no_fcntl: bool = False) -> dict[str, str]:
    """Environment of a process whose lock calls fail: the shim after what LD_PRELOAD already
    holds (the sanitizer runtimes must stay first)."""
    preload = " ".join(p for p in (os.environ.get("LD_PRELOAD", ""), str(shim)) if p)
    return {
        "LD_PRELOAD": preload,
        "RZ_SHIM_NO_FLOCK": "1" if no_flock else "0",
        "RZ_SHIM_NO_FCNTL": "1" if no_fcntl else "0",
    }


def spawn(cmd: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """cmd started with os.environ plus env, its output piped as text."""
    return subprocess.Popen(
        cmd,
        env=dict(os.environ, **env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """cmd run to its end with os.environ plus env, its output captured as text."""
    return subprocess.run(
        cmd,
        env=dict(os.environ, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
