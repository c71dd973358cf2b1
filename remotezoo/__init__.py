"""remotezoo: remotely-sourced model zoos, compatible with FiftyOne's remote zoo sources.

A source is a directory with ``manifest.json`` (metadata of one or more models) and
``__init__.py`` (``download_model(model_name, model_path)`` and
``load_model(model_name, model_path, **kwargs)``), published as a GitHub repo or ref, an
archive URL, or a local directory. The heavy lifting (HTTP, archives, JSON, versions, the
registry, the plugin calls) is done by the C extension ``remotezoo._core``.
"""

from __future__ import annotations

import os
from typing import Optional, Union

from . import _core
from ._core import (
    ArchiveError,
    ChecksumError,
    DownloadError,
    HTTPStatusError,
    ManifestError,
    ModelNotFoundError,
    OfflineError,
    RateLimitError,
    RemoteZooError,
    RequirementsError,
    SourceError,
    UnsafeArchiveError,
)
from ._model import Manifest, ZooModel

__version__ = "0.1.0"

__all__ = [
    "ArchiveError", "ChecksumError", "DownloadError", "HTTPStatusError", "ManifestError",
    "Manifest", "ModelNotFoundError", "OfflineError", "RateLimitError", "RemoteZooError",
    "RequirementsError", "SourceError", "UnsafeArchiveError", "ZooModel",
    "compare_versions", "extract_archive", "library_versions", "load_manifest", "parse_manifest",
]


def library_versions() -> dict[str, str]:
    """Return the runtime versions of libcurl, libarchive and cJSON remotezoo runs on."""
    return _core.library_versions()


def load_manifest(path: Union[str, "os.PathLike[str]"], source: Optional[str] = None) -> Manifest:
    """Read and validate a ``manifest.json`` file.

    *source* names the manifest in error messages (default: the path). Raises
    :class:`ManifestError` naming the model and field at fault.
    """
    return Manifest(_core.load_manifest(os.fspath(path), source))


def parse_manifest(text: Union[str, bytes], source: str = "<string>") -> Manifest:
    """Validate ``manifest.json`` content given as text; see :func:`load_manifest`."""
    return Manifest(_core.parse_manifest(text, source))


def compare_versions(a: Optional[str], b: Optional[str]) -> int:
    """Compare two model versions: -1, 0 or 1 as *a* is older, equal or newer than *b*.

    The order is distutils' ``LooseVersion`` where that is defined; where LooseVersion would
    raise (a number against letters) numbers sort first. ``None`` counts as ``"0.0.0"``.
    """
    return _core.version_compare(a, b)


def extract_archive(
    archive_path: Union[str, "os.PathLike[str]"],
    dest_dir: Union[str, "os.PathLike[str]"],
    *,
    strip_top_level: bool = True,
) -> str:
    """Safely extract a tar (raw, .gz, .bz2, .xz, .zst) or zip archive into *dest_dir*.

    *dest_dir* must not exist, or be an empty directory; its parent must exist. The archive is
    extracted into a temporary directory beside it that is renamed into place once complete,
    so *dest_dir* either holds the whole tree or is left as it was. With *strip_top_level*, an
    archive whose only top-level entry is a directory (as GitHub's tarballs) has that
    directory's content become *dest_dir*.

    Entries that would escape *dest_dir* (absolute or ``..`` names, symbolic links leading
    outside, hard links to anything but a file extracted before), special files, duplicate
    names and archives over the size caps raise :class:`UnsafeArchiveError` (``.path`` names
    the entry); setuid/setgid bits and group/other write permission are dropped. A corrupt or
    unsupported archive raises :class:`ArchiveError`, a file-system failure :class:`OSError`.
    Returns *dest_dir*.
    """
    dest = os.fspath(dest_dir)
    _core.extract_archive(os.fspath(archive_path), dest, strip_top_level)
    return os.fsdecode(dest)
