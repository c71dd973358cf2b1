"""Extraction integrity: an archive cut anywhere (between two tar entries, inside a compressed
stream, without a zip's central directory) is an error through every entry point; the process
umask is never touched while other threads create files; symlink checks cost time linear in
the archive; 7-Zip archives go through the same checks."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

import hostile_archives as ha
import remotezoo
from conftest import LoopbackServer
from hostile_archives import directory, file, symlink
from remotezoo import _net

ENTRIES = [directory("top"), file("top/a", b"A" * 3000), file("top/b", b"B" * 5000), file("top/c", b"C" * 100)]
CUT_BETWEEN = 512 + 512 + 3072  # the "top" header, then "top/a" with its data: "top/b" is missing


def cut_tar(kind: str, cut: int = CUT_BETWEEN) -> bytes:
    return ha.compress(ha.tar_bytes(ENTRIES)[:cut], kind)


def assert_nothing_left(out: Path) -> None:
    assert not (out / "dest").exists()
    assert [p.name for p in out.parent.iterdir() if ".tmp-" in p.name] == []


@pytest.fixture
def out(tmp_path: Path) -> Path:
    (tmp_path / "out").mkdir()
    return tmp_path / "out"


# ---- archives cut short --------------------------------------------------------------------

@pytest.mark.parametrize("kind", ha.TAR_KINDS)
def test_tar_cut_between_entries_is_refused_from_a_file(out: Path, kind: str) -> None:
    path = out.parent / f"cut.{kind}"
    path.write_bytes(cut_tar(kind))
    with pytest.raises(remotezoo.ArchiveError, match="without its end-of-archive marker"):
        _net.extract_archive(path, out / "dest")
    assert_nothing_left(out)


@pytest.mark.parametrize("kind", ha.TAR_KINDS)
def test_tar_cut_between_entries_is_refused_from_a_stream(out: Path, kind: str) -> None:
    data = cut_tar(kind)
    with pytest.raises(remotezoo.ArchiveError, match="without its end-of-archive marker"):
        _net._extract_from_chunks([data[:700], data[700:]], out / "dest")
    assert_nothing_left(out)


def test_tar_without_its_end_marker_is_refused(out: Path) -> None:
    whole = ha.tar_bytes(ENTRIES)
    end = 512 * 4 + 3072 + 5120 + 512  # every entry, then nothing
    with pytest.raises(remotezoo.ArchiveError, match="after 4 entries without its end-of-archive"):
        _net._extract_from_chunks([whole[:end]], out / "dest")
    _net._extract_from_chunks([whole[:end + 512]], out / "dest")  # one zero block is a marker
    assert sorted(os.listdir(out / "dest")) == ["a", "b", "c"]


@pytest.mark.parametrize("kind", ["tar.gz", "tar.bz2", "tar.xz", "tar.zst"])
@pytest.mark.parametrize("missing", [1, 4, 8, 12, 100])
def test_compressed_stream_cut_anywhere_is_refused(out: Path, kind: str, missing: int) -> None:
    data = ha.compress(ha.tar_bytes(ENTRIES), kind)[:-missing]
    (out.parent / "a").write_bytes(data)
    with pytest.raises(remotezoo.ArchiveError, match="truncated") as info:
        _net.extract_archive(out.parent / "a", out / "dest")
    assert "unknown error" not in str(info.value)
    with pytest.raises(remotezoo.ArchiveError, match="truncated"):
        _net._extract_from_chunks([data], out / "dest")
    assert_nothing_left(out)


@pytest.mark.parametrize("missing", [1, 22, 60, 200])
def test_zip_without_its_central_directory_is_refused(out: Path, missing: int) -> None:
    (out.parent / "a.zip").write_bytes(ha.zip_bytes(ENTRIES)[:-missing])
    with pytest.raises(remotezoo.ArchiveError):
        _net.extract_archive(out.parent / "a.zip", out / "dest")
    assert_nothing_left(out)


def source_entries() -> list:
    manifest = {"name": "acme/cut", "models": [{"base_name": "cut", "base_filename": "cut.bin"}]}
    return [directory("top"),
            file("top/manifest.json", json.dumps(manifest).encode()),
            file("top/__init__.py", b"def download_model(n, p):\n    pass\n"),
            file("top/zoo.py", b"X = 1\n")]


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_source_cut_between_entries_does_not_register(http_server: LoopbackServer, kind: str) -> None:
    # The server sends its whole (short) body honestly: only the missing marker tells.
    whole = ha.tar_bytes(source_entries())
    cut = whole.index(b"top/zoo.py") // 512 * 512  # just before the last entry's header
    http_server.serve_bytes(f"/src.{kind}", ha.compress(whole[:cut], kind))
    with pytest.raises(remotezoo.ArchiveError, match="end-of-archive marker"):
        remotezoo.register_zoo_model_source(http_server.url(f"/src.{kind}"))
    assert remotezoo.list_zoo_model_sources() == []
    http_server.serve_bytes(f"/src.{kind}", ha.compress(whole, kind))
    remotezoo.register_zoo_model_source(http_server.url(f"/src.{kind}"))
    assert remotezoo.list_zoo_models() == ["cut"]
