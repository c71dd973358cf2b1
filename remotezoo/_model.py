"""Model objects: the manifest fields of one model as attributes."""

from __future__ import annotations

from typing import Any, Mapping, Optional


class ZooModel:
    """One model of a source's manifest.json.

    Every manifest field is an attribute (``base_name``, ``version``, ``tags``, ``license``,
    ``manager``, ...; ``None`` when the manifest does not set it, unknown fields included),
    ``name`` is the full name (``base_name@version``), ``filename`` the version-aware
    filename, ``manifest`` the model's manifest entry as a dict, and ``zoo_source`` the
    registered source it came from (``None`` for a manifest read directly).
    """

    KNOWN_FIELDS = (
        "base_name", "base_filename", "author", "version", "url", "license", "source",
        "description", "tags", "size_bytes", "date_added", "requirements", "manager",
        "default_deployment_config_dict", "sha256",
    )

    name: str
    filename: Optional[str]
    manifest: dict[str, Any]
    zoo_source: Optional[str]
    base_name: str
    base_filename: Optional[str]
    author: Optional[str]
    version: Optional[str]
    url: Optional[str]
    license: Optional[str]
    source: Optional[str]
    description: Optional[str]
    tags: list[str]
    size_bytes: Optional[int]
    date_added: Optional[str]
    requirements: Optional[dict[str, Any]]
    manager: Optional[dict[str, Any]]
    default_deployment_config_dict: Optional[dict[str, Any]]
    sha256: Optional[str]

    def __init__(self, entry: Mapping[str, Any], zoo_source: Optional[str] = None) -> None:
        self.name = entry["name"]
        self.filename = entry["filename"]
        self.manifest = entry["manifest"]
        self.zoo_source = zoo_source
        for field in self.KNOWN_FIELDS:
            setattr(self, field, self.manifest.get(field))
        if self.tags is None:
            self.tags = []

    def __getattr__(self, field: str) -> Any:
        # Only reached for names that are not regular attributes: unknown manifest fields.
        manifest = self.__dict__.get("manifest", {})
        if field in manifest:
            return manifest[field]
        raise AttributeError(f"model {self.__dict__.get('name')!r} has no field {field!r}")

    @property
    def has_version(self) -> bool:
        return self.version is not None

    def has_tag(self, tag: str) -> bool:
        return tag in self.tags

    def __repr__(self) -> str:
        return f"<ZooModel {self.name!r}>"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ZooModel) and self.manifest == other.manifest
                and self.zoo_source == other.zoo_source)

    __hash__ = None  # type: ignore[assignment]


class Manifest:
    """A parsed manifest.json: its ``name``, ``url`` and ``models`` (a list of ZooModel)."""

    def __init__(self, parsed: Mapping[str, Any], zoo_source: Optional[str] = None) -> None:
        self.name: Optional[str] = parsed["name"]
        self.url: Optional[str] = parsed["url"]
        self.models: list[ZooModel] = [ZooModel(m, zoo_source) for m in parsed["models"]]

    def __repr__(self) -> str:
        return f"<Manifest {self.name!r} with {len(self.models)} models>"
