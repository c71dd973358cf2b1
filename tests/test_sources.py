"""Sources: GitHub repos and refs through a fake GitHub on loopback, archive URLs in every
format, registration atomicity, the token's reach, offline mode, concurrency."""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
import zipfile
from pathlib import Path

import pytest
from helpers.fake_github import FakeGitHub, make_tarball
from helpers.servers import leftovers
from helpers.zoo import SIMPLE_INIT

import remotezoo as rz

TOKEN = "ghp_SECRET_token_0123456789"


def source_files(*names: str, name: str = "acme/zoo") -> dict[str, str]:
    models = [
        {"base_name": n, "base_filename": f"{n}.json", "version": "1.0", "tags": ["t"]}
        for n in names
    ]
    return {
        "manifest.json": json.dumps({"name": name, "models": models}),
        "__init__.py": SIMPLE_INIT,
    }


@pytest.fixture
def github(http_server, http_server2, monkeypatch, tmp_path):
    gh = FakeGitHub(http_server, http_server2, token=TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    return gh


def sources_dir() -> Path:
    return Path(rz.home()) / "sources"


def test_register_github_repo_default_branch(github):
    repo = github.add_repo("acme/models", source_files("alpha", "beta"))
    rz.register_zoo_model_source("acme/models")
    identity = f"{github.api_url}/acme/models"
    assert rz.list_zoo_model_sources() == [identity]
    assert rz.list_zoo_models() == ["alpha@1.0", "beta@1.0"]
    (info,) = rz.zoo_model_sources_info()
    assert info["sha"] == repo.refs["HEAD"] and info["kind"] == "github"
    # The tarball came from the second host, after the API redirected there.
    assert github.tarball_requests() == 1
    assert all(r.host == "127.0.0.2" for r in github.download.requests)
    assert rz.load_zoo_model("alpha").predict(2) == 6
    assert leftovers(rz.home()) == []


def test_spellings_of_one_repo_are_one_source(github):
    github.add_repo("acme/models", source_files("alpha"))
    for spec in (
        "acme/models",
        "Acme/Models",
        f"{github.api_url}/acme/models/",
        f"{github.api_url}/acme/models.git",
    ):
        rz.register_zoo_model_source(spec)
    assert len(rz.list_zoo_model_sources()) == 1
    assert github.tarball_requests() == 1


def test_refs_with_slashes_and_commits(github):
    repo = github.add_repo("acme/models", source_files("alpha"))
    branch_sha = repo.commit(source_files("alpha", "gamma", name="acme/feature"), ref="feature/new")
    rz.register_zoo_model_source(f"{github.api_url}/acme/models/tree/feature/new")
    assert rz.list_zoo_models(source="acme/models/feature/new") == ["alpha@1.0", "gamma@1.0"]
    rz.register_zoo_model_source(f"{github.api_url}/acme/models/commit/{repo.refs['HEAD']}")
    assert len(rz.list_zoo_model_sources()) == 2
    shas = {i["identity"]: i["sha"] for i in rz.zoo_model_sources_info()}
    assert shas[f"{github.api_url}/acme/models/tree/feature/new"] == branch_sha


def test_overwrite_refetches_only_when_the_sha_moved(github):
    repo = github.add_repo("acme/models", source_files("alpha"))
    rz.register_zoo_model_source("acme/models")
    rz.register_zoo_model_source("acme/models", overwrite=True)
    assert github.tarball_requests() == 1, "same sha: nothing downloaded again"
    old_trees = sorted(p.name for p in sources_dir().glob("*/*"))
    repo.commit(source_files("alpha", "delta"))
    rz.register_zoo_model_source("acme/models")
    assert github.tarball_requests() == 1, "no overwrite: the registered copy is kept"
    rz.register_zoo_model_source("acme/models", overwrite=True)
    assert github.tarball_requests() == 2
    assert rz.list_zoo_models() == ["alpha@1.0", "delta@1.0"]
    new_trees = sorted(p.name for p in sources_dir().glob("*/*"))
    assert len(new_trees) == 1 and new_trees != old_trees, "the old tree is removed"


def test_private_repo_needs_the_token_which_only_the_api_host_sees(github, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    github.add_repo("acme/private", source_files("secret-model"), private=True)
    with pytest.raises(rz.SourceError) as info:
        rz.register_zoo_model_source("acme/private")
    assert "GITHUB_TOKEN" in str(info.value) and "private" in str(info.value)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    rz.register_zoo_model_source("acme/private")
    assert rz.list_zoo_models() == ["secret-model@1.0"]
    api_auth = [r.headers.get("Authorization") for r in github.api.requests]
    assert api_auth and all(a == f"Bearer {TOKEN}" for a in api_auth[1:])
    assert all(r.headers.get("Authorization") is None for r in github.download.requests)
    for path in Path(rz.home()).rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in caplog.text


def test_wrong_token_message_never_shows_it(github, monkeypatch):
    github.add_repo("acme/private", source_files("m"), private=True)
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_WRONG_token_value")
    with pytest.raises(rz.SourceError) as info:
        rz.register_zoo_model_source("acme/private")
    assert "ghp_WRONG_token_value" not in str(info.value) and "GITHUB_TOKEN" in str(info.value)
    assert "ghp_WRONG_token_value" not in repr(info.value.__dict__)


def test_unknown_repo_and_ref(github):
    github.add_repo("acme/models", source_files("alpha"))
    with pytest.raises(rz.SourceError, match="acme/nothing"):
        rz.register_zoo_model_source("acme/nothing")
    with pytest.raises(rz.SourceError, match="no-such-branch"):
        rz.register_zoo_model_source("acme/models/no-such-branch")
    assert rz.list_zoo_model_sources() == []


def test_rate_limit(github):
    github.add_repo("acme/models", source_files("alpha"))
    github.rate_limited = True
    with pytest.raises(rz.RateLimitError) as info:
        rz.register_zoo_model_source("acme/models")
    assert info.value.http_status == 403 and "resets at" in str(info.value)
    assert isinstance(info.value, rz.HTTPStatusError)


def test_repo_without_manifest_keeps_nothing(github):
    github.add_repo("acme/empty", {"README.md": "nothing here"})
    with pytest.raises(rz.SourceError, match="no manifest.json"):
        rz.register_zoo_model_source("acme/empty")
    assert rz.list_zoo_model_sources() == []
    assert [p for p in sources_dir().rglob("*") if p.is_file()] == []


def test_repo_with_broken_manifest_keeps_nothing(github):
    github.add_repo("acme/broken", {"manifest.json": '{"models": [{"base_name": 3}]}'})
    with pytest.raises(rz.ManifestError) as info:
        rz.register_zoo_model_source("acme/broken")
    assert info.value.field == "base_name" and "acme/broken" in str(info.value)
    assert [p for p in sources_dir().rglob("*") if p.is_file()] == []


def test_several_source_dirs_in_one_repo(github):
    files = {f"zoo-a/{k}": v for k, v in source_files("a1", name="acme/a").items()}
    files.update({f"nested/zoo-b/{k}": v for k, v in source_files("b1", name="acme/b").items()})
    github.add_repo("acme/multi", files)
    rz.register_zoo_model_source("acme/multi")
    assert rz.list_zoo_models() == ["a1@1.0", "b1@1.0"]
    assert rz.load_zoo_model("b1").predict(1) == 3


def test_delete_source_removes_tree_and_models(github):
    github.add_repo("acme/models", source_files("alpha"))
    rz.register_zoo_model_source("acme/models")
    _, path = rz.download_zoo_model("alpha")
    assert os.path.exists(path)
    rz.delete_zoo_model_source("acme/models")
    assert not os.path.exists(path)
    assert list(sources_dir().iterdir()) == []
    with pytest.raises(rz.SourceError):
        rz.delete_zoo_model_source("acme/models")


def test_offline_mode(github, monkeypatch):
    github.add_repo("acme/models", source_files("alpha"))
    rz.register_zoo_model_source("acme/models")
    rz.download_zoo_model("alpha")
    github.add_repo("acme/other", source_files("omega"))
    monkeypatch.setenv("REMOTEZOO_OFFLINE", "1")
    before = len(github.api.requests)
    with pytest.raises(rz.OfflineError, match="REMOTEZOO_OFFLINE"):
        rz.register_zoo_model_source("acme/other")
    rz.register_zoo_model_source("acme/models")  # registered: nothing to fetch
    assert rz.load_zoo_model("alpha").predict(1) == 3
    assert len(github.api.requests) == before


ARCHIVE_FORMATS = ["zip", "tar", "tar.gz", "tgz", "tar.bz2", "tar.xz", "tar.zst"]


def make_archive(fmt: str, files: dict[str, str], prefix: str = "pkg-1.0") -> bytes:
    if fmt == "zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel, text in files.items():
                zf.writestr(f"{prefix}/{rel}", text)
        return buf.getvalue()
    compression = {
        "tar": "",
        "tar.gz": "gz",
        "tgz": "gz",
        "tar.bz2": "bz2",
        "tar.xz": "xz",
        "tar.zst": "zst",
    }[fmt]
    return make_tarball(prefix, files, compression)


@pytest.mark.parametrize("fmt", ARCHIVE_FORMATS)
def test_archive_urls_in_every_format(http_server2, fmt, tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    http_server2.serve_bytes(
        f"/dl/zoo.{fmt}", make_archive(fmt, source_files("arch", name=f"arch/{fmt}"))
    )
    url = http_server2.url(f"/dl/zoo.{fmt}") + "?download=1"
    rz.register_zoo_model_source(url)
    assert rz.list_zoo_model_sources() == [url]
    assert rz.list_zoo_models() == ["arch@1.0"]
    assert rz.load_zoo_model("arch").predict(3) == 9
    assert leftovers(rz.home()) == []


def test_archive_http_error(http_server2):
    with pytest.raises(rz.HTTPStatusError) as info:
        rz.register_zoo_model_source(http_server2.url("/missing.tar.gz"))
    assert info.value.http_status == 404 and info.value.url.endswith("/missing.tar.gz")
    assert rz.list_zoo_model_sources() == []


def test_hostile_archive_source_keeps_nothing(http_server2):
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b'{"models": []}'
        info = tarfile.TarInfo("../../escape/manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    http_server2.serve_bytes("/evil.tar.gz", buf.getvalue())
    with pytest.raises(rz.UnsafeArchiveError):
        rz.register_zoo_model_source(http_server2.url("/evil.tar.gz"))
    assert rz.list_zoo_model_sources() == []
    assert not (Path(rz.home()).parent / "escape").exists()
    assert [p for p in sources_dir().rglob("*") if p.is_file()] == []


def test_bad_specs(http_server2):
    for spec in (
        "not a spec",
        "ftp://example.com/x.zip",
        "https://example.com/page.html",
        "a/b/../c/..",
    ):
        with pytest.raises(rz.SourceError) as info:
            rz.register_zoo_model_source(spec)
        assert "\n" not in str(info.value)
    with pytest.raises(rz.SourceError) as info:
        rz.register_zoo_model_source("https://user:hunter2@example.com/x.zip")
    assert "hunter2" not in str(info.value)


def _register(queue, home: str, api: str) -> None:
    os.environ.update(REMOTEZOO_HOME=home, GITHUB_API_URL=api, GITHUB_SERVER_URL=api)
    try:
        rz.register_zoo_model_source("acme/models")
        queue.put(rz.list_zoo_models())
    except BaseException as err:
        queue.put(repr(err))


def test_concurrent_registration_fetches_once(github):
    github.add_repo("acme/models", source_files("alpha", "beta"))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_register, args=(queue, rz.home(), github.api_url)) for _ in range(6)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert results == [["alpha@1.0", "beta@1.0"]] * 6
    assert github.tarball_requests() == 1
    assert json.loads((Path(rz.home()) / "registry.json").read_text())["sources"][0][
        "identity"
    ].endswith("/acme/models")
    assert leftovers(rz.home()) == []
