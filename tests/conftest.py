"""Shared pytest fixtures. The test helpers themselves live in the helpers/ package
(helpers/servers.py, zoo.py, fake_github.py, hostile_archives.py), which the tests import.

``http_server``   a :class:`helpers.servers.LoopbackServer` on 127.0.0.1 (fresh per test).
``http_server2``  another one on 127.0.0.2, the "second host" (redirect and credential tests).
``github``        a :class:`helpers.fake_github.FakeGitHub` on those two, set as GITHUB_API_URL
                  and GITHUB_SERVER_URL, with RZ_TEST_CALL_LOG in the test's tmp_path.
``fast_network``  (autouse) environment for quick, hermetic network tests: no proxies, not
                  offline, short retry backoff and timeouts.
``isolated_home`` (autouse) an empty REMOTEZOO_HOME of its own for every test.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.fake_github import FakeGitHub
from helpers.servers import LoopbackServer


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer("127.0.0.1")
    yield server
    server.close()


@pytest.fixture
def http_server2() -> Iterator[LoopbackServer]:
    server = LoopbackServer("127.0.0.2")
    yield server
    server.close()


@pytest.fixture
def github(
    http_server: LoopbackServer,
    http_server2: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> FakeGitHub:
    gh = FakeGitHub(http_server, http_server2)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    return gh


@pytest.fixture(autouse=True)
def fast_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxies, online, short backoff: network tests stay on loopback and quick."""
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "REMOTEZOO_OFFLINE",
        "REMOTEZOO_MAX_ATTEMPTS",
        "REMOTEZOO_LOW_SPEED_TIME",
        "REMOTEZOO_LOW_SPEED_LIMIT",
        "REMOTEZOO_CONNECTIONS",
        "REMOTEZOO_PARALLEL_MIN_BYTES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,127.0.0.2,localhost")
    monkeypatch.setenv("REMOTEZOO_RETRY_BASE_MS", "20")
    monkeypatch.setenv("REMOTEZOO_CONNECT_TIMEOUT", "5")


@pytest.fixture(autouse=True, scope="session")
def ctrl_c_reaches_children() -> None:
    """Ctrl-C tests interrupt the children they start. A runner started in the background (a
    shell's `cmd &`, nohup) hands SIGINT over ignored, and an ignored signal stays ignored across
    exec: give this process Python's own handler, which every child then starts without."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test gets its own empty REMOTEZOO_HOME and no GitHub settings from the machine."""
    home = str(tmp_path_factory.mktemp("rzhome"))
    monkeypatch.setenv("REMOTEZOO_HOME", home)
    monkeypatch.setenv("REMOTEZOO_NO_PROGRESS", "1")
    for name in (
        "GITHUB_TOKEN",
        "GITHUB_API_URL",
        "GITHUB_SERVER_URL",
        "REMOTEZOO_REQUIREMENT_ERROR_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    return home
