"""The zoo API, with FiftyOne's names and meanings: sources and the models they publish.

Everything here is a thin layer over ``remotezoo._core``, which does the fetching,
extraction, registry, version resolution and the calls into each source's ``__init__.py``.
"""

from __future__ import annotations

import importlib
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from . import _core
from ._core import ChecksumError, ModelNotFoundError, SourceError
from ._errors import TrustStoreError, UntrustedSourceError
from ._home import home
from ._log import logger, shown
from ._model import RemoteZooModel, ZooModel
from ._progressbar import Progress, progress_for

if TYPE_CHECKING:
    from . import _bundle, _cache, _lockfile
    from ._core import _ModelInfo, _SourceInfo

DEFAULT_LOCK_FILE = "remotezoo.lock"  # _lockfile.DEFAULT_NAME, without importing it


StrOrList = Union[str, list[str], None]

# (source, model name, kwargs) -> the live object load_zoo_model returned, while it lives.
_loaded: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()


def _requirements() -> Any:
    """The requirements module, imported on first use: importlib.metadata, which it needs, is
    slow to import, and most calls never check requirements."""
    from . import _requirements as module

    return module


def _frozen() -> Optional[_lockfile.LockFile]:
    """The lock of frozen mode (``REMOTEZOO_LOCKFILE``), or ``None``. _lockfile is imported
    only when there is one: its callers import it only under ``if lock is not None``."""
    if not os.environ.get("REMOTEZOO_LOCKFILE"):
        return None
    from . import _lockfile

    return _lockfile.frozen()


def _check_source(lock: _lockfile.LockFile, info: _SourceInfo) -> None:
    """Refuse the registered source *info* when it differs from *lock* (frozen mode)."""
    from . import _lockfile

    _lockfile.check_source(lock, info)


def _as_list(value: StrOrList) -> Optional[list[str]]:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


# ---- sources ----------------------------------------------------------------------------


def register_zoo_model_source(
    source: str, overwrite: bool = False, *, progress: Progress = None
) -> None:
    """Register a remote source of models.

    *source* is a GitHub repo (``https://github.com/<user>/<repo>``, ``.../tree/<ref>``,
    ``.../commit/<sha>``, ``<user>/<repo>[/<ref>]``), a public archive URL (``.zip``,
    ``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``, ``.tar.zst``) or a local
    directory. Registering a registered source does nothing unless *overwrite*, which
    re-fetches it atomically (the old copy stays usable until the new one is complete).

    *progress*: ``None`` or ``True`` shows a bar while the source is fetched when someone can
    see it (a terminal or Jupyter; not with ``REMOTEZOO_NO_PROGRESS=1``), ``False`` never; a
    callable is called as ``progress(done, total)`` instead.

    Registering runs none of the source's code. A local directory is trusted by the user who
    registers it (:func:`trust_zoo_model_source`). In frozen mode (``REMOTEZOO_LOCKFILE``) a
    source the lock does not list, a ref that now names another commit, an archive or a tree
    of another digest raises :class:`LockFileError` before anything is registered.
    """
    from . import _trust

    root = home()
    lock = _frozen()
    pin: Optional[dict[str, str]] = None
    local = False
    if lock is not None:
        from . import _lockfile

        locked = _lockfile.require_source(lock, _core.source_identity(source))
        local = locked.kind == "local"
        if local:
            # Checked here, once: registering a local directory fetches nothing, and hashing
            # its tree again after would only repeat this.
            _lockfile.check_local(lock, locked)
        pin = _lockfile.registration_pin(locked)
    with progress_for(progress, desc=source) as callback:
        identity = _core.register_source(root, source, overwrite, callback, pin)
    info = _source_info(identity)
    if lock is not None and not local:
        _check_source(lock, info)
    if info["kind"] == "local":
        try:
            _trust.record(identity, "local", "local", None, root)
        except (OSError, TrustStoreError) as err:
            logger().warning(
                "local source %s registered but not recorded as trusted: %s",
                shown(identity),
                shown(err),
            )
    logger().info("Registered source %s", shown(identity))


def _source_info(identity: str) -> _SourceInfo:
    for info in _core.list_sources(home()):
        if info["identity"] == identity:
            return info
    raise SourceError(
        f"source {shown(identity)} is not registered; 'remotezoo sources list' shows those that are"
    )


def list_zoo_model_sources() -> list[str]:
    """Return the registered sources, as normalised URLs, sorted."""
    return sorted(s["identity"] for s in _core.list_sources(home()))


def delete_zoo_model_source(source: str) -> None:
    """Unregister *source* and delete its files and the models downloaded from it.

    Raises :class:`SourceError` (a ``ValueError``) if it is not registered.
    """
    _core.delete_source(home(), source)
    logger().info("Deleted source %s", shown(source))


def zoo_model_sources_info() -> list[dict[str, Any]]:
    """Return what is recorded of each source: identity, spec, kind, ref, sha (a GitHub
    source's commit), archive_sha256 (an archive source's digest), tree_sha256 (the fetched
    tree's digest), tree (its directory), registered_at, and whether this user trusts it."""
    from . import _trust

    try:
        decisions: Optional[list[_trust.Decision]] = _trust.decisions()
    except TrustStoreError:
        decisions = None  # a store not believed trusts nothing
    out = []
    for s in sorted(_core.list_sources(home()), key=lambda s: s["identity"]):
        entry: dict[str, Any] = dict(s)
        content = entry.pop("content")
        entry["trusted"] = decisions is not None and _trust.is_trusted(
            s["identity"], s["kind"], content, s.get("tree_sha256"), recorded=decisions
        )
        out.append(entry)
    return out


def trust_zoo_model_source(source: str, at: Optional[str] = None) -> str:
    """Trust the code of the registered *source* at what is registered now: its commit (GitHub),
    its archive's sha256, or (a local directory) whatever it holds, for this user. *at* must then
    be exactly that content, so that you trust what you reviewed even if the source was
    registered again meanwhile. Returns the content trusted.

    Trust is keyed to content: a branch force-pushed to other code, or another archive at the
    same URL, is not trusted until trusted again. It matters under ``REMOTEZOO_TRUST=prompt``
    and ``strict`` (``warn``, the default, runs untrusted code with a warning, as FiftyOne
    runs it without one)."""
    from . import _trust

    info = _source_info(_core.source_identity(source))
    content = info["content"]
    if not content:
        raise SourceError(
            f"source {shown(info['identity'])} was registered by an older remotezoo, which did not "
            "record what it fetched; register it again with overwrite=True, then trust it"
        )
    if at is not None and at.strip().lower() != content:
        raise UntrustedSourceError(
            f"source {shown(info['identity'])} is registered at "
            f"{_trust.content_kind(info['kind'])} {content}, "
            f"not {shown(at)}; nothing was trusted"
        )
    _trust.record(info["identity"], info["kind"], content, info.get("tree_sha256"))
    logger().info("Trusted source %s at %s", shown(info["identity"]), content)
    return content


def untrust_zoo_model_source(source: str, at: Optional[str] = None) -> int:
    """Drop this user's trust in *source* (only at content *at* when given); return how many
    decisions were dropped. The source need not be registered."""
    from . import _trust

    return _trust.forget(_core.source_identity(source), at.strip().lower() if at else None)


def trusted_zoo_model_sources() -> list[dict[str, Any]]:
    """This user's trust decisions: identity (redacted), kind, content, tree_sha256, trusted_at."""
    from . import _trust

    uid = os.geteuid()
    return [
        {
            "identity": d.identity,
            "kind": d.kind,
            "content": d.content,
            "tree_sha256": d.tree,
            "trusted_at": d.trusted_at,
        }
        for d in _trust.decisions()
        if d.uid == uid
    ]


# ---- models -----------------------------------------------------------------------------


def list_zoo_models(
    tags: StrOrList = None, source: Optional[str] = None, license: StrOrList = None
) -> list[str]:
    """Return the full names of the models of the registered sources, sorted.

    *tags*: a tag or list of tags that must all match; *source*: only this source's models;
    *license*: a license or list of licenses, any of which matches.
    """
    return _core.list_models(home(), _as_list(tags), source, _as_list(license))


def _model(info: _ModelInfo) -> RemoteZooModel:
    try:
        manifest = _core.load_manifest(info["manifest_path"], info["source"])
    except FileNotFoundError:
        # Another process replaced (overwrite) or deleted the source since info was resolved:
        # resolve again (ModelNotFoundError if it is gone), once.
        info = _core.resolve_model(home(), info["name"], info["source"])
        try:
            manifest = _core.load_manifest(info["manifest_path"], info["source"])
        except FileNotFoundError:
            raise ModelNotFoundError(
                f"source {shown(info['source'])} of model '{shown(info['name'])}' was "
                "replaced or deleted while it was being read; try again"
            ) from None
    for entry in manifest["models"]:
        if entry["name"] == info["name"]:
            return RemoteZooModel(entry, info, os.path.join(home(), "models"))
    raise SourceError(
        f"manifest.json of {shown(info['source'])} no longer has model '{shown(info['name'])}'; "
        "register the source again"
    )


def get_zoo_model(name: str, source: Optional[str] = None) -> RemoteZooModel:
    """Return the :class:`RemoteZooModel` of *name* (``base_name`` for the latest version, or
    ``base_name@version``); *source* chooses among sources offering the same model."""
    return _model(_core.resolve_model(home(), name, source))


def find_zoo_model(name: str, source: Optional[str] = None) -> str:
    """Return the path of downloaded model *name*; :class:`ModelNotFoundError` if it is not
    downloaded."""
    info = _core.resolve_model(home(), name, source)
    if not _is_downloaded(info):
        raise ModelNotFoundError(f"Model '{shown(info['name'])}' is not downloaded")
    return info["model_path"]


def _is_downloaded(info: _ModelInfo) -> bool:
    return os.path.lexists(info["model_path"])


def is_zoo_model_downloaded(name: str, source: Optional[str] = None) -> bool:
    """Return whether model *name* has been downloaded (completely)."""
    return _is_downloaded(_core.resolve_model(home(), name, source))


def list_downloaded_zoo_models() -> dict[str, tuple[str, RemoteZooModel]]:
    """Return ``{name: (model_path, model)}`` for every downloaded model."""
    return {
        info["name"]: (info["model_path"], _model(info)) for info in _core.list_downloaded(home())
    }


def delete_zoo_model(name: str, source: Optional[str] = None) -> None:
    """Delete the downloaded files of model *name* (nothing happens if it is not downloaded)."""
    if _core.delete_model(home(), name, source):
        logger().info("Deleted model %s", shown(name))


def _split(name_or_spec: str, model_name: Optional[str]) -> tuple[str, Optional[str]]:
    """(model name, source spec or None). As in FiftyOne, only a URL (``://``) or an explicit
    *model_name* names a source, which is registered first; anything else is only ever a model
    name: an unknown or ambiguous one is an error at once, never a registration or a fetch
    (a typo in a model name must not run some repository's code)."""
    if model_name is None and "://" not in name_or_spec:
        return name_or_spec, None
    register_zoo_model_source(name_or_spec)
    if model_name is None:
        models = list_zoo_models(source=name_or_spec)
        if len(models) != 1:
            raise ValueError(
                f"source {shown(name_or_spec)} has {len(models)} models; pass model_name= to "
                f"choose one of {shown(models)}"
            )
        model_name = models[0]
    return model_name, name_or_spec


def _download(
    name: str,
    source: Optional[str],
    overwrite: bool,
    callback: Any,
    gate: Callable[..., None],
    frozen: Optional[tuple[_lockfile.LockFile, _ModelInfo]] = None,
) -> tuple[_ModelInfo, bool]:
    """The download of model *name* through the C core, with the trust *gate*. In frozen mode
    *frozen* is the lock and the model *name* resolved to, whose source the caller checked
    against the lock: the download must have the lock's digest before it is kept."""
    lock: Optional[_lockfile.LockFile] = None
    expect = None
    if frozen is not None:
        from . import _lockfile

        lock, resolved = frozen
        expect = _lockfile.expectation(
            _lockfile.require_model(lock, resolved["source"], resolved["name"])
        )
    try:
        info, fresh = _core.download_model(home(), name, source, overwrite, callback, gate, expect)
    except ChecksumError as err:
        if lock is None:
            raise
        raise _lockfile.model_mismatch(err, name, lock) from err
    if lock is not None and not fresh:
        _lockfile.check_model(lock, info)
    return info, fresh


def download_zoo_model(
    name_or_spec: str,
    model_name: Optional[str] = None,
    overwrite: bool = False,
    *,
    progress: Progress = None,
    trust: Optional[str] = None,
) -> tuple[RemoteZooModel, str]:
    """Download a model unless it is downloaded already; return ``(model, model_path)``.

    *name_or_spec* is a model name, or a source spec (registered first) with *model_name*
    choosing its model (optional when the source has one model). The source's
    ``download_model(model_name, model_path)`` runs, or for a ``manager`` model the C core
    fetches ``config.url``; a declared ``sha256`` is verified. A failed download leaves
    nothing behind. *progress* is as in :func:`register_zoo_model_source` (a ``manager``
    download reports it; a source's own ``download_model`` reports what it reports).

    *trust* is the trust policy for the source's code (default ``$REMOTEZOO_TRUST``, else
    ``warn``; see :func:`trust_zoo_model_source`). The digest of what arrived is recorded (for
    lock files and ``remotezoo cache verify``); in frozen mode (``REMOTEZOO_LOCKFILE``) it must
    be the lock's, or nothing is kept and :class:`LockFileError` says what differs.
    """
    from . import _trust

    name, source = _split(name_or_spec, model_name)
    root = home()
    gate = _trust.gate(trust, root)  # a bad policy fails before anything runs
    lock = _frozen()
    frozen = None
    if lock is not None:
        resolved = _core.resolve_model(root, name, source)
        _check_source(lock, _source_info(resolved["source"]))
        frozen = (lock, resolved)
    with progress_for(progress, desc=name) as callback:
        info, fresh = _download(name, source, overwrite, callback, gate, frozen)
    logger().info(
        "Model '%s' %s", shown(info["name"]), "downloaded" if fresh else "is already downloaded"
    )
    return _model(info), info["model_path"]


def _requirements_of(name: str, source: Optional[str]) -> tuple[ZooModel, _ModelInfo]:
    info = _core.resolve_model(home(), name, source)
    return _model(info), info


def ensure_zoo_model_requirements(
    name: str,
    error_level: Optional[int] = None,
    log_success: bool = True,
    source: Optional[str] = None,
    *,
    trust: Optional[str] = None,
) -> bool:
    """Check that the packages model *name* requires are installed.

    *error_level*: 0 raise :class:`RequirementsError`, 1 log a warning, 2 ignore (default
    ``$REMOTEZOO_REQUIREMENT_ERROR_LEVEL`` or 0). Returns whether they are satisfied. An
    ``entrypoint_fcn`` the manifest names is code of the source: *trust* as in
    :func:`download_zoo_model`.
    """
    from . import _trust

    model, info = _requirements_of(name, source)
    with _trust.running(info, trust):
        return bool(
            _requirements().ensure_requirements(
                model.name,
                model.requirements,
                info["source_dir"],
                error_level=error_level,
                log_success=log_success,
                source=info["source"],
            )
        )


def install_zoo_model_requirements(
    name: str,
    error_level: Optional[int] = None,
    source: Optional[str] = None,
    *,
    trust: Optional[str] = None,
) -> None:
    """Install the packages model *name* requires with ``pip``; *error_level* and *trust* as
    in :func:`ensure_zoo_model_requirements`."""
    from . import _trust

    model, info = _requirements_of(name, source)
    with _trust.running(info, trust):
        _requirements().install_requirements(
            model.name,
            model.requirements,
            info["source_dir"],
            error_level=error_level,
            source=info["source"],
        )


def _cache_key(info: _ModelInfo, kwargs: dict[str, Any]) -> Optional[tuple[Any, ...]]:
    key = (info["source"], info["name"], tuple(sorted(kwargs.items())))
    try:
        hash(key)
    except TypeError:
        return None  # unhashable kwargs: not cached
    return key


def _build_from_config(model: ZooModel, model_path: str, kwargs: dict[str, Any]) -> Any:
    """A model defined by ``default_deployment_config_dict``: through FiftyOne when it is
    installed (exactly as FiftyOne builds it), else ``type`` imported and constructed."""
    from . import _trust

    config_dict = dict(model.default_deployment_config_dict or {})
    config = dict(config_dict.get("config") or {}, **kwargs)
    # The manifest names the class that runs: code of the source, as its __init__.py is.
    _trust.before_manifest_code(f"default_deployment_config_dict type '{config_dict.get('type')}'")
    try:
        import fiftyone.core.models as fom  # type: ignore[import-not-found]
    except ImportError:
        fom = None
    if fom is not None:
        built = fom.ModelConfig.from_dict({**config_dict, "config": config})
        built.config.model_path = model_path
        return built.build()
    type_path = config_dict.get("type")
    if not isinstance(type_path, str) or "." not in type_path:
        raise SourceError(
            f"model '{shown(model.name)}' has a default_deployment_config_dict without a dotted "
            "'type' and no load_model(); it cannot be built"
        )
    module_name, _, attr = type_path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise SourceError(
            f"model '{shown(model.name)}' needs {shown(type_path)} "
            f"(default_deployment_config_dict), which cannot be imported: {err}; install FiftyOne "
            "or the package that provides it"
        ) from err
    config["model_path"] = model_path
    from_dict = getattr(cls, "from_dict", None)
    return from_dict(config) if callable(from_dict) else cls(**config)


def load_zoo_model(
    name_or_spec: str,
    model_name: Optional[str] = None,
    download_if_necessary: bool = True,
    ensure_requirements: bool = True,
    install_requirements: bool = False,
    error_level: Optional[int] = None,
    cache: bool = True,
    *,
    trust: Optional[str] = None,
    **kwargs: Any,
) -> Any:
    """Load a model, downloading it first if necessary, and return what the source's
    ``load_model(model_name, model_path, **kwargs)`` returns.

    *name_or_spec* and *model_name* are as in :func:`download_zoo_model`. Requirements are
    checked (*ensure_requirements*) or installed (*install_requirements*) first, per
    *error_level*. With *cache*, the same live object is returned for the same source, model
    and keyword arguments while it is alive. Every other keyword goes to ``load_model``.

    *trust* is the trust policy for the source's code, as in :func:`download_zoo_model`: its
    ``load_model``, ``download_model``, requirement entrypoints and the type of a
    ``default_deployment_config_dict`` are all checked. In frozen mode
    (``REMOTEZOO_LOCKFILE``) the source and the model must be the lock's.
    """
    from . import _trust

    name, source = _split(name_or_spec, model_name)
    root = home()
    gate = _trust.gate(trust, root)  # a bad policy fails before anything runs
    lock = _frozen()
    info = _core.resolve_model(root, name, source)
    if lock is not None:
        _check_source(lock, _source_info(info["source"]))
    key = _cache_key(info, kwargs) if cache else None
    if key is not None:
        live = _loaded.get(key)
        if live is not None:
            return live
    if not _is_downloaded(info):
        if not download_if_necessary:
            raise ModelNotFoundError(f"Model '{shown(info['name'])}' is not downloaded")
        frozen = (lock, info) if lock is not None else None
        with progress_for(None, desc=info["name"]) as callback:
            info, _ = _download(info["name"], info["source"], False, callback, gate, frozen)
    elif lock is not None:
        from . import _lockfile

        _lockfile.check_model(lock, info)
    model = _model(info)
    with _trust.running(info, trust):
        if model.requirements is not None and (install_requirements or ensure_requirements):
            reqs = _requirements()
            meet = reqs.install_requirements if install_requirements else reqs.ensure_requirements
            meet(
                model.name,
                model.requirements,
                info["source_dir"],
                error_level=error_level,
                source=info["source"],
            )
        if model.default_deployment_config_dict is not None:
            loaded = _build_from_config(model, info["model_path"], kwargs)
        else:
            loaded = _core.load_model(root, info["name"], info["source"], kwargs, gate)
    if key is not None:
        try:
            _loaded[key] = loaded
        except TypeError:
            pass  # not weak-referenceable: not cached
    return loaded


# ---- lock files, caches, bundles -------------------------------------------------------------


def lock_zoo(
    path: Optional[str] = DEFAULT_LOCK_FILE,
    sources: Optional[list[str]] = None,
    models: Optional[list[str]] = None,
) -> _lockfile.LockFile:
    """Write a lock file of the registered sources and their downloaded models (or only
    *sources*, only *models*) to *path* (``None``: write nothing) and return it.

    For each source: its identity, spec, kind, the commit (GitHub) or the archive's sha256 it
    was fetched at, and its tree's digest; for each model: ``name@version``, its size and the
    sha256 recorded when it was downloaded. :func:`sync_zoo` makes another machine match it;
    ``REMOTEZOO_LOCKFILE`` set to it refuses anything that differs (frozen mode)."""
    from . import _lockfile

    lock = _lockfile.build(sources, models)
    if path is not None:
        _lockfile.write(lock, path)
    return lock


def sync_zoo(
    path: str = DEFAULT_LOCK_FILE,
    *,
    trust_locked: bool = False,
    trust: Optional[str] = None,
    models: bool = True,
    progress: Progress = None,
) -> list[_lockfile.Synced]:
    """Make this machine's zoo match the lock file at *path*: register each source at exactly
    its locked commit or archive (whatever its ref names now), download each locked model and
    check every digest before anything is kept. *trust_locked* trusts the locked sources
    (their code runs when models download); *trust* is the policy otherwise. Returns what was
    done, one :class:`~remotezoo._lockfile.Synced` per source and model."""
    from . import _lockfile

    return _lockfile.sync(
        _lockfile.read(path),
        trust_locked=trust_locked,
        trust=trust,
        models=models,
        progress=progress,
    )


def zoo_cache_usage() -> _cache.Usage:
    """Sizes on disk of the cache, by source and model (``remotezoo cache du``)."""
    from . import _cache

    return _cache.usage()


def verify_zoo_cache(delete: bool = False) -> list[_cache.Verdict]:
    """Re-hash every downloaded model (and fetched source tree) against the digest recorded
    when it arrived (``remotezoo cache verify``); with *delete*, delete corrupt models."""
    from . import _cache

    return _cache.verify(delete)


def gc_zoo_cache(apply: bool = False) -> list[_cache.Garbage]:
    """What no source, model or live process uses (``remotezoo cache gc``): listed, and removed
    with *apply*."""
    from . import _cache

    return _cache.gc(apply)


def zoo_doctor() -> list[_cache.Check]:
    """Check this machine's set-up for remotezoo (``remotezoo doctor``)."""
    from . import _cache

    return _cache.doctor()


def export_zoo(
    path: str, models: Optional[list[str]] = None, sources: Optional[list[str]] = None
) -> str:
    """Write the registered sources and downloaded models (or only *models*, *sources*) and
    their lock file into one archive at *path* (``remotezoo export``), for a machine without
    network: :func:`import_zoo` installs it there."""
    from . import _bundle

    return _bundle.export(path, models, sources)


def import_zoo(
    path: str, lock: Optional[str] = None, trust: bool = False
) -> list[_bundle.Imported]:
    """Register the sources and place the models of a bundle :func:`export_zoo` wrote, with no
    network, checking every digest (against *lock* too, when given) before anything is
    registered. With *trust*, trust the imported sources at what the bundle holds."""
    from . import _bundle

    return _bundle.import_bundle(path, lock, trust)
