"""A bare name (no ``://``, no ``model_name=``) is only ever a model name, as in FiftyOne: an
unknown or ambiguous one is an error at once, and nothing is registered, fetched or run.

Before, download_zoo_model and load_zoo_model caught the "not found" / "offered by two
sources" error and took ``user/name`` for the GitHub repo of that name: a typo in a model name
registered an unrelated repository and ran its ``download_model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from helpers.fake_github import FakeGitHub
from helpers.zoo import SIMPLE_INIT, calls, model, write_source

import remotezoo as rz
from remotezoo.__main__ import main

# What the fake GitHub would run if the name were taken for a repository.
TRAP_INIT = r"""
import os
def download_model(model_name, model_path):
    open(os.environ["RZ_TEST_TRAP"], "a").write("ran " + model_name + "\n")
    open(model_path, "w").write("weights")
def load_model(model_name, model_path, **kwargs):
    open(os.environ["RZ_TEST_TRAP"], "a").write("ran " + model_name + "\n")
    return model_name
"""


@pytest.fixture
def github(http_server, http_server2, monkeypatch, tmp_path) -> FakeGitHub:
    gh = FakeGitHub(http_server, http_server2)
    monkeypatch.setenv("GITHUB_API_URL", gh.api_url)
    monkeypatch.setenv("GITHUB_SERVER_URL", gh.api_url)
    monkeypatch.setenv("RZ_TEST_TRAP", str(tmp_path / "trap"))
    monkeypatch.setenv("RZ_TEST_CALL_LOG", str(tmp_path / "calls.log"))
    # Both names below are real repositories there, with code that must never run.
    for repo in ("acme/det", "acme/typo"):
        manifest = {"name": repo, "models": [model(repo)]}
        gh.add_repo(repo, {"manifest.json": json.dumps(manifest), "__init__.py": TRAP_INIT})
    return gh


@pytest.fixture
def two_sources(tmp_path: Path, github: FakeGitHub) -> tuple[Path, Path]:
    one = write_source(tmp_path / "one", [model("acme/det")], init=SIMPLE_INIT, name="one/zoo")
    two = write_source(tmp_path / "two", [model("acme/det")], init=SIMPLE_INIT, name="two/zoo")
    rz.register_zoo_model_source(str(one))
    rz.register_zoo_model_source(str(two))
    return one, two


def requests(github: FakeGitHub) -> int:
    return len(github.api.requests) + len(github.download.requests)


# Every public function that takes a model name, called with the name alone.
CALLS: dict[str, Callable[[str], Any]] = {
    "get_zoo_model": rz.get_zoo_model,
    "find_zoo_model": rz.find_zoo_model,
    "is_zoo_model_downloaded": rz.is_zoo_model_downloaded,
    "download_zoo_model": rz.download_zoo_model,
    "load_zoo_model": rz.load_zoo_model,
    "delete_zoo_model": rz.delete_zoo_model,
    "ensure_zoo_model_requirements": rz.ensure_zoo_model_requirements,
    "install_zoo_model_requirements": rz.install_zoo_model_requirements,
}


@pytest.mark.parametrize("function", sorted(CALLS))
def test_ambiguous_name_is_an_error_with_no_request(
    function: str, two_sources, github, tmp_path
) -> None:
    before = rz.list_zoo_model_sources()
    with pytest.raises(
        rz.ModelNotFoundError, match="two sources|more than one source|both"
    ) as info:
        CALLS[function]("acme/det")
    assert isinstance(info.value, ValueError)
    for source in two_sources:
        assert str(source) in str(info.value)
    assert requests(github) == 0
    assert rz.list_zoo_model_sources() == before
    assert not (tmp_path / "trap").exists() and calls(tmp_path / "calls.log") == []


@pytest.mark.parametrize("function", sorted(CALLS))
def test_unknown_user_slash_name_is_not_a_github_repo(function: str, github, tmp_path) -> None:
    with pytest.raises(rz.ModelNotFoundError, match="acme/typo"):
        CALLS[function]("acme/typo")
    assert requests(github) == 0
    assert rz.list_zoo_model_sources() == []
    assert not (tmp_path / "trap").exists()


@pytest.mark.parametrize("name", ["acme/typo/main", "./acme", "/abs/zoo", "~/zoo", "acme/typo@1.0"])
def test_other_spec_shapes_are_model_names_too(name: str, github, tmp_path) -> None:
    for function in (rz.download_zoo_model, rz.load_zoo_model):
        with pytest.raises(rz.ModelNotFoundError):
            function(name)
    assert requests(github) == 0 and rz.list_zoo_model_sources() == []


def test_a_url_or_model_name_still_registers(github, tmp_path) -> None:
    # What FiftyOne registers from: a URL, or a spec with an explicit model_name.
    rz.download_zoo_model("acme/det", model_name="acme/det")
    assert rz.list_zoo_model_sources() == [f"{github.api_url}/acme/det"]
    assert (tmp_path / "trap").read_text() == "ran acme/det\n"
    assert rz.load_zoo_model(f"{github.api_url}/acme/typo") == "acme/typo"
    assert len(rz.list_zoo_model_sources()) == 2


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "download", "acme/det"],
        ["models", "info", "acme/det"],
        ["models", "delete", "acme/det"],
        ["models", "requirements", "acme/det"],
        ["models", "requirements", "acme/det", "--install"],
    ],
)
def test_cli_verbs_refuse_ambiguous_names_without_a_request(
    argv, two_sources, github, capsys
) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("remotezoo: error: ") and "acme/det" in err and err.count("\n") == 1
    assert requests(github) == 0 and len(rz.list_zoo_model_sources()) == 2


@pytest.mark.parametrize("verb", ["download", "info", "delete", "requirements"])
def test_cli_verbs_refuse_unknown_names_without_a_request(verb, github, capsys) -> None:
    assert main(["models", verb, "acme/typo"]) == 1
    assert "acme/typo" in capsys.readouterr().err
    assert requests(github) == 0 and rz.list_zoo_model_sources() == []
