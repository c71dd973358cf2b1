"""Lock files: exactly which source code and which model bytes a zoo is made of.

``remotezoo lock`` writes one for the registered sources and the downloaded models (or a chosen
subset); ``remotezoo sync`` makes another machine match it; ``REMOTEZOO_LOCKFILE=path`` is
frozen mode, where a registration or a download that would differ from the lock raises. The
format is JSON, versioned, in a stable order (sources by identity, models by name, keys in a
fixed order), one field a line::

    {
      "remotezoo_lock": 1,
      "sources": [
        {
          "identity": "https://github.com/acme/zoo",
          "spec": "acme/zoo",
          "kind": "github",                 // github | archive | local
          "ref": "main",                    // github, when the spec names one
          "sha": "<40 or 64 hex>",          // github: the commit
          "archive_sha256": "<64 hex>",     // archive: the archive's bytes
          "tree_sha256": "<64 hex>",        // the fetched tree (digest.h's rz-tree-v1)
          "models": [
            {"name": "acme/detector@1.0", "kind": "file", "size": 102400000, "sha256": "<64 hex>"}
          ]
        }
      ]
    }

A model's ``sha256`` is the digest of the bytes at its path (a file: its SHA-256, the digest a
manifest declares; a directory: the rz-tree-v1 digest), recorded when it was downloaded. A lock
file is read as if it came from a stranger: every field is checked, and nothing in it becomes a
path. An identity whose URL carries credentials is written redacted (the lock is meant to be
shared) and must be registered, with them, before a sync.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _core
from ._core import ChecksumError, SourceError
from ._errors import LockFileError
from ._home import home
from ._log import logger, shown

if TYPE_CHECKING:
    from ._core import _ModelInfo, _SourceInfo

FORMAT = 1
DEFAULT_NAME = "remotezoo.lock"
_MAX_BYTES = 64 << 20
_MAX_SIZE = 1 << 63  # of a model: what the C core checks against (a uint64_t, an off_t)
_HEX = re.compile(r"[0-9a-f]+")
_SOURCE_KEYS = (
    "identity",
    "spec",
    "kind",
    "ref",
    "sha",
    "archive_sha256",
    "tree_sha256",
    "redacted",
    "models",
)
_MODEL_KEYS = ("name", "kind", "size", "sha256")

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class LockedModel:
    """A model as a lock file records it."""

    name: str
    kind: str  # "file" or "tree"
    size: int
    sha256: str


@dataclass(frozen=True)
class LockedSource:
    """A source as a lock file records it, with its locked models."""

    identity: str
    spec: str
    kind: str
    ref: Optional[str] = None
    sha: Optional[str] = None
    archive_sha256: Optional[str] = None
    tree_sha256: Optional[str] = None
    redacted: bool = False
    models: tuple[LockedModel, ...] = ()

    @property
    def content(self) -> Optional[str]:
        """What trust is keyed to: the commit, the archive's sha256, or ``"local"``."""
        return (
            self.sha
            if self.kind == "github"
            else self.archive_sha256
            if self.kind == "archive"
            else "local"
        )

    def model(self, name: str) -> Optional[LockedModel]:
        return next((m for m in self.models if m.name == name), None)


@dataclass(frozen=True)
class LockFile:
    """A parsed lock file; *path* names it in messages."""

    sources: tuple[LockedSource, ...]
    path: str = DEFAULT_NAME
    _by_identity: dict[str, LockedSource] = field(default_factory=dict, compare=False, repr=False)

    def source(self, identity: str) -> Optional[LockedSource]:
        """The locked source of *identity* (a registered identity: redacted ones match too)."""
        if not self._by_identity:
            self._by_identity.update((s.identity, s) for s in self.sources)
        return self._by_identity.get(identity) or self._by_identity.get(_core.redact(identity))


# ---- reading and writing ----------------------------------------------------------------------


def _is_hex(value: Any, *lengths: int) -> bool:
    return isinstance(value, str) and len(value) in lengths and _HEX.fullmatch(value) is not None


def _bad(path: str, where: str, what: str) -> LockFileError:
    return LockFileError(f"lock file {path}: {where} {what}")


def _text(value: Any, limit: int = 8192) -> bool:
    return (
        isinstance(value, str) and 0 < len(value) <= limit and not any(ord(c) < 0x20 for c in value)
    )


def _entry(path: str, where: str, item: Any, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """*item* as an object with no field but *keys*; LockFileError naming the first other."""
    if not isinstance(item, dict):
        raise _bad(path, where, "is not an object")
    unknown = set(item) - set(keys)
    if unknown:
        raise _bad(path, f"{where}.{sorted(unknown)[0]}", f"is not a field of a {what}")
    return item


def _parse_model(path: str, where: str, item: Any) -> LockedModel:
    item = _entry(path, where, item, _MODEL_KEYS, "locked model")
    name, kind, size, sha = item.get("name"), item.get("kind"), item.get("size"), item.get("sha256")
    if not isinstance(name, str) or not _text(name, 1024):
        raise _bad(path, f"{where}.name", "must be a model name")
    if kind not in ("file", "tree"):
        raise _bad(path, f"{where}.kind", "must be 'file' or 'tree'")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < _MAX_SIZE:
        raise _bad(path, f"{where}.size", "must be a non-negative integer below 2**63")
    if not isinstance(sha, str) or not _is_hex(sha, 64):
        raise _bad(path, f"{where}.sha256", "must be 64 lowercase hex digits")
    return LockedModel(name, kind, size, sha)


def _parse_source(path: str, where: str, item: Any) -> LockedSource:
    item = _entry(path, where, item, _SOURCE_KEYS, "locked source")
    identity, spec, kind, ref = (
        item.get("identity"),
        item.get("spec"),
        item.get("kind"),
        item.get("ref"),
    )
    redacted = item.get("redacted", False)
    if not isinstance(identity, str) or not _text(identity):
        raise _bad(path, f"{where}.identity", "must be a source identity")
    if not isinstance(spec, str) or not _text(spec):
        raise _bad(path, f"{where}.spec", "must be a source spec")
    if kind not in ("github", "archive", "local"):
        raise _bad(path, f"{where}.kind", "must be 'github', 'archive' or 'local'")
    if ref is not None and not _text(ref, 1024):
        raise _bad(path, f"{where}.ref", "must be a ref")
    if not isinstance(redacted, bool):
        raise _bad(path, f"{where}.redacted", "must be true or false")
    if not redacted:
        # The identity is what gets fetched: it must be what remotezoo makes of itself, and of
        # the kind the lock says (so no "github" entry fetches an arbitrary URL as a commit).
        try:
            parsed = _core.parse_source_spec(identity, os.environ.get("GITHUB_SERVER_URL") or None)
        except SourceError as err:
            raise _bad(path, f"{where}.identity", f"is not a source spec: {err}") from None
        if parsed["identity"] != identity or parsed["kind"] != kind:
            raise _bad(
                path, f"{where}.identity", f"is not the normalised identity of a {kind} source"
            )
    sha, archive, tree = item.get("sha"), item.get("archive_sha256"), item.get("tree_sha256")
    if kind == "github" and not _is_hex(sha, 40, 64):
        raise _bad(path, f"{where}.sha", "must be a commit sha (40 or 64 lowercase hex digits)")
    if kind != "github" and sha is not None:
        raise _bad(path, f"{where}.sha", f"is not a field of a {kind} source")
    if kind == "archive" and not _is_hex(archive, 64):
        raise _bad(path, f"{where}.archive_sha256", "must be 64 lowercase hex digits")
    if kind != "archive" and archive is not None:
        raise _bad(path, f"{where}.archive_sha256", f"is not a field of a {kind} source")
    if tree is not None and not _is_hex(tree, 64):
        raise _bad(path, f"{where}.tree_sha256", "must be 64 lowercase hex digits")
    models_in = item.get("models", [])
    if not isinstance(models_in, list):
        raise _bad(path, f"{where}.models", "must be a list")
    models = [_parse_model(path, f"{where}.models[{i}]", m) for i, m in enumerate(models_in)]
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise _bad(path, f"{where}.models", "lists a model twice")
    return LockedSource(
        identity,
        spec,
        kind,
        ref,
        sha,
        archive,
        tree,
        redacted,
        tuple(sorted(models, key=lambda m: m.name)),
    )


def parse(text: Union[str, bytes], path: str = DEFAULT_NAME) -> LockFile:
    """Parse and check a lock file's content; :class:`LockFileError` names the field at fault."""
    if len(text) > _MAX_BYTES:
        raise LockFileError(f"lock file {path} is larger than {_MAX_BYTES >> 20} MiB")
    try:
        doc = json.loads(text)
    except ValueError as err:
        raise LockFileError(f"lock file {path} is not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise LockFileError(f"lock file {path} is not a JSON object")
    version = doc.get("remotezoo_lock")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LockFileError(f"{path} is not a remotezoo lock file (no 'remotezoo_lock' version)")
    if version > FORMAT:
        raise LockFileError(
            f"lock file {path} has format {version}, newer than this remotezoo reads "
            f"({FORMAT}); upgrade remotezoo"
        )
    unknown = set(doc) - {"remotezoo_lock", "sources"}
    if unknown:
        raise _bad(path, sorted(unknown)[0], "is not a field of a lock file")
    sources_in = doc.get("sources", [])
    if not isinstance(sources_in, list):
        raise _bad(path, "sources", "must be a list")
    sources = [_parse_source(path, f"sources[{i}]", s) for i, s in enumerate(sources_in)]
    identities = [s.identity for s in sources]
    if len(set(identities)) != len(identities):
        raise _bad(path, "sources", "lists a source twice")
    return LockFile(tuple(sorted(sources, key=lambda s: s.identity)), path)


def read(path: PathLike) -> LockFile:
    """Read and check the lock file at *path*."""
    name = os.fsdecode(os.fspath(path))
    try:
        with open(name, "rb") as f:
            data = f.read(_MAX_BYTES + 1)
    except OSError as err:
        raise LockFileError(f"cannot read lock file {name}: {err.strerror or err}") from None
    return parse(data, name)


def dumps(lock: LockFile) -> str:
    """The lock file's text: stable order, one field a line, a final newline."""
    sources: list[dict[str, Any]] = []
    for s in sorted(lock.sources, key=lambda s: s.identity):
        entry: dict[str, Any] = {"identity": s.identity, "spec": s.spec, "kind": s.kind}
        for key in ("ref", "sha", "archive_sha256", "tree_sha256"):
            if getattr(s, key) is not None:
                entry[key] = getattr(s, key)
        if s.redacted:
            entry["redacted"] = True
        entry["models"] = [
            {"name": m.name, "kind": m.kind, "size": m.size, "sha256": m.sha256}
            for m in sorted(s.models, key=lambda m: m.name)
        ]
        sources.append(entry)
    return json.dumps({"remotezoo_lock": FORMAT, "sources": sources}, indent=2) + "\n"


def write(lock: LockFile, path: PathLike) -> str:
    """Write *lock* to *path* atomically (a temporary file beside it, then rename); return the
    path. A lock file is meant to be shared (committed beside the code): it is 0644 and holds
    no credential."""
    name = os.path.abspath(os.fsdecode(os.fspath(path)))
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(name), prefix=f".{os.path.basename(name)}.tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(dumps(lock))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, name)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return name


# ---- what is registered and downloaded now ------------------------------------------------------


def model_digest(info: _ModelInfo) -> tuple[str, int, str, bool]:
    """``(kind, size, sha256, recorded)`` of a downloaded model: the digest recorded when it
    was downloaded, or (a model downloaded by an older remotezoo) computed now."""
    from . import _cache

    record = _cache.read_record(info)
    if record is not None:
        return record.kind, record.size, record.sha256, True
    from . import _digest

    kind, size, sha = _digest.digest(info["model_path"], follow=True)
    return kind, size, sha, False


def source_tree_digest(source: _SourceInfo) -> Optional[str]:
    """The tree digest of a registered source: recorded at registration for a fetched source,
    computed now for a local one (its files change in place)."""
    recorded = source.get("tree_sha256")
    if recorded and source["kind"] != "local":
        return recorded
    tree = source.get("tree")
    if not tree or not os.path.isdir(tree):
        return None
    from . import _digest

    return _digest.digest(tree, follow=True, skip_pycache=True)[2]


def locked_source(source: _SourceInfo, models: list[LockedModel]) -> LockedSource:
    """The lock entry of a registered *source* with *models*."""
    identity, spec = source["identity"], source["spec"]
    redacted = _core.redact(identity) != identity or _core.redact(spec) != spec
    kind = source["kind"]
    return LockedSource(
        identity=_core.redact(identity),
        spec=_core.redact(spec),
        kind=kind,
        ref=source.get("ref") if kind == "github" else None,
        sha=source.get("sha") if kind == "github" else None,
        archive_sha256=source.get("archive_sha256") if kind == "archive" else None,
        tree_sha256=source_tree_digest(source),
        redacted=redacted,
        models=tuple(sorted(models, key=lambda m: m.name)),
    )


Registry = tuple[dict[str, "_SourceInfo"], dict[tuple[str, str], "_ModelInfo"]]


def registry(root: str) -> Registry:
    """The registered sources by identity and the downloaded models by (source, name)."""
    return (
        {s["identity"]: s for s in _core.list_sources(root)},
        {(i["source"], i["name"]): i for i in _core.list_downloaded(root)},
    )


def build(
    sources: Optional[list[str]] = None,
    models: Optional[list[str]] = None,
    current: Optional[Registry] = None,
) -> LockFile:
    """The lock of the registered sources and their downloaded models; *sources* (specs)
    and *models* (names) choose a subset: only those sources, only those models (and, when only
    models are named, only their sources). *current* is :func:`registry` when the caller read
    it already."""
    root = home()
    if current is None:
        if not os.path.isdir(root) and not sources and not models:
            return LockFile(())
        current = registry(root)
    registered, downloaded = current
    chosen: Optional[set[str]] = None
    if sources:
        chosen = set()
        for spec in sources:
            identity = _core.source_identity(spec)
            if identity not in registered:
                raise SourceError(
                    f"source {shown(identity)} is not registered; 'remotezoo sources list' shows "
                    "those that are"
                )
            chosen.add(identity)
    wanted: Optional[set[tuple[str, str]]] = None
    if models:
        wanted = set()
        for name in models:
            info = _core.resolve_model(root, name, None)
            if (info["source"], info["name"]) not in downloaded:
                raise _core.ModelNotFoundError(
                    f"Model '{shown(info['name'])}' is not downloaded; download it "
                    "before locking it"
                )
            wanted.add((info["source"], info["name"]))
        if chosen is None:
            chosen = {source for source, _ in wanted}
    entries: list[LockedSource] = []
    for identity, source in sorted(registered.items()):
        if chosen is not None and identity not in chosen:
            continue
        locked: list[LockedModel] = []
        for (owner, name), info in sorted(downloaded.items()):
            if owner != identity or (wanted is not None and (owner, name) not in wanted):
                continue
            kind, size, sha, recorded = model_digest(info)
            if not recorded:
                logger().warning(
                    "model '%s' has no digest recorded at download (an older remotezoo "
                    "downloaded it); locked at its digest now",
                    shown(name),
                )
            locked.append(LockedModel(name, kind, size, sha))
        entries.append(locked_source(source, locked))
    return LockFile(tuple(entries))


# ---- frozen mode --------------------------------------------------------------------------------

_frozen_cache: dict[str, tuple[tuple[int, int, int], LockFile]] = {}


def frozen() -> Optional[LockFile]:
    """The lock of frozen mode (``$REMOTEZOO_LOCKFILE``), or ``None``."""
    path = os.environ.get("REMOTEZOO_LOCKFILE")
    if not path:
        return None
    try:
        st = os.stat(path)
    except OSError as err:
        raise LockFileError(
            f"REMOTEZOO_LOCKFILE names {path}, which cannot be read: {err.strerror}"
        ) from None
    stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
    cached = _frozen_cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    lock = read(path)
    _frozen_cache[path] = (stamp, lock)
    return lock


def _frozen_hint(lock: LockFile) -> str:
    path = shlex.quote(lock.path)  # a person pastes the command: the path is quoted for a shell
    return (
        f"(frozen mode: REMOTEZOO_LOCKFILE={path}; make the zoo match it with: remotezoo sync "
        f"{path}; "
        "write a new one with: remotezoo lock)"
    )


def require_source(lock: LockFile, identity: str) -> LockedSource:
    """The locked source of *identity*; a source the lock does not name is refused."""
    locked = lock.source(identity)
    if locked is None:
        raise LockFileError(
            f"source {shown(identity)} is not in the lock file {_frozen_hint(lock)}"
        )
    return locked


def registration_pin(
    locked: LockedSource, *, at_commit: bool = False, tree_from: Optional[str] = None
) -> dict[str, str]:
    """What the C core must find when it registers *locked*: a GitHub ref resolving to the
    locked commit (with *at_commit*, that commit fetched whatever the ref names now), an archive
    of the locked sha256, a tree of the locked digest. With *tree_from* (a bundle's), that
    directory becomes the tree, at the locked commit, with no network."""
    pin: dict[str, str] = {}
    if locked.kind == "github" and locked.sha:
        pin["at_sha" if at_commit or tree_from else "expect_sha"] = locked.sha
    if locked.kind == "archive" and locked.archive_sha256:
        pin["expect_archive_sha256"] = locked.archive_sha256
    if locked.tree_sha256 and locked.kind != "local":
        pin["expect_tree_sha256"] = locked.tree_sha256
    if tree_from is not None:
        pin["tree_from"] = tree_from
    return pin


def differences(locked: LockedSource, source: _SourceInfo) -> list[str]:
    """How the registered *source* differs from *locked* (empty: it matches)."""
    out: list[str] = []
    if source["kind"] != locked.kind:
        out.append(f"kind {source['kind']}, the lock has {locked.kind}")
    elif locked.kind == "github" and source.get("sha") != locked.sha:
        out.append(f"commit {source.get('sha') or '(none)'}, the lock has {locked.sha}")
    elif locked.kind == "archive" and source.get("archive_sha256") != locked.archive_sha256:
        out.append(
            f"archive sha256 {source.get('archive_sha256') or '(not recorded)'}, the lock has "
            f"{locked.archive_sha256}"
        )
    if not out and locked.tree_sha256:
        tree = source_tree_digest(source)
        if tree != locked.tree_sha256:
            out.append(f"tree digest {tree or '(none)'}, the lock has {locked.tree_sha256}")
    return out


def check_source(lock: LockFile, source: _SourceInfo) -> LockedSource:
    """Refuse a registered *source* that differs from the lock (frozen mode)."""
    locked = require_source(lock, source["identity"])
    diff = differences(locked, source)
    if diff:
        raise LockFileError(
            f"source {shown(source['identity'])} differs from the lock file: {'; '.join(diff)} "
            f"{_frozen_hint(lock)}"
        )
    return locked


def check_code(identity: str, kind: str, content: Optional[str], tree: Optional[str]) -> None:
    """In frozen mode, refuse to run code of the registered source *identity* unless the lock
    holds it at exactly *content* (its commit or archive sha256) and *tree* (its tree digest);
    a local directory as its files are now. The trust gate calls this before any of a source's
    code runs."""
    lock = frozen()
    if lock is None:
        return
    locked = require_source(lock, identity)
    if kind == "local" or locked.kind == "local":
        if kind != locked.kind:
            raise LockFileError(
                f"source {shown(identity)} is a {kind} source, the lock has a {locked.kind} one "
                f"{_frozen_hint(lock)}"
            )
        check_local(lock, locked)
        return
    if (locked.kind, locked.content) != (kind, content) or (
        locked.tree_sha256 and locked.tree_sha256 != tree
    ):
        raise LockFileError(
            f"source {shown(identity)} differs from the lock file: its code is {kind} content "
            f"{content or '(not recorded)'} with tree {tree or '(not recorded)'}, the lock has "
            f"{locked.kind} content {locked.content} with tree {locked.tree_sha256 or '(any)'}; "
            f"none of it runs {_frozen_hint(lock)}"
        )


def require_model(lock: LockFile, identity: str, name: str) -> LockedModel:
    """The locked model *name* of *identity*; a model the lock does not list is refused."""
    locked = require_source(lock, identity).model(name)
    if locked is None:
        raise LockFileError(
            f"model '{shown(name)}' of source {shown(identity)} is not in the lock file "
            f"{_frozen_hint(lock)}"
        )
    return locked


def check_model(lock: LockFile, info: _ModelInfo) -> LockedModel:
    """Refuse a downloaded model whose digest differs from the lock (frozen mode). The digest
    recorded at download is compared: `cache verify` re-hashes what is on disk."""
    locked = require_model(lock, info["source"], info["name"])
    kind, size, sha, _ = model_digest(info)
    if (kind, sha) != (locked.kind, locked.sha256):
        raise LockFileError(
            f"model '{shown(info['name'])}' differs from the lock file: it is a {kind} of sha256 "
            f"{sha} ({size} bytes), the lock has a {locked.kind} of sha256 {locked.sha256} "
            f"({locked.size} bytes) {_frozen_hint(lock)}"
        )
    return locked


def check_downloaded(info: _ModelInfo) -> None:
    """In frozen mode, refuse the model of *info* when it is downloaded at other bytes than
    the lock's (:func:`check_model`); nothing otherwise."""
    lock = frozen()
    if lock is not None and os.path.lexists(info["model_path"]):
        check_model(lock, info)


def expectation(locked: LockedModel) -> dict[str, Any]:
    """What the C core checks a download against before it keeps it."""
    return {"kind": locked.kind, "sha256": locked.sha256, "size": locked.size}


def model_mismatch(err: ChecksumError, name: str, lock: LockFile) -> LockFileError:
    """The frozen-mode error of a download that did not match the lock."""
    return LockFileError(f"model '{shown(name)}': {err} {_frozen_hint(lock)}")


def outside(expected: LockFile, other: LockFile) -> Optional[str]:
    """What of *other* (the sources and models a sync or an import would install) *expected*
    does not hold exactly so, or ``None``: every source at the same kind, commit, archive and
    tree digest (when *expected* records one), every model at the same digest."""
    for source in other.sources:
        mine = expected.source(source.identity)
        if mine is None:
            return f"source {shown(source.identity)} is not in it"
        if (mine.kind, mine.sha, mine.archive_sha256) != (
            source.kind,
            source.sha,
            source.archive_sha256,
        ) or (mine.tree_sha256 is not None and mine.tree_sha256 != source.tree_sha256):
            return f"source {shown(source.identity)} differs from it"
        for model in source.models:
            if mine.model(model.name) != model:
                return (
                    f"model '{shown(model.name)}' of source {shown(source.identity)} "
                    "is not in it as it is here"
                )
    return None


def check_frozen(other: LockFile, what: str) -> None:
    """In frozen mode, refuse to install *other* (*what*: ``"sync of x.lock"``, ``"the
    bundle"``) unless the frozen lock holds all of it exactly so."""
    lock = frozen()
    problem = outside(lock, other) if lock is not None else None
    if lock is not None and problem:
        raise LockFileError(f"{what} differs from the lock file: {problem} {_frozen_hint(lock)}")


# ---- sync ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Synced:
    """One thing a sync did: *what* ``source`` or ``model``, *action* ``kept``, ``registered``,
    ``refetched`` (a source at another content), ``verified``, ``downloaded`` or ``replaced``."""

    what: str
    name: str
    action: str


def _registered_identity(locked: LockedSource, registered: dict[str, _SourceInfo]) -> str:
    """The identity to register *locked* under: its own, or for a redacted one the registered
    source it stands for (whose URL has the credentials)."""
    if not locked.redacted:
        return locked.identity
    for identity in registered:
        if _core.redact(identity) == locked.identity:
            return identity
    raise LockFileError(
        f"source {shown(locked.identity)} is locked with its credentials redacted; register it "
        "with them first ('remotezoo sources register URL'), then sync"
    )


def registration_spec(locked: LockedSource, identity: str) -> str:
    """What to register *locked* (as *identity*) with: the lock's own spelling when it names
    this very source here (the registry then records what the locking machine did), else the
    identity."""
    if locked.redacted:
        return identity
    try:
        return locked.spec if _core.source_identity(locked.spec) == identity else identity
    except SourceError:
        return identity


def local_difference(locked: LockedSource) -> Optional[str]:
    """How the local directory of *locked* differs from the lock, or ``None``."""
    from . import _digest

    path = _core.parse_source_spec(locked.identity)["local_path"]
    if not path or not os.path.isdir(path):
        return "its directory does not exist here"
    if (
        locked.tree_sha256
        and _digest.digest(path, follow=True, skip_pycache=True)[2] != locked.tree_sha256
    ):
        return "its files changed"
    return None


def check_local(lock: LockFile, locked: LockedSource) -> None:
    """Refuse a local source whose directory is not what *lock* recorded (frozen mode)."""
    diff = local_difference(locked)
    if diff:
        raise LockFileError(
            f"local source {shown(locked.identity)} differs from the lock file: {diff} "
            f"{_frozen_hint(lock)}"
        )


def sync(
    lock: LockFile,
    *,
    trust_locked: bool = False,
    trust: Optional[str] = None,
    models: bool = True,
    progress: Any = None,
) -> list[Synced]:
    """Make this machine's zoo match *lock*: each source registered at exactly its locked
    content (a GitHub source fetched at the locked commit, whatever its ref names now; an
    archive checked against its sha256; every tree against its digest), then each locked model
    downloaded and checked against its digest before it is kept (one already downloaded is
    re-hashed, and downloaded again when it differs). With *trust_locked* the locked sources
    are trusted at what was registered (:mod:`_trust`); *trust* is the policy for the code that
    downloads run."""
    from . import _digest, _trust
    from ._home import require_writable
    from ._progressbar import progress_for

    root = home()
    require_writable(root, f"sync {lock.path}")
    check_frozen(lock, f"sync of {lock.path}")
    gate = _trust.gate(trust, root)
    done: list[Synced] = []
    registered = {s["identity"]: s for s in _core.list_sources(root)}
    for locked in lock.sources:
        identity = _registered_identity(locked, registered)
        current = registered.get(identity)
        if current is not None and not differences(locked, current):
            done.append(Synced("source", identity, "kept"))
        else:
            if locked.kind == "local":
                # A lock names a directory of this machine: only its user registers it (a lock
                # from elsewhere must not make a sync run the code of any directory it names).
                if current is None:
                    raise LockFileError(
                        f"local source {shown(locked.identity)} of {lock.path} is not registered "
                        "here; register the directory yourself, then sync"
                    )
                diff_text = local_difference(locked)
                if diff_text:
                    raise LockFileError(
                        f"local source {shown(locked.identity)} differs from {lock.path}: "
                        f"{diff_text}"
                    )
            with progress_for(progress, desc=_core.redact(identity)) as callback:
                _core.register_source(
                    root,
                    registration_spec(locked, identity),
                    current is not None,
                    callback,
                    registration_pin(locked, at_commit=True),
                )
            done.append(
                Synced("source", identity, "refetched" if current is not None else "registered")
            )
            registered = {s["identity"]: s for s in _core.list_sources(root)}
            current = registered[identity]
            diff = differences(locked, current)
            if diff:
                raise LockFileError(
                    f"source {shown(identity)} was registered but differs from {lock.path}: "
                    f"{'; '.join(diff)}"
                )
        if trust_locked:
            _trust.record(
                identity, locked.kind, current["content"] or "", current.get("tree_sha256"), root
            )
        if not models:
            continue
        for model in locked.models:
            model_info = _core.resolve_model(root, model.name, identity)
            present = os.path.lexists(model_info["model_path"])
            if present:
                kind, _, sha = _digest.digest(model_info["model_path"], follow=True)
                if (kind, sha) == (model.kind, model.sha256):
                    done.append(Synced("model", model.name, "verified"))
                    continue
            with progress_for(progress, desc=model.name) as callback:
                _core.download_model(
                    root, model.name, identity, present, callback, gate, expectation(model)
                )
            done.append(Synced("model", model.name, "replaced" if present else "downloaded"))
    return done
