"""Tests of remotezoo.extract_archive and the C extraction behind it (csrc/net/extract.c)."""

from __future__ import annotations

import _thread
import os
import random
import stat
import threading
from pathlib import Path

import pytest
from helpers import hostile_archives as ha
from helpers.hostile_archives import Entry, directory, file, hardlink, symlink

import remotezoo
from remotezoo import _net

# ---- helpers -------------------------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple]:
    """{relative path: ("file", bytes, mode) | ("dir", mode) | ("symlink", target)}."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode))
            else:
                out[rel] = ("file", path.read_bytes(), stat.S_IMODE(st.st_mode))
    return out


def expected(entries: list[Entry], strip_prefix: str = "") -> dict[str, tuple]:
    out: dict[str, tuple] = {}
    for e in entries:
        name = e.name[len(strip_prefix) :] if strip_prefix else e.name
        if not name:
            continue
        if e.kind == "file":
            out[name] = ("file", e.data, e.mode)
        elif e.kind == "dir":
            out[name] = ("dir", e.mode)
        elif e.kind == "symlink":
            out[name] = ("symlink", e.target)
    return out


def assert_clean(tmp_path: Path, dest: Path) -> None:
    """After a refused extraction: dest absent, no temp dir beside it, nothing written
    anywhere but the archives."""
    assert not os.path.lexists(dest)
    assert os.listdir(dest.parent) == [], os.listdir(dest.parent)
    escaped = [p for p in tmp_path.rglob("*") if "evil" in p.name]
    assert escaped == []
    assert not os.path.lexists("/abs/evil")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(where archives go, an empty directory to extract into)."""
    arch = tmp_path / "arch"
    out = tmp_path / "out"
    arch.mkdir()
    out.mkdir()
    return arch, out


TREE = [
    directory("top"),
    file("top/README.md", b"hello\n"),
    file("top/run.sh", b"#!/bin/sh\necho hi\n", 0o755),
    file("top/private", b"secret", 0o600),
    directory("top/empty"),
    directory("top/pkg"),
    file("top/pkg/__init__.py", b""),
    file("top/pkg/data.bin", bytes(range(256)) * 300),
    symlink("top/link", "pkg/__init__.py"),
    symlink("top/pkg/up", "../README.md"),
    symlink("top/dirlink", "pkg"),
    file("top/ünïcödé ✓.txt", "ümlaut".encode()),
]


# ---- good archives -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ha.KINDS)
def test_strips_single_top_level_dir(dirs, kind):
    arch, out = dirs
    path = ha.write_archive(arch / f"a.{kind}", TREE, kind)
    dest = out / "dest"
    assert remotezoo.extract_archive(path, dest) == str(dest)
    assert snapshot(dest) == expected(TREE, "top/")
    assert sorted(os.listdir(out)) == ["dest"]


@pytest.mark.parametrize("kind", ha.KINDS)
def test_keeps_top_level_dir_without_strip(dirs, kind):
    arch, out = dirs
    path = ha.write_archive(arch / f"a.{kind}", TREE, kind)
    dest = out / "dest"
    remotezoo.extract_archive(path, dest, strip_top_level=False)
    assert snapshot(dest) == expected(TREE)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert sorted(os.listdir(out)) == ["dest"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_no_strip_when_several_top_level_entries(dirs, kind):
    arch, out = dirs
    entries = [directory("a"), file("a/x", b"1"), file("b", b"2")]
    path = ha.write_archive(arch / f"a.{kind}", entries, kind)
    remotezoo.extract_archive(path, out / "dest")
    assert snapshot(out / "dest") == expected(entries)


def test_no_strip_when_single_top_level_entry_is_a_file(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar", [file("only.txt", b"1")], "tar")
    remotezoo.extract_archive(path, out / "dest")
    assert snapshot(out / "dest") == {"only.txt": ("file", b"1", 0o644)}


def test_github_tarball_with_pax_global_header(dirs):
    arch, out = dirs
    sha = "0123456789abcdef0123456789abcdef01234567"
    entries = [directory("user-repo-0123456"), file("user-repo-0123456/manifest.json", b"{}")]
    path = ha.write_archive(arch / "gh.tar.gz", entries, "tar.gz", pax_global={"comment": sha})
    remotezoo.extract_archive(path, out / "dest")
    assert snapshot(out / "dest") == {"manifest.json": ("file", b"{}", 0o644)}


def test_implicit_directories_and_dot_prefix(dirs):
    arch, out = dirs
    entries = [directory("./"), file("./a/b/c.txt", b"c"), directory("a/b")]
    path = ha.write_archive(arch / "a.tar", entries, "tar")
    remotezoo.extract_archive(path, out / "dest", strip_top_level=False)
    assert snapshot(out / "dest") == {
        "a": ("dir", 0o755),
        "a/b": ("dir", 0o755),
        "a/b/c.txt": ("file", b"c", 0o644),
    }


def test_hardlink_to_earlier_file_is_kept(dirs):
    arch, out = dirs
    entries = [file("f", b"data"), hardlink("h", "f")]
    path = ha.write_archive(arch / "a.tar", entries, "tar")
    remotezoo.extract_archive(path, out / "dest")
    f, h = out / "dest" / "f", out / "dest" / "h"
    assert h.read_bytes() == b"data"
    assert f.stat().st_ino == h.stat().st_ino


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_modes_are_sanitised(dirs, kind):
    arch, out = dirs
    entries = [
        file("suid", b"x", 0o4755),
        file("sgid", b"x", 0o2755),
        file("world", b"x", 0o666),
        file("none", b"x", 0o000),
        file("groupexec", b"x", 0o654),
        directory("sticky", 0o1777),
        directory("locked", 0o500),
        file("locked/f", b"x"),
    ]
    path = ha.write_archive(arch / f"a.{kind}", entries, kind)
    remotezoo.extract_archive(path, out / "dest")
    modes = {k: v[-1] for k, v in snapshot(out / "dest").items()}
    assert modes == {
        "suid": 0o755,
        "sgid": 0o755,
        "world": 0o644,
        "none": 0o600,
        "groupexec": 0o644,
        "sticky": 0o755,
        "locked": 0o700,
        "locked/f": 0o644,
    }


def test_mtime_is_restored(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar", [file("f"), directory("d")], "tar")
    remotezoo.extract_archive(path, out / "dest")
    assert (out / "dest" / "f").stat().st_mtime == ha.MTIME
    assert (out / "dest" / "d").stat().st_mtime == ha.MTIME


def test_empty_existing_destination_is_replaced(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar.gz", TREE, "tar.gz")
    (out / "dest").mkdir()
    remotezoo.extract_archive(path, out / "dest")
    assert snapshot(out / "dest") == expected(TREE, "top/")


def test_non_empty_destination_is_refused_and_untouched(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar.gz", TREE, "tar.gz")
    (out / "dest").mkdir()
    (out / "dest" / "keep").write_text("mine")
    with pytest.raises(OSError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert info.value.filename == str(out / "dest")
    assert snapshot(out / "dest") == {"keep": ("file", b"mine", 0o644)}
    assert os.listdir(out) == ["dest"]


def test_destination_that_is_a_file_is_refused(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar", TREE, "tar")
    (out / "dest").write_text("x")
    with pytest.raises(FileExistsError):
        remotezoo.extract_archive(path, out / "dest")
    assert (out / "dest").read_text() == "x"
    assert os.listdir(out) == ["dest"]


def test_missing_parent_is_an_os_error(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "a.tar", TREE, "tar")
    with pytest.raises(FileNotFoundError):
        remotezoo.extract_archive(path, out / "no" / "dest")
    assert os.listdir(out) == []


def test_missing_archive_is_an_os_error(dirs):
    arch, out = dirs
    with pytest.raises(FileNotFoundError) as info:
        remotezoo.extract_archive(arch / "nope.tar", out / "dest")
    assert info.value.filename == str(arch / "nope.tar")
    assert os.listdir(out) == []


# ---- bad and hostile archives --------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"this is not an archive" * 50, b"PK\x03\x04garbage" * 10, b"\x89PNG\r\n\x1a\n" + bytes(600)],
)
def test_unknown_format_is_an_archive_error(dirs, content):
    arch, out = dirs
    path = arch / "junk.bin"
    path.write_bytes(content)
    with pytest.raises(remotezoo.ArchiveError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert not isinstance(info.value, remotezoo.UnsafeArchiveError)
    assert str(path) in str(info.value)
    assert_clean(arch.parent, out / "dest")


def test_unknown_format_names_accepted_formats(dirs):
    arch, out = dirs
    path = arch / "junk.bin"
    path.write_bytes(b"nothing to see here" * 100)
    with pytest.raises(remotezoo.ArchiveError, match="tar.zst, zip or 7z"):
        remotezoo.extract_archive(path, out / "dest")


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.xz", "zip"])
def test_truncated_archive_is_an_archive_error(dirs, kind):
    arch, out = dirs
    entries = [file(f"f{i}", os.urandom(5000)) for i in range(10)]
    data = ha.write_archive(arch / f"full.{kind}", entries, kind).read_bytes()
    path = arch / f"cut.{kind}"
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(remotezoo.ArchiveError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert str(path) in str(info.value)
    assert_clean(arch.parent, out / "dest")


HOSTILE_CASES = [
    (name, kind) for name, case in ha.HOSTILE.items() for kind in ha.kinds_for(case.entries)
]


@pytest.mark.parametrize("name,kind", HOSTILE_CASES)
def test_hostile_archive_is_refused(dirs, name, kind):
    arch, out = dirs
    case = ha.HOSTILE[name]
    path = ha.write_archive(arch / f"{name}.{kind}", case.entries, kind)
    dest = out / "dest"
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        _net.extract_archive(os.fspath(path), os.fspath(dest), True, **case.limits)
    assert info.value.path == case.bad
    shown = case.bad if len(case.bad) <= 160 else case.bad[:100]  # long names are shortened
    assert f"'{shown}" in str(info.value)
    assert str(path) in str(info.value)
    assert_clean(arch.parent, dest)


def test_zip_fifo_member_becomes_a_regular_file(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "fifo.zip", [Entry("pipe", "fifo", mode=0o666)], "zip")
    remotezoo.extract_archive(path, out / "dest")
    assert snapshot(out / "dest") == {"pipe": ("file", b"", 0o644)}


def test_hostile_archive_through_public_api(dirs):
    arch, out = dirs
    path = ha.write_archive(arch / "bad.tar.gz", ha.HOSTILE["dotdot"].entries, "tar.gz")
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert isinstance(info.value, remotezoo.ArchiveError)
    assert info.value.path == "../evil"
    assert_clean(arch.parent, out / "dest")


def test_gzip_bomb_stops_at_the_byte_cap(dirs):
    arch, out = dirs
    path = ha.gzip_bomb(arch / "bomb.tar.gz")
    assert path.stat().st_size < 4 << 20
    with pytest.raises(remotezoo.UnsafeArchiveError, match="bytes of data") as info:
        _net.extract_archive(os.fspath(path), os.fspath(out / "dest"), max_bytes=10 << 20)
    assert info.value.path == "zeros"
    assert_clean(arch.parent, out / "dest")


def test_zip_bomb_stops_at_the_byte_cap(dirs):
    arch, out = dirs
    path = ha.zip_bomb(arch / "bomb.zip")
    with pytest.raises(remotezoo.UnsafeArchiveError, match="bytes of data") as info:
        _net.extract_archive(os.fspath(path), os.fspath(out / "dest"), max_bytes=10 << 20)
    assert info.value.path == "zeros"
    assert_clean(arch.parent, out / "dest")


def test_zip_member_lying_about_its_size_is_counted_as_it_inflates(dirs):
    """The declared size passes the cap; the inflated data does not."""
    arch, out = dirs
    path = ha.zip_bomb(arch / "liar.zip", size=8 << 20, declared=50)
    with pytest.raises(remotezoo.UnsafeArchiveError, match="more than 1000 bytes") as info:
        _net.extract_archive(os.fspath(path), os.fspath(out / "dest"), max_bytes=1000)
    assert info.value.path == "zeros"
    assert_clean(arch.parent, out / "dest")


def test_zip_member_with_more_data_than_declared_is_refused(dirs):
    arch, out = dirs
    path = ha.zip_bomb(arch / "liar.zip", size=8 << 20, declared=50)
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert info.value.path == "zeros"
    assert_clean(arch.parent, out / "dest")


def test_deep_tree_is_removed_after_a_refusal(dirs):
    """Cleanup holds one directory open at a time: depth beyond the fd limit is fine."""
    arch, out = dirs
    deep = "/".join(["a"] * 1500) + "/f"
    path = ha.write_archive(arch / "deep.tar", [file(deep, b"x"), file("../evil")], "tar")
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert info.value.path == "../evil"
    assert_clean(arch.parent, out / "dest")


def test_streaming_byte_cap_counts_data_without_declared_size(dirs):
    """Sizes in a stream are counted as the data arrives: a gzip bomb in a stream stops."""
    arch, out = dirs
    data = ha.gzip_bomb(arch / "bomb.tar.gz").read_bytes()
    chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        _net._extract_from_chunks(chunks, os.fspath(out / "dest"), max_bytes=10 << 20)
    assert info.value.path == "zeros"
    assert_clean(arch.parent, out / "dest")


@pytest.mark.parametrize(
    "size,reason", [(4097, "longer than 4096 bytes"), (4080, "longer than PATH_MAX")]
)
def test_default_path_limit(dirs, size, reason):
    """Names over 4096 bytes are refused, and so are shorter ones whose destination path
    (temporary directory included) would not fit in PATH_MAX."""
    arch, out = dirs
    name = "/".join(["n" * 200] * 21)[:size]
    assert len(name) == size
    path = ha.write_archive(arch / "a.tar", [file(name, b"deep")], "tar")
    with pytest.raises(remotezoo.UnsafeArchiveError, match=reason) as info:
        remotezoo.extract_archive(path, out / "dest")
    assert name.startswith(info.value.path[:4000])
    assert_clean(arch.parent, out / "dest")


def test_default_limits_allow_long_but_legal_names(dirs):
    arch, out = dirs
    name = "/".join(["n" * 200] * 15)  # 3014 bytes, under the 4096 default
    path = ha.write_archive(arch / "a.tar", [file(name, b"deep")], "tar")
    remotezoo.extract_archive(path, out / "dest", strip_top_level=False)
    assert (out / "dest" / name).read_bytes() == b"deep"


# ---- streaming -----------------------------------------------------------------------------


def chunked(data: bytes, size: int):
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("kind", ha.TAR_KINDS)
def test_stream_extracts_tar_kinds(dirs, kind):
    arch, out = dirs
    data = ha.write_archive(arch / f"a.{kind}", TREE, kind).read_bytes()
    _net._extract_from_chunks(iter(chunked(data, 1000)), os.fspath(out / "dest"))
    assert snapshot(out / "dest") == expected(TREE, "top/")


def test_stream_skips_empty_chunks(dirs):
    arch, out = dirs
    data = ha.write_archive(arch / "a.tar.gz", TREE, "tar.gz").read_bytes()
    chunks = [b""] + [c for part in chunked(data, 777) for c in (part, b"")]
    _net._extract_from_chunks(chunks, os.fspath(out / "dest"), strip_top_level=False)
    assert snapshot(out / "dest") == expected(TREE)


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.zst"])
def test_stream_truncated_is_an_archive_error(dirs, kind):
    arch, out = dirs
    entries = [file(f"f{i}", os.urandom(3000)) for i in range(10)]
    data = ha.write_archive(arch / f"a.{kind}", entries, kind).read_bytes()
    cut = data[: len(data) // 2 + 100]
    with pytest.raises(remotezoo.ArchiveError) as info:
        _net._extract_from_chunks(
            chunked(cut, 4096), os.fspath(out / "dest"), label="https://example.invalid/a"
        )
    assert not isinstance(info.value, remotezoo.UnsafeArchiveError)
    assert "https://example.invalid/a" in str(info.value)
    assert_clean(arch.parent, out / "dest")


def test_stream_refuses_zip(dirs):
    arch, out = dirs
    data = ha.write_archive(arch / "a.zip", TREE, "zip").read_bytes()
    with pytest.raises(remotezoo.ArchiveError, match="not a tar"):
        _net._extract_from_chunks([data], os.fspath(out / "dest"), label="a.zip")
    assert_clean(arch.parent, out / "dest")


def test_stream_hostile_is_refused(dirs):
    arch, out = dirs
    data = ha.write_archive(
        arch / "a.tar", ha.HOSTILE["symlink_order_escape"].entries, "tar"
    ).read_bytes()
    with pytest.raises(remotezoo.UnsafeArchiveError) as info:
        _net._extract_from_chunks([data], os.fspath(out / "dest"), label="src")
    assert info.value.path == "a"
    assert_clean(arch.parent, out / "dest")


class ReaderFailed(Exception):
    pass


def test_stream_reader_error_propagates_unchanged(dirs):
    arch, out = dirs
    data = ha.write_archive(
        arch / "a.tar", [file(f"f{i}", bytes(2000)) for i in range(20)], "tar"
    ).read_bytes()

    def chunks():
        yield data[:10000]
        raise ReaderFailed("connection reset")

    with pytest.raises(ReaderFailed, match="connection reset"):
        _net._extract_from_chunks(chunks(), os.fspath(out / "dest"))
    assert_clean(arch.parent, out / "dest")


def test_stream_rejects_non_bytes_chunks(dirs):
    arch, out = dirs
    with pytest.raises(TypeError):
        _net._extract_from_chunks(["text"], os.fspath(out / "dest"))
    assert_clean(arch.parent, out / "dest")


# ---- interruption --------------------------------------------------------------------------


def test_ctrl_c_interrupts_and_cleans_up(dirs):
    """A KeyboardInterrupt arriving while the C code runs (GIL released) stops it."""
    arch, out = dirs
    first = ha.tar_bytes([file(f"a{i:03d}", b"x" * 100) for i in range(200)])
    second = ha.tar_bytes([file(f"b{i:03d}", b"y" * 100) for i in range(200)])
    data = first[:-1024] + second  # one tar: the first part without its end blocks
    fifo = arch / "pipe.tar"
    os.mkfifo(fifo)

    def feed():
        with open(fifo, "wb") as f:
            f.write(data[: len(first) - 1024])
            f.flush()
            _thread.interrupt_main()  # as Ctrl-C: only flags the signal, nothing is interrupted
            try:
                f.write(data[len(first) - 1024 :])
                f.flush()
            except BrokenPipeError:  # the reader stopped, as it should
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            _net.extract_archive(os.fspath(fifo), os.fspath(out / "dest"), check_interval=0.0)
    finally:
        writer.join()
    assert_clean(arch.parent, out / "dest")


# ---- round trips of random trees -----------------------------------------------------------

NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-_. éü日本"
SAFE_MODES = [0o644, 0o600, 0o640, 0o755, 0o700, 0o750, 0o744]


def random_tree(rng: random.Random) -> list[Entry]:
    entries: list[Entry] = []
    dirs = [""]
    files: list[str] = []
    used: set[str] = set()
    for _ in range(rng.randint(1, 40)):
        parent = rng.choice(dirs)
        name = "".join(rng.choice(NAME_CHARS) for _ in range(rng.randint(1, 12)))
        if name in (".", "..") or name.startswith(".."):
            name = "n" + name
        path = f"{parent}/{name}" if parent else name
        if path in used:
            continue
        used.add(path)
        roll = rng.random()
        if roll < 0.25:
            entries.append(directory(path, rng.choice([0o755, 0o700, 0o750])))
            dirs.append(path)
        elif roll < 0.35 and files:
            target = rng.choice(files)
            rel = os.path.relpath(target, parent or ".")
            entries.append(symlink(path, rel))
        else:
            size = rng.choice([0, 1, 100, 4096, 70000])
            entries.append(file(path, rng.randbytes(size), rng.choice(SAFE_MODES)))
            files.append(path)
    return entries


@pytest.mark.parametrize("seed", range(12))
def test_random_trees_round_trip(dirs, seed):
    arch, out = dirs
    rng = random.Random(seed)
    entries = random_tree(rng)
    kind = ha.KINDS[seed % len(ha.KINDS)]
    path = ha.write_archive(arch / f"t{seed}.{kind}", entries, kind)
    remotezoo.extract_archive(path, out / "dest", strip_top_level=False)
    assert snapshot(out / "dest") == expected(entries)
    assert os.listdir(out) == ["dest"]
