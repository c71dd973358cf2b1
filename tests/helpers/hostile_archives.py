"""Build the archives remotezoo's extraction is tested with: good trees and a hostile corpus.

Archives are written with :mod:`tarfile` and :mod:`zipfile` from raw entries (no file system
needed, so names like ``../evil`` or ``/abs/evil`` and device nodes are easy to make). Bombs are
written by hand from a repeated deflate segment, so a 2 GiB member costs about 2 MB and no time.

Used by ``test_extract.py`` and by later tests that need a hostile source (a GitHub tarball that
escapes, say). Everything is written under a directory the caller gives (``tmp_path``).
"""

from __future__ import annotations

import functools
import io
import stat
import struct
import tarfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

# Compressions we produce for tar; "zst" goes through zstandard (the test extra), as Python
# 3.11's tarfile has no zstd.
TAR_KINDS = ("tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst")
KINDS = TAR_KINDS + ("zip",)

MTIME = 1_700_000_000  # a fixed, whole-second time for every entry


@dataclass(frozen=True)
class Entry:
    """One raw archive entry.

    kind is "file", "dir", "symlink", "hardlink", "chr", "blk" or "fifo"; target is the link
    target; mode the permission bits (with setuid etc. if wanted).
    """

    name: str
    kind: str = "file"
    data: bytes = b""
    target: str = ""
    mode: int = 0o644


def file(name: str, data: bytes = b"x", mode: int = 0o644) -> Entry:
    return Entry(name, "file", data=data, mode=mode)


def directory(name: str, mode: int = 0o755) -> Entry:
    return Entry(name, "dir", mode=mode)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, "symlink", target=target, mode=0o777)


def hardlink(name: str, target: str) -> Entry:
    return Entry(name, "hardlink", target=target)


# ---- writers -------------------------------------------------------------------------------

_TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def tar_bytes(entries: Iterable[Entry], pax_global: Optional[dict[str, str]] = None) -> bytes:
    """An uncompressed pax tar of entries, names exactly as given."""
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers=pax_global or {}
    ) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = _TAR_TYPES[e.kind]
            info.mode = e.mode
            info.mtime = MTIME
            info.uname = info.gname = "nobody"
            if e.kind in ("symlink", "hardlink"):
                info.linkname = e.target
            if e.kind in ("chr", "blk"):
                info.devmajor, info.devminor = 1, 3
            if e.kind == "file":
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return out.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    """data (a tar) compressed as the archive kind says ("tar" leaves it as it is)."""
    if kind == "tar":
        return data
    if kind == "tar.gz":
        import gzip

        return gzip.compress(data, mtime=0)
    if kind == "tar.bz2":
        import bz2

        return bz2.compress(data)
    if kind == "tar.xz":
        import lzma

        return lzma.compress(data)
    if kind == "tar.zst":
        import zstandard  # the test extra's; no zstd program needed

        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(kind)


_ZIP_FILE_TYPES = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "chr": stat.S_IFCHR,
    "blk": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}


def zip_bytes(entries: Iterable[Entry]) -> bytes:
    """A zip of entries, with Unix modes (symlinks as S_IFLNK members holding the target).
    Hard links cannot be expressed in zip: ValueError."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": wanted here
        for e in entries:
            if e.kind == "hardlink":
                raise ValueError("zip has no hard links")
            name = e.name + ("/" if e.kind == "dir" and not e.name.endswith("/") else "")
            info = zipfile.ZipInfo(name, date_time=time.gmtime(MTIME)[:6])
            info.filename = name  # ZipInfo may tidy the name; keep it raw
            info.create_system = 3  # Unix: external_attr carries st_mode
            info.external_attr = (_ZIP_FILE_TYPES[e.kind] | e.mode) << 16
            if e.kind == "dir":
                info.external_attr |= 0x10  # MS-DOS directory bit
            payload = e.target.encode() if e.kind == "symlink" else e.data
            zf.writestr(info, payload)
    return out.getvalue()


def write_archive(
    path: Path, entries: Sequence[Entry], kind: str, pax_global: Optional[dict[str, str]] = None
) -> Path:
    """Write entries to path as kind ("tar", "tar.gz", ..., "zip"); returns path."""
    if kind == "zip":
        path.write_bytes(zip_bytes(entries))
    else:
        path.write_bytes(compress(tar_bytes(entries, pax_global), kind))
    return path


def kinds_for(entries: Sequence[Entry]) -> tuple[str, ...]:
    """The kinds that can hold entries: tar always; zip has no hard links, and libarchive
    reads a zip member marked as a FIFO as a regular file (harmless, tested on its own)."""
    if any(e.kind in ("hardlink", "fifo") for e in entries):
        return ("tar", "tar.gz")
    return ("tar", "tar.gz", "zip")


# ---- the hostile corpus --------------------------------------------------------------------


@dataclass(frozen=True)
class Hostile:
    """A hostile archive: its entries, the entry the extraction must name, and the limits
    (keyword arguments of remotezoo._net.extract_archive) it is extracted with."""

    entries: tuple[Entry, ...]
    bad: str
    limits: dict = field(default_factory=dict)


def _long_name(total: int) -> str:
    parts, size = [], 0
    while size < total:
        parts.append("d" * 200)
        size += 201
    return "/".join(parts) + "/f"


HOSTILE: dict[str, Hostile] = {
    "dotdot": Hostile((file("../evil"),), "../evil"),
    "inner_dotdot": Hostile((file("a/../../evil"),), "a/../../evil"),
    "absolute": Hostile((file("/abs/evil"),), "/abs/evil"),
    "symlink_absolute": Hostile((symlink("link", "/etc/passwd"),), "link"),
    "symlink_dotdot": Hostile((symlink("link", "../.."),), "link"),
    "symlink_up_then_file": Hostile((symlink("link", ".."), file("link/x")), "link"),
    "symlink_dot_then_name_escape": Hostile(
        (symlink("a", "."), file("a/../../evil")), "a/../../evil"
    ),
    "symlink_dot_then_link_escape": Hostile((symlink("a", "."), symlink("b", "a/../..")), "b"),
    # Harmless when written, escaping once the link it goes through exists: caught at the end.
    "symlink_order_escape": Hostile((symlink("a", "x/.."), symlink("x", ".")), "a"),
    "symlink_nested_escape": Hostile(
        (directory("d"), symlink("d/up", ".."), symlink("e", "d/up/..")), "e"
    ),
    "through_symlink": Hostile((directory("sub"), symlink("s", "sub"), file("s/x")), "s/x"),
    "symlink_loop": Hostile((symlink("a", "b"), symlink("b", "a")), "a"),
    "hardlink_absolute": Hostile((hardlink("h", "/etc/passwd"),), "h"),
    "hardlink_dotdot": Hostile((hardlink("h", "../x"),), "h"),
    "hardlink_later": Hostile((hardlink("h", "later"), file("later")), "h"),
    "hardlink_to_dir": Hostile((directory("d"), hardlink("h", "d")), "h"),
    "hardlink_to_symlink": Hostile((file("f"), symlink("s", "f"), hardlink("h", "s")), "h"),
    "char_device": Hostile((Entry("null", "chr", mode=0o666),), "null"),
    "block_device": Hostile((Entry("disk", "blk", mode=0o660),), "disk"),
    "fifo": Hostile((Entry("pipe", "fifo"),), "pipe"),
    "duplicate_file": Hostile((file("x", b"one"), file("x", b"two")), "x"),
    "file_then_dir": Hostile((file("x"), directory("x")), "x/"),  # tar and zip name dirs "x/"
    "dir_then_symlink": Hostile((file("x/y"), symlink("x", ".")), "x"),
    "below_file": Hostile((file("x"), file("x/y")), "x/y"),
    "too_many_entries": Hostile(
        tuple(file(f"f{i:02d}") for i in range(20)), "f10", {"max_entries": 10}
    ),
    "too_long_path": Hostile((file(_long_name(600)),), _long_name(600), {"max_path": 512}),
    "too_many_bytes": Hostile(
        tuple(file(f"f{i}", bytes(400)) for i in range(5)), "f2", {"max_bytes": 1000}
    ),
}


# ---- bombs -------------------------------------------------------------------------------

BOMB_SIZE = 2 << 30  # 2 GiB of zeros
_SEGMENT = 1 << 20


@functools.cache
def _zero_segment() -> bytes:
    """Raw deflate of 1 MiB of zeros ending in a full flush: independent of what precedes it, so
    n copies are a valid deflate stream of n MiB (with a final block after them)."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(bytes(_SEGMENT)) + co.flush(zlib.Z_FULL_FLUSH)


def _deflate_prefix_zeros(prefix: bytes, zeros: int) -> bytes:
    """Raw deflate of prefix followed by zeros (a multiple of 1 MiB) zero bytes."""
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)  # empty last block
    return head + _zero_segment() * (zeros // _SEGMENT) + final


def gzip_bomb(path: Path, size: int = BOMB_SIZE) -> Path:
    """A tar.gz whose one member, "zeros", holds size (a multiple of 1 MiB) zero bytes."""
    assert size % _SEGMENT == 0
    info = tarfile.TarInfo("zeros")
    info.size = size
    info.mtime = MTIME
    header = info.tobuf(tarfile.PAX_FORMAT)
    tail = bytes(1024)  # the end-of-archive blocks (no padding: size is a multiple of 512)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(header) + co.flush(zlib.Z_FULL_FLUSH)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    last = co.compress(tail) + co.flush(zlib.Z_FINISH)
    body = head + _zero_segment() * (size // _SEGMENT) + last
    crc = zlib.crc32(tail, _crc_after(header, size))
    total = len(header) + size + len(tail)
    path.write_bytes(
        b"\x1f\x8b\x08\x00"
        + struct.pack("<I", 0)
        + b"\x02\x03"
        + body
        + struct.pack("<II", crc, total & 0xFFFFFFFF)
    )
    return path


@functools.cache
def _crc_after(prefix: bytes, zeros: int) -> int:
    """CRC-32 of prefix followed by zeros (a multiple of 1 MiB) zero bytes."""
    crc, block = zlib.crc32(prefix), bytes(_SEGMENT)
    for _ in range(zeros // _SEGMENT):
        crc = zlib.crc32(block, crc)
    return crc


def zip_bomb(path: Path, size: int = BOMB_SIZE, declared: Optional[int] = None) -> Path:
    """A zip whose one deflated member, "zeros", inflates to size zero bytes. declared (default:
    size) is the uncompressed size the headers claim, to test a member that lies."""
    data = _deflate_prefix_zeros(b"", size)
    crc = _crc_after(b"", size)
    usize = size if declared is None else declared
    name = b"zeros"
    dos_time, dos_date = 0, (44 << 9) | (1 << 5) | 1  # 2024-01-01
    local = (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            20,
            0,
            8,
            dos_time,
            dos_date,
            crc,
            len(data),
            usize,
            len(name),
            0,
        )
        + name
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            (3 << 8) | 20,
            20,
            0,
            8,
            dos_time,
            dos_date,
            crc,
            len(data),
            usize,
            len(name),
            0,
            0,
            0,
            0,
            (stat.S_IFREG | 0o644) << 16,
            0,
        )
        + name
    )
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(data), 0)
    path.write_bytes(local + data + central + end)
    return path
