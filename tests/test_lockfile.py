"""Lock files: `remotezoo lock` writes what a zoo is made of (commits, archive digests, model
digests recorded at download), `remotezoo sync` reproduces it on an empty machine byte for
byte, and REMOTEZOO_LOCKFILE (frozen mode) refuses whatever differs from it."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from helpers.fake_github import make_tarball
from helpers.zoo import SIMPLE_INIT, calls

import remotezoo as rz
from remotezoo import _core, _digest, _lockfile, _trust

ROOT = Path(__file__).resolve().parent.parent


def tree_digest(root: Path) -> str:
    """rz-tree-v1 as csrc/digest.h defines it, written again from the definition."""
    h = hashlib.sha256(b"rz-tree-v1\0")

    def walk(directory: Path, rel: str) -> None:
        for name in sorted(os.listdir(directory), key=os.fsencode):
            path, sub = directory / name, f"{rel}/{name}" if rel else name
            if path.is_symlink():
                h.update(b"l\0" + sub.encode() + b"\0" + os.readlink(path).encode() + b"\0")
            elif path.is_dir():
                h.update(b"d\0" + sub.encode() + b"\0")
                walk(path, sub)
            else:
                data = path.read_bytes()
                h.update(
                    b"f\0"
                    + sub.encode()
                    + b"\0"
                    + str(len(data)).encode()
                    + b"\0"
                    + hashlib.sha256(data).hexdigest().encode()
                    + b"\0"
                )

    walk(root, "")
    return h.hexdigest()


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def manager(name: str, filename: str, url: str, **config: object) -> dict:
    """A manifest entry of a model a URL manager downloads."""
    return {
        "base_name": name,
        "base_filename": filename,
        "manager": {"type": "x", "config": {"url": url, **config}},
    }


@pytest.fixture
def zoo(github, http_server, http_server2):
    """A GitHub source (branch main: a download_model model and a manager model) and an archive
    source (a directory model from an archive), registered and downloaded in the first home."""
    gh = github
    weights = http_server2.serve_bytes("/weights.bin", os.urandom(300_000))
    bundle = http_server2.serve_bytes(
        "/effdet.tar.gz", tar_gz({"effdet/a.bin": b"A" * 1000, "effdet/b/c.txt": b"c"})
    )
    manifest = {
        "name": "acme/zoo",
        "models": [
            {"base_name": "alpha", "base_filename": "alpha.json", "version": "1.0"},
            manager("weights", "weights.bin", http_server2.url("/weights.bin")),
        ],
    }
    repo = gh.add_repo(
        "acme/models",
        {"manifest.json": json.dumps(manifest), "__init__.py": SIMPLE_INIT},
        ref="main",
    )
    archive_manifest = {
        "name": "acme/archived",
        "models": [
            manager(
                "effdet",
                "effdet.tar.gz",
                http_server2.url("/effdet.tar.gz"),
                extract_archive=True,
            ),
        ],
    }
    source_archive = http_server.serve_bytes(
        "/archived.tar.gz",
        make_tarball("archived", {"manifest.json": json.dumps(archive_manifest)}),
    )
    github_spec = f"{gh.api_url}/acme/models/tree/main"
    archive_spec = http_server.url("/archived.tar.gz")
    rz.register_zoo_model_source(github_spec)
    rz.register_zoo_model_source(archive_spec)
    for name in ("alpha", "weights", "effdet"):
        rz.download_zoo_model(name)
    return {
        "github": gh,
        "repo": repo,
        "weights": weights,
        "bundle": bundle,
        "source_archive": source_archive,
        "github_spec": github_spec,
        "archive_spec": archive_spec,
    }


def models_on_disk() -> dict[str, tuple[str, int, str]]:
    return {
        name: _digest.digest(path) for name, (path, _) in rz.list_downloaded_zoo_models().items()
    }


def switch_home(monkeypatch, path: Path) -> None:
    monkeypatch.setenv("REMOTEZOO_HOME", str(path))


# ---- writing -----------------------------------------------------------------------------------


def test_the_lock_records_commits_archive_digests_and_model_digests(zoo, tmp_path):
    path = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(path))
    doc = json.loads(path.read_text())
    assert doc["remotezoo_lock"] == 1
    github, archive = sorted(doc["sources"], key=lambda s: s["kind"])[::-1]
    assert (
        github["kind"] == "github"
        and github["sha"] == zoo["repo"].refs["main"]
        and github["ref"] == "main"
    )
    assert archive["archive_sha256"] == zoo["source_archive"].sha256
    trees = {s["identity"]: s["tree"] for s in rz.zoo_model_sources_info()}
    assert github["tree_sha256"] == tree_digest(Path(trees[github["identity"]]))
    models = {m["name"]: m for s in doc["sources"] for m in s["models"]}
    assert models["weights"] == {
        "name": "weights",
        "kind": "file",
        "size": 300_000,
        "sha256": zoo["weights"].sha256,
    }
    effdet_dir = (
        Path(rz.find_zoo_model("effdet")).parent / "effdet"
    )  # the archive's layout: a link to it
    assert models["effdet"]["kind"] == "tree" and models["effdet"]["sha256"] == tree_digest(
        effdet_dir
    )
    # The digest was recorded when the download completed, not computed now.
    Path(rz.find_zoo_model("alpha")).write_text("changed after the download")
    assert json.loads(_lockfile.dumps(rz.lock_zoo(None)))["sources"] == doc["sources"]
    # Stable: the same state gives the same bytes; keys in a fixed order, one a line.
    rz.lock_zoo(str(tmp_path / "again.lock"))
    assert (tmp_path / "again.lock").read_text() == path.read_text()
    assert list(github) == ["identity", "spec", "kind", "ref", "sha", "tree_sha256", "models"]


def test_a_subset_and_the_command_line(zoo, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "remotezoo", "lock", "-o", "-", "weights"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert [[m["name"] for m in s["models"]] for s in doc["sources"]] == [["weights"]]
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "remotezoo",
            "lock",
            "-o",
            str(tmp_path / "x.lock"),
            "-s",
            zoo["archive_spec"],
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "1 source and 1 model" in run.stdout
    assert [s["kind"] for s in json.loads((tmp_path / "x.lock").read_text())["sources"]] == [
        "archive"
    ]


# ---- sync ----------------------------------------------------------------------------------------


def test_sync_into_an_empty_home_reproduces_commits_and_bytes(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    before = models_on_disk()
    locked_sha = zoo["repo"].refs["main"]
    # After the lock was written, the branch moved on: a sync still gets the locked commit.
    zoo["repo"].commit(
        {"manifest.json": json.dumps({"name": "acme/zoo", "models": []}), "__init__.py": ""},
        ref="main",
    )
    switch_home(monkeypatch, tmp_path / "second")
    done = rz.sync_zoo(str(lock))
    assert (
        sorted((d.what, d.action) for d in done)
        == [("model", "downloaded")] * 3 + [("source", "registered")] * 2
    )
    info = {s["kind"]: s for s in rz.zoo_model_sources_info()}
    assert info["github"]["sha"] == locked_sha and info["github"]["ref"] == "main"
    assert info["archive"]["archive_sha256"] == zoo["source_archive"].sha256
    assert models_on_disk() == before
    rz.lock_zoo(str(tmp_path / "second.lock"))
    assert (tmp_path / "second.lock").read_text() == lock.read_text()
    # Again: everything is verified, nothing fetched.
    requests = len(zoo["github"].download.requests)
    assert {d.action for d in rz.sync_zoo(str(lock))} == {"kept", "verified"}
    assert len(zoo["github"].download.requests) == requests


def test_sync_replaces_a_model_that_differs(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    path = Path(rz.find_zoo_model("weights"))
    data = bytearray(path.read_bytes())
    data[1000] ^= 1
    path.write_bytes(bytes(data))
    done = {d.name: d.action for d in rz.sync_zoo(str(lock)) if d.what == "model"}
    assert done == {"alpha@1.0": "verified", "weights": "replaced", "effdet": "verified"}
    assert path.read_bytes() == zoo["weights"].data


def test_a_lock_that_lies_about_a_model_keeps_nothing(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    doc = json.loads(lock.read_text())
    for source in doc["sources"]:
        for m in source["models"]:
            if m["name"] == "weights":
                m["sha256"] = "0" * 64
    lock.write_text(json.dumps(doc))
    switch_home(monkeypatch, tmp_path / "second")
    with pytest.raises(rz.ChecksumError, match="nothing was kept"):
        rz.sync_zoo(str(lock))
    assert "weights" not in rz.list_downloaded_zoo_models()
    assert not [p for p in (tmp_path / "second" / "models").rglob("*") if ".rz-" in p.name]


def test_a_lock_that_lies_about_a_tree_registers_nothing(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    doc = json.loads(lock.read_text())
    for source in doc["sources"]:
        source["tree_sha256"] = "1" * 64
    lock.write_text(json.dumps(doc))
    switch_home(monkeypatch, tmp_path / "second")
    with pytest.raises(rz.SourceError, match="nothing was registered"):
        rz.sync_zoo(str(lock))
    assert rz.list_zoo_model_sources() == []


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.update(remotezoo_lock=2), "newer than this remotezoo reads"),
        (lambda d: d.pop("remotezoo_lock"), "not a remotezoo lock file"),
        (lambda d: d["sources"][0].update(sha="../../etc"), "sources[0].sha must be a commit sha"),
        (
            lambda d: d["sources"][0].update(identity="https://evil.example/x.tar.gz"),
            "sources[0].identity is not the normalised identity of a github source",
        ),
        (lambda d: d["sources"][0].update(extra=1), "sources[0].extra is not a field"),
        (
            lambda d: d["sources"][0]["models"][0].update(size=-1),
            "size must be a non-negative integer",
        ),
        (
            lambda d: d["sources"][0]["models"][0].update(size=1 << 64),
            "sources[0].models[0].size must be",
        ),
        (
            lambda d: d["sources"][0]["models"][0].update(name="m\x1b]0;pwned\x07"),
            "models[0].name must be a model name",
        ),
        (
            lambda d: d["sources"][0]["models"][0].update(kind="link"),
            "models[0].kind must be 'file' or 'tree'",
        ),
        (
            lambda d: d["sources"][0]["models"][0].update(sha256="A" * 64),
            "models[0].sha256 must be 64 lowercase hex",
        ),
        (
            lambda d: d["sources"][0].update(tree_sha256="/etc/passwd"),
            "sources[0].tree_sha256 must be",
        ),
        (
            lambda d: d["sources"][0].update(kind="local"),
            "sources[0].identity is not the normalised identity of a local",
        ),
        (lambda d: d.update(sources={"a": 1}), "sources must be a list"),
        (
            lambda d: d["sources"][0]["models"].append(d["sources"][0]["models"][0]),
            "lists a model twice",
        ),
        (lambda d: d["sources"].append(d["sources"][0]), "lists a source twice"),
    ],
)
def test_a_malformed_lock_is_refused_naming_the_field(zoo, tmp_path, edit, message):
    path = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(path))
    doc = json.loads(path.read_text())
    doc["sources"].sort(key=lambda s: s["kind"] != "github")
    edit(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(rz.LockFileError, match=message.replace("[", r"\[").replace("]", r"\]")):
        rz.sync_zoo(str(path))


# ---- frozen mode ---------------------------------------------------------------------------------


def test_frozen_mode_refuses_a_drifted_source(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    locked_sha = zoo["repo"].refs["main"]
    files = dict(zoo["repo"].files, **{"__init__.py": SIMPLE_INIT + "\n# changed\n"})
    new_sha = zoo["repo"].commit(files, ref="main")
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    with pytest.raises(
        rz.SourceError, match=f"now names commit {new_sha}, but commit {locked_sha} was expected"
    ):
        rz.register_zoo_model_source(zoo["github_spec"], overwrite=True)
    assert {s["sha"] for s in rz.zoo_model_sources_info() if s["kind"] == "github"} == {locked_sha}
    assert rz.load_zoo_model("alpha").predict(2) == 6  # what matches the lock keeps working
    with pytest.raises(rz.LockFileError, match="is not in the lock file"):
        rz.register_zoo_model_source(f"{zoo['github'].api_url}/acme/other")
    # A source registered (at another commit) before the lock was frozen is refused when used.
    monkeypatch.delenv("REMOTEZOO_LOCKFILE")
    rz.register_zoo_model_source(zoo["github_spec"], overwrite=True)
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    with pytest.raises(rz.LockFileError, match=f"commit {new_sha}, the lock has {locked_sha}"):
        rz.download_zoo_model("weights")


def test_frozen_mode_holds_every_way_code_runs_to_the_lock(zoo, tmp_path, monkeypatch):
    """A source registered at another commit before the lock was frozen: its code is refused
    on every path that runs it, not only load_zoo_model's (a model's own load_model(), the
    finder a worker unpickling an object of it uses)."""
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    files = dict(zoo["repo"].files, **{"__init__.py": SIMPLE_INIT + "\n# changed\n"})
    zoo["repo"].commit(files, ref="main")
    rz.register_zoo_model_source(zoo["github_spec"], overwrite=True)
    module = _core.resolve_model(rz.home(), "alpha", None)["module"]
    log = Path(os.environ["RZ_TEST_CALL_LOG"])
    ran = calls(log)
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    with pytest.raises(rz.LockFileError, match="differs from the lock file"):
        rz.get_zoo_model("alpha").load_model()
    with pytest.raises(rz.LockFileError, match="none of it runs"):
        _core.module_spec(rz.home(), module, _trust.gate())
    assert calls(log) == ran  # nothing of the drifted code ran
    monkeypatch.delenv("REMOTEZOO_LOCKFILE")
    assert _core.module_spec(rz.home(), module, _trust.gate()) is not None


def test_frozen_mode_refuses_a_model_of_other_bytes_on_every_way_it_loads(
    zoo, tmp_path, monkeypatch
):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    locked = lock.read_text()
    doc = json.loads(locked)
    for source in doc["sources"]:
        for model in source["models"]:
            if model["name"] == "alpha@1.0":
                model["sha256"] = "0" * 64  # the lock says other bytes than were downloaded
    lock.write_text(json.dumps(doc))
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    for load in (
        lambda: rz.load_zoo_model("alpha"),
        lambda: rz.get_zoo_model("alpha").load_model(),
    ):
        with pytest.raises(rz.LockFileError, match="model 'alpha@1.0' differs from the lock file"):
            load()
    lock.write_text(locked)  # the lock of what was downloaded: it loads
    assert rz.get_zoo_model("alpha").load_model().predict(2) == 6


def test_frozen_mode_refuses_a_sync_of_another_lock(zoo, tmp_path, monkeypatch):
    """A sync registers and downloads: in frozen mode what it would install must be the frozen
    lock's, whatever lock file it was given."""
    frozen, other = tmp_path / "frozen.lock", tmp_path / "other.lock"
    rz.lock_zoo(str(frozen), sources=[zoo["github_spec"]])
    rz.lock_zoo(str(other))  # also the archive source
    switch_home(monkeypatch, tmp_path / "second")
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(frozen))
    with pytest.raises(
        rz.LockFileError,
        match=r"sync of .*other.lock differs from the lock file: source .* is not in it",
    ):
        rz.sync_zoo(str(other))
    assert rz.list_zoo_model_sources() == []
    doc = json.loads(frozen.read_text())
    doc["sources"][0]["models"][0]["sha256"] = "0" * 64  # same sources, one model at other bytes
    other.write_text(json.dumps(doc))
    with pytest.raises(rz.LockFileError, match="model .* is not in it as it is here"):
        rz.sync_zoo(str(other))
    assert rz.list_zoo_model_sources() == []
    assert {d.action for d in rz.sync_zoo(str(frozen))} == {"registered", "downloaded"}


def test_frozen_mode_refuses_a_changed_model(zoo, tmp_path, monkeypatch):
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    rz.delete_zoo_model("weights")
    zoo["weights"].data = os.urandom(300_000)  # the server now has other bytes under the same URL
    zoo["weights"].etag = '"v2"'
    with pytest.raises(rz.LockFileError, match="model 'weights'.*expected; nothing was kept"):
        rz.download_zoo_model("weights")
    assert not rz.is_zoo_model_downloaded("weights")
    # A model the lock does not list is refused before anything runs.
    doc = json.loads(lock.read_text())
    for source in doc["sources"]:
        source["models"] = [m for m in source["models"] if m["name"] != "alpha@1.0"]
    lock.write_text(json.dumps(doc))
    rz.delete_zoo_model("alpha")
    log = Path(os.environ["RZ_TEST_CALL_LOG"])
    before = calls(log)
    with pytest.raises(
        rz.LockFileError, match="model 'alpha@1.0' of source .* is not in the lock file"
    ):
        rz.load_zoo_model("alpha")
    assert calls(log) == before


def test_the_tree_digest_is_what_the_readme_defines(tmp_path):
    root = tmp_path / "t"
    (root / "sub" / "__pycache__").mkdir(parents=True)
    (root / "a").write_text("hi\n")
    (root / "sub" / "b").write_bytes(b"\x00\xff")
    (root / "sub" / "__pycache__" / "x.pyc").write_bytes(b"pyc")
    (root / "l").symlink_to("a")
    kind, size, sha = _digest.digest(root)
    assert (kind, size, sha) == ("tree", 3 + 2 + 3, tree_digest(root))
    assert _digest.digest(root, skip_pycache=True)[2] != sha
    assert _digest.digest(root / "a") == ("file", 3, hashlib.sha256(b"hi\n").hexdigest())
    assert _digest.digest(root / "l") == _digest.digest(root / "a")  # followed at the top


def test_a_lock_never_registers_a_local_directory_itself(tmp_path, monkeypatch):
    from helpers.zoo import model, write_source

    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    src = write_source(tmp_path / "zoo", [model("m")])
    rz.register_zoo_model_source(str(src))
    rz.download_zoo_model("m")
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    assert json.loads(lock.read_text())["sources"][0]["kind"] == "local"
    switch_home(monkeypatch, tmp_path / "second")
    with pytest.raises(rz.LockFileError, match="register the directory yourself"):
        rz.sync_zoo(str(lock))
    assert rz.list_zoo_model_sources() == [] and calls(tmp_path / "calls.log") == ["download:m"]
    rz.register_zoo_model_source(str(src))
    assert [d.action for d in rz.sync_zoo(str(lock))] == ["kept", "downloaded"]
    (src / "__init__.py").write_text(SIMPLE_INIT + "\n# edited\n")
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(lock))
    with pytest.raises(rz.LockFileError, match="its files changed"):
        rz.register_zoo_model_source(str(src))


def test_a_token_in_an_archive_url_stays_out_of_the_lock(http_server, tmp_path, monkeypatch):
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    manifest = {
        "name": "acme/z",
        "models": [
            {
                "base_name": "w",
                "base_filename": "w.bin",
                "manager": {"type": "x", "config": {"url": http_server.url("/w.bin")}},
            }
        ],
    }
    http_server.serve_bytes("/w.bin", b"w")
    http_server.serve_bytes("/z.tar.gz", make_tarball("z", {"manifest.json": json.dumps(manifest)}))
    url = http_server.url("/z.tar.gz?token=SECRET-TOKEN-123")
    rz.register_zoo_model_source(url)
    rz.download_zoo_model("w")
    lock = tmp_path / "remotezoo.lock"
    rz.lock_zoo(str(lock))
    text = lock.read_text()
    assert "SECRET-TOKEN-123" not in text and '"redacted": true' in text
    assert {d.action for d in rz.sync_zoo(str(lock))} == {
        "kept",
        "verified",
    }  # the registered one it stands for
    switch_home(monkeypatch, tmp_path / "second")
    with pytest.raises(rz.LockFileError, match="register it with them first"):
        rz.sync_zoo(str(lock))
    rz.register_zoo_model_source(url)
    assert [d.action for d in rz.sync_zoo(str(lock))] == ["kept", "downloaded"]
