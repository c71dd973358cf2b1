"""Extraction integrity: an archive cut anywhere (between two tar entries, inside a compressed
stream, without a zip's central directory) is an error through every entry point; the process
umask is never touched while other threads create files; symlink checks cost time linear in
the archive; 7-Zip archives go through the same checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import hostile_archives as ha
from helpers.hostile_archives import directory, file, symlink
from helpers.servers import LoopbackServer

import remotezoo
from remotezoo import _net

ENTRIES = [
    directory("top"),
    file("top/a", b"A" * 3000),
    file("top/b", b"B" * 5000),
    file("top/c", b"C" * 100),
]
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
    _net._extract_from_chunks([whole[: end + 512]], out / "dest")  # one zero block is a marker
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
    return [
        directory("top"),
        file("top/manifest.json", json.dumps(manifest).encode()),
        file("top/__init__.py", b"def download_model(n, p):\n    pass\n"),
        file("top/zoo.py", b"X = 1\n"),
    ]


@pytest.mark.parametrize("kind", ["tar", "tar.gz"])
def test_source_cut_between_entries_does_not_register(
    http_server: LoopbackServer, kind: str
) -> None:
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


# ---- the process umask -----------------------------------------------------------------------


def test_extraction_never_changes_the_umask_of_other_threads(tmp_path: Path) -> None:
    # libarchive's disk writer set the umask to 0 around every entry: a file another thread
    # created meanwhile got mode 0666. Extract while a thread creates files as fast as it can.
    entries = [directory("top")] + [file(f"top/f{i}", b"x") for i in range(300)]
    archive = tmp_path / "many.tar"
    archive.write_bytes(ha.tar_bytes(entries))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    old = os.umask(0o022)
    stop = threading.Event()
    modes: set[int] = set()
    created = [0]

    def create_files() -> None:
        path = os.fspath(scratch / "f")
        while not stop.is_set():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            modes.add(os.fstat(fd).st_mode & 0o777)
            os.close(fd)
            os.unlink(path)
            created[0] += 1

    thread = threading.Thread(target=create_files)
    thread.start()
    try:
        for i in range(10):
            _net.extract_archive(archive, tmp_path / f"out{i}")
    finally:
        stop.set()
        thread.join()
        os.umask(old)
    assert created[0] > 100
    assert modes == {0o644}
    assert (tmp_path / "out0" / "f0").stat().st_mode & 0o777 == 0o644  # modes set explicitly


# ---- symlink checks in linear time -------------------------------------------------------------

DEEP = "/".join(["d"] * 2048)  # a 4 KB link target of 2,048 components


def links_archive(path: Path, count: int) -> Path:
    """The issue's archive: count symlinks with 4 KB targets (an .xz of a few KB)."""
    entries = [directory("top")] + [symlink(f"top/l{i}", DEEP) for i in range(count)]
    path.write_bytes(ha.compress(ha.tar_bytes(entries), "tar.xz"))
    return path


# Under scripts/sanitize.sh (ASan + UBSan) the C code runs ~20 times slower: the CPU bounds
# below, each several times the linear cost and far below the quadratic one, scale with it.
SLOWDOWN = (
    20.0 if "asan" in os.environ.get("LD_PRELOAD", "") or os.environ.get("ASAN_OPTIONS") else 1.0
)


def cpu_seconds_of(call) -> float:
    """The CPU time of this thread spent in call (the extraction runs in it, GIL released):
    unlike wall time, it does not grow when other processes load the machine."""
    start = time.thread_time()
    call()
    return time.thread_time() - start


def test_symlink_checks_take_linear_time(tmp_path: Path) -> None:
    # Each step of a link's walk used to hash the whole path walked so far: 2,000 links of
    # 4,096 bytes took ~20 s of CPU, quadratic in the target's length. Now a step costs its
    # component: the same archive takes a few hundredths of a second (far less under 5 s even
    # with sanitizers), and doubling it doubles the work.
    small = links_archive(tmp_path / "small.tar.xz", 2000)
    assert small.stat().st_size < 16 * 1024
    spent = cpu_seconds_of(lambda: _net.extract_archive(small, tmp_path / "small"))
    assert spent < 5.0 * SLOWDOWN, spent
    assert len(os.listdir(tmp_path / "small")) == 2000


def test_links_through_links_are_capped(tmp_path: Path) -> None:
    # 40 hops (the most allowed) ending in a 4 KB path, reached by thousands of short links:
    # each check would walk the whole chain again. The walking of one extraction is capped at a
    # multiple of the archive's name bytes, so this is refused, quickly.
    chain = [symlink(f"top/c{i}", f"c{i + 1}") for i in range(39)] + [symlink("top/c39", DEEP)]
    entries = [directory("top")] + chain + [symlink(f"top/x{j}", "c0") for j in range(3000)]
    path = tmp_path / "hops.tar.xz"
    path.write_bytes(ha.compress(ha.tar_bytes(entries), "tar.xz"))
    with pytest.raises(remotezoo.UnsafeArchiveError, match="lead through each other too much"):
        _net.extract_archive(path, tmp_path / "hops")
    assert not (tmp_path / "hops").exists()


def test_a_few_links_through_links_are_fine(tmp_path: Path) -> None:
    chain = [symlink(f"top/c{i}", f"c{i + 1}") for i in range(29)] + [symlink("top/c29", "d/f")]
    entries = (
        [directory("top"), directory("top/d"), file("top/d/f")]
        + chain
        + [symlink(f"top/x{j}", "c0") for j in range(50)]
    )
    path = tmp_path / "hops.tar"
    path.write_bytes(ha.tar_bytes(entries))
    _net.extract_archive(path, tmp_path / "ok")
    assert (tmp_path / "ok" / "x49").read_bytes() == b"x"


def repeated_directory(count: int):
    """A tar stream of count entries of one directory with a 3 KB name, and no end marker."""
    name = "/".join(["d"] * 1500)
    one = ha.tar_bytes([directory(name)]).rstrip(b"\0")
    one += b"\0" * (-len(one) % 512)  # the entry's blocks, without the end-of-archive marker
    for _ in range(count // 16):
        yield one * 16


def test_repeated_long_directory_entries_take_linear_time(tmp_path: Path) -> None:
    # A directory may appear again. Each repeat of a 3 KB name used to hash every prefix of it
    # (~10 s of CPU for these 5,000); now it costs its length (well under a second).
    try:
        spent = cpu_seconds_of(
            lambda: pytest.raises(
                remotezoo.ArchiveError,
                _net._extract_from_chunks,
                repeated_directory(5000),
                tmp_path / "rep",
            ).match("without its end-of-archive marker")
        )
    finally:  # a 1,500-deep tree, if one was made, is too deep for pytest's cleanup
        subprocess.run(["rm", "-rf", os.fspath(tmp_path / "rep")], check=True)
    assert spent < 4.0 * SLOWDOWN, spent


@pytest.mark.slow
def test_repeated_long_directory_entries_are_capped(tmp_path: Path) -> None:
    # The names of all entries together, repeats included, are capped at 256 MiB: 100,000
    # repeats of 3 KB are refused after about 87,000.
    with pytest.raises(remotezoo.UnsafeArchiveError, match="names take more than 256 MiB"):
        _net._extract_from_chunks(
            repeated_directory(100_000), tmp_path / "rep", max_entries=200_000
        )
    assert not (tmp_path / "rep").exists()


# ---- 7-Zip (and RAR) -----------------------------------------------------------------------------


def sevenzip_bytes(entries: list, path: Path) -> Path:
    """A .7z of raw entries (names exactly as given), written with libarchive's own 7-Zip writer
    through ctypes: no 7z tool is needed, and hostile names are easy to make."""
    import ctypes
    import ctypes.util
    import stat as st

    lib = ctypes.CDLL(ctypes.util.find_library("archive") or "libarchive.so.13")
    lib.archive_write_new.restype = ctypes.c_void_p
    lib.archive_entry_new.restype = ctypes.c_void_p
    for fn in (
        "archive_write_set_format_7zip",
        "archive_write_close",
        "archive_write_free",
        "archive_entry_free",
    ):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    lib.archive_write_open_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.archive_write_header.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.archive_write_data.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.archive_write_data.restype = ctypes.c_ssize_t
    for fn in ("archive_entry_copy_pathname", "archive_entry_copy_symlink"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.archive_entry_set_filetype.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.archive_entry_set_perm.argtypes = [ctypes.c_void_p, ctypes.c_uint]
    lib.archive_entry_set_size.argtypes = [ctypes.c_void_p, ctypes.c_int64]
    types = {"file": st.S_IFREG, "dir": st.S_IFDIR, "symlink": st.S_IFLNK}
    a = lib.archive_write_new()
    assert lib.archive_write_set_format_7zip(a) == 0
    assert lib.archive_write_open_filename(a, os.fsencode(path)) == 0
    for e in entries:
        entry = lib.archive_entry_new()
        lib.archive_entry_copy_pathname(entry, e.name.encode())
        lib.archive_entry_set_filetype(entry, types[e.kind])
        lib.archive_entry_set_perm(entry, e.mode)
        lib.archive_entry_set_size(entry, len(e.data))
        if e.kind == "symlink":
            lib.archive_entry_copy_symlink(entry, e.target.encode())
        assert lib.archive_write_header(a, entry) == 0, e
        if e.data:
            assert lib.archive_write_data(a, e.data, len(e.data)) == len(e.data)
        lib.archive_entry_free(entry)
    assert lib.archive_write_close(a) == 0
    lib.archive_write_free(a)
    return path


def test_7z_extracts(tmp_path: Path) -> None:
    entries = [
        directory("top"),
        file("top/a", b"A" * 3000),
        file("top/run", b"#!", 0o755),
        directory("top/d"),
        symlink("top/d/up", "../a"),
    ]
    archive = sevenzip_bytes(entries, tmp_path / "good.7z")
    remotezoo.extract_archive(archive, tmp_path / "dest")
    assert (tmp_path / "dest" / "a").read_bytes() == b"A" * 3000
    assert (tmp_path / "dest" / "run").stat().st_mode & 0o777 == 0o755
    assert os.readlink(tmp_path / "dest" / "d" / "up") == "../a"


@pytest.mark.parametrize(
    "name",
    [
        "dotdot",
        "absolute",
        "link-absolute",
        "link-escape",
        "link-escape-after-strip",
        "below-a-link",
        "twice",
    ],
)
def test_7z_hostile_entries_are_refused(tmp_path: Path, name: str) -> None:
    cases = {
        "dotdot": [file("top/../evil")],
        "absolute": [file("/tmp/evil-7z-abs")],
        "link-absolute": [symlink("top/l", "/etc/passwd")],
        "link-escape": [directory("top"), symlink("top/l", "../../evil")],
        "link-escape-after-strip": [directory("top"), symlink("top/l", "../x")],
        "below-a-link": [
            directory("top"),
            directory("top/d"),
            symlink("top/l", "d"),
            file("top/l/evil"),
        ],
        "twice": [file("top/a"), file("top/a")],
    }
    archive = sevenzip_bytes(cases[name], tmp_path / "bad.7z")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(remotezoo.UnsafeArchiveError):
        remotezoo.extract_archive(archive, out / "dest")
    assert os.listdir(out) == []
    assert not os.path.lexists("/tmp/evil-7z-abs")


@pytest.mark.parametrize("missing", [1, 20, 100, 600])
def test_7z_cut_short_is_refused(tmp_path: Path, missing: int) -> None:
    entries = [directory("top")] + [file(f"top/f{i}", os.urandom(2000)) for i in range(5)]
    data = sevenzip_bytes(entries, tmp_path / "whole.7z").read_bytes()
    (tmp_path / "cut.7z").write_bytes(data[:-missing])
    with pytest.raises(remotezoo.ArchiveError):
        remotezoo.extract_archive(tmp_path / "cut.7z", tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("suffix", [".tbz", ".tar.bz", ".tbz2", ".7z"])
def test_new_archive_suffixes_register(
    http_server: LoopbackServer, tmp_path: Path, suffix: str
) -> None:
    entries = source_entries()
    if suffix == ".7z":
        body = sevenzip_bytes(entries, tmp_path / "src.7z").read_bytes()
    else:
        body = ha.compress(ha.tar_bytes(entries), "tar.bz2")
    http_server.serve_bytes("/dl/src" + suffix, body)
    remotezoo.register_zoo_model_source(http_server.url("/dl/src" + suffix) + "?token=x")
    assert remotezoo.list_zoo_models() == ["cut"]


def test_rar_source_is_refused_clearly_before_any_download(http_server: LoopbackServer) -> None:
    http_server.serve_bytes("/src.rar", b"Rar!\x1a\x07\x00" + b"\0" * 100)
    with pytest.raises(remotezoo.ArchiveError, match="RAR archives are not supported"):
        remotezoo.register_zoo_model_source(http_server.url("/src.rar"))
    assert http_server.requests_to("/src.rar") == []
    assert remotezoo.list_zoo_model_sources() == []


def test_extraction_never_calls_umask(tmp_path: Path) -> None:
    # The thread test above catches the race only when the threads interleave at the right
    # moment; this one is deterministic: umask() replaced (LD_PRELOAD) by one that exits.
    shim = tmp_path / "no_umask.c"
    shim.write_text(
        "#include <sys/types.h>\n#include <unistd.h>\n"
        "mode_t umask(mode_t m) { (void)m; _exit(87); }\n"
    )
    subprocess.run(["cc", "-shared", "-fPIC", "-o", tmp_path / "no_umask.so", shim], check=True)
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(ha.compress(ha.tar_bytes(ENTRIES + [symlink("top/l", "a")]), "tar.gz"))
    code = (
        "import sys; from remotezoo import _net; "
        "_net.extract_archive(sys.argv[1], sys.argv[2]); "
        "_net._extract_from_chunks([open(sys.argv[1], 'rb').read()], sys.argv[3])"
    )
    preload = ":".join(
        filter(None, [os.environ.get("LD_PRELOAD"), os.fspath(tmp_path / "no_umask.so")])
    )
    env = dict(os.environ, LD_PRELOAD=preload)  # after ASan's runtime, under sanitize.sh
    proc = subprocess.run(
        [sys.executable, "-c", code, archive, tmp_path / "d1", tmp_path / "d2"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr)
    assert sorted(os.listdir(tmp_path / "d2")) == ["a", "b", "c", "l"]
