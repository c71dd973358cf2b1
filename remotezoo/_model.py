"""Model objects: one model of a source's manifest.json, with the public attributes and methods
of FiftyOne's zoo models (``fiftyone.zoo.models.ZooModel`` and ``RemoteZooModel``, built on
eta's ``Model``, ``ModelRequirements`` and ``ModelManager``) and the same meanings, plus
remotezoo's ``manifest`` and ``zoo_source``.
"""

from __future__ import annotations

import copy
import datetime
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Optional

from . import _core

if TYPE_CHECKING:
    from ._core import _ModelEntry, _ModelInfo, _ParsedManifest

# What eta's Model.serialize() writes, in its order.
_SERIALIZED = (
    "base_name",
    "base_filename",
    "author",
    "version",
    "url",
    "source",
    "license",
    "description",
    "size_bytes",
    "manager",
    "default_deployment_config_dict",
    "requirements",
    "tags",
    "date_added",
    "training_data",
)

_ISO_TIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    re.IGNORECASE,
)


def parse_date(text: Optional[str]) -> Optional[datetime.datetime]:
    """A manifest's ``date_added`` as a datetime, as eta reads it: ``None`` when empty.

    ISO 8601 dates and times (``2024-05-14``, ``2020-12-11 14:26:39``, ``...T...Z``,
    ``...+02:00``); a time zone makes the result aware, none leaves it naive. Text in another
    format gives ``None`` (eta's dateutil reads more formats; FiftyOne then fails to load the
    whole manifest on what it cannot read).
    """
    if not text:
        return None
    m = _ISO_TIME.match(text.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, fraction, zone = m.groups()
    tz: Optional[datetime.tzinfo] = None
    if zone and zone.upper() == "Z":
        tz = datetime.timezone.utc
    elif zone:
        digits = zone[1:].replace(":", "")
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = datetime.timezone(offset if zone[0] == "+" else -offset)
    try:
        return datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tz,
        )
    except ValueError:  # 2024-02-30, 25:00, ...
        return None


class ModelVersion:
    """A model's version for comparisons, what ``comp_version`` returns.

    Ordered as distutils' ``LooseVersion``, as FiftyOne's ``comp_version`` (see
    :func:`remotezoo.compare_versions`); compares with another ModelVersion or a str. A model
    without a version is ``0.0.0``.
    """

    __slots__ = ("vstring",)

    def __init__(self, vstring: Optional[str]) -> None:
        self.vstring = vstring or "0.0.0"

    def _compare(self, other: object) -> Optional[int]:
        if isinstance(other, str):
            other = ModelVersion(other)
        if not isinstance(other, ModelVersion):
            return None
        return _core.version_compare(self.vstring, other.vstring)

    def __eq__(self, other: object) -> bool:
        diff = self._compare(other)
        return NotImplemented if diff is None else diff == 0

    def __lt__(self, other: object) -> bool:
        diff = self._compare(other)
        return NotImplemented if diff is None else diff < 0

    def __le__(self, other: object) -> bool:
        diff = self._compare(other)
        return NotImplemented if diff is None else diff <= 0

    def __gt__(self, other: object) -> bool:
        diff = self._compare(other)
        return NotImplemented if diff is None else diff > 0

    def __ge__(self, other: object) -> bool:
        diff = self._compare(other)
        return NotImplemented if diff is None else diff >= 0

    __hash__ = None  # type: ignore[assignment]  # "1.0" == "1.00": no hash agrees with that

    def __str__(self) -> str:
        return self.vstring

    def __repr__(self) -> str:
        return f"ModelVersion({self.vstring!r})"


class _Serialized:
    """Equality and repr by what ``serialize()`` gives (eta's objects compare by identity)."""

    def serialize(self, reflective: bool = False) -> dict[str, Any]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.serialize() == other.serialize()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.serialize()!r})"


class DeviceRequirements(dict[str, Any]):
    """The ``cpu`` or ``gpu`` part of a model's requirements: the manifest's object as a dict
    (as eta keeps it: ``["support"]``, ``.get("packages")``), with ``support`` and
    ``packages`` also as attributes (``None`` when absent)."""

    @property
    def support(self) -> Optional[bool]:
        """Whether the model runs on this device; ``None`` when the manifest does not say."""
        return self.get("support")

    @property
    def packages(self) -> Any:
        """The packages this device adds, in any form ``ModelRequirements.packages`` takes."""
        return self.get("packages")


class ModelRequirements(_Serialized):
    """A model's ``requirements``, as eta's ``ModelRequirements``.

    ``packages`` is what the manifest gives: a list of requirement strings, a comma-separated
    string, a requirements file path (inside the source), or ``{"entrypoint_fcn": "mod.fcn",
    "entrypoint_args": {...}}`` (a function returning one of those; it is called only when
    the requirements are checked or installed). ``cpu`` and ``gpu`` are
    :class:`DeviceRequirements` or ``None``. ``None`` everywhere means absent.
    """

    def __init__(
        self,
        packages: Any = None,
        cpu: Optional[Mapping[str, Any]] = None,
        gpu: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.packages = packages
        self.cpu = None if cpu is None else DeviceRequirements(cpu)
        self.gpu = None if gpu is None else DeviceRequirements(gpu)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelRequirements:
        """The requirements of a manifest's ``requirements`` object."""
        return cls(d.get("packages"), d.get("cpu"), d.get("gpu"))

    @property
    def supports_cpu(self) -> Optional[bool]:
        """Whether the model runs on CPU; ``None`` when unknown."""
        return None if self.cpu is None else self.cpu.support

    @property
    def supports_gpu(self) -> Optional[bool]:
        """Whether the model runs on GPU; ``None`` when unknown."""
        return None if self.gpu is None else self.gpu.support

    @property
    def cpu_packages(self) -> Any:
        """The packages the model needs on CPU besides ``packages``, or ``None``."""
        return None if self.cpu is None else self.cpu.packages

    @property
    def gpu_packages(self) -> Any:
        """The packages the model needs on GPU besides ``packages``, or ``None``."""
        return None if self.gpu is None else self.gpu.packages

    def attributes(self) -> list[str]:
        """The attributes :meth:`serialize` writes: those that are not ``None``."""
        return [a for a in ("packages", "cpu", "gpu") if getattr(self, a) is not None]

    def serialize(self, reflective: bool = False) -> dict[str, Any]:
        """The requirements as the manifest's object (a new dict)."""
        return {a: copy.deepcopy(_plain(getattr(self, a))) for a in self.attributes()}

    to_dict = serialize


class ModelManagerConfig(_Serialized):
    """A manager's ``config``: each key of the manifest's object is an attribute; those eta's
    ModelManagerConfig reads (``url``, ``google_drive_id``, ``extract_archive``,
    ``delete_archive``) are ``None`` when absent."""

    KNOWN_KEYS = ("url", "google_drive_id", "extract_archive", "delete_archive")

    def __init__(self, d: Mapping[str, Any]) -> None:
        self._values = copy.deepcopy(dict(d))

    def __getattr__(self, key: str) -> Any:
        # Only reached for what is not a regular attribute, so a key never hides a method.
        values = self.__dict__.get("_values", {})
        if key in values:
            return values[key]
        if key in self.KNOWN_KEYS:
            return None
        raise AttributeError(f"manager config has no {key!r}")

    def serialize(self, reflective: bool = False) -> dict[str, Any]:
        """The config as a dict, without the keys that are ``None`` (as eta writes it)."""
        return {k: copy.deepcopy(v) for k, v in self._values.items() if v is not None}


class ModelManager(_Serialized):
    """Where a model is downloaded from, as eta's ``ModelManager`` describes it: ``type``
    (the manifest's class name, e.g. ``fiftyone.core.models.ModelManager``) and ``config``
    (:class:`ModelManagerConfig`). remotezoo itself downloads ``config.url``
    (:func:`remotezoo.download_zoo_model`)."""

    def __init__(self, type: Optional[str], config: Mapping[str, Any]) -> None:
        self.type = type
        self.config = ModelManagerConfig(config)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelManager:
        """The manager of a manifest's ``manager`` object."""
        return cls(d.get("type"), d.get("config") or {})

    def is_model_downloaded(self, model_path: str) -> bool:
        """Whether a (complete) model is at *model_path*: a file, or a folder model's folder."""
        return os.path.lexists(model_path)

    def serialize(self, reflective: bool = False) -> dict[str, Any]:
        """The manager as the manifest's object (a new dict)."""
        return {"type": self.type, "config": self.config.serialize()}


class RemoteModelManager(ModelManager):
    """The manager of a registered model whose manifest has none: its source's
    ``download_model`` writes it (FiftyOne's ``RemoteModelManager``); ``config.model_name``
    is the model's full name."""

    def __init__(self, model_name: str) -> None:
        super().__init__(f"{__name__}.{type(self).__name__}", {"model_name": model_name})


def _plain(value: Any) -> Any:
    """*value* with the model's helper objects turned into the manifest's JSON values."""
    if isinstance(value, (ModelManager, ModelRequirements)):
        return value.serialize()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class ZooModel:
    """One model of a manifest.json, as FiftyOne's ``ZooModel``.

    The manifest's fields are attributes with eta's meanings (``None`` when absent or JSON
    null): ``base_name``, ``base_filename``, ``author``, ``version``, ``url``, ``source``,
    ``license``, ``description``, ``size_bytes``, ``tags``, ``training_data``,
    ``default_deployment_config_dict``, ``sha256``; ``requirements`` is a
    :class:`ModelRequirements`, ``manager`` a :class:`ModelManager` and ``date_added`` a
    ``datetime``. An unknown field is an attribute too. ``name`` is the full name
    (``base_name@version``), ``subdir`` the models folder of its source (relative, from the
    manifest's ``name``) and ``filename`` the version-aware filename inside it; ``manifest``
    is the model's manifest entry as a dict and ``zoo_source`` the registered source it comes
    from (``None`` for a manifest read directly). Two models are equal when both are.
    """

    KNOWN_FIELDS = (
        "base_name",
        "base_filename",
        "author",
        "version",
        "url",
        "license",
        "source",
        "description",
        "tags",
        "size_bytes",
        "date_added",
        "requirements",
        "manager",
        "default_deployment_config_dict",
        "sha256",
        "training_data",
    )

    name: str
    manifest: dict[str, Any]
    zoo_source: Optional[str]
    subdir: Optional[str]
    base_name: str
    base_filename: Optional[str]
    author: Optional[str]
    version: Optional[str]
    url: Optional[str]
    license: Optional[str]
    source: Optional[str]
    description: Optional[str]
    tags: Optional[list[str]]
    size_bytes: Optional[int]
    date_added: Optional[datetime.datetime]
    requirements: Optional[ModelRequirements]
    manager: Optional[ModelManager]
    default_deployment_config_dict: Optional[dict[str, Any]]
    sha256: Optional[str]
    training_data: Any

    def __init__(
        self,
        entry: _ModelEntry,
        zoo_source: Optional[str] = None,
        subdir: Optional[str] = None,
        path: Optional[str] = None,
    ) -> None:
        """*entry* is one model of a parsed manifest (``_core.parse_manifest``); *subdir*
        the source's models folder and *path* the model's path, both relative to the models
        directory (*path* defaults to *subdir*/filename)."""
        self.name = entry["name"]
        self.manifest = entry["manifest"]
        self.zoo_source = zoo_source
        self.subdir = subdir
        self._filename = entry["filename"]
        if path is None and self._filename is not None:
            path = os.path.join(subdir, self._filename) if subdir else self._filename
        self._path = path
        for field in self.KNOWN_FIELDS:
            setattr(self, field, self.manifest.get(field))
        self.version = self.version or None
        self.date_added = parse_date(self.manifest.get("date_added"))
        req = self.manifest.get("requirements")
        self.requirements = None if req is None else ModelRequirements.from_dict(req)
        manager = self.manifest.get("manager")
        self.manager = None if manager is None else ModelManager.from_dict(manager)

    def __getattr__(self, field: str) -> Any:
        # Only reached for names that are not regular attributes: unknown manifest fields.
        manifest = self.__dict__.get("manifest", {})
        if field in manifest:
            return manifest[field]
        raise AttributeError(f"model {self.__dict__.get('name')!r} has no field {field!r}")

    # ---- what eta's Model derives from the fields

    @property
    def filename(self) -> Optional[str]:
        """The version-aware filename (``<stem>-v<version><ext>``) under ``subdir``; ``None``
        without ``base_filename``."""
        if self._filename is None:
            return None
        return os.path.join(self.subdir, self._filename) if self.subdir else self._filename

    @property
    def has_version(self) -> bool:
        return self.version is not None

    @property
    def comp_version(self) -> ModelVersion:
        """The version for comparisons (LooseVersion order; no version is ``0.0.0``)."""
        return ModelVersion(self.version)

    @property
    def has_manager(self) -> bool:
        """Whether the model has a manager (a registered model always has one)."""
        return self.manager is not None

    @property
    def has_requirements(self) -> bool:
        return self.requirements is not None

    @property
    def supports_cpu(self) -> Optional[bool]:
        """Whether the model runs on CPU; ``None`` when the manifest does not say."""
        return None if self.requirements is None else self.requirements.supports_cpu

    @property
    def supports_gpu(self) -> Optional[bool]:
        """Whether the model runs on GPU; ``None`` when the manifest does not say."""
        return None if self.requirements is None else self.requirements.supports_gpu

    def supports_device(self, device: object) -> Optional[bool]:
        """Whether the model runs on *device*: ``"cpu"``, or a GPU (``"gpu"``, ``"cuda"``,
        ``"cuda:1"``, ``"mps"``, or a ``torch.device``); ``None`` when the manifest does not
        say. Raises :class:`ValueError` for another device."""
        kind = str(device).split(":", 1)[0].strip().lower()
        if kind == "cpu":
            return self.supports_cpu
        if kind in ("gpu", "cuda", "mps"):
            return self.supports_gpu
        raise ValueError(f"{device!r} is not a device; use 'cpu', 'gpu', 'cuda[:N]' or 'mps'")

    @property
    def has_tags(self) -> bool:
        """Whether the manifest gives the model tags."""
        return self.tags is not None

    def has_tag(self, tag: str) -> bool:
        return self.tags is not None and tag in self.tags

    @staticmethod
    def parse_name(name: str) -> tuple[str, Optional[str]]:
        """``"a@1.0"`` → ``("a", "1.0")``; ``"a"`` → ``("a", None)``."""
        base, sep, version = name.rpartition("@")
        return (base, version) if sep else (name, None)

    @staticmethod
    def has_version_str(name: str) -> bool:
        """Whether *name* has an ``@<version>``."""
        return ZooModel.parse_name(name)[1] is not None

    # ---- where it lives

    def get_path_in_dir(self, models_dir: str) -> Optional[str]:
        """The model's path in the models directory *models_dir*; ``None`` when it has none
        (a model read from a manifest, without ``base_filename``)."""
        return None if self._path is None else os.path.join(models_dir, self._path)

    def is_model_downloaded(self, model_path: str) -> Optional[bool]:
        """Whether the model is at *model_path*; ``None`` when it has no manager."""
        return None if self.manager is None else self.manager.is_model_downloaded(model_path)

    def is_in_dir(self, models_dir: str) -> Optional[bool]:
        """Whether the model is downloaded in *models_dir*; ``None`` when it has no manager
        or no path."""
        path = self.get_path_in_dir(models_dir)
        return None if path is None else self.is_model_downloaded(path)

    # ---- requirements

    def _source_dir(self) -> Optional[str]:
        return None

    def ensure_requirements(
        self, error_level: Optional[int] = None, log_success: bool = False
    ) -> bool:
        """Check the model's requirements, as :func:`remotezoo.ensure_zoo_model_requirements`."""
        from . import _requirements

        return _requirements.ensure_requirements(
            self.name,
            self.requirements,
            self._source_dir(),
            error_level=error_level,
            log_success=log_success,
            source=self.zoo_source,
        )

    def install_requirements(self, error_level: Optional[int] = None) -> None:
        """Install the model's requirements, as :func:`remotezoo.install_zoo_model_requirements`."""
        from . import _requirements

        _requirements.install_requirements(
            self.name,
            self.requirements,
            self._source_dir(),
            error_level=error_level,
            source=self.zoo_source,
        )

    # ---- serialization and identity

    def attributes(self) -> list[str]:
        """The attributes :meth:`serialize` writes, in eta's order."""
        return list(_SERIALIZED)

    def serialize(self, reflective: bool = False) -> dict[str, Any]:
        """The model as eta serializes it: a new dict of :meth:`attributes`, ``manager`` and
        ``requirements`` as dicts, ``date_added`` as the datetime."""
        return {a: copy.deepcopy(_plain(getattr(self, a))) for a in self.attributes()}

    to_dict = serialize

    def copy(self) -> ZooModel:
        """A deep copy."""
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ZooModel)
            and self.manifest == other.manifest
            and self.zoo_source == other.zoo_source
        )

    def __hash__(self) -> int:
        return hash((self.zoo_source, self.name))


class RemoteZooModel(ZooModel):
    """A model of a registered source, as FiftyOne's ``RemoteZooModel`` (the class FiftyOne
    code checks with ``isinstance``): what :func:`remotezoo.get_zoo_model` returns.

    A model without a ``manager`` in its manifest has a :class:`RemoteModelManager` (its
    source's ``download_model`` fetches it), so ``has_manager`` is always true.
    """

    def __init__(self, entry: _ModelEntry, info: _ModelInfo, models_dir: str) -> None:
        """*info* is what the registry resolved of the model (``_core.resolve_model``) and
        *models_dir* the models directory it lives in."""
        path = os.path.relpath(info["model_path"], models_dir)
        super().__init__(entry, info["source"], os.path.dirname(path) or None, path)
        self._source_directory = info["source_dir"]
        self._info = info
        if self.manager is None:
            self.manager = RemoteModelManager(self.name)

    def _source_dir(self) -> Optional[str]:
        return self._source_directory

    def ensure_requirements(
        self, error_level: Optional[int] = None, log_success: bool = False
    ) -> bool:
        from . import _trust

        with _trust.running(self._info):
            return super().ensure_requirements(error_level, log_success)

    def install_requirements(self, error_level: Optional[int] = None) -> None:
        from . import _trust

        with _trust.running(self._info):
            super().install_requirements(error_level)

    def load_model(self, **kwargs: Any) -> Any:
        """Call the source's ``load_model(model_name, model_path, **kwargs)`` for this
        (downloaded) model and return what it returns; nothing is checked or downloaded first,
        as in FiftyOne (:func:`remotezoo.load_zoo_model` does both), but the source's trust
        (``REMOTEZOO_TRUST``) and, in frozen mode (``REMOTEZOO_LOCKFILE``), the lock's digest of
        the model and of the source's code."""
        from . import _trust
        from ._home import home

        if os.environ.get("REMOTEZOO_LOCKFILE"):
            from . import _lockfile

            _lockfile.check_downloaded(_core.resolve_model(home(), self.name, self.zoo_source))
        return _core.load_model(home(), self.name, self.zoo_source, kwargs, _trust.gate())


class Manifest:
    """A parsed manifest.json: its ``name``, ``url`` and ``models`` (a list of ZooModel)."""

    def __init__(self, parsed: _ParsedManifest, zoo_source: Optional[str] = None) -> None:
        self.name: Optional[str] = parsed["name"]
        self.url: Optional[str] = parsed["url"]
        self.models: list[ZooModel] = [
            ZooModel(m, zoo_source, self.subdir) for m in parsed["models"]
        ]

    @property
    def subdir(self) -> Optional[str]:
        """Where the models of this manifest live under the models directory (from ``name``)."""
        return os.path.join(*self.name.split("/")) if self.name else None

    def __repr__(self) -> str:
        return f"<Manifest {self.name!r} with {len(self.models)} models>"
