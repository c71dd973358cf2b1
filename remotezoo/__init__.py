"""remotezoo: remotely-sourced model zoos, compatible with FiftyOne's remote zoo sources.

A source is a directory with ``manifest.json`` (metadata of one or more models) and
``__init__.py`` (``download_model(model_name, model_path)`` and
``load_model(model_name, model_path, **kwargs)``), published as a GitHub repo or ref, an
archive URL, or a local directory. The heavy lifting (HTTP, archives, JSON, versions, the
registry, the plugin calls) is done in C: ``remotezoo._core`` (manifests, versions, registry,
plugin calls; links cJSON only) and ``remotezoo._net`` (libcurl downloads, libarchive
extraction), which is imported on the first call that needs it, so that importing remotezoo,
listing and loading downloaded models start fast.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Optional, Union

from . import _core, _progressbar
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
from ._errors import BundleError, LockFileError, TrustStoreError, UntrustedSourceError
from ._home import home
from ._model import Manifest, RemoteZooModel, ZooModel
from ._progressbar import Progress
from .zoo import (
    delete_zoo_model,
    delete_zoo_model_source,
    download_zoo_model,
    ensure_zoo_model_requirements,
    export_zoo,
    find_zoo_model,
    gc_zoo_cache,
    get_zoo_model,
    import_zoo,
    install_zoo_model_requirements,
    is_zoo_model_downloaded,
    list_downloaded_zoo_models,
    list_zoo_model_sources,
    list_zoo_models,
    load_zoo_model,
    lock_zoo,
    register_zoo_model_source,
    sync_zoo,
    trust_zoo_model_source,
    trusted_zoo_model_sources,
    untrust_zoo_model_source,
    verify_zoo_cache,
    zoo_cache_usage,
    zoo_doctor,
    zoo_model_sources_info,
)

__version__ = "0.1.0"

__all__ = [
    "ArchiveError",
    "BundleError",
    "ChecksumError",
    "DownloadError",
    "HTTPStatusError",
    "LockFileError",
    "ManifestError",
    "Manifest",
    "ModelNotFoundError",
    "OfflineError",
    "RateLimitError",
    "RemoteZooError",
    "RemoteZooModel",
    "RequirementsError",
    "SourceError",
    "TrustStoreError",
    "UnsafeArchiveError",
    "UntrustedSourceError",
    "ZooModel",
    "compare_versions",
    "download_file",
    "extract_archive",
    "library_versions",
    "load_manifest",
    "parse_manifest",
    "home",
    "delete_zoo_model",
    "delete_zoo_model_source",
    "download_zoo_model",
    "ensure_zoo_model_requirements",
    "find_zoo_model",
    "get_zoo_model",
    "install_zoo_model_requirements",
    "is_zoo_model_downloaded",
    "list_downloaded_zoo_models",
    "list_zoo_model_sources",
    "list_zoo_models",
    "load_zoo_model",
    "register_zoo_model_source",
    "zoo_model_sources_info",
    "trust_zoo_model_source",
    "untrust_zoo_model_source",
    "trusted_zoo_model_sources",
    "lock_zoo",
    "sync_zoo",
    "zoo_cache_usage",
    "verify_zoo_cache",
    "gc_zoo_cache",
    "zoo_doctor",
    "export_zoo",
    "import_zoo",
]


def library_versions() -> dict[str, str]:
    """Return the runtime versions of libcurl, libarchive and cJSON remotezoo runs on."""
    from . import _net

    return _net.library_versions()


def load_manifest(path: Union[str, os.PathLike[str]], source: Optional[str] = None) -> Manifest:
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


def download_file(
    url: str,
    path: Union[str, os.PathLike[str]],
    *,
    sha256: Optional[str] = None,
    headers: Optional[Mapping[str, str]] = None,
    progress: Progress = None,
) -> str:
    """Download *url* to *path* and return *path* (as a str).

    The bytes go to a temporary file beside *path* (``.<name>.part-XXXXXX``) that is renamed
    over *path* only when the transfer is complete and, if *sha256* (hex) is given, verified;
    on any failure *path* is left as it was. Connection errors, broken transfers, 5xx and 429
    answers are retried with exponential backoff (``Retry-After`` is honoured), and a broken
    transfer resumes where it stopped when the server offers an ETag or Last-Modified.
    Redirects (at most 10, http/https only) are followed; credential headers in *headers*
    (``Authorization``, ``Cookie``, and any whose name has "auth", "token", "key", "secret",
    "password" or "session" in it) are only sent to the original scheme, host and port, also
    when a URL rewrite rule sends the request elsewhere.

    *progress*: a callable is called as ``progress(done, total)`` at most about four times a
    second and once at the end (*total* is ``None`` while unknown); an exception it raises, or
    Ctrl-C, stops the download and propagates. ``True`` draws a tqdm bar when someone can see
    it (stderr on a terminal, or Jupyter; never with ``REMOTEZOO_NO_PROGRESS=1``), ``False``
    never. ``None``, the default, means no bar for library use, but a bar (as ``True``) when
    running under the ``remotezoo`` command line, so a source's ``download_model`` that calls
    this shows its progress there.

    Raises :class:`HTTPStatusError` (``.http_status``; :class:`RateLimitError` for 429),
    :class:`ChecksumError`, :class:`OfflineError` when ``REMOTEZOO_OFFLINE`` is set, or
    :class:`DownloadError` with libcurl's message; ``.url`` never carries credentials.

    Environment: ``SSL_CERT_FILE``, ``CURL_CA_BUNDLE``, ``REQUESTS_CA_BUNDLE`` (the first set
    is the CA bundle) and ``SSL_CERT_DIR``; the usual ``*_proxy`` variables;
    ``REMOTEZOO_MAX_ATTEMPTS`` (default 5), ``REMOTEZOO_RETRY_BASE_MS`` (first backoff, 500),
    ``REMOTEZOO_CONNECT_TIMEOUT`` (seconds, 30), ``REMOTEZOO_LOW_SPEED_LIMIT`` and
    ``REMOTEZOO_LOW_SPEED_TIME`` (an attempt fails below 1024 bytes/s for 60 s);
    ``REMOTEZOO_CONNECTIONS`` (at most this many range requests at once, default 16; 1
    disables) for files of at least ``REMOTEZOO_PARALLEL_MIN_BYTES`` (8 MiB) when the server
    offers ranges and a validator: the count grows while it adds throughput, and a 429 or 503 to
    an extra range lowers it (never fails the download).
    """
    from . import _net

    target = os.fsdecode(os.fspath(path))
    default = _progressbar.download_file_default()
    with _progressbar.progress_for(
        progress, desc=os.path.basename(target), default=default
    ) as callback:
        _net.download_file(
            url,
            target,
            sha256=sha256,
            headers=dict(headers) if headers else None,
            progress=callback,
        )
    return target


def extract_archive(
    archive_path: Union[str, os.PathLike[str]],
    dest_dir: Union[str, os.PathLike[str]],
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
    from . import _net

    dest = os.fspath(dest_dir)
    _net.extract_archive(os.fspath(archive_path), dest, strip_top_level)
    return os.fsdecode(dest)
