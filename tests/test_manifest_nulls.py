"""A JSON null in a manifest means the field is absent, field by field, as FiftyOne reads it
(eta's ``Model.from_dict``: ``d.get(field)``, and ``None`` is "not set"); and a manifest is one
JSON document, with nothing after it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.zoo import SIMPLE_INIT, calls, write_source

import remotezoo as rz

NULL_FIELDS = {
    "manager": None,
    "default_deployment_config_dict": None,
    "requirements": None,
    "sha256": None,
    "version": None,
    "author": None,
    "url": None,
    "license": None,
    "source": None,
    "description": None,
    "tags": None,
    "size_bytes": None,
    "date_added": None,
}


@pytest.fixture
def null_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    root = write_source(
        tmp_path / "src",
        [
            {"base_name": "acme/plain", "base_filename": "plain.json", **NULL_FIELDS},
            {
                "base_name": "acme/nested",
                "base_filename": "nested.json",
                "version": "1.0",
                "manager": None,
                "requirements": {
                    "packages": None,
                    "cpu": {"support": None, "packages": None},
                    "gpu": None,
                },
            },
        ],
        init=SIMPLE_INIT,
    )
    manifest = json.loads((root / "manifest.json").read_text())
    manifest.update(name=None, url=None)
    (root / "manifest.json").write_text(json.dumps(manifest))
    rz.register_zoo_model_source(str(root))
    return root


def test_manager_null_downloads_through_download_model_and_loads(
    null_source: Path, tmp_path: Path
) -> None:
    # "manager": null was taken for a manager without config.url: every download refused.
    model, path = rz.download_zoo_model("acme/plain")
    assert rz.is_zoo_model_downloaded("acme/plain")
    assert json.loads(Path(path).read_text())["name"] == "acme/plain"
    assert rz.load_zoo_model("acme/plain").predict(2) == 6
    assert calls(tmp_path / "calls.log") == ["download:acme/plain", "load:acme/plain"]
    assert model.manifest["manager"] is None  # the entry as written; .manager is the model object's


def test_every_null_field_reads_as_absent(null_source: Path) -> None:
    model = rz.get_zoo_model("acme/plain")
    assert model.name == "acme/plain" and model.version is None
    assert model.filename == f"{model.subdir}/plain.json"  # as FiftyOne: under the source's folder
    for field in (
        "default_deployment_config_dict",
        "requirements",
        "sha256",
        "author",
        "url",
        "license",
        "source",
        "description",
        "size_bytes",
        "date_added",
    ):
        assert getattr(model, field) is None, field
    assert not model.tags
    assert rz.list_zoo_models(license="MIT") == []
    assert rz.list_zoo_models(tags="x") == []
    assert rz.list_zoo_models() == ["acme/nested@1.0", "acme/plain"]


def test_null_requirements_parts_are_no_requirements(null_source: Path) -> None:
    # "support": null is "unknown" in eta (only False refuses a device), packages null is none.
    assert rz.ensure_zoo_model_requirements("acme/nested", error_level=0) is True
    assert rz.load_zoo_model("acme/nested").predict(1) == 3


def test_null_manifest_name_uses_the_source_slug(null_source: Path) -> None:
    _, path = rz.download_zoo_model("acme/plain")
    assert Path(path).parent.parent == Path(rz.home()) / "models"


@pytest.mark.parametrize(
    "tail, offset",
    [
        (" x", 26),
        ("{}", 25),
        ("\x00junk", 25),
        ("\n\n]", 27),
        ('{"models": []}', 25),
    ],
)
def test_data_after_the_json_value_is_refused(tail: str, offset: int) -> None:
    text = '{"models": [], "a": null}' + tail
    with pytest.raises(rz.ManifestError, match=rf"data after its JSON value \(at byte {offset}\)"):
        rz.parse_manifest(text, "src")


def test_whitespace_after_the_json_value_is_fine() -> None:
    assert rz.parse_manifest('{"models": []}\r\n\t  \n', "src").models == []


def test_a_source_whose_manifest_has_trailing_data_is_not_registered(tmp_path: Path) -> None:
    root = write_source(tmp_path / "src", [{"base_name": "a", "base_filename": "a.json"}])
    with open(root / "manifest.json", "a") as f:
        f.write('\n{"models": [{"base_name": "b"}]}')
    with pytest.raises(rz.RemoteZooError, match="data after its JSON value"):
        rz.register_zoo_model_source(str(root))
    assert rz.list_zoo_model_sources() == []
