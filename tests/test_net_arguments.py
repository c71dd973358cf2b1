"""Legal long target names (243-255 bytes) work everywhere a temporary is made beside them, and
every argument of every remotezoo._net function is checked: a wrong type is a TypeError naming
it, a bad value a ValueError -- never an AttributeError or a silently cut string."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import hostile_archives as ha
from helpers.servers import LoopbackServer, leftovers

import remotezoo
from remotezoo import _net

DATA = b"0123456789" * 1000


@pytest.mark.parametrize("length", [242, 243, 250, 255])
def test_download_to_a_long_legal_name(
    http_server: LoopbackServer, tmp_path: Path, length: int
) -> None:
    http_server.serve_bytes("/m", DATA, drop_after=3000)  # resumed: the temp file lives on
    target = tmp_path / ("n" * length)
    remotezoo.download_file(http_server.url("/m"), target)
    assert target.read_bytes() == DATA and leftovers(tmp_path) == []


@pytest.mark.parametrize("length", [243, 255])
def test_extract_to_a_long_legal_name(tmp_path: Path, length: int) -> None:
    archive = tmp_path / "a.tar"
    archive.write_bytes(ha.tar_bytes([ha.directory("top"), ha.file("top/f")]))
    dest = tmp_path / ("d" * length)
    remotezoo.extract_archive(archive, dest)
    assert (dest / "f").read_bytes() == b"x"
    assert sorted(os.listdir(tmp_path)) == sorted(["a.tar", dest.name])


def test_multibyte_long_name(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    target = tmp_path / ("é" * 127)  # 254 bytes of UTF-8: the temp name is cut inside a char
    remotezoo.download_file(http_server.url("/m"), target)
    assert target.read_bytes() == DATA and leftovers(tmp_path) == []


def test_name_over_255_bytes_is_an_os_error(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    with pytest.raises(OSError):
        remotezoo.download_file(http_server.url("/m"), tmp_path / ("n" * 256))
    assert os.listdir(tmp_path) == []


# ---- argument checks ---------------------------------------------------------------------------


@pytest.mark.parametrize("headers", ["x", b"x", ["a: b"], [("a", "b")], 3])
def test_download_file_headers_must_be_a_dict(tmp_path: Path, headers: object) -> None:
    with pytest.raises(TypeError, match="headers must be a dict of str to str"):
        _net.download_file("http://127.0.0.1:9/", tmp_path / "f", headers=headers)


@pytest.mark.parametrize("headers", [{"a": 1}, {1: "a"}, {"a": b"b"}])
def test_download_file_header_names_and_values_must_be_str(tmp_path: Path, headers: dict) -> None:
    with pytest.raises(TypeError, match="headers must be a dict of str to str"):
        _net.download_file("http://127.0.0.1:9/", tmp_path / "f", headers=headers)


def test_header_with_nul_is_refused_not_cut(http_server: LoopbackServer, tmp_path: Path) -> None:
    http_server.serve_bytes("/m", DATA)
    with pytest.raises(ValueError, match="NUL"):
        _net.download_file(http_server.url("/m"), tmp_path / "f", headers={"X-A": "ok\0Host: evil"})
    assert http_server.requests_to("/m") == []


@pytest.mark.parametrize(
    "call",
    [
        lambda p: _net.download_file(3, p),
        lambda p: _net.download_file("http://127.0.0.1:9/", 3),
        lambda p: _net.download_file("http://127.0.0.1:9/", p, sha256=b"00"),
        lambda p: _net.download_file("http://127.0.0.1:9/", p, progress=3),
        lambda p: _net.http_get(3),
        lambda p: _net.http_get("http://127.0.0.1:9/", wanted="ETag"),
        lambda p: _net.http_get("http://127.0.0.1:9/", wanted=[3]),
        lambda p: _net.http_get("http://127.0.0.1:9/", wanted=3),
        lambda p: _net.http_get("http://127.0.0.1:9/", headers="x"),
        lambda p: _net.http_get("http://127.0.0.1:9/", max_bytes="1"),
        lambda p: _net.stream_get(3),
        lambda p: _net.extract_archive(3, p),
        lambda p: _net.extract_archive(p, 3),
        lambda p: _net.extract_archive(p, p, max_bytes="1"),
        lambda p: _net.extract_archive(p, p, max_entries=1.5),
        lambda p: _net.extract_archive(p, p, check_interval="1"),
        lambda p: _net._extract_from_chunks(3, p),
        lambda p: _net._extract_from_chunks([], p, label=3),
    ],
    ids=lambda c: "",
)
def test_wrong_types_are_type_errors(tmp_path: Path, call) -> None:
    with pytest.raises(TypeError):
        call(tmp_path / "x")


@pytest.mark.parametrize(
    "call",
    [
        lambda p: _net.download_file("http://127.0.0.1:9/\0x", p),
        lambda p: _net.http_get("http://127.0.0.1:9/", wanted=["a\0b"]),
        lambda p: _net.http_get("http://127.0.0.1:9/", max_bytes=-1),
        lambda p: _net.http_get("http://127.0.0.1:9/", wanted=["a"] * 9),
        lambda p: _net.extract_archive(p, p, max_bytes=-1),
        lambda p: _net.extract_archive(p, p, max_path=10**9),
        lambda p: _net.extract_archive(p, p, check_interval=float("nan")),
        lambda p: _net.extract_archive(p, p, check_interval=-1.0),
    ],
    ids=lambda c: "",
)
def test_bad_values_are_value_errors(tmp_path: Path, call) -> None:
    with pytest.raises(ValueError):
        call(tmp_path / "x")
