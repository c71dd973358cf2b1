"""Air-gapped sites: `remotezoo export` writes sources, models and their lock file into one
archive; `remotezoo import` installs it on a machine with no network (REMOTEZOO_OFFLINE=1),
through remotezoo's own safe extraction, checking every digest before anything is registered."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from helpers.zoo import SIMPLE_INIT
from test_lockfile import manager, models_on_disk, tar_gz

import remotezoo as rz
from remotezoo import _lockfile

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def exported(github, http_server2, tmp_path):
    """A GitHub source with a download_model model, a manager model and an archive model (a
    link to a directory), downloaded and exported; the servers are gone afterwards."""
    gh = github
    http_server2.serve_bytes("/weights.bin", os.urandom(100_000))
    http_server2.serve_bytes(
        "/effdet.tar.gz", tar_gz({"effdet/a.bin": b"A" * 1000, "effdet/sub/b": b"b"})
    )
    manifest = {
        "name": "acme/zoo",
        "models": [
            {"base_name": "alpha", "base_filename": "alpha.json", "version": "1.0"},
            manager("weights", "weights.bin", http_server2.url("/weights.bin")),
            manager(
                "effdet",
                "effdet.tar.gz",
                http_server2.url("/effdet.tar.gz"),
                extract_archive=True,
            ),
        ],
    }
    gh.add_repo("acme/models", {"manifest.json": json.dumps(manifest), "__init__.py": SIMPLE_INIT})
    rz.register_zoo_model_source("acme/models")
    for name in ("alpha", "weights", "effdet"):
        rz.download_zoo_model(name)
    bundle = tmp_path / "bundle.tar.zst"
    run = subprocess.run(
        [sys.executable, "-m", "remotezoo", "export", "-o", str(bundle)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return {
        "bundle": bundle,
        "models": models_on_disk(),
        "sources": rz.zoo_model_sources_info(),
        "lock": _lockfile.dumps(rz.lock_zoo(None)),
    }


def second_home(monkeypatch, tmp_path) -> Path:
    home = tmp_path / "air-gapped"
    monkeypatch.setenv("REMOTEZOO_HOME", str(home))
    monkeypatch.setenv("REMOTEZOO_OFFLINE", "1")
    return home


def test_export_then_import_offline_loads_a_model(
    exported, monkeypatch, tmp_path, http_server, http_server2
):
    http_server.close()
    http_server2.close()  # no network at all, not just REMOTEZOO_OFFLINE
    home = second_home(monkeypatch, tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "remotezoo", "import", str(exported["bundle"])],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert run.returncode == 0, run.stderr
    assert rz.load_zoo_model("alpha").predict(2) == 6
    assert models_on_disk() == exported["models"]
    assert os.path.islink(rz.find_zoo_model("effdet"))  # the archive model's layout is kept
    (info,) = rz.zoo_model_sources_info()
    (before,) = exported["sources"]
    assert (info["identity"], info["sha"], info["tree_sha256"]) == (
        before["identity"],
        before["sha"],
        before["tree_sha256"],
    )
    assert _lockfile.dumps(rz.lock_zoo(None)) == exported["lock"]
    assert {v.status for v in rz.verify_zoo_cache()} == {"ok"}
    assert not [p for p in home.rglob("*") if ".rz-import" in p.name or ".tmp-" in p.name]
    # Importing again changes nothing.
    assert {d.action for d in rz.import_zoo(str(exported["bundle"]))} == {"kept"}


def test_an_import_is_not_trusted_unless_asked(exported, monkeypatch, tmp_path):
    second_home(monkeypatch, tmp_path)
    rz.import_zoo(str(exported["bundle"]))
    with pytest.raises(rz.UntrustedSourceError):
        rz.load_zoo_model("alpha", trust="strict")
    rz.import_zoo(str(exported["bundle"]), trust=True)
    assert rz.load_zoo_model("alpha", trust="strict").predict(2) == 6


def test_import_checks_against_a_lock_of_your_own(exported, monkeypatch, tmp_path):
    mine = tmp_path / "mine.lock"
    mine.write_text(
        exported["lock"].replace(json.loads(exported["lock"])["sources"][0]["sha"], "f" * 40)
    )
    second_home(monkeypatch, tmp_path)
    with pytest.raises(rz.BundleError, match="differs from your lock file"):
        rz.import_zoo(str(exported["bundle"]), lock=str(mine))
    assert rz.list_zoo_model_sources() == []


def test_frozen_mode_refuses_a_bundle_that_differs_from_the_lock(exported, monkeypatch, tmp_path):
    frozen = tmp_path / "frozen.lock"
    doc = json.loads(exported["lock"])
    doc["sources"][0]["models"] = [m for m in doc["sources"][0]["models"] if m["name"] != "weights"]
    frozen.write_text(json.dumps(doc))
    second_home(monkeypatch, tmp_path)
    monkeypatch.setenv("REMOTEZOO_LOCKFILE", str(frozen))
    with pytest.raises(
        rz.LockFileError, match="the bundle differs from the lock file: model 'weights'"
    ):
        rz.import_zoo(str(exported["bundle"]))
    assert rz.list_zoo_model_sources() == []
    frozen.write_text(exported["lock"])
    assert {d.action for d in rz.import_zoo(str(exported["bundle"]))} == {"registered", "placed"}


# ---- bundles that lie ----------------------------------------------------------------------------


def rewrite(bundle: Path, out: Path, change) -> Path:
    """A copy of bundle with its members changed by change(members: dict[name, (TarInfo, bytes)])."""
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bundle.read_bytes())).read()
    members: dict = {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for info in tar.getmembers():
            members[info.name] = (info, tar.extractfile(info).read() if info.isfile() else b"")
    change(members)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members.values():
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    out.write_bytes(zstandard.ZstdCompressor().compress(buf.getvalue()))
    return out


def replace_file(members: dict, name_part: str, data: bytes) -> None:
    for name, (info, _) in list(members.items()):
        if name_part in name and info.isfile():
            members[name] = (info, data)
            return
    raise AssertionError(name_part)


def test_a_bundle_whose_model_is_not_what_its_lock_says_installs_nothing(
    exported, monkeypatch, tmp_path
):
    lock = json.loads(exported["lock"])
    weights = next(m for m in lock["sources"][0]["models"] if m["name"] == "weights")["sha256"]
    bad = rewrite(
        exported["bundle"],
        tmp_path / "bad.tar.zst",
        lambda m: replace_file(m, f"models/{weights}/payload", b"other bytes"),
    )
    second_home(monkeypatch, tmp_path)
    with pytest.raises(rz.BundleError, match="model 'weights' does not match its lock file"):
        rz.import_zoo(str(bad))
    assert rz.list_zoo_model_sources() == []


def test_a_bundle_whose_code_is_not_its_trees_digest_installs_nothing(
    exported, monkeypatch, tmp_path
):
    bad = rewrite(
        exported["bundle"],
        tmp_path / "bad.tar.zst",
        lambda m: replace_file(m, "__init__.py", b"import os; os.system('echo pwned')\n"),
    )
    second_home(monkeypatch, tmp_path)
    with pytest.raises(rz.BundleError, match="does not match its lock file"):
        rz.import_zoo(str(bad))
    assert rz.list_zoo_model_sources() == []


def test_a_bundle_that_claims_a_trusted_commit_for_other_code_is_not_trusted(
    exported, monkeypatch, tmp_path
):
    # The whole bundle is consistent (its lock has the new tree's digest), and claims the commit
    # the user trusts: remotezoo cannot recompute a commit id from files, so trust is keyed to the
    # tree too, and this code is not trusted.
    def evil(members: dict) -> None:
        replace_file(members, "__init__.py", SIMPLE_INIT.encode() + b"\n# evil\n")

    bad = rewrite(exported["bundle"], tmp_path / "bad.tar.zst", evil)
    second_home(monkeypatch, tmp_path)
    rz.import_zoo(str(exported["bundle"]), trust=True)
    assert rz.load_zoo_model("alpha", trust="strict").predict(2) == 6
    tree_dir = Path(rz.zoo_model_sources_info()[0]["tree"])
    from remotezoo import _digest

    # A forged bundle: the same lock but for the tree digest, made consistent with the new code.
    staging = tmp_path / "staging"
    with tarfile.open(
        fileobj=io.BytesIO(
            zstandard.ZstdDecompressor().stream_reader(io.BytesIO(bad.read_bytes())).read()
        )
    ) as tar:
        # filter= is from Python 3.11.4 (Debian 12 has 3.11.2); our own bundle needs none
        tar.extractall(staging, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    slug = tree_dir.parent.parent.name
    forged_tree = _digest.digest(staging / "sources" / slug, skip_pycache=True)[2]

    def consistent(members: dict) -> None:
        evil(members)
        info, data = members["remotezoo.lock"]
        doc = json.loads(data)
        doc["sources"][0]["tree_sha256"] = forged_tree
        members["remotezoo.lock"] = (info, json.dumps(doc).encode())

    forged = rewrite(exported["bundle"], tmp_path / "forged.tar.zst", consistent)
    rz.delete_zoo_model_source(rz.list_zoo_model_sources()[0])
    rz.import_zoo(str(forged))
    assert (
        rz.zoo_model_sources_info()[0]["sha"] == exported["sources"][0]["sha"]
    )  # the claimed commit
    with pytest.raises(rz.UntrustedSourceError):
        rz.load_zoo_model("alpha", trust="strict", cache=False)


@pytest.mark.parametrize("name", ["../escape", "/abs/path", "sources/../../escape"])
def test_hostile_names_in_a_bundle_are_refused_by_the_extraction(
    exported, monkeypatch, tmp_path, name
):
    def add(members: dict) -> None:
        info = tarfile.TarInfo(name)
        members[name] = (info, b"x")

    bad = rewrite(exported["bundle"], tmp_path / "bad.tar.zst", add)
    home = second_home(monkeypatch, tmp_path)
    with pytest.raises(rz.UnsafeArchiveError):
        rz.import_zoo(str(bad))
    assert rz.list_zoo_model_sources() == [] and not (tmp_path / "escape").exists()
    assert not [p for p in home.rglob("*") if ".rz-import" in p.name]


def test_a_link_in_a_bundle_leading_out_of_its_model_is_refused(exported, monkeypatch, tmp_path):
    lock = json.loads(exported["lock"])
    effdet = next(m for m in lock["sources"][0]["models"] if m["name"] == "effdet")["sha256"]

    def link(members: dict) -> None:
        name = f"models/{effdet}/payload/peek"
        info = tarfile.TarInfo(name)
        info.type, info.linkname = tarfile.SYMTYPE, "../../../remotezoo.lock"
        members[name] = (info, b"")

    bad = rewrite(exported["bundle"], tmp_path / "bad.tar.zst", link)
    second_home(monkeypatch, tmp_path)
    with pytest.raises(rz.BundleError, match="link leading out of it"):
        rz.import_zoo(str(bad))
    assert rz.list_zoo_model_sources() == []


def test_a_planted_link_to_a_file_of_the_machine_is_not_exported(exported, tmp_path):
    path = Path(rz.find_zoo_model("weights"))
    path.unlink()
    path.symlink_to("/etc/hostname")
    with pytest.raises(rz.BundleError, match="outside its source's models folder"):
        rz.export_zoo(str(tmp_path / "leak.tar.zst"), models=["weights"])
    assert not (tmp_path / "leak.tar.zst").exists()
