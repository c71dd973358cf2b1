"""No header is silently dropped or cut: a long GITHUB_TOKEN (fine-grained tokens are long) is
sent, one that cannot be sent is a clear error, and a redirect to a long signed URL is
followed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.fake_github import FakeGitHub
from helpers.servers import LoopbackServer

import remotezoo as rz

SOURCE = {
    "manifest.json": json.dumps({"name": "acme/zoo", "models": [{"base_name": "alpha"}]}),
    "__init__.py": "def download_model(name, path):\n    open(path, 'w').close()\n",
}


def private_github(
    api: LoopbackServer, download: LoopbackServer, token: str, monkeypatch: pytest.MonkeyPatch
) -> FakeGitHub:
    gh = FakeGitHub(api, download, token=token)
    gh.add_repo("acme/models", SOURCE, private=True)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_TOKEN", token)
    return gh


@pytest.mark.parametrize("length", [1100, 4000, 8000])
def test_long_github_token_is_sent(
    http_server: LoopbackServer,
    http_server2: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    length: int,
) -> None:
    token = "github_pat_" + "A1b2" * (length // 4)
    private_github(http_server, http_server2, token, monkeypatch)
    rz.register_zoo_model_source("acme/models")  # a private repo: found only with the token
    assert rz.list_zoo_models() == ["alpha"]
    sent = {r.headers.get("Authorization") for r in http_server.requests}
    assert sent == {f"Bearer {token}"}


@pytest.mark.parametrize(
    "token, match",
    [
        ("ghp_" + "x" * 9000, r"GITHUB_TOKEN is 9004 bytes long"),
        ("ghp_abc\r\nX-Evil: 1", "GITHUB_TOKEN is not a valid token"),
        ("ghp_abc def", "GITHUB_TOKEN is not a valid token"),
    ],
)
def test_unsendable_github_token_is_a_clear_error(
    http_server: LoopbackServer,
    http_server2: LoopbackServer,
    monkeypatch: pytest.MonkeyPatch,
    token: str,
    match: str,
) -> None:
    private_github(http_server, http_server2, token, monkeypatch)
    with pytest.raises(rz.SourceError, match=match) as info:
        rz.register_zoo_model_source("acme/models")
    assert token not in str(info.value) and "abc" not in str(info.value)
    assert http_server.requests == []  # nothing was sent without the token


def test_redirect_to_a_long_signed_url_is_followed(
    http_server: LoopbackServer, http_server2: LoopbackServer, tmp_path: Path
) -> None:
    http_server2.serve_bytes("/blob", b"payload" * 100)
    signed = http_server2.url("/blob") + "?X-Amz-Signature=" + "f" * 3000
    http_server.redirect("/m", signed)
    rz.download_file(http_server.url("/m"), tmp_path / "m")
    assert (tmp_path / "m").read_bytes() == b"payload" * 100
