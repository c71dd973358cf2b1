"""What code written for FiftyOne relies on, without FiftyOne: the model object's attributes and
methods, exceptions catchable as FiftyOne's, requirements in every form eta reads, licenses
split on commas; and requirements files read only inside their source (issue 12, item 17).

The same behaviours are compared against real FiftyOne in test_fiftyone_parity.py.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers.fake_github import make_tarball
from helpers.zoo import SIMPLE_INIT, model, write_source

import remotezoo as rz

FULL = model(
    "acme/scaler",
    "1.10",
    author="Acme",
    url="https://example.com/scaler",
    license="MIT,Apache-2.0",
    source="https://example.com/paper",
    description="Scales",
    tags=["demo", "torch"],
    size_bytes=5_000_000_000,
    date_added="2024-05-14T08:30:00+02:00",
    requirements={
        "packages": ["pytest"],
        "cpu": {"support": True},
        "gpu": {"support": False, "packages": "x,y"},
    },
    training_data={"dataset": "set"},
    default_deployment_config_dict=None,
    rank=3,
)


@pytest.fixture
def zoo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    monkeypatch.delenv("REMOTEZOO_DEVICE", raising=False)
    src = write_source(
        tmp_path / "src",
        [
            FULL,
            model("acme/scaler", "1.9-beta"),
            model("acme/plain", None, manager=None, tags=None, license=None),
            model(
                "acme/fetched",
                "2.0",
                manager={
                    "type": "fiftyone.core.models.ModelManager",
                    "config": {"url": "https://example.com/w.pt", "sha": "kept"},
                },
            ),
        ],
        name="acme/zoo",
    )
    rz.register_zoo_model_source(str(src))
    return src


# ---- the model object ------------------------------------------------------------------------


def test_model_object_has_fiftyones_attributes(zoo: Path) -> None:
    m = rz.get_zoo_model("acme/scaler")
    assert isinstance(m, rz.RemoteZooModel) and isinstance(m, rz.ZooModel)
    assert (m.name, m.base_name, m.version, m.base_filename) == (
        "acme/scaler@1.10",
        "acme/scaler",
        "1.10",
        "scaler.json",
    )
    assert m.filename == "acme/zoo/scaler-v1.10.json" and m.subdir == "acme/zoo"
    assert m.date_added == datetime.datetime(
        2024, 5, 14, 8, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert (m.size_bytes, m.training_data, m.zoo_source) == (
        5_000_000_000,
        {"dataset": "set"},
        f"file://{zoo}",
    )
    assert m.has_version and m.has_tags and m.has_tag("torch") and not m.has_tag("tf")
    assert m.has_requirements and m.supports_cpu is True and m.supports_gpu is False
    assert m.supports_device("cpu") is True and m.supports_device("cuda:1") is False
    with pytest.raises(ValueError, match="not a device"):
        m.supports_device("tpu")
    req = m.requirements
    assert req is not None and req.packages == ["pytest"] and req.cpu_packages is None
    assert (
        req.gpu is not None
        and req.gpu.support is False
        and req.gpu["packages"] == "x,y" == req.gpu_packages
    )
    assert req.serialize() == FULL["requirements"]
    assert m.rank == 3 and m.manifest == FULL  # unknown fields stay attributes
    # No manager in the manifest: the source's download_model is the manager.
    assert m.has_manager and m.manager is not None and m.manager.config.model_name == m.name
    assert m.manager.config.url is None


def test_absent_and_null_fields_are_none(zoo: Path) -> None:
    m = rz.get_zoo_model("acme/plain")
    assert m.tags is None and not m.has_tags and not m.has_tag("demo")
    assert m.license is None and m.requirements is None and m.date_added is None
    assert m.supports_cpu is None and m.supports_device("gpu") is None and m.version is None
    assert m.has_manager  # a registered model always has one
    (standalone,) = rz.parse_manifest(
        json.dumps({"models": [{"base_name": "m", "manager": None}]})
    ).models
    assert standalone.manager is None and not standalone.has_manager and standalone.filename is None
    assert standalone.get_path_in_dir("/models") is None and standalone.is_in_dir("/models") is None


def test_manager_object(zoo: Path) -> None:
    m = rz.get_zoo_model("acme/fetched")
    assert m.manager is not None and m.manager.type == "fiftyone.core.models.ModelManager"
    assert (m.manager.config.url, m.manager.config.extract_archive) == (
        "https://example.com/w.pt",
        None,
    )
    assert m.manager.config.sha == "kept"
    assert m.serialize()["manager"] == {
        "type": "fiftyone.core.models.ModelManager",
        "config": {"url": "https://example.com/w.pt", "sha": "kept"},
    }


def test_versions_compare_as_looseversion(zoo: Path) -> None:
    new, beta, plain = (
        rz.get_zoo_model(n) for n in ("acme/scaler@1.10", "acme/scaler@1.9-beta", "acme/plain")
    )
    assert new.comp_version > beta.comp_version > plain.comp_version == "0.0.0"
    assert beta.comp_version < "1.10" and str(new.comp_version) == "1.10"
    assert sorted([new, beta, plain], key=lambda x: x.comp_version) == [plain, beta, new]
    assert rz.ZooModel.parse_name("a/b@1.0") == ("a/b", "1.0") and not rz.ZooModel.has_version_str(
        "a/b"
    )


def test_serialize_paths_identity(zoo: Path) -> None:
    m = rz.get_zoo_model("acme/scaler")
    data = m.serialize()
    assert (
        list(data)
        == m.attributes()
        == [
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
        ]
    )
    assert data["requirements"] == FULL["requirements"] and data["date_added"] == m.date_added
    assert m.to_dict() == data
    data["tags"].append("changed")
    assert m.tags == ["demo", "torch"]  # a new dict, not a view
    models_dir = os.path.join(rz.home(), "models")
    assert not m.is_in_dir(models_dir)
    _, path = rz.download_zoo_model("acme/scaler")
    assert m.get_path_in_dir(models_dir) == path and m.is_in_dir(models_dir)
    assert m.load_model().predict(2) == 6
    again = rz.get_zoo_model("acme/scaler@1.10")
    assert again == m and again is not m and m.copy() == m and len({m, again, m.copy()}) == 1
    assert m != rz.get_zoo_model("acme/scaler@1.9-beta")
    assert m.ensure_requirements() is True


# ---- exceptions ------------------------------------------------------------------------------


def test_exception_tree_has_the_builtin_bases() -> None:
    assert issubclass(rz.DownloadError, OSError) and issubclass(rz.DownloadError, rz.RemoteZooError)
    assert issubclass(rz.OfflineError, ConnectionError) and issubclass(
        rz.OfflineError, rz.DownloadError
    )
    assert issubclass(rz.RequirementsError, ImportError)
    for name in ("SourceError", "ManifestError", "ModelNotFoundError"):
        assert issubclass(getattr(rz, name), ValueError)
    assert not issubclass(rz.DownloadError, ValueError) and not issubclass(
        rz.ArchiveError, ValueError
    )
    for name in (
        "DownloadError",
        "HTTPStatusError",
        "RateLimitError",
        "OfflineError",
        "ArchiveError",
        "UnsafeArchiveError",
    ):
        twin = getattr(rz.SourceError, name)
        assert issubclass(twin, getattr(rz, name)) and issubclass(twin, rz.SourceError)
        assert f"{twin.__module__}.{twin.__qualname__}" == f"remotezoo.SourceError.{name}"


def test_source_that_cannot_be_fetched_is_a_value_error(http_server) -> None:
    url = http_server.url("/missing.tar.gz")
    try:
        rz.register_zoo_model_source(url)
    except ValueError as exc:  # as FiftyOne's "Failed to retrieve model metadata"
        error: Any = exc
    assert isinstance(error, rz.HTTPStatusError) and isinstance(error, rz.SourceError)
    assert isinstance(error, OSError) and error.http_status == 404 and error.url == url
    again = pickle.loads(pickle.dumps(error))  # worker processes send errors back pickled
    assert type(again) is type(error) and again.http_status == 404 and str(again) == str(error)
    with pytest.raises(rz.SourceError.DownloadError) as info:  # nothing listens there
        rz.load_zoo_model("http://127.0.0.1:9/zoo.tar.gz", model_name="x")
    assert isinstance(info.value, ValueError) and isinstance(info.value, OSError)


def test_offline_registration_is_a_connection_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTEZOO_OFFLINE", "1")
    with pytest.raises(ConnectionError) as info:
        rz.register_zoo_model_source("https://example.com/zoo.tar.gz")
    assert isinstance(info.value, rz.OfflineError) and isinstance(info.value, ValueError)


def test_download_errors_are_os_errors_not_value_errors(http_server, tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        rz.download_file(http_server.url("/nothing"), tmp_path / "x")
    assert type(info.value) is rz.HTTPStatusError and not isinstance(info.value, ValueError)
    assert info.value.http_status == 404 and info.value.errno is None


def test_unmet_requirements_are_import_errors(zoo: Path) -> None:
    (zoo / "manifest.json").write_text(
        json.dumps(
            {
                "name": "acme/zoo",
                "models": [
                    model("acme/needs", requirements={"packages": ["remotezoo-no-such-package"]})
                ],
            }
        )
    )
    with pytest.raises(ImportError) as info:
        rz.ensure_zoo_model_requirements("acme/needs")
    assert isinstance(info.value, rz.RequirementsError) and info.value.model == "acme/needs"
    assert "remotezoo-no-such-package" in str(info.value)


# ---- requirements: every form eta reads -------------------------------------------------------

ENTRYPOINT_MODULE = """\
import json, os

def packages(names, log):
    with open(log, "a") as f:
        f.write("called\\n")
    return names

def broken():
    raise RuntimeError("no")
"""


def test_entrypoint_requirements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "rz_parity_reqs.py").write_text(ENTRYPOINT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path / "mods"))
    log = tmp_path / "entry.log"
    entry = {
        "entrypoint_fcn": "rz_parity_reqs.packages",
        "entrypoint_args": {"names": "pytest,hypothesis", "log": str(log)},
    }
    src = write_source(
        tmp_path / "src",
        [
            model("acme/entry", requirements={"packages": entry}),
            model(
                "acme/cpu-entry",
                requirements={
                    "cpu": {
                        "packages": dict(
                            entry,
                            entrypoint_args={
                                "names": ["remotezoo-no-such-package"],
                                "log": str(log),
                            },
                        )
                    }
                },
            ),
            model(
                "acme/broken",
                requirements={"packages": {"entrypoint_fcn": "rz_parity_reqs.broken"}},
            ),
            model(
                "acme/missing",
                requirements={"packages": {"entrypoint_fcn": "rz_parity_reqs.nothing"}},
            ),
            model(
                "acme/no-module",
                requirements={"packages": {"entrypoint_fcn": "rz_no_such_module.f"}},
            ),
        ],
        name="acme/entry",
    )
    rz.register_zoo_model_source(str(src))  # the manifest is valid (it was a ManifestError)
    from remotezoo import _requirements as rq

    m = rz.get_zoo_model("acme/entry")
    assert m.requirements is not None and m.requirements.packages == entry
    # Listing and error_level 2 call nothing; checking calls the function, as eta.
    assert rq.requirements_summary(m.requirements) == ["<packages from rz_parity_reqs.packages>"]
    assert rz.ensure_zoo_model_requirements("acme/entry", error_level=2) and not log.exists()
    assert rz.ensure_zoo_model_requirements("acme/entry") and log.read_text() == "called\n"
    with pytest.raises(rz.RequirementsError, match="remotezoo-no-such-package"):
        rz.ensure_zoo_model_requirements("acme/cpu-entry")
    with pytest.raises(
        rz.RequirementsError, match="entrypoint 'rz_parity_reqs.broken' raised RuntimeError: no"
    ):
        rz.ensure_zoo_model_requirements("acme/broken")
    with pytest.raises(
        rz.RequirementsError, match="cannot find entrypoint 'rz_parity_reqs.nothing'"
    ):
        rz.ensure_zoo_model_requirements("acme/missing")
    with pytest.raises(
        rz.RequirementsError, match="cannot import entrypoint 'rz_no_such_module.f'"
    ):
        rz.ensure_zoo_model_requirements("acme/no-module")


def test_entrypoint_must_name_a_function() -> None:
    for packages, field in [
        ({"entrypoint_args": {}}, "requirements.packages.entrypoint_fcn"),
        ({"entrypoint_fcn": ""}, "requirements.packages.entrypoint_fcn"),
        (
            {"entrypoint_fcn": "a.b", "entrypoint_args": [1]},
            "requirements.packages.entrypoint_args",
        ),
    ]:
        text = json.dumps({"models": [{"base_name": "m", "requirements": {"packages": packages}}]})
        with pytest.raises(rz.ManifestError) as info:
            rz.parse_manifest(text)
        assert info.value.field == field


# ---- licenses --------------------------------------------------------------------------------


def test_licenses_split_on_commas(tmp_path: Path) -> None:
    src = write_source(
        tmp_path / "src",
        [
            model("a", license="MIT,Apache-2.0"),
            model("b", license="Apache 2.0, BSD 3-Clause"),
            model("c", license="MIT"),
            model("d"),
            model("e", license="MITx"),
        ],
        name="acme/licenses",
    )
    rz.register_zoo_model_source(str(src))
    assert rz.list_zoo_models(license="MIT") == ["a", "c"]
    assert rz.list_zoo_models(license="Apache-2.0") == ["a"]
    assert rz.list_zoo_models(license="BSD 3-Clause") == ["b"]
    assert rz.list_zoo_models(license=" BSD 3-Clause") == ["b"]  # what FiftyOne matches
    assert rz.list_zoo_models(license=["Apache 2.0", "MITx"]) == ["b", "e"]
    assert rz.list_zoo_models(license="MIT,Apache-2.0") == []  # a piece, not the whole string
    assert rz.list_zoo_models(license="") == []


# ---- issue 12, item 17: a requirements file only inside its source ---------------------------

SECRET = "rzsecrettoken"  # a valid package name: the old code put it in messages and pip argv


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n")
    return secret


def escaping_sources(tmp_path: Path, outside: Path) -> list[tuple[str, Any]]:
    src = tmp_path / "src"
    src.mkdir()
    (src / "link.txt").symlink_to(outside)
    (src / "deps").mkdir()
    (src / "deps" / "dirlink").symlink_to(outside.parent, target_is_directory=True)
    return [
        ("relative", os.path.relpath(outside, src)),
        ("absolute", str(outside)),
        ("environ", "/proc/self/environ"),
        ("symlink", "link.txt"),
        ("dir-symlink", "deps/dirlink/secret.txt"),
        ("device", {"packages": str(outside)}),
    ]


def test_requirements_file_outside_the_source_is_refused(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", SECRET)  # what /proc/self/environ would leak
    record = tmp_path / "pip.jsonl"
    pip = tmp_path / "pip.py"
    pip.write_text(
        "import json, sys\nopen(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')\n"
    )
    monkeypatch.setenv("REMOTEZOO_PIP", json.dumps([sys.executable, str(pip), str(record)]))
    cases = escaping_sources(tmp_path, outside)
    models = [
        model(
            f"acme/{name}",
            requirements={"cpu": packages}
            if isinstance(packages, dict)
            else {"packages": packages},
        )
        for name, packages in cases
    ]
    src = write_source(tmp_path / "src", models, name="acme/escape")
    rz.register_zoo_model_source(str(src))
    caplog.set_level(logging.DEBUG, logger="remotezoo")
    for name, _ in cases:
        with pytest.raises(rz.RequirementsError) as info:
            rz.ensure_zoo_model_requirements(f"acme/{name}")
        message = str(info.value)
        assert "is outside the directory of source file://" in message and SECRET not in message, (
            message
        )
        assert "requirements." in message  # the field
        assert not rz.ensure_zoo_model_requirements(f"acme/{name}", error_level=1)
        rz.install_zoo_model_requirements(f"acme/{name}", error_level=1)
    assert SECRET not in caplog.text and "is outside the directory of" in caplog.text
    assert not record.exists() or SECRET not in record.read_text()  # never given to pip


def test_requirements_file_escaping_a_fetched_source(
    http_server, tmp_path: Path, outside: Path
) -> None:
    # A fetched source's tree lives in REMOTEZOO_HOME: '..' would reach the registry and other
    # sources. Plant the secret there, where the old code read it.
    home = Path(rz.home())
    home.mkdir(parents=True, exist_ok=True)
    (home / "planted.txt").write_text(f"{SECRET}\n")
    manifest = {
        "name": "acme/fetched",
        "models": [
            model("acme/dots", requirements={"packages": "../../../../planted.txt"}),
            model("acme/inside", requirements={"packages": "deps/requirements.txt"}),
        ],
    }
    files = {
        "manifest.json": json.dumps(manifest),
        "__init__.py": SIMPLE_INIT,
        "deps/requirements.txt": "pytest\n",
    }
    http_server.serve_bytes("/zoo.tar.gz", make_tarball("zoo", files))
    url = http_server.url("/zoo.tar.gz")
    rz.register_zoo_model_source(url)
    with pytest.raises(rz.RequirementsError) as info:
        rz.ensure_zoo_model_requirements("acme/dots")
    assert f"is outside the directory of source {url}" in str(info.value) and SECRET not in str(
        info.value
    )
    assert rz.ensure_zoo_model_requirements("acme/inside")  # files inside the source still work
