"""The zoo API, with FiftyOne's names and meanings: sources and the models they publish.

Everything here is a thin layer over ``remotezoo._core``, which does the fetching,
extraction, registry, version resolution and the calls into each source's ``__init__.py``.
"""

from __future__ import annotations

import importlib
import os
import weakref
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _core
from ._core import ModelNotFoundError, SourceError
from ._home import home
from ._log import logger, shown
from ._model import RemoteZooModel, ZooModel
from ._progressbar import Progress, progress_for

if TYPE_CHECKING:
    from ._core import _ModelInfo


StrOrList = Union[str, list[str], None]

# (source, model name, kwargs) -> the live object load_zoo_model returned, while it lives.
_loaded: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()


def _requirements() -> Any:
    """The requirements module, imported on first use: importlib.metadata, which it needs, is
    slow to import, and most calls never check requirements."""
    from . import _requirements as module

    return module


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
    """
    with progress_for(progress, desc=source) as callback:
        identity = _core.register_source(home(), source, overwrite, callback)
    logger().info("Registered source %s", shown(identity))


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
    """Return what is recorded of each source: identity, spec, kind, ref, sha, registered_at."""
    return [dict(s) for s in sorted(_core.list_sources(home()), key=lambda s: s["identity"])]


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


def download_zoo_model(
    name_or_spec: str,
    model_name: Optional[str] = None,
    overwrite: bool = False,
    *,
    progress: Progress = None,
) -> tuple[RemoteZooModel, str]:
    """Download a model unless it is downloaded already; return ``(model, model_path)``.

    *name_or_spec* is a model name, or a source spec (registered first) with *model_name*
    choosing its model (optional when the source has one model). The source's
    ``download_model(model_name, model_path)`` runs, or for a ``manager`` model the C core
    fetches ``config.url``; a declared ``sha256`` is verified. A failed download leaves
    nothing behind. *progress* is as in :func:`register_zoo_model_source` (a ``manager``
    download reports it; a source's own ``download_model`` reports what it reports).
    """
    name, source = _split(name_or_spec, model_name)
    with progress_for(progress, desc=name) as callback:
        info, fresh = _core.download_model(home(), name, source, overwrite, callback)
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
) -> bool:
    """Check that the packages model *name* requires are installed.

    *error_level*: 0 raise :class:`RequirementsError`, 1 log a warning, 2 ignore (default
    ``$REMOTEZOO_REQUIREMENT_ERROR_LEVEL`` or 0). Returns whether they are satisfied.
    """
    model, info = _requirements_of(name, source)
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
    name: str, error_level: Optional[int] = None, source: Optional[str] = None
) -> None:
    """Install the packages model *name* requires with ``pip``; *error_level* as in
    :func:`ensure_zoo_model_requirements`."""
    model, info = _requirements_of(name, source)
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
    config_dict = dict(model.default_deployment_config_dict or {})
    config = dict(config_dict.get("config") or {}, **kwargs)
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
    **kwargs: Any,
) -> Any:
    """Load a model, downloading it first if necessary, and return what the source's
    ``load_model(model_name, model_path, **kwargs)`` returns.

    *name_or_spec* and *model_name* are as in :func:`download_zoo_model`. Requirements are
    checked (*ensure_requirements*) or installed (*install_requirements*) first, per
    *error_level*. With *cache*, the same live object is returned for the same source, model
    and keyword arguments while it is alive. Every other keyword goes to ``load_model``.
    """
    name, source = _split(name_or_spec, model_name)
    info = _core.resolve_model(home(), name, source)
    key = _cache_key(info, kwargs) if cache else None
    if key is not None:
        live = _loaded.get(key)
        if live is not None:
            return live
    if not _is_downloaded(info):
        if not download_if_necessary:
            raise ModelNotFoundError(f"Model '{shown(info['name'])}' is not downloaded")
        with progress_for(None, desc=info["name"]) as callback:
            info, _ = _core.download_model(home(), info["name"], info["source"], False, callback)
    model = _model(info)
    if model.requirements is None:
        pass  # nothing to check or install
    elif install_requirements:
        _requirements().install_requirements(
            model.name,
            model.requirements,
            info["source_dir"],
            error_level=error_level,
            source=info["source"],
        )
    elif ensure_requirements:
        _requirements().ensure_requirements(
            model.name,
            model.requirements,
            info["source_dir"],
            error_level=error_level,
            source=info["source"],
        )
    if model.default_deployment_config_dict is not None:
        loaded = _build_from_config(model, info["model_path"], kwargs)
    else:
        loaded = _core.load_model(home(), info["name"], info["source"], kwargs)
    if key is not None:
        try:
            _loaded[key] = loaded
        except TypeError:
            pass  # not weak-referenceable: not cached
    return loaded
