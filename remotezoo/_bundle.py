"""Air-gapped sites: a bundle of sources, models and their lock file in one archive.

``remotezoo export -o bundle.tar.zst [MODEL...]`` writes::

    remotezoo.lock                  the lock of exactly what the bundle holds (_lockfile.py)
    bundle.json                     {"remotezoo_bundle": 1, "models": [{"source", "name",
                                     "sha256", "layout"}]}
    sources/<slug>/...              each fetched source's tree (as registered, no __pycache__)
    models/<sha256>/payload         each model's bytes: a file or a directory

``remotezoo import bundle.tar.zst`` on a machine without network extracts it with remotezoo's
own safe extraction into a private directory of the cache, checks every digest against the
lock (and against a lock of your own with ``--lock``, and in frozen mode against
``REMOTEZOO_LOCKFILE``'s) before anything is registered, then
registers each source from its tree and places each model, each atomically. Nothing in the
bundle names a path: the source directories are found by the slug remotezoo computes from each
identity, the models by their digest. No code runs: importing needs no trust, and trust is not
granted by a bundle (a bundle can claim any commit; trust is keyed to the tree too).
Local sources are not exported (they live in place, outside the cache).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _core, _lockfile
from ._core import ChecksumError
from ._errors import BundleError
from ._home import home, require_writable
from ._log import logger, shown

if TYPE_CHECKING:
    from ._core import _ModelInfo

FORMAT = 1
LOCK_NAME = "remotezoo.lock"
INDEX_NAME = "bundle.json"
_MAX_INDEX_BYTES = 64 << 20

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Imported:
    """One thing an import did: *what* ``source`` or ``model``, *action* ``registered``,
    ``kept`` (already so), ``placed``."""

    what: str
    name: str
    action: str


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _model_payload(info: _ModelInfo) -> tuple[str, str]:
    """(the path whose bytes are the model, its layout). A model path that is a link (an
    archive model's layout, or a source's own link) is followed, but only inside the source's
    models folder: a link elsewhere is refused, so a planted link cannot put another file of
    this machine into a bundle."""
    path = info["model_path"]
    if not os.path.islink(path):
        return path, "plain"
    real = os.path.realpath(path)
    folder = os.path.realpath(os.path.join(home(), "models", info["folder"]))
    if not _inside(real, folder) or real == folder:
        raise BundleError(
            f"model '{shown(info['name'])}' is a link to {shown(real)}, outside its source's "
            "models "
            "folder; it is not exported"
        )
    return real, "link"


def export(
    path: PathLike, models: Optional[list[str]] = None, sources: Optional[list[str]] = None
) -> str:
    """Write a bundle of the registered sources (or *sources*) and their downloaded models (or
    only *models*) to *path* (``.tar.zst``, or ``.tar.gz``, ``.tar.xz``, ``.tar``), atomically.
    Every model is re-hashed first: a corrupt one is refused, not exported."""
    from . import _digest, _net

    root = home()
    registered, infos = _lockfile.registry(root)
    lock = _lockfile.build(sources, models, (registered, infos))
    kept: list[_lockfile.LockedSource] = []
    index: list[dict[str, Any]] = []
    items: list[tuple[str, str]] = []
    payloads: set[str] = set()
    for locked in lock.sources:
        if locked.kind == "local":
            logger().warning(
                "local source %s is not exported (it lives in place, outside the cache)",
                shown(locked.identity),
            )
            continue
        if locked.redacted:
            raise BundleError(
                f"source {shown(locked.identity)} has credentials in its URL; it cannot be exported"
            )
        tree = registered[locked.identity].get("tree")
        if not tree:
            raise BundleError(f"source {shown(locked.identity)} has no tree to export")
        slug = _core.parse_source_spec(
            locked.identity, os.environ.get("GITHUB_SERVER_URL") or None
        )["slug"]
        items.append((f"sources/{slug}", tree))
        for model in locked.models:
            info = infos[(locked.identity, model.name)]
            payload, layout = _model_payload(info)
            kind, size, sha = _digest.digest(payload, follow=False)
            if (kind, sha) != (model.kind, model.sha256):
                raise ChecksumError(
                    f"model '{shown(model.name)}' is corrupt (it is not what was downloaded); "
                    "'remotezoo cache verify --delete' removes it, download it again"
                )
            if sha not in payloads:
                payloads.add(sha)
                items.append((f"models/{sha}/payload", payload))
            index.append(
                {"source": locked.identity, "name": model.name, "sha256": sha, "layout": layout}
            )
        kept.append(locked)
    bundled = _lockfile.LockFile(tuple(kept))
    with tempfile.TemporaryDirectory(prefix=".rz-export-") as tmp:
        lock_path = os.path.join(tmp, LOCK_NAME)
        index_path = os.path.join(tmp, INDEX_NAME)
        with open(lock_path, "w") as f:
            f.write(_lockfile.dumps(bundled))
        with open(index_path, "w") as f:
            json.dump(
                {
                    "remotezoo_bundle": FORMAT,
                    "models": sorted(index, key=lambda m: (m["source"], m["name"])),
                },
                f,
                indent=2,
            )
            f.write("\n")
        target = os.path.abspath(os.fsdecode(os.fspath(path)))
        _net.write_archive(target, [(LOCK_NAME, lock_path), (INDEX_NAME, index_path), *items])
    return target


def _read_index(path: str, lock: _lockfile.LockFile) -> dict[tuple[str, str], str]:
    """{(source, model): layout} of bundle.json, checked against the bundle's lock."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read(_MAX_INDEX_BYTES + 1))
    except (OSError, ValueError) as err:
        raise BundleError(f"the bundle's {INDEX_NAME} cannot be read: {err}") from None
    if (
        not isinstance(doc, dict)
        or doc.get("remotezoo_bundle") != FORMAT
        or not isinstance(doc.get("models"), list)
    ):
        raise BundleError(
            f"the bundle's {INDEX_NAME} is not a format {FORMAT} remotezoo bundle index"
        )
    layouts: dict[tuple[str, str], str] = {}
    for item in doc["models"]:
        if not isinstance(item, dict) or item.get("layout") not in ("plain", "link"):
            raise BundleError(f"the bundle's {INDEX_NAME} has a malformed entry")
        source, name, sha = item.get("source"), item.get("name"), item.get("sha256")
        locked = lock.source(source) if isinstance(source, str) else None
        model = locked.model(name) if locked and isinstance(name, str) else None
        if model is None or model.sha256 != sha:
            raise BundleError(
                f"the bundle's {INDEX_NAME} names a model its lock file does not: {shown(name)}"
            )
        layouts[(source, name)] = item["layout"]  # type: ignore[index]
    return layouts


def _check_links(root: str, what: str) -> None:
    """Refuse a tree with a symbolic link that leads out of it (extraction kept links inside
    the whole bundle; a source or model must not reach into another one)."""
    real_root = os.path.realpath(root)
    if not os.path.isdir(root):
        return
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(base, name)
            if os.path.islink(path) and not _inside(os.path.realpath(path), real_root):
                raise BundleError(
                    f"{what} in the bundle has a link leading out of it: "
                    f"{shown(os.path.relpath(path, root))}"
                )


def import_bundle(
    path: PathLike, lock: Optional[PathLike] = None, trust: bool = False
) -> list[Imported]:
    """Register the sources and place the models of the bundle at *path*, with no network.
    Every digest is checked (against the bundle's lock, and *lock* when given) before anything
    is registered. With *trust*, the imported sources are trusted (``remotezoo sources
    trust``) at what the bundle holds."""
    root = home()
    require_writable(root, "import a bundle")
    expected = _lockfile.read(lock) if lock is not None else None
    os.makedirs(root, exist_ok=True)
    # A private directory the C core holds locked (csrc/util/lock.h) while the import runs and
    # removes after it: `cache gc` removes an .rz-import-* directory only when no process holds
    # it, whatever the lock mechanism, i.e. what a killed import left.
    done: list[Imported] = _core.held_dir(
        root, ".rz-import-", lambda work: _import_into(work, path, root, expected, trust)
    )
    return done


def _import_into(
    work: str, path: PathLike, root: str, expected: Optional[_lockfile.LockFile], trust: bool
) -> list[Imported]:
    """:func:`import_bundle`'s work in its private directory *work*."""
    from . import _digest, _net, _trust

    done: list[Imported] = []
    content = os.path.join(work, "bundle")
    _net.extract_archive(os.fspath(path), content, False)
    bundled = _lockfile.read(os.path.join(content, LOCK_NAME))
    layouts = _read_index(os.path.join(content, INDEX_NAME), bundled)
    problem = _lockfile.outside(expected, bundled) if expected is not None else None
    if expected is not None and problem:
        raise BundleError(f"the bundle differs from your lock file {expected.path}: {problem}")
    _lockfile.check_frozen(bundled, "the bundle")
    server = os.environ.get("GITHUB_SERVER_URL") or None
    trees: dict[str, str] = {}
    for source in bundled.sources:
        if source.kind == "local" or source.redacted or not source.tree_sha256:
            raise BundleError(
                f"the bundle's source {shown(source.identity)} cannot be imported (local, "
                "redacted or without a tree digest)"
            )
        slug = _core.parse_source_spec(source.identity, server)["slug"]
        tree = os.path.join(content, "sources", slug)
        if os.path.islink(tree):
            raise BundleError(f"the bundle's tree of source {shown(source.identity)} is a link")
        _check_links(tree, f"source {source.identity}")
        if (
            not os.path.isdir(tree)
            or _digest.digest(tree, follow=False, skip_pycache=True)[2] != source.tree_sha256
        ):
            raise BundleError(
                f"the bundle's tree of source {shown(source.identity)} is missing or does not "
                "match its lock file"
            )
        trees[source.identity] = tree
        for model in source.models:
            payload = os.path.join(content, "models", model.sha256, "payload")
            if os.path.islink(payload):
                raise BundleError(f"the bundle's model '{shown(model.name)}' is a link")
            _check_links(payload, f"model {model.name}")
            if (source.identity, model.name) not in layouts or not os.path.lexists(payload):
                raise BundleError(f"the bundle lacks model '{shown(model.name)}'")
            kind, _, sha = _digest.digest(payload, follow=False)
            if (kind, sha) != (model.kind, model.sha256):
                raise BundleError(
                    f"the bundle's model '{shown(model.name)}' does not match its lock file"
                )
    registered = {s["identity"]: s for s in _core.list_sources(root)}
    uses: dict[str, int] = {}
    for source in bundled.sources:
        for model in source.models:
            uses[model.sha256] = uses.get(model.sha256, 0) + 1
    for source in bundled.sources:
        current = registered.get(source.identity)
        if current is not None and not _lockfile.differences(source, current):
            done.append(Imported("source", source.identity, "kept"))
        else:
            _core.register_source(
                root,
                _lockfile.registration_spec(source, source.identity),
                current is not None,
                None,
                _lockfile.registration_pin(source, tree_from=trees[source.identity]),
            )
            done.append(Imported("source", source.identity, "registered"))
            current = None  # read again below, when trust needs what was registered
        if trust:
            if current is None:
                registered = {s["identity"]: s for s in _core.list_sources(root)}
                current = registered[source.identity]
            _trust.record(
                source.identity,
                source.kind,
                current["content"] or "",
                current.get("tree_sha256"),
                root,
            )
        for model in source.models:
            info = _core.resolve_model(root, model.name, source.identity)
            if (
                os.path.lexists(info["model_path"])
                and _lockfile.model_digest(info)[2] == model.sha256
            ):
                done.append(Imported("model", model.name, "kept"))
                continue
            _core.download_model(
                root,
                model.name,
                source.identity,
                os.path.lexists(info["model_path"]),
                None,
                None,
                _lockfile.expectation(model),
                {
                    "path": _stage(content, work, model.sha256, uses),
                    "layout": layouts[(source.identity, model.name)],
                },
            )
            done.append(Imported("model", model.name, "placed"))
    return done


def _stage(content: str, work: str, sha: str, uses: dict[str, int]) -> str:
    """The payload of digest *sha*, for one placement: the extracted one itself for its last
    use (the core moves it into place), a copy beside it before."""
    payload = os.path.join(content, "models", sha, "payload")
    uses[sha] -= 1
    if uses[sha] == 0:
        return payload
    copy = tempfile.mkdtemp(prefix="copy-", dir=work)
    staged = os.path.join(copy, "payload")
    if os.path.isdir(payload) and not os.path.islink(payload):
        shutil.copytree(payload, staged, symlinks=True)
    else:
        shutil.copy2(payload, staged, follow_symlinks=False)
    return staged
