"""Progress bars: drawn in a terminal (a real pseudo-terminal here) from the C core's progress
callback during slow loopback downloads, absent when piped or disabled, and the policy of
remotezoo._progressbar (what None/True/False/a callable mean, no tqdm, Jupyter)."""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import types
from functools import partial
from pathlib import Path
from typing import Optional

import pytest
import tqdm as tqdm_module
from helpers.fake_github import make_tarball
from helpers.servers import ByteRoute, LoopbackServer
from helpers.zoo import url_model, write_source

import remotezoo as rz
from remotezoo import _progressbar

ROOT = Path(__file__).resolve().parent.parent
SLOW = (32 * 1024, 0.05)  # 32 KiB every 50 ms: a 1 MiB file takes about 1.6 s


def run_in_pty(argv: list[str], env: dict[str, str], timeout: float = 60.0) -> tuple[int, str]:
    """Run argv with stdin, stdout and stderr on a 100-column pseudo-terminal; return the exit
    code and everything written to the terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError as err:  # EIO: the child closed the terminal
                if err.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm", COLUMNS="100", **extra)
    env.pop("REMOTEZOO_NO_PROGRESS", None)  # conftest turns bars off for the in-process tests
    env.update(extra)
    return env


def has_bar(text: str) -> bool:
    return "B/s" in text or "%|" in text


@pytest.fixture
def slow_model(http_server: LoopbackServer, tmp_path: Path) -> tuple[ByteRoute, Path]:
    """A registered source with model 'slow': a manager download of 1 MiB, trickled."""
    route = http_server.serve_bytes("/slow.bin", os.urandom(1 << 20), trickle=SLOW)
    src = write_source(
        tmp_path / "slow",
        [url_model("slow", "slow.bin", http_server.url("/slow.bin"), route.sha256)],
        init=None,
        name="slow",
    )
    rz.register_zoo_model_source(str(src))
    return route, Path(rz.home()) / "models" / "slow" / "slow.bin"


# ---- in a terminal, piped, disabled -----------------------------------------------------------


def test_cli_download_draws_a_bar_in_a_terminal(slow_model: tuple[ByteRoute, Path]) -> None:
    route, path = slow_model
    code, text = run_in_pty(
        [sys.executable, "-m", "remotezoo", "models", "download", "slow"], child_env()
    )
    assert code == 0, text
    assert path.read_bytes() == route.data
    assert has_bar(text), text
    assert "100%" in text and "B/s" in text and "slow" in text  # size, speed, and which model
    assert "Downloaded slow to " in text


def test_no_bar_when_piped(slow_model: tuple[ByteRoute, Path]) -> None:
    route, path = slow_model
    proc = subprocess.run(
        [sys.executable, "-m", "remotezoo", "models", "download", "slow", "--json"],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["model_path"] == str(path)
    assert proc.stderr == ""
    assert path.read_bytes() == route.data


def test_no_bar_with_remotezoo_no_progress(slow_model: tuple[ByteRoute, Path]) -> None:
    route, path = slow_model
    code, text = run_in_pty(
        [sys.executable, "-m", "remotezoo", "models", "download", "slow"],
        child_env(REMOTEZOO_NO_PROGRESS="1"),
    )
    assert code == 0, text
    assert not has_bar(text) and "%" not in text, text
    assert path.read_bytes() == route.data


def test_archive_source_fetch_draws_a_bar(http_server: LoopbackServer) -> None:
    files = {
        "manifest.json": json.dumps({"name": "arch", "models": [{"base_name": "m"}]}),
        "padding.bin": os.urandom(600_000).hex(),
    }  # hex: gzip cannot shrink it much
    http_server.serve_bytes("/zoo.tar.gz", make_tarball("zoo-main", files), trickle=SLOW)
    code, text = run_in_pty(
        [sys.executable, "-m", "remotezoo", "sources", "register", http_server.url("/zoo.tar.gz")],
        child_env(),
    )
    assert code == 0, text
    assert "Registered " in text and "(1 model)" in text
    assert has_bar(text), text


DOWNLOAD_FILE = "import sys, remotezoo; remotezoo.download_file(sys.argv[1], sys.argv[2]{extra})"


@pytest.mark.parametrize(
    "extra, bar", [("", False), (", progress=True", True), (", progress=False", False)]
)
def test_download_file_library_default_is_no_bar(
    http_server: LoopbackServer, tmp_path: Path, extra: str, bar: bool
) -> None:
    route = http_server.serve_bytes("/f.bin", os.urandom(1 << 20), trickle=SLOW)
    target = tmp_path / "f.bin"
    code, text = run_in_pty(
        [
            sys.executable,
            "-c",
            DOWNLOAD_FILE.format(extra=extra),
            http_server.url("/f.bin"),
            str(target),
        ],
        child_env(),
    )
    assert code == 0, text
    assert target.read_bytes() == route.data
    assert has_bar(text) is bar, text
    if bar:
        assert "100%" in text and "f.bin" in text


def test_download_file_inside_a_source_shows_a_bar_under_the_cli(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    route = http_server.serve_bytes("/weights.bin", os.urandom(1 << 20), trickle=SLOW)
    src = write_source(
        tmp_path / "dl",
        [{"base_name": "w", "base_filename": "w.bin"}],
        name="dl",
        init=f"""
        import remotezoo

        def download_model(model_name, model_path):
            remotezoo.download_file({http_server.url("/weights.bin")!r}, model_path)

        def load_model(model_name, model_path, **kwargs):
            return model_path
        """,
    )
    rz.register_zoo_model_source(str(src))
    code, text = run_in_pty(
        [sys.executable, "-m", "remotezoo", "models", "download", "w"], child_env()
    )
    assert code == 0, text
    assert has_bar(text) and "100%" in text, text
    assert (Path(rz.home()) / "models" / "dl" / "w.bin").read_bytes() == route.data


# ---- the policy, in process -------------------------------------------------------------------


def test_progress_for_meanings(monkeypatch: pytest.MonkeyPatch) -> None:
    def mine(done: int, total: Optional[int]) -> None:
        pass

    with _progressbar.progress_for(mine) as cb:
        assert cb is mine
    with _progressbar.progress_for(False) as cb:
        assert cb is None
    with _progressbar.progress_for(None, default=False) as cb:
        assert cb is None
    # conftest sets REMOTEZOO_NO_PROGRESS=1, and pytest's stderr is no terminal: no bar.
    with _progressbar.progress_for(True) as cb:
        assert cb is None
    monkeypatch.delenv("REMOTEZOO_NO_PROGRESS")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # as in Jupyter
    assert _progressbar.progress_enabled()
    with _progressbar.progress_for(None, desc="x") as cb:
        assert isinstance(cb, _progressbar.ProgressBar)
    with _progressbar.progress_for(None, default=False) as cb:
        assert cb is None
    monkeypatch.setenv("REMOTEZOO_NO_PROGRESS", "1")
    assert not _progressbar.progress_enabled()
    monkeypatch.setenv("REMOTEZOO_NO_PROGRESS", "0")
    assert _progressbar.progress_enabled()


def test_without_tqdm_there_is_no_bar_and_downloads_work(
    monkeypatch: pytest.MonkeyPatch, http_server: LoopbackServer, tmp_path: Path
) -> None:
    monkeypatch.delenv("REMOTEZOO_NO_PROGRESS")
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # import tqdm.auto raises ImportError
    assert _progressbar.default_progress() is None
    route = http_server.serve_bytes("/x.bin", os.urandom(100_000))
    assert rz.download_file(http_server.url("/x.bin"), tmp_path / "x.bin", progress=True) == str(
        tmp_path / "x.bin"
    )
    assert (tmp_path / "x.bin").read_bytes() == route.data


def test_progress_bar_draws_size_and_percent() -> None:
    out = io.StringIO()
    bar = _progressbar.ProgressBar(
        partial(tqdm_module.tqdm, file=out, mininterval=0), desc="weights"
    )
    for done in (0, 300_000, 700_000, 1_000_000):
        bar(done, 1_000_000)
    bar.close()
    text = out.getvalue()
    assert "weights" in text and "100%" in text and "977k/977k" in text  # KiB-based, as tqdm scales


def test_progress_bar_unknown_total_then_known() -> None:
    out = io.StringIO()
    bar = _progressbar.ProgressBar(partial(tqdm_module.tqdm, file=out, mininterval=0))
    bar(1024, None)
    bar(4096, 4096)
    bar.close()
    assert "100%" in out.getvalue()


def test_a_broken_bar_never_breaks_the_transfer(
    http_server: LoopbackServer, tmp_path: Path
) -> None:
    dead = io.StringIO()
    dead.close()  # tqdm's writes now raise ValueError
    bar = _progressbar.ProgressBar(partial(tqdm_module.tqdm, file=dead, mininterval=0))
    route = http_server.serve_bytes("/y.bin", os.urandom(300_000), trickle=(64 * 1024, 0.1))
    rz.download_file(http_server.url("/y.bin"), tmp_path / "y.bin", progress=bar)
    bar.close()
    assert (tmp_path / "y.bin").read_bytes() == route.data


def test_zoo_download_passes_a_callable_through(slow_model: tuple[ByteRoute, Path]) -> None:
    route, path = slow_model
    seen: list[tuple[int, Optional[int]]] = []
    model, model_path = rz.download_zoo_model("slow", progress=lambda d, t: seen.append((d, t)))
    assert model_path == str(path) and path.read_bytes() == route.data
    assert seen[-1] == (len(route.data), len(route.data))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
