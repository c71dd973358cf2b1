"""manifest.json parsing in C: valid manifests round-trip, every broken one names its fault."""

import datetime
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import remotezoo as rz

FULL_MODEL = {
    "base_name": "voxel51/clip-vit-base32-torch",
    "base_filename": "CLIP-ViT-B-32.pt",
    "author": "OpenAI",
    "version": "1.0",
    "url": "https://github.com/openai/CLIP",
    "license": "MIT",
    "source": "https://github.com/openai/CLIP",
    "description": "CLIP text/image encoder",
    "tags": ["classification", "embeddings", "torch", "zero-shot"],
    "size_bytes": 353976522,
    "date_added": "2022-04-12 17:49:51",
    "requirements": {
        "packages": ["torch", "torchvision"],
        "cpu": {"support": True},
        "gpu": {"support": True, "packages": ["torch>=1.8"]},
    },
    "manager": {
        "type": "fiftyone.core.models.ModelManager",
        "config": {"url": "https://example.com/ViT-B-32.pt"},
    },
    "default_deployment_config_dict": {
        "type": "fiftyone.utils.clip.TorchCLIPModel",
        "config": {"context_length": 77, "classes": ["a", "b"], "threshold": 0.5},
    },
}


def manifest(*models, **top):
    return json.dumps({**top, "models": list(models)})


def test_full_model_every_field():
    m = rz.parse_manifest(manifest(FULL_MODEL, name="voxel51/openai-clip", url="https://x"))
    assert (m.name, m.url) == ("voxel51/openai-clip", "https://x")
    (model,) = m.models
    objects = ("date_added", "requirements", "manager")  # as FiftyOne: a datetime and objects
    for field, value in FULL_MODEL.items():
        assert getattr(model, field) == value or field in objects
    assert model.date_added == datetime.datetime(2022, 4, 12, 17, 49, 51)
    assert model.requirements.serialize() == FULL_MODEL["requirements"]
    assert model.manager.serialize() == FULL_MODEL["manager"]
    assert model.manifest == FULL_MODEL
    assert model.name == "voxel51/clip-vit-base32-torch@1.0"
    assert model.filename == "voxel51/openai-clip/CLIP-ViT-B-32-v1.0.pt"
    assert model.has_version and model.has_tag("torch") and not model.has_tag("tf")


def test_minimal_model_and_absent_fields():
    (model,) = rz.parse_manifest(manifest({"base_name": "m"})).models
    assert model.name == "m" and model.filename is None and model.version is None
    assert model.tags is None and model.manager is None and model.size_bytes is None
    assert not model.has_version


def test_null_means_absent():
    (model,) = rz.parse_manifest(manifest({"base_name": "m", "version": None, "tags": None})).models
    assert model.name == "m" and model.version is None and model.tags is None


def test_unknown_fields_are_kept():
    entry = {"base_name": "m", "x_custom": {"nested": [1, 2.5, "s", None, True]}, "rank": 3}
    m = rz.parse_manifest(manifest(entry, extra_top="kept"))
    (model,) = m.models
    assert model.x_custom == {"nested": [1, 2.5, "s", None, True]}
    assert model.rank == 3 and model.manifest == entry
    with pytest.raises(AttributeError):
        model.not_a_field


@pytest.mark.parametrize("size", [0, 2**31 - 1, 2**31, 2**32 + 7, 5_000_000_000_123, 2**53])
def test_size_bytes_exact(size):
    (model,) = rz.parse_manifest(manifest({"base_name": "m", "size_bytes": size})).models
    assert model.size_bytes == size and isinstance(model.size_bytes, int)


def test_many_models_in_order():
    models = [{"base_name": f"m{i}", "version": f"1.{i}"} for i in range(500)]
    m = rz.parse_manifest(manifest(*models))
    assert [x.name for x in m.models] == [f"m{i}@1.{i}" for i in range(500)]


def test_versions_of_one_base_name_coexist():
    m = rz.parse_manifest(
        manifest(*({"base_name": "m", "version": v} for v in ("1.2", "1.10", "1.9-beta")))
    )
    assert sorted(x.name for x in m.models) == ["m@1.10", "m@1.2", "m@1.9-beta"]


def test_packages_as_string_and_requirement_file():
    entry = {
        "base_name": "m",
        "requirements": {"packages": "torch,numpy", "cpu": {"packages": "req.txt"}},
    }
    (model,) = rz.parse_manifest(manifest(entry)).models
    assert model.requirements.packages == "torch,numpy"
    assert (
        model.requirements.cpu == {"packages": "req.txt"}
        and model.requirements.cpu.packages == "req.txt"
    )


def test_load_manifest_from_file(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(manifest(FULL_MODEL))
    m = rz.load_manifest(path)
    assert m.models[0].name == "voxel51/clip-vit-base32-torch@1.0"
    path.write_text('{"models": [{"base_name": 1}]}')
    with pytest.raises(rz.ManifestError) as info:
        rz.load_manifest(path)
    assert str(path) in str(info.value) and info.value.field == "base_name"


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        rz.load_manifest(tmp_path / "nope.json")


def test_utf8_text_and_bytes():
    text = manifest({"base_name": "modèle-日本", "description": "naïve ✓"})
    for data in (text, text.encode()):
        (model,) = rz.parse_manifest(data).models
        assert model.name == "modèle-日本" and model.description == "naïve ✓"


def with_field(**fields):
    return manifest({"base_name": "m", **fields})


# (manifest text, field the error must name, model it must name or None)
BROKEN = [
    ("not json", None, None),
    ("[]", None, None),
    ('{"models": {}}', "models", None),
    ('{"name": 3, "models": []}', "name", None),
    ('{"url": [], "models": []}', "url", None),
    ('{"name": "../up", "models": []}', "name", None),
    ('{"name": "/abs", "models": []}', "name", None),
    ("{}", "models", None),
    (manifest(3), None, "model 0"),
    (manifest({"version": "1.0"}), "base_name", "model 0"),
    (manifest({"base_name": 7}), "base_name", "model 0"),
    (manifest({"base_name": ""}), "base_name", "model 0"),
    (manifest({"base_name": "a@b"}), "base_name", "a@b"),
    (with_field(version=1.0), "version", "m"),
    (with_field(version=""), "version", "m"),
    (with_field(version="1/2"), "version", "m"),
    (with_field(base_filename=5), "base_filename", "m"),
    (with_field(base_filename="/etc/passwd"), "base_filename", "m"),
    (with_field(base_filename="../x.pt"), "base_filename", "m"),
    (with_field(base_filename="a/../../x.pt"), "base_filename", "m"),
    (with_field(base_filename="."), "base_filename", "m"),
    (with_field(base_filename=""), "base_filename", "m"),
    (with_field(author=["x"]), "author", "m"),
    (with_field(url=1), "url", "m"),
    (with_field(license={}), "license", "m"),
    (with_field(source=True), "source", "m"),
    (with_field(description=2), "description", "m"),
    (with_field(date_added=20200101), "date_added", "m"),
    (with_field(tags="a,b"), "tags", "m"),
    (with_field(tags=["a", 1]), "tags", "m"),
    (with_field(size_bytes="12"), "size_bytes", "m"),
    (with_field(size_bytes=-1), "size_bytes", "m"),
    (with_field(size_bytes=1.5), "size_bytes", "m"),
    (with_field(size_bytes=2**60), "size_bytes", "m"),
    (with_field(requirements=[]), "requirements", "m"),
    (with_field(requirements={"packages": 3}), "requirements.packages", "m"),
    (with_field(requirements={"packages": ["a", 3]}), "requirements.packages", "m"),
    (with_field(requirements={"cpu": True}), "requirements.cpu", "m"),
    (with_field(requirements={"gpu": {"support": "yes"}}), "requirements.gpu.support", "m"),
    (
        with_field(requirements={"gpu": {"packages": {}}}),
        "requirements.gpu.packages.entrypoint_fcn",
        "m",
    ),
    (
        with_field(requirements={"packages": {"entrypoint_fcn": "m.f", "entrypoint_args": 1}}),
        "requirements.packages.entrypoint_args",
        "m",
    ),
    (with_field(manager="x"), "manager", "m"),
    (with_field(manager={"type": 1}), "manager.type", "m"),
    (with_field(manager={"config": []}), "manager.config", "m"),
    (with_field(default_deployment_config_dict="x"), "default_deployment_config_dict", "m"),
    (with_field(sha256="abc"), "sha256", "m"),
    (with_field(sha256="z" * 64), "sha256", "m"),
    ('{"models": [{"base_name": "m", "version": "1", "version": "2"}]}', "version", "m"),
    ('{"models": [], "models": []}', "models", None),
    (
        '{"models": [{"base_name": "m", "manager": {"config": {"url": "a", "url": "b"}}}]}',
        "url",
        "m",
    ),
    (manifest({"base_name": "m"}, {"base_name": "m"}), "base_name", "m"),
    (
        manifest({"base_name": "m", "version": "1"}, {"base_name": "m", "version": "1"}),
        "version",
        "m",
    ),
]


@pytest.mark.parametrize("text, field, model", BROKEN)
def test_broken_manifest_names_the_fault(text, field, model):
    with pytest.raises(rz.ManifestError) as info:
        rz.parse_manifest(text, "https://github.com/u/r")
    err = info.value
    message = str(err)
    assert isinstance(err, ValueError) and isinstance(err, rz.RemoteZooError)
    assert "https://github.com/u/r" in message and err.source == "https://github.com/u/r"
    assert "\n" not in message
    if field:
        assert err.field == field and f"'{field}'" in message
    if model:
        assert err.model == model and model in message


def test_error_names_model_index():
    text = manifest({"base_name": "ok"}, {"base_name": "bad", "tags": 3})
    with pytest.raises(rz.ManifestError, match=r"model 1 \('bad'\): field 'tags'"):
        rz.parse_manifest(text)


def test_escaped_nul_refused_but_escaped_backslash_kept():
    with pytest.raises(rz.ManifestError, match="u0000"):
        rz.parse_manifest('{"models": [{"base_name": "a\\u0000b"}]}')
    (model,) = rz.parse_manifest('{"models": [{"base_name": "a\\\\u0000b"}]}').models
    assert model.base_name == "a\\u0000b"


def test_oversized_input_refused():
    big = b'{"models": [], "pad": "' + b"x" * (65 * 1024 * 1024) + b'"}'
    with pytest.raises(rz.ManifestError, match="larger than"):
        rz.parse_manifest(big)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_arbitrary_model_objects_parse_or_raise_manifest_error(extra):
    entry = {**extra, "base_name": "m"}
    text = manifest(entry)
    try:
        (model,) = rz.parse_manifest(text).models
    except rz.ManifestError as err:
        # NUL cannot survive in C strings, so it is refused as a whole; else the field is named.
        assert "\\u0000" in text or (err.field and err.model == "m")
    else:
        assert model.manifest == entry


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(data):
    try:
        rz.parse_manifest(data)
    except (rz.ManifestError, UnicodeDecodeError):
        pass
