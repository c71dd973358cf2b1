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
from ._home import home
from ._model import Manifest, ZooModel
from .zoo import (
    delete_zoo_model,
    delete_zoo_model_source,
    download_zoo_model,
    ensure_zoo_model_requirements,
    find_zoo_model,
    get_zoo_model,
    install_zoo_model_requirements,
    is_zoo_model_downloaded,
    list_downloaded_zoo_models,
    list_zoo_model_sources,
    list_zoo_models,
    load_zoo_model,
    register_zoo_model_source,
    zoo_model_sources_info,
)

__version__ = "0.1.0"

__all__ = [
    "ArchiveError", "ChecksumError", "DownloadError", "HTTPStatusError", "ManifestError",
    "Manifest", "ModelNotFoundError", "OfflineError", "RateLimitError", "RemoteZooError",
    "RequirementsError", "SourceError", "UnsafeArchiveError", "ZooModel",
    "compare_versions", "library_versions", "load_manifest", "parse_manifest", "home",
    "delete_zoo_model", "delete_zoo_model_source", "download_zoo_model",
    "ensure_zoo_model_requirements", "find_zoo_model", "get_zoo_model",
    "install_zoo_model_requirements", "is_zoo_model_downloaded", "list_downloaded_zoo_models",
    "list_zoo_model_sources", "list_zoo_models", "load_zoo_model", "register_zoo_model_source",
    "zoo_model_sources_info",
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
