"""Type stubs for ``remotezoo._net``, the C extension of downloads (libcurl) and archives
(libarchive), imported on first use (csrc/net/net.h says why). Errors are ``remotezoo._core``'s
exception types.
"""

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Callable, Optional, Union

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_Progress = Optional[Callable[[int, Optional[int]], object]]

# ---- module (csrc/py/net/net_module.c) -----------------------------------------------------------

_api: object
"""The engines' table (csrc/net/net.h) as a capsule, for remotezoo._core."""

def library_versions() -> dict[str, str]:
    """The runtime versions of the C libraries remotezoo is linked with:
    ``{'libcurl': ..., 'libarchive': ..., 'cjson': ...}``."""

# ---- transfers (csrc/py/net/py_fetch.c) ----------------------------------------------------------

def download_file(
    url: str,
    path: _Path,
    *,
    sha256: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    progress: _Progress = None,
) -> None:
    """Download *url* to *path* atomically (temp file + rename), with retries, resume and an
    optional sha256 check; see :func:`remotezoo.download_file`. *progress* is called as
    ``progress(done, total)`` about four times a second and once at the end."""

def http_get(
    url: str,
    *,
    headers: Optional[Mapping[str, str]] = None,
    wanted: Sequence[str] = (),
    max_bytes: int = 1048576,
) -> tuple[int, bytes, dict[str, Optional[str]]]:
    """A small GET: any status is a result. *wanted* names response headers to return (at most
    8). Returns ``(status, body, headers)``. For the source layer and tests."""

def stream_get(url: str, /) -> tuple[int, bytes, int]:
    """Read *url* through the pull stream; ``(status, body, reads)``. For tests."""

# ---- archives (csrc/py/net/py_extract.c) ---------------------------------------------------------

def extract_archive(
    archive_path: _Path,
    dest_dir: _Path,
    strip_top_level: bool = True,
    *,
    max_bytes: Optional[int] = None,
    max_entries: Optional[int] = None,
    max_path: Optional[int] = None,
    check_interval: float = 0.1,
) -> None:
    """Safely extract a tar(.gz/.bz2/.xz/.zst) or zip file into *dest_dir*, which must not
    exist or be empty; see :func:`remotezoo.extract_archive`. The caps default to 32 GiB,
    1,000,000 entries and 4096 bytes of path; *check_interval* is how often (seconds) signals
    are looked at."""

def _extract_from_chunks(
    chunks: Iterable[Union[bytes, bytearray, memoryview]],
    dest_dir: _Path,
    strip_top_level: bool = True,
    *,
    label: str = "<chunks>",
    max_bytes: Optional[int] = None,
    max_entries: Optional[int] = None,
    max_path: Optional[int] = None,
    check_interval: float = 0.1,
) -> None:
    """For tests: extract a tar stream read from an iterable of bytes-like chunks, as downloads
    are extracted. An exception raised by the iterable propagates unchanged."""

# ---- bundles and doctor (csrc/py/net/py_bundle.c) ----------------------------------------

def write_archive(archive_path: _Path, items: Sequence[tuple[str, _Path]], /) -> None:
    """Write a tar archive (``.tar.zst``, ``.tar.gz``, ``.tar.xz`` or ``.tar``) of *items*,
    ``(name in the archive, path on disk)``, atomically (csrc/net/pack.h)."""

def tls_defaults() -> dict[str, Optional[str]]:
    """What TLS transfers use (csrc/net/ca_bundle.h): ``{'ssl', 'cainfo', 'capath'}``, the TLS
    library and the CA bundle file and directory (``None`` when there is none)."""
