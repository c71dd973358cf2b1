"""Type stubs for ``remotezoo._core``, the C extension of everything but the network and
archives (which are ``remotezoo._net``, see ``_net.pyi``).

The public face is ``remotezoo`` and ``remotezoo.zoo``; these are the building blocks they
call. Functions taking ``home`` want the remotezoo home directory (``remotezoo.home()``).
Every function raises the exceptions below, never a bare ``Exception``; ``OSError`` for
file-system failures and ``MemoryError`` as usual.
"""

import os
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from typing import (
    Any,
    Callable,
    ClassVar,
    Literal,
    Optional,
    TypedDict,
    TypeVar,
    Union,
    type_check_only,
)

_Path = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
_T = TypeVar("_T")
_Progress = Optional[Callable[[int, Optional[int]], object]]
# The trust gate (remotezoo/_trust.py's gate()): called before a source's code is imported or
# called, as gate(identity, kind, content, tree_sha256, source_dir, what); it returns, or raises
# (UntrustedSourceError) to refuse. None: no check.
_Gate = Optional[Callable[[str, str, Optional[str], Optional[str], str, str], object]]

# ---- exceptions (csrc/py/core/module.c) ----------------------------------------------------------
#
# The builtin bases make the errors catchable as code written for FiftyOne, requests and
# huggingface_hub catches them: a bad source or model is a ValueError (as FiftyOne raises), a
# failed transfer an OSError and being offline a ConnectionError (as requests' errors are), unmet
# requirements an ImportError (as eta's PackageError). When a source cannot be fetched (register,
# or a load or download that registers first) the error is the twin of its type nested in
# SourceError, e.g. SourceError.HTTPStatusError: an HTTPStatusError that is also a SourceError,
# so a ValueError, as FiftyOne's "Failed to retrieve model metadata" is.

class RemoteZooError(Exception):
    """Base class of every error remotezoo raises.

    The attributes are ``None`` unless the C core knew them: ``url`` (credentials and query
    values removed), ``http_status``, ``path`` (a file or archive entry), ``field`` (a
    manifest field such as ``models[2].version``), ``model`` and ``source``.
    """

    url: Optional[str]
    http_status: Optional[int]
    path: Optional[str]
    field: Optional[str]
    model: Optional[str]
    source: Optional[str]

class SourceError(RemoteZooError, ValueError):
    """A source spec is malformed, unknown, or does not hold a valid source; or (the nested
    twins) a source could not be fetched."""

    DownloadError: ClassVar[type[_SourceDownloadError]]
    HTTPStatusError: ClassVar[type[_SourceHTTPStatusError]]
    RateLimitError: ClassVar[type[_SourceRateLimitError]]
    OfflineError: ClassVar[type[_SourceOfflineError]]
    ArchiveError: ClassVar[type[_SourceArchiveError]]
    UnsafeArchiveError: ClassVar[type[_SourceUnsafeArchiveError]]

class ManifestError(RemoteZooError, ValueError):
    """A manifest.json is malformed; ``.field`` and ``.model`` say where."""

class ModelNotFoundError(RemoteZooError, ValueError):
    """No registered source has a model of that name."""

class DownloadError(RemoteZooError, OSError):
    """A transfer failed; ``.url`` (credentials removed) says which."""

class HTTPStatusError(DownloadError):
    """The server answered with an error status (``.http_status``)."""

class RateLimitError(HTTPStatusError):
    """The server (GitHub) refused because of its rate limit."""

class ChecksumError(DownloadError):
    """Downloaded bytes do not match the declared sha256."""

class OfflineError(DownloadError, ConnectionError):
    """``REMOTEZOO_OFFLINE`` is set and the call needs the network."""

class ArchiveError(RemoteZooError):
    """An archive cannot be read or extracted."""

class UnsafeArchiveError(ArchiveError):
    """An archive entry would escape the destination or is not a plain file, dir or link."""

class RequirementsError(RemoteZooError, ImportError):
    """A model's package requirements are not met.

    ``returncode`` is pip's exit code, set only when installing them failed."""

    returncode: int

# The SourceError twins; at run time they exist only as SourceError.X (these names are for the
# type checker).
@type_check_only
class _SourceDownloadError(DownloadError, SourceError): ...

@type_check_only
class _SourceHTTPStatusError(HTTPStatusError, SourceError): ...

@type_check_only
class _SourceRateLimitError(RateLimitError, SourceError): ...

@type_check_only
class _SourceOfflineError(OfflineError, SourceError): ...

@type_check_only
class _SourceArchiveError(ArchiveError, SourceError): ...

@type_check_only
class _SourceUnsafeArchiveError(UnsafeArchiveError, SourceError): ...

# ---- results -------------------------------------------------------------------------------------

class _ModelEntry(TypedDict):
    """One model of a parsed manifest."""

    name: str
    """The full name, ``base_name`` or ``<stem>@<version><ext>``."""
    filename: Optional[str]
    """The version-aware filename (``None`` without ``base_filename``)."""
    manifest: dict[str, Any]
    """The model's manifest entry, unknown fields included."""

class _ParsedManifest(TypedDict):
    name: Optional[str]
    url: Optional[str]
    models: list[_ModelEntry]

class _SourceInfo(TypedDict):
    """What the registry recorded of a source."""

    identity: str
    spec: str
    kind: str
    ref: Optional[str]
    sha: Optional[str]
    """A GitHub source's commit."""
    archive_sha256: Optional[str]
    """An archive source's digest: of the archive's bytes, hashed as they streamed in."""
    tree_sha256: Optional[str]
    """A fetched source's tree digest (rz-tree-v1, csrc/net/digest.h), without __pycache__."""
    registered_at: Optional[str]
    content: Optional[str]
    """What its trust is keyed to: the commit, the archive's sha256, ``"local"``."""
    tree: str
    """The absolute path of its tree (a local source's directory)."""

class _ModelInfo(TypedDict):
    """Where a model comes from and lives."""

    name: str
    source: str
    kind: str
    module: str
    source_dir: str
    model_path: str
    manifest_path: str
    content: Optional[str]
    """What its source's trust is keyed to: the commit, the archive's sha256, ``"local"``."""
    tree_sha256: Optional[str]
    record_path: str
    """Where the digest of its download is recorded (csrc/core/records.h)."""
    folder: str
    """Its source's models folder, below ``<home>/models``."""

class _SourceSpec(TypedDict):
    """A parsed source spec; ``None`` where a field does not apply."""

    kind: Literal["github", "archive", "local"]
    identity: str
    user: Optional[str]
    repo: Optional[str]
    ref: Optional[str]
    ref_is_commit: bool
    url: Optional[str]
    format: Optional[str]
    local_path: Optional[str]
    slug: str

# ---- manifests and versions (csrc/py/core/py_manifest.c) -----------------------------------------

def parse_manifest(
    data: Union[str, bytes, bytearray, memoryview], source: str, /
) -> _ParsedManifest:
    """Validate manifest.json text (str or bytes); *source* names it in errors.

    Raises :class:`ManifestError` naming the model and field at fault."""

def load_manifest(path: _Path, source: Optional[str] = None, /) -> _ParsedManifest:
    """Read and validate a manifest.json file; *source* names it in errors (default: the path)."""

def version_compare(a: Optional[str], b: Optional[str], /) -> Literal[-1, 0, 1]:
    """-1, 0 or 1 as version *a* is older than, equal to or newer than *b* (LooseVersion order;
    numbers before letters where LooseVersion fails; ``None`` is ``'0.0.0'``)."""

def model_names(
    base_name: str, version: Optional[str], base_filename: Optional[str], /
) -> tuple[str, Optional[str]]:
    """The full model name and the version-aware filename (``None`` without *base_filename*)."""

# ---- source specs (csrc/py/core/py_spec.c) -------------------------------------------------------

def parse_source_spec(
    spec: Union[str, os.PathLike[str]],
    github_server_url: Optional[str] = ...,
    cwd: Optional[str] = None,
    home: Optional[str] = None,
) -> _SourceSpec:
    """Parse and normalise a source spec. *github_server_url* defaults to
    ``$GITHUB_SERVER_URL`` (``None`` or ``''`` = https://github.com); relative paths are
    relative to *cwd* (default ``os.getcwd()``) and ``~`` is *home* (default ``$HOME``).
    Raises :class:`SourceError` for a malformed spec."""

# ---- registry, models, plugins (csrc/py/core/py_sources.c, py_models.c) --------------------------

def redact(text: str, /) -> str:
    """*text* with every URL in it redacted, as every message, attribute and log line is: no
    ``user:password@``, every query and fragment value ``REDACTED``."""

def source_identity(spec: str, /) -> str:
    """The normalised identity of a source spec (raises :class:`SourceError` if malformed)."""

def home_read_only(home: str, /) -> bool:
    """Whether the home is read-only: REMOTEZOO_READ_ONLY, a read-only mount, or no write
    permission."""

def register_source(
    home: str,
    spec: str,
    overwrite: bool,
    progress: _Progress,
    pin: Optional[dict[str, str]] = None,
    /,
) -> str:
    """Register a source; returns its identity. With *overwrite* it is fetched again,
    atomically. *pin* (csrc/core/source.h) says what it must be, or where its tree comes from:
    ``at_sha`` (fetch this commit), ``expect_sha`` (the ref must name it),
    ``expect_archive_sha256``, ``expect_tree_sha256``, ``tree_from`` (a directory moved in as
    the tree: no network)."""

def delete_source(home: str, spec: str, /) -> None:
    """Unregister a source and delete its tree and downloaded models."""

def list_sources(home: str, /) -> list[_SourceInfo]:
    """The registered sources, sorted by identity."""

def resolve_model(home: str, name: str, source: Optional[str], /) -> _ModelInfo:
    """Where model *name* (the latest version if unversioned) comes from and lives; *source*
    chooses among sources. Raises :class:`ModelNotFoundError`."""

def list_models(
    home: str,
    tags: Optional[Sequence[str]],
    source: Optional[str],
    licenses: Optional[Sequence[str]],
    /,
) -> list[str]:
    """Sorted full names; all *tags* must match, any of *licenses*."""

def list_downloaded(home: str, /) -> list[_ModelInfo]:
    """The models whose download completed, as :func:`resolve_model` describes them."""

def download_model(
    home: str,
    name: str,
    source: Optional[str],
    overwrite: bool,
    progress: _Progress,
    trust: _Gate = None,
    expect: Optional[dict[str, Any]] = None,
    staged: Optional[dict[str, str]] = None,
    /,
) -> tuple[_ModelInfo, bool]:
    """Download a model unless it is downloaded; returns its info and whether it was
    downloaded now. *trust* is called before the source's ``download_model`` runs; *expect*
    (``{"kind": "file" | "tree", "sha256": hex, "size": int}``) is what the download must be
    before it is kept; *staged* (``{"path", "layout": "plain" | "link"}``) is a model made
    elsewhere (a bundle's), placed instead of downloading. The digest of what arrives is
    recorded (csrc/core/records.h)."""

def load_model(
    home: str, name: str, source: Optional[str], kwargs: dict[str, Any], trust: _Gate = None, /
) -> Any:
    """Call the source's ``load_model(model_name, model_path, **kwargs)`` for a downloaded
    model, once *trust* let it, and return what it returns."""

def delete_model(home: str, name: str, source: Optional[str], /) -> bool:
    """Delete a downloaded model; ``False`` if it was not downloaded."""

def module_spec(home: str, module_name: str, trust: _Gate = None, /) -> Optional[ModuleSpec]:
    """The import spec of a registered source's package (for the finder of
    ``remotezoo._sources``), once *trust* let its code run."""

# ---- state files and the cache (csrc/py/core/py_state.c, py_cache.c) ------------------------

def update_state(
    home: str, name: str, change: Callable[[Optional[bytes]], Optional[bytes]], /
) -> bool:
    """Under the lock of the state file *home*/*name* (``trust.json``), call *change* with its
    content (``None`` when there is none); when it returns bytes, write them atomically
    (0600). Returns whether it wrote."""

def held_dir(home: str, prefix: str, work: Callable[[str], _T], /) -> _T:
    """Make the private directory *home*/*prefix*XXXXXX, locked so that ``cache gc`` leaves it
    while it lives; call *work* with its path, then remove it. Returns what *work* returned."""

class _Garbage(TypedDict):
    kind: str
    path: str
    bytes: int
    state: str

def cache_gc(home: str, apply: bool, /) -> list[_Garbage]:
    """What in *home* is garbage (csrc/core/gc.h), each with its state: ``garbage`` (dry run),
    ``removed``, or ``in use`` (a live process holds it: kept)."""
