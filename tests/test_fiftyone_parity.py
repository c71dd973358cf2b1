"""FiftyOne parity: the same sources, served on loopback as archives, registered in FiftyOne and
in remotezoo, list, describe, resolve, place, check and load alike. Each difference the README
lists under "Differences from FiftyOne" that these sources can show is asserted here as that
difference, so the list stays true.

Skipped when ``fiftyone`` is not importable; ``scripts/fiftyone_parity.sh`` makes a venv that
has it and runs this file. The sources are ``tests/parity_sources/*``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
from helpers.fake_github import make_tarball
from helpers.servers import LoopbackServer

fo = pytest.importorskip("fiftyone", reason="the parity suite compares against FiftyOne")
foz = pytest.importorskip("fiftyone.zoo")

import remotezoo as rz  # noqa: E402 - after the skip

SOURCES = Path(__file__).parent / "parity_sources"
PREFIX = "parity/"


def files_of(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): p.read_text()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def tar_gz(directory: Path, top: str) -> bytes:
    return make_tarball(top, files_of(directory))


def zip_of(directory: Path, top: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in files_of(directory).items():
            zf.writestr(f"{top}/{rel}", text)
    return buf.getvalue()


@dataclass
class Zoos:
    """Both zoos, with the same sources registered."""

    server: LoopbackServer
    many: str  # the sources' URLs
    second: str
    rz_home: Path
    fo_models: Path  # FiftyOne's model_zoo_dir

    @property
    def rz_models(self) -> Path:
        return self.rz_home / "models"


@pytest.fixture(scope="module")
def zoos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zoos]:
    root = tmp_path_factory.mktemp("parity")
    server = LoopbackServer("127.0.0.1")
    server.serve_bytes("/dl/parity-many.tar.gz", tar_gz(SOURCES / "many", "parity-many-main"))
    server.serve_bytes("/dl/parity-second.zip", zip_of(SOURCES / "second", "parity-second-main"))
    zoos = Zoos(
        server,
        server.url("/dl/parity-many.tar.gz"),
        server.url("/dl/parity-second.zip"),
        root / "rz",
        root / "fo",
    )
    saved = fo.config.model_zoo_dir, fo.config.requirement_error_level
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("no_proxy", "127.0.0.1")
        mp.setenv("REMOTEZOO_HOME", str(zoos.rz_home))
        fo.config.model_zoo_dir, fo.config.requirement_error_level = str(zoos.fo_models), 0
        for url in (zoos.many, zoos.second):
            foz.register_zoo_model_source(url)
            rz.register_zoo_model_source(url)
        try:
            yield zoos
        finally:
            fo.config.model_zoo_dir, fo.config.requirement_error_level = saved
            server.close()


@pytest.fixture(autouse=True)
def both(zoos: Zoos, monkeypatch: pytest.MonkeyPatch) -> Zoos:
    """Every test sees the shared zoos (after conftest's isolated home)."""
    monkeypatch.setenv("REMOTEZOO_HOME", str(zoos.rz_home))
    monkeypatch.delenv("REMOTEZOO_DEVICE", raising=False)
    fo.config.model_zoo_dir = str(zoos.fo_models)
    return zoos


def fo_names(**filters: Any) -> list[str]:
    """FiftyOne's names of the parity models (its built-in zoo is listed too)."""
    return [n for n in foz.list_zoo_models(**filters) if n.startswith(PREFIX)]


def outcome(call: Callable[[], Any]) -> Optional[BaseException]:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the outcome is what is compared
        return exc
    return None


# ---- sources and listing ---------------------------------------------------------------------


def test_sources_listed_alike(zoos: Zoos) -> None:
    assert (
        rz.list_zoo_model_sources()
        == foz.list_zoo_model_sources()
        == sorted([zoos.many, zoos.second])
    )


FILTERS: list[dict[str, Any]] = [
    {},
    {"tags": "torch"},
    {"tags": ["classification", "torch"]},
    {"tags": "second"},
    {"tags": "no-such-tag"},
    {"license": "MIT"},
    {"license": "Apache-2.0"},  # a piece of "MIT,Apache-2.0"
    {"license": ["GPL-3.0", "CC-BY-4.0"]},
    {"license": " BSD 3-Clause"},  # FiftyOne keeps the space after the comma
    {"license": "Apache 2.0"},
    {"tags": "embeddings", "license": "MIT"},
]


@pytest.mark.parametrize("filters", FILTERS, ids=repr)
def test_models_listed_alike(zoos: Zoos, filters: dict[str, Any]) -> None:
    names = fo_names(**filters)
    assert rz.list_zoo_models(**filters) == names
    if not filters:
        assert len(names) == 18


@pytest.mark.parametrize("filters", [{}, {"tags": "embeddings"}, {"license": "MIT"}], ids=repr)
def test_models_of_one_source_listed_alike(zoos: Zoos, filters: dict[str, Any]) -> None:
    for url in (zoos.many, zoos.second):
        assert rz.list_zoo_models(source=url, **filters) == foz.list_zoo_models(
            source=url, **filters
        )


def test_difference_license_pieces_are_trimmed(zoos: Zoos) -> None:
    # "Apache 2.0, BSD 3-Clause": FiftyOne never offers "BSD 3-Clause"; remotezoo does.
    assert fo_names(license="BSD 3-Clause") == []
    assert rz.list_zoo_models(license="BSD 3-Clause") == ["parity/gamma"]


# ---- the model object ------------------------------------------------------------------------

SCALAR_ATTRIBUTES = (
    "name",
    "base_name",
    "base_filename",
    "author",
    "version",
    "url",
    "source",
    "license",
    "description",
    "size_bytes",
    "tags",
    "date_added",
    "training_data",
    "default_deployment_config_dict",
    "filename",
    "has_version",
    "has_manager",
    "has_requirements",
    "has_tags",
    "supports_cpu",
    "supports_gpu",
)


def requirements_view(requirements: Any) -> Any:
    if requirements is None:
        return None
    return (
        requirements.packages,
        requirements.cpu,
        requirements.gpu,
        requirements.supports_cpu,
        requirements.supports_gpu,
        requirements.cpu_packages,
        requirements.gpu_packages,
        requirements.serialize(),
    )


def manager_view(manager: Any) -> Any:
    """What a manager says, but its class name, which names each project's own class for the
    manager of a model without one in its manifest."""
    config = manager.config.serialize()
    implicit = "model_name" in config
    return ("implicit" if implicit else manager.type, config)


def test_every_field_of_every_model_alike(zoos: Zoos) -> None:
    names = fo_names()
    assert names == rz.list_zoo_models()
    for name in names:
        fo_model, rz_model = foz.get_zoo_model(name), rz.get_zoo_model(name)
        assert isinstance(rz_model, rz.RemoteZooModel) and isinstance(fo_model, foz.RemoteZooModel)
        for attr in SCALAR_ATTRIBUTES:
            assert getattr(rz_model, attr) == getattr(fo_model, attr), (name, attr)
        assert requirements_view(rz_model.requirements) == requirements_view(
            fo_model.requirements
        ), name
        assert manager_view(rz_model.manager) == manager_view(fo_model.manager), name
        assert str(rz_model.comp_version) == str(fo_model.comp_version), name
        for tag in (fo_model.tags or []) + ["no-such-tag"]:
            assert rz_model.has_tag(tag) == fo_model.has_tag(tag), (name, tag)
        fo_serial, rz_serial = fo_model.serialize(), rz_model.serialize()
        assert list(rz_serial) == list(fo_serial) == rz_model.attributes()
        assert manager_view(rz_model.manager) == manager_view(fo_model.manager)
        fo_serial.pop("manager"), rz_serial.pop("manager")
        assert rz_serial == fo_serial, name
        fo_path, rz_path = (
            fo_model.get_path_in_dir(str(zoos.fo_models)),
            rz_model.get_path_in_dir(str(zoos.rz_models)),
        )
        assert os.path.relpath(rz_path, zoos.rz_models) == os.path.relpath(
            fo_path, zoos.fo_models
        ), name


def test_versions_compare_alike() -> None:
    versions = [rz.get_zoo_model(f"parity/alpha@{v}") for v in ("1.2", "1.10", "1.9-beta")]
    fo_versions = [foz.get_zoo_model(f"parity/alpha@{v}") for v in ("1.2", "1.10", "1.9-beta")]
    for a, fa in zip(versions, fo_versions):
        for b, fb in zip(versions, fo_versions):
            assert (a.comp_version < b.comp_version) == (fa.comp_version < fb.comp_version)
            assert (a.comp_version == b.comp_version) == (fa.comp_version == fb.comp_version)
    assert (
        rz.get_zoo_model("parity/kappa").comp_version
        == "0.0.0"
        == str(foz.get_zoo_model("parity/kappa").comp_version)
    )


@pytest.mark.parametrize(
    "query",
    [
        "parity/alpha",
        "parity/alpha@1.2",
        "parity/alpha@1.10",
        "parity/alpha@1.9-beta",
        "parity/clip-vit-b32.torch",
        "parity/clip-vit-b32@1.0.torch",
        "parity/kappa",
        "parity/second/mu",
    ],
)
def test_name_at_version_resolves_alike(query: str) -> None:
    assert rz.get_zoo_model(query).name == foz.get_zoo_model(query).name


@pytest.mark.parametrize(
    "query", ["parity/alpha@9.9", "parity/nothing", "parity/clip-vit-b32.torch@1.0"]
)
def test_unknown_names_are_value_errors_alike(query: str) -> None:
    fo_error, rz_error = (
        outcome(lambda: foz.get_zoo_model(query)),
        outcome(lambda: rz.get_zoo_model(query)),
    )
    assert isinstance(fo_error, ValueError) and isinstance(rz_error, ValueError)
    assert isinstance(rz_error, rz.ModelNotFoundError)


# ---- requirements ----------------------------------------------------------------------------


# Documented differences (README): a version clause after a comma continues the requirement
# in remotezoo, FiftyOne splits there; a requirements file with pip options is refused by
# remotezoo, FiftyOne drops those lines.
DIFFERENT_OUTCOMES = {
    "parity/omicron": ("InvalidRequirement", None),
    "parity/xi": (None, "pip option '-r' is not supported"),
}


@pytest.mark.parametrize("error_level", [0, 1, 2])
def test_requirement_outcomes_alike(
    zoos: Zoos, error_level: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL)  # both log every requirement
    for name in fo_names():
        if name in ("parity/gamma", "parity/xi"):
            # Difference: FiftyOne reads a requirements file relative to the working directory;
            # remotezoo relative to the source. Run FiftyOne from its copy of the source.
            monkeypatch.chdir(zoos.fo_models / "parity" / "many")
        fo_error = outcome(lambda: foz.ensure_zoo_model_requirements(name, error_level=error_level))
        monkeypatch.chdir(zoos.rz_home)
        rz_error = outcome(lambda: rz.ensure_zoo_model_requirements(name, error_level=error_level))
        if name in DIFFERENT_OUTCOMES:
            fo_expected, rz_expected = DIFFERENT_OUTCOMES[name]
            if fo_expected and error_level < 2:  # eta raises it while parsing, whatever the level
                assert type(fo_error).__name__ == fo_expected
            else:
                assert fo_error is None
            if rz_expected and error_level == 0:
                assert rz_expected in str(rz_error)
            else:
                assert rz_error is None
            continue
        assert (fo_error is None) == (rz_error is None), (name, fo_error, rz_error)
        if rz_error is not None:
            assert isinstance(rz_error, rz.RequirementsError), name
            # eta raises PackageError (an ImportError) for packages and ModelError for the device
            assert isinstance(rz_error, ImportError) and type(fo_error).__name__ in (
                "PackageError",
                "ModelError",
            )


def test_unmet_requirements_and_device(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    assert not rz.ensure_zoo_model_requirements("parity/zeta", error_level=1)
    with pytest.raises(rz.RequirementsError, match="does not support CPU"):
        rz.ensure_zoo_model_requirements("parity/epsilon")
    assert rz.ensure_zoo_model_requirements("parity/delta")  # the entrypoint, called
    assert rz.get_zoo_model("parity/epsilon").supports_device("cuda:0") is True


# ---- downloads, paths and loads --------------------------------------------------------------

DOWNLOADED = [
    "parity/alpha",
    "parity/alpha@1.2",
    "parity/beta",
    "parity/gamma",
    "parity/delta",
    "parity/theta",
    "parity/clip-vit-b32.torch",
    "parity/second/mu",
    "parity/second/nu",
]


def test_download_paths_and_loads_alike(zoos: Zoos, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    for name in DOWNLOADED:
        fo_model, fo_path = foz.download_zoo_model(name)
        rz_model, rz_path = rz.download_zoo_model(name)
        assert rz_model.name == fo_model.name
        assert os.path.relpath(rz_path, zoos.rz_models) == os.path.relpath(fo_path, zoos.fo_models)
        assert rz.find_zoo_model(name) == rz_path
        fo_loaded = foz.load_zoo_model(name, ensure_requirements=False, offset=1)
        rz_loaded = rz.load_zoo_model(name, ensure_requirements=False, offset=1)
        assert rz_loaded.predict(2) == fo_loaded.predict(2), name
        assert rz.get_zoo_model(name).load_model().predict(2) == foz.get_zoo_model(
            name
        ).load_model().predict(2)
        if name == "parity/theta":
            # Difference: FiftyOne never counts a folder model as downloaded; remotezoo does.
            assert rz.is_zoo_model_downloaded(name) and not foz.is_zoo_model_downloaded(name)
            assert os.path.isdir(rz_path) and os.path.isdir(fo_path)
        else:
            assert rz.is_zoo_model_downloaded(name) == foz.is_zoo_model_downloaded(name) is True
    fo_downloaded = {
        n: os.path.relpath(p, zoos.fo_models)
        for n, (p, _) in foz.list_downloaded_zoo_models().items()
        if n.startswith(PREFIX)
    }
    rz_downloaded = {
        n: os.path.relpath(p, zoos.rz_models)
        for n, (p, _) in rz.list_downloaded_zoo_models().items()
    }
    assert rz_downloaded == {**fo_downloaded, "parity/theta@3.1": "parity/many/theta-weights-v3.1"}
    for name in DOWNLOADED:
        foz.delete_zoo_model(name)
        rz.delete_zoo_model(name)
        assert rz.is_zoo_model_downloaded(name) == foz.is_zoo_model_downloaded(name) is False


def test_not_downloaded_errors_alike() -> None:
    name = "parity/iota"
    for call in (
        lambda z: z.find_zoo_model(name),
        lambda z: z.load_zoo_model(name, download_if_necessary=False, ensure_requirements=False),
    ):
        fo_error, rz_error = outcome(lambda: call(foz)), outcome(lambda: call(rz))
        assert isinstance(fo_error, ValueError) and isinstance(rz_error, ValueError), (
            fo_error,
            rz_error,
        )


# ---- registration errors and deletion --------------------------------------------------------


def test_registration_errors_are_value_errors_alike(zoos: Zoos, tmp_path: Path) -> None:
    missing = zoos.server.url("/dl/missing.tar.gz")
    fo_error, rz_error = (
        outcome(lambda: foz.register_zoo_model_source(missing)),
        outcome(lambda: rz.register_zoo_model_source(missing)),
    )
    assert isinstance(fo_error, ValueError) and isinstance(rz_error, ValueError)
    assert isinstance(rz_error, rz.HTTPStatusError) and isinstance(rz_error, rz.SourceError)
    assert rz_error.http_status == 404 and isinstance(rz_error, OSError)
    with socket_closed() as url:
        fo_error, rz_error = (
            outcome(lambda: foz.register_zoo_model_source(url)),
            outcome(lambda: rz.register_zoo_model_source(url)),
        )
    assert isinstance(fo_error, ValueError) and isinstance(rz_error, ValueError)
    assert isinstance(rz_error, rz.DownloadError) and isinstance(rz_error, OSError)
    for unknown in (missing, "https://github.com/parity/never-registered"):
        fo_error, rz_error = (
            outcome(lambda: foz.delete_zoo_model_source(unknown)),
            outcome(lambda: rz.delete_zoo_model_source(unknown)),
        )
        assert isinstance(fo_error, ValueError) and isinstance(rz_error, ValueError)
    assert rz.list_zoo_model_sources() == foz.list_zoo_model_sources()


class socket_closed:
    """A URL on a loopback port where nothing listens."""

    def __enter__(self) -> str:
        import socket

        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return f"http://127.0.0.1:{self.port}/parity.tar.gz"

    def __exit__(self, *exc: object) -> None:
        pass


def test_difference_archive_without_manifest(zoos: Zoos) -> None:
    zoos.server.serve_bytes(
        "/dl/empty.tar.gz", make_tarball("top", {"README.md": "no models here\n"})
    )
    url = zoos.server.url("/dl/empty.tar.gz")
    assert outcome(lambda: foz.register_zoo_model_source(url)) is None  # FiftyOne: nothing, quietly
    with pytest.raises(rz.SourceError, match="no manifest.json"):
        rz.register_zoo_model_source(url)


def serve_source(zoos: Zoos, directory: Path, manifest: dict[str, Any], init: str) -> str:
    """Write a source of its own (so that the shared ones stay) and serve it; its URL."""
    directory.mkdir()
    (directory / "manifest.json").write_text(json.dumps(manifest))
    (directory / "__init__.py").write_text(init)
    path = f"/dl/{directory.name}.tar.gz"
    zoos.server.serve_bytes(path, tar_gz(directory, directory.name))
    return zoos.server.url(path)


def test_difference_model_without_base_filename(zoos: Zoos, tmp_path: Path) -> None:
    model = {"base_name": "parity/nofile", "version": "1.0", "base_filename": None}
    url = serve_source(
        zoos,
        tmp_path / "nofile",
        {"name": "parity/nofile", "models": [model]},
        (SOURCES / "second" / "__init__.py").read_text(),
    )
    foz.register_zoo_model_source(url)
    rz.register_zoo_model_source(url)
    try:
        # FiftyOne has no path for it: it cannot download it, and listing the downloaded
        # models fails while it is registered. remotezoo keeps it under its full name.
        assert foz.get_zoo_model("parity/nofile").get_path_in_dir(str(zoos.fo_models)) is None
        assert isinstance(outcome(foz.list_downloaded_zoo_models), AttributeError)
        assert isinstance(outcome(lambda: foz.download_zoo_model("parity/nofile")), AttributeError)
        _, path = rz.download_zoo_model("parity/nofile")
        assert path == str(zoos.rz_models / "parity" / "nofile" / "parity_nofile@1.0")
        assert rz.get_zoo_model("parity/nofile").get_path_in_dir(str(zoos.rz_models)) == path
        assert rz.get_zoo_model("parity/nofile").filename is None
    finally:
        foz.delete_zoo_model_source(url)
        rz.delete_zoo_model_source(url)


def test_delete_source_alike(zoos: Zoos, tmp_path: Path) -> None:
    # A source of its own, so that the shared ones stay.
    copy = tmp_path / "third"
    shutil.copytree(SOURCES / "second", copy)
    manifest = (copy / "manifest.json").read_text().replace("parity/second", "parity/third")
    (copy / "manifest.json").write_text(manifest)
    zoos.server.serve_bytes("/dl/parity-third.tar.gz", tar_gz(copy, "third"))
    url = zoos.server.url("/dl/parity-third.tar.gz")
    foz.register_zoo_model_source(url)
    rz.register_zoo_model_source(url)
    assert (
        rz.list_zoo_models(source=url)
        == foz.list_zoo_models(source=url)
        == ["parity/third/mu@1.0", "parity/third/nu"]
    )
    _, fo_path = foz.download_zoo_model("parity/third/mu")
    _, rz_path = rz.download_zoo_model("parity/third/mu")
    foz.delete_zoo_model_source(url)
    rz.delete_zoo_model_source(url)
    assert not os.path.exists(fo_path) and not os.path.exists(rz_path)
    assert (
        rz.list_zoo_model_sources()
        == foz.list_zoo_model_sources()
        == sorted([zoos.many, zoos.second])
    )
    assert rz.list_zoo_models() == fo_names()
